//! The numbers behind `mntr`, `conf`, `envi`, `dirs`, the watch reports and `srst`, shared by the
//! four-letter words and the admin server so that both always report the same values under ZooKeeper's
//! key names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use paddock_proto::EventType;
use paddock_proto::display::java_double;

use crate::config::ServerConfig;
use crate::core::Core;
use crate::stats;
use crate::watch::ConnId;

use crate::fourlw::VERSION;

/// ZooKeeper's counters from its `ServerMetrics`, in the order its `mntr` prints them. Most have no
/// counterpart in Paddock's design (TLS, netty buffers, learner queues, response caches...) and are
/// reported as 0 so that dashboards and agents built for ZooKeeper find every key they look up; the request
/// throttler's are counted ([`counter`]).
const ZERO_COUNTERS: &[&str] = &[
    "zk_non_mtls_remote_conn_count",
    "zk_non_mtls_local_conn_count",
    "zk_outstanding_tls_handshake",
    "zk_proposal_count",
    "zk_outstanding_changes_removed",
    "zk_throttled_ops",
    "zk_stale_requests_dropped",
    "zk_large_requests_rejected",
    "zk_insecure_admin_count",
    "zk_connection_rejected",
    "zk_cnxn_closed_without_zk_server_running",
    "zk_sessionless_connections_expired",
    "zk_looking_count",
    "zk_dead_watchers_queued",
    "zk_stale_requests",
    "zk_learner_proposal_received_count",
    "zk_digest_mismatches_count",
    "zk_dead_watchers_cleared",
    "zk_response_packet_cache_hits",
    "zk_add_dead_watcher_stall_time",
    "zk_request_throttle_wait_count",
    "zk_requests_not_forwarded_to_commit_processor",
    "zk_response_packet_cache_misses",
    "zk_ensemble_auth_success",
    "zk_prep_processor_request_queued",
    "zk_learner_commit_received_count",
    "zk_stale_replies",
    "zk_ensemble_auth_fail",
    "zk_diff_count",
    "zk_response_packet_get_children_cache_misses",
    "zk_connection_revalidate_count",
    "zk_quit_leading_due_to_disloyal_voter",
    "zk_unrecoverable_error_count",
    "zk_unsuccessful_handshake",
    "zk_commit_count",
    "zk_stale_sessions_expired",
    "zk_response_packet_get_children_cache_hits",
    "zk_sync_processor_request_queued",
    "zk_outstanding_changes_queued",
    "zk_request_commit_queued",
    "zk_ensemble_auth_skip",
    "zk_skip_learner_request_to_next_processor_count",
    "zk_tls_handshake_exceeded",
    "zk_revalidate_count",
];

/// ZooKeeper summary metrics (avg/min/max/cnt/sum) for pipeline stages Paddock does not have; same reason
/// as [`ZERO_COUNTERS`].
const ZERO_SUMMARIES: &[&str] = &[
    "read_commit_proc_issued",
    "sync_process_time",
    "sync_processor_batch_size",
    "startup_snap_load_time",
    "write_batch_time_in_commit_processor",
    "observer_sync_time",
    "concurrent_request_processing_in_commit_processor",
    "socket_closing_time",
    "proposal_process_time",
    "leader_unavailable_time",
    "session_queues_drained",
    "write_commit_proc_req_queued",
    "connection_token_deficit",
    "read_commit_proc_req_queued",
    "startup_txns_load_time",
    "sync_processor_queue_size",
    "follower_sync_time",
    "prep_processor_queue_size",
    "inflight_snap_count",
    "reads_issued_from_session_queue",
    "learner_request_processor_queue_size",
    "unavailable_time",
    "startup_txns_loaded",
    "reads_after_write_in_session_queue",
    "requests_in_session_queue",
    "write_commit_proc_issued",
    "prep_process_time",
    "pending_session_queue_size",
    "time_waiting_empty_pool_in_commit_processor_read_ms",
    "commit_process_time",
    "dbinittime",
    "inflight_diff_count",
    "netty_queued_buffer_capacity",
    "election_time",
    "commit_commit_proc_req_queued",
];

