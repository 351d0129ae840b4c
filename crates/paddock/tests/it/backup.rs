//! Backups as operators take them: `paddock backup create` from a running server while clients write, or
//! from a data directory; into a directory or a real S3-compatible server (moto); `list`, `verify` that
//! names damage, and `paddock restore` into a new data directory that a server serves and that clients of
//! the old cluster can use.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use paddock_proto::{CreateMode, ErrorCode};
use paddock_testkit::{PaddockProcess, S3Server, free_port};
use zookeeper_client as zk;

use crate::raw::Raw;

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

async fn connect(addr: &str) -> zk::Client {
    zk::Client::connector().with_session_timeout(Duration::from_secs(30)).connect(addr).await.expect("client connects")
}

/// Runs `paddock <args>` with `env`: (success, stdout, stderr).
pub(crate) fn paddock(args: &[&str], env: &[(String, String)]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run paddock");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// `paddock <args> --json` that must succeed: its JSON output.
pub(crate) fn paddock_json(args: &[&str], env: &[(String, String)]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (ok, stdout, stderr) = paddock(&all, env);
    assert!(ok, "paddock {args:?} failed:\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("paddock {args:?} printed no JSON ({e}):\n{stdout}"))
}

/// A server with its AdminServer on a free port: (server, admin HOST:PORT).
fn server_with_admin() -> (PaddockProcess, String) {
    let admin = free_port();
    let port = admin.to_string();
    let server = PaddockProcess::start_with(&[("admin.enableServer", "true"), ("admin.serverPort", &port)])
        .expect("server starts");
    (server, format!("127.0.0.1:{admin}"))
}

/// Every znode outside /zookeeper: path → (data, stat).
pub(crate) async fn tree_of(client: &zk::Client) -> BTreeMap<String, (Vec<u8>, zk::Stat)> {
    let mut nodes = BTreeMap::new();
    let mut pending = vec!["/".to_string()];
    while let Some(path) = pending.pop() {
        let (data, stat) = client.get_data(&path).await.expect("get_data");
        let (children, _) = client.get_children(&path).await.expect("get_children");
        for child in children {
            let child = if path == "/" { format!("/{child}") } else { format!("{path}/{child}") };
            if child != "/zookeeper" {
                pending.push(child);
            }
        }
        nodes.insert(path, (data, stat));
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_online_backup_under_writes_restores_exactly_its_zxid_for_old_clients() {
    let (server, admin) = server_with_admin();
    let client = connect(&server.addr()).await;
    client.create("/app", b"config", &persistent()).await.expect("create");
    for i in 0..200 {
        client.create(&format!("/app/n{i}"), format!("v{i}").as_bytes(), &persistent()).await.expect("create");
    }
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    client.create("/app/lock", b"held", &ephemeral).await.expect("ephemeral");

    // Eight writers keep creating and changing nodes while the backup streams.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (client, stop) = (client.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let _ = client.create(&format!("/app/w{w}-{n}"), b"new", &persistent()).await;
                let _ =
                    client.set_data(&format!("/app/n{}", (w * 25 + n) % 200), format!("{n}").as_bytes(), None).await;
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let target = tempfile::tempdir().expect("temp dir");
    let to = target.path().to_str().expect("utf-8 path").to_string();
    let created = tokio::task::spawn_blocking({
        let (admin, to) = (admin.clone(), to.clone());
        move || paddock_json(&["backup", "create", "--server", &admin, "--auth", "ip", "--to", &to], &[])
    })
    .await
    .expect("backup");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        assert!(writer.await.expect("writer") > 0, "every writer wrote");
    }
    let zxid = created["zxid"].as_i64().expect("zxid");
    let written = client.create("/after-everything", b"", &persistent()).await.expect("create").0.czxid;
    assert!(written > zxid + 100, "writes went on after the backup point ({zxid} .. {written})");

    let verified = paddock_json(&["backup", "verify", "--target", &to], &[]);
    assert_eq!(verified["sound"], 1, "{verified}");

    let restored_dir = tempfile::tempdir().expect("temp dir");
    let data_dir = restored_dir.path().join("data");
    let data = data_dir.to_str().expect("utf-8 path");
    let restored = paddock_json(&["restore", "--from", &to, "--data-dir", data], &[]);
    assert_eq!(restored["zxid"], zxid);
    assert_eq!(restored["ephemerals_dropped"], 1, "{restored}");
    assert_ne!(restored["cluster_id"], created["cluster_id"], "a restore is a new cluster");

    let original = tree_of(&client).await;
    let mut restored_server = PaddockProcess::start_in(&data_dir, &[]).expect("a server on the restored data");
    let restored_client = connect(&restored_server.addr()).await;
    let copy = tree_of(&restored_client).await;
    // Exactly the state at the backup's zxid: what existed then, as it was then, and nothing newer.
    for (path, (data, stat)) in &original {
        let Some((copied, copied_stat)) = copy.get(path) else {
            assert!(
                stat.czxid > zxid || path == "/app/lock",
                "{path} (czxid {}) is missing from the restore",
                stat.czxid
            );
            continue;
        };
        if stat.mzxid <= zxid {
            assert_eq!((copied, copied_stat.mzxid, copied_stat.version), (data, stat.mzxid, stat.version), "{path}");
        } else {
            assert!(copied_stat.mzxid <= zxid, "{path} changed after the backup point");
        }
    }
    assert!(copy.values().all(|(_, s)| s.mzxid <= zxid), "the restore holds a change made after its zxid");
    assert!(copy.len() > 202, "the restore holds the writers' nodes made before its zxid ({})", copy.len());

    // A client of the old cluster has seen zxids up to `written`: the restored server takes it.
    let (mut old_client, handshake) = Raw::connect(&restored_server.addr(), (0, &[0; 16]), 10_000, written);
    assert!(handshake.is_some(), "a client that saw the old cluster's zxid {written} is refused");
    assert_eq!(old_client.create(1, "/written-after-restore", CreateMode::Persistent), Some(ErrorCode::Ok));
    let (_, stat) = restored_client.get_data("/written-after-restore").await.expect("read");
    assert!(stat.czxid > zxid + (1 << 32), "new zxids continue above the bump: {}", stat.czxid);
    restored_server.terminate().expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_in_s3_are_listed_verified_and_restored() {
    let s3 = S3Server::start().expect("moto's S3 server starts");
    let env = s3.env();
    let mut server = PaddockProcess::start().expect("server starts");
    let client = connect(&server.addr()).await;
    for i in 0..50 {
        client.create(&format!("/s3-{i}"), &[i as u8; 100], &persistent()).await.expect("create");
    }
    let first = paddock_json(&["backup", "create", "--data-dir", data_dir(&server), "--to", &s3.url("prod")], &env);
    client.create("/s3-later", b"", &persistent()).await.expect("create");
    drop(client);
    server.terminate().expect("stop the server");
    // From the stopped server's data directory: its last write is the backup point.
    let second = paddock_json(&["backup", "create", "--data-dir", data_dir(&server), "--to", &s3.url("prod")], &env);
    assert!(second["zxid"].as_i64() > first["zxid"].as_i64());

    let listed = paddock_json(&["backup", "list", "--target", &s3.url("prod")], &env);
    let snapshots = listed["clusters"][0]["snapshots"].as_array().expect("snapshots");
    assert_eq!(snapshots.len(), 2, "{listed}");
    assert_eq!(snapshots[0]["zxid"], first["zxid"]);
    assert_eq!(paddock_json(&["backup", "verify", "--target", &s3.url("prod")], &env)["sound"], 2);

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("restored");
    let zxid = first["zxid"].as_i64().expect("zxid").to_string();
    let restored = paddock_json(
        &["restore", "--from", &s3.url("prod"), "--zxid", &zxid, "--data-dir", data.to_str().expect("utf-8")],
        &env,
    );
    assert_eq!(restored["node_count"], first["node_count"]);
    let mut restored_server = PaddockProcess::start_in(&data, &[]).expect("a server on the restored data");
    let client = connect(&restored_server.addr()).await;
    assert_eq!(client.get_data("/s3-7").await.expect("read").0, vec![7u8; 100]);
    assert_eq!(client.check_stat("/s3-later").await.expect("exists"), None, "restored to the first backup");
    restored_server.terminate().expect("stop");
}

fn data_dir(server: &PaddockProcess) -> &str {
    server.data_dir.to_str().expect("utf-8 path")
}

/// A target with one backup of a small tree, from a data directory: (target dir, manifest key prefix).
async fn one_backup(target: &Path) -> serde_json::Value {
    let mut server = PaddockProcess::start().expect("server starts");
    let client = connect(&server.addr()).await;
    for i in 0..20 {
        client.create(&format!("/d{i}"), b"data", &persistent()).await.expect("create");
    }
    drop(client);
    server.terminate().expect("stop");
    paddock_json(&["backup", "create", "--data-dir", data_dir(&server), "--to", target.to_str().expect("utf-8")], &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_every_damaged_object_and_restore_refuses_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("target");
    let created = one_backup(&target).await;
    let snap = target.join(created["snapshot_key"].as_str().expect("key"));
    let manifest = target.join(created["manifest_key"].as_str().expect("key"));
    let pristine = std::fs::read(&snap).expect("read the snapshot");
    let t = target.to_str().expect("utf-8");

    let damages: [(&str, Vec<u8>, &str); 2] = [
        ("a flipped byte", flip(&pristine, pristine.len() / 2), "SHA-256"),
        ("a truncated object", pristine[..pristine.len() - 10].to_vec(), "bytes, the manifest says"),
    ];
    for (what, bytes, named) in damages {
        std::fs::write(&snap, &bytes).expect("damage the snapshot");
        let (ok, stdout, _) = paddock(&["backup", "verify", "--target", t], &[]);
        assert!(!ok, "verify passed {what}");
        let key = created["snapshot_key"].as_str().expect("key");
        assert!(stdout.contains(key) && stdout.contains(named), "verify does not name {what}:\n{stdout}");
        let into = dir.path().join("restored");
        let (ok, _, stderr) = paddock(&["restore", "--from", t, "--data-dir", into.to_str().expect("utf-8")], &[]);
        assert!(!ok && stderr.contains(key), "restore used {what}:\n{stderr}");
        assert!(!into.exists(), "a failed restore left {} behind", into.display());
    }
    std::fs::write(&snap, &pristine).expect("repair");
    assert!(paddock(&["backup", "verify", "--target", t], &[]).0, "the repaired backup is sound");

    std::fs::remove_file(&manifest).expect("remove the manifest");
    let (ok, stdout, _) = paddock(&["backup", "verify", "--target", t], &[]);
    assert!(!ok && stdout.contains("without a manifest"), "verify does not name the incomplete backup:\n{stdout}");
    let (ok, _, stderr) =
        paddock(&["restore", "--from", t, "--data-dir", dir.path().join("r2").to_str().expect("utf-8")], &[]);
    assert!(!ok && stderr.contains("no complete backup"), "restore used a backup without a manifest:\n{stderr}");
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut copy = bytes.to_vec();
    copy[at] ^= 0x40;
    copy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_one_line_naming_it_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("target");
    let created = one_backup(&target).await;
    let t = target.to_str().expect("utf-8");
    let occupied = dir.path().join("occupied");
    std::fs::create_dir_all(&occupied).expect("mkdir");
    std::fs::write(occupied.join("something"), b"x").expect("write");
    let fresh = dir.path().join("fresh");
    let f = fresh.to_str().expect("utf-8");
    let wrong_zxid = (created["zxid"].as_i64().expect("zxid") + 1).to_string();
    let cases: [(&[&str], &str); 8] = [
        (&["restore", "--from", t, "--data-dir", f, "--time", "2026-12-01T14:03:00"], "with an offset"),
        (&["restore", "--from", t, "--data-dir", f, "--time", "1999-12-31T23:59:59Z"], "is before the first backup"),
        (&["backup", "list", "--target", "ftp://host/x"], "unknown target scheme"),
        (&["restore", "--from", t, "--data-dir", occupied.to_str().expect("utf-8")], "is not empty"),
        (&["restore", "--from", t, "--data-dir", f, "--zxid", &wrong_zxid], "no restore point at zxid"),
        (&["restore", "--from", t, "--data-dir", f, "--zxid", "last tuesday"], "is not a zxid"),
        (
            &["restore", "--from", t, "--data-dir", f, "--cluster", "0123456789abcdef0123456789abcdef"],
            "no complete backup of cluster",
        ),
        (&["backup", "create", "--server", "127.0.0.1:1", "--to", t], "cannot reach"),
    ];
    for (args, named) in cases {
        let (ok, stdout, stderr) = paddock(args, &[]);
        assert!(!ok, "paddock {args:?} succeeded:\n{stdout}");
        let message: Vec<&str> =
            stderr.lines().filter(|l| l.starts_with("paddock: ") || l.starts_with("error: ")).collect();
        assert!(
            message.len() == 1 && message[0].contains(named),
            "paddock {args:?}: expected one line naming {named:?}, got:\n{stderr}"
        );
    }
    // An S3 endpoint that does not answer is named within seconds, not waited out.
    let unreachable: Vec<(String, String)> = [
        ("AWS_ENDPOINT", "http://127.0.0.1:1"),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "x"),
        ("AWS_SECRET_ACCESS_KEY", "y"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let started = std::time::Instant::now();
    let (ok, _, stderr) = paddock(&["restore", "--from", "s3://bucket/x", "--data-dir", f], &unreachable);
    assert!(!ok && stderr.lines().count() == 1 && stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60), "an unreachable endpoint took {:?}", started.elapsed());
    assert!(!fresh.exists(), "a refused restore wrote {}", fresh.display());
    assert_eq!(std::fs::read_dir(&occupied).expect("list").count(), 1, "a refused restore touched the occupied dir");
}

/// The README's rebuild of a 3-server ensemble: every member is restored from the same backup (its zoo.cfg
/// and myid name it), then started; they elect a leader among themselves and serve the backup's tree, with
/// `/zookeeper/config` listing the new ensemble.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_server_ensemble_is_rebuilt_from_one_backup() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("target");
    let created = one_backup(&target).await;
    let t = target.to_str().expect("utf-8");

    let mut ensemble = paddock_testkit::Ensemble::start(3, 0).expect("ensemble starts");
    for i in 0..3 {
        ensemble.terminate(i).expect("stop the member");
        let data = ensemble.members[i].data_dir().to_path_buf();
        for entry in std::fs::read_dir(&data).expect("list").flatten() {
            if entry.file_name() != "myid" {
                let _ = std::fs::remove_dir_all(entry.path()).or_else(|_| std::fs::remove_file(entry.path()));
            }
        }
        let config = ensemble.members[i].config_path().to_str().expect("utf-8").to_string();
        let restored = paddock_json(
            &["restore", "--from", t, "--config", &config, "--data-dir", data.to_str().expect("utf-8")],
            &[],
        );
        assert_eq!(restored["zxid"], created["zxid"]);
    }
    for i in 0..3 {
        ensemble.restart(i).expect("start the restored member");
    }
    tokio::task::block_in_place(|| ensemble.leader()).expect("the restored members elect a leader");
    tokio::task::block_in_place(|| ensemble.converged()).expect("one digest");
    for member in &ensemble.members {
        let client = connect(&member.addr()).await;
        assert_eq!(client.get_data("/d7").await.expect("read").0, b"data", "on {}", member.addr());
    }
    let client = connect(&ensemble.connect_string()).await;
    let (stat, _) = client.create("/after-rebuild", b"", &persistent()).await.expect("a write");
    assert!(stat.czxid > created["zxid"].as_i64().expect("zxid") + (1 << 32), "zxids continue above the bump");
    let (config, _) = client.get_data("/zookeeper/config").await.expect("config");
    let config = String::from_utf8_lossy(&config);
    assert_eq!(config.lines().filter(|l| l.starts_with("server.")).count(), 3, "{config}");
}

/// kazoo, as a user's application runs it: connected to the old server with a connect string that also
/// names the server to be restored, it keeps working once the old server is gone and the restored one
/// serves (a new session, since sessions are dropped by default; its lastZxidSeen from the old cluster is
/// accepted thanks to the bump).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kazoo_client_of_the_old_server_carries_on_with_the_restored_one() {
    let python = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/install-test-deps", python.display());
    let (mut old, admin) = server_with_admin();
    let new_port = free_port();
    let dir = tempfile::tempdir().expect("temp dir");
    let (ready, go) = (dir.path().join("ready"), dir.path().join("go"));
    let script = format!(
        r#"
import json, os, sys, time
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry
def wait_for(path):
    deadline = time.time() + 120
    while not os.path.exists(path):
        assert time.time() < deadline, "no " + path
        time.sleep(0.05)
states = []
zk = KazooClient(hosts="{old},127.0.0.1:{new_port}", timeout=10.0,
                 connection_retry=KazooRetry(max_tries=-1, max_delay=0.5), command_retry=KazooRetry(max_tries=-1, max_delay=0.5))
zk.add_listener(lambda s: states.append(str(s)))
zk.start(timeout=30)
zk.create("/kazoo-app", b"before")
for i in range(20):
    zk.create("/kazoo-app/item-", b"x", sequence=True)
open("{ready}", "w").close()
wait_for("{go}")
data, stat = zk.retry(zk.get, "/kazoo-app")
zk.retry(zk.create, "/kazoo-app/item-", b"after", sequence=True)
children = zk.retry(zk.get_children, "/kazoo-app")
print(json.dumps({{"data": data.decode(), "children": len(children), "czxid_after": zk.exists("/kazoo-app/" + max(children)).czxid, "states": states}}))
zk.stop()
"#,
        old = old.addr(),
        ready = ready.display(),
        go = go.display(),
    );
    let child = Command::new(&python)
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start python");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !ready.exists() {
        assert!(std::time::Instant::now() < deadline, "the kazoo client never got going");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let target = dir.path().join("target");
    let t = target.to_str().expect("utf-8").to_string();
    let created = tokio::task::spawn_blocking({
        let (admin, t) = (admin.clone(), t.clone());
        move || paddock_json(&["backup", "create", "--server", &admin, "--auth", "ip", "--to", &t], &[])
    })
    .await
    .expect("backup");
    old.kill9();
    let data = dir.path().join("restored");
    paddock_json(&["restore", "--from", &t, "--data-dir", data.to_str().expect("utf-8")], &[]);
    let mut restored = PaddockProcess::start_on(new_port, &data, &[]).expect("the restored server starts");
    std::fs::write(&go, b"").expect("go");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("python");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the kazoo client failed:\n{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the client's report");
    assert_eq!(report["data"], "before");
    assert_eq!(report["children"], 21, "{report}");
    assert!(report["czxid_after"].as_i64() > created["zxid"].as_i64(), "{report}");
    assert!(report["states"].to_string().contains("LOST"), "a new session after the restore: {report}");
    restored.terminate().expect("stop");
}

/// A backup taken while 32 clients write holds exactly the live state of its zxid: with the log archived
/// continuously from the server's first backup on, `verify` replays the archived log up to the online
/// backup's zxid and finds the same digest as the backup's manifest (which the server computed from its
/// live tree), and a point-in-time restore to that zxid gives the backup's tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_32_writers_has_the_live_digest_of_its_zxid() {
    let target = tempfile::tempdir().expect("temp dir");
    let t = target.path().to_str().expect("utf-8").to_string();
    let admin = free_port();
    let admin_port = admin.to_string();
    let server = PaddockProcess::start_with(&[
        ("admin.enableServer", "true"),
        ("admin.serverPort", &admin_port),
        ("paddock.backup.target", &t),
        ("paddock.backup.archiveInterval", "200ms"),
    ])
    .expect("server starts");
    let client = connect(&server.addr()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..32 {
        let (client, stop) = (client.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let path = format!("/live-{w}-{}", n % 20);
                if client.set_data(&path, &n.to_le_bytes(), None).await.is_err() {
                    let _ = client.create(&path, &n.to_le_bytes(), &persistent()).await;
                }
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let created = tokio::task::spawn_blocking({
        let (admin, t) = (format!("127.0.0.1:{admin}"), t.clone());
        move || paddock_json(&["backup", "create", "--server", &admin, "--auth", "ip", "--to", &t], &[])
    })
    .await
    .expect("backup");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        assert!(writer.await.expect("writer") > 0);
    }
    let zxid = created["zxid"].as_i64().expect("zxid");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listed = paddock_json(&["backup", "list", "--target", &t], &[]);
        let ranges = listed["clusters"][0]["log_ranges"].as_array().cloned().unwrap_or_default();
        if ranges.iter().any(|r| r["last"].as_i64() >= Some(zxid))
            && listed["clusters"][0]["snapshots"].as_array().map(Vec::len) >= Some(2)
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the archive never reached zxid {zxid}: {listed}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let verified = paddock_json(&["backup", "verify", "--target", &t], &[]);
    assert_eq!(verified["problems"].as_array().map(Vec::len), Some(0), "{verified}");
    assert_eq!(verified["sound"], 2, "the base backup and the online one: {verified}");

    // The same state, reached by replaying the archive from the base to that zxid.
    let listed = paddock_json(&["backup", "list", "--target", &t], &[]);
    let base = listed["clusters"][0]["snapshots"][0]["zxid"].as_i64().expect("base zxid");
    assert!(base < zxid, "the base backup predates the online one");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("pitr");
    let zxid_text = zxid.to_string();
    let restored = paddock_json(
        &["restore", "--from", &t, "--zxid", &zxid_text, "--data-dir", data.to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(restored["zxid"], zxid);
    assert_eq!(restored["base_zxid"], zxid, "the newest base at or before the point is the online backup itself");
}

/// Against an S3 server that checks credentials (s3rver refuses an unknown access key; it does not check
/// the signature's secret): wrong credentials are one line naming the refusal, and nothing is written; the
/// right ones work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_refused_in_one_line_and_nothing_is_written() {
    let s3 = S3Server::start_checking_credentials().expect("s3rver starts");
    let good = s3.env();
    let bad: Vec<(String, String)> = good
        .iter()
        .map(
            |(k, v)| {
                if k == "AWS_ACCESS_KEY_ID" { (k.clone(), "NOT-A-KEY".to_string()) } else { (k.clone(), v.clone()) }
            },
        )
        .collect();
    let mut server = PaddockProcess::start().expect("server starts");
    let client = connect(&server.addr()).await;
    client.create("/signed", b"x", &persistent()).await.expect("create");
    drop(client);
    server.terminate().expect("stop");
    let url = s3.url("signed");
    let create = ["backup", "create", "--data-dir", data_dir(&server), "--to", url.as_str()];
    let (ok, _, stderr) = paddock(&create, &bad);
    assert!(!ok && stderr.lines().count() == 1 && stderr.contains("403"), "{stderr}");
    let listed = paddock_json(&["backup", "list", "--target", &url], &good);
    assert_eq!(listed["clusters"].as_array().map(Vec::len), Some(0), "a refused backup wrote something: {listed}");
    let (ok, _, stderr) = paddock(&["backup", "list", "--target", &url], &bad);
    assert!(!ok && stderr.lines().count() == 1 && stderr.contains("403"), "{stderr}");

    let mut args = create.to_vec();
    args.push("--json");
    let (ok, _, stderr) = paddock(&args, &good);
    assert!(ok, "{stderr}");
    assert_eq!(paddock_json(&["backup", "verify", "--target", &url], &good)["sound"], 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let into = dir.path().join("restored");
    let (ok, _, stderr) = paddock(&["restore", "--from", &url, "--data-dir", into.to_str().expect("utf-8")], &bad);
    assert!(!ok && stderr.contains("403") && !into.exists(), "{stderr}");
}
