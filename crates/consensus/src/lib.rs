//! Paddock's Raft layer, the only crate that imports openraft: the log storage on the WAL
//! ([`LogStore`]), the state machine on the data tree ([`StateMachine`]) and the seam through which the
//! server learns of every applied entry ([`applied`]).
//!
//! The on-disk layout added here, the entry envelope inside WAL records and the meta file, is specified
//! in `docs/format.md`, 6.

pub mod applied;
mod envelope;
mod failpoint;
mod log_store;
mod meta;
pub mod network;
pub mod replica;
mod seed;
mod snapshot_dir;
mod state_machine;
pub mod transport;
mod types;

pub use applied::{
    APPLIED_QUEUE, AppliedEntry, AppliedEvent, AppliedReceiver, AppliedSender, TxnApplied, applied_channel,
};
pub use envelope::applied_txn;
#[cfg(feature = "failpoints")]
pub use failpoint::set_failpoint_scope;
pub use log_store::{LogFlush, LogReader, LogStore, WriterExit};
/// openraft itself, for the server's wiring (config, network traits, errors) until that moves in here.
pub use openraft;
pub use seed::seed_member;
pub use state_machine::{Snapshot, SnapshotBuilder, SnapshotBytes, StateMachine, TreeHandle};
pub use types::{ApplyReply, Entry, LogId, Membership, PeerNode, Raft, TxnBytes, TypeConfig, Vote, log_id, term_of};
