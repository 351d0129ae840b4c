//! Reading a segment at open time and deciding, when it does not end cleanly, whether the damage is a torn
//! tail (truncate) or corruption (refuse). The rules are in docs/format.md, 2.4. Nothing here writes.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::record::{RECORD_HEADER_LEN, RecordHeader, SEGMENT_HEADER_LEN, decode_segment_header, valid_record_at};
use crate::error::StorageError;

/// What a segment holds, as far as its records are valid.
#[derive(Debug)]
pub(crate) struct Scanned {
    pub path: PathBuf,
    pub first_index: u64,
    pub last_index: Option<u64>,
    /// Header plus every valid record: where the next record goes.
    pub data_len: u64,
    /// The size of the file, preallocated space included.
    pub file_len: u64,
    /// Set when the last segment ends in a torn record: the offset to truncate at and what was wrong.
    pub torn: Option<(u64, String)>,
}

/// Why the record scan stopped before the end of the file.
enum Stop {
    /// An all-zero header (or a short all-zero remainder): the start of preallocated space.
    Zero,
    /// Not a valid record; the string says why.
    Bad(String),
}

pub(crate) fn scan_segment(path: &Path, name_index: u64, is_last: bool) -> Result<Scanned, StorageError> {
    let file = File::open(path).map_err(|e| StorageError::io("open segment", path, e))?;
    let file_len = file.metadata().map_err(|e| StorageError::io("stat segment", path, e))?.len();
    let corrupt = |offset: u64, index: u64, reason: String| StorageError::WalCorrupt {
        path: path.to_path_buf(),
        offset,
        index,
        reason,
    };

    let mut reader = BufReader::with_capacity(1 << 20, &file);
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    if file_len < SEGMENT_HEADER_LEN {
        return Err(corrupt(0, name_index, format!("file is {file_len} bytes, shorter than a segment header")));
    }
    reader.read_exact(&mut header).map_err(|e| StorageError::io("read segment", path, e))?;
    let first_index = decode_segment_header(&header).map_err(|why| corrupt(0, name_index, why))?;
    if first_index != name_index {
        return Err(corrupt(
            0,
            name_index,
            format!("header says first index {first_index}, the file name {name_index}"),
        ));
    }

    let mut scanned = Scanned {
        path: path.to_path_buf(),
        first_index,
        last_index: None,
        data_len: SEGMENT_HEADER_LEN,
        file_len,
        torn: None,
    };
    let mut payload = Vec::new();
    let stop = loop {
        let pos = scanned.data_len;
        let expected = next_index(&scanned);
        match read_record(&mut reader, file_len - pos, &mut payload)
            .map_err(|e| StorageError::io("read segment", path, e))?
        {
            ReadOutcome::EndOfFile => return Ok(scanned),
            ReadOutcome::Stop(stop) => break stop,
            ReadOutcome::Record(h) if h.index != expected => {
                return Err(corrupt(pos, expected, format!("a valid record carries index {} instead", h.index)));
            }
            ReadOutcome::Record(h) => {
                scanned.last_index = Some(h.index);
                scanned.data_len = pos + RECORD_HEADER_LEN + u64::from(h.len);
            }
        }
    };
    drop(reader);

    let pos = scanned.data_len;
    let expected = next_index(&scanned);
    let why = match stop {
        Stop::Zero if rest_is_zero(&file, pos, file_len).map_err(|e| StorageError::io("read segment", path, e))? => {
            return Ok(scanned);
        }
        Stop::Zero => "an all-zero record header is followed by non-zero bytes".to_string(),
        Stop::Bad(why) => why,
    };
    let rest = read_rest(&file, pos, file_len).map_err(|e| StorageError::io("read segment", path, e))?;
    if let Some((at, index)) = find_later_record(&rest, expected) {
        return Err(corrupt(
            pos,
            expected,
            format!(
                "{why}; a valid record (index {index}) follows at offset {}, so this is damage, not a torn write",
                pos + at
            ),
        ));
    }
    if !is_last {
        return Err(corrupt(pos, expected, format!("{why} in a sealed segment (only the last segment can be torn)")));
    }
    scanned.torn = Some((pos, why));
    Ok(scanned)
}

fn next_index(s: &Scanned) -> u64 {
    s.last_index.map_or(s.first_index, |last| last.wrapping_add(1))
}

