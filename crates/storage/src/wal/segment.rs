//! Segment files as files: their names, listing the WAL directory, creating a segment durably, sealing one,
//! and the fsync every WAL write goes through (docs/format.md, 1 and 2.3).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::WalOptions;
use super::record::{SEGMENT_HEADER_LEN, encode_segment_header};
use crate::error::StorageError;
use crate::fsutil::{self, io_failpoint};

pub(crate) fn segment_file_name(first_index: u64) -> String {
    format!("{first_index:020}.wal")
}

/// Parses `<20 digits>.wal`.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `<20 digits>.wal.tmp`: a segment whose creation did not finish.
fn is_temp_segment_name(name: &str) -> bool {
    name.strip_suffix(".tmp").and_then(parse_segment_name).is_some()
}

/// What the WAL directory holds; other files are ignored.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// `(first_index, path)`, ascending.
    pub segments: Vec<(u64, PathBuf)>,
    pub temp_files: Vec<PathBuf>,
}

pub(crate) fn list_dir(dir: &Path) -> Result<Listing, StorageError> {
    let entries = fs::read_dir(dir).map_err(|e| StorageError::io("list WAL directory", dir, e))?;
    let mut listing = Listing::default();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list WAL directory", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(first) = parse_segment_name(name) {
            listing.segments.push((first, entry.path()));
        } else if is_temp_segment_name(name) {
            listing.temp_files.push(entry.path());
        }
    }
    listing.segments.sort_unstable_by_key(|(first, _)| *first);
    listing.temp_files.sort_unstable();
    Ok(listing)
}

/// The one way the WAL flushes a segment, so that the failpoints cover every fsync.
pub(crate) fn fsync(file: &File) -> io::Result<()> {
    io_failpoint!("wal::before_fsync");
    file.sync_data()?;
    io_failpoint!("wal::after_fsync");
    Ok(())
}

/// Creates `<first>.wal` through a temp file, so a `.wal` file always has a complete header, then returns
/// it open for appending.
pub(crate) fn create(dir: &Path, first_index: u64, options: &WalOptions) -> Result<(PathBuf, File), StorageError> {
    let path = dir.join(segment_file_name(first_index));
    let tmp = dir.join(format!("{}.tmp", segment_file_name(first_index)));
    let file = match write_new_segment(&tmp, first_index, options) {
        Ok(file) => file,
        Err(e) => {
            let _ = fsutil::remove_file(&tmp);
            return Err(StorageError::io("create segment", tmp, e));
        }
    };
    if let Err(e) = fs::rename(&tmp, &path) {
        let _ = fsutil::remove_file(&tmp);
        return Err(StorageError::io("rename new segment to", path, e));
    }
    if options.fsync {
        fsutil::fsync_dir(dir).map_err(|e| StorageError::io("fsync WAL directory", dir, e))?;
    }
    Ok((path, file))
}

fn write_new_segment(tmp: &Path, first_index: u64, options: &WalOptions) -> io::Result<File> {
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(tmp)?;
    file.write_all_at(&encode_segment_header(first_index), 0)?;
    if options.preallocate {
        fsutil::preallocate(&file, options.segment_bytes.max(SEGMENT_HEADER_LEN))?;
    }
    if options.fsync {
        fsync(&file)?;
    }
    Ok(file)
}

/// Opens an existing segment for appending at `data_len`, preallocating it when configured.
pub(crate) fn open_for_append(path: &Path, options: &WalOptions) -> Result<File, StorageError> {
    let file =
        OpenOptions::new().read(true).write(true).open(path).map_err(|e| StorageError::io("open segment", path, e))?;
    if options.preallocate {
        fsutil::preallocate(&file, options.segment_bytes.max(SEGMENT_HEADER_LEN))
            .map_err(|e| StorageError::io("preallocate segment", path, e))?;
    }
    Ok(file)
}

/// Cuts a segment to exactly `data_len` bytes and, when fsync is on, makes that durable. Used to seal a
/// full segment and to drop records after a failure or a `truncate_after`.
pub(crate) fn cut(file: &File, data_len: u64, options: &WalOptions) -> io::Result<()> {
    file.set_len(data_len)?;
    if options.fsync {
        fsync(file)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_like_their_numbers() {
        assert_eq!(segment_file_name(1), "00000000000000000001.wal");
        assert_eq!(parse_segment_name("00000000000000000001.wal"), Some(1));
        assert_eq!(parse_segment_name(&segment_file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("1.wal"), None);
        assert_eq!(parse_segment_name("00000000000000000001.wal.tmp"), None);
        assert_eq!(parse_segment_name("99999999999999999999.wal"), None);
        assert!(is_temp_segment_name("00000000000000000001.wal.tmp"));
        assert!(!is_temp_segment_name("notes.wal.tmp"));
    }
}
