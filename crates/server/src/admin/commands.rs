//! The GET commands, answered with the JSON entries ZooKeeper's `Commands.java` puts in each response
//! (Jackson's snake_case names for the beans it serializes). Values come from the same places as the
//! four-letter words (`crate::monitor`, the core's state); `tests/admin_vs_zookeeper.rs` holds every answer
//! against Apache ZooKeeper 3.8's.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::AdminState;
use super::environment::{environment, system_properties};
use super::registry::Command;
use super::response::{CommandResponse, number_or_string};
use crate::config::ServerConfig;
use crate::core::{Conn, Core};
use crate::fourlw::VERSION;
use crate::monitor;

type Fields = Vec<(String, Value)>;

/// ZooKeeper's `DigestCalculator.DIGEST_VERSION` is 2. Paddock's digest is computed differently
/// (`paddock-tree`), so it reports its own version rather than pretend to be comparable.
const PADDOCK_DIGEST_VERSION: i32 = 1000;

/// NIO's `SelectionKey.OP_READ`: a connection that is not throttled.
const OP_READ: i32 = 1;

/// Runs a GET command. `requested` is the name as the client typed it, which ZooKeeper echoes when the
/// server is not serving.
pub async fn run(
    state: &AdminState,
    command: &Command,
    requested: &str,
    kwargs: &HashMap<String, String>,
) -> CommandResponse {
    let primary = command.primary();
    let fields = match local(state, primary, kwargs) {
        Some(fields) if command.server_required => state.shared.inspect(|_| ()).await.map(|()| fields),
        Some(fields) => Some(fields),
        None => from_core(state, primary).await,
    };
    let Some(fields) = fields else { return CommandResponse::not_serving(requested) };
    let mut response = CommandResponse::new(primary);
    response.put_all(fields);
    response
}

/// Commands answered without the core's state; `None` for the others.
fn local(state: &AdminState, primary: &str, kwargs: &HashMap<String, String>) -> Option<Fields> {
    let config = &state.shared.config;
    Some(match primary {
        "environment" => environment(),
        "get_trace_mask" => fields([("tracemask", state.shared.trace_mask.load(Ordering::Relaxed).into())]),
        "set_trace_mask" => set_trace_mask(state, kwargs),
        "system_properties" => system_properties(),
        "zabstate" => fields([("voting", false.into()), ("zabstate", "".into())]),
        "configuration" => configuration(config),
        "dirs" => dirs(config),
        "initial_configuration" => initial_configuration(config),
        "is_read_only" => fields([("read_only", false.into())]),
        // A standalone server is not a QuorumZooKeeperServer: ZooKeeper answers with this error.
        "leader" => fields([("error", "server is not initialized".into())]),
        "observers" => fields([("synced_observers", 0.into()), ("observers", json!([]))]),
        "voting_view" => fields([("current_config", json!({}))]),
        "observer_connection_stat_reset" | "ruok" => Vec::new(),
        _ => return None,
    })
}

/// Commands answered from the core's state; `None` when the core does not answer.
async fn from_core(state: &AdminState, primary: &str) -> Option<Fields> {
    let f: fn(&mut Core) -> Fields = match primary {
        "monitor" => return monitor_fields(state).await,
        "connection_stat_reset" => connection_stat_reset,
        "stat_reset" => stat_reset,
        "connections" => connections,
        "hash" => hash,
        "dump" => dump,
        "watches" => watches,
        "watches_by_path" => watches_by_path,
        "watch_summary" => watch_summary,
        "server_stats" => return server_stats(state, false).await,
        "stats" => return server_stats(state, true).await,
        "last_snapshot" => return last_snapshot(state).await,
        _ => |_| Vec::new(),
    };
    state.shared.inspect(f).await
}

