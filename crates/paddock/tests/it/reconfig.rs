//! ZooKeeper's dynamic reconfiguration against a real ensemble: grow 3 → 5 and shrink back to 3 (the leader
//! among the leavers) while a client writes, an observer added and removed, and the refusals ZooKeeper gives.
//! `/zookeeper/config` is checked as ZooKeeper writes it: the `server.N` lines and `version=` the zxid of the
//! reconfig, the same on every member.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paddock_testkit::{ENSEMBLE_WAIT, Ensemble, EnsembleSpec};
use zookeeper_client as zk;

use crate::kill_loop::connect_retrying;

/// `super:secret`, as `DigestAuthenticationProvider.superDigest` takes it (base64 of its SHA-1). ZooKeeper's
/// `/zookeeper/config` is writable by the super user only.
const CONFIG: &[(&str, &str)] =
    &[("reconfigEnabled", "true"), ("DigestAuthenticationProvider.superDigest", "super:lK75jTNcA+U9vtVEw5vB51mj/w4=")];

type Servers<'a> = std::iter::Copied<std::slice::Iter<'a, &'a str>>;

/// An incremental reconfig: `server.N=...` lines joining, ids leaving.
fn incremental<'a>(joining: &'a [&'a str], leaving: &'a [&'a str]) -> zk::EnsembleUpdate<'a, Servers<'a>> {
    zk::EnsembleUpdate::Incremental { joinings: joining.iter().copied(), leavings: leaving.iter().copied() }
}

fn start() -> Ensemble {
    let ensemble =
        Ensemble::start_spec(&EnsembleSpec { participants: 3, observers: 0, config: CONFIG }).expect("ensemble starts");
    ensemble.leader().expect("a leader");
    ensemble
}

async fn superuser(connect: &str) -> zk::Client {
    let client = connect_retrying(connect).await;
    client.auth("digest", b"super:secret").await.expect("super authenticates");
    client
}

/// The ids in `/zookeeper/config` content, with the role each line gives, and its version.
fn parse_config(data: &[u8]) -> (Vec<(u64, String)>, i64) {
    let text = String::from_utf8_lossy(data);
    let mut servers = Vec::new();
    let mut version = -1;
    for line in text.lines() {
        if let Some(hex) = line.strip_prefix("version=") {
            version = i64::from_str_radix(hex, 16).expect("the version is hex");
        } else if let Some((key, value)) = line.split_once('=') {
            let id = key.trim_start_matches("server.").parse().expect("server.N");
            let role = value.split(';').next().and_then(|q| q.rsplit(':').next()).unwrap_or_default();
            servers.push((id, role.to_string()));
        }
    }
    (servers, version)
}

/// Checks a reconfig's answer: the servers and roles wanted, and the version = the zxid of its txn.
fn assert_config(answer: &(Vec<u8>, zk::Stat), want: &[(u64, &str)]) {
    let (servers, version) = parse_config(&answer.0);
    let want: Vec<(u64, String)> = want.iter().map(|(id, role)| (*id, role.to_string())).collect();
    assert_eq!(servers, want, "servers in {:?}", String::from_utf8_lossy(&answer.0));
    assert_eq!(version, answer.1.mzxid, "version= is the zxid of the reconfig");
}

/// `/zookeeper/config` as each running member serves it: all the same.
async fn config_everywhere(ensemble: &Ensemble) -> Vec<u8> {
    let mut seen = Vec::new();
    for member in ensemble.members.iter().filter(|m| m.is_running()) {
        let client = connect_retrying(&member.addr()).await;
        client.sync("/zookeeper/config").await.expect("sync");
        let (data, _) = client.get_data("/zookeeper/config").await.expect("read the config");
        seen.push((member.id, data));
    }
    for (id, data) in &seen {
        assert_eq!(data, &seen[0].1, "server.{id} serves another /zookeeper/config");
    }
    seen.swap_remove(0).1
}

/// A client writing new znodes until told to stop, recording every acknowledged path in `acknowledged`.
fn writer(
    connect: String,
    stop: Arc<Mutex<bool>>,
    acknowledged: Arc<Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = connect_retrying(&connect).await;
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        for n in 0.. {
            if *stop.lock().expect("flag") {
                break;
            }
            let path = format!("/load-{n}");
            match client.create(&path, b"x", &options).await {
                Ok(_) => acknowledged.lock().expect("log").push(path),
                Err(e @ (zk::Error::NoNode | zk::Error::NoAuth | zk::Error::SessionExpired)) => {
                    panic!("a write during reconfig was refused: {e}")
                }
                // Unknown outcomes while leadership moves (ConnectionLoss, timeouts, SessionMoved): the path
                // may or may not exist; only acknowledged writes are checked.
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
}

/// Waits until the writer has had `more` writes acknowledged since now.
async fn more_writes(acknowledged: &Mutex<Vec<String>>, more: usize) {
    let target = acknowledged.lock().expect("log").len() + more;
    let deadline = Instant::now() + ENSEMBLE_WAIT;
    while acknowledged.lock().expect("log").len() < target {
        assert!(Instant::now() < deadline, "the writer made no progress for {ENSEMBLE_WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every member's log, for a failure message.
fn logs(ensemble: &Ensemble) -> String {
    ensemble.members.iter().map(|m| format!("--- server.{}\n{}", m.id, m.log())).collect()
}

fn wait_for_mode(ensemble: &Ensemble, i: usize, mode: &str) {
    let deadline = Instant::now() + ENSEMBLE_WAIT;
    while ensemble.members[i].srvr_line("Mode:").as_deref() != Some(mode) {
        assert!(Instant::now() < deadline, "server.{} never became {mode}", ensemble.members[i].id);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grows_to_five_and_shrinks_to_three_under_writes_losing_nothing() {
    let mut ensemble = start();
    let stop = Arc::new(Mutex::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let load = writer(ensemble.connect_string(), stop.clone(), acknowledged.clone());
    more_writes(&acknowledged, 10).await;

    let (four, line4) = ensemble.start_joining(false).expect("server.4 starts");
    let (five, line5) = ensemble.start_joining(false).expect("server.5 starts");
    let admin = superuser(&ensemble.members[0].addr()).await;
    let joining = [line4.as_str(), line5.as_str()];
    let grown = admin.update_ensemble(incremental(&joining, &[]), None).await.expect("3 -> 5");
    let all = [(1, "participant"), (2, "participant"), (3, "participant"), (4, "participant"), (5, "participant")];
    assert_config(&grown, &all);
    let leader = tokio::task::block_in_place(|| ensemble.leader()).expect("one leader of five");
    for i in [four, five] {
        tokio::task::block_in_place(|| wait_for_mode(&ensemble, i, "follower"));
    }
    more_writes(&acknowledged, 10).await;

    // Shrink to 3, removing the leader and one other of the first three.
    let other = (0..3).find(|i| *i != leader).expect("another first member");
    let leaving: Vec<String> = [leader, other].iter().map(|i| ensemble.members[*i].id.to_string()).collect();
    let staying = (0..5).find(|i| ![leader, other].contains(i)).expect("a member that stays");
    let admin = superuser(&ensemble.members[staying].addr()).await;
    let leaving_ids: Vec<&str> = leaving.iter().map(String::as_str).collect();
    let shrunk = match admin.update_ensemble(incremental(&[], &leaving_ids), Some(grown.1.mzxid)).await {
        Ok(shrunk) => shrunk,
        Err(e) => panic!("5 -> 3: {e}; the members' logs:\n{}", logs(&ensemble)),
    };
    let remaining: Vec<(u64, &str)> =
        all.iter().filter(|(id, _)| !leaving.contains(&id.to_string())).copied().collect();
    assert_config(&shrunk, &remaining);
    for i in [leader, other] {
        ensemble.kill9(i);
    }
    let new_leader = tokio::task::block_in_place(|| ensemble.leader()).expect("the three elect a leader");
    assert!(![leader, other].contains(&new_leader));

    // The client carries on with the new three.
    more_writes(&acknowledged, 10).await;
    *stop.lock().expect("flag") = true;
    load.await.expect("the writer ends");
    let acknowledged = acknowledged.lock().expect("log").clone();
    tokio::task::block_in_place(|| ensemble.converged()).expect("the three converge");
    let config = config_everywhere(&ensemble).await;
    assert_eq!(config, shrunk.0, "every member serves the config the reconfig answered");
    for member in ensemble.members.iter().filter(|m| m.is_running()) {
        let client = connect_retrying(&member.addr()).await;
        for path in &acknowledged {
            assert!(client.check_stat(path).await.expect("exists").is_some(), "{path} lost on server.{}", member.id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_added_by_reconfig_gets_every_write_and_watchers_hear_of_it() {
    let mut ensemble = start();
    let admin = superuser(&ensemble.members[0].addr()).await;
    let (_, _, watcher) = admin.get_and_watch_data("/zookeeper/config").await.expect("watch the config");

    let (observer, line) = ensemble.start_joining(true).expect("server.4 starts");
    let added = admin.update_ensemble(incremental(&[line.as_str()], &[]), Some(0)).await.expect("add an observer");
    assert_config(&added, &[(1, "participant"), (2, "participant"), (3, "participant"), (4, "observer")]);
    let event = tokio::time::timeout(ENSEMBLE_WAIT, watcher.changed()).await.expect("the watch fires");
    assert_eq!(event.event_type, zk::EventType::NodeDataChanged);
    tokio::task::block_in_place(|| wait_for_mode(&ensemble, observer, "observer"));

    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    for n in 0..50 {
        admin.create(&format!("/observed-{n}"), b"x", &options).await.expect("write");
    }
    tokio::task::block_in_place(|| ensemble.converged()).expect("the observer has every write");
    let on_observer = connect_retrying(&ensemble.members[observer].addr()).await;
    on_observer.sync("/").await.expect("sync on the observer");
    for n in 0..50 {
        assert!(on_observer.check_stat(&format!("/observed-{n}")).await.expect("read").is_some());
    }

    let removed = admin.update_ensemble(incremental(&[], &["4"]), None).await.expect("remove the observer");
    assert_config(&removed, &[(1, "participant"), (2, "participant"), (3, "participant")]);
    ensemble.kill9(observer);
    assert_eq!(config_everywhere(&ensemble).await, removed.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfig_is_refused_as_zookeeper_refuses_it() {
    let ensemble = start();
    let anyone = connect_retrying(&ensemble.members[1].addr()).await;
    let leave_one = || incremental(&[], &["3"]);
    assert_eq!(anyone.update_ensemble(leave_one(), None).await.err(), Some(zk::Error::NoAuth), "not the super user");

    let admin = superuser(&ensemble.members[1].addr()).await;
    assert_eq!(admin.update_ensemble(leave_one(), Some(12345)).await.err(), Some(zk::Error::BadVersion));
    let to_one = admin.update_ensemble(incremental(&[], &["2", "3"]), None).await;
    assert!(matches!(to_one, Err(zk::Error::BadArguments(_))), "one participant left: {to_one:?}");
    let no_client_port = incremental(&["server.9=127.0.0.1:1:2:participant"], &[]);
    let refused = admin.update_ensemble(no_client_port, None).await;
    assert!(matches!(refused, Err(zk::Error::BadArguments(_))), "a joiner without a client port: {refused:?}");
    // Nothing changed: still the zoo.cfg membership, version 0.
    let (data, _) = admin.get_data("/zookeeper/config").await.expect("read");
    assert_eq!(
        parse_config(&data),
        (vec![(1, "participant".into()), (2, "participant".into()), (3, "participant".into())], 0)
    );

    let disabled = Ensemble::start(3, 0).expect("ensemble without reconfigEnabled");
    disabled.leader().expect("a leader");
    let client = connect_retrying(&disabled.members[0].addr()).await;
    assert_eq!(client.update_ensemble(leave_one(), None).await.err(), Some(zk::Error::ReconfigDisabled));
}

/// Kills and restarts whoever leads until member `wanted` does: a few rounds, as a survivor behind the
/// others is not named by failover.
fn lead_with(ensemble: &mut Ensemble, wanted: usize) {
    for _ in 0..12 {
        let leader = ensemble.leader().expect("a leader");
        if leader == wanted {
            return;
        }
        ensemble.kill9(leader);
        let _ = ensemble.leader_among(&(0..ensemble.members.len()).filter(|i| *i != leader).collect::<Vec<_>>());
        ensemble.restart(leader).expect("restart");
    }
    panic!("server.{} never became the leader", ensemble.members[wanted].id);
}

/// Sets the scene: server.1 leads, with a failpoint that crashes it between the joint and the final
/// membership entry of a change, and a client asks to add server.4; server.1 dies in the middle. Returns the
/// ensemble, server.4's index, the index of a member that stays and the doomed member's. `None` when the
/// failpoint never fired: the lead moved away from server.1 before the change reached it (an election on
/// an overloaded machine), so the change went through another leader and proves nothing here.
async fn a_change_cut_short_by_its_leaders_death() -> Option<(Ensemble, usize, usize, usize)> {
    let mut ensemble = start();
    // It is server.1: failover names the most up-to-date survivor and, among equals, the lowest id, so
    // killing whoever else leads hands the lead to it (a higher id might never be named).
    let doomed = 0;
    let id = ensemble.members[doomed].id;
    ensemble.members[doomed].set_env("FAILPOINTS", Some(&format!("replica::crash_before_uniform=return({id})")));
    ensemble.kill9(doomed);
    ensemble.restart(doomed).expect("restart with the failpoint");
    tokio::task::block_in_place(|| lead_with(&mut ensemble, doomed));

    let (four, line) = ensemble.start_joining(false).expect("server.4 starts");
    let staying = (0..3).find(|i| *i != doomed).expect("another member");
    let admin = superuser(&ensemble.members[staying].addr()).await;
    let outcome = admin.update_ensemble(incremental(&[line.as_str()], &[]), None).await;
    ensemble.kill9(doomed);
    // The failpoint's own line (the log's start marker names the FAILPOINTS setting whether it fired or not).
    if !ensemble.members[doomed].log().contains("failpoint replica::crash_before_uniform: dying") {
        eprintln!("the lead moved before the change reached server.1 ({outcome:?}); starting over");
        return None;
    }
    // The leader died before it could finish. The client learns the outcome only if its server saw the
    // next leader finish the change before answering (a quick election on a loaded machine): then the
    // answer is the new membership, server.4 a participant. Otherwise the outcome is unknown to it: an error.
    if let Ok((data, _)) = &outcome {
        let (members, _) = parse_config(data);
        assert!(
            members.contains(&(4, "participant".to_string())),
            "the change was acknowledged before it was finished: {}",
            String::from_utf8_lossy(data)
        );
    }
    Some((ensemble, four, staying, doomed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_its_leader_died_in_the_middle_of_is_finished_by_the_next_leader() {
    let mut scene = None;
    for _ in 0..3 {
        scene = a_change_cut_short_by_its_leaders_death().await;
        if scene.is_some() {
            break;
        }
    }
    let (mut ensemble, four, staying, doomed) = scene.expect("server.1 led when the change reached it, in 3 tries");

    // The next leader finishes the change: server 4 becomes a participant, and /zookeeper/config says so.
    let survivors: Vec<usize> = (0..4).filter(|i| *i != doomed).collect();
    tokio::task::block_in_place(|| ensemble.leader_among(&survivors)).expect("a new leader");
    tokio::task::block_in_place(|| wait_for_mode(&ensemble, four, "follower"));
    let deadline = Instant::now() + ENSEMBLE_WAIT;
    loop {
        let client = connect_retrying(&ensemble.members[staying].addr()).await;
        client.sync("/zookeeper/config").await.expect("sync");
        let (data, stat) = client.get_data("/zookeeper/config").await.expect("read");
        let (servers, version) = parse_config(&data);
        if servers.len() == 4 {
            assert_eq!(servers[3], (4, "participant".to_string()));
            assert_eq!(version, stat.mzxid);
            break;
        }
        if Instant::now() > deadline {
            panic!("the change was never finished: {}\n{}", String::from_utf8_lossy(&data), logs(&ensemble));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The dead leader comes back (without the failpoint) and catches up with the finished change.
    ensemble.members[doomed].set_env("FAILPOINTS", None);
    ensemble.restart(doomed).expect("restart");
    tokio::task::block_in_place(|| ensemble.converged()).expect("all four converge");
    let (servers, _) = parse_config(&config_everywhere(&ensemble).await);
    assert_eq!(servers.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1, 2, 3, 4]);
}
