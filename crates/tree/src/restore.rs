//! Paddock's two restore txns, applied by every replica from the log like any write.
//!
//! - [`TxnOp::RestoreSubtree`]: the nodes under one path become a backup's, as one atomic write. The plan
//!   (what to create, change and delete) is made at apply time against the tree as it then is, so every
//!   replica makes the same one, and writes that reached the subtree between a `--dry-run` and the restore
//!   are seen. Each change is made as the ordinary write would make it (create, setData, setACL, delete,
//!   with their Stat changes and watch events), all at the txn's zxid. A backup's ephemeral nodes are not
//!   restored: their sessions are gone.
//! - [`TxnOp::RestoreTree`]: the whole tree becomes a snapshot's; every session ends (the server drops every
//!   connection, clients reconnect and start new sessions). The live tree keeps its cluster id, its
//!   `/zookeeper/config` (the ensemble's membership is not the backup's) and its session counter.

use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;

use paddock_proto::{Acl, ErrorCode};

use crate::diff::{self, Change};
use crate::ephemeral::EphemeralType;
use crate::node::{Node, StatPersisted};
use crate::path;
use crate::tree::{CONFIG_PATH, DataTree};
use crate::txn::{TxnResult, WatchTrigger};

/// What a subtree restore does about nodes that exist in the live tree and differ from the backup (or are
/// not in it): conflicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnConflict {
    /// Replace them: afterwards the subtree holds exactly the backup's nodes.
    Overwrite,
    /// Leave them: only nodes missing from the live tree are created.
    Skip,
    /// Refuse the whole restore if there is any; otherwise create what is missing.
    Fail,
}

impl OnConflict {
    pub fn name(self) -> &'static str {
        match self {
            OnConflict::Overwrite => "overwrite",
            OnConflict::Skip => "skip",
            OnConflict::Fail => "fail",
        }
    }

    pub fn parse(text: &str) -> Option<OnConflict> {
        [OnConflict::Overwrite, OnConflict::Skip, OnConflict::Fail].into_iter().find(|p| p.name() == text)
    }

    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_code(code: u8) -> Option<OnConflict> {
        [OnConflict::Overwrite, OnConflict::Skip, OnConflict::Fail].into_iter().find(|p| p.code() == code)
    }
}

/// A node of the backup's subtree, as a restore carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoredNode {
    pub path: String,
    /// `None` is null data.
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    /// 0, or the container or TTL encoding; never a session (ephemerals are not restored).
    pub ephemeral_owner: i64,
    /// The backup's stored cversion (creations under it): the live one is raised to it, so that a sequential
    /// node created after the restore does not collide with a restored one.
    pub cversion: i32,
}

/// One change a subtree restore made or would make: `create`, `update` (with which of data, acl, kind) or
/// `delete`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeSummary {
    pub kind: &'static str,
    pub path: String,
    pub fields: Vec<&'static str>,
}

/// Why a subtree restore was refused as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreRefusal {
    /// `--on-conflict fail` and these live nodes differ from the backup or are not in it.
    Conflicts(Vec<String>),
    /// The request cannot be carried out (named).
    Invalid(ErrorCode, String),
}

/// The backup's nodes at and under `subtree` in `tree`, in path order, ephemerals left out; `None` when the
/// backup has no node at `subtree`.
pub fn restored_nodes(tree: &DataTree, subtree: &str) -> Option<Vec<RestoredNode>> {
    tree.get(subtree)?;
    let nodes = diff::subtree_nodes(tree, subtree)
        .filter(|(path, _)| !under_zookeeper(path))
        .filter(|(_, node)| !matches!(EphemeralType::of(node.stat.ephemeral_owner), EphemeralType::Normal(_)))
        .map(|(path, node)| RestoredNode {
            path: path.to_string(),
            data: node.data().map(<[u8]>::to_vec),
            acl: node.acl().to_vec(),
            ephemeral_owner: node.stat.ephemeral_owner,
            cversion: node.stat.cversion,
        })
        .collect();
    Some(nodes)
}

/// `/zookeeper` and below: the server's own nodes (quotas, the ensemble's config), never restored by path.
fn under_zookeeper(path: &str) -> bool {
    path == "/zookeeper" || path.starts_with("/zookeeper/")
}

