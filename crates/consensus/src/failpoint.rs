//! The failpoints of this crate (docs/format.md, 4): I/O errors injected at each durability step, exactly as
//! the storage crate injects them.
//!
//! A failpoint is process-wide, but one test process runs many stores at once. `set_failpoint_scope`
//! limits this crate's failpoints to the store in one directory, so a test that fails one store's disk does
//! not fail the stores of the tests running beside it. Without a scope they apply to every store (the
//! `FAILPOINTS` variable of a server built with the feature).

#[cfg(feature = "failpoints")]
use std::path::{Path, PathBuf};
#[cfg(feature = "failpoints")]
use std::sync::{Mutex, PoisonError};

#[cfg(feature = "failpoints")]
static SCOPE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Limits this crate's failpoints to the store whose directory is `dir` (`None`: every store).
#[cfg(feature = "failpoints")]
pub fn set_failpoint_scope(dir: Option<&Path>) {
    *SCOPE.lock().unwrap_or_else(PoisonError::into_inner) = dir.map(Path::to_path_buf);
}

#[cfg(feature = "failpoints")]
pub(crate) fn in_scope(dir: &Path) -> bool {
    SCOPE.lock().unwrap_or_else(PoisonError::into_inner).as_deref().is_none_or(|scope| scope == dir)
}

/// This process's server id, for failpoints that only one server of an ensemble may hit.
#[cfg(feature = "failpoints")]
static NODE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
/// Whether this process appended a joint membership entry ([`crash_before_uniform`]).
#[cfg(feature = "failpoints")]
static JOINT_APPENDED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records this process's server id (a server runs one replica).
#[cfg(feature = "failpoints")]
pub fn set_node(id: u64) {
    let _ = NODE.set(id);
}

/// `replica::crash_before_uniform=return(N)`: server N dies (exit 137, as a kill -9) when it is about to
/// append the uniform half of a membership change whose joint half it appended: the leader crashing in the
/// middle of a change, which the next leader must finish. Called before the entry is stored anywhere.
#[cfg(feature = "failpoints")]
pub(crate) fn crash_before_uniform(entry: &crate::types::Entry) {
    use std::sync::atomic::Ordering;
    let openraft::EntryPayload::Membership(m) = &entry.payload else { return };
    if m.get_joint_config().len() > 1 {
        JOINT_APPENDED.store(true, Ordering::SeqCst);
        return;
    }
    fail::fail_point!("replica::crash_before_uniform", JOINT_APPENDED.load(Ordering::SeqCst), |arg| {
        if arg.and_then(|a| a.parse::<u64>().ok()) == NODE.get().copied() {
            tracing::error!("failpoint replica::crash_before_uniform: dying before the uniform membership entry");
            std::process::exit(137);
        }
    });
}

/// The error a failpoint injects: `enospc` gives "no space left on device", anything else EIO.
#[cfg(feature = "failpoints")]
pub(crate) fn io_err_from(arg: Option<String>) -> std::io::Error {
    match arg.as_deref() {
        Some("enospc") => std::io::Error::from_raw_os_error(28),
        _ => std::io::Error::from_raw_os_error(5),
    }
}

/// Evaluates an I/O failpoint of the store in directory `$dir`, inside a function returning `io::Result`.
#[cfg(feature = "failpoints")]
macro_rules! io_failpoint {
    ($name:literal, $dir:expr) => {
        fail::fail_point!($name, $crate::failpoint::in_scope($dir), |arg| Err($crate::failpoint::io_err_from(arg)))
    };
}

/// Without the feature a failpoint is nothing (its directory is still evaluated, to keep one signature).
#[cfg(not(feature = "failpoints"))]
macro_rules! io_failpoint {
    ($name:literal, $dir:expr) => {
        let _ = $dir;
    };
}
pub(crate) use io_failpoint;
