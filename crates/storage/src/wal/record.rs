//! WAL segment header and record encoding (docs/format.md, 2.1 and 2.2). Pure byte manipulation, no I/O.

/// "PDKW".
pub(crate) const SEGMENT_MAGIC: [u8; 4] = *b"PDKW";
pub(crate) const WAL_FORMAT_VERSION: u32 = 1;
pub(crate) const SEGMENT_HEADER_LEN: u64 = 24;
pub(crate) const RECORD_HEADER_LEN: u64 = 16;
/// Largest payload a record may carry. Bounds the allocation a damaged length field could ask for.
pub const MAX_RECORD_PAYLOAD: usize = 1 << 30;

pub(crate) fn encode_segment_header(first_index: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[0..4].copy_from_slice(&SEGMENT_MAGIC);
    h[4..8].copy_from_slice(&WAL_FORMAT_VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&first_index.to_le_bytes());
    // 16..20 reserved, zero.
    let crc = crc32c::crc32c(&h[0..20]);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Decodes a segment header, returning its first index or why it is not one.
pub(crate) fn decode_segment_header(h: &[u8; SEGMENT_HEADER_LEN as usize]) -> Result<u64, String> {
    if h[0..4] != SEGMENT_MAGIC {
        return Err(format!("bad magic {:02x?}, expected \"PDKW\"", &h[0..4]));
    }
    let stored_crc = le_u32(&h[20..24]);
    let crc = crc32c::crc32c(&h[0..20]);
    if stored_crc != crc {
        return Err(format!("header checksum mismatch (stored {stored_crc:#010x}, computed {crc:#010x})"));
    }
    let version = le_u32(&h[4..8]);
    if version != WAL_FORMAT_VERSION {
        return Err(format!("unsupported WAL format version {version} (this build reads {WAL_FORMAT_VERSION})"));
    }
    if le_u32(&h[16..20]) != 0 {
        return Err("reserved header field is not zero".to_string());
    }
    Ok(le_u64(&h[8..16]))
}

/// The 16-byte header that precedes a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub len: u32,
    pub crc: u32,
    pub index: u64,
}

impl RecordHeader {
    pub fn decode(b: &[u8; RECORD_HEADER_LEN as usize]) -> RecordHeader {
        RecordHeader { len: le_u32(&b[0..4]), crc: le_u32(&b[4..8]), index: le_u64(&b[8..16]) }
    }

    /// The end-of-data marker: an all-zero header (preallocated space).
    pub fn is_zero(&self) -> bool {
        self.len == 0 && self.crc == 0 && self.index == 0
    }

    pub fn payload_len_ok(&self) -> bool {
        self.len as usize <= MAX_RECORD_PAYLOAD
    }

    pub fn crc_matches(&self, payload: &[u8]) -> bool {
        record_crc(self.len, self.index, payload) == self.crc
    }
}

/// crc32c(len LE ‖ index LE ‖ payload): everything in a record except the crc field.
pub(crate) fn record_crc(len: u32, index: u64, payload: &[u8]) -> u32 {
    let mut prefix = [0u8; 12];
    prefix[0..4].copy_from_slice(&len.to_le_bytes());
    prefix[4..12].copy_from_slice(&index.to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c(&prefix), payload)
}

/// Bytes a record with a payload of `payload_len` bytes takes in a segment.
pub(crate) fn record_len(payload_len: usize) -> u64 {
    RECORD_HEADER_LEN + payload_len as u64
}

/// Appends the encoded record to `out` (after what it holds). The caller has checked the payload size.
pub(crate) fn encode_record(out: &mut Vec<u8>, index: u64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.reserve(RECORD_HEADER_LEN as usize + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&record_crc(len, index, payload).to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Tries to read a valid record at the start of `buf`; returns its header when the length fits in `buf`
/// and the crc matches.
pub(crate) fn valid_record_at(buf: &[u8]) -> Option<RecordHeader> {
    let head: &[u8; RECORD_HEADER_LEN as usize] = buf.get(..RECORD_HEADER_LEN as usize)?.try_into().ok()?;
    let h = RecordHeader::decode(head);
    if !h.payload_len_ok() {
        return None;
    }
    let start = RECORD_HEADER_LEN as usize;
    let payload = buf.get(start..start + h.len as usize)?;
    h.crc_matches(payload).then_some(h)
}

pub(crate) fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

pub(crate) fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_record_header_is_never_all_zero() {
        // The end-of-data rule depends on this: the smallest possible record still has a non-zero crc.
        let mut buf = Vec::new();
        encode_record(&mut buf, 0, b"");
        let h = RecordHeader::decode(buf[..16].try_into().unwrap());
        assert!(!h.is_zero());
        assert_eq!(h.crc, crc32c::crc32c(&[0u8; 12]));
        assert_eq!(h.crc, 0x2B60_B55D, "the constant quoted in docs/format.md, 2.2");
    }

    #[test]
    fn crc32c_matches_the_documented_check_value() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn segment_header_round_trips_and_rejects_damage() {
        let h = encode_segment_header(42);
        assert_eq!(decode_segment_header(&h), Ok(42));
        for byte in 0..h.len() {
            let mut bad = h;
            bad[byte] ^= 0x10;
            assert!(decode_segment_header(&bad).is_err(), "flip in byte {byte} went unnoticed");
        }
    }

    #[test]
    fn records_round_trip() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 7, b"hello");
        let h = valid_record_at(&buf).unwrap();
        assert_eq!((h.len, h.index), (5, 7));
        buf[18] ^= 1;
        assert!(valid_record_at(&buf).is_none());
    }
}
