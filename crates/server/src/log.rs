//! The seam between the request pipeline and the log: proposals out, committed entries in.
//!
//! The core encodes every write it wants made as a [`Txn`](paddock_tree::Txn) payload, tagged with its
//! [`ProposalId`](paddock_tree::ProposalId), and hands it to a [`ReplicatedLog`]. The log decides the entry's
//! index — that is the txn's zxid — and once the entry is committed (durable on this disk for a standalone
//! server; on a quorum under Raft) hands the payload back, in log order, as a [`LogEvent::Committed`]. Every
//! node, the proposer included, applies exactly those bytes; only the node whose id is in the proposal
//! answers the client. So the bytes applied are the bytes logged, the same on every replica, and a client is
//! never told "done" for a write that could be lost.

use paddock_tree::DataTree;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

/// One entry of the log, committed: it will never change or go away.
#[derive(Debug)]
pub struct CommittedEntry {
    /// The log index: the zxid of the txn in `payload`.
    pub index: i64,
    pub payload: Vec<u8>,
}

/// What the log tells the core.
#[derive(Debug)]
pub enum LogEvent {
    /// Entries committed, in log order, each following the one before.
    Committed(Vec<CommittedEntry>),
    /// The log could not commit what was proposed: every proposal not yet reported committed is lost and
    /// must be failed back to its client. The log ignores proposals until the core calls
    /// [`ReplicatedLog::resume`], so none sent before the core heard of the failure is committed after it.
    Failed { error: String },
    /// How long one fsync took (`zk_*_fsynctime`, the WAL fsync latency metric).
    FsyncTime(std::time::Duration),
    /// This server's role changed (a replicated log only: a standalone server stays standalone).
    Role(ServerRole),
    /// Entries committed, to be applied before `done` is answered: a replicated log's state machine waits
    /// so that its applied index is the core's.
    /// `applied`: the index of the batch's last entry (a blank or membership entry may follow the last txn).
    Apply { entries: Vec<CommittedEntry>, applied: i64, done: oneshot::Sender<()> },
    /// The read index asked for by `ReplicatedLog::read_barrier(seq)`: the `sync` waits until it is applied.
    ReadIndex { seq: u64, index: i64 },
    /// A request of this server (a reconfig) that was refused, with the error its client hears.
    Refused { seq: u64, code: paddock_proto::ErrorCode },
    /// A proposal of this server whose fate is unknown (the leader was lost, or never known): its client
    /// hears ConnectionLoss. The entry may still be committed later; it is then applied without an answer.
    Lost { seq: u64, reason: String },
    /// Send an O(1) frozen copy of the tree (for a Raft snapshot).
    Freeze(oneshot::Sender<DataTree>),
    /// Replace the tree with one installed from a snapshot; clients reconnect to get their watches back.
    Install { tree: Box<DataTree>, done: oneshot::Sender<()> },
    /// Session ids that a follower's clients touched, for the leader's expiry tracker.
    Touched(Vec<i64>),
    /// A member has applied everything its ensemble had committed when it (re)started: it may serve.
    Recovered,
}

/// The part this server plays in its log, as ZooKeeper names it (`Mode:` in `srvr`, `zk_server_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerRole {
    Standalone,
    Leader,
    Follower,
    /// A non-voting member (a Raft learner).
    Observer,
    /// A member cut off from the quorum (ZooKeeper's LOOKING): it serves no client.
    Looking,
    /// A member cut off from the quorum with `readonlymode.enabled`: it serves reads to clients that asked
    /// for read-only mode and refuses everything else.
    ReadOnly,
}

impl ServerRole {
    /// ZooKeeper's word for the role.
    pub fn name(self) -> &'static str {
        match self {
            ServerRole::Standalone => "standalone",
            ServerRole::Leader => "leader",
            ServerRole::Follower => "follower",
            ServerRole::Observer => "observer",
            ServerRole::Looking => "looking",
            ServerRole::ReadOnly => "read-only",
        }
    }

    /// Whether this server is part of a working quorum (or needs none).
    pub fn in_quorum(self) -> bool {
        !matches!(self, ServerRole::Looking | ServerRole::ReadOnly)
    }
}

/// Where proposals go. The log assigns indexes; the core never does.
pub trait ReplicatedLog: Send {
    /// Hands an encoded txn over, with the sequence number of its proposal id. Must not block on I/O: the
    /// outcome is reported through the event channel.
    fn propose(&mut self, seq: u64, payload: Vec<u8>);

    /// The other members, as counted for `mntr` on the leader; `None` elsewhere and standalone.
    fn followers(&self) -> Option<paddock_consensus::replica::Followers> {
        None
    }

    /// Sessions this server's clients touched since the last tick: a follower passes them to the leader,
    /// which alone decides expiry. A standalone log has no one to tell.
    fn touched(&mut self, _sessions: Vec<i64>) {}

    /// Asks for a read index for proposal `seq` (a `sync`), answered with `LogEvent::ReadIndex`. Only a
    /// replicated log is asked: a standalone server has applied everything it acknowledged.
    fn read_barrier(&mut self, seq: u64) {
        let _ = seq;
    }

    /// Changes the ensemble's membership to `target` for request `seq` (ZooKeeper's `reconfig`): answered with
    /// `LogEvent::ReadIndex` (the index of the entry that settled it), `Refused` or `Lost`. Only a replicated
    /// log is asked: the core refuses a standalone server's reconfig before.
    fn reconfigure(&mut self, seq: u64, target: std::collections::BTreeMap<u64, crate::config::QuorumServer>) {
        let _ = (seq, target);
    }

    /// Called after the core has handled a `Failed` event: proposals are accepted again.
    fn resume(&mut self) {}

    /// Replaces the state with `tree` (ZooKeeper 3.9's admin `restore`), after every proposal made before:
    /// answers the zxid the log continues after, and reports the tree to the core as `Install`. Only a
    /// standalone server's write-ahead log can; an ensemble is restored member by member offline.
    fn restore(&mut self, tree: DataTree, reply: oneshot::Sender<Result<i64, String>>) {
        drop(tree);
        let _ = reply.send(Err(
            "this server cannot restore in place: restore an ensemble's members with `paddock restore --config`".into(),
        ));
    }
}

/// No disk and no peers: every proposal is committed the moment it is made.
pub struct MemoryLog {
    events: UnboundedSender<LogEvent>,
    last_index: i64,
}

impl MemoryLog {
    /// `last_index`: the index of the last entry already applied (the tree's last zxid).
    pub fn new(events: UnboundedSender<LogEvent>, last_index: i64) -> Self {
        MemoryLog { events, last_index }
    }
}

impl ReplicatedLog for MemoryLog {
    fn propose(&mut self, _seq: u64, payload: Vec<u8>) {
        self.last_index += 1;
        let entry = CommittedEntry { index: self.last_index, payload };
        // The receiver lives as long as the core; a send failure means the server is shutting down.
        let _ = self.events.send(LogEvent::Committed(vec![entry]));
    }
}
