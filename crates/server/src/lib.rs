//! The Paddock server: listener, connections, sessions, the request pipeline, watch delivery and
//! introspection. Tree semantics live in `paddock-tree`; this crate only moves requests to it and replies
//! back, in order.

pub mod admin;
pub mod archiving;
mod auth;
pub mod config;
mod connection;
pub mod core;
mod ensemble;
pub mod fourlw;
mod local;
pub mod log;
pub mod metrics;
pub mod monitor;
mod outbox;
pub mod persist;
mod prepare;
mod quota;
mod reconfig;
mod retention;
pub mod sasl;
mod session;
pub mod snapshots;
pub mod stats;
mod throttle;
pub mod tls;
mod watch;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use paddock_tree::DataTree;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::archiving::{ArchiveView, Archiving};
pub use crate::config::ServerConfig;
use crate::core::{Core, CoreMsg};
use crate::log::{LogEvent, MemoryLog, ReplicatedLog};
use crate::snapshots::Snapshots;
use paddock_storage::cluster_id::ClusterId;

/// What every connection task shares.
pub struct Shared {
    pub config: Arc<ServerConfig>,
    pub core: mpsc::Sender<CoreMsg>,
    /// Open connections per client address, for `maxClientCnxns`.
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    /// ZooTrace's text trace mask: `gtmk`/`stmk` and the admin `get_trace_mask`/`set_trace_mask` read and
    /// set this one value, as they share ZooKeeper's one global. Paddock's logging does not use it.
    pub trace_mask: std::sync::atomic::AtomicI64,
    /// The data directory's cluster id as it was at start; `None` for a server that keeps its data in memory.
    /// The id backups go under is the core's (`Core::cluster_id`: a member's is its ensemble's).
    pub cluster_id: Option<ClusterId>,
    /// Continuous archiving's state (`paddock.backup.target`), read-only; `None` when archiving is off.
    pub archive: Option<ArchiveView>,
    /// Open connections, all clients together, for `maxCnxns`; changed under `per_ip`'s lock.
    open_cnxns: std::sync::atomic::AtomicU32,
    /// Requests read from clients and not yet answered, for `globalOutstandingLimit`.
    pub in_flight: Arc<outbox::InFlight>,
    /// `connection_throttle_*`: ZooKeeper's token bucket for new sessions.
    pub(crate) connection_throttle: throttle::BlueThrottle,
    /// TLS on the client port (`secureClientPort`, `client.portUnification`); `None` when off.
    pub tls: Option<Arc<tls::TlsServer>>,
}

/// ZooTrace's default text trace mask, what `gtmk` reports until `stmk` changes it.
pub const DEFAULT_TRACE_MASK: i64 = 306;

impl Shared {
    pub(crate) fn new(config: Arc<ServerConfig>, core: mpsc::Sender<CoreMsg>) -> Shared {
        Shared {
            core,
            per_ip: Mutex::new(HashMap::new()),
            trace_mask: DEFAULT_TRACE_MASK.into(),
            cluster_id: None,
            archive: None,
            open_cnxns: 0.into(),
            in_flight: outbox::InFlight::new(throttle::global_outstanding_limit(&config)),
            connection_throttle: throttle::BlueThrottle::new(&config.limits.connection_throttle),
            tls: None,
            config,
        }
    }

    /// Runs `f` on the core's state and returns its result (four-letter words, admin commands).
    pub async fn inspect<T: Send + 'static>(&self, f: impl FnOnce(&mut Core) -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        let msg = CoreMsg::Inspect(Box::new(move |core: &mut Core| {
            let _ = tx.send(f(core));
        }));
        self.core.send(msg).await.ok()?;
        rx.await.ok()
    }
}

/// A started server: its address, and a handle to stop it.
pub struct RunningServer {
    pub client_addr: SocketAddr,
    pub shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// A member of an ensemble: its Raft node, and the lock on its data directory.
    member: Option<(Arc<paddock_consensus::replica::Replica<ensemble::CoreOwner>>, Vec<paddock_storage::DirLock>)>,
    /// Tasks that run beside the server (retention, archiving), stopped at shutdown.
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, closes every connection and waits for the pipeline to drain.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        // Archived objects are written create-only and whole: an upload cut off here is never visible, and
        // the next start continues after the last archived zxid.
        for task in self.background.drain(..) {
            task.abort();
        }
        if let Some((replica, _locks)) = self.member.take() {
            replica.shutdown().await;
        }
    }
}