impl DataTree {
    /// The changes restoring `nodes` at `subtree` would make to this tree under `on_conflict`, in the order
    /// they are made (deletes children first, then creates and updates parents first).
    pub fn plan_subtree_restore(
        &self,
        subtree: &str,
        nodes: &[RestoredNode],
        on_conflict: OnConflict,
    ) -> Result<Vec<Change>, RestoreRefusal> {
        self.check_restorable(subtree, nodes)?;
        let images = restored_images(nodes);
        let mut changes = Vec::new();
        let live = diff::subtree_nodes(self, subtree).filter(|(path, _)| !under_zookeeper(path));
        let backup = images.iter().map(|(path, node)| (path.as_str(), node));
        diff::merge(live, backup, |path, before, after| {
            let Some(change) = diff::compare(path, before, after) else { return };
            // A kind that cannot change in place (a live ephemeral, or one restored as such) is replaced.
            match change {
                Change::Update { path, before, after } if before.ephemeral_owner != after.ephemeral_owner => {
                    changes.push(Change::Delete { path: path.clone(), before });
                    changes.push(Change::Create { path, node: after });
                }
                change => changes.push(change),
            }
        });
        let conflicts: Vec<String> =
            changes.iter().filter(|c| !matches!(c, Change::Create { .. })).map(|c| c.path().to_string()).collect();
        match on_conflict {
            OnConflict::Overwrite => {}
            OnConflict::Fail if !conflicts.is_empty() => return Err(RestoreRefusal::Conflicts(conflicts)),
            OnConflict::Fail | OnConflict::Skip => changes = self.creatable_only(changes),
        }
        Ok(in_apply_order(changes))
    }

    /// The creates among `changes` whose parent will exist: a live node that is not an ephemeral, or one
    /// created before.
    fn creatable_only(&self, changes: Vec<Change>) -> Vec<Change> {
        let mut created: HashSet<String> = HashSet::new();
        let mut kept = Vec::new();
        for change in changes {
            let Change::Create { path, .. } = &change else { continue };
            let parent = path::parent(path);
            let parent_live = self
                .get(parent)
                .is_some_and(|p| !matches!(EphemeralType::of(p.stat.ephemeral_owner), EphemeralType::Normal(_)));
            if created.contains(parent) || (parent_live && self.get(path).is_none()) {
                created.insert(path.clone());
                kept.push(change);
            }
        }
        kept
    }

    fn check_restorable(&self, subtree: &str, nodes: &[RestoredNode]) -> Result<(), RestoreRefusal> {
        let invalid = |message: String| Err(RestoreRefusal::Invalid(ErrorCode::BadArguments, message));
        if path::validate(subtree).is_err() {
            return invalid(format!("{subtree:?} is not a valid path"));
        }
        if under_zookeeper(subtree) {
            return invalid(format!("{subtree} is the server's own: it is not restored"));
        }
        if nodes.first().is_none_or(|first| first.path != subtree) {
            return invalid(format!("the restored nodes must start with {subtree} itself"));
        }
        if subtree != "/" && self.get(path::parent(subtree)).is_none() {
            let message =
                format!("{} does not exist: create it first, or restore a subtree above it", path::parent(subtree));
            return Err(RestoreRefusal::Invalid(ErrorCode::NoNode, message));
        }
        let prefix = if subtree == "/" { "/".to_string() } else { format!("{subtree}/") };
        for pair in nodes.windows(2) {
            let [a, b] = pair else { continue };
            if a.path >= b.path || !b.path.starts_with(&prefix) || under_zookeeper(&b.path) {
                return invalid(format!("restored node {} is out of order or outside {subtree}", b.path));
            }
        }
        for node in nodes {
            if path::validate(&node.path).is_err() {
                return invalid(format!("restored node {:?} has an invalid path", node.path));
            }
            if matches!(EphemeralType::of(node.ephemeral_owner), EphemeralType::Normal(_)) {
                return invalid(format!("restored node {} is an ephemeral: ephemerals are not restored", node.path));
            }
        }
        Ok(())
    }