/// The same for ZooKeeper's summaries that also report p50/p95/p99/p999.
const ZERO_PERCENTILE_SUMMARIES: &[&str] = &[
    "prep_processor_queue_time_ms",
    "jvm_pause_time_ms",
    "close_session_prep_time",
    "read_commitproc_time_ms",
    "local_write_committed_time_ms",
    "request_throttle_queue_time_ms",
    "quorum_ack_latency",
    "om_commit_process_time_ms",
    "read_final_proc_time_ms",
    "commit_propagation_latency",
    "dead_watchers_cleaner_latency",
    "write_final_proc_time_ms",
    "proposal_ack_creation_latency",
    "proposal_latency",
    "om_proposal_process_time_ms",
    "sync_processor_queue_and_flush_time_ms",
    "propagation_latency",
    "server_write_committed_time_ms",
    "sync_processor_queue_time_ms",
    "sync_processor_queue_flush_time_ms",
    "write_commitproc_time_ms",
];

/// The value of one of [`ZERO_COUNTERS`].
fn counter(core: &Core, key: &str) -> u64 {
    let throttle = &core.stats.throttle;
    match key {
        "zk_request_throttle_wait_count" => throttle.waits,
        "zk_stale_requests" => throttle.stale,
        "zk_stale_requests_dropped" => throttle.stale_dropped,
        _ => 0,
    }
}

