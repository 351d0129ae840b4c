//! The state machine of a server: openraft's `RaftStateMachine` in front of the tree the server's core owns.
//!
//! The core owns the tree because it must apply, fire watches and answer clients in one step: a read it
//! serves must never see a change whose watch events it has not yet queued. So this state machine applies
//! nothing itself: it hands committed txns to the [`TreeOwner`] in log order and returns once the owner
//! has applied them, which keeps openraft's applied index equal to the core's. Snapshots are built from
//! the owner's O(1) frozen copy and installed by handing the owner a new tree.

use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, RaftSnapshotBuilder};
use paddock_tree::{DataTree, ProposalId, Txn, TxnOp};

use crate::snapshot_dir;
use crate::state_machine::{Snapshot, SnapshotBytes};
use crate::types::{ApplyReply, LogId, Membership, PeerNode, SnapshotMeta, StoredMembership, TypeConfig};

/// One committed txn: its payload, to apply at zxid `index`.
#[derive(Debug)]
pub struct CommittedTxn {
    pub index: u64,
    pub payload: Vec<u8>,
}

/// Who owns the tree: the server's core.
pub trait TreeOwner: Send + Sync + 'static {
    /// Applies `txns` in order; returns once they are applied (or the owner is gone). `applied` is the
    /// index of the last entry of the batch, which may be a blank or membership entry after the last txn.
    fn apply(&self, txns: Vec<CommittedTxn>, applied: u64) -> impl Future<Output = ()> + Send;
    /// An O(1) frozen copy of the tree as it is after everything applied so far.
    fn freeze(&self) -> impl Future<Output = io::Result<DataTree>> + Send;
    /// Replaces the tree with one installed from a snapshot.
    fn install(&self, tree: DataTree) -> impl Future<Output = ()> + Send;
}

type Current = Arc<Mutex<Option<(SnapshotMeta, SnapshotBytes)>>>;

/// The reconfig txn that writes membership `m`, entered at log index `index`, into
/// `/zookeeper/config`, as ZooKeeper's `QuorumVerifier.toString()` lays it out: a `server.N=` line per member,
/// then `version=` and the zxid in hex. Voters are participants; learners whose line says observer are
/// observers; learners whose line says participant are on their way in (catching up) or out (removed by a
/// reconfig, not yet dropped) and are not listed, as ZooKeeper lists neither.
///
/// The tree leaves `/zookeeper/config` alone when the lines are those it holds (a learner catching up fires
/// no watch). The first entry (index 0, the membership the ensemble formed with) gets `version=0`; its
/// owner puts it in place without a zxid. `None` while a joint change is under way and for a membership
/// written before members' lines were recorded.
pub fn settled_config(m: &Membership, index: u64) -> Option<Vec<u8>> {
    let lines = config_lines(m)?;
    let txn = Txn {
        origin: ProposalId::default(),
        // Raised to the previous entry's stamp at apply: the same on every replica.
        time: 0,
        session_id: 0,
        auth: Vec::new(),
        op: TxnOp::Reconfig { data: format!("{lines}version={index:x}").into_bytes() },
    };
    Some(txn.encode())
}

/// The `server.N=` lines of a membership that is not joint and whose nodes all record their lines.
fn config_lines(m: &Membership) -> Option<String> {
    let voters: BTreeSet<u64> = m.voter_ids().collect();
    if m.get_joint_config().len() != 1 || m.nodes().any(|(_, node)| node.election_port == 0) {
        return None;
    }
    let mut text = String::new();
    for (id, node) in m.nodes() {
        let listed = match (voters.contains(id), node.participant) {
            (true, _) => PeerNode { participant: true, ..node.clone() },
            (false, false) => node.clone(),
            (false, true) => continue,
        };
        text.push_str(&format!("server.{id}={}\n", listed.server_line()));
    }
    Some(text)
}

pub struct ProxyStateMachine<O: TreeOwner> {
    owner: Arc<O>,
    applied: Option<LogId>,
    membership: StoredMembership,
    current: Current,
    /// Where snapshots are kept (docs/format.md, 6.4): the log before them may be purged, so a restart
    /// needs them.
    snapshot_dir: PathBuf,
}

