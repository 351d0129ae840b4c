//! Backups of Paddock's data: where they go ([`target`]), what describes them ([`manifest`]), taking them
//! from a running server or a data directory ([`create`]), what a target holds ([`catalog`]), checking
//! them ([`verify`]) and building a data directory from one ([`restore`]); and the offline audit of a data
//! directory or a snapshot file ([`check`]: `paddock data check`, `paddock snapshot inspect`).
//!
//! The formats are in docs/backup-format.md. This crate does not link the server: restore, verify and the
//! checks run on machines where no server runs.

pub mod archive;
pub mod catalog;
pub mod check;
pub mod create;
pub mod datadir;
pub mod duration;
pub mod encryption;
pub mod history;
pub mod manifest;
pub mod point;
pub mod prune;
pub mod rekey;
pub mod restore;
pub mod segment;
pub mod target;
pub mod tree_diff;
pub mod verify;
pub mod zookeeper;

/// What went wrong, as one line naming the object, file or input at fault.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target cannot be used (bad URL, unknown scheme, no bucket).
    #[error("target {0}")]
    Target(String),
    /// Reading or writing the target failed (network, credentials, permissions).
    #[error("{0}")]
    Io(String),
    #[error("{0} does not exist")]
    Missing(String),
    /// An object or file is not what its manifest or format says.
    #[error("damaged: {0}")]
    Damaged(String),
    /// What the backup is taken from failed (the server, or the data directory).
    #[error("{0}")]
    Source(String),
    /// An encryption key is missing, unreadable, or not a key (docs/backup-format.md, "Encrypted objects").
    #[error("{0}")]
    Key(String),
    /// The request cannot be done as asked (no such zxid, a data directory in use, ...).
    #[error("{0}")]
    Refused(String),
}
