//! `paddock restore --into HOST:ADMIN_PORT` of a whole 3-server ensemble under client load (issue 13,
//! point 6): the restore, posted to one follower, is one replicated txn; every member ends on the backup's
//! tree (the same last zxid everywhere, the same digest as the backup's manifest, every node's data and
//! Stat as read right before the backup), the restore's zxid is above every zxid clients saw, and kazoo
//! clients that were writing when their sessions ended get new sessions and write again. No write made
//! after the backup is left, including a write that a session the restore ended had in flight: the
//! restore ends those sessions, so their writes ordered after it must fail. The restored tree survives a
//! restart of the whole ensemble. A member started without `admin.restore.enabled` refuses the same
//! restore with a message naming the key.
//!
//! The kazoo clients (restore_cluster_kazoo.py) stop writing once the restore ends their sessions and wait
//! for the test's go, so that the restored tree is compared before anything is written to it. The state
//! digest covers sessions, so digests are compared while no session is open.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use paddock_testkit::{Ensemble, EnsembleSpec, Member};
use serde_json::Value;
use zookeeper_client as zk;

use crate::archive::persistent;
use crate::archive_ensemble::{ADMIN_ON_FREE_PORTS, admin_addr};
use crate::backup::{paddock, paddock_json, tree_of};
use crate::kill_loop::connect_retrying;

/// The kazoo clients writing while the restore happens.
const CLIENTS: usize = 3;
/// Hang detector for the kazoo clients' steps (start, first writes, noticing the restore, the write after).
const CLIENT_WAIT: Duration = Duration::from_secs(120);
/// Hang detector for every session to be gone: a session whose close was lost expires in at most 10 s
/// (maxSessionTimeout at the ensemble's tickTime of 500 ms).
const SESSIONLESS_WAIT: Duration = Duration::from_secs(60);

