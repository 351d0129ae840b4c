//! The request pipeline: one task that owns the data tree.
//!
//! Connections send their decoded requests here in arrival order. Writes are stamped (leader time, the
//! session's auth ids, this server's proposal id) and proposed to the [`ReplicatedLog`]; the log gives each
//! entry its index, the zxid, and hands committed entries back in log order. Every committed entry is
//! decoded and applied here, whoever proposed it; the proposer's waiting client is answered then. Reads and
//! other local requests are served at once — unless the same connection has writes still in flight, in which
//! case they wait behind them. That gives ZooKeeper's per-session FIFO: replies leave in request order and a
//! read sees the session's own earlier writes.
//!
//! Watch events are queued on a connection before the reply to any later request, because both go through
//! the same outbound channel and the tree is only ever changed here.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use paddock_proto::{
    ConnectRequest, ConnectResponse, ErrorCode, Id, KEEPER_STATE_SYNC_CONNECTED, OpCode, ReconfigRequest, ReplyHeader,
    Request, Response, WatcherEvent, encode_connect_response, encode_notification, encode_reply, perms, xid,
};
use paddock_tree::{Applied, CONFIG_PATH, DataTree, EntryError, ProposalId, Txn, TxnOp, TxnResult, acl};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::auth;
use crate::config::ServerConfig;
use crate::local::{self, Caller, Catchup};
use crate::log::{CommittedEntry, LogEvent, ReplicatedLog, ServerRole};
use crate::prepare::{self, Prepared, ReplyKind};
use crate::reconfig::{self, CurrentConfig};
use crate::session::SessionTracker;
use crate::snapshots::Snapshots;
use crate::stats::{self, ConnStats, ServerStats};
use crate::watch::{ConnId, WatchManager};

mod cluster_id;
mod request_throttle;
mod sasl_exchange;

/// What goes out on a connection.
#[derive(Debug)]
pub enum Outbound {
    Frame(Bytes),
    /// Flush what was queued, then close the socket.
    Close,
}

pub use crate::outbox::Outbox;

/// Messages from connections (and the server's own timers) to the core.
pub enum CoreMsg {
    /// `bytes` (here and below): the frame's size on the wire, length prefix included, for
    /// `zk_bytes_received_count`.
    Connect {
        conn: ConnId,
        peer: SocketAddr,
        /// Who the transport proved the client is: its TLS certificate's `x509` id (`crate::tls`), if any.
        transport_ids: Vec<Id>,
        req: ConnectRequest,
        out: Outbox,
        bytes: usize,
    },
    Request {
        conn: ConnId,
        xid: i32,
        req: Request,
        received: Instant,
        bytes: usize,
    },
    /// A request of opcode `op` whose body could not be decoded: answered with `code`, in order.
    BadRequest {
        conn: ConnId,
        xid: i32,
        op: OpCode,
        code: ErrorCode,
        bytes: usize,
    },
    /// An opcode ZooKeeper does not know: answered with Unimplemented, then the connection is closed.
    UnknownOpCode {
        conn: ConnId,
        xid: i32,
        bytes: usize,
    },
    /// The connection is gone. `dropped`: the client closed its socket while the server still held the
    /// connection open (ZooKeeper's `connection_drop_count`: typically a client that gave up waiting).
    Closed {
        conn: ConnId,
        dropped: bool,
    },
    /// Run an introspection command (four-letter word, admin command) against the core's state.
    Inspect(Box<dyn FnOnce(&mut Core) + Send>),
    /// Close every connection and stop. Sessions stay in the tree: clients may resume them after a restart.
    Shutdown,
}

impl CoreMsg {
    /// The connection a client request came in on.
    fn request_conn(&self) -> Option<ConnId> {
        match self {
            CoreMsg::Request { conn, .. } | CoreMsg::BadRequest { conn, .. } | CoreMsg::UnknownOpCode { conn, .. } => {
                Some(*conn)
            }
            _ => None,
        }
    }
}

/// Requests a client may send behind its handshake before its session exists: they wait until it does (as
/// ZooKeeper stops reading such a connection). Clients send none or a few; more is abuse and closes it.
const MAX_REQUESTS_BEFORE_SESSION: usize = 1024;

/// One client connection as the core sees it.
pub struct Conn {
    pub out: Outbox,
    pub peer: SocketAddr,
    pub session_id: i64,
    pub timeout_ms: i32,
    pub auth: Vec<Id>,
    queue: VecDeque<Queued>,
    pub stats: ConnStats,
    /// `Some` while the session is being created: requests that arrived meanwhile, to handle once it is.
    establishing: Option<Vec<CoreMsg>>,
    /// The connection's SASL exchange, from its first `sasl` packet on.
    sasl: Option<crate::sasl::SaslServer>,
}

/// Per-connection ordering: a write in flight, or a local request waiting behind one.
enum Queued {
    Write,
    Local { xid: i32, received: Instant, work: LocalWork },
}

/// A request served from the local tree, or an answer already known (a request-level rejection) that
/// still has to keep its place in the reply order.
enum LocalWork {
    Serve(Request),
    Answer(OpCode, Result<Response, ErrorCode>),
    /// Answer with an error, then close the connection (a failed `auth`).
    Refuse(OpCode, ErrorCode),
    /// A `sync` on a member of an ensemble: a read barrier through the leader, issued once the session's
    /// earlier requests are answered.
    Barrier(String),
    /// A `reconfig` on a member of an ensemble (with `reconfigEnabled`), issued once the session's earlier
    /// requests are answered.
    Reconfig(ReconfigRequest),
}

/// Who is waiting for a txn to be applied.
enum Origin {
    Client {
        conn: ConnId,
        xid: i32,
        kind: ReplyKind,
        op: OpCode,
        received: Instant,
    },
    Connect {
        conn: ConnId,
        read_only: Option<bool>,
        received: Instant,
    },
    /// A reconnect to a session last served by another server, waiting for its `ReopenSession`.
    Reopen {
        conn: ConnId,
        read_only: Option<bool>,
    },
    /// Session expiry, container reaping: nobody to answer.
    Internal,
    /// A `sync` waiting for its read index to be applied here.
    Sync {
        conn: ConnId,
        xid: i32,
        path: String,
        received: Instant,
    },
    /// A `reconfig` waiting for the membership change, then for the entry that settled it to be applied
    /// here; answered with `/zookeeper/config` as it then stands.
    Reconfig {
        conn: ConnId,
        xid: i32,
        received: Instant,
    },
    /// An admin command's txn (a restore), answered with its zxid and result once applied here.
    Admin(AdminReply),
}

/// Where an admin command hears the outcome of its txn: `(zxid, result)`, or the error code it failed with
/// before it was applied (ConnectionLoss: its fate is unknown).
pub(crate) type AdminReply = tokio::sync::oneshot::Sender<Result<(i64, TxnResult), ErrorCode>>;

/// A proposal of this server not yet committed.
struct Waiting {
    origin: Origin,
    session_id: i64,
    closes_session: bool,
}