    /// Applies a subtree restore at `(zxid, time)`: every change of the plan, or none.
    pub(crate) fn restore_subtree(
        &mut self,
        (zxid, time): (i64, i64),
        subtree: &str,
        nodes: &[RestoredNode],
        on_conflict: OnConflict,
        triggers: &mut Vec<WatchTrigger>,
    ) -> TxnResult {
        let changes = match self.plan_subtree_restore(subtree, nodes, on_conflict) {
            Ok(changes) => changes,
            Err(RestoreRefusal::Conflicts(paths)) => return TxnResult::RestoreConflicts(paths),
            Err(RestoreRefusal::Invalid(code, _)) => return TxnResult::Error(code),
        };
        for change in &changes {
            match change {
                Change::Delete { path, .. } => self.delete_node(path, zxid, triggers),
                Change::Create { path, node } => {
                    let data = node.data.as_deref();
                    self.create_node(path, data, &node.acl, node.ephemeral_owner, (zxid, time), triggers);
                }
                Change::Update { path, before, after } => {
                    self.update_restored(path, before, after, (zxid, time), triggers)
                }
            }
        }
        self.raise_cversions(nodes);
        let summary = changes
            .iter()
            .map(|c| ChangeSummary { kind: c.kind(), path: c.path().to_string(), fields: c.fields() })
            .collect();
        TxnResult::SubtreeRestored(summary)
    }

    fn update_restored(
        &mut self,
        path: &str,
        before: &diff::NodeImage,
        after: &diff::NodeImage,
        at: (i64, i64),
        triggers: &mut Vec<WatchTrigger>,
    ) {
        let Some(stat) = self.get(path).map(|node| node.stat) else { return };
        if before.data != after.data {
            self.set_data(path, after.data.as_deref(), stat.version.wrapping_add(1), at, triggers);
        }
        if before.acl != after.acl {
            self.replace_acl(path, &after.acl, stat.aversion.wrapping_add(1));
        }
    }

    /// Every restored node's stored cversion becomes at least the backup's.
    fn raise_cversions(&mut self, nodes: &[RestoredNode]) {
        for node in nodes {
            if self.get(&node.path).is_some_and(|live| live.stat.cversion < node.cversion) {
                self.modify(&node.path, |live| live.stat.cversion = node.cversion);
            }
        }
    }

    /// Applies a whole-tree restore at `zxid`: `snapshot` (zstd of a [`DataTree::write_snapshot`] body)
    /// replaces the tree, without its sessions and their ephemerals. A body that does not decode changes
    /// nothing (MarshallingError), the same on every replica.
    pub(crate) fn restore_tree(&mut self, snapshot: &[u8]) -> TxnResult {
        let Some(mut restored) = decode_restored_tree(snapshot) else {
            return TxnResult::Error(ErrorCode::MarshallingError);
        };
        restored.strip_sessions();
        if let Some(config) = self.get(CONFIG_PATH).cloned() {
            let stat = config.stat;
            restored.modify(CONFIG_PATH, |node| {
                node.data = config.data.clone();
                node.stat = stat;
            });
        }
        restored.cluster_id = self.cluster_id;
        restored.next_session_id = restored.next_session_id.max(self.next_session_id);
        restored.last_time = restored.last_time.max(self.last_time);
        let nodes = restored.node_count() as u64;
        *self = restored;
        TxnResult::TreeRestored { nodes }
    }
}

impl DataTree {
    /// Removes every session and its ephemeral nodes, touching no other node's stat: a backup's sessions
    /// do not outlive a restore into a running server.
    pub fn strip_sessions(&mut self) {
        for session in self.sessions.keys().copied().collect::<Vec<_>>() {
            for ephemeral in self.ephemerals(session) {
                self.detach(&ephemeral);
            }
            self.remove_session(session);
        }
    }

    /// The tree cut down to `subtree`: its ancestors as they are, every node at and under it but the
    /// ephemerals, and the server's own `/zookeeper` nodes; no session. What `backup create --subtree` keeps
    /// and what `restore --subtree` sends. `None` when the tree has no node at `subtree`.
    pub fn subtree_only(&self, subtree: &str) -> Option<DataTree> {
        self.get(subtree)?;
        let mut builder = crate::TreeBuilder::new(self.last_zxid, self.last_time);
        let prefix = if subtree == "/" { "/".to_string() } else { format!("{subtree}/") };
        let is_ancestor = |path: &str| path == "/" || prefix.starts_with(&format!("{path}/"));
        for (path, node) in self.nodes() {
            let inside = path == subtree || path.starts_with(&prefix);
            let ephemeral = matches!(EphemeralType::of(node.stat.ephemeral_owner), EphemeralType::Normal(_));
            if (inside && !ephemeral) || is_ancestor(path) || under_zookeeper(path) {
                builder.node(path, node.data(), node.acl(), node.stat).ok()?;
            }
        }
        let mut tree = builder.finish().ok()?;
        tree.next_session_id = self.next_session_id;
        tree.cluster_id = self.cluster_id;
        Some(tree)
    }
}

