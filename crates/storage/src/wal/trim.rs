//! Removing records: `truncate_after` drops the newest (for consensus), `purge_before` drops whole old
//! segments (retention). docs/format.md, 2.6.

use std::path::PathBuf;

use super::scan::record_end;
use super::{Mark, Wal};
use crate::error::StorageError;
use crate::fsutil;

impl Wal {
    /// Removes every record with an index above `index`; below the first record, all of them. The records
    /// that remain are durable when this returns `Ok`.
    pub fn truncate_after(&mut self, index: u64) -> Result<(), StorageError> {
        // The kept records become the durable mark, so they must be on disk first, flushed through the
        // descriptor that wrote them.
        self.sync()?;
        let Some(last) = self.last_index() else { return Ok(()) };
        if index >= last {
            return Ok(());
        }
        let holder = self.segments.iter().find(|s| s.first_index <= index && s.last_index.is_some_and(|l| l >= index));
        let mark = match holder {
            None => Mark::EMPTY,
            Some(s) => Mark {
                segment: Some(s.first_index),
                data_len: record_end(&s.path, s.first_index, index)?,
                last_index: Some(index),
            },
        };
        self.retreat_to(mark)
    }

    /// Removes every record, whatever its index: afterwards the log is empty and accepts any index as its
    /// next one. Consensus needs this when a snapshot covers the whole log (the next entry follows the
    /// snapshot, not the log), and `truncate_after` cannot express "below index 0". Durable when it
    /// returns `Ok`; a failure leaves the WAL failed, as in docs/format.md, 2.5.
    pub fn clear(&mut self) -> Result<(), StorageError> {
        self.recover_if_failed()?;
        if self.segments.is_empty() {
            return Ok(());
        }
        self.retreat_to(Mark::EMPTY)
    }

    /// Deletes, oldest first, whole segments whose records all have indexes below `index`, and returns
    /// their paths. Never deletes the active segment, the one holding the durable mark, nor any after it.
    pub fn purge_before(&mut self, index: u64) -> Result<Vec<PathBuf>, StorageError> {
        let mut removed = Vec::new();
        let result = self.purge_oldest(index, &mut removed);
        if !removed.is_empty() && self.options.fsync {
            fsutil::fsync_dir(&self.dir).map_err(|e| StorageError::io("fsync WAL directory", &self.dir, e))?;
        }
        result.map(|()| removed)
    }

    fn purge_oldest(&mut self, index: u64, removed: &mut Vec<PathBuf>) -> Result<(), StorageError> {
        // Only segments before the durable mark's: later ones hold records that are not yet durable.
        let mark_segment = self.durable.segment;
        while let (Some(oldest), Some(next)) = (self.segments.first(), self.segments.get(1)) {
            // The successor's first index bounds every record of `oldest` from above.
            if next.first_index > index || mark_segment.is_none_or(|m| oldest.first_index >= m) {
                break;
            }
            fsutil::purge_file(&oldest.path).map_err(|e| StorageError::io("delete", &oldest.path, e))?;
            removed.push(self.segments.remove(0).path);
        }
        Ok(())
    }
}
