//! The snapshot body: the whole tree, its sessions and its last zxid, as one stream (format version
//! [`SNAPSHOT_FORMAT_VERSION`], specified byte by byte in `docs/tree-format.md`).
//!
//! Nodes are written in path byte order, which puts every parent before its children, so the same tree
//! always gives the same bytes and reading needs no second pass. ACL lists are written once, in a table, and
//! referenced by index. The body ends with the digest; reading recomputes the digest from what it read and
//! refuses a body whose digest differs, whatever the outer file's checksums said.
//!
//! Version 4 added each session's owner and last zxid; version 3 added the last txn's time stamp and the session-id counter after the last zxid; version 2
//! added null znode data (length `0xFFFFFFFF`). Versions 1 and 2 are still read (their session counter
//! restarts above the highest session id they hold), and their recorded digest still checks (non-null
//! data hashes as it always did).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Arc;

use paddock_proto::Acl;

use crate::ephemeral::EphemeralType;
use crate::node::{Data, Node};
use crate::path;
use crate::tree::{DataTree, Session};
use crate::wire::{Input, Put, Stream, WireError};

/// Version number that starts every snapshot body written; the oldest version still read is
/// [`OLDEST_SNAPSHOT_FORMAT_VERSION`].
pub const SNAPSHOT_FORMAT_VERSION: u32 = 5;

/// Format 1 is format 2 without null data; format 2 is format 3 without time stamp and session counter;
/// format 3 is format 4 without session owners and last zxids.
const OLDEST_SNAPSHOT_FORMAT_VERSION: u32 = 1;

/// Session ids are ZooKeeper's: a server id byte over a time-based counter, far below this; a counter
/// above it in a snapshot is damage, and would overflow as ids are handed out.
const MAX_SESSION_COUNTER: i64 = 1 << 62;

/// Node records are gathered into buffers about this big before they are written.
const WRITE_BATCH: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read snapshot: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "snapshot format version {0} is not supported (this build reads versions {OLDEST_SNAPSHOT_FORMAT_VERSION} to {SNAPSHOT_FORMAT_VERSION})"
    )]
    UnsupportedVersion(u32),
    #[error("snapshot is corrupt: {0}")]
    Corrupt(String),
    #[error("snapshot digest mismatch: the body records {recorded:016x}, its contents give {computed:016x}")]
    DigestMismatch { recorded: u64, computed: u64 },
}

impl From<WireError> for SnapshotError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Io(e) => SnapshotError::Io(e),
            other => SnapshotError::Corrupt(other.to_string()),
        }
    }
}

fn corrupt(message: impl Into<String>) -> SnapshotError {
    SnapshotError::Corrupt(message.into())
}

