//! Encrypted targets: an archived log with snapshot backups in between, written through a keyed target,
//! restores to the same trees; a wrong, missing or rotated key, a tampered byte and objects swapped by
//! name all fail with a message naming what is wrong, and a failed restore leaves nothing behind.

use std::path::{Path, PathBuf};

use paddock_backup::encryption::{self, Key, Keyring};
use paddock_backup::point::Point;
use paddock_backup::segment::{SegmentBuilder, SegmentName};
use paddock_backup::target::Target;
use paddock_proto::{Acl, CreateMode};
use paddock_tree::{DataTree, ProposalId, Txn, TxnOp};

const CLUSTER: &str = "0123456789abcdef0123456789abcdef";
const ENTRIES: i64 = 300;
/// Entries per archived segment.
const PER_SEGMENT: i64 = 40;
/// Snapshot backups are taken at these zxids.
const SNAPSHOTS: [i64; 2] = [100, 250];

/// The trees after each zxid 1..=ENTRIES (index `z - 1`) and the log entries that built them.
fn workload() -> (Vec<Vec<u8>>, Vec<DataTree>) {
    let mut tree = DataTree::new();
    let (mut entries, mut trees) = (Vec::new(), Vec::new());
    for zxid in 1..=ENTRIES {
        let op = match zxid {
            1 => TxnOp::CreateSession { timeout_ms: 30_000, passwd: [3; 16] },
            z if z % 3 == 0 => {
                TxnOp::SetData { path: format!("/n{}", z % 50), data: Some(vec![z as u8; 700]), version: -1 }
            }
            z => TxnOp::Create {
                path: format!("/n{}", z % 50),
                data: Some(vec![(z % 251) as u8; 1500]),
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
                ttl: 0,
            },
        };
        let txn =
            Txn { origin: ProposalId::default(), time: 1_700_000_000_000 + zxid, session_id: 9, auth: Vec::new(), op };
        let bytes = txn.encode();
        tree.apply_entry(zxid, &bytes).expect("the workload applies");
        entries.push(bytes);
        trees.push(tree.clone());
    }
    (entries, trees)
}

/// Archives the workload and its snapshot backups into `target`.
async fn archive(target: &Target, entries: &[Vec<u8>], trees: &[DataTree]) {
    let mut zxid = 1;
    while zxid <= ENTRIES {
        let mut builder = SegmentBuilder::default();
        for z in zxid..(zxid + PER_SEGMENT).min(ENTRIES + 1) {
            builder.push(z, &entries[z as usize - 1]);
        }
        let (first, last, bytes) = builder.finish().expect("compress").expect("entries");
        let time = |z: i64| trees[z as usize - 1].last_time();
        let name = SegmentName { first, last, first_time_ms: time(first), last_time_ms: time(last) };
        assert!(target.put_new(&name.key(CLUSTER), bytes).await.expect("upload a segment"));
        zxid = last + 1;
    }
    for at in SNAPSHOTS {
        let tree = trees[at as usize - 1].clone();
        paddock_backup::create::from_tree(tree, CLUSTER, "test".into(), target).await.expect("snapshot backup");
    }
}

struct Setup {
    dir: tempfile::TempDir,
    root: PathBuf,
    key: Key,
    trees: Vec<DataTree>,
}

impl Setup {
    /// A target archived with a fresh key.
    async fn encrypted() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("target");
        let key = Key::generate();
        let (entries, trees) = workload();
        archive(&keyed(&root, &[&key]), &entries, &trees).await;
        Setup { dir, root, key, trees }
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn object(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn segment_holding(&self, zxid: i64) -> String {
        let first = (zxid - 1) / PER_SEGMENT * PER_SEGMENT + 1;
        let last = (first + PER_SEGMENT - 1).min(ENTRIES);
        let time = |z: i64| self.trees[z as usize - 1].last_time();
        SegmentName { first, last, first_time_ms: time(first), last_time_ms: time(last) }.key(CLUSTER)
    }
}

fn plain(root: &Path) -> Target {
    Target::open(root.to_str().expect("utf-8")).expect("target")
}

fn keyed(root: &Path, keys: &[&Key]) -> Target {
    plain(root).with_keyring(Keyring::new(keys.iter().map(|k| (*k).clone()).collect()).expect("keyring"))
}

async fn restored(target: &Target, point: Point, dir: &Path) -> Result<DataTree, String> {
    crate::common::restored_tree(target, None, point, dir).await
}

/// Flips one bit in the middle of a stored object.
fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read the object");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).expect("write the object");
}

fn assert_restore_fails(result: Result<DataTree, String>, out: &Path, wanted: &[&str]) {
    let message = result.expect_err("the restore succeeded");
    for want in wanted {
        assert!(message.contains(want), "{message:?} does not say {want:?}");
    }
    assert!(!message.contains('\n'), "{message:?} is not one line");
    assert!(!out.exists(), "a failed restore left {} behind", out.display());
}

