//! ZooKeeper's `DataTree`, pure and deterministic.
//!
//! Every write reaches the tree as a [`Txn`] — the request plus what the leader stamped on it (wall clock,
//! session, the caller's auth ids) — at its zxid, the index of the log entry that carries it, and goes
//! through the one function [`DataTree::apply`]. All the
//! checks ZooKeeper's `PrepRequestProcessor` makes against the tree (existence, ACLs, versions) happen there,
//! in ZooKeeper's order, so every replica that applies the same log reaches the same state and the same
//! error codes. Nothing here reads a clock, touches a disk or knows about connections.
//!
//! The tree is built from persistent (`imbl`) maps: `clone()` is O(1), which is how snapshots are taken
//! from a frozen copy while writes continue, and how `multi` stays atomic.
//!
//! Byte formats (the [`Txn`] payload and the snapshot body) are specified in `docs/tree-format.md`.

pub mod acl;
mod acl_cache;
mod apply;
mod builder;
mod containers;
pub mod diff;
mod digest;
pub mod ephemeral;
mod node;
pub mod path;
mod quota;
pub mod restore;
mod snapshot;
mod tree;
mod txn;
mod wire;

pub use apply::EntryError;
pub use builder::TreeBuilder;
pub use node::{Node, StatPersisted};
pub use quota::{QuotaExceeded, QuotaMetrics};
pub use snapshot::{SNAPSHOT_FORMAT_VERSION, SnapshotError};
pub use tree::{CONFIG_PATH, DataTree, Session};
pub use txn::{Applied, ProposalId, TXN_FORMAT_VERSION, Txn, TxnDecodeError, TxnOp, TxnResult, WatchTrigger};
