//! Continuous archiving on a standalone server (`paddock.backup.*`, issue 11 point 4): acknowledged writes
//! reach the target's archived log within about the interval, contiguously and exactly once, also across
//! kill -9 restarts; a base backup of the tree is there for them to replay from; retention keeps the log
//! until it is archived, up to `maxUnarchivedBytes`; bad settings stop the start with one line naming the key.
//!
//! The archive is read straight from the target directory (`paddock_backup::segment`), not through the
//! server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use paddock_backup::segment::{self, SegmentName};
use paddock_testkit::{PaddockProcess, exchange_until_close, four_letter_word, free_port};
use zookeeper_client as zk;

/// How long an acknowledged write may take to be archived with a 200 ms interval (a hang detector, not a
/// timing goal: the RPO is printed).
const CATCH_UP: Duration = Duration::from_secs(10);
/// After a restart the archiver lists the target before it uploads: more slack on a loaded machine.
const CATCH_UP_AFTER_RESTART: Duration = Duration::from_secs(30);

pub(crate) fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

pub(crate) async fn connect(addr: &str) -> zk::Client {
    zk::Client::connector().with_session_timeout(Duration::from_secs(30)).connect(addr).await.expect("client connects")
}

pub(crate) fn target_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("paddock-archive-").tempdir().expect("target dir")
}

/// `mntr` as key → value.
fn mntr(addr: &str) -> BTreeMap<String, String> {
    let text = four_letter_word(addr, "mntr").expect("mntr answers");
    text.lines().filter_map(|line| line.split_once('\t')).map(|(k, v)| (k.to_string(), v.trim().to_string())).collect()
}

fn mntr_i64(lines: &BTreeMap<String, String>, key: &str) -> i64 {
    lines.get(key).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no integer {key} in mntr: {lines:?}"))
}

fn mntr_f64(lines: &BTreeMap<String, String>, key: &str) -> f64 {
    lines.get(key).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no number {key} in mntr: {lines:?}"))
}

fn cluster_id(data_dir: &Path) -> String {
    let text = std::fs::read_to_string(data_dir.join("paddock/cluster-id")).expect("cluster id file");
    text.trim().to_string()
}

/// The archived segments of `cluster` in the target directory, by first zxid (duplicates kept).
pub(crate) fn segments(target: &Path, cluster: &str) -> Vec<(SegmentName, PathBuf)> {
    let dir = target.join(cluster).join("wal");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut found: Vec<(SegmentName, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let key = format!("{cluster}/wal/{}", e.file_name().to_string_lossy());
            SegmentName::parse(&key).map(|(_, name)| (name, e.path()))
        })
        .collect();
    found.sort_by_key(|(name, _)| (name.first, name.last));
    found
}

/// The highest archived zxid in the target (0: none).
fn archived_in(target: &Path, cluster: &str) -> i64 {
    segments(target, cluster).iter().map(|(n, _)| n.last).max().unwrap_or(0)
}

/// The zxids of the complete backups (manifests) of `cluster` in the target.
pub(crate) fn base_backups(target: &Path, cluster: &str) -> Vec<i64> {
    let Ok(entries) = std::fs::read_dir(target.join(cluster).join("snapshots")) else { return Vec::new() };
    let mut zxids: Vec<i64> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".json").and_then(|z| z.parse().ok()))
        .collect();
    zxids.sort_unstable();
    zxids
}

