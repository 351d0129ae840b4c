//! Transactions: what the log carries and what applying one produces.
//!
//! A [`Txn`] is a write request already stamped by the leader: the leader's wall clock, the session it came
//! from, that session's auth ids (so ACL checks give the same answer on every replica) and the proposal it
//! came from (so the server holding the client's connection recognises its own write when it is committed).
//! Its zxid is not in it: the zxid is the index of the log entry that carries it, given to
//! [`DataTree::apply`](crate::DataTree::apply) by whoever reads the log. Its byte encoding (version
//! [`TXN_FORMAT_VERSION`]) is specified in `docs/tree-format.md`.
//!
//! Version 3 dropped the zxid and added the proposal id; version 2 added null znode data (length
//! `0xFFFFFFFF`). Versions 1 and 2 are still read (their recorded zxid must equal the entry's index), so
//! logs written before stay readable.

use std::sync::Arc;

use paddock_proto::{Acl, CreateMode, ErrorCode, EventType, Id, OpCode, Stat};

use crate::restore::{ChangeSummary, OnConflict, RestoredNode};
use crate::wire::{Input, Put, WireError};

/// Version byte that starts every encoded [`Txn`]; the oldest version still read is
/// [`OLDEST_TXN_FORMAT_VERSION`].
pub const TXN_FORMAT_VERSION: u8 = 3;

/// Format 1 is format 2 without null data.
const OLDEST_TXN_FORMAT_VERSION: u8 = 1;

/// `Multi` may nest in the encoding (the tree refuses it when applying); decoding stops this deep so that
/// hostile input cannot exhaust the stack.
const MAX_NESTING: usize = 4;