/// Starts a standalone server with its state in memory.
pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    // Unbounded because its only sender is the core itself (`MemoryLog::propose`, called by the core): a
    // bound would have the core wait on its own queue. Bounded instead by the core, which drains it before
    // anything else (`biased` select): it holds at most the proposals of one step of the core.
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let log: Box<dyn ReplicatedLog> = Box::new(MemoryLog::new(events_tx, 0));
    start_with(config, DataTree::new(), log, events_rx).await
}

/// Starts a standalone server on its data directory: recovers the tree from the newest valid snapshot and
/// the write-ahead log, then logs every write durably before applying it.
pub async fn start_durable(config: ServerConfig) -> anyhow::Result<RunningServer> {
    let ensemble = config.ensemble()?;
    refuse_other_mode_data(&config, ensemble.is_some())?;
    // A target that cannot be used stops the start before anything is recovered or locked.
    let target = archiving::open_target(&config)?;
    if let Some(ensemble) = ensemble {
        return start_member(config, ensemble, target).await;
    }
    let recover_config = config.clone();
    let recovered = tokio::task::spawn_blocking(move || persist::recover(&recover_config))
        .await
        .context("recovery task failed")??;
    // Unbounded, bounded by proposals: the WAL thread sends at most one `Committed` and one `FsyncTime` per
    // fsync of proposals the core made, and proposals in flight are bounded by `globalOutstandingLimit`
    // (readers stop while it is passed) plus one per connection and the core's own (expiries, containers,
    // digests). A bound here would block the WAL thread, not the clients; the limit acts before either.
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let durable = recovered.tree.last_zxid();
    let wal_log =
        persist::WalLog::start(recovered.wal, recovered.locks, durable, persist::snap_dir(&config), events_tx)
            .context("cannot start the log writer thread")?;
    let archiving = target.map(|target| Archiving::new(&config, target, durable));
    let view = archiving.as_ref().map(|(archiving, _)| archiving.view());
    let retention = retention::Retention::new(&config, wal_log.purger(), view.clone());
    let snapshots =
        Snapshots::new(persist::snap_dir(&config), config.snap_count, config.snapshot_pace, recovered.snapshot_zxid);
    let (archiving, durable_tx) = archiving.unzip();
    let on_disk = Durable {
        snapshots: Some(snapshots),
        cluster_id: Some(recovered.cluster_id),
        archive: durable_tx.zip(view),
        ensemble_id: None,
    };
    let mut server = start_inner(config, recovered.tree, Box::new(wal_log), events_rx, on_disk, None).await?;
    if let Some(retention) = retention {
        server.background.push(tokio::spawn(retention.run()));
    }
    if let Some(archiving) = archiving {
        server.background.extend(archiving.spawn(server.shared.clone(), recovered.cluster_id, durable));
    }
    Ok(server)
}

/// A standalone server keeps its data in `paddock/snap` and `paddock/wal`, a member of an ensemble in
/// `paddock/raft`; neither reads the other's. Starting in one mode on the other's data would serve an empty
/// tree as if the data were gone, so it is refused, naming the directory. (Moving a standalone server's data
/// into a new ensemble is a restore: issue 11.)
fn refuse_other_mode_data(config: &ServerConfig, member: bool) -> anyhow::Result<()> {
    let raft_dir = raft_dir(config);
    let holds = |dir: &std::path::Path| std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    if member {
        for dir in [persist::snap_dir(config), persist::wal_dir(config)] {
            if holds(&dir) && !holds(&raft_dir) {
                bail!(
                    "{} holds a standalone server's data, which a member of an ensemble does not read; start the \
                     member on an empty data directory (or remove the server.N lines to run standalone again)",
                    dir.display()
                );
            }
        }
    } else if holds(&raft_dir) {
        bail!(
            "{} holds a member's Raft log, which a standalone server does not read; start it with its ensemble's \
             server.N lines (and myid), or on an empty data directory",
            raft_dir.display()
        );
    }
    Ok(())
}

