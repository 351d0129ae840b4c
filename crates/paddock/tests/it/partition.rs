//! Partitions: ensembles whose members run in network namespaces of their own (`paddock_testkit::Network`;
//! these tests need root and iproute2 and fail, naming the problem, without them). A cut drops the packets
//! between members silently, both ways, while the test's clients (in the root namespace) still reach every
//! member, so what a cut-off member tells its clients is observed directly.
//!
//! What the minority side does, as observed (and asserted below): a member cut off alone — the old leader or a
//! follower, or a follower cut off together with the old leader — notices it after about an election timeout,
//! stops serving (`srvr`: "not currently serving requests", as a ZooKeeper server in LOOKING) and closes its
//! client connections: a write pending on it, or sent to it after the cut, fails with ConnectionLoss and is
//! never acknowledged. The
//! write is not applied anywhere, before or after healing: the cut-off leader could append it to its own log
//! only, and the new leader's log replaces that entry when the cut heals. The majority elects a leader among
//! itself (if the leader was cut off) and serves writes; after healing every member converges to one state
//! digest holding the majority's writes.
//!
//! Read-only clients of a cut-off member (`readonlymode.enabled`) are tested in `read_only.rs`; a test of them
//! across a real partition connects to the cut-off member only, as [`connect_to`] does, with
//! `connector().with_readonly(true)`.

use std::time::{Duration, Instant};

use paddock_testkit::{ENSEMBLE_WAIT, Ensemble, EnsembleSpec, Network, four_letter_word};
use zookeeper_client as zk;

/// A hang detector around one client call: a call the server neither answers nor refuses within this long
/// counts as a hang (a cut-off member closes its connections after an election timeout, seconds).
const CALL_LIMIT: Duration = Duration::from_secs(60);

/// An ensemble of `servers` participants, member i in namespace i of a fresh network.
fn start(servers: u64) -> Ensemble {
    let network = Network::create(servers as usize)
        .expect("a test network of namespaces (partition tests need root and iproute2: scripts/install-test-deps)");
    let spec = EnsembleSpec { participants: servers, observers: 0, config: &[] };
    Ensemble::start_in_network(&spec, network).expect("the ensemble starts in its namespaces")
}

fn network(ensemble: &Ensemble) -> &Network {
    ensemble.network().expect("the ensemble runs in a test network")
}

/// On a panic, keeps every member's whole log in a directory that outlives the test (the members' own
/// directories are removed with them) and says where.
struct LogsOnPanic<'a>(&'a Ensemble, &'static str);

impl Drop for LogsOnPanic<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("paddock-partition-{}-{}", self.1, std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        for member in &self.0.members {
            let _ = std::fs::write(dir.join(format!("server.{}.log", member.id)), member.log());
        }
        eprintln!("the members' whole logs are in {}", dir.display());
    }
}

/// A client of the given members only: its connect string names no one else, so it never fails over to the
/// other side of a cut. (A read-only client of a cut-off member: the same with `with_readonly(true)`.)
fn connector() -> zk::Connector {
    zk::Client::connector().with_session_timeout(Duration::from_secs(10))
}

async fn connect_to(ensemble: &Ensemble, members: &[usize]) -> zk::Client {
    let hosts: Vec<String> = members.iter().map(|i| ensemble.members[*i].addr()).collect();
    let hosts = hosts.join(",");
    within(connector().connect(&hosts), &format!("connecting to {hosts}"))
        .await
        .unwrap_or_else(|e| panic!("a client connects to {hosts}: {e}"))
}

