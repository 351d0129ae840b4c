//! An in-process 3-node cluster: the network is direct calls into the other nodes' Raft handles. A leader
//! is elected, writes go through it and reach every tree (same digest everywhere, zxid = log index), every
//! node reports the same applied txns through the applied channel, and after the leader is killed the two
//! others elect a new leader and go on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use paddock_consensus::openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use paddock_consensus::openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use paddock_consensus::openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use paddock_consensus::openraft::{Config, ServerState};
use paddock_consensus::{
    AppliedEvent, AppliedReceiver, LogStore, PeerNode, Raft, SnapshotBytes, StateMachine, TreeHandle, TxnBytes,
    TypeConfig, Vote, WriterExit, applied_channel,
};
use paddock_proto::{Acl, CreateMode};
use paddock_tree::{ProposalId, Txn, TxnOp};

/// Waits on metrics are bounded only to turn a hang into a failure; no assertion depends on timing.
const HANG_GUARD: Option<Duration> = Some(Duration::from_secs(60));

/// The nodes that are up, by id. A node missing from the map is unreachable.
#[derive(Clone, Default)]
struct Router(Arc<Mutex<BTreeMap<u64, Raft<StateMachine>>>>);

impl Router {
    fn get(&self, id: u64) -> Option<Raft<StateMachine>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&id).cloned()
    }
}

struct Conn {
    router: Router,
    target: u64,
}

impl Conn {
    fn raft(&self) -> Result<Raft<StateMachine>, Unreachable<TypeConfig>> {
        self.router.get(self.target).ok_or_else(|| Unreachable::from_string(format!("node {} is down", self.target)))
    }
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Conn;

    async fn new_client(&mut self, target: u64, _node: &PeerNode) -> Conn {
        Conn { router: self.clone(), target }
    }
}

impl RaftNetworkV2<TypeConfig> for Conn {
    type SnapshotData = SnapshotBytes;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let raft = self.raft().map_err(RPCError::Unreachable)?;
        raft.append_entries(rpc).await.map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let raft = self.raft().map_err(RPCError::Unreachable)?;
        raft.vote(rpc).await.map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: paddock_consensus::Snapshot,
        _cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let raft = self.raft().map_err(StreamingError::Unreachable)?;
        raft.install_full_snapshot(vote, snapshot).await.map_err(|e| StreamingError::Network(NetworkError::new(&e)))
    }
}

/// One node: its Raft, its tree, its applied-entries channel with the txns taken from it, and its store's
/// writer.
struct Node {
    raft: Raft<StateMachine>,
    tree: TreeHandle,
    rx: AppliedReceiver,
    applied: Vec<(u64, Txn)>,
    writer: WriterExit,
    _dir: tempfile::TempDir,
}

impl Node {
    fn digest(&self) -> u64 {
        self.tree.read().unwrap_or_else(PoisonError::into_inner).digest()
    }

    /// The txns applied so far. The state machine sends each entry's report before openraft's metrics show
    /// it applied, so after a wait on the metrics every report is already in the channel.
    fn applied_txns(&mut self) -> Vec<(u64, Txn)> {
        while let Ok(entry) = self.rx.try_recv() {
            if let AppliedEvent::Txn(t) = entry.event {
                self.applied.push((entry.index, t.txn));
            }
        }
        self.applied.clone()
    }
}

fn config() -> Arc<Config> {
    let config =
        Config { heartbeat_interval: 50, election_timeout_min: 300, election_timeout_max: 600, ..Config::default() };
    Arc::new(config.validate().expect("a valid Raft config"))
}

async fn start(id: u64, router: &Router) -> Node {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LogStore::open(dir.path(), crate::common::wal_options()).expect("log store");
    let writer = store.writer_exit();
    let (tx, rx) = applied_channel();
    let sm = StateMachine::new(Some(tx));
    let tree = sm.tree();
    let raft = Raft::new(id, config(), router.clone(), store, sm).await.expect("raft starts");
    router.0.lock().unwrap_or_else(PoisonError::into_inner).insert(id, raft.clone());
    Node { raft, tree, rx, applied: Vec::new(), writer, _dir: dir }
}

