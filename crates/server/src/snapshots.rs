//! When snapshots are taken: every `snapCount` applied transactions and on demand, always from a frozen
//! (O(1) clone) copy of the tree, on a blocking thread, one at a time. Writes keep flowing meanwhile: the
//! writer runs at idle priority and paced (`paddock.snapshot.cpuShare`), so requests keep their latency.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Instant;

use paddock_storage::Pace;
use paddock_tree::DataTree;
use tracing::{info, warn};

use crate::persist;
use crate::stats::Latency;

pub struct Snapshots {
    pub dir: PathBuf,
    snap_count: u64,
    /// How much of its time the writer thread may work (`paddock.snapshot.cpuShare`).
    pace: Pace,
    since_last: u64,
    /// Txns after which the next snapshot starts: `snapCount/2` plus a random part, as ZooKeeper rolls it.
    threshold: u64,
    in_flight: Arc<AtomicBool>,
    /// zxid of the newest snapshot on disk (-1: none), for `mntr` and the admin server.
    pub last_zxid: Arc<AtomicI64>,
    pub taken: Arc<AtomicI64>,
    /// How long each snapshot took (`zk_*_snapshottime`).
    pub durations: Arc<std::sync::Mutex<Latency>>,
}

impl Snapshots {
    pub fn new(dir: PathBuf, snap_count: u64, pace: Pace, last_zxid: Option<i64>) -> Self {
        Snapshots {
            dir,
            snap_count: snap_count.max(1),
            pace,
            since_last: 0,
            threshold: roll_threshold(snap_count.max(1)),
            in_flight: Arc::new(AtomicBool::new(false)),
            last_zxid: Arc::new(AtomicI64::new(last_zxid.unwrap_or(-1))),
            taken: Arc::new(AtomicI64::new(0)),
            durations: Arc::new(std::sync::Mutex::new(Latency::default())),
        }
    }

    /// Counts an applied txn and starts a snapshot past the rolled threshold (ZooKeeper's
    /// `SyncRequestProcessor.shouldSnapshot`: more than snapCount/2 + a random share of snapCount/2). As in
    /// ZooKeeper, a snapshot that is due while another is still being written is skipped, not queued: the
    /// count starts over, so snapshots never run back to back.
    pub fn applied(&mut self, tree: &DataTree) {
        self.since_last += 1;
        if self.since_last <= self.threshold {
            return;
        }
        self.since_last = 0;
        self.threshold = roll_threshold(self.snap_count);
        if self.start(tree).is_none() {
            warn!("too busy to snapshot (the previous one is still being written); skipping");
        }
    }

    /// Starts a background snapshot of `tree` as it is now, unless one is already being written.
    /// Returns a receiver for the snapshot's path (or error).
    pub fn start(&self, tree: &DataTree) -> Option<tokio::sync::oneshot::Receiver<Result<(i64, PathBuf), String>>> {
        if self.in_flight.swap(true, Ordering::AcqRel) {
            return None;
        }
        let frozen = tree.clone();
        let dir = self.dir.clone();
        let pace = self.pace;
        let in_flight = self.in_flight.clone();
        let last = self.last_zxid.clone();
        let taken = self.taken.clone();
        let durations = self.durations.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new().name("paddock-snapshot".into()).spawn(move || {
            lower_priority();
            let started = Instant::now();
            let zxid = frozen.last_zxid();
            let result = persist::write_snapshot(&dir, &frozen, pace);
            in_flight.store(false, Ordering::Release);
            let outcome = match result {
                Ok(path) => {
                    last.store(zxid, Ordering::Release);
                    taken.fetch_add(1, Ordering::Relaxed);
                    crate::metrics::snapshot_written(started.elapsed());
                    if let Ok(mut d) = durations.lock() {
                        d.add(started.elapsed());
                    }
                    info!(zxid = format_args!("0x{zxid:x}"), nodes = frozen.node_count(), path = %path.display(),
                          elapsed_ms = started.elapsed().as_millis() as u64, "snapshot written");
                    Ok((zxid, path))
                }
                Err(e) => {
                    warn!(zxid = format_args!("0x{zxid:x}"), "snapshot failed: {e}");
                    Err(e.to_string())
                }
            };
            let _ = tx.send(outcome);
        });
        if let Err(e) = spawned {
            self.in_flight.store(false, Ordering::Release);
            warn!("cannot start the snapshot thread: {e}");
            return None;
        }
        Some(rx)
    }
}

/// snapCount/2 plus a random part below snapCount/2, so that replicas do not all snapshot at once.
pub(crate) fn roll_threshold(snap_count: u64) -> u64 {
    let half = snap_count / 2;
    half + if half > 0 { rand::random_range(0..half) } else { 0 }
}

/// Snapshots are background work: on a small machine they must not take CPU from requests (the p99.9 of
/// writes during a snapshot is the figure that matters). `SCHED_IDLE` runs the writer only on CPU time
/// nobody else wants, and the scheduler preempts it at once when a request thread wakes up — unlike a
/// nice level, which still shares each core and delays the woken thread. Where `SCHED_IDLE` is refused,
/// nice 10 is the fallback.
fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread; failure only means a milder priority is kept.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 10);
        }
    }
}