/// `call`, failing the test if it hangs.
async fn within<T>(call: impl Future<Output = T>, what: &str) -> T {
    tokio::time::timeout(CALL_LIMIT, call).await.unwrap_or_else(|_| panic!("{what}: no answer within {CALL_LIMIT:?}"))
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn all_but(ensemble: &Ensemble, group: &[usize]) -> Vec<usize> {
    (0..ensemble.members.len()).filter(|i| !group.contains(i)).collect()
}

/// Whether member `i`'s `srvr` says it serves no client (a cut-off member: ZooKeeper's LOOKING).
fn not_serving(ensemble: &Ensemble, i: usize) -> bool {
    four_letter_word(&ensemble.members[i].addr(), "srvr").is_ok_and(|s| s.contains("not currently serving requests"))
}

/// Waits until every member of `group` serves no client.
fn wait_not_serving(ensemble: &Ensemble, group: &[usize]) {
    let deadline = Instant::now() + ENSEMBLE_WAIT;
    while !group.iter().all(|i| not_serving(ensemble, *i)) {
        let srvr: Vec<_> = group.iter().map(|i| four_letter_word(&ensemble.members[*i].addr(), "srvr")).collect();
        assert!(Instant::now() < deadline, "cut-off members {group:?} still serve clients: {srvr:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A write sent to a cut-off member is never acknowledged. Observed: ConnectionLoss (the member closes its
/// connections once it sees it is cut off, the write unanswered), or SessionExpired once the client library
/// gave up reconnecting (zookeeper-client declares a session expired when no server of its connect string
/// took it back within the session timeout; a cut-off member refuses it). A client-side timeout (the member
/// neither answers nor closes) fails the test too: the member kept a connection it does not serve.
async fn assert_refused(client: &zk::Client, path: &str, member: usize) -> zk::Error {
    let result =
        within(client.create(path, b"never", &persistent()), &format!("create {path} on cut-off member {member}"))
            .await;
    match result {
        Err(e @ (zk::Error::ConnectionLoss | zk::Error::SessionExpired)) => e,
        other => panic!(
            "a write on cut-off member {member} must be refused (ConnectionLoss, or SessionExpired once the \
             client gave up), never acknowledged: {other:?}"
        ),
    }
}

/// A follower cut off together with the old leader (a 2/3 split of 5) stops serving, as ZooKeeper's does: its
/// leader no longer says it leads a quorum (the leader-standing probe of `crates/consensus/src/replica/
/// standing.rs`; before it, this follower served stale reads: B2 in /work/notes/partition-bugs.md). A write
/// through it is never acknowledged and is not applied anywhere after healing (checked by the caller).
async fn minority_follower_refuses(ensemble: &Ensemble, client: &zk::Client, path: &str, member: usize) {
    wait_not_serving(ensemble, &[member]);
    assert_refused(client, path, member).await;
}

/// Reads `paths` through a fresh session on member `i` after `sync`: each must hold `expected` (None: absent).
async fn assert_on(ensemble: &Ensemble, i: usize, paths: &[(String, Option<Vec<u8>>)]) {
    let client = connect_to(ensemble, &[i]).await;
    within(client.sync("/"), "sync").await.expect("sync");
    for (path, expected) in paths {
        let got = match within(client.get_data(path), "get_data").await {
            Ok((data, _)) => Some(data),
            Err(zk::Error::NoNode) => None,
            Err(e) => panic!("get {path} on member {i}: {e}"),
        };
        assert_eq!(got.as_ref(), expected.as_ref(), "{path} on member {i}");
    }
}

/// Each path, holding its own name as data.
fn written(paths: &[String]) -> Vec<(String, Option<Vec<u8>>)> {
    paths.iter().map(|p| (p.clone(), Some(p.as_bytes().to_vec()))).collect()
}

/// Cuts `minority` (which holds the leader) off from the rest and checks both sides, then heals.
async fn leader_in_the_minority(servers: u64, minority_followers: usize, name: &'static str) {
    let ensemble = start(servers);
    let _logs = LogsOnPanic(&ensemble, name);
    let old_leader = ensemble.leader().expect("a leader");
    let followers = ensemble.followers().expect("followers");
    let mut minority = vec![old_leader];
    minority.extend(&followers[..minority_followers]);
    let majority = all_but(&ensemble, &minority);
    let before = connect_to(&ensemble, &majority).await;
    within(before.create("/before", b"everyone", &persistent()), "create /before").await.expect("write before the cut");
    ensemble.converged().expect("converged before the cut");
    let on_minority: Vec<zk::Client> = {
        let mut clients = Vec::new();
        for i in &minority {
            clients.push(connect_to(&ensemble, &[*i]).await);
        }
        clients
    };

    network(&ensemble).partition(&minority).expect("cut the minority off");
    // The old leader is asked to write right away, before it can know it is cut off: it cannot commit, and
    // the client hears ConnectionLoss when the member gives up serving.
    let first = assert_refused(&on_minority[0], "/refused-0", old_leader).await;
    assert_eq!(first, zk::Error::ConnectionLoss, "the session is young: the client still hopes to reconnect");
    wait_not_serving(&ensemble, &[old_leader]);
    for (k, i) in minority.iter().enumerate().skip(1) {
        minority_follower_refuses(&ensemble, &on_minority[k], &format!("/refused-{k}"), *i).await;
    }

    let new_leader = ensemble.leader_among(&majority).expect("the majority elects a leader");
    assert!(!minority.contains(&new_leader), "the new leader {new_leader} is on the majority side {majority:?}");
    let writer = connect_to(&ensemble, &majority).await;
    let writes: Vec<String> = (0..10).map(|n| format!("/majority-{n}")).collect();
    for path in &writes {
        within(writer.create(path, path.as_bytes(), &persistent()), "write on the majority")
            .await
            .unwrap_or_else(|e| panic!("create {path} on the majority: {e}"));
    }
    // The old leader still serves no one and refuses writes while the majority serves.
    assert_refused(&on_minority[0], "/refused-again", old_leader).await;
    assert!(not_serving(&ensemble, old_leader), "the cut-off old leader serves no client while cut off");

    network(&ensemble).heal().expect("heal");
    let digest = ensemble.converged().expect("every member converges to one digest after healing");
    assert!(!digest.is_empty());
    let mut expected = written(&writes);
    expected.push(("/before".into(), Some(b"everyone".to_vec())));
    expected.extend((0..minority.len()).map(|k| (format!("/refused-{k}"), None)));
    expected.push(("/refused-again".into(), None));
    for i in 0..ensemble.members.len() {
        assert_on(&ensemble, i, &expected).await;
    }
}

/// 3 servers: the leader is cut off from both followers. The followers elect one of themselves and serve
/// writes; the old leader stops serving and acknowledges no write (ConnectionLoss); after healing all three
/// converge to one digest, and the old leader holds the majority's writes and none of the refused ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_acknowledges_nothing_and_the_majority_goes_on() {
    leader_in_the_minority(3, 0, "isolated-leader").await;
}

/// 5 servers split 2/3: the leader and one follower on the minority side. As above for the old leader and the
/// majority; the minority's follower acknowledges no write (see [`minority_follower_refuses`] for what it
/// still does wrong).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_servers_split_two_three_with_the_leader_in_the_minority() {
    leader_in_the_minority(5, 1, "two-three").await;
}

/// 3 servers: one follower is cut off. The leader and the other follower go on serving without a pause (every
/// write through either succeeds, the leader stays leader); the cut-off follower stops serving and refuses its
/// client's write (ConnectionLoss); after healing it catches up and all three converge to one digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_follower_leaves_the_majority_serving() {
    let ensemble = start(3);
    let _logs = LogsOnPanic(&ensemble, "isolated-follower");
    let leader = ensemble.leader().expect("a leader");
    let followers = ensemble.followers().expect("followers");
    let (cut_off, other) = (followers[0], followers[1]);
    let on_leader = connect_to(&ensemble, &[leader]).await;
    let on_other = connect_to(&ensemble, &[other]).await;
    let on_cut_off = connect_to(&ensemble, &[cut_off]).await;

    network(&ensemble).isolate(cut_off).expect("cut one follower off");
    // Writes through the leader and through the other follower, one after another, from the cut until the
    // cut-off member has given up serving and a while after: none fails.
    let mut writes = Vec::new();
    let deadline = Instant::now() + ENSEMBLE_WAIT;
    let mut stopped_at = None;
    while stopped_at.is_none_or(|at: usize| writes.len() < at + 20) {
        assert!(
            Instant::now() < deadline,
            "the cut-off follower never stopped serving: {:?}",
            four_letter_word(&ensemble.members[cut_off].addr(), "srvr")
        );
        let (client, via) = if writes.len() % 2 == 0 { (&on_leader, leader) } else { (&on_other, other) };
        let path = format!("/during-{}", writes.len());
        within(client.create(&path, path.as_bytes(), &persistent()), "write on the majority")
            .await
            .unwrap_or_else(|e| panic!("create {path} through member {via} while a follower is cut off: {e}"));
        writes.push(path);
        if stopped_at.is_none() && not_serving(&ensemble, cut_off) {
            stopped_at = Some(writes.len());
        }
    }
    assert_eq!(ensemble.leader_among(&[leader, other]).expect("a leader"), leader, "the leader stays leader");
    assert_refused(&on_cut_off, "/refused", cut_off).await;

    network(&ensemble).heal().expect("heal");
    ensemble.converged().expect("every member converges to one digest after healing");
    let mut expected = written(&writes);
    expected.push(("/refused".into(), None));
    assert_on(&ensemble, cut_off, &expected).await;
}

/// An observer cut off from the ensemble stops serving as a follower does (its leader no longer answers the
/// standing probe), refuses its client's write, and serves again with every write once the cut heals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_observer_stops_serving_and_comes_back() {
    let namespaces = Network::create(4).expect("a test network of namespaces (partition tests need root and iproute2)");
    let spec = EnsembleSpec { participants: 3, observers: 1, config: &[] };
    let ensemble = Ensemble::start_in_network(&spec, namespaces).expect("the ensemble starts in its namespaces");
    let _logs = LogsOnPanic(&ensemble, "isolated-observer");
    let leader = ensemble.leader().expect("a leader");
    let observer = 3;
    let on_observer = connect_to(&ensemble, &[observer]).await;
    let on_leader = connect_to(&ensemble, &[leader]).await;

    network(&ensemble).isolate(observer).expect("cut the observer off");
    wait_not_serving(&ensemble, &[observer]);
    assert_refused(&on_observer, "/refused", observer).await;
    within(on_leader.create("/meanwhile", b"m", &persistent()), "write on the majority").await.expect("create");

    network(&ensemble).heal().expect("heal");
    ensemble.converged().expect("the observer converges after healing");
    assert_on(&ensemble, observer, &[("/meanwhile".into(), Some(b"m".to_vec())), ("/refused".into(), None)]).await;
}
