//! Retention (`autopurge.*`, ZooKeeper's meaning): every `purgeInterval` hours keep the newest
//! `snapRetainCount` snapshots (never fewer than 3) and delete log segments that only hold transactions
//! older than the oldest snapshot kept — so recovery from any kept snapshot stays possible.
//! `paddock.autopurge.purgeIntervalMs` sets the interval in milliseconds instead (tests, small installs).

use std::path::PathBuf;
use std::time::Duration;

use tracing::{info, warn};

use crate::config::ServerConfig;
use crate::persist::{self, WalPurger};

pub struct Retention {
    snap_dir: PathBuf,
    retain: usize,
    every: Duration,
    wal: WalPurger,
}

impl Retention {
    /// `None` when purging is off (`autopurge.purgeInterval=0`, ZooKeeper's default).
    pub fn new(config: &ServerConfig, wal: WalPurger) -> Option<Retention> {
        let every = match config.purge_interval_ms {
            Some(ms) if ms > 0 => Duration::from_millis(ms),
            _ if config.purge_interval_hours > 0 => Duration::from_secs(u64::from(config.purge_interval_hours) * 3600),
            _ => return None,
        };
        Some(Retention { snap_dir: persist::snap_dir(config), retain: config.snap_retain_count.max(3), every, wal })
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
                Ok(Ok(Some(oldest))) => self.wal.purge_before(oldest as u64 + 1),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => warn!("snapshot purge failed: {e}"),
                Err(e) => warn!("snapshot purge task failed: {e}"),
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
