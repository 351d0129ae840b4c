//! One benchmark client's loop for each workload, and the budget (operation count or deadline) the
//! clients share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::mpsc;
use zookeeper_client::{Acls, Client, CreateMode, EventType};

use super::Workload;
use super::setup::Layout;

/// Latencies are recorded in microseconds, up to an hour.
const HISTOGRAM_MAX_MICROS: u64 = 3_600_000_000;
/// A watch notification slower than this counts as lost.
const NOTIFICATION_LIMIT: Duration = Duration::from_secs(10);
/// Mixed workload: one operation in this many is a set.
const MIXED_SET_EVERY: u64 = 10;
/// Spreads clients over the key set so they do not all start on the same node.
const KEY_STRIDE: usize = 7919;

/// How much work is left: a number of operations shared by all clients, or a deadline.
#[derive(Clone)]
pub(crate) enum Budget {
    Ops { claimed: Arc<AtomicU64>, limit: u64 },
    Until(Instant),
}

impl Budget {
    pub fn ops(limit: u64) -> Budget {
        Budget::Ops { claimed: Arc::new(AtomicU64::new(0)), limit }
    }

    pub fn until(deadline: Instant) -> Budget {
        Budget::Until(deadline)
    }

    /// Takes one operation from the budget; false when none is left.
    fn claim(&self) -> bool {
        self.claim_up_to(1) == 1
    }

    /// Takes up to `wanted` operations from the budget (fewer at its end); 0 when none is left.
    fn claim_up_to(&self, wanted: u64) -> u64 {
        match self {
            Budget::Ops { claimed, limit } => {
                let before = claimed.fetch_add(wanted, Ordering::Relaxed);
                limit.saturating_sub(before).min(wanted)
            }
            Budget::Until(deadline) => {
                if Instant::now() < *deadline {
                    wanted
                } else {
                    0
                }
            }
        }
    }
}

/// Everything one client task needs.
pub(crate) struct Job {
    pub index: usize,
    pub client: Client,
    /// The watch workload's watcher session (shared by all writers).
    pub watcher: Option<Client>,
    pub layout: Layout,
    pub keys: usize,
    pub value: Vec<u8>,
    /// Creates per request (create workload): above 1, each request is a multi of this many creates.
    pub batch: usize,
    pub budget: Budget,
    /// Completed operations, for the progress bar.
    pub done: Arc<AtomicU64>,
    /// An empty histogram to record into.
    pub latencies: Histogram<u64>,
}

/// One client's results.
pub(crate) struct ClientStats {
    pub latencies: Histogram<u64>,
    pub ops: u64,
    pub errors: u64,
}

/// An empty latency histogram: microseconds, up to an hour, three significant digits.
pub(crate) fn new_histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3)
}

impl ClientStats {
    fn new(job: &Job) -> ClientStats {
        ClientStats { latencies: job.latencies.clone(), ops: 0, errors: 0 }
    }

    fn success(&mut self, latency: Duration, done: &AtomicU64) {
        self.successes(1, latency, done);
    }

    /// A request that did `ops` operations at once (a multi): one latency, `ops` operations.
    fn successes(&mut self, ops: u64, latency: Duration, done: &AtomicU64) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
        self.latencies.saturating_record(micros);
        self.ops += ops;
        done.fetch_add(ops, Ordering::Relaxed);
    }
}

/// Runs `workload` for one client until the budget is spent.
pub(crate) async fn run(workload: Workload, job: Job) -> ClientStats {
    match workload {
        Workload::Create if job.batch > 1 => create_batched(job).await,
        Workload::Create => create(job).await,
        Workload::Watch => watch(job).await,
        Workload::Set | Workload::Get | Workload::Mixed => key_ops(workload, job).await,
        // Measured by the failover module, never run as a workload loop.
        Workload::Failover => ClientStats::new(&job),
    }
}

async fn create(job: Job) -> ClientStats {
    let mut stats = ClientStats::new(&job);
    let prefix = format!("{}/n-", job.layout.client_dir(job.index));
    let options = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
    while job.budget.claim() {
        let start = Instant::now();
        match job.client.create(&prefix, &job.value, &options).await {
            Ok(_) => stats.success(start.elapsed(), &job.done),
            Err(_) => stats.errors += 1,
        }
    }
    stats
}

