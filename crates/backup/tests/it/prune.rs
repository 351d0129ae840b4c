//! Retention (`prune`): which restore points a policy keeps, that the archived log they need survives (every
//! zxid a kept snapshot could be restored to before can still be, and restores to exactly that tree), that
//! the grace period protects young objects (time is simulated through `now_ms`, and object ages through
//! their files' mtimes), leftovers, and that a dry run names exactly what a real run then deletes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use paddock_backup::BackupError;
use paddock_backup::catalog::{self, ClusterBackups};
use paddock_backup::manifest;
use paddock_backup::point::{self, Point};
use paddock_backup::prune::{Policy, Pruned, prune};
use paddock_backup::segment::{SegmentBuilder, SegmentName};
use paddock_backup::target::Target;
use paddock_proto::{Acl, CreateMode};
use paddock_tree::{DataTree, ProposalId, Txn, TxnOp};

const CLUSTER: &str = "0123456789abcdef0123456789abcdef";
const OTHER: &str = "fedcba9876543210fedcba9876543210";
const ENTRIES: i64 = 300;
/// Snapshot backups; entry `z` is stamped `(ENTRIES + 1 - z) * STEP_MS` before the simulated now, so the
/// backups are about 41.8 h, 33.5 h, 25.2 h, 16.8 h and 8.5 h old.
const SNAPSHOTS: [i64; 5] = [50, 100, 150, 200, 250];
/// An interrupted upload: a snapshot object without its manifest.
const INCOMPLETE: i64 = 275;
/// Archived segments hold 20 entries each: 1-20, 21-40, ... (41-60 straddles the backup at 50, 181-200
/// ends exactly at the one at 200).
const SEGMENT_ENTRIES: i64 = 20;
const STEP_MS: i64 = 10 * 60 * 1000;
const HOUR_MS: i64 = 3_600_000;
const SESSION: i64 = 0x77;

fn wall_now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

struct Archive {
    _dir: tempfile::TempDir,
    root: PathBuf,
    target: Target,
    /// The tree after each entry: `trees[z - 1]` is the state at zxid `z`.
    trees: Vec<DataTree>,
    /// The simulated now: an hour after the objects were written, so that all are past the grace period.
    now_ms: i64,
}

impl Archive {
    fn tree(&self, zxid: i64) -> &DataTree {
        &self.trees[zxid as usize - 1]
    }

    async fn listing(&self) -> BTreeMap<String, (u64, i64)> {
        let listed = self.target.list_meta("").await.expect("list");
        listed.into_iter().map(|(key, size, modified)| (key, (size, modified))).collect()
    }

    async fn cluster(&self, id: &str) -> ClusterBackups {
        let catalog = catalog::read(&self.target).await.expect("catalog");
        catalog.cluster(id).cloned().expect("the cluster is in the target")
    }

    /// Sets the last-modified time of the object `key` (a file of the directory target).
    fn set_modified(&self, key: &str, ms: i64) {
        let file = std::fs::File::options().write(true).open(self.root.join(key)).expect("open the object");
        let when = SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64);
        file.set_modified(when).expect("set its mtime");
    }
}

/// Entries 1..=ENTRIES stamped up to `now_ms`, and the tree after each.
fn workload(now_ms: i64) -> (Vec<Vec<u8>>, Vec<DataTree>) {
    let mut tree = DataTree::new();
    let (mut entries, mut trees) = (Vec::new(), Vec::new());
    for zxid in 1..=ENTRIES {
        let key = format!("/k{}", zxid % 11);
        let op = match (zxid, zxid % 5) {
            (1, _) => TxnOp::CreateSession { timeout_ms: 30_000, passwd: [3; 16] },
            (_, 0 | 1) => TxnOp::Create {
                path: key,
                data: Some(vec![zxid as u8; 8]),
                acl: Acl::open_unsafe(),
                mode: if zxid % 7 == 0 { CreateMode::Ephemeral } else { CreateMode::Persistent },
                ttl: 0,
            },
            (_, 2 | 3) => TxnOp::SetData { path: key, data: Some(zxid.to_le_bytes().to_vec()), version: -1 },
            _ => TxnOp::Delete { path: format!("/k{}", (zxid / 5) % 11), version: -1 },
        };
        let time = now_ms - (ENTRIES + 1 - zxid) * STEP_MS;
        let txn = Txn { origin: ProposalId::default(), time, session_id: SESSION, auth: Vec::new(), op };
        let bytes = txn.encode();
        tree.apply_entry(zxid, &bytes).expect("the workload applies");
        entries.push(bytes);
        trees.push(tree.clone());
    }
    (entries, trees)
}

