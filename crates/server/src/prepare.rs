//! Turning write requests into transactions, and transaction results back into replies.
//!
//! Only checks that depend on the request alone happen here (create flags, extended types, standalone
//! `check`); everything that depends on the tree (existence, versions, ACLs) is decided when the txn is
//! applied, so every replica reaches the same outcome. A write refused here still goes through the log as
//! an error txn and takes a zxid, exactly as ZooKeeper's `ErrorTxn` does.

use paddock_proto::{CreateMode, CreateRequest, ErrorCode, MultiOp, MultiResult, OpCode, Request, Response};
use paddock_tree::{TxnOp, TxnResult};

/// How the result of a write is shaped into a reply.
#[derive(Clone, Debug)]
pub enum ReplyKind {
    Create,
    Create2,
    Delete,
    SetData,
    SetAcl,
    Multi(Vec<ReplyKind>),
    /// A multi refused before it ran: answered in multi's per-op error shape.
    MultiRefused(Vec<MultiResult>),
    Check,
    CloseSession,
    /// A write refused before it ran: answered with the error of its error txn.
    Refused,
}

/// A write request, ready to be stamped and logged; or the error to answer at once.
pub enum Prepared {
    Write(TxnOp, ReplyKind),
    /// Answered at once, without a txn (a standalone `check`, which ZooKeeper never logs either).
    Rejected(ErrorCode),
    /// Not a write: served locally.
    NotAWrite,
}

/// The server settings that decide how a request is prepared.
pub struct Options {
    /// `zookeeper.extendedTypesEnabled`: TTL nodes.
    pub extended_types: bool,
    /// `reconfigEnabled`. A member with it handles `reconfig` before preparing requests; a standalone server
    /// with it answers Unimplemented, as ZooKeeper's.
    pub reconfig_enabled: bool,
    /// `enforceQuota`: creates and setData are logged as [`TxnOp::EnforceQuota`] (see `crate::quota`).
    pub enforce_quota: bool,
}

pub fn prepare(req: &Request, options: &Options) -> Prepared {
    let extended_types = options.extended_types;
    match req {
        Request::Multi(ops) => match prepare_multi(ops, extended_types) {
            Prepared::Write(op, kind) => Prepared::Write(crate::quota::wrap(op, options.enforce_quota), kind),
            other => other,
        },
        Request::Check(_) => Prepared::Rejected(ErrorCode::Unimplemented),
        Request::Reconfig(_) if options.reconfig_enabled => refused(ErrorCode::Unimplemented),
        Request::Reconfig(_) => refused(ErrorCode::ReconfigDisabled),
        Request::CloseSession => Prepared::Write(TxnOp::CloseSession, ReplyKind::CloseSession),
        other => match single_write(other, extended_types) {
            Some(Ok((op, kind))) => Prepared::Write(crate::quota::wrap(op, options.enforce_quota), kind),
            Some(Err(code)) => refused(code),
            None => Prepared::NotAWrite,
        },
    }
}

fn single_write(req: &Request, extended_types: bool) -> Option<Result<(TxnOp, ReplyKind), ErrorCode>> {
    Some(match req {
        Request::Create { op, req } => create_op(*op, req, 0, extended_types),
        Request::CreateTtl(r) => {
            let req = CreateRequest { path: r.path.clone(), data: r.data.clone(), acl: r.acl.clone(), flags: r.flags };
            create_op(OpCode::CreateTtl, &req, r.ttl, extended_types)
        }
        Request::Delete(r) => Ok((TxnOp::Delete { path: r.path.clone(), version: r.version }, ReplyKind::Delete)),
        Request::DeleteContainer(r) => {
            Ok((TxnOp::DeleteContainer { path: r.path.clone(), observed_mzxid: None }, ReplyKind::Delete))
        }
        Request::SetData(r) => {
            Ok((TxnOp::SetData { path: r.path.clone(), data: r.data.clone(), version: r.version }, ReplyKind::SetData))
        }
        Request::SetAcl(r) => {
            Ok((TxnOp::SetAcl { path: r.path.clone(), acl: r.acl.clone(), version: r.version }, ReplyKind::SetAcl))
        }
        _ => return None,
    })
}