/// The backup's nodes as tree nodes, for comparing with live ones.
fn restored_images(nodes: &[RestoredNode]) -> Vec<(String, Node)> {
    nodes
        .iter()
        .map(|n| {
            let stat =
                StatPersisted { ephemeral_owner: n.ephemeral_owner, cversion: n.cversion, ..StatPersisted::default() };
            (n.path.clone(), Node::new(n.data.as_deref(), Arc::new(n.acl.clone()), stat))
        })
        .collect()
}

/// Deletes first, deepest first (a node's children go before it); then creates and updates in path order
/// (a parent before its children).
fn in_apply_order(changes: Vec<Change>) -> Vec<Change> {
    let (mut deletes, rest): (Vec<Change>, Vec<Change>) =
        changes.into_iter().partition(|c| matches!(c, Change::Delete { .. }));
    deletes.reverse();
    deletes.into_iter().chain(rest).collect()
}

/// A restore txn's snapshot, compressed: what [`decode_restored_tree`] reads.
pub fn encode_restored_tree(tree: &DataTree) -> std::io::Result<Vec<u8>> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3)?;
    tree.write_snapshot(&mut encoder)?;
    encoder.finish()
}

fn decode_restored_tree(bytes: &[u8]) -> Option<DataTree> {
    let decoder = zstd::stream::read::Decoder::new(bytes).ok()?;
    // A bound on what one entry may expand to, so a hostile or damaged entry cannot exhaust memory.
    let mut bounded = decoder.take(MAX_RESTORED_TREE_BYTES);
    let tree = DataTree::read_snapshot(&mut bounded).ok()?;
    tree.check_consistency().ok()?;
    Some(tree)
}

