//! Byte layout of the snapshot header, chunk headers and trailer (docs/format.md, 3.1 to 3.3). Pure
//! encoding, no I/O.

use super::{Compression, SnapshotHeader};

const MAGIC: [u8; 4] = *b"PDKS";
pub(crate) const FILE_VERSION: u32 = 1;
pub(crate) const HEADER_LEN: usize = 52;
pub(crate) const CHUNK_HEADER_LEN: usize = 12;
pub(crate) const TRAILER_LEN: usize = 28;
/// Stands where a chunk's `stored_len` would be; no chunk is that long.
pub(crate) const TRAILER_MARKER: u32 = u32::MAX;
/// Size of the body pieces this implementation writes.
pub(crate) const WRITE_CHUNK: usize = 1 << 20;
/// Largest body piece a reader accepts.
pub(crate) const MAX_RAW_CHUNK: u32 = 4 << 20;
/// Largest stored chunk a reader accepts (room for incompressible data plus zstd's overhead).
pub(crate) const MAX_STORED_CHUNK: u32 = 8 << 20;

pub(crate) fn snapshot_file_name(zxid: i64) -> String {
    format!("{zxid:020}.snap")
}

/// Parses `<20 digits>.snap` into its zxid.
pub(crate) fn parse_snapshot_name(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(".snap")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn is_temp_snapshot_name(name: &str) -> bool {
    name.strip_suffix(".tmp").and_then(parse_snapshot_name).is_some()
}

pub(crate) fn encode_header(h: &SnapshotHeader) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[0..4].copy_from_slice(&MAGIC);
    b[4..8].copy_from_slice(&FILE_VERSION.to_le_bytes());
    b[8..12].copy_from_slice(&h.format_version.to_le_bytes());
    b[12..16].copy_from_slice(&h.compression.id().to_le_bytes());
    b[16..24].copy_from_slice(&h.zxid.to_le_bytes());
    b[24..32].copy_from_slice(&h.time_ms.to_le_bytes());
    b[32..40].copy_from_slice(&h.node_count.to_le_bytes());
    b[40..48].copy_from_slice(&h.digest.to_le_bytes());
    let crc = crc32c::crc32c(&b[0..48]);
    b[48..52].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Decodes a header, or says what is wrong with it (in the order docs/format.md, 3.5 prescribes).
pub(crate) fn decode_header(b: &[u8; HEADER_LEN]) -> Result<SnapshotHeader, String> {
    if b[0..4] != MAGIC {
        return Err(format!("bad magic {:02x?}, expected \"PDKS\"", &b[0..4]));
    }
    let version = le_u32(&b[4..8]);
    if version != FILE_VERSION {
        return Err(format!("unsupported snapshot file version {version} (this build reads {FILE_VERSION})"));
    }
    let (stored, computed) = (le_u32(&b[48..52]), crc32c::crc32c(&b[0..48]));
    if stored != computed {
        return Err(format!("header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"));
    }
    let compression_id = le_u32(&b[12..16]);
    let compression =
        Compression::from_id(compression_id).ok_or_else(|| format!("unknown compression id {compression_id}"))?;
    let zxid = le_i64(&b[16..24]);
    if zxid < 0 {
        return Err(format!("negative zxid {zxid}"));
    }
    Ok(SnapshotHeader {
        format_version: le_u32(&b[8..12]),
        zxid,
        time_ms: le_i64(&b[24..32]),
        node_count: le_u64(&b[32..40]),
        digest: le_u64(&b[40..48]),
        compression,
    })
}

/// crc32c(stored_len LE ‖ raw_len LE ‖ stored bytes).
pub(crate) fn chunk_crc(stored_len: u32, raw_len: u32, stored: &[u8]) -> u32 {
    let mut prefix = [0u8; 8];
    prefix[0..4].copy_from_slice(&stored_len.to_le_bytes());
    prefix[4..8].copy_from_slice(&raw_len.to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c(&prefix), stored)
}

pub(crate) fn encode_chunk_header(stored_len: u32, raw_len: u32, stored: &[u8]) -> [u8; CHUNK_HEADER_LEN] {
    let mut b = [0u8; CHUNK_HEADER_LEN];
    b[0..4].copy_from_slice(&stored_len.to_le_bytes());
    b[4..8].copy_from_slice(&raw_len.to_le_bytes());
    b[8..12].copy_from_slice(&chunk_crc(stored_len, raw_len, stored).to_le_bytes());
    b
}

/// What the trailer records about the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Trailer {
    pub chunk_count: u64,
    pub body_len: u64,
    pub body_crc: u32,
}

