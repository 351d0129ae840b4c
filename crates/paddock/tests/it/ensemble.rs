//! A 3-server ensemble of real `paddock server --config` processes on 127.0.0.1, configured as ZooKeeper's
//! are (`server.N` lines, `myid`): writes through any server reach every server, ephemerals go with their
//! session everywhere, and after a kill -9 of the leader the others elect a new one, keep serving, and the
//! restarted server catches up to the same state.

use std::time::{Duration, Instant};

use paddock_testkit::{Ensemble, four_letter_word};
use zookeeper_client as zk;

async fn connect(addr: &str) -> zk::Client {
    zk::Client::connector().with_session_timeout(Duration::from_secs(10)).connect(addr).await.expect("client connects")
}

/// Connects, retrying while the server does not serve yet (a member catching up opens its port only once it
/// has), for at most `limit`.
async fn connect_within(addr: &str, limit: Duration) -> zk::Client {
    let deadline = Instant::now() + limit;
    loop {
        match zk::Client::connector().with_session_timeout(Duration::from_secs(10)).connect(addr).await {
            Ok(client) => return client,
            Err(e) => assert!(Instant::now() < deadline, "{addr} did not serve within {limit:?}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_any_member_reach_all_and_survive_the_leaders_kill() {
    let mut ensemble = Ensemble::start(3, 0).expect("ensemble starts");
    let first_leader = ensemble.leader().expect("a leader");
    let followers = ensemble.followers().expect("followers");

    // A write through a follower is visible through the other follower after sync, and on the leader.
    let writer = connect(&ensemble.members[followers[0]].addr()).await;
    writer.create("/a", b"through a follower", &persistent()).await.expect("create through a follower");
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    writer.create("/e", b"", &ephemeral).await.expect("ephemeral through a follower");
    let reader = connect(&ensemble.members[followers[1]].addr()).await;
    reader.sync("/").await.expect("sync");
    assert_eq!(reader.get_data("/a").await.expect("read on the other follower").0, b"through a follower");
    let on_leader = connect(&ensemble.members[first_leader].addr()).await;
    let (_, stat) = on_leader.get_data("/a").await.expect("read on the leader");
    assert_eq!(stat.version, 0);
    // Closing the session removes its ephemeral on every member.
    drop(writer);
    let deadline = Instant::now() + Duration::from_secs(30);
    while on_leader.check_stat("/e").await.expect("exists").is_some() {
        assert!(Instant::now() < deadline, "the ephemeral outlived its session");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ensemble.converged().expect("converged");

    // kill -9 the leader: the others elect one of themselves and keep taking writes.
    drop(on_leader);
    ensemble.kill9(first_leader);
    let second_leader = ensemble.leader().expect("a new leader");
    assert_ne!(second_leader, first_leader);
    let survivor = connect(&ensemble.members[followers[1]].addr()).await;
    survivor.create("/after", b"the failover", &persistent()).await.expect("write after the failover");

    // The killed member comes back and catches up.
    ensemble.restart(first_leader).expect("restart");
    let digest = ensemble.converged().expect("converged after the restart");
    assert!(!digest.is_empty());
    let back = connect(&ensemble.members[first_leader].addr()).await;
    back.sync("/").await.expect("sync");
    assert_eq!(back.get_data("/after").await.expect("read on the restarted member").0, b"the failover");
    assert_eq!(back.get_data("/a").await.expect("older data too").0, b"through a follower");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_receives_every_write_and_says_so() {
    let ensemble = Ensemble::start(3, 1).expect("ensemble starts");
    let first_leader = ensemble.leader().expect("a leader");
    let observer = &ensemble.members[3];
    let deadline = Instant::now() + Duration::from_secs(30);
    while observer.srvr_line("Mode:").as_deref() != Some("observer") {
        assert!(Instant::now() < deadline, "the observer never says so: {:?}", observer.srvr_line("Mode:"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let writer = connect(&ensemble.members[first_leader].addr()).await;
    writer.create("/seen", b"by the observer", &persistent()).await.expect("create");
    let watcher = connect(&observer.addr()).await;
    watcher.sync("/").await.expect("sync through the observer");
    assert_eq!(watcher.get_data("/seen").await.expect("read on the observer").0, b"by the observer");
    // Writes through the observer are forwarded like a follower's.
    watcher.create("/from-observer", b"", &persistent()).await.expect("create through the observer");
    ensemble.converged().expect("converged");
    // The leader's mntr counts its followers and the observer (ZooKeeper's leader-only keys).
    let mntr = four_letter_word(&ensemble.members[first_leader].addr(), "mntr").expect("mntr");
    for line in [
        "zk_server_state\tleader",
        "zk_followers\t2",
        "zk_synced_followers\t2",
        "zk_learners\t3",
        "zk_synced_observers\t1",
    ] {
        assert!(mntr.lines().any(|l| l == line), "{line:?} not in the leader's mntr:\n{mntr}");
    }
    // `conf` lists the membership as ZooKeeper's does, with this server's id and role.
    let conf = four_letter_word(&observer.addr(), "conf").expect("conf");
    assert!(conf.lines().any(|l| l == "serverId=4") && conf.lines().any(|l| l == "peerType=1"), "{conf}");
    let members: Vec<&str> = conf.lines().filter(|l| l.starts_with("server.")).collect();
    assert_eq!(members.len(), 4, "{conf}");
    assert!(members[3].starts_with("server.4=127.0.0.1:") && members[3].ends_with(":observer"), "{conf}");
    assert!(members[..3].iter().all(|l| l.ends_with(":participant")), "{conf}");
    // `/zookeeper/config` holds the same membership as `conf`, data version -1, and `version=` the zxid that
    // wrote it: the observer's arrival (the ensemble formed with the participants, version 0).
    let (config, stat) = watcher.get_data("/zookeeper/config").await.expect("read /zookeeper/config");
    assert_eq!(String::from_utf8_lossy(&config), format!("{}\nversion={:x}", members.join("\n"), stat.mzxid));
    assert_eq!(stat.version, -1);
    let follower = (0..3).find(|i| *i != first_leader).expect("a follower");
    let mntr = four_letter_word(&ensemble.members[follower].addr(), "mntr").expect("mntr");
    assert!(mntr.lines().any(|l| l == "zk_server_state\tfollower"), "{mntr}");
    assert!(!mntr.contains("zk_followers"), "leader-only keys only on the leader:\n{mntr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_servers_survive_the_loss_of_two_including_the_leader() {
    let mut ensemble = Ensemble::start(5, 0).expect("ensemble starts");
    let first_leader = ensemble.leader().expect("a leader");
    let follower = ensemble.followers().expect("followers")[0];
    ensemble.kill9(first_leader);
    ensemble.kill9(follower);
    // Three of five are a quorum: they elect a leader among themselves and take writes.
    let second_leader = ensemble.leader().expect("a new leader among the three");
    assert!(![first_leader, follower].contains(&second_leader));
    let survivor = (0..5).find(|i| ensemble.members[*i].is_running() && *i != second_leader).expect("a survivor");
    let client = connect(&ensemble.members[survivor].addr()).await;
    client.create("/five", b"three of five", &persistent()).await.expect("write with two of five down");
    // The two come back and catch up; all five end on one state.
    ensemble.restart(first_leader).expect("restart");
    ensemble.restart(follower).expect("restart");
    ensemble.converged().expect("converged");
    let back = connect(&ensemble.members[first_leader].addr()).await;
    back.sync("/").await.expect("sync");
    assert_eq!(back.get_data("/five").await.expect("read on a restarted member").0, b"three of five");
}

/// A follower whose disk was replaced (its data dir wiped, `myid` kept) rejoins: it takes the ensemble's state
/// from the leader (a snapshot, since the log before it was purged) and serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_data_dir_was_wiped_catches_up_from_the_leader() {
    let mut ensemble = Ensemble::start(3, 0).expect("ensemble starts");
    let leader = ensemble.leader().expect("a leader");
    let wiped = ensemble.followers().expect("followers")[0];
    let client = connect(&ensemble.members[leader].addr()).await;
    // More entries than a member takes between snapshots (at most the testkit's snapCount, 5,000), so the
    // leader snapshots and purges.
    client.create("/many", b"", &persistent()).await.expect("parent");
    let mut pending = tokio::task::JoinSet::new();
    for n in 0..6_000 {
        let client = client.clone();
        pending.spawn(async move { client.create(&format!("/many/n{n}"), b"v", &persistent()).await.map(|_| ()) });
        if pending.len() == 200 || n == 5_999 {
            while let Some(created) = pending.join_next().await {
                created.expect("task").expect("create");
            }
        }
    }
    ensemble.converged().expect("converged before the wipe");
    ensemble.kill9(wiped);
    let data_dir = ensemble.members[wiped].data_dir().to_path_buf();
    for entry in std::fs::read_dir(&data_dir).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|name| name != "myid") {
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }
    client.create("/after-the-wipe", b"", &persistent()).await.expect("write while it is down");
    ensemble.restart(wiped).expect("restart on an empty data dir");
    // Its first client already sees everything: it serves nothing before it caught up.
    let back = connect(&ensemble.members[wiped].addr()).await;
    let (children, _) = back.get_children("/many").await.expect("children on the wiped member, first read");
    assert_eq!(children.len(), 6_000);
    ensemble.converged().expect("the wiped member converges");
    let (children, _) = back.get_children("/many").await.expect("children on the wiped member");
    assert_eq!(children.len(), 6_000);
    assert!(back.check_stat("/after-the-wipe").await.expect("exists").is_some());
}

/// Creates `count` znodes `/<parent>/n<i>` in multis of `per_multi`, eight multis in flight.
async fn create_many(client: &zk::Client, parent: &str, count: usize, per_multi: usize) {
    client.create(parent, b"", &persistent()).await.expect("parent");
    let mut pending = tokio::task::JoinSet::new();
    for batch in 0..count.div_ceil(per_multi) {
        let client = client.clone();
        let parent = parent.to_string();
        pending.spawn(async move {
            create_batch(&client, &parent, batch * per_multi..((batch + 1) * per_multi).min(count)).await
        });
        if pending.len() == 8 {
            pending.join_next().await.expect("a task").expect("task").expect("multi");
        }
    }
    while let Some(created) = pending.join_next().await {
        created.expect("task").expect("multi");
    }
}

/// One multi creating `/<parent>/n<i>` for every i in `range`. A multi whose outcome is unknown (the
/// connection was lost: a loaded machine can cost the leader its quorum for a moment) is sent again unless
/// its first node exists: a multi is all or nothing.
async fn create_batch(client: &zk::Client, parent: &str, range: std::ops::Range<usize>) -> Result<(), zk::Error> {
    let first = format!("{parent}/n{}", range.start);
    for attempt in 0..10 {
        let mut multi = client.new_multi_writer();
        for n in range.clone() {
            multi.add_create(&format!("{parent}/n{n}"), b"v", &persistent()).expect("a valid create");
        }
        match multi.commit().await {
            Ok(_) => return Ok(()),
            Err(zk::MultiWriteError::RequestFailed { source: zk::Error::ConnectionLoss }) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if client.check_stat(&first).await.ok().flatten().is_some() {
                    return Ok(());
                }
            }
            // A resent multi that an earlier, unanswered one already made.
            Err(zk::MultiWriteError::OperationFailed { index: 0, source: zk::Error::NodeExists }) if attempt > 0 => {
                return Ok(());
            }
            Err(e) => return Err(zk::Error::UnexpectedError(format!("multi: {e}"))),
        }
    }
    Err(zk::Error::ConnectionLoss)
}

/// The large catch-up: a follower is down while the leader takes 1,000,000 znodes and, with more
/// entries than openraft keeps between snapshots, snapshots and purges its log; restarted, the follower can
/// only catch up by installing the leader's snapshot, which it does (its log says so) while the leader keeps
/// serving, and then serves all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_down_while_the_log_was_purged_rejoins_by_snapshot_of_a_million_znodes() {
    let mut ensemble = Ensemble::start(3, 0).expect("ensemble starts");
    let leader = ensemble.leader().expect("a leader");
    let down = ensemble.followers().expect("followers")[0];
    ensemble.kill9(down);
    let client = connect(&ensemble.members[leader].addr()).await;
    // 5,264 multis: more entries than a member takes between snapshots (at most the testkit's snapCount,
    // 5,000), so the leader snapshots and purges the log the member would need.
    create_many(&client, "/million", 1_000_000, 190).await;
    // openraft's own log line once the snapshot is built and the log before it purged.
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ensemble.members[leader].log().contains("purge log, last_purged") {
        assert!(Instant::now() < deadline, "the leader never purged its log");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let started = Instant::now();
    ensemble.restart(down).expect("restart the member that was down");
    // The leader keeps serving while the member installs the snapshot.
    client.create("/during-the-catch-up", b"", &persistent()).await.expect("a write during the catch-up");
    let back = connect_within(&ensemble.members[down].addr(), Duration::from_secs(300)).await;
    let (_, stat) = back.get_data("/million").await.expect("the parent on the member that was down");
    assert_eq!(stat.num_children, 1_000_000);
    println!("a member down for 1,000,000 znodes served them {:?} after its restart", started.elapsed());
    ensemble.converged().expect("every member on one digest");
    let log = ensemble.members[down].log();
    assert!(log.contains("installed a snapshot"), "the member caught up without a snapshot:\n{log}");
}

/// Snapshots are built while writes go on (openraft builds them beside the apply loop). A member restarted
/// from its own snapshot must find in it exactly the entries up to the snapshot's index: it once found later
/// ones (the tree was frozen after the index was taken), was handed them again by the log, refused them and
/// stopped serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_restarted_from_a_snapshot_taken_under_writes_serves_again() {
    let mut ensemble = Ensemble::start(3, 0).expect("ensemble starts");
    let leader = ensemble.leader().expect("a leader");
    let restarted = ensemble.followers().expect("followers")[0];
    let client = connect(&ensemble.members[leader].addr()).await;
    client.create("/busy", b"", &persistent()).await.expect("parent");
    let mut pending = tokio::task::JoinSet::new();
    let mut n = 0;
    // Past the 5,000 entries between snapshots, with writes in flight all along, until the member snapshotted.
    while n < 5_500 || !ensemble.members[restarted].log().contains("BuildSnapshotDone") {
        assert!(n < 60_000, "no snapshot after {n} writes");
        let client = client.clone();
        pending.spawn(async move { client.create(&format!("/busy/n{n}"), b"v", &persistent()).await.map(|_| ()) });
        n += 1;
        if pending.len() == 64 {
            pending.join_next().await.expect("a task").expect("task").expect("create");
        }
    }
    ensemble.kill9(restarted);
    while let Some(created) = pending.join_next().await {
        created.expect("task").expect("create");
    }
    ensemble.restart(restarted).expect("restart from its snapshot");
    ensemble.leader().expect("the restarted member follows again");
    ensemble.converged().expect("every member on one digest");
    let log = ensemble.members[restarted].log();
    assert!(!log.contains("this server stops serving"), "the restarted member stopped serving:\n{log}");
    let back = connect(&ensemble.members[restarted].addr()).await;
    let (_, stat) = back.get_data("/busy").await.expect("the parent on the restarted member");
    assert_eq!(stat.num_children, n);
}
