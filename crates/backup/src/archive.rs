//! Continuous archiving: every durable log entry goes to the target, in order, as archived segments
//! (`segment.rs`), at least every `interval` while there are unarchived entries; so the recovery point
//! objective is that interval. Entries are read back from the server's WAL directory (read-only, and only
//! up to what the server reports durable), never from memory: an archiver that falls behind catches up
//! from disk, and the server must keep its segments until they are archived (`ArchiveStatus::archived`).
//!
//! Objects are written create-only and named by their zxid range: an archiver that restarts, or the next
//! leader, lists what is there and continues after the last archived zxid, so there is neither a gap nor a
//! conflicting object.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::BackupError;
use crate::segment::{self, SegmentBuilder, SegmentName};
use crate::target::Target;

/// Durable zxids whose arrival time is kept for the lag in seconds: with one per commit batch, enough for
/// several seconds of a busy server between two uploads; past it, the newest pair absorbs new entries.
const PENDING_TIMES: usize = 4096;

/// Where an archiver stands, shared with the server (retention, `mntr`, metrics).
#[derive(Debug, Default)]
pub struct ArchiveStatus {
    /// The last zxid archived; 0 before the first (zxids start at 1).
    archived: AtomicI64,
    /// The last durable zxid the archiver has heard of.
    durable: AtomicI64,
    /// Unix time (ms) of the last successful upload; 0 before the first.
    last_upload_ms: AtomicI64,
    /// When each durable zxid not yet archived was first heard of, oldest first: `(zxid, ms)` means the
    /// entries up to `zxid` after the previous pair's were durable by `ms`. Bounded by `PENDING_TIMES`.
    pending: Mutex<VecDeque<(i64, i64)>>,
    objects: AtomicU64,
    bytes: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ArchiveStatus {
    pub fn archived(&self) -> i64 {
        self.archived.load(Ordering::Acquire)
    }

    /// Zxids durable here but not yet archived.
    pub fn lag_zxids(&self) -> i64 {
        (self.durable.load(Ordering::Acquire) - self.archived()).max(0)
    }

    /// How long the oldest unarchived entry has waited, in seconds (0 while caught up).
    pub fn lag_seconds(&self) -> f64 {
        match self.pending.lock().unwrap_or_else(PoisonError::into_inner).front() {
            None => 0.0,
            Some((_, since)) => (now_ms() - since).max(0) as f64 / 1000.0,
        }
    }

    pub fn last_upload_ms(&self) -> i64 {
        self.last_upload_ms.load(Ordering::Acquire)
    }

    pub fn objects(&self) -> u64 {
        self.objects.load(Ordering::Acquire)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Acquire)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Acquire)
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn heard(&self, durable: i64) {
        self.durable.store(durable, Ordering::Release);
        if durable <= self.archived() {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let full = pending.len() >= PENDING_TIMES;
        match pending.back_mut() {
            Some((zxid, _)) if durable <= *zxid => {}
            // Full: the newest pair absorbs the new entries, with its older time (the lag reads high, never low).
            Some((zxid, _)) if full => *zxid = durable,
            _ => pending.push_back((durable, now_ms())),
        }
    }

    fn uploaded(&self, last: i64, bytes: u64) {
        self.last_upload_ms.store(now_ms(), Ordering::Release);
        self.objects.fetch_add(1, Ordering::AcqRel);
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.caught_up_to(last);
    }

    /// When the oldest unarchived entry must start its upload to be archived within `interval`.
    fn upload_due(&self, interval: Duration) -> Option<tokio::time::Instant> {
        let arrived_ms = self.pending.lock().unwrap_or_else(PoisonError::into_inner).front()?.1;
        let due_ms = arrived_ms + (interval * UPLOAD_DUE.0 / UPLOAD_DUE.1).as_millis() as i64;
        let from_now = Duration::from_millis(u64::try_from(due_ms - now_ms()).unwrap_or(0));
        Some(tokio::time::Instant::now() + from_now)
    }

    /// Another archiver (an ensemble's leader) has archived up to `last`, as a listing of the target says.
    pub fn learned(&self, last: i64) {
        self.caught_up_to(last);
    }

    /// Everything up to `last` is archived: its arrival times are forgotten.
    fn caught_up_to(&self, last: i64) {
        self.archived.store(last, Ordering::Release);
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        while pending.front().is_some_and(|(zxid, _)| *zxid <= last) {
            pending.pop_front();
        }
    }

    fn failed(&self, why: String) {
        self.failures.fetch_add(1, Ordering::AcqRel);
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
    }
}

/// The txn a log record holds, if any: a standalone server's WAL record is a txn; a member's Raft log
/// record is an envelope holding one or none (`paddock_consensus::applied_txn`). `Err` names the damage.
pub type TxnOf = fn(u64, &[u8]) -> Result<Option<Cow<'_, [u8]>>, String>;

/// [`TxnOf`] for a standalone server's WAL: every record is a txn.
pub fn whole_record(_index: u64, payload: &[u8]) -> Result<Option<Cow<'_, [u8]>>, String> {
    Ok(Some(Cow::Borrowed(payload)))
}

