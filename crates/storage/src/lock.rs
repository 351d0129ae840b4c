//! The lock on a data (or log) directory: two servers writing one log would corrupt it, so the second
//! refuses to start (docs/format.md, 1).

use std::path::{Path, PathBuf};

/// Why a directory could not be locked. Every message names the lock file.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path} is locked by another Paddock process using the same data directory")]
    InUse { path: PathBuf },
    #[error("cannot lock {path}: {source}")]
    Lock { path: PathBuf, source: std::io::Error },
}

/// An exclusive `flock` on `<dir>/../LOCK` (next to `snap/` or `wal/`). Released when dropped or when the
/// process dies.
pub struct DirLock {
    _file: std::fs::File,
}

impl DirLock {
    /// Waits up to 3 s for a previous owner in this process (a server shutting down) to let go.
    pub fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        use std::os::fd::AsRawFd;
        let path = dir.parent().unwrap_or(dir).join("LOCK");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| LockError::Lock { path: path.clone(), source })?;
        for _ in 0..60 {
            // SAFETY: flock on a descriptor this function owns; no memory is shared with the kernel.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(DirLock { _file: file });
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(LockError::InUse { path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let snap = dir.path().join("paddock").join("snap");
        std::fs::create_dir_all(&snap).expect("create");
        let first = DirLock::acquire(&snap).expect("first lock");
        // A sibling directory shares the lock file.
        let err = DirLock::acquire(&snap.with_file_name("wal")).err().expect("refused while held");
        let lock_file = dir.path().join("paddock").join("LOCK");
        assert!(matches!(&err, LockError::InUse { path } if *path == lock_file), "{err}");
        assert!(err.to_string().contains("locked by another Paddock process"), "{err}");
        drop(first);
        DirLock::acquire(&snap).expect("free again once dropped");
    }
}
