//! `paddock history` and `paddock snapshot diff` against a recorded history: a server archiving to a directory
//! target takes random writes (creates, sequential creates, setData, setACL, deletes, multis, failing writes,
//! ephemerals of a second session that is closed), and after each write the test records the server's zxid
//! and every node as a client reads it. Reads at random zxids and times, from the target and from the
//! stopped server's data directory, must print what was recorded; the log of a path must list exactly the
//! writes recorded on it; a diff between two points lists exactly the recorded differences.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use paddock_testkit::{PaddockProcess, four_letter_word};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use zookeeper_client as zk;

use crate::archive::{check_archive, connect, persistent, target_dir};

/// A node as a client read it right after a write: data, Stat, sorted children, ACL (as printed).
#[derive(Clone, Debug, PartialEq)]
struct NodeState {
    data: Vec<u8>,
    stat: zk::Stat,
    children: Vec<String>,
    acl: String,
}

type TreeState = BTreeMap<String, NodeState>;

/// One recorded write: its zxid, session, what it did to which paths, and its outcome.
#[derive(Clone, Debug)]
struct Write {
    zxid: i64,
    session: i64,
    ops: Vec<(String, String)>,
    result: String,
}

#[derive(Default)]
struct Recording {
    /// The whole tree (outside /zookeeper) after each write, by the write's zxid.
    states: BTreeMap<i64, TreeState>,
    writes: Vec<Write>,
}

impl Recording {
    /// The tree at `zxid`: after the last write at or before it.
    fn at(&self, zxid: i64) -> &TreeState {
        self.states.range(..=zxid).next_back().map(|(_, s)| s).expect("a write at or before the zxid")
    }

    fn latest(&self) -> &TreeState {
        self.states.values().next_back().expect("a write")
    }

    /// (zxid, session, op names, result) of every write on `path`.
    fn log_of(&self, path: &str) -> Vec<(i64, String, Vec<String>, String)> {
        self.writes
            .iter()
            .filter(|w| w.ops.iter().any(|(_, p)| p == path))
            .map(|w| {
                let ops = w.ops.iter().filter(|(_, p)| p == path).map(|(op, _)| op.clone()).collect();
                (w.zxid, format!("0x{:x}", w.session), ops, w.result.clone())
            })
            .collect()
    }
}

fn server_zxid(addr: &str) -> i64 {
    let srvr = four_letter_word(addr, "srvr").expect("srvr");
    let hex = srvr.lines().find_map(|l| l.strip_prefix("Zxid: 0x")).expect("srvr names the zxid");
    i64::from_str_radix(hex.trim(), 16).expect("a hex zxid")
}

async fn tree_of(client: &zk::Client) -> TreeState {
    let mut nodes = BTreeMap::new();
    let mut pending = vec!["/".to_string()];
    while let Some(path) = pending.pop() {
        let (data, stat) = client.get_data(&path).await.expect("get_data");
        let (mut children, _) = client.get_children(&path).await.expect("get_children");
        let (acl, _) = client.get_acl(&path).await.expect("get_acl");
        children.sort();
        for child in &children {
            let child = if path == "/" { format!("/{child}") } else { format!("{path}/{child}") };
            if child != "/zookeeper" {
                pending.push(child);
            }
        }
        nodes.insert(path, NodeState { data, stat, children, acl: format!("{acl:?}") });
    }
    nodes
}

fn outcome<T>(result: &Result<T, zk::Error>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => format!("{e:?}"),
    }
}

const POOL: [&str; 7] = ["/h", "/h/a", "/h/b", "/h/c", "/h/a/x", "/h/b/y", "/h/a/x/z"];

fn other_acl() -> Vec<zk::Acl> {
    vec![
        zk::Acl::new(zk::Permission::ALL, zk::AuthId::anyone()),
        zk::Acl::new(zk::Permission::READ, zk::AuthId::new("ip", "10.0.0.1")),
    ]
}

fn random_data(rng: &mut StdRng) -> Vec<u8> {
    match rng.random_range(0..4) {
        0 => Vec::new(),
        1 => vec![0, 159, 146, 150, 7],
        _ => format!("value-{}", rng.random::<u16>()).into_bytes(),
    }
}

