//! Real TCP between nodes: three Raft nodes on 127.0.0.1 talk through the peer transport
//! (`paddock_consensus::network`), elect a leader, replicate txns to every tree, survive the leader's loss,
//! and bring a new member up to date by sending it a snapshot over the wire once the log was purged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use paddock_consensus::network::{Network, RaftService};
use paddock_consensus::openraft::async_runtime::watch::WatchReceiver;
use paddock_consensus::openraft::{Config, SnapshotPolicy};
use paddock_consensus::transport;
use paddock_consensus::{LogStore, PeerNode, Raft, StateMachine, TreeHandle, TxnBytes};
use paddock_proto::{Acl, CreateMode};
use paddock_tree::{ProposalId, Txn, TxnOp};
use tokio::net::TcpListener;

/// One node: its Raft, its tree, and the task serving its peer port.
struct Node {
    raft: Raft<StateMachine>,
    tree: TreeHandle,
    service: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Node {
    async fn stop(self) {
        self.service.abort();
        let stopped = tokio::time::timeout(Duration::from_secs(10), self.raft.shutdown()).await;
        assert!(stopped.is_ok(), "a node shuts down within 10 s");
    }

    fn digest(&self) -> (i64, u64) {
        let tree = self.tree.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        (tree.last_zxid(), tree.digest())
    }
}

fn config() -> Arc<Config> {
    let config = Config {
        // Loose enough that a loaded machine (the suite runs beside stress-ng) keeps leases alive.
        heartbeat_interval: 100,
        election_timeout_min: 800,
        election_timeout_max: 1600,
        // Purge early, so that a member joining later needs a snapshot.
        snapshot_policy: SnapshotPolicy::LogsSinceLast(20),
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Config::default()
    };
    Arc::new(config.validate().expect("a valid Raft config"))
}

async fn start(id: u64, listener: TcpListener) -> Node {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LogStore::open(dir.path(), crate::common::wal_options()).expect("log store");
    let sm = StateMachine::new(None);
    let tree = sm.tree();
    let raft = Raft::new(id, config(), Network::default(), store, sm).await.expect("raft starts");
    let service = transport::serve(listener, Arc::new(RaftService::new(raft.clone(), None)));
    Node { raft, tree, service, _dir: dir }
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a peer port");
    let addr = listener.local_addr().expect("address").to_string();
    (listener, addr)
}

fn create(n: usize) -> TxnBytes {
    let op = TxnOp::Create {
        path: format!("/n{n}"),
        data: Some(vec![b'x'; 10]),
        acl: Acl::open_unsafe(),
        mode: CreateMode::Persistent,
        ttl: 0,
    };
    let origin = ProposalId { node: 1, seq: n as u64 };
    TxnBytes(Txn { origin, time: 1_700_000_000_000 + n as i64, session_id: 0, auth: vec![], op }.encode())
}

/// The leader as every given node sees it, once they agree.
async fn leader(nodes: &BTreeMap<u64, Node>) -> u64 {
    for _ in 0..200 {
        let seen: Vec<Option<u64>> = nodes.values().map(|n| n.raft.metrics().borrow_watched().current_leader).collect();
        if let Some(Some(id)) = seen.first()
            && seen.iter().all(|s| *s == Some(*id))
            && let Some(leader) = nodes.get(id)
        {
            // Before the entry of its own term is applied, the leader refuses writes.
            let m = leader.raft.metrics().borrow_watched().clone();
            if m.last_applied.is_some_and(|a| paddock_consensus::term_of(&a) == m.current_term) {
                return *id;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no agreed leader within 10 s");
}

/// Writes each txn through the leader. A write the leader refuses before appending it (`ForwardToLeader`:
/// leadership moved, or its lease lapsed under load) is sent again to whoever leads then, as a ZooKeeper
/// client resends after losing its server; any other error fails the test. At most 30 s.
async fn write(nodes: &BTreeMap<u64, Node>, range: std::ops::Range<usize>) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = 0;
    for n in range {
        last = loop {
            let id = leader(nodes).await;
            match nodes[&id].raft.client_write(create(n)).await {
                Ok(written) => break written.data.index,
                Err(e) if e.forward_to_leader().is_some() && tokio::time::Instant::now() < deadline => continue,
                Err(e) => panic!("write {n} through leader {id}: {e}"),
            }
        };
    }
    last
}

/// Waits until every node has applied `index`, then checks they hold the same tree.
async fn converged(nodes: &BTreeMap<u64, Node>, index: u64) {
    for node in nodes.values() {
        node.raft
            .wait(Some(Duration::from_secs(10)))
            .applied_index_at_least(Some(index), "applied")
            .await
            .expect("every node applies the write");
    }
    let digests: Vec<(i64, u64)> = nodes.values().map(Node::digest).collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "one state everywhere: {digests:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_tcp_replicate_fail_over_and_catch_up_a_newcomer_by_snapshot() {
    let mut listeners = Vec::new();
    let mut members = BTreeMap::new();
    for id in 1..=3u64 {
        let (listener, addr) = listener().await;
        listeners.push((id, listener));
        members.insert(id, PeerNode::new(addr));
    }
    let mut nodes = BTreeMap::new();
    for (id, listener) in listeners {
        nodes.insert(id, start(id, listener).await);
    }
    nodes[&1].raft.initialize(members.clone()).await.expect("initialize the cluster");

    let index = write(&nodes, 0..30).await;
    converged(&nodes, index).await;
    assert!(nodes.values().all(|n| n.tree.read().is_ok_and(|t| t.get("/n29").is_some())));

    // The log before the last snapshot is purged (every member has it, so the leader may purge): a new
    // member can only catch up from a snapshot.
    let leader_id = leader(&nodes).await;
    nodes[&leader_id].raft.trigger().snapshot().await.expect("snapshot");
    let snapshot = nodes[&leader_id]
        .raft
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.snapshot.is_some(), "a snapshot")
        .await
        .expect("the snapshot is built")
        .snapshot;
    nodes[&leader_id]
        .raft
        .wait(Some(Duration::from_secs(10)))
        .purged(snapshot, "purged")
        .await
        .expect("the log is purged up to the snapshot");
    let (listener, addr) = listener().await;
    nodes.insert(4, start(4, listener).await);
    nodes[&leader_id].raft.add_learner(4, PeerNode::new(addr), true).await.expect("the learner catches up");
    let index = write(&nodes, 30..35).await;
    converged(&nodes, index).await;
    let newcomer = nodes[&4].raft.metrics().borrow_watched().snapshot;
    assert!(newcomer.is_some(), "the newcomer was sent a snapshot, not the purged log");

    // Kill the leader: the other voters elect a new one and go on; the learner follows.
    let old = leader(&nodes).await;
    if let Some(node) = nodes.remove(&old) {
        node.stop().await;
    }
    let index = write(&nodes, 35..60).await;
    converged(&nodes, index).await;

    for (_, node) in nodes {
        node.stop().await;
    }
}
