//! openraft's own storage test suite against the WAL-backed log store and the tree state machine.

use paddock_consensus::openraft::StorageError;
use paddock_consensus::openraft::testing::log::{StoreBuilder, Suite};
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
