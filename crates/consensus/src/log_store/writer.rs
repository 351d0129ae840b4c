//! The log writer thread: the only code that changes the WAL or the meta file, one operation at a time in
//! the order openraft issued them ("all write-IO must be serialized", `RaftLogStorage`).
//!
//! Appends are written as they arrive and made durable together: when the queue runs dry (or
//! `GROUP_LIMIT` appends wait), one fsync covers them all and only then are their `IOFlushed` callbacks
//! called. Every other write first flushes the appends queued before it, so nothing later ever becomes
//! durable before something earlier.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use openraft::storage::IOFlushed;
use paddock_storage::Wal;
use paddock_storage::archive_gate::ArchiveGate;
use tracing::{error, warn};

use super::{Command, Op, Shared};
use crate::envelope;
use crate::failpoint::io_failpoint;
use crate::meta::{self, Meta};
use crate::types::{Entry, LogId, TypeConfig};

/// Appends acknowledged by one fsync at most: beyond this the writer flushes even though more are queued,
/// so a steady stream of appends cannot hold back the callbacks of the first ones.
const GROUP_LIMIT: usize = 1024;

/// The committed id is a hint for restart (openraft re-applies up to it); a lagging value is safe, a
/// meta-file write (three fsyncs) for every commit is not affordable. It is written at most this often,
/// and with every vote and purge, and at exit.
const COMMITTED_SAVE_INTERVAL: Duration = Duration::from_millis(100);

pub(super) fn spawn(
    wal: Wal,
    dir: PathBuf,
    meta: Meta,
    shared: Arc<Shared>,
    rx: Receiver<Command>,
    archive_gate: Option<Arc<ArchiveGate>>,
) -> io::Result<()> {
    let writer = Writer {
        wal,
        archive_gate,
        dir,
        meta,
        committed_dirty: false,
        last_meta_write: Instant::now(),
        pending: Vec::new(),
        failed: None,
        shared,
        rx,
    };
    std::thread::Builder::new().name("raft-log-writer".into()).spawn(move || writer.run()).map(drop)
}

struct Writer {
    wal: Wal,
    /// With continuous archiving on: segments holding entries not yet archived outlive purges (up to the cap).
    archive_gate: Option<Arc<ArchiveGate>>,
    dir: PathBuf,
    /// What the meta file holds, except a newer `committed` while `committed_dirty`.
    meta: Meta,
    committed_dirty: bool,
    last_meta_write: Instant,
    /// Callbacks of appends written but not yet fsynced.
    pending: Vec<IOFlushed<TypeConfig>>,
    /// The first failure; from then on every write is refused.
    failed: Option<String>,
    shared: Arc<Shared>,
    rx: Receiver<Command>,
}

impl Writer {
    fn run(mut self) {
        while let Some(command) = self.next_command() {
            self.handle(command.op);
        }
        // Every handle is gone: make what was appended durable and keep the latest committed id.
        self.flush();
        if self.committed_dirty && self.failed.is_none() {
            self.durable_step(Writer::write_meta).unwrap_or_else(|e| warn!("saving the committed log id: {e}"));
        }
        self.shared.mark_exited();
    }

    /// The next operation, flushing appends when the queue is empty and saving the committed id when due.
    /// `None` once every sender is gone.
    fn next_command(&mut self) -> Option<Command> {
        loop {
            if !self.pending.is_empty() {
                if self.pending.len() >= GROUP_LIMIT {
                    self.flush();
                    continue;
                }
                match self.rx.try_recv() {
                    Ok(command) => return Some(command),
                    Err(TryRecvError::Empty) => self.flush(),
                    Err(TryRecvError::Disconnected) => return None,
                }
                continue;
            }
            if self.committed_dirty && self.failed.is_none() {
                let wait = COMMITTED_SAVE_INTERVAL.saturating_sub(self.last_meta_write.elapsed());
                match self.rx.recv_timeout(wait) {
                    Ok(command) => return Some(command),
                    Err(RecvTimeoutError::Timeout) => {
                        let _ = self.durable_step(Writer::write_meta);
                    }
                    Err(RecvTimeoutError::Disconnected) => return None,
                }
                continue;
            }
            return self.rx.recv().ok();
        }
    }

    fn handle(&mut self, op: Op) {
        match op {
            Op::Append { records, done } => self.append(records, done),
            Op::Read { start, end, reply } => {
                let _ = reply.send(self.read(start, end));
            }
            Op::SaveCommitted(committed) => {
                self.meta.committed = committed;
                self.committed_dirty = true;
            }
            Op::Flush { reply } => {
                let result = self.durable_step(|w| if w.committed_dirty { w.write_meta() } else { Ok(()) });
                let _ = reply.send(result);
            }
            Op::SaveVote { vote, reply } => {
                let result = self.durable_step(|w| {
                    w.meta.vote = Some(vote);
                    w.write_meta()
                });
                let _ = reply.send(result);
            }
            Op::Truncate { after, reply } => {
                let _ = reply.send(self.durable_step(|w| w.truncate(after)));
            }
            Op::Purge { upto, reply } => {
                let _ = reply.send(self.durable_step(|w| w.purge(upto)));
            }
        }
    }

