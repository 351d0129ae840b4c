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

use paddock_storage::archive_gate::{Bound, purge_bound};
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