/// The byte offset right after record `index` in a segment that has already been scanned (so its records
/// are known to be valid and contiguous): where `truncate_after(index)` cuts. Reads only record headers.
pub(crate) fn record_end(path: &Path, first_index: u64, index: u64) -> Result<u64, StorageError> {
    let file = File::open(path).map_err(|e| StorageError::io("open segment", path, e))?;
    let mut pos = SEGMENT_HEADER_LEN;
    for expected in first_index..=index {
        let mut head = [0u8; RECORD_HEADER_LEN as usize];
        file.read_exact_at(&mut head, pos).map_err(|e| StorageError::io("read segment", path, e))?;
        let h = RecordHeader::decode(&head);
        if h.index != expected || !h.payload_len_ok() {
            return Err(StorageError::WalCorrupt {
                path: path.to_path_buf(),
                offset: pos,
                index: expected,
                reason: format!("record header changed since the log was opened (index {})", h.index),
            });
        }
        pos += RECORD_HEADER_LEN + u64::from(h.len);
    }
    if index < first_index {
        return Err(StorageError::InvalidArgument(format!(
            "record {index} is not in segment {}, which starts at {first_index}",
            path.display()
        )));
    }
    Ok(pos)
}

enum ReadOutcome {
    EndOfFile,
    Record(RecordHeader),
    Stop(Stop),
}

/// Reads one record from `reader`, which has `remaining` bytes left in the file.
fn read_record(reader: &mut impl Read, remaining: u64, payload: &mut Vec<u8>) -> io::Result<ReadOutcome> {
    if remaining == 0 {
        return Ok(ReadOutcome::EndOfFile);
    }
    if remaining < RECORD_HEADER_LEN {
        let mut tail = [0u8; RECORD_HEADER_LEN as usize];
        let tail = &mut tail[..remaining as usize];
        reader.read_exact(tail)?;
        return Ok(ReadOutcome::Stop(if tail.iter().all(|&b| b == 0) {
            Stop::Zero
        } else {
            Stop::Bad(format!("only {remaining} bytes of a record header before the end of the file"))
        }));
    }
    let mut head = [0u8; RECORD_HEADER_LEN as usize];
    reader.read_exact(&mut head)?;
    let h = RecordHeader::decode(&head);
    if h.is_zero() {
        return Ok(ReadOutcome::Stop(Stop::Zero));
    }
    if !h.payload_len_ok() {
        return Ok(ReadOutcome::Stop(Stop::Bad(format!("record length {} exceeds the maximum", h.len))));
    }
    if u64::from(h.len) > remaining - RECORD_HEADER_LEN {
        return Ok(ReadOutcome::Stop(Stop::Bad(format!("record of {} bytes extends past the end of the file", h.len))));
    }
    payload.resize(h.len as usize, 0);
    reader.read_exact(payload)?;
    if !h.crc_matches(payload) {
        return Ok(ReadOutcome::Stop(Stop::Bad("record checksum mismatch".to_string())));
    }
    Ok(ReadOutcome::Record(h))
}

pub(crate) fn rest_is_zero(file: &File, from: u64, to: u64) -> io::Result<bool> {
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = from;
    while pos < to {
        let n = usize::try_from((to - pos).min(buf.len() as u64)).unwrap_or(buf.len());
        let chunk = &mut buf[..n];
        file.read_exact_at(chunk, pos)?;
        if chunk.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        pos += n as u64;
    }
    Ok(true)
}

fn read_rest(file: &File, from: u64, to: u64) -> io::Result<Vec<u8>> {
    let len = usize::try_from(to - from).map_err(|_| io::Error::other("segment too large to examine"))?;
    let mut rest = vec![0u8; len];
    file.read_exact_at(&mut rest, from)?;
    Ok(rest)
}

/// Looks for a valid record after the damaged one (offset 0 of `rest`): one whose checksum matches and
/// whose index could follow `expected`. Tries every byte offset, since the damaged record's length field
/// cannot be trusted. Returns its offset within `rest` and its index.
fn find_later_record(rest: &[u8], expected: u64) -> Option<(u64, u64)> {
    // Every record takes at least RECORD_HEADER_LEN bytes, which bounds how far the index can have moved.
    let max_step = (rest.len() as u64) / RECORD_HEADER_LEN + 1;
    (1..rest.len()).find_map(|at| {
        let candidate = rest.get(at..)?;
        let head: &[u8; RECORD_HEADER_LEN as usize] = candidate.get(..RECORD_HEADER_LEN as usize)?.try_into().ok()?;
        let h = RecordHeader::decode(head);
        let plausible = h.index.checked_sub(expected).is_some_and(|step| step <= max_step);
        if !plausible {
            return None;
        }
        valid_record_at(candidate).map(|h| (at as u64, h.index))
    })
}