/// `PrepRequestProcessor`'s request-only create checks: flags must name a mode, the opcode must agree with
/// the mode, and TTL nodes need `extendedTypesEnabled`.
fn create_op(op: OpCode, req: &CreateRequest, ttl: i64, extended_types: bool) -> Result<(TxnOp, ReplyKind), ErrorCode> {
    let mode = CreateMode::from_flags(req.flags)?;
    if mode.is_ttl() && !extended_types {
        return Err(ErrorCode::Unimplemented);
    }
    // EphemeralType.validateTTL: a TTL mode needs the TTL opcode's ttl; any other mode must not carry one.
    let ttl_mismatch = (op == OpCode::CreateTtl) != mode.is_ttl();
    if ttl_mismatch {
        return Err(ErrorCode::BadArguments);
    }
    let kind = if op == OpCode::Create { ReplyKind::Create } else { ReplyKind::Create2 };
    let txn = TxnOp::Create { path: req.path.clone(), data: req.data.clone(), acl: req.acl.clone(), mode, ttl };
    Ok((txn, kind))
}

fn refused(code: ErrorCode) -> Prepared {
    Prepared::Write(TxnOp::Error(code), ReplyKind::Refused)
}

fn prepare_multi(ops: &[MultiOp], extended_types: bool) -> Prepared {
    if ops.iter().any(|op| matches!(op, MultiOp::GetChildren(_) | MultiOp::GetData(_))) {
        // ZooKeeper refuses the whole request while deserializing it.
        return refused(ErrorCode::MarshallingError);
    }
    let mut txns = Vec::with_capacity(ops.len());
    let mut kinds = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        match multi_op(op, extended_types) {
            Ok((txn, kind)) => {
                txns.push(txn);
                kinds.push(kind);
            }
            Err(code) => {
                return Prepared::Write(TxnOp::Error(code), ReplyKind::MultiRefused(multi_failure(ops.len(), i, code)));
            }
        }
    }
    Prepared::Write(TxnOp::Multi(txns), ReplyKind::Multi(kinds))
}

fn multi_op(op: &MultiOp, extended_types: bool) -> Result<(TxnOp, ReplyKind), ErrorCode> {
    let as_request = match op {
        MultiOp::Create { op, req } => Request::Create { op: *op, req: req.clone() },
        MultiOp::CreateTtl(r) => Request::CreateTtl(r.clone()),
        MultiOp::Delete(r) => Request::Delete(r.clone()),
        MultiOp::SetData(r) => Request::SetData(r.clone()),
        MultiOp::Check(r) => {
            return Ok((TxnOp::Check { path: r.path.clone(), version: r.version }, ReplyKind::Check));
        }
        MultiOp::GetChildren(_) | MultiOp::GetData(_) => return Err(ErrorCode::MarshallingError),
    };
    let prepared = single_write(&as_request, extended_types).unwrap_or(Err(ErrorCode::MarshallingError));
    // Inside a multi ZooKeeper answers create2 with a plain create result (only the container and TTL
    // flavours carry a Stat).
    match (op, prepared) {
        (MultiOp::Create { op: OpCode::Create2, .. }, Ok((txn, ReplyKind::Create2))) => Ok((txn, ReplyKind::Create)),
        (_, prepared) => prepared,
    }
}

/// ZooKeeper's shape of a failed multi: ops before the failure report OK, the failing op its code, the
/// ops after it RuntimeInconsistency.
pub fn multi_failure(len: usize, failed: usize, code: ErrorCode) -> Vec<MultiResult> {
    (0..len)
        .map(|i| {
            MultiResult::Error(match i.cmp(&failed) {
                std::cmp::Ordering::Less => ErrorCode::Ok,
                std::cmp::Ordering::Equal => code,
                std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
            })
        })
        .collect()
}

