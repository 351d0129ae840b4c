//! The write-ahead log: records with contiguous `u64` indexes in segment files (docs/format.md, 2).
//!
//! This module holds the log's state and its recovery at open; appending and failure handling live in
//! `write`, reading back in `replay`, removing records in `trim`.

mod check;
mod readonly;
pub(crate) mod record;
mod replay;
mod scan;
mod segment;
mod survey;
mod trim;
mod write;

use std::fs::File;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

pub use check::{WalProblem, WalProblemKind, WalReport, check_wal};
pub use readonly::{read_range_dir, replay_dir};
use scan::Scanned;
use survey::Survey;

use crate::error::StorageError;
use crate::fsutil;

/// How the log writes. `WalOptions::default()` is what a server uses unless configured otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment is sealed and a new one started when a record would take it past this size.
    pub segment_bytes: u64,
    /// `sync` (and segment creation, sealing, rollback) really fsync. Off is ZooKeeper's `forceSync=no`.
    pub fsync: bool,
    /// Reserve `segment_bytes` on disk when a segment is created (see docs/format.md, 2.3).
    pub preallocate: bool,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions { segment_bytes: 64 * 1024 * 1024, fsync: true, preallocate: true }
    }
}

/// One segment file, as `Wal::segments` and `check_wal` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub path: PathBuf,
    pub first_index: u64,
    /// `None` when the segment holds no record.
    pub last_index: Option<u64>,
    /// Bytes of data: the header and every record (preallocated space not counted).
    pub bytes: u64,
}

impl From<&Scanned> for SegmentInfo {
    fn from(s: &Scanned) -> SegmentInfo {
        SegmentInfo { path: s.path.clone(), first_index: s.first_index, last_index: s.last_index, bytes: s.data_len }
    }
}

/// A segment as the open log tracks it.
#[derive(Debug, Clone)]
struct Segment {
    path: PathBuf,
    first_index: u64,
    last_index: Option<u64>,
    /// Where the next record goes.
    data_len: u64,
}

impl Segment {
    fn info(&self) -> SegmentInfo {
        SegmentInfo {
            path: self.path.clone(),
            first_index: self.first_index,
            last_index: self.last_index,
            bytes: self.data_len,
        }
    }
}

impl From<Scanned> for Segment {
    fn from(s: Scanned) -> Segment {
        Segment { path: s.path, first_index: s.first_index, last_index: s.last_index, data_len: s.data_len }
    }
}

/// The durable mark (docs/format.md, 2.5): the state of the log as of the last successful `sync`, which
/// the log returns to after any failed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    /// First index of the segment holding the mark; `None` when the log had no segment.
    segment: Option<u64>,
    /// That segment's length and last record (`None` if it held none) at the mark.
    data_len: u64,
    last_index: Option<u64>,
}

impl Mark {
    const EMPTY: Mark = Mark { segment: None, data_len: 0, last_index: None };
}

/// An open write-ahead log. Only one `Wal` may have a directory open at a time.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    /// In index order; the last one is the active segment.
    segments: Vec<Segment>,
    /// The active segment, open for writing; `None` when there is no segment or the log is failed.
    active: Option<File>,
    durable: Mark,
    /// Set while a failed write has not yet been rolled back on disk: the original error.
    failed: Option<String>,
    /// Reused encoding buffer.
    buf: Vec<u8>,
}

impl Wal {
    /// Opens (creating it if needed) the log in `dir`, applying the recovery rules of docs/format.md, 2.4:
    /// a torn tail is truncated with a warning; damage that cannot be a torn write fails with
    /// `StorageError::WalCorrupt` and leaves every file untouched.
    pub fn open(dir: &Path, options: WalOptions) -> Result<Wal, StorageError> {
        fsutil::create_dir_durable(dir).map_err(|e| StorageError::io("create WAL directory", dir, e))?;
        let mut survey = survey::survey(dir)?;
        if let Some(corruption) = survey.corruption.take() {
            return Err(corruption);
        }
        repair(dir, &survey, &options)?;
        let segments: Vec<Segment> = survey.segments.into_iter().map(Segment::from).collect();
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            options,
            segments,
            active: None,
            durable: Mark::EMPTY,
            failed: None,
            buf: Vec::new(),
        };
        wal.open_active()?;
        wal.durable = wal.current_mark();
        Ok(wal)
    }

    /// Index of the oldest record, `None` when the log holds none.
    pub fn first_index(&self) -> Option<u64> {
        self.segments.iter().find(|s| s.last_index.is_some()).map(|s| s.first_index)
    }

    /// Index of the newest record, `None` when the log holds none. After a failed write this is the last
    /// durable record: the caller appends again from `last_index() + 1`.
    pub fn last_index(&self) -> Option<u64> {
        self.segments.iter().rev().find_map(|s| s.last_index)
    }

    /// The segment files, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.segments.iter().map(Segment::info).collect()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn current_mark(&self) -> Mark {
        match self.segments.last() {
            None => Mark::EMPTY,
            Some(s) => Mark { segment: Some(s.first_index), data_len: s.data_len, last_index: s.last_index },
        }
    }

    /// Opens the last segment for appending and makes its recovered state durable.
    fn open_active(&mut self) -> Result<(), StorageError> {
        let Some(last) = self.segments.last() else { return Ok(()) };
        let file = segment::open_for_append(&last.path, &self.options)?;
        if self.options.fsync {
            segment::fsync(&file).map_err(|e| StorageError::io("fsync segment", &last.path, e))?;
        }
        self.active = Some(file);
        Ok(())
    }
}

/// Applies what the survey found: leftover temp files and a blank last segment are deleted, a torn tail is
/// cut off. Each is logged, since each is a sign of a crash.
fn repair(dir: &Path, survey: &Survey, options: &WalOptions) -> Result<(), StorageError> {
    let mut changed = false;
    for tmp in &survey.temp_files {
        info!(file = %tmp.display(), "deleting an unfinished WAL segment left by a crash");
        fsutil::remove_file(tmp).map_err(|e| StorageError::io("delete", tmp, e))?;
        changed = true;
    }
    if let Some((_, path)) = &survey.blank_last {
        warn!(file = %path.display(), "deleting a blank last WAL segment (its creation never became durable)");
        fsutil::remove_file(path).map_err(|e| StorageError::io("delete", path, e))?;
        changed = true;
    }
    if let Some(last) = survey.segments.last()
        && let Some((offset, why)) = &last.torn
    {
        warn!(
            file = %last.path.display(),
            offset,
            expected_index = last.last_index.map_or(last.first_index, |l| l.wrapping_add(1)),
            bytes_dropped = last.file_len - offset,
            "truncating a torn tail of the WAL: {why}"
        );
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&last.path)
            .map_err(|e| StorageError::io("open segment", &last.path, e))?;
        segment::cut(&file, *offset, options).map_err(|e| StorageError::io("truncate segment", &last.path, e))?;
    }
    if changed && options.fsync {
        fsutil::fsync_dir(dir).map_err(|e| StorageError::io("fsync WAL directory", dir, e))?;
    }
    Ok(())
}
