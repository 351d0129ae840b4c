//! ZooKeeper's `DataTree` as replaying a log needs it: nodes by path, the reference-counted ACL cache, the
//! ephemerals of each session, the sessions' timeouts and the digest, changed exactly as
//! `DataTree.processTxn` changes them.
//!
//! Exactness matters twice. ZooKeeper's snapshots are fuzzy (written while transactions are applied), so a
//! replay meets transactions whose effect is already in the snapshot; `processTxn` is written to be
//! idempotent for those (a create of an existing node still raises its parent's cversion, a delete of a
//! missing node still raises its parent's pzxid), and so is this. And every logged transaction carries the
//! digest of ZooKeeper's tree right after it: the replay matches it only if every stat moves as in
//! ZooKeeper. Watches, quotas' statistics (under `/zookeeper/`, outside the digest) and metrics are left
//! out: they do not change what is stored.
//!
//! The root is stored under `""`, as in ZooKeeper (`"/"` is its alias in requests).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::digest;
use crate::jute::{Acl, StatPersisted};
use crate::txn::{Owner, Txn, TxnHeader, op};

/// `KeeperException.Code` values the replay produces.
pub mod code {
    pub const OK: i32 = 0;
    pub const RUNTIME_INCONSISTENCY: i32 = -2;
    pub const NO_NODE: i32 = -101;
    pub const NODE_EXISTS: i32 = -110;
}

/// `ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID`: a node whose ACL list was null.
pub const OPEN_UNSAFE_ACL_ID: i64 = -1;

/// `EphemeralType.CONTAINER_EPHEMERAL_OWNER`.
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// `EphemeralType.TTL.maxValue()`: TTLs are 40 bits.
pub const MAX_TTL: i64 = 0xFF_FFFF_FFFF;

/// A znode: `DataNode` with its digest cached, as ZooKeeper caches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub data: Option<Vec<u8>>,
    /// The node's ACL id in the cache ([`ZkTree::acl`] resolves it).
    pub acl: i64,
    pub stat: StatPersisted,
    digest: u64,
}

impl Node {
    pub fn new(path: &str, data: Option<Vec<u8>>, acl: i64, stat: StatPersisted) -> Node {
        let digest = digest::node(path, data.as_deref(), &stat);
        Node { data, acl, stat, digest }
    }

    /// This node's share of ZooKeeper's tree digest.
    pub fn digest(&self) -> u64 {
        self.digest
    }
}

/// The owner of a node, by its raw `ephemeralOwner` (`EphemeralType.get`).
pub fn session_owner(ephemeral_owner: i64) -> Option<i64> {
    match ephemeral_owner {
        0 | CONTAINER_OWNER => None,
        ttl if (ttl as u64) >> 56 == 0xFF => None,
        session => Some(session),
    }
}

#[derive(Default)]
struct AclCache {
    by_id: HashMap<i64, Vec<Acl>>,
    by_list: HashMap<Vec<Acl>, i64>,
    uses: HashMap<i64, u64>,
    index: i64,
}

impl AclCache {
    fn load(&mut self, id: i64, list: Vec<Acl>) {
        self.index = self.index.max(id);
        self.by_list.insert(list.clone(), id);
        self.by_id.insert(id, list);
        self.uses.insert(id, 0);
    }

    fn convert(&mut self, acl: Option<&[Acl]>) -> i64 {
        let Some(acl) = acl else { return OPEN_UNSAFE_ACL_ID };
        let id = match self.by_list.get(acl) {
            Some(id) => *id,
            None => {
                self.index += 1;
                self.by_id.insert(self.index, acl.to_vec());
                self.by_list.insert(acl.to_vec(), self.index);
                self.index
            }
        };
        self.add_usage(id);
        id
    }

    fn add_usage(&mut self, id: i64) {
        if self.by_id.contains_key(&id) {
            *self.uses.entry(id).or_default() += 1;
        }
    }

