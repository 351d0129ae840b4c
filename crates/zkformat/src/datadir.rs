//! What a ZooKeeper server does with its data directory at start-up (`FileTxnSnapLog.restore`), as a
//! library, with every check it makes and a few it does not make but an import must:
//!
//! 1. the newest snapshot that reads cleanly, seals and all (ZooKeeper tries the 100 newest that look
//!    complete, newest first; so does this, and it reports the ones it passed over);
//! 2. the logs from the one that starts at or before the snapshot's zxid, replayed over it: a fuzzy
//!    snapshot already holds some of their effects, and the replay is idempotent for those;
//! 3. the digests: the snapshot's, once the replay reaches the zxid it was taken at, and then each logged
//!    transaction's — a mismatch is an error here, where ZooKeeper only counts it. One mismatch is not
//!    damage: ZooKeeper changes the tree before it records that change's digest (`DataTree.processTxn`)
//!    and the snapshot thread reads the digest after the nodes, so a fuzzy snapshot can hold part of the
//!    transaction after its digest's zxid. That mismatch is settled by the next transaction's logged
//!    digest, which the replay of that transaction must match;
//! 4. the sessions that own ephemerals but have no timeout lose those ephemerals (`loadData`).
//!
//! Beyond ZooKeeper: zxids must follow one another within an epoch, so a log that is missing, purged, or
//! cut short anywhere but at the very end of the history is an error naming the file and the offset where
//! the history breaks, rather than a silently older tree. A torn tail — a crash while the last entry was
//! written — ends a file, as in ZooKeeper, and is reported.

use std::path::{Path, PathBuf};

use crate::snapshot::{self, Snapshot, SnapshotFile};
use crate::tree::ZkTree;
use crate::txnlog::{End, LogFile, LogReader};
use crate::{Error, digest};

/// How many snapshots ZooKeeper tries before giving up (`FileSnap.deserialize`).
const SNAPSHOTS_TRIED: usize = 100;

/// A ZooKeeper data directory: where its snapshots and its logs are.
#[derive(Clone, Debug)]
pub struct ZkDataDir {
    pub snap_dir: PathBuf,
    pub log_dir: PathBuf,
    pub snapshots: Vec<SnapshotFile>,
    pub logs: Vec<LogFile>,
}

impl ZkDataDir {
    /// `data_dir` is ZooKeeper's `dataDir` (holding `version-2/`) or that `version-2` directory itself;
    /// `log_dir` the same for `dataLogDir`, when it differs.
    pub fn open(data_dir: &Path, log_dir: Option<&Path>) -> Result<ZkDataDir, Error> {
        let snap_dir = version_2(data_dir)?;
        let log_dir = match log_dir {
            Some(dir) => version_2(dir)?,
            None => snap_dir.clone(),
        };
        let mut snapshots: Vec<SnapshotFile> =
            list(&snap_dir)?.iter().filter_map(|path| SnapshotFile::from_path(path)).collect();
        let mut logs: Vec<LogFile> = list(&log_dir)?.iter().filter_map(|path| LogFile::from_path(path)).collect();
        snapshots.sort_by_key(|s| std::cmp::Reverse(s.zxid));
        logs.sort_by_key(|l| l.zxid);
        if snapshots.is_empty() && logs.is_empty() {
            return Err(Error::Refused(format!(
                "{} is not a ZooKeeper data directory: it holds no snapshot.* or log.* file",
                snap_dir.display()
            )));
        }
        Ok(ZkDataDir { snap_dir, log_dir, snapshots, logs })
    }
}

fn version_2(dir: &Path) -> Result<PathBuf, Error> {
    if !dir.is_dir() {
        return Err(Error::Refused(format!("{} is not a directory", dir.display())));
    }
    let inside = dir.join("version-2");
    if inside.is_dir() {
        return Ok(inside);
    }
    if dir.file_name().is_some_and(|name| name == "version-2") {
        return Ok(dir.to_path_buf());
    }
    Err(Error::Refused(format!("{} is not a ZooKeeper data directory: it has no version-2/ directory", dir.display())))
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            paths.push(entry.path());
        }
    }
    Ok(paths)
}