/// Every `mntr` line, in ZooKeeper's order for the keys monitoring tools read first. `asking` is the
/// number of connections asking outside the core's sessions (1 for a four-letter word, whose connection
/// ZooKeeper counts as alive; 0 over HTTP).
pub fn mntr(core: &Core, asking: usize) -> Vec<(String, String)> {
    let l = &core.stats.latency;
    let (open_fds, max_fds) = file_descriptors();
    let mut out: Vec<(String, String)> = vec![
        ("zk_version".into(), VERSION.into()),
        ("zk_server_state".into(), core.role.name().into()),
        ("zk_ephemerals_count".into(), core.tree.ephemerals_count().to_string()),
        ("zk_num_alive_connections".into(), (core.conns.len() + asking).to_string()),
        ("zk_avg_latency".into(), java_double(avg_4(l.avg_ms()))),
        ("zk_outstanding_requests".into(), core.outstanding_requests().to_string()),
        ("zk_znode_count".into(), core.tree.node_count().to_string()),
        ("zk_global_sessions".into(), core.tree.sessions().count().to_string()),
        ("zk_local_sessions".into(), "0".into()),
        ("zk_last_client_response_size".into(), core.stats.client_response.last.to_string()),
        ("zk_max_client_response_size".into(), core.stats.client_response.max.to_string()),
        ("zk_min_client_response_size".into(), core.stats.client_response.min.to_string()),
        ("zk_packets_sent".into(), core.stats.packets_sent.to_string()),
        ("zk_packets_received".into(), core.stats.packets_received.to_string()),
        ("zk_connection_drop_probability".into(), "0.0".into()),
        ("zk_watch_count".into(), core.watches.watch_count().to_string()),
        ("zk_auth_failed_count".into(), core.stats.auth_failed.to_string()),
        ("zk_min_latency".into(), (l.min_ms.round() as i64).to_string()),
        ("zk_max_latency".into(), (l.max_ms.round() as i64).to_string()),
        ("zk_max_file_descriptor_count".into(), max_fds.to_string()),
        ("zk_open_file_descriptor_count".into(), open_fds.to_string()),
        ("zk_approximate_data_size".into(), core.tree.approximate_data_size().to_string()),
        ("zk_uptime".into(), core.started.elapsed().as_millis().to_string()),
        ("zk_bytes_received_count".into(), core.stats.bytes_received.to_string()),
        ("zk_connection_request_count".into(), core.stats.connections_accepted.to_string()),
        ("zk_connection_drop_count".into(), core.stats.connections_dropped.to_string()),
        ("zk_response_bytes".into(), core.stats.response_bytes.to_string()),
        ("zk_watch_bytes".into(), core.stats.watch_bytes.to_string()),
    ];
    let snap_count = core.snapshots.as_ref().map(|s| s.taken.load(Ordering::Relaxed)).unwrap_or(0);
    out.push(("zk_snap_count".into(), snap_count.to_string()));
    out.extend(ZERO_COUNTERS.iter().map(|k| (k.to_string(), counter(core, k).to_string())));
    for (name, summary) in core.stats.summaries() {
        push_summary(&mut out, name, summary.avg_ms(), summary.min_ms, summary.max_ms, summary.count, summary.total_ms);
    }
    let snapshot_times =
        core.snapshots.as_ref().and_then(|s| s.durations.lock().ok().map(|d| d.clone())).unwrap_or_default();
    let s = &snapshot_times;
    push_summary(&mut out, "snapshottime", s.avg_ms(), s.min_ms, s.max_ms, s.count, s.total_ms);
    if !core.stats.timings.contains_key("fsynctime") {
        push_summary(&mut out, "fsynctime", 0.0, 0.0, 0.0, 0, 0.0);
    }
    for name in ZERO_SUMMARIES {
        push_summary(&mut out, name, 0.0, 0.0, 0.0, 0, 0.0);
    }
    for event in
        [EventType::NodeCreated, EventType::NodeDeleted, EventType::NodeDataChanged, EventType::NodeChildrenChanged]
    {
        let Some(name) = stats::watch_count_metric(event) else { continue };
        let s = core.stats.watch_counts.get(name).cloned().unwrap_or_default();
        push_summary(&mut out, name, s.avg(), s.min as f64, s.max as f64, s.count, s.sum as f64);
    }
    for (name, h) in [("readlatency", &core.stats.read_latency), ("updatelatency", &core.stats.update_latency)] {
        let l = &h.summary;
        push_summary(&mut out, name, l.avg_ms(), l.min_ms, l.max_ms, l.count, l.total_ms);
        for (label, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999)] {
            out.push((format!("zk_{label}_{name}"), h.quantile_ms(q).to_string()));
        }
    }
    for (namespace, bytes) in &core.stats.namespaces {
        for (kind, s) in [("read", &bytes.read), ("write", &bytes.write)] {
            let name = format!("{namespace}_{kind}_per_namespace");
            push_summary(&mut out, &name, s.avg(), s.min as f64, s.max as f64, s.count, s.sum as f64);
        }
    }
    out.extend(crate::quota::mntr(&core.tree, &core.stats.quota));
    for name in ZERO_PERCENTILE_SUMMARIES {
        push_summary(&mut out, name, 0.0, 0.0, 0.0, 0, 0.0);
        for label in ["p50", "p95", "p99", "p999"] {
            out.push((format!("zk_{label}_{name}"), "0".into()));
        }
    }
    if let Some(f) = core.followers() {
        // ZooKeeper's leader-only keys: learners are followers and observers; pending syncs are none, as a
        // sync here is a read index, not a queued proposal.
        out.push(("zk_learners".into(), (f.followers + f.observers).to_string()));
        out.push(("zk_followers".into(), f.followers.to_string()));
        out.push(("zk_synced_followers".into(), f.synced_followers.to_string()));
        out.push(("zk_synced_observers".into(), f.synced_observers.to_string()));
        out.push(("zk_pending_syncs".into(), "0".into()));
    }
    let last_snapshot = core.snapshots.as_ref().map(|s| s.last_zxid.load(Ordering::Relaxed)).unwrap_or(-1);
    out.push(("zk_paddock_last_snapshot_zxid".into(), last_snapshot.to_string()));
    out.push(("zk_paddock_last_zxid".into(), core.last_zxid().to_string()));
    out.push(("zk_paddock_state_digest".into(), core.tree.digest().to_string()));
    out.push(("zk_paddock_sessions_expired".into(), core.stats.sessions_expired.to_string()));
    out.push(("zk_paddock_log_failures".into(), core.stats.log_failures.to_string()));
    out.push(("zk_paddock_digest_mismatches".into(), core.stats.digest_mismatches.to_string()));
    if let Some(id) = core.cluster_id() {
        out.push(("zk_paddock_cluster_id".into(), id.to_string()));
    }
    out
}

