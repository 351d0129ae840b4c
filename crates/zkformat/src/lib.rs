//! Apache ZooKeeper's on-disk formats, read and written byte for byte as ZooKeeper 3.4–3.9 do
//! (`docs/zookeeper-formats.md`):
//!
//! * [`jute`]: the record encoding, with the Adler32 ZooKeeper seals snapshots with;
//! * [`snapshot`]: `snapshot.<zxid>` files, plain, gzip or snappy-java framed ([`snappy`]), with the digest
//!   and 3.9's trailing last processed zxid;
//! * [`txnlog`] and [`txn`]: `log.<zxid>` files and the transactions in them;
//! * [`tree`] and [`digest`]: ZooKeeper's `DataTree` as far as replay changes it, and its digest;
//! * [`datadir`]: what a ZooKeeper server does at start-up — the newest usable snapshot, the logs replayed
//!   over it, every seal, checksum and digest checked — as a library.
//!
//! Nothing here knows Paddock: the conversion to and from Paddock's tree is in `paddock-backup`.

pub mod datadir;
pub mod digest;
pub mod jute;
pub mod snappy;
pub mod snapshot;
pub mod tree;
pub mod txn;
pub mod txnlog;

use std::path::Path;

/// What went wrong, in one line naming the file and, for damage, where in it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not something this reads: not a ZooKeeper directory, a version it does not know.
    #[error("{0}")]
    Refused(String),
    /// A file is damaged (or cut short) at a known place.
    #[error("{file}: {what}")]
    Damaged { file: String, what: String },
    #[error("{file}: {error}")]
    Io { file: String, error: std::io::Error },
}

impl Error {
    pub(crate) fn damaged(file: &Path, what: impl Into<String>) -> Error {
        Error::Damaged { file: file.display().to_string(), what: what.into() }
    }

    pub(crate) fn io(file: &Path, error: std::io::Error) -> Error {
        Error::Io { file: file.display().to_string(), error }
    }
}
