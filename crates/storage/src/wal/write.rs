//! Appending, group commit, and what happens when a write or fsync fails (docs/format.md, 2.3 and 2.5).
//!
//! The rule for failures: memory never runs ahead of disk. Any failed write, roll or fsync moves the log
//! back to the durable mark, in memory at once and on disk by `restore_mark`, which deletes what came
//! after the mark, cuts the mark's segment to its length, fsyncs it through a fresh descriptor and
//! re-reads it. Until that succeeds the log is *failed* and refuses to write.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;

use tracing::{info, warn};

use super::record::{MAX_RECORD_PAYLOAD, SEGMENT_HEADER_LEN, encode_record, record_len};
use super::scan::scan_segment;
use super::{Mark, Segment, Wal, WalOptions, segment};
use crate::error::StorageError;
use crate::fsutil::{self, io_failpoint};

impl Wal {
    /// Appends one record. `index` must be `last_index() + 1`, or anything when the log is empty. The record
    /// is not durable until a later `sync` returns `Ok`. On error the log is back at its durable mark.
    pub fn append(&mut self, index: u64, payload: &[u8]) -> Result<(), StorageError> {
        self.append_all(&[(index, payload)])
    }

    /// Appends records with consecutive indexes, as `append` would one by one, but with one write per
    /// segment they land in rather than one per record (a batch of small records costs one syscall). A
    /// record refused (too large, out of order) refuses itself and those after it; those before it are
    /// appended.
    pub fn append_all<P: AsRef<[u8]>>(&mut self, records: &[(u64, P)]) -> Result<(), StorageError> {
        self.recover_if_failed()?;
        let mut done = 0;
        while done < records.len() {
            done += self.write_run(&records[done..])?;
        }
        Ok(())
    }

    /// Writes the longest run from the start of `records` that is valid and fits in one segment (rolling
    /// to a new one first if the first record does not fit) with one write. Returns how many it wrote; an
    /// error if the first record is refused or the write fails.
    fn write_run<P: AsRef<[u8]>>(&mut self, records: &[(u64, P)]) -> Result<usize, StorageError> {
        let Some((first, payload)) = records.first() else { return Ok(0) };
        check_payload(payload.as_ref())?;
        self.check_next_index(*first)?;
        self.make_room(*first, record_len(payload.as_ref().len())).map_err(|e| self.fail(e))?;
        let room = self.segments.last().map_or(0, |s| self.options.segment_bytes.saturating_sub(s.data_len));
        self.buf.clear();
        let (mut count, mut bytes) = (0, 0u64);
        for (index, payload) in records {
            let len = record_len(payload.as_ref().len());
            // The first record was checked above and has its room; each later one must follow it in
            // order, fit the segment and be valid, or the run ends before it.
            let joins =
                bytes + len <= room && *index == first + count as u64 && check_payload(payload.as_ref()).is_ok();
            if count > 0 && !joins {
                break;
            }
            encode_record(&mut self.buf, *index, payload.as_ref());
            count += 1;
            bytes += len;
        }
        self.write_buffer(first + count as u64 - 1, bytes).map_err(|e| self.fail(e))?;
        Ok(count)
    }

    /// Rolls to a new segment starting at `index` when a record of `len` bytes does not fit in the active
    /// one (a segment holds at least one record), or starts the first.
    fn make_room(&mut self, index: u64, len: u64) -> Result<(), StorageError> {
        let full = self
            .segments
            .last()
            .is_some_and(|s| s.last_index.is_some() && s.data_len.saturating_add(len) > self.options.segment_bytes);
        if full {
            self.roll(index)
        } else if self.segments.is_empty() {
            self.start_segment(index)
        } else {
            Ok(())
        }
    }

    /// Writes the encoded records in `buf` (`bytes` long, the last of them `last_index`) at the end of the
    /// active segment.
    fn write_buffer(&mut self, last_index: u64, bytes: u64) -> Result<(), StorageError> {
        let (Some(file), Some(active)) = (&self.active, self.segments.last_mut()) else {
            return Err(StorageError::Failed {
                cause: "the WAL has no active segment".into(),
                retry: "internal state lost".into(),
            });
        };
        write_at(file, &self.buf, active.data_len).map_err(|e| StorageError::io("append to", &active.path, e))?;
        active.data_len += bytes;
        active.last_index = Some(last_index);
        Ok(())
    }