    fn append(&mut self, records: Vec<(u64, Vec<u8>)>, done: IOFlushed<TypeConfig>) {
        if let Err(e) = self.refuse_if_failed() {
            return done.io_completed(Err(e));
        }
        // The whole batch in one write (per segment): a syscall per entry was a tenth of a follower's CPU.
        if let Err(e) = write_records(&mut self.wal, &records) {
            self.fail(&e);
            return done.io_completed(Err(e));
        }
        self.pending.push(done);
    }

    /// One fsync for every append written since the last: then, and only then, their callbacks.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        match sync(&mut self.wal) {
            Ok(()) => {
                self.shared.view().evict(self.wal.last_index());
                for done in self.pending.drain(..) {
                    done.io_completed(Ok(()));
                }
            }
            Err(e) => self.fail(&e),
        }
    }

    /// Runs a write other than an append: after the appends queued before it are durable, and only while
    /// nothing has failed. A failure fails the store.
    fn durable_step(&mut self, step: impl FnOnce(&mut Writer) -> io::Result<()>) -> io::Result<()> {
        self.flush();
        self.refuse_if_failed()?;
        step(self).inspect_err(|e| self.fail(e))
    }

    fn truncate(&mut self, after: Option<u64>) -> io::Result<()> {
        before_truncate(&self.dir)?;
        match after {
            Some(index) => self.wal.truncate_after(index),
            None => self.wal.clear(),
        }
        .map_err(io::Error::other)
    }

    /// Persists the purged id first, so that a crash part way never forgets what was purged, then deletes
    /// whole sealed segments, except those the archive still needs (openraft no longer reads them: they are
    /// left for the archiver). A purge that covers the whole log (after a snapshot install) empties it: the
    /// next entry follows the snapshot, not the log's last record.
    fn purge(&mut self, upto: LogId) -> io::Result<()> {
        if self.meta.purged.is_some_and(|p| p.index >= upto.index) {
            return Ok(());
        }
        self.meta.purged = Some(upto);
        self.write_meta()?;
        before_purge(&self.dir)?;
        let whole_log = self.wal.last_index().is_none_or(|last| last <= upto.index);
        if whole_log {
            self.wal.clear().map_err(io::Error::other)
        } else {
            let wanted = upto.index + 1;
            let below = match &self.archive_gate {
                Some(gate) => gate.purge_below(wanted, &self.wal.segments()),
                None => wanted,
            };
            self.wal.purge_before(below).map(drop).map_err(io::Error::other)
        }
    }

    fn write_meta(&mut self) -> io::Result<()> {
        meta::write(&self.dir, &self.meta)?;
        self.committed_dirty = false;
        self.last_meta_write = Instant::now();
        Ok(())
    }

    /// Entries `start..end` (already clipped by the caller, but clipped again here against the view as it is
    /// now): the older ones from disk, the rest from the cache. Every entry in the range must come back.
    fn read(&self, start: u64, end: u64) -> io::Result<Vec<Entry>> {
        let (start, end, cache_first, cached) = {
            let view = self.shared.view();
            let (start, end) = view.clip(&(start..end));
            let cache_first = view.cache_first().max(start);
            (start, end, cache_first, view.cached(cache_first, end))
        };
        let disk_end = end.min(cache_first);
        let mut entries = Vec::new();
        self.wal
            .read_range(start, disk_end, |index, payload| {
                let entry = envelope::decode(index, payload)
                    .map_err(|e| paddock_storage::StorageError::Corrupt(e.to_string()))?;
                entries.push(entry);
                Ok(())
            })
            .map_err(io::Error::other)?;
        let expected = disk_end.saturating_sub(start);
        if entries.len() as u64 != expected {
            return Err(io::Error::other(format!(
                "the Raft log returned {} entries from disk for {start}..{disk_end}",
                entries.len()
            )));
        }
        entries.extend(cached);
        Ok(entries)
    }

    fn refuse_if_failed(&self) -> io::Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(cause) => Err(io::Error::other(format!("the Raft log store failed earlier: {cause}"))),
        }
    }

    /// The first failure: refuse everything from now on, and fail every append still waiting for its fsync.
    fn fail(&mut self, e: &io::Error) {
        if self.failed.is_none() {
            error!("Raft log storage failed; this node stops voting and accepting entries until restart: {e}");
            self.failed = Some(e.to_string());
            self.shared.view().failed = Some(e.to_string());
        }
        for done in self.pending.drain(..) {
            done.io_completed(Err(io::Error::other(format!("not durable: {e}"))));
        }
    }
}

fn write_records(wal: &mut Wal, records: &[(u64, Vec<u8>)]) -> io::Result<()> {
    io_failpoint!("raftlog::before_append", wal.dir());
    wal.append_all(records).map_err(io::Error::other)
}

fn sync(wal: &mut Wal) -> io::Result<()> {
    io_failpoint!("raftlog::before_fsync", wal.dir());
    wal.sync().map_err(io::Error::other)
}

fn before_truncate(dir: &Path) -> io::Result<()> {
    io_failpoint!("raftlog::before_truncate", dir);
    Ok(())
}

fn before_purge(dir: &Path) -> io::Result<()> {
    io_failpoint!("raftlog::before_purge", dir);
    Ok(())
}
