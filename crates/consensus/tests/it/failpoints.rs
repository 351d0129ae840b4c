//! Injected disk failures (docs/format.md, 4 and 6.3): whichever durability step fails, the write that hit
//! it is not acknowledged, the store refuses every later write and vote until restart, and the reopened
//! store holds a consistent log that continues.
//!
//! Needs `--features failpoints`. Each test holds a `FailScenario` (the failpoint registry is global) and
//! scopes this crate's failpoints to its own store, so the other tests of the binary run undisturbed.

use std::io;
use std::path::Path;

use fail::FailScenario;
use paddock_consensus::openraft::RaftLogReader;
use paddock_consensus::openraft::storage::RaftLogStorage;
use paddock_consensus::{LogStore, Vote, log_id, set_failpoint_scope};

use crate::common::{append, close, mixed_entries, normal, open};

/// Which operation reaches a failpoint.
#[derive(Clone, Copy, Debug)]
enum Step {
    Append,
    Vote,
    Truncate,
    Purge,
}

const CASES: [(&str, Step); 8] = [
    ("raftlog::before_append", Step::Append),
    ("raftlog::before_fsync", Step::Append),
    ("raftmeta::before_write", Step::Vote),
    ("raftmeta::before_fsync", Step::Vote),
    ("raftmeta::before_rename", Step::Vote),
    ("raftmeta::before_dir_fsync", Step::Vote),
    ("raftlog::before_truncate", Step::Truncate),
    ("raftlog::before_purge", Step::Purge),
];

async fn run(store: &mut LogStore, step: Step) -> io::Result<()> {
    match step {
        Step::Append => append(store, vec![normal(3, 20, b"not durable")]).await,
        Step::Vote => store.save_vote(&Vote::new(9, 2)).await,
        Step::Truncate => store.truncate_after(Some(log_id(2, 15))).await,
        Step::Purge => store.purge(log_id(1, 6)).await,
    }
}

/// A store with entries 0..20 and a vote for term 5.
async fn seeded(dir: &Path) -> LogStore {
    let mut store = open(dir);
    append(&mut store, mixed_entries(20)).await.expect("seed entries");
    store.save_vote(&Vote::new(5, 1)).await.expect("seed vote");
    store
}

async fn assert_refuses_writes(store: &mut LogStore, name: &str) {
    assert!(store.failure().is_some(), "{name}: the store records its failure");
    assert!(append(store, vec![normal(3, 21, b"x")]).await.is_err(), "{name}: appends are refused");
    assert!(store.save_vote(&Vote::new(10, 3)).await.is_err(), "{name}: votes are refused");
    assert!(store.truncate_after(Some(log_id(1, 3))).await.is_err(), "{name}: truncation is refused");
}

/// After a restart: a vote from before or (only if the failure came after the rename) the new one, a log
/// that reads back whole from its first index to its last, and appends that continue it.
async fn assert_consistent_after_restart(dir: &Path, name: &str) {
    let mut store = open(dir);
    let mut reader = store.get_log_reader().await;
    let vote = reader.read_vote().await.expect("read vote");
    let allowed = if name == "raftmeta::before_dir_fsync" {
        vec![Vote::new(5, 1), Vote::new(9, 2)]
    } else {
        vec![Vote::new(5, 1)]
    };
    assert!(vote.is_some_and(|v| allowed.contains(&v)), "{name}: vote after restart is {vote:?}");
    let state = store.get_log_state().await.expect("log state");
    let last = state.last_log_id.expect("entries survive").index;
    assert!(last >= 15, "{name}: durable entries survive (last {last})");
    let first = state.last_purged_log_id.map_or(0, |p| p.index + 1);
    let entries = reader.try_get_log_entries(0..=last).await.expect("read the whole log");
    let indexes: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
    assert_eq!(indexes, (first..=last).collect::<Vec<_>>(), "{name}: the log reads back whole");
    drop(reader);
    append(&mut store, vec![normal(7, last + 1, b"after restart")]).await.expect("appends continue");
    close(store);
}

#[tokio::test]
async fn every_durability_failpoint_stops_the_store_until_restart() {
    let scenario = FailScenario::setup();
    for (name, step) in CASES {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = seeded(dir.path()).await;
        set_failpoint_scope(Some(dir.path()));
        fail::cfg(name, "return(eio)").expect("configure failpoint");
        let result = run(&mut store, step).await;
        fail::remove(name);
        set_failpoint_scope(None);
        assert!(result.is_err(), "{name}: the failed {step:?} is reported, not acknowledged");
        assert_refuses_writes(&mut store, name).await;
        close(store);
        assert_consistent_after_restart(dir.path(), name).await;
    }
    scenario.teardown();
}
