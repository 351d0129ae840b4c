//! `paddock restore --subtree /app --into HOST:ADMIN_PORT` (issue 13, point 3): one subtree of a running
//! server put back to a backup's restore point as one atomic write, while clients keep writing elsewhere.
//! The dry run lists exactly what the restore then does; writes outside the subtree are untouched; watchers
//! inside it see the events the individual writes would fire; conflicts are refused unless a policy says
//! what to do with them; a subtree the backup lacks, or a server without `admin.restore.enabled`, is a
//! one-line refusal that changes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use paddock_testkit::{PaddockProcess, free_port};
use serde_json::Value;
use zookeeper_client as zk;

/// Hang detector for a watch event the restore must fire.
const EVENT: Duration = Duration::from_secs(30);

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

async fn connect(addr: &str) -> zk::Client {
    zk::Client::connector().with_session_timeout(Duration::from_secs(30)).connect(addr).await.expect("client connects")
}

/// `paddock <args>`: (success, stdout, stderr).
fn paddock(args: &[&str]) -> (bool, String, String) {
    crate::backup::paddock(args, &[])
}

/// `paddock <args> --json` that must succeed, off the runtime's threads: its JSON output.
async fn paddock_json(args: Vec<String>) -> Value {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::backup::paddock_json(&args, &[])
    })
    .await
    .expect("paddock runs")
}

/// A server whose AdminServer allows `restore` (or not): (server, admin HOST:PORT).
fn server_with_restore(restore_enabled: bool) -> (PaddockProcess, String) {
    let admin = free_port();
    let port = admin.to_string();
    let enabled = restore_enabled.to_string();
    let server = PaddockProcess::start_with(&[
        ("admin.enableServer", "true"),
        ("admin.serverPort", &port),
        ("admin.restore.enabled", &enabled),
    ])
    .expect("server starts");
    (server, format!("127.0.0.1:{admin}"))
}

/// Every node at and under `root`: path → data.
async fn subtree(client: &zk::Client, root: &str) -> BTreeMap<String, Vec<u8>> {
    let mut nodes = BTreeMap::new();
    let mut pending = vec![root.to_string()];
    while let Some(path) = pending.pop() {
        let Ok((data, _)) = client.get_data(&path).await else { continue };
        let (children, _) = client.get_children(&path).await.expect("get_children");
        pending.extend(children.iter().map(|child| format!("{path}/{child}")));
        nodes.insert(path, data);
    }
    nodes
}

fn restore_args(admin: &str, target: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["restore", "--into", admin, "--auth", "ip", "--from", target, "--subtree", "/app"];
    args.extend_from_slice(extra);
    args.into_iter().map(str::to_string).collect()
}

