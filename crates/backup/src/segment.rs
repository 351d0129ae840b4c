//! Archived log objects (docs/backup-format.md, section 7): the txns of a run of consecutive log indexes, in
//! WAL-style records, in one zstd-compressed object named by the indexes it covers and their time range.
//! A standalone server's log has a txn at every index; an ensemble's has none at some (a new leader's
//! blank entry, a joint membership change), so from format 2 on an object may skip indexes inside its
//! range, and may even hold no record at all.

use bytes::Bytes;

use crate::BackupError;

const MAGIC: &[u8; 4] = b"PDKA";
const END_MAGIC: &[u8; 4] = b"PDKE";
pub const SEGMENT_FORMAT_VERSION: u32 = 2;
/// Format 1: a record at every index of the range.
const GAPLESS_FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 4 + 4 + 8 + 8;
const RECORD_HEADER_LEN: usize = 4 + 4 + 8;
/// zstd level 3: archived segments are small and uploaded once; the default level compresses txns well.
const ZSTD_LEVEL: i32 = 3;
/// A decompressed object larger than this is refused as damaged (objects are cut at `MAX_RAW_BYTES`).
const MAX_DECODED_BYTES: u64 = 4 * MAX_RAW_BYTES as u64;

/// Entries per object are cut at this many raw bytes, so that an archiver catching up after an outage
/// uploads several bounded objects, and a reader never holds more than one of them.
pub const MAX_RAW_BYTES: usize = 16 * 1024 * 1024;

/// What an archived segment's name says: the first and last log index (zxid) it covers and the leader's
/// time stamps of its first and last txn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SegmentName {
    pub first: i64,
    pub last: i64,
    pub first_time_ms: i64,
    pub last_time_ms: i64,
}

impl SegmentName {
    /// `<cluster>/wal/<first>-<last>_<first time>-<last time>.seg`, zxids as 20 digits, times in ms.
    pub fn key(&self, cluster: &str) -> String {
        format!("{cluster}/wal/{:020}-{:020}_{}-{}.seg", self.first, self.last, self.first_time_ms, self.last_time_ms)
    }

    /// The name of key `<cluster>/wal/...`; `None` for any other key.
    pub fn parse(key: &str) -> Option<(&str, SegmentName)> {
        let (cluster, rest) = key.split_once('/')?;
        let name = rest.strip_prefix("wal/")?.strip_suffix(".seg")?;
        let (zxids, times) = name.split_once('_')?;
        let (first, last) = zxids.split_once('-')?;
        let (first_time_ms, last_time_ms) = times.split_once('-')?;
        let parsed = SegmentName {
            first: first.parse().ok()?,
            last: last.parse().ok()?,
            first_time_ms: first_time_ms.parse().ok()?,
            last_time_ms: last_time_ms.parse().ok()?,
        };
        (parsed.first <= parsed.last && first.len() == 20 && last.len() == 20).then_some((cluster, parsed))
    }
}

/// Builds one object from log indexes given in order, each with its txn or none.
#[derive(Default)]
pub struct SegmentBuilder {
    raw: Vec<u8>,
    first: Option<i64>,
    last: i64,
    count: u64,
}

impl SegmentBuilder {
    /// Index `index` is covered by the object, whether or not it holds a txn.
    pub fn cover(&mut self, index: i64) {
        if self.first.is_none() {
            self.first = Some(index);
            self.raw.extend_from_slice(MAGIC);
            self.raw.extend_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
            self.raw.extend_from_slice(&index.to_le_bytes());
            self.raw.extend_from_slice(&[0; 8]); // the last index, set by `finish`
        }
        self.last = index;
    }

    /// Index `index` holds the txn `payload`.
    pub fn push(&mut self, index: i64, payload: &[u8]) {
        self.cover(index);
        let len = payload.len() as u32;
        self.raw.extend_from_slice(&len.to_le_bytes());
        self.raw.extend_from_slice(&record_crc(len, index, payload).to_le_bytes());
        self.raw.extend_from_slice(&index.to_le_bytes());
        self.raw.extend_from_slice(payload);
        self.count += 1;
    }