    fn remove_usage(&mut self, id: i64) {
        if !self.by_id.contains_key(&id) {
            return;
        }
        let uses = self.uses.entry(id).or_default();
        *uses = uses.saturating_sub(1);
        if *uses == 0 {
            self.uses.remove(&id);
            if let Some(list) = self.by_id.remove(&id) {
                self.by_list.remove(&list);
            }
        }
    }

    fn purge_unused(&mut self) {
        let unused: Vec<i64> = self.uses.iter().filter(|(_, n)| **n == 0).map(|(id, _)| *id).collect();
        for id in unused {
            self.uses.remove(&id);
            if let Some(list) = self.by_id.remove(&id) {
                self.by_list.remove(&list);
            }
        }
    }
}

/// A tree taken apart by [`ZkTree::into_parts`].
pub struct Parts {
    /// Every node, sorted by path (so each parent before its children), the root named `/`.
    pub nodes: Vec<(String, Node)>,
    /// The ACL lists by id, -1 (the open ACL) included. An id a node refers to may be missing (see
    /// [`ZkTree::acl`]).
    pub acls: HashMap<i64, Vec<Acl>>,
    /// Session ids and their timeouts (ms).
    pub sessions: BTreeMap<i64, i32>,
}

pub struct ZkTree {
    nodes: HashMap<String, Node>,
    acls: AclCache,
    ephemerals: HashMap<i64, HashSet<String>>,
    sessions: BTreeMap<i64, i32>,
    digest: u64,
    last_zxid: i64,
    last_time: i64,
}

impl ZkTree {
    /// The tree a new ZooKeeper 3.5+ server starts with: `/`, `/zookeeper`, `/zookeeper/quota` open to
    /// everyone, and `/zookeeper/config` readable by everyone (aversion -1, from `setACL(…, -1)`).
    pub fn new() -> ZkTree {
        let mut tree = ZkTree::empty();
        for path in ["", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            let node = Node::new(path, Some(Vec::new()), OPEN_UNSAFE_ACL_ID, StatPersisted::default());
            tree.put(path.to_string(), node);
        }
        let read_unsafe = [Acl { perms: 1, scheme: "world".into(), id: "anyone".into() }];
        tree.set_acl("/zookeeper/config", Some(&read_unsafe), -1);
        tree
    }

    pub(crate) fn empty() -> ZkTree {
        ZkTree {
            nodes: HashMap::new(),
            acls: AclCache::default(),
            ephemerals: HashMap::new(),
            sessions: BTreeMap::new(),
            digest: 0,
            last_zxid: 0,
            last_time: 0,
        }
    }

    // ---- loading a snapshot (`DataTree.deserialize`) -----------------------------------------------------

    pub(crate) fn load_session(&mut self, id: i64, timeout_ms: i32) {
        self.sessions.insert(id, timeout_ms);
    }

    pub(crate) fn load_acl(&mut self, id: i64, list: Vec<Acl>) {
        self.acls.load(id, list);
    }

    /// Adds a node read from a snapshot; its parent must have come before it.
    pub(crate) fn load_node(&mut self, path: String, node: Node) -> Result<(), String> {
        if !path.is_empty() {
            let parent = parent_of(&path).ok_or_else(|| format!("node path {path:?} does not start with '/'"))?;
            if !self.nodes.contains_key(parent) {
                return Err(format!("node {path} comes before its parent (\"Invalid Datatree\")"));
            }
        }
        if self.nodes.contains_key(&path) {
            return Err(format!("node {:?} appears twice", display(&path)));
        }
        self.acls.add_usage(node.acl);
        self.put(path, node);
        Ok(())
    }

    /// After the last node: ACLs no node uses are dropped (`aclCache.purgeUnused`).
    pub(crate) fn finish_load(&mut self, zxid: i64) -> Result<(), String> {
        if !self.nodes.contains_key("") {
            return Err("the snapshot holds no root node".to_string());
        }
        self.acls.purge_unused();
        self.last_zxid = zxid;
        Ok(())
    }

    // ---- reads -----------------------------------------------------------------------------------------

