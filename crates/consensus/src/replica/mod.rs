//! A server's membership in an ensemble: its Raft node, wired to the tree the server's core owns.
//!
//! The server sees no openraft type. It proposes encoded txns with [`Replica::propose`], in order; they reach
//! the leader's log in that order (a follower forwards them over the peer port in batches, one batch in
//! flight at a time; see [`gather`] for how a batch is formed), and come back, committed, through the [`TreeOwner`] on every server. A proposal that
//! did not make it into the log, or whose fate is unknown (the leader was lost mid-flight), is reported to
//! the `lost` callback; it may still appear in the log, which is why its client hears ConnectionLoss, never
//! "failed".

mod failover;
mod members;
pub(crate) mod proxy;
mod reconfig;
mod standing;

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::{Config, ReadPolicy, SnapshotPolicy};
use paddock_storage::WalOptions;
use paddock_storage::archive_gate::ArchiveGate;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::{info, warn};

pub use proxy::{CommittedTxn, ProxyStateMachine, TreeOwner, settled_config};
pub use reconfig::ReconfigError;

use crate::network::{AppCalls, AppFuture, FIRST_APP_METHOD, Network, RaftService};
use crate::transport::{self, CallError, PeerSecurity};
use crate::types::{PeerNode, Raft, TxnBytes, TypeConfig};
use crate::{LogFlush, LogStore};

/// A follower hands its proposals to the leader with this method.
const FORWARD: u8 = FIRST_APP_METHOD;
/// A follower asks the leader for a read index (`sync`).
const READ_INDEX: u8 = FIRST_APP_METHOD + 1;
/// A follower or observer asks its leader whether a quorum still acknowledges it ([`standing`]).
const LEADER_STANDING: u8 = FIRST_APP_METHOD + 2;
/// A starting member asks its peers whether they formed the ensemble already ([`form_cluster`]).
const INITIALIZED: u8 = FIRST_APP_METHOD + 3;
/// A member hands a reconfig to the leader ([`reconfig`]).
const RECONFIG: u8 = FIRST_APP_METHOD + 4;
/// A follower that found its leader's process gone asks the other voters to agree on its successor
/// ([`failover`]).
const LEADER_GONE: u8 = FIRST_APP_METHOD + 5;
/// Methods from here up are the server's own (see [`Replica::call_leader`]).
pub const FIRST_SERVER_METHOD: u8 = FIRST_APP_METHOD + 32;

/// Proposals waiting to be sent: the core's writes in flight. Past this the core waits, so a slow or lost
/// leader pushes back on clients instead of growing memory.
const PROPOSAL_QUEUE: usize = 4096;
/// Proposals sent in one batch (one forward call, one `client_write_many`).
const BATCH: usize = 512;
/// Batches of this server's own proposals in the leader's log and not yet applied, when it leads: the next
/// batch does not wait for the one before (a pipeline, as ZooKeeper's leader has), so a second client's
/// write is not held behind the first's commit; and no more, so that a stalled quorum pushes back on clients
/// (through [`PROPOSAL_QUEUE`]) instead of growing memory. Two, not more: with [`gather`]
/// forming the batches, a deeper pipeline only cut them smaller (32 clients on the leader: 16,100–16,500
/// writes/s at 80 µs of CPU each with 8, 17,100–17,700 at 69 µs with 2).
const LOCAL_BATCHES_IN_FLIGHT: usize = 2;