/// The largest snapshot body a `RestoreTree` entry may expand to (16 GiB): far above any tree a server
/// holds in memory, there only to bound a damaged entry.
const MAX_RESTORED_TREE_BYTES: u64 = 16 << 30;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{ProposalId, Txn, TxnOp};
    use paddock_proto::{CreateMode, EventType};

    fn write(tree: &mut DataTree, session_id: i64, op: TxnOp) -> crate::Applied {
        let zxid = tree.last_zxid() + 1;
        let txn = Txn { origin: ProposalId::default(), time: zxid * 10, session_id, auth: vec![], op };
        let txn = Txn::decode(&txn.encode(), zxid).expect("a txn decodes as it was encoded");
        tree.apply(zxid, &txn)
    }

    fn create(tree: &mut DataTree, path: &str, data: &str, mode: CreateMode, session_id: i64) {
        let op = TxnOp::Create {
            path: path.into(),
            data: Some(data.as_bytes().to_vec()),
            acl: Acl::open_unsafe(),
            mode,
            ttl: 0,
        };
        write(tree, session_id, op);
    }

    /// A backup with /app/{a,b,b/c} and a live tree since then: /app/a changed, /app/b/c deleted, /app/new
    /// created, an ephemeral /app/eph, and /other changed outside the subtree.
    fn backup_and_live() -> (DataTree, DataTree) {
        let mut backup = DataTree::new();
        let session = write(&mut backup, 0, TxnOp::CreateSession { timeout_ms: 30_000, passwd: [0; 16] });
        let TxnResult::SessionCreated(session) = session.result else { panic!("a session") };
        for (path, data) in [("/app", "root"), ("/app/a", "a1"), ("/app/b", "b"), ("/app/b/c", "c"), ("/other", "o")] {
            create(&mut backup, path, data, CreateMode::Persistent, 0);
        }
        create(&mut backup, "/app/backup-eph", "", CreateMode::Ephemeral, session);
        assert!(backup.get("/app/backup-eph").is_some());
        let mut live = backup.clone();
        write(&mut live, 0, TxnOp::SetData { path: "/app/a".into(), data: Some(b"a2".to_vec()), version: -1 });
        write(&mut live, 0, TxnOp::Delete { path: "/app/b/c".into(), version: -1 });
        create(&mut live, "/app/new", "n", CreateMode::Persistent, 0);
        write(&mut live, 0, TxnOp::SetData { path: "/other".into(), data: Some(b"o2".to_vec()), version: -1 });
        (backup, live)
    }

    fn restore_op(backup: &DataTree, on_conflict: OnConflict) -> TxnOp {
        let nodes = restored_nodes(backup, "/app").expect("the backup has /app");
        TxnOp::RestoreSubtree { path: "/app".into(), on_conflict, nodes }
    }

    fn kinds(changes: &[ChangeSummary]) -> Vec<(&str, &str)> {
        changes.iter().map(|c| (c.kind, c.path.as_str())).collect()
    }

    #[test]
    fn an_overwriting_restore_makes_the_subtree_the_backups_and_fires_the_watches_of_each_write() {
        let (backup, mut live) = backup_and_live();
        let session = live.sessions().map(|(id, _)| id).next().expect("a session");
        let op = restore_op(&backup, OnConflict::Overwrite);
        let TxnOp::RestoreSubtree { nodes, .. } = &op else { unreachable!() };
        let planned = live.plan_subtree_restore("/app", nodes, OnConflict::Overwrite).expect("a plan");
        let other_before = live.get("/other").cloned();
        let applied = write(&mut live, 0, op.clone());
        let TxnResult::SubtreeRestored(changes) = &applied.result else { panic!("restored: {:?}", applied.result) };
        // The live ephemeral goes too: after an overwrite the subtree holds exactly the backup's persistent nodes.
        assert_eq!(
            kinds(changes),
            vec![("delete", "/app/new"), ("delete", "/app/backup-eph"), ("update", "/app/a"), ("create", "/app/b/c")]
        );
        assert!(live.ephemerals(session).is_empty());
        let planned: Vec<(&str, &str)> = planned.iter().map(|c| (c.kind(), c.path())).collect();
        assert_eq!(planned, kinds(changes), "the plan is what was applied");
        // Only the backup's ephemeral differs: ephemerals are not restored.
        let left: Vec<String> =
            crate::diff::diff_subtree(&live, &backup, "/app").iter().map(|c| c.path().to_string()).collect();
        assert_eq!(left, vec!["/app/backup-eph".to_string()]);
        assert_eq!(live.get("/other").cloned(), other_before, "outside the subtree nothing changed");
        assert_eq!(live.get("/app/a").map(|n| n.stat().version), Some(2), "a setData bumps the version");
        let events: Vec<(&str, EventType)> = applied.triggers.iter().map(|t| (t.path.as_str(), t.event)).collect();
        assert!(events.contains(&("/app/new", EventType::NodeDeleted)));
        assert!(events.contains(&("/app/a", EventType::NodeDataChanged)));
        assert!(events.contains(&("/app/b/c", EventType::NodeCreated)));
        assert!(events.contains(&("/app/b", EventType::NodeChildrenChanged)));
        live.check_consistency().expect("consistent after a restore");
        // The same restore again changes nothing.
        let again = write(&mut live, 0, op);
        assert_eq!(again.result, TxnResult::SubtreeRestored(vec![]));
    }

    #[test]
    fn fail_refuses_conflicts_whole_and_skip_only_creates() {
        let (backup, live) = backup_and_live();
        let mut failing = live.clone();
        let refused = write(&mut failing, 0, restore_op(&backup, OnConflict::Fail));
        let conflicts = vec!["/app/a".into(), "/app/backup-eph".into(), "/app/new".into()];
        assert_eq!(refused.result, TxnResult::RestoreConflicts(conflicts));
        assert!(failing.get("/app/b/c").is_none(), "nothing was created");
        let mut skipping = live.clone();
        let skipped = write(&mut skipping, 0, restore_op(&backup, OnConflict::Skip));
        let TxnResult::SubtreeRestored(changes) = &skipped.result else { panic!("{:?}", skipped.result) };
        assert_eq!(kinds(changes), vec![("create", "/app/b/c")]);
        assert_eq!(skipping.get("/app/a").and_then(|n| n.data()), Some(&b"a2"[..]));
        assert!(skipping.get("/app/new").is_some());
    }

    #[test]
    fn a_restore_whose_parent_is_missing_or_under_zookeeper_is_refused() {
        let (backup, _) = backup_and_live();
        let mut empty = DataTree::new();
        let nodes = restored_nodes(&backup, "/app/b").expect("in the backup");
        let op = TxnOp::RestoreSubtree { path: "/app/b".into(), on_conflict: OnConflict::Overwrite, nodes };
        assert_eq!(write(&mut empty, 0, op).result, TxnResult::Error(ErrorCode::NoNode));
        let config = restored_nodes(&backup, "/zookeeper").expect("every tree has /zookeeper");
        let op = TxnOp::RestoreSubtree { path: "/zookeeper".into(), on_conflict: OnConflict::Overwrite, nodes: config };
        assert_eq!(write(&mut empty, 0, op).result, TxnResult::Error(ErrorCode::BadArguments));
        assert!(restored_nodes(&backup, "/nowhere").is_none());
    }

    #[test]
    fn a_sequential_create_after_a_restore_does_not_take_a_restored_name() {
        let mut backup = DataTree::new();
        create(&mut backup, "/q", "", CreateMode::Persistent, 0);
        for _ in 0..3 {
            create(&mut backup, "/q/item-", "", CreateMode::PersistentSequential, 0);
        }
        let mut live = DataTree::new();
        let nodes = restored_nodes(&backup, "/q").expect("in the backup");
        write(&mut live, 0, TxnOp::RestoreSubtree { path: "/q".into(), on_conflict: OnConflict::Fail, nodes });
        create(&mut live, "/q/item-", "", CreateMode::PersistentSequential, 0);
        assert_eq!(live.children("/q").map(|c| c.len()), Some(4));
        assert!(live.get("/q/item-0000000003").is_some());
    }

    #[test]
    fn a_tree_restore_replaces_everything_but_the_config_and_ends_every_session() {
        let (backup, mut live) = backup_and_live();
        live.set_ensemble_config(b"server.1=a:1:2\nversion=0");
        create(&mut live, "/live-only", "", CreateMode::Persistent, 0);
        let snapshot = encode_restored_tree(&backup).expect("encodes");
        let applied = write(&mut live, 0, TxnOp::RestoreTree { snapshot });
        assert!(matches!(applied.result, TxnResult::TreeRestored { .. }), "{:?}", applied.result);
        assert!(live.get("/live-only").is_none());
        assert_eq!(live.get("/app/a").and_then(|n| n.data()), Some(&b"a1"[..]));
        assert!(live.get("/app/backup-eph").is_none(), "the backup's ephemerals went with its sessions");
        assert_eq!(live.sessions().count(), 0);
        assert_eq!(live.get(CONFIG_PATH).and_then(|n| n.data()), Some(&b"server.1=a:1:2\nversion=0"[..]));
        live.check_consistency().expect("consistent");
        let before = live.clone();
        let damaged = write(&mut live, 0, TxnOp::RestoreTree { snapshot: b"not zstd".to_vec() });
        assert_eq!(damaged.result, TxnResult::Error(ErrorCode::MarshallingError));
        assert_eq!(live.nodes().count(), before.nodes().count());
    }
}