/// Who proposed a txn: the server that holds the client's connection and that server's proposal counter.
/// Only the proposer answers a client when the txn is committed; every replica applies it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProposalId {
    pub node: u64,
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn {
    /// `ProposalId::default()` for txns read from format 1 and 2, which did not record it.
    pub origin: ProposalId,
    /// Milliseconds since the epoch, stamped by the leader and never lower than the previous txn's stamp:
    /// ctime, mtime, TTLs and restore-by-time use it.
    pub time: i64,
    pub session_id: i64,
    /// The caller's ids (`ip:…`, `digest:…`, `super:`) at the time of the request.
    pub auth: Vec<Id>,
    pub op: TxnOp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOp {
    /// ZooKeeper's `ErrorTxn`: a write refused before it touched the tree (bad flags, reconfig disabled,
    /// a malformed multi...). It changes nothing but still takes a zxid, as in ZooKeeper.
    Error(ErrorCode),
    CreateSession {
        timeout_ms: i32,
        passwd: [u8; 16],
    },
    CloseSession,
    /// Paddock's own: a session's connection moved to the proposing server (a client reconnected there).
    /// From this entry on, that server owns the session; writes proposed by its old server fail with
    /// SessionMoved (ZooKeeper's leader keeps the owner in memory and loses it with a leader change; here
    /// it is in the log).
    ReopenSession,
    /// Paddock's own: the leader's expiry of a session, decided when the session's last entry was `basis`.
    /// If an entry of the session came later in the log (a write, a reopen), the session was alive after
    /// all and the expiry is overruled (`SessionKept`); otherwise it closes the session as `CloseSession`.
    ExpireSession {
        basis: i64,
    },
    /// `ttl` is read only for the TTL modes. `data` `None` is null data (the client sent a null buffer),
    /// which ZooKeeper keeps apart from empty data.
    Create {
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        mode: CreateMode,
        ttl: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    /// Deletes an empty container or TTL node (ZooKeeper's `ContainerManager`); no ACL check.
    /// `observed_mzxid`: the node's mzxid when the reaper judged it due; if the node changed since (a
    /// `setData` refreshing a TTL node), the txn fails with BadVersion and the node stays. `None` (a client's
    /// own deleteContainer, or a format 1/2 txn) deletes whatever the mzxid.
    DeleteContainer {
        path: String,
        observed_mzxid: Option<i64>,
    },
    /// `data` `None` makes the data null, as in `Create`.
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    Multi(Vec<TxnOp>),
    /// ZooKeeper's reconfig txn: the ensemble's membership changed and `/zookeeper/config` becomes `data`
    /// (the `server.N` lines and `version=<zxid in hex>`), with data version -1 and a NodeDataChanged watch,
    /// as ZooKeeper's `DataTree` applies it. Written by the state machine of every replica from a settled
    /// Raft membership entry, never proposed by a client: no session, no ACL check.
    Reconfig {
        data: Vec<u8>,
    },
    /// Paddock's own: `digest` is the state digest of the tree right after zxid `zxid` (an earlier entry),
    /// written into the log every `paddock.digestInterval` zxids by the proposing server so that a replica
    /// (and a backup's replay) can check that it reached the same state. It changes nothing but the last
    /// zxid, like an error txn; no session, no ACL.
    Digest {
        zxid: i64,
        digest: u64,
    },
    /// Paddock's own: the ensemble's cluster id (128 bits), proposed by its first leader so that every member
    /// names its backups and archive alike. The first one applied sticks; a later one (a second leader that
    /// proposed before it applied the first) changes nothing. No session, no ACL.
    SetClusterId {
        id: u128,
    },
    /// Paddock's own: `op` (a `Create`, `SetData` or `Multi`) applied with ZooKeeper's `enforceQuota`, so a
    /// create or setData that would pass a hard quota limit fails with QuotaExceeded. The proposing server
    /// wraps its writes when its own `enforceQuota` is on; carrying the flag in the txn keeps every replica's
    /// outcome the same whatever their own configuration says.
    EnforceQuota(Box<TxnOp>),
    /// Paddock's own: `paddock restore --subtree … --into`: the nodes at and under `path` become `nodes` (a
    /// backup's, in path order), as one atomic write planned at apply time (see `restore.rs`). Proposed by
    /// the admin `restore` command, which authenticated its caller: no session, no ACL check.
    RestoreSubtree {
        path: String,
        on_conflict: OnConflict,
        nodes: Vec<RestoredNode>,
    },
    /// Paddock's own: `paddock restore --into`: the whole tree becomes `snapshot` (zstd of a snapshot body),
    /// without its sessions; every session ends. No session, no ACL check.
    RestoreTree {
        snapshot: Vec<u8>,
    },
}

impl TxnOp {
    /// The op itself, without an [`TxnOp::EnforceQuota`] wrapper.
    pub fn unwrapped(&self) -> &TxnOp {
        match self {
            TxnOp::EnforceQuota(op) => op,
            op => op,
        }
    }
}

/// The outcome of a txn. Errors are outcomes too: a failed write still consumed its zxid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnResult {
    /// The id allocated to the new session.
    SessionCreated(i64),
    SessionClosed,
    SessionReopened,
    /// An `ExpireSession` overruled by a later entry of the session.
    SessionKept,
    /// `path` is the final one (with the sequential suffix, if any).
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    SetData(Stat),
    SetAcl(Stat),
    Checked,
    /// A `Digest` entry compared with the tree's own digest after its zxid: `Some(true)` they match,
    /// `Some(false)` this tree diverged from the one that wrote the entry, `None` the tree cannot tell
    /// (the zxid is older than the digests it keeps, or not before the entry).
    DigestChecked {
        matches: Option<bool>,
    },
    /// One result per op. On failure ZooKeeper's shape: `Error(Ok)` for the ops before the failing one, its
    /// code for the failing one, `Error(RuntimeInconsistency)` after it.
    Multi(Vec<TxnResult>),
    /// What a `RestoreSubtree` changed, in the order it changed it.
    SubtreeRestored(Vec<ChangeSummary>),
    /// A `RestoreSubtree` with `OnConflict::Fail` refused as a whole: these live nodes differ from the backup.
    RestoreConflicts(Vec<String>),
    /// A `RestoreTree` replaced the tree, which now holds `nodes` nodes.
    TreeRestored {
        nodes: u64,
    },
    Error(ErrorCode),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub result: TxnResult,
    /// Watch events, in the order ZooKeeper fires them.
    pub triggers: Vec<WatchTrigger>,
    /// The quota limits this txn passed (only under [`TxnOp::EnforceQuota`]): what ZooKeeper's leader logs,
    /// and counts when a hard limit refused the write.
    pub quota_exceeded: Vec<crate::QuotaExceeded>,
}

/// A watch event to deliver. `acl` is the ACL of the node the event is about, so the server can deliver it
/// only to connections that may READ that node (ZOOKEEPER-4799).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchTrigger {
    pub path: String,
    pub event: EventType,
    pub zxid: i64,
    pub acl: Arc<Vec<Acl>>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxnDecodeError {
    #[error("transaction is truncated")]
    Truncated,
    #[error(
        "transaction format version {0} is not supported (this build reads versions {OLDEST_TXN_FORMAT_VERSION} to {TXN_FORMAT_VERSION})"
    )]
    UnsupportedVersion(u8),
    #[error("unknown transaction op {0}")]
    UnknownOp(i32),
    #[error("unknown create mode {0}")]
    BadCreateMode(u8),
    #[error("a string in the transaction is not valid UTF-8")]
    InvalidUtf8,
    #[error("a field in the transaction claims {0} bytes")]
    TooLong(u64),
    #[error("multi ops nested more than {MAX_NESTING} deep")]
    TooDeep,
    #[error("{0} unexpected bytes after the transaction")]
    TrailingBytes(usize),
    #[error("the transaction records zxid {recorded} but is log entry {index}")]
    ZxidMismatch { index: i64, recorded: i64 },
}

