//! Point-in-time restore against a reference: a random workload is applied to a tree while the digest at
//! every zxid is recorded; its entries are archived as segments of random sizes with snapshot backups in
//! between, and restores to many random zxids and times must reproduce exactly the tree of that zxid.

use paddock_backup::point::Point;
use paddock_backup::segment::{SegmentBuilder, SegmentName};
use paddock_backup::target::Target;
use paddock_proto::{Acl, CreateMode};
use paddock_tree::{DataTree, ProposalId, Txn, TxnOp};
use rand::{Rng, SeedableRng};

const CLUSTER: &str = "00112233445566778899aabbccddeeff";
const SESSION: i64 = 0x1234;
const ENTRIES: i64 = 600;

/// The workload: (entry bytes, tree after it) per zxid 1..=ENTRIES, the tree at index `z - 1`.
fn workload(seed: u64) -> (Vec<Vec<u8>>, Vec<DataTree>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut tree = DataTree::new();
    let mut time = 1_700_000_000_000i64;
    let (mut entries, mut trees) = (Vec::new(), Vec::new());
    for zxid in 1..=ENTRIES {
        time += rng.random_range(0..4);
        let key = format!("/k{}", rng.random_range(0..40));
        let op = match (zxid, rng.random_range(0..10)) {
            (1, _) => TxnOp::CreateSession { timeout_ms: 30_000, passwd: [7; 16] },
            (_, 0..=3) => TxnOp::Create {
                path: key,
                data: Some(vec![rng.random(); rng.random_range(0..64)]),
                acl: Acl::open_unsafe(),
                mode: if rng.random_bool(0.2) { CreateMode::Ephemeral } else { CreateMode::Persistent },
                ttl: 0,
            },
            (_, 4..=7) => TxnOp::SetData { path: key, data: Some(vec![rng.random(); 8]), version: -1 },
            _ => TxnOp::Delete { path: key, version: -1 },
        };
        let txn = Txn { origin: ProposalId::default(), time, session_id: SESSION, auth: Vec::new(), op };
        let bytes = txn.encode();
        tree.apply_entry(zxid, &bytes).expect("the workload applies");
        entries.push(bytes);
        trees.push(tree.clone());
    }
    (entries, trees)
}

/// Archives `entries` into `target` as segments of random sizes, with snapshot backups at `snapshots`.
async fn archive(target: &Target, entries: &[Vec<u8>], trees: &[DataTree], snapshots: &[i64], seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut zxid = 1i64;
    while zxid <= ENTRIES {
        let last = (zxid + rng.random_range(0..50)).min(ENTRIES);
        let mut builder = SegmentBuilder::default();
        for z in zxid..=last {
            builder.push(z, &entries[z as usize - 1]);
        }
        let (first, last, bytes) = builder.finish().expect("compress").expect("entries");
        let time = |z: i64| trees[z as usize - 1].last_time();
        let name = SegmentName { first, last, first_time_ms: time(first), last_time_ms: time(last) };
        assert!(target.put_new(&name.key(CLUSTER), bytes).await.expect("upload"));
        zxid = last + 1;
    }
    for &at in snapshots {
        let tree = trees[at as usize - 1].clone();
        paddock_backup::create::from_tree(tree, CLUSTER, "test".into(), target).await.expect("snapshot backup");
    }
}

/// Every node of `a` and `b` (data, Stat, children) is the same.
fn assert_same_tree(a: &DataTree, b: &DataTree, context: &str) {
    assert_eq!(a.node_count(), b.node_count(), "{context}: node counts");
    let mut pending = vec!["/".to_string()];
    while let Some(path) = pending.pop() {
        let (x, y) = (a.get(&path), b.get(&path));
        let (Some(x), Some(y)) = (x, y) else { panic!("{context}: {path} is in only one tree") };
        assert_eq!((x.data(), x.stat()), (y.data(), y.stat()), "{context}: {path}");
        let children = a.children(&path).unwrap_or_default();
        assert_eq!(children, b.children(&path).unwrap_or_default(), "{context}: children of {path}");
        pending.extend(children.into_iter().map(|c| if path == "/" { format!("/{c}") } else { format!("{path}/{c}") }));
    }
    assert_eq!(a.digest(), b.digest(), "{context}: digests");
}

async fn restored_tree(target: &Target, point: Point, dir: &std::path::Path) -> Result<DataTree, String> {
    crate::common::restored_tree(target, None, point, dir).await
}