/// What the ensemble looks like to this server.
#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    pub my_id: u64,
    /// Every member of the configuration by id: participants (Raft voters) and observers (learners, which
    /// ask the leader to add them). Used to form the ensemble on first start only: after that, the
    /// membership is the log's.
    pub members: BTreeMap<u64, PeerNode>,
    /// Where the Raft log (`log/`) and its snapshots (`snap/`) live.
    pub dir: PathBuf,
    pub wal: WalOptions,
    pub heartbeat_ms: u64,
    /// Without a word from the leader for this long (and up to twice as long), a member stands for election.
    pub election_ms: u64,
    /// With continuous archiving on: what holds the log's purges back until entries are archived.
    pub archive_gate: Option<Arc<ArchiveGate>>,
    /// Entries after which this member snapshots its tree (and may purge the log before it): the server
    /// derives it from `snapCount` as ZooKeeper does, a share of it chosen per member so that the members
    /// do not all snapshot at once.
    pub snapshot_every: u64,
    /// How long the next batch of proposals may wait to be as large as the last one ([`gather`];
    /// zero: never).
    pub batch_wait: Duration,
    /// How peer connections are secured ([`transport::PlainTcp`] or the server's `sslQuorum` TLS), and so
    /// who may open one: it is handed the current members ([`members::follow`]).
    pub security: Arc<dyn PeerSecurity>,
}

/// The part this server plays, as openraft's state says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    /// Not a voter (an observer), or not yet part of the cluster.
    Learner,
    /// Cut off from the quorum: a follower or candidate whose last leader has not vouched for a quorum for
    /// an election timeout (a fast election after a leader died keeps it a follower), or a leader no quorum
    /// has acknowledged for as long (ZooKeeper's LOOKING).
    Looking,
}

/// A follower or observer counts as synced while its log is within this many entries of the leader's (as
/// ClickHouse Keeper's `stale_log_gap`): further behind, it is catching up.
const SYNCED_GAP: u64 = 1000;

/// The leader's view of the other members (`mntr`'s leader-only keys).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Followers {
    pub followers: usize,
    pub synced_followers: usize,
    pub observers: usize,
    pub synced_observers: usize,
}

/// Reported when a proposal's fate is unknown: `(seq, why)`.
pub type LostProposal = Arc<dyn Fn(u64, String) + Send + Sync>;

struct Proposal {
    seq: u64,
    payload: Vec<u8>,
}

pub struct Replica<O: TreeOwner> {
    raft: Raft<ProxyStateMachine<O>>,
    network: Network,
    my_id: u64,
    proposals: mpsc::Sender<Proposal>,
    role: watch::Receiver<Role>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    log_flush: LogFlush,
}

impl<O: TreeOwner> Replica<O> {
    /// Starts this server's Raft node on its peer port (`listener`), with the log and snapshot in
    /// `config.dir`, and joins (or, on first start, forms) the ensemble. `app` serves the server's own
    /// methods from [`FIRST_SERVER_METHOD`].
    pub async fn start(
        config: ReplicaConfig,
        owner: Arc<O>,
        listener: TcpListener,
        app: Option<AppCalls>,
        lost: LostProposal,
    ) -> io::Result<Arc<Replica<O>>> {
        std::fs::create_dir_all(&config.dir)?;
        #[cfg(feature = "failpoints")]
        crate::failpoint::set_node(config.my_id);
        let store = LogStore::open_gated(&config.dir.join("log"), config.wal, config.archive_gate.clone())?;
        let log_flush = store.log_flush();
        let sm = ProxyStateMachine::open(owner, config.dir.join("snap")).await?;
        let network = Network::new(config.security.clone());
        let raft = Raft::new(config.my_id, raft_config(&config)?, network.clone(), store, sm)
            .await
            .map_err(io::Error::other)?;
        let (proposals, queue) = mpsc::channel(PROPOSAL_QUEUE);
        let (role_tx, role) = watch::channel(Role::Learner);
        let forwarding = Forwarding {
            raft: raft.clone(),
            network: network.clone(),
            my_id: config.my_id,
            batch_wait: config.batch_wait,
        };
        let service = RaftService::new(raft.clone(), Some(app_calls(forwarding.clone(), app)));
        let (members, following) = members::follow(raft.clone(), &config.members);
        let mut tasks = vec![
            transport::serve_secured(listener, Arc::new(service), config.security.clone(), members),
            following,
            tokio::spawn(forwarding.clone().run(queue, lost)),
            tokio::spawn(standing::watch_role(raft.clone(), network.clone(), role_tx, config.my_id)),
            tokio::spawn(reconfig::finish_interrupted_changes(raft.clone(), role.clone())),
            tokio::spawn(failover::replace_dead_leaders(raft.clone(), network.clone(), config.my_id)),
        ];
        if let Some(joining) = form_cluster(&raft, &network, &config).await {
            tasks.push(joining);
        }
        Ok(Arc::new(Replica { raft, network, my_id: config.my_id, proposals, role, tasks, log_flush }))
    }