/// The state a ZooKeeper server would start with, and how it was reached.
pub struct Loaded {
    pub tree: ZkTree,
    pub snapshot: PathBuf,
    pub snapshot_zxid: i64,
    /// The digest the snapshot holds: its zxid is above the snapshot's when the snapshot is fuzzy.
    pub snapshot_digest: Option<snapshot::ZxidDigest>,
    /// 3.9's trailer: the last zxid applied when the snapshot was finished.
    pub last_processed_zxid: Option<i64>,
    /// Newer snapshots passed over, each with the reason.
    pub skipped_snapshots: Vec<String>,
    /// The logs replayed, in order.
    pub logs: Vec<PathBuf>,
    pub txns_replayed: u64,
    /// Digests compared and found equal: the snapshot's (if it has one) and every logged transaction's after it.
    pub digests_checked: u64,
    /// Torn tails met (each a file and the offset of the entry cut short), and non-zero bytes after them.
    pub torn_tails: Vec<String>,
    /// Ephemerals deleted because their session has no timeout recorded, as ZooKeeper deletes them.
    pub orphan_ephemerals_dropped: usize,
}

/// What [`load`] reports while it works: nodes read from the snapshot, then transactions replayed.
pub enum Progress {
    Node,
    Txn,
}

/// Loads a ZooKeeper data directory as a ZooKeeper server does at start-up (module documentation).
pub fn load(dir: &ZkDataDir, progress: &mut dyn FnMut(Progress)) -> Result<Loaded, Error> {
    let (snapshot, skipped_snapshots) = newest_snapshot(dir, progress)?;
    let Snapshot { file, mut tree, digest: snap_digest, last_processed_zxid, .. } = snapshot;
    let snap_zxid = file.zxid;
    let mut loaded = Loaded {
        tree: ZkTree::new(),
        snapshot: file.path.clone(),
        snapshot_zxid: snap_zxid,
        snapshot_digest: snap_digest,
        last_processed_zxid,
        skipped_snapshots,
        logs: Vec::new(),
        txns_replayed: 0,
        digests_checked: 0,
        torn_tails: Vec::new(),
        orphan_ephemerals_dropped: 0,
    };
    // `DataTree.deserializeZxidDigest`: a zero zxid is an empty digest, one older than the snapshot is of
    // no use, another digest version cannot be compared.
    let mut pending = snap_digest.filter(|d| d.zxid > 0 && d.zxid >= snap_zxid && d.version == digest::DIGEST_VERSION);
    // Without a usable snapshot digest, ZooKeeper compares every transaction's digest from the start.
    // A snapshot digest that did not match, until the next transaction's digest settles it (point 3).
    let mut unsettled: Option<Error> = None;
    if let Some(d) = pending.filter(|d| d.zxid == snap_zxid) {
        let what = || format!("the snapshot's digest as of zxid {:#x}", d.zxid);
        unsettled = check_digest(&tree, d.digest, &file.path, what).err();
        loaded.digests_checked += 1;
        pending = None;
    }
    let mut last = snap_zxid;
    // Where the previous log ended torn, to name it when the history breaks right after.
    let mut torn_before: Option<String> = None;
    for log in logs_from(&dir.logs, snap_zxid) {
        let mut reader = LogReader::open(log)?;
        let mut used = false;
        while let Some((offset, logged)) = reader.next_txn()? {
            let zxid = logged.header.zxid;
            if zxid <= snap_zxid {
                continue;
            }
            let place = || format!("the transaction at offset {offset}");
            if zxid <= last {
                return Err(Error::damaged(&log.path, format!("{} has zxid {zxid:#x}, not above {last:#x}", place())));
            }
            if zxid >> 32 == last >> 32 && zxid != last + 1 {
                let cause = torn_before.take().map(|t| format!(" ({t})")).unwrap_or_default();
                return Err(Error::damaged(
                    &log.path,
                    format!(
                        "{} has zxid {zxid:#x}, but the history before it ends at {last:#x}: transactions {:#x} to {:#x} are missing{cause}",
                        place(),
                        last + 1,
                        zxid - 1
                    ),
                ));
            }
            torn_before = None;
            used = true;
            tree.apply(&logged.header, &logged.txn);
            last = zxid;
            loaded.txns_replayed += 1;
            progress(Progress::Txn);
            match pending {
                Some(d) if d.zxid == zxid => {
                    let what = || format!("the snapshot {}'s digest as of zxid {zxid:#x}", file.path.display());
                    unsettled = check_digest(&tree, d.digest, &log.path, what).err();
                    loaded.digests_checked += 1;
                    pending = None;
                }
                Some(_) => {}
                None => {
                    let logged_digest = logged.digest.filter(|(version, _)| *version == digest::DIGEST_VERSION);
                    match (logged_digest, unsettled.take()) {
                        (Some((_, value)), unsettled) => {
                            let what = || format!("the digest logged with zxid {zxid:#x} ({})", place());
                            // Against the snapshot's mismatch, the snapshot's error names the damage.
                            check_digest(&tree, value, &log.path, what).map_err(|e| unsettled.unwrap_or(e))?;
                            loaded.digests_checked += 1;
                        }
                        (None, Some(error)) => return Err(error),
                        (None, None) => {}
                    }
                }
            }
        }
        if used || log.zxid > snap_zxid {
            loaded.logs.push(log.path.clone());
        }
        match reader.end() {
            Some(End::Torn { offset, why, trailing_bytes }) => {
                let after = if *trailing_bytes > 0 {
                    format!(", {trailing_bytes} non-zero bytes after it ignored")
                } else {
                    String::new()
                };
                let torn = format!("{} ends torn at offset {offset}: {why}{after}", log.path.display());
                loaded.torn_tails.push(torn.clone());
                torn_before = Some(torn);
            }
            Some(End::NoHeader { len }) => {
                let torn = format!("{} holds {len} bytes, less than a log header", log.path.display());
                loaded.torn_tails.push(torn.clone());
                torn_before = Some(torn);
            }
            _ => {}
        }
    }
    let reached = |zxid: i64, what: &str| {
        if zxid > last {
            Err(Error::damaged(
                &file.path,
                format!(
                    "the snapshot holds changes up to zxid {zxid:#x} ({what}), but the logs end at {last:#x}: transactions are missing{}",
                    torn_before.as_ref().map(|t| format!(" ({t})")).unwrap_or_default()
                ),
            ))
        } else {
            Ok(())
        }
    };
    if let Some(d) = pending {
        reached(d.zxid, "its digest's zxid")?;
    }
    if let Some(error) = unsettled {
        return Err(error);
    }
    if let Some(zxid) = last_processed_zxid {
        reached(zxid, "its last processed zxid")?;
    }
    loaded.orphan_ephemerals_dropped = tree.kill_unknown_sessions();
    loaded.tree = tree;
    Ok(loaded)
}