    /// No index covered yet.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    pub fn raw_len(&self) -> usize {
        self.raw.len()
    }

    /// The compressed object and the indexes it covers, or `None` when it covers none.
    pub fn finish(mut self) -> Result<Option<(i64, i64, Bytes)>, BackupError> {
        let Some(first) = self.first else { return Ok(None) };
        self.raw[16..24].copy_from_slice(&self.last.to_le_bytes());
        self.raw.extend_from_slice(END_MAGIC);
        self.raw.extend_from_slice(&self.count.to_le_bytes());
        let compressed = zstd::bulk::compress(&self.raw, ZSTD_LEVEL)
            .map_err(|e| BackupError::Io(format!("cannot compress a log segment: {e}")))?;
        Ok(Some((first, self.last, Bytes::from(compressed))))
    }
}

/// Every txn of an archived object, checked: header, each record's CRC and index (rising inside the name's
/// range; in format 1, at every index of it), and the end marker's count. `name` is for messages.
pub fn decode(name: &str, bytes: &[u8], expected: &SegmentName) -> Result<Vec<(i64, Vec<u8>)>, BackupError> {
    let damaged = |why: String| BackupError::Damaged(format!("{name}: {why}"));
    let mut raw = Vec::new();
    zstd::stream::read::Decoder::new(bytes)
        .and_then(|decoder| std::io::Read::read_to_end(&mut std::io::Read::take(decoder, MAX_DECODED_BYTES), &mut raw))
        .map_err(|e| damaged(format!("does not decompress: {e}")))?;
    if raw.len() < HEADER_LEN + 12 || &raw[..4] != MAGIC {
        return Err(damaged("not an archived log segment (bad magic)".into()));
    }
    let version = u32::from_le_bytes(raw[4..8].try_into().unwrap_or_default());
    if version != SEGMENT_FORMAT_VERSION && version != GAPLESS_FORMAT_VERSION {
        return Err(damaged(format!("segment format version {version} is not one this Paddock reads")));
    }
    let first = i64::from_le_bytes(raw[8..16].try_into().unwrap_or_default());
    let last = i64::from_le_bytes(raw[16..24].try_into().unwrap_or_default());
    if first != expected.first || last != expected.last {
        return Err(damaged(format!(
            "holds zxids {first}..={last}, its name says {}..={}",
            expected.first, expected.last
        )));
    }
    let mut entries = Vec::new();
    let mut pos = HEADER_LEN;
    let body_end = raw.len() - 12;
    while pos < body_end {
        if pos + RECORD_HEADER_LEN > body_end {
            return Err(damaged(format!("a record header is cut short at offset {pos}")));
        }
        let len = u32::from_le_bytes(raw[pos..pos + 4].try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(raw[pos + 4..pos + 8].try_into().unwrap_or_default());
        let index = i64::from_le_bytes(raw[pos + 8..pos + 16].try_into().unwrap_or_default());
        let start = pos + RECORD_HEADER_LEN;
        let end = start.checked_add(len as usize).filter(|end| *end <= body_end);
        let Some(end) = end else { return Err(damaged(format!("the record of zxid {index} is cut short"))) };
        let after = entries.last().map_or(first - 1, |(i, _)| *i);
        if version == GAPLESS_FORMAT_VERSION && index != after + 1 {
            return Err(damaged(format!("zxid {index} where {} belongs", after + 1)));
        }
        if index <= after || index > last {
            return Err(damaged(format!("zxid {index} out of order or outside {first}..={last}")));
        }
        if record_crc(len, index, &raw[start..end]) != crc {
            return Err(damaged(format!("the record of zxid {index} fails its checksum")));
        }
        entries.push((index, raw[start..end].to_vec()));
        pos = end;
    }
    let count = u64::from_le_bytes(raw[body_end + 4..].try_into().unwrap_or_default());
    if &raw[body_end..body_end + 4] != END_MAGIC || count != entries.len() as u64 {
        return Err(damaged("the end marker is missing or counts other records".into()));
    }
    if version == GAPLESS_FORMAT_VERSION && entries.last().map(|(i, _)| *i) != Some(last) {
        return Err(damaged(format!("ends before its last zxid {last}")));
    }
    Ok(entries)
}

/// The WAL's record checksum: crc32c(len ‖ index ‖ payload), little-endian (docs/format.md, 2.2).
fn record_crc(len: u32, index: i64, payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&len.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &(index as u64).to_le_bytes());
    crc32c::crc32c_append(crc, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(entries: &[(i64, &[u8])]) -> Bytes {
        let mut builder = SegmentBuilder::default();
        for (index, payload) in entries {
            builder.push(*index, payload);
        }
        builder.finish().expect("compress").expect("not empty").2
    }

    #[test]
    fn a_segment_round_trips_and_its_name_parses_back() {
        let name = SegmentName { first: 7, last: 9, first_time_ms: 1000, last_time_ms: 1200 };
        let key = name.key("c");
        assert_eq!(key, "c/wal/00000000000000000007-00000000000000000009_1000-1200.seg");
        assert_eq!(SegmentName::parse(&key), Some(("c", name)));
        let bytes = built(&[(7, b"a"), (8, b""), (9, b"ccc")]);
        let entries = decode("x", &bytes, &name).expect("decodes");
        assert_eq!(entries, vec![(7, b"a".to_vec()), (8, Vec::new()), (9, b"ccc".to_vec())]);
    }

    #[test]
    fn an_ensembles_object_covers_indexes_without_txns() {
        let mut builder = SegmentBuilder::default();
        builder.cover(4); // a blank entry
        builder.push(5, b"five");
        builder.cover(6);
        builder.push(7, b"seven");
        builder.cover(8);
        let (first, last, bytes) = builder.finish().expect("compress").expect("covers 4..=8");
        assert_eq!((first, last), (4, 8));
        let name = SegmentName { first, last, first_time_ms: 0, last_time_ms: 0 };
        assert_eq!(decode("x", &bytes, &name).expect("decodes"), vec![(5, b"five".to_vec()), (7, b"seven".to_vec())]);

        let mut blanks = SegmentBuilder::default();
        blanks.cover(9);
        assert!(!blanks.is_empty());
        let (first, last, bytes) = blanks.finish().expect("compress").expect("covers 9");
        let name = SegmentName { first, last, first_time_ms: 0, last_time_ms: 0 };
        assert_eq!(decode("x", &bytes, &name).expect("decodes"), Vec::new(), "an object of blank entries");
        assert!(SegmentBuilder::default().finish().expect("nothing").is_none());
    }

    #[test]
    fn a_format_1_object_must_hold_every_index() {
        let gapless = |entries: &[(i64, &[u8])], last: i64| {
            let mut builder = SegmentBuilder::default();
            for (index, payload) in entries {
                builder.push(*index, payload);
            }
            builder.cover(last);
            let (_, _, bytes) = builder.finish().expect("compress").expect("not empty");
            let mut raw = zstd::stream::decode_all(&bytes[..]).expect("raw");
            raw[4..8].copy_from_slice(&GAPLESS_FORMAT_VERSION.to_le_bytes());
            zstd::bulk::compress(&raw, 3).expect("compress")
        };
        let name = SegmentName { first: 1, last: 2, first_time_ms: 0, last_time_ms: 0 };
        assert_eq!(decode("x", &gapless(&[(1, b"a"), (2, b"b")], 2), &name).expect("whole").len(), 2);
        let err = decode("x", &gapless(&[(1, b"a")], 2), &name).expect_err("a missing last index");
        assert!(err.to_string().contains("ends before its last zxid 2"), "{err}");
        let name = SegmentName { first: 1, last: 3, first_time_ms: 0, last_time_ms: 0 };
        let err = decode("x", &gapless(&[(1, b"a"), (3, b"c")], 3), &name).expect_err("a hole");
        assert!(err.to_string().contains("zxid 3 where 2 belongs"), "{err}");
    }

    #[test]
    fn damage_is_named() {
        let name = SegmentName { first: 1, last: 2, first_time_ms: 0, last_time_ms: 0 };
        let bytes = built(&[(1, b"one"), (2, b"two")]);
        let mut raw = zstd::stream::decode_all(&bytes[..]).expect("raw");
        let at = raw.len() - 14;
        raw[at] ^= 1;
        let flipped = zstd::bulk::compress(&raw, 3).expect("compress");
        let err = decode("seg", &flipped, &name).expect_err("a flipped byte");
        assert!(err.to_string().contains("zxid 2 fails its checksum"), "{err}");
        assert!(decode("seg", &bytes[..bytes.len() / 2], &name).is_err(), "a truncated object");
        let other = SegmentName { last: 3, ..name };
        assert!(decode("seg", &bytes, &other).expect_err("wrong name").to_string().contains("its name says"));
    }
}