    /// Queues an encoded txn for the log. Waits only while [`PROPOSAL_QUEUE`] proposals are in flight.
    pub async fn propose(&self, seq: u64, payload: Vec<u8>) -> Result<(), String> {
        self.proposals.send(Proposal { seq, payload }).await.map_err(|_| "the replica is stopped".to_string())
    }

    /// [`Replica::propose`] without waiting: refused when [`PROPOSAL_QUEUE`] proposals are in flight.
    pub fn try_propose(&self, seq: u64, payload: Vec<u8>) -> Result<(), String> {
        self.proposals.try_send(Proposal { seq, payload }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => format!("{PROPOSAL_QUEUE} writes are already waiting for the leader"),
            mpsc::error::TrySendError::Closed(_) => "the replica is stopped".to_string(),
        })
    }

    pub fn role(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }

    pub fn my_id(&self) -> u64 {
        self.my_id
    }

    /// The other members as this node sees them, if it leads.
    pub fn followers(&self) -> Option<Followers> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let replication = metrics.replication.as_ref()?;
        let last = metrics.last_log_index.unwrap_or(0);
        let membership = metrics.membership_config.membership();
        let synced =
            |id: &u64| replication.get(id).and_then(|m| *m).is_some_and(|m| last.saturating_sub(m.index) <= SYNCED_GAP);
        let voters: Vec<u64> = membership.voter_ids().filter(|id| *id != self.my_id).collect();
        let learners: Vec<u64> = membership.learner_ids().collect();
        Some(Followers {
            followers: voters.len(),
            synced_followers: voters.iter().filter(|id| synced(id)).count(),
            observers: learners.len(),
            synced_observers: learners.iter().filter(|id| synced(id)).count(),
        })
    }

    /// The leader's id, if one is known.
    pub fn leader(&self) -> Option<u64> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// A read barrier (ZooKeeper's `sync`): an index that covers every write committed before the call, as
    /// the leader confirms with a quorum (ReadIndex). Once this server has applied it, a read here sees all
    /// of those writes.
    pub async fn read_index(&self) -> Result<u64, String> {
        if self.leader() == Some(self.my_id) {
            return read_index_here(&self.raft).await;
        }
        let reply = self.call_leader(READ_INDEX, Vec::new(), Duration::from_secs(10)).await?;
        postcard::from_bytes::<Result<u64, String>>(&reply).map_err(|e| e.to_string())?
    }

    /// Calls one of the server's own methods on the current leader.
    pub async fn call_leader(&self, method: u8, body: Vec<u8>, deadline: Duration) -> Result<Vec<u8>, String> {
        let leader = self.leader().ok_or_else(|| "no leader is known".to_string())?;
        let addr = leader_addr(&self.raft, leader).ok_or_else(|| format!("leader {leader} has no address"))?;
        self.network.peer(&addr)?.call(method, body, deadline).await.map_err(|e| e.to_string())
    }

    /// Returns once this node has applied everything the ensemble had committed when it started (openraft's
    /// `wait_for_recovery`), so that it never serves a state older than one it served before a restart.
    ///
    /// That covers what this node had on disk; a node that had nothing (a wiped or new member) also waits
    /// until it has heard from a leader and applied what that leader had committed, so that it never serves
    /// the empty tree it starts with.
    pub async fn wait_recovered(&self) {
        if let Err(e) = self.raft.wait_for_recovery(None).await {
            warn!("waiting to catch up with the ensemble: {e}");
        }
        let mut metrics = self.raft.metrics();
        loop {
            let caught_up = {
                let m = metrics.borrow_watched();
                // The leader's commit as it reported it, which may lead what this node holds.
                let committed = m.cluster_committed.as_ref().map(|id| id.index);
                m.current_leader.is_some()
                    && committed.is_some()
                    && m.last_applied.as_ref().map(|id| id.index) >= committed
            };
            if caught_up || metrics.changed().await.is_err() {
                return;
            }
        }
    }

    /// Stops the Raft node and every task of this replica.
    pub async fn shutdown(&self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Err(e) = self.raft.shutdown().await {
            warn!("Raft shutdown: {e}");
        }
        if let Err(e) = self.log_flush.flush().await {
            warn!("flushing the Raft log at shutdown: {e}");
        }
    }
}