impl From<WireError> for TxnDecodeError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::InvalidUtf8 => TxnDecodeError::InvalidUtf8,
            WireError::TooLong(len) => TxnDecodeError::TooLong(len),
            WireError::Truncated | WireError::Io(_) => TxnDecodeError::Truncated,
        }
    }
}

impl Txn {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + op_size_hint(&self.op));
        out.put_u8(TXN_FORMAT_VERSION);
        out.put_u64(self.origin.node);
        out.put_u64(self.origin.seq);
        out.put_i64(self.time);
        out.put_i64(self.session_id);
        out.put_u32(self.auth.len() as u32);
        for id in &self.auth {
            out.put_id(id);
        }
        encode_op(&mut out, &self.op);
        out
    }

    /// Decodes the txn carried by log entry `index`.
    pub fn decode(bytes: &[u8], index: i64) -> Result<Txn, TxnDecodeError> {
        let mut input = bytes;
        let version = input.get_u8()?;
        if !(OLDEST_TXN_FORMAT_VERSION..=TXN_FORMAT_VERSION).contains(&version) {
            return Err(TxnDecodeError::UnsupportedVersion(version));
        }
        let format = Format { null_data: version >= 2, observed_mzxid: version >= 3 };
        let origin = if version >= 3 {
            ProposalId { node: input.get_u64()?, seq: input.get_u64()? }
        } else {
            let recorded = input.get_i64()?;
            if recorded != index {
                return Err(TxnDecodeError::ZxidMismatch { index, recorded });
            }
            ProposalId::default()
        };
        let time = input.get_i64()?;
        let session_id = input.get_i64()?;
        let count = input.get_u32()?;
        let mut auth = Vec::new();
        for _ in 0..count {
            auth.push(input.get_id()?);
        }
        let op = decode_op(&mut input, format, 0)?;
        if !input.is_empty() {
            return Err(TxnDecodeError::TrailingBytes(input.len()));
        }
        Ok(Txn { origin, time, session_id, auth, op })
    }

    /// Whether `bytes` predate format 3, whose stamps are guaranteed never to go back in time.
    pub fn is_legacy_format(bytes: &[u8]) -> bool {
        bytes.first().is_some_and(|version| *version < 3)
    }
}

fn op_size_hint(op: &TxnOp) -> usize {
    match op {
        TxnOp::Create { path, data, .. } | TxnOp::SetData { path, data, .. } => {
            path.len() + data.as_ref().map_or(0, Vec::len) + 64
        }
        TxnOp::Multi(ops) => ops.iter().map(op_size_hint).sum(),
        TxnOp::EnforceQuota(op) => 4 + op_size_hint(op),
        TxnOp::RestoreSubtree { nodes, .. } => {
            nodes.iter().map(|n| n.path.len() + n.data.as_ref().map_or(0, Vec::len) + 64).sum()
        }
        TxnOp::RestoreTree { snapshot } => snapshot.len() + 8,
        _ => 64,
    }
}

