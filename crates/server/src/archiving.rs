//! Continuous archiving (issue 11, `paddock.backup.*`): every durable log entry goes to the backup target
//! through [`paddock_backup::archive::Archiver`], which reads it back from the log directory up to the index
//! the core reports durable; and the whole tree is backed up there, from a frozen (O(1)) copy, at start when
//! the target holds no backup of this cluster yet (so that the archived log always has a base to replay
//! from), then every `paddock.backup.snapshotInterval`.
//!
//! A standalone server archives its WAL under its data directory's cluster id. In an ensemble the leader
//! archives its Raft log (the txns the members apply, `paddock_consensus::applied_txn`) under the
//! ensemble's cluster id, which its first leader wrote into the log; when leadership moves, the new leader
//! lists the archive and continues after it. Committed entries are the same in every member's log, so
//! there is neither a gap nor a conflicting object.
//!
//! Retention keeps log segments until they are archived, within `paddock.backup.maxUnarchivedBytes`
//! (`retention.rs` standalone; a member's Raft log store through an [`ArchiveGate`], which followers
//! move from what they list in the target). Failures are logged, counted and retried; they never stop the server. `mntr`, the
//! AdminServer and `/metrics` read the archive's state through an [`ArchiveView`], never the core's fields.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use paddock_backup::archive::{self, ArchiveStatus, Archiver, TxnOf};
use paddock_backup::prune::Policy;
use paddock_backup::target::Target;
use paddock_consensus::replica::Role;
use paddock_proto::display::java_double;
use paddock_storage::archive_gate::ArchiveGate;
use paddock_storage::cluster_id::ClusterId;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::Shared;
use crate::config::{ConfigError, ServerConfig};

/// The zoo.cfg key naming the target.
pub const TARGET_KEY: &str = "paddock.backup.target";

/// The zoo.cfg key naming the key files that encrypt it.
pub const KEY_FILE_KEY: &str = "paddock.backup.encryptionKeyFile";

/// First wait before a failed scheduled backup (or a failed look at the target) is retried; doubled after
/// each failure up to [`RETRY_MAX`] (and never beyond the backup interval).
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Opens `paddock.backup.target`, if set, encrypting with `paddock.backup.encryptionKeyFile`'s keys if any.
/// A target or a key file that cannot be used is a configuration error naming the key, the value and the
/// problem, on one line.
pub(crate) fn open_target(config: &ServerConfig) -> Result<Option<Target>, ConfigError> {
    let Some(spec) = &config.backup.target else { return Ok(None) };
    let target = Target::open(spec).map_err(|e| ConfigError::Invalid {
        key: TARGET_KEY.to_string(),
        value: spec.clone(),
        reason: e.to_string().replace('\n', " "),
    })?;
    let files = &config.backup.encryption_key_files;
    if files.is_empty() {
        return Ok(Some(target));
    }
    let keyring = paddock_backup::encryption::Keyring::load(files).map_err(|e| ConfigError::Invalid {
        key: KEY_FILE_KEY.to_string(),
        value: files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(","),
        reason: e.to_string().replace('\n', " "),
    })?;
    info!(key_id = %keyring.primary().id(), "backup target {spec}: objects are encrypted");
    Ok(Some(target.with_keyring(keyring)))
}

/// The archive's state as `mntr`, the AdminServer, `/metrics` and retention read it. Cheap to clone.
#[derive(Clone)]
pub struct ArchiveView {
    status: Arc<ArchiveStatus>,
    /// The last zxid the core reported durable (what the archiver is told).
    durable: watch::Receiver<i64>,
    /// A member's: what holds its Raft log's purges back.
    gate: Option<Arc<ArchiveGate>>,
    counters: Arc<Counters>,
}

#[derive(Debug)]
struct Counters {
    /// Purges that went past unarchived entries because of `maxUnarchivedBytes`.
    cap_exceeded: AtomicU64,
    snapshots: AtomicU64,
    snapshot_failures: AtomicU64,
    /// zxid of the newest backup of the tree this server made or found in the target (-1: none yet).
    last_snapshot_zxid: AtomicI64,
    /// Objects deleted by the server's retention policy, and failed prunes.
    pruned_objects: AtomicU64,
    prune_failures: AtomicU64,
    /// The last scheduled verification: problems found (-1: none ran yet) and when it ended (ms).
    verify_problems: AtomicI64,
    verify_ended_ms: AtomicI64,
}