/// What an archiver archives and where.
pub struct Archiver {
    pub target: Target,
    pub cluster_id: String,
    /// The log directory: a standalone server's WAL (`<dataLogDir>/paddock/wal`) or a member's Raft log
    /// (`<dataLogDir>/paddock/raft/log`).
    pub wal_dir: PathBuf,
    pub txn_of: TxnOf,
    /// The longest an entry waits before it is archived.
    pub interval: Duration,
    pub status: Arc<ArchiveStatus>,
}

impl Archiver {
    /// Archives until `durable` is closed: every entry up to the index it holds. Failures are counted,
    /// reported in the status and retried at the next interval; they never stop the server.
    ///
    /// Archiving continues after the highest index archived. An archive that holds nothing of this cluster
    /// yet starts after its newest backup of the tree, or, with none, after `tree_zxid` (the tree's zxid
    /// now: the server backs it up next, and that backup covers it), so a log purged long before
    /// archiving was turned on is not a gap.
    pub async fn run(self, tree_zxid: i64, mut durable: watch::Receiver<i64>) {
        self.status.heard(*durable.borrow_and_update());
        let mut archived = loop {
            match self.start_point(tree_zxid).await {
                Ok(start) => break start,
                Err(e) => {
                    self.failure(format!("cannot list the archive: {e}"));
                    if wait(&mut durable, self.interval, &self.status, true).await.is_err() {
                        return;
                    }
                }
            }
        };
        self.status.caught_up_to(archived.index);
        info!(target = self.target.display(), archived = archived.index, "archiving the log");
        loop {
            let upto = *durable.borrow_and_update();
            self.status.heard(upto);
            let mut failed = false;
            while archived.index < upto && !failed {
                match self.upload_next(archived, upto).await {
                    Ok(Some(next)) => archived = next,
                    Ok(None) => {
                        self.failure(format!("the log holds nothing after zxid {}, short of {upto}", archived.index));
                        failed = true;
                    }
                    Err(e) => {
                        self.failure(e.to_string());
                        failed = true;
                    }
                }
            }
            if wait(&mut durable, self.interval, &self.status, failed).await.is_err() {
                return;
            }
        }
    }

    /// The last index archived, or where an empty archive starts (see [`Archiver::run`]).
    async fn start_point(&self, tree_zxid: i64) -> Result<Archived, BackupError> {
        if let Some(newest) = newest_segment(&self.target, &self.cluster_id).await? {
            return Ok(Archived { index: newest.last, time_ms: newest.last_time_ms });
        }
        let catalog = crate::catalog::read(&self.target).await?;
        let base = catalog.cluster(&self.cluster_id).and_then(|c| c.snapshots.last()).filter(|m| m.zxid <= tree_zxid);
        Ok(base.map_or(Archived { index: tree_zxid, time_ms: 0 }, |m| Archived { index: m.zxid, time_ms: m.time_ms }))
    }

    /// Uploads the entries after `archived`, up to `upto` and at most `segment::MAX_RAW_BYTES` of them, as
    /// one object. Returns where the archive stands then; `None` when the log holds nothing to upload.
    async fn upload_next(&self, archived: Archived, upto: i64) -> Result<Option<Archived>, BackupError> {
        let (wal_dir, txn_of) = (self.wal_dir.clone(), self.txn_of);
        let from = archived.index + 1;
        let read = tokio::task::spawn_blocking(move || read_entries(&wal_dir, from, upto, archived.time_ms, txn_of))
            .await
            .map_err(|e| BackupError::Source(format!("reading the log: {e}")))??;
        let Some((name, bytes)) = read else { return Ok(None) };
        if name.first != from {
            // The log no longer holds what follows the archive (purged past it): say so loudly; the
            // archive has a gap that `backup list` names, and restores cannot cross it.
            error!(
                missing_from = from,
                missing_to = name.first - 1,
                "the archive has a gap: the log was purged before it was archived"
            );
        }
        let size = bytes.len() as u64;
        let key = name.key(&self.cluster_id);
        if !self.target.put_new(&key, bytes).await? {
            warn!(key, "an archived segment of this range is there already (another archiver): continuing after it");
        }
        self.status.uploaded(name.last, size);
        Ok(Some(Archived { index: name.last, time_ms: name.last_time_ms }))
    }

    fn failure(&self, why: String) {
        warn!(target = self.target.display(), "archiving failed (retrying): {why}");
        self.status.failed(why);
    }
}

