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
