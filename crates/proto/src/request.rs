//! Requests as the server sees them: one enum variant per opcode, decoded from a frame body.

use crate::jute::{DecodeError, JuteReader, JuteWriter, Record};
use crate::records::*;
use crate::types::OpCode;

/// A decoded client request (everything after the [`RequestHeader`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// create, create2 and createContainer share one body; `op` says which was sent.
    Create {
        op: OpCode,
        req: CreateRequest,
    },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    DeleteContainer(PathRequest),
    Exists(PathWatchRequest),
    GetData(PathWatchRequest),
    SetData(SetDataRequest),
    GetAcl(PathRequest),
    SetAcl(SetAclRequest),
    GetChildren(PathWatchRequest),
    GetChildren2(PathWatchRequest),
    Sync(PathRequest),
    Check(CheckVersionRequest),
    Multi(Vec<MultiOp>),
    MultiRead(Vec<MultiOp>),
    Reconfig(ReconfigRequest),
    CheckWatches(WatchesRequest),
    RemoveWatches(WatchesRequest),
    SetWatches(SetWatches),
    SetWatches2(SetWatches),
    AddWatch(AddWatchRequest),
    GetEphemerals(PathRequest),
    GetAllChildrenNumber(PathRequest),
    WhoAmI,
    Ping,
    CloseSession,
    Auth(AuthPacket),
    Sasl(SaslRequest),
}

/// One op of a multi or multiRead (`MultiOperationRecord`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiOp {
    Create { op: OpCode, req: CreateRequest },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetChildren(PathWatchRequest),
    GetData(PathWatchRequest),
}

impl Request {
    /// Decodes the body of a request with opcode `op`. Fields beyond the record are ignored, as ZooKeeper
    /// does; `max_len` bounds every length inside.
    pub fn decode(op: i32, body: &[u8], max_len: usize) -> Result<Request, DecodeError> {
        let code = OpCode::from_i32(op).ok_or(DecodeError::UnknownOpCode(op))?;
        let r = &mut JuteReader::new(body, max_len);
        use OpCode as O;
        Ok(match code {
            O::Create | O::Create2 | O::CreateContainer => {
                Request::Create { op: code, req: CreateRequest::read_from(r)? }
            }
            O::CreateTtl => Request::CreateTtl(CreateTtlRequest::read_from(r)?),
            O::Delete => Request::Delete(DeleteRequest::read_from(r)?),
            O::DeleteContainer => Request::DeleteContainer(PathRequest::read_from(r)?),
            O::Exists => Request::Exists(PathWatchRequest::read_from(r)?),
            O::GetData => Request::GetData(PathWatchRequest::read_from(r)?),
            O::SetData => Request::SetData(SetDataRequest::read_from(r)?),
            O::GetAcl => Request::GetAcl(PathRequest::read_from(r)?),
            O::SetAcl => Request::SetAcl(SetAclRequest::read_from(r)?),
            O::GetChildren => Request::GetChildren(PathWatchRequest::read_from(r)?),
            O::GetChildren2 => Request::GetChildren2(PathWatchRequest::read_from(r)?),
            O::Sync => Request::Sync(PathRequest::read_from(r)?),
            O::Check => Request::Check(CheckVersionRequest::read_from(r)?),
            O::Multi => Request::Multi(read_multi(r)?),
            O::MultiRead => Request::MultiRead(read_multi(r)?),
            O::Reconfig => Request::Reconfig(ReconfigRequest::read_from(r)?),
            O::CheckWatches => Request::CheckWatches(WatchesRequest::read_from(r)?),
            O::RemoveWatches => Request::RemoveWatches(WatchesRequest::read_from(r)?),
            O::SetWatches => Request::SetWatches(SetWatches::read_from(r, false)?),
            O::SetWatches2 => Request::SetWatches2(SetWatches::read_from(r, true)?),
            O::AddWatch => Request::AddWatch(AddWatchRequest::read_from(r)?),
            O::GetEphemerals => Request::GetEphemerals(PathRequest::read_from(r)?),
            O::GetAllChildrenNumber => Request::GetAllChildrenNumber(PathRequest::read_from(r)?),
            O::WhoAmI => Request::WhoAmI,
            O::Ping => Request::Ping,
            O::CloseSession => Request::CloseSession,
            O::Auth => Request::Auth(AuthPacket::read_from(r)?),
            O::Sasl => Request::Sasl(SaslRequest::read_from(r)?),
            O::Notification | O::CreateSession | O::Error => {
                return Err(DecodeError::UnknownOpCode(op));
            }
        })
    }

