//! `check_wal`: the offline report behind `paddock data check`. It applies the recovery rules of
//! docs/format.md, 2.4, but only says what `Wal::open` would do; it never writes.

use std::fmt;
use std::path::{Path, PathBuf};

use super::SegmentInfo;
use super::survey::survey;
use crate::error::StorageError;

/// What is wrong with a WAL directory, and what `Wal::open` does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalProblemKind {
    /// The last segment ends in a partial or damaged record: `open` truncates it (with a warning).
    TornTail,
    /// The last segment is empty or all zeros: `open` deletes it (with a warning).
    BlankLastSegment,
    /// Damage that cannot come from a crash: `open` refuses to start.
    Corrupt,
}

/// One problem, located precisely enough to find it with a hex dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalProblem {
    pub kind: WalProblemKind,
    pub path: PathBuf,
    /// Byte offset in `path` of the damaged record (0 for whole-file problems).
    pub offset: u64,
    /// The record index expected at `offset`.
    pub index: u64,
    pub reason: String,
}

impl fmt::Display for WalProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            WalProblemKind::TornTail => "torn tail (recovery truncates it)",
            WalProblemKind::BlankLastSegment => "blank last segment (recovery deletes it)",
            WalProblemKind::Corrupt => "corruption (recovery refuses to start)",
        };
        write!(
            f,
            "{what}: {} at offset {} (record index {}): {}",
            self.path.display(),
            self.offset,
            self.index,
            self.reason
        )
    }
}

/// The state of a WAL directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalReport {
    /// Segments whose records are intact, in index order; `bytes` counts their valid data. With a
    /// `Corrupt` problem, only the segments before it.
    pub segments: Vec<SegmentInfo>,
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
    /// Leftover `.wal.tmp` files (harmless; `open` deletes them).
    pub temp_files: Vec<PathBuf>,
    pub problems: Vec<WalProblem>,
}

impl WalReport {
    /// True when `Wal::open` would refuse this directory.
    pub fn is_corrupt(&self) -> bool {
        self.problems.iter().any(|p| p.kind == WalProblemKind::Corrupt)
    }
}

/// Examines the WAL in `dir` (a `wal_dir`) without modifying anything. An error means the directory could
/// not be read; damage is described in the report.
pub fn check_wal(dir: &Path) -> Result<WalReport, StorageError> {
    let survey = survey(dir)?;
    let mut problems = Vec::new();
    for s in &survey.segments {
        if let Some((offset, reason)) = &s.torn {
            problems.push(WalProblem {
                kind: WalProblemKind::TornTail,
                path: s.path.clone(),
                offset: *offset,
                index: s.last_index.map_or(s.first_index, |last| last.wrapping_add(1)),
                reason: format!("{reason}; {} bytes after it would be dropped", s.file_len - offset),
            });
        }
    }
    if let Some((first_index, path)) = &survey.blank_last {
        problems.push(WalProblem {
            kind: WalProblemKind::BlankLastSegment,
            path: path.clone(),
            offset: 0,
            index: *first_index,
            reason: "the file is empty or all zeros (its creation was never made durable)".to_string(),
        });
    }
    match survey.corruption {
        Some(StorageError::WalCorrupt { path, offset, index, reason }) => {
            problems.push(WalProblem { kind: WalProblemKind::Corrupt, path, offset, index, reason });
        }
        Some(other) => return Err(other),
        None => {}
    }
    let segments: Vec<SegmentInfo> = survey.segments.iter().map(SegmentInfo::from).collect();
    let first_index = segments.iter().find(|s| s.last_index.is_some()).map(|s| s.first_index);
    let last_index = segments.iter().rev().find_map(|s| s.last_index);
    Ok(WalReport { segments, first_index, last_index, temp_files: survey.temp_files, problems })
}
