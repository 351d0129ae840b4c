//! ZooKeeper's `RequestThrottler` (`request_throttle_*`): with `request_throttle_max_requests` set, client
//! requests wait here, in arrival order, while that many are in process (proposed and not yet committed:
//! reads are answered at once, so only writes stay in process). A waiting request whose connection is gone,
//! or (with `request_stale_latency_check`) that is older than its session's timeout, is stale; with
//! `request_throttle_drop_stale` it is dropped and its connection closed, so that no later request of that
//! connection is answered out of order.
//!
//! Bounded by what reaches the core: every request held here is in flight for `globalOutstandingLimit`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::CoreMsg;
use crate::config::RequestThrottle;

pub(super) struct RequestThrottler {
    settings: RequestThrottle,
    held: VecDeque<(CoreMsg, Instant)>,
}

/// What to do with the request at the head of the queue.
pub(super) enum Next {
    /// Nothing waits, or the server is still at the limit.
    Wait,
    /// Goes on; `stale` says whether it became stale while it waited (ZooKeeper's `stale_requests`).
    Dispatch { msg: CoreMsg, stale: bool },
    /// Stale: dropped; its connection is to be closed.
    Drop(CoreMsg),
}

impl RequestThrottler {
    pub(super) fn new(settings: &RequestThrottle) -> RequestThrottler {
        RequestThrottler { settings: settings.clone(), held: VecDeque::new() }
    }

    pub(super) fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// How often waiting requests are looked at again (`request_throttle_stall_time`).
    pub(super) fn stall_time(&self) -> Duration {
        Duration::from_millis(self.settings.stall_time_ms.max(1))
    }

    /// Holds `msg` if it must wait (throttling is on, and earlier requests wait or `in_process` is at the
    /// limit); gives it back otherwise.
    pub(super) fn hold(&mut self, msg: CoreMsg, in_process: usize) -> Option<CoreMsg> {
        let max = self.settings.max_requests;
        if max == 0 || (self.held.is_empty() && in_process < max) {
            return Some(msg);
        }
        self.held.push_back((msg, Instant::now()));
        None
    }

    /// The fate of the oldest waiting request. `stale(msg, waited)` says whether it became stale.
    pub(super) fn next(&mut self, in_process: usize, stale: impl Fn(&CoreMsg, Duration) -> bool) -> Next {
        let Some((msg, queued)) = self.held.front() else { return Next::Wait };
        let is_stale = stale(msg, queued.elapsed());
        let drop = self.settings.drop_stale && is_stale;
        if !drop && in_process >= self.settings.max_requests {
            return Next::Wait;
        }
        match self.held.pop_front() {
            Some((msg, _)) if drop => Next::Drop(msg),
            Some((msg, _)) => Next::Dispatch { msg, stale: is_stale },
            None => Next::Wait,
        }
    }

    /// Which staleness checks are on: (connection gone, older than the session timeout).
    pub(super) fn checks(&self) -> (bool, bool) {
        (self.settings.stale_connection_check, self.settings.stale_latency_check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(conn: u64) -> CoreMsg {
        CoreMsg::Closed { conn, dropped: false }
    }

    fn conn_of(next: Next) -> Option<(bool, u64)> {
        match next {
            Next::Dispatch { msg: CoreMsg::Closed { conn, .. }, .. } => Some((true, conn)),
            Next::Drop(CoreMsg::Closed { conn, .. }) => Some((false, conn)),
            _ => None,
        }
    }

    #[test]
    fn off_by_default_and_first_come_first_served_when_on() {
        let mut off = RequestThrottler::new(&RequestThrottle::default());
        assert!(off.hold(closed(1), 1_000_000).is_some());
        let mut on = RequestThrottler::new(&RequestThrottle { max_requests: 2, ..RequestThrottle::default() });
        assert!(on.hold(closed(1), 1).is_some(), "under the limit, nothing waiting: goes");
        assert!(on.hold(closed(2), 2).is_none(), "at the limit: waits");
        assert!(on.hold(closed(3), 0).is_none(), "behind a waiting request: waits, whatever the load");
        assert!(conn_of(on.next(2, |_, _| false)).is_none(), "still at the limit");
        assert_eq!(conn_of(on.next(1, |_, _| false)), Some((true, 2)));
        assert_eq!(conn_of(on.next(1, |_, _| false)), Some((true, 3)));
        assert!(!on.holding());
    }

    #[test]
    fn stale_requests_are_dropped_even_at_the_limit_only_when_drop_stale_is_on() {
        let settings = RequestThrottle { max_requests: 1, ..RequestThrottle::default() };
        let mut on = RequestThrottler::new(&settings);
        assert!(on.hold(closed(7), 1).is_none());
        assert_eq!(conn_of(on.next(1, |_, _| true)), Some((false, 7)));
        let mut keep = RequestThrottler::new(&RequestThrottle { drop_stale: false, ..settings });
        assert!(keep.hold(closed(7), 1).is_none());
        assert!(conn_of(keep.next(1, |_, _| true)).is_none(), "kept waiting");
        let went = keep.next(0, |_, _| true);
        assert!(matches!(went, Next::Dispatch { stale: true, .. }), "goes on, counted as stale");
        assert_eq!(conn_of(went), Some((true, 7)));
    }
}
