//! The snapshot directory: listing, startup cleanup of temp files, and retention (docs/format.md, 3.5 and
//! 3.6).

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::format::{
    HEADER_LEN, TRAILER_LEN, decode_header, decode_trailer, is_temp_snapshot_name, parse_snapshot_name,
};
use crate::error::StorageError;
use crate::fsutil;

/// Every `<zxid>.snap` in `dir`, sorted by zxid, without opening them. Temp files and foreign files are
/// ignored; a missing directory holds no snapshots.
pub fn list_snapshots(dir: &Path) -> Result<Vec<(i64, PathBuf)>, StorageError> {
    let mut snapshots = Vec::new();
    for (name, path) in dir_entries(dir)? {
        if let Some(zxid) = parse_snapshot_name(&name) {
            snapshots.push((zxid, path));
        }
    }
    snapshots.sort_unstable_by_key(|(zxid, _)| *zxid);
    Ok(snapshots)
}

/// Deletes `<zxid>.snap.tmp` files left by a crash; returns them. Call once at startup, before any
/// snapshot is taken (a snapshot being written is a temp file too).
pub fn clean_snapshot_temp_files(dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
    let mut removed = Vec::new();
    for (name, path) in dir_entries(dir)? {
        if is_temp_snapshot_name(&name) {
            fsutil::remove_file(&path).map_err(|e| StorageError::io("delete", &path, e))?;
            removed.push(path);
        }
    }
    if !removed.is_empty() {
        fsutil::fsync_dir(dir).map_err(|e| StorageError::io("fsync snapshot directory", dir, e))?;
    }
    Ok(removed)
}

/// Keeps the newest `max(retain, 3)` snapshots that pass a quick check and deletes every snapshot older
/// than the oldest of them; returns the deleted paths. Deletes nothing when too few snapshots pass.
pub fn purge_snapshots(dir: &Path, retain: usize) -> Result<Vec<PathBuf>, StorageError> {
    let retain = retain.max(3);
    let snapshots = list_snapshots(dir)?;
    let mut kept = 0;
    let oldest_kept = snapshots.iter().rposition(|(_, path)| {
        kept += usize::from(looks_complete(path));
        kept == retain
    });
    let Some(oldest_kept) = oldest_kept else { return Ok(Vec::new()) };
    let mut removed = Vec::new();
    let mut result = Ok(());
    for (_, path) in snapshots.iter().take(oldest_kept) {
        if let Err(e) = fsutil::purge_file(path) {
            result = Err(StorageError::io("delete", path, e));
            break;
        }
        removed.push(path.clone());
    }
    if !removed.is_empty() {
        fsutil::fsync_dir(dir).map_err(|e| StorageError::io("fsync snapshot directory", dir, e))?;
    }
    result.map(|()| removed)
}

/// The quick check of retention: a valid header and a trailer with a valid checksum at the very end. It
/// catches zero-filled and cut-off files without reading the body.
fn looks_complete(path: &Path) -> bool {
    let check = || -> io::Result<bool> {
        let mut file = File::open(path)?;
        let mut head = [0u8; HEADER_LEN];
        file.read_exact(&mut head)?;
        if decode_header(&head).is_err() {
            return Ok(false);
        }
        if file.metadata()?.len() < (HEADER_LEN + TRAILER_LEN) as u64 {
            return Ok(false);
        }
        let mut tail = [0u8; TRAILER_LEN];
        file.seek(SeekFrom::End(-(TRAILER_LEN as i64)))?;
        file.read_exact(&mut tail)?;
        Ok(decode_trailer(&tail).is_ok())
    };
    check().unwrap_or(false)
}

/// `(file name, path)` of every entry with a UTF-8 name; nothing when the directory does not exist.
fn dir_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, StorageError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io("list snapshot directory", dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list snapshot directory", dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            found.push((name, entry.path()));
        }
    }
    Ok(found)
}