    pub fn opcode(&self) -> OpCode {
        match self {
            Request::Create { op, .. } => *op,
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::Delete(_) => OpCode::Delete,
            Request::DeleteContainer(_) => OpCode::DeleteContainer,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::Sync(_) => OpCode::Sync,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::Ping => OpCode::Ping,
            Request::CloseSession => OpCode::CloseSession,
            Request::Auth(_) => OpCode::Auth,
            Request::Sasl(_) => OpCode::Sasl,
        }
    }

    /// Encodes the request as a complete frame with header `xid`, as a client sends it.
    pub fn encode(&self, xid: i32) -> bytes::Bytes {
        let mut w = JuteWriter::framed();
        RequestHeader { xid, op: self.opcode() as i32 }.write_to(&mut w);
        self.write_body(&mut w);
        w.into_frame()
    }

    fn write_body(&self, w: &mut JuteWriter) {
        match self {
            Request::Create { req, .. } => req.write_to(w),
            Request::CreateTtl(r) => r.write_to(w),
            Request::Delete(r) => r.write_to(w),
            Request::DeleteContainer(r)
            | Request::GetAcl(r)
            | Request::Sync(r)
            | Request::GetEphemerals(r)
            | Request::GetAllChildrenNumber(r) => r.write_to(w),
            Request::Exists(r) | Request::GetData(r) | Request::GetChildren(r) | Request::GetChildren2(r) => {
                r.write_to(w)
            }
            Request::SetData(r) => r.write_to(w),
            Request::SetAcl(r) => r.write_to(w),
            Request::Check(r) => r.write_to(w),
            Request::Multi(ops) | Request::MultiRead(ops) => write_multi(w, ops),
            Request::Reconfig(r) => r.write_to(w),
            Request::CheckWatches(r) | Request::RemoveWatches(r) => r.write_to(w),
            Request::SetWatches(r) => r.write_to(w, false),
            Request::SetWatches2(r) => r.write_to(w, true),
            Request::AddWatch(r) => r.write_to(w),
            Request::Auth(r) => r.write_to(w),
            Request::Sasl(r) => r.write_to(w),
            Request::WhoAmI | Request::Ping | Request::CloseSession => {}
        }
    }
}

impl MultiOp {
    pub fn opcode(&self) -> OpCode {
        match self {
            MultiOp::Create { op, .. } => *op,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
            MultiOp::GetData(_) => OpCode::GetData,
        }
    }

    fn read_from(op: i32, r: &mut JuteReader<'_>) -> Result<MultiOp, DecodeError> {
        use OpCode as O;
        Ok(match OpCode::from_i32(op) {
            Some(code @ (O::Create | O::Create2 | O::CreateContainer)) => {
                MultiOp::Create { op: code, req: CreateRequest::read_from(r)? }
            }
            Some(O::CreateTtl) => MultiOp::CreateTtl(CreateTtlRequest::read_from(r)?),
            Some(O::Delete) => MultiOp::Delete(DeleteRequest::read_from(r)?),
            Some(O::SetData) => MultiOp::SetData(SetDataRequest::read_from(r)?),
            Some(O::Check) => MultiOp::Check(CheckVersionRequest::read_from(r)?),
            Some(O::GetChildren) => MultiOp::GetChildren(PathWatchRequest::read_from(r)?),
            Some(O::GetData) => MultiOp::GetData(PathWatchRequest::read_from(r)?),
            _ => return Err(DecodeError::InvalidMultiOp(op)),
        })
    }

    fn write_to(&self, w: &mut JuteWriter) {
        match self {
            MultiOp::Create { req, .. } => req.write_to(w),
            MultiOp::CreateTtl(r) => r.write_to(w),
            MultiOp::Delete(r) => r.write_to(w),
            MultiOp::SetData(r) => r.write_to(w),
            MultiOp::Check(r) => r.write_to(w),
            MultiOp::GetChildren(r) | MultiOp::GetData(r) => r.write_to(w),
        }
    }
}

/// Ops follow each other, each behind a [`MultiHeader`], until a header with `done` set.
fn read_multi(r: &mut JuteReader<'_>) -> Result<Vec<MultiOp>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let header = MultiHeader::read_from(r)?;
        if header.done {
            return Ok(ops);
        }
        ops.push(MultiOp::read_from(header.op, r)?);
    }
}

fn write_multi(w: &mut JuteWriter, ops: &[MultiOp]) {
    for op in ops {
        MultiHeader { op: op.opcode() as i32, done: false, err: -1 }.write_to(w);
        op.write_to(w);
    }
    MultiHeader { op: -1, done: true, err: -1 }.write_to(w);
}
