//! Reading a log without opening it for writing, for offline tools (`paddock data check`): nothing is
//! repaired, truncated or deleted; a torn tail is simply not read.

use std::path::Path;

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