impl ArchiveView {
    /// The last zxid archived (0 before the first, or while the target cannot be listed).
    pub fn archived(&self) -> i64 {
        self.status.archived()
    }

    /// Durable entries not yet archived, counted against the latest durable zxid.
    pub fn lag_zxids(&self) -> i64 {
        (*self.durable.borrow() - self.archived()).max(0)
    }

    /// How long the oldest unarchived entry has waited, in seconds (0 while caught up).
    pub fn lag_seconds(&self) -> f64 {
        self.status.lag_seconds()
    }

    /// Unix time (ms) of the last archived upload, `None` before the first.
    pub fn last_upload_ms(&self) -> Option<i64> {
        Some(self.status.last_upload_ms()).filter(|ms| *ms > 0)
    }

    pub fn failures(&self) -> u64 {
        self.status.failures()
    }

    pub fn last_error(&self) -> Option<String> {
        self.status.last_error()
    }

    pub fn cap_exceeded(&self) -> u64 {
        let member = self.gate.as_ref().map_or(0, |gate| gate.cap_exceeded());
        self.counters.cap_exceeded.load(Ordering::Acquire) + member
    }

    pub(crate) fn count_cap_exceeded(&self) {
        self.counters.cap_exceeded.fetch_add(1, Ordering::AcqRel);
    }