async fn read_index_here<O: TreeOwner>(raft: &Raft<ProxyStateMachine<O>>) -> Result<u64, String> {
    let read = raft.ensure_linearizable(ReadPolicy::ReadIndex).await.map_err(|e| e.to_string())?;
    Ok(read.log_id().index)
}

fn raft_config(config: &ReplicaConfig) -> io::Result<Arc<Config>> {
    let raft = Config {
        heartbeat_interval: config.heartbeat_ms,
        election_timeout_min: config.election_ms,
        election_timeout_max: config.election_ms * 2,
        // A member whose disk was replaced comes back with an empty log: its leader must start replicating
        // to it from scratch rather than stop (openraft panics on a follower log that went back, and the
        // member never caught up). The cost: a wiped member may vote again in a term it voted in before
        // losing its data, as a wiped ZooKeeper follower can; it is not a protection against lost disks.
        allow_log_reversion: Some(true),
        // A member that cannot reach the leader (cut off, or removed by a reconfig before it heard of its
        // removal) asks first whether it could win; without that it raises its term at every timeout and,
        // once back, makes a working leader step down (Raft dissertation, 4.2.3 and 9.6).
        enable_pre_vote: Some(true),
        snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every.max(1)),
        ..Config::default()
    };
    raft.validate().map(Arc::new).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
}

/// Every participant proposes the same initial membership; only a node that has never been initialized takes
/// it, and identical first entries on every node make that safe (openraft's recommended start-up). A node
/// whose peers already formed the ensemble does not: it is a member that lost its data (a replaced disk) or
/// one being added, and a membership entry of its own would conflict with the leader's log (a wiped member
/// that formed its own never caught up). Such a node, and every observer, asks the leader to add it as a
/// learner instead: the returned task does until one has.
async fn form_cluster<O: TreeOwner>(
    raft: &Raft<ProxyStateMachine<O>>,
    network: &Network,
    config: &ReplicaConfig,
) -> Option<tokio::task::JoinHandle<()>> {
    if raft.is_initialized().await.unwrap_or(true) {
        return None;
    }
    let peers: Vec<(u64, String)> = config
        .members
        .iter()
        .filter(|(id, _)| **id != config.my_id)
        .map(|(id, node)| (*id, node.addr.clone()))
        .collect();
    let me = config.members.get(&config.my_id).cloned().unwrap_or_default();
    let mut formed = false;
    for (id, addr) in &peers {
        if peer_is_initialized(network, addr).await {
            info!(peer = id, "the ensemble exists already: asking its leader to bring this member in");
            formed = true;
            break;
        }
    }
    if formed || !me.participant {
        let addrs = peers.into_iter().map(|(_, addr)| addr).collect();
        return Some(tokio::spawn(reconfig::join_until_added(raft.clone(), network.clone(), config.my_id, me, addrs)));
    }
    let voters: BTreeMap<u64, PeerNode> =
        config.members.iter().filter(|(_, node)| node.participant).map(|(id, node)| (*id, node.clone())).collect();
    match raft.initialize(voters).await {
        Ok(()) => info!(members = ?config.members.keys(), "formed the ensemble"),
        Err(e) => info!("joining the ensemble as it is: {e}"),
    }
    None
}