/// (kind, path) of every change in an answer.
fn changes(answer: &Value) -> Vec<(String, String)> {
    answer["answer"]["changes"]
        .as_array()
        .expect("a list of changes")
        .iter()
        .map(|c| (c["kind"].as_str().unwrap_or("?").to_string(), c["path"].as_str().unwrap_or("?").to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subtree_restored_into_a_running_server_changes_it_alone_as_its_dry_run_said() {
    let (server, admin) = server_with_restore(true);
    let client = connect(&server.addr()).await;
    for (path, data) in [("/app", "root"), ("/app/a", "a1"), ("/app/b", "b"), ("/app/b/c", "c"), ("/app/q", "")] {
        client.create(path, data.as_bytes(), &persistent()).await.expect("create");
    }
    let sequential = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    for _ in 0..3 {
        client.create("/app/q/item-", b"", &sequential).await.expect("create");
    }
    client.create("/other", b"", &persistent()).await.expect("create");
    let backed_up = subtree(&client, "/app").await;
    let target = tempfile::tempdir().expect("temp dir");
    let t = target.path().to_str().expect("utf-8").to_string();
    let created =
        paddock_json(["backup", "create", "--server", &admin, "--auth", "ip", "--to", &t].map(String::from).to_vec())
            .await;
    let zxid = created["zxid"].as_i64().expect("the backup's zxid").to_string();

    // Since the backup: /app/a changed, /app/b/c deleted, /app/new created, all under /app.
    client.set_data("/app/a", b"a2", None).await.expect("set");
    client.delete("/app/b/c", None).await.expect("delete");
    client.create("/app/new", b"n", &persistent()).await.expect("create");
    let (_, _, data_watch) = client.get_and_watch_data("/app/a").await.expect("watch /app/a");
    let (_, created_watch) = client.check_and_watch_stat("/app/b/c").await.expect("watch /app/b/c");
    let (_, _, deleted_watch) = client.get_and_watch_data("/app/new").await.expect("watch /app/new");
    let (_, _, children_watch) = client.get_and_watch_children("/app").await.expect("watch /app's children");

    // Writers outside the subtree keep going through the restore.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, stop) = (connect(&server.addr()).await, stop.clone());
        writers.push(tokio::spawn(async move {
            let mut written = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let path = format!("/other/w{w}-{}", written.len());
                client.create(&path, b"x", &persistent()).await.expect("a write outside the subtree succeeds");
                written.push(path);
            }
            written
        }));
    }

    // The default policy refuses: live nodes differ from the backup.
    let (ok, _, stderr) = tokio::task::spawn_blocking({
        let args = restore_args(&admin, &t, &["--zxid", &zxid]);
        move || paddock(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .expect("runs");
    assert!(!ok && stderr.contains("differ from the backup"), "conflicts refuse the restore:\n{stderr}");
    assert_eq!(client.get_data("/app/a").await.expect("read").0, b"a2", "a refused restore changes nothing");

    let dry =
        paddock_json(restore_args(&admin, &t, &["--zxid", &zxid, "--on-conflict", "overwrite", "--dry-run"])).await;
    let expected = vec![
        ("delete".to_string(), "/app/new".to_string()),
        ("update".to_string(), "/app/a".to_string()),
        ("create".to_string(), "/app/b/c".to_string()),
    ];
    assert_eq!(changes(&dry), expected, "the dry run names every change");
    assert_eq!(client.get_data("/app/a").await.expect("read").0, b"a2", "a dry run changes nothing");

    let applied = paddock_json(restore_args(&admin, &t, &["--zxid", &zxid, "--on-conflict", "overwrite"])).await;
    assert_eq!(changes(&applied), changes(&dry), "the restore made exactly the dry run's changes");
    stop.store(true, Ordering::Relaxed);
    let mut written = Vec::new();
    for writer in writers {
        written.extend(writer.await.expect("writer"));
    }

    assert_eq!(subtree(&client, "/app").await, backed_up, "the subtree is the backup's again");
    let other = subtree(&client, "/other").await;
    for path in &written {
        assert!(other.contains_key(path), "{path}, written outside the subtree during the restore, is still there");
    }
    assert_eq!(other.len(), written.len() + 1, "nothing else appeared or went under /other");

    for (watch, path, event) in [
        (data_watch, "/app/a", zk::EventType::NodeDataChanged),
        (created_watch, "/app/b/c", zk::EventType::NodeCreated),
        (deleted_watch, "/app/new", zk::EventType::NodeDeleted),
        (children_watch, "/app", zk::EventType::NodeChildrenChanged),
    ] {
        let fired = tokio::time::timeout(EVENT, watch.changed()).await.expect("the watch fires");
        assert_eq!((fired.event_type, fired.path.as_str()), (event, path));
    }
    // The same restore again changes nothing.
    let again = paddock_json(restore_args(&admin, &t, &["--zxid", &zxid, "--on-conflict", "overwrite"])).await;
    assert!(changes(&again).is_empty(), "{again}");
    // The restored sequence counter: the next sequential node does not take a restored name.
    let (_, next) = client.create("/app/q/item-", b"", &sequential).await.expect("create");
    assert_eq!(next.into_i64(), 3, "the next sequential node follows the restored ones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subtree_restore_the_backup_or_the_server_cannot_do_is_refused_in_one_line() {
    let (server, admin) = server_with_restore(true);
    let client = connect(&server.addr()).await;
    client.create("/app", b"v1", &persistent()).await.expect("create");
    let target = tempfile::tempdir().expect("temp dir");
    let t = target.path().to_str().expect("utf-8").to_string();
    paddock_json(["backup", "create", "--server", &admin, "--auth", "ip", "--to", &t].map(String::from).to_vec()).await;
    client.set_data("/app", b"v2", None).await.expect("set");

    let (closed, closed_admin) = server_with_restore(false);
    for (args, expected) in [
        (
            vec!["restore", "--into", &admin, "--auth", "ip", "--from", &t, "--subtree", "/missing"],
            "/missing does not exist in the backup",
        ),
        (
            vec!["restore", "--into", &closed_admin, "--auth", "ip", "--from", &t, "--subtree", "/app"],
            "admin.restore.enabled=true",
        ),
        (vec!["restore", "--into", &admin, "--from", &t, "--subtree", "/app"], "Auth info is missing"),
        (vec!["restore", "--into", &admin, "--auth", "ip", "--from", &t, "--subtree", "/zookeeper"], "server's own"),
        (vec!["restore", "--into", &admin, "--from", &t, "--dry-run"], "needs --subtree"),
    ] {
        let (ok, _, stderr) = tokio::task::spawn_blocking({
            // --json: nothing but the error on stderr.
            let args: Vec<String> = args.iter().chain(&["--json"]).map(|a| a.to_string()).collect();
            move || paddock(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .expect("runs");
        assert!(!ok, "{args:?} is refused");
        assert!(stderr.contains(expected), "{args:?}: the refusal names the problem ({expected}):\n{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: one line:\n{stderr}");
    }
    assert_eq!(client.get_data("/app").await.expect("read").0, b"v2", "nothing was restored");
    drop(closed);

    // Offline, into a new data directory: refused before anything is written.
    let data = target.path().join("restored");
    let d = data.to_str().expect("utf-8").to_string();
    let (ok, _, stderr) = tokio::task::spawn_blocking(move || {
        paddock(&["restore", "--from", &t, "--subtree", "/missing", "--data-dir", &d, "--json"])
    })
    .await
    .expect("runs");
    assert!(!ok && stderr.contains("/missing does not exist in the backup"), "{stderr}");
    assert!(!data.exists(), "nothing half-written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subtree_backup_holds_its_subtree_alone_and_restores_it_at_its_zxid() {
    let (server, admin) = server_with_restore(true);
    let client = connect(&server.addr()).await;
    for path in ["/app", "/app/a", "/app/a/b", "/other"] {
        client.create(path, path.as_bytes(), &persistent()).await.expect("create");
    }
    for i in 0..50 {
        client.create(&format!("/other/n{i}"), b"elsewhere", &persistent()).await.expect("create");
    }
    let backed_up = subtree(&client, "/app").await;
    let target = tempfile::tempdir().expect("temp dir");
    let t = target.path().to_str().expect("utf-8").to_string();
    let args = ["backup", "create", "--server", &admin, "--auth", "ip", "--subtree", "/app", "--to", &t];
    let created = paddock_json(args.map(String::from).to_vec()).await;
    assert_eq!(created["subtree"], "/app");
    // The subtree, its ancestor / and the server's own nodes under /zookeeper; the count is ZooKeeper's
    // (`zk_znode_count`), which counts the root twice.
    let own = subtree(&client, "/zookeeper").await.len();
    assert_eq!(created["node_count"], backed_up.len() + 2 + own, "{created}");
    let listed = paddock_json(["backup", "list", "--target", &t].map(String::from).to_vec()).await;
    let cluster = &listed["clusters"][0];
    assert_eq!(
        (cluster["subtrees"].as_array().map(Vec::len), cluster["snapshots"].as_array().map(Vec::len)),
        (Some(1), Some(0))
    );
    let verified = paddock_json(["backup", "verify", "--target", &t].map(String::from).to_vec()).await;
    assert_eq!(
        (verified["sound"].as_u64(), verified["problems"].as_array().map(Vec::len)),
        (Some(1), Some(0)),
        "{verified}"
    );

    client.set_data("/app/a", b"changed", None).await.expect("set");
    client.create("/app/new", b"", &persistent()).await.expect("create");
    let restored = paddock_json(restore_args(&admin, &t, &["--on-conflict", "overwrite"])).await;
    assert_eq!(restored["zxid"], created["zxid"], "the latest restore point of /app is the subtree backup");
    assert_eq!(subtree(&client, "/app").await, backed_up);
    assert_eq!(subtree(&client, "/other").await.len(), 51, "outside the subtree nothing changed");

    // Not a restore point of the whole tree, nor of a subtree it does not hold.
    let into = target.path().join("whole");
    let (whole, below) = (into.clone(), target.path().join("below"));
    let t2 = t.clone();
    let outcomes = tokio::task::spawn_blocking(move || {
        let whole = paddock(&["restore", "--from", &t2, "--data-dir", whole.to_str().expect("utf-8"), "--json"]);
        let other = paddock(&[
            "restore",
            "--from",
            &t2,
            "--subtree",
            "/other",
            "--data-dir",
            below.to_str().expect("utf-8"),
            "--json",
        ]);
        (whole, other)
    })
    .await
    .expect("runs");
    assert!(!outcomes.0.0 && outcomes.0.2.contains("subtree backup of /app"), "{}", outcomes.0.2);
    assert!(!outcomes.1.0, "a subtree backup of /app holds no /other");
    assert!(!into.exists(), "nothing half-written");
    // Offline, a data directory of the subtree.
    let data = target.path().join("app-only");
    let restored = paddock_json(
        ["restore", "--from", &t, "--subtree", "/app/a", "--data-dir", data.to_str().expect("utf-8")]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert_eq!(restored["zxid"], created["zxid"]);
    assert!(data.join("paddock").exists(), "{restored}");
}