/// Where a member keeps its Raft log and snapshots: `<dataLogDir>/paddock/raft`.
fn raft_dir(config: &ServerConfig) -> std::path::PathBuf {
    paddock_storage::wal_dir(config.log_dir()).with_file_name("raft")
}

/// Starts a member of an ensemble: the core on an empty tree, then its Raft node, which brings the tree to
/// the ensemble's state (a kept snapshot, the log, or a snapshot from the leader) through the core.
async fn start_member(
    config: ServerConfig,
    ensemble: config::Ensemble,
    target: Option<paddock_backup::target::Target>,
) -> anyhow::Result<RunningServer> {
    let raft_dir = raft_dir(&config);
    std::fs::create_dir_all(&raft_dir).with_context(|| format!("cannot create {}", raft_dir.display()))?;
    let locks = vec![paddock_storage::DirLock::acquire(&raft_dir)?];
    // Each member starts with its own, and adopts its ensemble's once its tree holds one.
    let cluster_id = paddock_storage::cluster_id::load_or_create(&config.data_dir)?;
    let archiving = target.map(|target| Archiving::new_member(&config, target, &raft_dir));
    let (ensemble_id_tx, ensemble_id) = tokio::sync::watch::channel(None);
    // Unbounded, and must stay so: the core itself sends on it (`RaftLog::propose` reports a refused
    // proposal as `Lost`), so a bound would have it wait on its own queue. Bounded in practice by the replica:
    // the state machine sends one `Apply` batch and waits for the core to apply it; `Lost` and `ReadIndex`
    // events are at most one per proposal, and the replica holds at most `PROPOSAL_QUEUE` (4096) of those,
    // refusing more; touches come once a tick; proposals are bounded by `globalOutstandingLimit`.
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let recovered_tx = events_tx.clone();
    let gate = archiving.as_ref().map(|(_, _, gate)| gate.clone());
    let (log, joining) = ensemble::Joining::new(events_tx, gate);
    let member_config = config.clone();
    // Clients are accepted only once this member has applied everything the ensemble had committed when it
    // came back: before that it would serve a past state. With read-only mode, a member that comes back cut
    // off from its quorum must serve read-only clients what it has, as ZooKeeper's read-only server does,
    // which ZooKeeper starts after max(2 s, tickTime) in LOOKING: the port opens then, and the core refuses
    // every other session until the member has caught up.
    let (caught_up, gate) = oneshot::channel();
    let read_only_after = config
        .quorum
        .read_only_enabled
        .then(|| std::time::Duration::from_millis(u64::from(config.tick_time_ms.max(2000))));
    let member = Member { node_id: ensemble.my_id, caught_up: gate };
    let view = archiving.as_ref().map(|(archiving, _, _)| archiving.view());
    let (archiving, durable_tx) = archiving.map(|(archiving, durable, _)| (archiving, durable)).unzip();
    let on_disk = Durable {
        snapshots: None,
        cluster_id: Some(cluster_id),
        archive: durable_tx.zip(view),
        ensemble_id: Some(ensemble_id_tx),
    };
    let mut server = start_inner(config, DataTree::new(), Box::new(log), events_rx, on_disk, Some(member)).await?;
    let replica = joining.start(&member_config, &ensemble).await?;
    if let Some(archiving) = archiving {
        server.background.push(archiving.spawn_member(server.shared.clone(), replica.role(), ensemble_id));
    }
    tokio::spawn(open_when_recovered(replica.clone(), caught_up, read_only_after, recovered_tx));
    info!(my_id = ensemble.my_id, members = ensemble.servers.len(), "joined the ensemble");
    server.member = Some((replica, locks));
    Ok(server)
}

