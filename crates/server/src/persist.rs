//! Durability for a standalone server: recovery at start, the write-ahead-log writer thread (group
//! commit), background snapshots from a frozen tree, and retention.
//!
//! The byte formats belong to `paddock-storage` (see `docs/format.md`); this module decides *when* things
//! are written and how the tree is rebuilt from them.

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use paddock_storage::{DirLock, LockError, SegmentInfo, SnapshotHeader, Wal, WalOptions};
use paddock_tree::DataTree;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use crate::config::ServerConfig;
use crate::log::{CommittedEntry, LogEvent, ReplicatedLog};
use paddock_storage::cluster_id::ClusterId;

pub fn snap_dir(config: &ServerConfig) -> PathBuf {
    paddock_storage::snap_dir(&config.data_dir)
}

pub fn wal_dir(config: &ServerConfig) -> PathBuf {
    paddock_storage::wal_dir(config.log_dir())
}

/// Why the server cannot start from what is on disk. Every message names the file and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("storage: {0}")]
    Storage(#[from] paddock_storage::StorageError),
    #[error("cannot create {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Unrecoverable(String),
    /// The data (or log) directory is in use, or its lock file cannot be made.
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{0}")]
    ClusterId(#[from] paddock_storage::cluster_id::ClusterIdError),
}

/// The state rebuilt from disk.
pub struct Recovered {
    pub tree: DataTree,
    pub wal: Wal,
    /// Exclusive ownership of the data (and log) directories, held as long as the log writer runs.
    pub locks: Vec<DirLock>,
    pub snapshot_zxid: Option<i64>,
    pub replayed: u64,
    /// The data directory's cluster id, made now if it had none.
    pub cluster_id: ClusterId,
}

/// Loads the newest valid snapshot and replays the log after it. A snapshot that fails its checks is
/// skipped for an older one, but only if the log still covers everything after that older one: the server
/// never starts with silently missing history.
pub fn recover(config: &ServerConfig) -> Result<Recovered, RecoveryError> {
    let (snap_dir, wal_dir) = (snap_dir(config), wal_dir(config));
    for dir in [&snap_dir, &wal_dir] {
        std::fs::create_dir_all(dir).map_err(|source| RecoveryError::CreateDir { path: dir.clone(), source })?;
    }
    let mut locks = vec![DirLock::acquire(&snap_dir)?];
    if wal_dir.parent() != snap_dir.parent() {
        locks.push(DirLock::acquire(&wal_dir)?);
    }
    let cluster_id = paddock_storage::cluster_id::load_or_create(&config.data_dir)?;
    for leftover in paddock_storage::clean_snapshot_temp_files(&snap_dir)? {
        info!(file = %leftover.display(), "deleted an unfinished snapshot left by a crash");
    }
    let mut wal = Wal::open(&wal_dir, wal_options(config))?;
    let (mut tree, snapshot_zxid) = load_base(&snap_dir, &wal)?;
    let from = tree.last_zxid() + 1;
    let started = Instant::now();
    let mut replayed = 0u64;
    wal.replay(from as u64, |index, payload| {
        tree.apply_entry(index as i64, payload).map_err(|e| paddock_storage::StorageError::Corrupt(e.to_string()))?;
        replayed += 1;
        Ok(())
    })?;
    if wal.last_index().is_some_and(|last| (last as i64) < tree.last_zxid()) {
        // The log ends before the snapshot (possible with forceSync=no after a power loss): everything it
        // holds is already in the snapshot, and new records must continue from the snapshot's zxid.
        warn!(
            log_last = wal.last_index().unwrap_or(0),
            snapshot_zxid = tree.last_zxid(),
            "the log ends before the newest snapshot; discarding its records"
        );
        wal.truncate_after(0)?;
    }
    info!(
        snapshot_zxid = snapshot_zxid.map(|z| format!("0x{z:x}")).unwrap_or_else(|| "none".into()),
        replayed,
        last_zxid = format_args!("0x{:x}", tree.last_zxid()),
        nodes = tree.node_count(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "recovered data tree from disk"
    );
    Ok(Recovered { tree, wal, locks, snapshot_zxid, replayed, cluster_id })
}

/// Picks the snapshot to start from: the newest one that reads back cleanly and that the log continues.
fn load_base(snap_dir: &Path, wal: &Wal) -> Result<(DataTree, Option<i64>), RecoveryError> {
    let snapshots = paddock_storage::list_snapshots(snap_dir)?;
    let log_first = wal.first_index();
    let continues = |zxid: i64| match log_first {
        None => true,
        Some(first) => first as i64 <= zxid + 1,
    };
    let mut problems = Vec::new();
    for (zxid, path) in snapshots.iter().rev() {
        if !continues(*zxid) {
            problems.push(format!(
                "{}: the log starts at {} and does not continue it",
                path.display(),
                log_first.unwrap_or(0)
            ));
            continue;
        }
        match paddock_backup::datadir::load_snapshot(path) {
            Ok(tree) => {
                if !problems.is_empty() {
                    warn!(snapshot = %path.display(), skipped = ?problems, "fell back to an older snapshot");
                }
                return Ok((tree, Some(*zxid)));
            }
            Err(e) => {
                warn!(snapshot = %path.display(), "snapshot unusable: {e}");
                problems.push(format!("{}: {e}", path.display()));
            }
        }
    }
    if continues(0) {
        if !problems.is_empty() {
            warn!(skipped = ?problems, "no usable snapshot; rebuilding from the complete log");
        }
        return Ok((DataTree::new(), None));
    }
    Err(RecoveryError::Unrecoverable(format!(
        "no usable snapshot, and the log starts at zxid 0x{:x}, so history before it is missing; refusing to start. Problems: {}",
        log_first.unwrap_or(0),
        if problems.is_empty() { "no snapshot files".to_string() } else { problems.join("; ") }
    )))
}

fn wal_options(config: &ServerConfig) -> WalOptions {
    WalOptions { segment_bytes: config.wal_segment_bytes, fsync: config.force_sync, preallocate: true }
}

/// Writes a consistent snapshot of a frozen tree. Runs on a blocking thread; the live tree keeps changing.
pub fn write_snapshot(
    snap_dir: &Path,
    tree: &DataTree,
    pace: paddock_storage::Pace,
) -> Result<PathBuf, paddock_storage::StorageError> {
    paddock_storage::write_snapshot_paced(snap_dir, &snapshot_header(tree), pace, |out| tree.write_snapshot(out))
}

/// The header of a snapshot of `tree` (a file, or a backup streamed by the admin server). Its time is the
/// leader's stamp on the snapshot's last txn, so a restore by time can pick it.
pub fn snapshot_header(tree: &DataTree) -> SnapshotHeader {
    paddock_backup::datadir::header_of(tree)
}

// ---- the WAL writer thread ------------------------------------------------------------------------------

enum WalCmd {
    Append(Vec<u8>),
    /// The core has failed every proposal not yet committed; appends start again after the last durable entry.
    Resume,
    /// Delete sealed segments entirely below this index (retention).
    PurgeBefore(u64),
    /// Describe the segments (retention, to weigh what is not archived yet).
    Segments(tokio::sync::oneshot::Sender<Vec<SegmentInfo>>),
    /// Replace the state with this tree (the admin `restore`), after every append queued before.
    Restore {
        tree: Box<DataTree>,
        reply: tokio::sync::oneshot::Sender<Result<i64, String>>,
    },
}

/// A [`ReplicatedLog`] of one: the write-ahead log. Proposals go to a dedicated thread, which gives each the
/// next index, writes whatever has queued up and covers it with one fsync (group commit falls out of the
/// queue), then reports the batch committed.
pub struct WalLog {
    tx: std_mpsc::Sender<WalCmd>,
}

impl WalLog {
    /// `durable` is the index everything on disk already covers (the recovered tree's last zxid).
    /// `snap_dir`: where a restored tree is written before it replaces the state.
    pub fn start(
        wal: Wal,
        locks: Vec<DirLock>,
        durable: i64,
        snap_dir: PathBuf,
        events: UnboundedSender<LogEvent>,
    ) -> std::io::Result<WalLog> {
        // Unbounded: the core sends on it (`propose`) and must never block on the disk, while the WAL thread
        // sends back on the core's event channel; a bound on both sides could deadlock them. What bounds it:
        // appends are proposals in flight, which `globalOutstandingLimit` limits (readers stop past it), and
        // the other commands (resume, purge, segments, restore) come one at a time from their callers.
        let (tx, rx) = std_mpsc::channel();
        let writer =
            WalWriter { wal, _locks: locks, events, last_durable: durable, snap_dir, state: WriterState::Healthy };
        std::thread::Builder::new().name("paddock-wal".into()).spawn(move || writer.run(rx))?;
        Ok(WalLog { tx })
    }

    /// A handle for retention to ask the writer thread to drop old segments.
    pub fn purger(&self) -> WalPurger {
        WalPurger { tx: self.tx.clone() }
    }
}

impl ReplicatedLog for WalLog {
    fn propose(&mut self, _seq: u64, payload: Vec<u8>) {
        let _ = self.tx.send(WalCmd::Append(payload));
    }

    fn resume(&mut self) {
        let _ = self.tx.send(WalCmd::Resume);
    }

    fn restore(&mut self, tree: DataTree, reply: tokio::sync::oneshot::Sender<Result<i64, String>>) {
        let _ = self.tx.send(WalCmd::Restore { tree: Box::new(tree), reply });
    }
}

#[derive(Clone)]
pub struct WalPurger {
    tx: std_mpsc::Sender<WalCmd>,
}

impl WalPurger {
    pub fn purge_before(&self, index: u64) {
        let _ = self.tx.send(WalCmd::PurgeBefore(index));
    }

    /// The log's segments as the writer thread knows them (bytes of data, not of preallocated space);
    /// `None` once the writer is gone.
    pub async fn segments(&self) -> Option<Vec<SegmentInfo>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx.send(WalCmd::Segments(tx)).ok()?;
        rx.await.ok()
    }
}

/// After a failed write or fsync the writer must not append again until the core has failed every proposal
/// not yet committed (it then sends `Resume`) and the log has been cut back to the last durable entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriterState {
    Healthy,
    /// Waiting for the core's `Resume`; appends still queued were failed by the core and are dropped.
    AwaitingResume,
    /// Resumed, but the disk has not recovered yet: the next append retries the repair first.
    Broken,
}