/// Whether the member at `addr` answers that it belongs to an ensemble (a member that does not answer, not
/// yet started or down, counts as not).
async fn peer_is_initialized(network: &Network, addr: &str) -> bool {
    let Ok(peer) = network.peer(addr) else { return false };
    matches!(peer.call(INITIALIZED, Vec::new(), Duration::from_secs(1)).await.as_deref(), Ok([1]))
}

pub(crate) fn leader_addr<O: TreeOwner>(raft: &Raft<ProxyStateMachine<O>>, leader: u64) -> Option<String> {
    let metrics = raft.server_metrics();
    let m = metrics.borrow_watched();
    m.membership_config.membership().get_node(&leader).map(|node| node.addr.clone())
}

/// Sends proposals to the leader's log in order.
struct Forwarding<O: TreeOwner> {
    raft: Raft<ProxyStateMachine<O>>,
    network: Network,
    my_id: u64,
    batch_wait: Duration,
}

impl<O: TreeOwner> Clone for Forwarding<O> {
    fn clone(&self) -> Self {
        let (raft, network) = (self.raft.clone(), self.network.clone());
        Forwarding { raft, network, my_id: self.my_id, batch_wait: self.batch_wait }
    }
}

impl<O: TreeOwner> Forwarding<O> {
    async fn run(self, mut queue: mpsc::Receiver<Proposal>, lost: LostProposal) {
        let appending = Arc::new(Semaphore::new(LOCAL_BATCHES_IN_FLIGHT));
        let mut batch = Vec::with_capacity(BATCH);
        let mut last_size = 0;
        loop {
            // A batch is formed only once it can be sent: when leading, once a pipeline slot is free.
            drop(appending.acquire().await);
            if !gather(&mut queue, &mut batch, last_size, self.batch_wait).await {
                return;
            }
            last_size = batch.len();
            let seqs: Vec<u64> = batch.iter().map(|p| p.seq).collect();
            let payloads: Vec<Vec<u8>> = batch.drain(..).map(|p| p.payload).collect();
            let count = payloads.len();
            let outcomes = match self.leader_within(Duration::from_secs(2)).await {
                None => vec![Err("no leader".to_string()); count],
                Some(leader) if leader == self.my_id => {
                    // Leading: the batch goes into the log now, behind the ones still committing (openraft
                    // keeps the order of submission), and its outcomes are collected on the side.
                    let Ok(permit) = appending.clone().acquire_owned().await else { return };
                    let submitted = self.raft.client_write_many(payloads.into_iter().map(TxnBytes)).await;
                    let lost = lost.clone();
                    tokio::spawn(async move {
                        let outcomes = match submitted {
                            Ok(results) => collect_outcomes(results, count).await,
                            Err(e) => vec![Err(e.to_string()); count],
                        };
                        report_lost(&lost, seqs, outcomes);
                        drop(permit);
                    });
                    continue;
                }
                Some(leader) => match leader_addr(&self.raft, leader) {
                    Some(addr) => self.forward(&addr, payloads).await.unwrap_or_else(|why| vec![Err(why); count]),
                    None => vec![Err(format!("leader {leader} has no address")); count],
                },
            };
            report_lost(&lost, seqs, outcomes);
        }
    }

    async fn forward(&self, addr: &str, payloads: Vec<Vec<u8>>) -> Result<Vec<Result<u64, String>>, String> {
        let body = postcard::to_stdvec(&payloads).map_err(|e| e.to_string())?;
        let peer = self.network.peer(addr)?;
        // Long enough for the leader to commit and apply a full batch behind a slow disk.
        let reply = peer.call(FORWARD, body, Duration::from_secs(30)).await.map_err(|e: CallError| e.to_string())?;
        postcard::from_bytes(&reply).map_err(|e| e.to_string())
    }