impl DataTree {
    pub fn write_snapshot(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(WRITE_BATCH * 2);
        buf.put_u32(SNAPSHOT_FORMAT_VERSION);
        buf.put_i64(self.last_zxid);
        buf.put_i64(self.last_time);
        buf.put_i64(self.next_session_id);
        match self.cluster_id {
            None => buf.put_u8(0),
            Some(id) => {
                buf.put_u8(1);
                buf.put_raw(&id.to_be_bytes());
            }
        }
        let acl_index = self.write_acl_table(&mut buf);
        buf.put_u32(self.sessions.len() as u32);
        for (id, session) in &self.sessions {
            buf.put_i64(*id);
            buf.put_i32(session.timeout_ms);
            buf.put_raw(&session.passwd);
            buf.put_u64(session.owner);
            buf.put_i64(session.last_zxid);
        }
        buf.put_u64(self.nodes.len() as u64);
        for (path, node) in &self.nodes {
            buf.put_str(path);
            buf.put_u32(acl_index.get(node.acl.as_slice()).copied().unwrap_or(0));
            buf.put_nullable_bytes(node.data());
            buf.put_stat(&node.stat);
            if buf.len() >= WRITE_BATCH {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
        buf.put_u64(self.digest());
        out.write_all(&buf)?;
        out.flush()
    }

    /// The ACL lists in use, sorted (for identical bytes from identical trees), and each list's index.
    fn write_acl_table(&self, buf: &mut Vec<u8>) -> HashMap<&[Acl], u32> {
        let mut lists: Vec<&Arc<Vec<Acl>>> = self.acls.iter().map(|(list, _)| list).collect();
        lists.sort();
        buf.put_u32(lists.len() as u32);
        let mut index = HashMap::with_capacity(lists.len());
        for (i, list) in lists.into_iter().enumerate() {
            buf.put_acl_list(list);
            index.insert(list.as_slice(), i as u32);
        }
        index
    }

    /// Reads a body written by [`DataTree::write_snapshot`]. Any inconsistency (a node without a parent, a
    /// duplicate, a bad ACL index, an ephemeral without its session, a digest mismatch, trailing bytes) is an
    /// error, never a panic.
    pub fn read_snapshot(input: &mut dyn Read) -> Result<DataTree, SnapshotError> {
        let mut input = Stream(std::io::BufReader::with_capacity(256 * 1024, input));
        let version = input.get_u32()?;
        if !(OLDEST_SNAPSHOT_FORMAT_VERSION..=SNAPSHOT_FORMAT_VERSION).contains(&version) {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        let null_data = version >= 2;
        let mut tree = DataTree::empty();
        tree.last_zxid = input.get_i64()?;
        if version >= 3 {
            tree.last_time = input.get_i64()?;
            tree.next_session_id = input.get_i64()?;
            if !(0..=MAX_SESSION_COUNTER).contains(&tree.next_session_id) {
                return Err(corrupt(format!("session counter {} is out of range", tree.next_session_id)));
            }
        }
        if version >= 5 {
            tree.cluster_id = match input.get_u8()? {
                0 => None,
                1 => Some(u128::from_be_bytes(input.array()?)),
                other => return Err(corrupt(format!("cluster id flag {other}, not 0 or 1"))),
            };
        }
        let acl_table = read_acl_table(&mut input)?;
        read_sessions(&mut input, &mut tree, version >= 4)?;
        let highest_session = tree.sessions.get_max().map(|(id, _)| *id);
        match highest_session {
            Some(id) if id >= tree.next_session_id && version >= 3 => {
                return Err(corrupt(format!("session 0x{id:x} is not below the session counter")));
            }
            Some(id) => tree.next_session_id = tree.next_session_id.max(id.saturating_add(1)),
            None => {}
        }
        let count = input.get_u64()?;
        for i in 0..count {
            read_node(&mut input, &mut tree, &acl_table, i == 0, null_data)?;
        }
        if count == 0 {
            return Err(corrupt("the snapshot holds no root node"));
        }
        let recorded = input.get_u64()?;
        if input.0.read(&mut [0u8; 1])? != 0 {
            return Err(corrupt("unexpected bytes after the digest"));
        }
        if recorded != tree.digest() {
            return Err(SnapshotError::DigestMismatch { recorded, computed: tree.digest() });
        }
        Ok(tree)
    }
}

fn read_acl_table(input: &mut impl Input) -> Result<Vec<Vec<Acl>>, SnapshotError> {
    let count = input.get_u32()?;
    let mut table = Vec::new();
    for _ in 0..count {
        table.push(input.get_acl_list()?);
    }
    Ok(table)
}

/// `owners`: whether the body's version records each session's owner and last zxid.
fn read_sessions(input: &mut impl Input, tree: &mut DataTree, owners: bool) -> Result<(), SnapshotError> {
    let count = input.get_u32()?;
    for _ in 0..count {
        let id = input.get_i64()?;
        let mut session = Session::new(input.get_i32()?, input.array()?);
        if owners {
            session.owner = input.get_u64()?;
            session.last_zxid = input.get_i64()?;
            if session.last_zxid > tree.last_zxid {
                return Err(corrupt(format!("session 0x{id:x} was last active after the snapshot's zxid")));
            }
        }
        if tree.sessions.contains_key(&id) {
            return Err(corrupt(format!("session 0x{id:x} appears twice")));
        }
        tree.put_session(id, session);
    }
    Ok(())
}

/// `null_data`: whether the body's version can hold null data.
fn read_node(
    input: &mut impl Input,
    tree: &mut DataTree,
    acls: &[Vec<Acl>],
    first: bool,
    null_data: bool,
) -> Result<(), SnapshotError> {
    let path = input.get_string()?;
    let acl_index = input.get_u32()?;
    let data = if null_data { input.get_nullable_bytes()? } else { Some(input.get_bytes()?) };
    let stat = input.get_stat()?;
    if first != (path == "/") {
        return Err(corrupt(format!("node {path:?} where the root was expected, or a second root")));
    }
    if path::validate(&path).is_err() {
        return Err(corrupt(format!("invalid node path {path:?}")));
    }
    if tree.nodes.contains_key(path.as_str()) {
        return Err(corrupt(format!("node {path} appears twice")));
    }
    if !first && !tree.nodes.contains_key(path::parent(&path)) {
        return Err(corrupt(format!("node {path} comes before its parent")));
    }
    if let EphemeralType::Normal(owner) = EphemeralType::of(stat.ephemeral_owner)
        && !tree.sessions.contains_key(&owner)
    {
        return Err(corrupt(format!(
            "ephemeral node {path} belongs to session 0x{owner:x}, which is not in the snapshot"
        )));
    }
    let acl = acls
        .get(acl_index as usize)
        .ok_or_else(|| corrupt(format!("node {path} uses ACL #{acl_index}, which does not exist")))?;
    let acl = tree.acls.acquire(acl);
    let node = Node { data: Data::new(data.as_deref()), acl, stat, children: imbl::OrdSet::new() };
    tree.attach(Arc::from(path), node);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Txn, TxnOp};

    #[test]
    fn an_ensembles_cluster_id_is_kept_and_the_first_one_sticks() {
        let mut tree = DataTree::new();
        let named = |id| Txn {
            origin: Default::default(),
            time: 5,
            session_id: 0,
            auth: vec![],
            op: TxnOp::SetClusterId { id },
        };
        let id = 0x0123_4567_89ab_cdef_0011_2233_4455_6677u128;
        tree.apply(1, &named(id));
        tree.apply(2, &named(id + 1));
        assert_eq!(tree.cluster_id(), Some(id), "a second leader's proposal changes nothing");
        let mut bytes = Vec::new();
        assert!(tree.write_snapshot(&mut bytes).is_ok());
        assert_eq!(bytes[28], 1, "the flag after the session counter");
        assert_eq!(bytes[29..45], id.to_be_bytes());
        let read = DataTree::read_snapshot(&mut bytes.as_slice()).expect("reads back");
        assert_eq!(read.cluster_id(), Some(id));
        assert_eq!(read, tree);
        bytes[28] = 2;
        let err = DataTree::read_snapshot(&mut bytes.as_slice()).expect_err("a bad flag");
        assert!(err.to_string().contains("cluster id flag 2"), "{err}");
        tree.clear_cluster_id();
        assert_eq!(tree.cluster_id(), None);
    }

    #[test]
    fn a_fresh_tree_is_laid_out_as_documented() {
        let tree = DataTree::new();
        let mut bytes = Vec::new();
        assert!(tree.write_snapshot(&mut bytes).is_ok());
        let mut input = bytes.as_slice();
        assert_eq!(input.get_u32().ok(), Some(SNAPSHOT_FORMAT_VERSION));
        assert_eq!(input.get_i64().ok(), Some(0), "last zxid");
        assert_eq!(input.get_i64().ok(), Some(0), "last time");
        assert_eq!(input.get_i64().ok(), Some(0), "session counter");
        assert_eq!(input.get_u8().ok(), Some(0), "no cluster id");
        assert_eq!(input.get_u32().ok(), Some(2));
        // Sorted: [1 world:anyone] (READ_ACL_UNSAFE) before [31 world:anyone].
        assert_eq!(input.get_acl_list().ok(), Some(Acl::read_unsafe()));
        assert_eq!(input.get_acl_list().ok(), Some(Acl::open_unsafe()));
        assert_eq!(input.get_u32().ok(), Some(0), "no sessions");
        assert_eq!(input.get_u64().ok(), Some(4));
        let mut paths = Vec::new();
        for _ in 0..4 {
            paths.push(input.get_string().unwrap_or_default());
            let acl = input.get_u32().ok();
            assert_eq!(acl, Some(if paths.last().map(String::as_str) == Some("/zookeeper/config") { 0 } else { 1 }));
            assert_eq!(input.get_nullable_bytes().ok(), Some(Some(vec![])));
            assert!(input.get_stat().is_ok());
        }
        assert_eq!(paths, ["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]);
        assert_eq!(input.get_u64().ok(), Some(tree.digest()));
        assert!(input.is_empty());
    }

    /// `/n` with null data and `/e` with empty data, children of the root, created at zxids 1 and 2.
    fn tree_with_null_and_empty_data() -> DataTree {
        use crate::txn::{Txn, TxnOp};
        let mut tree = DataTree::new();
        for (zxid, (path, data)) in [("/n", None), ("/e", Some(vec![]))].into_iter().enumerate() {
            let mode = paddock_proto::CreateMode::Persistent;
            let op = TxnOp::Create { path: path.into(), data, acl: Acl::open_unsafe(), mode, ttl: 0 };
            tree.apply(zxid as i64 + 1, &Txn { origin: Default::default(), time: 5, session_id: 0, auth: vec![], op });
        }
        tree
    }

    #[test]
    fn null_data_survives_a_snapshot_apart_from_empty() {
        let tree = tree_with_null_and_empty_data();
        assert_eq!(tree.get("/n").map(Node::data), Some(None));
        assert_eq!(tree.get("/e").map(Node::data), Some(Some(&b""[..])));
        let mut bytes = Vec::new();
        assert!(tree.write_snapshot(&mut bytes).is_ok());
        let read = DataTree::read_snapshot(&mut bytes.as_slice()).ok();
        assert_eq!(read.as_ref().and_then(|t| t.get("/n")).map(Node::data), Some(None));
        assert_eq!(read.as_ref().and_then(|t| t.get("/e")).map(Node::data), Some(Some(&b""[..])));
        assert_eq!(read.as_ref().map(DataTree::digest), Some(tree.digest()));
        assert_eq!(read, Some(tree));
        // The node record of /n: path, ACL index 1 ([31 world:anyone]), the null marker, then the stat.
        let mut record = vec![2, 0, 0, 0, b'/', b'n', 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        record.extend(1i64.to_le_bytes());
        assert!(bytes.windows(record.len()).any(|w| w == record.as_slice()), "documented layout");
    }

    fn body(tree: &DataTree) -> Vec<u8> {
        let mut bytes = Vec::new();
        assert!(tree.write_snapshot(&mut bytes).is_ok());
        bytes
    }

    /// The same body as format 1 or 2 wrote it, from a body of format 3 or later: without the time stamp,
    /// the session counter and the cluster id (none).
    fn legacy_body(version: u32, bytes: &[u8]) -> Vec<u8> {
        let bytes = if bytes[..4] == 5u32.to_le_bytes() { format_4(bytes) } else { bytes.to_vec() };
        let mut out = version.to_le_bytes().to_vec();
        out.extend(&bytes[4..12]);
        out.extend(&bytes[28..]);
        out
    }

    /// The same body as format 4 wrote it: without the cluster id (none).
    fn format_4(bytes: &[u8]) -> Vec<u8> {
        assert_eq!(bytes[28], 0, "a tree without a cluster id");
        let mut out = 4u32.to_le_bytes().to_vec();
        out.extend(&bytes[4..28]);
        out.extend(&bytes[29..]);
        out
    }

    /// A body of the sessions test as format 3 wrote it: its one session (password all 1s) without the owner
    /// and last zxid that follow the password.
    fn without_owners(bytes: &[u8]) -> Vec<u8> {
        let mut out = format_4(bytes);
        let at = out.windows(16).position(|w| w == [1u8; 16]).map(|p| p + 16).unwrap_or(out.len());
        out.drain(at..(at + 16).min(out.len()));
        out[..4].copy_from_slice(&3u32.to_le_bytes());
        out
    }

    #[test]
    fn format_3_is_read_with_sessions_of_unknown_owner() {
        use crate::txn::{ProposalId, Txn, TxnOp, TxnResult};
        let mut tree = DataTree::new();
        let open = TxnOp::CreateSession { timeout_ms: 5000, passwd: [1; 16] };
        let by_node_2 = Txn { origin: ProposalId { node: 2, seq: 1 }, ..txn(1_000, open) };
        let TxnResult::SessionCreated(id) = tree.apply(1, &by_node_2).result else {
            panic!("a session must be created");
        };
        let bytes = body(&tree);
        let read = DataTree::read_snapshot(&mut bytes.as_slice()).ok();
        assert_eq!(read.as_ref().and_then(|t| t.session(id)).map(|s| (s.owner, s.last_zxid)), Some((2, 1)));
        let mut old = DataTree::new();
        old.put_session(id, Session::new(5000, [1; 16]));
        old.last_zxid = 1;
        old.last_time = 1_000;
        old.next_session_id = id + 1;
        let read = DataTree::read_snapshot(&mut &format_4(&body(&old))[..]).ok();
        assert_eq!(read.as_ref(), Some(&old), "format 4 reads as a tree without a cluster id");
        let read = DataTree::read_snapshot(&mut &without_owners(&body(&old))[..]).ok();
        assert_eq!(read.as_ref().and_then(|t| t.session(id)).map(|s| (s.owner, s.last_zxid)), Some((0, 0)));
        // A session active after the snapshot's own zxid is damage.
        let mut damaged = bytes.clone();
        let at = damaged.windows(16).position(|w| w == [1u8; 16]).map_or(0, |p| p + 24);
        damaged[at..at + 8].copy_from_slice(&9i64.to_le_bytes());
        assert!(matches!(DataTree::read_snapshot(&mut damaged.as_slice()), Err(SnapshotError::Corrupt(_))));
    }

    fn txn(time: i64, op: crate::txn::TxnOp) -> crate::txn::Txn {
        crate::txn::Txn { origin: Default::default(), time, session_id: 0, auth: vec![], op }
    }

    #[test]
    fn formats_1_and_2_are_still_read_but_format_1_cannot_hold_null() {
        use crate::txn::TxnOp;
        let mut tree = tree_with_null_and_empty_data();
        let bytes = body(&tree);
        assert!(matches!(DataTree::read_snapshot(&mut &legacy_body(1, &bytes)[..]), Err(SnapshotError::Corrupt(_))));
        let read = DataTree::read_snapshot(&mut &legacy_body(2, &bytes)[..]).ok();
        assert_eq!(read.as_ref().map(DataTree::digest), Some(tree.digest()));
        assert_eq!(read.as_ref().and_then(|t| t.get("/n")).map(Node::data), Some(None));
        assert_eq!(read.as_ref().map(DataTree::last_time), Some(0), "format 2 has no time stamp");
        // Without null data a version-2 body is a version-1 body but for its version: same digest too.
        tree.apply(3, &txn(6, TxnOp::Delete { path: "/n".into(), version: -1 }));
        let bytes = body(&tree);
        let read = DataTree::read_snapshot(&mut &legacy_body(1, &bytes)[..]).ok();
        assert_eq!(read.as_ref().map(DataTree::digest), Some(tree.digest()));
        let mut bytes = bytes;
        bytes[..4].copy_from_slice(&6u32.to_le_bytes());
        assert!(matches!(DataTree::read_snapshot(&mut bytes.as_slice()), Err(SnapshotError::UnsupportedVersion(6))));
    }

    #[test]
    fn the_session_counter_survives_and_stays_above_every_session() {
        use crate::txn::{TxnOp, TxnResult};
        let mut tree = DataTree::new();
        let open = TxnOp::CreateSession { timeout_ms: 5000, passwd: [1; 16] };
        let TxnResult::SessionCreated(first) = tree.apply(1, &txn(1_000, open.clone())).result else {
            panic!("a session must be created");
        };
        let bytes = body(&tree);
        let mut read = DataTree::read_snapshot(&mut bytes.as_slice()).unwrap_or_default();
        assert_eq!(read, tree);
        assert_eq!(read.last_time(), 1_000);
        // The clock may have gone back since: the next id is still above the first.
        let next = read.apply(2, &txn(1_000, open.clone())).result;
        assert!(matches!(next, TxnResult::SessionCreated(id) if id > first), "{next:?} after 0x{first:x}");
        let mut from_legacy =
            DataTree::read_snapshot(&mut &legacy_body(2, &without_owners(&bytes))[..]).unwrap_or_default();
        let next = from_legacy.apply(2, &txn(1_000, open)).result;
        assert!(matches!(next, TxnResult::SessionCreated(id) if id > first), "{next:?} after 0x{first:x}");
        for counter in [first, -1, i64::MAX] {
            let mut damaged = bytes.clone();
            damaged[20..28].copy_from_slice(&counter.to_le_bytes());
            let read = DataTree::read_snapshot(&mut damaged.as_slice());
            assert!(matches!(read, Err(SnapshotError::Corrupt(_))), "counter {counter}: {read:?}");
        }
    }

    #[test]
    fn a_digest_that_does_not_match_is_refused() {
        let mut bytes = Vec::new();
        assert!(DataTree::new().write_snapshot(&mut bytes).is_ok());
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(DataTree::read_snapshot(&mut bytes.as_slice()), Err(SnapshotError::DigestMismatch { .. })));
        bytes[last] ^= 1;
        bytes.push(0);
        assert!(matches!(DataTree::read_snapshot(&mut bytes.as_slice()), Err(SnapshotError::Corrupt(_))));
        bytes.pop();
        assert_eq!(DataTree::read_snapshot(&mut bytes.as_slice()).ok(), Some(DataTree::new()));
    }
}