/// A directory target holding cluster `CLUSTER`'s log from zxid 1 to ENTRIES, its snapshot backups at
/// `SNAPSHOTS`, and an incomplete backup at `INCOMPLETE`.
async fn archive() -> Archive {
    let now_ms = wall_now_ms() + HOUR_MS;
    let (entries, trees) = workload(now_ms);
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("target");
    let target = Target::open(root.to_str().expect("utf-8")).expect("target");
    let mut first = 1;
    while first <= ENTRIES {
        let last = (first + SEGMENT_ENTRIES - 1).min(ENTRIES);
        let mut builder = SegmentBuilder::default();
        for z in first..=last {
            builder.push(z, &entries[z as usize - 1]);
        }
        let (first_zxid, last_zxid, bytes) = builder.finish().expect("compress").expect("entries");
        let time = |z: i64| trees[z as usize - 1].last_time();
        let name =
            SegmentName { first: first_zxid, last: last_zxid, first_time_ms: time(first), last_time_ms: time(last) };
        assert!(target.put_new(&name.key(CLUSTER), bytes).await.expect("upload a segment"));
        first = last + 1;
    }
    for zxid in SNAPSHOTS.into_iter().chain([INCOMPLETE]) {
        let tree = trees[zxid as usize - 1].clone();
        paddock_backup::create::from_tree(tree, CLUSTER, "test".into(), &target).await.expect("snapshot backup");
    }
    target.delete(&manifest::manifest_key(CLUSTER, INCOMPLETE)).await.expect("interrupt the upload");
    Archive { _dir: dir, root, target, trees, now_ms }
}

fn policy(keep_last: Option<usize>, keep_within_hours: Option<u64>) -> Policy {
    Policy {
        keep_last,
        keep_within: keep_within_hours.map(|h| Duration::from_secs(h * 3600)),
        grace: paddock_backup::prune::DEFAULT_GRACE,
        cluster: None,
    }
}

fn kept_zxids(pruned: &Pruned) -> Vec<i64> {
    pruned.clusters.iter().flat_map(|c| c.kept.iter().map(|k| k.zxid)).collect()
}

fn deleted_keys(pruned: &Pruned) -> Vec<String> {
    pruned.deleted.iter().map(|o| o.key.clone()).collect()
}

/// The keys of a backup (manifest, snapshot) and of the segments 1-20, 21-40, ... ending at or below `upto`.
fn backup_keys(zxid: i64) -> [String; 2] {
    [manifest::manifest_key(CLUSTER, zxid), manifest::snapshot_key(CLUSTER, zxid)]
}

fn segment_keys_upto(archive: &BTreeMap<String, (u64, i64)>, upto: i64) -> Vec<String> {
    archive
        .keys()
        .filter(|k| SegmentName::parse(k).is_some_and(|(c, s)| c == CLUSTER && s.last <= upto))
        .cloned()
        .collect()
}

/// Restores zxid `zxid` into a fresh directory under `dir` and checks it is exactly the workload's tree.
async fn assert_restores(archive: &Archive, zxid: i64, dir: &Path) {
    let out = dir.join(format!("restored-{zxid}"));
    let tree = crate::common::restored_tree(&archive.target, Some(CLUSTER), Point::Zxid(zxid), &out)
        .await
        .unwrap_or_else(|e| panic!("restoring zxid {zxid}: {e}"));
    assert_eq!(tree.last_zxid(), zxid + (1 << 32), "restored to zxid {zxid}");
    let expected = archive.tree(zxid);
    assert_eq!((tree.digest(), tree.node_count()), (expected.digest(), expected.node_count()), "zxid {zxid}");
    std::fs::remove_dir_all(&out).expect("clean up");
}

