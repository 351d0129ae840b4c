//! Transactions as ZooKeeper logs them (`SerializeUtils.deserializeTxn`): a `TxnHeader`, the record its
//! type calls for, and (3.6+) the `TxnDigest` of the tree right after the transaction.

use crate::jute::{Acl, ReadError, Reader};

/// `ZooDefs.OpCode` values that appear in logs.
pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const SET_DATA: i32 = 5;
    pub const SET_ACL: i32 = 7;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// `TxnHeader`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnHeader {
    /// The session the transaction is for.
    pub client_id: i64,
    pub cxid: i32,
    pub zxid: i64,
    /// The leader's clock when it proposed the transaction, ms since the epoch.
    pub time: i64,
    pub kind: i32,
}

/// One transaction's effect, as `DataTree.processTxn` receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Txn {
    /// `create`/`create2` (`CreateTxn`; a V0 log's `CreateTxnV0` reads with `parent_cversion` -1),
    /// `createContainer` and `createTTL`: `owner` is the ephemeral owner the node gets.
    Create {
        path: String,
        data: Option<Vec<u8>>,
        acl: Option<Vec<Acl>>,
        owner: Owner,
        parent_cversion: i32,
    },
    Delete {
        path: String,
    },
    /// `setData`, and `reconfig` (which sets `/zookeeper/config`): `version` is the new version.
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Option<Vec<Acl>>,
        version: i32,
    },
    CreateSession {
        timeout_ms: i32,
    },
    /// `paths` is `None` in logs older than `CloseSessionTxn` (3.6).
    CloseSession {
        paths: Option<Vec<String>>,
    },
    Error {
        code: i32,
    },
    Check {
        path: String,
    },
    Multi(Vec<(i32, Txn)>),
}

/// Who owns a node a create makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Persistent (`create` with `ephemeral` false).
    None,
    /// The session in the header (`create` with `ephemeral` true).
    Session,
    Container,
    Ttl(i64),
}

/// A logged transaction: header, record and, when the log has one, the tree digest after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedTxn {
    pub header: TxnHeader,
    pub txn: Txn,
    /// `TxnDigest { version, treeDigest }`.
    pub digest: Option<(i32, i64)>,
}

/// Decodes one log entry's bytes. Offsets in errors are relative to the entry's first byte.
pub fn decode(bytes: &[u8]) -> Result<LoggedTxn, ReadError> {
    let mut r = Reader::new(bytes);
    let header = TxnHeader { client_id: r.i64()?, cxid: r.i32()?, zxid: r.i64()?, time: r.i64()?, kind: r.i32()? };
    let body = &bytes[r.offset() as usize..];
    let (txn, used) = match record(header.kind, body, true) {
        Ok(decoded) => decoded,
        Err(ReadError::Bad { offset, what }) => {
            return Err(ReadError::Bad { offset: offset + r.offset(), what });
        }
        Err(ReadError::Eof { offset }) => return Err(ReadError::Eof { offset: offset + r.offset() }),
        Err(e) => return Err(e),
    };
    // `TxnDigest`, when the writer had digests on; its absence reads as EOF, as in ZooKeeper.
    let mut rest = Reader::new(&body[used..]);
    let digest = match (rest.i32(), rest.i64()) {
        (Ok(version), Ok(value)) => Some((version, value)),
        _ => None,
    };
    Ok(LoggedTxn { header, txn, digest })
}

