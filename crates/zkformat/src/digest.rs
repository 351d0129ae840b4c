//! ZooKeeper's tree digest (`DigestCalculator`, digest version 2, 3.6+): an AdHash, the wrapping 64-bit sum
//! of one CRC32 per znode, so it is the same whatever order nodes were added in.
//!
//! A node's CRC32 covers its path's bytes (the root's path is `""`), its data (nothing for null) and 60
//! bytes of stat, big-endian, in this order: czxid, mzxid, pzxid, ctime, mtime, version, cversion,
//! aversion, ephemeralOwner (not the order `StatPersisted` is serialized in). Nodes under `/zookeeper/`
//! count 0 (their quota stats are updated outside the log); `/zookeeper` itself counts. ACLs are not
//! covered.

use crate::jute::StatPersisted;

/// The digest version this computes, the one ZooKeeper 3.6–3.9 writes.
pub const DIGEST_VERSION: i32 = 2;

/// One node's digest, as `DigestCalculator.calculateDigest` computes it.
pub fn node(path: &str, data: Option<&[u8]>, stat: &StatPersisted) -> u64 {
    if path.starts_with("/zookeeper/") {
        return 0;
    }
    let path = if path == "/" { "" } else { path };
    let mut b = [0u8; 60];
    b[0..8].copy_from_slice(&stat.czxid.to_be_bytes());
    b[8..16].copy_from_slice(&stat.mzxid.to_be_bytes());
    b[16..24].copy_from_slice(&stat.pzxid.to_be_bytes());
    b[24..32].copy_from_slice(&stat.ctime.to_be_bytes());
    b[32..40].copy_from_slice(&stat.mtime.to_be_bytes());
    b[40..44].copy_from_slice(&stat.version.to_be_bytes());
    b[44..48].copy_from_slice(&stat.cversion.to_be_bytes());
    b[48..52].copy_from_slice(&stat.aversion.to_be_bytes());
    b[52..60].copy_from_slice(&stat.ephemeral_owner.to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(path.as_bytes());
    if let Some(data) = data {
        crc.update(data);
    }
    crc.update(&b);
    u64::from(crc.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zookeeper_subtree_counts_nothing_and_the_root_hashes_as_the_empty_path() {
        let stat = StatPersisted { czxid: 1, mzxid: 2, pzxid: 3, ctime: 4, mtime: 5, ..StatPersisted::default() };
        assert_eq!(node("/zookeeper/quota", Some(b"x"), &stat), 0);
        assert_ne!(node("/zookeeper", Some(b"x"), &stat), 0);
        assert_eq!(node("/", None, &stat), node("", None, &stat));
        assert_eq!(node("/a", None, &stat), node("/a", Some(b""), &stat), "null data hashes as empty data");
    }

    #[test]
    fn the_bytes_are_zookeepers() {
        // CRC32 of "/a" ‖ "x" ‖ 60 bytes {czxid 1, mzxid 2, pzxid 3, ctime 4, mtime 5, version 6, cversion 7,
        // aversion 8, ephemeralOwner 9}, computed independently (Python's zlib.crc32).
        let stat = StatPersisted {
            czxid: 1,
            mzxid: 2,
            pzxid: 3,
            ctime: 4,
            mtime: 5,
            version: 6,
            cversion: 7,
            aversion: 8,
            ephemeral_owner: 9,
        };
        assert_eq!(node("/a", Some(b"x"), &stat), EXPECTED);
    }

    const EXPECTED: u64 = 0x6045_5818;
}