#[tokio::test]
async fn an_encrypted_target_restores_every_point_and_verifies_with_its_key() {
    let s = Setup::encrypted().await;
    let target = keyed(&s.root, &[&s.key]);
    for zxid in [57, 100, 180, ENTRIES] {
        let tree = restored(&target, Point::Zxid(zxid), &s.out(&format!("z{zxid}"))).await.expect("restore");
        assert_eq!(tree.digest(), s.trees[zxid as usize - 1].digest(), "zxid {zxid}");
        assert_eq!(tree.node_count(), s.trees[zxid as usize - 1].node_count(), "zxid {zxid}");
    }
    let verified = paddock_backup::verify::verify(&target, &|_| {}).await.expect("verify");
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    assert_eq!(verified.sound, SNAPSHOTS.len());

    // Every stored object is sealed with the key, and the manifests name it; none shows its plaintext.
    let catalog = paddock_backup::catalog::read(&target).await.expect("catalog");
    assert!(catalog.clusters[0].snapshots.iter().all(|m| m.encryption == s.key.id().to_string()));
    for (key, _) in target.list("").await.expect("list") {
        let stored = std::fs::read(s.object(&key)).expect("read");
        assert_eq!(encryption::sealed_with(&stored), Some(s.key.id()), "{key}");
        assert!(!stored.windows(CLUSTER.len()).any(|w| w == CLUSTER.as_bytes()), "{key} shows the cluster id");
    }
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_named_by_its_id_and_nothing_is_written() {
    let s = Setup::encrypted().await;
    let id = s.key.id().to_string();
    let other = Key::generate();
    let out = s.out("wrong");
    let result = restored(&keyed(&s.root, &[&other]), Point::Latest, &out).await;
    assert_restore_fails(
        result,
        &out,
        &[&format!("is encrypted with key {id}"), "no --encryption-key-file holds it", &other.id().to_string()],
    );
    let out = s.out("none");
    let result = restored(&plain(&s.root), Point::Latest, &out).await;
    assert_restore_fails(result, &out, &[&format!("is encrypted with key {id}"), "none given"]);

    let err = paddock_backup::verify::verify(&plain(&s.root), &|_| {}).await.expect_err("verify without the key");
    assert!(err.to_string().contains(&id), "{err}");
    let err = paddock_backup::catalog::read(&keyed(&s.root, &[&other])).await.expect_err("list with another key");
    assert!(err.to_string().contains(&id), "{err}");
}

#[tokio::test]
async fn a_tampered_snapshot_or_log_segment_is_detected_before_anything_is_written() {
    let s = Setup::encrypted().await;
    let target = keyed(&s.root, &[&s.key]);
    let snapshot = paddock_backup::manifest::snapshot_key(CLUSTER, SNAPSHOTS[1]);
    flip_byte(&s.object(&snapshot));
    let out = s.out("snapshot");
    assert_restore_fails(restored(&target, Point::Latest, &out).await, &out, &["failed authentication", &snapshot]);
    let verified = paddock_backup::verify::verify(&target, &|_| {}).await.expect("verify");
    assert!(
        verified.problems.iter().any(|p| p.key == snapshot && p.problem.contains("failed authentication")),
        "{:?}",
        verified.problems
    );

    // The first snapshot and the log after it are intact up to the tampered segment.
    let segment = s.segment_holding(150);
    flip_byte(&s.object(&segment));
    let out = s.out("segment");
    assert_restore_fails(restored(&target, Point::Zxid(170), &out).await, &out, &["failed authentication", &segment]);
    let before = restored(&target, Point::Zxid(115), &s.out("before")).await.expect("before the tampered segment");
    assert_eq!(before.digest(), s.trees[114].digest());
}

#[tokio::test]
async fn objects_swapped_by_name_fail_authentication() {
    let s = Setup::encrypted().await;
    let target = keyed(&s.root, &[&s.key]);
    let (a, b) = (s.segment_holding(130), s.segment_holding(170));
    let (pa, pb) = (s.object(&a), s.object(&b));
    let (bytes_a, bytes_b) = (std::fs::read(&pa).expect("read"), std::fs::read(&pb).expect("read"));
    std::fs::write(&pa, &bytes_b).expect("swap");
    std::fs::write(&pb, &bytes_a).expect("swap");
    let out = s.out("swapped");
    assert_restore_fails(restored(&target, Point::Zxid(200), &out).await, &out, &["failed authentication"]);

    // Two manifests swapped: each is bound to its own name too.
    let (m1, m2) = (
        paddock_backup::manifest::manifest_key(CLUSTER, SNAPSHOTS[0]),
        paddock_backup::manifest::manifest_key(CLUSTER, SNAPSHOTS[1]),
    );
    std::fs::write(&pa, &bytes_a).expect("restore a");
    std::fs::write(&pb, &bytes_b).expect("restore b");
    let (x, y) = (std::fs::read(s.object(&m1)).expect("read"), std::fs::read(s.object(&m2)).expect("read"));
    std::fs::write(s.object(&m1), &y).expect("swap");
    std::fs::write(s.object(&m2), &x).expect("swap");
    let catalog = paddock_backup::catalog::read(&target).await.expect("catalog");
    let unreadable = &catalog.clusters[0].unreadable;
    assert_eq!(unreadable.len(), 2, "{unreadable:?}");
    assert!(unreadable.iter().all(|why| why.contains("failed authentication")), "{unreadable:?}");
}

#[tokio::test]
async fn after_rekey_only_the_new_key_is_needed_and_the_old_one_alone_fails() {
    let s = Setup::encrypted().await;
    let new = Key::generate();
    let rekeyed = paddock_backup::rekey::rekey(&keyed(&s.root, &[&new, &s.key]), &|_, _| {}).await.expect("rekey");
    assert_eq!(rekeyed.key_id, new.id().to_string());
    assert_eq!((rekeyed.rekeyed, rekeyed.already, rekeyed.were_plaintext), (rekeyed.objects, 0, 0));
    // Run again (an interrupted rekey is run again): nothing left to do.
    let again = paddock_backup::rekey::rekey(&keyed(&s.root, &[&new, &s.key]), &|_, _| {}).await.expect("again");
    assert_eq!((again.rekeyed, again.already), (0, rekeyed.objects));

    let only_new = keyed(&s.root, &[&new]);
    let tree = restored(&only_new, Point::Latest, &s.out("new")).await.expect("restore with the new key");
    assert_eq!(tree.digest(), s.trees[ENTRIES as usize - 1].digest());
    let catalog = paddock_backup::catalog::read(&only_new).await.expect("catalog");
    assert!(catalog.clusters[0].snapshots.iter().all(|m| m.encryption == new.id().to_string()));
    let verified = paddock_backup::verify::verify(&only_new, &|_| {}).await.expect("verify");
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);

    let out = s.out("old");
    let result = restored(&keyed(&s.root, &[&s.key]), Point::Latest, &out).await;
    assert_restore_fails(result, &out, &[&format!("is encrypted with key {}", new.id())]);
}

