//! Snapshot files: a header, the body in checksummed (optionally zstd-compressed) chunks, and a trailer
//! (docs/format.md, 3). The body itself is opaque here; the tree crate writes and reads it.

mod files;
mod format;
mod pace;
mod read;
mod write;

pub use files::{clean_snapshot_temp_files, list_snapshots, purge_snapshots};
pub use pace::Pace;
pub use read::{SnapshotReport, inspect_snapshot, open_snapshot, verify_snapshot};
pub use write::{write_snapshot, write_snapshot_paced, write_snapshot_to, write_snapshot_to_paced};

/// How chunk bodies are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Zstd,
}

impl Compression {
    fn id(self) -> u32 {
        match self {
            Compression::None => 0,
            Compression::Zstd => 1,
        }
    }

    fn from_id(id: u32) -> Option<Compression> {
        match id {
            0 => Some(Compression::None),
            1 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// What a snapshot says about itself, stored in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// Version of the body encoding, chosen by the producer (the tree crate).
    pub format_version: u32,
    /// The last transaction included; also the file's name.
    pub zxid: i64,
    /// The leader's time stamp for `zxid`, milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub node_count: u64,
    /// The tree's state digest at `zxid`.
    pub digest: u64,
    pub compression: Compression,
}