struct WalWriter {
    wal: Wal,
    _locks: Vec<DirLock>,
    events: UnboundedSender<LogEvent>,
    last_durable: i64,
    snap_dir: PathBuf,
    state: WriterState,
}

impl WalWriter {
    fn run(mut self, rx: std_mpsc::Receiver<WalCmd>) {
        while let Ok(first) = rx.recv() {
            // Everything queued behind the first command forms one batch, covered by one fsync.
            let mut batch = Vec::new();
            let mut next = Some(first);
            while let Some(cmd) = next.take().or_else(|| rx.try_recv().ok()) {
                self.handle(cmd, &mut batch);
            }
            if !batch.is_empty() {
                self.sync(batch);
            }
        }
    }

    /// Appends go into `batch`; a failure empties it, since none of it will be durable.
    fn handle(&mut self, cmd: WalCmd, batch: &mut Vec<CommittedEntry>) {
        match cmd {
            WalCmd::Resume => {
                self.state = if self.repair() { WriterState::Healthy } else { WriterState::Broken };
            }
            WalCmd::PurgeBefore(index) => purge_segments(&mut self.wal, index),
            WalCmd::Segments(reply) => {
                let _ = reply.send(self.wal.segments());
            }
            WalCmd::Restore { tree, reply } => {
                if !batch.is_empty() {
                    self.sync(std::mem::take(batch));
                }
                let _ = reply.send(self.restore(*tree));
            }
            WalCmd::Append(_) if self.state == WriterState::AwaitingResume => {}
            WalCmd::Append(payload) => {
                if self.state == WriterState::Broken && !self.repair() {
                    self.fail("the log is still failing after an earlier error".to_string(), batch);
                    return;
                }
                self.state = WriterState::Healthy;
                let index = self.last_durable + batch.len() as i64 + 1;
                match self.wal.append(index as u64, &payload) {
                    Ok(()) => batch.push(CommittedEntry { index, payload }),
                    Err(e) => self.fail(e.to_string(), batch),
                }
            }
        }
    }