/// Tells the core once `replica` has caught up with its ensemble, and opens the client port (`gate`) then, or
/// after `read_only_after` if that comes first (read-only mode: the core then admits read-only sessions only).
async fn open_when_recovered(
    replica: Arc<paddock_consensus::replica::Replica<ensemble::CoreOwner>>,
    gate: oneshot::Sender<()>,
    read_only_after: Option<std::time::Duration>,
    recovered: mpsc::UnboundedSender<LogEvent>,
) {
    let caught_up = replica.wait_recovered();
    tokio::pin!(caught_up);
    let mut gate = Some(gate);
    if let Some(after) = read_only_after {
        tokio::select! {
            () = &mut caught_up => {}
            () = tokio::time::sleep(after) => {
                if let Some(open) = gate.take() {
                    let _ = open.send(());
                }
                caught_up.await;
            }
        }
    } else {
        caught_up.await;
    }
    let _ = recovered.send(LogEvent::Recovered);
    if let Some(open) = gate {
        let _ = open.send(());
    }
}

/// Starts a server on a given tree and log.
pub async fn start_with(
    config: ServerConfig,
    tree: DataTree,
    log: Box<dyn ReplicatedLog>,
    log_events: mpsc::UnboundedReceiver<LogEvent>,
) -> anyhow::Result<RunningServer> {
    start_inner(config, tree, log, log_events, Durable::default(), None).await
}

/// What a server with a data directory adds: its snapshots (standalone only; a member's belong to its Raft
/// node), the directory's cluster id, continuous archiving (where the core reports each durable zxid or
/// applied index, and the archive's state for introspection), and, for a member, where the core reports
/// its ensemble's cluster id.
#[derive(Default)]
struct Durable {
    snapshots: Option<Snapshots>,
    cluster_id: Option<ClusterId>,
    archive: Option<(tokio::sync::watch::Sender<i64>, ArchiveView)>,
    ensemble_id: Option<tokio::sync::watch::Sender<Option<ClusterId>>>,
}

/// What a member of an ensemble adds to a server: its id in its proposals (a standalone server's is 1), and
/// the gate that opens the client port once it has caught up.
struct Member {
    node_id: u64,
    caught_up: oneshot::Receiver<()>,
}

async fn start_inner(
    mut config: ServerConfig,
    tree: DataTree,
    log: Box<dyn ReplicatedLog>,
    log_events: mpsc::UnboundedReceiver<LogEvent>,
    durable: Durable,
    member: Option<Member>,
) -> anyhow::Result<RunningServer> {
    log_config_unmasked(&config);
    // Unusable TLS settings stop the start before any port is bound.
    let tls =
        tls::TlsSettings::from_config(&config)?.map(tls::TlsServer::new).transpose().map_err(anyhow::Error::msg)?;
    let addr = SocketAddr::new(config.client_port_address, config.client_port);
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on client port {addr}"))?;
    let client_addr = listener.local_addr()?;
    let secure_listener = match tls.as_ref().and_then(|tls| tls.settings().secure_port) {
        Some(addr) => {
            Some(TcpListener::bind(addr).await.with_context(|| format!("cannot listen on secureClientPort {addr}"))?)
        }
        None => None,
    };
    // `conf` and the admin server report the port actually bound (clientPort=0 picks one).
    config.client_port = client_addr.port();
    let _ = metrics::handle();
    let config = Arc::new(config);
    // Connections, the admin server and timers to the core. A full channel makes connection readers wait
    // (backpressure, never a drop); it holds at most the requests in flight, which `globalOutstandingLimit`
    // bounds (1000 by default, plus one per connection), so 16 Ki never binds in normal running and only
    // caps a burst of handshakes and closes (one message each) from thousands of connections at once.
    let (core_tx, core_rx) = mpsc::channel(16 * 1024);
    let (durable_tx, archive) = durable.archive.unzip();
    let shared =
        Arc::new(Shared { cluster_id: durable.cluster_id, archive, tls, ..Shared::new(config.clone(), core_tx) });
    let node_id = member.as_ref().map_or(1, |m| m.node_id);
    let is_member = member.is_some();
    let gate = member.map(|m| m.caught_up);
    let mut core = Core::new(config, tree, log, node_id);
    if is_member {
        core.join_ensemble();
    }
    core.snapshots = durable.snapshots;
    core.set_cluster_id(durable.cluster_id, durable.ensemble_id);
    if let Some(durable_tx) = durable_tx {
        core.report_durable_to(durable_tx);
    }
    let core_task = tokio::spawn(core.run(core_rx, log_events));
    let admin = admin::start(shared.clone()).await?;
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let accept_shared = shared.clone();
    let cluster_id = shared.cluster_id.map_or_else(|| "none (data in memory)".to_string(), |id| id.to_string());
    let core_tx = shared.core.clone();
    let task = tokio::spawn(async move {
        let serve = async {
            if let Some(gate) = gate
                && gate.await.is_err()
            {
                return;
            }
            let secure_addr = secure_listener.as_ref().and_then(|l| l.local_addr().ok());
            info!(client_addr = %client_addr, secure_client_addr = ?secure_addr, cluster_id = %cluster_id, "paddock ready: serving clients");
            // Dropped with the rest of `serve` at shutdown.
            let reload = async {
                if let Some(tls) = accept_shared.tls.clone() {
                    tls.reload_on_change().await;
                }
            };
            let secure = async {
                match secure_listener {
                    Some(listener) => accept_loop(listener, accept_shared.clone(), true).await,
                    None => std::future::pending().await,
                }
            };
            tokio::join!(accept_loop(listener, accept_shared.clone(), false), secure, reload);
        };
        tokio::select! {
            _ = serve => {}
            _ = shutdown_rx => {}
        }
        let _ = core_tx.send(CoreMsg::Shutdown).await;
        if let Some(admin) = admin {
            admin.abort();
        }
        let _ = core_task.await;
    });
    Ok(RunningServer { client_addr, shared, shutdown: Some(shutdown_tx), task, member: None, background: Vec::new() })
}

