//! Paddock's on-disk storage: a segmented write-ahead log, checksummed snapshot files, and the lock that
//! keeps a second process off a data directory.
//!
//! The byte formats, recovery rules and failure handling are specified in `docs/format.md`; this crate is
//! its implementation. WAL payloads and snapshot bodies are opaque bytes here: their meaning belongs to the
//! tree crate.

pub mod archive_gate;
pub mod cluster_id;
mod error;
mod fsutil;
mod lock;
mod snapshot;
mod wal;

use std::path::{Path, PathBuf};

pub use error::StorageError;
pub use lock::{DirLock, LockError};
pub use snapshot::{
    Compression, Pace, SnapshotHeader, SnapshotReport, clean_snapshot_temp_files, inspect_snapshot, list_snapshots,
    open_snapshot, purge_snapshots, verify_snapshot, write_snapshot, write_snapshot_paced, write_snapshot_to,
    write_snapshot_to_paced,
};
pub use wal::record::MAX_RECORD_PAYLOAD;
pub use wal::{
    SegmentInfo, Wal, WalOptions, WalProblem, WalProblemKind, WalReport, check_wal, read_range_dir, replay_dir,
};

/// Where snapshots live inside ZooKeeper's `dataDir`: `<dataDir>/paddock/snap`.
pub fn snap_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("paddock").join("snap")
}

/// Where WAL segments live inside ZooKeeper's `dataLogDir`: `<dataLogDir>/paddock/wal`.
pub fn wal_dir(data_log_dir: &Path) -> PathBuf {
    data_log_dir.join("paddock").join("wal")
}
