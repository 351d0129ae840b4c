//! Continuous archiving in an ensemble and one cluster id per ensemble (issue 11): only the leader archives,
//! and when leadership moves the new leader continues the archive right after its last object, so leader
//! kills leave an archive without gap, overlap or duplicate that holds every acknowledged write, verifies,
//! and restores to a server that serves them; the first leader's cluster id is adopted by every member (its
//! `cluster-id` file and `mntr`), so online backups taken from any member land under that one cluster.
//!
//! In an ensemble the zxid is the Raft log index and some indexes hold no txn (a new leader's blank entry, a
//! joint membership change): an archived object's name gives the range of indexes it covers, its entries
//! are increasing zxids inside that range, possibly with holes, and consecutive objects continue each other
//! by name. The archive is read straight from the target directory (`paddock_backup::segment`), not through
//! the servers.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use paddock_testkit::{Ensemble, EnsembleSpec, Member, PaddockProcess, four_letter_word};

use crate::archive::{
    Acks, base_backups, check_archive, connect, kill_loop_writer, paddock_cli, persistent, segments, target_dir,
};
use crate::kill_loop::{KILL_LOOP_CONFIG, connect_retrying};

/// Hang detector for the archive to catch up with the acknowledged writes after the last leader kill: the
/// new leader lists the target before it uploads, on a loaded 2-core machine.
const CATCH_UP: Duration = Duration::from_secs(60);
/// Hang detector for every member to adopt the ensemble's cluster id once the first write is committed.
const ADOPTION: Duration = Duration::from_secs(30);