#[cfg(test)]
mod cut_tests {
    use super::*;
    use crate::txn::{ProposalId, Txn, TxnOp};
    use paddock_proto::CreateMode;

    #[test]
    fn a_tree_cut_to_a_subtree_keeps_its_ancestors_and_the_servers_nodes_only() {
        let mut tree = DataTree::new();
        for path in ["/a", "/a/b", "/a/b/c", "/a/b/c/d", "/a/b-x", "/a/x", "/z"] {
            let zxid = tree.last_zxid() + 1;
            let op = TxnOp::Create {
                path: path.into(),
                data: Some(path.as_bytes().to_vec()),
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
                ttl: 0,
            };
            tree.apply(zxid, &Txn { origin: ProposalId::default(), time: zxid, session_id: 0, auth: vec![], op });
        }
        let cut = tree.subtree_only("/a/b").expect("in the tree");
        let paths: Vec<&str> = cut.nodes().map(|(path, _)| path).collect();
        assert_eq!(
            paths,
            vec!["/", "/a", "/a/b", "/a/b/c", "/a/b/c/d", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]
        );
        assert_eq!(cut.get("/a/b/c").and_then(|n| n.data()), Some(&b"/a/b/c"[..]));
        assert_eq!(cut.last_zxid(), tree.last_zxid());
        cut.check_consistency().expect("consistent");
        assert!(tree.subtree_only("/nowhere").is_none());
    }
}
