//! Reading a log without opening it for writing, for offline tools (`paddock data check`): nothing is
//! repaired, truncated or deleted; a torn tail is simply not read.

use std::path::Path;

use super::replay::replay_segment_range;
use super::segment::list_dir;
use super::survey::survey;
use super::{Mark, Segment, Wal, WalOptions};
use crate::error::StorageError;

/// Calls `f(index, payload)` for every intact record with an index of at least `from`, in order, exactly
/// as `Wal::replay` would after `Wal::open`, but without modifying any file. Corruption is an error.
pub fn replay_dir(
    dir: &Path,
    from: u64,
    f: impl FnMut(u64, &[u8]) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let mut survey = survey(dir)?;
    if let Some(corruption) = survey.corruption.take() {
        return Err(corruption);
    }
    let wal = Wal {
        dir: dir.to_path_buf(),
        options: WalOptions::default(),
        segments: survey.segments.into_iter().map(Segment::from).collect(),
        active: None,
        durable: Mark::EMPTY,
        failed: None,
        buf: Vec::new(),
    };
    // `wal` has no active file and is dropped here: no method that writes is ever called on it.
    wal.replay(from, f)
}

/// Calls `f(index, payload)` for the records `from..end` of the log in `dir`, without a survey of the whole
/// log: only the segments that can hold those indexes are opened, and reading stops at `end`. For readers
/// of a live log (the archiver) that know the range is durable; a record in that range that is missing
/// or damaged is an error.
pub fn read_range_dir(
    dir: &Path,
    from: u64,
    end: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    if from >= end {
        return Ok(());
    }
    let listing = list_dir(dir)?;
    let segments = &listing.segments;
    let Some(start) = segments.iter().rposition(|(first, _)| *first <= from) else {
        let first = segments.first().map_or(u64::MAX, |(first, _)| *first);
        return Err(StorageError::Gap { from, first });
    };
    let mut payload = Vec::new();
    let mut next = from;
    for (first, path) in segments[start..].iter().take_while(|(first, _)| *first < end) {
        let data_len = std::fs::metadata(path).map_err(|e| StorageError::io("stat segment", path, e))?.len();
        let segment = Segment { path: path.clone(), first_index: *first, last_index: Some(u64::MAX), data_len };
        replay_segment_range(&segment, next..end, &mut payload, &mut |index, bytes| {
            next = index + 1;
            f(index, bytes)
        })?;
    }
    if next < end {
        return Err(StorageError::Corrupt(format!(
            "{}: the log ends before index {next}, short of {end}",
            dir.display()
        )));
    }
    Ok(())
}
