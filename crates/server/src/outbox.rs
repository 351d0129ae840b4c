//! A connection's outbox, bounded in bytes, and the server-wide count of requests in flight.
//!
//! The core never waits on a connection: one client that stops reading must not stall everyone else. So
//! the outbox is a channel the core can always push to, bounded instead by the bytes it holds: a frame that
//! would take a connection's queued bytes past `paddock.maxOutboxBytes` is not queued (unless the outbox is
//! empty: a single reply always goes), the connection is
//! marked overflowed, and its task closes it without flushing (the client is not reading, so a flush would
//! never end). Every item is a frame of at least one byte or the single `Close`, so the byte bound also
//! bounds the number of items.
//!
//! The same handle counts the connection's requests in flight, from the moment its reader hands one to
//! the core until the core queues its reply, for `globalOutstandingLimit` (ZooKeeper's
//! `ServerCnxn.incrOutstandingAndCheckThrottle` / `decrOutstandingAndCheckThrottle`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{Notify, mpsc};

use crate::core::Outbound;

/// Requests in flight on the whole server, against `globalOutstandingLimit`.
#[derive(Debug)]
pub struct InFlight {
    count: AtomicUsize,
    /// ZooKeeper's `getGlobalOutstandingLimit()`: the configured limit, divided on an ensemble's member.
    limit: usize,
}

impl InFlight {
    pub fn new(limit: usize) -> Arc<InFlight> {
        Arc::new(InFlight { count: AtomicUsize::new(0), limit })
    }

    /// Requests read from clients and not yet answered, on every connection.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// `ZooKeeperServer.shouldThrottle`: past the limit, a connection with a request of its own in flight
    /// stops reading; one with none may always send one, so a client that waits for its answers is never
    /// starved by others that do not.
    fn should_throttle(&self, mine: usize) -> bool {
        self.count() > self.limit && mine > 0
    }
}

/// What a connection's reader, writer and the core share about it.
#[derive(Debug)]
struct Load {
    /// Bytes queued for the socket and not yet handed to it.
    queued: AtomicUsize,
    limit: usize,
    overflowed: AtomicBool,
    /// The writer has stopped: the server closed the connection, or the socket failed.
    closed: AtomicBool,
    /// This connection's requests in flight (the share of `in_flight.count` it owns).
    outstanding: AtomicUsize,
    in_flight: Arc<InFlight>,
    /// Wakes the reader waiting in [`Outbox::throttle`]: an answer left, the outbox overflowed, or the
    /// writer stopped.
    progress: Notify,
    /// Wakes the connection's task on overflow.
    overflow: Notify,
}

/// The core's (and the connection's own) handle on a connection's outbound frames.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Outbound>,
    load: Arc<Load>,
}

/// Refused: the connection is gone or its outbox is full (it is being closed).
#[derive(Debug)]
pub struct NotQueued;

impl Outbox {
    /// `limit`: `paddock.maxOutboxBytes`.
    pub fn new(limit: usize, in_flight: Arc<InFlight>) -> (Outbox, mpsc::UnboundedReceiver<Outbound>) {
        // Bounded in bytes rather than items: `send` refuses a frame that would take the queued bytes past
        // `limit` (`paddock.maxOutboxBytes`), and every item is at least a byte, so the count is bounded too.
        let (tx, rx) = mpsc::unbounded_channel();
        let load = Load {
            queued: AtomicUsize::new(0),
            limit,
            overflowed: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
            in_flight,
            progress: Notify::new(),
            overflow: Notify::new(),
        };
        (Outbox { tx, load: Arc::new(load) }, rx)
    }

    /// Queues a frame or the close. A frame past the limit overflows the outbox instead.
    pub fn send(&self, item: Outbound) -> Result<(), NotQueued> {
        if self.load.overflowed.load(Ordering::Acquire) {
            return Err(NotQueued);
        }
        if let Outbound::Frame(frame) = &item {
            // A frame into an empty outbox always goes, so that one reply larger than the limit (a long
            // getChildren) still reaches a client that reads; the limit bounds the backlog behind it.
            let before = self.load.queued.fetch_add(frame.len(), Ordering::AcqRel);
            if before > 0 && before + frame.len() > self.load.limit {
                self.load.overflowed.store(true, Ordering::Release);
                self.load.overflow.notify_one();
                self.load.progress.notify_one();
                return Err(NotQueued);
            }
        }
        self.tx.send(item).map_err(|_| NotQueued)
    }