    /// The `mntr` lines (`zk_paddock_archive_*`).
    pub fn mntr(&self) -> Vec<(String, String)> {
        let age = self.last_upload_ms().map_or_else(|| "-1".to_string(), |ms| seconds(now_ms() - ms));
        [
            ("zk_paddock_archive_last_zxid", self.archived().to_string()),
            ("zk_paddock_archive_lag_zxids", self.lag_zxids().to_string()),
            ("zk_paddock_archive_lag_seconds", java_double(round_ms(self.lag_seconds()))),
            ("zk_paddock_archive_last_upload_age_seconds", age),
            ("zk_paddock_archive_failures", self.failures().to_string()),
            ("zk_paddock_archive_cap_exceeded", self.cap_exceeded().to_string()),
            ("zk_paddock_backup_pruned_objects", self.counters.pruned_objects.load(Ordering::Acquire).to_string()),
            ("zk_paddock_backup_verify_problems", self.counters.verify_problems.load(Ordering::Acquire).to_string()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
    }

    /// The Prometheus lines (`paddock_backup_*`), read now.
    pub fn prometheus(&self, out: &mut String) {
        let c = &self.counters;
        let last_upload = self.last_upload_ms().map_or(0.0, |ms| ms as f64 / 1000.0);
        let verified = c.verify_ended_ms.load(Ordering::Acquire) as f64 / 1000.0;
        let metrics: [(&str, &str, &str, String); 15] = [
            (
                "paddock_backup_archive_last_zxid",
                "gauge",
                "The last zxid archived (0: none yet).",
                self.archived().to_string(),
            ),
            (
                "paddock_backup_archive_lag_zxids",
                "gauge",
                "Durable log entries not yet archived.",
                self.lag_zxids().to_string(),
            ),
            (
                "paddock_backup_archive_lag_seconds",
                "gauge",
                "How long the oldest unarchived log entry has waited (0 while caught up).",
                round_ms(self.lag_seconds()).to_string(),
            ),
            (
                "paddock_backup_archive_last_upload_timestamp_seconds",
                "gauge",
                "Unix time of the last archived log upload (0: none yet).",
                last_upload.to_string(),
            ),
            (
                "paddock_backup_archive_failures_total",
                "counter",
                "Failed archive uploads and listings.",
                self.failures().to_string(),
            ),
            (
                "paddock_backup_archive_cap_exceeded_total",
                "counter",
                "Log purges that went past unarchived entries (paddock.backup.maxUnarchivedBytes).",
                self.cap_exceeded().to_string(),
            ),
            (
                "paddock_backup_archive_objects_total",
                "counter",
                "Archived log objects uploaded.",
                self.status.objects().to_string(),
            ),
            (
                "paddock_backup_archive_bytes_total",
                "counter",
                "Bytes of archived log objects uploaded.",
                self.status.bytes().to_string(),
            ),
            (
                "paddock_backup_snapshots_total",
                "counter",
                "Scheduled backups of the tree completed (or found already there).",
                c.snapshots.load(Ordering::Acquire).to_string(),
            ),
            (
                "paddock_backup_snapshot_failures_total",
                "counter",
                "Scheduled backups of the tree that failed.",
                c.snapshot_failures.load(Ordering::Acquire).to_string(),
            ),
            (
                "paddock_backup_last_snapshot_zxid",
                "gauge",
                "zxid of the newest backup of the tree (-1: none known).",
                c.last_snapshot_zxid.load(Ordering::Acquire).to_string(),
            ),
            (
                "paddock_backup_pruned_objects_total",
                "counter",
                "Objects the server's retention policy (paddock.backup.retain*) deleted from the target.",
                c.pruned_objects.load(Ordering::Acquire).to_string(),
            ),
            (
                "paddock_backup_prune_failures_total",
                "counter",
                "Applications of the retention policy that failed.",
                c.prune_failures.load(Ordering::Acquire).to_string(),
            ),
            (
                "paddock_backup_verify_problems",
                "gauge",
                "Problems the last scheduled verification of the target found (-1: none ran yet).",
                c.verify_problems.load(Ordering::Acquire).to_string(),
            ),
            (
                "paddock_backup_verify_last_timestamp_seconds",
                "gauge",
                "Unix time the last scheduled verification ended (0: none yet).",
                verified.to_string(),
            ),
        ];
        for (name, kind, help, value) in metrics {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
        }
    }
}

/// Everything archiving needs, made before the core starts (it gets the sender of durable zxids) and
/// started once the server is up ([`Archiving::spawn`] standalone, [`Archiving::spawn_member`] in an
/// ensemble).
pub(crate) struct Archiving {
    target: Target,
    /// The log the archiver reads, and how its records hold txns.
    log_dir: PathBuf,
    txn_of: TxnOf,
    interval: Duration,
    snapshot_interval: Duration,
    /// The retention policy, for no cluster yet (the cluster is known when archiving starts).
    retention: Option<Policy>,
    verify_interval: Option<Duration>,
    view: ArchiveView,
    durable: watch::Receiver<i64>,
}

impl Archiving {
    /// A standalone server's: `durable` is the recovered tree's last zxid (everything up to it is on disk).
    /// The core sends each later durable zxid through the returned sender.
    pub(crate) fn new(config: &ServerConfig, target: Target, durable: i64) -> (Archiving, watch::Sender<i64>) {
        let log_dir = paddock_storage::wal_dir(config.log_dir());
        Archiving::with_log(config, target, durable, log_dir, archive::whole_record, None)
    }

    /// A member's: it archives its Raft log in `raft_dir` while it leads. The core sends each applied log
    /// index through the returned sender; the gate holds the log's purges back until entries are archived.
    pub(crate) fn new_member(
        config: &ServerConfig,
        target: Target,
        raft_dir: &std::path::Path,
    ) -> (Archiving, watch::Sender<i64>, Arc<ArchiveGate>) {
        let gate = Arc::new(ArchiveGate::new(config.backup.max_unarchived_bytes));
        let log_dir = raft_dir.join("log");
        let (archiving, durable) = Archiving::with_log(config, target, 0, log_dir, member_txn_of, Some(gate.clone()));
        (archiving, durable, gate)
    }

    fn with_log(
        config: &ServerConfig,
        target: Target,
        durable: i64,
        log_dir: PathBuf,
        txn_of: TxnOf,
        gate: Option<Arc<ArchiveGate>>,
    ) -> (Archiving, watch::Sender<i64>) {
        let (tx, rx) = watch::channel(durable);
        let view = ArchiveView {
            status: Arc::new(ArchiveStatus::default()),
            durable: rx.clone(),
            gate,
            counters: Arc::new(Counters {
                cap_exceeded: AtomicU64::new(0),
                snapshots: AtomicU64::new(0),
                snapshot_failures: AtomicU64::new(0),
                last_snapshot_zxid: AtomicI64::new(-1),
                pruned_objects: AtomicU64::new(0),
                prune_failures: AtomicU64::new(0),
                verify_problems: AtomicI64::new(-1),
                verify_ended_ms: AtomicI64::new(0),
            }),
        };
        let archiving = Archiving {
            target,
            log_dir,
            txn_of,
            interval: config.backup.archive_interval,
            snapshot_interval: config.backup.snapshot_interval,
            retention: retention_policy(config),
            verify_interval: config.backup.verify_interval,
            view,
            durable: rx,
        };
        (archiving, tx)
    }

    pub(crate) fn view(&self) -> ArchiveView {
        self.view.clone()
    }

    /// Starts a standalone server's archiver and scheduled backups for `cluster_id`; `tree_zxid` is where
    /// the recovered tree stands. They run until aborted (at shutdown).
    pub(crate) fn spawn(self, shared: Arc<Shared>, cluster_id: ClusterId, tree_zxid: i64) -> Vec<JoinHandle<()>> {
        self.start_for(&shared, &cluster_id, tree_zxid)
    }

    /// Starts a member's archiving: while `role` says it leads and the ensemble has named its cluster, the
    /// archiver, the scheduled backups and verification run for that cluster (the next leader lists the
    /// archive and continues after it); while it does not, it follows the archive's position from the
    /// target, for its own log's purges and `mntr`.
    pub(crate) fn spawn_member(
        self,
        shared: Arc<Shared>,
        mut role: watch::Receiver<Role>,
        mut ensemble_id: watch::Receiver<Option<ClusterId>>,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let cluster_id = *ensemble_id.borrow_and_update();
                let leading = *role.borrow_and_update() == Role::Leader;
                if let (true, Some(id)) = (leading, cluster_id) {
                    let tree_zxid = shared.inspect(|core| core.tree.last_zxid()).await.unwrap_or(0);
                    info!(cluster_id = %id, "leading the ensemble: archiving its log");
                    let tasks = self.start_for(&shared, &id, tree_zxid);
                    let gate = tokio::spawn(follow_own_archive(self.view.clone(), self.interval));
                    while *role.borrow_and_update() == Role::Leader {
                        if role.changed().await.is_err() {
                            break;
                        }
                    }
                    info!("no longer leading: archiving stops here (the next leader continues it)");
                    tasks.iter().chain([&gate]).for_each(JoinHandle::abort);
                    continue;
                }
                if let Some(id) = cluster_id {
                    self.learn_archived(&id).await;
                }
                let follow = tokio::time::sleep(follow_interval(self.interval));
                tokio::select! {
                    changed = role.changed() => if changed.is_err() { return },
                    changed = ensemble_id.changed() => if changed.is_err() { return },
                    () = follow => {}
                }
            }
        })
    }

    /// A member that does not lead learns how far the leader has archived (a failure is left for the next
    /// look: purges stay held back meanwhile).
    async fn learn_archived(&self, cluster_id: &ClusterId) {
        match archive::last_archived(&self.target, &cluster_id.to_string()).await {
            Ok(archived) => {
                self.view.status.learned(archived);
                if let Some(gate) = &self.view.gate {
                    gate.set_archived(archived);
                }
            }
            Err(e) => warn!(target = self.target.display(), "cannot list the archive: {e}"),
        }
    }

    /// The archiver, the scheduled backups and their verification, for `cluster_id`.
    fn start_for(&self, shared: &Arc<Shared>, cluster_id: &ClusterId, tree_zxid: i64) -> Vec<JoinHandle<()>> {
        info!(
            target = self.target.display(),
            %cluster_id,
            archive_interval_ms = self.interval.as_millis() as u64,
            snapshot_interval_s = self.snapshot_interval.as_secs(),
            "continuous archiving on"
        );
        let archiver = Archiver {
            target: self.target.clone(),
            cluster_id: cluster_id.to_string(),
            wal_dir: self.log_dir.clone(),
            txn_of: self.txn_of,
            interval: self.interval,
            status: self.view.status.clone(),
        };
        let mut tasks = vec![tokio::spawn(archiver.run(tree_zxid, self.durable.clone()))];
        if let Some(every) = self.verify_interval {
            tasks.push(tokio::spawn(verify_every(self.target.clone(), every, self.view.clone())));
        }
        let retention = self.retention.clone().map(|policy| Policy { cluster: Some(cluster_id.to_string()), ..policy });
        let scheduled = ScheduledBackups {
            shared: shared.clone(),
            target: self.target.clone(),
            cluster_id: cluster_id.to_string(),
            every: self.snapshot_interval,
            retention,
            view: self.view.clone(),
        };
        tasks.push(tokio::spawn(scheduled.run()));
        tasks
    }
}

