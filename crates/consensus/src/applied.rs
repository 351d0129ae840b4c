//! The seam between consensus and the server: every entry the state machine applies, on every node, in log
//! order. The server answers the clients whose proposals these are (matching `Txn::origin`), fires the
//! watches in `Applied::triggers`, and learns of membership changes and snapshot installs here.

use std::collections::{BTreeMap, BTreeSet};

use paddock_tree::{Applied, EntryError, Txn};
use tokio::sync::mpsc;

/// How many applied entries may wait for the server. When the server falls this far behind, apply waits
/// for it instead of queueing without limit; the bound is a few of openraft's apply batches (at most
/// `max_payload_entries`, 300 by default, per batch), so apply keeps streaming while the server catches up.
pub const APPLIED_QUEUE: usize = 4096;

/// One applied entry. `index` is the Raft log index, which is the zxid of a txn.
#[derive(Debug)]
pub struct AppliedEntry {
    pub index: u64,
    pub term: u64,
    pub event: AppliedEvent,
}

#[derive(Debug)]
pub enum AppliedEvent {
    /// A txn applied to the tree at zxid `index`, with its result and the watch events it fires.
    Txn(Box<TxnApplied>),
    /// A normal entry the tree refused (it does not decode or goes back in time). Every replica refuses the
    /// same bytes the same way, so the entry is skipped everywhere; the server answers its proposer with
    /// an error.
    Refused(EntryError),
    /// A new leader's first entry; nothing changes in the tree.
    Blank,
    /// A membership change: the voter sets (two during a joint change) and every member with its peer
    /// address, learners (ZooKeeper's observers) included.
    Membership { voters: Vec<BTreeSet<u64>>, nodes: BTreeMap<u64, String> },
    /// The tree was replaced by a snapshot up to `index`: watches on this server may have missed events,
    /// so the server closes its client connections and clients re-send their watches.
    SnapshotInstalled,
}

/// A txn and what applying it did (boxed in `AppliedEvent`: it is much larger than the other events).
#[derive(Debug)]
pub struct TxnApplied {
    pub txn: Txn,
    pub applied: Applied,
}

/// The state machine's end of the channel.
#[derive(Clone, Debug)]
pub struct AppliedSender(mpsc::Sender<AppliedEntry>);

/// The server's end of the channel.
pub type AppliedReceiver = mpsc::Receiver<AppliedEntry>;

/// A channel of `APPLIED_QUEUE` entries.
pub fn applied_channel() -> (AppliedSender, AppliedReceiver) {
    let (tx, rx) = mpsc::channel(APPLIED_QUEUE);
    (AppliedSender(tx), rx)
}

impl AppliedSender {
    /// Waits while the queue is full. A receiver that is gone (the server is shutting down) is not an
    /// error for consensus: the tree still has to follow the log.
    pub(crate) async fn send(&self, entry: AppliedEntry) {
        let _ = self.0.send(entry).await;
    }
}
