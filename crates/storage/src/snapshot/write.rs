//! Writing a snapshot: temp file, chunks, trailer, fsync, rename, directory fsync (docs/format.md, 3.4).
//! No partial file is ever left under a snapshot's final name.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::format::{
    CHUNK_HEADER_LEN, HEADER_LEN, Trailer, WRITE_CHUNK, encode_chunk_header, encode_header, encode_trailer,
    snapshot_file_name,
};
use super::pace::{Pace, Pacer};
use super::{Compression, SnapshotHeader};
use crate::error::StorageError;
use crate::fsutil::{self, Writeback, io_failpoint};

/// zstd level 1: snapshots compete with requests for CPU while they are written, and level 1 compresses
/// repetitive znode data nearly as well as the default level with noticeably less CPU.
const ZSTD_LEVEL: i32 = 1;

/// Writes `<dir>/<zxid>.snap`: `body` streams the snapshot's body into the writer it is given, which cuts
/// it into checksummed chunks. Returns the path of the finished, durable file.
pub fn write_snapshot(
    dir: &Path,
    header: &SnapshotHeader,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<PathBuf, StorageError> {
    write_snapshot_paced(dir, header, Pace::FULL, body)
}

/// [`write_snapshot`], resting between chunks so that the writing thread works only `pace`'s share of the
/// time (see [`Pace`]).
pub fn write_snapshot_paced(
    dir: &Path,
    header: &SnapshotHeader,
    pace: Pace,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<PathBuf, StorageError> {
    if header.zxid < 0 {
        return Err(StorageError::InvalidArgument(format!("snapshot zxid {} is negative", header.zxid)));
    }
    fsutil::create_dir_durable(dir).map_err(|e| StorageError::io("create snapshot directory", dir, e))?;
    let path = dir.join(snapshot_file_name(header.zxid));
    let tmp = dir.join(format!("{}.tmp", snapshot_file_name(header.zxid)));
    if let Err(e) = write_temp(&tmp, header, pace, body).and_then(|()| rename(&tmp, &path)) {
        let _ = fsutil::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir).map_err(|e| StorageError::io("fsync snapshot directory", dir, e))?;
    Ok(path)
}

fn write_temp(
    tmp: &Path,
    header: &SnapshotHeader,
    pace: Pace,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), StorageError> {
    let io_err = |op| move |e| StorageError::io(op, tmp, e);
    let mut file = File::create(tmp).map_err(io_err("create"))?;
    file.write_all(&encode_header(header)).map_err(io_err("write snapshot header to"))?;
    let mut chunks = ChunkWriter::new(file, header.compression, pace).map_err(io_err("start compressing"))?;
    body(&mut chunks).map_err(io_err("write snapshot body to"))?;
    let file = chunks.finish().map_err(io_err("write snapshot body to"))?;
    fsync(&file).map_err(io_err("fsync"))
}

fn fsync(file: &File) -> io::Result<()> {
    io_failpoint!("snapshot::before_fsync");
    file.sync_all()
}

fn rename(tmp: &Path, path: &Path) -> Result<(), StorageError> {
    let attempt = || -> io::Result<()> {
        io_failpoint!("snapshot::before_rename");
        fs::rename(tmp, path)
    };
    attempt().map_err(|e| StorageError::io("rename snapshot to", path, e))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    io_failpoint!("snapshot::after_rename");
    fsutil::fsync_dir(dir)
}

/// Collects the body into pieces of `WRITE_CHUNK` bytes and writes each as one chunk. A failed chunk
/// write poisons the writer, so a body that ignores an error still cannot produce a complete file.
struct ChunkWriter {
    file: File,
    compression: Compression,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    piece: Vec<u8>,
    trailer: Trailer,
    writeback: Writeback,
    poisoned: bool,
    pacer: Pacer,
}

impl ChunkWriter {
    fn new(file: File, compression: Compression, pace: Pace) -> io::Result<ChunkWriter> {
        let compressor = match compression {
            Compression::None => None,
            Compression::Zstd => Some(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
        };
        Ok(ChunkWriter {
            file,
            compression,
            compressor,
            piece: Vec::with_capacity(WRITE_CHUNK),
            trailer: Trailer::default(),
            writeback: Writeback::new(HEADER_LEN as u64),
            pacer: Pacer::new(pace),
            poisoned: false,
        })
    }

    fn finish(mut self) -> io::Result<File> {
        self.check_poisoned()?;
        self.write_chunk()?;
        write_failpoint()?;
        self.file.write_all(&encode_trailer(&self.trailer))?;
        Ok(self.file)
    }

    fn check_poisoned(&self) -> io::Result<()> {
        if self.poisoned {
            return Err(io::Error::other("an earlier snapshot chunk write failed"));
        }
        Ok(())
    }

    /// Writes the collected piece, if any, as one chunk.
    fn write_chunk(&mut self) -> io::Result<()> {
        if self.piece.is_empty() {
            return Ok(());
        }
        let result = self.emit();
        self.poisoned = result.is_err();
        self.piece.clear();
        self.pacer.rest();
        result
    }

    fn emit(&mut self) -> io::Result<()> {
        let compressed;
        let stored: &[u8] = match (self.compression, &mut self.compressor) {
            (Compression::Zstd, Some(compressor)) => {
                compressed = compressor.compress(&self.piece)?;
                &compressed
            }
            _ => &self.piece,
        };
        let too_long = || io::Error::other("snapshot chunk too long");
        let stored_len = u32::try_from(stored.len()).map_err(|_| too_long())?;
        let raw_len = u32::try_from(self.piece.len()).map_err(|_| too_long())?;
        write_failpoint()?;
        self.file.write_all(&encode_chunk_header(stored_len, raw_len, stored))?;
        self.file.write_all(stored)?;
        self.writeback.wrote(&self.file, (CHUNK_HEADER_LEN + stored.len()) as u64)?;
        self.trailer.chunk_count += 1;
        self.trailer.body_len += u64::from(raw_len);
        self.trailer.body_crc = crc32c::crc32c_append(self.trailer.body_crc, &self.piece);
        Ok(())
    }
}

fn write_failpoint() -> io::Result<()> {
    io_failpoint!("snapshot::before_write");
    Ok(())
}

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check_poisoned()?;
        let room = WRITE_CHUNK - self.piece.len();
        let taken = buf.len().min(room);
        self.piece.extend_from_slice(&buf[..taken]);
        if self.piece.len() == WRITE_CHUNK {
            self.write_chunk()?;
        }
        Ok(taken)
    }

    /// Chunks are cut by size only, so that flushing does not produce small chunks; the file is flushed
    /// by `finish`.
    fn flush(&mut self) -> io::Result<()> {
        self.check_poisoned()
    }
}
