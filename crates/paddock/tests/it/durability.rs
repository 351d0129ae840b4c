//! Durability of the real binary across restarts: sessions and ephemerals survive a clean restart,
//! retention keeps what recovery needs, and damaged files are either survived (an older snapshot plus the
//! log) or refused with a message naming the file — with `paddock data check` naming the same spot.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use paddock_testkit::{PaddockProcess, four_letter_word};
use zookeeper_client as zk;

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

async fn connect(addr: &str) -> zk::Client {
    zk::Client::connector().with_session_timeout(Duration::from_secs(30)).connect(addr).await.expect("client connects")
}

/// `paddock data check --json` on a data dir: (exit success, report).
fn data_check(data_dir: &Path) -> (bool, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["data", "check", "--json", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run paddock data check");
    let report = serde_json::from_slice(&out.stdout).expect("data check prints JSON");
    (out.status.success(), report)
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    found.sort();
    found
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).expect("read file");
    let i = usize::try_from(offset).expect("offset fits");
    bytes[i] ^= 0x10;
    std::fs::write(path, bytes).expect("write file");
}

async fn fill(client: &zk::Client, prefix: &str, n: usize) {
    client.create(prefix, b"", &persistent()).await.expect("parent");
    for i in 0..n {
        let path = format!("{prefix}/n{i:05}");
        client.create(&path, format!("value-{i}").as_bytes(), &persistent()).await.expect("create");
    }
}

/// How long one snapshot of these small trees may take: the writer runs at idle priority, so on a machine
/// whose cores are busy it gets only the CPU time nobody else wants.
const SNAPSHOT_LIMIT: Duration = Duration::from_secs(60);