fn fields<const N: usize>(entries: [(&str, Value); N]) -> Fields {
    entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// `mntr`'s keys without the `zk_` prefix, numbers as JSON numbers (the archive's too, when it is on).
async fn monitor_fields(state: &AdminState) -> Option<Fields> {
    let archive = state.shared.archive.clone();
    let lines = state
        .shared
        .inspect(move |core| {
            let mut lines = monitor::mntr(core, 0);
            lines.extend(archive.map(|a| a.mntr()).unwrap_or_default());
            lines
        })
        .await?;
    let fields = lines
        .into_iter()
        .map(|(key, value)| {
            let key = key.strip_prefix("zk_").map(str::to_string).unwrap_or(key);
            (key, number_or_string(&value))
        })
        .collect();
    Some(fields)
}

fn connection_stat_reset(core: &mut Core) -> Fields {
    for c in core.conns.values_mut() {
        c.stats.reset();
    }
    Vec::new()
}

/// The same reset as `srst`.
fn stat_reset(core: &mut Core) -> Fields {
    monitor::reset_server_stats(core);
    Vec::new()
}

/// `ServerCnxn.getConnectionInfo(brief)`.
fn connection_info(c: &Conn, brief: bool) -> Value {
    let s = &c.stats;
    let mut info = serde_json::Map::new();
    info.insert("remote_socket_address".into(), c.peer.to_string().into());
    info.insert("interest_ops".into(), OP_READ.into());
    info.insert("outstanding_requests".into(), 0.into());
    info.insert("packets_received".into(), s.received.into());
    info.insert("packets_sent".into(), s.sent.into());
    if !brief {
        info.insert("session_id".into(), c.session_id.into());
        info.insert("last_operation".into(), s.last_op.into());
        info.insert("established".into(), monitor::epoch_ms(s.established).into());
        info.insert("session_timeout".into(), c.timeout_ms.into());
        info.insert("last_cxid".into(), s.last_cxid.into());
        info.insert("last_zxid".into(), s.last_zxid.into());
        info.insert("last_response_time".into(), s.last_response_epoch_ms().into());
        info.insert("last_latency".into(), (s.last_latency_ms.round() as i64).into());
        info.insert("min_latency".into(), (s.latency.min_ms.round() as i64).into());
        info.insert("avg_latency".into(), (s.latency.avg_ms().round() as i64).into());
        info.insert("max_latency".into(), (s.latency.max_ms.round() as i64).into());
    }
    Value::Object(info)
}

/// Connections in a stable order (by connection number).
fn connection_list(core: &Core, brief: bool) -> Value {
    let mut conns: Vec<(&u64, &Conn)> = core.conns.iter().collect();
    conns.sort_unstable_by_key(|(id, _)| **id);
    Value::Array(conns.into_iter().map(|(_, c)| connection_info(c, brief)).collect())
}

fn connections(core: &mut Core) -> Fields {
    fields([("connections", connection_list(core, false)), ("secure_connections", json!([]))])
}

/// `DataTree.getDigestLog`: the digest every 128 zxids, oldest first (empty before zxid 128).
fn hash(core: &mut Core) -> Fields {
    let digests = core
        .digest_log
        .iter()
        .map(|(zxid, digest)| json!({ "zxid": zxid, "digest_version": PADDOCK_DIGEST_VERSION, "digest": digest }))
        .collect();
    fields([("digests", Value::Array(digests))])
}

/// `getSessionExpiryMap` (expiry time → sessions) and `getEphemerals` (session → paths).
fn dump(core: &mut Core) -> Fields {
    let mut expiry: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (session, deadline) in core.tracker.deadlines() {
        expiry.entry(deadline).or_default().push(session);
    }
    let expiry: serde_json::Map<String, Value> =
        expiry.into_iter().map(|(deadline, sessions)| (deadline.to_string(), json!(sessions))).collect();
    let ephemerals: serde_json::Map<String, Value> = core
        .tree
        .sessions()
        .map(|(id, _)| (id, core.tree.ephemerals(id)))
        .filter(|(_, paths)| !paths.is_empty())
        .map(|(id, paths)| (id.to_string(), json!(paths)))
        .collect();
    fields([
        ("expiry_time_to_session_ids", Value::Object(expiry)),
        ("session_id_to_ephemeral_paths", Value::Object(ephemerals)),
    ])
}

/// `WatchesReport.toMap`: session id → watched paths.
fn watches(core: &mut Core) -> Fields {
    let mut by_session: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (conn, paths) in monitor::data_watches_by_conn(core) {
        by_session.entry(monitor::session_of(core, conn)).or_default().extend(paths);
    }
    let by_session: serde_json::Map<String, Value> =
        by_session.into_iter().map(|(session, paths)| (session.to_string(), json!(paths))).collect();
    fields([("session_id_to_watched_paths", Value::Object(by_session))])
}

/// `WatchesPathReport.toMap`: path → watching session ids.
fn watches_by_path(core: &mut Core) -> Fields {
    let by_path: serde_json::Map<String, Value> = monitor::data_watches(core)
        .into_iter()
        .map(|(path, conns)| {
            let sessions: Vec<i64> = conns.into_iter().map(|conn| monitor::session_of(core, conn)).collect();
            (path, json!(sessions))
        })
        .collect();
    fields([("path_to_session_ids", Value::Object(by_path))])
}

/// `WatchesSummary.toMap`, over the data-watch table.
fn watch_summary(core: &mut Core) -> Fields {
    let (connections, paths, total) = monitor::data_watch_summary(core);
    fields([("num_connections", connections.into()), ("num_paths", paths.into()), ("num_total_watches", total.into())])
}

/// `srvr` (`server_stats`) and `stat` (`stats`, which adds the connections). Directory sizes are read
/// here, off the core's task.
async fn server_stats(state: &AdminState, with_connections: bool) -> Option<Fields> {
    let (data_size, log_size) = monitor::dir_sizes(&state.shared.config);
    state
        .shared
        .inspect(move |core| {
            let mut out = fields([
                ("version", VERSION.into()),
                ("read_only", false.into()),
                ("server_stats", server_stats_bean(core, data_size, log_size)),
                ("client_response", buffer_stats(core)),
                ("node_count", core.tree.node_count().into()),
            ]);
            if with_connections {
                out.push(("connections".into(), connection_list(core, true)));
                out.push(("secure_connections".into(), json!([])));
            }
            out
        })
        .await
}

/// ZooKeeper's `ServerStats` bean as Jackson writes it.
fn server_stats_bean(core: &Core, data_size: u64, log_size: u64) -> Value {
    let l = &core.stats.latency;
    json!({
        "packets_sent": core.stats.packets_sent,
        "packets_received": core.stats.packets_received,
        "fsync_threshold_exceed_count": 0,
        "client_response_stats": buffer_stats(core),
        "provider_null": false,
        "server_state": core.role.name(),
        "outstanding_requests": core.outstanding_requests(),
        "avg_latency": monitor::avg_4(l.avg_ms()),
        "max_latency": l.max_ms.round() as i64,
        "min_latency": l.min_ms.round() as i64,
        "num_alive_client_connections": core.conns.len(),
        "last_processed_zxid": core.last_zxid(),
        "data_dir_size": data_size,
        "log_dir_size": log_size,
        "uptime": core.started.elapsed().as_millis() as u64,
        "auth_failed_count": core.stats.auth_failed,
        "non_mtlsremote_conn_count": 0,
        "non_mtlslocal_conn_count": 0,
    })
}

/// `BufferStats` of the client responses (-1: none yet).
fn buffer_stats(core: &Core) -> Value {
    let b = core.stats.client_response;
    json!({ "last_buffer_size": b.last, "min_buffer_size": b.min, "max_buffer_size": b.max })
}

/// `SnapshotInfo` of the newest snapshot: zxid in hex without `0x` (`Long.toHexString`, so -1 prints as
/// `ffffffffffffffff`) and the file's modification time in seconds.
async fn last_snapshot(state: &AdminState) -> Option<Fields> {
    let dir: Option<PathBuf> = state.shared.inspect(|core| core.snapshots.as_ref().map(|s| s.dir.clone())).await?;
    let newest = match dir {
        Some(dir) => tokio::task::spawn_blocking(move || newest_snapshot(&dir)).await.ok().flatten(),
        None => None,
    };
    let (zxid, timestamp) = newest.unwrap_or((-1, -1));
    Some(fields([("zxid", format!("{zxid:x}").into()), ("timestamp", timestamp.into())]))
}

fn newest_snapshot(dir: &std::path::Path) -> Option<(i64, i64)> {
    let (zxid, path) = paddock_storage::list_snapshots(dir).ok()?.pop()?;
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    Some((zxid, monitor::epoch_ms(modified) / 1000))
}

/// `ZooKeeperServerConf.toMap`, with the same values `conf` prints.
fn configuration(config: &ServerConfig) -> Fields {
    fields([
        ("client_port", config.client_port.into()),
        ("data_dir", config.data_dir.display().to_string().into()),
        ("data_log_dir", config.log_dir().display().to_string().into()),
        ("tick_time", config.tick_time_ms.into()),
        ("max_client_cnxns", config.max_client_cnxns.into()),
        ("min_session_timeout", config.min_session_timeout_ms.into()),
        ("max_session_timeout", config.max_session_timeout_ms.into()),
        ("server_id", 0.into()),
        ("client_port_listen_backlog", (-1).into()),
    ])
}

fn dirs(config: &ServerConfig) -> Fields {
    let (data, log) = monitor::dir_sizes(config);
    fields([("datadir_size", data.into()), ("logdir_size", log.into())])
}

/// The configuration file as it was read at start-up, or the keys given in code when there was no file;
/// secrets (key store passwords, the super digest) masked (CVE-2026-24308).
fn initial_configuration(config: &ServerConfig) -> Fields {
    let from_file = config.source.as_ref().and_then(|path| std::fs::read_to_string(path).ok());
    let text = from_file.unwrap_or_else(|| config.raw.iter().map(|(k, v)| format!("{k}={v}\n")).collect());
    fields([("initial_configuration", crate::config::mask_properties(&text).into())])
}

/// `set_trace_mask?traceMask=<long>`, with ZooKeeper's error texts.
fn set_trace_mask(state: &AdminState, kwargs: &HashMap<String, String>) -> Fields {
    let Some(text) = kwargs.get("traceMask") else {
        return fields([("error", "setTraceMask requires long traceMask argument".into())]);
    };
    match text.parse::<i64>() {
        Ok(mask) => {
            state.shared.trace_mask.store(mask, Ordering::Relaxed);
            fields([("tracemask", mask.into())])
        }
        Err(_) => fields([("error", format!("setTraceMask requires long traceMask argument, got {text}").into())]),
    }
}
