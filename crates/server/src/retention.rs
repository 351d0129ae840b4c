//! Retention (`autopurge.*`, ZooKeeper's meaning): every `purgeInterval` hours keep the newest
//! `snapRetainCount` snapshots (never fewer than 3) and delete log segments that only hold transactions
//! older than the oldest snapshot kept — so recovery from any kept snapshot stays possible.
//! `paddock.autopurge.purgeIntervalMs` sets the interval in milliseconds instead (tests, small installs).
//!
//! With continuous archiving on (`paddock.backup.target`), log segments are also kept until every entry in
//! them is archived: the log is purged below the lower of the two bounds. A stalled archive must not fill
//! the disk, though: once the segments holding unarchived entries exceed `paddock.backup.maxUnarchivedBytes`,
//! the log is purged as if archiving were off, and each such purge is logged as an error naming the lag and
//! counted (`paddock_backup_archive_cap_exceeded_total`). The archive then has a gap, which its archiver
//! reports too.

use std::path::PathBuf;
use std::time::Duration;

use paddock_storage::SegmentInfo;
use tracing::{error, info, warn};

use crate::archiving::ArchiveView;
use crate::config::ServerConfig;
use crate::persist::{self, WalPurger};

pub struct Retention {
    snap_dir: PathBuf,
    retain: usize,
    every: Duration,
    wal: WalPurger,
    /// Continuous archiving, when on: its state and `maxUnarchivedBytes`.
    archive: Option<(ArchiveView, u64)>,
}

impl Retention {
    /// `None` when purging is off (`autopurge.purgeInterval=0`, ZooKeeper's default).
    pub fn new(config: &ServerConfig, wal: WalPurger, archive: Option<ArchiveView>) -> Option<Retention> {
        let every = match config.purge_interval_ms {
            Some(ms) if ms > 0 => Duration::from_millis(ms),
            _ if config.purge_interval_hours > 0 => Duration::from_secs(u64::from(config.purge_interval_hours) * 3600),
            _ => return None,
        };
        Some(Retention {
            snap_dir: persist::snap_dir(config),
            retain: config.snap_retain_count.max(3),
            every,
            wal,
            archive: archive.map(|view| (view, config.backup.max_unarchived_bytes)),
        })
    }

    pub async fn run(self) {
        let mut ticker = tokio::time::interval(self.every);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let dir = self.snap_dir.clone();
            let retain = self.retain;
            let outcome = tokio::task::spawn_blocking(move || purge_once(&dir, retain)).await;
            match outcome {
                Ok(Ok(Some(oldest))) => self.purge_log(oldest as u64 + 1).await,
                Ok(Ok(None)) => {}
                Ok(Err(e)) => warn!("snapshot purge failed: {e}"),
                Err(e) => warn!("snapshot purge task failed: {e}"),
            }
        }
    }

    /// Purges the log below `for_snapshots` (what the kept snapshots need), and below what is archived.
    async fn purge_log(&self, for_snapshots: u64) {
        let Some((view, cap)) = &self.archive else {
            self.wal.purge_before(for_snapshots);
            return;
        };
        let Some(segments) = self.wal.segments().await else { return };
        let archived = view.archived();
        match purge_bound(for_snapshots, archived, &segments, *cap) {
            Bound::Archived(below) => self.wal.purge_before(below),
            Bound::OverCap { unarchived_bytes } => {
                view.count_cap_exceeded();
                error!(
                    archived,
                    lag_zxids = view.lag_zxids(),
                    lag_seconds = view.lag_seconds(),
                    unarchived_bytes,
                    max_unarchived_bytes = cap,
                    last_error = view.last_error().unwrap_or_default(),
                    "log segments holding unarchived entries exceed paddock.backup.maxUnarchivedBytes: purging the \
                     log as if archiving were off; entries purged before they are archived leave a gap in the archive"
                );
                self.wal.purge_before(for_snapshots);
            }
        }
    }
}

/// Where the log may be purged with archiving on.
#[derive(Debug, PartialEq, Eq)]
enum Bound {
    /// Below this index: the lower of what the snapshots need and what is archived.
    Archived(u64),
    /// The segments holding unarchived entries weigh more than the cap: purge for the snapshots alone.
    OverCap { unarchived_bytes: u64 },
}

/// The purge bound given the snapshots' (`for_snapshots`: purge below it), the last archived zxid, the log's
/// segments and `maxUnarchivedBytes`.
fn purge_bound(for_snapshots: u64, archived: i64, segments: &[SegmentInfo], cap: u64) -> Bound {
    let unarchived_bytes = unarchived_bytes(segments, archived);
    if unarchived_bytes > cap {
        return Bound::OverCap { unarchived_bytes };
    }
    Bound::Archived(for_snapshots.min(archived.max(0) as u64 + 1))
}

/// Bytes of the segments that hold at least one entry above `archived`.
fn unarchived_bytes(segments: &[SegmentInfo], archived: i64) -> u64 {
    segments.iter().filter(|s| s.last_index.is_some_and(|last| last as i64 > archived)).map(|s| s.bytes).sum()
}

/// Deletes old snapshots; returns the zxid of the oldest one kept (logs at or below it are not needed).
fn purge_once(dir: &std::path::Path, retain: usize) -> Result<Option<i64>, paddock_storage::StorageError> {
    let removed = paddock_storage::purge_snapshots(dir, retain)?;
    if !removed.is_empty() {
        info!(removed = removed.len(), retain, "purged old snapshots");
    }
    let kept = paddock_storage::list_snapshots(dir)?;
    if kept.len() < retain {
        // Fewer snapshots than we promise to keep: keep every log too.
        return Ok(None);
    }
    Ok(kept.first().map(|(zxid, _)| *zxid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(first: u64, last: Option<u64>, bytes: u64) -> SegmentInfo {
        SegmentInfo { path: PathBuf::from(format!("{first:020}.wal")), first_index: first, last_index: last, bytes }
    }

    #[test]
    fn the_log_is_kept_until_archived_within_the_cap() {
        let log = [segment(1, Some(100), 1000), segment(101, Some(200), 1000), segment(201, Some(250), 500)];
        // The archive is behind the snapshots: it decides.
        assert_eq!(purge_bound(201, 150, &log, 10_000), Bound::Archived(151));
        // The snapshots are behind the archive: they decide.
        assert_eq!(purge_bound(101, 250, &log, 10_000), Bound::Archived(101));
        // Nothing archived (or the target cannot be listed): nothing purged.
        assert_eq!(purge_bound(201, 0, &log, 10_000), Bound::Archived(1));
        // Segments 2 and 3 hold unarchived entries: 1500 bytes.
        assert_eq!(unarchived_bytes(&log, 150), 1500);
        assert_eq!(purge_bound(201, 150, &log, 1500), Bound::Archived(151), "at the cap is within it");
        assert_eq!(purge_bound(201, 150, &log, 1499), Bound::OverCap { unarchived_bytes: 1500 });
        // A segment without records (a fresh active one) holds nothing unarchived.
        let fresh = [segment(1, Some(100), 1000), segment(101, None, 64)];
        assert_eq!(unarchived_bytes(&fresh, 100), 0);
        assert_eq!(unarchived_bytes(&fresh, 99), 1000);
    }
}