#[tokio::test]
async fn keep_last_and_keep_within_choose_restore_points() {
    let archive = archive().await;
    let before = archive.listing().await;
    let cases: [(Option<usize>, Option<u64>, &[i64]); 6] = [
        (Some(3), None, &[150, 200, 250]),
        (None, Some(24), &[200, 250]),
        (Some(1), Some(20), &[200, 250]),
        (Some(4), Some(1), &[100, 150, 200, 250]),
        (Some(10), None, &SNAPSHOTS),
        (Some(0), Some(9), &[250]),
    ];
    for (keep_last, within, expected) in cases {
        let pruned = prune(&archive.target, &policy(keep_last, within), archive.now_ms, true).await.expect("dry run");
        assert_eq!(kept_zxids(&pruned), expected, "--keep-last {keep_last:?} --keep-within {within:?}h");
        assert!(pruned.dry_run);
    }
    let both = prune(&archive.target, &policy(Some(1), Some(20)), archive.now_ms, true).await.expect("dry run");
    let reasons: Vec<Vec<String>> = both.clusters[0].kept.iter().map(|k| k.reasons.clone()).collect();
    assert_eq!(
        reasons,
        [vec!["taken within 20h".to_string()], vec!["among the newest 1".into(), "taken within 20h".into()]]
    );
    assert_eq!(archive.listing().await, before, "dry runs deleted something");
}

#[tokio::test]
async fn pruning_keeps_every_zxid_a_kept_snapshot_could_be_restored_to() {
    let archive = archive().await;
    let before = archive.listing().await;
    let cluster = archive.cluster(CLUSTER).await;
    let plans_before: Vec<_> = (1..=ENTRIES)
        .map(|z| point::resolve(&cluster, Point::Zxid(z)).unwrap_or_else(|e| panic!("zxid {z} before: {e}")))
        .collect();

    let pruned = prune(&archive.target, &policy(Some(3), None), archive.now_ms, false).await.expect("prune");
    assert_eq!(kept_zxids(&pruned), [150, 200, 250]);
    assert_eq!(pruned.clusters[0].log_kept_after, Some(150));
    let mut expected: BTreeSet<String> = [50, 100].into_iter().flat_map(backup_keys).collect();
    expected.insert(manifest::snapshot_key(CLUSTER, INCOMPLETE));
    // Segments 1-20 .. 121-140; 141-160 holds 151.. and stays.
    expected.extend(segment_keys_upto(&before, 150));
    assert_eq!(segment_keys_upto(&before, 150).len(), 7);
    let deleted: BTreeSet<String> = deleted_keys(&pruned).into_iter().collect();
    assert_eq!(deleted, expected);
    let freed: u64 = expected.iter().map(|k| before[k].0).sum();
    assert_eq!(pruned.bytes_freed, freed);
    assert!(pruned.held.is_empty() && pruned.reported.is_empty(), "{pruned:?}");

    // The order: each manifest before its snapshot, every backup before any segment, segments oldest first.
    let at = |key: &str| deleted_keys(&pruned).iter().position(|k| k == key).expect("deleted");
    for zxid in [50, 100] {
        let [json, snap] = backup_keys(zxid);
        assert!(at(&json) < at(&snap), "the snapshot of {zxid} went before its manifest");
    }
    let segment_positions: Vec<usize> = segment_keys_upto(&before, 150).iter().map(|k| at(k)).collect();
    assert!(segment_positions.windows(2).all(|w| w[0] < w[1]), "segments not oldest first");
    assert!(segment_positions[0] > at(&manifest::snapshot_key(CLUSTER, 100)), "a segment went before a backup");

    let after = archive.listing().await;
    let left: BTreeSet<String> = after.keys().cloned().collect();
    let before_keys: BTreeSet<String> = before.keys().cloned().collect();
    assert_eq!(left, &before_keys - &expected);

    // The chain is intact: every zxid from the oldest kept snapshot on is reached exactly as before (same base,
    // same segments); below it nothing is a restore point any more.
    let cluster = archive.cluster(CLUSTER).await;
    assert!(cluster.incomplete.is_empty() && cluster.gaps().is_empty(), "{cluster:?}");
    for z in 1..=ENTRIES {
        let plan = point::resolve(&cluster, Point::Zxid(z));
        if z < 150 {
            assert!(plan.is_err(), "zxid {z} is still a restore point");
            continue;
        }
        let plan = plan.unwrap_or_else(|e| panic!("zxid {z} after pruning: {e}"));
        let was = &plans_before[z as usize - 1];
        assert_eq!((plan.base_zxid(), &plan.segments), (was.base_zxid(), &was.segments), "zxid {z}");
    }
    let scratch = tempfile::tempdir().expect("temp dir");
    let sample = [150, 151, 160, 161, 180, 199, 200, 201, 221, 249, 250, 251, 260, 261, 275, 299, 300];
    for zxid in sample {
        assert_restores(&archive, zxid, scratch.path()).await;
    }
    let verified = paddock_backup::verify::verify(&archive.target, &|_| {}).await.expect("verify");
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    assert_eq!(verified.sound, 3);

    // Pruning again with the same policy has nothing left to do.
    let again = prune(&archive.target, &policy(Some(3), None), archive.now_ms, false).await.expect("prune");
    assert!(again.deleted.is_empty(), "{:?}", again.deleted);
}

