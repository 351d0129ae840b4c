//! openraft's state machine on the data tree.
//!
//! A normal entry's payload is an encoded txn, applied with `DataTree::apply_entry` at the entry's log index,
//! which thereby is the txn's zxid. Blank and membership entries advance the applied log id but not the
//! tree; the zxids of txns therefore have gaps, which the tree allows (it only needs each zxid above the
//! last). Every applied entry is reported through the applied channel (`crate::applied`).
//!
//! Snapshots are built from an O(1) clone of the tree taken between two applies, so the snapshot is
//! exactly the state at the applied log id while apply carries on; the bytes are the tree's snapshot body
//! (`DataTree::write_snapshot`), and openraft's `SnapshotMeta` (last log id, membership) travels beside it.
//! Opened on a directory, the state machine also keeps its snapshots there (`crate::snapshot_dir`) and
//! starts from the newest one, which is what lets openraft purge the log behind a snapshot.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use futures_util::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::type_config::alias::SnapshotOf;
use openraft::{EntryPayload, RaftSnapshotBuilder};
use paddock_tree::DataTree;
use tracing::error;

use crate::applied::{AppliedEntry, AppliedEvent, AppliedSender, TxnApplied};
use crate::snapshot_dir;
use crate::types::{ApplyReply, Entry, LogId, SnapshotMeta, StoredMembership, TypeConfig, term_of};

/// The tree, shared with the server for local reads. Apply holds the write lock for one entry at a time;
/// nobody may hold either lock across an `.await`.
pub type TreeHandle = Arc<RwLock<DataTree>>;

/// A snapshot's bytes: the tree's snapshot body at the snapshot's last log id. Cloning is cheap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotBytes(Arc<Vec<u8>>);

impl SnapshotBytes {
    pub fn new(bytes: Vec<u8>) -> SnapshotBytes {
        SnapshotBytes(Arc::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Clone)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: SnapshotBytes,
}

/// What openraft calls a snapshot: the meta and the bytes.
pub type Snapshot = SnapshotOf<TypeConfig, SnapshotBytes>;

type CurrentSnapshot = Arc<Mutex<Option<StoredSnapshot>>>;

pub struct StateMachine {
    /// Where snapshots are kept; `None` keeps them in memory only (a state machine that is rebuilt from
    /// the whole log, or a test).
    dir: Option<PathBuf>,
    tree: TreeHandle,
    applied: Option<LogId>,
    membership: StoredMembership,
    current: CurrentSnapshot,
    applied_tx: Option<AppliedSender>,
}

impl StateMachine {
    /// A state machine on a fresh tree. `applied_tx` receives every applied entry; `None` for no listener.
    pub fn new(applied_tx: Option<AppliedSender>) -> StateMachine {
        StateMachine {
            dir: None,
            tree: Arc::new(RwLock::new(DataTree::new())),
            applied: None,
            membership: StoredMembership::default(),
            current: Arc::new(Mutex::new(None)),
            applied_tx,
        }
    }

    /// A state machine that keeps its snapshots in `dir` (created if missing) and starts from the newest
    /// one there, or from a fresh tree.
    pub fn open(dir: &Path, applied_tx: Option<AppliedSender>) -> io::Result<StateMachine> {
        let mut sm = StateMachine::new(applied_tx);
        sm.dir = Some(dir.to_path_buf());
        if let Some(loaded) = snapshot_dir::load_newest(dir)? {
            *sm.tree.write().unwrap_or_else(PoisonError::into_inner) = loaded.tree;
            sm.applied = loaded.meta.last_log_id;
            sm.membership = loaded.meta.last_membership.clone();
            let data = SnapshotBytes::new(loaded.body);
            *sm.current.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(StoredSnapshot { meta: loaded.meta, data });
        }
        Ok(sm)
    }

    pub fn tree(&self) -> TreeHandle {
        self.tree.clone()
    }

