//! Replacing a dead leader (docs/replication.md, 5): the survivors of a leader killed with SIGKILL see its
//! connection close and its port refuse connections, and elect its successor without waiting for the
//! election timeout, let alone the dead leader's lease on top of it (three election timeouts at least before
//! this path existed). A follower that only believes its leader gone, while the other voters still reach the
//! leader, deposes no one.

use std::time::{Duration, Instant};

use paddock_testkit::{Ensemble, EnsembleSpec};

const CONFIG: &[(&str, &str)] = &[("tickTime", "200"), ("syncLimit", "5")];
const KILLS: usize = 3;

/// What the server makes of [`CONFIG`]: `syncLimit` ticks, at most 1 s (docs/replication.md, 4).
fn election_timeout() -> Duration {
    let value = |key: &str| -> u64 {
        let (_, v) = CONFIG.iter().find(|(k, _)| *k == key).expect("set in CONFIG");
        v.parse().expect("a number")
    };
    Duration::from_millis((value("tickTime") * value("syncLimit")).min(1000))
}

fn start() -> Ensemble {
    let ensemble =
        Ensemble::start_spec(&EnsembleSpec { participants: 3, observers: 0, config: CONFIG }).expect("ensemble starts");
    ensemble.leader().expect("a leader");
    ensemble
}

/// The member of `group` that `srvr` reports as leader once all of `group` agree (the others following),
/// polled every few milliseconds (the point is the time it takes), or None after `limit`.
fn agreed_leader(ensemble: &Ensemble, group: &[usize], limit: Duration) -> Option<usize> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let modes: Vec<Option<String>> = group.iter().map(|i| ensemble.members[*i].srvr_line("Mode:")).collect();
        let leaders: Vec<usize> =
            group.iter().zip(&modes).filter(|(_, m)| m.as_deref() == Some("leader")).map(|(i, _)| *i).collect();
        let following = modes.iter().filter(|m| m.as_deref() == Some("follower")).count();
        if leaders.len() == 1 && following + 1 == group.len() {
            return Some(leaders[0]);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

#[test]
fn a_killed_leader_is_replaced_within_one_election_timeout() {
    let mut ensemble = start();
    let mut times = Vec::new();
    for kill in 0..KILLS {
        let leader = ensemble.leader().expect("a leader");
        ensemble.kill9(leader);
        let killed = Instant::now();
        let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
        let successor = agreed_leader(&ensemble, &survivors, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("kill {kill}: no leader among {survivors:?} within 30 s"));
        let took = killed.elapsed();
        times.push(took);
        println!("failover: kill {kill}: server.{} killed, server.{} leads after {took:?}", leader + 1, successor + 1);
        assert!(
            took < election_timeout(),
            "kill {kill}: a successor of the killed leader took {took:?}, not less than the election timeout \
             {:?}; the survivors' logs:\n{}",
            election_timeout(),
            survivors.iter().map(|i| ensemble.members[*i].log()).collect::<Vec<_>>().join("\n")
        );
        ensemble.restart(leader).expect("the killed member restarts");
        ensemble.leader().expect("a leader with every member back");
    }
    println!("failover: kill to an agreed leader: {times:?} (election timeout {:?})", election_timeout());
}

/// A follower that finds its leader's port refusing connections (failpoint `failover::leader_refuses`, as
/// behind a firewall that rejects) while the third member still reaches the leader: it asks, is refused,
/// and the leader keeps leading, well past the time a dead leader is replaced in.
#[test]
fn a_follower_that_only_believes_its_leader_gone_does_not_depose_it() {
    let mut ensemble = start();
    let leader = ensemble.leader().expect("a leader");
    let doubter = (0..3).find(|i| *i != leader).expect("a follower");
    ensemble.members[doubter].set_env("FAILPOINTS", Some("failover::leader_refuses=return"));
    ensemble.kill9(doubter);
    ensemble.restart(doubter).expect("the follower restarts with the failpoint");
    let watch_until = Instant::now() + election_timeout() * 4;
    let mut rounds = 0;
    while Instant::now() < watch_until {
        let now = agreed_leader(&ensemble, &[0, 1, 2], Duration::from_secs(30)).expect("one leader");
        assert_eq!(
            now,
            leader,
            "server.{} was deposed; the doubter's log:\n{}",
            leader + 1,
            ensemble.members[doubter].log()
        );
        rounds = ensemble.members[doubter].log().matches("too few voters find the leader gone").count();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(rounds > 0, "the doubter never asked the others; its log:\n{}", ensemble.members[doubter].log());
    println!("failover: the doubter asked {rounds} times, the leader stayed");
}
