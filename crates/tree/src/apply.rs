//! [`DataTree::apply`]: the one way a write changes the tree.
//!
//! Each op is checked against the tree in `PrepRequestProcessor`'s order, so a request that is wrong in
//! several ways gets the error ZooKeeper would give, and only then changed, as `DataTree.processTxn` does.
//! A failed op changes nothing; its txn still advances `last_zxid`, as ZooKeeper logs an error txn.

use std::cell::RefCell;

use paddock_proto::{Acl, CreateMode, ErrorCode, perms};

use crate::acl;
use crate::ephemeral::{self, EphemeralType};
use crate::path;
use crate::quota::QuotaExceeded;
use crate::tree::{CONFIG_PATH, DataTree, SPECIAL_PATHS, Session};
use crate::txn::{Applied, Txn, TxnDecodeError, TxnOp, TxnResult, WatchTrigger};

type OpResult = Result<TxnResult, ErrorCode>;

/// A txn at its place in the log: what every op below reads.
struct Step<'a> {
    zxid: i64,
    time: i64,
    /// The server that proposed the txn (0 in entries from before format 3).
    proposer: u64,
    session_id: i64,
    auth: &'a [paddock_proto::Id],
    /// Set by [`TxnOp::EnforceQuota`]: creates and setData check the hard quota limits.
    enforce_quota: bool,
    /// The limits passed so far, for [`Applied::quota_exceeded`]; a cell because ops read the step shared.
    quota_exceeded: RefCell<Vec<QuotaExceeded>>,
}

/// Why a log entry cannot be applied: the log (or whoever sent it) is damaged, never the tree.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("log entry {index} does not decode as a transaction: {source}")]
    Decode { index: i64, source: TxnDecodeError },
    #[error("log entry {index} comes after zxid {last}: zxids must increase")]
    OutOfOrder { index: i64, last: i64 },
}

impl DataTree {
    /// Applies one transaction as log entry `zxid` and reports its result and the watch events it fires.
    ///
    /// # Panics
    /// If `zxid` does not follow the last zxid or `txn.time` goes back: callers feed the log in order
    /// (use [`DataTree::apply_entry`] for bytes from a disk or a peer, which checks both first).
    pub fn apply(&mut self, zxid: i64, txn: &Txn) -> Applied {
        assert!(zxid > self.last_zxid, "zxid {zxid} applied after {}", self.last_zxid);
        assert!(txn.time >= self.last_time, "txn at zxid {zxid} stamped {} after {}", txn.time, self.last_time);
        let op = txn.op.unwrapped();
        let step = Step {
            zxid,
            time: txn.time,
            proposer: txn.origin.node,
            session_id: txn.session_id,
            auth: &txn.auth,
            enforce_quota: matches!(txn.op, TxnOp::EnforceQuota(_)),
            quota_exceeded: RefCell::default(),
        };
        let mut triggers = Vec::new();
        self.record_digest();
        let result = match (self.session_gate(&step, op), op) {
            (Err(code), _) => TxnResult::Error(code),
            (Ok(()), TxnOp::Multi(ops)) => self.multi(&step, ops, &mut triggers),
            (Ok(()), op) => self.apply_op(&step, op, &mut triggers).unwrap_or_else(TxnResult::Error),
        };
        self.last_zxid = zxid;
        self.last_time = txn.time;
        Applied { result, triggers, quota_exceeded: step.quota_exceeded.into_inner() }
    }

    /// Decodes log entry `index` and applies it; see [`DataTree::decode_entry`] for what is refused.
    pub fn apply_entry(&mut self, index: i64, bytes: &[u8]) -> Result<(Txn, Applied), EntryError> {
        let txn = self.decode_entry(index, bytes)?;
        let applied = self.apply(index, &txn);
        Ok((txn, applied))
    }

    /// Decodes log entry `index` for [`DataTree::apply`], refusing an entry that does not decode or does not
    /// follow the last zxid. An entry stamped before the last one gets the last one's time: every server of
    /// an ensemble stamps what it proposes with its own clock, and the log interleaves their proposals, so
    /// stamps from slightly different clocks arrive out of order. Every replica raises them the same way (it
    /// depends only on the log), so time in the tree never goes back and stays the same everywhere.
    pub fn decode_entry(&self, index: i64, bytes: &[u8]) -> Result<Txn, EntryError> {
        let mut txn = Txn::decode(bytes, index).map_err(|source| EntryError::Decode { index, source })?;
        if index <= self.last_zxid {
            return Err(EntryError::OutOfOrder { index, last: self.last_zxid });
        }
        txn.time = txn.time.max(self.last_time);
        Ok(txn)
    }

