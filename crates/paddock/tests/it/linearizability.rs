//! Linearizability of a register workload (issue 10): writers set a few znodes to unique values through any
//! server, readers `sync` then read through any server, all recorded into a
//! [`History`](paddock_testkit::linearizability::History) and checked per znode with
//! [`check`]; plain reads (no `sync`) and the writers' own answers are checked for per-session order with
//! [`check_session_order`]. One test runs the workload while the leader is killed and restarted, one while the
//! leader (then a follower) is cut off by a network partition and healed; the last proves that the checker catches a planted bug: a follower that answers `sync` at once
//! (`core::sync_skip_barrier`) and applies late (`replica::apply_delay`) serves stale reads after `sync`.
//!
//! A reader sends its `sync` and its read together: the client sends requests when they are called, in
//! order, on one connection, and the server answers the read after the `sync`, so both are served by one
//! server (after a reconnect in between, the read could be served by another server, which `sync` says
//! nothing about).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use paddock_testkit::linearizability::{History, Op, Ret, Violation, check, check_session_order};
use paddock_testkit::{ENSEMBLE_WAIT, Ensemble, EnsembleSpec, Network};
use zookeeper_client as zk;

use crate::kill_loop::{connect_retrying, start_ensemble};

const KEYS: usize = 3;
/// Pause of a client after an error (the next server may still be electing).
const BACKOFF: Duration = Duration::from_millis(20);
/// Hang detector for every client to make progress after a kill or while counting reads.
const PROGRESS_LIMIT: Duration = Duration::from_secs(60);

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// The workload's shared state: the history, fresh values and sessions, and each task's progress.
struct Workload {
    history: Arc<History>,
    keys: Vec<String>,
    stop: AtomicBool,
    values: AtomicU64,
    sessions: AtomicU64,
    /// Operations completed (answered) per task.
    progress: Vec<AtomicUsize>,
    /// Reads after `sync` answered, over all tasks.
    sync_reads: AtomicUsize,
}

#[derive(Clone, Copy)]
enum Role {
    Writer,
    SyncReader,
    PlainReader,
}

impl Workload {
    fn new(prefix: &str, tasks: usize) -> Arc<Workload> {
        Arc::new(Workload {
            history: History::new(),
            keys: (0..KEYS).map(|k| format!("{prefix}/k{k}")).collect(),
            stop: AtomicBool::new(false),
            values: AtomicU64::new(1),
            sessions: AtomicU64::new(1),
            progress: (0..tasks).map(|_| AtomicUsize::new(0)).collect(),
            sync_reads: AtomicUsize::new(0),
        })
    }

    /// Creates the znodes, recorded as writes of value 0.
    async fn create(&self, connect: &str, prefix: &str) {
        let client = connect_retrying(connect).await;
        client.create(prefix, b"", &persistent()).await.expect("create the prefix");
        for key in &self.keys {
            let op = self.history.invoke(0, Op::Write { key: key.clone(), value: 0 });
            client.create(key, b"0", &persistent()).await.expect("create a key");
            self.history.ok(op, Ret::Written);
        }
    }

    fn progress(&self) -> Vec<usize> {
        self.progress.iter().map(|p| p.load(Ordering::Relaxed)).collect()
    }

