//! Replies, multi results, notifications and the handshake answer, encoded as complete frames.

use bytes::Bytes;

use crate::jute::{DecodeError, JuteReader, JuteWriter, Record};
use crate::records::{ClientInfo, ConnectResponse, MultiHeader, ReplyHeader, WatcherEvent};
use crate::types::{Acl, ErrorCode, OpCode, Stat, xid};

/// The body of a successful reply. Which variant answers which opcode is ZooKeeper's
/// `FinalRequestProcessor` choice; [`Response::decode`] needs the opcode for the same reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// No body: delete, closeSession, setWatches, checkWatches, removeWatches.
    Empty,
    Create(String),
    Create2 {
        path: String,
        stat: Stat,
    },
    /// exists, setData, setACL.
    Stat(Stat),
    /// `data` `None` is a node whose data is null (written as length -1); `dataLength` is 0 either way.
    GetData {
        data: Option<Vec<u8>>,
        stat: Stat,
    },
    GetAcl {
        acl: Vec<Acl>,
        stat: Stat,
    },
    GetChildren(Vec<String>),
    GetChildren2 {
        children: Vec<String>,
        stat: Stat,
    },
    Sync(String),
    /// multi and multiRead.
    Multi(Vec<MultiResult>),
    /// addWatch answers with an `ErrorResponse` record carrying 0.
    ErrorBody(i32),
    GetEphemerals(Vec<String>),
    AllChildrenNumber(i32),
    WhoAmI(Vec<ClientInfo>),
    /// A SASL server's token. `None` is Java's null token (the exchange needs no answer), which clients
    /// tell from an empty one: Java's GSSAPI client answers a zero-length token and fails on a null one.
    Sasl(Option<Vec<u8>>),
}

/// One result inside a multi or multiRead reply (`OpResult`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiResult {
    Create(String),
    Create2 {
        path: String,
        stat: Stat,
    },
    Delete,
    SetData(Stat),
    Check,
    GetChildren(Vec<String>),
    /// As [`Response::GetData`].
    GetData {
        data: Option<Vec<u8>>,
        stat: Stat,
    },
    /// `ErrorCode::Ok` marks ops that would have succeeded in a multi that failed.
    Error(ErrorCode),
}

impl Response {
    pub fn write_to(&self, w: &mut JuteWriter) {
        match self {
            Response::Empty => {}
            Response::Create(path) | Response::Sync(path) => w.write_string(path),
            Response::Create2 { path, stat } => {
                w.write_string(path);
                stat.write_to(w);
            }
            Response::Stat(stat) => stat.write_to(w),
            Response::GetData { data, stat } => {
                w.write_nullable_buffer(data.as_deref());
                stat.write_to(w);
            }
            Response::GetAcl { acl, stat } => {
                w.write_vec(acl, |w, a| a.write_to(w));
                stat.write_to(w);
            }
            Response::GetChildren(children) | Response::GetEphemerals(children) => w.write_strings(children),
            Response::GetChildren2 { children, stat } => {
                w.write_strings(children);
                stat.write_to(w);
            }
            Response::Multi(results) => write_multi_results(w, results),
            Response::ErrorBody(code) | Response::AllChildrenNumber(code) => w.write_i32(*code),
            Response::WhoAmI(infos) => w.write_vec(infos, |w, i| i.write_to(w)),
            // ZooKeeper's SetSASLResponse with no token (a SASL packet it cannot evaluate) holds null.
            Response::Sasl(token) => w.write_nullable_buffer(token.as_deref()),
        }
    }

    /// Decodes a successful reply body to a request with opcode `op` (what a client does).
    pub fn decode(op: OpCode, body: &[u8], max_len: usize) -> Result<Response, DecodeError> {
        let r = &mut JuteReader::new(body, max_len);
        use OpCode as O;
        Ok(match op {
            O::Create => Response::Create(r.read_string()?),
            O::Create2 | O::CreateContainer | O::CreateTtl => {
                Response::Create2 { path: r.read_string()?, stat: Stat::read_from(r)? }
            }
            O::Exists | O::SetData | O::SetAcl => Response::Stat(Stat::read_from(r)?),
            O::GetData => Response::GetData { data: r.read_nullable_buffer()?, stat: Stat::read_from(r)? },
            O::GetAcl => Response::GetAcl { acl: r.read_vec(Acl::read_from)?, stat: Stat::read_from(r)? },
            O::GetChildren => Response::GetChildren(r.read_strings()?),
            O::GetChildren2 => Response::GetChildren2 { children: r.read_strings()?, stat: Stat::read_from(r)? },
            O::Sync => Response::Sync(r.read_string()?),
            O::Multi | O::MultiRead => Response::Multi(read_multi_results(r)?),
            O::AddWatch => Response::ErrorBody(r.read_i32()?),
            O::GetEphemerals => Response::GetEphemerals(r.read_strings()?),
            O::GetAllChildrenNumber => Response::AllChildrenNumber(r.read_i32()?),
            O::WhoAmI => Response::WhoAmI(r.read_vec(ClientInfo::read_from)?),
            O::Sasl => Response::Sasl(r.read_nullable_buffer()?),
            _ => Response::Empty,
        })
    }
}