fn create(path: &str, seq: u64) -> TxnBytes {
    let txn = Txn {
        origin: ProposalId { node: 0, seq },
        time: 1_000 + seq as i64,
        session_id: 0,
        auth: Vec::new(),
        op: TxnOp::Create {
            path: path.to_string(),
            data: Some(path.as_bytes().to_vec()),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
            ttl: 0,
        },
    };
    TxnBytes(txn.encode())
}

/// Waits until one of `nodes` leads with its first entry applied (before that, a write may be refused with
/// "forward to leader: unknown"), and returns its id.
async fn leader(nodes: &BTreeMap<u64, Node>) -> u64 {
    let any = nodes.values().next().expect("a node");
    let metrics = any
        .raft
        .wait(HANG_GUARD)
        .metrics(|m| m.current_leader.is_some_and(|l| nodes.contains_key(&l)), "a leader among the nodes up")
        .await
        .expect("a leader is elected");
    let id = metrics.current_leader.expect("leader");
    let raft = &nodes[&id].raft;
    raft.wait(HANG_GUARD)
        .metrics(|m| m.state == ServerState::Leader && m.last_applied.map(|a| a.index) == m.last_log_index, "blank")
        .await
        .expect("the leader applies its first entry");
    id
}

/// Writes `count` creates through `leader`, returning the last log index.
async fn write(leader: &Raft<StateMachine>, from: u64, count: u64) -> u64 {
    let mut last = 0;
    for seq in from..from + count {
        let reply = leader.client_write(create(&format!("/n{seq}"), seq)).await.expect("write through the leader");
        assert!(reply.data.index > last, "log indexes grow");
        last = reply.data.index;
    }
    last
}

async fn all_applied(nodes: &BTreeMap<u64, Node>, index: u64) {
    for node in nodes.values() {
        node.raft.wait(HANG_GUARD).applied_index_at_least(Some(index), "apply").await.expect("every node applies");
    }
}

/// Same digest everywhere, every write's node has its log index as czxid, and every node reported the same
/// applied txns in the same order.
fn assert_converged(nodes: &mut BTreeMap<u64, Node>, writes: u64) {
    let digests: BTreeSet<u64> = nodes.values().map(Node::digest).collect();
    assert_eq!(digests.len(), 1, "every tree ends with the same digest");
    let reports: Vec<Vec<(u64, Txn)>> = nodes.values_mut().map(Node::applied_txns).collect();
    assert!(reports.windows(2).all(|w| w[0] == w[1]), "every node reports the same applied txns");
    assert_eq!(reports[0].len() as u64, writes);
    let any = nodes.values().next().expect("a node");
    let tree = any.tree.read().unwrap_or_else(PoisonError::into_inner);
    for (index, txn) in &reports[0] {
        let TxnOp::Create { path, .. } = &txn.op else { panic!("only creates were written") };
        let stat = tree.stat(path).expect("the created node exists");
        assert_eq!(stat.czxid, *index as i64, "the zxid of {path} is its log index");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_and_survive_the_loss_of_the_leader() {
    let router = Router::default();
    let mut nodes = BTreeMap::new();
    for id in 1..=3 {
        nodes.insert(id, start(id, &router).await);
    }
    let members: BTreeMap<u64, PeerNode> = (1..=3).map(|id| (id, PeerNode::new(format!("node{id}")))).collect();
    nodes[&1].raft.initialize(members).await.expect("initialize the cluster");

    let first = leader(&nodes).await;
    let last = write(&nodes[&first].raft, 0, 20).await;
    all_applied(&nodes, last).await;
    assert_converged(&mut nodes, 20);

    // Kill the leader: the two others elect a new one and go on.
    let old = nodes.remove(&first).expect("the leader");
    router.0.lock().unwrap_or_else(PoisonError::into_inner).remove(&first);
    old.raft.shutdown().await.expect("the old leader stops");
    let second = leader(&nodes).await;
    assert_ne!(second, first, "a new leader");
    let last = write(&nodes[&second].raft, 20, 10).await;
    all_applied(&nodes, last).await;
    assert_converged(&mut nodes, 30);

    for node in nodes.values() {
        node.raft.shutdown().await.expect("shutdown");
    }
    for node in nodes.into_values().chain([old]) {
        let writer = node.writer.clone();
        drop(node);
        tokio::task::spawn_blocking(move || writer.wait()).await.expect("the log writer exits");
    }
}