fn push_summary(out: &mut Vec<(String, String)>, name: &str, avg: f64, min: f64, max: f64, cnt: u64, sum: f64) {
    out.push((format!("zk_avg_{name}"), java_double(avg_4(avg))));
    out.push((format!("zk_min_{name}"), (min.round() as i64).to_string()));
    out.push((format!("zk_max_{name}"), (max.round() as i64).to_string()));
    out.push((format!("zk_cnt_{name}"), cnt.to_string()));
    out.push((format!("zk_sum_{name}"), (sum.round() as i64).to_string()));
}

/// `AvgMinMaxCounter.getAvg`: ZooKeeper rounds averages half-up to four decimals.
pub fn avg_4(avg: f64) -> f64 {
    (avg * 10_000.0).round() / 10_000.0
}

/// ZooKeeper's `srst` and `stat_reset` (`ServerStats.reset()`, which also runs `ServerMetrics.resetAll()`):
/// the server's counters, and the snapshot count and times, which are metrics too.
pub fn reset_server_stats(core: &mut Core) {
    core.stats.reset();
    if let Some(snapshots) = &core.snapshots {
        snapshots.taken.store(0, Ordering::Relaxed);
        if let Ok(mut durations) = snapshots.durations.lock() {
            durations.reset();
        }
    }
}

/// The data-watch table: path → watching connections (see [`crate::watch::WatchManager::data_by_path`]).
/// `zk_watch_count` counts both tables; the watch reports only this one.
pub fn data_watches(core: &Core) -> BTreeMap<String, Vec<ConnId>> {
    core.watches.data_by_path()
}

/// The same table by connection: connection → watched paths.
pub fn data_watches_by_conn(core: &Core) -> BTreeMap<ConnId, Vec<String>> {
    let mut by_conn: BTreeMap<ConnId, Vec<String>> = BTreeMap::new();
    for (path, conns) in data_watches(core) {
        for conn in conns {
            by_conn.entry(conn).or_default().push(path.clone());
        }
    }
    by_conn
}

/// `WatchesSummary` of the data-watch table: connections watching, paths watched, registrations.
pub fn data_watch_summary(core: &Core) -> (usize, usize, usize) {
    let by_path = data_watches(core);
    let connections: BTreeSet<ConnId> = by_path.values().flatten().copied().collect();
    let total = by_path.values().map(Vec::len).sum();
    (connections.len(), by_path.len(), total)
}

/// The session a connection carries, as the watch reports name it (0: none).
pub fn session_of(core: &Core, conn: ConnId) -> i64 {
    core.conns.get(&conn).map(|c| c.session_id).unwrap_or(0)
}

/// `conf`, in ZooKeeper's order.
pub fn configuration(config: &ServerConfig) -> Vec<(&'static str, String)> {
    let (data_size, log_size) = dir_sizes(config);
    vec![
        ("clientPort", config.client_port.to_string()),
        ("secureClientPort", "-1".to_string()),
        ("dataDir", config.data_dir.display().to_string()),
        ("dataDirSize", data_size.to_string()),
        ("dataLogDir", config.log_dir().display().to_string()),
        ("dataLogSize", log_size.to_string()),
        ("tickTime", config.tick_time_ms.to_string()),
        ("maxClientCnxns", config.max_client_cnxns.to_string()),
        ("minSessionTimeout", config.min_session_timeout_ms.to_string()),
        ("maxSessionTimeout", config.max_session_timeout_ms.to_string()),
        ("clientPortListenBacklog", "-1".to_string()),
        ("serverId", "0".to_string()),
    ]
}

/// ZooKeeper's `Environment.list()` placeholder for a property that is not there.
const NOT_APPLICABLE: &str = "<NA>";

