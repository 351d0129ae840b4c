//! `paddock import zookeeper` and `paddock export zookeeper` against real Apache ZooKeeper 3.8: kazoo
//! writes a varied tree into ZooKeeper (zk_import_kazoo.py), ZooKeeper stops, Paddock imports its data
//! directory and serves every node, Stat and ACL exactly as ZooKeeper did (and resumes ZooKeeper's open
//! session); then Paddock's data is exported and ZooKeeper, started on the export, serves the same again
//! and finds its digest right. Plain, gzip and snappy snapshots; a data directory with many snapshots
//! and logs whose newest snapshot is fuzzy; and damaged or foreign input refused in one line with
//! nothing written.

use std::path::{Path, PathBuf};
use std::process::Command;

use paddock_testkit::{PaddockProcess, ZooKeeperProcess, four_letter_word};
use paddock_zkformat::snapshot::{self, SnapshotFile};
use serde_json::Value;

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/install-test-deps", python.display());
    python
}

/// Runs zk_import_kazoo.py `mode` against `addr`: the JSON it prints.
fn kazoo(addr: &str, mode: &str, extra: &[&str]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/zk_import_kazoo.py");
    let output = Command::new(python()).arg(script).arg(mode).arg(addr).args(extra).output().expect("kazoo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kazoo {mode} against {addr} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("kazoo {mode} printed no JSON ({e}): {stdout}"))
}

/// Runs `paddock <args>`: (success, stdout, stderr).
fn paddock(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_paddock")).args(args).output().expect("run paddock");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn paddock_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (ok, stdout, stderr) = paddock(&all);
    assert!(ok, "paddock {args:?} failed:\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("paddock {args:?} printed no JSON ({e}):\n{stdout}"))
}

/// `paddock <args>` that must fail with one line naming the problem (`expected`).
fn refused(args: &[&str], expected: &str) -> String {
    let (ok, stdout, stderr) = paddock(args);
    assert!(!ok, "paddock {args:?} succeeded:\n{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "paddock {args:?}: not one line:\n{stderr}");
    assert!(lines[0].starts_with("paddock: ") && lines[0].contains(expected), "paddock {args:?}: {stderr}");
    stderr
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Apache ZooKeeper with its dataDir at `data_dir` (which outlives it), snapshots compressed by `method`
/// ("" is ZooKeeper's default, none), log files pre-allocated 64 KiB at a time rather than 64 MiB.
fn zookeeper_in(data_dir: &Path, method: &str, snap_count: &str) -> ZooKeeperProcess {
    zookeeper_with_logs_in(data_dir, None, method, snap_count)
}

/// [`zookeeper_in`] with a separate `dataLogDir`.
fn zookeeper_with_logs_in(data_dir: &Path, log_dir: Option<&Path>, method: &str, snap_count: &str) -> ZooKeeperProcess {
    let flags = [format!("-Dzookeeper.snapshot.compression.method={method}"), "-Dzookeeper.preAllocSize=64".into()];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    // The session kazoo leaves open (120 s) outlives a slow run; ZooKeeper's default cap is 40 s.
    let mut cfg = vec![("dataDir", s(data_dir)), ("snapCount", snap_count), ("maxSessionTimeout", "120000")];
    if let Some(log_dir) = log_dir {
        cfg.push(("dataLogDir", s(log_dir)));
    }
    ZooKeeperProcess::start_with_jvm_flags(&cfg, &flags).expect("Apache ZooKeeper starts")
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every node of two dumps equal; on a difference, the first few differing paths with both sides.
fn assert_same_tree(expected: &Value, served: &Value, who: &str) {
    let (Some(expected), Some(served)) = (expected.as_object(), served.as_object()) else {
        panic!("dumps are not objects")
    };
    let mut differences = Vec::new();
    for (path, want) in expected {
        match served.get(path) {
            Some(got) if got == want => {}
            Some(got) => differences.push(format!("{path}: ZooKeeper served {want}, {who} serves {got}")),
            None => differences.push(format!("{path}: missing from {who}")),
        }
    }
    for path in served.keys().filter(|p| !expected.contains_key(*p)) {
        differences.push(format!("{path}: only {who} has it"));
    }
    assert!(
        differences.is_empty(),
        "{} differences, the first:\n{}",
        differences.len(),
        differences[..differences.len().min(8)].join("\n")
    );
}

/// The round trip for one compression method: returns the import's summary and the ZooKeeper data dir.
fn round_trip(method: &str, load: usize, separate_logs: bool, prepare: impl FnOnce(&Path)) -> Value {
    let work = tempfile::tempdir().expect("temp dir");
    let zk_data = work.path().join("zookeeper");
    let zk_logs = separate_logs.then(|| work.path().join("zookeeper-logs"));
    let zk = zookeeper_with_logs_in(&zk_data, zk_logs.as_deref(), method, "100");
    let session = kazoo(&zk.addr(), "write", &[]);
    if load > 0 {
        kazoo(&zk.addr(), "load", &[&load.to_string()]);
    }
    let expected = kazoo(&zk.addr(), "dump", &[]);
    drop(zk);
    let extension = match method {
        "gz" => ".gz",
        "snappy" => ".snappy",
        _ => "",
    };
    let version_2 = zk_data.join("version-2");
    let snapshots: Vec<String> = files(&version_2).into_iter().filter(|n| n.starts_with("snapshot.")).collect();
    assert!(
        snapshots.len() >= 2
            && snapshots
                .iter()
                .all(|n| n.ends_with(extension) && (extension.is_empty() || n.matches('.').count() == 2)),
        "ZooKeeper wrote {snapshots:?}"
    );
    prepare(&version_2);

    // ZooKeeper → Paddock.
    let imported_dir = work.path().join("paddock");
    let mut args = vec!["import", "zookeeper", "--zk-data-dir", s(&zk_data), "--data-dir", s(&imported_dir)];
    if let Some(logs) = &zk_logs {
        assert!(files(&logs.join("version-2")).iter().any(|n| n.starts_with("log.")), "ZooKeeper logged elsewhere");
        assert!(!files(&zk_data.join("version-2")).iter().any(|n| n.starts_with("log.")));
        args.extend(["--zk-log-dir", s(logs)]);
    }
    let imported = paddock_json(&args);
    assert!(imported["digests_checked"].as_u64().unwrap_or(0) > 0, "{imported:#}");
    assert_eq!(imported["sessions"], 1, "the writer's session stays open, the other one closed: {imported:#}");
    assert_eq!(imported["ephemerals"], 2, "{imported:#}");
    assert_eq!(
        imported["node_count"].as_u64(),
        Some(expected.as_object().map_or(0, |o| o.len() as u64) + 1),
        "{imported:#}"
    );
    let mut server = PaddockProcess::start_in(&imported_dir, &[]).expect("Paddock starts on the import");
    assert_same_tree(&expected, &kazoo(&server.addr(), "dump", &[]), "Paddock after the import");
    let id = session["session_id"].as_i64().expect("session id").to_string();
    let passwd = session["passwd"].as_str().expect("password");
    let resumed = kazoo(&server.addr(), "reconnect", &[&id, passwd]);
    assert_eq!(resumed["same_session"], true, "ZooKeeper's session resumes on Paddock: {resumed}");
    assert_eq!(resumed["owner"].as_i64().map(|o| o.to_string()), Some(id.clone()));
    server.terminate().expect("Paddock stops");

    // Paddock → ZooKeeper.
    let exported_dir = work.path().join("exported");
    let compression = if method.is_empty() { "none" } else { method };
    let exported = paddock_json(&[
        "export",
        "zookeeper",
        "--data-dir",
        s(&imported_dir),
        "--to",
        s(&exported_dir),
        "--compression",
        compression,
    ]);
    let written = files(&exported_dir.join("version-2"));
    let name = format!("snapshot.{}{extension}", exported["zxid"].as_str().expect("zxid").trim_start_matches("0x"));
    assert_eq!(written, vec!["acceptedEpoch".to_string(), "currentEpoch".to_string(), name], "{exported:#}");
    let zk = zookeeper_in(&exported_dir, method, "100000");
    assert_same_tree(&expected, &kazoo(&zk.addr(), "dump", &[]), "ZooKeeper on the export");
    let mntr = four_letter_word(&zk.addr(), "mntr").expect("mntr");
    assert!(mntr.contains("zk_digest_mismatches_count\t0"), "{mntr}");
    let log = zk.log();
    assert!(
        log.contains("The digest in the snapshot has digest version of 2"),
        "ZooKeeper did not read the digest:\n{log}"
    );
    assert!(!log.contains("Digests are not matching"), "{log}");
    imported
}

#[test]
fn zookeeper_plain_snapshots_round_trip_through_paddock_and_back() {
    round_trip("", 300, false, |_| {});
}

#[test]
fn zookeeper_gz_snapshots_round_trip_through_paddock_and_back() {
    round_trip("gz", 300, false, |_| {});
}

#[test]
fn zookeeper_snappy_snapshots_with_a_separate_log_dir_round_trip_through_paddock_and_back() {
    round_trip("snappy", 300, true, |_| {});
}

/// ZooKeeper run with `zookeeper.digest.enabled=false` (and so like 3.5 and older) writes snapshots
/// without the digest trailer and logs without digests: they import all the same, with nothing to compare.
#[test]
fn zookeeper_data_written_without_digests_imports() {
    let work = tempfile::tempdir().expect("temp dir");
    let zk_data = work.path().join("zookeeper");
    let flags = ["-Dzookeeper.digest.enabled=false", "-Dzookeeper.preAllocSize=64"];
    let cfg = [("dataDir", s(&zk_data)), ("snapCount", "100"), ("maxSessionTimeout", "120000")];
    let zk = ZooKeeperProcess::start_with_jvm_flags(&cfg, &flags).expect("Apache ZooKeeper starts");
    kazoo(&zk.addr(), "write", &[]);
    kazoo(&zk.addr(), "load", &["300"]);
    let expected = kazoo(&zk.addr(), "dump", &[]);
    drop(zk);
    let imported_dir = work.path().join("paddock");
    let imported = paddock_json(&["import", "zookeeper", "--zk-data-dir", s(&zk_data), "--data-dir", s(&imported_dir)]);
    assert_eq!((imported["digests_checked"].as_u64(), &imported["snapshot_digest_zxid"]), (Some(0), &Value::Null));
    let server = PaddockProcess::start_in(&imported_dir, &[]).expect("Paddock starts on the import");
    assert_same_tree(&expected, &kazoo(&server.addr(), "dump", &[]), "Paddock after the import");
}

/// Snapshots taken while 5,000 writes stream in: the newest is fuzzy (its digest is of a later zxid than
/// its name's), so the import replays the logs over it, as ZooKeeper does, and checks the digests once the
/// replay has caught up. The newest snapshot is set aside (ZooKeeper may have taken it with nothing after
/// it), and so is any newer one that happens not to be fuzzy: the newest left is fuzzy, with more logs
/// after it.
#[test]
fn a_fuzzy_newest_snapshot_is_replayed_over_with_the_digests_checked() {
    let mut newest_fuzzy = None;
    let imported = round_trip("", 5000, false, |version_2| {
        let mut snapshots: Vec<SnapshotFile> =
            files(version_2).iter().filter_map(|name| SnapshotFile::from_path(&version_2.join(name))).collect();
        snapshots.sort_by_key(|f| std::cmp::Reverse(f.zxid));
        let fuzzy = snapshots.iter().skip(1).position(|f| {
            let read = snapshot::read(f, &mut || {}).expect("ZooKeeper's snapshot reads");
            read.digest.is_some_and(|d| d.zxid > f.zxid)
        });
        let fuzzy = 1 + fuzzy.expect("no snapshot taken under load is fuzzy");
        for newer in &snapshots[..fuzzy] {
            std::fs::remove_file(&newer.path).expect("set a newer snapshot aside");
        }
        let logs = files(version_2).into_iter().filter(|n| n.starts_with("log.")).count();
        assert!(snapshots.len() - fuzzy >= 3 && logs >= 3, "{} snapshots, {logs} logs", snapshots.len() - fuzzy);
        newest_fuzzy = Some(snapshots[fuzzy].path.display().to_string());
    });
    assert_eq!(imported["snapshot"].as_str(), newest_fuzzy.as_deref(), "{imported:#}");
    let zxid = |key: &str| i64::from_str_radix(imported[key].as_str().unwrap_or("").trim_start_matches("0x"), 16).ok();
    assert!(zxid("snapshot_digest_zxid") > zxid("snapshot_zxid"), "{imported:#}");
    assert!(zxid("zxid") > zxid("snapshot_digest_zxid"), "the logs go on after the snapshot's digest: {imported:#}");
    assert!(
        imported["txns_replayed"].as_u64().unwrap_or(0) > 0
            && imported["logs"].as_array().is_some_and(|l| l.len() >= 2)
    );
}

/// An export loads into every member of a 3-server ZooKeeper ensemble: the members elect a leader, serve
/// the tree Paddock served, and find its digest right.
#[test]
fn a_paddock_export_loads_into_every_member_of_a_zookeeper_ensemble() {
    let work = tempfile::tempdir().expect("temp dir");
    let paddock_dir = work.path().join("paddock");
    let mut server =
        PaddockProcess::start_in(&paddock_dir, &[("extendedTypesEnabled", "true")]).expect("Paddock starts");
    kazoo(&server.addr(), "write", &[]);
    let expected = kazoo(&server.addr(), "dump", &[]);
    server.terminate().expect("Paddock stops");
    let exported = work.path().join("exported");
    let summary = paddock_json(&[
        "export",
        "zookeeper",
        "--data-dir",
        s(&paddock_dir),
        "--to",
        s(&exported),
        "--compression",
        "snappy",
    ]);
    assert_eq!(summary["sessions"], 1, "{summary:#}");
    let members: Vec<PathBuf> = (1..=3).map(|i| work.path().join(format!("zk{i}"))).collect();
    for member in &members {
        copy_dir(&exported, member);
    }
    let dirs: Vec<&Path> = members.iter().map(PathBuf::as_path).collect();
    let ensemble = ZooKeeperProcess::start_ensemble(&dirs, &[]).expect("the ensemble starts on the export");
    let expected = without_config(expected);
    for zk in &ensemble {
        let served = without_config(kazoo(&zk.addr(), "dump", &[]));
        assert_same_tree(&expected, &served, "a ZooKeeper ensemble member on the export");
        let mntr = four_letter_word(&zk.addr(), "mntr").expect("mntr");
        assert!(mntr.contains("zk_digest_mismatches_count\t0"), "{mntr}");
    }
}

/// Removes `/zookeeper/config` from a dump: an ensemble keeps its membership there.
fn without_config(mut dump: Value) -> Value {
    if let Some(nodes) = dump.as_object_mut() {
        nodes.remove("/zookeeper/config");
    }
    dump
}

/// The 3-server migration of docs/migration.md: the same ZooKeeper data imported with each member's
/// zoo.cfg; the members agree on the digest before they start, elect a leader, serve ZooKeeper's tree, and a
/// client of ZooKeeper's resumes its session on the ensemble.
#[test]
fn zookeeper_data_imported_into_every_member_of_a_paddock_ensemble() {
    let work = tempfile::tempdir().expect("temp dir");
    let zk_data = work.path().join("zookeeper");
    let zk = zookeeper_in(&zk_data, "gz", "100");
    let session = kazoo(&zk.addr(), "write", &[]);
    let expected = without_config(kazoo(&zk.addr(), "dump", &[]));
    drop(zk);
    let mut ensemble = paddock_testkit::Ensemble::start(3, 0).expect("ensemble starts");
    let mut digests = Vec::new();
    for i in 0..3 {
        ensemble.terminate(i).expect("stop the member");
        let data = ensemble.members[i].data_dir().to_path_buf();
        for entry in std::fs::read_dir(&data).expect("list").flatten() {
            if entry.file_name() != "myid" {
                let _ = std::fs::remove_dir_all(entry.path()).or_else(|_| std::fs::remove_file(entry.path()));
            }
        }
        let config = ensemble.members[i].config_path().to_path_buf();
        let imported = paddock_json(&[
            "import",
            "zookeeper",
            "--zk-data-dir",
            s(&zk_data),
            "--config",
            s(&config),
            "--data-dir",
            s(&data),
        ]);
        digests.push(imported["digest"].clone());
    }
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
    for i in 0..3 {
        ensemble.restart(i).expect("start the imported member");
    }
    ensemble.leader().expect("the imported members elect a leader");
    ensemble.converged().expect("one digest");
    for member in &ensemble.members {
        let served = without_config(kazoo(&member.addr(), "dump", &[]));
        assert_same_tree(&expected, &served, &format!("Paddock member {}", member.id));
    }
    let id = session["session_id"].as_i64().expect("session id").to_string();
    let passwd = session["passwd"].as_str().expect("password");
    let resumed = kazoo(&ensemble.connect_string(), "reconnect", &[&id, passwd]);
    assert_eq!(resumed["same_session"], true, "{resumed}");
}

/// Export from a backup target at a restore point (`--zxid`) and at its latest: ZooKeeper serves exactly
/// the tree Paddock served at each point. (`--time` needs an archived log after the point: the next test.)
#[test]
fn a_backup_is_exported_at_a_restore_point_and_at_its_latest() {
    let work = tempfile::tempdir().expect("temp dir");
    let target = work.path().join("target");
    let mut server = PaddockProcess::start_in(&work.path().join("paddock"), &[("extendedTypesEnabled", "true")])
        .expect("Paddock starts");
    kazoo(&server.addr(), "load", &["200"]);
    let first = kazoo(&server.addr(), "dump", &[]);
    server.terminate().expect("stop");
    let data_dir = server.data_dir.clone();
    let backup = || paddock_json(&["backup", "create", "--data-dir", s(&data_dir), "--to", s(&target)]);
    let created = backup();
    let zxid = created["zxid"].clone();
    server.restart().expect("restart");
    kazoo(&server.addr(), "write", &[]);
    let latest = kazoo(&server.addr(), "dump", &[]);
    server.terminate().expect("stop");
    backup();

    let zxid = zxid.as_i64().expect("zxid").to_string();
    for (point, expected) in [(vec!["--zxid", zxid.as_str()], &first), (vec![], &latest)] {
        let out = work.path().join(format!("exported-{}", point.join("")));
        let mut args = vec!["export", "zookeeper", "--from", s(&target), "--to", s(&out)];
        args.extend(point.iter().copied());
        let exported = paddock_json(&args);
        let zk = zookeeper_in(&out, "", "100000");
        assert_same_tree(
            expected,
            &kazoo(&zk.addr(), "dump", &[]),
            &format!("ZooKeeper on the export {point:?} ({exported})"),
        );
    }
}

/// Export at a moment (`--time`) from a target a server archives its log into: ZooKeeper serves the tree as
/// it was then, neither the writes before it missing nor the ones after it present.
#[test]
fn an_archived_log_is_exported_at_a_moment() {
    let work = tempfile::tempdir().expect("temp dir");
    let target = work.path().join("target");
    let config = [
        ("extendedTypesEnabled", "true"),
        ("paddock.backup.target", s(&target)),
        ("paddock.backup.archiveInterval", "200ms"),
    ];
    let mut server = PaddockProcess::start_in(&work.path().join("paddock"), &config).expect("Paddock starts");
    server.terminate().expect("stop");
    let data_dir = server.data_dir.clone();
    paddock_json(&["backup", "create", "--data-dir", s(&data_dir), "--to", s(&target)]);
    server.restart().expect("restart");
    kazoo(&server.addr(), "load", &["100"]);
    let before = kazoo(&server.addr(), "dump", &[]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let moment = Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%S.%3NZ"]).output().expect("date");
    let moment = String::from_utf8_lossy(&moment.stdout).trim().to_string();
    std::thread::sleep(std::time::Duration::from_millis(300));
    kazoo(&server.addr(), "write", &[]);
    // The archive catches up within its interval; until then the moment is refused as not covered yet.
    let out = work.path().join("exported");
    let args = ["export", "zookeeper", "--from", s(&target), "--time", &moment, "--to", s(&out), "--json"];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let exported = loop {
        let (ok, stdout, stderr) = paddock(&args);
        if ok {
            break stdout;
        }
        assert!(stderr.contains("may not have been archived"), "{stderr}");
        assert!(!out.exists(), "a refused export left {}", out.display());
        assert!(std::time::Instant::now() < deadline, "the archive never covered {moment}: {stderr}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    server.terminate().expect("stop");
    let zk = zookeeper_in(&out, "", "100000");
    assert_same_tree(
        &before,
        &kazoo(&zk.addr(), "dump", &[]),
        &format!("ZooKeeper on the export at {moment} ({exported})"),
    );
}

/// The end of a log's content: the byte after the last non-zero one (the rest is pre-allocated zeros).
fn content_len(log: &Path) -> usize {
    let bytes = std::fs::read(log).expect("read log");
    bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1)
}

/// An offset a few bytes into the middle entry of a log.
fn inside_an_entry(log: &Path) -> u64 {
    let file = paddock_zkformat::txnlog::LogFile::from_path(log).expect("a log name");
    let mut reader = paddock_zkformat::txnlog::LogReader::open(&file).expect("ZooKeeper's log opens");
    let mut offsets = Vec::new();
    while let Some((offset, _)) = reader.next_txn().expect("ZooKeeper's log reads") {
        offsets.push(offset);
    }
    assert!(offsets.len() >= 2, "{} holds {} entries", log.display(), offsets.len());
    offsets[offsets.len() / 2] + 5
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("version-2")).expect("mkdir");
    for name in files(&from.join("version-2")) {
        std::fs::copy(from.join("version-2").join(&name), to.join("version-2").join(&name)).expect("copy");
    }
}

/// Foreign, damaged and unsupported input, and a destination that holds data: one line naming the
/// problem, a non-zero exit, and no destination directory left behind. A torn tail at the very end of
/// the history is what a crash leaves: accepted, as ZooKeeper accepts it, and reported.
#[test]
fn bad_zookeeper_input_is_refused_in_one_line_with_nothing_written() {
    let work = tempfile::tempdir().expect("temp dir");
    let zk_data = work.path().join("zookeeper");
    let zk = zookeeper_in(&zk_data, "", "10");
    kazoo(&zk.addr(), "write", &[]);
    drop(zk);
    let out = work.path().join("out");
    let import = |dir: &Path| -> Vec<String> {
        ["import", "zookeeper", "--zk-data-dir", s(dir), "--data-dir", s(&out)].iter().map(|a| a.to_string()).collect()
    };
    let run = |args: Vec<String>, expected: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let message = refused(&args, expected);
        assert!(!out.exists(), "{} was left behind after: {message}", out.display());
        message
    };

    // Not ZooKeeper's: an empty directory, a Paddock data directory.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    run(import(&empty), "not a ZooKeeper data directory");
    let paddock_dir = work.path().join("paddock");
    paddock_json(&["import", "zookeeper", "--zk-data-dir", s(&zk_data), "--data-dir", s(&paddock_dir)]);
    run(import(&paddock_dir), "not a ZooKeeper data directory");

    let logs = |dir: &Path| -> Vec<PathBuf> {
        let v2 = dir.join("version-2");
        let mut logs: Vec<paddock_zkformat::txnlog::LogFile> =
            files(&v2).iter().filter_map(|n| paddock_zkformat::txnlog::LogFile::from_path(&v2.join(n))).collect();
        logs.sort_by_key(|l| l.zxid);
        logs.into_iter().map(|l| l.path).collect()
    };
    // Only the first snapshot kept, so that every log is replayed.
    let only_first_snapshot = |dir: &Path| {
        for name in files(&dir.join("version-2")).iter().filter(|n| n.starts_with("snapshot.") && *n != "snapshot.0") {
            std::fs::remove_file(dir.join("version-2").join(name)).expect("rm");
        }
    };

    // A log cut short in the middle of the history: the next log shows what is missing.
    let cut = work.path().join("cut");
    copy_dir(&zk_data, &cut);
    only_first_snapshot(&cut);
    let all = logs(&cut);
    assert!(all.len() >= 3, "ZooKeeper wrote {} logs", all.len());
    let first = &all[0];
    let keep = inside_an_entry(first);
    std::fs::OpenOptions::new().write(true).open(first).expect("open").set_len(keep).expect("truncate");
    let message = run(import(&cut), "are missing");
    let next_name = all[1].file_name().expect("name").to_string_lossy().into_owned();
    assert!(message.contains(&next_name) && message.contains("log.1 ends torn at offset"), "{message}");

    // The same cut at the end of the last log: a crash's torn tail, ignored as ZooKeeper ignores it.
    let torn = work.path().join("torn");
    copy_dir(&zk_data, &torn);
    only_first_snapshot(&torn);
    let last = logs(&torn).pop().expect("a log");
    let keep = content_len(&last) - 3;
    std::fs::OpenOptions::new().write(true).open(&last).expect("open").set_len(keep as u64).expect("truncate");
    let torn_out = work.path().join("torn-out");
    let imported = paddock_json(&["import", "zookeeper", "--zk-data-dir", s(&torn), "--data-dir", s(&torn_out)]);
    assert_eq!(imported["torn_tails"].as_array().map(Vec::len), Some(1), "{imported:#}");

    // A damaged entry inside a log: its checksum fails, named with the file and the entry's offset.
    let flipped = work.path().join("flipped");
    copy_dir(&zk_data, &flipped);
    only_first_snapshot(&flipped);
    let first = &logs(&flipped)[0];
    let mut bytes = std::fs::read(first).expect("read");
    bytes[16 + 12 + 10] ^= 0x01;
    std::fs::write(first, bytes).expect("write");
    let message = run(import(&flipped), "CRC check failed for the entry at offset 16");
    assert!(message.contains("log.1"), "{message}");

    // An unsupported snapshot format version.
    let version = work.path().join("version");
    copy_dir(&zk_data, &version);
    only_first_snapshot(&version);
    let snap = version.join("version-2/snapshot.0");
    let mut bytes = std::fs::read(&snap).expect("read");
    bytes[4..8].copy_from_slice(&3i32.to_be_bytes());
    std::fs::write(&snap, bytes).expect("write");
    run(import(&version), "snapshot format version 3 is not supported");

    // A destination that holds something.
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("keep-me"), b"x").expect("write");
    let args = import(&zk_data);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(&args, "is not empty");
    assert_eq!(files(&out), vec!["keep-me".to_string()]);

    // Export: a destination that holds something, and a source that is not a Paddock data directory.
    refused(&["export", "zookeeper", "--data-dir", s(&paddock_dir), "--to", s(&out)], "is not empty");
    let nowhere = work.path().join("nowhere");
    for point in [["--zxid", "5"], ["--time", "2026-12-01T00:00:00Z"]] {
        let mut args = vec!["export", "zookeeper", "--data-dir", s(&paddock_dir), "--to", s(&nowhere)];
        args.extend(point);
        let (ok, _, stderr) = paddock(&args);
        assert!(!ok && stderr.contains("cannot be used with"), "a restore point without --from: {stderr}");
    }
    refused(&["export", "zookeeper", "--data-dir", s(&empty), "--to", s(&nowhere)], "holds no Paddock data");
    assert!(!nowhere.exists());
}
