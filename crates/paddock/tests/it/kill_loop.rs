//! The leader kill loop (issue 10): a 3-server ensemble takes writes from concurrent writers, each with its
//! own session on a connect string naming every server, while its leader is killed with SIGKILL and
//! restarted, over and over. Every acknowledged write (a create with its data, a conditional set with its
//! data and version) must be on every server afterwards, every server must end on the same state digest,
//! every writer must get writes acknowledged after each failover, and the time from each kill to the next
//! acknowledged write is measured (printed, bounded only by a hang detector: speed goals are benchmarks').
//!
//! Writers record an unknown outcome (ConnectionLoss, a timeout) as not acknowledged. Writers land on members
//! as the client picks them (it shuffles the connect string).
//!
//! `PADDOCK_KILL_CYCLES=N` runs N kills (default 20):
//! `PADDOCK_KILL_CYCLES=100 cargo test -p paddock --features paddock/failpoints --test it kill_loop -- --nocapture`
//! `PADDOCK_KILL_LOGS=<dir>` keeps every member's whole log there (`server.N.log`), to see where a slow
//! failover's time went (with `PADDOCK_LOG=info,paddock_consensus=debug` for more).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use paddock_testkit::{ENSEMBLE_WAIT, Ensemble, EnsembleSpec};
use zookeeper_client as zk;

const WRITERS: usize = 3;
/// A writer's pause between writes: enough writes to see every failover, few enough to verify them all.
const PACE: Duration = Duration::from_millis(10);
/// Hang detector for a failover (kill to the next acknowledged write) and for every writer to carry on:
/// survivors that see the leader gone elect its successor in milliseconds, but an election left to Raft's
/// timers takes 3 to 6 s here (below) plus reconnects, stretched several times on a loaded machine.
const FAILOVER_LIMIT: Duration = Duration::from_secs(60);

/// zoo.cfg for kill loops: 200 ms ticks (when the survivors cannot tell that the leader is gone, an election
/// after syncLimit = 5 ticks without the leader, 1 to 2 s, plus openraft's leader lease), and sessions that outlive a failover, so that clients carry on in the same
/// session (a member without a leader serves no client, so a client of the killed leader reconnects only
/// once the others have elected one).
pub(crate) const KILL_LOOP_CONFIG: &[(&str, &str)] = &[("tickTime", "200"), ("maxSessionTimeout", "15000")];
/// The client gives up on a connection that answers nothing for 2/5 of this (then reconnects).
const SESSION_TIMEOUT: Duration = Duration::from_secs(15);

