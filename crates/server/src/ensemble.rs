//! A server that is a member of an ensemble: the core on a Raft log (`paddock-consensus`).
//!
//! The core stays what it is for a standalone server; only its log differs. Proposals go to the
//! [`Replica`], which puts them in the leader's log in order; committed entries come back through
//! [`CoreOwner`] as `LogEvent::Apply`, on every member, and openraft's snapshots are frozen copies of the
//! core's tree. The replica's role becomes the core's role (`Mode:` in `srvr`), and a follower's session
//! touches go to the leader, which alone expires sessions.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use paddock_consensus::replica::{
    CommittedTxn, FIRST_SERVER_METHOD, ReconfigError, Replica, ReplicaConfig, Role, TreeOwner,
};
use paddock_consensus::transport::{PeerSecurity, PlainTcp};
use paddock_proto::ErrorCode;
use paddock_storage::archive_gate::ArchiveGate;
use paddock_tree::DataTree;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::config::{Ensemble, QuorumServer, ServerConfig};
use crate::log::{CommittedEntry, LogEvent, ReplicatedLog, ServerRole};

/// A follower sends the leader the sessions its clients touched (ZooKeeper's learners' `touchTable`).
const TOUCH: u8 = FIRST_SERVER_METHOD;

/// The core, as the replica's state machine sees it.
pub struct CoreOwner {
    events: mpsc::UnboundedSender<LogEvent>,
}

fn core_gone() -> io::Error {
    io::Error::other("the request pipeline is gone")
}

impl TreeOwner for CoreOwner {
    async fn apply(&self, txns: Vec<CommittedTxn>, applied: u64) {
        let entries = txns
            .into_iter()
            // Log indexes stay far below i64::MAX; one that did not fit is refused by the tree as out of order.
            .map(|t| CommittedEntry { index: i64::try_from(t.index).unwrap_or(i64::MIN), payload: t.payload })
            .collect();
        let applied = i64::try_from(applied).unwrap_or(i64::MAX);
        let (done, finished) = oneshot::channel();
        if self.events.send(LogEvent::Apply { entries, applied, done }).is_ok() {
            let _ = finished.await;
        }
    }

    async fn freeze(&self) -> io::Result<DataTree> {
        let (reply, tree) = oneshot::channel();
        self.events.send(LogEvent::Freeze(reply)).map_err(|_| core_gone())?;
        tree.await.map_err(|_| core_gone())
    }

    async fn install(&self, tree: DataTree) {
        let (done, installed) = oneshot::channel();
        if self.events.send(LogEvent::Install { tree: Box::new(tree), done }).is_ok() {
            let _ = installed.await;
        }
    }
}

/// The core's log when it is a member of an ensemble.
pub struct RaftLog {
    replica: Arc<OnceLock<Arc<Replica<CoreOwner>>>>,
    events: mpsc::UnboundedSender<LogEvent>,
}

impl ReplicatedLog for RaftLog {
    fn propose(&mut self, seq: u64, payload: Vec<u8>) {
        let refused = match self.replica.get() {
            Some(replica) => replica.try_propose(seq, payload).err(),
            None => Some("the server is still joining its ensemble".to_string()),
        };
        if let Some(reason) = refused {
            let _ = self.events.send(LogEvent::Lost { seq, reason });
        }
    }

    fn read_barrier(&mut self, seq: u64) {
        let Some(replica) = self.replica.get().cloned() else {
            let _ = self.events.send(LogEvent::Lost { seq, reason: "the server is still joining".into() });
            return;
        };
        let events = self.events.clone();
        tokio::spawn(async move {
            let event = match replica.read_index().await {
                Ok(index) => LogEvent::ReadIndex { seq, index: i64::try_from(index).unwrap_or(i64::MAX) },
                Err(reason) => LogEvent::Lost { seq, reason },
            };
            let _ = events.send(event);
        });
    }

    fn followers(&self) -> Option<paddock_consensus::replica::Followers> {
        self.replica.get()?.followers()
    }

    fn reconfigure(&mut self, seq: u64, target: BTreeMap<u64, QuorumServer>) {
        let Some(replica) = self.replica.get().cloned() else {
            let _ = self.events.send(LogEvent::Lost { seq, reason: "the server is still joining".into() });
            return;
        };
        let events = self.events.clone();
        let target = target.into_iter().map(|(id, server)| (id, server.peer_node())).collect();
        tokio::spawn(async move {
            let event = match replica.reconfigure(target).await {
                // Answered once this server applied the entry that settled it, as a `sync` is.
                Ok(index) => LogEvent::ReadIndex { seq, index: i64::try_from(index).unwrap_or(i64::MAX) },
                Err(ReconfigError::InProgress) => LogEvent::Refused { seq, code: ErrorCode::ReconfigInProgress },
                Err(ReconfigError::NoQuorum(reason)) => {
                    warn!("reconfig refused: {reason}");
                    LogEvent::Refused { seq, code: ErrorCode::NewConfigNoQuorum }
                }
                Err(ReconfigError::Lost(reason)) => LogEvent::Lost { seq, reason },
            };
            let _ = events.send(event);
        });
    }

    fn touched(&mut self, sessions: Vec<i64>) {
        let Some(replica) = self.replica.get().cloned() else { return };
        let body = encode_sessions(&sessions);
        tokio::spawn(async move {
            // A lost batch of touches only brings expiry closer by a tick; the next batch repeats them.
            if let Err(e) = replica.call_leader(TOUCH, body, Duration::from_secs(2)).await {
                warn!("cannot pass session touches to the leader: {e}");
            }
        });
    }
}

