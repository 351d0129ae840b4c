//! The calls `paddock-server` makes (persist.rs, retention.rs), written the same way, so that a change to
//! the API that would break the server breaks here first.

use std::io::{Read, Write};
use std::path::Path;

use paddock_storage::{Compression, SnapshotHeader, StorageError, Wal, WalOptions};

struct Tree {
    last_zxid: i64,
    entries: Vec<u8>,
}

impl Tree {
    fn write_snapshot(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(&self.last_zxid.to_le_bytes())?;
        out.write_all(&self.entries)
    }

    fn read_snapshot(reader: &mut impl Read) -> std::io::Result<Tree> {
        let mut zxid = [0u8; 8];
        reader.read_exact(&mut zxid)?;
        let mut entries = Vec::new();
        reader.read_to_end(&mut entries)?;
        Ok(Tree { last_zxid: i64::from_le_bytes(zxid), entries })
    }

    fn apply(&mut self, zxid: i64, payload: &[u8]) {
        self.last_zxid = zxid;
        self.entries.extend_from_slice(payload);
    }
}

fn write_snapshot(snap_dir: &Path, tree: &Tree, time_ms: i64) -> Result<std::path::PathBuf, StorageError> {
    let header = SnapshotHeader {
        format_version: 1,
        zxid: tree.last_zxid,
        time_ms,
        node_count: tree.entries.len() as u64,
        digest: 0,
        compression: Compression::Zstd,
    };
    paddock_storage::write_snapshot(snap_dir, &header, |out| tree.write_snapshot(out))
}

fn recover(snap_dir: &Path, wal_dir: &Path) -> Result<(Tree, Wal), StorageError> {
    let wal = Wal::open(wal_dir, WalOptions { segment_bytes: 64 * 1024 * 1024, fsync: true, preallocate: true })?;
    let mut tree = Tree { last_zxid: 0, entries: Vec::new() };
    if let Some((_, path)) = paddock_storage::list_snapshots(snap_dir)?.last() {
        let (header, mut reader) = paddock_storage::open_snapshot(path)?;
        tree = Tree::read_snapshot(&mut reader).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        assert_eq!(header.zxid, tree.last_zxid);
    }
    let from = tree.last_zxid + 1;
    wal.replay(from as u64, |index, payload| {
        if payload.is_empty() {
            return Err(StorageError::Corrupt(format!("log record {index} is empty")));
        }
        tree.apply(index as i64, payload);
        Ok(())
    })?;
    Ok((tree, wal))
}

#[test]
fn the_servers_recovery_snapshot_and_retention_flow() {
    let base = tempfile::tempdir().unwrap();
    let (snap_dir, wal_dir) = (paddock_storage::snap_dir(base.path()), paddock_storage::wal_dir(base.path()));
    let (mut tree, mut wal) = recover(&snap_dir, &wal_dir).unwrap();
    assert_eq!(tree.last_zxid, 0);
    let mut last_durable = wal.last_index().map(|i| i as i64).unwrap_or(0);

    for round in 0..5i64 {
        for k in 1..=10 {
            let zxid = round * 10 + k;
            wal.append(zxid as u64, &[zxid as u8]).unwrap();
            tree.apply(zxid, &[zxid as u8]);
        }
        wal.sync().unwrap();
        last_durable = tree.last_zxid;
        write_snapshot(&snap_dir, &tree, 1000 + round).unwrap();
    }
    assert_eq!(last_durable, 50);

    // Retention as retention.rs does it.
    let removed = paddock_storage::purge_snapshots(&snap_dir, 3).unwrap();
    assert_eq!(removed.len(), 2);
    let kept = paddock_storage::list_snapshots(&snap_dir).unwrap();
    let oldest = kept.first().map(|(zxid, _)| *zxid).unwrap();
    let purged = wal.purge_before(oldest as u64 + 1).unwrap();
    assert!(purged.is_empty(), "everything is in the one active 64 MiB segment, which is never purged");
    drop(wal);

    let (recovered, wal) = recover(&snap_dir, &wal_dir).unwrap();
    assert_eq!(recovered.last_zxid, 50);
    assert_eq!(recovered.entries, tree.entries);
    assert_eq!(wal.last_index(), Some(50));
}