/// Starts a 3-server ensemble configured for kill loops.
pub(crate) fn start_ensemble() -> Ensemble {
    let ensemble = Ensemble::start_spec(&EnsembleSpec { participants: 3, observers: 0, config: KILL_LOOP_CONFIG })
        .expect("ensemble starts");
    ensemble.leader().expect("a leader");
    ensemble
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Connects with retries until `ENSEMBLE_WAIT` passes (a member may be down while the writer reconnects).
pub(crate) async fn connect_retrying(connect: &str) -> zk::Client {
    let deadline = Instant::now() + ENSEMBLE_WAIT;
    loop {
        match zk::Client::connector().with_session_timeout(SESSION_TIMEOUT).connect(connect).await {
            Ok(client) => return client,
            Err(e) => assert!(Instant::now() < deadline, "cannot connect to {connect} within {ENSEMBLE_WAIT:?}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A refusal no write of this test may get (every path is new or exists); other errors may or may not have
/// taken effect (ConnectionLoss, timeouts).
fn is_definite_failure(e: &zk::Error) -> bool {
    matches!(e, zk::Error::NodeExists | zk::Error::NoNode)
}

/// What one writer knows.
#[derive(Default)]
struct WriterLog {
    /// (invoked, acknowledged) of every acknowledged write.
    acks: Vec<(Instant, Instant)>,
    /// Acknowledged creates: path → data (version 0).
    created: Vec<(String, Vec<u8>)>,
    /// The highest acknowledged version of the writer's own node (its data is the version in decimal).
    set_version: i32,
    unknown: usize,
    /// Errors by kind, for the summary.
    errors: BTreeMap<String, usize>,
    reconnects: usize,
}

struct Shared {
    stop: AtomicBool,
    writers: Vec<Mutex<WriterLog>>,
}

impl Shared {
    fn log(&self, writer: usize) -> std::sync::MutexGuard<'_, WriterLog> {
        self.writers[writer].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The earliest acknowledgement of a write invoked after `t`, from any writer.
    fn first_ack_after(&self, t: Instant) -> Option<Instant> {
        (0..self.writers.len()).filter_map(|w| self.log(w).acks.iter().find(|(inv, _)| *inv > t).map(|a| a.1)).min()
    }

    /// The writers without an acknowledged write invoked after `t`.
    fn stalled_since(&self, t: Instant) -> Vec<usize> {
        (0..self.writers.len()).filter(|w| !self.log(*w).acks.iter().rev().any(|(inv, _)| *inv > t)).collect()
    }
}

async fn writer(id: usize, connect: String, shared: Arc<Shared>) {
    let mut client = connect_retrying(&connect).await;
    let own = format!("/kl/w{id}");
    // The version of `own` as far as this writer knows; None after an unknown outcome of a set.
    let mut version: Option<i32> = Some(0);
    let mut round = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        round += 1;
        let invoked = Instant::now();
        let result = if round.is_multiple_of(2) {
            let path = format!("{own}/c{round}");
            let data = format!("w{id}-{round}").into_bytes();
            client.create(&path, &data, &persistent()).await.map(|_| {
                shared.log(id).created.push((path, data));
            })
        } else {
            match version {
                Some(v) => {
                    let data = (v + 1).to_string();
                    let answer = client.set_data(&own, data.as_bytes(), Some(v)).await;
                    if answer.is_err() {
                        version = None;
                    }
                    answer.map(|stat| {
                        assert_eq!(stat.version, v + 1, "{own}: a conditional set moves the version by one");
                        version = Some(stat.version);
                        shared.log(id).set_version = stat.version;
                    })
                }
                // Learn where the node is after an unknown set (it may have been applied).
                None => match client.get_data(&own).await {
                    Ok((data, stat)) => {
                        assert_eq!(
                            String::from_utf8_lossy(&data),
                            stat.version.to_string(),
                            "{own}: data is the version"
                        );
                        version = Some(stat.version);
                        continue;
                    }
                    Err(e) => Err(e),
                },
            }
        };
        match result {
            Ok(()) => shared.log(id).acks.push((invoked, Instant::now())),
            Err(zk::Error::SessionExpired | zk::Error::ClientClosed) => {
                shared.log(id).reconnects += 1;
                client = connect_retrying(&connect).await;
            }
            // An earlier set of unknown outcome took effect after all, after this writer read the version.
            Err(zk::Error::BadVersion) => {}
            Err(e) if is_definite_failure(&e) => panic!("writer {id}: the server refused a write: {e}"),
            Err(e) => {
                {
                    let mut log = shared.log(id);
                    log.unknown += 1;
                    *log.errors.entry(format!("{e:?}")).or_default() += 1;
                }
                tokio::time::sleep(PACE).await;
            }
        }
        tokio::time::sleep(PACE).await;
    }
}

/// Reads every acknowledged write on the member at `addr` (after `sync`).
async fn verify_member(addr: &str, logs: &[WriterLog]) -> usize {
    let client = connect_retrying(addr).await;
    client.sync("/").await.unwrap_or_else(|e| panic!("sync on {addr}: {e}"));
    let mut checked = 0;
    for (id, log) in logs.iter().enumerate() {
        let own = format!("/kl/w{id}");
        let (data, stat) = client.get_data(&own).await.unwrap_or_else(|e| panic!("{own} on {addr}: {e}"));
        assert_eq!(String::from_utf8_lossy(&data), stat.version.to_string(), "{own} on {addr}: data is the version");
        assert!(
            stat.version >= log.set_version,
            "{own} on {addr}: acknowledged set to version {} lost (version {})",
            log.set_version,
            stat.version
        );
        // Requests are sent when called: a chunk of reads goes out at once, answers come back in order.
        for chunk in log.created.chunks(256) {
            let reads: Vec<_> = chunk.iter().map(|(path, _)| client.get_data(path)).collect();
            for ((path, expected), read) in chunk.iter().zip(reads) {
                let (data, stat) = read.await.unwrap_or_else(|e| panic!("acknowledged create {path} on {addr}: {e}"));
                assert_eq!(&data, expected, "{path} on {addr}: data");
                assert_eq!(stat.version, 0, "{path} on {addr}: version");
                checked += 1;
            }
        }
    }
    checked
}

fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn acknowledged_writes_survive_twenty_leader_kills() {
    let cycles: usize = std::env::var("PADDOCK_KILL_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut ensemble = start_ensemble();
    let connect = ensemble.connect_string();
    runtime.block_on(async {
        let setup = connect_retrying(&connect).await;
        setup.create("/kl", b"", &persistent()).await.expect("create /kl");
        for id in 0..WRITERS {
            setup.create(&format!("/kl/w{id}"), b"0", &persistent()).await.expect("create a writer's node");
        }
    });
    let shared =
        Arc::new(Shared { stop: AtomicBool::new(false), writers: (0..WRITERS).map(|_| Mutex::default()).collect() });
    let tasks: Vec<_> = (0..WRITERS).map(|id| runtime.spawn(writer(id, connect.clone(), shared.clone()))).collect();
    let started = Instant::now();
    wait_for("every writer has a write acknowledged", FAILOVER_LIMIT, || {
        shared.stalled_since(started).is_empty().then_some(())
    });

    let mut failovers = Vec::new();
    let mut elections = Vec::new();
    let mut leaders = BTreeMap::<usize, usize>::new();
    for cycle in 0..cycles {
        let leader = ensemble.leader().unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
        *leaders.entry(leader + 1).or_default() += 1;
        ensemble.kill9(leader);
        // The process is reaped: a write invoked from now on needs another leader.
        let killed = Instant::now();
        // The survivors agree on a leader (`srvr`), for comparison with the first acknowledged write.
        ensemble.leader().unwrap_or_else(|e| panic!("cycle {cycle}, after the kill: {e}"));
        elections.push(killed.elapsed());
        let acked = wait_for(&format!("cycle {cycle}: a write acknowledged after the kill"), FAILOVER_LIMIT, || {
            shared.first_ack_after(killed)
        });
        failovers.push(acked - killed);
        let per_writer: Vec<Option<Duration>> = (0..WRITERS)
            .map(|w| shared.log(w).acks.iter().find(|(inv, _)| *inv > killed).map(|a| a.1 - killed))
            .collect();
        println!(
            "kill loop: cycle {cycle}: killed server.{}; leader after {:?}, first acknowledged write after {:?}, \
             per writer so far {per_writer:?}",
            leader + 1,
            elections[cycle],
            acked - killed
        );
        ensemble.restart(leader).unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
        ensemble.leader().unwrap_or_else(|e| panic!("cycle {cycle}, after the restart: {e}"));
        wait_for(&format!("cycle {cycle}: every writer carries on"), FAILOVER_LIMIT, || {
            shared.stalled_since(killed).is_empty().then_some(())
        });
    }
    shared.stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for task in tasks {
            task.await.expect("a writer panicked");
        }
    });

    if let Some(dir) = std::env::var_os("PADDOCK_KILL_LOGS") {
        for m in &ensemble.members {
            let _ = std::fs::write(std::path::Path::new(&dir).join(format!("server.{}.log", m.id)), m.log());
        }
    }
    let digest = ensemble.converged().expect("every member on one state digest");
    assert!(!digest.is_empty());
    let logs: Vec<WriterLog> = (0..WRITERS).map(|w| std::mem::take(&mut *shared.log(w))).collect();
    let acknowledged: usize = logs.iter().map(|l| l.acks.len()).sum();
    let unknown: usize = logs.iter().map(|l| l.unknown).sum();
    for (i, member) in ensemble.members.iter().enumerate() {
        let checked = runtime.block_on(verify_member(&member.addr(), &logs));
        assert_eq!(checked, logs.iter().map(|l| l.created.len()).sum::<usize>(), "server.{}", i + 1);
    }

    let mut sorted = failovers.clone();
    sorted.sort();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let max = sorted.last().copied().unwrap_or_default();
    println!(
        "kill loop: {cycles} leader kills (kills per server {leaders:?}); {acknowledged} writes acknowledged, \
         {unknown} of unknown outcome, {} session re-creations; kill to the next acknowledged write: median \
         {median:?}, max {max:?}, all {failovers:?}",
        logs.iter().map(|l| l.reconnects).sum::<usize>()
    );
    let mut errors = BTreeMap::<&str, usize>::new();
    for log in &logs {
        for (e, n) in &log.errors {
            *errors.entry(e).or_default() += n;
        }
    }
    println!("kill loop: errors of unknown outcome by kind: {errors:?}");
    println!("kill loop: kill to a leader in srvr on both survivors: {elections:?}");
    assert!(failovers.iter().all(|f| *f < FAILOVER_LIMIT));
}
