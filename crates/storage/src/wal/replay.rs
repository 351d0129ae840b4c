//! Reading the log back: `replay` hands every record from an index on to a callback, `read_range` the
//! records of an index range, re-checking each record's checksum and index on the way.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::Range;

use super::record::{RECORD_HEADER_LEN, RecordHeader, SEGMENT_HEADER_LEN};
use super::{Segment, Wal};
use crate::error::StorageError;

impl Wal {
    /// Calls `f(index, payload)` for every record with an index of at least `from`, in order. Fails with
    /// `StorageError::Gap` when `from` is below the first record (those records are gone), and stops at
    /// the first error `f` returns.
    pub fn replay(&self, from: u64, f: impl FnMut(u64, &[u8]) -> Result<(), StorageError>) -> Result<(), StorageError> {
        self.read_range(from, u64::MAX, f)
    }

    /// Like `replay`, but stops before index `end` (exclusive): reads the records `from..end` and nothing
    /// after them. Consensus reads log ranges this way. Segments that end before `from` or start at or
    /// after `end` are not opened.
    pub fn read_range(
        &self,
        from: u64,
        end: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        if from >= end {
            return Ok(());
        }
        if let Some(first) = self.first_index()
            && from < first
        {
            return Err(StorageError::Gap { from, first });
        }
        let mut payload = Vec::new();
        for segment in &self.segments {
            if segment.first_index >= end {
                break;
            }
            if segment.last_index.is_none_or(|last| last < from) {
                continue;
            }
            replay_segment_range(segment, from..end, &mut payload, &mut f)?;
        }
        Ok(())
    }
}

pub(super) fn replay_segment_range(
    segment: &Segment,
    range: Range<u64>,
    payload: &mut Vec<u8>,
    f: &mut impl FnMut(u64, &[u8]) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let path = &segment.path;
    let read_err = |e| StorageError::io("read segment", path, e);
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(read_err)?);
    reader.seek(SeekFrom::Start(SEGMENT_HEADER_LEN)).map_err(read_err)?;
    let mut pos = SEGMENT_HEADER_LEN;
    let mut expected = segment.first_index;
    while pos < segment.data_len && expected < range.end {
        let corrupt = |reason: &str| StorageError::WalCorrupt {
            path: path.clone(),
            offset: pos,
            index: expected,
            reason: format!("{reason} (the segment changed since the log was opened)"),
        };
        let mut head = [0u8; RECORD_HEADER_LEN as usize];
        reader.read_exact(&mut head).map_err(read_err)?;
        let h = RecordHeader::decode(&head);
        let end = pos + RECORD_HEADER_LEN + u64::from(h.len);
        if h.index != expected || !h.payload_len_ok() || end > segment.data_len {
            return Err(corrupt("record header does not match"));
        }
        if h.index < range.start {
            reader.seek_relative(i64::from(h.len)).map_err(read_err)?;
        } else {
            payload.resize(h.len as usize, 0);
            reader.read_exact(payload).map_err(read_err)?;
            if !h.crc_matches(payload) {
                return Err(corrupt("record checksum mismatch"));
            }
            f(h.index, payload)?;
        }
        pos = end;
        expected = expected.wrapping_add(1);
    }
    Ok(())
}