pub(crate) fn encode_trailer(t: &Trailer) -> [u8; TRAILER_LEN] {
    let mut b = [0u8; TRAILER_LEN];
    b[0..4].copy_from_slice(&TRAILER_MARKER.to_le_bytes());
    b[4..12].copy_from_slice(&t.chunk_count.to_le_bytes());
    b[12..20].copy_from_slice(&t.body_len.to_le_bytes());
    b[20..24].copy_from_slice(&t.body_crc.to_le_bytes());
    let crc = crc32c::crc32c(&b[0..24]);
    b[24..28].copy_from_slice(&crc.to_le_bytes());
    b
}

pub(crate) fn decode_trailer(b: &[u8; TRAILER_LEN]) -> Result<Trailer, String> {
    if le_u32(&b[0..4]) != TRAILER_MARKER {
        return Err("no trailer marker".to_string());
    }
    let (stored, computed) = (le_u32(&b[24..28]), crc32c::crc32c(&b[0..24]));
    if stored != computed {
        return Err(format!("trailer checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"));
    }
    Ok(Trailer { chunk_count: le_u64(&b[4..12]), body_len: le_u64(&b[12..20]), body_crc: le_u32(&b[20..24]) })
}

pub(crate) fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn le_i64(b: &[u8]) -> i64 {
    le_u64(b) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> SnapshotHeader {
        SnapshotHeader {
            format_version: 7,
            zxid: 0x1_0000_002a,
            time_ms: 1_700_000_000_000,
            node_count: 12,
            digest: 0xdead_beef_cafe,
            compression: Compression::Zstd,
        }
    }

    #[test]
    fn header_round_trips_and_every_flipped_bit_is_caught() {
        let b = encode_header(&header());
        assert_eq!(decode_header(&b), Ok(header()));
        for bit in 0..HEADER_LEN * 8 {
            let mut bad = b;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_header(&bad).is_err(), "flip of bit {bit} went unnoticed");
        }
    }

    #[test]
    fn trailer_round_trips_and_rejects_damage() {
        let t = Trailer { chunk_count: 3, body_len: 3 << 20, body_crc: 0x1234_5678 };
        let b = encode_trailer(&t);
        assert_eq!(decode_trailer(&b), Ok(t));
        for byte in 0..TRAILER_LEN {
            let mut bad = b;
            bad[byte] ^= 0x01;
            assert!(decode_trailer(&bad).is_err(), "flip in byte {byte} went unnoticed");
        }
    }

    #[test]
    fn snapshot_names() {
        assert_eq!(snapshot_file_name(42), "00000000000000000042.snap");
        assert_eq!(parse_snapshot_name("00000000000000000042.snap"), Some(42));
        assert_eq!(parse_snapshot_name(&snapshot_file_name(i64::MAX)), Some(i64::MAX));
        assert_eq!(parse_snapshot_name("18446744073709551615.snap"), None, "beyond i64");
        assert_eq!(parse_snapshot_name("42.snap"), None);
        assert!(is_temp_snapshot_name("00000000000000000042.snap.tmp"));
        assert!(!is_temp_snapshot_name("00000000000000000042.snap"));
    }
}