/// The newest snapshot that reads cleanly, and why each newer one did not.
fn newest_snapshot(dir: &ZkDataDir, progress: &mut dyn FnMut(Progress)) -> Result<(Snapshot, Vec<String>), Error> {
    let mut skipped = Vec::new();
    let mut first_error = None;
    let candidates = dir.snapshots.iter().filter(|file| {
        let complete = file.looks_complete();
        if !complete {
            skipped.push(format!("{}: incomplete (no seal at its end, or no compression magic)", file.path.display()));
        }
        complete
    });
    let candidates: Vec<&SnapshotFile> = candidates.take(SNAPSHOTS_TRIED).collect();
    for file in candidates {
        match snapshot::read(file, &mut || progress(Progress::Node)) {
            Ok(snapshot) => return Ok((snapshot, skipped)),
            Err(e) => {
                skipped.push(e.to_string());
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    if dir.snapshots.is_empty() {
        return Err(Error::Refused(format!(
            "{} holds transaction logs but no snapshot; ZooKeeper refuses to start on it too (\"No snapshot found, but there are log entries\")",
            dir.snap_dir.display()
        )));
    }
    Err(Error::Refused(format!("{} holds no usable snapshot: {}", dir.snap_dir.display(), skipped.join("; "))))
}

/// `FileTxnLog.getLogFiles`: the log with the largest start zxid at or below the snapshot's, and every
/// later one.
fn logs_from(logs: &[LogFile], snap_zxid: i64) -> impl Iterator<Item = &LogFile> {
    let start = logs.iter().filter(|l| l.zxid <= snap_zxid).map(|l| l.zxid).max().unwrap_or(i64::MIN);
    logs.iter().filter(move |l| l.zxid >= start)
}

fn check_digest(tree: &ZkTree, expected: i64, file: &Path, what: impl FnOnce() -> String) -> Result<(), Error> {
    if tree.digest() == expected as u64 {
        return Ok(());
    }
    Err(Error::damaged(
        file,
        format!(
            "{} is {:#018x}, but the replayed tree's is {:#018x}: the data is not what ZooKeeper recorded",
            what(),
            expected as u64,
            tree.digest()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::{Acl, StatPersisted};
    use crate::snapshot::{Compression, SnapshotWriter};
    use crate::txn::tests::{create_record, encode};
    use crate::txn::{TxnHeader, op};
    use crate::txnlog::encode_log;

    /// A snapshot of a fresh tree at `zxid`, with its digest.
    fn write_snapshot(dir: &Path, zxid: i64) -> u64 {
        let (bytes, digest) = snapshot_of(&nodes_of(&ZkTree::new()), zxid);
        std::fs::write(dir.join(snapshot::file_name(zxid, Compression::None)), bytes).unwrap();
        digest
    }

    type Node = (String, Option<Vec<u8>>, StatPersisted);

    /// Every node of `tree`, sorted by path, as a snapshot writes them.
    fn nodes_of(tree: &ZkTree) -> Vec<Node> {
        let mut nodes: Vec<Node> = tree.nodes().map(|(p, n)| (p.to_string(), n.data.clone(), n.stat)).collect();
        nodes.sort_by(|a, b| a.0.cmp(&b.0));
        nodes
    }

    /// A snapshot named after `zxid` holding `nodes` (`/zookeeper/config` read-only, as ZooKeeper's), and
    /// the digest it recorded.
    fn snapshot_of(nodes: &[Node], zxid: i64) -> (Vec<u8>, u64) {
        let mut w = SnapshotWriter::new(Vec::new(), Compression::None, &[]).unwrap();
        let read_only = [Acl { perms: 1, scheme: "world".into(), id: "anyone".into() }];
        w.acls(&[(1, &read_only[..])]).unwrap();
        for (path, data, stat) in nodes {
            let acl = if path == "/zookeeper/config" { 1 } else { -1 };
            w.node(path, data.as_deref(), acl, stat).unwrap();
        }
        w.finish(zxid, None).unwrap()
    }

    /// Creates of /n<zxid> at each zxid, each with the digest a replay must reach.
    fn txns(zxids: std::ops::RangeInclusive<i64>, tree: &mut ZkTree) -> Vec<Vec<u8>> {
        zxids
            .map(|zxid| {
                let header = TxnHeader { client_id: 9, cxid: 1, zxid, time: 100 + zxid, kind: op::CREATE };
                let record = create_record(&format!("/n{zxid}"), b"v", false, -1);
                let logged = crate::txn::decode(&encode(&header, &record, None)).unwrap();
                tree.apply(&logged.header, &logged.txn);
                encode(&header, &record, Some(tree.digest() as i64))
            })
            .collect()
    }

    fn data_dir() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let v2 = dir.path().join("version-2");
        std::fs::create_dir(&v2).unwrap();
        (dir, v2)
    }

    #[test]
    fn a_snapshot_and_the_logs_after_it_replay_with_every_digest_checked() {
        let (dir, v2) = data_dir();
        let snap_digest = write_snapshot(&v2, 0);
        assert_eq!(snap_digest, ZkTree::new().digest());
        let mut model = ZkTree::new();
        std::fs::write(v2.join("log.1"), encode_log(&txns(1..=3, &mut model), 1000)).unwrap();
        std::fs::write(v2.join("log.4"), encode_log(&txns(4..=5, &mut model), 0)).unwrap();
        let loaded = load(&ZkDataDir::open(dir.path(), None).unwrap(), &mut |_| {}).unwrap();
        assert_eq!((loaded.tree.last_zxid(), loaded.txns_replayed, loaded.digests_checked), (5, 5, 5));
        assert_eq!(loaded.tree.digest(), model.digest());
        assert_eq!(loaded.tree.get("/").unwrap().stat.cversion, 5);
        assert!(loaded.torn_tails.is_empty());
    }

    #[test]
    fn a_torn_tail_is_accepted_but_a_hole_in_the_history_is_not() {
        let (dir, v2) = data_dir();
        write_snapshot(&v2, 0);
        let mut model = ZkTree::new();
        let first = encode_log(&txns(1..=3, &mut model), 0);
        std::fs::write(v2.join("log.1"), &first[..first.len() - 7]).unwrap();
        let loaded = load(&ZkDataDir::open(dir.path(), None).unwrap(), &mut |_| {}).unwrap();
        assert_eq!(loaded.tree.last_zxid(), 2);
        assert_eq!(loaded.torn_tails.len(), 1, "{:?}", loaded.torn_tails);
        // After a crash, ZooKeeper starts a new log at the torn transaction's zxid: the history goes on.
        let mut model = ZkTree::new();
        let replacement = txns(1..=3, &mut model);
        std::fs::write(v2.join("log.3"), encode_log(&replacement[2..], 0)).unwrap();
        let loaded = load(&ZkDataDir::open(dir.path(), None).unwrap(), &mut |_| {}).unwrap();
        assert_eq!((loaded.tree.last_zxid(), loaded.tree.digest()), (3, model.digest()));
        // A log that starts further on leaves a hole: named, with the torn file that explains it.
        std::fs::remove_file(v2.join("log.3")).unwrap();
        let mut later = ZkTree::new();
        let tail = txns(1..=5, &mut later);
        std::fs::write(v2.join("log.5"), encode_log(&tail[4..], 0)).unwrap();
        let error = load(&ZkDataDir::open(dir.path(), None).unwrap(), &mut |_| {}).map(|_| ()).unwrap_err().to_string();
        assert!(
            error.contains("log.5") && error.contains("0x3 to 0x4 are missing") && error.contains("torn"),
            "{error}"
        );
    }

    #[test]
    fn a_wrong_digest_is_an_error() {
        let (dir, v2) = data_dir();
        write_snapshot(&v2, 0);
        let mut model = ZkTree::new();
        let mut entries = txns(1..=2, &mut model);
        let last = entries.len() - 1;
        let len = entries[last].len();
        entries[last][len - 1] ^= 1;
        std::fs::write(v2.join("log.1"), encode_log(&entries, 0)).unwrap();
        let error = load(&ZkDataDir::open(dir.path(), None).unwrap(), &mut |_| {}).map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("digest logged with zxid 0x2"), "{error}");
    }

    /// A snapshot file named after `name_zxid` holding `nodes`, sealed, whose recorded digest is
    /// `digest` as of `digest_zxid`: what ZooKeeper's snapshot thread writes while transactions go on.
    fn write_fuzzy_snapshot(v2: &Path, name_zxid: i64, nodes: &[Node], digest_zxid: i64, digest: u64) {
        let (mut bytes, _) = snapshot_of(nodes, name_zxid);
        let digest_at = bytes.len() - 13 - 8;
        bytes[digest_at..digest_at + 8].copy_from_slice(&(digest as i64).to_be_bytes());
        let zxid_at = digest_at - 12;
        bytes[zxid_at..zxid_at + 8].copy_from_slice(&digest_zxid.to_be_bytes());
        let resealed = {
            let mut sum = adler2::Adler32::new();
            sum.write_slice(&bytes[..bytes.len() - 13]);
            i64::from(sum.checksum())
        };
        let seal_at = bytes.len() - 13;
        bytes[seal_at..seal_at + 8].copy_from_slice(&resealed.to_be_bytes());
        std::fs::write(v2.join(snapshot::file_name(name_zxid, Compression::None)), &bytes).unwrap();
    }

    /// A fuzzy snapshot named after zxid 3 that already holds the node zxid 5 creates and lacks the one zxid
    /// 4 deleted, but still shows the root as it was at 3 (the root was written before those changes): the
    /// replay of 4 and 5 over it reaches exactly the state of a plain replay, and the digest the snapshot
    /// recorded (of zxid 5) checks.
    #[test]
    fn a_fuzzy_snapshot_replays_to_the_exact_state() {
        let (dir, v2) = data_dir();
        write_snapshot(&v2, 0);
        let mut straight = ZkTree::new();
        let mut entries = txns(1..=3, &mut straight);
        let at_3 = nodes_of(&straight);
        let delete = TxnHeader { client_id: 9, cxid: 2, zxid: 4, time: 104, kind: op::DELETE };
        let mut record = crate::jute::Writer::new(Vec::new());
        record.string("/n2").unwrap();
        let record = record.into_inner();
        let logged = crate::txn::decode(&encode(&delete, &record, None)).unwrap();
        straight.apply(&logged.header, &logged.txn);
        entries.push(encode(&delete, &record, Some(straight.digest() as i64)));
        entries.extend(txns(5..=5, &mut straight));
        std::fs::write(v2.join("log.1"), encode_log(&entries, 0)).unwrap();

        let mut nodes: Vec<Node> = at_3.into_iter().filter(|(path, _, _)| path != "/n2").collect();
        let n5 = straight.get("/n5").unwrap();
        nodes.push(("/n5".into(), n5.data.clone(), n5.stat));
        // The digest the snapshot recorded is ZooKeeper's as of zxid 5, when it finished writing.
        write_fuzzy_snapshot(&v2, 3, &nodes, 5, straight.digest());

        let loaded = load(&ZkDataDir::open(dir.path(), None).unwrap(), &mut |_| {}).unwrap();
        assert_eq!(loaded.snapshot_zxid, 3);
        assert_eq!(loaded.snapshot_digest.map(|d| d.zxid), Some(5));
        assert_eq!((loaded.txns_replayed, loaded.digests_checked), (2, 1));
        assert_eq!(loaded.tree.digest(), straight.digest());
        let root = loaded.tree.get("/").unwrap().stat;
        assert_eq!(root, straight.get("/").unwrap().stat);
        assert!(loaded.tree.get("/n2").is_none() && loaded.tree.get("/n5").is_some());
    }

    /// ZooKeeper's snapshot thread wrote the node of zxid 4, which was being applied, but recorded the
    /// digest as of 3, the snapshot's own zxid: the digests differ, and the replay of 4 settles it with
    /// 4's logged digest. When 4's logged digest does not match either, it is damage after all, and the
    /// snapshot's digest is what the error names; so it is when no transaction follows to settle it.
    #[test]
    fn a_transaction_caught_mid_apply_by_the_snapshot_is_settled_by_its_own_digest() {
        let (dir, v2) = data_dir();
        write_snapshot(&v2, 0);
        let mut straight = ZkTree::new();
        let mut entries = txns(1..=3, &mut straight);
        let (mut nodes, digest_at_3) = (nodes_of(&straight), straight.digest());
        entries.extend(txns(4..=4, &mut straight));
        let n4 = straight.get("/n4").unwrap();
        nodes.push(("/n4".into(), n4.data.clone(), n4.stat));
        write_fuzzy_snapshot(&v2, 3, &nodes, 3, digest_at_3);
        let open = || ZkDataDir::open(dir.path(), None).unwrap();

        std::fs::write(v2.join("log.1"), encode_log(&entries, 0)).unwrap();
        let loaded = load(&open(), &mut |_| {}).unwrap();
        assert_eq!((loaded.txns_replayed, loaded.digests_checked), (1, 2));
        assert_eq!(loaded.tree.digest(), straight.digest());
        assert_eq!(loaded.tree.get("/").unwrap().stat, straight.get("/").unwrap().stat);

        let mut damaged = entries.clone();
        let len = damaged[3].len();
        damaged[3][len - 1] ^= 1;
        std::fs::write(v2.join("log.1"), encode_log(&damaged, 0)).unwrap();
        let error = load(&open(), &mut |_| {}).map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("snapshot's digest as of zxid 0x3"), "{error}");

        std::fs::write(v2.join("log.1"), encode_log(&entries[..3], 0)).unwrap();
        let error = load(&open(), &mut |_| {}).map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("snapshot's digest as of zxid 0x3"), "{error}");
    }

    #[test]
    fn what_is_not_a_zookeeper_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = ZkDataDir::open(dir.path(), None).unwrap_err().to_string();
        assert!(error.contains("no version-2"), "{error}");
        std::fs::create_dir(dir.path().join("version-2")).unwrap();
        let error = ZkDataDir::open(dir.path(), None).unwrap_err().to_string();
        assert!(error.contains("no snapshot.* or log.*"), "{error}");
        write_snapshot(&dir.path().join("version-2"), 0);
        let by_data_dir = ZkDataDir::open(dir.path(), None).unwrap();
        let by_version_2 = ZkDataDir::open(&dir.path().join("version-2"), None).unwrap();
        assert_eq!(by_data_dir.snapshots, by_version_2.snapshots);
        assert!(
            ZkDataDir::open(&dir.path().join("missing"), None).unwrap_err().to_string().contains("not a directory")
        );
        let _ = StatPersisted::default();
    }
}
