//! Reopening a log store from disk: the vote, the committed id, the log state and the entries come back
//! exactly, across purges and truncations; a purge past the end of the log survives a restart.

use paddock_consensus::openraft::storage::RaftLogStorage;
use paddock_consensus::openraft::{LogState, RaftLogReader};
use paddock_consensus::{LogStore, Vote, log_id};

use crate::common::{append, close, mixed_entries, normal, open};

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
