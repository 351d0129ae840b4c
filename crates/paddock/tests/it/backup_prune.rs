//! `paddock backup prune` as operators run it: backups taken between writes, pruned to the newest (a dry
//! run first, which deletes nothing), after which the target still verifies and restores; bad input gets
//! one line naming it and deletes nothing.

use std::process::Command;
use std::time::{Duration, SystemTime};

use paddock_testkit::PaddockProcess;
use zookeeper_client as zk;

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

async fn connect(addr: &str) -> zk::Client {
    zk::Client::connector().with_session_timeout(Duration::from_secs(30)).connect(addr).await.expect("client connects")
}

/// Runs `paddock <args>`: (success, stdout, stderr).
fn paddock(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_paddock")).args(args).output().expect("run paddock");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// `paddock <args> --json` that must succeed: its JSON output.
fn paddock_json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (ok, stdout, stderr) = paddock(&all);
    assert!(ok, "paddock {args:?} failed:\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("paddock {args:?} printed no JSON ({e}):\n{stdout}"))
}

fn keys(value: &serde_json::Value) -> Vec<String> {
    let objects = value.as_array().expect("an array of objects");
    objects.iter().map(|o| o["key"].as_str().expect("key").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_the_newest_backup_which_still_verifies_and_restores() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("target");
    let t = target.to_str().expect("utf-8");
    let mut server = PaddockProcess::start().expect("server starts");
    let data_dir = server.data_dir.to_str().expect("utf-8").to_string();
    let client = connect(&server.addr()).await;
    let mut created = Vec::new();
    for round in 0..3 {
        for i in 0..10 {
            let path = format!("/r{round}-{i}");
            client.create(&path, format!("{round}").as_bytes(), &persistent()).await.expect("create");
        }
        created.push(paddock_json(&["backup", "create", "--data-dir", &data_dir, "--to", t]));
    }
    drop(client);
    server.terminate().expect("stop");
    let zxids: Vec<i64> = created.iter().map(|c| c["zxid"].as_i64().expect("zxid")).collect();
    assert!(zxids.windows(2).all(|w| w[0] < w[1]), "three backups at three zxids: {zxids:?}");
    let older: Vec<String> = created[..2]
        .iter()
        .flat_map(|c| [c["manifest_key"].as_str(), c["snapshot_key"].as_str()])
        .map(|k| k.expect("key").to_string())
        .collect();

    let prune = ["backup", "prune", "--target", t, "--keep-last", "1", "--grace", "0s"];
    let dry = paddock_json(&[&prune[..], &["--dry-run"]].concat());
    assert_eq!(dry["dry_run"], true);
    assert_eq!(keys(&dry["deleted"]), older, "manifest before snapshot, oldest backup first");
    assert!(older.iter().all(|k| target.join(k).exists()), "the dry run deleted something");
    let (ok, text, _) = paddock(&[&prune[..], &["--dry-run"]].concat());
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("would delete ")).collect();
    assert!(ok && lines.len() == 4, "one line per object:\n{text}");
    assert!(
        lines.iter().zip(&older).all(|(line, key)| line.contains(key.as_str()) && line.contains("outside the policy"))
    );

    let sizes: u64 = older.iter().map(|k| std::fs::metadata(target.join(k)).expect("an old object").len()).sum();
    let pruned = paddock_json(&prune);
    assert_eq!(pruned["dry_run"], false);
    assert_eq!(pruned["deleted"], dry["deleted"], "the real run deleted other objects than the dry run listed");
    let kept: Vec<i64> = pruned["clusters"][0]["kept"]
        .as_array()
        .expect("kept")
        .iter()
        .map(|k| k["zxid"].as_i64().expect("zxid"))
        .collect();
    assert_eq!(kept, [zxids[2]]);
    assert_eq!(pruned["bytes_freed"].as_u64(), Some(sizes));
    assert!(older.iter().all(|k| !target.join(k).exists()), "an old backup object is still there");

    let verified = paddock_json(&["backup", "verify", "--target", t]);
    assert_eq!((verified["sound"].as_u64(), verified["problems"].as_array().map(Vec::len)), (Some(1), Some(0)));
    let restored_dir = dir.path().join("restored");
    let restored_to = restored_dir.to_str().expect("utf-8");
    let restored = paddock_json(&["restore", "--from", t, "--latest", "--data-dir", restored_to]);
    assert_eq!(restored["zxid"], zxids[2]);
    let mut restored_server = PaddockProcess::start_in(&restored_dir, &[]).expect("a server on the restored data");
    let client = connect(&restored_server.addr()).await;
    assert_eq!(client.get_data("/r0-0").await.expect("read").0, b"0");
    assert_eq!(client.get_data("/r2-9").await.expect("read").0, b"2");
    restored_server.terminate().expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_refuses_bad_input_with_one_line_and_deletes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("target");
    let t = target.to_str().expect("utf-8");
    // An interrupted upload from a day ago: what any prune that runs deletes.
    let leftover = target.join("0123456789abcdef0123456789abcdef/snapshots/00000000000000000042.snap");
    std::fs::create_dir_all(leftover.parent().expect("parent")).expect("mkdir");
    std::fs::write(&leftover, b"part of a snapshot").expect("write");
    let day_ago = SystemTime::now() - Duration::from_secs(24 * 3600);
    std::fs::File::options().write(true).open(&leftover).expect("open").set_modified(day_ago).expect("mtime");

    let cases: [(&[&str], &[&str]); 5] = [
        (&["--keep-within", "7"], &["--keep-within", "\"7\" is not a duration"]),
        (&["--keep-last", "1", "--grace", "15"], &["--grace", "\"15\" is not a duration"]),
        (&["--keep-last", "0"], &["--keep-last 0 with no --keep-within would delete every backup"]),
        (&[], &["name what to keep"]),
        (&["--keep-last", "1", "--cluster", "prod"], &["\"prod\" is not a cluster id"]),
    ];
    for (extra, named) in cases {
        let args = [&["backup", "prune", "--target", t][..], extra].concat();
        let (ok, stdout, stderr) = paddock(&args);
        assert!(!ok, "paddock {args:?} succeeded:\n{stdout}");
        let message: Vec<&str> =
            stderr.lines().filter(|l| l.starts_with("paddock: ") || l.starts_with("error: ")).collect();
        assert!(
            message.len() == 1 && named.iter().all(|n| message[0].contains(n)),
            "paddock {args:?}: expected one line naming {named:?}, got:\n{stderr}"
        );
        assert!(leftover.exists(), "paddock {args:?} deleted something");
    }
    let pruned = paddock_json(&["backup", "prune", "--target", t, "--keep-last", "1"]);
    assert_eq!(pruned["deleted"][0]["key"], "0123456789abcdef0123456789abcdef/snapshots/00000000000000000042.snap");
    assert!(!leftover.exists());
}
