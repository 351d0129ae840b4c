//! A 3-server ensemble of real `paddock server --config` processes on 127.0.0.1, configured as ZooKeeper's
//! are (`server.N` lines, `myid`): writes through any server reach every server, ephemerals go with their
//! session everywhere, and after a kill -9 of the leader the others elect a new one, keep serving, and the
//! restarted server catches up to the same state.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use paddock_testkit::{PaddockProcess, four_letter_word, free_port};
use zookeeper_client as zk;

/// One member: its process, and what it needs to start again.
struct Member {
    id: u64,
    dir: tempfile::TempDir,
    config: Vec<(String, String)>,
    process: Option<PaddockProcess>,
}

impl Member {
    fn start(&mut self) {
        let data_dir = self.data_dir();
        let cfg: Vec<(&str, &str)> = self.config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.process = Some(PaddockProcess::start_in(&data_dir, &cfg).expect("member starts"));
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn addr(&self) -> String {
        self.process.as_ref().map(PaddockProcess::addr).expect("member is running")
    }

    fn srvr_line(&self, key: &str) -> Option<String> {
        let srvr = four_letter_word(&self.addr(), "srvr").ok()?;
        srvr.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string())
    }
}

/// `participants` members then `observers` observers sharing one `server.N` list; each started with its
/// `myid`.
fn ensemble(participants: u64, observers: u64) -> Vec<Member> {
    let peers: Vec<(u64, u16, u16)> = (1..=participants + observers).map(|id| (id, free_port(), free_port())).collect();
    let line = |n: u64, peer: u16, election: u16| {
        let role = if n > participants { ":observer" } else { "" };
        (format!("server.{n}"), format!("127.0.0.1:{peer}:{election}{role}"))
    };
    let mut members: Vec<Member> = peers
        .iter()
        .map(|(id, _, _)| {
            let mut config: Vec<(String, String)> =
                peers.iter().map(|(n, peer, election)| line(*n, *peer, *election)).collect();
            config.extend(
                [("tickTime", "500"), ("initLimit", "10"), ("syncLimit", "5")].map(|(k, v)| (k.into(), v.into())),
            );
            Member { id: *id, dir: tempfile::tempdir().expect("temp dir"), config, process: None }
        })
        .collect();
    for member in &mut members {
        std::fs::create_dir_all(member.data_dir()).expect("data dir");
        std::fs::write(member.data_dir().join("myid"), member.id.to_string()).expect("myid");
    }
    for member in &mut members {
        member.start();
    }
    members
}

