//! Reading a snapshot: the header at open, then a body reader that verifies each chunk's checksum before
//! decompressing it and the trailer before reporting end of file (docs/format.md, 3.5).

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::format::{
    CHUNK_HEADER_LEN, HEADER_LEN, MAX_RAW_CHUNK, MAX_STORED_CHUNK, TRAILER_LEN, TRAILER_MARKER, Trailer, chunk_crc,
    decode_header, decode_trailer, le_u32, parse_snapshot_name,
};
use super::{Compression, SnapshotHeader};
use crate::error::StorageError;

/// Opens a snapshot: checks its header and returns it with a reader of the body. The reader fails with
/// `io::ErrorKind::InvalidData`, naming the file and offset, on any damage; it reports end of file only
/// once the trailer has been verified.
pub fn open_snapshot(path: &Path) -> Result<(SnapshotHeader, Box<dyn Read + Send>), StorageError> {
    let (header, reader) = open_body(path)?;
    Ok((header, Box::new(reader)))
}

/// Reads the whole snapshot and checks every checksum; returns its header.
pub fn verify_snapshot(path: &Path) -> Result<SnapshotHeader, StorageError> {
    inspect_snapshot(path).map(|report| report.header)
}

/// What `inspect_snapshot` learns by reading a snapshot through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotReport {
    pub header: SnapshotHeader,
    pub file_bytes: u64,
    pub chunk_count: u64,
    /// Uncompressed body size.
    pub body_bytes: u64,
}

/// Reads and verifies the whole snapshot, like `verify_snapshot`, and describes it.
pub fn inspect_snapshot(path: &Path) -> Result<SnapshotReport, StorageError> {
    let (header, mut reader) = open_body(path)?;
    io::copy(&mut reader, &mut io::sink()).map_err(|e| match e.get_ref().and_then(|e| e.downcast_ref()) {
        Some(Damage { path, offset, reason }) => {
            StorageError::SnapshotCorrupt { path: path.clone(), offset: *offset, reason: reason.clone() }
        }
        None => StorageError::io("read snapshot", path, e),
    })?;
    Ok(SnapshotReport {
        header,
        file_bytes: reader.offset,
        chunk_count: reader.seen.chunk_count,
        body_bytes: reader.seen.body_len,
    })
}

fn open_body(path: &Path) -> Result<(SnapshotHeader, BodyReader), StorageError> {
    let file = File::open(path).map_err(|e| StorageError::io("open snapshot", path, e))?;
    let mut file = BufReader::with_capacity(1 << 20, file);
    let mut head = [0u8; HEADER_LEN];
    let corrupt = |reason: String| StorageError::SnapshotCorrupt { path: path.to_path_buf(), offset: 0, reason };
    file.read_exact(&mut head).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => corrupt("the file is shorter than a snapshot header".to_string()),
        _ => StorageError::io("read snapshot", path, e),
    })?;
    let header = decode_header(&head).map_err(corrupt)?;
    // A copy under another name (say, for `paddock snapshot inspect`) is fine; a mismatched canonical name is not.
    let named = path.file_name().and_then(|n| n.to_str()).and_then(parse_snapshot_name);
    if let Some(named) = named
        && named != header.zxid
    {
        return Err(StorageError::SnapshotCorrupt {
            path: path.to_path_buf(),
            offset: 16,
            reason: format!("the header says zxid {}, the file name {named}", header.zxid),
        });
    }
    let reader = BodyReader {
        path: path.to_path_buf(),
        file,
        offset: HEADER_LEN as u64,
        compression: header.compression,
        chunk: Vec::new(),
        pos: 0,
        stored: Vec::new(),
        seen: Trailer::default(),
        state: State::Reading,
    };
    Ok((header, reader))
}

/// Damage found in a snapshot body; carried inside the `io::Error` the reader returns.
#[derive(Debug, Clone)]
struct Damage {
    path: PathBuf,
    offset: u64,
    reason: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "snapshot {} is invalid at offset {}: {}", self.path.display(), self.offset, self.reason)
    }
}

impl std::error::Error for Damage {}

enum State {
    Reading,
    /// The trailer was verified: the body is complete.
    Done,
    /// Damage was found; every later read repeats it.
    Damaged(Damage),
}