    fn apply_op(&mut self, txn: &Step, op: &TxnOp, triggers: &mut Vec<WatchTrigger>) -> OpResult {
        match op {
            TxnOp::CreateSession { timeout_ms, passwd } => {
                let id = self.allocate_session_id(txn.time);
                let session =
                    Session { timeout_ms: *timeout_ms, passwd: *passwd, owner: txn.proposer, last_zxid: txn.zxid };
                self.put_session(id, session);
                Ok(TxnResult::SessionCreated(id))
            }
            TxnOp::CloseSession => Ok(self.close_session(txn, triggers)),
            TxnOp::ReopenSession => {
                let session = *self.sessions.get(&txn.session_id).ok_or(ErrorCode::SessionExpired)?;
                self.put_session(txn.session_id, Session { owner: txn.proposer, last_zxid: txn.zxid, ..session });
                Ok(TxnResult::SessionReopened)
            }
            TxnOp::ExpireSession { basis } => {
                let session = self.sessions.get(&txn.session_id).ok_or(ErrorCode::SessionExpired)?;
                if session.last_zxid > *basis {
                    return Ok(TxnResult::SessionKept);
                }
                Ok(self.close_session(txn, triggers))
            }
            TxnOp::Error(code) => Err(*code),
            TxnOp::Create { path, data, acl, mode, ttl } => {
                self.create(txn, path, data.as_deref(), acl, *mode, *ttl, triggers)
            }
            TxnOp::Delete { path, version } => self.delete(txn, path, *version, triggers),
            TxnOp::DeleteContainer { path, observed_mzxid } => {
                self.delete_container(txn, path, *observed_mzxid, triggers)
            }
            TxnOp::SetData { path, data, version } => self.set_data_op(txn, path, data.as_deref(), *version, triggers),
            TxnOp::SetAcl { path, acl, version } => self.set_acl(txn, path, acl, *version),
            TxnOp::Check { path, version } => self.check(txn, path, *version),
            // Only a top-level multi is a multi, and only a top-level wrapper enforces quotas; anything
            // nested is malformed.
            TxnOp::Multi(_) | TxnOp::EnforceQuota(_) => Err(ErrorCode::MarshallingError),
            TxnOp::Reconfig { data } => self.reconfig(txn, data, triggers),
            TxnOp::Digest { zxid, digest } => {
                let matches = self.known_digest(*zxid, txn.zxid).map(|known| known == *digest);
                Ok(TxnResult::DigestChecked { matches })
            }
            TxnOp::SetClusterId { id } => {
                self.cluster_id.get_or_insert(*id);
                Ok(TxnResult::Checked)
            }
            TxnOp::RestoreSubtree { path, on_conflict, nodes } => {
                Ok(self.restore_subtree((txn.zxid, txn.time), path, nodes, *on_conflict, triggers))
            }
            TxnOp::RestoreTree { snapshot } => Ok(self.restore_tree(snapshot)),
        }
    }

    /// Before any op of a session's txn: a txn proposed by a server that no longer holds the session fails
    /// with SessionMoved (ZooKeeper's `checkSession` on its leader), and any other one counts as a sign of
    /// life for expiry. Session lifecycle ops, `Digest` entries and server-internal txns (session 0) pass.
    fn session_gate(&mut self, txn: &Step, op: &TxnOp) -> Result<(), ErrorCode> {
        if matches!(
            op,
            TxnOp::CreateSession { .. }
                | TxnOp::ReopenSession
                | TxnOp::ExpireSession { .. }
                | TxnOp::Digest { .. }
                | TxnOp::SetClusterId { .. }
        ) {
            return Ok(());
        }
        let Some(session) = self.sessions.get(&txn.session_id).copied() else {
            // A session the tree does not hold writes nothing (ZooKeeper's leader refuses it in
            // `checkSession`): one that expired, or that a `RestoreTree` ended, while its write was on its way
            // through the log. Server-internal txns (session 0) and error txns pass as before.
            let internal = txn.session_id == 0 || matches!(op, TxnOp::Error(_) | TxnOp::CloseSession);
            return if internal { Ok(()) } else { Err(ErrorCode::SessionExpired) };
        };
        if session.owner != 0 && txn.proposer != 0 && session.owner != txn.proposer {
            return Err(ErrorCode::SessionMoved);
        }
        self.touch_session(txn.session_id, txn.zxid);
        Ok(())
    }

