//! Historical reads against a reference: a random workload (sessions, persistent, sequential and ephemeral
//! creates, setData, setACL, deletes, multis, failing writes, session closes) is applied to a tree while the
//! tree after every zxid is kept; its entries are archived with snapshot backups in between. The node read
//! at random zxids and times must be that tree's, and the log of a path must list exactly the txns that
//! changed it or named it.

use std::collections::BTreeSet;

use paddock_backup::history::{self, LogRequest, Source};
use paddock_backup::point::Point;
use paddock_backup::segment::{SegmentBuilder, SegmentName};
use paddock_backup::target::Target;
use paddock_proto::{Acl, CreateMode, Id};
use paddock_tree::{DataTree, ProposalId, Txn, TxnOp, TxnResult};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CLUSTER: &str = "0123456789abcdef0123456789abcdef";
const ENTRIES: i64 = 500;

/// The paths the workload writes: a few parents, children under them, and a parent of sequentials.
fn paths() -> Vec<String> {
    let mut paths = Vec::new();
    for p in 0..4 {
        paths.push(format!("/p{p}"));
        for c in 0..3 {
            paths.push(format!("/p{p}/c{c}"));
        }
    }
    paths.push("/seq".into());
    paths
}

struct Workload {
    /// Entry bytes per zxid 1..=ENTRIES.
    entries: Vec<Vec<u8>>,
    /// The tree after each zxid (index z - 1).
    trees: Vec<DataTree>,
    /// The paths each txn named in a non-sequential create, delete, setData or setACL (sub-ops included).
    named: Vec<Vec<String>>,
}

fn op(rng: &mut StdRng, paths: &[String]) -> TxnOp {
    let path = paths[rng.random_range(0..paths.len())].clone();
    let data = |rng: &mut StdRng| match rng.random_range(0..6) {
        0 => None,
        1 => Some(Vec::new()),
        2 => Some(vec![0, 255, 10, 27]),
        _ => Some(format!("v{}", rng.random::<u16>()).into_bytes()),
    };
    match rng.random_range(0..20) {
        0..=5 => TxnOp::Create {
            path,
            data: data(rng),
            acl: Acl::open_unsafe(),
            mode: if rng.random_bool(0.25) { CreateMode::Ephemeral } else { CreateMode::Persistent },
            ttl: 0,
        },
        6 => TxnOp::Create {
            path: "/seq/s-".into(),
            data: data(rng),
            acl: Acl::open_unsafe(),
            mode: CreateMode::PersistentSequential,
            ttl: 0,
        },
        7..=10 => TxnOp::SetData { path, data: data(rng), version: if rng.random_bool(0.2) { 0 } else { -1 } },
        11..=13 => TxnOp::Delete { path, version: -1 },
        14 => TxnOp::SetAcl {
            path,
            // Both keep every permission for the writers: a read-only node would refuse the rest of the workload.
            acl: if rng.random_bool(0.5) {
                Acl::open_unsafe()
            } else {
                vec![Acl::new(31, Id::anyone()), Acl::new(1, Id::new("ip", "10.0.0.1"))]
            },
            version: -1,
        },
        _ => TxnOp::Multi((0..rng.random_range(1..4)).map(|_| op(rng, paths)).filter(is_simple).collect()),
    }
}

fn is_simple(op: &TxnOp) -> bool {
    !matches!(op, TxnOp::Multi(_))
}

/// The paths `op` names (what a sequential create makes is only known once it is made).
fn named(op: &TxnOp) -> Vec<String> {
    match op {
        TxnOp::Create { mode: CreateMode::PersistentSequential, .. } => Vec::new(),
        TxnOp::Create { path, .. }
        | TxnOp::Delete { path, .. }
        | TxnOp::SetData { path, .. }
        | TxnOp::SetAcl { path, .. } => vec![path.clone()],
        TxnOp::Multi(ops) => ops.iter().flat_map(named).collect(),
        _ => Vec::new(),
    }
}