/// Session ids as little-endian `i64`s, back to back.
fn encode_sessions(sessions: &[i64]) -> Vec<u8> {
    sessions.iter().flat_map(|s| s.to_le_bytes()).collect()
}

fn decode_sessions(body: &[u8]) -> Result<Vec<i64>, String> {
    if !body.len().is_multiple_of(8) {
        return Err(format!("a touch list of {} bytes", body.len()));
    }
    Ok(body.chunks_exact(8).map(|c| c.iter().rev().fold(0i64, |id, b| (id << 8) | i64::from(*b))).collect())
}

/// What starts the replica behind the core's [`RaftLog`] once the core runs.
pub struct Joining {
    replica: Arc<OnceLock<Arc<Replica<CoreOwner>>>>,
    events: mpsc::UnboundedSender<LogEvent>,
    /// With continuous archiving on: what holds the Raft log's purges back until entries are archived.
    archive_gate: Option<Arc<ArchiveGate>>,
}

impl Joining {
    /// The core's log, and what joins the ensemble behind it.
    pub fn new(events: mpsc::UnboundedSender<LogEvent>, archive_gate: Option<Arc<ArchiveGate>>) -> (RaftLog, Joining) {
        let replica = Arc::new(OnceLock::new());
        (RaftLog { replica: replica.clone(), events: events.clone() }, Joining { replica, events, archive_gate })
    }

    /// Starts this server's Raft node on its peer port; the core must already be running (a kept snapshot
    /// and the log are applied through it).
    pub async fn start(self, config: &ServerConfig, ensemble: &Ensemble) -> anyhow::Result<Arc<Replica<CoreOwner>>> {
        let own = ensemble
            .servers
            .get(&ensemble.my_id)
            .ok_or_else(|| anyhow::anyhow!("server.{} is not in the configuration", ensemble.my_id))?;
        // Unusable quorum TLS settings stop the start before the peer port is bound.
        let security = peer_security(config, &own.host)?;
        let listener = TcpListener::bind((own.host.as_str(), own.peer_port))
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on the peer port {}:{}: {e}", own.host, own.peer_port))?;
        let timeouts = config.quorum.timeouts(config.tick_time_ms);
        let replica_config = ReplicaConfig {
            my_id: ensemble.my_id,
            members: ensemble.servers.values().map(|s| (s.id, s.peer_node())).collect(),
            dir: paddock_storage::wal_dir(config.log_dir()).with_file_name("raft"),
            wal: paddock_storage::WalOptions {
                segment_bytes: config.wal_segment_bytes,
                fsync: config.force_sync,
                preallocate: true,
            },
            heartbeat_ms: timeouts.heartbeat_ms,
            election_ms: timeouts.election_ms.max(timeouts.heartbeat_ms * 3),
            archive_gate: self.archive_gate.clone(),
            snapshot_every: crate::snapshots::roll_threshold(config.snap_count.max(1)),
            batch_wait: Duration::from_millis(config.batch_wait_ms),
            security,
        };
        let owner = Arc::new(CoreOwner { events: self.events.clone() });
        let touches = self.events.clone();
        let app: paddock_consensus::network::AppCalls = Arc::new(move |method, body| {
            let touches = touches.clone();
            Box::pin(async move {
                if method != TOUCH {
                    return Err(format!("method {method} is not served here"));
                }
                let sessions = decode_sessions(&body)?;
                touches.send(LogEvent::Touched(sessions)).map_err(|_| "the request pipeline is gone".to_string())?;
                Ok(Vec::new())
            })
        });
        let lost_events = self.events.clone();
        let lost = Arc::new(move |seq, reason| {
            let _ = lost_events.send(LogEvent::Lost { seq, reason });
        });
        let replica = Replica::start(replica_config, owner, listener, Some(app), lost).await?;
        let _ = self.replica.set(replica.clone());
        tokio::spawn(report_role(replica.role(), self.events));
        Ok(replica)
    }
}

/// How this member's peer connections are secured: `sslQuorum`'s mutual TLS, whose store reloads run from
/// here on, or plain TCP.
fn peer_security(config: &ServerConfig, own_host: &str) -> anyhow::Result<Arc<dyn PeerSecurity>> {
    match crate::tls::quorum::QuorumTls::from_config(config, own_host).map_err(anyhow::Error::msg)? {
        Some(tls) => {
            info!("peer connections use mutual TLS (sslQuorum)");
            tokio::spawn(tls.clone().reload_on_change());
            Ok(tls)
        }
        None => Ok(Arc::new(PlainTcp)),
    }
}

async fn report_role(mut role: tokio::sync::watch::Receiver<Role>, events: mpsc::UnboundedSender<LogEvent>) {
    loop {
        let server_role = match *role.borrow_and_update() {
            Role::Leader => ServerRole::Leader,
            Role::Follower => ServerRole::Follower,
            // A candidate is looking for a leader, as ZooKeeper's LOOKING state.
            Role::Candidate | Role::Looking => ServerRole::Looking,
            Role::Learner => ServerRole::Observer,
        };
        if events.send(LogEvent::Role(server_role)).is_err() || role.changed().await.is_err() {
            return;
        }
    }
}