/// A member's `<dataDir>/paddock/cluster-id`, trimmed; None while it cannot be read (being rewritten).
fn cluster_id_file(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(data_dir.join("paddock/cluster-id")).ok().map(|text| text.trim().to_string())
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What every member says, for failure messages: its mode, the `mntr` lines about archiving, cluster id
/// and zxids, and the tail of its log.
fn report(ensemble: &Ensemble) -> String {
    let mut out = String::new();
    for member in &ensemble.members {
        let mntr = if member.is_running() {
            four_letter_word(&member.addr(), "mntr").unwrap_or_else(|e| format!("(no mntr: {e})"))
        } else {
            "(down)".to_string()
        };
        let keys: Vec<&str> = mntr
            .lines()
            .filter(|l| {
                ["archive", "cluster_id", "zxid", "server_state", "no mntr", "down"].iter().any(|k| l.contains(k))
            })
            .collect();
        out.push_str(&format!(
            "\n---- server.{} ({}, mode {:?}): {}\n{}\n",
            member.id,
            member.addr(),
            member.srvr_line("Mode:"),
            keys.join("; "),
            tail(&member.log(), 30)
        ));
    }
    out
}

/// The index of the leader once the running members agree on one.
fn leader(ensemble: &Ensemble, when: &str) -> usize {
    tokio::task::block_in_place(|| ensemble.leader()).unwrap_or_else(|e| panic!("{when}: {e}{}", report(ensemble)))
}

/// Waits until every member's `cluster-id` file and `mntr` (`zk_paddock_cluster_id`) name one and the same
/// cluster id: returns it.
fn wait_one_cluster_id(ensemble: &Ensemble) -> String {
    let deadline = Instant::now() + ADOPTION;
    loop {
        let files: Vec<Option<String>> = ensemble.members.iter().map(|m| cluster_id_file(m.data_dir())).collect();
        let mntrs: Vec<Option<String>> = ensemble.members.iter().map(|m| m.mntr("zk_paddock_cluster_id")).collect();
        if let Some(Some(id)) = files.first()
            && files.iter().all(|f| f.as_ref() == Some(id))
            && mntrs.iter().all(|m| m.as_ref() == Some(id))
        {
            assert!(
                id.len() == 32 && id.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
                "a cluster id is 32 lowercase hex digits: {id:?}"
            );
            return id.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the members do not agree on one cluster id within {ADOPTION:?}: files {files:?}, mntr {mntrs:?}{}",
            report(ensemble)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The directories at the root of the target: one per cluster.
fn cluster_dirs(target: &Path) -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(target)
        .expect("list the target")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    dirs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ensemble_archives_through_leader_kills_without_gap_or_duplicate() {
    const ROUNDS: usize = 3;
    const WRITERS: usize = 3;
    let target = target_dir();
    let t = target.path().to_str().expect("utf-8").to_string();
    let mut config: Vec<(&str, &str)> = KILL_LOOP_CONFIG.to_vec();
    config.extend([("paddock.backup.target", t.as_str()), ("paddock.backup.archiveInterval", "300ms")]);
    let mut ensemble = Ensemble::start_spec(&EnsembleSpec { participants: 3, observers: 0, config: &config })
        .expect("ensemble starts");
    leader(&ensemble, "at start");
    let everyone = ensemble.connect_string();
    connect_retrying(&everyone).await.create("/k", b"", &persistent()).await.expect("create /k");

    let acks: Acks = Arc::default();
    let mut killed = Vec::new();
    for round in 0..ROUNDS {
        let leading = leader(&ensemble, &format!("round {round}"));
        let before = acks.lock().unwrap_or_else(PoisonError::into_inner).len();
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|id| tokio::spawn(kill_loop_writer(everyone.clone(), id, round, stop.clone(), acks.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        ensemble.kill9(leading);
        killed.push(ensemble.members[leading].id);
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.await.expect("writer task");
        }
        let acknowledged = acks.lock().unwrap_or_else(PoisonError::into_inner).len() - before;
        assert!(acknowledged > 0, "round {round}: no write acknowledged under the leader{}", report(&ensemble));
        tokio::time::sleep(Duration::from_secs(1)).await;
        ensemble.restart(leading).unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    let acks = std::mem::take(&mut *acks.lock().unwrap_or_else(PoisonError::into_inner));
    let max_acked = acks.iter().map(|(zxid, _, _)| *zxid).max().expect("acknowledged writes");

    // The current leader has archived every acknowledged write, and nothing it knows of is left.
    let deadline = Instant::now() + CATCH_UP;
    let (leading, leader_archived) = loop {
        let leading = leader(&ensemble, "after the kills");
        let member = &ensemble.members[leading];
        let archived = member.mntr("zk_paddock_archive_last_zxid").and_then(|v| v.parse::<i64>().ok());
        let lag = member.mntr("zk_paddock_archive_lag_zxids").and_then(|v| v.parse::<i64>().ok());
        if let (Some(archived), Some(0)) = (archived, lag)
            && archived >= max_acked
        {
            break (leading, archived);
        }
        assert!(
            Instant::now() < deadline,
            "the leader (server.{}) did not archive zxid {max_acked} with lag 0 within {CATCH_UP:?}: archived \
             {archived:?}, lag {lag:?}{}",
            member.id,
            report(&ensemble)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for (i, member) in ensemble.members.iter().enumerate().filter(|(i, _)| *i != leading) {
        let learned = member.mntr("zk_paddock_archive_last_zxid");
        assert!(
            learned.as_deref().is_some_and(|v| v.parse::<i64>().is_ok()),
            "follower server.{} (index {i}) shows zk_paddock_archive_last_zxid: {learned:?}{}",
            member.id,
            report(&ensemble)
        );
    }

    // One cluster: the one every member adopted.
    let cluster = wait_one_cluster_id(&ensemble);
    assert_eq!(cluster_dirs(target.path()), vec![cluster.clone()], "the target holds the ensemble's one cluster");

    // The archive: contiguous by name, every acknowledged write in it, continuing a base backup.
    let (first, archived_last, entries) = check_archive(target.path(), &cluster, false);
    // The base the archived log replays from: a complete backup of this cluster, taken by a leader.
    let deadline = Instant::now() + Duration::from_secs(10);
    while base_backups(target.path(), &cluster).is_empty() {
        assert!(Instant::now() < deadline, "no base backup (manifest) of {cluster} in the target{}", report(&ensemble));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bases = base_backups(target.path(), &cluster);
    assert!(
        first == 1 || bases.iter().any(|base| *base + 1 >= first),
        "the archive starts at 1 or continues a base backup: first {first}, bases {bases:?}"
    );
    assert!(
        archived_last >= leader_archived && archived_last >= max_acked,
        "the archive ends at {archived_last}: the leader reported {leader_archived}, the last acknowledged write \
         is {max_acked}"
    );
    for (zxid, path, _) in &acks {
        let payload = entries.get(zxid).unwrap_or_else(|| panic!("acknowledged {path} (zxid {zxid}) is not archived"));
        assert!(payload.windows(path.len()).any(|w| w == path.as_bytes()), "zxid {zxid} is not the create of {path}");
    }
    eprintln!(
        "ensemble archive: leaders killed {killed:?}, {} acknowledged writes, archive {first}..={archived_last} \
         ({} objects, {} entries), bases {bases:?}",
        acks.len(),
        segments(target.path(), &cluster).len(),
        entries.len()
    );

    // What operators see: sound, one cluster, no gap.
    let verified = paddock_cli(&["backup", "verify", "--target", &t, "--json"]);
    assert_eq!(verified["problems"].as_array().map(Vec::len), Some(0), "{verified}");
    let listed = paddock_cli(&["backup", "list", "--target", &t, "--json"]);
    let clusters = listed["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 1, "{listed}");
    assert_eq!(clusters[0]["cluster_id"], cluster.as_str(), "{listed}");
    let ranges = clusters[0]["log_ranges"].as_array().expect("log ranges");
    assert_eq!(ranges.len(), 1, "one continuous log range, no gap: {listed}");
    assert_eq!(ranges[0]["first"], first, "{listed}");
    assert!(ranges[0]["last"].as_i64() >= Some(archived_last), "{listed}");
    assert!(clusters[0]["snapshots"].as_array().is_some_and(|s| !s.is_empty()), "{listed}");

    // The latest restore point serves every acknowledged write.
    let restored_dir = tempfile::tempdir().expect("temp dir");
    let data = restored_dir.path().join("data");
    let restored =
        paddock_cli(&["restore", "--from", &t, "--data-dir", data.to_str().expect("utf-8"), "--latest", "--json"]);
    assert!(restored["zxid"].as_i64() >= Some(max_acked), "the latest restore point holds every write: {restored}");
    let mut server = PaddockProcess::start_in(&data, &[]).expect("a server on the restored data");
    let client = connect(&server.addr()).await;
    // Requests are sent when called: a chunk of reads goes out at once, answers come back in order.
    for chunk in acks.chunks(256) {
        let reads: Vec<_> = chunk.iter().map(|(_, path, _)| client.get_data(path)).collect();
        for ((zxid, path, _), read) in chunk.iter().zip(reads) {
            let (data, _) = read.await.unwrap_or_else(|e| panic!("acknowledged {path} (zxid {zxid}) restored: {e}"));
            assert_eq!(data, path.as_bytes(), "{path}: data");
        }
    }
    drop(client);
    server.terminate().expect("stop");
}

/// Members share one zoo.cfg: each AdminServer on a port of its own, which its log names.
pub(crate) const ADMIN_ON_FREE_PORTS: &[(&str, &str)] =
    &[("admin.enableServer", "true"), ("admin.serverAddress", "127.0.0.1"), ("admin.serverPort", "0")];

/// A member's AdminServer HOST:PORT, from the line its last start logged.
pub(crate) fn admin_addr(member: &Member) -> String {
    let log = member.log();
    log.lines()
        .rev()
        .find_map(|l| {
            let (_, fields) = l.split_once("started AdminServer")?;
            fields.split_whitespace().find_map(|f| f.strip_prefix("addr=")).map(str::to_string)
        })
        .unwrap_or_else(|| panic!("server.{} logged no AdminServer address:\n{}", member.id, tail(&log, 30)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_of_an_ensemble_has_one_cluster_id_and_backs_up_under_it() {
    let ensemble = Ensemble::start_spec(&EnsembleSpec { participants: 3, observers: 0, config: ADMIN_ON_FREE_PORTS })
        .expect("ensemble starts");
    leader(&ensemble, "at start");
    let client = connect_retrying(&ensemble.connect_string()).await;
    client.create("/one-cluster", b"", &persistent()).await.expect("create");
    let cluster = wait_one_cluster_id(&ensemble);

    let target = target_dir();
    let t = target.path().to_str().expect("utf-8").to_string();
    let mut zxids = Vec::new();
    for (i, member) in ensemble.members.iter().enumerate() {
        // Written through this member, so that its backup holds it: every backup is at another zxid.
        let own = connect_retrying(&member.addr()).await;
        let (stat, _) = own.create(&format!("/b{i}"), b"", &persistent()).await.expect("create");
        let admin = admin_addr(member);
        let created = paddock_cli(&["backup", "create", "--server", &admin, "--auth", "ip", "--to", &t, "--json"]);
        assert_eq!(created["cluster_id"], cluster.as_str(), "server.{} backs up under the ensemble's id", member.id);
        assert_eq!(created["already_present"], false, "{created}");
        let zxid = created["zxid"].as_i64().expect("zxid");
        assert!(zxid >= stat.czxid, "the backup of server.{} holds /b{i} (zxid {}): {created}", member.id, stat.czxid);
        zxids.push(zxid);
    }
    assert!(zxids.windows(2).all(|w| w[0] < w[1]), "three backups at three zxids: {zxids:?}");

    let listed = paddock_cli(&["backup", "list", "--target", &t, "--json"]);
    let clusters = listed["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 1, "one cluster for the whole ensemble: {listed}");
    assert_eq!(clusters[0]["cluster_id"], cluster.as_str(), "{listed}");
    let listed_zxids: Vec<Option<i64>> =
        clusters[0]["snapshots"].as_array().expect("snapshots").iter().map(|m| m["zxid"].as_i64()).collect();
    assert_eq!(listed_zxids, zxids.iter().map(|z| Some(*z)).collect::<Vec<_>>(), "three complete backups: {listed}");
    assert_eq!(clusters[0]["incomplete"].as_array().map(Vec::len), Some(0), "{listed}");
    let verified = paddock_cli(&["backup", "verify", "--target", &t, "--json"]);
    assert_eq!(verified["problems"].as_array().map(Vec::len), Some(0), "{verified}");
    assert_eq!(verified["sound"], 3, "{verified}");
}