    /// ZooKeeper's tree digest (`DataTree.getTreeDigest`).
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The zxid of the last transaction applied (or of the snapshot loaded).
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// The highest transaction time stamp applied: 0 until a transaction is.
    pub fn last_time(&self) -> i64 {
        self.last_time
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Nodes in no particular order, the root named `/`.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(path, node)| (display(path), node))
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(key(path))
    }

    /// The ACL list behind an id: `None` if the cache has no such id (a fuzzy snapshot's node whose ACL was
    /// added after the cache was written and never replayed).
    pub fn acl(&self, id: i64) -> Option<Vec<Acl>> {
        if id == OPEN_UNSAFE_ACL_ID {
            return Some(vec![Acl { perms: 31, scheme: "world".into(), id: "anyone".into() }]);
        }
        self.acls.by_id.get(&id).cloned()
    }

    /// Sessions and their timeouts (ms).
    pub fn sessions(&self) -> &BTreeMap<i64, i32> {
        &self.sessions
    }

    /// Takes the tree apart (see [`Parts`]), so that each node's memory can be released as it is consumed.
    pub fn into_parts(self) -> Parts {
        let ZkTree { nodes, acls, sessions, .. } = self;
        let mut sorted: Vec<(String, Node)> =
            nodes.into_iter().map(|(key, node)| (if key.is_empty() { "/".to_string() } else { key }, node)).collect();
        sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut acls = acls.by_id;
        acls.insert(OPEN_UNSAFE_ACL_ID, vec![Acl { perms: 31, scheme: "world".into(), id: "anyone".into() }]);
        Parts { nodes: sorted, acls, sessions }
    }

    /// What `ZooKeeperServer.loadData` does once the data is loaded: the ephemerals of sessions that have no
    /// timeout recorded are deleted, at the last zxid. Returns how many nodes went.
    pub fn kill_unknown_sessions(&mut self) -> usize {
        let dead: Vec<i64> = self.ephemerals.keys().filter(|id| !self.sessions.contains_key(id)).copied().collect();
        let before = self.nodes.len();
        for session in dead {
            self.kill_session(session, self.last_zxid, None);
        }
        before - self.nodes.len()
    }

    // ---- transactions (`DataTree.processTxn`, `FileTxnSnapLog.processTransaction`) ------------------------

    /// Applies one logged transaction and returns its result code, as ZooKeeper's replay does (a failure is
    /// not an error: a fuzzy snapshot makes some expected).
    pub fn apply(&mut self, header: &TxnHeader, txn: &Txn) -> i32 {
        match txn {
            Txn::CreateSession { timeout_ms } => {
                self.sessions.insert(header.client_id, *timeout_ms);
            }
            Txn::CloseSession { .. } => {
                self.sessions.remove(&header.client_id);
            }
            _ => {}
        }
        let result = self.process(header, header.kind, txn);
        self.last_zxid = self.last_zxid.max(header.zxid);
        self.last_time = self.last_time.max(header.time);
        result
    }

    fn process(&mut self, h: &TxnHeader, kind: i32, txn: &Txn) -> i32 {
        let result = match txn {
            Txn::Create { path, data, acl, owner, parent_cversion } => {
                let owner = match owner {
                    Owner::None => 0,
                    Owner::Session => h.client_id,
                    Owner::Container => CONTAINER_OWNER,
                    Owner::Ttl(ttl) => i64::from_be_bytes([0xFF, 0, 0, 0, 0, 0, 0, 0]) | (ttl & MAX_TTL),
                };
                let (data, acl) = (data.clone(), acl.as_deref());
                self.create_node(path, data, acl, owner, *parent_cversion, (h.zxid, h.time))
            }
            Txn::Delete { path } => self.delete_node(path, h.zxid),
            Txn::SetData { path, data, version } => self.set_data(path, data.clone(), *version, (h.zxid, h.time)),
            Txn::SetAcl { path, acl, version } => self.set_acl(path, acl.as_deref(), *version),
            Txn::CloseSession { paths } => {
                self.kill_session(h.client_id, h.zxid, paths.as_deref());
                code::OK
            }
            Txn::Error { code } => *code,
            Txn::CreateSession { .. } | Txn::Check { .. } => code::OK,
            Txn::Multi(ops) => {
                // Any error op means the multi failed as a whole when proposed: nothing in it changes the tree.
                if ops.iter().any(|(kind, _)| *kind == op::ERROR) {
                    let first_error = ops.iter().find_map(|(_, t)| match t {
                        Txn::Error { code } if *code != code::OK && *code != code::RUNTIME_INCONSISTENCY => Some(*code),
                        _ => None,
                    });
                    first_error.unwrap_or(code::OK)
                } else {
                    let mut result = code::OK;
                    for (sub_kind, sub) in ops {
                        let sub_result = self.process(h, *sub_kind, sub);
                        if sub_result != code::OK && result == code::OK {
                            result = sub_result;
                        }
                    }
                    result
                }
            }
        };
        // A create of a node the fuzzy snapshot already holds: its parent's cversion and pzxid still move to
        // what the create gave them (the node may have been deleted and re-created meanwhile).
        if kind == op::CREATE
            && result == code::NODE_EXISTS
            && let Txn::Create { path, parent_cversion, .. } = txn
            && let Some(parent) = parent_of(path)
            && !self.set_cversion_pzxid(parent, *parent_cversion, h.zxid)
        {
            return code::NO_NODE;
        }
        result
    }

    /// `DataTree.createNode`.
    fn create_node(
        &mut self,
        path: &str,
        data: Option<Vec<u8>>,
        acl: Option<&[Acl]>,
        owner: i64,
        parent_cversion: i32,
        (zxid, time): (i64, i64),
    ) -> i32 {
        let Some(parent_name) = parent_of(path) else { return code::NO_NODE };
        if !self.nodes.contains_key(parent_name) {
            return code::NO_NODE;
        }
        // The ACL is counted before the existence check, as ZooKeeper counts it (ZOOKEEPER-3306).
        let acl_id = self.acls.convert(acl);
        if self.nodes.contains_key(path) {
            return code::NODE_EXISTS;
        }
        self.change(parent_name, |parent| {
            let cversion = if parent_cversion == -1 { parent.stat.cversion.wrapping_add(1) } else { parent_cversion };
            if cversion > parent.stat.cversion {
                parent.stat.cversion = cversion;
                parent.stat.pzxid = zxid;
            }
        });
        let stat = StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            ephemeral_owner: owner,
            pzxid: zxid,
            ..StatPersisted::default()
        };
        self.put(path.to_string(), Node::new(path, data, acl_id, stat));
        code::OK
    }

    /// `DataTree.deleteNode`: the parent's pzxid moves even when the node is already gone.
    fn delete_node(&mut self, path: &str, zxid: i64) -> i32 {
        let Some(parent_name) = parent_of(path) else { return code::NO_NODE };
        if key(path).is_empty() || !self.nodes.contains_key(parent_name) {
            return code::NO_NODE;
        }
        self.change(parent_name, |parent| {
            if zxid > parent.stat.pzxid {
                parent.stat.pzxid = zxid;
            }
        });
        let Some(node) = self.nodes.remove(path) else { return code::NO_NODE };
        self.digest = self.digest.wrapping_sub(node.digest);
        self.acls.remove_usage(node.acl);
        if let Some(owner) = session_owner(node.stat.ephemeral_owner)
            && let Some(paths) = self.ephemerals.get_mut(&owner)
        {
            paths.remove(path);
        }
        code::OK
    }

    fn set_data(&mut self, path: &str, data: Option<Vec<u8>>, version: i32, (zxid, time): (i64, i64)) -> i32 {
        let changed = self.change(key(path), |node| {
            node.data = data;
            node.stat.mtime = time;
            node.stat.mzxid = zxid;
            node.stat.version = version;
        });
        if changed { code::OK } else { code::NO_NODE }
    }

    /// `DataTree.setACL`: the old list's use is released before the new one is counted, so a node set to the
    /// ACL it had, when it was that list's only user, gets a new id for it.
    fn set_acl(&mut self, path: &str, acl: Option<&[Acl]>, version: i32) -> i32 {
        let Some(old) = self.nodes.get(key(path)).map(|node| node.acl) else { return code::NO_NODE };
        self.acls.remove_usage(old);
        let id = self.acls.convert(acl);
        self.change(key(path), |node| {
            node.stat.aversion = version;
            node.acl = id;
        });
        code::OK
    }

    /// `DataTree.killSession`: the paths the txn names, then whatever else the session still owns.
    fn kill_session(&mut self, session: i64, zxid: i64, paths: Option<&[String]>) {
        let owned = self.ephemerals.remove(&session);
        if let Some(paths) = paths {
            for path in paths {
                self.delete_node(path, zxid);
            }
        }
        let Some(mut owned) = owned else { return };
        for path in paths.unwrap_or_default() {
            owned.remove(path);
        }
        for path in owned {
            self.delete_node(&path, zxid);
        }
    }

    /// `DataTree.setCversionPzxid`; false if there is no such node.
    fn set_cversion_pzxid(&mut self, path: &str, cversion: i32, zxid: i64) -> bool {
        let path = path.strip_suffix('/').unwrap_or(path);
        let Some(node) = self.nodes.get(key(path)) else { return false };
        let cversion = if cversion == -1 { node.stat.cversion.wrapping_add(1) } else { cversion };
        if cversion > node.stat.cversion {
            self.change(key(path), |node| {
                node.stat.cversion = cversion;
                node.stat.pzxid = zxid;
            });
        }
        true
    }

    // ---- primitives ------------------------------------------------------------------------------------

    fn put(&mut self, path: String, node: Node) {
        if let Some(owner) = session_owner(node.stat.ephemeral_owner)
            && !path.is_empty()
        {
            self.ephemerals.entry(owner).or_default().insert(path.clone());
        }
        self.digest = self.digest.wrapping_add(node.digest);
        if let Some(old) = self.nodes.insert(path, node) {
            self.digest = self.digest.wrapping_sub(old.digest);
        }
    }

    /// Changes a node in place (`preChange` / `postChange`); false if there is none at `path` (a key).
    fn change(&mut self, path: &str, f: impl FnOnce(&mut Node)) -> bool {
        let Some(node) = self.nodes.get_mut(key(path)) else { return false };
        self.digest = self.digest.wrapping_sub(node.digest);
        f(node);
        node.digest = digest::node(path, node.data.as_deref(), &node.stat);
        self.digest = self.digest.wrapping_add(node.digest);
        true
    }
}

