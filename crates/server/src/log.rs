//! The seam between the request pipeline and durability.
//!
//! The core hands every stamped [`Txn`] to a [`TxnLog`] and applies it to the tree only once the log reports
//! it durable (a `Durable(zxid)` event covering it). The in-memory log reports at once; the write-ahead log
//! reports after the fsync that covers a whole batch (group commit); the consensus log will report on commit.
//! Because the core never applies anything the log has not confirmed, a client is never told "done" for a
//! write that could be lost.

use paddock_tree::Txn;
use tokio::sync::mpsc::UnboundedSender;

/// What the log tells the core.
#[derive(Debug)]
pub enum LogEvent {
    /// Every txn with a zxid up to and including this one is durable.
    Durable(i64),
    /// The log could not make txns durable. Every txn after `last_durable` is discarded and must be failed
    /// back to its client; the log accepts appends again (from `last_durable + 1`) once `retry` succeeds.
    Failed { last_durable: i64, error: String },
    /// How long one fsync took (`zk_*_fsynctime`, the WAL fsync latency metric).
    FsyncTime(std::time::Duration),
}

/// Where stamped transactions go before they are applied.
pub trait TxnLog: Send {
    /// Hands a txn over. Must not block on I/O: durability is reported later through the event channel.
    fn append(&mut self, txn: &Txn);

    /// Called after the core has handled a `Failed` event: appends continue from `last_durable + 1`.
    fn resume(&mut self) {}
}

/// No disk: every txn is durable the moment it is appended.
pub struct MemoryLog {
    events: UnboundedSender<LogEvent>,
}

impl MemoryLog {
    pub fn new(events: UnboundedSender<LogEvent>) -> Self {
        MemoryLog { events }
    }
}

impl TxnLog for MemoryLog {
    fn append(&mut self, txn: &Txn) {
        // The receiver lives as long as the core; a send failure means the server is shutting down.
        let _ = self.events.send(LogEvent::Durable(txn.zxid));
    }
}