/// CVE-2026-24308's vulnerable variant, for its regression test: ZooKeeper logged client configuration,
/// secrets included, at INFO. Paddock logs no configuration value that could be a secret.
fn log_config_unmasked(config: &ServerConfig) {
    fail::fail_point!("cve::2026_24308", |_| info!(config = ?config.raw, "configuration"));
    let _ = config;
}

/// Connection ids, unique across the plain and the secure port.
static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Accepts clients on `listener`: the secure port's (`secure`) speak TLS, the plain port's speak the plain
/// protocol, or either with `client.portUnification`.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, secure: bool) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Err(why) = admit(&shared, peer.ip()) {
            warn!(peer = %peer, "refusing the connection: {why}");
            drop(stream);
            continue;
        }
        let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(handle(stream, peer, conn, shared.clone(), secure));
    }
}

async fn handle(stream: TcpStream, peer: SocketAddr, conn: u64, shared: Arc<Shared>, secure: bool) {
    let _ = stream.set_nodelay(true);
    match shared.tls.clone() {
        Some(tls) if secure || (tls.settings().port_unification && tls::starts_tls(&stream).await) => {
            match tls.accept(stream, peer).await {
                Ok((stream, ids)) => connection::serve(stream, peer, ids, conn, shared.clone()).await,
                Err(why) => info!(peer = %peer, "refusing a TLS client: {why}"),
            }
        }
        _ => connection::serve(stream, peer, Vec::new(), conn, shared.clone()).await,
    }
    release(&shared, peer.ip());
}

/// `maxCnxns` over all clients, then `maxClientCnxns` per client IP (0 = unlimited), in ZooKeeper's order.
fn admit(shared: &Shared, ip: IpAddr) -> Result<(), String> {
    let Ok(mut counts) = shared.per_ip.lock() else { return Ok(()) };
    let (max_cnxns, open) = (shared.config.limits.max_cnxns, shared.open_cnxns.load(Ordering::Relaxed));
    if max_cnxns > 0 && open >= max_cnxns {
        return Err(format!("too many connections ({open}); maxCnxns is {max_cnxns}"));
    }
    let count = counts.entry(ip).or_insert(0);
    if shared.config.max_client_cnxns > 0 && *count >= shared.config.max_client_cnxns {
        return Err(format!("too many connections from this address; maxClientCnxns is {}", *count));
    }
    *count += 1;
    shared.open_cnxns.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn release(shared: &Shared, ip: IpAddr) {
    if let Ok(mut counts) = shared.per_ip.lock()
        && let Some(count) = counts.get_mut(&ip)
    {
        shared.open_cnxns.fetch_sub(1, Ordering::Relaxed);
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(&ip);
        }
    }
}
