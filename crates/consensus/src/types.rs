//! The Raft type configuration: what a node id, a member, an entry's payload and a write's reply are.
//!
//! Node ids are ZooKeeper's `myid` numbers. Leader ids are openraft's *standard* ones (one leader per term,
//! as in the Raft paper), so a log id is `(term, index)` and the entry envelope needs only the term
//! (docs/format.md, 6.1).

use std::fmt;

use openraft::impls::leader_id_std;
use serde::{Deserialize, Serialize};

/// A member of the cluster as the membership config records it: where its peer port listens, and the rest of
/// its ZooKeeper `server.N` line, so that `/zookeeper/config` can be written from the log alone (a member
/// added by `reconfig` is in no other member's zoo.cfg).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerNode {
    /// `host:port` of the member's Raft (peer) port, from its `server.N` line.
    pub addr: String,
    /// The election port of its `server.N` line (accepted, unused); 0 when not known (a log written before
    /// the line was recorded).
    pub election_port: u16,
    /// The role its `server.N` line asks for: a participant (Raft voter) or an observer (learner). While a
    /// new participant catches up as a learner, or a joint change is under way, some member's role differs
    /// from this; the membership is then not settled.
    pub participant: bool,
    /// `clientAddr:clientPort` of its line, empty when the line has none.
    pub client: String,
}

impl PeerNode {
    /// A participant known only by its peer address.
    pub fn new(addr: impl Into<String>) -> PeerNode {
        PeerNode { addr: addr.into(), election_port: 0, participant: true, client: String::new() }
    }

    /// The right-hand side of the member's `server.N` line, as ZooKeeper writes it in `/zookeeper/config`.
    pub fn server_line(&self) -> String {
        let role = if self.participant { "participant" } else { "observer" };
        let mut line = format!("{}:{}:{role}", self.addr, self.election_port);
        if !self.client.is_empty() {
            line.push(';');
            line.push_str(&self.client);
        }
        line
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