/// Creates `batch` sequential nodes per request, as one multi (for loading a large tree quickly). An
/// operation is one node created; the latency is the multi's.
async fn create_batched(job: Job) -> ClientStats {
    let mut stats = ClientStats::new(&job);
    let prefix = format!("{}/n-", job.layout.client_dir(job.index));
    let options = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
    loop {
        let count = job.budget.claim_up_to(job.batch as u64);
        if count == 0 {
            break;
        }
        let mut multi = job.client.new_multi_writer();
        let mut added = true;
        for _ in 0..count {
            added &= multi.add_create(&prefix, &job.value, &options).is_ok();
        }
        let start = Instant::now();
        match (added, multi.commit().await) {
            (true, Ok(_)) => stats.successes(count, start.elapsed(), &job.done),
            _ => stats.errors += count,
        }
    }
    stats
}

/// set, get and mixed: operations on the pre-created keys, visited round-robin from a per-client offset.
async fn key_ops(workload: Workload, job: Job) -> ClientStats {
    let mut stats = ClientStats::new(&job);
    let offset = job.index.wrapping_mul(KEY_STRIDE);
    let mut sequence: u64 = 0;
    while job.budget.claim() {
        let key = job.layout.key(offset.wrapping_add(sequence as usize) % job.keys.max(1));
        let is_set = match workload {
            Workload::Set => true,
            Workload::Mixed => sequence % MIXED_SET_EVERY == MIXED_SET_EVERY - 1,
            _ => false,
        };
        sequence += 1;
        let start = Instant::now();
        let result = if is_set {
            job.client.set_data(&key, &job.value, None).await.map(drop)
        } else {
            job.client.get_data(&key).await.map(drop)
        };
        match result {
            Ok(()) => stats.success(start.elapsed(), &job.done),
            Err(_) => stats.errors += 1,
        }
    }
    stats
}

/// The watcher's messages to its writer.
enum Signal {
    /// A data watch is set on the writer's node.
    Armed,
    /// The watch fired at this instant.
    Fired(Instant),
}

/// The writer sets its own node, then waits for the watcher session to be notified; the latency is from
/// issuing the set to the notification's arrival. The watcher re-arms before telling the writer, so no
/// change goes unwatched.
async fn watch(job: Job) -> ClientStats {
    let mut stats = ClientStats::new(&job);
    let Some(watcher) = job.watcher.clone() else {
        stats.errors += 1;
        return stats;
    };
    let key = job.layout.key(job.index);
    let (signals, mut received) = mpsc::channel(2);
    let watching = tokio::spawn(watch_node(watcher, key.clone(), signals));
    let mut armed = matches!(wait_signal(&mut received).await, Some(Signal::Armed));
    while armed && job.budget.claim() {
        let start = Instant::now();
        if job.client.set_data(&key, &job.value, None).await.is_err() {
            stats.errors += 1;
            continue;
        }
        match wait_signal(&mut received).await {
            Some(Signal::Fired(at)) => stats.success(at.saturating_duration_since(start), &job.done),
            _ => {
                stats.errors += 1;
                break;
            }
        }
        armed = matches!(wait_signal(&mut received).await, Some(Signal::Armed));
    }
    watching.abort();
    stats
}

async fn wait_signal(received: &mut mpsc::Receiver<Signal>) -> Option<Signal> {
    tokio::time::timeout(NOTIFICATION_LIMIT, received.recv()).await.ok().flatten()
}

/// Keeps a data watch on `key`, reporting each arming and each notification.
async fn watch_node(watcher: Client, key: String, signals: mpsc::Sender<Signal>) {
    loop {
        let Ok((_, _, oneshot)) = watcher.get_and_watch_data(&key).await else { return };
        if signals.send(Signal::Armed).await.is_err() {
            return;
        }
        let event = oneshot.changed().await;
        if event.event_type != EventType::NodeDataChanged {
            return;
        }
        if signals.send(Signal::Fired(Instant::now())).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ops_budget_hands_out_exactly_its_limit_in_batches() {
        let budget = Budget::ops(250);
        let granted: Vec<u64> = std::iter::from_fn(|| Some(budget.claim_up_to(100))).take(5).collect();
        assert_eq!(granted, [100, 100, 50, 0, 0]);
        assert!(!budget.claim());
    }

    #[test]
    fn a_deadline_budget_grants_everything_until_the_deadline() {
        assert_eq!(Budget::until(Instant::now() + Duration::from_secs(60)).claim_up_to(7), 7);
        assert_eq!(Budget::until(Instant::now()).claim_up_to(7), 0);
    }
}
