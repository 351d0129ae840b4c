//! Session liveness: which sessions have been heard from recently enough.
//!
//! Sessions themselves (id, timeout, password, ephemerals) live in the replicated tree; this tracker only
//! holds deadlines, which are local to the server that owns the session's connection (the leader, once
//! replication exists). Like ZooKeeper's `ExpiryQueue`, deadlines are rounded up to the next tick so that
//! expiry work happens once per tick rather than once per session.

use std::collections::HashMap;

#[derive(Default)]
pub struct SessionTracker {
    deadlines: HashMap<i64, (i64, i32)>,
    tick_ms: i64,
}

impl SessionTracker {
    pub fn new(tick_ms: u32) -> Self {
        SessionTracker { deadlines: HashMap::new(), tick_ms: i64::from(tick_ms.max(1)) }
    }

    /// Starts (or restarts) tracking a session with its full timeout.
    pub fn arm(&mut self, session_id: i64, timeout_ms: i32, now_ms: i64) {
        let deadline = self.round_up(now_ms + i64::from(timeout_ms));
        self.deadlines.insert(session_id, (deadline, timeout_ms));
    }

    /// Any packet from the client pushes the deadline out.
    pub fn touch(&mut self, session_id: i64, now_ms: i64) {
        let tick = self.tick_ms;
        if let Some((deadline, timeout)) = self.deadlines.get_mut(&session_id) {
            *deadline = (now_ms + i64::from(*timeout)).div_euclid(tick) * tick + tick;
        }
    }

    pub fn remove(&mut self, session_id: i64) {
        self.deadlines.remove(&session_id);
    }

    pub fn contains(&self, session_id: i64) -> bool {
        self.deadlines.contains_key(&session_id)
    }

    /// Sessions whose deadline has passed; they stay tracked until `remove` (the closeSession is applied).
    pub fn expired(&self, now_ms: i64) -> Vec<i64> {
        let mut ids: Vec<i64> =
            self.deadlines.iter().filter(|(_, (deadline, _))| *deadline <= now_ms).map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids
    }

    /// Every tracked session with its deadline (ms since the epoch), soonest first, for `dump`.
    pub fn deadlines(&self) -> Vec<(i64, i64)> {
        let mut all: Vec<(i64, i64)> = self.deadlines.iter().map(|(id, (deadline, _))| (*id, *deadline)).collect();
        all.sort_by_key(|(id, deadline)| (*deadline, *id));
        all
    }

    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }

    fn round_up(&self, t: i64) -> i64 {
        t.div_euclid(self.tick_ms) * self.tick_ms + self.tick_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_after_timeout_unless_touched() {
        let mut t = SessionTracker::new(100);
        t.arm(1, 1000, 0);
        t.arm(2, 1000, 0);
        assert!(t.expired(1000).is_empty());
        t.touch(2, 900);
        assert_eq!(t.expired(1100), vec![1]);
        assert_eq!(t.expired(2000), vec![1, 2]);
        t.remove(1);
        assert_eq!(t.len(), 1);
    }
}