pub struct Core {
    pub config: Arc<ServerConfig>,
    pub tree: DataTree,
    log: Box<dyn ReplicatedLog>,
    /// This server's id in its proposals (1 for a standalone server, as ZooKeeper's).
    node_id: u64,
    /// Whether this server is a member of an ensemble (its `/zookeeper/config` comes from the log).
    member: bool,
    /// Whether this server has applied everything its ensemble had committed when it started (always, for a
    /// standalone server). Before that it serves read-only sessions only, and only in read-only mode.
    recovered: bool,
    next_seq: u64,
    /// The last time stamp proposed: stamps never go back, even when the wall clock does.
    last_stamp: i64,
    /// This server's proposals not yet committed, by sequence number: who to answer.
    waiting: BTreeMap<u64, Waiting>,
    /// As the log last reported it.
    pub role: ServerRole,
    /// Sessions touched since the last tick, for the leader when this server is not it.
    touched: HashSet<i64>,
    /// The index of the last log entry applied (txns and, in an ensemble, blank and membership entries).
    applied_index: i64,
    /// `sync`s waiting for their read index to be applied: read index → proposal sequence numbers.
    pending_reads: BTreeMap<i64, Vec<u64>>,
    /// Handshakes waiting for this member to catch up with their client, at most [`MAX_PARKED_CONNECTS`].
    parked_connects: Vec<ParkedConnect>,
    pub conns: HashMap<ConnId, Conn>,
    session_conns: HashMap<i64, ConnId>,
    pub tracker: SessionTracker,
    /// Sessions whose closeSession has been logged but not yet applied.
    closing: HashSet<i64>,
    pub watches: WatchManager,
    pub stats: ServerStats,
    pub started: Instant,
    pub snapshots: Option<Snapshots>,
    /// The state digest every [`DIGEST_LOG_INTERVAL`] zxids, newest last (`hash`, as ZooKeeper's digest log).
    pub digest_log: VecDeque<(i64, u64)>,
    /// The zxid of the last txn applied that is not a `Digest`, and the tree's last zxid when this server last
    /// proposed one (or started): a `Digest` is due when the first crosses a multiple of
    /// `paddock.digestInterval` that the second has not (`Digest` entries alone never make one due).
    last_write: i64,
    digest_proposed_at: i64,
    /// Where the last durable zxid goes after each committed batch (standalone), or the last applied log
    /// index after each applied batch (a member): the archiver.
    durable: Option<tokio::sync::watch::Sender<i64>>,
    naming: cluster_id::ClusterNaming,
    /// `request_throttle_*`: client requests held back while too many are in process.
    throttler: request_throttle::RequestThrottler,
}

/// Handshakes that may wait at once for this member to catch up with their client ([`Core::may_park`]): a
/// failover brings the dead leader's clients, a few hundred at most in practice; past this they are
/// refused at once, as ZooKeeper refuses them, and retry elsewhere.
const MAX_PARKED_CONNECTS: usize = 4096;

/// A handshake from a client that has seen a later zxid than this server has applied.
struct ParkedConnect {
    conn: ConnId,
    peer: SocketAddr,
    transport_ids: Vec<Id>,
    req: ConnectRequest,
    out: Outbox,
    received: Instant,
}

/// ZooKeeper's `zookeeper.digest.log.interval` and `DIGEST_LOG_LIMIT`.
pub const DIGEST_LOG_INTERVAL: i64 = 128;
const DIGEST_LOG_LIMIT: usize = 1024;

impl Core {
    /// `node_id`: this server's id in its proposals (`myid` in an ensemble, 1 standalone).
    pub fn new(config: Arc<ServerConfig>, tree: DataTree, log: Box<dyn ReplicatedLog>, node_id: u64) -> Core {
        let now = now_ms();
        let mut tracker = SessionTracker::new(config.tick_time_ms);
        // A restarted server re-arms every known session with its full timeout: clients get a chance to
        // reconnect before their ephemerals go.
        for (id, session) in tree.sessions() {
            tracker.arm(id, session.timeout_ms, now);
        }
        let last_stamp = tree.last_time();
        let tree_zxid = tree.last_zxid();
        // The counter exists from the start, so that an alert on it sees 0 rather than nothing.
        crate::metrics::digest_mismatches(0);
        Core {
            tree,
            log,
            node_id,
            member: false,
            recovered: true,
            next_seq: 0,
            last_stamp,
            waiting: BTreeMap::new(),
            role: ServerRole::Standalone,
            touched: HashSet::new(),
            applied_index: 0,
            pending_reads: BTreeMap::new(),
            parked_connects: Vec::new(),
            conns: HashMap::new(),
            session_conns: HashMap::new(),
            tracker,
            closing: HashSet::new(),
            watches: WatchManager::default(),
            stats: ServerStats::default(),
            started: Instant::now(),
            snapshots: None,
            digest_log: VecDeque::new(),
            last_write: tree_zxid,
            digest_proposed_at: tree_zxid,
            durable: None,
            naming: Default::default(),
            throttler: request_throttle::RequestThrottler::new(&config.limits.request_throttle),
            config,
        }
    }

    /// Reports the tree's last zxid to `durable` after each batch of committed entries is applied: a
    /// standalone server's committed entries are fsynced, so the archiver may read them from the log.
    pub(crate) fn report_durable_to(&mut self, durable: tokio::sync::watch::Sender<i64>) {
        self.durable = Some(durable);
    }

    /// Runs until `msgs` closes (every sender, including the listener, is gone).
    pub async fn run(mut self, mut msgs: mpsc::Receiver<CoreMsg>, mut log_events: mpsc::UnboundedReceiver<LogEvent>) {
        let tick = Duration::from_millis(u64::from(self.config.tick_time_ms.max(10)));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reap_every = Duration::from_millis(self.config.container_check_interval_ms.max(10));
        let mut reaper = tokio::time::interval(reap_every);
        reaper.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stall = tokio::time::interval(self.throttler.stall_time());
        loop {
            tokio::select! {
                biased;
                Some(event) = log_events.recv() => if let Err(e) = self.on_log_event(event) {
                    // Committed entries are the state; one that cannot be applied leaves nothing to serve.
                    error!("cannot apply the log: {e}; this server stops serving");
                    break;
                } else {
                    self.release_throttled();
                },
                msg = msgs.recv() => match msg {
                    Some(CoreMsg::Shutdown) | None => break,
                    Some(msg) => self.on_msg(msg),
                },
                _ = ticker.tick() => self.tick(),
                _ = reaper.tick() => if self.decides_expiry() { self.reap_containers() },
                _ = stall.tick(), if self.throttler.holding() => self.release_throttled(),
            }
        }
        for (_, c) in self.conns.drain() {
            let _ = c.out.send(Outbound::Close);
        }
    }

    fn on_msg(&mut self, msg: CoreMsg) {
        if let Some(conn) = msg.request_conn()
            && let Some(c) = self.conns.get_mut(&conn)
            && let Some(deferred) = c.establishing.as_mut()
        {
            if deferred.len() < MAX_REQUESTS_BEFORE_SESSION {
                deferred.push(msg);
            } else {
                warn!(peer = %c.peer, "too many requests before the session exists; closing the connection");
                let _ = c.out.send(Outbound::Close);
                self.conns.remove(&conn);
            }
            return;
        }
        if msg.request_conn().is_none() {
            self.dispatch(msg);
        } else if let Some(msg) = self.throttler.hold(msg, self.waiting.len()) {
            self.dispatch(msg);
        }
    }