/// Snapshots the server has finished since it started (`zk_snap_count` in `mntr`).
fn snapshots_taken(addr: &str) -> u64 {
    let mntr = four_letter_word(addr, "mntr").expect("mntr answers");
    mntr.lines()
        .find_map(|line| line.strip_prefix("zk_snap_count\t"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no zk_snap_count in mntr:\n{mntr}"))
}

/// [`fill`], `snap_count` nodes at a time, waiting after each full batch until the server has finished one
/// more snapshot than it had before the batch: at least one snapshot per batch. A batch of `snapCount`
/// writes always crosses the trigger, but a trigger that comes while the previous snapshot is still being
/// written is skipped (as in ZooKeeper), and the writer runs at idle priority: with both cores busy a
/// client outruns it, and 600 writes at snapCount=50 once left only two snapshots behind.
async fn fill_with_snapshots(client: &zk::Client, addr: &str, prefix: &str, n: usize, snap_count: usize) {
    client.create(prefix, b"", &persistent()).await.expect("parent");
    let mut before = snapshots_taken(addr);
    for i in 0..n {
        let path = format!("{prefix}/n{i:05}");
        client.create(&path, format!("value-{i}").as_bytes(), &persistent()).await.expect("create");
        if (i + 1) % snap_count == 0 {
            let deadline = Instant::now() + SNAPSHOT_LIMIT;
            loop {
                let taken = snapshots_taken(addr);
                if taken > before {
                    before = taken;
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "no snapshot finished within {SNAPSHOT_LIMIT:?} of {} writes",
                    i + 1
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test]
async fn sessions_and_ephemerals_survive_a_clean_restart() {
    let mut server = PaddockProcess::start().expect("paddock starts");
    let owner = connect(&server.addr()).await;
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    owner.create("/owned", b"mine", &eph).await.expect("ephemeral");
    let session = owner.session_id();

    server.restart().expect("clean restart");
    // The client reconnects on its own with its session id and password.
    let mut resumed = false;
    for _ in 0..100 {
        if owner.get_data("/owned").await.is_ok() {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(resumed, "the owner's session resumed after the restart");
    assert_eq!(owner.session_id(), session, "same session, not a new one");
    let observer = connect(&server.addr()).await;
    let (_, stat) = observer.get_data("/owned").await.expect("ephemeral survived");
    assert_eq!(stat.ephemeral_owner, session.0);
    drop(owner);
    for _ in 0..100 {
        if matches!(observer.get_data("/owned").await, Err(zk::Error::NoNode)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the ephemeral should go when its session is closed");
}

#[tokio::test]
async fn a_session_whose_client_never_returns_expires_after_restart() {
    let mut server =
        PaddockProcess::start_with(&[("tickTime", "200"), ("minSessionTimeout", "1000")]).expect("paddock starts");
    // The owner lives on its own runtime; dropping the runtime kills its connection without a
    // closeSession, exactly like a client process that died.
    let addr = server.addr();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let owner = zk::Client::connector()
                .with_session_timeout(Duration::from_secs(1))
                .connect(&addr)
                .await
                .expect("connect");
            let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
            owner.create("/gone", b"", &eph).await.expect("ephemeral");
            std::mem::forget(owner);
        });
    })
    .join()
    .expect("owner thread");
    server.kill9();
    server.restart().expect("restart after crash");
    let observer = connect(&server.addr()).await;
    assert!(observer.get_data("/gone").await.is_ok(), "restored with its session");
    for _ in 0..100 {
        if matches!(observer.get_data("/gone").await, Err(zk::Error::NoNode)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("a restored session nobody resumes must expire and take its ephemerals");
}

#[tokio::test]
async fn retention_keeps_what_recovery_needs() {
    let cfg = [
        ("snapCount", "50"),
        ("autopurge.snapRetainCount", "3"),
        ("paddock.autopurge.purgeIntervalMs", "200"),
        ("paddock.wal.segmentBytes", "4096"),
    ];
    let mut server = PaddockProcess::start_with(&cfg).expect("paddock starts");
    let client = connect(&server.addr()).await;
    fill_with_snapshots(&client, &server.addr(), "/r", 600, 50).await;
    drop(client);
    // A restarted server without clients writes nothing, so it starts no snapshot: once its retention has
    // run, what it leaves stays put. (A snapshot still being written at the restart leaves a temp file,
    // which start-up removes.)
    server.restart().expect("restart after the writes");
    let snap_dir = server.data_dir.join("paddock/snap");
    let wal_dir = server.data_dir.join("paddock/wal");
    let first_segment = || {
        let segments = files(&wal_dir, "wal");
        let name = segments.first().and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().into_owned());
        name.and_then(|n| n.parse::<u64>().ok()).unwrap_or(0)
    };
    let deadline = Instant::now() + SNAPSHOT_LIMIT;
    while (files(&snap_dir, "snap").len() != 3 || first_segment() <= 1) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let snaps = files(&snap_dir, "snap");
    assert_eq!(snaps.len(), 3, "exactly snapRetainCount snapshots kept: {snaps:?}");
    let (sound, report) = data_check(&server.data_dir);
    assert!(sound, "sound after purging: {report}");
    assert!(report["wal_first_zxid"].as_u64().expect("log") > 1, "old log segments were purged: {report}");
    server.restart().expect("restart after purge");
    let client = connect(&server.addr()).await;
    let (children, _) = client.get_children("/r").await.expect("recovered");
    assert_eq!(children.len(), 600);
}

#[tokio::test]
async fn a_damaged_newest_snapshot_falls_back_to_an_older_one_plus_the_log() {
    let cfg = [("snapCount", "100"), ("autopurge.snapRetainCount", "3")];
    let mut server = PaddockProcess::start_with(&cfg).expect("paddock starts");
    let client = connect(&server.addr()).await;
    fill_with_snapshots(&client, &server.addr(), "/s", 450, 100).await;
    drop(client);
    server.terminate().expect("stop");
    let snaps = files(&server.data_dir.join("paddock/snap"), "snap");
    assert!(snaps.len() >= 2, "several snapshots: {snaps:?}");
    let newest = snaps.last().expect("newest");
    let len = std::fs::metadata(newest).expect("stat").len();
    flip_byte(newest, len / 2);

    let (sound, report) = data_check(&server.data_dir);
    assert!(!sound, "data check flags the damaged snapshot");
    let problems = report["problems"].to_string();
    assert!(problems.contains(&newest.display().to_string()), "names the file: {problems}");

    server.restart().expect("starts from an older snapshot plus the log");
    assert!(server.log().contains("fell back to an older snapshot"), "says so in its log");
    let client = connect(&server.addr()).await;
    let (children, _) = client.get_children("/s").await.expect("recovered");
    assert_eq!(children.len(), 450, "nothing lost");
}

#[tokio::test]
async fn a_flipped_bit_in_a_middle_log_record_is_refused_with_file_and_offset() {
    let mut server = PaddockProcess::start_with(&[("snapCount", "100000")]).expect("paddock starts");
    let client = connect(&server.addr()).await;
    fill(&client, "/w", 200).await;
    drop(client);
    server.terminate().expect("stop");
    let wal_dir = server.data_dir.join("paddock/wal");
    let segment = files(&wal_dir, "wal").into_iter().next().expect("a segment");
    // Well inside the records, far from the last one (200 records of ~100 bytes each).
    flip_byte(&segment, 24 + 2000);

    let (sound, report) = data_check(&server.data_dir);
    assert!(!sound, "data check flags the damage");
    let problems = report["problems"].to_string();
    assert!(
        problems.contains(&segment.display().to_string()) && problems.contains("offset"),
        "names the spot: {problems}"
    );

    let restarted = server.restart();
    assert!(restarted.is_err(), "refuses to start with silently missing data");
    let log = server.log();
    assert!(log.contains(&segment.display().to_string()) && log.contains("offset"), "log names file and offset: {log}");
}

#[test]
fn a_second_server_on_the_same_data_directory_refuses_to_start() {
    let first = PaddockProcess::start().expect("paddock starts");
    let second = PaddockProcess::start_in(&first.data_dir, &[]);
    let Err(e) = second else { panic!("a second server must not share a data directory") };
    assert!(format!("{e:#}").contains("locked by another Paddock process"), "{e:#}");
    assert!(first.log().contains("paddock ready"), "the first server is unaffected");
}

/// A tool whose reader went away (`paddock data check --json | head -c0`) ends quietly with the status a
/// shell gives a process SIGPIPE ended (141), nothing on stderr; it used to panic on the broken pipe.
/// SIGPIPE itself stays ignored, in the server above all: a vanished client must never end it.
#[test]
fn a_closed_pipe_ends_a_tool_quietly_and_never_the_server() {
    const SIGPIPE: u32 = 13;
    let empty = tempfile::tempdir().expect("temp dir");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["data", "check", "--json", "--data-dir"])
        .arg(empty.path())
        .stdout(writer)
        .output()
        .expect("run paddock data check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128 + SIGPIPE as i32), "{:?}: {stderr}", out.status);
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");

    let server = PaddockProcess::start().expect("paddock starts");
    let pid = server.pid().expect("a running server");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let ignored = status.lines().find_map(|l| l.strip_prefix("SigIgn:")).expect("SigIgn line").trim();
    let mask = u64::from_str_radix(ignored, 16).expect("hex mask");
    assert_ne!(mask & (1 << (SIGPIPE - 1)), 0, "the server ignores SIGPIPE: SigIgn {ignored}");
}

/// `paddock server --config FILE` in a fresh directory holding `myid` (if given): (exit success, stderr).
fn server_with_config(cfg: &str, myid: Option<&str>) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    if let Some(myid) = myid {
        std::fs::write(dir.path().join("myid"), myid).expect("myid written");
    }
    server_in(dir.path(), cfg)
}

/// `paddock server --config FILE` on data dir `dir`: (exit success, stderr). A server that is still running
/// after 30 s did not refuse: it is killed and counts as a success.
fn server_in(dir: &Path, cfg: &str) -> (bool, String) {
    let config = dir.join("zoo.cfg");
    std::fs::write(&config, format!("dataDir={}\nclientPort=0\nadmin.enableServer=false\n{cfg}", dir.display()))
        .expect("zoo.cfg written");
    let mut child = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["server", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run paddock server");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("paddock server output");
    (out.status.success() || out.status.code().is_none(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_ensemble_configurations_are_refused_with_one_line_naming_the_problem() {
    let three = "server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n";
    let cases = [
        ("server.1=127.0.0.1:2888\nserver.2=127.0.0.1:2889:3889\n", None, "server.1"),
        (three, None, "myid"),
        (three, Some("7"), "names server 7"),
        ("group.1=1:2:3\n", None, "group.1"),
    ];
    for (cfg, myid, expected) in cases {
        let (ok, stderr) = server_with_config(cfg, myid);
        assert!(!ok, "must refuse {cfg:?}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("paddock: ") && last.contains(expected), "{expected:?} not in: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_of_the_other_mode_is_refused_rather_than_served_empty() {
    let three = "server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n";
    // A standalone server's data dir, started as a member of an ensemble.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut standalone = PaddockProcess::start_in(dir.path(), &[]).expect("standalone starts");
    let client = zk::Client::connector().connect(&standalone.addr()).await.expect("client connects");
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client.create("/kept", b"data", &persistent).await.expect("create");
    drop(client);
    let client_port = standalone.port.to_string();
    standalone.terminate().expect("standalone stops");
    std::fs::write(dir.path().join("myid"), "1").expect("myid written");
    let (ok, stderr) = server_in(dir.path(), three);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(!ok && last.starts_with("paddock: ") && last.contains("standalone server's data"), "{stderr}");
    // Its data is untouched: it still starts standalone.
    std::fs::remove_file(dir.path().join("myid")).expect("myid removed");
    let again = PaddockProcess::start_in(dir.path(), &[("clientPort", client_port.as_str())]).expect("restarts");
    let client = zk::Client::connector().connect(&again.addr()).await.expect("client connects");
    assert_eq!(client.get_data("/kept").await.expect("still there").0, b"data");
    // A member's Raft log, started standalone.
    let member = tempfile::tempdir().expect("temp dir");
    let raft = member.path().join("paddock/raft/log");
    std::fs::create_dir_all(&raft).expect("raft dir");
    std::fs::write(raft.join("00000000000000000001.wal"), b"").expect("a log file");
    let (ok, stderr) = server_in(member.path(), "");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(!ok && last.starts_with("paddock: ") && last.contains("Raft log"), "{stderr}");
}