/// The txn a member's Raft log record holds (`paddock_consensus::applied_txn`).
fn member_txn_of(index: u64, record: &[u8]) -> Result<Option<Cow<'_, [u8]>>, String> {
    paddock_consensus::applied_txn(index, record).map(|txn| txn.map(Cow::Owned)).map_err(|e| e.to_string())
}

/// How often a member that does not lead lists the archive: often enough that its log's purges follow,
/// rarely enough that listing a large archive costs little.
fn follow_interval(archive_interval: Duration) -> Duration {
    (archive_interval * 10).max(Duration::from_secs(5))
}

/// While this member leads, its log's purges follow its own archiver.
async fn follow_own_archive(view: ArchiveView, every: Duration) {
    loop {
        if let Some(gate) = &view.gate {
            gate.set_archived(view.archived());
        }
        tokio::time::sleep(every.min(Duration::from_secs(1))).await;
    }
}

/// Backups of the whole tree into the target: one at start if the target holds none of this cluster, then
/// one every `every` (counted from the newest backup's time stamp, so restarts do not postpone them).
struct ScheduledBackups {
    shared: Arc<Shared>,
    target: Target,
    cluster_id: String,
    every: Duration,
    /// Applied to this cluster's backups after each scheduled backup.
    retention: Option<Policy>,
    view: ArchiveView,
}