    /// On the leader: appends the batch, in order, and waits until each entry is applied here.
    async fn write(&self, payloads: Vec<Vec<u8>>) -> Vec<Result<u64, String>> {
        let count = payloads.len();
        match self.raft.client_write_many(payloads.into_iter().map(TxnBytes)).await {
            Ok(results) => collect_outcomes(results, count).await,
            Err(e) => vec![Err(e.to_string()); count],
        }
    }

    /// The leader, waiting up to `limit` for an election to end. When this node leads, it waits until the
    /// entry of its own term is applied too: before that, openraft refuses writes ("forward to leader").
    async fn leader_within(&self, limit: Duration) -> Option<u64> {
        let mut metrics = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let known = {
                let m = metrics.borrow_watched();
                let settled = m.last_applied.is_some_and(|a| crate::term_of(&a) == m.current_term);
                m.current_leader.filter(|leader| *leader != self.my_id || settled)
            };
            if let Some(leader) = known {
                return Some(leader);
            }
            if tokio::time::timeout_at(deadline, metrics.changed()).await.is_err() {
                return None;
            }
        }
    }
}

/// Waits for the next batch into `batch`: the first proposal, then, if the last batch carried `last_size` > 1,
/// up to `wait` more for as many. False: the queue is closed and nothing is left.
///
/// Why wait at all: a batch costs about the same whatever its size (a forward call, a log append and its
/// fsync on every member, an append call to each follower), and the clients a batch answers come back with
/// their next writes within a client round trip. Sent at once, the next batch would leave with the first one
/// or two of them and the rest would wait a whole commit round behind it: under a steady load of many
/// clients, each write waited about two rounds, in batches half the size. Waiting for the batch to be as
/// large as the last one keeps one round per write; the bound keeps a load that fell from waiting more than
/// that. A single client, or an idle server, never waits: a batch of one sets no wait, and the bound counts
/// from the first proposal.
async fn gather(
    queue: &mut mpsc::Receiver<Proposal>,
    batch: &mut Vec<Proposal>,
    last_size: usize,
    wait: Duration,
) -> bool {
    if queue.recv_many(batch, BATCH).await == 0 {
        return false;
    }
    let wanted = last_size.min(BATCH);
    if wait.is_zero() || batch.len() >= wanted {
        return true;
    }
    let deadline = tokio::time::Instant::now() + wait;
    while batch.len() < wanted {
        let room = BATCH - batch.len();
        match tokio::time::timeout_at(deadline, queue.recv_many(batch, room)).await {
            Ok(received) if received > 0 => {}
            // Closed (the batch in hand is still sent) or the wait is over.
            _ => break,
        }
    }
    true
}

/// One outcome per entry of a batch written with `client_write_many`, once each is applied here.
async fn collect_outcomes(
    mut results: futures_util::stream::BoxStream<
        'static,
        Result<openraft::raft::WriteResult<TypeConfig>, openraft::error::Fatal<TypeConfig>>,
    >,
    count: usize,
) -> Vec<Result<u64, String>> {
    let mut outcomes = Vec::with_capacity(count);
    while let Some(result) = results.next().await {
        outcomes.push(match result {
            Ok(Ok(written)) => Ok(written.log_id.index),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        });
    }
    outcomes.resize(count, Err("the leader stopped before answering".to_string()));
    outcomes
}

fn report_lost(lost: &LostProposal, seqs: Vec<u64>, outcomes: Vec<Result<u64, String>>) {
    for (seq, outcome) in seqs.into_iter().zip(outcomes) {
        if let Err(why) = outcome {
            lost(seq, why);
        }
    }
}

