//! Reading a whole WAL directory without changing it: every segment scanned, the segments checked to follow
//! each other, and what recovery would have to repair. `Wal::open` acts on the result; `check_wal` only
//! reports it (docs/format.md, 2.4).

use std::fs::File;
use std::path::{Path, PathBuf};

use super::scan::{Scanned, rest_is_zero, scan_segment};
use super::segment::list_dir;
use crate::error::StorageError;

/// The state of a WAL directory as found on disk.
#[derive(Debug, Default)]
pub(crate) struct Survey {
    /// The segments that scanned cleanly (or with a torn tail, last segment only), in index order. When
    /// `corruption` is set, only those before the damage.
    pub segments: Vec<Scanned>,
    /// Leftover `.wal.tmp` files, which never hold records.
    pub temp_files: Vec<PathBuf>,
    /// A last segment (first index, path) that is empty or all zeros: its creation never became durable.
    pub blank_last: Option<(u64, PathBuf)>,
    /// Damage that cannot be a torn write; `open` refuses to start.
    pub corruption: Option<StorageError>,
}

/// Scans `dir`. Corruption is reported in the result; only an I/O failure is an error.
pub(crate) fn survey(dir: &Path) -> Result<Survey, StorageError> {
    let listing = list_dir(dir)?;
    let mut files = listing.segments;
    let mut survey = Survey { temp_files: listing.temp_files, ..Survey::default() };
    if let Some((_, path)) = files.last()
        && is_blank(path)?
    {
        survey.blank_last = files.pop();
    }
    let count = files.len();
    for (position, (name_index, path)) in files.iter().enumerate() {
        let scanned = match scan_segment(path, *name_index, position + 1 == count) {
            Ok(scanned) => scanned,
            Err(e @ StorageError::WalCorrupt { .. }) => {
                survey.corruption = Some(e);
                break;
            }
            Err(e) => return Err(e),
        };
        if let Some(gap) = survey.segments.last().and_then(|previous| gap_between(previous, &scanned)) {
            survey.corruption = Some(gap);
            break;
        }
        survey.segments.push(scanned);
    }
    Ok(survey)
}

/// Zero bytes long, or nothing but zeros.
fn is_blank(path: &Path) -> Result<bool, StorageError> {
    let read_err = |e| StorageError::io("read segment", path, e);
    let file = File::open(path).map_err(read_err)?;
    let len = file.metadata().map_err(read_err)?.len();
    rest_is_zero(&file, 0, len).map_err(read_err)
}

/// Segments must continue each other's indexes: a missing segment is a hole in the history.
fn gap_between(previous: &Scanned, next: &Scanned) -> Option<StorageError> {
    let expected = previous.last_index.map_or(previous.first_index, |last| last.wrapping_add(1));
    if next.first_index == expected {
        return None;
    }
    let held = match previous.last_index {
        Some(last) => format!("ends at index {last}"),
        None => format!("holds no records and starts at index {}", previous.first_index),
    };
    Some(StorageError::WalCorrupt {
        path: next.path.clone(),
        offset: 0,
        index: expected,
        reason: format!(
            "segment starts at index {} but the previous segment {} {held}: segments are missing",
            next.first_index,
            previous.path.display()
        ),
    })
}