/// `Environment.list()`, behind both `envi` and the admin `environment`: exactly ZooKeeper's keys, in its
/// order, so that tools reading them find every one. Values a JVM spells its own way are spelled that way
/// (`os.name` "Linux", `os.arch` "amd64", the user from the password database); what only a JVM has is
/// "<NA>", the placeholder ZooKeeper itself prints for an absent `java.compiler`.
pub fn environment() -> Vec<(&'static str, String)> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let os_version =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|v| v.trim().to_string()).unwrap_or_default();
    let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
    let user = user_from_passwd().unwrap_or_else(|| User {
        name: std::env::var("USER").unwrap_or_default(),
        home: std::env::var("HOME").unwrap_or_default(),
    });
    let na = || NOT_APPLICABLE.to_string();
    vec![
        ("zookeeper.version", VERSION.to_string()),
        ("host.name", host),
        ("java.version", na()),
        ("java.vendor", na()),
        ("java.home", na()),
        ("java.class.path", na()),
        ("java.library.path", na()),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("java.compiler", na()),
        ("os.name", java_os_name(std::env::consts::OS)),
        ("os.arch", java_os_arch(std::env::consts::ARCH)),
        ("os.version", os_version),
        ("user.name", user.name),
        ("user.home", user.home),
        ("user.dir", cwd),
        ("os.memory.free", na()),
        ("os.memory.max", na()),
        ("os.memory.total", na()),
    ]
}

/// The JVM's `os.name` for Rust's `std::env::consts::OS`.
fn java_os_name(os: &str) -> String {
    match os {
        "linux" => "Linux",
        "macos" => "Mac OS X",
        "freebsd" => "FreeBSD",
        "openbsd" => "OpenBSD",
        "netbsd" => "NetBSD",
        "solaris" | "illumos" => "SunOS",
        other => other,
    }
    .to_string()
}

/// The JVM's `os.arch` for Rust's `std::env::consts::ARCH`.
fn java_os_arch(arch: &str) -> String {
    match arch {
        "x86_64" => "amd64",
        "x86" => "i386",
        "powerpc64" => "ppc64",
        other => other,
    }
    .to_string()
}

struct User {
    name: String,
    home: String,
}

/// The user's name and home as the JVM finds them (the password entry of the real uid, not `$USER`), or
/// `None` when /proc or /etc/passwd cannot tell.
fn user_from_passwd() -> Option<User> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [name, _, id, _, _, home, ..] if *id == uid => {
                Some(User { name: name.to_string(), home: home.to_string() })
            }
            _ => None,
        }
    })
}

/// Bytes used by the snapshot and log directories (`dirs`, `conf`).
pub fn dir_sizes(config: &ServerConfig) -> (u64, u64) {
    (dir_size(&crate::persist::snap_dir(config)), dir_size(&crate::persist::wal_dir(config)))
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
}

/// Open and maximum file descriptors of this process (`zk_open/max_file_descriptor_count`).
pub fn file_descriptors() -> (u64, u64) {
    let open = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0);
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse().ok()
        })
        .unwrap_or(0);
    (open, max)
}

pub fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_has_zookeepers_keys_in_order() {
        let keys: Vec<&str> = environment().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys.first(), Some(&"zookeeper.version"));
        assert_eq!(keys.last(), Some(&"os.memory.total"));
        assert_eq!(keys.len(), 18);
    }

    #[test]
    fn names_are_the_jvms() {
        assert_eq!(java_os_name("linux"), "Linux");
        assert_eq!(java_os_arch("x86_64"), "amd64");
        assert_eq!(java_os_arch("aarch64"), "aarch64");
    }

    #[test]
    fn averages_are_rounded_as_zookeepers() {
        assert_eq!(avg_4(20.0 / 3.0), 6.6667);
        assert_eq!(avg_4(299.0 / 4.0), 74.75);
        assert_eq!(avg_4(1.0 / 32.0), 0.0313, "half-up, as BigDecimal.ROUND_HALF_UP");
    }

    #[test]
    fn this_process_has_file_descriptors() {
        let (open, max) = file_descriptors();
        assert!(open >= 3 && max >= open, "open {open}, max {max}");
    }
}