/// One random write of client `a` (or of `b`, the session that makes ephemerals): what it did, recorded
/// once its zxid is known.
async fn random_write(
    rng: &mut StdRng,
    a: &zk::Client,
    b: &zk::Client,
    tree: &TreeState,
) -> (i64, Vec<(String, String)>, String) {
    let path = POOL[rng.random_range(0..POOL.len())].to_string();
    let a_id = a.session_id().0;
    match rng.random_range(0..16) {
        0..=3 => {
            let r = a.create(&path, &random_data(rng), &persistent()).await;
            (a_id, vec![("create".into(), path)], outcome(&r))
        }
        4..=6 => {
            let version = if rng.random_bool(0.2) { Some(12345) } else { None };
            let r = a.set_data(&path, &random_data(rng), version).await;
            (a_id, vec![("setData".into(), path)], outcome(&r))
        }
        7..=8 => {
            let r = a.delete(&path, None).await;
            (a_id, vec![("delete".into(), path)], outcome(&r))
        }
        9 => {
            let sequential = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
            let r = a.create("/q/s-", &random_data(rng), &sequential).await;
            let ops = match &r {
                Ok((_, seq)) => vec![("create".to_string(), format!("/q/s-{seq}"))],
                Err(_) => Vec::new(),
            };
            (a_id, ops, outcome(&r))
        }
        10..=11 => {
            let acl = if rng.random_bool(0.5) {
                other_acl()
            } else {
                vec![zk::Acl::new(zk::Permission::ALL, zk::AuthId::anyone())]
            };
            let r = a.set_acl(&path, &acl, None).await;
            (a_id, vec![("setACL".into(), path)], outcome(&r))
        }
        12..=13 => {
            // A multi that succeeds: a create where the parent exists and the node does not, and a setData.
            let fresh = POOL.iter().find(|p| !tree.contains_key(**p) && tree.contains_key(parent(p)));
            let existing = POOL.iter().find(|p| tree.contains_key(**p));
            let (Some(fresh), Some(existing)) = (fresh, existing) else {
                let r = a.create(&path, b"", &persistent()).await;
                return (a_id, vec![("create".into(), path)], outcome(&r));
            };
            let mut multi = a.new_multi_writer();
            multi.add_create(fresh, b"in a multi", &persistent()).expect("add create");
            multi.add_set_data(existing, b"set in a multi", None).expect("add setData");
            let r = multi.commit().await;
            let ops = vec![("create".to_string(), fresh.to_string()), ("setData".to_string(), existing.to_string())];
            (a_id, ops, if r.is_ok() { "ok".into() } else { format!("{r:?}") })
        }
        _ => {
            let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
            let name = format!("/h/e{}", rng.random_range(0..3));
            let r = b.create(&name, &random_data(rng), &ephemeral).await;
            (b.session_id().0, vec![("create".into(), name)], outcome(&r))
        }
    }
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(at) => &path[..at],
    }
}

/// Runs `paddock <args>`: (exit code, stdout, stderr).
fn paddock(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_paddock")).args(args).output().expect("run paddock");
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn paddock_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, stdout, stderr) = paddock(&all);
    assert_eq!(code, 0, "paddock {all:?} failed:\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("paddock {all:?} printed no JSON ({e}):\n{stdout}"))
}

/// Reads `path` at `point` (`--zxid N` or `--time T`) from `source` (`--from T` or `--data-dir D`) with
/// `history get` and `history ls`, and checks them against the recording.
fn check_read(source: &[&str], point: &[&str], path: &str, expected: Option<&NodeState>, context: &str) {
    let args = |cmd: &'static str| {
        let mut args = vec!["history", cmd];
        args.extend_from_slice(source);
        args.extend_from_slice(point);
        args.push(path);
        args
    };
    let mut get = args("get");
    get.push("--json");
    let (code, stdout, stderr) = paddock(&get);
    let Some(expected) = expected else {
        assert_eq!(code, 1, "{context}: {path} did not exist: {stdout}{stderr}");
        assert!(stderr.contains(&format!("{path} did not exist at zxid 0x")), "{context}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{context}: one line: {stderr}");
        return;
    };
    assert_eq!(code, 0, "{context}: {path}: {stderr}");
    let got: Value = serde_json::from_str(&stdout).expect("JSON");
    let hex: String = expected.data.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(got["data_hex"], hex, "{context}: data of {path}");
    let s = &expected.stat;
    let stat = serde_json::json!({
        "czxid": s.czxid, "mzxid": s.mzxid, "ctime": s.ctime, "mtime": s.mtime, "version": s.version,
        "cversion": s.cversion, "aversion": s.aversion, "ephemeralOwner": s.ephemeral_owner,
        "dataLength": s.data_length, "numChildren": s.num_children, "pzxid": s.pzxid,
    });
    assert_eq!(got["stat"], stat, "{context}: Stat of {path}");
    let listed = paddock_json(&args("ls"));
    assert_eq!(listed["children"], serde_json::json!(expected.children), "{context}: children of {path}");
}