struct BodyReader {
    path: PathBuf,
    file: BufReader<File>,
    /// Offset of the next chunk (or trailer) in the file.
    offset: u64,
    compression: Compression,
    /// The current chunk's raw bytes, handed out from `pos`.
    chunk: Vec<u8>,
    pos: usize,
    stored: Vec<u8>,
    /// Chunk count, body length and body CRC of what was read so far, checked against the trailer.
    seen: Trailer,
    state: State,
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(available) = self.chunk.get(self.pos..)
                && !available.is_empty()
            {
                let n = available.len().min(out.len());
                out[..n].copy_from_slice(&available[..n]);
                self.pos += n;
                return Ok(n);
            }
            match &self.state {
                State::Done => return Ok(0),
                State::Damaged(damage) => return Err(io::Error::new(io::ErrorKind::InvalidData, damage.clone())),
                State::Reading if out.is_empty() => return Ok(0),
                State::Reading => {}
            }
            match self.next_chunk() {
                Ok(()) => {}
                Err(Failure::Io(e)) => return Err(e),
                Err(Failure::Damage(reason)) => {
                    let damage = Damage { path: self.path.clone(), offset: self.offset, reason };
                    self.state = State::Damaged(damage);
                }
            }
        }
    }
}

enum Failure {
    Io(io::Error),
    Damage(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => Failure::Damage("the file ends early (truncated)".to_string()),
            _ => Failure::Io(e),
        }
    }
}

impl BodyReader {
    /// Loads the next chunk into `chunk`, or verifies the trailer.
    fn next_chunk(&mut self) -> Result<(), Failure> {
        let mut head = [0u8; CHUNK_HEADER_LEN];
        self.file.read_exact(&mut head[..4])?;
        let stored_len = le_u32(&head[0..4]);
        if stored_len == TRAILER_MARKER {
            return self.finish();
        }
        self.file.read_exact(&mut head[4..])?;
        let (raw_len, crc) = (le_u32(&head[4..8]), le_u32(&head[8..12]));
        self.check_lengths(stored_len, raw_len)?;
        self.stored.resize(stored_len as usize, 0);
        self.file.read_exact(&mut self.stored)?;
        if chunk_crc(stored_len, raw_len, &self.stored) != crc {
            return Err(Failure::Damage("chunk checksum mismatch".to_string()));
        }
        self.chunk = match self.compression {
            Compression::None => std::mem::take(&mut self.stored),
            Compression::Zstd => zstd::bulk::decompress(&self.stored, raw_len as usize)
                .map_err(|e| Failure::Damage(format!("chunk does not decompress: {e}")))?,
        };
        if self.chunk.len() != raw_len as usize {
            return Err(Failure::Damage(format!(
                "chunk decompresses to {} bytes instead of {raw_len}",
                self.chunk.len()
            )));
        }
        self.pos = 0;
        self.seen.chunk_count += 1;
        self.seen.body_len += u64::from(raw_len);
        self.seen.body_crc = crc32c::crc32c_append(self.seen.body_crc, &self.chunk);
        self.offset += CHUNK_HEADER_LEN as u64 + u64::from(stored_len);
        Ok(())
    }

    fn check_lengths(&self, stored_len: u32, raw_len: u32) -> Result<(), Failure> {
        if raw_len == 0 || raw_len > MAX_RAW_CHUNK {
            return Err(Failure::Damage(format!("chunk length {raw_len} is out of bounds")));
        }
        if stored_len > MAX_STORED_CHUNK {
            return Err(Failure::Damage(format!("stored chunk length {stored_len} is out of bounds")));
        }
        if self.compression == Compression::None && stored_len != raw_len {
            return Err(Failure::Damage(format!(
                "uncompressed chunk stores {stored_len} bytes but declares {raw_len}"
            )));
        }
        Ok(())
    }

    /// Reads the rest of the trailer and checks it against what was read, then that the file ends there.
    fn finish(&mut self) -> Result<(), Failure> {
        let mut bytes = [0u8; TRAILER_LEN];
        bytes[0..4].copy_from_slice(&TRAILER_MARKER.to_le_bytes());
        self.file.read_exact(&mut bytes[4..])?;
        let trailer = decode_trailer(&bytes).map_err(Failure::Damage)?;
        if trailer != self.seen {
            return Err(Failure::Damage(format!(
                "trailer records {} chunks, {} bytes, body crc {:#010x}, but the file holds {} chunks, {} \
                 bytes, body crc {:#010x}",
                trailer.chunk_count,
                trailer.body_len,
                trailer.body_crc,
                self.seen.chunk_count,
                self.seen.body_len,
                self.seen.body_crc
            )));
        }
        let mut extra = [0u8; 1];
        if self.file.read(&mut extra)? != 0 {
            self.offset += TRAILER_LEN as u64;
            return Err(Failure::Damage("bytes follow the trailer".to_string()));
        }
        self.offset += TRAILER_LEN as u64;
        self.state = State::Done;
        Ok(())
    }
}