/// Checks that the archive is one contiguous run of log indexes (each object starts right after the
/// previous one ends: no gap, no overlap, no duplicate) and that every object decodes to strictly
/// increasing zxids within its name's range: one at every index when `every_index` (a standalone server's
/// log); an ensemble's leaves holes at its blank entries, and an object may hold none. Returns (first
/// index, last index, entries by zxid).
pub(crate) fn check_archive(target: &Path, cluster: &str, every_index: bool) -> (i64, i64, BTreeMap<i64, Vec<u8>>) {
    let found = segments(target, cluster);
    assert!(!found.is_empty(), "nothing archived in {}", target.display());
    let mut entries = BTreeMap::new();
    let mut expected_first = found[0].0.first;
    for (name, path) in &found {
        assert_eq!(
            name.first,
            expected_first,
            "{}: the archive must continue at index {expected_first} (no gap, no overlap, no duplicate): {:?}",
            path.display(),
            found.iter().map(|(n, _)| (n.first, n.last)).collect::<Vec<_>>()
        );
        let bytes = std::fs::read(path).expect("read a segment");
        let decoded = segment::decode(&path.display().to_string(), &bytes, name)
            .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
        if every_index {
            assert_eq!(decoded.len() as i64, name.last - name.first + 1, "{}: one entry per zxid", path.display());
        }
        let mut previous = name.first - 1;
        for (zxid, payload) in decoded {
            assert!(
                zxid > previous && zxid <= name.last,
                "{}: entry zxid {zxid} after {previous}: entries must rise within {}..={}",
                path.display(),
                name.first,
                name.last
            );
            previous = zxid;
            assert!(entries.insert(zxid, payload).is_none(), "zxid {zxid} archived twice");
        }
        expected_first = name.last + 1;
    }
    (found[0].0.first, expected_first - 1, entries)
}