    /// Applies one entry and says what happened.
    fn apply_entry(&mut self, entry: &Entry) -> AppliedEvent {
        let index = entry.log_id.index;
        match &entry.payload {
            EntryPayload::Blank => AppliedEvent::Blank,
            EntryPayload::Normal(txn) => {
                // Log indexes stay far below i64::MAX (one per write); one that did not fit is refused by
                // the tree as out of order rather than wrapped.
                let zxid = i64::try_from(index).unwrap_or(i64::MIN);
                let mut tree = self.tree.write().unwrap_or_else(PoisonError::into_inner);
                match tree.apply_entry(zxid, &txn.0) {
                    Ok((txn, applied)) => AppliedEvent::Txn(Box::new(TxnApplied { txn, applied })),
                    Err(e) => {
                        error!("log entry {} is skipped on every replica: {e}", entry.log_id);
                        AppliedEvent::Refused(e)
                    }
                }
            }
            EntryPayload::Membership(m) => {
                self.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                AppliedEvent::Membership {
                    voters: m.get_joint_config().clone(),
                    nodes: m.nodes().map(|(id, node)| (*id, node.addr.clone())).collect(),
                }
            }
        }
    }

    async fn report(&self, log_id: LogId, event: AppliedEvent) {
        if let Some(tx) = &self.applied_tx {
            tx.send(AppliedEntry { index: log_id.index, term: term_of(&log_id), event }).await;
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotBytes;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + Send,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let event = self.apply_entry(&entry);
            self.applied = Some(entry.log_id);
            self.report(entry.log_id, event).await;
            if let Some(responder) = responder {
                responder.send(ApplyReply { index: entry.log_id.index });
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let tree = self.tree.read().unwrap_or_else(PoisonError::into_inner).clone();
        SnapshotBuilder {
            dir: self.dir.clone(),
            tree,
            meta: SnapshotMeta { last_log_id: self.applied, last_membership: self.membership.clone() },
            current: self.current.clone(),
        }
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: SnapshotBytes) -> Result<(), io::Error> {
        let (dir, meta_copy, bytes) = (self.dir.clone(), meta.clone(), snapshot.clone());
        // Decoding and persisting a large tree is blocking work: off the async workers.
        let tree = tokio::task::spawn_blocking(move || {
            let tree = DataTree::read_snapshot(&mut bytes.as_bytes())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("installing a snapshot: {e}")))?;
            if let Some(dir) = dir {
                snapshot_dir::save(&dir, &meta_copy, &tree, bytes.as_bytes())?;
            }
            Ok::<_, io::Error>(tree)
        })
        .await
        .map_err(io::Error::other)??;
        *self.tree.write().unwrap_or_else(PoisonError::into_inner) = tree;
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(StoredSnapshot { meta: meta.clone(), data: snapshot });
        if let Some(last) = meta.last_log_id {
            self.report(last, AppliedEvent::SnapshotInstalled).await;
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner).clone();
        Ok(current.map(|s| openraft::Snapshot { meta: s.meta, snapshot: s.data }))
    }
}

/// Builds a snapshot from the tree as it was when the builder was made.
pub struct SnapshotBuilder {
    dir: Option<PathBuf>,
    tree: DataTree,
    meta: SnapshotMeta,
    current: CurrentSnapshot,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotBytes;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let (tree, dir, meta) = (self.tree.clone(), self.dir.clone(), self.meta.clone());
        // Serializing and persisting a large tree is blocking work: off the async workers.
        let bytes = tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            tree.write_snapshot(&mut bytes)?;
            if let Some(dir) = dir {
                snapshot_dir::save(&dir, &meta, &tree, &bytes)?;
            }
            Ok::<_, io::Error>(bytes)
        })
        .await
        .map_err(io::Error::other)??;
        let stored = StoredSnapshot { meta: self.meta.clone(), data: SnapshotBytes::new(bytes) };
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(stored.clone());
        Ok(openraft::Snapshot { meta: stored.meta, snapshot: stored.data })
    }
}
