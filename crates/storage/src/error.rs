//! The one error type of the crate. Every variant that concerns a file names it, and corruption names the
//! byte offset, so an operator can find the damage with a hex dump.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An I/O call failed. `op` says what was being done ("fsync", "create segment", ...).
    #[error("{op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: io::Error },

    /// Writing a snapshot into a stream (not a file: [`crate::write_snapshot_to`]) failed.
    #[error("{op} to the stream: {source}")]
    Stream { op: &'static str, source: io::Error },

    /// A WAL segment holds damaged data that cannot be a torn write (see docs/format.md, 2.4).
    #[error("WAL corruption in {} at offset {offset} (record index {index}): {reason}", path.display())]
    WalCorrupt { path: PathBuf, offset: u64, index: u64, reason: String },

    /// A snapshot file is damaged, truncated or of an unknown format.
    #[error("snapshot {} is invalid at offset {offset}: {reason}", path.display())]
    SnapshotCorrupt { path: PathBuf, offset: u64, reason: String },

    /// Data handed to `Wal::replay`'s callback does not decode; raised by callers, not by this crate.
    #[error("corrupt data: {0}")]
    Corrupt(String),

    /// `append` was given an index that does not continue the log.
    #[error("WAL append out of order: expected index {expected}, got {got}")]
    OutOfOrder { expected: u64, got: u64 },

    /// `replay` was asked for records that the log no longer (or never) held.
    #[error("WAL cannot replay from index {from}: the log starts at index {first}")]
    Gap { from: u64, first: u64 },

    /// An earlier write or fsync failed and the log could not yet be rolled back to its durable state.
    #[error(
        "WAL is failed after an earlier I/O error ({cause}); rolling back to the last synced record failed again: {retry}"
    )]
    Failed { cause: String, retry: String },

    /// A caller passed something this crate refuses (an oversized record, a negative zxid...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl StorageError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> StorageError {
        StorageError::Io { op, path: path.into(), source }
    }
}
