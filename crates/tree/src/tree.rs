//! The tree itself: znodes by path, sessions, and the indexes and counters ZooKeeper keeps beside them
//! (ephemerals per session, containers, TTL nodes, the ACL cache, the digest, the approximate data size).
//!
//! Everything lives in persistent maps, so `clone()` is O(1) and a clone never sees later changes. Nodes
//! are kept in a B-tree ordered by path (a parent sorts before its descendants, and a subtree is one key
//! range), each behind its own `Arc`: measured, that costs about half the memory per znode of a hash trie
//! holding nodes inline. The mutation primitives here keep every index and counter in step;
//! [`DataTree::apply`] (in `apply.rs`) decides *whether* a change happens, these decide *how*.

use std::collections::VecDeque;
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

use paddock_proto::{Acl, EventType, Stat};

use crate::acl_cache::AclCache;
use crate::digest;
use crate::ephemeral::EphemeralType;
use crate::node::{Data, Node, StatPersisted};
use crate::path;
use crate::quota;
use crate::txn::WatchTrigger;

/// A session as the tree records it: enough to validate a reconnect, to re-arm expiry after a restart, and
/// to decide at apply who may write for it and whether an expiry still holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub timeout_ms: i32,
    pub passwd: [u8; 16],
    /// The server holding the session's connection: the one that created it or last reopened it
    /// (`ReopenSession`). A write proposed by another server for this session fails with SessionMoved.
    /// 0: unknown (a session from before snapshot format 4), and any server may write for it.
    pub owner: u64,
    /// The zxid of the last entry of this session (its creation, a write, a reopen): a leader's expiry
    /// decided on an older basis is overruled at apply.
    pub last_zxid: i64,
}

impl Session {
    pub fn new(timeout_ms: i32, passwd: [u8; 16]) -> Self {
        Session { timeout_ms, passwd, owner: 0, last_zxid: 0 }
    }
}

#[derive(Clone)]
pub struct DataTree {
    pub(crate) nodes: imbl::OrdMap<Arc<str>, Arc<Node>>,
    pub(crate) sessions: imbl::OrdMap<i64, Session>,
    pub(crate) ephemerals: imbl::OrdMap<i64, imbl::OrdSet<Arc<str>>>,
    pub(crate) containers: imbl::OrdSet<Arc<str>>,
    pub(crate) ttls: imbl::OrdSet<Arc<str>>,
    /// Paths with a quota (a `zookeeper_limits` node under `/zookeeper/quota`).
    pub(crate) quotas: imbl::OrdSet<Arc<str>>,
    pub(crate) acls: AclCache,
    pub(crate) last_zxid: i64,
    /// The leader's stamp on the last txn applied: stamps never go below it.
    pub(crate) last_time: i64,
    /// The next session id to hand out, replicated with the tree so every replica allocates the same.
    pub(crate) next_session_id: i64,
    /// An ensemble's cluster id, once its first leader's `SetClusterId` is applied; `None` on a standalone
    /// server (whose id is its data directory's file) and in a restored tree (the restore names a new cluster).
    pub(crate) cluster_id: Option<u128>,
    digest: u64,
    /// The digest after each of the last [`RECENT_DIGESTS`] txns applied, oldest first, as (zxid, digest):
    /// what a `Digest` entry is checked against. Not in snapshots: it is rebuilt as the tree applies.
    recent_digests: Arc<VecDeque<(i64, u64)>>,
    data_size: u64,
    ephemeral_count: usize,
}

/// How many past digests the tree keeps for `Digest` entries. Such an entry names the zxid its proposer had
/// applied when it proposed it; the entries between that zxid and the `Digest` entry itself are the writes
/// that were already on their way through the log (a batch being fsynced, a leader's uncommitted pipeline),
/// hundreds at most under load. 1024 covers that with room to spare for 16 KiB; an entry naming an older
/// zxid is reported as unknown (`DigestChecked { matches: None }`), never as a mismatch.
pub const RECENT_DIGESTS: usize = 1024;

/// ZooKeeper's built-in znodes; none of them can be deleted.
/// Where an ensemble keeps its membership (ZooKeeper's `ZooDefs.CONFIG_NODE`).
pub const CONFIG_PATH: &str = "/zookeeper/config";

