//! `paddock data check` and `paddock snapshot inspect` on data directories written here with the storage
//! crate: a sound directory, a damaged snapshot, and a log that no longer reaches back to any snapshot.

use std::path::{Path, PathBuf};

use paddock_backup::check::{check_data_dir, inspect_snapshot, render};
use paddock_backup::datadir::{header_of, load_tree};
use paddock_proto::{Acl, CreateMode};
use paddock_storage::{Wal, WalOptions};
use paddock_tree::{DataTree, ProposalId, Txn, TxnOp};

const ENTRIES: i64 = 40;

/// The log entries of zxids 1..=ENTRIES, and the tree after each (the tree of zxid `z` at index `z - 1`).
fn history() -> (Vec<Vec<u8>>, Vec<DataTree>) {
    let mut tree = DataTree::new();
    let (mut entries, mut trees) = (Vec::new(), Vec::new());
    for zxid in 1..=ENTRIES {
        let op = if zxid == 1 {
            TxnOp::CreateSession { timeout_ms: 30_000, passwd: [7; 16] }
        } else {
            TxnOp::Create {
                path: format!("/n{zxid}"),
                data: Some(vec![zxid as u8; 32]),
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
                ttl: 0,
            }
        };
        let txn = Txn {
            origin: ProposalId::default(),
            time: 1_700_000_000_000 + zxid,
            session_id: 0x12,
            auth: Vec::new(),
            op,
        };
        let bytes = txn.encode();
        tree.apply_entry(zxid, &bytes).expect("the history applies");
        entries.push(bytes);
        trees.push(tree.clone());
    }
    (entries, trees)
}

/// A data directory holding the whole log, in small segments, and snapshots at `snapshots`.
fn data_dir(dir: &Path, snapshots: &[i64]) -> (Vec<DataTree>, Vec<PathBuf>) {
    let (entries, trees) = history();
    let options = WalOptions { segment_bytes: 512, fsync: false, preallocate: false };
    let mut wal = Wal::open(&paddock_storage::wal_dir(dir), options).expect("open the log");
    for (i, entry) in entries.iter().enumerate() {
        wal.append(i as u64 + 1, entry).expect("append");
    }
    wal.sync().expect("sync");
    let snap_dir = paddock_storage::snap_dir(dir);
    std::fs::create_dir_all(&snap_dir).expect("snapshot dir");
    let paths = snapshots
        .iter()
        .map(|&zxid| {
            let tree = &trees[zxid as usize - 1];
            paddock_storage::write_snapshot(&snap_dir, &header_of(tree), |out| tree.write_snapshot(out))
                .expect("write a snapshot")
        })
        .collect();
    (trees, paths)
}

#[test]
fn a_sound_directory_replays_the_whole_log_and_matches_every_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (trees, _) = data_dir(dir.path(), &[10, 30]);
    let report = check_data_dir(dir.path(), None).expect("check runs");
    assert!(report.is_sound(), "{report:?}");
    assert_eq!(report.replayed_from, Some(0), "the log holds the whole history: replay starts from nothing");
    assert_eq!((report.replayed, report.digests_compared), (ENTRIES as u64, 2));
    assert_eq!(report.recoverable, Some((0, ENTRIES)));
    assert!(render(&report).ends_with("sound: recoverable zxid range 0x0..0x28\n"), "{}", render(&report));

    // The same directory with its log elsewhere (dataLogDir): the log is looked for there.
    let logs = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(logs.path().join("paddock")).expect("log dir");
    std::fs::rename(paddock_storage::wal_dir(dir.path()), paddock_storage::wal_dir(logs.path())).expect("move the log");
    let report = check_data_dir(dir.path(), Some(logs.path())).expect("check runs");
    assert_eq!((report.is_sound(), report.recoverable), (true, Some((0, ENTRIES))), "{report:?}");
    let tree = load_tree(dir.path(), Some(logs.path())).expect("load the tree");
    assert_eq!(tree.digest(), trees[ENTRIES as usize - 1].digest(), "load_tree reads the same state");
}

#[test]
fn a_damaged_snapshot_is_named_and_the_rest_is_still_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (trees, paths) = data_dir(dir.path(), &[10, 30]);
    let mut bytes = std::fs::read(&paths[1]).expect("read the snapshot");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&paths[1], bytes).expect("damage it");

    let report = check_data_dir(dir.path(), None).expect("check runs");
    assert!(!report.is_sound(), "{report:?}");
    let named = paths[1].display().to_string();
    assert!(report.problems.iter().any(|p| p.contains(&named)), "names the file: {:?}", report.problems);
    assert_eq!((report.replayed, report.digests_compared), (ENTRIES as u64, 1), "the other snapshot is compared");
    assert_eq!(report.recoverable, Some((0, ENTRIES)));
    assert!(render(&report).contains(&format!("snapshot {named} zxid 0x1e: BAD: ")), "{}", render(&report));
    assert!(inspect_snapshot(&paths[1]).is_err(), "inspect refuses it too");
    // Loading the directory skips it: the older snapshot and the log give the same state.
    let tree = load_tree(dir.path(), None).expect("load the tree");
    assert_eq!(tree.digest(), trees[ENTRIES as usize - 1].digest());
}

#[test]
fn a_log_that_continues_no_snapshot_is_missing_history() {
    let dir = tempfile::tempdir().expect("temp dir");
    data_dir(dir.path(), &[10]);
    let options = WalOptions { segment_bytes: 512, fsync: false, preallocate: false };
    let mut wal = Wal::open(&paddock_storage::wal_dir(dir.path()), options).expect("open the log");
    wal.purge_before(25).expect("purge");
    let first = wal.first_index().expect("records left");
    drop(wal);
    assert!((12..=25).contains(&first), "the log now starts after the snapshot's zxid + 1: {first}");

    let report = check_data_dir(dir.path(), None).expect("check runs");
    assert!(!report.is_sound(), "{report:?}");
    assert!(report.problems.iter().any(|p| p.contains("history is missing")), "{:?}", report.problems);
    assert_eq!(report.recoverable, None);
    assert!(render(&report).ends_with("NOT SOUND: nothing recoverable\n"), "{}", render(&report));

    // A snapshot the log continues makes it sound again, replaying from that snapshot.
    let (_, trees) = history();
    let tree = &trees[29];
    let snap_dir = paddock_storage::snap_dir(dir.path());
    paddock_storage::write_snapshot(&snap_dir, &header_of(tree), |out| tree.write_snapshot(out)).expect("snapshot");
    let report = check_data_dir(dir.path(), None).expect("check runs");
    assert!(report.is_sound(), "{report:?}");
    assert_eq!((report.replayed_from, report.replayed), (Some(30), ENTRIES as u64 - 30));
    assert_eq!(report.recoverable, Some((30, ENTRIES)));
}

#[test]
fn inspect_reports_what_a_snapshot_holds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (trees, paths) = data_dir(dir.path(), &[10]);
    let info = inspect_snapshot(&paths[0]).expect("inspect");
    let tree = &trees[9];
    assert_eq!(info.zxid, "0xa");
    assert_eq!((info.node_count, info.digest), (tree.node_count() as u64, tree.digest()));
    assert_eq!((info.sessions, info.ephemerals, info.compression.as_str()), (1, 0, "zstd"));
}
