//! Reopening a log store from disk: the vote, the committed id, the log state and the entries come back
//! exactly, across purges and truncations; a purge past the end of the log survives a restart.

use paddock_consensus::openraft::storage::{RaftLogStorage, RaftStateMachine};
use paddock_consensus::openraft::{LogState, RaftLogReader, RaftSnapshotBuilder};
use paddock_consensus::{LogStore, StateMachine, TxnBytes, Vote, log_id};
use paddock_proto::{Acl, CreateMode};
use paddock_tree::{ProposalId, Txn, TxnOp};

use crate::common::{append, blank, close, membership, mixed_entries, normal, open};

async fn log_state(store: &mut LogStore) -> LogState<paddock_consensus::TypeConfig> {
    store.get_log_state().await.expect("log state")
}

#[tokio::test]
async fn vote_committed_state_and_entries_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let entries = mixed_entries(40);
    let mut vote = Vote::new(6, 2);
    vote.committed = true;
    {
        let mut store = open(dir.path());
        append(&mut store, entries[..25].to_vec()).await.expect("append");
        append(&mut store, entries[25..].to_vec()).await.expect("append");
        store.save_vote(&vote).await.expect("save vote");
        store.save_committed(Some(entries[30].log_id)).await.expect("save committed");
        store.purge(entries[9].log_id).await.expect("purge");
        store.truncate_after(Some(entries[35].log_id)).await.expect("truncate");
        close(store);
    }
    let segments_left = std::fs::read_dir(dir.path()).expect("list").count();

    let mut store = open(dir.path());
    let state = log_state(&mut store).await;
    assert_eq!(state.last_purged_log_id, Some(entries[9].log_id));
    assert_eq!(state.last_log_id, Some(entries[35].log_id), "the last log id comes back with its term");
    assert_eq!(store.read_committed().await.expect("committed"), Some(entries[30].log_id));
    let mut reader = store.get_log_reader().await;
    assert_eq!(reader.read_vote().await.expect("vote"), Some(vote));
    let read = reader.try_get_log_entries(0..100).await.expect("read");
    assert_eq!(read, entries[10..=35].to_vec(), "exactly the entries after the purge, up to the truncation");
    assert!(segments_left > 3, "small segments: the log spans several files ({segments_left})");

    // The reopened log continues where it ended.
    let next = normal(9, 36, b"after restart");
    append(&mut store, vec![next.clone()]).await.expect("append after restart");
    assert_eq!(reader.try_get_log_entries(36..37).await.expect("read"), vec![next]);
    drop(reader);
    close(store);
}

#[tokio::test]
async fn a_purge_past_the_end_of_the_log_empties_it_and_the_log_continues_after_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let mut store = open(dir.path());
        append(&mut store, mixed_entries(12)).await.expect("append");
        // A snapshot installed up to 50 makes openraft purge a log that ends at 11.
        store.purge(log_id(4, 50)).await.expect("purge past the end");
        let state = log_state(&mut store).await;
        assert_eq!((state.last_purged_log_id, state.last_log_id), (Some(log_id(4, 50)), Some(log_id(4, 50))));
        close(store);
    }
    let mut store = open(dir.path());
    let state = log_state(&mut store).await;
    assert_eq!((state.last_purged_log_id, state.last_log_id), (Some(log_id(4, 50)), Some(log_id(4, 50))));
    let mut reader = store.get_log_reader().await;
    assert!(reader.try_get_log_entries(0..100).await.expect("read").is_empty());
    drop(reader);
    append(&mut store, vec![normal(5, 51, b"after the snapshot")]).await.expect("the log continues at 51");
    close(store);

    let mut store = open(dir.path());
    assert_eq!(log_state(&mut store).await.last_log_id, Some(log_id(5, 51)));
    let mut reader = store.get_log_reader().await;
    assert_eq!(reader.try_get_log_entries(0..100).await.expect("read"), vec![normal(5, 51, b"after the snapshot")]);
    drop(reader);
    close(store);
}

#[tokio::test]
async fn old_entries_are_read_back_from_disk_after_the_cache_lets_them_go() {
    // Entries large enough that the cache (64 MiB) cannot hold them all: the oldest must come from disk.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = LogStore::open(
        dir.path(),
        paddock_storage::WalOptions { segment_bytes: 8 << 20, fsync: false, preallocate: false },
    )
    .expect("open");
    let big = vec![7u8; 1 << 20];
    let entries: Vec<_> = (0..80).map(|i| normal(1, i, &big)).collect();
    for chunk in entries.chunks(10) {
        append(&mut store, chunk.to_vec()).await.expect("append");
    }
    let mut reader = store.get_log_reader().await;
    let read = reader.try_get_log_entries(0..80).await.expect("read");
    assert_eq!(read.len(), 80);
    assert!(read.iter().zip(&entries).all(|(a, b)| a == b), "every entry reads back as written");
    drop(reader);
    close(store);
}

