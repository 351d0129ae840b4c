//! Shared helpers: opening stores in temp dirs, appending and waiting for durability, building entries.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use paddock_consensus::openraft::storage::{IOFlushed, RaftLogStorage};
use paddock_consensus::openraft::type_config::TypeConfigExt;
use paddock_consensus::openraft::{EntryPayload, Membership};
use paddock_consensus::{Entry, LogStore, TxnBytes, TypeConfig, WriterExit, log_id};
use paddock_storage::WalOptions;

/// Small segments, so that a few entries span several of them and purge deletes whole files; real fsyncs.
pub fn wal_options() -> WalOptions {
    WalOptions { segment_bytes: 256, fsync: true, preallocate: false }
}

pub fn open(dir: &Path) -> LogStore {
    LogStore::open(dir, wal_options()).expect("open the log store")
}

/// Drops the store and waits for its writer thread, so the directory can be opened again. Every reader
/// taken from the store must be dropped first: the writer runs while any handle is left.
pub fn close(store: LogStore) {
    let exit: WriterExit = store.writer_exit();
    drop(store);
    exit.wait();
}

/// Appends and waits until the entries are durable (or the store reports that they are not).
pub async fn append(store: &mut LogStore, entries: Vec<Entry>) -> io::Result<()> {
    let (tx, rx) = TypeConfig::oneshot();
    store.append(entries, IOFlushed::signal(tx)).await?;
    rx.await.map_err(|_| io::Error::other("the flush callback was dropped"))?
}

pub fn blank(term: u64, index: u64) -> Entry {
    Entry { log_id: log_id(term, index), payload: EntryPayload::Blank }
}

pub fn normal(term: u64, index: u64, bytes: &[u8]) -> Entry {
    Entry { log_id: log_id(term, index), payload: EntryPayload::Normal(TxnBytes(bytes.to_vec())) }
}

pub fn membership(term: u64, index: u64, voters: &[u64]) -> Entry {
    let voters: BTreeSet<u64> = voters.iter().copied().collect();
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Membership(Membership::new_with_defaults(vec![voters], [])),
    }
}

/// A mixed log: a membership entry at 0, then blank entries at term changes and normal ones in between.
pub fn mixed_entries(count: u64) -> Vec<Entry> {
    (0..count)
        .map(|i| match i {
            0 => membership(1, 0, &[1, 2, 3]),
            i if i % 7 == 1 => blank(1 + i / 7, i),
            i => normal(1 + i / 7, i, format!("payload of entry {i}").as_bytes()),
        })
        .collect()
}