    /// The writer handed `bytes` of a frame to the socket.
    pub(crate) fn written(&self, bytes: usize) {
        self.load.queued.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes queued and not yet written (the outbox's size).
    pub fn queued(&self) -> usize {
        self.load.queued.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> usize {
        self.load.limit
    }

    pub fn overflowed(&self) -> bool {
        self.load.overflowed.load(Ordering::Acquire)
    }

    /// Resolves once the outbox has overflowed.
    pub async fn until_overflow(&self) {
        while !self.overflowed() {
            self.load.overflow.notified().await;
        }
    }

    /// The writer has stopped; a reader waiting for answers must not wait for ever.
    pub(crate) fn writer_stopped(&self) {
        self.load.closed.store(true, Ordering::Release);
        self.load.progress.notify_one();
    }

    /// Whether the writer has stopped (the server closed the connection, or the socket failed).
    pub(crate) fn writer_has_stopped(&self) -> bool {
        self.load.closed.load(Ordering::Acquire)
    }

    /// The reader handed the core a request with `xid`. Pings, auth and `setWatches` (xid <= 0) are not
    /// counted, as in ZooKeeper.
    pub(crate) fn request_sent(&self, xid: i32) {
        if xid > 0 {
            self.load.outstanding.fetch_add(1, Ordering::AcqRel);
            self.load.in_flight.count.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The core queued the answer to the request with `xid`.
    pub fn replied(&self, xid: i32) {
        if xid > 0
            && self.load.outstanding.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
        {
            self.load.in_flight.count.fetch_sub(1, Ordering::AcqRel);
            self.load.progress.notify_one();
        }
    }

    /// The connection is gone: its requests still in flight will never be answered.
    pub(crate) fn forget_outstanding(&self) {
        let mine = self.load.outstanding.swap(0, Ordering::AcqRel);
        self.load.in_flight.count.fetch_sub(mine, Ordering::AcqRel);
    }

    /// Waits while ZooKeeper would have disabled receiving on this connection (`globalOutstandingLimit`),
    /// until one of its answers leaves and the server is under the limit again, or the connection ends.
    pub(crate) async fn throttle(&self) {
        loop {
            let mine = self.load.outstanding.load(Ordering::Acquire);
            if self.load.closed.load(Ordering::Acquire)
                || self.overflowed()
                || !self.load.in_flight.should_throttle(mine)
            {
                return;
            }
            // `notify_one` keeps a permit when nobody waits yet, so an answer between the check and here
            // is not missed.
            self.load.progress.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn a_frame_past_the_limit_overflows_instead_of_queueing() {
        let (out, mut rx) = Outbox::new(10, InFlight::new(1000));
        assert!(out.send(Outbound::Frame(Bytes::from_static(&[0; 6]))).is_ok());
        assert!(out.send(Outbound::Frame(Bytes::from_static(&[0; 5]))).is_err());
        assert!(out.overflowed());
        assert!(out.send(Outbound::Close).is_err(), "nothing more once overflowed");
        assert!(matches!(rx.try_recv(), Ok(Outbound::Frame(f)) if f.len() == 6));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn written_bytes_make_room() {
        let (out, _rx) = Outbox::new(10, InFlight::new(1000));
        for _ in 0..5 {
            assert!(out.send(Outbound::Frame(Bytes::from_static(&[0; 8]))).is_ok());
            out.written(8);
        }
        assert_eq!(out.queued(), 0);
    }

    #[test]
    fn requests_in_flight_are_counted_per_connection_and_server_wide() {
        let in_flight = InFlight::new(1);
        let (a, _ra) = Outbox::new(10, in_flight.clone());
        let (b, _rb) = Outbox::new(10, in_flight.clone());
        a.request_sent(1);
        a.request_sent(-2);
        b.request_sent(1);
        assert_eq!(in_flight.count(), 2);
        assert!(in_flight.should_throttle(1) && !in_flight.should_throttle(0));
        a.replied(1);
        a.replied(1);
        assert_eq!(in_flight.count(), 1, "an answer without a request is not counted twice");
        b.forget_outstanding();
        assert_eq!(in_flight.count(), 0);
    }
}
