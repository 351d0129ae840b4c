//! openraft's own storage test suite against the WAL-backed log store and the tree state machine.

use paddock_consensus::openraft::StorageError;
use paddock_consensus::openraft::testing::log::{StoreBuilder, Suite};
use paddock_consensus::replica::{CommittedTxn, ProxyStateMachine, TreeOwner};
use paddock_consensus::{LogStore, StateMachine, TypeConfig, WriterExit};
use tempfile::TempDir;

use crate::common::wal_options;

/// Removes the directory only after the store's writer thread has exited (the suite drops the store
/// first), so no write of the writer ever races the removal.
struct Guard {
    exit: WriterExit,
    _dir: TempDir,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.exit.wait();
    }
}

struct WalStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, Guard> for WalStoreBuilder {
    async fn build(&self) -> Result<(Guard, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LogStore::open(dir.path(), wal_options()).expect("open the log store");
        let sm = StateMachine::open(&dir.path().join("snap"), None).expect("open the state machine");
        let guard = Guard { exit: store.writer_exit(), _dir: dir };
        Ok((guard, store, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite() {
    Suite::test_all(WalStoreBuilder).await.expect("openraft's storage suite passes");
}

/// The tree as the server's core owns it, reduced to what the suite needs: entries applied in order (a bad
/// entry is skipped, as the core logs and skips it), frozen copies, installs.
#[derive(Default)]
struct LocalOwner {
    tree: std::sync::Mutex<paddock_tree::DataTree>,
}

impl LocalOwner {
    fn tree(&self) -> std::sync::MutexGuard<'_, paddock_tree::DataTree> {
        self.tree.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TreeOwner for LocalOwner {
    async fn apply(&self, txns: Vec<CommittedTxn>, _applied: u64) {
        let mut tree = self.tree();
        for txn in txns {
            let _ = tree.apply_entry(txn.index as i64, &txn.payload);
        }
    }

    async fn freeze(&self) -> std::io::Result<paddock_tree::DataTree> {
        Ok(self.tree().clone())
    }

    async fn install(&self, tree: paddock_tree::DataTree) {
        *self.tree() = tree;
    }
}

struct ProxyStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, ProxyStateMachine<LocalOwner>, Guard> for ProxyStoreBuilder {
    async fn build(&self) -> Result<(Guard, LogStore, ProxyStateMachine<LocalOwner>), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LogStore::open(dir.path(), wal_options()).expect("open the log store");
        let owner = std::sync::Arc::new(LocalOwner::default());
        let sm = ProxyStateMachine::open(owner, dir.path().join("snap")).await.expect("open the state machine");
        let guard = Guard { exit: store.writer_exit(), _dir: dir };
        Ok((guard, store, sm))
    }
}

/// The same suite against the state machine servers run: it hands entries to the tree's owner (the core).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite_on_the_servers_state_machine() {
    Suite::test_all(ProxyStoreBuilder).await.expect("openraft's storage suite passes");
}

/// A normal entry creating `/n<index>`.
fn create_entry(index: u64) -> paddock_consensus::Entry {
    use paddock_tree::{Txn, TxnOp};
    let op = TxnOp::Create {
        path: format!("/n{index}"),
        data: Some(Vec::new()),
        acl: paddock_proto::Acl::open_unsafe(),
        mode: paddock_proto::CreateMode::Persistent,
        ttl: 0,
    };
    let txn = Txn { origin: Default::default(), time: 1, session_id: 0, auth: Vec::new(), op };
    paddock_consensus::Entry {
        log_id: paddock_consensus::log_id(1, index),
        payload: paddock_consensus::openraft::EntryPayload::Normal(paddock_consensus::TxnBytes(txn.encode())),
    }
}

async fn apply(sm: &mut ProxyStateMachine<LocalOwner>, indexes: std::ops::RangeInclusive<u64>) {
    use paddock_consensus::openraft::storage::RaftStateMachine;
    let entries: Vec<Result<_, std::io::Error>> = indexes.map(|i| Ok((create_entry(i), None))).collect();
    sm.apply(futures_util::stream::iter(entries)).await.expect("apply");
}

/// openraft builds a snapshot in a task of its own while the state machine goes on applying: the snapshot
/// must hold the tree as of its own last log id, not entries applied after the builder was made (a server
/// restarted from such a snapshot was handed those entries again, refused them and stopped serving).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_holds_exactly_the_entries_up_to_its_last_log_id() {
    use paddock_consensus::openraft::RaftSnapshotBuilder;
    use paddock_consensus::openraft::storage::RaftStateMachine;
    let dir = tempfile::tempdir().expect("temp dir");
    let owner = std::sync::Arc::new(LocalOwner::default());
    let mut sm = ProxyStateMachine::open(owner, dir.path().join("snap")).await.expect("open the state machine");
    apply(&mut sm, 1..=3).await;
    let mut builder = sm.get_snapshot_builder().await;
    apply(&mut sm, 4..=5).await;
    let snapshot = builder.build_snapshot().await.expect("build the snapshot");
    assert_eq!(snapshot.meta.last_log_id.map(|id| id.index), Some(3));
    let tree = paddock_tree::DataTree::read_snapshot(&mut snapshot.snapshot.as_bytes()).expect("decode");
    assert_eq!(tree.last_zxid(), 3, "the snapshot holds entries past its last log id");
    assert!(tree.get("/n3").is_some() && tree.get("/n4").is_none());
}