fn workload(seed: u64) -> Workload {
    let mut rng = StdRng::seed_from_u64(seed);
    let paths = paths();
    let mut tree = DataTree::new();
    let mut time = 1_760_000_000_000i64;
    let mut sessions: Vec<i64> = Vec::new();
    let mut w = Workload { entries: Vec::new(), trees: Vec::new(), named: Vec::new() };
    for zxid in 1..=ENTRIES {
        time += rng.random_range(0..5);
        let session = sessions.get(rng.random_range(0..sessions.len().max(1))).copied();
        let op = match (zxid, session) {
            (2, Some(_)) => TxnOp::Create {
                path: "/seq".into(),
                data: None,
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
                ttl: 0,
            },
            (_, None) => TxnOp::CreateSession { timeout_ms: 30_000, passwd: [1; 16] },
            (_, Some(_)) if rng.random_range(0..30) == 0 => TxnOp::CloseSession,
            (_, Some(_)) if rng.random_range(0..25) == 0 => {
                TxnOp::CreateSession { timeout_ms: 30_000, passwd: [2; 16] }
            }
            _ => op(&mut rng, &paths),
        };
        let session_id = match op {
            TxnOp::CreateSession { .. } => 0,
            _ => session.unwrap_or(0),
        };
        let mut auth = vec![Id::new("ip", "127.0.0.1")];
        if session_id % 2 == 1 {
            auth.push(Id::new("digest", "alice:hash"));
        }
        let txn = Txn { origin: ProposalId::default(), time, session_id, auth, op };
        let bytes = txn.encode();
        let (txn, applied) = tree.apply_entry(zxid, &bytes).expect("the workload applies");
        match (&txn.op, &applied.result) {
            (TxnOp::CreateSession { .. }, TxnResult::SessionCreated(id)) => sessions.push(*id),
            (TxnOp::CloseSession, _) => sessions.retain(|s| *s != session_id),
            _ => {}
        }
        w.named.push(named(&txn.op));
        w.entries.push(bytes);
        w.trees.push(tree.clone());
    }
    w
}

/// Archives the workload as segments of random sizes, with snapshot backups at `snapshots`.
async fn archive(target: &Target, w: &Workload, snapshots: &[i64], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut zxid = 1i64;
    while zxid <= ENTRIES {
        let last = (zxid + rng.random_range(0..60)).min(ENTRIES);
        let mut builder = SegmentBuilder::default();
        for z in zxid..=last {
            builder.push(z, &w.entries[z as usize - 1]);
        }
        let (first, last, bytes) = builder.finish().expect("compress").expect("entries");
        let time = |z: i64| w.trees[z as usize - 1].last_time();
        let name = SegmentName { first, last, first_time_ms: time(first), last_time_ms: time(last) };
        assert!(target.put_new(&name.key(CLUSTER), bytes).await.expect("upload"));
        zxid = last + 1;
    }
    for &at in snapshots {
        let tree = w.trees[at as usize - 1].clone();
        paddock_backup::create::from_tree(tree, CLUSTER, "test".into(), target).await.expect("snapshot backup");
    }
}

/// What a client reads of a node: data, Stat and sorted children; `None` when it does not exist.
type Seen = Option<(Option<Vec<u8>>, paddock_proto::Stat, Vec<String>)>;

fn seen(tree: &DataTree, path: &str) -> Seen {
    let node = tree.get(path)?;
    let mut children: Vec<String> = node.children().map(str::to_string).collect();
    children.sort();
    Some((node.data().map(<[u8]>::to_vec), node.stat(), children))
}

/// Data, czxid, version, aversion and ephemeralOwner.
type Own = (Option<Vec<u8>>, i64, i32, i32, i64);

/// The node's own content and identity: what a txn on the node itself changes (its children's comings and
/// goings change only cversion, pzxid and numChildren, which this leaves out).
fn own(tree: &DataTree, path: &str) -> Option<Own> {
    let node = tree.get(path)?;
    let stat = node.stat();
    Some((node.data().map(<[u8]>::to_vec), stat.czxid, stat.version, stat.aversion, stat.ephemeral_owner))
}

fn source(target: &Target) -> Source {
    Source::Target { target: target.clone(), cluster: None }
}

