//! Snapshots on disk, so that a node whose log was purged restarts from its last snapshot (docs/format.md,
//! 6.4). Each snapshot is two files in the snapshot directory:
//!
//! * `<index>.snapmeta`: openraft's snapshot meta (last log id, membership), written first and atomically;
//! * `<index>.snap`: the tree's snapshot body in a storage snapshot file (docs/format.md, 3), whose
//!   header zxid is the snapshot's last log index.
//!
//! A `.snap` counts only with its `.snapmeta`; the newest such pair is loaded at open. The three newest
//! snapshots are kept, as `purge_snapshots` keeps them.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use paddock_storage::{Compression, SnapshotHeader};
use paddock_tree::{DataTree, SNAPSHOT_FORMAT_VERSION};
use tracing::warn;

use crate::envelope::{NodeLayout, decode_membership, encode_membership};
use crate::meta::{atomic_write, get_log_id, le_u32, put_log_id};
use crate::types::{LogId, SnapshotMeta, StoredMembership};

const MAGIC: [u8; 4] = *b"PDKN";
/// Version 2 records each member's whole `server.N` line; version 1 (its peer address only) is still read.
const VERSION: u32 = 2;
/// Bytes before the membership body: magic, version, two log ids, the body's length.
const FIXED_LEN: usize = 46;
const RETAIN: usize = 3;

/// A snapshot read back at open: its meta, its tree and the tree's snapshot body.
pub(crate) struct Loaded {
    pub meta: SnapshotMeta,
    pub tree: DataTree,
    pub body: Vec<u8>,
}

/// Loads the newest complete snapshot in `dir` (created if missing), if any.
pub(crate) fn load_newest(dir: &Path) -> io::Result<Option<Loaded>> {
    fs::create_dir_all(dir).map_err(|e| io::Error::new(e.kind(), format!("create {}: {e}", dir.display())))?;
    paddock_storage::clean_snapshot_temp_files(dir).map_err(io::Error::other)?;
    let snapshots = paddock_storage::list_snapshots(dir).map_err(io::Error::other)?;
    for (index, path) in snapshots.into_iter().rev() {
        let Some(meta) = read_meta(dir, index)? else {
            warn!(file = %path.display(), "ignoring a snapshot without its meta file (a crash while it was written)");
            continue;
        };
        let body = read_body(&path)?;
        let tree = DataTree::read_snapshot(&mut body.as_slice())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
        return Ok(Some(Loaded { meta, tree, body }));
    }
    Ok(None)
}

/// Writes a snapshot of `tree` (whose body is `body`) as of `meta`, then deletes the snapshots beyond the
/// newest three. A snapshot of nothing (no log id) is not written: there is nothing to recover.
pub(crate) fn save(dir: &Path, meta: &SnapshotMeta, tree: &DataTree, body: &[u8]) -> io::Result<()> {
    let Some(last) = meta.last_log_id else { return Ok(()) };
    let index = i64::try_from(last.index).map_err(|_| io::Error::other("log index beyond i64"))?;
    atomic_write(dir, &meta_name(index), &encode_meta(meta))?;
    let header = SnapshotHeader {
        format_version: SNAPSHOT_FORMAT_VERSION,
        zxid: index,
        time_ms: tree.last_time(),
        node_count: tree.node_count() as u64,
        digest: tree.digest(),
        compression: Compression::Zstd,
    };
    paddock_storage::write_snapshot(dir, &header, |out| out.write_all(body)).map_err(io::Error::other)?;
    purge_old(dir)
}

fn purge_old(dir: &Path) -> io::Result<()> {
    paddock_storage::purge_snapshots(dir, RETAIN).map_err(io::Error::other)?;
    let kept: Vec<i64> =
        paddock_storage::list_snapshots(dir).map_err(io::Error::other)?.into_iter().map(|(i, _)| i).collect();
    let Some(oldest) = kept.first().copied() else { return Ok(()) };
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(index) = name.to_str().and_then(parse_meta_name) else { continue };
        if index < oldest {
            fs::remove_file(dir.join(&name))?;
        }
    }
    Ok(())
}

fn meta_name(index: i64) -> String {
    format!("{index:020}.snapmeta")
}

fn parse_meta_name(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(".snapmeta")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn read_body(path: &Path) -> io::Result<Vec<u8>> {
    let (_, mut reader) = paddock_storage::open_snapshot(path).map_err(io::Error::other)?;
    let mut body = Vec::new();
    reader.read_to_end(&mut body)?;
    Ok(body)
}

fn read_meta(dir: &Path, index: i64) -> io::Result<Option<SnapshotMeta>> {
    let path = dir.join(meta_name(index));
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io::Error::new(e.kind(), format!("read {}: {e}", path.display()))),
    };
    decode_meta(&bytes)
        .map(Some)
        .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {why}", path.display())))
}

fn encode_meta(meta: &SnapshotMeta) -> Vec<u8> {
    let mut body = Vec::new();
    encode_membership(meta.last_membership.membership(), &mut body);
    let mut b = vec![0u8; FIXED_LEN];
    b[0..4].copy_from_slice(&MAGIC);
    b[4..8].copy_from_slice(&VERSION.to_le_bytes());
    put_log_id(&mut b[8..25], meta.last_log_id.as_ref());
    put_log_id(&mut b[25..42], meta.last_membership.log_id().as_ref());
    b[42..46].copy_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    b.extend_from_slice(&body);
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn decode_meta(b: &[u8]) -> Result<SnapshotMeta, String> {
    if b.len() < FIXED_LEN + 4 || b[0..4] != MAGIC {
        return Err("not a snapshot meta file".into());
    }
    let (data, crc) = b.split_at(b.len() - 4);
    if le_u32(crc) != crc32c::crc32c(data) {
        return Err("checksum mismatch".into());
    }
    let layout = match le_u32(&b[4..8]) {
        1 => NodeLayout::AddressOnly,
        VERSION => NodeLayout::ServerLine,
        other => return Err(format!("unsupported snapshot meta version {other}")),
    };
    let body = &data[FIXED_LEN..];
    if le_u32(&b[42..46]) as usize != body.len() {
        return Err("membership length does not match the file".into());
    }
    let last_log_id: Option<LogId> = get_log_id(&b[8..25])?;
    let membership = decode_membership(body, layout)?;
    Ok(SnapshotMeta { last_log_id, last_membership: StoredMembership::new(get_log_id(&b[25..42])?, membership) })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::types::{Membership, PeerNode, log_id};

    #[test]
    fn snapshot_meta_round_trips_and_damage_is_refused() {
        let nodes = BTreeMap::from([(1, PeerNode::new("a:1")), (2, PeerNode::new("b:2"))]);
        let membership = Membership::new(vec![BTreeSet::from([1, 2])], nodes).expect("valid");
        let meta = SnapshotMeta {
            last_log_id: Some(log_id(3, 40)),
            last_membership: StoredMembership::new(Some(log_id(2, 7)), membership),
        };
        let bytes = encode_meta(&meta);
        assert_eq!(decode_meta(&bytes), Ok(meta));
        for byte in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[byte] ^= 0x01;
            assert!(decode_meta(&bad).is_err(), "flip in byte {byte} went unnoticed");
        }
    }
}