/// The record of type `kind` at the start of `bytes`, and how many bytes it took. `top` is whether this is
/// a whole transaction (a `create` may then be V0, a `closeSession` may be empty).
fn record(kind: i32, bytes: &[u8], top: bool) -> Result<(Txn, usize), ReadError> {
    let mut r = Reader::new(bytes);
    let txn = match kind {
        op::CREATE | op::CREATE2 => {
            let path = r.path()?;
            let data = r.buffer()?;
            let acl = r.acl_list()?;
            let ephemeral = r.bool()?;
            let parent_cversion = match r.i32() {
                Ok(v) => v,
                // `CreateTxnV0` (3.2 and older) has no parentCVersion: -1 asks for the parent's plus one.
                Err(ReadError::Eof { .. }) if top && kind == op::CREATE => -1,
                Err(e) => return Err(e),
            };
            let owner = if ephemeral { Owner::Session } else { Owner::None };
            Txn::Create { path, data, acl, owner, parent_cversion }
        }
        op::CREATE_CONTAINER => {
            let (path, data, acl) = (r.path()?, r.buffer()?, r.acl_list()?);
            Txn::Create { path, data, acl, owner: Owner::Container, parent_cversion: r.i32()? }
        }
        op::CREATE_TTL => {
            let (path, data, acl, parent_cversion) = (r.path()?, r.buffer()?, r.acl_list()?, r.i32()?);
            Txn::Create { path, data, acl, owner: Owner::Ttl(r.i64()?), parent_cversion }
        }
        op::DELETE | op::DELETE_CONTAINER => Txn::Delete { path: r.path()? },
        op::SET_DATA | op::RECONFIG => Txn::SetData { path: r.path()?, data: r.buffer()?, version: r.i32()? },
        op::SET_ACL => Txn::SetAcl { path: r.path()?, acl: r.acl_list()?, version: r.i32()? },
        op::CREATE_SESSION => Txn::CreateSession { timeout_ms: r.i32()? },
        op::CLOSE_SESSION => match r.string_list() {
            Ok(paths) => Txn::CloseSession { paths },
            Err(ReadError::Eof { .. }) if top => Txn::CloseSession { paths: None },
            Err(e) => return Err(e),
        },
        op::ERROR => Txn::Error { code: r.i32()? },
        op::CHECK if !top => {
            let path = r.path()?;
            r.i32()?;
            Txn::Check { path }
        }
        op::MULTI if top => {
            let at = r.offset();
            let count = r.i32()?;
            if count < 0 {
                return Err(r.bad(at, format!("a multi of {count} operations")));
            }
            let mut ops = Vec::new();
            for _ in 0..count {
                let at = r.offset();
                let sub_kind = r.i32()?;
                let sub = r.buffer()?.unwrap_or_default();
                let (txn, _) = record(sub_kind, &sub, false).map_err(|e| match e {
                    ReadError::Bad { what, .. } => r.bad(at, format!("in a multi: {what}")),
                    ReadError::Eof { .. } => r.bad(at, format!("in a multi: a truncated operation of type {sub_kind}")),
                    other => other,
                })?;
                ops.push((sub_kind, txn));
            }
            Txn::Multi(ops)
        }
        other => {
            let place = if top { "transaction" } else { "operation inside a multi" };
            return Err(r.bad(0, format!("unknown {place} type {other}")));
        }
    };
    Ok((txn, r.offset() as usize))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::jute::Writer;

    /// The bytes ZooKeeper logs for a transaction (header, record, digest).
    pub(crate) fn encode(header: &TxnHeader, record: &[u8], digest: Option<i64>) -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        w.i64(header.client_id).unwrap();
        w.i32(header.cxid).unwrap();
        w.i64(header.zxid).unwrap();
        w.i64(header.time).unwrap();
        w.i32(header.kind).unwrap();
        w.raw(record).unwrap();
        if let Some(d) = digest {
            w.i32(2).unwrap();
            w.i64(d).unwrap();
        }
        w.into_inner()
    }

    pub(crate) fn create_record(path: &str, data: &[u8], ephemeral: bool, parent_cversion: i32) -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        w.string(path).unwrap();
        w.buffer(Some(data)).unwrap();
        w.acl_list(&[Acl { perms: 31, scheme: "world".into(), id: "anyone".into() }]).unwrap();
        w.raw(&[u8::from(ephemeral)]).unwrap();
        w.i32(parent_cversion).unwrap();
        w.into_inner()
    }

    fn header(kind: i32) -> TxnHeader {
        TxnHeader { client_id: 0x42, cxid: 1, zxid: 7, time: 1000, kind }
    }

    #[test]
    fn a_create_with_its_digest() {
        let bytes = encode(&header(op::CREATE), &create_record("/a", b"x", true, 3), Some(99));
        let logged = decode(&bytes).unwrap();
        assert_eq!(logged.header, header(op::CREATE));
        assert_eq!(logged.digest, Some((2, 99)));
        let Txn::Create { path, data, owner, parent_cversion, .. } = logged.txn else { panic!("{:?}", logged.txn) };
        assert_eq!(
            (path.as_str(), data.as_deref(), owner, parent_cversion),
            ("/a", Some(&b"x"[..]), Owner::Session, 3)
        );
    }

    #[test]
    fn a_v0_create_and_an_old_close_session_read_as_zookeeper_reads_them() {
        let mut v0 = create_record("/a", b"", false, 0);
        v0.truncate(v0.len() - 4);
        let logged = decode(&encode(&header(op::CREATE), &v0, None)).unwrap();
        assert!(matches!(logged.txn, Txn::Create { parent_cversion: -1, .. }), "{:?}", logged.txn);
        let logged = decode(&encode(&header(op::CLOSE_SESSION), &[], None)).unwrap();
        assert_eq!(logged.txn, Txn::CloseSession { paths: None });
        assert_eq!(logged.digest, None);
    }

    #[test]
    fn a_multi_and_its_operations() {
        let mut w = Writer::new(Vec::new());
        w.i32(2).unwrap();
        w.i32(op::CREATE).unwrap();
        w.buffer(Some(&create_record("/m", b"", false, 1))).unwrap();
        w.i32(op::CHECK).unwrap();
        let mut check = Writer::new(Vec::new());
        check.string("/m").unwrap();
        check.i32(0).unwrap();
        w.buffer(Some(&check.into_inner())).unwrap();
        let logged = decode(&encode(&header(op::MULTI), &w.into_inner(), Some(5))).unwrap();
        let Txn::Multi(ops) = logged.txn else { panic!() };
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[1], (op::CHECK, Txn::Check { path: "/m".into() }));
        assert_eq!(logged.digest, Some((2, 5)));
    }

    #[test]
    fn unknown_types_are_refused() {
        let error = decode(&encode(&header(99), &[], None)).unwrap_err();
        assert!(error.to_string().contains("unknown transaction type 99"), "{error}");
    }
}