impl MultiResult {
    fn opcode(&self) -> i32 {
        match self {
            MultiResult::Create(_) => OpCode::Create as i32,
            MultiResult::Create2 { .. } => OpCode::Create2 as i32,
            MultiResult::Delete => OpCode::Delete as i32,
            MultiResult::SetData(_) => OpCode::SetData as i32,
            MultiResult::Check => OpCode::Check as i32,
            MultiResult::GetChildren(_) => OpCode::GetChildren as i32,
            MultiResult::GetData { .. } => OpCode::GetData as i32,
            MultiResult::Error(_) => OpCode::Error as i32,
        }
    }
}

fn write_multi_results(w: &mut JuteWriter, results: &[MultiResult]) {
    for result in results {
        let err = match result {
            MultiResult::Error(code) => code.code(),
            _ => 0,
        };
        MultiHeader { op: result.opcode(), done: false, err }.write_to(w);
        match result {
            MultiResult::Create(path) => w.write_string(path),
            MultiResult::Create2 { path, stat } => {
                w.write_string(path);
                stat.write_to(w);
            }
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::SetData(stat) => stat.write_to(w),
            MultiResult::GetChildren(children) => w.write_strings(children),
            MultiResult::GetData { data, stat } => {
                w.write_nullable_buffer(data.as_deref());
                stat.write_to(w);
            }
            MultiResult::Error(code) => w.write_i32(code.code()),
        }
    }
    MultiHeader { op: -1, done: true, err: -1 }.write_to(w);
}

fn read_multi_results(r: &mut JuteReader<'_>) -> Result<Vec<MultiResult>, DecodeError> {
    let mut results = Vec::new();
    loop {
        let header = MultiHeader::read_from(r)?;
        if header.done {
            return Ok(results);
        }
        use OpCode as O;
        results.push(match OpCode::from_i32(header.op) {
            Some(O::Create) => MultiResult::Create(r.read_string()?),
            Some(O::Create2) => MultiResult::Create2 { path: r.read_string()?, stat: Stat::read_from(r)? },
            Some(O::Delete) => MultiResult::Delete,
            Some(O::SetData) => MultiResult::SetData(Stat::read_from(r)?),
            Some(O::Check) => MultiResult::Check,
            Some(O::GetChildren) => MultiResult::GetChildren(r.read_strings()?),
            Some(O::GetData) => MultiResult::GetData { data: r.read_nullable_buffer()?, stat: Stat::read_from(r)? },
            Some(O::Error) => {
                let code = r.read_i32()?;
                MultiResult::Error(ErrorCode::from_i32(code).unwrap_or(ErrorCode::SystemError))
            }
            _ => return Err(DecodeError::InvalidMultiOp(header.op)),
        });
    }
}

/// A reply frame. ZooKeeper sends no body when `err` is set, whatever the opcode.
pub fn encode_reply(header: &ReplyHeader, body: Option<&Response>) -> Bytes {
    let mut w = JuteWriter::framed();
    header.write_to(&mut w);
    if header.err == 0
        && let Some(body) = body
    {
        body.write_to(&mut w);
    }
    w.into_frame()
}

/// A watch notification: xid -1, the zxid of the change that fired it, and the event.
pub fn encode_notification(zxid: i64, event: &WatcherEvent) -> Bytes {
    let mut w = JuteWriter::framed();
    ReplyHeader { xid: xid::NOTIFICATION, zxid, err: 0 }.write_to(&mut w);
    event.write_to(&mut w);
    w.into_frame()
}

pub fn encode_connect_response(resp: &ConnectResponse) -> Bytes {
    let mut w = JuteWriter::framed();
    resp.write_to(&mut w);
    w.into_frame()
}