    fn dispatch(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Connect { conn, peer, transport_ids, req, out, bytes } => {
                self.stats.packet_received(bytes);
                self.connect(conn, peer, transport_ids, req, out)
            }
            CoreMsg::Request { conn, xid, req, received, bytes } => {
                self.packet_received(conn, bytes);
                self.request(conn, xid, req, received)
            }
            CoreMsg::BadRequest { conn, xid, op, code, bytes } => {
                self.packet_received(conn, bytes);
                self.local(conn, xid, Instant::now(), LocalWork::Answer(op, Err(code)))
            }
            CoreMsg::UnknownOpCode { conn, xid, bytes } => {
                self.packet_received(conn, bytes);
                self.local(conn, xid, Instant::now(), LocalWork::Refuse(OpCode::Error, ErrorCode::Unimplemented))
            }
            CoreMsg::Closed { conn, dropped } => {
                self.stats.connections_dropped += u64::from(dropped);
                self.disconnect(conn)
            }
            CoreMsg::Inspect(f) => f(self),
            CoreMsg::Shutdown => {}
        }
    }

    // ---- connection and session lifecycle -------------------------------------------------------------

    /// `ServerCnxn.packetReceived` for a frame on an established connection.
    /// Whether a handshake received at `received` from a client ahead of this server may wait for it to
    /// catch up: on a member in a working quorum, for at most a tick, and while fewer than
    /// [`MAX_PARKED_CONNECTS`] wait.
    fn may_park(&self, received: Instant) -> bool {
        self.member
            && self.role.in_quorum()
            && received.elapsed() < Duration::from_millis(u64::from(self.config.tick_time_ms))
            && self.parked_connects.len() < MAX_PARKED_CONNECTS
    }

    /// Handshakes whose client this server has caught up with go on; those that waited a tick in vain are
    /// refused as ZooKeeper refuses them.
    fn release_connects(&mut self) {
        if self.parked_connects.is_empty() {
            return;
        }
        let last_zxid = self.tree.last_zxid();
        let tick = Duration::from_millis(u64::from(self.config.tick_time_ms));
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.parked_connects)
            .into_iter()
            .partition(|p| p.req.last_zxid_seen <= last_zxid || p.received.elapsed() >= tick);
        self.parked_connects = waiting;
        for parked in ready {
            self.handshake(parked);
        }
    }

    fn packet_received(&mut self, conn: ConnId, bytes: usize) {
        self.stats.packet_received(bytes);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.received += 1;
        }
    }

    fn connect(&mut self, conn: ConnId, peer: SocketAddr, transport_ids: Vec<Id>, req: ConnectRequest, out: Outbox) {
        self.stats.connections_accepted += 1;
        self.handshake(ParkedConnect { conn, peer, transport_ids, req, out, received: Instant::now() });
    }

    fn handshake(&mut self, parked: ParkedConnect) {
        let ParkedConnect { conn, peer, transport_ids, req, out, received } = parked;
        if req.last_zxid_seen > self.tree.last_zxid() && self.may_park(received) {
            // A member of a working quorum a few entries behind (as every survivor is right after a failover,
            // when the dead leader's clients arrive) will have them in a moment: the handshake waits for
            // them rather than send the client away to back off and retry.
            self.parked_connects.push(ParkedConnect { conn, peer, transport_ids, req, out, received });
            return;
        }
        if req.last_zxid_seen > self.tree.last_zxid() {
            // ZooKeeper refuses a client that has seen a newer state than ours: it must try another server.
            warn!(
                peer = %peer,
                client_zxid = format_args!("0x{:x}", req.last_zxid_seen),
                our_zxid = format_args!("0x{:x}", self.tree.last_zxid()),
                "refusing session: client has seen a later zxid than this server"
            );
            let _ = out.send(Outbound::Close);
            return;
        }
        let read_only_client = self.role == ServerRole::ReadOnly && req.read_only == Some(true);
        if !self.recovered && !read_only_client {
            info!(peer = %peer, role = self.role.name(), "refusing session: this member is still catching up");
            let _ = out.send(Outbound::Close);
            return;
        }
        if !self.role.in_quorum() && (self.role == ServerRole::Looking || req.read_only != Some(true)) {
            // ZooKeeper runs no server while LOOKING, and its read-only server refuses clients that did not
            // ask for read-only mode.
            info!(peer = %peer, role = self.role.name(), "refusing session: this server is cut off from the quorum");
            let _ = out.send(Outbound::Close);
            return;
        }
        let mut c = Conn {
            out,
            peer,
            session_id: req.session_id,
            timeout_ms: 0,
            auth: auth::initial_ids(peer.ip()).into_iter().chain(transport_ids).collect(),
            queue: VecDeque::new(),
            // The handshake is the connection's first packet.
            stats: ConnStats { received: 1, ..ConnStats::new() },
            establishing: None,
            sasl: None,
        };
        if req.session_id == 0 && self.role == ServerRole::ReadOnly {
            self.read_only_session(conn, c, &req);
            return;
        }
        if req.session_id == 0 {
            // The session id is allocated when the entry is applied, from the counter in the tree.
            let timeout_ms = self.config.negotiate_timeout(req.timeout);
            let passwd: [u8; 16] = rand::random();
            c.timeout_ms = timeout_ms;
            c.establishing = Some(Vec::new());
            self.conns.insert(conn, c);
            let origin = Origin::Connect { conn, read_only: req.read_only, received };
            self.propose(0, Vec::new(), TxnOp::CreateSession { timeout_ms, passwd }, origin);
            return;
        }
        self.resume(conn, c, &req);
    }

    /// A session of a read-only server: local (not in the log, never expired: it ends with its connection),
    /// with an id outside the replicated range (whose top byte is 1): `0x7e`, this server's id, a counter.
    fn read_only_session(&mut self, conn: ConnId, mut c: Conn, req: &ConnectRequest) {
        self.next_seq += 1;
        let session_id =
            (0x7e << 56) | ((self.node_id as i64 & 0xff) << 48) | (self.next_seq as i64 & 0xffff_ffff_ffff);
        let timeout_ms = self.config.negotiate_timeout(req.timeout);
        c.session_id = session_id;
        c.timeout_ms = timeout_ms;
        deliver(&mut self.stats, &mut c, connect_response(session_id, timeout_ms, rand::random(), Some(true)));
        info!(session = format_args!("0x{session_id:x}"), peer = %c.peer, "read-only session established");
        self.session_conns.insert(session_id, conn);
        self.conns.insert(conn, c);
    }

    /// Reconnects an existing session on a new connection, or tells the client it expired.
    fn resume(&mut self, conn: ConnId, mut c: Conn, req: &ConnectRequest) {
        // ZooKeeper closes the session's current connection before it even checks the password.
        if let Some(old) = self.session_conns.remove(&req.session_id)
            && let Some(old_conn) = self.conns.remove(&old)
        {
            let _ = old_conn.out.send(Outbound::Close);
            self.watches.remove_conn(old);
        }
        let valid = self
            .tree
            .session(req.session_id)
            .filter(|s| s.passwd.as_slice() == req.passwd.as_slice() && !self.closing.contains(&req.session_id));
        let Some(session) = valid else {
            info!(session = format_args!("0x{:x}", req.session_id), peer = %c.peer, "session expired or unknown on reconnect");
            deliver(&mut self.stats, &mut c, expired_response(req.read_only));
            let _ = c.out.send(Outbound::Close);
            return;
        };
        let timeout_ms = session.timeout_ms;
        let passwd = session.passwd;
        c.timeout_ms = timeout_ms;
        if self.role.in_quorum() && self.role != ServerRole::Standalone && session.owner != self.node_id {
            // The session was last served by another server: the move goes through the log, so that every
            // server agrees from which entry on the old server's writes for it fail with SessionMoved. The
            // handshake is answered once it is applied.
            c.establishing = Some(Vec::new());
            self.conns.insert(conn, c);
            let origin = Origin::Reopen { conn, read_only: req.read_only };
            self.propose(req.session_id, Vec::new(), TxnOp::ReopenSession, origin);
            return;
        }
        self.session_conns.insert(req.session_id, conn);
        self.tracker.arm(req.session_id, timeout_ms, now_ms());
        let read_only = if self.role == ServerRole::ReadOnly { Some(true) } else { req.read_only.map(|_| false) };
        let resp = connect_response(req.session_id, timeout_ms, passwd, read_only);
        deliver(&mut self.stats, &mut c, resp);
        info!(session = format_args!("0x{:x}", req.session_id), peer = %c.peer, "session reconnected");
        self.conns.insert(conn, c);
    }

    fn disconnect(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn)
            && self.session_conns.get(&c.session_id) == Some(&conn)
        {
            self.session_conns.remove(&c.session_id);
        }
        self.watches.remove_conn(conn);
    }

    /// Only the leader (or a standalone server) expires sessions and reaps containers: its decisions go
    /// through the log, and every other server learns of them there.
    fn decides_expiry(&self) -> bool {
        matches!(self.role, ServerRole::Standalone | ServerRole::Leader)
    }

    fn tick(&mut self) {
        self.release_connects();
        if self.decides_expiry() {
            self.expire_sessions();
        } else if self.role.in_quorum() && !self.touched.is_empty() {
            let touched = self.touched.drain().collect();
            self.log.touched(touched);
        }
    }

    fn expire_sessions(&mut self) {
        let now = now_ms();
        for session_id in self.tracker.expired(now) {
            if self.closing.insert(session_id) {
                info!(session = format_args!("0x{session_id:x}"), "session expired");
                self.stats.sessions_expired += 1;
                if let Some(conn) = self.session_conns.remove(&session_id) {
                    self.drop_conn(conn);
                }
                // The basis: the session's last entry this leader has applied. A write or reopen of the
                // session already on its way through the log overrules this expiry at apply.
                let basis = self.tree.session(session_id).map_or(0, |s| s.last_zxid);
                self.propose(session_id, Vec::new(), TxnOp::ExpireSession { basis }, Origin::Internal);
            }
        }
    }

    /// ZooKeeper's ContainerManager: empty containers and expired TTL nodes are deleted through the log.
    fn reap_containers(&mut self) {
        let candidates = self.tree.expired_containers(now_ms(), self.config.container_max_never_used_ms);
        for (path, mzxid) in candidates {
            let op = TxnOp::DeleteContainer { path, observed_mzxid: Some(mzxid) };
            self.propose(0, Vec::new(), op, Origin::Internal);
        }
    }

    // ---- requests -------------------------------------------------------------------------------------

    fn request(&mut self, conn: ConnId, xid: i32, req: Request, received: Instant) {
        if self.refuses_unauthenticated(conn, xid, req.opcode(), received) {
            return;
        }
        let options = self.prepare_options();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let session_id = c.session_id;
        if self.role == ServerRole::ReadOnly {
            self.read_only_request(conn, xid, req, received);
            return;
        }
        self.tracker.touch(session_id, now_ms());
        if !matches!(self.role, ServerRole::Standalone | ServerRole::Leader) {
            self.touched.insert(session_id);
        }
        match req {
            // Pings and auth answers keep their place in the reply order: above all, nothing may overtake
            // the handshake answer of a session whose creation is still being logged.
            Request::Ping => self.local(conn, xid, received, LocalWork::Answer(OpCode::Ping, Ok(Response::Empty))),
            Request::Sync(r) if self.role != ServerRole::Standalone => {
                self.local(conn, xid, received, LocalWork::Barrier(r.path))
            }
            Request::Reconfig(r) if self.config.quorum.reconfig_enabled && self.role != ServerRole::Standalone => {
                self.local(conn, xid, received, LocalWork::Reconfig(r))
            }
            Request::Auth(packet) => self.authenticate(conn, xid, received, &packet),
            Request::Sasl(r) => self.sasl(conn, xid, received, &r.token),
            req => match prepare::prepare(&req, &options) {
                Prepared::NotAWrite => self.local(conn, xid, received, LocalWork::Serve(req)),
                Prepared::Rejected(code) => self.local(conn, xid, received, LocalWork::Answer(req.opcode(), Err(code))),
                Prepared::Write(op, kind) => {
                    let auth = c.auth.clone();
                    c.queue.push_back(Queued::Write);
                    let origin = Origin::Client { conn, xid, kind, op: req.opcode(), received };
                    if matches!(op, TxnOp::CloseSession) {
                        self.closing.insert(session_id);
                    }
                    self.propose(session_id, auth, op, origin);
                }
            },
        }
    }

    /// A read-only server answers reads from its tree as it stands and refuses writes and `sync` with
    /// NotReadOnly, as ZooKeeper's `ReadOnlyRequestProcessor`.
    fn read_only_request(&mut self, conn: ConnId, xid: i32, req: Request, received: Instant) {
        let work = match req {
            Request::Ping => LocalWork::Answer(OpCode::Ping, Ok(Response::Empty)),
            Request::Sync(_) => LocalWork::Answer(OpCode::Sync, Err(ErrorCode::NotReadOnly)),
            Request::Auth(packet) => return self.authenticate(conn, xid, received, &packet),
            Request::Sasl(r) => return self.sasl(conn, xid, received, &r.token),
            Request::CloseSession => {
                // A read-only session is local: closing it is closing the connection.
                self.reply(conn, xid, OpCode::CloseSession, received, self.tree.last_zxid(), Ok(Response::Empty));
                return self.drop_conn(conn);
            }
            req => match prepare::prepare(&req, &self.prepare_options()) {
                Prepared::NotAWrite => LocalWork::Serve(req),
                Prepared::Rejected(code) => LocalWork::Answer(req.opcode(), Err(code)),
                Prepared::Write(..) => LocalWork::Answer(req.opcode(), Err(ErrorCode::NotReadOnly)),
            },
        };
        self.local(conn, xid, received, work);
    }

    /// The ids an `auth` packet adds apply at once, so that writes sent after it are proposed with them; the
    /// answer (and, on failure, the close) waits its turn in the reply order.
    fn authenticate(&mut self, conn: ConnId, xid: i32, received: Instant, packet: &paddock_proto::AuthPacket) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(ids) = auth::authenticate(packet, self.config.super_digest.as_deref()) else {
            warn!(peer = %c.peer, scheme = %packet.scheme, "authentication failed");
            self.stats.auth_failed += 1;
            self.local(conn, xid, received, LocalWork::Refuse(OpCode::Auth, ErrorCode::AuthFailed));
            return;
        };
        for id in ids {
            if !c.auth.contains(&id) {
                c.auth.push(id);
            }
        }
        self.local(conn, xid, received, LocalWork::Answer(OpCode::Auth, Ok(Response::Empty)));
    }

    /// Runs local work now, or parks it behind the connection's writes in flight.
    fn local(&mut self, conn: ConnId, xid: i32, received: Instant, work: LocalWork) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.queue.is_empty() {
            self.run_local(conn, xid, received, work);
        } else {
            c.queue.push_back(Queued::Local { xid, received, work });
        }
    }

    fn run_local(&mut self, conn: ConnId, xid: i32, received: Instant, work: LocalWork) {
        match work {
            LocalWork::Serve(req) => self.serve_local(conn, xid, &req, received),
            LocalWork::Barrier(path) => self.read_barrier(conn, xid, path, received),
            LocalWork::Reconfig(req) => self.reconfig(conn, xid, &req, received),
            LocalWork::Refuse(op, code) => {
                // ZooKeeper answers these before (or without) reaching its database: no zxid.
                let zxid =
                    if matches!(op, OpCode::Auth | OpCode::Sasl) || code == ErrorCode::SessionClosedRequireSaslAuth {
                        0
                    } else {
                        -1
                    };
                self.reply(conn, xid, op, received, zxid, Err(code));
                if let Some(c) = self.conns.get(&conn) {
                    let _ = c.out.send(Outbound::Close);
                }
            }
            LocalWork::Answer(op, result) => {
                let zxid = if matches!(op, OpCode::Auth | OpCode::Sasl) { 0 } else { self.tree.last_zxid() };
                self.reply(conn, xid, op, received, zxid, result);
            }
        }
    }

    fn serve_local(&mut self, conn: ConnId, xid: i32, req: &Request, received: Instant) {
        let over_watch_limit = self.over_watch_limit(conn, req);
        let Some(c) = self.conns.get(&conn) else { return };
        let caller = Caller { conn, session_id: c.session_id, auth: &c.auth };
        let mut catchup: Vec<Catchup> = Vec::new();
        let result = if over_watch_limit {
            Err(ErrorCode::QuotaExceeded)
        } else {
            local::serve(&self.tree, &mut self.watches, &caller, req, &mut catchup)
        };
        let zxid = self.tree.last_zxid();
        for event in catchup {
            self.notify_one(conn, &event.path, event.event, zxid, None);
        }
        let xid = if matches!(req, Request::SetWatches(_) | Request::SetWatches2(_)) { xid::SET_WATCHES } else { xid };
        self.stats.record_reads(req, &result);
        self.reply(conn, xid, req.opcode(), received, zxid, result);
    }

    /// `paddock.maxWatchesPerSession`: whether `req` would take its connection's watches past the limit. The
    /// whole request is then refused with QuotaExceeded, ZooKeeper's error for a limit that waiting does not
    /// lift (ThrottledOp would tell the client to retry).
    fn over_watch_limit(&self, conn: ConnId, req: &Request) -> bool {
        let limit = self.config.limits.max_watches_per_session;
        let requested = local::watches_requested(req);
        limit > 0 && requested > 0 && self.watches.conn_watch_count(conn) + requested > limit
    }

    /// `RequestThrottler`'s loop: requests held back go on, in order, while the server is under
    /// `request_throttle_max_requests`; a stale one is dropped and its connection closed.
    fn release_throttled(&mut self) {
        let (connection_check, latency_check) = self.throttler.checks();
        loop {
            let conns = &self.conns;
            let stale = |msg: &CoreMsg, waited: Duration| {
                let Some(conn) = msg.request_conn() else { return false };
                match conns.get(&conn) {
                    None => connection_check,
                    Some(c) => latency_check && waited.as_millis() > u128::from(c.timeout_ms.unsigned_abs()),
                }
            };
            match self.throttler.next(self.waiting.len(), stale) {
                request_throttle::Next::Wait => {
                    if self.throttler.holding() {
                        self.stats.throttle.waits += 1;
                    }
                    return;
                }
                request_throttle::Next::Dispatch { msg, stale } => {
                    self.stats.throttle.stale += u64::from(stale);
                    self.dispatch(msg);
                }
                request_throttle::Next::Drop(msg) => {
                    self.stats.throttle.stale_dropped += 1;
                    if let Some(conn) = msg.request_conn() {
                        info!(conn, "dropping a stale request (request_throttle_drop_stale); closing its connection");
                        self.drop_conn(conn);
                    }
                }
            }
        }
    }

    // ---- the write path -------------------------------------------------------------------------------

    fn propose(&mut self, session_id: i64, auth: Vec<Id>, op: TxnOp, origin: Origin) {
        self.next_seq += 1;
        let id = ProposalId { node: self.node_id, seq: self.next_seq };
        let closes_session = matches!(op, TxnOp::CloseSession | TxnOp::ExpireSession { .. });
        let txn = Txn { origin: id, time: self.stamp(), session_id, auth, op };
        self.log.propose(id.seq, txn.encode());
        self.waiting.insert(id.seq, Waiting { origin, session_id, closes_session });
    }

    /// The leader's clock for a new txn: never below the last stamp (the tree's, after a restart), so time
    /// in the log never goes back, whatever the wall clock does.
    fn stamp(&mut self) -> i64 {
        self.last_stamp = now_ms().max(self.last_stamp).max(self.tree.last_time());
        self.last_stamp
    }

    fn on_log_event(&mut self, event: LogEvent) -> Result<(), EntryError> {
        match event {
            LogEvent::Committed(entries) => {
                for entry in entries {
                    self.apply(entry)?;
                }
                self.propose_digest_if_due();
                if let Some(durable) = &self.durable {
                    durable.send_replace(self.tree.last_zxid());
                }
            }
            LogEvent::Failed { error } => self.fail_waiting(&error),
            LogEvent::FsyncTime(took) => {
                self.stats.timings.entry("fsynctime").or_default().add(took);
                crate::metrics::wal_fsync(took);
            }
            LogEvent::Role(role) => self.role_changed(role),
            LogEvent::Apply { entries, applied, done } => {
                for entry in entries {
                    self.apply(entry)?;
                }
                self.propose_digest_if_due();
                self.applied_index = self.applied_index.max(applied);
                self.follow_cluster_id();
                if let Some(durable) = &self.durable {
                    durable.send_replace(self.applied_index);
                }
                self.release_reads();
                self.release_connects();
                let _ = done.send(());
            }
            LogEvent::ReadIndex { seq, index } => {
                self.pending_reads.entry(index).or_default().push(seq);
                self.release_reads();
            }
            LogEvent::Lost { seq, reason } => self.lost(seq, &reason),
            LogEvent::Refused { seq, code } => {
                if let Some(waiting) = self.waiting.remove(&seq) {
                    self.give_up(waiting, code);
                }
            }
            LogEvent::Freeze(reply) => {
                let _ = reply.send(self.tree.clone());
            }
            LogEvent::Install { tree, done } => {
                self.install(*tree);
                self.follow_cluster_id();
                let _ = done.send(());
            }
            LogEvent::Recovered => self.recovered = true,
            LogEvent::Touched(sessions) => {
                let now = now_ms();
                for session in sessions {
                    self.tracker.touch(session, now);
                }
            }
        }
        Ok(())
    }

    /// A new leader gives every session its full timeout, as ZooKeeper's does: clients connected to other
    /// servers had no way to touch it before.
    fn role_changed(&mut self, role: ServerRole) {
        let role = if role == ServerRole::Looking && self.config.quorum.read_only_enabled {
            ServerRole::ReadOnly
        } else {
            role
        };
        if role == self.role {
            return;
        }
        info!(role = role.name(), "role changed");
        if role == ServerRole::Leader && self.role != ServerRole::Leader {
            self.rearm_sessions();
            self.cluster_naming_role_changed();
        }
        if role.in_quorum() != self.role.in_quorum() {
            // ZooKeeper restarts its server at such a change: clients of a member cut off from the quorum must
            // look for one that is not, and read-only sessions end when the quorum returns.
            self.drop_all_conns();
        }
        self.role = role;
    }

    fn drop_all_conns(&mut self) {
        for (conn, c) in self.conns.drain() {
            let _ = c.out.send(Outbound::Close);
            self.watches.remove_conn(conn);
        }
        self.session_conns.clear();
    }

    fn rearm_sessions(&mut self) {
        let now = now_ms();
        let sessions: Vec<(i64, i32)> = self.tree.sessions().map(|(id, s)| (id, s.timeout_ms)).collect();
        self.tracker = SessionTracker::new(self.config.tick_time_ms);
        for (id, timeout_ms) in sessions {
            self.tracker.arm(id, timeout_ms, now);
        }
    }

    /// Issues a `sync`'s read barrier. Everything the session sent before it has been answered; what it
    /// sends after waits behind the placeholder pushed here.
    fn read_barrier(&mut self, conn: ConnId, xid: i32, path: String, received: Instant) {
        // A planted bug, for proving the linearizability checker: answer `sync` at once, before this server
        // has applied what the ensemble had committed.
        fail::fail_point!("core::sync_skip_barrier", |_| {
            let zxid = self.tree.last_zxid();
            self.reply(conn, xid, OpCode::Sync, received, zxid, Ok(Response::Sync(path.clone())));
        });
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.queue.push_front(Queued::Write);
        let session_id = c.session_id;
        let seq = self.wait_for_log(session_id, Origin::Sync { conn, xid, path, received });
        self.log.read_barrier(seq);
    }

    /// Registers a request answered once the log reports on it (a read index, a membership change): the
    /// sequence number to give the log.
    fn wait_for_log(&mut self, session_id: i64, origin: Origin) -> u64 {
        self.next_seq += 1;
        self.waiting.insert(self.next_seq, Waiting { origin, session_id, closes_session: false });
        self.next_seq
    }

    /// Makes this core a member of an ensemble: it serves nobody but read-only clients until the log reports
    /// it recovered (`LogEvent::Recovered`).
    pub fn join_ensemble(&mut self) {
        self.member = true;
        self.recovered = false;
    }

    /// Whether this server serves its ensemble's current state: a standalone server always; a member once it
    /// has caught up and while it is part of a working quorum (not while cut off, even in read-only mode).
    pub fn serving(&self) -> bool {
        self.recovered && self.role.in_quorum()
    }

    /// `/zookeeper/config` as it stands on a member of an ensemble (the log's membership); `None` standalone.
    pub fn ensemble_config(&self) -> Option<String> {
        if !self.member {
            return None;
        }
        let data = self.tree.get(CONFIG_PATH)?.data()?;
        Some(String::from_utf8_lossy(data).into_owned())
    }

    fn prepare_options(&self) -> prepare::Options {
        prepare::Options {
            extended_types: self.config.extended_types_enabled,
            reconfig_enabled: self.config.quorum.reconfig_enabled,
            enforce_quota: self.config.enforce_quota,
        }
    }

    /// The membership an ensemble formed with (its log's first entry, index 0, which no txn can take) is put
    /// into `/zookeeper/config` as ZooKeeper's `initConfigInZKDatabase` puts the static one: version 0, mzxid
    /// 0, no watch. It comes from the log, so every member holds the same, whatever its own zoo.cfg lists.
    fn apply_first_config(&mut self, payload: &[u8]) {
        match Txn::decode(payload, 0) {
            Ok(Txn { op: TxnOp::Reconfig { data }, .. }) => self.tree.set_ensemble_config(&data),
            other => warn!("ignoring an unexpected first log entry: {other:?}"),
        }
    }

    /// ZooKeeper's `reconfig`, checked here in the order its `PrepRequestProcessor` checks it (the version and
    /// the lines, then WRITE on `/zookeeper/config`), then carried out by the log; answered like a `sync`,
    /// once the entry that settled the new membership is applied here. A refusal is an error txn that takes
    /// a zxid, as ZooKeeper's.
    fn reconfig(&mut self, conn: ConnId, xid: i32, req: &ReconfigRequest, received: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let config = self.tree.get(CONFIG_PATH);
        let current = CurrentConfig::parse(config.and_then(|node| node.data()).unwrap_or_default());
        let allowed = config.is_some_and(|node| acl::check(node.acl(), perms::WRITE, &c.auth));
        let target = reconfig::target(req, &current, self.config.quorum.standalone_enabled)
            .and_then(|target| if allowed { Ok(target) } else { Err(ErrorCode::NoAuth) });
        c.queue.push_front(Queued::Write);
        let session_id = c.session_id;
        let target = match target {
            Ok(target) => target,
            Err(code) => {
                let auth = c.auth.clone();
                let origin = Origin::Client { conn, xid, kind: ReplyKind::Refused, op: OpCode::Reconfig, received };
                return self.propose(session_id, auth, TxnOp::Error(code), origin);
            }
        };
        let seq = self.wait_for_log(session_id, Origin::Reconfig { conn, xid, received });
        self.log.reconfigure(seq, target);
    }

    /// Answers every `sync` and `reconfig` whose index this server has applied.
    fn release_reads(&mut self) {
        while let Some(entry) = self.pending_reads.first_entry() {
            if *entry.key() > self.applied_index {
                return;
            }
            for seq in entry.remove() {
                let zxid = self.tree.last_zxid();
                let (conn, xid, op, received, response) = match self.waiting.remove(&seq) {
                    Some(Waiting { origin: Origin::Sync { conn, xid, path, received }, .. }) => {
                        (conn, xid, OpCode::Sync, received, Response::Sync(path))
                    }
                    Some(Waiting { origin: Origin::Reconfig { conn, xid, received }, .. }) => {
                        let Some(node) = self.tree.get(CONFIG_PATH) else { continue };
                        let response = Response::GetData { data: node.data().map(<[u8]>::to_vec), stat: node.stat() };
                        (conn, xid, OpCode::Reconfig, received, response)
                    }
                    _ => continue,
                };
                self.reply(conn, xid, op, received, zxid, Ok(response));
                self.finish_write(conn);
            }
        }
    }

    /// A proposal whose fate is unknown: its client hears ConnectionLoss and must check for itself.
    fn lost(&mut self, seq: u64, reason: &str) {
        let Some(waiting) = self.waiting.remove(&seq) else { return };
        warn!(seq, reason, "a write's fate is unknown; answering ConnectionLoss");
        self.give_up(waiting, ErrorCode::ConnectionLoss);
    }

    /// Answers a proposal that will not be applied (as far as this server knows) with `code`; a handshake's
    /// connection is closed instead.
    fn give_up(&mut self, waiting: Waiting, code: ErrorCode) {
        if waiting.closes_session {
            self.closing.remove(&waiting.session_id);
        }
        let (conn, xid, op, received) = match waiting.origin {
            Origin::Client { conn, xid, op, received, .. } => (conn, xid, op, received),
            Origin::Sync { conn, xid, received, .. } => (conn, xid, OpCode::Sync, received),
            Origin::Reconfig { conn, xid, received } => (conn, xid, OpCode::Reconfig, received),
            Origin::Connect { conn, .. } | Origin::Reopen { conn, .. } => {
                if let Some(c) = self.conns.remove(&conn) {
                    let _ = c.out.send(Outbound::Close);
                }
                return;
            }
            Origin::Internal => return,
            Origin::Admin(reply) => {
                let _ = reply.send(Err(code));
                return;
            }
        };
        self.reply(conn, xid, op, received, self.tree.last_zxid(), Err(code));
        self.finish_write(conn);
    }

    /// The tree was replaced by a snapshot: watches may have missed events, so every client connection is
    /// closed; clients reconnect and re-send their watches, which fire for what changed (ZooKeeper drops its
    /// clients when a learner resyncs, for the same reason).
    /// Hands a restored tree to the log (the admin `restore` command): the log puts it in place after the
    /// writes queued before it and reports it back as an `Install`.
    pub(crate) fn restore(&mut self, tree: DataTree, reply: tokio::sync::oneshot::Sender<Result<i64, String>>) {
        self.log.restore(tree, reply);
    }

    /// Proposes an admin command's txn (no session, no ACL: the admin server authenticated the caller).
    /// Refused with NotReadOnly while this server is not part of a working quorum.
    pub(crate) fn propose_admin(&mut self, op: TxnOp, reply: AdminReply) {
        if !self.serving() {
            let _ = reply.send(Err(ErrorCode::NotReadOnly));
            return;
        }
        self.propose(0, Vec::new(), op, Origin::Admin(reply));
    }

    /// A `RestoreTree` replaced the tree and ended every session: as after a snapshot install, clients are
    /// dropped (they reconnect, find their session gone and start a new one) and liveness tracking restarts
    /// from the tree, which holds no session.
    fn tree_restored(&mut self, zxid: i64) {
        info!(zxid = format_args!("0x{zxid:x}"), nodes = self.tree.node_count(), "the tree was restored from a backup");
        self.last_stamp = self.last_stamp.max(self.tree.last_time());
        self.closing.clear();
        self.drop_all_conns();
        self.rearm_sessions();
    }

    fn install(&mut self, tree: DataTree) {
        info!(zxid = format_args!("0x{:x}", tree.last_zxid()), "installed a snapshot");
        self.tree = tree;
        self.last_stamp = self.last_stamp.max(self.tree.last_time());
        self.drop_all_conns();
        self.rearm_sessions();
    }

    /// The log lost every proposal not yet committed: nothing of it was applied, so every waiting client is
    /// told the write failed.
    fn fail_waiting(&mut self, error: &str) {
        warn!(error, "the log failed; failing the writes in flight (new writes fail too until the disk recovers)");
        self.stats.log_failures += 1;
        self.log.resume();
        for (_, waiting) in std::mem::take(&mut self.waiting) {
            self.give_up(waiting, ErrorCode::SystemError);
        }
    }

    /// Applies a committed entry, whoever proposed it, and answers the client if this server did.
    fn apply(&mut self, entry: CommittedEntry) -> Result<(), EntryError> {
        if entry.index == 0 {
            self.apply_first_config(&entry.payload);
            return Ok(());
        }
        let zxid = entry.index;
        let txn = self.tree.decode_entry(zxid, &entry.payload)?;
        // Closing a session deletes its ephemerals, each a write ZooKeeper counts per namespace.
        let closing = matches!(txn.op, TxnOp::CloseSession | TxnOp::ExpireSession { .. });
        let ephemerals = if closing { self.tree.ephemerals(txn.session_id) } else { Vec::new() };
        let Applied { result, triggers, quota_exceeded } = self.tree.apply(zxid, &txn);
        self.stats.record_writes(&txn.op, &result, &ephemerals);
        self.record_digest(zxid, &txn.op, &result);
        if let Some(snapshots) = &mut self.snapshots {
            snapshots.applied(&self.tree);
        }
        for trigger in &triggers {
            self.notify(&trigger.path, trigger.event, trigger.zxid, &trigger.acl);
        }
        let waiting = if txn.origin.node == self.node_id { self.waiting.remove(&txn.origin.seq) } else { None };
        if waiting.is_some() {
            crate::quota::report(&mut self.stats.quota, &quota_exceeded);
        }
        let origin = waiting.map(|w| w.origin);
        if let TxnResult::SessionCreated(session_id) = result {
            self.session_created(session_id, &txn.op, zxid, origin);
            return Ok(());
        }
        if matches!(txn.op, TxnOp::ReopenSession) {
            self.session_reopened(txn.session_id, txn.origin.node, &result, origin);
            return Ok(());
        }
        let moved = result == TxnResult::Error(ErrorCode::SessionMoved);
        let tree_restored = matches!(result, TxnResult::TreeRestored { .. });
        // A close of a session already gone still ends this server's tracking of it.
        let closed =
            result == TxnResult::SessionClosed || (closing && result == TxnResult::Error(ErrorCode::SessionExpired));
        if result == TxnResult::SessionKept {
            self.session_kept(txn.session_id);
        }
        match origin {
            Some(Origin::Client { conn, xid, kind, op, received }) => {
                self.reply(conn, xid, op, received, zxid, prepare::reply_for(&kind, result));
                if moved {
                    // ZooKeeper tears the connection down too (ZOOKEEPER-710): its session lives elsewhere.
                    self.drop_conn(conn);
                } else if !matches!(txn.op, TxnOp::CloseSession) {
                    self.finish_write(conn);
                }
            }
            Some(Origin::Connect { conn, .. }) => {
                // Only a CreateSession is proposed for a handshake, and it always creates the session.
                if let Some(c) = self.conns.remove(&conn) {
                    let _ = c.out.send(Outbound::Close);
                }
            }
            Some(Origin::Admin(reply)) => {
                let _ = reply.send(Ok((zxid, result)));
            }
            Some(Origin::Internal | Origin::Sync { .. } | Origin::Reconfig { .. } | Origin::Reopen { .. }) | None => {}
        }
        if tree_restored {
            self.tree_restored(zxid);
        }
        if closed {
            self.session_closed(txn.session_id);
        }
        Ok(())
    }

    /// A session's connection moved to `owner`. There, the handshake is answered; everywhere else, a
    /// connection still holding the session is closed (its writes would fail with SessionMoved).
    fn session_reopened(&mut self, session_id: i64, owner: u64, result: &TxnResult, origin: Option<Origin>) {
        if owner != self.node_id
            && let Some(conn) = self.session_conns.remove(&session_id)
        {
            info!(session = format_args!("0x{session_id:x}"), to = owner, "session moved to another server");
            self.drop_conn(conn);
        }
        let Some(Origin::Reopen { conn, read_only }) = origin else { return };
        let session = self.tree.session(session_id).copied();
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let (Some(session), TxnResult::SessionReopened) = (session, result) else {
            // Expired while the move was in the log.
            deliver(&mut self.stats, c, expired_response(read_only));
            let _ = c.out.send(Outbound::Close);
            self.conns.remove(&conn);
            return;
        };
        info!(session = format_args!("0x{session_id:x}"), peer = %c.peer, "session reconnected (moved here)");
        let deferred = c.establishing.take().unwrap_or_default();
        deliver(
            &mut self.stats,
            c,
            connect_response(session_id, session.timeout_ms, session.passwd, read_only.map(|_| false)),
        );
        if let Some(old) = self.session_conns.insert(session_id, conn)
            && old != conn
        {
            self.drop_conn(old);
        }
        self.tracker.arm(session_id, session.timeout_ms, now_ms());
        for msg in deferred {
            self.on_msg(msg);
        }
    }

    /// The leader's expiry of a session was overruled by a later entry of it: it lives on, with a full
    /// timeout from now.
    fn session_kept(&mut self, session_id: i64) {
        self.closing.remove(&session_id);
        if let Some(session) = self.tree.session(session_id) {
            info!(session = format_args!("0x{session_id:x}"), "expiry overruled: the session was active");
            self.tracker.arm(session_id, session.timeout_ms, now_ms());
        }
    }

    /// Closes a client connection and forgets it.
    fn drop_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            let _ = c.out.send(Outbound::Close);
            if self.session_conns.get(&c.session_id) == Some(&conn) {
                self.session_conns.remove(&c.session_id);
            }
        }
        self.watches.remove_conn(conn);
    }

    /// ZooKeeper's digest log: the state digest every [`DIGEST_LOG_INTERVAL`] zxids. And the check of a
    /// `Digest` entry (`paddock.digestInterval`): a mismatch means this replica reached another state than
    /// the server that wrote the entry did, from the same log.
    fn record_digest(&mut self, zxid: i64, op: &TxnOp, result: &TxnResult) {
        match (op, result) {
            (TxnOp::Digest { zxid: at, digest }, TxnResult::DigestChecked { matches: Some(false) }) => {
                let ours = self.tree.digest_after(*at).map_or_else(|| "unknown".to_string(), |d| format!("{d:016x}"));
                error!(
                    entry = format_args!("0x{zxid:x}"),
                    zxid = format_args!("0x{at:x}"),
                    logged = format_args!("{digest:016x}"),
                    ours,
                    "state digest mismatch: this replica's tree after the zxid differs from the one the log recorded (it diverged)"
                );
                self.stats.digest_mismatches += 1;
                crate::metrics::digest_mismatches(1);
            }
            (TxnOp::Digest { .. }, _) => {}
            _ => self.last_write = zxid,
        }
        if zxid % DIGEST_LOG_INTERVAL == 0 {
            if self.digest_log.len() == DIGEST_LOG_LIMIT {
                self.digest_log.pop_front();
            }
            self.digest_log.push_back((zxid, self.tree.digest()));
        }
    }

    /// After a committed batch, the server that proposes (standalone, or the leader) writes its state digest
    /// into the log once its writes have crossed a multiple of `paddock.digestInterval` since it last did:
    /// every replica checks it when it applies the entry, and so does every replay of the archived log.
    fn propose_digest_if_due(&mut self) {
        let interval = i64::try_from(self.config.digest_interval).unwrap_or(i64::MAX);
        if interval == 0 || !self.decides_expiry() || self.last_write / interval <= self.digest_proposed_at / interval {
            return;
        }
        let (zxid, digest) = (self.tree.last_zxid(), self.tree.digest());
        self.digest_proposed_at = zxid;
        self.propose(0, Vec::new(), TxnOp::Digest { zxid, digest }, Origin::Internal);
    }

    /// Arms the new session's expiry and, on the server holding the handshake, answers it and handles the
    /// requests that came in behind it.
    fn session_created(&mut self, session_id: i64, op: &TxnOp, zxid: i64, origin: Option<Origin>) {
        let TxnOp::CreateSession { timeout_ms, passwd } = *op else { return };
        self.tracker.arm(session_id, timeout_ms, now_ms());
        let Some(Origin::Connect { conn, read_only, received }) = origin else { return };
        // ZooKeeper's createSession is a request of its own: timed as an update, and the connection's first
        // answered operation (cxid 0).
        let latency = received.elapsed();
        self.stats.record_latency(true, latency);
        let Some(c) = self.conns.get_mut(&conn) else { return };
        info!(session = format_args!("0x{session_id:x}"), peer = %c.peer, timeout_ms, "session established");
        c.session_id = session_id;
        c.stats.record(0, zxid, stats::last_op(OpCode::CreateSession, true), latency);
        let deferred = c.establishing.take().unwrap_or_default();
        deliver(&mut self.stats, c, connect_response(session_id, timeout_ms, passwd, read_only.map(|_| false)));
        self.session_conns.insert(session_id, conn);
        for msg in deferred {
            self.on_msg(msg);
        }
    }

    fn session_closed(&mut self, session_id: i64) {
        self.closing.remove(&session_id);
        self.tracker.remove(session_id);
        info!(session = format_args!("0x{session_id:x}"), "session closed");
        if let Some(conn) = self.session_conns.remove(&session_id) {
            self.drop_conn(conn);
        }
    }

    /// A write of `conn` was answered: run the local work that was waiting behind it.
    fn finish_write(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if matches!(c.queue.front(), Some(Queued::Write)) {
            c.queue.pop_front();
        }
        loop {
            let Some(c) = self.conns.get_mut(&conn) else { return };
            if !matches!(c.queue.front(), Some(Queued::Local { .. })) {
                return;
            }
            let Some(Queued::Local { xid, received, work }) = c.queue.pop_front() else { return };
            self.run_local(conn, xid, received, work);
        }
    }

    // ---- output ---------------------------------------------------------------------------------------

    /// Sends a reply, counted as ZooKeeper counts it (see [`Accounting`]).
    fn reply(
        &mut self,
        conn: ConnId,
        xid: i32,
        op: OpCode,
        received: Instant,
        zxid: i64,
        result: Result<Response, ErrorCode>,
    ) {
        let (err, body) = match result {
            Ok(resp) => (0, Some(resp)),
            Err(code) => (code.code(), None),
        };
        let header = ReplyHeader { xid, zxid, err };
        let frame = encode_reply(&header, body.as_ref());
        let size = serialized_size(&frame);
        let latency = received.elapsed();
        let accounting = Accounting::of(op);
        self.stats.client_response.add(size);
        if accounting == Accounting::Final {
            self.stats.response_bytes += size as u64;
        }
        if accounting != Accounting::Bypass {
            self.stats.record_latency(stats::is_update(op), latency);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.stats.record(xid, zxid, stats::last_op(op, err == 0), latency);
            }
        }
        crate::metrics::request_served(op, err, latency);
        if let Some(c) = self.conns.get(&conn) {
            c.out.replied(xid);
        }
        self.send(conn, frame);
    }

    fn send(&mut self, conn: ConnId, frame: Bytes) {
        if let Some(c) = self.conns.get_mut(&conn) {
            deliver(&mut self.stats, c, frame);
        }
    }

    /// Delivers a watch event to every connection watching, if it may read the node (CVE-2024-23944).
    fn notify(&mut self, path: &str, event: paddock_proto::EventType, zxid: i64, node_acl: &[paddock_proto::Acl]) {
        let fired = self.watches.trigger(path, event);
        for watchers in &fired.per_table {
            self.stats.watchers_fired(event, *watchers);
        }
        for conn in fired.conns {
            self.notify_one(conn, path, event, zxid, Some(node_acl));
        }
    }

    fn notify_one(
        &mut self,
        conn: ConnId,
        path: &str,
        event: paddock_proto::EventType,
        zxid: i64,
        node_acl: Option<&[paddock_proto::Acl]>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        // CVE-2024-23944's vulnerable variant (events delivered unchecked), for its regression test.
        let unchecked = cve_2024_23944_unchecked();
        if let Some(node_acl) = node_acl
            && !unchecked
            && !acl::check(node_acl, perms::READ, &c.auth)
        {
            return;
        }
        let event =
            WatcherEvent { event_type: event as i32, state: KEEPER_STATE_SYNC_CONNECTED, path: path.to_string() };
        let frame = encode_notification(zxid, &event);
        let size = serialized_size(&frame);
        self.stats.client_response.add(size);
        self.stats.watch_bytes += size as u64;
        deliver(&mut self.stats, c, frame);
    }

    // ---- introspection --------------------------------------------------------------------------------

    pub fn last_zxid(&self) -> i64 {
        self.tree.last_zxid()
    }

    /// The other members of the ensemble, when this server leads it.
    pub fn followers(&self) -> Option<paddock_consensus::replica::Followers> {
        self.log.followers()
    }

    pub fn outstanding_requests(&self) -> usize {
        self.waiting.len()
    }
}