impl Default for ZkTree {
    fn default() -> Self {
        ZkTree::new()
    }
}

/// The map key of a path: the root is `""`.
fn key(path: &str) -> &str {
    if path == "/" { "" } else { path }
}

fn display(key: &str) -> &str {
    if key.is_empty() { "/" } else { key }
}

/// `path.substring(0, path.lastIndexOf('/'))`: `""` (the root) for a top-level node.
fn parent_of(path: &str) -> Option<&str> {
    path.rfind('/').map(|slash| &path[..slash])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: i32, zxid: i64) -> TxnHeader {
        TxnHeader { client_id: 0x77, cxid: 0, zxid, time: zxid * 10, kind }
    }

    fn create(path: &str, owner: Owner, parent_cversion: i32) -> Txn {
        Txn::Create { path: path.into(), data: Some(b"d".to_vec()), acl: None, owner, parent_cversion }
    }

    fn recomputed(tree: &ZkTree) -> u64 {
        tree.nodes
            .iter()
            .fold(0u64, |sum, (path, node)| sum.wrapping_add(digest::node(path, node.data.as_deref(), &node.stat)))
    }

    #[test]
    fn creates_and_deletes_move_the_parent_as_zookeeper_does() {
        let mut tree = ZkTree::new();
        assert_eq!(tree.apply(&header(op::CREATE, 1), &create("/a", Owner::None, 1)), code::OK);
        assert_eq!(tree.apply(&header(op::CREATE, 2), &create("/a/b", Owner::None, 1)), code::OK);
        assert_eq!(tree.apply(&header(op::DELETE, 3), &Txn::Delete { path: "/a/b".into() }), code::OK);
        let a = tree.get("/a").unwrap();
        assert_eq!((a.stat.cversion, a.stat.pzxid), (1, 3));
        // Replayed again over the same state (a fuzzy snapshot): nothing moves backwards.
        assert_eq!(tree.apply(&header(op::CREATE, 1), &create("/a", Owner::None, 1)), code::NODE_EXISTS);
        assert_eq!(tree.apply(&header(op::DELETE, 2), &Txn::Delete { path: "/a/b".into() }), code::NO_NODE);
        let a = tree.get("/a").unwrap();
        assert_eq!((a.stat.cversion, a.stat.pzxid), (1, 3));
        assert_eq!(tree.digest(), recomputed(&tree));
        assert_eq!(tree.get("/").unwrap().stat.cversion, 1);
    }

    #[test]
    fn closing_a_session_deletes_its_ephemerals_and_a_failed_multi_changes_nothing() {
        let mut tree = ZkTree::new();
        tree.apply(&header(op::CREATE_SESSION, 1), &Txn::CreateSession { timeout_ms: 5000 });
        tree.apply(&header(op::CREATE, 2), &create("/e", Owner::Session, 1));
        tree.apply(&header(op::CREATE_CONTAINER, 3), &create("/c", Owner::Container, 2));
        assert_eq!(tree.get("/e").unwrap().stat.ephemeral_owner, 0x77);
        assert_eq!(tree.get("/c").unwrap().stat.ephemeral_owner, CONTAINER_OWNER);
        let before = tree.digest();
        let multi =
            Txn::Multi(vec![(op::CREATE, create("/x", Owner::None, 3)), (op::ERROR, Txn::Error { code: -101 })]);
        assert_eq!(tree.apply(&header(op::MULTI, 4), &multi), -101);
        assert!(tree.get("/x").is_none());
        assert_eq!(tree.digest(), before);
        tree.apply(&header(op::CLOSE_SESSION, 5), &Txn::CloseSession { paths: Some(vec!["/e".into()]) });
        assert!(tree.get("/e").is_none() && tree.get("/c").is_some());
        assert!(tree.sessions().is_empty());
        assert_eq!(tree.get("/").unwrap().stat.pzxid, 5);
        assert_eq!(tree.digest(), recomputed(&tree));
    }

    #[test]
    fn ephemerals_of_sessions_without_a_timeout_go_as_at_zookeepers_start_up() {
        let mut tree = ZkTree::new();
        tree.apply(&header(op::CREATE_SESSION, 1), &Txn::CreateSession { timeout_ms: 5000 });
        tree.apply(&header(op::CREATE, 2), &create("/kept", Owner::Session, 1));
        let orphan = TxnHeader { client_id: 0x99, ..header(op::CREATE, 3) };
        tree.apply(&orphan, &create("/orphan", Owner::Session, 2));
        assert_eq!(tree.kill_unknown_sessions(), 1);
        assert!(tree.get("/orphan").is_none() && tree.get("/kept").is_some());
        assert_eq!(tree.get("/").unwrap().stat.pzxid, 3);
        assert_eq!(tree.digest(), recomputed(&tree));
    }

    #[test]
    fn set_acl_releases_before_it_counts() {
        let mut tree = ZkTree::new();
        let acl = vec![Acl { perms: 1, scheme: "digest".into(), id: "u:h".into() }];
        let txn = Txn::Create {
            path: "/s".into(),
            data: None,
            acl: Some(acl.clone()),
            owner: Owner::None,
            parent_cversion: 1,
        };
        tree.apply(&header(op::CREATE, 1), &txn);
        let first = tree.get("/s").unwrap().acl;
        tree.apply(&header(op::SET_ACL, 2), &Txn::SetAcl { path: "/s".into(), acl: Some(acl.clone()), version: 1 });
        let second = tree.get("/s").unwrap().acl;
        assert_ne!(first, second, "the only user released the list, which came back under a new id");
        assert_eq!(tree.acl(second), Some(acl));
        assert_eq!(tree.get("/s").unwrap().stat.aversion, 1);
    }
}