/// Tags of Paddock's own ops, far from every ZooKeeper opcode (which are -11 to 106).
const REOPEN_SESSION: i32 = -1001;
const EXPIRE_SESSION: i32 = -1002;
const DIGEST: i32 = -1003;
const SET_CLUSTER_ID: i32 = -1004;
const ENFORCE_QUOTA: i32 = -1005;
const RESTORE_SUBTREE: i32 = -1006;
const RESTORE_TREE: i32 = -1007;

/// Ops are tagged with ZooKeeper's opcodes, so a hex dump reads like ZooKeeper's own log.
fn encode_op(out: &mut Vec<u8>, op: &TxnOp) {
    match op {
        TxnOp::CreateSession { timeout_ms, passwd } => {
            out.put_i32(OpCode::CreateSession as i32);
            out.put_i32(*timeout_ms);
            out.put_raw(passwd);
        }
        TxnOp::CloseSession => out.put_i32(OpCode::CloseSession as i32),
        TxnOp::ReopenSession => out.put_i32(REOPEN_SESSION),
        TxnOp::ExpireSession { basis } => {
            out.put_i32(EXPIRE_SESSION);
            out.put_i64(*basis);
        }
        TxnOp::Error(code) => {
            out.put_i32(OpCode::Error as i32);
            out.put_i32(code.code());
        }
        TxnOp::Create { path, data, acl, mode, ttl } => {
            out.put_i32(OpCode::Create as i32);
            out.put_str(path);
            out.put_nullable_bytes(data.as_deref());
            out.put_acl_list(acl);
            out.put_u8(mode.flags() as u8);
            out.put_i64(*ttl);
        }
        TxnOp::Delete { path, version } => {
            out.put_i32(OpCode::Delete as i32);
            out.put_str(path);
            out.put_i32(*version);
        }
        TxnOp::DeleteContainer { path, observed_mzxid } => {
            out.put_i32(OpCode::DeleteContainer as i32);
            out.put_str(path);
            out.put_i64(observed_mzxid.unwrap_or(-1));
        }
        TxnOp::SetData { path, data, version } => {
            out.put_i32(OpCode::SetData as i32);
            out.put_str(path);
            out.put_nullable_bytes(data.as_deref());
            out.put_i32(*version);
        }
        TxnOp::SetAcl { path, acl, version } => {
            out.put_i32(OpCode::SetAcl as i32);
            out.put_str(path);
            out.put_acl_list(acl);
            out.put_i32(*version);
        }
        TxnOp::Check { path, version } => {
            out.put_i32(OpCode::Check as i32);
            out.put_str(path);
            out.put_i32(*version);
        }
        TxnOp::Multi(ops) => {
            out.put_i32(OpCode::Multi as i32);
            out.put_u32(ops.len() as u32);
            for op in ops {
                encode_op(out, op);
            }
        }
        TxnOp::Reconfig { data } => {
            out.put_i32(OpCode::Reconfig as i32);
            out.put_nullable_bytes(Some(data));
        }
        TxnOp::Digest { zxid, digest } => {
            out.put_i32(DIGEST);
            out.put_i64(*zxid);
            out.put_u64(*digest);
        }
        TxnOp::SetClusterId { id } => {
            out.put_i32(SET_CLUSTER_ID);
            out.put_raw(&id.to_be_bytes());
        }
        TxnOp::EnforceQuota(op) => {
            out.put_i32(ENFORCE_QUOTA);
            encode_op(out, op);
        }
        TxnOp::RestoreSubtree { path, on_conflict, nodes } => {
            out.put_i32(RESTORE_SUBTREE);
            out.put_str(path);
            out.put_u8(on_conflict.code());
            out.put_u32(nodes.len() as u32);
            for node in nodes {
                out.put_str(&node.path);
                out.put_nullable_bytes(node.data.as_deref());
                out.put_acl_list(&node.acl);
                out.put_i64(node.ephemeral_owner);
                out.put_i32(node.cversion);
            }
        }
        TxnOp::RestoreTree { snapshot } => {
            out.put_i32(RESTORE_TREE);
            out.put_bytes(snapshot);
        }
    }
}