#[tokio::test]
async fn with_no_snapshot_kept_the_whole_log_stays() {
    let archive = archive().await;
    let before = archive.listing().await;
    // Every backup is more than 8 h old: none is within 1 h.
    let pruned = prune(&archive.target, &policy(None, Some(1)), archive.now_ms, false).await.expect("prune");
    assert!(kept_zxids(&pruned).is_empty());
    assert_eq!(pruned.clusters[0].log_kept_after, None);
    let deleted: BTreeSet<String> = deleted_keys(&pruned).into_iter().collect();
    let mut expected: BTreeSet<String> = SNAPSHOTS.into_iter().flat_map(backup_keys).collect();
    expected.insert(manifest::snapshot_key(CLUSTER, INCOMPLETE));
    assert_eq!(deleted, expected, "only backups go");
    assert_eq!(segment_keys_upto(&archive.listing().await, ENTRIES), segment_keys_upto(&before, ENTRIES));
    // The log starts at zxid 1: it is still a restore point from the empty tree.
    let scratch = tempfile::tempdir().expect("temp dir");
    for zxid in [1, 150, ENTRIES] {
        assert_restores(&archive, zxid, scratch.path()).await;
    }
}

#[tokio::test]
async fn the_grace_period_protects_young_objects() {
    let archive = archive().await;
    let before = archive.listing().await;
    let written = before.values().map(|(_, modified)| *modified).max().expect("objects");
    let keep_one = policy(Some(1), None);
    let would = prune(&archive.target, &keep_one, archive.now_ms, true).await.expect("dry run an hour later");
    assert!(!would.deleted.is_empty());

    // Right after the upload, and 10 minutes later, everything is younger than 15 minutes: nothing goes.
    // All of it is held; as the held backups stay restore points, so does their log: only the segments
    // below the oldest of them (50) are held rather than kept.
    let held_then: Vec<String> = would
        .deleted
        .iter()
        .filter(|o| SegmentName::parse(&o.key).is_none_or(|(_, s)| s.last <= 50))
        .map(|o| o.key.clone())
        .collect();
    for now in [written + 1, written + 10 * 60 * 1000] {
        let pruned = prune(&archive.target, &keep_one, now, false).await.expect("prune");
        assert!(pruned.deleted.is_empty(), "deleted a young object: {:?}", pruned.deleted);
        assert_eq!(pruned.held.iter().map(|o| o.key.clone()).collect::<Vec<_>>(), held_then);
        assert_eq!(pruned.clusters[0].log_kept_after, Some(50));
        let incomplete = manifest::snapshot_key(CLUSTER, INCOMPLETE);
        let held = pruned.held.iter().find(|o| o.key == incomplete).expect("the incomplete backup is held");
        assert!(held.reason.contains("may still be completing"), "{}", held.reason);
    }
    assert_eq!(archive.listing().await, before);
    // With --grace 0s, the same objects go at once.
    let no_grace = Policy { grace: Duration::ZERO, ..keep_one.clone() };
    let pruned = prune(&archive.target, &no_grace, written + 1, true).await.expect("dry run");
    assert_eq!(deleted_keys(&pruned), deleted_keys(&would));

    // An hour later, except a segment below the kept snapshot and a backup outside the policy that are
    // young: the backup at 100 is held whole, and so is the log it needs (segments ending after 100).
    let young = archive.now_ms - 5 * 60 * 1000;
    let young_segment = segment_keys_upto(&before, 80).pop().expect("segment 61-80");
    archive.set_modified(&young_segment, young);
    archive.set_modified(&manifest::manifest_key(CLUSTER, 100), young);
    let pruned = prune(&archive.target, &keep_one, archive.now_ms, false).await.expect("prune");
    assert_eq!(kept_zxids(&pruned), [250]);
    assert_eq!(pruned.clusters[0].log_kept_after, Some(100));
    let held: BTreeSet<String> = pruned.held.iter().map(|o| o.key.clone()).collect();
    let mut expected_held: BTreeSet<String> = backup_keys(100).into_iter().collect();
    expected_held.insert(young_segment.clone());
    assert_eq!(held, expected_held);
    let mut expected: BTreeSet<String> = [50, 150, 200].into_iter().flat_map(backup_keys).collect();
    expected.insert(manifest::snapshot_key(CLUSTER, INCOMPLETE));
    expected.extend(segment_keys_upto(&before, 100).into_iter().filter(|k| *k != young_segment));
    assert_eq!(deleted_keys(&pruned).into_iter().collect::<BTreeSet<_>>(), expected);
    let scratch = tempfile::tempdir().expect("temp dir");
    for zxid in [100, 101, 150, 249, 250, 300] {
        assert_restores(&archive, zxid, scratch.path()).await;
    }
}