/// path → (data, Stat) of every node outside /zookeeper.
type Tree = BTreeMap<String, (Vec<u8>, zk::Stat)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_ensemble_is_restored_under_kazoo_load_and_its_clients_carry_on() {
    let started = Instant::now();
    // server.3 runs without admin.restore.enabled: it still applies the restore the others propose.
    let restore_enabled = |id: u64| {
        if id <= 2 { vec![("admin.restore.enabled".to_string(), "true".to_string())] } else { Vec::new() }
    };
    let spec = EnsembleSpec { participants: 3, observers: 0, config: ADMIN_ON_FREE_PORTS };
    let mut ensemble = Ensemble::start_on_loopback(&spec, &restore_enabled).expect("ensemble starts");
    ensemble.leader().expect("a leader");

    let client = connect_retrying(&ensemble.connect_string()).await;
    write_app(&client).await;
    let before = tree_of(&client).await;
    assert!(before.len() > 250, "a few hundred nodes: {}", before.len());
    // The state digest covers sessions too: the backup is taken with none open, so that its digest is the
    // restored tree's, which holds none.
    drop(client);
    let live_digest = sessionless_digest(&ensemble);

    let work = tempfile::tempdir().expect("temp dir");
    let target = work.path().join("target");
    let t = s(&target).to_string();
    let admin = admin_addr(&ensemble.members[0]);
    let created = cli_json(&["backup", "create", "--server", &admin, "--auth", "ip", "--to", &t]).await;
    let backup_zxid = created["zxid"].as_i64().expect("the backup's zxid");
    let backup_digest = created["digest"].as_str().and_then(|d| u64::from_str_radix(d, 16).ok());
    assert_eq!(backup_digest, live_digest.parse().ok(), "the backup has the live tree's digest: {created}");

    let client = connect_retrying(&ensemble.connect_string()).await;
    let last_written = change_app(&client).await;
    assert_ne!(tree_of(&client).await, before, "the live tree moved on from the backup");
    drop(client);

    let control = work.path().join("control");
    std::fs::create_dir(&control).expect("control dir");
    let mut load = KazooLoad::start(&ensemble.connect_string(), &control);
    load.wait_for_all("ready");

    let disabled = admin_addr(&ensemble.members[2]);
    let zxid = backup_zxid.to_string();
    let (ok, stdout, stderr) =
        cli(&["restore", "--into", &disabled, "--from", &t, "--zxid", &zxid, "--auth", "ip"]).await;
    assert!(!ok, "server.3 has no admin.restore.enabled, yet the restore went through:\n{stdout}");
    assert!(stderr.contains("admin.restore.enabled"), "the refusal names the key: {stderr}");
    assert!(load.files("lost").is_empty(), "the refused restore ended no session");

    let followers = ensemble.followers().expect("followers");
    let into = *followers.iter().find(|i| **i < 2).expect("server.1 or server.2 is a follower");
    let admin = admin_addr(&ensemble.members[into]);
    let restore_args = ["restore", "--into", &admin, "--from", &t, "--zxid", &zxid, "--auth", "ip"];
    let restored = cli_json(&restore_args).await;
    assert_eq!(restored["zxid"], backup_zxid, "{restored}");
    assert_eq!(restored["from_cluster"], created["cluster_id"], "{restored}");
    assert_eq!(restored["subtree"], Value::Null, "{restored}");
    assert_eq!(restored["answer"]["node_count"], created["node_count"], "every node of the backup: {restored}");
    let restore_zxid = restored["answer"]["last_zxid"].as_i64().expect("the restore's zxid");
    assert!(restore_zxid > last_written, "the restore's zxid {restore_zxid} is above every write ({last_written})");

    load.wait_for_all("lost");
    let digest = sessionless_digest(&ensemble);
    for member in &ensemble.members {
        let last: Option<i64> = member.mntr("zk_paddock_last_zxid").and_then(|z| z.parse().ok());
        assert!(last >= Some(restore_zxid), "server.{} applied the restore: last zxid {last:?}", member.id);
        let restored_tree = tree_of(&connect_retrying(&member.addr()).await).await;
        let written_after: Vec<String> = restored_tree
            .iter()
            .filter(|(_, (_, stat))| stat.mzxid > backup_zxid || stat.pzxid > backup_zxid)
            .map(|(path, (data, stat))| format!("{path} = {:?} at zxid {}", String::from_utf8_lossy(data), stat.mzxid))
            .collect();
        assert!(
            written_after.is_empty(),
            "server.{}: the restored tree (restore at zxid {restore_zxid}) holds writes made after the backup (zxid \
             {backup_zxid}): {written_after:?}; the writes the restore cut short, in the sessions it ended:\n{}",
            member.id,
            load.cut_short()
        );
        assert_same(&restored_tree, &before, &format!("server.{} after the restore", member.id));
    }
    assert_eq!(digest.parse().ok(), backup_digest, "every member is on the backup's digest");

    let reports = load.go();
    for report in &reports {
        assert!(report["writes_before"].as_u64() >= Some(10), "{report}");
        assert_eq!(report["write_after_ok"], true, "{report}");
        assert!(report["after_czxid"].as_i64() > Some(restore_zxid), "written after the restore: {report}");
        let old = report["session_before"].as_i64();
        let reconnected = report["session_reconnected"].as_i64();
        assert!(old.is_some() && reconnected.is_some() && old != reconnected, "kazoo's own new session: {report}");
        assert!(report["states"].to_string().contains("LOST"), "kazoo saw its session end: {report}");
        let after = report["session_after"].as_i64();
        assert!(after.is_some() && after != old, "the write after the restore in a new session: {report}");
    }

    ensemble.converged().expect("the members agree after the clients' writes");
    let loaded = tree_of(&connect_retrying(&ensemble.members[0].addr()).await).await;
    for i in 0..CLIENTS {
        let after = loaded.get(&format!("/load/c{i}/after")).map(|(data, _)| data.as_slice());
        assert_eq!(after, Some(&b"after"[..]), "client c{i}'s write after the restore is in the tree");
    }
    for member in &ensemble.members[1..] {
        let tree = tree_of(&connect_retrying(&member.addr()).await).await;
        assert_same(&tree, &loaded, &format!("server.{} after the clients' writes", member.id));
    }

    let digest = sessionless_digest(&ensemble);
    for i in 0..ensemble.members.len() {
        ensemble.terminate(i).expect("stop a member");
    }
    for i in 0..ensemble.members.len() {
        ensemble.restart(i).expect("restart a member");
    }
    ensemble.leader().expect("a leader after the restart");
    assert_eq!(sessionless_digest(&ensemble), digest, "the restored tree is durable");
    for member in &ensemble.members {
        let tree = tree_of(&connect_retrying(&member.addr()).await).await;
        assert_same(&tree, &loaded, &format!("server.{} after a restart of the ensemble", member.id));
        assert_eq!(member.mntr("zk_paddock_digest_mismatches").as_deref(), Some("0"), "server.{}", member.id);
    }
    eprintln!("whole-cluster restore under load: {:.1} s", started.elapsed().as_secs_f64());
}