#[tokio::test]
async fn restores_to_random_zxids_and_times_reproduce_exactly_those_trees() {
    let (entries, trees) = workload(11);
    let dir = tempfile::tempdir().expect("temp dir");
    let target = Target::open(dir.path().join("target").to_str().expect("utf-8")).expect("target");
    archive(&target, &entries, &trees, &[150, 400], 12).await;

    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    for round in 0..25 {
        let zxid = rng.random_range(1..=ENTRIES);
        let out = dir.path().join(format!("z{round}"));
        let tree = restored_tree(&target, Point::Zxid(zxid), &out).await.expect("restore to a zxid");
        // The restored tree carries the bump marker: its last zxid is past the point; the nodes are those of it.
        assert_eq!(tree.last_zxid(), zxid + (1 << 32), "round {round}");
        assert_same_tree(&tree, &trees[zxid as usize - 1], &format!("zxid {zxid}"));
    }
    for round in 0..15 {
        let (first, last) = (trees[0].last_time(), trees[ENTRIES as usize - 1].last_time());
        let at = rng.random_range(first..=last);
        let expected = trees.iter().rposition(|t| t.last_time() <= at).expect("a zxid at or before") as i64 + 1;
        let out = dir.path().join(format!("t{round}"));
        let tree = restored_tree(&target, Point::Time(at), &out).await.expect("restore to a time");
        assert_same_tree(&tree, &trees[expected as usize - 1], &format!("time {at} (zxid {expected})"));
    }
    let latest = restored_tree(&target, Point::Latest, &dir.path().join("latest")).await.expect("latest");
    assert_same_tree(&latest, &trees[ENTRIES as usize - 1], "latest");
}

#[tokio::test]
async fn a_gap_in_the_archive_is_named_and_never_crossed() {
    let (entries, trees) = workload(21);
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("target");
    let target = Target::open(root.to_str().expect("utf-8")).expect("target");
    archive(&target, &entries, &trees, &[100, 500], 22).await;
    // Lose the segment holding zxid 300.
    let listed = target.list(&format!("{CLUSTER}/wal/")).await.expect("list");
    let (lost_key, lost) = listed
        .iter()
        .filter_map(|(key, _)| SegmentName::parse(key).map(|(_, n)| (key.clone(), n)))
        .find(|(_, n)| n.first <= 300 && 300 <= n.last)
        .expect("a segment holds 300");
    target.delete(&lost_key).await.expect("delete");

    let catalog = paddock_backup::catalog::read(&target).await.expect("catalog");
    assert_eq!(catalog.clusters[0].gaps(), vec![(lost.first, lost.last)]);
    let refused = restored_tree(&target, Point::Zxid(lost.last + 1), &dir.path().join("across")).await;
    let message = refused.expect_err("restored across a gap");
    assert!(message.contains(&format!("no restore point at zxid {}", lost.last + 1)), "{message}");
    let before =
        restored_tree(&target, Point::Zxid(lost.first - 1), &dir.path().join("before")).await.expect("before the gap");
    assert_same_tree(&before, &trees[lost.first as usize - 2], "before the gap");
    let after = restored_tree(&target, Point::Zxid(ENTRIES), &dir.path().join("after"))
        .await
        .expect("after the snapshot at 500");
    assert_same_tree(&after, &trees[ENTRIES as usize - 1], "from the snapshot after the gap");

    // The missing segment is named: by the zxids lost, and the object that follows them.
    let verified = paddock_backup::verify::verify(&target, &|_| {}).await.expect("verify");
    let after = listed.iter().find(|(k, _)| SegmentName::parse(k).is_some_and(|(_, n)| n.first == lost.last + 1));
    let (after_key, _) = after.expect("a segment follows the lost one");
    assert_eq!(verified.problems.len(), 1, "{:?}", verified.problems);
    let gap = &verified.problems[0];
    assert_eq!((&gap.key, gap.zxid), (after_key, Some(lost.first)), "{gap:?}");
    let missing = format!("zxids {}..={} are missing from the archived log", lost.first, lost.last);
    assert!(gap.problem.contains(&missing), "{gap:?}");
    // A flipped byte in an archived segment is named with its key.
    let (key, _) = listed.iter().find(|(k, _)| *k != lost_key).expect("another segment");
    let path = root.join(key);
    let mut bytes = std::fs::read(&path).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&path, bytes).expect("damage");
    let verified = paddock_backup::verify::verify(&target, &|_| {}).await.expect("verify");
    assert!(
        verified.problems.iter().any(|p| p.key == *key),
        "the damaged segment is not named: {:?}",
        verified.problems
    );
}