impl<O: TreeOwner> ProxyStateMachine<O> {
    /// Starts from the newest snapshot kept in `snapshot_dir`, if any (installing its tree into `owner`).
    pub async fn open(owner: Arc<O>, snapshot_dir: PathBuf) -> io::Result<Self> {
        let mut sm = ProxyStateMachine {
            owner,
            applied: None,
            membership: StoredMembership::default(),
            current: Arc::new(Mutex::new(None)),
            snapshot_dir,
        };
        if let Some(loaded) = snapshot_dir::load_newest(&sm.snapshot_dir)? {
            sm.install_tree(&loaded.meta, loaded.tree, SnapshotBytes::new(loaded.body)).await;
        }
        Ok(sm)
    }

    async fn install_tree(&mut self, meta: &SnapshotMeta, tree: DataTree, bytes: SnapshotBytes) {
        self.owner.install(tree).await;
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some((meta.clone(), bytes));
    }
}

impl<O: TreeOwner> RaftStateMachine<TypeConfig> for ProxyStateMachine<O> {
    type SnapshotData = SnapshotBytes;
    type SnapshotBuilder = ProxySnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + Send,
    {
        // Everything openraft has ready goes to the owner as one batch; replies follow the owner's apply.
        let mut txns = Vec::new();
        let mut responders = Vec::new();
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            match entry.payload {
                EntryPayload::Normal(txn) => txns.push(CommittedTxn { index: entry.log_id.index, payload: txn.0 }),
                EntryPayload::Membership(m) => {
                    if let Some(config) = settled_config(&m, entry.log_id.index) {
                        txns.push(CommittedTxn { index: entry.log_id.index, payload: config });
                    }
                    self.membership = StoredMembership::new(Some(entry.log_id), m);
                }
                EntryPayload::Blank => {}
            }
            self.applied = Some(entry.log_id);
            responders.push((entry.log_id.index, responder));
        }
        // A lagging member for the linearizability tests (`replica::apply_delay=sleep(50)`).
        fail::fail_point!("replica::apply_delay");
        if let Some(applied) = self.applied {
            self.owner.apply(txns, applied.index).await;
        }
        for (index, responder) in responders {
            if let Some(responder) = responder {
                responder.send(ApplyReply { index });
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // The tree is frozen here, between two applies, with the meta that describes it: openraft builds the
        // snapshot in a task of its own while this state machine goes on applying, so a tree frozen later
        // would hold entries past `last_log_id`, and a server restarted from it (or a follower installing it)
        // would be handed those entries again and refuse them.
        ProxySnapshotBuilder {
            tree: self.owner.freeze().await,
            meta: SnapshotMeta { last_log_id: self.applied, last_membership: self.membership.clone() },
            current: self.current.clone(),
            dir: self.snapshot_dir.clone(),
        }
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: SnapshotBytes) -> Result<(), io::Error> {
        let tree = DataTree::read_snapshot(&mut snapshot.as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("snapshot body: {e}")))?;
        let (dir, kept_meta, kept_tree, body) =
            (self.snapshot_dir.clone(), meta.clone(), tree.clone(), snapshot.clone());
        tokio::task::spawn_blocking(move || snapshot_dir::save(&dir, &kept_meta, &kept_tree, body.as_bytes()))
            .await
            .map_err(io::Error::other)??;
        self.install_tree(meta, tree, snapshot).await;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner).clone();
        Ok(current.map(|(meta, snapshot)| openraft::Snapshot { meta, snapshot }))
    }
}

/// Builds a snapshot of the owner's tree as it was when the builder was created (an O(1) frozen copy taken
/// between two applies, so that it holds exactly the entries up to `meta.last_log_id`).
pub struct ProxySnapshotBuilder {
    tree: io::Result<DataTree>,
    meta: SnapshotMeta,
    current: Current,
    dir: PathBuf,
}

impl RaftSnapshotBuilder<TypeConfig> for ProxySnapshotBuilder {
    type SnapshotData = SnapshotBytes;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let tree = std::mem::replace(&mut self.tree, Err(io::Error::other("the snapshot was built already")))?;
        let (meta, dir) = (self.meta.clone(), self.dir.clone());
        // Serializing and writing a large tree is blocking work: off the async workers.
        let bytes = tokio::task::spawn_blocking(move || -> io::Result<SnapshotBytes> {
            let mut bytes = Vec::new();
            tree.write_snapshot(&mut bytes)?;
            snapshot_dir::save(&dir, &meta, &tree, &bytes)?;
            Ok(SnapshotBytes::new(bytes))
        })
        .await
        .map_err(io::Error::other)??;
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some((self.meta.clone(), bytes.clone()));
        Ok(openraft::Snapshot { meta: self.meta.clone(), snapshot: bytes })
    }
}
