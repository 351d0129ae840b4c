//! What every handle of one log store sees at once: the log's bounds, the vote, and a cache of the newest
//! entries. `append` puts entries here before the writer thread has written them, which is how they are
//! readable as soon as `append` returns (openraft's contract), even by a reader taken earlier.

use std::collections::VecDeque;
use std::io;
use std::ops::{Bound, RangeBounds};

use crate::meta::Meta;
use crate::types::{Entry, LogId, Vote};

/// Durable entries kept in memory for readers (replication to followers reads the newest entries). Entries
/// not yet durable are always kept, whatever this says: they are not on disk to be read back.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Default)]
pub(crate) struct View {
    /// The last vote made durable by the writer.
    pub vote: Option<Vote>,
    /// The last committed id openraft reported; the writer persists it lazily.
    pub committed: Option<LogId>,
    pub purged: Option<LogId>,
    /// The last entry's id, or `purged` when the log holds none.
    pub last: Option<LogId>,
    /// Where a log that was never purged starts: openraft starts at 0, but a log store may be handed any
    /// first index (openraft's storage suite does).
    start: Option<u64>,
    /// The newest entries, contiguous, ending at `last`, each with its encoded size.
    cache: VecDeque<(Entry, usize)>,
    cache_bytes: usize,
    /// Set once a write, fsync, truncate, purge or meta write failed: the store refuses writes until restart.
    pub failed: Option<String>,
}

impl View {
    /// The view of a log read from disk: `start` is the WAL's first index (`None` when it holds nothing).
    pub fn new(meta: Meta, start: Option<u64>, last: Option<LogId>) -> View {
        let Meta { vote, committed, purged } = meta;
        View { vote, committed, purged, last, start, ..View::default() }
    }

    /// The index the next appended entry must have.
    pub fn next_index(&self) -> u64 {
        self.last.map_or(0, |last| last.index + 1)
    }

    /// The first index a reader may be given: everything at or below `purged` is gone.
    pub fn first_readable(&self) -> u64 {
        self.purged.map_or(0, |purged| purged.index + 1).max(self.start.unwrap_or(0))
    }

    /// Where the cache starts; below this, entries are read from disk.
    pub fn cache_first(&self) -> u64 {
        self.cache.front().map_or(self.next_index(), |(entry, _)| entry.log_id.index)
    }

    pub fn refuse_if_failed(&self) -> io::Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(cause) => Err(io::Error::other(format!(
                "the Raft log store failed earlier and refuses writes until the server restarts: {cause}"
            ))),
        }
    }

    /// Adds an appended entry. It must continue the log (a hole would break Raft's log matching); a log
    /// that never held an entry may start anywhere, as the WAL may.
    pub fn push(&mut self, entry: Entry, size: usize) -> io::Result<()> {
        let expected = self.next_index();
        if self.last.is_some() && entry.log_id.index != expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("append of log entry {} does not continue the log, which expects {expected}", entry.log_id),
            ));
        }
        if self.last.is_none() {
            self.start = Some(entry.log_id.index);
        }
        self.last = Some(entry.log_id);
        self.cache.push_back((entry, size));
        self.cache_bytes += size;
        Ok(())
    }

    /// Forgets every entry after `after` (all of them for `None`).
    pub fn truncate(&mut self, after: Option<LogId>) {
        if let (Some(after), Some(last)) = (after, self.last)
            && after.index >= last.index
        {
            return;
        }
        let keep_to = after.map(|id| id.index);
        while let Some((entry, size)) = self.cache.back() {
            if keep_to.is_some_and(|k| entry.log_id.index <= k) {
                break;
            }
            self.cache_bytes -= size;
            self.cache.pop_back();
        }
        self.last = after.or(self.purged);
        if self.last.is_none() {
            self.start = None;
        }
    }

    /// Forgets every entry up to `upto`, which may lie beyond the last entry (after a snapshot install):
    /// then the log is empty and continues after `upto`.
    pub fn purge(&mut self, upto: LogId) {
        if self.purged.is_some_and(|p| p.index >= upto.index) {
            return;
        }
        self.purged = Some(upto);
        while let Some((entry, size)) = self.cache.front() {
            if entry.log_id.index > upto.index {
                break;
            }
            self.cache_bytes -= size;
            self.cache.pop_front();
        }
        if self.last.is_none_or(|last| last.index < upto.index) {
            self.last = Some(upto);
        }
    }

    /// Drops the oldest durable entries while the cache is over its budget.
    pub fn evict(&mut self, durable: Option<u64>) {
        let Some(durable) = durable else { return };
        while self.cache_bytes > CACHE_BYTES {
            match self.cache.front() {
                Some((entry, size)) if entry.log_id.index <= durable => {
                    self.cache_bytes -= size;
                    self.cache.pop_front();
                }
                _ => break,
            }
        }
    }

    /// `range` clipped to what the log holds, as `start..end`.
    pub fn clip(&self, range: &impl RangeBounds<u64>) -> (u64, u64) {
        let (start, end) = bounds(range);
        (start.max(self.first_readable()), end.min(self.next_index()))
    }

    /// Clones the cached entries `start..end`; the caller has checked `start >= cache_first()`.
    pub fn cached(&self, start: u64, end: u64) -> Vec<Entry> {
        let first = self.cache_first();
        let skip = usize::try_from(start.saturating_sub(first)).unwrap_or(usize::MAX);
        let take = usize::try_from(end.saturating_sub(start.max(first))).unwrap_or(usize::MAX);
        self.cache.iter().skip(skip).take(take).map(|(entry, _)| entry.clone()).collect()
    }
}

/// `range` as `start..end`.
pub(crate) fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(s) => *s,
        Bound::Excluded(s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(e) => e.saturating_add(1),
        Bound::Excluded(e) => *e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}
