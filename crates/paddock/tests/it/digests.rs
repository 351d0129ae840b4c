//! State digests in the log (`paddock.digestInterval`, issue 11 point 5): a standalone server writes its
//! state digest into its log every interval, the archive carries those entries, each one is the digest a
//! replay of the archive reaches at its zxid, and `paddock backup verify` checks them.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use paddock_backup::segment::{self, SegmentName};
use paddock_testkit::{PaddockProcess, four_letter_word};
use paddock_tree::{DataTree, Txn, TxnOp, TxnResult};
use zookeeper_client as zk;

const INTERVAL: i64 = 20;
const WRITES: i64 = 200;
/// A hang detector for the archive's catching up with a 200 ms interval.
const CATCH_UP: Duration = Duration::from_secs(30);

/// `mntr` as key → integer value (non-integers left out).
fn mntr(addr: &str) -> BTreeMap<String, i64> {
    let text = four_letter_word(addr, "mntr").expect("mntr answers");
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .filter_map(|(k, v)| Some((k.to_string(), v.trim().parse().ok()?)))
        .collect()
}

fn mntr_key(lines: &BTreeMap<String, i64>, key: &str) -> i64 {
    lines.get(key).copied().unwrap_or_else(|| panic!("no {key} in mntr: {lines:?}"))
}

/// Every archived entry of `cluster` in the target directory, by zxid.
fn archived_entries(target: &std::path::Path, cluster: &str) -> BTreeMap<i64, Vec<u8>> {
    let dir = target.join(cluster).join("wal");
    let mut entries = BTreeMap::new();
    for file in std::fs::read_dir(&dir).expect("the archive's wal directory").filter_map(|e| e.ok()) {
        let key = format!("{cluster}/wal/{}", file.file_name().to_string_lossy());
        let Some((_, name)) = SegmentName::parse(&key) else { continue };
        let bytes = std::fs::read(file.path()).expect("read a segment");
        let decoded = segment::decode(&key, &bytes, &name).unwrap_or_else(|e| panic!("{key} does not decode: {e}"));
        entries.extend(decoded);
    }
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_server_writes_its_digest_into_the_archived_log_and_verify_checks_it() {
    let target = tempfile::Builder::new().prefix("paddock-digests-").tempdir().expect("target dir");
    let target_spec = target.path().display().to_string();
    let server = PaddockProcess::start_with(&[
        ("paddock.digestInterval", "20"),
        ("paddock.backup.target", &target_spec),
        ("paddock.backup.archiveInterval", "200ms"),
    ])
    .expect("server starts");
    let addr = server.addr();
    let cluster = std::fs::read_to_string(server.data_dir.join("paddock/cluster-id")).expect("cluster id");
    let cluster = cluster.trim();

    let client = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .connect(&addr)
        .await
        .expect("client connects");
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    for i in 0..WRITES {
        client.create(&format!("/n{i}"), format!("v{i}").as_bytes(), &persistent).await.expect("create");
    }
    // Wait until the archive holds everything the server applied, the last digest entry included.
    let deadline = Instant::now() + CATCH_UP;
    let (last, lines) = loop {
        let lines = mntr(&addr);
        let last = mntr_key(&lines, "zk_paddock_last_zxid");
        if mntr_key(&lines, "zk_paddock_archive_lag_zxids") == 0
            && mntr_key(&lines, "zk_paddock_archive_last_zxid") == last
            && last > WRITES
        {
            break (last, lines);
        }
        assert!(Instant::now() < deadline, "the archive did not catch up within {CATCH_UP:?}: {lines:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(mntr_key(&lines, "zk_paddock_digest_mismatches"), 0, "{lines:?}");

    // The archive, replayed from zxid 1: every Digest entry names a zxid a few entries back and holds exactly
    // the digest the replay reached there.
    let entries = archived_entries(target.path(), cluster);
    assert_eq!(entries.keys().copied().collect::<Vec<_>>(), (1..=last).collect::<Vec<_>>(), "the whole log");
    let mut tree = DataTree::new();
    let mut digests = Vec::new();
    for (zxid, payload) in &entries {
        let (txn, applied) = tree.apply_entry(*zxid, payload).expect("the archived log applies");
        if let TxnOp::Digest { zxid: named, .. } = txn.op {
            assert_eq!(applied.result, TxnResult::DigestChecked { matches: Some(true) }, "entry {zxid}");
            assert!(named < *zxid && *zxid - named <= 3, "entry {zxid} names zxid {named}: a few entries back");
            assert_eq!(Txn::decode(payload, *zxid).map(|t| t.session_id), Ok(0));
            digests.push(named);
        }
    }
    // One for every multiple of the interval the writes crossed (the digest entries themselves take zxids).
    assert!(digests.len() as i64 >= WRITES / INTERVAL, "digest entries after {digests:?}, log ends at {last}");
    for pair in digests.windows(2) {
        assert_eq!(pair[1] / INTERVAL, pair[0] / INTERVAL + 1, "one digest per interval: {digests:?}");
    }
    assert!(digests[0] >= INTERVAL && digests[0] < 2 * INTERVAL, "the first after zxid {INTERVAL}: {digests:?}");
    assert!(last - digests[digests.len() - 1] < 2 * INTERVAL, "up to the end of the log: {digests:?}, last {last}");

    let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["backup", "verify", "--target", &target_spec, "--json"])
        .output()
        .expect("run paddock");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "verify failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let verified: serde_json::Value = serde_json::from_str(&stdout).expect("verify prints JSON");
    assert_eq!(verified["problems"], serde_json::json!([]), "{verified}");
    assert!(verified["sound"].as_u64().is_some_and(|n| n >= 1), "the base backup is sound: {verified}");
    assert_eq!(mntr_key(&mntr(&addr), "zk_paddock_digest_mismatches"), 0);
}
