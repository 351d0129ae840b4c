//! `Digest` entries in the archived log (`paddock.digestInterval`): restores and `verify` check each one they
//! replay against the replayed tree, so any restore point is checked, not only snapshot zxids. A log whose
//! entry records another digest than the replay gives is damage, named with its segment and zxid.

use paddock_backup::point::Point;
use paddock_backup::segment::{SegmentBuilder, SegmentName};
use paddock_backup::target::Target;
use paddock_proto::{Acl, CreateMode};
use paddock_tree::{DataTree, ProposalId, Txn, TxnOp};

const CLUSTER: &str = "0123456789abcdef0123456789abcdef";
const ENTRIES: i64 = 300;
/// A `Digest` entry every this many zxids, naming the zxid a few entries before it (as a server's does:
/// the writes in flight when it proposed it come between).
const INTERVAL: i64 = 50;
const IN_FLIGHT: i64 = 5;
/// The snapshot backup the archive is replayed from: the `Digest` at 100 names 95, before it, which a
/// replay from here cannot tell (and must not call damage).
const BASE: i64 = 97;
const SEGMENT: i64 = 40;

/// Entries 1..=ENTRIES: writes, with a `Digest` every INTERVAL zxids; the one at `wrong_at` (if any) records
/// a wrong digest. Returns the entries and the tree after each zxid (index `z - 1`).
fn workload(wrong_at: Option<i64>) -> (Vec<Vec<u8>>, Vec<DataTree>) {
    let mut tree = DataTree::new();
    let mut digests = vec![tree.digest()];
    let (mut entries, mut trees) = (Vec::new(), Vec::new());
    for zxid in 1..=ENTRIES {
        let op = if zxid % INTERVAL == 0 {
            let named = zxid - IN_FLIGHT;
            let digest = digests[named as usize];
            TxnOp::Digest { zxid: named, digest: if wrong_at == Some(zxid) { digest ^ 0x10 } else { digest } }
        } else if zxid % 3 == 0 {
            TxnOp::SetData { path: format!("/n{}", zxid % 17), data: Some(zxid.to_le_bytes().to_vec()), version: -1 }
        } else {
            let path = format!("/n{}", zxid % 17);
            TxnOp::Create {
                path,
                data: Some(vec![1; 8]),
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
                ttl: 0,
            }
        };
        let txn =
            Txn { origin: ProposalId::default(), time: 1_700_000_000_000 + zxid, session_id: 0, auth: vec![], op };
        let bytes = txn.encode();
        tree.apply_entry(zxid, &bytes).expect("the workload applies");
        digests.push(tree.digest());
        entries.push(bytes);
        trees.push(tree.clone());
    }
    (entries, trees)
}

/// Archives the entries as segments of SEGMENT entries, with a snapshot backup at BASE; returns the target.
async fn archived(dir: &std::path::Path, entries: &[Vec<u8>], trees: &[DataTree]) -> Target {
    let target = Target::open(dir.join("target").to_str().expect("utf-8")).expect("target");
    for first in (1..=ENTRIES).step_by(SEGMENT as usize) {
        let last = (first + SEGMENT - 1).min(ENTRIES);
        let mut builder = SegmentBuilder::default();
        for zxid in first..=last {
            builder.push(zxid, &entries[zxid as usize - 1]);
        }
        let (first, last, bytes) = builder.finish().expect("compress").expect("entries");
        let time = |z: i64| trees[z as usize - 1].last_time();
        let name = SegmentName { first, last, first_time_ms: time(first), last_time_ms: time(last) };
        assert!(target.put_new(&name.key(CLUSTER), bytes).await.expect("upload"));
    }
    let base = trees[BASE as usize - 1].clone();
    paddock_backup::create::from_tree(base, CLUSTER, "test".into(), &target).await.expect("snapshot backup");
    target
}

/// The key of the segment holding `zxid`.
fn segment_of(zxid: i64, trees: &[DataTree]) -> String {
    let first = (zxid - 1) / SEGMENT * SEGMENT + 1;
    let last = (first + SEGMENT - 1).min(ENTRIES);
    let time = |z: i64| trees[z as usize - 1].last_time();
    SegmentName { first, last, first_time_ms: time(first), last_time_ms: time(last) }.key(CLUSTER)
}

/// Restores `point` into `dir`: the restored tree's digest, or the error.
async fn restore_to(target: &Target, point: Point, dir: &std::path::Path) -> Result<u64, String> {
    crate::common::restored_tree(target, None, point, dir).await.map(|tree| tree.digest())
}

#[tokio::test]
async fn an_archive_with_digest_entries_verifies_and_restores_everywhere() {
    let (entries, trees) = workload(None);
    let dir = tempfile::tempdir().expect("temp dir");
    let target = archived(dir.path(), &entries, &trees).await;

    let verified = paddock_backup::verify::verify(&target, &|_| {}).await.expect("verify");
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    assert_eq!(verified.sound, 1);
    for (round, point) in
        [Point::Latest, Point::Zxid(150), Point::Zxid(BASE + 1), Point::Zxid(60)].into_iter().enumerate()
    {
        let zxid = match point {
            Point::Zxid(z) => z,
            _ => ENTRIES,
        };
        let digest = restore_to(&target, point, &dir.path().join(format!("r{round}"))).await.expect("restores");
        assert_eq!(digest, trees[zxid as usize - 1].digest(), "restore to {zxid}");
    }
}

#[tokio::test]
async fn a_digest_entry_the_replay_does_not_match_is_named_by_verify_and_stops_a_restore_through_it() {
    const WRONG: i64 = 150;
    let (entries, trees) = workload(Some(WRONG));
    let dir = tempfile::tempdir().expect("temp dir");
    let target = archived(dir.path(), &entries, &trees).await;
    let key = segment_of(WRONG, &trees);

    let verified = paddock_backup::verify::verify(&target, &|_| {}).await.expect("verify");
    let [problem] = verified.problems.as_slice() else { panic!("one problem: {:?}", verified.problems) };
    assert_eq!((problem.key.as_str(), problem.zxid), (key.as_str(), Some(WRONG)), "{problem:?}");
    assert!(problem.problem.contains(&format!("after zxid {}", WRONG - IN_FLIGHT)), "{problem:?}");
    // The snapshot backup itself is sound: only the log after it is damaged.
    assert_eq!(verified.sound, 1);

    for (round, point) in [Point::Latest, Point::Zxid(WRONG)].into_iter().enumerate() {
        let refused = restore_to(&target, point, &dir.path().join(format!("through{round}"))).await;
        let message = refused.expect_err("restored through a mismatching digest entry");
        assert!(message.contains(&key) && message.contains(&format!("zxid {WRONG}")), "{message}");
        assert!(!dir.path().join(format!("through{round}")).join("paddock").exists(), "nothing is left behind");
    }
    let before = restore_to(&target, Point::Zxid(WRONG - 1), &dir.path().join("before")).await.expect("before it");
    assert_eq!(before, trees[WRONG as usize - 2].digest());
}