/// How ZooKeeper accounts for a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Accounting {
    /// Answered by `FinalRequestProcessor` after its switch: timed (a read or an update), recorded on the
    /// connection, and counted in `zk_response_bytes`.
    Final,
    /// Pings leave `FinalRequestProcessor` early: timed and recorded, not counted in `zk_response_bytes`.
    Ping,
    /// Auth and SASL packets and unknown opcodes (answered as `OpCode::Error`) are answered before the
    /// pipeline: only their size and packet count.
    Bypass,
}

impl Accounting {
    fn of(op: OpCode) -> Accounting {
        match op {
            OpCode::Ping => Accounting::Ping,
            OpCode::Auth | OpCode::Sasl | OpCode::Error => Accounting::Bypass,
            _ => Accounting::Final,
        }
    }
}

/// `ServerCnxn.packetSent`, on the server and on the connection: every frame sent is a packet.
fn deliver(stats: &mut ServerStats, c: &mut Conn, frame: Bytes) {
    stats.packets_sent += 1;
    c.stats.sent += 1;
    let _ = c.out.send(Outbound::Frame(frame));
}

/// A reply's size as ZooKeeper's `BufferStats` and `zk_response_bytes` count it: without the length prefix.
fn serialized_size(frame: &[u8]) -> usize {
    frame.len().saturating_sub(4)
}

