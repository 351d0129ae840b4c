//! Four-letter words on the client port, with ZooKeeper's output formats (`FourLetterCommands`,
//! `ServerStats.toString`, `NIOServerCnxn.dumpConnectionInfo`, `MonitorCommand`), so that scripts and
//! monitoring agents written for ZooKeeper parse them unchanged.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use paddock_proto::display::{java_date, java_double};

use crate::Shared;
use crate::archiving::ArchiveView;
use crate::config::{Ensemble, QuorumSettings, Role as MemberRole};
use crate::core::{Conn, Core};
use crate::log::ServerRole;
use crate::monitor;

/// Version string reported by `srvr`, `stat`, `mntr` and `envi`: the ZooKeeper protocol level we answer as,
/// and our own version.
pub const VERSION: &str = concat!("3.9.3-paddock-", env!("CARGO_PKG_VERSION"), ", built on unknown");

/// Runs a whitelisted four-letter word and returns its text. `asker` is the connection that sent it, which
/// ZooKeeper lists among the clients of `stat` and `cons` (with no session yet).
pub async fn run(cmd: &str, asker: Option<SocketAddr>, shared: &Arc<Shared>) -> String {
    let text = match cmd {
        "ruok" => return "imok".to_string(),
        "isro" => shared.inspect(|core| if core.role == ServerRole::ReadOnly { "ro" } else { "rw" }.to_string()).await,
        // ZooKeeper prints the mask without a newline (as `stmk` does).
        "gtmk" => return shared.trace_mask.load(Ordering::Relaxed).to_string(),
        "conf" => {
            let membership = shared.inspect(|core| core.ensemble_config()).await.flatten();
            return conf(shared, membership.as_deref());
        }
        "envi" => return envi(),
        // ZooKeeper runs no server while LOOKING: these say it is not serving.
        "srvr" => shared.inspect(move |core| serving(core).then(|| server_summary(core, false, asker))).await.flatten(),
        "stat" => shared.inspect(move |core| serving(core).then(|| server_summary(core, true, asker))).await.flatten(),
        "cons" => shared.inspect(move |core| cons(core, asker)).await,
        "crst" => shared.inspect(crst).await,
        "srst" => shared.inspect(srst).await,
        "mntr" => {
            let archive = shared.archive.clone();
            shared.inspect(move |core| mntr(core, archive.as_ref())).await
        }
        "wchs" => shared.inspect(wchs).await,
        "wchc" => shared.inspect(wchc).await,
        "wchp" => shared.inspect(wchp).await,
        "dirs" => shared.inspect(dirs).await,
        "hash" => shared.inspect(hash).await,
        "reqs" => shared.inspect(|_| String::new()).await,
        "dump" => shared.inspect(dump).await,
        _ => Some(format!("Unknown command: {cmd}\n")),
    };
    text.unwrap_or_else(|| "This ZooKeeper instance is not currently serving requests\n".to_string())
}

fn serving(core: &Core) -> bool {
    core.role != ServerRole::Looking
}

/// `stmk`: sets ZooTrace's mask (shared with the admin `set_trace_mask`) and answers it.
pub fn set_trace_mask(shared: &Shared, mask: i64) -> String {
    shared.trace_mask.store(mask, Ordering::Relaxed);
    mask.to_string()
}

/// `srvr` and `stat`: `stat` adds the client list.
fn server_summary(core: &mut Core, with_clients: bool, asker: Option<SocketAddr>) -> String {
    let l = &core.stats.latency;
    let mut out = format!("Zookeeper version: {VERSION}\n");
    if with_clients {
        out.push_str("Clients:\n");
        if let Some(asker) = asker {
            let _ = writeln!(out, "{}", asker_connection(asker));
        }
        for c in core.conns.values() {
            let _ = writeln!(out, "{}", brief_connection(c));
        }
        out.push('\n');
    }
    let _ = write!(
        out,
        "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
        l.min_ms.round() as i64,
        java_double(monitor::avg_4(l.avg_ms())),
        l.max_ms.round() as i64,
        core.stats.packets_received,
        core.stats.packets_sent,
        // ZooKeeper counts the asking connection among its connections.
        core.conns.len() + usize::from(asker.is_some()),
        core.outstanding_requests(),
        core.last_zxid(),
        core.role.name(),
        core.tree.node_count(),
    );
    out
}

/// ` /127.0.0.1:52732[1](queued=0,recved=5,sent=5)`.
fn brief_connection(c: &Conn) -> String {
    format!(" /{}[1](queued=0,recved={},sent={})", c.peer, c.stats.received, c.stats.sent)
}

/// The connection asking for a four-letter word: one packet received, no session.
fn asker_connection(peer: SocketAddr) -> String {
    format!(" /{peer}[0](queued=0,recved=1,sent=0)")
}

/// `cons`: one line per connection with the full per-connection stats.
fn cons(core: &mut Core, asker: Option<SocketAddr>) -> String {
    let mut out = String::new();
    if let Some(asker) = asker {
        let _ = writeln!(out, "{}", asker_connection(asker));
    }
    for c in core.conns.values() {
        let s = &c.stats;
        let brief = brief_connection(c);
        let brief = brief.trim_end_matches(')');
        // ZooKeeper leaves lcxid out until the connection has answered a request.
        let lcxid = if s.last_cxid >= 0 { format!(",lcxid=0x{:x}", s.last_cxid) } else { String::new() };
        let _ = writeln!(
            out,
            "{brief},sid=0x{:x},lop={},est={},to={}{lcxid},lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={})",
            c.session_id,
            s.last_op,
            monitor::epoch_ms(s.established),
            c.timeout_ms,
            s.last_zxid,
            s.last_response_epoch_ms(),
            s.last_latency_ms.round() as i64,
            s.latency.min_ms.round() as i64,
            s.latency.avg_ms().round() as i64,
            s.latency.max_ms.round() as i64,
        );
    }
    out.push('\n');
    out
}