impl ScheduledBackups {
    async fn run(self) {
        let mut retry = RETRY_FIRST;
        let mut next = loop {
            match paddock_backup::catalog::read(&self.target).await {
                Ok(catalog) => match catalog.cluster(&self.cluster_id).and_then(|c| c.snapshots.last()) {
                    None => {
                        info!(
                            target = self.target.display(),
                            "the target holds no backup of this cluster: backing up the tree now, as the base the \
                             archived log replays from"
                        );
                        break Instant::now();
                    }
                    Some(newest) => {
                        self.view.counters.last_snapshot_zxid.store(newest.zxid, Ordering::Release);
                        break Instant::now() + due_in(newest.time_ms, now_ms(), self.every);
                    }
                },
                Err(e) => {
                    self.failed(&format!("cannot read what the target holds: {e}"), retry);
                    tokio::time::sleep(retry).await;
                    retry = next_retry(retry, self.every);
                }
            }
        };
        loop {
            tokio::time::sleep_until(next.into()).await;
            match self.back_up_once().await {
                Ok(created) => {
                    self.view.counters.snapshots.fetch_add(1, Ordering::AcqRel);
                    self.view.counters.last_snapshot_zxid.fetch_max(created.zxid, Ordering::AcqRel);
                    info!(
                        target = self.target.display(),
                        zxid = format_args!("0x{:x}", created.zxid),
                        bytes = created.snapshot_bytes,
                        already_present = created.already_present,
                        seconds = created.seconds,
                        "backed up the tree"
                    );
                    retry = RETRY_FIRST;
                    next = Instant::now() + self.every;
                    self.apply_retention().await;
                }
                Err(e) => {
                    self.failed(&format!("backing up the tree failed: {e}"), retry);
                    next = Instant::now() + retry;
                    retry = next_retry(retry, self.every);
                }
            }
        }
    }

    /// Freezes the tree between two applies and uploads it with its manifest.
    async fn back_up_once(&self) -> Result<paddock_backup::create::Created, String> {
        let frozen = self.shared.inspect(|core| core.serving().then(|| core.tree.clone())).await;
        let Some(Some(tree)) = frozen else { return Err("the server is not serving".to_string()) };
        let config = &self.shared.config;
        let source = format!("server {}:{}", config.client_port_address, config.client_port);
        paddock_backup::create::from_tree(tree, &self.cluster_id, source, &self.target).await.map_err(|e| e.to_string())
    }

    /// Prunes this cluster's backups by the configured policy, right after a backup succeeded (so the
    /// newest restore point is always among those kept). A failure is logged and counted, and retried after
    /// the next backup.
    async fn apply_retention(&self) {
        let Some(policy) = &self.retention else { return };
        let counters = &self.view.counters;
        match paddock_backup::prune::prune(&self.target, policy, now_ms(), false).await {
            Ok(pruned) => {
                counters.pruned_objects.fetch_add(pruned.deleted.len() as u64, Ordering::AcqRel);
                if !pruned.deleted.is_empty() {
                    info!(
                        target = self.target.display(),
                        deleted = pruned.deleted.len(),
                        held = pruned.held.len(),
                        bytes_freed = pruned.bytes_freed,
                        "applied the backup retention policy"
                    );
                }
            }
            Err(e) => {
                counters.prune_failures.fetch_add(1, Ordering::AcqRel);
                warn!(target = self.target.display(), "applying the backup retention policy failed: {e}");
            }
        }
    }

    fn failed(&self, why: &str, retry: Duration) {
        self.view.counters.snapshot_failures.fetch_add(1, Ordering::AcqRel);
        warn!(target = self.target.display(), retry_in_ms = retry.as_millis() as u64, "{why}");
    }
}

