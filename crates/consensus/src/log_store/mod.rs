//! openraft's log storage (`RaftLogStorage` + `RaftLogReader`) on Paddock's WAL.
//!
//! One writer thread owns the [`Wal`] and the meta file and performs every write in the order openraft
//! issued it: appends (group-committed: one fsync for all the appends that queued up meanwhile, and the
//! `IOFlushed` callbacks only after it), truncation, purge, votes (`writer.rs`). The async side
//! (`LogStore`, `LogReader`) updates the shared [`View`] at once and queues the disk work. Reads are served
//! from the view's cache of the newest entries, or by the writer thread from disk for older ones.
//!
//! A failed write, fsync, truncate, purge or meta write makes the store refuse every later write, vote
//! included, until the process restarts: a node whose disk failed stops voting and accepting entries
//! rather than acknowledge what may not be durable (docs/format.md, 6.3).
//!
//! Entries are WAL records whose index is the log index and whose payload is the consensus envelope
//! (`crate::envelope`); the vote, committed and last purged ids are in `raft.meta` beside the segments.

mod reader;
mod view;
mod writer;

use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use paddock_storage::archive_gate::ArchiveGate;
use paddock_storage::{Wal, WalOptions};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

pub use reader::LogReader;
use view::View;

use crate::envelope;
use crate::meta;
use crate::types::{Entry, LogId, TypeConfig, Vote};

/// Operations waiting for the writer thread. openraft already limits how much log IO it has in flight; this
/// bound only keeps a stalled disk from growing memory without limit (each slot holds at most one append
/// batch), and makes callers wait instead.
const QUEUE_SLOTS: usize = 1024;

/// openraft's log store on the WAL in one directory. openraft owns the one store of a node; replication
/// tasks read through `LogReader`s taken from it.
pub struct LogStore {
    shared: Arc<Shared>,
    queue: Queue,
    buf: Vec<u8>,
}

/// The writer thread's exit, to wait for before the directory is opened again.
#[derive(Clone)]
pub struct WriterExit(Arc<Shared>);

/// A handle to make the store's lazily saved state durable at shutdown: the committed id is written at most
/// every 100 ms while running, and a member that stops before that would restart without re-applying
/// entries it knew were committed (cut off from its leader, it could not learn them again).
#[derive(Clone)]
pub struct LogFlush(Queue);

impl LogFlush {
    /// Waits until every write queued before it, and the newest committed id, are durable.
    pub async fn flush(&self) -> io::Result<()> {
        self.0.call(|reply| Op::Flush { reply }).await
    }
}

pub(crate) struct Shared {
    view: Mutex<View>,
    exited: Mutex<bool>,
    exit: Condvar,
}

impl Shared {
    fn view(&self) -> MutexGuard<'_, View> {
        // A panic while holding the lock leaves the view as it was between two statements; every update
        // keeps it consistent, so it stays usable.
        self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mark_exited(&self) {
        *self.exited.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.exit.notify_all();
    }
}

