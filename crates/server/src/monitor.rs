//! The numbers behind `mntr`, `conf`, `envi` and `dirs`, shared by the four-letter words and the admin
//! server so that both always report the same values under ZooKeeper's key names.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::ServerConfig;
use crate::core::Core;
use paddock_proto::display::java_double;

use crate::fourlw::VERSION;

/// ZooKeeper counters that have no counterpart in Paddock's design (TLS, netty buffers, learner queues,
/// response caches...). They are reported as 0 so that dashboards and agents built for ZooKeeper find
/// every key they look up.
const ZERO_COUNTERS: &[&str] = &[
    "zk_non_mtls_remote_conn_count",
    "zk_non_mtls_local_conn_count",
    "zk_outstanding_tls_handshake",
    "zk_proposal_count",
    "zk_watch_bytes",
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
    "zk_connection_drop_count",
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
    "zk_response_bytes",
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
    "node_changed_watch_count",
    "node_children_watch_count",
    "concurrent_request_processing_in_commit_processor",
    "socket_closing_time",
    "proposal_process_time",
    "leader_unavailable_time",
    "node_created_watch_count",
    "session_queues_drained",
    "write_commit_proc_req_queued",
    "connection_token_deficit",
    "read_commit_proc_req_queued",
    "node_deleted_watch_count",
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

/// Every `mntr` line, in ZooKeeper's order for the keys monitoring tools read first.
pub fn mntr(core: &Core) -> Vec<(String, String)> {
    let l = &core.stats.latency;
    let (open_fds, max_fds) = file_descriptors();
    let mut out: Vec<(String, String)> = vec![
        ("zk_version".into(), VERSION.into()),
        ("zk_server_state".into(), "standalone".into()),
        ("zk_ephemerals_count".into(), core.tree.ephemerals_count().to_string()),
        ("zk_num_alive_connections".into(), core.conns.len().to_string()),
        ("zk_avg_latency".into(), java_double(l.avg_ms())),
        ("zk_outstanding_requests".into(), core.outstanding_requests().to_string()),
        ("zk_znode_count".into(), core.tree.node_count().to_string()),
        ("zk_global_sessions".into(), core.tree.sessions().count().to_string()),
        ("zk_local_sessions".into(), "0".into()),
        ("zk_last_client_response_size".into(), "-1".into()),
        ("zk_max_client_response_size".into(), "-1".into()),
        ("zk_min_client_response_size".into(), "-1".into()),
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
    ];
    let snap_count = core.snapshots.as_ref().map(|s| s.taken.load(Ordering::Relaxed)).unwrap_or(0);
    out.push(("zk_snap_count".into(), snap_count.to_string()));
    out.extend(ZERO_COUNTERS.iter().map(|k| (k.to_string(), "0".to_string())));
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
    for name in ZERO_PERCENTILE_SUMMARIES {
        push_summary(&mut out, name, 0.0, 0.0, 0.0, 0, 0.0);
        for label in ["p50", "p95", "p99", "p999"] {
            out.push((format!("zk_{label}_{name}"), "0".into()));
        }
    }
    let last_snapshot = core.snapshots.as_ref().map(|s| s.last_zxid.load(Ordering::Relaxed)).unwrap_or(-1);
    out.push(("paddock_last_snapshot_zxid".into(), last_snapshot.to_string()));
    out.push(("paddock_last_zxid".into(), core.last_zxid().to_string()));
    out.push(("paddock_state_digest".into(), core.tree.digest().to_string()));
    out.push(("paddock_sessions_expired".into(), core.stats.sessions_expired.to_string()));
    out.push(("paddock_log_failures".into(), core.stats.log_failures.to_string()));
    out
}

fn push_summary(out: &mut Vec<(String, String)>, name: &str, avg: f64, min: f64, max: f64, cnt: u64, sum: f64) {
    out.push((format!("zk_avg_{name}"), java_double(avg)));
    out.push((format!("zk_min_{name}"), (min.round() as i64).to_string()));
    out.push((format!("zk_max_{name}"), (max.round() as i64).to_string()));
    out.push((format!("zk_cnt_{name}"), cnt.to_string()));
    out.push((format!("zk_sum_{name}"), (sum.round() as i64).to_string()));
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

/// `envi`: the keys ZooKeeper prints that mean something for a native process.
pub fn environment() -> Vec<(&'static str, String)> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let os_version =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|v| v.trim().to_string()).unwrap_or_default();
    let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
    vec![
        ("zookeeper.version", VERSION.to_string()),
        ("host.name", host),
        ("os.name", std::env::consts::OS.to_string()),
        ("os.arch", std::env::consts::ARCH.to_string()),
        ("os.version", os_version),
        ("user.name", std::env::var("USER").unwrap_or_default()),
        ("user.home", std::env::var("HOME").unwrap_or_default()),
        ("user.dir", cwd),
        ("paddock.version", env!("CARGO_PKG_VERSION").to_string()),
    ]
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
    fn this_process_has_file_descriptors() {
        let (open, max) = file_descriptors();
        assert!(open >= 3 && max >= open, "open {open}, max {max}");
    }
}
