//! Reading and writing data directories offline: the tree a stopped (or running) standalone server's data
//! directory holds, its cluster id, and the snapshot stream a backup uploads.
//!
//! Nothing here modifies a data directory it reads: a torn log tail is simply not read (as
//! `paddock data check` does), so a directory whose server is still running reads as a consistent
//! prefix of its log.

use std::io::{self, Write};
use std::path::Path;

use bytes::Bytes;
use paddock_storage::{Compression, SnapshotHeader, StorageError};
use paddock_tree::DataTree;
use tokio::sync::mpsc;

use crate::BackupError;

/// Chunks of the snapshot stream waiting to be uploaded: a slow upload makes the producer wait, so at most
/// this many chunks (of `STREAM_CHUNK` bytes) are held in memory whatever the tree's size.
const STREAM_QUEUE: usize = 8;
const STREAM_CHUNK: usize = 1024 * 1024;

/// The cluster id of a data directory (docs/format.md, 1.1).
pub fn read_cluster_id(data_dir: &Path) -> Result<String, BackupError> {
    paddock_storage::cluster_id::read(data_dir).map(|id| id.to_string()).map_err(|e| {
        BackupError::Source(format!("cannot read the cluster id: {e} (is this a Paddock data directory?)"))
    })
}

/// The tree a standalone server's data directory holds: the newest snapshot that reads back cleanly, and
/// the log replayed over it. `log_dir` is `dataLogDir` when it differs from `dataDir`.
pub fn load_tree(data_dir: &Path, log_dir: Option<&Path>) -> Result<DataTree, BackupError> {
    let snap_dir = paddock_storage::snap_dir(data_dir);
    let wal_dir = paddock_storage::wal_dir(log_dir.unwrap_or(data_dir));
    if data_dir.join("paddock").join("raft").exists() {
        return Err(BackupError::Refused(format!(
            "{} is an ensemble member's data directory: back it up online (--server) instead",
            data_dir.display()
        )));
    }
    if !snap_dir.exists() && !wal_dir.exists() {
        return Err(BackupError::Source(format!(
            "{} holds no Paddock data (no paddock/snap or paddock/wal)",
            data_dir.display()
        )));
    }
    let storage = |e: StorageError| BackupError::Source(e.to_string());
    let mut tree = DataTree::new();
    let snapshots =
        if snap_dir.exists() { paddock_storage::list_snapshots(&snap_dir).map_err(storage)? } else { Vec::new() };
    for (_, path) in snapshots.iter().rev() {
        match read_snapshot_file(path) {
            Ok(loaded) => {
                tree = loaded;
                break;
            }
            Err(e) => tracing::warn!("skipping snapshot {}: {e}", path.display()),
        }
    }
    if wal_dir.exists() {
        replay_log(&wal_dir, &mut tree, |_| {}).map_err(storage)?;
    }
    Ok(tree)
}

/// Replays the log in `wal_dir` over `tree`, from the record after its last zxid, calling `each` after
/// every record applied. Read-only: a torn tail is not read, and a record that does not apply (or a log
/// that starts after the tree) is an error.
pub fn replay_log(wal_dir: &Path, tree: &mut DataTree, mut each: impl FnMut(&DataTree)) -> Result<(), StorageError> {
    let from = tree.last_zxid() + 1;
    paddock_storage::replay_dir(wal_dir, from as u64, |index, payload| {
        tree.apply_entry(index as i64, payload).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        each(tree);
        Ok(())
    })
}

/// Reads a snapshot file and checks its body against its header.
pub fn read_snapshot_file(path: &Path) -> Result<DataTree, BackupError> {
    load_snapshot(path).map_err(|why| BackupError::Damaged(format!("{}: {why}", path.display())))
}

/// [`read_snapshot_file`] for those that name the file themselves (recovery, `paddock data check`): the
/// error says what is wrong.
pub fn load_snapshot(path: &Path) -> Result<DataTree, String> {
    let (header, mut reader) = paddock_storage::open_snapshot(path).map_err(|e| e.to_string())?;
    let tree = DataTree::read_snapshot(&mut reader).map_err(|e| e.to_string())?;
    if tree.last_zxid() != header.zxid || tree.digest() != header.digest {
        return Err(format!(
            "the body (zxid {}, digest {:016x}) does not match the header (zxid {}, digest {:016x})",
            tree.last_zxid(),
            tree.digest(),
            header.zxid,
            header.digest
        ));
    }
    Ok(tree)
}

/// The snapshot header of a tree as it is.
pub fn header_of(tree: &DataTree) -> SnapshotHeader {
    SnapshotHeader {
        format_version: paddock_tree::SNAPSHOT_FORMAT_VERSION,
        zxid: tree.last_zxid(),
        time_ms: tree.last_time(),
        node_count: tree.node_count() as u64,
        digest: tree.digest(),
        compression: Compression::Zstd,
    }
}

/// The snapshot file of `tree`, produced on a blocking thread as a stream of chunks (bounded: see
/// `STREAM_QUEUE`). A failure arrives as the stream's last item.
pub fn snapshot_stream(tree: DataTree) -> mpsc::Receiver<Result<Bytes, String>> {
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter { tx: tx.clone(), buf: Vec::with_capacity(STREAM_CHUNK) };
        let header = header_of(&tree);
        let result = paddock_storage::write_snapshot_to(&mut out, &header, |w| tree.write_snapshot(w))
            .map_err(|e| e.to_string())
            .and_then(|_| out.flush().map_err(|e| e.to_string()));
        if let Err(why) = result {
            let _ = tx.blocking_send(Err(format!("writing the snapshot: {why}")));
        }
    });
    rx
}

struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, String>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= STREAM_CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(STREAM_CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::other("the upload stopped"))
    }
}