/// `hash`: the digest log, one `zxid: digest` line per logged zxid.
fn hash(core: &mut Core) -> String {
    core.digest_log.iter().map(|(zxid, digest)| format!("{zxid:x}: {digest}\n")).collect()
}

fn crst(core: &mut Core) -> String {
    for c in core.conns.values_mut() {
        c.stats.reset();
    }
    "Connection stats reset.\n".to_string()
}

/// The same reset as the admin `stat_reset`.
fn srst(core: &mut Core) -> String {
    monitor::reset_server_stats(core);
    "Server stats reset.\n".to_string()
}

/// `mntr`: tab-separated `key value` lines; the asking connection counts as alive. The archive's lines
/// (`zk_paddock_archive_*`) come last, when archiving is on.
fn mntr(core: &mut Core, archive: Option<&ArchiveView>) -> String {
    let mut out = String::new();
    for (key, value) in monitor::mntr(core, 1).into_iter().chain(archive.map(ArchiveView::mntr).unwrap_or_default()) {
        let _ = writeln!(out, "{key}\t{value}");
    }
    out
}

/// `wchs`: `WatchManager.toString()` of the data-watch table (see [`monitor::data_watches`]).
fn wchs(core: &mut Core) -> String {
    let (connections, paths, total) = monitor::data_watch_summary(core);
    format!("{connections} connections watching {paths} paths\nTotal watches:{total}\n")
}

/// `wchc`: the data-watch table's paths grouped by session.
fn wchc(core: &mut Core) -> String {
    let mut out = String::new();
    for (conn, paths) in monitor::data_watches_by_conn(core) {
        let _ = writeln!(out, "0x{:x}", monitor::session_of(core, conn));
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push('\n');
    out
}

/// `wchp`: the data-watch table's sessions grouped by path.
fn wchp(core: &mut Core) -> String {
    let mut out = String::new();
    for (path, conns) in monitor::data_watches(core) {
        let _ = writeln!(out, "{path}");
        for conn in conns {
            let _ = writeln!(out, "\t0x{:x}", monitor::session_of(core, conn));
        }
    }
    out.push('\n');
    out
}

fn dirs(core: &mut Core) -> String {
    let (data, log) = monitor::dir_sizes(&core.config);
    format!("datadir_size: {data}\nlogdir_size: {log}\n")
}

/// `dump`: sessions with their expiry, and each session's ephemeral nodes.
fn dump(core: &mut Core) -> String {
    let mut out = String::from("SessionTracker dump:\n");
    let sessions: Vec<(i64, i64)> = core.tracker.deadlines();
    let _ = writeln!(out, "Session Sets ({})/({}):", sessions.len(), sessions.len());
    for (id, deadline) in &sessions {
        let _ = writeln!(out, "1 expire at {}:\n\t0x{id:x}", java_date(*deadline));
    }
    let with_ephemerals: Vec<(i64, Vec<String>)> = core
        .tree
        .sessions()
        .map(|(id, _)| (id, core.tree.ephemerals(id)))
        .filter(|(_, paths)| !paths.is_empty())
        .collect();
    let _ = writeln!(out, "ephemeral nodes dump:\nSessions with Ephemerals ({}):", with_ephemerals.len());
    for (id, paths) in with_ephemerals {
        let _ = writeln!(out, "0x{id:x}:");
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    let _ = writeln!(out, "Connections dump:\nConnections Sets (0)/({}):", core.conns.len());
    out
}

/// `conf`: the effective configuration in ZooKeeper's key order.
fn conf(shared: &Shared, membership: Option<&str>) -> String {
    let mut out = String::new();
    let ensemble = shared.config.ensemble().ok().flatten();
    for (key, value) in monitor::configuration(&shared.config) {
        // ZooKeeper prints its own id here; 0 for a standalone server.
        let value = if key == "serverId" { ensemble.as_ref().map_or(value, |e| e.my_id.to_string()) } else { value };
        let _ = writeln!(out, "{key}={value}");
    }
    if let Some(ensemble) = ensemble {
        let membership = membership.map_or_else(|| ensemble.membership(), str::to_string);
        quorum_conf(&mut out, &shared.config.quorum, &ensemble, &membership);
    }
    out
}

/// The lines ZooKeeper's `QuorumZooKeeperServer.dumpConf` adds for a member of an ensemble: its limits, its
/// ports and role, then the membership (as `/zookeeper/config` holds it: after a reconfig, not zoo.cfg's).
fn quorum_conf(out: &mut String, quorum: &QuorumSettings, ensemble: &Ensemble, membership: &str) {
    let Some(own) = ensemble.servers.get(&ensemble.my_id) else { return };
    let peer_type = if own.role == MemberRole::Observer { 1 } else { 0 };
    let _ = write!(
        out,
        "initLimit={}\nsyncLimit={}\nelectionAlg=3\nelectionPort={}\nquorumPort={}\npeerType={peer_type}\nmembership: \n",
        quorum.init_limit, quorum.sync_limit, own.election_port, own.peer_port,
    );
    out.push_str(membership);
    out.push('\n');
}

/// `envi`: the admin `environment`'s entries as `key=value` lines.
fn envi() -> String {
    let mut out = String::from("Environment:\n");
    for (key, value) in monitor::environment() {
        let _ = writeln!(out, "{key}={value}");
    }
    out
}