fn decode_restore_subtree(input: &mut &[u8]) -> Result<TxnOp, TxnDecodeError> {
    let path = input.get_string()?;
    let code = input.get_u8()?;
    let on_conflict = OnConflict::from_code(code).ok_or(TxnDecodeError::UnknownOp(i32::from(code)))?;
    let count = input.get_u32()?;
    let mut nodes = Vec::new();
    for _ in 0..count {
        nodes.push(RestoredNode {
            path: input.get_string()?,
            data: input.get_nullable_bytes()?,
            acl: input.get_acl_list()?,
            ephemeral_owner: input.get_i64()?,
            cversion: input.get_i32()?,
        });
    }
    Ok(TxnOp::RestoreSubtree { path, on_conflict, nodes })
}

/// What the version of the payload being decoded allows.
#[derive(Clone, Copy)]
struct Format {
    null_data: bool,
    /// Format 3: `DeleteContainer` carries the mzxid the reaper observed.
    observed_mzxid: bool,
}

impl Format {
    fn data(self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, TxnDecodeError> {
        Ok(if self.null_data { input.get_nullable_bytes()? } else { Some(input.get_bytes()?) })
    }
}

fn decode_op(input: &mut &[u8], format: Format, depth: usize) -> Result<TxnOp, TxnDecodeError> {
    let code = input.get_i32()?;
    match code {
        REOPEN_SESSION => return Ok(TxnOp::ReopenSession),
        EXPIRE_SESSION => return Ok(TxnOp::ExpireSession { basis: input.get_i64()? }),
        DIGEST => return Ok(TxnOp::Digest { zxid: input.get_i64()?, digest: input.get_u64()? }),
        SET_CLUSTER_ID => return Ok(TxnOp::SetClusterId { id: u128::from_be_bytes(input.array()?) }),
        ENFORCE_QUOTA if depth >= MAX_NESTING => return Err(TxnDecodeError::TooDeep),
        ENFORCE_QUOTA => return Ok(TxnOp::EnforceQuota(Box::new(decode_op(input, format, depth + 1)?))),
        RESTORE_SUBTREE => return decode_restore_subtree(input),
        RESTORE_TREE => return Ok(TxnOp::RestoreTree { snapshot: input.get_bytes()? }),
        _ => {}
    }
    let op = match OpCode::from_i32(code) {
        Some(OpCode::CreateSession) => TxnOp::CreateSession { timeout_ms: input.get_i32()?, passwd: input.array()? },
        Some(OpCode::CloseSession) => TxnOp::CloseSession,
        Some(OpCode::Error) => {
            let code = input.get_i32()?;
            TxnOp::Error(ErrorCode::from_i32(code).ok_or(TxnDecodeError::UnknownOp(code))?)
        }
        Some(OpCode::Create) => TxnOp::Create {
            path: input.get_string()?,
            data: format.data(input)?,
            acl: input.get_acl_list()?,
            mode: decode_mode(input.get_u8()?)?,
            ttl: input.get_i64()?,
        },
        Some(OpCode::Delete) => TxnOp::Delete { path: input.get_string()?, version: input.get_i32()? },
        Some(OpCode::DeleteContainer) => TxnOp::DeleteContainer {
            path: input.get_string()?,
            observed_mzxid: if format.observed_mzxid { Some(input.get_i64()?).filter(|m| *m >= 0) } else { None },
        },
        Some(OpCode::SetData) => {
            TxnOp::SetData { path: input.get_string()?, data: format.data(input)?, version: input.get_i32()? }
        }
        Some(OpCode::SetAcl) => {
            TxnOp::SetAcl { path: input.get_string()?, acl: input.get_acl_list()?, version: input.get_i32()? }
        }
        Some(OpCode::Check) => TxnOp::Check { path: input.get_string()?, version: input.get_i32()? },
        Some(OpCode::Reconfig) => TxnOp::Reconfig { data: input.get_bytes()? },
        Some(OpCode::Multi) => {
            if depth >= MAX_NESTING {
                return Err(TxnDecodeError::TooDeep);
            }
            let count = input.get_u32()?;
            let mut ops = Vec::new();
            for _ in 0..count {
                ops.push(decode_op(input, format, depth + 1)?);
            }
            TxnOp::Multi(ops)
        }
        _ => return Err(TxnDecodeError::UnknownOp(code)),
    };
    Ok(op)
}

fn decode_mode(flags: u8) -> Result<CreateMode, TxnDecodeError> {
    CreateMode::from_flags(i32::from(flags)).map_err(|_| TxnDecodeError::BadCreateMode(flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(time: i64, session_id: i64, op: TxnOp) -> Txn {
        Txn { origin: ProposalId { node: 1, seq: 2 }, time, session_id, auth: vec![], op }
    }

    /// The same txn as format 1 or 2 wrote it: the zxid where format 3 has the proposal id.
    fn legacy(version: u8, zxid: i64, txn: &Txn) -> Vec<u8> {
        let mut bytes = vec![version];
        bytes.extend(zxid.to_le_bytes());
        bytes.extend(&txn.encode()[17..]);
        bytes
    }

    #[test]
    fn layout_starts_with_version_and_header() {
        let txn = Txn { origin: ProposalId { node: 5, seq: 0x0102 }, ..txn(3, -1, TxnOp::CloseSession) };
        let bytes = txn.encode();
        assert_eq!(bytes[0], TXN_FORMAT_VERSION);
        assert_eq!(&bytes[1..9], &5u64.to_le_bytes());
        assert_eq!(&bytes[9..17], &0x0102u64.to_le_bytes());
        assert_eq!(&bytes[37..41], &(-11i32).to_le_bytes());
        assert_eq!(bytes.len(), 41);
        assert_eq!(Txn::decode(&bytes, 99), Ok(txn));
    }

    #[test]
    fn the_documented_example_is_exact() {
        let txn =
            Txn { origin: ProposalId { node: 1, seq: 7 }, ..txn(1000, 0x0100_0000_0000_0001, TxnOp::CloseSession) };
        let expected: [u8; 41] = [
            0x03, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0, 0xe8, 0x03, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0,
            0, 0, 0x01, 0, 0, 0, 0, 0xf5, 0xff, 0xff, 0xff,
        ];
        assert_eq!(txn.encode(), expected);
    }

    #[test]
    fn rejects_bad_versions_ops_and_trailing_bytes() {
        let txn = Txn { auth: vec![Id::anyone()], ..txn(2, 3, TxnOp::CloseSession) };
        let mut bytes = txn.encode();
        bytes.push(0);
        assert_eq!(Txn::decode(&bytes, 1), Err(TxnDecodeError::TrailingBytes(1)));
        bytes.pop();
        bytes[0] = 9;
        assert_eq!(Txn::decode(&bytes, 1), Err(TxnDecodeError::UnsupportedVersion(9)));
        bytes[0] = TXN_FORMAT_VERSION;
        let op_at = bytes.len() - 4;
        bytes[op_at..].copy_from_slice(&99i32.to_le_bytes());
        assert_eq!(Txn::decode(&bytes, 1), Err(TxnDecodeError::UnknownOp(99)));
        assert_eq!(Txn::decode(&[], 1), Err(TxnDecodeError::Truncated));
    }

    fn set_data(data: Option<&[u8]>) -> TxnOp {
        TxnOp::SetData { path: "/a".into(), data: data.map(<[u8]>::to_vec), version: -1 }
    }

    fn create(data: Option<&[u8]>) -> TxnOp {
        let acl = vec![];
        TxnOp::Create { path: "/a".into(), data: data.map(<[u8]>::to_vec), acl, mode: CreateMode::Persistent, ttl: 0 }
    }

    #[test]
    fn null_and_empty_data_round_trip_apart() {
        let ops = [create(None), create(Some(b"")), create(Some(b"x")), set_data(None), set_data(Some(b""))];
        for op in ops.iter().cloned().chain([TxnOp::Multi(ops.to_vec())]) {
            let txn = txn(2, 3, op);
            assert_eq!(Txn::decode(&txn.encode(), 1), Ok(txn));
        }
    }

    #[test]
    fn the_documented_null_set_data_example_is_exact() {
        let txn = Txn { origin: ProposalId { node: 1, seq: 7 }, ..txn(1000, 0x0100_0000_0000_0001, set_data(None)) };
        let mut expected = vec![0x03, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0];
        expected.extend([0xe8, 0x03, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0]);
        expected.extend([0x05, 0, 0, 0, 0x02, 0, 0, 0, b'/', b'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(txn.encode(), expected);
    }

    #[test]
    fn the_documented_digest_example_is_exact() {
        let op = TxnOp::Digest { zxid: 20, digest: 0x0123_4567_89ab_cdef };
        let txn = Txn { origin: ProposalId { node: 1, seq: 7 }, ..txn(1000, 0, op) };
        let mut expected = vec![0x03, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0];
        expected.extend([0xe8, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend([0x15, 0xfc, 0xff, 0xff, 0x14, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend([0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01]);
        assert_eq!(txn.encode(), expected);
        assert_eq!(Txn::decode(&expected, 21), Ok(txn));
        assert_eq!(Txn::decode(&expected[..expected.len() - 1], 21), Err(TxnDecodeError::Truncated));
    }

    #[test]
    fn the_documented_cluster_id_example_is_exact() {
        let op = TxnOp::SetClusterId { id: 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff };
        let txn = Txn { origin: ProposalId { node: 2, seq: 1 }, ..txn(1000, 0, op) };
        let mut expected = vec![0x03, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0];
        expected.extend([0xe8, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend([0x14, 0xfc, 0xff, 0xff]);
        expected
            .extend([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        assert_eq!(txn.encode(), expected);
        assert_eq!(Txn::decode(&expected, 3), Ok(txn));
        assert_eq!(Txn::decode(&expected[..expected.len() - 1], 3), Err(TxnDecodeError::Truncated));
    }

    #[test]
    fn the_documented_enforce_quota_example_is_exact() {
        let op = TxnOp::EnforceQuota(Box::new(set_data(None)));
        let txn = Txn { origin: ProposalId { node: 1, seq: 7 }, ..txn(1000, 0x0100_0000_0000_0001, op) };
        let mut expected = vec![0x03, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0];
        expected.extend([0xe8, 0x03, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0]);
        expected.extend([0x13, 0xfc, 0xff, 0xff]);
        expected.extend([0x05, 0, 0, 0, 0x02, 0, 0, 0, b'/', b'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(txn.encode(), expected);
        assert_eq!(Txn::decode(&expected, 3), Ok(txn.clone()));
        assert_eq!(txn.op.unwrapped(), &set_data(None));
        let mut deep = set_data(None);
        for _ in 0..=MAX_NESTING {
            deep = TxnOp::EnforceQuota(Box::new(deep));
        }
        assert_eq!(Txn::decode(&Txn { op: deep, ..txn }.encode(), 3), Err(TxnDecodeError::TooDeep));
    }

    #[test]
    fn formats_1_and_2_are_still_read_at_their_own_zxid() {
        let plain = txn(5, 6, create(Some(b"")));
        let read = Txn { origin: ProposalId::default(), ..plain.clone() };
        for version in [1, 2] {
            let bytes = legacy(version, 4, &plain);
            assert!(Txn::is_legacy_format(&bytes));
            assert_eq!(Txn::decode(&bytes, 4), Ok(read.clone()));
            assert_eq!(Txn::decode(&bytes, 5), Err(TxnDecodeError::ZxidMismatch { index: 5, recorded: 4 }));
        }
        assert!(!Txn::is_legacy_format(&plain.encode()));
        let null = txn(5, 6, set_data(None));
        assert_eq!(Txn::decode(&legacy(2, 4, &null), 4).map(|t| t.op), Ok(null.op.clone()));
        assert_eq!(Txn::decode(&legacy(1, 4, &null), 4), Err(TxnDecodeError::TooLong(u64::from(u32::MAX))));
        assert_eq!(Txn::decode(&legacy(0, 4, &null), 4), Err(TxnDecodeError::UnsupportedVersion(0)));
    }

    #[test]
    fn deep_multi_nesting_is_refused() {
        let mut op = TxnOp::Multi(vec![]);
        for _ in 0..MAX_NESTING {
            op = TxnOp::Multi(vec![op]);
        }
        assert_eq!(Txn::decode(&txn(1, 1, op).encode(), 1), Err(TxnDecodeError::TooDeep));
    }
}