/// The server's retention policy (for its own cluster, named when archiving starts): `None` unless
/// retainLast or retainWithin is set.
fn retention_policy(config: &ServerConfig) -> Option<Policy> {
    let backup = &config.backup;
    if backup.retain_last.is_none() && backup.retain_within.is_none() {
        return None;
    }
    Some(Policy {
        keep_last: backup.retain_last,
        keep_within: backup.retain_within,
        grace: backup.retain_grace,
        cluster: None,
    })
}

/// Verifies everything in the target every `every`, as `paddock backup verify` does, and keeps the result
/// for `mntr` and `/metrics`; every problem is logged at error level, naming the object and zxid.
async fn verify_every(target: Target, every: Duration, view: ArchiveView) {
    loop {
        tokio::time::sleep(every).await;
        let problems = match paddock_backup::verify::verify(&target, &|_| {}).await {
            Ok(verified) => {
                for p in &verified.problems {
                    error!(target = target.display(), key = %p.key, zxid = ?p.zxid, "backup verification: {}", p.problem);
                }
                info!(
                    target = target.display(),
                    sound = verified.sound,
                    problems = verified.problems.len(),
                    "verified the backups"
                );
                verified.problems.len() as i64
            }
            Err(e) => {
                error!(target = target.display(), "backup verification could not read the target: {e}");
                1
            }
        };
        view.counters.verify_problems.store(problems, Ordering::Release);
        view.counters.verify_ended_ms.store(now_ms(), Ordering::Release);
    }
}

/// How long until the next backup is due when the newest one holds the tree as of `newest_ms`: `every`
/// after it, or now if that has passed.
fn due_in(newest_ms: i64, now_ms: i64, every: Duration) -> Duration {
    let age = Duration::from_millis(u64::try_from(now_ms - newest_ms).unwrap_or(0));
    every.saturating_sub(age)
}

fn next_retry(retry: Duration, every: Duration) -> Duration {
    (retry * 2).min(RETRY_MAX).min(every.max(RETRY_FIRST))
}

/// Seconds as `mntr` prints them (milliseconds kept).
fn seconds(ms: i64) -> String {
    java_double(ms.max(0) as f64 / 1000.0)
}

fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_backup_is_due_an_interval_after_the_newest() {
        let day = Duration::from_secs(86_400);
        assert_eq!(due_in(1_000, 1_000, day), day);
        assert_eq!(due_in(0, 3_600_000, day), day - Duration::from_secs(3600));
        assert_eq!(due_in(0, 2 * 86_400_000, day), Duration::ZERO, "overdue: now");
        assert_eq!(due_in(5_000, 1_000, day), day, "a newest backup stamped in the future counts as now");
    }

    #[test]
    fn retries_back_off_within_the_interval() {
        let day = Duration::from_secs(86_400);
        assert_eq!(next_retry(RETRY_FIRST, day), Duration::from_secs(2));
        assert_eq!(next_retry(Duration::from_secs(200), day), RETRY_MAX);
        assert_eq!(next_retry(Duration::from_secs(4), Duration::from_secs(5)), Duration::from_secs(5));
        assert_eq!(next_retry(RETRY_FIRST, Duration::from_millis(10)), RETRY_FIRST);
    }

    #[test]
    fn mntr_lines_before_anything_is_archived() {
        let dir = tempfile::tempdir().expect("dir");
        let target = Target::open(&dir.path().join("target").display().to_string()).expect("target");
        let (archiving, durable) = Archiving::new(&ServerConfig::default(), target, 5);
        let view = archiving.view();
        let lines: std::collections::BTreeMap<String, String> = view.mntr().into_iter().collect();
        assert_eq!(lines["zk_paddock_archive_last_zxid"], "0");
        assert_eq!(lines["zk_paddock_archive_lag_zxids"], "5");
        assert_eq!(lines["zk_paddock_archive_last_upload_age_seconds"], "-1");
        assert_eq!(lines["zk_paddock_archive_failures"], "0");
        durable.send_replace(9);
        assert_eq!(view.lag_zxids(), 9);
        let mut text = String::new();
        view.prometheus(&mut text);
        assert!(text.contains("# TYPE paddock_backup_archive_failures_total counter\n"), "{text}");
        assert!(text.contains("\npaddock_backup_archive_lag_zxids 9\n"), "{text}");
        assert!(text.contains("\npaddock_backup_archive_last_upload_timestamp_seconds 0\n"), "{text}");
    }
}