pub(crate) const SPECIAL_PATHS: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A fresh tree exactly as a new ZooKeeper 3.9 standalone server has it: `/`, `/zookeeper`,
    /// `/zookeeper/quota` and `/zookeeper/config`, all with zero stats and empty data; the first three open
    /// to the world, `/zookeeper/config` world-readable only, with the `aclVersion` of -1 that ZooKeeper's
    /// own `setACL(…, -1)` leaves on it.
    pub fn new() -> DataTree {
        let mut tree = DataTree::empty();
        for path in ["/", "/zookeeper", "/zookeeper/quota"] {
            let acl = tree.acls.acquire(&Acl::open_unsafe());
            tree.attach(Arc::from(path), Node::new(Some(b""), acl, StatPersisted::default()));
        }
        let acl = tree.acls.acquire(&Acl::read_unsafe());
        let stat = StatPersisted { aversion: -1, ..StatPersisted::default() };
        tree.attach(Arc::from("/zookeeper/config"), Node::new(Some(b""), acl, stat));
        tree
    }

    /// No nodes at all, not even the root: the starting point for loading a snapshot.
    pub(crate) fn empty() -> DataTree {
        DataTree {
            nodes: imbl::OrdMap::new(),
            sessions: imbl::OrdMap::new(),
            ephemerals: imbl::OrdMap::new(),
            containers: imbl::OrdSet::new(),
            ttls: imbl::OrdSet::new(),
            quotas: imbl::OrdSet::new(),
            acls: AclCache::default(),
            last_zxid: 0,
            last_time: 0,
            next_session_id: 0,
            cluster_id: None,
            digest: 0,
            recent_digests: Arc::default(),
            data_size: 0,
            ephemeral_count: 0,
        }
    }

    // ---- reads -----------------------------------------------------------------------------------------

    /// The zxid of the last txn applied (failed ones included).
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// The leader's time stamp (ms since the epoch) on the last txn applied; 0 before any.
    pub fn last_time(&self) -> i64 {
        self.last_time
    }

    /// The ensemble's cluster id, once its `SetClusterId` entry is applied.
    pub fn cluster_id(&self) -> Option<u128> {
        self.cluster_id
    }

    /// Forgets the cluster id: a restored tree belongs to a new cluster, whose first leader names it.
    pub fn clear_cluster_id(&mut self) {
        self.cluster_id = None;
    }

    /// The node at `path`. As in ZooKeeper, `""` is another name for the root.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(if path.is_empty() { "/" } else { path }).map(Arc::as_ref)
    }

    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.get(path).map(Node::stat)
    }

    /// Every node with its path, in path byte order (so each parent before its children).
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(path, node)| (path.as_ref(), node.as_ref()))
    }

    /// Child names of `path`, in byte order.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.get(path).map(|node| node.children().map(str::to_string).collect())
    }

    /// ZooKeeper's `getNodeCount`, which counts the root twice (it is stored under `/` and `""`): a fresh
    /// tree has 5, as `mntr`'s `zk_znode_count` shows.
    pub fn node_count(&self) -> usize {
        self.nodes.len() + 1
    }

    /// `getAllChildrenNumber`: every descendant of `path` (for `/`, every node but the root, `/zookeeper`
    /// and its children included). `None` if there is no such node.
    pub fn all_children_number(&self, path: &str) -> Option<i32> {
        let node = self.get(path)?;
        if node.children.is_empty() {
            return Some(0);
        }
        if path.is_empty() || path == "/" {
            return Some(self.nodes.len() as i32 - 1);
        }
        // Descendants are exactly the keys from "path/" up to "path0" ('0' follows '/').
        let (from, to) = (format!("{path}/"), format!("{path}0"));
        let range = (Bound::Included(from.as_str()), Bound::Excluded(to.as_str()));
        Some(self.nodes.range::<_, str>(range).count() as i32)
    }

    /// Paths of the ephemeral nodes `session_id` owns, sorted.
    pub fn ephemerals(&self, session_id: i64) -> Vec<String> {
        self.ephemerals.get(&session_id).map(|paths| paths.iter().map(|p| p.to_string()).collect()).unwrap_or_default()
    }

    pub fn ephemerals_count(&self) -> usize {
        self.ephemeral_count
    }

    /// Live sessions by id, in id order.
    pub fn sessions(&self) -> impl Iterator<Item = (i64, &Session)> {
        self.sessions.iter().map(|(id, session)| (*id, session))
    }

    pub fn session(&self, id: i64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// ZooKeeper's `approximateDataSize`: the sum over nodes of path length (in UTF-16 units, as Java
    /// counts) plus data length. A fresh tree has 44.
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    /// The state digest (see `digest.rs` and `docs/tree-format.md`): equal on two trees exactly when
    /// their nodes (path, data, ACL, stored stat) and sessions are, up to 64-bit hash collisions.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The state digest right after `zxid`, if the tree still knows it: the current digest for its last
    /// zxid, or one of the last [`RECENT_DIGESTS`] txns applied (a zxid between two applied ones, which the
    /// log gave to an entry that is not a txn, has the digest of the earlier one). `None` for a zxid older
    /// than that, or above the last zxid.
    pub fn digest_after(&self, zxid: i64) -> Option<u64> {
        self.known_digest(zxid, self.last_zxid.saturating_add(1))
    }

    /// [`DataTree::digest_after`] for a zxid below `before`, the first zxid whose state is not known yet
    /// (while entry `before` is being applied, the current state is still the state after every zxid
    /// from the last one up to it).
    pub(crate) fn known_digest(&self, zxid: i64, before: i64) -> Option<u64> {
        if zxid >= before {
            return None;
        }
        if zxid >= self.last_zxid {
            return Some(self.digest);
        }
        // The last recorded txn at or before `zxid`: nothing was applied after it until the next one.
        let after = self.recent_digests.partition_point(|(applied, _)| *applied <= zxid);
        after.checked_sub(1).and_then(|at| self.recent_digests.get(at)).map(|(_, digest)| *digest)
    }

    /// Remembers the current state's digest before the txn at a later zxid changes it.
    pub(crate) fn record_digest(&mut self) {
        let recent = Arc::make_mut(&mut self.recent_digests);
        if recent.len() == RECENT_DIGESTS {
            recent.pop_front();
        }
        recent.push_back((self.last_zxid, self.digest));
    }

    /// How many distinct ACL lists the nodes share.
    pub fn acl_count(&self) -> usize {
        self.acls.len()
    }

    // ---- mutation primitives ---------------------------------------------------------------------------

    /// Adds `node` under its (existing) parent, without touching the parent's stat: loading a snapshot and
    /// building the initial tree. `node.acl` must come from `self.acls`.
    pub(crate) fn attach(&mut self, path: Arc<str>, node: Node) {
        if path.as_ref() != "/"
            && let Some(parent) = self.nodes.get_mut(path::parent(&path))
        {
            Arc::make_mut(parent).children.insert(path.clone());
        }
        match EphemeralType::of(node.stat.ephemeral_owner) {
            EphemeralType::Void => {}
            EphemeralType::Container => {
                self.containers.insert(path.clone());
            }
            EphemeralType::Ttl(_) => {
                self.ttls.insert(path.clone());
            }
            EphemeralType::Normal(session) => {
                self.ephemerals.entry(session).or_default().insert(path.clone());
                self.ephemeral_count += 1;
            }
        }
        if let Some(quoted) = quota::declared_by_limit_node(&path) {
            self.quotas.insert(Arc::from(quoted));
        }
        self.digest = self.digest.wrapping_add(node_digest(&path, &node));
        self.data_size += java_len(&path) + node.data.len() as u64;
        self.nodes.insert(path, Arc::new(node));
    }

    /// Removes a childless node from the map and every index, without touching the parent's stat.
    pub(crate) fn detach(&mut self, path: &str) -> Option<Arc<Node>> {
        let (key, node) = self.nodes.remove_with_key(path)?;
        if let Some(parent) = self.nodes.get_mut(path::parent(path)) {
            Arc::make_mut(parent).children.remove(&key);
        }
        match EphemeralType::of(node.stat.ephemeral_owner) {
            EphemeralType::Void => {}
            EphemeralType::Container => {
                self.containers.remove(&key);
            }
            EphemeralType::Ttl(_) => {
                self.ttls.remove(&key);
            }
            EphemeralType::Normal(session) => {
                if let Some(paths) = self.ephemerals.get_mut(&session) {
                    if paths.remove(&key).is_some() {
                        self.ephemeral_count -= 1;
                    }
                    if paths.is_empty() {
                        self.ephemerals.remove(&session);
                    }
                }
            }
        }
        if let Some(quoted) = quota::declared_by_limit_node(path) {
            self.quotas.remove(quoted);
        }
        self.digest = self.digest.wrapping_sub(node_digest(path, &node));
        self.data_size = self.data_size.saturating_sub(java_len(path) + node.data.len() as u64);
        self.acls.release(&node.acl);
        Some(node)
    }

    /// Changes a node in place through `change`, keeping the digest and data size in step. ACL changes go
    /// through [`DataTree::replace_acl`], which also keeps the ACL cache in step.
    pub(crate) fn modify(&mut self, path: &str, change: impl FnOnce(&mut Node)) -> Option<&Node> {
        let node = Arc::make_mut(self.nodes.get_mut(path)?);
        let old_meta = digest::node_meta(path, &node.acl, &node.stat);
        let old_data = node.data.clone();
        change(node);
        let new_meta = digest::node_meta(path, &node.acl, &node.stat);
        let mut delta = new_meta.wrapping_sub(old_meta);
        if !old_data.is(&node.data) {
            let (old, new) = (digest::node_data(path, old_data.get()), digest::node_data(path, node.data.get()));
            delta = delta.wrapping_add(new.wrapping_sub(old));
            self.data_size = self.data_size.saturating_sub(old_data.len() as u64) + node.data.len() as u64;
        }
        self.digest = self.digest.wrapping_add(delta);
        self.get(path)
    }

    /// `DataTree.createNode`: a new node plus its parent's cversion, pzxid and child list. The caller has
    /// checked that the parent exists and the node does not. `data` `None` is null. Returns the new node's
    /// stat.
    pub(crate) fn create_node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        owner: i64,
        (zxid, time): (i64, i64),
        triggers: &mut Vec<WatchTrigger>,
    ) -> Stat {
        let parent_path = path::parent(path);
        let parent_acl = self.modify(parent_path, |parent| {
            // Only ever grows: ZooKeeper's guard against fuzzy-snapshot replay, kept for identical results.
            let cversion = parent.stat.cversion.wrapping_add(1);
            if cversion > parent.stat.cversion {
                parent.stat.cversion = cversion;
                parent.stat.pzxid = zxid;
            }
        });
        let parent_acl = parent_acl.map(|p| p.acl.clone()).unwrap_or_default();
        let acl = self.acls.acquire(acl);
        let node = Node::new(data, acl.clone(), StatPersisted::created(zxid, time, owner));
        let stat = node.stat();
        self.attach(Arc::from(path), node);
        assert!(
            self.get(parent_path).is_some_and(|parent| parent.children.contains(path)),
            "{path} created but not among its parent's children"
        );
        triggers.push(trigger(path, EventType::NodeCreated, zxid, acl));
        triggers.push(trigger(parent_path, EventType::NodeChildrenChanged, zxid, parent_acl));
        self.quota_after_create(path, data.map_or(0, <[u8]>::len));
        stat
    }

    /// `DataTree.deleteNode`: the node goes, its parent's pzxid moves (its stored cversion does not).
    pub(crate) fn delete_node(&mut self, path: &str, zxid: i64, triggers: &mut Vec<WatchTrigger>) {
        let Some(node) = self.detach(path) else {
            return;
        };
        let parent_path = path::parent(path);
        assert!(
            self.get(parent_path).is_none_or(|parent| !parent.children.contains(path)),
            "{path} deleted but still among its parent's children"
        );
        let parent = self.modify(parent_path, |parent| {
            if zxid > parent.stat.pzxid {
                parent.stat.pzxid = zxid;
            }
        });
        let parent_acl = parent.map(|p| p.acl.clone()).unwrap_or_default();
        triggers.push(trigger(path, EventType::NodeDeleted, zxid, node.acl.clone()));
        triggers.push(trigger(parent_path, EventType::NodeChildrenChanged, zxid, parent_acl));
        self.quota_after_delete(path, node.data.len());
    }

    /// `DataTree.setData`, with the version already checked and incremented by the caller; `data` `None`
    /// makes the data null.
    pub(crate) fn set_data(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        version: i32,
        (zxid, time): (i64, i64),
        triggers: &mut Vec<WatchTrigger>,
    ) -> Option<Stat> {
        let old_len = self.get(path)?.data.len();
        let node = self.modify(path, |node| {
            node.data = Data::new(data);
            node.stat.version = version;
            node.stat.mtime = time;
            node.stat.mzxid = zxid;
        })?;
        let (stat, acl) = (node.stat(), node.acl.clone());
        triggers.push(trigger(path, EventType::NodeDataChanged, zxid, acl));
        self.quota_after_set_data(path, old_len, data.map_or(0, <[u8]>::len));
        Some(stat)
    }

    /// Puts an ensemble's membership into `/zookeeper/config`, as ZooKeeper's `initConfigInZKDatabase` does on
    /// every member at start-up (outside the log: data set with version -1 and mzxid 0, the configuration's
    /// version). Unlike ZooKeeper, mtime stays 0 rather than the local load time, so that every member with
    /// the same configuration holds the same tree and the same digest. No watch fires. Once a reconfig txn
    /// set the node (mzxid ≠ 0), the log's membership wins over the zoo.cfg one and nothing changes.
    pub fn set_ensemble_config(&mut self, membership: &[u8]) {
        if self.get(CONFIG_PATH).is_some_and(|node| node.stat.mzxid != 0) {
            return;
        }
        let mut ignored = Vec::new();
        let _ = self.set_data("/zookeeper/config", Some(membership), -1, (0, 0), &mut ignored);
    }

    /// `DataTree.setACL`: a new ACL and aversion; no other stat field changes and no watch fires.
    pub(crate) fn replace_acl(&mut self, path: &str, acl: &[Acl], aversion: i32) -> Option<Stat> {
        let acl = self.acls.acquire(acl);
        let mut old = None;
        let stat = self
            .modify(path, |node| {
                old = Some(std::mem::replace(&mut node.acl, acl.clone()));
                node.stat.aversion = aversion;
            })
            .map(Node::stat);
        match old {
            Some(old) => self.acls.release(&old),
            None => self.acls.release(&acl),
        }
        stat
    }

    /// A new session id: ZooKeeper's layout for a standalone server (server id 1 in the top byte, the time
    /// in the middle bits, so ids differ across restores), and above every id handed out before.
    pub(crate) fn allocate_session_id(&mut self, time: i64) -> i64 {
        let id = self.next_session_id.max(session_id_seed(time));
        assert!(!self.sessions.contains_key(&id), "session id 0x{id:x} allocated twice");
        self.next_session_id = id + 1;
        id
    }

    pub(crate) fn put_session(&mut self, id: i64, session: Session) {
        if let Some(old) = self.sessions.insert(id, session) {
            self.digest = self.digest.wrapping_sub(digest::session(id, &old));
        }
        self.digest = self.digest.wrapping_add(digest::session(id, &session));
    }

    /// Records `zxid` as the session's last entry; the digest does not cover it.
    pub(crate) fn touch_session(&mut self, id: i64, zxid: i64) {
        if let Some(session) = self.sessions.get_mut(&id) {
            session.last_zxid = zxid;
        }
    }

    pub(crate) fn remove_session(&mut self, id: i64) {
        if let Some(old) = self.sessions.remove(&id) {
            self.digest = self.digest.wrapping_sub(digest::session(id, &old));
        }
    }

    // ---- verification ----------------------------------------------------------------------------------

    /// Recomputes every index, counter and the digest from the nodes and sessions alone, and reports the
    /// first disagreement. Expensive (a full scan); for verification tools and tests.
    pub fn check_consistency(&self) -> Result<(), String> {
        let fresh = self.rebuilt()?;
        let checks: [(&str, bool); 8] = [
            ("quota index", fresh.quotas == self.quotas),
            ("digest", fresh.digest == self.digest),
            ("approximate data size", fresh.data_size == self.data_size),
            ("ephemeral count", fresh.ephemeral_count == self.ephemeral_count),
            ("ephemerals index", fresh.ephemerals == self.ephemerals),
            ("containers index", fresh.containers == self.containers),
            ("TTL index", fresh.ttls == self.ttls),
            ("ACL cache", self.acl_cache_matches()),
        ];
        if let Some((what, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(format!("{what} disagrees with the nodes"));
        }
        for (path, node) in &self.nodes {
            for child in &node.children {
                if path::parent(child) != path.as_ref() || !self.nodes.contains_key(child.as_ref()) {
                    return Err(format!("{path} lists child {child}, which is not its child in the tree"));
                }
            }
        }
        Ok(())
    }

    /// A tree rebuilt from this one's nodes and sessions by the loading path.
    fn rebuilt(&self) -> Result<DataTree, String> {
        let mut fresh = DataTree::empty();
        // Key order puts every parent before its children.
        for (path, node) in &self.nodes {
            path::validate(path).map_err(|_| format!("invalid path {path:?} in the tree"))?;
            if path.as_ref() != "/" && !fresh.nodes.contains_key(path::parent(path)) {
                return Err(format!("{path} has no parent"));
            }
            if let EphemeralType::Normal(owner) = EphemeralType::of(node.stat.ephemeral_owner)
                && !self.sessions.contains_key(&owner)
            {
                return Err(format!("{path} is owned by session 0x{owner:x}, which does not exist"));
            }
            let acl = fresh.acls.acquire(&node.acl);
            let copy = Node { acl, children: imbl::OrdSet::new(), ..node.as_ref().clone() };
            fresh.attach(path.clone(), copy);
        }
        if !fresh.nodes.contains_key("/") {
            return Err("the tree has no root".to_string());
        }
        for (id, session) in &self.sessions {
            fresh.put_session(*id, *session);
        }
        Ok(fresh)
    }

    fn acl_cache_matches(&self) -> bool {
        let mut uses: std::collections::HashMap<&[Acl], u64> = std::collections::HashMap::new();
        for node in self.nodes.values() {
            *uses.entry(node.acl.as_slice()).or_default() += 1;
        }
        uses.len() == self.acls.len() && self.acls.iter().all(|(list, count)| uses.get(list.as_slice()) == Some(&count))
    }
}

