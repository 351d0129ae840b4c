//! A tree plus a leader's clock and log index: each call applies the txn as the next entry and moves time
//! on by one second, as a log of real requests would.
#![allow(dead_code)]

use paddock_proto::{Acl, CreateMode, ErrorCode, Id, Stat};
use paddock_tree::{Applied, DataTree, ProposalId, Txn, TxnOp, TxnResult};

pub const T0: i64 = 1_700_000_000_000;

pub struct Leader {
    pub tree: DataTree,
    pub zxid: i64,
    pub time: i64,
}

impl Leader {
    pub fn new() -> Leader {
        Leader { tree: DataTree::new(), zxid: 0, time: T0 }
    }

    /// The next entry's zxid and txn.
    pub fn txn(&mut self, session_id: i64, auth: &[Id], op: TxnOp) -> (i64, Txn) {
        self.zxid += 1;
        self.time += 1000;
        (self.zxid, Txn { origin: ProposalId::default(), time: self.time, session_id, auth: auth.to_vec(), op })
    }

    pub fn run_as(&mut self, session_id: i64, auth: &[Id], op: TxnOp) -> Applied {
        let (zxid, txn) = self.txn(session_id, auth, op);
        self.tree.apply(zxid, &txn)
    }

    /// Applies `op` for `session_id` as proposed by server `node`.
    pub fn run_on(&mut self, node: u64, session_id: i64, op: TxnOp) -> TxnResult {
        let (zxid, txn) = self.txn(session_id, &[], op);
        self.tree.apply(zxid, &Txn { origin: ProposalId { node, seq: zxid as u64 }, ..txn }).result
    }

    pub fn run(&mut self, op: TxnOp) -> TxnResult {
        self.run_as(0, &[], op).result
    }

    /// Opens a session and returns the id the tree allocated.
    pub fn open_session(&mut self) -> i64 {
        match self.run_as(0, &[], TxnOp::CreateSession { timeout_ms: 30_000, passwd: [7; 16] }).result {
            TxnResult::SessionCreated(id) => id,
            other => panic!("session creation failed: {other:?}"),
        }
    }

    /// Creates a node and returns the created path, panicking on failure (setup only).
    pub fn mk(&mut self, path: &str, mode: CreateMode) -> String {
        match self.run_as(0, &[], create_op(path, b"", Acl::open_unsafe(), mode)).result {
            TxnResult::Created { path, .. } => path,
            other => panic!("setup create {path} failed: {other:?}"),
        }
    }

    pub fn mk_with_acl(&mut self, path: &str, acl: Vec<Acl>) {
        let result = self.run(create_op(path, b"", acl, CreateMode::Persistent));
        assert!(matches!(result, TxnResult::Created { .. }), "setup create {path}: {result:?}");
    }

    pub fn stat(&self, path: &str) -> Stat {
        self.tree.stat(path).unwrap_or_else(|| panic!("{path} should exist"))
    }
}

pub fn create_op(path: &str, data: &[u8], acl: Vec<Acl>, mode: CreateMode) -> TxnOp {
    TxnOp::Create { path: path.to_string(), data: Some(data.to_vec()), acl, mode, ttl: 0 }
}

pub fn create(path: &str) -> TxnOp {
    create_op(path, b"", Acl::open_unsafe(), CreateMode::Persistent)
}

pub fn delete(path: &str, version: i32) -> TxnOp {
    TxnOp::Delete { path: path.to_string(), version }
}

pub fn set_data(path: &str, data: &[u8], version: i32) -> TxnOp {
    TxnOp::SetData { path: path.to_string(), data: Some(data.to_vec()), version }
}

pub fn set_acl(path: &str, acl: Vec<Acl>, version: i32) -> TxnOp {
    TxnOp::SetAcl { path: path.to_string(), acl, version }
}

pub fn check(path: &str, version: i32) -> TxnOp {
    TxnOp::Check { path: path.to_string(), version }
}

pub fn err(code: ErrorCode) -> TxnResult {
    TxnResult::Error(code)
}

pub fn digest_user(user_password: &str) -> Id {
    Id::new("digest", paddock_tree::acl::digest_id(user_password))
}