#[tokio::test]
async fn a_dry_run_deletes_nothing_and_lists_exactly_what_a_real_run_deletes() {
    let archive = archive().await;
    let before = archive.listing().await;
    let keep = policy(Some(2), Some(30));
    let dry = prune(&archive.target, &keep, archive.now_ms, true).await.expect("dry run");
    assert!(dry.dry_run && !dry.deleted.is_empty());
    assert_eq!(archive.listing().await, before, "a dry run deleted something");
    let real = prune(&archive.target, &keep, archive.now_ms, false).await.expect("prune");
    assert!(!real.dry_run);
    assert_eq!(real.deleted, dry.deleted, "the dry run named other objects or reasons");
    assert_eq!((real.bytes_freed, kept_zxids(&real)), (dry.bytes_freed, kept_zxids(&dry)));
    let after = archive.listing().await;
    let gone: Vec<String> = before.keys().filter(|k| !after.contains_key(*k)).cloned().collect();
    let mut named = deleted_keys(&dry);
    named.sort();
    assert_eq!(gone, named, "what went is not what the dry run listed");
    assert!(dry.deleted.iter().all(|o| !o.reason.is_empty() && o.size == before[&o.key].0));
}

#[tokio::test]
async fn leftovers_go_and_a_manifest_without_its_snapshot_is_reported() {
    let archive = archive().await;
    let target = &archive.target;
    // Another cluster: complete backups at 50 and 100, one at 200 whose snapshot object is lost, and an
    // unreadable manifest.
    for zxid in [50, 100, 200] {
        let tree = archive.tree(zxid).clone();
        paddock_backup::create::from_tree(tree, OTHER, "test".into(), target).await.expect("backup");
    }
    target.delete(&manifest::snapshot_key(OTHER, 200)).await.expect("lose a snapshot");
    let garbage = manifest::manifest_key(OTHER, 10);
    assert!(target.put_new(&garbage, bytes::Bytes::from_static(b"{")).await.expect("write"));
    let before = archive.listing().await;

    let only_other = Policy { cluster: Some(OTHER.to_string()), ..policy(Some(1), None) };
    let pruned = prune(target, &only_other, archive.now_ms, false).await.expect("prune");
    assert_eq!(pruned.clusters.len(), 1, "--cluster pruned another cluster");
    assert_eq!(kept_zxids(&pruned), [100], "a manifest without its snapshot is no restore point");
    let [json, snap] = [manifest::manifest_key(OTHER, 50), manifest::snapshot_key(OTHER, 50)];
    assert_eq!(deleted_keys(&pruned), [json, snap]);
    let reported: Vec<&str> = pruned.reported.iter().map(|o| o.key.as_str()).collect();
    let broken = manifest::manifest_key(OTHER, 200);
    assert_eq!(reported, [garbage.as_str(), broken.as_str()]);
    assert!(pruned.reported[1].reason.contains("missing"), "{}", pruned.reported[1].reason);
    let after = archive.listing().await;
    assert!(after.contains_key(&broken) && after.contains_key(&garbage), "a reported manifest was deleted");
    let untouched = |l: &BTreeMap<String, (u64, i64)>| l.keys().filter(|k| k.starts_with(CLUSTER)).count();
    assert_eq!(untouched(&after), untouched(&before), "cluster {CLUSTER} was touched");

    // Every cluster: the incomplete backup of CLUSTER goes with the rest.
    let pruned = prune(target, &policy(Some(1), None), archive.now_ms, false).await.expect("prune");
    assert!(deleted_keys(&pruned).contains(&manifest::snapshot_key(CLUSTER, INCOMPLETE)));
    let incomplete = pruned.deleted.iter().find(|o| o.key.ends_with(&format!("{INCOMPLETE:020}.snap")));
    assert!(incomplete.is_some_and(|o| o.reason.contains("incomplete backup")), "{pruned:?}");

    let nobody = Policy { cluster: Some("00000000000000000000000000000001".into()), ..policy(Some(1), None) };
    let refused = prune(target, &nobody, archive.now_ms, true).await.expect_err("an absent cluster");
    assert!(refused.to_string().contains("no backup of cluster 00000000000000000000000000000001"), "{refused}");
}

#[tokio::test]
async fn policies_that_keep_nothing_are_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = Target::open(dir.path().to_str().expect("utf-8")).expect("target");
    let zero = Some(Duration::ZERO);
    let cases: [(Option<usize>, Option<Duration>, &str); 4] = [
        (None, None, "--keep-last N and/or --keep-within"),
        (Some(0), None, "--keep-last 0 with no --keep-within"),
        (None, zero, "--keep-within 0 with no --keep-last"),
        (Some(0), zero, "would delete every backup"),
    ];
    for (keep_last, keep_within, named) in cases {
        let policy = Policy { keep_last, keep_within, grace: Duration::ZERO, cluster: None };
        let err = prune(&target, &policy, wall_now_ms(), false).await.expect_err("refused");
        assert!(matches!(&err, BackupError::Refused(m) if m.contains(named)), "{err}");
    }
    let bad_cluster = Policy { cluster: Some("prod".into()), ..policy(Some(1), None) };
    let err = prune(&target, &bad_cluster, wall_now_ms(), false).await.expect_err("refused");
    assert!(err.to_string().contains("\"prod\" is not a cluster id"), "{err}");
}