/// `SessionTrackerImpl.initializeNextSessionId(1)` at `time`: the top bit stays clear, since some clients
/// reject negative session ids.
fn session_id_seed(time: i64) -> i64 {
    let next = ((time << 24) as u64 >> 8) as i64;
    next | (1 << 56)
}

fn node_digest(path: &str, node: &Node) -> u64 {
    digest::node_meta(path, &node.acl, &node.stat).wrapping_add(digest::node_data(path, node.data.get()))
}

/// Java's `String.length()`.
fn java_len(path: &str) -> u64 {
    path.encode_utf16().count() as u64
}

fn trigger(path: &str, event: EventType, zxid: i64, acl: Arc<Vec<Acl>>) -> WatchTrigger {
    WatchTrigger { path: path.to_string(), event, zxid, acl }
}

impl PartialEq for DataTree {
    /// Same nodes, sessions, last zxid, last time, session counter and cluster id.
    fn eq(&self, other: &Self) -> bool {
        self.last_zxid == other.last_zxid
            && self.last_time == other.last_time
            && self.next_session_id == other.next_session_id
            && self.cluster_id == other.cluster_id
            && self.digest == other.digest
            && self.sessions == other.sessions
            && self.nodes == other.nodes
    }
}

impl fmt::Debug for DataTree {
    /// A summary: a full dump of a million nodes helps nobody.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataTree")
            .field("last_zxid", &format_args!("0x{:x}", self.last_zxid))
            .field("nodes", &self.nodes.len())
            .field("sessions", &self.sessions.len())
            .field("ephemerals", &self.ephemeral_count)
            .field("digest", &format_args!("{:016x}", self.digest))
            .finish()
    }
}
