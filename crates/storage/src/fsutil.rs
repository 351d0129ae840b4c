//! Small file-system helpers shared by the WAL and snapshots: directory fsync, preallocation, removal that
//! tolerates files already gone, and the error injection behind the failpoints.

use std::fs::{self, File};
use std::io;
use std::path::Path;

/// The error a failpoint injects: `enospc` gives "no space left on device", anything else EIO.
#[cfg(feature = "failpoints")]
pub(crate) fn io_err_from(arg: Option<String>) -> io::Error {
    match arg.as_deref() {
        Some("enospc") => io::Error::from_raw_os_error(libc::ENOSPC),
        _ => io::Error::from_raw_os_error(libc::EIO),
    }
}

/// Evaluates an I/O failpoint inside a function returning `io::Result`.
macro_rules! io_failpoint {
    ($name:literal) => {
        fail::fail_point!($name, |arg| Err($crate::fsutil::io_err_from(arg)))
    };
}
pub(crate) use io_failpoint;

/// Makes a rename, creation or deletion inside `dir` durable. Without it a power failure can bring back the
/// old directory entry even though the file's own data was fsynced.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reserves `len` bytes for `file`, growing its size to at least `len`. Uses fallocate(2) so that a full disk
/// shows up now rather than in the middle of an append; falls back to a sparse `set_len` on file systems
/// that cannot preallocate.
pub(crate) fn preallocate(file: &File, len: u64) -> io::Result<()> {
    if file.metadata()?.len() >= len {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let Ok(len_off) = libc::off_t::try_from(len) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "preallocation size too large"));
        };
        // SAFETY: fallocate only reads its integer arguments; the descriptor is owned by `file`, which
        // outlives the call.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len_off) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EOPNOTSUPP) {
            return Err(err);
        }
    }
    file.set_len(len)
}

/// Writes a large file's dirty pages back in steps while it is being written, so that the final fsync
/// has little left to do. Without it the whole file reaches the disk in one burst at fsync time, and on
/// ext4 (data=ordered) a WAL fdatasync that needs a journal commit waits behind that burst: the tail
/// latency of every write would grow while a snapshot is written. Each step starts writeback of the bytes
/// written since the last step and waits for the step before it, so at most two steps are ever dirty.
pub(crate) struct Writeback {
    /// Bytes written so far (the file's length, as the writer appends).
    written: u64,
    /// Where the range whose writeback started last begins, and where it ends.
    started: (u64, u64),
    /// Off once the file system refuses sync_file_range (the final fsync does all the work then).
    supported: bool,
}

/// Bytes between two writeback steps.
const WRITEBACK_STEP: u64 = 1 << 20;

impl Writeback {
    pub(crate) fn new(already_written: u64) -> Writeback {
        Writeback { written: already_written, started: (already_written, already_written), supported: true }
    }

    /// Counts `len` appended bytes and takes a step when a whole step's worth is dirty.
    pub(crate) fn wrote(&mut self, file: &File, len: u64) -> io::Result<()> {
        self.written += len;
        if !self.supported || self.written - self.started.1 < WRITEBACK_STEP {
            return Ok(());
        }
        let (previous, next) = (self.started, (self.started.1, self.written));
        let stepped = sync_file_range(file, previous, libc_flags::WAIT)
            .and_then(|()| sync_file_range(file, next, libc_flags::START));
        match stepped {
            Ok(()) => self.started = next,
            // Not a failed write, a file system without the call: leave it all to the final fsync.
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ESPIPE | libc::ENOSYS | libc::EOPNOTSUPP)) =>
            {
                self.supported = false
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod libc_flags {
    pub const START: u32 = libc::SYNC_FILE_RANGE_WRITE;
    pub const WAIT: u32 =
        libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
}

#[cfg(not(target_os = "linux"))]
mod libc_flags {
    pub const START: u32 = 0;
    pub const WAIT: u32 = 0;
}

/// sync_file_range(2) on `[start, end)`: a hint about writeback, never a durability step (the fsync at the
/// end is). Where the call does not exist, nothing happens.
fn sync_file_range(file: &File, (start, end): (u64, u64), flags: u32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (libc::off64_t::try_from(start), libc::off64_t::try_from(end - start)) else {
            return Ok(());
        };
        if len == 0 {
            return Ok(());
        }
        // SAFETY: integer arguments only; the descriptor is owned by `file`, which outlives the call.
        if unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, start, end, flags);
    Ok(())
}

/// Removes a file, treating "already gone" as success (a previous attempt may have removed it before
/// failing later).
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Deletes a file on behalf of retention (old WAL segments, old snapshots), behind the
/// `purge::before_delete` failpoint.
pub(crate) fn purge_file(path: &Path) -> io::Result<()> {
    io_failpoint!("purge::before_delete");
    remove_file(path)
}

/// Creates `dir` (and its parents) and makes the new entry durable in its parent.
pub(crate) fn create_dir_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => fsync_dir(parent),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn writeback_steps_every_mebibyte_and_keeps_the_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        let mut file = File::create(&path).expect("create");
        let mut writeback = Writeback::new(0);
        let piece = vec![7u8; 256 * 1024];
        for _ in 0..12 {
            file.write_all(&piece).expect("write");
            writeback.wrote(&file, piece.len() as u64).expect("writeback step");
        }
        // 3 MiB written: the last step started at 2 MiB and covers the third MiB.
        assert!(writeback.supported, "temp dirs here support sync_file_range");
        assert_eq!(writeback.started, (2 << 20, 3 << 20));
        assert_eq!(writeback.written, 3 << 20);
        file.sync_all().expect("fsync");
        assert_eq!(fs::read(&path).expect("read back"), vec![7u8; 3 << 20]);
    }
}
