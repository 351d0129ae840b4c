//! Writing a snapshot: temp file, chunks, trailer, fsync, rename, directory fsync (docs/format.md, 3.4).
//! No partial file is ever left under a snapshot's final name. The same bytes can be written into any
//! stream instead ([`write_snapshot_to`], for online backups); one chunk writer serves both.

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
    let sink = FileSink { file, writeback: Writeback::new(HEADER_LEN as u64) };
    let mut chunks = ChunkWriter::new(sink, header.compression, pace).map_err(io_err("start compressing"))?;
    body(&mut chunks).map_err(io_err("write snapshot body to"))?;
    let sink = chunks.finish().map_err(io_err("write snapshot body to"))?;
    fsync(&sink.file).map_err(io_err("fsync"))
}

/// Writes the bytes of a snapshot file (header, chunks, trailer: exactly what [`write_snapshot`] would put
/// in `<zxid>.snap`) into `out`, for a backup streamed elsewhere; nothing touches the disk and nothing is
/// fsynced. Returns the number of bytes written. On an error `out` holds an incomplete snapshot, which no
/// reader accepts (it has no valid trailer).
pub fn write_snapshot_to<W: Write + ?Sized>(
    out: &mut W,
    header: &SnapshotHeader,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<u64, StorageError> {
    write_snapshot_to_paced(out, header, Pace::FULL, body)
}

/// [`write_snapshot_to`], resting between chunks as [`write_snapshot_paced`] does.
pub fn write_snapshot_to_paced<W: Write + ?Sized>(
    out: &mut W,
    header: &SnapshotHeader,
    pace: Pace,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<u64, StorageError> {
    if header.zxid < 0 {
        return Err(StorageError::InvalidArgument(format!("snapshot zxid {} is negative", header.zxid)));
    }
    let stream_err = |op| move |source| StorageError::Stream { op, source };
    let mut sink = StreamSink { out, written: 0 };
    sink.write_all(&encode_header(header)).map_err(stream_err("write snapshot header"))?;
    let mut chunks = ChunkWriter::new(sink, header.compression, pace).map_err(stream_err("start compressing"))?;
    body(&mut chunks).map_err(stream_err("write snapshot body"))?;
    let sink = chunks.finish().map_err(stream_err("write snapshot body"))?;
    sink.out.flush().map_err(stream_err("flush snapshot"))?;
    Ok(sink.written)
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

/// Where a [`ChunkWriter`] puts the chunks and the trailer.
trait Sink: Write {
    /// Called after each chunk, with the bytes it took.
    fn wrote_chunk(&mut self, len: u64) -> io::Result<()>;
}

/// A snapshot file being written to disk: its dirty pages are handed to writeback as it grows (see
/// [`Writeback`]), so that the final fsync has little left to do.
struct FileSink {
    file: File,
    writeback: Writeback,
}

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Sink for FileSink {
    fn wrote_chunk(&mut self, len: u64) -> io::Result<()> {
        self.writeback.wrote(&self.file, len)
    }
}

/// Any stream: the bytes it took are counted, nothing else.
struct StreamSink<'a, W: Write + ?Sized> {
    out: &'a mut W,
    written: u64,
}

impl<W: Write + ?Sized> Write for StreamSink<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write + ?Sized> Sink for StreamSink<'_, W> {
    fn wrote_chunk(&mut self, _len: u64) -> io::Result<()> {
        Ok(())
    }
}

/// Collects the body into pieces of `WRITE_CHUNK` bytes and writes each as one chunk. A failed chunk
/// write poisons the writer, so a body that ignores an error still cannot produce a complete file.
struct ChunkWriter<S: Sink> {
    sink: S,
    compression: Compression,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    piece: Vec<u8>,
    trailer: Trailer,
    poisoned: bool,
    pacer: Pacer,
}

impl<S: Sink> ChunkWriter<S> {
    fn new(sink: S, compression: Compression, pace: Pace) -> io::Result<ChunkWriter<S>> {
        let compressor = match compression {
            Compression::None => None,
            Compression::Zstd => Some(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
        };
        Ok(ChunkWriter {
            sink,
            compression,
            compressor,
            piece: Vec::with_capacity(WRITE_CHUNK),
            trailer: Trailer::default(),
            pacer: Pacer::new(pace),
            poisoned: false,
        })
    }

    /// Writes the last piece and the trailer; returns the sink.
    fn finish(mut self) -> io::Result<S> {
        self.check_poisoned()?;
        self.write_chunk()?;
        write_failpoint()?;
        self.sink.write_all(&encode_trailer(&self.trailer))?;
        Ok(self.sink)
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
        self.sink.write_all(&encode_chunk_header(stored_len, raw_len, stored))?;
        self.sink.write_all(stored)?;
        self.sink.wrote_chunk((CHUNK_HEADER_LEN + stored.len()) as u64)?;
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

impl<S: Sink> Write for ChunkWriter<S> {
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
    /// by `finish` (a stream by [`write_snapshot_to`]).
    fn flush(&mut self) -> io::Result<()> {
        self.check_poisoned()
    }
}