/// The handshake answer to a reconnect whose session no longer exists: session id 0.
fn expired_response(read_only: Option<bool>) -> Bytes {
    let expired = ConnectResponse {
        protocol_version: 0,
        timeout: 0,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: read_only.map(|_| false),
    };
    encode_connect_response(&expired)
}

/// `read_only`: the flag to answer, `None` for a client that did not send one.
fn connect_response(session_id: i64, timeout_ms: i32, passwd: [u8; 16], read_only: Option<bool>) -> Bytes {
    let resp =
        ConnectResponse { protocol_version: 0, timeout: timeout_ms, session_id, passwd: passwd.to_vec(), read_only };
    encode_connect_response(&resp)
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// True only under the `cve::2024_23944` failpoint: the vulnerable variant that delivers watch events without
/// checking the watcher's READ permission, which the CVE regression suite must catch.
fn cve_2024_23944_unchecked() -> bool {
    fail::fail_point!("cve::2024_23944", |_| true);
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemoryLog;

    fn entry(index: i64, op: TxnOp) -> CommittedEntry {
        let txn = Txn { origin: ProposalId { node: 1, seq: 0 }, time: 1, session_id: 0, auth: Vec::new(), op };
        CommittedEntry { index, payload: txn.encode() }
    }

    fn create(index: i64) -> CommittedEntry {
        let acl = paddock_proto::Acl::open_unsafe();
        let path = format!("/n{index}");
        entry(index, TxnOp::Create { path, data: None, acl, mode: paddock_proto::CreateMode::Persistent, ttl: 0 })
    }

    #[test]
    fn writes_crossing_the_interval_log_a_digest_that_checks_and_a_wrong_one_is_counted() {
        let config = ServerConfig { digest_interval: 5, ..ServerConfig::default() };
        // Unbounded because MemoryLog takes the core's event sender, which is (issue 12); this test drains it
        // after every step, so it never holds more than the one proposal a step makes.
        let (events, mut committed) = mpsc::unbounded_channel();
        // The memory log gives the core's own proposals the indexes after the five entries fed below.
        let log = MemoryLog::new(events, 5);
        let mut core = Core::new(Arc::new(config), DataTree::new(), Box::new(log), 1);
        core.on_log_event(LogEvent::Committed((1..=4).map(create).collect())).expect("applies");
        assert!(committed.try_recv().is_err(), "no digest before the interval is crossed");
        core.on_log_event(LogEvent::Committed(vec![create(5)])).expect("applies");
        let after_5 = core.tree.digest();
        let Ok(LogEvent::Committed(proposed)) = committed.try_recv() else { panic!("a digest entry is proposed") };
        let [CommittedEntry { index: 6, payload }] = proposed.as_slice() else { panic!("one entry: {proposed:?}") };
        let txn = Txn::decode(payload, 6).expect("decodes");
        assert_eq!((txn.op.clone(), txn.session_id), (TxnOp::Digest { zxid: 5, digest: after_5 }, 0));
        core.on_log_event(LogEvent::Committed(proposed)).expect("applies");
        assert_eq!((core.tree.last_zxid(), core.tree.digest(), core.stats.digest_mismatches), (6, after_5, 0));
        assert!(core.waiting.is_empty(), "the proposal is done with");
        // A digest entry alone does not make another one due.
        assert!(committed.try_recv().is_err());

        // Another server's digest of zxid 6 that this tree does not have: this replica diverged.
        core.on_log_event(LogEvent::Committed(vec![entry(7, TxnOp::Digest { zxid: 6, digest: after_5 ^ 1 })]))
            .expect("applies");
        assert_eq!((core.tree.last_zxid(), core.stats.digest_mismatches), (7, 1));
        let mntr = crate::monitor::mntr(&core, 0);
        assert!(mntr.contains(&("zk_paddock_digest_mismatches".to_string(), "1".to_string())), "{mntr:?}");
    }
}