    /// All or nothing: the ops run, in order, on an O(1) copy that replaces the tree only if every op
    /// succeeds. Later ops see the effects of earlier ones; all share the txn's zxid.
    fn multi(&mut self, txn: &Step, ops: &[TxnOp], triggers: &mut Vec<WatchTrigger>) -> TxnResult {
        let mut scratch = self.clone();
        let mut fired = Vec::new();
        let mut results = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            let outcome = if allowed_in_multi(op) {
                scratch.apply_op(txn, op, &mut fired)
            } else {
                Err(ErrorCode::MarshallingError)
            };
            match outcome {
                Ok(result) => results.push(result),
                Err(code) => return TxnResult::Multi(multi_failure(ops.len(), index, code)),
            }
        }
        *self = scratch;
        triggers.append(&mut fired);
        TxnResult::Multi(results)
    }

    /// `checkQuota`, where `PrepRequestProcessor` calls it, when the txn asks for it.
    fn enforce_quota(&self, txn: &Step, path: &str, count: i64, bytes: i64) -> Result<(), ErrorCode> {
        if !txn.enforce_quota {
            return Ok(());
        }
        self.check_quota(path, count, bytes, &mut txn.quota_exceeded.borrow_mut())
    }

    /// `pRequest2TxnCreate` then `createNode`.
    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        txn: &Step,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        mode: CreateMode,
        ttl: i64,
        triggers: &mut Vec<WatchTrigger>,
    ) -> OpResult {
        let ttl_owner =
            if mode.is_ttl() { Some(ephemeral::ttl_owner(ttl).ok_or(ErrorCode::BadArguments)?) } else { None };
        if mode.is_ephemeral() && !self.sessions.contains_key(&txn.session_id) {
            return Err(ErrorCode::SessionExpired);
        }
        if !path.contains('/') || path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let acl = acl::fixup_acl(acl, txn.auth)?;
        let parent = self.get(path::parent(path)).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&parent.acl, perms::CREATE, txn.auth) {
            return Err(ErrorCode::NoAuth);
        }
        let path = if mode.is_sequential() {
            // `%010d` of the stored (creations-only) cversion, before this create bumps it.
            format!("{path}{:010}", parent.stat.cversion)
        } else {
            path.to_string()
        };
        path::validate(&path)?;
        if self.get(&path).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        if matches!(EphemeralType::of(parent.stat.ephemeral_owner), EphemeralType::Normal(_)) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        self.enforce_quota(txn, &path, 1, data.map_or(0, <[u8]>::len) as i64)?;
        let owner = match mode {
            CreateMode::Container => ephemeral::CONTAINER_OWNER,
            _ if mode.is_ephemeral() => txn.session_id,
            _ => ttl_owner.unwrap_or(0),
        };
        let stat = self.create_node(&path, data, &acl, owner, (txn.zxid, txn.time), triggers);
        Ok(TxnResult::Created { path, stat })
    }

    /// The delete case of `pRequest2Txn`: the parent's DELETE permission is checked before the node is
    /// even looked up, so a caller without it learns nothing about the node.
    fn delete(&mut self, txn: &Step, path: &str, version: i32, triggers: &mut Vec<WatchTrigger>) -> OpResult {
        validate_deletable(path)?;
        let parent = self.get(path::parent(path)).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&parent.acl, perms::DELETE, txn.auth) {
            return Err(ErrorCode::NoAuth);
        }
        let node = self.get(path).ok_or(ErrorCode::NoNode)?;
        check_version(node.stat.version, version)?;
        if !node.children.is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        self.delete_node(path, txn.zxid, triggers);
        Ok(TxnResult::Deleted)
    }

    /// The deleteContainer case: no ACL check (the server itself asks), and only an empty container or TTL
    /// node goes. ZooKeeper refuses only ephemeral nodes here (with BadVersion) and would delete a plain
    /// persistent node; Paddock refuses those too, so neither a raw client nor a container re-created as
    /// a persistent node between the reaper's scan and this txn can lose data.
    fn delete_container(
        &mut self,
        txn: &Step,
        path: &str,
        observed_mzxid: Option<i64>,
        triggers: &mut Vec<WatchTrigger>,
    ) -> OpResult {
        validate_deletable(path)?;
        let node = self.get(path).ok_or(ErrorCode::NoNode)?;
        if !node.children.is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        if !matches!(EphemeralType::of(node.stat.ephemeral_owner), EphemeralType::Container | EphemeralType::Ttl(_)) {
            return Err(ErrorCode::BadVersion);
        }
        if observed_mzxid.is_some_and(|mzxid| mzxid != node.stat.mzxid) {
            return Err(ErrorCode::BadVersion);
        }
        self.delete_node(path, txn.zxid, triggers);
        Ok(TxnResult::Deleted)
    }

    fn set_data_op(
        &mut self,
        txn: &Step,
        path: &str,
        data: Option<&[u8]>,
        version: i32,
        triggers: &mut Vec<WatchTrigger>,
    ) -> OpResult {
        path::validate(path)?;
        let node = self.get(path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&node.acl, perms::WRITE, txn.auth) {
            return Err(ErrorCode::NoAuth);
        }
        // Before the version, as ZooKeeper: a setData that is both too big and stale is QuotaExceeded.
        let grows_by = data.map_or(0, <[u8]>::len) as i64 - node.data.len() as i64;
        self.enforce_quota(txn, path, 0, grows_by)?;
        let version = check_version(node.stat.version, version)?;
        let stat = self.set_data(path, data, version, (txn.zxid, txn.time), triggers).ok_or(ErrorCode::NoNode)?;
        Ok(TxnResult::SetData(stat))
    }

    /// A membership that lists the same servers as `/zookeeper/config` already does (an observer of zoo.cfg
    /// joining, a participant catching up before a reconfig names it) leaves the node, its version and its
    /// watchers alone; anything else replaces it.
    fn reconfig(&mut self, txn: &Step, data: &[u8], triggers: &mut Vec<WatchTrigger>) -> OpResult {
        let node = self.get(CONFIG_PATH).ok_or(ErrorCode::NoNode)?;
        if node.data().is_some_and(|old| servers_of(old) == servers_of(data)) {
            return Ok(TxnResult::SetData(node.stat()));
        }
        let stat =
            self.set_data(CONFIG_PATH, Some(data), -1, (txn.zxid, txn.time), triggers).ok_or(ErrorCode::NoNode)?;
        Ok(TxnResult::SetData(stat))
    }

    /// The new ACL is validated before the node is looked up: an invalid ACL is `InvalidAcl` even for a
    /// missing node.
    fn set_acl(&mut self, txn: &Step, path: &str, acl: &[Acl], version: i32) -> OpResult {
        path::validate(path)?;
        let acl = acl::fixup_acl(acl, txn.auth)?;
        let node = self.get(path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&node.acl, perms::ADMIN, txn.auth) {
            return Err(ErrorCode::NoAuth);
        }
        let aversion = check_version(node.stat.aversion, version)?;
        let stat = self.replace_acl(path, &acl, aversion).ok_or(ErrorCode::NoNode)?;
        Ok(TxnResult::SetAcl(stat))
    }

    fn check(&self, txn: &Step, path: &str, version: i32) -> OpResult {
        path::validate(path)?;
        let node = self.get(path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&node.acl, perms::READ, txn.auth) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node.stat.version, version)?;
        Ok(TxnResult::Checked)
    }

    /// Deletes the session's ephemerals (each firing its watches) and forgets the session. Closing a
    /// session the tree does not know is not an error: expiry and an explicit close may both be logged.
    fn close_session(&mut self, txn: &Step, triggers: &mut Vec<WatchTrigger>) -> TxnResult {
        let paths: Vec<String> = self.ephemerals(txn.session_id);
        for path in paths {
            self.delete_node(&path, txn.zxid, triggers);
        }
        self.remove_session(txn.session_id);
        TxnResult::SessionClosed
    }
}