async fn read_at(target: &Target, point: Point, path: &str) -> Result<Seen, String> {
    let tree = history::tree_at(&source(target), point).await.map_err(|e| e.to_string())?;
    match history::node_at(&tree, path) {
        Ok(node) => Ok(Some((node.data, node.stat, node.children))),
        Err(e) if e.to_string().contains("did not exist at zxid") => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test]
async fn reads_at_random_zxids_and_times_match_the_recorded_trees() {
    let w = workload(31);
    let dir = tempfile::tempdir().expect("temp dir");
    let target = Target::open(dir.path().join("target").to_str().expect("utf-8")).expect("target");
    archive(&target, &w, &[120, 330], 32).await;
    let paths = paths();
    let mut rng = StdRng::seed_from_u64(33);
    let mut existing = 0;
    for _ in 0..50 {
        let zxid = rng.random_range(1..=ENTRIES);
        let path = &paths[rng.random_range(0..paths.len())];
        let expected = seen(&w.trees[zxid as usize - 1], path);
        existing += usize::from(expected.is_some());
        assert_eq!(read_at(&target, Point::Zxid(zxid), path).await, Ok(expected), "{path} at zxid {zxid}");
    }
    assert!(existing > 10, "the reads met existing nodes ({existing} of 50)");
    let (first, last) = (w.trees[0].last_time(), w.trees[ENTRIES as usize - 1].last_time());
    for _ in 0..50 {
        let at = rng.random_range(first..last);
        let zxid = w.trees.iter().rposition(|t| t.last_time() <= at).expect("a zxid at or before") as i64 + 1;
        let path = &paths[rng.random_range(0..paths.len())];
        let expected = seen(&w.trees[zxid as usize - 1], path);
        assert_eq!(read_at(&target, Point::Time(at), path).await, Ok(expected), "{path} at time {at} (zxid {zxid})");
    }
}

/// Why reading at `point` is refused.
async fn refusal(target: &Target, point: Point) -> String {
    match history::tree_at(&source(target), point).await {
        Ok(tree) => panic!("{point:?} is outside the archive, yet a tree at zxid {} was read", tree.last_zxid()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_missing_node_and_a_point_outside_the_archive_are_one_line_errors() {
    let w = workload(41);
    let dir = tempfile::tempdir().expect("temp dir");
    let target = Target::open(dir.path().join("target").to_str().expect("utf-8")).expect("target");
    archive(&target, &w, &[200], 42).await;
    let tree = history::tree_at(&source(&target), Point::Zxid(1)).await.expect("zxid 1");
    let missing = history::node_at(&tree, "/p0").expect_err("nothing but /seq at zxid 1").to_string();
    assert_eq!(missing, "/p0 did not exist at zxid 0x1");
    let text = refusal(&target, Point::Zxid(ENTRIES + 1)).await;
    assert!(text.contains(&format!("then any zxid to {ENTRIES}")) && !text.contains('\n'), "{text}");
    let late = w.trees[ENTRIES as usize - 1].last_time() + 60_000;
    let after = refusal(&target, Point::Time(late)).await;
    assert!(after.contains("restore points:") && !after.contains('\n'), "{after}");
}

#[tokio::test]
async fn the_log_of_a_path_lists_exactly_the_txns_that_changed_or_named_it() {
    let w = workload(51);
    let dir = tempfile::tempdir().expect("temp dir");
    let target = Target::open(dir.path().join("target").to_str().expect("utf-8")).expect("target");
    archive(&target, &w, &[150], 52).await;
    let mut checked = BTreeSet::new();
    let mut sequentials: Vec<String> = w.trees[ENTRIES as usize - 1].children("/seq").unwrap_or_default();
    sequentials.truncate(2);
    let mut all: Vec<String> = paths();
    all.extend(sequentials.iter().map(|s| format!("/seq/{s}")));
    for path in &all {
        let expected: Vec<i64> = (1..=ENTRIES)
            .filter(|&z| {
                let before = if z == 1 { DataTree::new() } else { w.trees[z as usize - 2].clone() };
                own(&before, path) != own(&w.trees[z as usize - 1], path) || w.named[z as usize - 1].contains(path)
            })
            .collect();
        let request = LogRequest { path: path.clone(), since_ms: None, until_ms: None };
        let log = history::path_log(&source(&target), &request).await.expect("log");
        let listed: Vec<i64> = log.entries.iter().map(|e| e.zxid).collect();
        assert_eq!(listed, expected, "the txns on {path}");
        assert_eq!(log.searched.first().map(|r| (r.first, r.last)), Some((1, ENTRIES)), "{log:?}");
        assert!(log.entries.iter().all(|e| e.auth.contains(&"ip:127.0.0.1".to_string())), "{path}");
        checked.extend(log.entries.iter().flat_map(|e| e.ops.iter().map(|o| (o.op.clone(), e.result == "ok"))));
    }
    for kind in ["create", "delete", "setData", "setACL", "closeSession"] {
        assert!(checked.contains(&(kind.to_string(), true)), "some {kind} succeeded: {checked:?}");
    }
    assert!(checked.iter().any(|(_, ok)| !ok), "failed attempts are listed: {checked:?}");

    // --since/--until: only txns stamped inside, the same ones.
    let path = "/p1".to_string();
    let full = history::path_log(&source(&target), &LogRequest { path: path.clone(), since_ms: None, until_ms: None })
        .await
        .expect("log");
    let (since, until) = (w.trees[199].last_time(), w.trees[399].last_time());
    let window = LogRequest { path, since_ms: Some(since), until_ms: Some(until) };
    let part = history::path_log(&source(&target), &window).await.expect("log");
    let inside: Vec<_> = full.entries.iter().filter(|e| e.time_ms >= since && e.time_ms <= until).cloned().collect();
    assert_eq!(part.entries, inside);
}

/// Writes `tree` as a snapshot file in `dir`.
fn snapshot_file(dir: &std::path::Path, tree: &DataTree) -> String {
    let header = paddock_backup::datadir::header_of(tree);
    let path = paddock_storage::write_snapshot(dir, &header, |out| tree.write_snapshot(out)).expect("snapshot");
    path.to_str().expect("utf-8").to_string()
}

#[tokio::test]
async fn a_diff_of_two_snapshot_files_lists_exactly_the_changes_between_them() {
    use paddock_backup::tree_diff::{self, TreeSpec};
    let w = workload(61);
    let dir = tempfile::tempdir().expect("temp dir");
    let (z1, z2) = (150i64, 420i64);
    let (a, b) = (&w.trees[z1 as usize - 1], &w.trees[z2 as usize - 1]);
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let (a_file, b_file) = (snapshot_file(&a_dir, a), snapshot_file(&b_dir, b));
    let no_target = |spec: &str| Err(paddock_backup::BackupError::Refused(format!("{spec}: no target here")));
    let load = |spec: String| async move {
        TreeSpec::parse(&spec).expect("a snapshot file").load(None, no_target).await.expect("the file loads")
    };
    let (from, to) = (load(a_file.clone()).await, load(b_file.clone()).await);
    let diff = tree_diff::compare(&from, &to, "/", &a_file, &b_file);

    // The expected changes, node by node, from the recorded trees.
    let mut expected = Vec::new();
    let mut all: Vec<String> = a.nodes().chain(b.nodes()).map(|(p, _)| p.to_string()).collect();
    all.sort();
    all.dedup();
    for path in all {
        let change = match (a.get(&path), b.get(&path)) {
            (None, Some(_)) => ("create", Vec::new()),
            (Some(_), None) => ("delete", Vec::new()),
            (Some(x), Some(y)) => {
                let mut fields = Vec::new();
                if x.data() != y.data() {
                    fields.push("data");
                }
                if x.acl() != y.acl() {
                    fields.push("acl");
                }
                if x.stat().ephemeral_owner != y.stat().ephemeral_owner {
                    fields.push("ephemeralOwner");
                }
                if fields.is_empty() {
                    continue;
                }
                ("update", fields)
            }
            (None, None) => continue,
        };
        expected.push((path, change.0.to_string(), change.1.iter().map(|f| f.to_string()).collect::<Vec<_>>()));
    }
    let listed: Vec<(String, String, Vec<String>)> =
        diff.changes.iter().map(|c| (c.path.clone(), c.change.clone(), c.fields.clone())).collect();
    assert!(expected.len() > 5, "the workload changed the tree between {z1} and {z2}: {expected:?}");
    assert_eq!(listed, expected);
    assert_eq!((diff.from_zxid, diff.to_zxid), (z1, z2));
    let rendered = tree_diff::render(&diff);
    assert_eq!(rendered.lines().count(), expected.len(), "{rendered}");
    assert!(rendered.lines().all(|l| l.starts_with("+ /") || l.starts_with("- /") || l.starts_with("~ /")));

    let same = tree_diff::compare(&from, &load(a_file.clone()).await, "/", &a_file, &a_file);
    assert!(same.is_empty() && tree_diff::render(&same).is_empty());
    let under = tree_diff::compare(&from, &to, "/p1", &a_file, &b_file);
    let expected_under: Vec<&String> =
        expected.iter().map(|(p, _, _)| p).filter(|p| *p == "/p1" || p.starts_with("/p1/")).collect();
    assert_eq!(under.changes.iter().map(|c| &c.path).collect::<Vec<_>>(), expected_under);
}
