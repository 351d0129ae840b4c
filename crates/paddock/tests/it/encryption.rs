//! Encrypted backups as operators run them (`--encryption-key-file`, `paddock.backup.encryptionKeyFile`):
//! a backup restores with its key and only with it; a missing or wrong key, or a key file of the wrong
//! size, is one line naming the key id or the file; `paddock backup rekey` moves a target to a new key; a
//! server archiving with a key leaves an archive that restores to its latest write.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use paddock_testkit::PaddockProcess;

use crate::archive::{connect, persistent, refused_start};
use crate::backup::{paddock as paddock_in, paddock_json as paddock_json_in};

/// Runs `paddock <args>`: (success, stdout, stderr).
fn paddock(args: &[&str]) -> (bool, String, String) {
    paddock_in(args, &[])
}

/// `paddock <args> --json` that must succeed: its JSON output.
fn paddock_json(args: &[&str]) -> serde_json::Value {
    paddock_json_in(args, &[])
}

/// `paddock <args>` that must fail: its one error line, which must name every one of `wanted`.
fn refused(args: &[&str], wanted: &[&str]) -> String {
    let (ok, stdout, stderr) = paddock(args);
    assert!(!ok, "paddock {args:?} succeeded:\n{stdout}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "paddock {args:?} did not fail on one line:\n{stderr}");
    for want in wanted {
        assert!(lines[0].contains(want), "{:?} does not name {want:?}", lines[0]);
    }
    lines[0].to_string()
}

/// A new random key file (64 hex digits) and its id as the tool reports it.
fn key_file(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    std::fs::write(&path, rand::random::<[u8; 32]>()).expect("write the key file");
    let id = paddock_backup::encryption::Key::load(&path).expect("a key").id().to_string();
    (path, id)
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Every file under `dir` (a local target's objects).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() { pending.push(path) } else { files.push(path) }
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_backup_restores_with_its_key_only_and_rekey_moves_it_to_a_new_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (old, old_id) = key_file(dir.path(), "old.key");
    let (new, new_id) = key_file(dir.path(), "new.key");
    let short = dir.path().join("short.key");
    std::fs::write(&short, [1u8; 20]).expect("write");
    let target = dir.path().join("target");
    let t = text(&target);

    let mut server = PaddockProcess::start().expect("server starts");
    let client = connect(&server.addr()).await;
    client.create("/secret", b"the plaintext no bucket reader sees", &persistent()).await.expect("create");
    for i in 0..100 {
        client.create(&format!("/secret-{i}"), &[i as u8; 200], &persistent()).await.expect("create");
    }
    drop(client);
    server.terminate().expect("stop");
    let data = text(&server.data_dir).to_string();

    refused(
        &["backup", "create", "--data-dir", &data, "--to", t, "--encryption-key-file", text(&short)],
        &[text(&short), "20 bytes"],
    );
    let created =
        paddock_json(&["backup", "create", "--data-dir", &data, "--to", t, "--encryption-key-file", text(&old)]);
    for file in files_under(&target) {
        let stored = std::fs::read(&file).expect("read");
        assert!(stored.starts_with(b"PDKCRYPT"), "{} is not encrypted", file.display());
        assert!(!stored.windows(13).any(|w| w == b"the plaintext"), "{} shows the plaintext", file.display());
    }

    // Without the key, or with another one: one line naming the key the backup needs.
    refused(&["backup", "list", "--target", t], &[&old_id, "no --encryption-key-file holds it"]);
    refused(&["backup", "verify", "--target", t, "--encryption-key-file", text(&new)], &[&old_id, &new_id]);
    let out = dir.path().join("no-key");
    refused(&["restore", "--from", t, "--data-dir", text(&out)], &[&old_id]);
    assert!(!out.exists(), "a failed restore left {} behind", out.display());

    let listed = paddock_json(&["backup", "list", "--target", t, "--encryption-key-file", text(&old)]);
    assert_eq!(listed["clusters"][0]["snapshots"][0]["encryption"], old_id.as_str(), "{listed}");
    let verified = paddock_json(&["backup", "verify", "--target", t, "--encryption-key-file", text(&old)]);
    assert_eq!((verified["sound"].as_i64(), verified["problems"].as_array().map(Vec::len)), (Some(1), Some(0)));

    let rekeyed = paddock_json(&[
        "backup",
        "rekey",
        "--target",
        t,
        "--encryption-key-file",
        text(&new),
        "--encryption-key-file",
        text(&old),
    ]);
    assert_eq!(rekeyed["key_id"], new_id.as_str(), "{rekeyed}");
    assert_eq!(rekeyed["rekeyed"], rekeyed["objects"], "{rekeyed}");
    let out = dir.path().join("old-key");
    refused(&["restore", "--from", t, "--data-dir", text(&out), "--encryption-key-file", text(&old)], &[&new_id]);
    assert!(!out.exists());

    let out = dir.path().join("restored");
    let restored =
        paddock_json(&["restore", "--from", t, "--data-dir", text(&out), "--encryption-key-file", text(&new)]);
    assert_eq!(restored["zxid"], created["zxid"], "{restored}");
    let mut restored_server = PaddockProcess::start_in(&out, &[]).expect("a server on the restored data");
    let client = connect(&restored_server.addr()).await;
    let (data, _) = client.get_data("/secret").await.expect("read");
    assert_eq!(data, b"the plaintext no bucket reader sees");
    assert_eq!(client.get_data("/secret-99").await.expect("read").0, vec![99u8; 200]);
    drop(client);
    restored_server.terminate().expect("stop");

    // History and snapshot diff read the target with the key too.
    let zxid = created["zxid"].as_i64().expect("zxid").to_string();
    let (ok, stdout, stderr) =
        paddock(&["history", "get", "--from", t, "--zxid", &zxid, "/secret", "--encryption-key-file", text(&new)]);
    assert!(ok && stdout.contains("the plaintext no bucket reader sees"), "{stdout}{stderr}");
    refused(&["history", "get", "--from", t, "--zxid", &zxid, "/secret"], &[&new_id]);
    let latest = format!("{t}@latest");
    let (ok, _, stderr) = paddock(&["snapshot", "diff", &latest, &latest, "--encryption-key-file", text(&new)]);
    assert!(ok, "{stderr}");
    refused(&["snapshot", "diff", &latest, &latest], &[&new_id]);

    let zk_out = dir.path().join("zookeeper");
    let exported =
        paddock_json(&["export", "zookeeper", "--from", t, "--to", text(&zk_out), "--encryption-key-file", text(&new)]);
    assert_eq!(exported["node_count"], created["node_count"], "{exported}");
    assert_eq!(exported["zxid"], format!("0x{:x}", created["zxid"].as_i64().expect("zxid")), "{exported}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_archiving_with_a_key_leaves_an_encrypted_archive_that_restores_to_its_latest_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (key, key_id) = key_file(dir.path(), "archive.key");
    let (spare, _) = key_file(dir.path(), "spare.key");
    let target = dir.path().join("target");
    let t = text(&target).to_string();
    let keys = format!("{},{}", text(&key), text(&spare));
    let mut server = PaddockProcess::start_with(&[
        ("paddock.backup.target", &t),
        ("paddock.backup.archiveInterval", "200ms"),
        ("paddock.backup.encryptionKeyFile", &keys),
    ])
    .expect("server starts");
    let client = connect(&server.addr()).await;
    let mut last = 0;
    for i in 0..150 {
        let (stat, _) =
            client.create(&format!("/a{i}"), format!("v{i}").as_bytes(), &persistent()).await.expect("create");
        last = stat.czxid;
    }
    client.set_data("/a7", b"changed", None).await.expect("set");
    let last = last + 1;

    // The archive catches up with the last write (as listed with the key).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ok, stdout, _) =
            paddock(&["backup", "list", "--target", &t, "--encryption-key-file", text(&key), "--json"]);
        let reached = ok
            .then(|| serde_json::from_str::<serde_json::Value>(&stdout).ok())
            .flatten()
            .and_then(|v| v["clusters"][0]["log_ranges"].as_array()?.last()?["last"].as_i64());
        if reached.is_some_and(|z| z >= last) {
            break;
        }
        assert!(Instant::now() < deadline, "the archive did not reach zxid {last}: {stdout}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(client);
    server.terminate().expect("stop");
    for file in files_under(&target) {
        assert!(std::fs::read(&file).expect("read").starts_with(b"PDKCRYPT"), "{} is not encrypted", file.display());
    }

    let out = dir.path().join("no-key");
    refused(&["restore", "--from", &t, "--data-dir", text(&out)], &[&key_id]);
    let out = dir.path().join("restored");
    let restored =
        paddock_json(&["restore", "--from", &t, "--data-dir", text(&out), "--encryption-key-file", text(&key)]);
    // The latest archived write, or the session's close after it.
    assert!(restored["zxid"].as_i64().is_some_and(|z| z >= last), "{restored}, last write {last}");
    let mut restored_server = PaddockProcess::start_in(&out, &[]).expect("a server on the restored data");
    let client = connect(&restored_server.addr()).await;
    assert_eq!(client.get_data("/a7").await.expect("read").0, b"changed");
    assert_eq!(client.get_data("/a149").await.expect("read").0, b"v149");
    drop(client);
    restored_server.terminate().expect("stop");
}

/// In S3 (moto) as in a directory: encrypted objects, verify with the key, rekey's replacing PUTs, and a
/// restore with only the new key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_backup_in_s3_is_verified_rekeyed_and_restored() {
    let s3 = paddock_testkit::S3Server::start().expect("moto's S3 server starts");
    let env = s3.env();
    let dir = tempfile::tempdir().expect("temp dir");
    let (old, old_id) = key_file(dir.path(), "old.key");
    let (new, new_id) = key_file(dir.path(), "new.key");
    let mut server = PaddockProcess::start().expect("server starts");
    let client = connect(&server.addr()).await;
    for i in 0..50 {
        client.create(&format!("/s3-{i}"), &[i as u8; 300], &persistent()).await.expect("create");
    }
    drop(client);
    server.terminate().expect("stop");
    let (url, data) = (s3.url("encrypted"), text(&server.data_dir).to_string());
    let key_old = ["--encryption-key-file", text(&old)];
    let created =
        paddock_json_in(&[&["backup", "create", "--data-dir", &data, "--to", &url], &key_old[..]].concat(), &env);
    let verified = paddock_json_in(&[&["backup", "verify", "--target", &url], &key_old[..]].concat(), &env);
    assert_eq!(verified["sound"], 1, "{verified}");
    let (ok, _, stderr) = paddock_in(&["backup", "list", "--target", &url], &env);
    assert!(!ok && stderr.contains(&old_id), "{stderr}");

    let rekey = ["backup", "rekey", "--target", &url, "--encryption-key-file", text(&new), "--encryption-key-file"];
    let rekeyed = paddock_json_in(&[&rekey[..], &[text(&old)]].concat(), &env);
    assert_eq!(
        (rekeyed["key_id"].as_str(), rekeyed["rekeyed"].as_u64()),
        (Some(new_id.as_str()), Some(2)),
        "{rekeyed}"
    );
    let out = dir.path().join("restored");
    let restored = paddock_json_in(
        &["restore", "--from", &url, "--data-dir", text(&out), "--encryption-key-file", text(&new)],
        &env,
    );
    assert_eq!(restored["zxid"], created["zxid"], "{restored}");
    let (ok, _, stderr) = paddock_in(&[&["backup", "verify", "--target", &url], &key_old[..]].concat(), &env);
    assert!(!ok && stderr.contains(&new_id), "{stderr}");
}

#[test]
fn a_bad_archive_key_file_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let short = dir.path().join("short.key");
    std::fs::write(&short, b"0123").expect("write");
    let target = dir.path().join("target");
    let stderr = refused_start(&format!(
        "paddock.backup.target={}\npaddock.backup.encryptionKeyFile={}",
        target.display(),
        short.display()
    ));
    let line =
        stderr.lines().find(|l| l.starts_with("paddock: ")).unwrap_or_else(|| panic!("no error line:\n{stderr}"));
    for want in ["paddock.backup.encryptionKeyFile", &short.display().to_string(), "4 bytes"] {
        assert!(line.contains(want), "{line:?} does not name {want:?}");
    }
}