    /// Makes every record appended so far durable with one fdatasync (group commit: call it once per
    /// batch). On error nothing after the previous successful `sync` is durable and the log is back there.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.recover_if_failed()?;
        let now = self.current_mark();
        if now == self.durable {
            return Ok(());
        }
        if self.options.fsync
            && let (Some(file), Some(active)) = (&self.active, self.segments.last())
            && let Err(e) = segment::fsync(file)
        {
            let e = StorageError::io("fsync segment", &active.path, e);
            return Err(self.fail(e));
        }
        self.durable = now;
        Ok(())
    }

    fn check_next_index(&mut self, index: u64) -> Result<(), StorageError> {
        match self.last_index() {
            Some(last) => match last.checked_add(1) {
                Some(expected) if expected == index => Ok(()),
                Some(expected) => Err(StorageError::OutOfOrder { expected, got: index }),
                None => Err(StorageError::InvalidArgument("the WAL has reached the largest index".into())),
            },
            // An empty log accepts any index; a leftover empty segment named otherwise must go first.
            None => match self.segments.last() {
                Some(s) if s.first_index != index => self.retreat_to(Mark::EMPTY),
                _ => Ok(()),
            },
        }
    }

    /// Seals the active segment (cut to its data, fsynced) and starts the next one at `first_index`.
    fn roll(&mut self, first_index: u64) -> Result<(), StorageError> {
        if let (Some(file), Some(active)) = (&self.active, self.segments.last()) {
            seal(file, active.data_len, &self.options)
                .map_err(|e| StorageError::io("seal segment", &active.path, e))?;
        }
        self.active = None;
        self.start_segment(first_index)
    }

    fn start_segment(&mut self, first_index: u64) -> Result<(), StorageError> {
        let (path, file) = segment::create(&self.dir, first_index, &self.options)?;
        self.segments.push(Segment { path, first_index, last_index: None, data_len: SEGMENT_HEADER_LEN });
        self.active = Some(file);
        Ok(())
    }

    /// Handles a failed write: back to the durable mark, now if the disk allows. Returns `error`.
    pub(super) fn fail(&mut self, error: StorageError) -> StorageError {
        warn!("WAL write failed, rolling back to the last synced record: {error}");
        self.failed = Some(error.to_string());
        self.forget_after_mark();
        if let Err(e) = self.recover_if_failed() {
            warn!("{e}; will retry before the next write");
        }
        error
    }

    /// Moves the durable mark back to `mark` (which describes records that are all durable) and makes the
    /// disk match it. Used by truncation; a failure leaves the log failed until a retry succeeds.
    pub(super) fn retreat_to(&mut self, mark: Mark) -> Result<(), StorageError> {
        self.durable = mark;
        self.forget_after_mark();
        self.restore_mark().inspect_err(|e| self.failed = Some(e.to_string()))
    }

    /// If an earlier failure is not yet repaired on disk, tries again.
    pub(super) fn recover_if_failed(&mut self) -> Result<(), StorageError> {
        let Some(cause) = self.failed.clone() else { return Ok(()) };
        match self.restore_mark() {
            Ok(()) => {
                info!(last_index = ?self.last_index(), "WAL rolled back to its last synced record");
                self.failed = None;
                Ok(())
            }
            Err(retry) => Err(StorageError::Failed { cause, retry: retry.to_string() }),
        }
    }

    /// Drops from memory everything after the durable mark.
    fn forget_after_mark(&mut self) {
        self.active = None;
        let mark = self.durable;
        let Some(mark_segment) = mark.segment else {
            self.segments.clear();
            return;
        };
        self.segments.retain(|s| s.first_index <= mark_segment);
        if let Some(last) = self.segments.last_mut()
            && last.first_index == mark_segment
        {
            last.data_len = mark.data_len;
            last.last_index = mark.last_index;
        }
    }

    /// Makes the disk hold exactly what the durable mark describes, then reopens the active segment.
    fn restore_mark(&mut self) -> Result<(), StorageError> {
        self.active = None;
        let mark = self.durable;
        let listing = segment::list_dir(&self.dir)?;
        // Newest first, so that a crash in between still leaves a contiguous log.
        let after_mark = listing.segments.iter().rev().filter(|(first, _)| mark.segment.is_none_or(|m| *first > m));
        for path in after_mark.map(|(_, path)| path).chain(&listing.temp_files) {
            fsutil::remove_file(path).map_err(|e| StorageError::io("delete", path, e))?;
        }
        let active = match self.segments.last() {
            Some(last) => Some(restore_segment(last, &mark, &self.options)?),
            None => None,
        };
        if self.options.fsync {
            fsutil::fsync_dir(&self.dir).map_err(|e| StorageError::io("fsync WAL directory", &self.dir, e))?;
        }
        self.active = active;
        Ok(())
    }
}

/// Cuts the mark's segment back to the mark through a fresh descriptor (the old one may carry a write
/// error the kernel will not report twice), fsyncs it and re-reads it to confirm it holds exactly the
/// marked records.
fn restore_segment(segment: &Segment, mark: &Mark, options: &WalOptions) -> Result<File, StorageError> {
    let path = &segment.path;
    let io_err = |op| move |e| StorageError::io(op, path, e);
    let file = OpenOptions::new().read(true).write(true).open(path).map_err(io_err("open segment"))?;
    file.set_len(mark.data_len).map_err(io_err("truncate segment"))?;
    if options.preallocate {
        fsutil::preallocate(&file, options.segment_bytes.max(SEGMENT_HEADER_LEN))
            .map_err(io_err("preallocate segment"))?;
    }
    if options.fsync {
        segment::fsync(&file).map_err(io_err("fsync segment"))?;
    }
    let scanned = scan_segment(path, segment.first_index, true)?;
    if scanned.torn.is_some() || scanned.last_index != mark.last_index || scanned.data_len != mark.data_len {
        return Err(StorageError::WalCorrupt {
            path: path.clone(),
            offset: scanned.data_len,
            index: scanned.last_index.map_or(scanned.first_index, |l| l.wrapping_add(1)),
            reason: format!(
                "after rolling back to the last synced record ({:?}, {} bytes) the segment reads back as \
                 {:?}, {} bytes",
                mark.last_index, mark.data_len, scanned.last_index, scanned.data_len
            ),
        });
    }
    Ok(file)
}

fn check_payload(payload: &[u8]) -> Result<(), StorageError> {
    if payload.len() > MAX_RECORD_PAYLOAD {
        return Err(StorageError::InvalidArgument(format!(
            "a WAL record payload of {} bytes exceeds the maximum of {MAX_RECORD_PAYLOAD}",
            payload.len()
        )));
    }
    Ok(())
}

fn write_at(file: &File, record: &[u8], offset: u64) -> io::Result<()> {
    io_failpoint!("wal::before_append");
    file.write_all_at(record, offset)?;
    io_failpoint!("wal::after_append");
    Ok(())
}

fn seal(file: &File, data_len: u64, options: &WalOptions) -> io::Result<()> {
    io_failpoint!("wal::before_roll");
    segment::cut(file, data_len, options)
}