    fn sync(&mut self, batch: Vec<CommittedEntry>) {
        if self.state != WriterState::Healthy {
            return;
        }
        let started = std::time::Instant::now();
        match self.wal.sync() {
            Ok(()) => {
                self.last_durable += batch.len() as i64;
                let _ = self.events.send(LogEvent::FsyncTime(started.elapsed()));
                let _ = self.events.send(LogEvent::Committed(batch));
            }
            Err(e) => self.fail(e.to_string(), &mut Vec::new()),
        }
    }

    fn fail(&mut self, error: String, batch: &mut Vec<CommittedEntry>) {
        batch.clear();
        self.state = WriterState::AwaitingResume;
        let _ = self.events.send(LogEvent::Failed { error });
    }

    /// Puts a restored tree in place of the state: it continues after every zxid this log has given out
    /// (a marker txn at the next one, so that no client is refused as ahead of the server and zxids never
    /// go back), is written as a snapshot, which recovery from now on starts from, and then the log is
    /// emptied and continues after it. A crash before the snapshot is durable leaves the old state; after
    /// it, recovery discards the older log (it ends before the newest snapshot). Returns that zxid.
    fn restore(&mut self, mut tree: DataTree) -> Result<i64, String> {
        if self.state != WriterState::Healthy {
            return Err("the log is failing: nothing was restored".to_string());
        }
        let zxid = self.last_durable.max(tree.last_zxid()) + 1;
        let marker = paddock_tree::Txn {
            origin: paddock_tree::ProposalId::default(),
            time: tree.last_time(),
            session_id: 0,
            auth: Vec::new(),
            op: paddock_tree::TxnOp::Error(paddock_proto::ErrorCode::Ok),
        };
        tree.apply(zxid, &marker);
        write_snapshot(&self.snap_dir, &tree, paddock_storage::Pace::FULL)
            .map_err(|e| format!("cannot write the restored tree as a snapshot: {e}; nothing was restored"))?;
        let cleared = self.wal.clear().map_err(|e| e.to_string());
        self.last_durable = zxid;
        info!(
            zxid = format_args!("0x{zxid:x}"),
            nodes = tree.node_count(),
            "restored the tree posted to the admin server"
        );
        let (done, _) = tokio::sync::oneshot::channel();
        let _ = self.events.send(LogEvent::Install { tree: Box::new(tree), done });
        if let Err(e) = cleared {
            self.fail(
                format!("the restored tree is in place, but the old log could not be removed: {e}"),
                &mut Vec::new(),
            );
        }
        Ok(zxid)
    }

    /// Cuts the log back to the last durable record: what came after it was failed back to its clients
    /// and must not reappear after a restart.
    fn repair(&mut self) -> bool {
        match self.wal.truncate_after(self.last_durable.max(0) as u64) {
            Ok(()) => true,
            Err(e) => {
                warn!("write-ahead log still failing: {e}");
                false
            }
        }
    }
}

fn purge_segments(wal: &mut Wal, index: u64) {
    match wal.purge_before(index) {
        Ok(removed) if !removed.is_empty() => info!(removed = removed.len(), below = index, "purged old log segments"),
        Ok(_) => {}
        Err(e) => warn!("log purge failed: {e}"),
    }
}