/// Shapes an applied txn's result into the reply its request expects.
pub fn reply_for(kind: &ReplyKind, result: TxnResult) -> Result<Response, ErrorCode> {
    match (kind, result) {
        (ReplyKind::MultiRefused(results), TxnResult::Error(_)) => Ok(Response::Multi(results.clone())),
        (_, TxnResult::Error(code)) => Err(code),
        (ReplyKind::Create, TxnResult::Created { path, .. }) => Ok(Response::Create(path)),
        (ReplyKind::Create2, TxnResult::Created { path, stat }) => Ok(Response::Create2 { path, stat }),
        (ReplyKind::Delete, TxnResult::Deleted) => Ok(Response::Empty),
        (ReplyKind::SetData, TxnResult::SetData(stat)) | (ReplyKind::SetAcl, TxnResult::SetAcl(stat)) => {
            Ok(Response::Stat(stat))
        }
        (ReplyKind::CloseSession, _) => Ok(Response::Empty),
        (ReplyKind::Multi(kinds), TxnResult::Multi(results)) => {
            Ok(Response::Multi(kinds.iter().zip(results).map(|(k, r)| multi_result(k, r)).collect()))
        }
        // A result that does not match its request means the tree and the pipeline disagree: a bug, never
        // the client's fault, so the client gets ZooKeeper's generic server-side error.
        _ => Err(ErrorCode::SystemError),
    }
}

fn multi_result(kind: &ReplyKind, result: TxnResult) -> MultiResult {
    match (kind, result) {
        (_, TxnResult::Error(code)) => MultiResult::Error(code),
        (ReplyKind::Create, TxnResult::Created { path, .. }) => MultiResult::Create(path),
        (ReplyKind::Create2, TxnResult::Created { path, stat }) => MultiResult::Create2 { path, stat },
        (_, TxnResult::Deleted) => MultiResult::Delete,
        (_, TxnResult::SetData(stat)) => MultiResult::SetData(stat),
        (_, TxnResult::Checked) => MultiResult::Check,
        _ => MultiResult::Error(ErrorCode::SystemError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(extended_types: bool) -> Options {
        Options { extended_types, reconfig_enabled: false, enforce_quota: false }
    }
    use paddock_proto::{CheckVersionRequest, DeleteRequest};

    fn create(op: OpCode, flags: i32) -> Request {
        Request::Create { op, req: CreateRequest { path: "/a".into(), data: None, acl: vec![], flags } }
    }

    #[test]
    fn create_flag_checks() {
        let refused = |p: Prepared| match p {
            Prepared::Write(TxnOp::Error(code), ReplyKind::Refused) => Some(code),
            _ => None,
        };
        assert_eq!(refused(prepare(&create(OpCode::Create, 9), &options(false))), Some(ErrorCode::BadArguments));
        assert_eq!(refused(prepare(&create(OpCode::Create, 5), &options(false))), Some(ErrorCode::Unimplemented));
        assert_eq!(refused(prepare(&create(OpCode::Create, 5), &options(true))), Some(ErrorCode::BadArguments));
        assert!(matches!(prepare(&create(OpCode::CreateContainer, 4), &options(false)), Prepared::Write(..)));
        assert!(matches!(prepare(&create(OpCode::CreateContainer, 0), &options(false)), Prepared::Write(..)));
        assert!(matches!(
            prepare(&create(OpCode::Create2, 3), &options(false)),
            Prepared::Write(_, ReplyKind::Create2)
        ));
    }

    #[test]
    fn standalone_check_is_unimplemented_and_multi_failure_shape() {
        let check = Request::Check(CheckVersionRequest { path: "/a".into(), version: 1 });
        assert!(matches!(prepare(&check, &options(false)), Prepared::Rejected(ErrorCode::Unimplemented)));
        let multi = Request::Multi(vec![
            MultiOp::Delete(DeleteRequest { path: "/a".into(), version: -1 }),
            MultiOp::Create {
                op: OpCode::Create,
                req: CreateRequest { path: "/b".into(), data: None, acl: vec![], flags: 42 },
            },
            MultiOp::Delete(DeleteRequest { path: "/c".into(), version: -1 }),
        ]);
        let Prepared::Write(TxnOp::Error(ErrorCode::BadArguments), ReplyKind::MultiRefused(results)) =
            prepare(&multi, &options(false))
        else {
            panic!("expected a refused multi");
        };
        assert_eq!(
            results,
            vec![
                MultiResult::Error(ErrorCode::Ok),
                MultiResult::Error(ErrorCode::BadArguments),
                MultiResult::Error(ErrorCode::RuntimeInconsistency)
            ]
        );
    }
}