#[tokio::test]
async fn a_plaintext_target_stays_readable_with_a_key_verify_names_it_and_rekey_seals_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("target");
    let (entries, trees) = workload();
    archive(&plain(&root), &entries, &trees).await;
    let key = Key::generate();
    let target = keyed(&root, &[&key]);
    let tree = restored(&target, Point::Latest, &dir.path().join("a")).await.expect("plaintext through a key");
    assert_eq!(tree.digest(), trees[ENTRIES as usize - 1].digest());
    let verified = paddock_backup::verify::verify(&target, &|_| {}).await.expect("verify");
    let objects = target.list("").await.expect("list").len();
    assert_eq!(verified.problems.len(), objects, "{:?}", verified.problems);
    assert!(verified.problems.iter().all(|p| p.problem.contains("stored unencrypted")));

    let rekeyed = paddock_backup::rekey::rekey(&target, &|_, _| {}).await.expect("rekey");
    assert_eq!((rekeyed.rekeyed, rekeyed.were_plaintext), (objects, objects));
    let verified = paddock_backup::verify::verify(&target, &|_| {}).await.expect("verify");
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    assert!(restored(&plain(&root), Point::Latest, &dir.path().join("b")).await.is_err());
}

#[tokio::test]
async fn large_objects_stream_through_encryption_and_a_truncated_one_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = Key::generate();
    let target = keyed(dir.path(), &[&key]);
    // Several multipart parts and a partial last encryption segment.
    let body: Vec<u8> = (0..(20 << 20) + 12345).map(|i: u32| (i % 253) as u8).collect();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let chunks: Vec<bytes::Bytes> = body.chunks(300_000).map(bytes::Bytes::copy_from_slice).collect();
    tokio::spawn(async move {
        for chunk in chunks {
            let _ = tx.send(Ok(chunk)).await;
        }
    });
    let written = target.upload("c/snapshots/big.snap", rx, &|_| {}).await.expect("upload");
    assert_eq!(written.size, body.len() as u64, "the plaintext's size");
    let mut read = Vec::new();
    let downloaded = target
        .download("c/snapshots/big.snap", |chunk| {
            read.extend_from_slice(chunk);
            Ok(())
        })
        .await
        .expect("download");
    assert_eq!(downloaded, written);
    assert!(read == body, "the plaintext differs");

    let path = dir.path().join("c/snapshots/big.snap");
    let stored = std::fs::read(&path).expect("read");
    std::fs::write(&path, &stored[..stored.len() - (64 * 1024 + 16) - 100]).expect("truncate");
    let err = target.download("c/snapshots/big.snap", |_| Ok(())).await.expect_err("truncated");
    assert!(err.to_string().contains("failed authentication"), "{err}");
}

#[test]
fn a_key_file_of_the_wrong_size_is_one_line_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("short.key");
    std::fs::write(&file, [7u8; 31]).expect("write");
    let err = Keyring::load(&[&file]).expect_err("31 bytes").to_string();
    assert!(err.contains(&file.display().to_string()) && err.contains("31 bytes"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    let missing = dir.path().join("absent.key");
    let err = Keyring::load(&[&missing]).expect_err("no file").to_string();
    assert!(err.contains(&missing.display().to_string()), "{err}");
}
