//! The Raft type configuration: what a node id, a member, an entry's payload and a write's reply are.
//!
//! Node ids are ZooKeeper's `myid` numbers. Leader ids are openraft's *standard* ones (one leader per term,
//! as in the Raft paper), so a log id is `(term, index)` and the entry envelope needs only the term
//! (docs/format.md, 6.1).

use std::fmt;

use openraft::impls::leader_id_std;
use serde::{Deserialize, Serialize};

/// A member of the cluster as the membership config records it: where its peer port listens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerNode {
    /// `host:port` of the member's Raft (peer) port, from its `server.N` line.
    pub addr: String,
}

impl PeerNode {
    pub fn new(addr: impl Into<String>) -> PeerNode {
        PeerNode { addr: addr.into() }
    }
}

impl fmt::Display for PeerNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.addr)
    }
}

/// A normal entry's payload: one encoded `paddock_tree::Txn`. Opaque to consensus; the state machine hands
/// it to `DataTree::apply_entry` with the entry's log index as the zxid.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnBytes(pub Vec<u8>);

impl fmt::Display for TxnBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "txn({} bytes)", self.0.len())
    }
}

/// What `client_write` returns on the leader once the entry is applied there: its log index, which is the
/// txn's zxid. The txn's outcome reaches the server through the applied-entries channel instead
/// (`crate::applied`), on every node, since the node holding the client's connection may be a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReply {
    pub index: u64,
}

openraft::declare_raft_types!(
    /// Paddock's Raft types.
    pub TypeConfig:
        D = TxnBytes,
        R = ApplyReply,
        NodeId = u64,
        Node = PeerNode,
        Term = u64,
        LeaderId = leader_id_std::LeaderId<u64, u64>,
        Vote = openraft::impls::Vote<Self::LeaderId>,
);

pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
pub type Membership = openraft::Membership<u64, PeerNode>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
pub type Raft<SM> = openraft::Raft<TypeConfig, SM>;

/// A log id from its term and index.
pub fn log_id(term: u64, index: u64) -> LogId {
    LogId::new_term_index(term, index)
}

/// The term of a log id.
pub fn term_of(id: &LogId) -> u64 {
    id.leader_id.term
}