/// `MultiOperationRecord` carries only create, delete, setData and check among writes.
/// A `/zookeeper/config` content without its `version=` line.
fn servers_of(config: &[u8]) -> Vec<&[u8]> {
    config.split(|b| *b == b'\n').filter(|line| !line.starts_with(b"version=")).collect()
}

fn allowed_in_multi(op: &TxnOp) -> bool {
    matches!(op, TxnOp::Create { .. } | TxnOp::Delete { .. } | TxnOp::SetData { .. } | TxnOp::Check { .. })
}

fn multi_failure(len: usize, failed: usize, code: ErrorCode) -> Vec<TxnResult> {
    (0..len)
        .map(|i| {
            TxnResult::Error(match i.cmp(&failed) {
                std::cmp::Ordering::Less => ErrorCode::Ok,
                std::cmp::Ordering::Equal => code,
                std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
            })
        })
        .collect()
}

/// `getParentPathAndValidate`: a slash, no NUL, and not one of the built-in nodes.
fn validate_deletable(path: &str) -> Result<(), ErrorCode> {
    if !path.contains('/') || path.contains('\0') || SPECIAL_PATHS.contains(&path) {
        return Err(ErrorCode::BadArguments);
    }
    Ok(())
}

/// `checkAndIncVersion`: -1 matches any version; the next version skips -1 when it wraps
/// (ZOOKEEPER-4743), since -1 could never be asked for.
fn check_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(match current.wrapping_add(1) {
        -1 => 0,
        next => next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequential_child_of_root(tree: &mut DataTree, stored_cversion: i32) -> TxnResult {
        if let Some(root) = tree.nodes.get_mut("/") {
            std::sync::Arc::make_mut(root).stat.cversion = stored_cversion;
        }
        let op = TxnOp::Create {
            path: "/s-".into(),
            data: Some(vec![]),
            acl: Acl::open_unsafe(),
            mode: CreateMode::PersistentSequential,
            ttl: 0,
        };
        tree.apply(9, &Txn { origin: Default::default(), time: 1, session_id: 0, auth: vec![], op }).result
    }

    #[test]
    fn sequential_suffix_formats_like_javas_percent_010d() {
        let mut tree = DataTree::new();
        let result = sequential_child_of_root(&mut tree, -5);
        assert!(matches!(result, TxnResult::Created { ref path, .. } if path == "/s--000000005"), "{result:?}");
    }

    #[test]
    fn a_wrapped_child_counter_stops_moving_as_in_zookeeper() {
        let mut tree = DataTree::new();
        let result = sequential_child_of_root(&mut tree, i32::MAX);
        assert!(matches!(result, TxnResult::Created { ref path, .. } if path == "/s-2147483647"), "{result:?}");
        let root = tree.get("/").map(|n| (n.stat.cversion, n.stat.pzxid));
        assert_eq!(root, Some((i32::MAX, 0)), "Integer overflow makes createNode's `>` guard skip the update");
    }

    #[test]
    fn a_reconfig_replaces_the_config_as_zookeeper_does_unless_the_servers_are_the_same() {
        let mut tree = DataTree::new();
        tree.set_ensemble_config(b"server.1=a:1:2:participant\nversion=0");
        let reconfig = |data: &str| Txn {
            origin: Default::default(),
            time: 5,
            session_id: 0,
            auth: vec![],
            op: TxnOp::Reconfig { data: data.as_bytes().to_vec() },
        };
        let applied = tree.apply(7, &reconfig("server.1=a:1:2:participant\nserver.2=b:1:2:observer\nversion=7"));
        let TxnResult::SetData(stat) = applied.result else { panic!("{:?}", applied.result) };
        assert_eq!((stat.version, stat.mzxid, stat.mtime), (-1, 7, 5));
        assert_eq!(applied.triggers.iter().map(|t| t.path.as_str()).collect::<Vec<_>>(), [CONFIG_PATH]);

        // The same servers under another version: nothing changes, no watch fires.
        let again = tree.apply(9, &reconfig("server.1=a:1:2:participant\nserver.2=b:1:2:observer\nversion=9"));
        assert!(again.triggers.is_empty());
        assert_eq!(tree.get(CONFIG_PATH).map(|n| n.stat.mzxid), Some(7));

        // zoo.cfg's membership no longer overrides what the log wrote.
        tree.set_ensemble_config(b"server.1=a:1:2:participant\nversion=0");
        let data = tree.get(CONFIG_PATH).and_then(|n| n.data().map(<[u8]>::to_vec));
        assert_eq!(data.as_deref(), Some(&b"server.1=a:1:2:participant\nserver.2=b:1:2:observer\nversion=7"[..]));
    }

    #[test]
    fn a_reconfig_txn_round_trips() {
        let txn = Txn {
            origin: Default::default(),
            time: 0,
            session_id: 0,
            auth: vec![],
            op: TxnOp::Reconfig { data: b"server.1=a:1:2:participant\nversion=1".to_vec() },
        };
        assert_eq!(Txn::decode(&txn.encode(), 1), Ok(txn));
    }

    fn at(time: i64) -> Vec<u8> {
        let op = TxnOp::Check { path: "/".into(), version: -1 };
        Txn { origin: Default::default(), time, session_id: 0, auth: vec![], op }.encode()
    }

    #[test]
    fn entries_out_of_order_are_refused_without_a_change_and_late_stamps_raised() {
        let mut tree = DataTree::new();
        assert!(tree.apply_entry(5, &at(100)).is_ok());
        let before = tree.clone();
        assert_eq!(tree.apply_entry(5, &at(100)).err(), Some(EntryError::OutOfOrder { index: 5, last: 5 }));
        assert!(matches!(tree.apply_entry(6, &[9]), Err(EntryError::Decode { index: 6, .. })));
        assert_eq!(tree, before);
        // Stamped by a server whose clock is behind the last proposer's: raised, on every replica alike.
        assert_eq!(tree.apply_entry(6, &at(99)).map(|(txn, _)| txn.time), Ok(100));
        // So is a format-2 entry, which predates monotonic stamps.
        let mut legacy = vec![2];
        legacy.extend(7i64.to_le_bytes());
        legacy.extend(&at(99)[17..]);
        assert_eq!(tree.apply_entry(7, &legacy).map(|(txn, _)| txn.time), Ok(100));
        assert_eq!((tree.last_zxid(), tree.last_time()), (7, 100));
    }

    #[test]
    #[should_panic(expected = "applied after")]
    fn applying_a_zxid_twice_is_a_bug() {
        let mut tree = DataTree::new();
        let txn = Txn { origin: Default::default(), time: 1, session_id: 0, auth: vec![], op: TxnOp::CloseSession };
        tree.apply(3, &txn);
        tree.apply(3, &txn);
    }

    fn digest_entry(zxid: i64, digest: u64) -> Vec<u8> {
        Txn { origin: Default::default(), time: 1, session_id: 0, auth: vec![], op: TxnOp::Digest { zxid, digest } }
            .encode()
    }

    fn create_at(tree: &mut DataTree, zxid: i64) {
        let op = TxnOp::Create {
            path: format!("/n{zxid}"),
            data: Some(zxid.to_le_bytes().to_vec()),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
            ttl: 0,
        };
        let txn = Txn { origin: Default::default(), time: 1, session_id: 0, auth: vec![], op };
        assert!(matches!(tree.apply(zxid, &txn).result, TxnResult::Created { .. }));
    }

    fn checked(tree: &mut DataTree, index: i64, zxid: i64, digest: u64) -> TxnResult {
        tree.apply_entry(index, &digest_entry(zxid, digest)).map(|(_, applied)| applied.result).expect("applies")
    }

    #[test]
    fn a_digest_entry_matching_the_tree_after_its_zxid_checks_and_changes_nothing_but_the_last_zxid() {
        let mut tree = DataTree::new();
        let mut digests = vec![tree.digest()];
        for zxid in 1..=10 {
            create_at(&mut tree, zxid);
            digests.push(tree.digest());
        }
        assert_eq!(digests.iter().collect::<std::collections::HashSet<_>>().len(), 11, "every create changes it");
        let before = tree.clone();
        // Entries 11 and 12 are not txns (a Raft blank, a membership entry): 13 names 12, which has 10's state.
        for (index, zxid) in [(13, 4), (14, 10), (15, 12), (16, 0), (17, 16)] {
            let expected = digests[zxid.min(10) as usize];
            assert_eq!(checked(&mut tree, index, zxid, expected), TxnResult::DigestChecked { matches: Some(true) });
        }
        assert_eq!((tree.digest(), tree.node_count(), tree.last_zxid()), (before.digest(), before.node_count(), 17));
        assert_eq!(tree.digest_after(3), Some(digests[3]));
        assert_eq!(tree.digest_after(17), Some(tree.digest()));
        assert_eq!(tree.digest_after(18), None);
        tree.check_consistency().expect("consistent");
    }

    #[test]
    fn a_digest_entry_with_another_digest_is_a_mismatch() {
        let mut tree = DataTree::new();
        for zxid in 1..=5 {
            create_at(&mut tree, zxid);
        }
        let after_3 = tree.digest_after(3).expect("known");
        let wrong = after_3 ^ 1;
        assert_eq!(checked(&mut tree, 6, 3, wrong), TxnResult::DigestChecked { matches: Some(false) });
        // The digest after 5 is not the digest after 3.
        assert_eq!(checked(&mut tree, 7, 5, after_3), TxnResult::DigestChecked { matches: Some(false) });
        // Naming the entry itself or a later zxid is something no server writes: it cannot tell.
        let current = tree.digest();
        assert_eq!(checked(&mut tree, 8, 8, current), TxnResult::DigestChecked { matches: None });
        assert_eq!(checked(&mut tree, 9, 12, current), TxnResult::DigestChecked { matches: None });
        // Inside a multi it is malformed, like every op a multi may not carry.
        let multi = TxnOp::Multi(vec![TxnOp::Digest { zxid: 5, digest: tree.digest() }]);
        let txn = Txn { origin: Default::default(), time: 1, session_id: 0, auth: vec![], op: multi };
        let TxnResult::Multi(results) = tree.apply(10, &txn).result else { panic!("a multi") };
        assert_eq!(results, [TxnResult::Error(ErrorCode::MarshallingError)]);
    }

    #[test]
    fn a_digest_entry_older_than_the_ring_cannot_be_told_and_a_loaded_snapshot_starts_a_new_ring() {
        let mut tree = DataTree::new();
        let oldest = tree.digest();
        let last = crate::tree::RECENT_DIGESTS as i64 + 5;
        for zxid in 1..=last {
            create_at(&mut tree, zxid);
        }
        let kept_from = last - crate::tree::RECENT_DIGESTS as i64;
        assert_eq!(tree.digest_after(kept_from - 1), None);
        assert!(tree.digest_after(kept_from).is_some());
        assert_eq!(checked(&mut tree, last + 1, 0, oldest), TxnResult::DigestChecked { matches: None });

        // The ring is not in the snapshot: a loaded tree is the same tree, and knows only its own state.
        let mut body = Vec::new();
        tree.write_snapshot(&mut body).expect("write");
        let mut loaded = DataTree::read_snapshot(&mut body.as_slice()).expect("read");
        assert_eq!(loaded, tree);
        loaded.check_consistency().expect("consistent");
        let mut again = Vec::new();
        loaded.write_snapshot(&mut again).expect("write");
        assert_eq!(again, body);
        let at = loaded.last_zxid();
        assert_eq!(loaded.digest_after(at - 1), None);
        let current = loaded.digest();
        create_at(&mut loaded, at + 1);
        assert_eq!(checked(&mut loaded, at + 2, at, current), TxnResult::DigestChecked { matches: Some(true) });
        assert_eq!(checked(&mut loaded, at + 3, at - 1, current), TxnResult::DigestChecked { matches: None });
    }

    #[test]
    fn versions_wrap_past_minus_one() {
        assert_eq!(check_version(5, -1), Ok(6));
        assert_eq!(check_version(5, 5), Ok(6));
        assert_eq!(check_version(5, 4), Err(ErrorCode::BadVersion));
        assert_eq!(check_version(i32::MAX, -1), Ok(i32::MIN));
        assert_eq!(check_version(-2, -2), Ok(0));
    }
}