/// Waits until the next upload is due, noting when each new durable zxid arrives (for the lag in seconds
/// and the deadline). An upload is due `UPLOAD_DUE` of the interval after the oldest unarchived entry
/// arrived, so that it is archived within the interval (the recovery point objective), the upload itself
/// included; with nothing to archive, or after a failure, the archiver looks again after an interval. Writes that arrive together go up as one object. `Err` once the
/// server is gone.
async fn wait(
    durable: &mut watch::Receiver<i64>,
    interval: Duration,
    status: &ArchiveStatus,
    after_failure: bool,
) -> Result<(), ()> {
    let idle_until = tokio::time::Instant::now() + interval;
    loop {
        // After a failure the next attempt waits a whole interval, however overdue the upload is.
        let due = if after_failure { None } else { status.upload_due(interval) };
        let deadline = due.map_or(idle_until, |due| due.min(idle_until));
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return Ok(()),
            changed = durable.changed() => {
                changed.map_err(drop)?;
                status.heard(*durable.borrow_and_update());
            }
        }
    }
}

/// The share of the interval an entry waits before its upload starts: the rest is left for the upload.
const UPLOAD_DUE: (u32, u32) = (4, 5);

/// The last zxid archived for `cluster` in `target` (0 when none).
pub async fn last_archived(target: &Target, cluster: &str) -> Result<i64, BackupError> {
    Ok(newest_segment(target, cluster).await?.map_or(0, |n| n.last))
}

/// The archived segment of `cluster` that reaches furthest.
async fn newest_segment(target: &Target, cluster: &str) -> Result<Option<SegmentName>, BackupError> {
    let objects = target.list(&format!("{cluster}/wal/")).await?;
    Ok(objects.iter().filter_map(|(key, _)| SegmentName::parse(key)).map(|(_, n)| n).max_by_key(|n| n.last))
}

/// Where the archive stands: its last index and the time stamp of its last txn (carried over to an
/// object that holds no txn of its own).
#[derive(Clone, Copy, Debug)]
struct Archived {
    index: i64,
    time_ms: i64,
}

/// The txns of indexes `from..=upto` of the log in `dir` (from its first entry, if `from` was purged), cut
/// at `MAX_RAW_BYTES`, as one object and its name. `None` when there is nothing to archive.
fn read_entries(
    dir: &std::path::Path,
    from: i64,
    upto: i64,
    time_before: i64,
    txn_of: TxnOf,
) -> Result<Option<(SegmentName, bytes::Bytes)>, BackupError> {
    let storage = |e: paddock_storage::StorageError| BackupError::Source(format!("reading the log to archive: {e}"));
    let mut builder = SegmentBuilder::default();
    // The time stamps of the first and last txn; those of the txn before for an object without one.
    let mut times = (time_before, time_before);
    let mut last_time = time_before;
    let mut txns = 0usize;
    let mut read = |index: u64, payload: &[u8]| {
        if builder.raw_len() >= segment::MAX_RAW_BYTES {
            return Err(paddock_storage::StorageError::Corrupt(FULL.into()));
        }
        let txn = txn_of(index, payload).map_err(paddock_storage::StorageError::Corrupt)?;
        let Some(txn) = txn else {
            builder.cover(index as i64);
            return Ok(());
        };
        let time = paddock_tree::Txn::decode(&txn, index as i64).map(|t| t.time).unwrap_or(last_time);
        last_time = last_time.max(time);
        if txns == 0 {
            times.0 = last_time;
        }
        txns += 1;
        times.1 = last_time;
        builder.push(index as i64, &txn);
        Ok(())
    };
    let start = match paddock_storage::read_range_dir(dir, from as u64, upto as u64 + 1, &mut read) {
        Err(paddock_storage::StorageError::Gap { first, .. }) if first <= upto as u64 => {
            paddock_storage::read_range_dir(dir, first, upto as u64 + 1, &mut read)
        }
        other => other,
    };
    match start {
        Ok(()) => {}
        Err(paddock_storage::StorageError::Corrupt(why)) if why == FULL => {}
        Err(e) => return Err(storage(e)),
    }
    let Some((first, last, bytes)) = builder.finish()? else { return Ok(None) };
    Ok(Some((SegmentName { first, last, first_time_ms: times.0, last_time_ms: times.1 }, bytes)))
}

/// Stops a read once an object is full (not an error).
const FULL: &str = "archived segment full";

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_in_seconds_is_the_age_of_the_oldest_unarchived_entry() {
        let status = ArchiveStatus::default();
        status.heard(10);
        std::thread::sleep(Duration::from_millis(60));
        status.heard(20);
        assert!(status.lag_seconds() >= 0.05, "entries 1..=10 have waited since the first: {}", status.lag_seconds());
        status.uploaded(10, 1);
        let lag = status.lag_seconds();
        assert!(lag < 0.05, "the oldest unarchived entry now arrived with zxid 20: {lag}");
        assert_eq!(status.lag_zxids(), 10);
        status.uploaded(20, 1);
        assert_eq!((status.lag_seconds(), status.lag_zxids()), (0.0, 0));
    }
}