    /// Waits until every task has completed an operation since `before` (a snapshot of `progress`).
    fn wait_for_everyone(&self, what: &str, before: &[usize]) {
        let deadline = Instant::now() + PROGRESS_LIMIT;
        loop {
            let now = self.progress();
            if now.iter().zip(before).all(|(n, b)| n > b) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: tasks without progress in {PROGRESS_LIMIT:?}: {before:?} -> {now:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn value_of(data: &[u8]) -> u64 {
    String::from_utf8_lossy(data).parse().unwrap_or_else(|_| panic!("a register holds a number, not {data:?}"))
}

async fn client_task(task: usize, role: Role, connect: String, work: Arc<Workload>, pace: Duration) {
    let mut client = connect_retrying(&connect).await;
    let mut session = work.sessions.fetch_add(1, Ordering::Relaxed);
    let history = &work.history;
    let mut round = task;
    while !work.stop.load(Ordering::Relaxed) {
        round += 1;
        let key = &work.keys[round % work.keys.len()];
        let result = match role {
            Role::Writer => {
                let value = work.values.fetch_add(1, Ordering::Relaxed);
                let op = history.invoke(session, Op::Write { key: key.clone(), value });
                match client.set_data(key, value.to_string().as_bytes(), None).await {
                    Ok(stat) => {
                        history.ok(op, Ret::Written);
                        history.observe(session, key, stat.version.into(), Some(value));
                        Ok(())
                    }
                    Err(e @ zk::Error::NoNode) => {
                        history.failed(op);
                        panic!("task {task}: {key} is gone: {e}");
                    }
                    Err(e) => {
                        history.unknown(op);
                        Err(e)
                    }
                }
            }
            Role::SyncReader => {
                let op = history.invoke(session, Op::Read { key: key.clone() });
                // Both requests leave now, in this order, on one connection.
                let sync = client.sync(key);
                let read = client.get_data(key);
                match (sync.await, read.await) {
                    (Ok(()), Ok((data, stat))) => {
                        let value = value_of(&data);
                        history.ok(op, Ret::Read(Some(value)));
                        history.observe(session, key, stat.version.into(), Some(value));
                        work.sync_reads.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        history.unknown(op);
                        Err(e)
                    }
                }
            }
            Role::PlainReader => client.get_data(key).await.map(|(data, stat)| {
                history.observe(session, key, stat.version.into(), Some(value_of(&data)));
            }),
        };
        match result {
            Ok(()) => {
                work.progress[task].fetch_add(1, Ordering::Relaxed);
            }
            Err(zk::Error::SessionExpired | zk::Error::ClientClosed) => {
                client = connect_retrying(&connect).await;
                session = work.sessions.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => tokio::time::sleep(BACKOFF).await,
        }
        tokio::time::sleep(pace).await;
    }
}

/// Creates the registers under `prefix` and starts one client task per role on the ensemble, once every task
/// has made progress.
fn start_workload(
    runtime: &tokio::runtime::Runtime,
    ensemble: &Ensemble,
    prefix: &str,
    roles: &[Role],
) -> (Arc<Workload>, Vec<tokio::task::JoinHandle<()>>) {
    let connect = ensemble.connect_string();
    let work = Workload::new(prefix, roles.len());
    runtime.block_on(work.create(&connect, prefix));
    let tasks: Vec<_> = roles
        .iter()
        .enumerate()
        .map(|(task, role)| {
            runtime.spawn(client_task(task, *role, connect.clone(), work.clone(), Duration::from_millis(5)))
        })
        .collect();
    work.wait_for_everyone("start", &vec![0; roles.len()]);
    (work, tasks)
}

/// Stops the clients, waits for every member to converge, and checks the history: linearizable per znode,
/// plain reads in session order, and something read and written.
fn finish_and_check(
    runtime: &tokio::runtime::Runtime,
    ensemble: &Ensemble,
    work: &Workload,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    under: &str,
) {
    work.stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for task in tasks {
            task.await.expect("a client task panicked");
        }
    });
    ensemble.converged().expect("every member on one state digest");

    let summary = check(&work.history).unwrap_or_else(|v| panic!("reads after sync are not linearizable:\n{v}"));
    let order = check_session_order(&work.history).unwrap_or_else(|v| panic!("per-session order: {v}"));
    println!("linearizability under {under}: {summary:?}; session order: {order:?}");
    assert!(summary.reads > 0 && summary.writes > 0, "{summary:?}");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

#[test]
fn reads_after_sync_are_linearizable_across_leader_kills() {
    const CYCLES: usize = 5;
    let roles = [Role::Writer, Role::Writer, Role::SyncReader, Role::SyncReader, Role::PlainReader, Role::PlainReader];
    let runtime = runtime();
    let mut ensemble = start_ensemble();
    let (work, tasks) = start_workload(&runtime, &ensemble, "/lin", &roles);

    for cycle in 0..CYCLES {
        let leader = ensemble.leader().unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
        let before = work.progress();
        ensemble.kill9(leader);
        work.wait_for_everyone(&format!("cycle {cycle}: after the kill"), &before);
        ensemble.restart(leader).unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
        ensemble.leader().unwrap_or_else(|e| panic!("cycle {cycle}, after the restart: {e}"));
    }
    finish_and_check(&runtime, &ensemble, &work, tasks, &format!("{CYCLES} leader kills"));
}

/// The register workload while partitions cut members off (in network namespaces: root only), each cycle
/// isolating the leader or a follower until every client has made progress, then healing: the cut-off
/// member's clients lose their connection (it stops serving) and carry on elsewhere; nothing acknowledged
/// on either side may contradict a single order.
#[test]
fn reads_after_sync_are_linearizable_across_partitions() {
    const CYCLES: usize = 4;
    let roles = [Role::Writer, Role::Writer, Role::SyncReader, Role::SyncReader, Role::PlainReader, Role::PlainReader];
    let runtime = runtime();
    let network = Network::create(3)
        .expect("a test network of namespaces (partition tests need root and iproute2: scripts/install-test-deps)");
    let spec = EnsembleSpec { participants: 3, observers: 0, config: &[] };
    let ensemble = Ensemble::start_in_network(&spec, network).expect("the ensemble starts in its namespaces");
    ensemble.leader().expect("a leader");
    let (work, tasks) = start_workload(&runtime, &ensemble, "/lin-part", &roles);

    let network = ensemble.network().expect("the ensemble's network");
    for cycle in 0..CYCLES {
        let leader = ensemble.leader().unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
        // Even cycles cut the leader off, odd ones a follower.
        let cut = if cycle % 2 == 0 { leader } else { (leader + 1) % ensemble.members.len() };
        let before = work.progress();
        network.isolate(cut).unwrap_or_else(|e| panic!("cycle {cycle}: isolating member {cut}: {e}"));
        let majority: Vec<usize> = (0..ensemble.members.len()).filter(|i| *i != cut).collect();
        ensemble.leader_among(&majority).unwrap_or_else(|e| panic!("cycle {cycle}: the majority: {e}"));
        work.wait_for_everyone(&format!("cycle {cycle}: member {cut} cut off"), &before);
        network.heal().unwrap_or_else(|e| panic!("cycle {cycle}: healing: {e}"));
        ensemble.leader().unwrap_or_else(|e| panic!("cycle {cycle}, after healing: {e}"));
    }
    finish_and_check(&runtime, &ensemble, &work, tasks, &format!("{CYCLES} partitions"));
}

/// Writes through `write_at` and reads after `sync` through `read_at` until `reads` reads are answered.
fn run_until_reads(
    runtime: &tokio::runtime::Runtime,
    write_at: &str,
    read_at: &str,
    prefix: &str,
    reads: usize,
) -> Arc<Workload> {
    let roles = [Role::Writer, Role::SyncReader, Role::SyncReader];
    let work = Workload::new(prefix, roles.len());
    runtime.block_on(work.create(write_at, prefix));
    let tasks: Vec<_> = roles
        .iter()
        .enumerate()
        .map(|(task, role)| {
            let at = if matches!(role, Role::Writer) { write_at } else { read_at };
            runtime.spawn(client_task(task, *role, at.to_owned(), work.clone(), Duration::from_millis(1)))
        })
        .collect();
    let deadline = Instant::now() + PROGRESS_LIMIT;
    while work.sync_reads.load(Ordering::Relaxed) < reads {
        assert!(Instant::now() < deadline, "{reads} reads after sync not answered within {PROGRESS_LIMIT:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    work.stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for task in tasks {
            task.await.expect("a client task panicked");
        }
    });
    work
}

#[test]
fn the_checker_catches_a_read_served_before_sync_completes() {
    const READS: usize = 200;
    let runtime = runtime();
    let mut ensemble = Ensemble::start(3, 0).expect("ensemble starts");
    let leader = ensemble.leader().expect("a leader");
    let lagging = ensemble.followers().expect("followers")[0];

    // The workload on a sound follower is linearizable.
    let (write_at, read_at) = (ensemble.members[leader].addr(), ensemble.members[lagging].addr());
    let work = run_until_reads(&runtime, &write_at, &read_at, "/sound", READS);
    let summary = check(&work.history).unwrap_or_else(|v| panic!("the sound follower's reads:\n{v}"));
    println!("sound follower: {summary:?}");

    // The follower answers sync at once and applies 50 ms late: its reads after sync go stale.
    ensemble.members[lagging]
        .set_env("FAILPOINTS", Some("core::sync_skip_barrier=return;replica::apply_delay=sleep(50)"));
    ensemble.restart(lagging).expect("restart the follower with the planted bug");
    let deadline = Instant::now() + ENSEMBLE_WAIT;
    let leader = loop {
        let leader = ensemble.leader().expect("a leader");
        if leader != lagging {
            break leader;
        }
        // The planted bug needs a follower: let another server lead.
        assert!(Instant::now() < deadline, "the server with the planted bug keeps leading");
        ensemble.restart(lagging).expect("restart the follower with the planted bug");
    };
    let write_at = ensemble.members[leader].addr();
    let work = run_until_reads(&runtime, &write_at, &read_at, "/planted", READS);
    match check(&work.history) {
        Err(violation @ Violation::NotLinearizable { .. }) => println!("the planted bug, caught:\n{violation}"),
        other => panic!("the checker missed reads served before sync completed: {other:?}"),
    }
    ensemble.members[lagging].set_env("FAILPOINTS", None);
}