/// A varied tree under /app: services with nodes of empty, binary, text and 1 KiB data, some written
/// several times, a node for each kazoo client to set, a sequential queue, a deep path and a read-only
/// node.
async fn write_app(client: &zk::Client) {
    client.create("/app", b"application", &persistent()).await.expect("create /app");
    for service in 0..10 {
        let path = format!("/app/svc-{service}");
        client.create(&path, format!("service {service}").as_bytes(), &persistent()).await.expect("create");
        for n in 0..25 {
            let node = format!("{path}/node-{n}");
            client.create(&node, &node_data(service, n), &persistent()).await.expect("create");
            if n % 5 == 0 {
                client.set_data(&node, format!("{node} v1").as_bytes(), None).await.expect("set");
            }
        }
    }
    for i in 0..CLIENTS {
        // Each kazoo client sets its own, up to the restore.
        client.create(&format!("/app/hot-c{i}"), b"as backed up", &persistent()).await.expect("create");
    }
    client.create("/app/queue", b"", &persistent()).await.expect("create");
    let sequential = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    for i in 0..20 {
        client.create("/app/queue/item-", format!("item {i}").as_bytes(), &sequential).await.expect("create");
    }
    let mut deep = String::from("/app/deep");
    for level in ["a", "b", "c", "d", "e"] {
        client.create(&deep, level.as_bytes(), &persistent()).await.expect("create");
        deep = format!("{deep}/{level}");
    }
    let read_only = [zk::Acl::new(zk::Permission::READ, zk::AuthId::new("world", "anyone"))];
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&read_only));
    client.create("/app/read-only", b"frozen", &options).await.expect("create");
}

fn node_data(service: usize, n: usize) -> Vec<u8> {
    match n % 4 {
        0 => Vec::new(),
        1 => (0..=255u8).map(|b| b.wrapping_mul(service as u8 + 1)).collect(),
        2 => format!("svc-{service} node-{n}").into_bytes(),
        _ => vec![b'x'; 1024],
    }
}

/// Writes after the backup: changes, deletes and new nodes. Returns the zxid of the last one.
async fn change_app(client: &zk::Client) -> i64 {
    for n in 0..10 {
        client.set_data(&format!("/app/svc-0/node-{n}"), b"changed after the backup", None).await.expect("set");
    }
    for n in 0..25 {
        client.delete(&format!("/app/svc-9/node-{n}"), None).await.expect("delete");
    }
    client.delete("/app/svc-9", None).await.expect("delete");
    client.delete("/app/read-only", None).await.expect("delete");
    for i in 0..20 {
        client.create(&format!("/app/new-{i}"), b"new", &persistent()).await.expect("create");
    }
    client.set_data("/app", b"application, changed", None).await.expect("set");
    let (stat, _) = client.create("/extra", b"after the backup", &persistent()).await.expect("create");
    stat.czxid
}

/// The kazoo clients, each a restore_cluster_kazoo.py process; killed (by their own handles) if the test
/// ends before they do.
struct KazooLoad {
    children: Vec<Child>,
    control: PathBuf,
}

impl KazooLoad {
    fn start(hosts: &str, control: &Path) -> KazooLoad {
        let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/python");
        assert!(python.exists(), "{} is missing: run scripts/install-test-deps", python.display());
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/restore_cluster_kazoo.py");
        let children = (0..CLIENTS)
            .map(|i| {
                let name = format!("c{i}");
                let output =
                    |what: &str| File::create(control.join(format!("{what}-{name}.txt"))).expect("output file");
                Command::new(&python)
                    .arg(&script)
                    .args([hosts, &name, s(control)])
                    .stdout(output("stdout"))
                    .stderr(output("stderr"))
                    .spawn()
                    .expect("start a kazoo client")
            })
            .collect();
        KazooLoad { children, control: control.to_path_buf() }
    }

    /// The clients that wrote the `what-<name>` file so far.
    fn files(&self, what: &str) -> Vec<usize> {
        (0..CLIENTS).filter(|i| self.control.join(format!("{what}-c{i}")).exists()).collect()
    }