/// The peer port's server-level methods: forwarded proposals here, the server's own above.
fn app_calls<O: TreeOwner>(forwarding: Forwarding<O>, server: Option<AppCalls>) -> AppCalls {
    Arc::new(move |method, body| -> AppFuture {
        let forwarding = forwarding.clone();
        let server = server.clone();
        Box::pin(async move {
            match (method, server) {
                (INITIALIZED, _) => Ok(vec![u8::from(forwarding.raft.is_initialized().await.unwrap_or(false))]),
                (RECONFIG, _) => reconfig::serve_reconfig(&forwarding.raft, &body).await,
                (reconfig::JOIN, _) => reconfig::serve_join(&forwarding.raft, &body).await,
                (LEADER_STANDING, _) => Ok(vec![u8::from(standing::leads_a_quorum(&forwarding.raft))]),
                (LEADER_GONE, _) => failover::answer(&forwarding.raft, forwarding.my_id, &body).await,
                (READ_INDEX, _) => {
                    postcard::to_stdvec(&read_index_here(&forwarding.raft).await).map_err(|e| e.to_string())
                }
                (FORWARD, _) => {
                    let payloads: Vec<Vec<u8>> = postcard::from_bytes(&body).map_err(|e| e.to_string())?;
                    let outcomes = forwarding.write(payloads).await;
                    postcard::to_stdvec(&outcomes).map_err(|e| e.to_string())
                }
                (method, Some(server)) if method >= FIRST_SERVER_METHOD => server(method, body).await,
                (method, _) => Err(format!("method {method} is not served here")),
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn proposal(seq: u64) -> Proposal {
        Proposal { seq, payload: vec![seq as u8] }
    }

    fn seqs(batch: &[Proposal]) -> Vec<u64> {
        batch.iter().map(|p| p.seq).collect()
    }

    const LONG: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_batch_waits_for_as_many_writes_as_the_last_one_carried() {
        let (tx, mut queue) = mpsc::channel(16);
        tx.send(proposal(1)).await.expect("queued");
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            for seq in 2..=3 {
                tx.send(proposal(seq)).await.expect("queued");
            }
            tx
        });
        let mut batch = Vec::new();
        let started = Instant::now();
        assert!(gather(&mut queue, &mut batch, 3, LONG).await);
        assert_eq!(seqs(&batch), [1, 2, 3], "it waited for the late writes");
        assert!(started.elapsed() < LONG, "the wait ended when the batch was as large as the last");
        drop(late.await);
    }

    #[tokio::test]
    async fn the_wait_is_bounded_and_a_single_writer_or_a_zero_bound_never_waits() {
        let (tx, mut queue) = mpsc::channel(16);
        let wait = Duration::from_millis(50);
        tx.send(proposal(1)).await.expect("queued");
        let mut batch = Vec::new();
        let started = Instant::now();
        assert!(gather(&mut queue, &mut batch, 8, wait).await);
        assert_eq!(seqs(&batch), [1]);
        assert!(started.elapsed() >= wait, "a smaller batch waited out the bound, no more: {:?}", started.elapsed());
        for (last_size, bound) in [(1, LONG), (0, LONG), (8, Duration::ZERO)] {
            tx.send(proposal(2)).await.expect("queued");
            let mut batch = Vec::new();
            let started = Instant::now();
            assert!(gather(&mut queue, &mut batch, last_size, bound).await);
            assert_eq!(seqs(&batch), [2]);
            assert!(started.elapsed() < LONG / 2, "no wait after a batch of {last_size} with a bound of {bound:?}");
        }
    }

    #[tokio::test]
    async fn a_closed_queue_sends_what_it_holds_then_ends() {
        let (tx, mut queue) = mpsc::channel(16);
        tx.send(proposal(1)).await.expect("queued");
        drop(tx);
        let mut batch = Vec::new();
        assert!(gather(&mut queue, &mut batch, 4, LONG).await, "the proposal in hand is still sent");
        assert_eq!(seqs(&batch), [1]);
        batch.clear();
        assert!(!gather(&mut queue, &mut batch, 1, LONG).await, "then the queue is done");
    }
}