/// The leader's time stamp of every archived zxid, as the tree applies them (never going back).
fn archived_times(target: &Path, cluster: &str) -> BTreeMap<i64, i64> {
    let (_, _, entries) = check_archive(target, cluster, true);
    let mut last = i64::MIN;
    entries
        .into_iter()
        .map(|(zxid, payload)| {
            let txn = paddock_tree::Txn::decode(&payload, zxid).expect("an archived txn decodes");
            last = last.max(txn.time);
            (zxid, last)
        })
        .collect()
}

fn rfc3339(ms: i64) -> String {
    paddock_backup::manifest::rfc3339_ms(ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn historical_reads_logs_and_diffs_match_a_recorded_history() {
    let target = target_dir();
    let spec = target.path().display().to_string();
    let mut server = PaddockProcess::start_with(&[
        ("paddock.backup.target", &spec),
        ("paddock.backup.archiveInterval", "200ms"),
        // No digest entries: every zxid after the first write is one of the test's writes.
        ("paddock.digestInterval", "0"),
    ])
    .expect("server starts");
    let addr = server.addr();
    let cluster = std::fs::read_to_string(server.data_dir.join("paddock/cluster-id")).expect("cluster id");
    let cluster = cluster.trim().to_string();
    let a = connect(&addr).await;
    a.auth("digest", b"alice:secret").await.expect("digest auth");
    let mut b = connect(&addr).await;
    let mut rec = Recording::default();
    for (path, data) in [("/h", "root"), ("/q", "")] {
        let r = a.create(path, data.as_bytes(), &persistent()).await;
        let zxid = server_zxid(&addr);
        let ops = vec![("create".to_string(), path.to_string())];
        rec.writes.push(Write { zxid, session: a.session_id().0, ops, result: outcome(&r) });
        rec.states.insert(zxid, tree_of(&a).await);
    }
    let mut rng = StdRng::seed_from_u64(0x6157);
    for i in 0..160 {
        if i == 90 {
            // The ephemeral session ends: its close deletes its ephemerals.
            let owned: Vec<String> = rec
                .latest()
                .iter()
                .filter(|(_, n)| n.stat.ephemeral_owner == b.session_id().0)
                .map(|(p, _)| p.clone())
                .collect();
            let session = b.session_id().0;
            let before = server_zxid(&addr);
            drop(b);
            let deadline = Instant::now() + Duration::from_secs(10);
            while server_zxid(&addr) == before {
                assert!(Instant::now() < deadline, "the session was not closed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let zxid = server_zxid(&addr);
            let ops = owned.into_iter().map(|p| ("closeSession".to_string(), p)).collect();
            rec.writes.push(Write { zxid, session, ops, result: "ok".into() });
            rec.states.insert(zxid, tree_of(&a).await);
            b = connect(&addr).await;
            continue;
        }
        let latest = rec.latest().clone();
        let (session, ops, result) = random_write(&mut rng, &a, &b, &latest).await;
        let zxid = server_zxid(&addr);
        rec.writes.push(Write { zxid, session, ops, result });
        rec.states.insert(zxid, tree_of(&a).await);
        if rng.random_range(0..10) == 0 {
            tokio::time::sleep(Duration::from_millis(rng.random_range(1..20))).await;
        }
    }
    let last = server_zxid(&addr);
    let first = rec.writes[0].zxid;
    assert!(rec.writes.iter().filter(|w| w.result == "ok").count() > 80, "most writes succeeded");
    assert!(rec.writes.iter().any(|w| w.result != "ok"), "some writes failed");

    // Everything up to the last write is archived.
    let deadline = Instant::now() + Duration::from_secs(30);
    while crate::archive::segments(target.path(), &cluster).iter().map(|(n, _)| n.last).max().unwrap_or(0) < last {
        assert!(Instant::now() < deadline, "zxid {last} was not archived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let times = archived_times(target.path(), &cluster);
    let from = ["--from", spec.as_str()];

    // Reads at random zxids and times, from the target.
    for round in 0..50 {
        let zxid = rng.random_range(first..=last);
        let path = POOL[rng.random_range(0..POOL.len())];
        let zxid_arg = format!("0x{zxid:x}");
        let context = format!("round {round}, zxid {zxid}");
        check_read(&from, &["--zxid", &zxid_arg], path, rec.at(zxid).get(path), &context);
    }
    let (t0, t1) = (times[&first], times[&last]);
    for round in 0..25 {
        let at = rng.random_range(t0..=t1);
        let zxid = times.iter().filter(|(_, t)| **t <= at).map(|(z, _)| *z).max().expect("a zxid before");
        let path = POOL[rng.random_range(0..POOL.len())];
        let context = format!("round {round}, time {at} (zxid {zxid})");
        check_read(&from, &["--time", &rfc3339(at)], path, rec.at(zxid).get(path), &context);
    }

    // The log of each path lists exactly the recorded writes on it, with the caller's ids.
    let mut paths: Vec<String> = POOL.iter().map(|p| p.to_string()).collect();
    paths.extend(["/h/e0", "/h/e1", "/h/e2", "/q"].map(String::from));
    paths.extend(rec.latest().keys().filter(|p| p.starts_with("/q/")).take(2).cloned());
    let logs: BTreeMap<String, Value> =
        paths.iter().map(|p| (p.clone(), paddock_json(&["history", "log", "--from", &spec, p]))).collect();
    for (path, log) in &logs {
        let entries = log["entries"].as_array().expect("entries");
        let listed: Vec<(i64, String, Vec<String>, String)> = entries
            .iter()
            .filter(|e| e["zxid"].as_i64() <= Some(last))
            .map(|e| {
                let ops = e["ops"].as_array().expect("ops").iter().map(|o| o["op"].as_str().unwrap_or("").to_string());
                (
                    e["zxid"].as_i64().expect("zxid"),
                    e["session_id"].as_str().unwrap_or("").to_string(),
                    ops.collect(),
                    e["result"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        assert_eq!(listed, rec.log_of(path), "the log of {path}");
        for entry in entries.iter().filter(|e| e["session_id"] == format!("0x{:x}", a.session_id().0)) {
            let auth = entry["auth"].to_string();
            assert!(auth.contains("\"digest:alice:") && auth.contains("\"ip:127.0.0.1\""), "{path}: {entry}");
            assert_eq!(entry["time"], rfc3339(times[&entry["zxid"].as_i64().expect("zxid")]));
        }
    }
    let kinds: Vec<String> = logs
        .values()
        .flat_map(|l| l["entries"].as_array().cloned().unwrap_or_default())
        .map(|e| e["ops"][0]["op"].to_string())
        .collect();
    for kind in ["create", "setData", "delete", "setACL", "closeSession"] {
        assert!(kinds.iter().any(|k| k.contains(kind)), "a {kind} is listed: {kinds:?}");
    }

    // A diff between two points lists exactly the recorded differences; a point against itself is empty.
    let (z1, z2) = (rec.writes[40].zxid, rec.writes[130].zxid);
    let (a_spec, b_spec) = (format!("{spec}@{z1}"), format!("{spec}@0x{z2:x}"));
    let (code, stdout, stderr) = paddock(&["snapshot", "diff", &a_spec, &b_spec, "--json"]);
    assert_eq!(code, 1, "the trees differ: {stderr}");
    let diff: Value = serde_json::from_str(&stdout).expect("JSON");
    let got: Vec<(String, String, Vec<String>)> = diff["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| !c["path"].as_str().unwrap_or("").starts_with("/zookeeper"))
        .map(|c| {
            let fields = c["fields"].as_array().expect("fields").iter().map(|f| f.as_str().unwrap_or("").to_string());
            (
                c["path"].as_str().unwrap_or("").to_string(),
                c["change"].as_str().unwrap_or("").to_string(),
                fields.collect(),
            )
        })
        .collect();
    assert_eq!(got, expected_diff(rec.at(z1), rec.at(z2)), "snapshot diff {a_spec} {b_spec}");
    let (code, stdout, _) = paddock(&["snapshot", "diff", &a_spec, &a_spec]);
    assert_eq!((code, stdout.as_str()), (0, ""), "a point against itself");
    let (code, stdout, _) = paddock(&["snapshot", "diff", &a_spec, &b_spec, "--subtree", "/h/a"]);
    assert_eq!(code == 0, stdout.is_empty());
    assert!(stdout.lines().all(|l| l[2..].starts_with("/h/a")), "only the subtree: {stdout}");
    let (code, _, stderr) = paddock(&["snapshot", "diff", &a_spec, "/nowhere/at/all"]);
    assert_eq!(code, 2, "an error: {stderr}");

    // Errors name the range the target holds.
    let beyond = format!("{}", last + 1000);
    let (code, _, stderr) = paddock(&["history", "get", "--from", &spec, "--zxid", &beyond, "/h"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("restore points") && stderr.trim().lines().count() == 1, "{stderr}");

    // The stopped server's data directory gives the same answers.
    drop(a);
    drop(b);
    server.terminate().expect("server stops");
    let data_dir = server.data_dir.display().to_string();
    let dir = ["--data-dir", data_dir.as_str()];
    for round in 0..20 {
        let zxid = rng.random_range(first..=last);
        let path = POOL[rng.random_range(0..POOL.len())];
        check_read(&dir, &["--zxid", &zxid.to_string()], path, rec.at(zxid).get(path), &format!("data dir {round}"));
    }
    for round in 0..10 {
        // Before the last write's stamp: a data directory's reads by time need a later entry in its log.
        let at = rng.random_range(t0..t1);
        let zxid = times.iter().filter(|(_, t)| **t <= at).map(|(z, _)| *z).max().expect("a zxid before");
        let path = POOL[rng.random_range(0..POOL.len())];
        check_read(&dir, &["--time", &rfc3339(at)], path, rec.at(zxid).get(path), &format!("data dir time {round}"));
    }
    let from_dir = paddock_json(&["history", "log", "--data-dir", &data_dir, "/h/a"]);
    let cut = |log: &Value| -> Vec<Value> {
        log["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["zxid"].as_i64() <= Some(last))
            .cloned()
            .collect()
    };
    assert_eq!(cut(&from_dir), cut(&logs["/h/a"]), "the data directory's log of /h/a is the target's");
    let (code, _, stderr) = paddock(&["history", "stat", "--data-dir", &data_dir, "--zxid", &beyond, "/h"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("holds zxids 0x") && stderr.trim().lines().count() == 1, "{stderr}");
    let (code, stdout, _) = paddock(&["snapshot", "diff", &data_dir, &data_dir]);
    assert_eq!((code, stdout.as_str()), (0, ""), "a data directory against itself");
}

/// (path, change, fields) from one recorded tree to another, in path order.
fn expected_diff(from: &TreeState, to: &TreeState) -> Vec<(String, String, Vec<String>)> {
    let mut paths: Vec<&String> = from.keys().chain(to.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| match (from.get(path), to.get(path)) {
            (None, Some(_)) => Some((path.clone(), "create".to_string(), Vec::new())),
            (Some(_), None) => Some((path.clone(), "delete".to_string(), Vec::new())),
            (Some(x), Some(y)) => {
                let mut fields = Vec::new();
                if x.data != y.data {
                    fields.push("data".to_string());
                }
                if x.acl != y.acl {
                    fields.push("acl".to_string());
                }
                if x.stat.ephemeral_owner != y.stat.ephemeral_owner {
                    fields.push("ephemeralOwner".to_string());
                }
                (!fields.is_empty()).then(|| (path.clone(), "update".to_string(), fields))
            }
            (None, None) => None,
        })
        .collect()
}