impl WriterExit {
    /// Blocks until the writer thread has flushed what it held and exited. It exits once the store and
    /// every reader are dropped (for a running node: after `Raft::shutdown`). It blocks the calling thread:
    /// from async code, call it through `spawn_blocking`.
    pub fn wait(&self) {
        let mut exited = self.0.exited.lock().unwrap_or_else(PoisonError::into_inner);
        while !*exited {
            exited = self.0.exit.wait(exited).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Work for the writer thread. Replies go back through oneshot channels.
pub(crate) enum Op {
    Append {
        records: Vec<(u64, Vec<u8>)>,
        done: IOFlushed<TypeConfig>,
    },
    Truncate {
        after: Option<u64>,
        reply: oneshot::Sender<io::Result<()>>,
    },
    Purge {
        upto: LogId,
        reply: oneshot::Sender<io::Result<()>>,
    },
    SaveVote {
        vote: Vote,
        reply: oneshot::Sender<io::Result<()>>,
    },
    /// Persisted lazily (writer.rs says when); no reply.
    SaveCommitted(Option<LogId>),
    /// Makes every queued write durable and saves the committed id now.
    Flush {
        reply: oneshot::Sender<io::Result<()>>,
    },
    Read {
        start: u64,
        end: u64,
        reply: oneshot::Sender<io::Result<Vec<Entry>>>,
    },
}

pub(crate) struct Command {
    op: Op,
    /// Returned to the queue's semaphore when the writer is done with the command.
    _slot: OwnedSemaphorePermit,
}

/// The sending side of the writer's queue, bounded by `QUEUE_SLOTS`.
#[derive(Clone)]
pub(crate) struct Queue {
    tx: mpsc::Sender<Command>,
    slots: Arc<Semaphore>,
}

impl Queue {
    async fn send(&self, op: Op) -> io::Result<()> {
        let slot = self.slots.clone().acquire_owned().await.map_err(|_| writer_gone())?;
        self.tx.send(Command { op, _slot: slot }).map_err(|_| writer_gone())
    }

    async fn call<T>(&self, op: impl FnOnce(oneshot::Sender<io::Result<T>>) -> Op) -> io::Result<T> {
        let (reply, answer) = oneshot::channel();
        self.send(op(reply)).await?;
        answer.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> io::Error {
    io::Error::other("the Raft log writer thread is gone")
}

impl LogStore {
    /// Opens (creating it if needed) the log in `dir`: the WAL's recovery rules apply (docs/format.md, 2.4),
    /// then the meta file is read and the last entry decoded for its term. Starts the writer thread.
    pub fn open(dir: &Path, options: WalOptions) -> io::Result<LogStore> {
        LogStore::open_gated(dir, options, None)
    }

    /// [`LogStore::open`], with purges held back by continuous archiving's `archive_gate`.
    pub fn open_gated(dir: &Path, options: WalOptions, archive_gate: Option<Arc<ArchiveGate>>) -> io::Result<LogStore> {
        let mut wal = Wal::open(dir, options).map_err(io::Error::other)?;
        let meta = meta::read(dir)?;
        discard_purged(&mut wal, meta.purged)?;
        let last = match wal.last_index() {
            Some(index) => Some(read_last_id(&wal, index)?),
            None => meta.purged,
        };
        let view = View::new(meta, wal.first_index(), last);
        let shared = Arc::new(Shared { view: Mutex::new(view), exited: Mutex::new(false), exit: Condvar::new() });
        // Bounded by `QUEUE_SLOTS`: every sender takes a slot of the semaphore beside it before it sends, and
        // the writer gives it back once the command is done (std's channel has no bound of its own).
        let (tx, rx) = mpsc::channel();
        writer::spawn(wal, dir.to_path_buf(), meta, shared.clone(), rx, archive_gate)?;
        let queue = Queue { tx, slots: Arc::new(Semaphore::new(QUEUE_SLOTS)) };
        Ok(LogStore { shared, queue, buf: Vec::new() })
    }

    /// A handle to wait for the writer thread's exit.
    pub fn writer_exit(&self) -> WriterExit {
        WriterExit(self.shared.clone())
    }

    /// A handle to flush the store at shutdown (it keeps the writer thread alive while held).
    pub fn log_flush(&self) -> LogFlush {
        LogFlush(self.queue.clone())
    }

    /// Why the store refuses writes, if an earlier write failed.
    pub fn failure(&self) -> Option<String> {
        self.shared.view().failed.clone()
    }
}

/// A log whose records all lie at or below the last purged id (a purge past the log's end that crashed
/// before the WAL was emptied) is emptied now, so that the next append, after the purged id, continues it.
fn discard_purged(wal: &mut Wal, purged: Option<LogId>) -> io::Result<()> {
    match (wal.last_index(), purged) {
        (Some(last), Some(purged)) if last <= purged.index => wal.clear().map_err(io::Error::other),
        _ => Ok(()),
    }
}

fn read_last_id(wal: &Wal, index: u64) -> io::Result<LogId> {
    let mut term = None;
    wal.read_range(index, index + 1, |i, payload| {
        term = Some(envelope::term(i, payload).map_err(|e| paddock_storage::StorageError::Corrupt(e.to_string()))?);
        Ok(())
    })
    .map_err(io::Error::other)?;
    let term = term.ok_or_else(|| io::Error::other(format!("the last log entry {index} could not be read")))?;
    Ok(crate::types::log_id(term, index))
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let view = self.shared.view();
        Ok(LogState { last_purged_log_id: view.purged, last_log_id: view.last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader::new(self.shared.clone(), self.queue.clone())
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.shared.view().refuse_if_failed()?;
        let vote = *vote;
        self.queue.call(|reply| Op::SaveVote { vote, reply }).await?;
        self.shared.view().vote = Some(vote);
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        self.shared.view().committed = committed;
        self.queue.send(Op::SaveCommitted(committed)).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.shared.view().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut records = Vec::new();
        {
            let mut view = self.shared.view();
            view.refuse_if_failed()?;
            for entry in entries {
                #[cfg(feature = "failpoints")]
                crate::failpoint::crash_before_uniform(&entry);
                envelope::encode(&entry, &mut self.buf);
                let index = entry.log_id.index;
                if let Err(e) = view.push(entry, self.buf.len()) {
                    // Earlier entries of this batch are visible but will never be written: stop here.
                    view.failed = Some(e.to_string());
                    return Err(e);
                }
                records.push((index, self.buf.clone()));
            }
        }
        self.queue.send(Op::Append { records, done: callback }).await
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        {
            let mut view = self.shared.view();
            view.refuse_if_failed()?;
            view.truncate(last_log_id);
        }
        let after = last_log_id.map(|id| id.index);
        self.queue.call(|reply| Op::Truncate { after, reply }).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        {
            let mut view = self.shared.view();
            view.refuse_if_failed()?;
            view.purge(log_id);
        }
        self.queue.call(|reply| Op::Purge { upto: log_id, reply }).await
    }
}