    /// What each client says about the write the restore cut short (`last-<name>`).
    fn cut_short(&self) -> String {
        let last = |i: usize| std::fs::read_to_string(self.control.join(format!("last-c{i}"))).unwrap_or_default();
        (0..CLIENTS).map(|i| format!("c{i}: {}", last(i))).collect::<Vec<_>>().join("\n")
    }

    /// Waits until every client wrote its `what-<name>` file.
    fn wait_for_all(&mut self, what: &str) {
        let deadline = Instant::now() + CLIENT_WAIT;
        while self.files(what).len() < CLIENTS {
            for (i, child) in self.children.iter_mut().enumerate() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("kazoo client c{i} ended ({status}) before {what}:\n{}", self.output(i));
                }
            }
            assert!(
                Instant::now() < deadline,
                "only clients {:?} got to {what} within {CLIENT_WAIT:?}",
                self.files(what)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Lets the clients write again; their reports once they are done.
    fn go(&mut self) -> Vec<Value> {
        File::create(self.control.join("go")).expect("go");
        let deadline = Instant::now() + CLIENT_WAIT;
        let mut reports = Vec::new();
        for i in 0..CLIENTS {
            let status = loop {
                if let Some(status) = self.children[i].try_wait().expect("wait for a kazoo client") {
                    break status;
                }
                assert!(Instant::now() < deadline, "kazoo client c{i} did not finish:\n{}", self.output(i));
                std::thread::sleep(Duration::from_millis(50));
            };
            let output = self.output(i);
            assert!(status.success(), "kazoo client c{i} failed ({status}):\n{output}");
            let stdout = std::fs::read_to_string(self.control.join(format!("stdout-c{i}.txt"))).expect("stdout");
            let report = serde_json::from_str(stdout.trim())
                .unwrap_or_else(|e| panic!("kazoo client c{i} printed no report ({e}):\n{output}"));
            reports.push(report);
        }
        reports
    }

    fn output(&self, i: usize) -> String {
        let read = |what: &str| std::fs::read_to_string(self.control.join(format!("{what}-c{i}.txt")));
        format!("stdout: {}\nstderr: {}", read("stdout").unwrap_or_default(), read("stderr").unwrap_or_default())
    }
}

impl Drop for KazooLoad {
    fn drop(&mut self) {
        for child in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Equal trees, or a failure naming the first nodes that differ, as they are and as expected.
fn assert_same(actual: &Tree, expected: &Tree, who: &str) {
    if actual == expected {
        return;
    }
    let show = |node: Option<&(Vec<u8>, zk::Stat)>| {
        node.map(|(data, stat)| format!("{:?} {stat:?}", String::from_utf8_lossy(data)))
    };
    let differing: Vec<String> = actual
        .keys()
        .chain(expected.keys())
        .filter(|path| actual.get(*path) != expected.get(*path))
        .take(5)
        .map(|path| format!("{path}: {:?}, expected {:?}", show(actual.get(path)), show(expected.get(path))))
        .collect();
    panic!("{who}: {} nodes, {} expected; first differing:\n{}", actual.len(), expected.len(), differing.join("\n"));
}

/// Waits until no member holds a session and every member is on the same last zxid and state digest;
/// returns the digest. Sessions closed by clients go at once; one whose close was lost expires.
fn sessionless_digest(ensemble: &Ensemble) -> String {
    let deadline = Instant::now() + SESSIONLESS_WAIT;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        seen = ensemble.members.iter().map(state).collect();
        if seen.iter().all(|s| {
            s.0.as_deref() == Some("0") && s.1.is_some() && s.2.is_some() && s.1 == seen[0].1 && s.2 == seen[0].2
        }) {
            return seen[0].2.clone().unwrap_or_default();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the members did not settle without sessions within {SESSIONLESS_WAIT:?}: (sessions, zxid, digest) {seen:?}")
}

/// A member's (sessions, last zxid, state digest) as `mntr` says.
fn state(member: &Member) -> (Option<String>, Option<String>, Option<String>) {
    (member.mntr("zk_global_sessions"), member.mntr("zk_paddock_last_zxid"), member.mntr("zk_paddock_state_digest"))
}

/// `paddock <args>` off the async workers: (success, stdout, stderr).
async fn cli(args: &[&str]) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || paddock(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]))
        .await
        .expect("paddock runs")
}

/// `paddock <args> --json` off the async workers, which must succeed: its JSON.
async fn cli_json(args: &[&str]) -> Value {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || paddock_json(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]))
        .await
        .expect("paddock runs")
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}