/// The index of the one member whose `srvr` says leader, while the others say follower or observer (30 s at
/// most: an election waits syncLimit ticks, 2.5 to 5 s here, and a loaded machine stretches that).
fn leader(members: &[Member]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let modes: Vec<Option<String>> =
            members.iter().map(|m| m.process.as_ref().and_then(|_| m.srvr_line("Mode:"))).collect();
        let running = members.iter().filter(|m| m.process.is_some()).count();
        let leaders: Vec<usize> = (0..modes.len()).filter(|i| modes[*i].as_deref() == Some("leader")).collect();
        let followers = modes.iter().filter(|m| matches!(m.as_deref(), Some("follower" | "observer"))).count();
        if leaders.len() == 1 && followers + 1 == running {
            return leaders[0];
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no single leader within 30 s");
}

/// Waits (30 s at most) until every running member reports the same zxid and state digest.
fn converged(members: &[Member]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = members
            .iter()
            .filter(|m| m.process.is_some())
            .map(|m| {
                let mntr = four_letter_word(&m.addr(), "mntr").unwrap_or_default();
                let value = |key: &str| mntr.lines().find_map(|l| l.strip_prefix(key)).map(str::trim).map(String::from);
                (value("zk_paddock_last_zxid\t"), value("zk_paddock_state_digest\t"))
            })
            .collect();
        if last.iter().all(|s| s.0.is_some() && *s == last[0]) {
            return last[0].1.clone().unwrap_or_default();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("members did not converge within 30 s: {last:?}");
}

async fn connect(addr: &str) -> zk::Client {
    zk::Client::connector().with_session_timeout(Duration::from_secs(10)).connect(addr).await.expect("client connects")
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_any_member_reach_all_and_survive_the_leaders_kill() {
    let mut members = ensemble(3, 0);
    let first_leader = leader(&members);
    let followers: Vec<usize> = (0..3).filter(|i| *i != first_leader).collect();

    // A write through a follower is visible through the other follower after sync, and on the leader.
    let writer = connect(&members[followers[0]].addr()).await;
    writer.create("/a", b"through a follower", &persistent()).await.expect("create through a follower");
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    writer.create("/e", b"", &ephemeral).await.expect("ephemeral through a follower");
    let reader = connect(&members[followers[1]].addr()).await;
    reader.sync("/").await.expect("sync");
    assert_eq!(reader.get_data("/a").await.expect("read on the other follower").0, b"through a follower");
    let on_leader = connect(&members[first_leader].addr()).await;
    let (_, stat) = on_leader.get_data("/a").await.expect("read on the leader");
    assert_eq!(stat.version, 0);
    // Closing the session removes its ephemeral on every member.
    drop(writer);
    let deadline = Instant::now() + Duration::from_secs(30);
    while on_leader.check_stat("/e").await.expect("exists").is_some() {
        assert!(Instant::now() < deadline, "the ephemeral outlived its session");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    converged(&members);

    // kill -9 the leader: the others elect one of themselves and keep taking writes.
    drop(on_leader);
    if let Some(process) = members[first_leader].process.as_mut() {
        process.kill9();
    }
    members[first_leader].process = None;
    let second_leader = leader(&members);
    assert_ne!(second_leader, first_leader);
    let survivor = connect(&members[followers[1]].addr()).await;
    survivor.create("/after", b"the failover", &persistent()).await.expect("write after the failover");

    // The killed member comes back and catches up.
    members[first_leader].start();
    let digest = converged(&members);
    assert!(!digest.is_empty());
    let back = connect(&members[first_leader].addr()).await;
    back.sync("/").await.expect("sync");
    assert_eq!(back.get_data("/after").await.expect("read on the restarted member").0, b"the failover");
    assert_eq!(back.get_data("/a").await.expect("older data too").0, b"through a follower");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_receives_every_write_and_says_so() {
    let members = ensemble(3, 1);
    let first_leader = leader(&members);
    let observer = &members[3];
    let deadline = Instant::now() + Duration::from_secs(30);
    while observer.srvr_line("Mode:").as_deref() != Some("observer") {
        assert!(Instant::now() < deadline, "the observer never says so: {:?}", observer.srvr_line("Mode:"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let writer = connect(&members[first_leader].addr()).await;
    writer.create("/seen", b"by the observer", &persistent()).await.expect("create");
    let watcher = connect(&observer.addr()).await;
    watcher.sync("/").await.expect("sync through the observer");
    assert_eq!(watcher.get_data("/seen").await.expect("read on the observer").0, b"by the observer");
    // Writes through the observer are forwarded like a follower's.
    watcher.create("/from-observer", b"", &persistent()).await.expect("create through the observer");
    converged(&members);
    // The leader's mntr counts its followers and the observer (ZooKeeper's leader-only keys).
    let mntr = four_letter_word(&members[first_leader].addr(), "mntr").expect("mntr");
    for line in [
        "zk_server_state\tleader",
        "zk_followers\t2",
        "zk_synced_followers\t2",
        "zk_learners\t3",
        "zk_synced_observers\t1",
    ] {
        assert!(mntr.lines().any(|l| l == line), "{line:?} not in the leader's mntr:\n{mntr}");
    }
    let follower = (0..3).find(|i| *i != first_leader).expect("a follower");
    let mntr = four_letter_word(&members[follower].addr(), "mntr").expect("mntr");
    assert!(mntr.lines().any(|l| l == "zk_server_state\tfollower"), "{mntr}");
    assert!(!mntr.contains("zk_followers"), "leader-only keys only on the leader:\n{mntr}");
}