/// Waits until the server's archive has caught up with its last zxid (as `mntr` reports both): returns
/// that zxid and the `mntr` lines that said so.
fn wait_caught_up(addr: &str, limit: Duration) -> (i64, BTreeMap<String, String>) {
    let deadline = Instant::now() + limit;
    loop {
        let lines = mntr(addr);
        let last = mntr_i64(&lines, "zk_paddock_last_zxid");
        let archived = mntr_i64(&lines, "zk_paddock_archive_last_zxid");
        if archived == last && mntr_i64(&lines, "zk_paddock_archive_lag_zxids") == 0 {
            return (last, lines);
        }
        assert!(Instant::now() < deadline, "the archive did not catch up within {limit:?}: {lines:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A GET on the AdminServer (HTTP/1.0, so the server closes the connection after its answer).
fn http_get(admin: &str, path: &str) -> String {
    exchange_until_close(admin, format!("GET {path} HTTP/1.0\r\nHost: {admin}\r\n\r\n").as_bytes())
        .unwrap_or_else(|e| panic!("GET {path} on {admin}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_are_archived_within_about_the_interval() {
    let target = target_dir();
    let admin_port = free_port().to_string();
    let target_spec = target.path().display().to_string();
    let server = PaddockProcess::start_with(&[
        ("paddock.backup.target", &target_spec),
        ("paddock.backup.archiveInterval", "200ms"),
        ("admin.enableServer", "true"),
        ("admin.serverPort", &admin_port),
    ])
    .expect("server starts");
    let addr = server.addr();
    let cluster = cluster_id(&server.data_dir);
    let client = connect(&addr).await;
    client.create("/a", b"", &persistent()).await.expect("create");
    let mut last_ack = (0i64, Instant::now());
    for i in 0..300 {
        let (stat, _) =
            client.create(&format!("/a/n{i}"), format!("v{i}").as_bytes(), &persistent()).await.expect("create");
        last_ack = (stat.czxid, Instant::now());
    }
    let stat = client.set_data("/a", b"done", None).await.expect("set");
    last_ack = (stat.mzxid.max(last_ack.0), Instant::now());
    let (acked_zxid, acked_at) = last_ack;
    let deadline = acked_at + CATCH_UP;
    while archived_in(target.path(), &cluster) < acked_zxid {
        assert!(Instant::now() < deadline, "zxid {acked_zxid} not archived within {CATCH_UP:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "archive RPO: the last acknowledged write (zxid {acked_zxid}) was archived {:?} after its ack",
        acked_at.elapsed()
    );
    // Closing the session is the last write: wait for it, so that the server's last zxid stays put.
    drop(client);
    let deadline = Instant::now() + CATCH_UP;
    while mntr_i64(&mntr(&addr), "zk_global_sessions") > 0 {
        assert!(Instant::now() < deadline, "the session did not close");
        std::thread::sleep(Duration::from_millis(20));
    }

    let (last, lines) = wait_caught_up(&addr, CATCH_UP);
    assert!(last >= acked_zxid, "{lines:?}");
    let (first, archived_last, entries) = check_archive(target.path(), &cluster, true);
    assert_eq!(first, 1, "a fresh cluster's archive starts at its first zxid");
    assert_eq!(archived_last, last, "the archive ends at the server's last zxid");
    assert_eq!(entries.len() as i64, last);
    assert!(
        entries.get(&acked_zxid).is_some_and(|p| p.windows(4).any(|w| w == b"done")),
        "the last acknowledged write is archived as written"
    );
    assert_eq!(mntr_f64(&lines, "zk_paddock_archive_lag_seconds"), 0.0, "{lines:?}");
    assert_eq!(mntr_i64(&lines, "zk_paddock_archive_failures"), 0, "{lines:?}");
    assert!(mntr_f64(&lines, "zk_paddock_archive_last_upload_age_seconds") >= 0.0, "{lines:?}");
    let srvr = four_letter_word(&addr, "srvr").expect("srvr");
    assert!(srvr.contains(&format!("Zxid: 0x{last:x}")), "srvr agrees with mntr on the last zxid: {srvr}");

    // The base the archived log replays from: a complete backup of this cluster, taken at start.
    let deadline = Instant::now() + CATCH_UP;
    while base_backups(target.path(), &cluster).is_empty() {
        assert!(Instant::now() < deadline, "no base backup (manifest) of {cluster} in the target");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The same numbers on the AdminServer and Prometheus.
    let admin = format!("127.0.0.1:{admin_port}");
    let monitor = http_get(&admin, "/commands/monitor");
    let body = monitor.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let monitor: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("monitor JSON ({e}): {body}"));
    assert_eq!(monitor["paddock_archive_last_zxid"], last, "{monitor}");
    assert_eq!(monitor["paddock_archive_lag_zxids"], 0, "{monitor}");
    assert_eq!(
        monitor["paddock_archive_last_upload_age_seconds"].as_f64().map(|age| age >= 0.0),
        Some(true),
        "{monitor}"
    );
    let metrics = http_get(&admin, "/metrics");
    for line in [
        "paddock_backup_archive_lag_zxids 0".to_string(),
        "paddock_backup_archive_failures_total 0".to_string(),
        format!("paddock_backup_archive_last_zxid {last}"),
    ] {
        assert!(metrics.lines().any(|l| l == line), "/metrics lacks {line:?}:\n{metrics}");
    }
    assert!(metrics.contains("# TYPE paddock_backup_archive_lag_seconds gauge"), "{metrics}");
    assert!(metrics.contains("\npaddock_backup_archive_last_upload_timestamp_seconds "), "{metrics}");
}

/// One writer's acknowledged creates: (zxid, path, acknowledged at).
pub(crate) type Acks = Arc<Mutex<Vec<(i64, String, Instant)>>>;

pub(crate) async fn kill_loop_writer(addr: String, id: usize, round: usize, stop: Arc<AtomicBool>, acks: Acks) {
    let Ok(Ok(client)) = tokio::time::timeout(
        Duration::from_secs(10),
        zk::Client::connector().with_session_timeout(Duration::from_secs(10)).connect(&addr),
    )
    .await
    else {
        return;
    };
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let path = format!("/k/r{round}-w{id}-{n}");
        match tokio::time::timeout(Duration::from_secs(2), client.create(&path, path.as_bytes(), &persistent())).await {
            Ok(Ok((stat, _))) => {
                acks.lock().unwrap_or_else(PoisonError::into_inner).push((stat.czxid, path, Instant::now()))
            }
            // The server was killed: the outcome is unknown, and this writer is done for the round.
            _ => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_loop_leaves_an_archive_without_gap_or_duplicate_holding_every_acknowledged_write() {
    const ROUNDS: usize = 5;
    const WRITERS: usize = 3;
    let target = target_dir();
    let target_spec = target.path().display().to_string();
    let mut server = PaddockProcess::start_with(&[
        ("paddock.backup.target", &target_spec),
        ("paddock.backup.archiveInterval", "200ms"),
    ])
    .expect("server starts");
    let cluster = cluster_id(&server.data_dir);
    connect(&server.addr()).await.create("/k", b"", &persistent()).await.expect("create /k");

    // When each zxid was first seen archived, read from the target directory every 20 ms.
    let samples: Arc<Mutex<Vec<(Instant, i64)>>> = Arc::default();
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (samples, watching, dir, cluster) =
            (samples.clone(), watching.clone(), target.path().to_path_buf(), cluster.clone());
        std::thread::spawn(move || {
            while watching.load(Ordering::Relaxed) {
                let archived = archived_in(&dir, &cluster);
                samples.lock().unwrap_or_else(PoisonError::into_inner).push((Instant::now(), archived));
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let acks: Acks = Arc::default();
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|id| tokio::spawn(kill_loop_writer(server.addr(), id, round, stop.clone(), acks.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.await.expect("writer task");
        }
        server.restart().expect("restart on the same data dir");
    }

    let addr = server.addr();
    let (last, lines) = wait_caught_up(&addr, CATCH_UP_AFTER_RESTART);
    watching.store(false, Ordering::Relaxed);
    watcher.join().expect("watcher thread");
    let (first, archived_last, entries) = check_archive(target.path(), &cluster, true);
    let bases = base_backups(target.path(), &cluster);
    assert!(!bases.is_empty(), "a base backup of the cluster exists");
    assert!(
        first == 1 || bases.iter().any(|base| *base + 1 >= first),
        "the archive starts at 1 or continues a base backup: first {first}, bases {bases:?}"
    );
    assert_eq!(archived_last, last, "archived up to the server's last zxid: {lines:?}");
    assert_eq!(entries.len() as i64, last - first + 1);

    let acks = std::mem::take(&mut *acks.lock().unwrap_or_else(PoisonError::into_inner));
    assert!(acks.len() > ROUNDS, "the writers got writes acknowledged: {}", acks.len());
    for (zxid, path, _) in &acks {
        let payload = entries.get(zxid).unwrap_or_else(|| panic!("acknowledged {path} (zxid {zxid}) is not archived"));
        assert!(payload.windows(path.len()).any(|w| w == path.as_bytes()), "zxid {zxid} is not the create of {path}");
    }
    // The recovery point: from each acknowledgement to the first moment its zxid was seen archived. Writes
    // acknowledged just before a kill wait for the restart.
    let samples = samples.lock().unwrap_or_else(PoisonError::into_inner);
    let mut rpo: Vec<Duration> = acks
        .iter()
        .filter_map(|(zxid, _, acked)| {
            samples.iter().find(|(seen, archived)| seen >= acked && archived >= zxid).map(|(seen, _)| *seen - *acked)
        })
        .collect();
    rpo.sort_unstable();
    let at = |q: f64| rpo.get(((rpo.len() as f64 - 1.0) * q) as usize).copied().unwrap_or_default();
    eprintln!(
        "archive kill loop: {ROUNDS} kills, {} acknowledged writes, archive 0x{first:x}..=0x{last:x} ({} objects); \
         RPO (ack to archived) p50 {:?}, p99 {:?}, max {:?} ({} measured)",
        acks.len(),
        segments(target.path(), &cluster).len(),
        at(0.5),
        at(0.99),
        rpo.last().copied().unwrap_or_default(),
        rpo.len()
    );
}

/// Files of the WAL directory, sorted (`<20 digits>.wal`).
fn wal_segments(data_dir: &Path) -> Vec<u64> {
    let dir = data_dir.join("paddock/wal");
    let mut firsts: Vec<u64> = std::fs::read_dir(&dir)
        .expect("wal dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".wal").and_then(|n| n.parse().ok()))
        .collect();
    firsts.sort_unstable();
    firsts
}

/// Writes `n` nodes under `prefix`, waiting for a snapshot after each `snap_count` of them (retention
/// needs `snapRetainCount` snapshots before it purges anything).
async fn fill_with_snapshots(client: &zk::Client, addr: &str, prefix: &str, n: usize, snap_count: usize) {
    client.create(prefix, b"", &persistent()).await.expect("parent");
    let taken = || mntr_i64(&mntr(addr), "zk_snap_count");
    let mut before = taken();
    for i in 0..n {
        client.create(&format!("{prefix}/n{i:05}"), &[b'x'; 64], &persistent()).await.expect("create");
        if (i + 1) % snap_count == 0 {
            let deadline = Instant::now() + Duration::from_secs(60);
            while taken() <= before {
                assert!(Instant::now() < deadline, "no snapshot after {snap_count} writes");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            before = taken();
        }
    }
}

/// An `s3://` target on a port where nothing listens: the archive can never be listed nor written.
fn unreachable_s3() -> (String, Vec<(&'static str, String)>) {
    let closed = free_port();
    let env = vec![
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{closed}")),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
    ];
    ("s3://paddock-backups/unreachable".to_string(), env)
}

fn retention_server(max_unarchived: &str) -> PaddockProcess {
    let (target, env) = unreachable_s3();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    PaddockProcess::start_with_env(
        &[
            ("snapCount", "50"),
            ("autopurge.snapRetainCount", "3"),
            ("paddock.autopurge.purgeIntervalMs", "100"),
            ("paddock.wal.segmentBytes", "4096"),
            ("paddock.backup.target", &target),
            ("paddock.backup.archiveInterval", "200ms"),
            ("paddock.backup.maxUnarchivedBytes", max_unarchived),
        ],
        &env,
    )
    .expect("server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_unarchived_log_segments_up_to_the_cap() {
    // Under the cap: nothing is archived, so no segment is purged, however many snapshots there are.
    let server = retention_server("1GiB");
    let addr = server.addr();
    let client = connect(&addr).await;
    fill_with_snapshots(&client, &addr, "/r", 300, 50).await;
    let segments_then = wal_segments(&server.data_dir);
    assert!(segments_then.len() > 4, "the writes filled several segments: {segments_then:?}");
    // Retention runs every 100 ms: give it many chances.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let segments_now = wal_segments(&server.data_dir);
    assert_eq!(segments_now.first(), Some(&1), "no unarchived segment was purged: {segments_now:?}");
    let lines = mntr(&addr);
    assert_eq!(mntr_i64(&lines, "zk_paddock_archive_last_zxid"), 0, "{lines:?}");
    assert!(mntr_i64(&lines, "zk_paddock_archive_lag_zxids") >= 300, "{lines:?}");
    assert_eq!(mntr_i64(&lines, "zk_paddock_archive_cap_exceeded"), 0, "{lines:?}");
    assert!(mntr_i64(&lines, "zk_snap_count") >= 3, "enough snapshots for retention to purge: {lines:?}");
    drop(client);
    drop(server);

    // Over a tiny cap: the log is purged as without archiving, and the server says so.
    let server = retention_server("1KiB");
    let addr = server.addr();
    let client = connect(&addr).await;
    fill_with_snapshots(&client, &addr, "/r", 300, 50).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while wal_segments(&server.data_dir).first() == Some(&1) {
        assert!(Instant::now() < deadline, "the log was not purged past the cap: {:?}", wal_segments(&server.data_dir));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("paddock.backup.maxUnarchivedBytes"))
        .unwrap_or_else(|| panic!("the log names the cap:\n{log}"));
    assert!(
        line.contains("ERROR") && line.contains("lag_zxids") && line.contains("max_unarchived_bytes=1024"),
        "{line}"
    );
    let lines = mntr(&addr);
    assert!(mntr_i64(&lines, "zk_paddock_archive_cap_exceeded") > 0, "{lines:?}");
}

/// Runs `paddock server` on a zoo.cfg holding `extra` and expects it to stop at once: its stderr.
pub(crate) fn refused_start(extra: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("zoo.cfg");
    let data = dir.path().join("data");
    std::fs::write(&config, format!("dataDir={}\nclientPort={}\n{extra}\n", data.display(), free_port()))
        .expect("zoo.cfg");
    let mut child = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .arg("server")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run paddock");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("paddock started with {extra:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("stderr");
    }
    assert!(!status.success(), "paddock must refuse {extra:?}:\n{stderr}");
    stderr
}

#[test]
fn a_duration_without_a_unit_or_a_bad_target_stops_the_start_naming_the_key() {
    for (extra, key, value) in [
        ("paddock.backup.archiveInterval=5", "paddock.backup.archiveInterval", "\"5\""),
        ("paddock.backup.snapshotInterval=1w", "paddock.backup.snapshotInterval", "\"1w\""),
        ("paddock.backup.target=ftp://host/backups", "paddock.backup.target", "ftp"),
    ] {
        let stderr = refused_start(extra);
        let line = stderr
            .lines()
            .find(|l| l.starts_with("paddock: "))
            .unwrap_or_else(|| panic!("no error line for {extra}:\n{stderr}"));
        assert!(line.contains(key) && line.contains(value), "{extra}: {line}");
    }
}

/// The server manages its backups itself: a scheduled backup every second, the retention policy applied
/// after each (`retainLast=2`, no grace), and a scheduled verification whose result `mntr` reports; what
/// stays still verifies and restores to the latest archived write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_are_pruned_by_policy_and_verified() {
    let target = target_dir();
    let t = target.path().to_str().expect("utf-8").to_string();
    let server = PaddockProcess::start_with(&[
        ("paddock.backup.target", &t),
        ("paddock.backup.archiveInterval", "200ms"),
        ("paddock.backup.snapshotInterval", "1s"),
        ("paddock.backup.retainLast", "2"),
        ("paddock.backup.retainGrace", "0s"),
        ("paddock.backup.verifyInterval", "1s"),
    ])
    .expect("server starts");
    let client = connect(&server.addr()).await;
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(5) {
        client.create(&format!("/managed-{n}"), b"x", &persistent()).await.expect("create");
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let addr = server.addr();
    let deadline = Instant::now() + CATCH_UP_AFTER_RESTART;
    loop {
        let lines = mntr(&addr);
        let (pruned, problems, lag) = (
            mntr_i64(&lines, "zk_paddock_backup_pruned_objects"),
            mntr_i64(&lines, "zk_paddock_backup_verify_problems"),
            mntr_i64(&lines, "zk_paddock_archive_lag_zxids"),
        );
        if pruned > 0 && problems == 0 && lag == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "pruned {pruned}, verify problems {problems}, lag {lag}: {lines:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cluster = cluster_id(&server.data_dir);
    let manifests = std::fs::read_dir(target.path().join(&cluster).join("snapshots"))
        .expect("snapshots dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .count();
    assert!(manifests <= 3, "retainLast=2 keeps two backups (a third may have landed since): {manifests}");
    let verified = paddock_cli(&["backup", "verify", "--target", &t, "--json"]);
    assert_eq!(verified["problems"].as_array().map(Vec::len), Some(0), "{verified}");
    let restored_dir = tempfile::tempdir().expect("temp dir");
    let data = restored_dir.path().join("data");
    let restored = paddock_cli(&["restore", "--from", &t, "--data-dir", data.to_str().expect("utf-8"), "--json"]);
    let (_, last) = client.get_data(&format!("/managed-{}", n - 1)).await.expect("read");
    assert!(restored["zxid"].as_i64() >= Some(last.czxid), "the latest restore point holds the last write: {restored}");
}

pub(crate) fn paddock_cli(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_paddock")).args(args).output().expect("run paddock");
    assert!(out.status.success(), "paddock {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}