fn create(index: u64) -> paddock_consensus::Entry {
    let txn = Txn {
        origin: ProposalId { node: 1, seq: index },
        time: 5_000 + index as i64,
        session_id: 0,
        auth: Vec::new(),
        op: TxnOp::Create {
            path: format!("/z{index}"),
            data: Some(vec![1, 2, 3]),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
            ttl: 0,
        },
    };
    normal(2, index, &TxnBytes(txn.encode()).0)
}

async fn apply(sm: &mut StateMachine, entries: Vec<paddock_consensus::Entry>) {
    let stream = futures_util::stream::iter(entries.into_iter().map(|e| Ok((e, None))));
    sm.apply(stream).await.expect("apply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_machine_restarts_from_its_newest_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (digest, applied) = {
        let mut sm = StateMachine::open(dir.path(), None).expect("open");
        apply(&mut sm, vec![membership(1, 0, &[1, 2, 3]), blank(2, 1), create(2), create(3)]).await;
        sm.get_snapshot_builder().await.build_snapshot().await.expect("first snapshot");
        apply(&mut sm, vec![create(4), blank(3, 5), create(6)]).await;
        let snapshot = sm.get_snapshot_builder().await.build_snapshot().await.expect("second snapshot");
        assert_eq!(snapshot.meta.last_log_id, Some(log_id(2, 6)));
        let digest = sm.tree().read().expect("tree").digest();
        (digest, sm.applied_state().await.expect("applied state"))
    };

    let mut sm = StateMachine::open(dir.path(), None).expect("reopen");
    assert_eq!(sm.applied_state().await.expect("applied state"), applied, "applied id and membership come back");
    assert_eq!(sm.tree().read().expect("tree").digest(), digest, "the tree comes back");
    assert_eq!(sm.tree().read().expect("tree").stat("/z6").map(|s| s.czxid), Some(6), "zxid = log index");
    let current = sm.get_current_snapshot().await.expect("current").expect("a snapshot");
    assert_eq!(current.meta.last_log_id, Some(log_id(2, 6)));

    // Installing that snapshot on a fresh state machine persists it there too.
    let other = tempfile::tempdir().expect("temp dir");
    let mut fresh = StateMachine::open(other.path(), None).expect("open");
    fresh.install_snapshot(&current.meta, current.snapshot).await.expect("install");
    drop(fresh);
    let mut fresh = StateMachine::open(other.path(), None).expect("reopen");
    assert_eq!(fresh.applied_state().await.expect("applied state"), applied);
    assert_eq!(fresh.tree().read().expect("tree").digest(), digest);
}

#[tokio::test]
async fn entries_stream_reads_a_long_log_whole_from_disk_and_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = open(dir.path());
    let entries = mixed_entries(2500);
    for chunk in entries.chunks(500) {
        append(&mut store, chunk.to_vec()).await.expect("append");
    }
    close(store);
    // Reopened, the cache is empty: the first chunks come from disk, the last after new appends from memory.
    let mut store = open(dir.path());
    append(&mut store, vec![normal(400, 2500, b"in the cache")]).await.expect("append");
    let mut reader = store.get_log_reader().await;
    let streamed: Vec<_> = futures_util::StreamExt::collect::<Vec<_>>(reader.entries_stream(3..).await).await;
    let streamed: Vec<_> = streamed.into_iter().map(|e| e.expect("every entry reads")).collect();
    let mut expected = entries[3..].to_vec();
    expected.push(normal(400, 2500, b"in the cache"));
    assert_eq!(streamed, expected, "every entry from 3 on, in order, across read chunks");
    drop(reader);
    close(store);
}

/// The committed id is saved lazily while running; a flush at shutdown makes it durable at once, even while
/// other handles keep the writer thread running (a process that exits right after its shutdown).
#[tokio::test]
async fn a_flush_makes_the_latest_committed_id_durable_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let entries = mixed_entries(5);
    let mut store = open(dir.path());
    append(&mut store, entries.clone()).await.expect("append");
    store.save_committed(Some(entries[4].log_id)).await.expect("save committed");
    store.log_flush().flush().await.expect("flush");
    // The process "exits" here: the writer thread never gets to run its exit path.
    std::mem::forget(store);

    let mut reopened = open(dir.path());
    assert_eq!(reopened.read_committed().await.expect("committed"), Some(entries[4].log_id));
    close(reopened);
}
