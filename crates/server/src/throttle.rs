//! ZooKeeper's throttles: the connection throttle (`BlueThrottle`: a token bucket with BLUE random
//! dropping, checked on every handshake) and the server-wide outstanding-request limit
//! (`globalOutstandingLimit`). Request throttling (`RequestThrottler`) lives with the core, which owns
//! the requests it holds back (`core::request_throttle`).

use std::sync::Mutex;
use std::time::Instant;

use rand::Rng;

use crate::config::{ConnectionThrottle, ServerConfig};

/// `ZooKeeperServer.getGlobalOutstandingLimit()`: the configured limit; on a member of an ensemble of more
/// than two voters, divided by their number minus one (ZooKeeper's leader and followers do, since every
/// write is in flight on all of them).
pub fn global_outstanding_limit(config: &ServerConfig) -> usize {
    let voters = config.quorum.servers.values().filter(|s| s.role == crate::config::Role::Participant).count();
    let divisor = if voters > 2 { voters - 1 } else { 1 };
    config.limits.global_outstanding_limit / divisor
}

/// What a handshake asks for, which decides how many tokens it costs when weights are on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// A new session (session id 0). Paddock's sessions are all global (replicated) sessions.
    New,
    /// A reconnect to an existing session.
    Renew,
}

/// `BlueThrottle`: `checkLimit(need)` takes `need` tokens from a bucket of `tokens` that refills by
/// `fill_count` every `fill_time` ms; with a freeze time set, it also drops a random share of handshakes,
/// that share rising by `drop_increase` every freeze time while the bucket is empty and falling by
/// `drop_decrease` while its deficit is at most `decrease_ratio` of its size. Off while `tokens` is 0.
pub struct BlueThrottle {
    settings: ConnectionThrottle,
    /// (global, local, renew) tokens per handshake when weights are on.
    weights: (u32, u32, u32),
    state: Mutex<Bucket>,
    epoch: Instant,
}

struct Bucket {
    max_tokens: i64,
    fill_count: i64,
    tokens: i64,
    last_time: i64,
    last_freeze: i64,
    drop: f64,
}

impl BlueThrottle {
    pub fn new(settings: &ConnectionThrottle) -> BlueThrottle {
        let weights = settings.weights();
        // As ZooKeeper: the configured tokens and fill count are for global sessions, so weights scale them.
        let scale = if settings.weight_enabled { i64::from(weights.0) } else { 1 };
        let max_tokens = i64::from(settings.tokens) * scale;
        let bucket = Bucket {
            max_tokens,
            fill_count: i64::from(settings.fill_count) * scale,
            tokens: max_tokens,
            last_time: 0,
            last_freeze: 0,
            drop: 0.0,
        };
        BlueThrottle { settings: settings.clone(), weights, state: Mutex::new(bucket), epoch: Instant::now() }
    }

    /// Whether a handshake of `kind` may go on (`checkLimit`); refused ones are closed without an answer.
    pub fn admit(&self, kind: SessionKind) -> bool {
        let need = match (self.settings.weight_enabled, kind) {
            (false, _) => 1,
            (true, SessionKind::New) => self.weights.0,
            (true, SessionKind::Renew) => self.weights.2,
        };
        let now = i64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(i64::MAX);
        let Ok(mut bucket) = self.state.lock() else { return true };
        bucket.check_limit(&self.settings, i64::from(need), now)
    }
}

impl Bucket {
    fn check_limit(&mut self, settings: &ConnectionThrottle, need: i64, now: i64) -> bool {
        if self.max_tokens == 0 {
            return true;
        }
        let fill_time = i64::from(settings.fill_time_ms.max(1));
        let diff = now - self.last_time;
        if diff > fill_time {
            let refill = diff.saturating_mul(self.fill_count) / fill_time;
            self.tokens = self.tokens.saturating_add(refill).min(self.max_tokens);
            self.last_time = now;
        }
        if settings.freeze_time_ms != -1 && !self.check_blue(settings, now) {
            return false;
        }
        if self.tokens < need {
            return false;
        }
        self.tokens -= need;
        true
    }

    /// `checkBlue`: adjusts the drop chance once per freeze time, then draws.
    fn check_blue(&mut self, settings: &ConnectionThrottle, now: i64) -> bool {
        let deficit = self.max_tokens - self.tokens;
        let threshold = (self.max_tokens as f64 * settings.decrease_ratio).round() as i64;
        if now - self.last_freeze > settings.freeze_time_ms {
            if deficit == self.max_tokens && self.drop < 1.0 {
                self.drop = (self.drop + settings.drop_increase).min(1.0);
            } else if deficit <= threshold && self.drop > 0.0 {
                self.drop = (self.drop - settings.drop_decrease).max(0.0);
            }
            self.last_freeze = now;
        }
        rand::rng().random::<f64>() >= self.drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(settings: &ConnectionThrottle) -> Bucket {
        let max = i64::from(settings.tokens);
        Bucket {
            max_tokens: max,
            fill_count: i64::from(settings.fill_count),
            tokens: max,
            last_time: 0,
            last_freeze: 0,
            drop: 0.0,
        }
    }

    #[test]
    fn tokens_run_out_and_come_back_with_time() {
        let settings = ConnectionThrottle { tokens: 3, fill_time_ms: 100, fill_count: 1, ..Default::default() };
        let mut b = bucket(&settings);
        assert!((0..3).all(|_| b.check_limit(&settings, 1, 0)));
        assert!(!b.check_limit(&settings, 1, 50), "empty, and no fill time has passed");
        assert!(b.check_limit(&settings, 1, 101), "one token back after one fill time");
        assert!(!b.check_limit(&settings, 1, 102));
        assert!(b.check_limit(&settings, 3, 10_000), "refilled to the bucket's size, not beyond");
        assert!(!b.check_limit(&settings, 1, 10_000));
    }

    #[test]
    fn blue_drops_everything_once_the_drop_chance_reaches_one() {
        let settings = ConnectionThrottle {
            tokens: 1,
            fill_time_ms: 1_000_000,
            freeze_time_ms: 1,
            drop_increase: 1.0,
            ..Default::default()
        };
        let mut b = bucket(&settings);
        assert!(b.check_limit(&settings, 1, 0));
        // The bucket is empty: the next freeze raises the drop chance to 1, and then everything is dropped,
        // even after the bucket refills.
        assert!(!b.check_limit(&settings, 1, 5));
        assert_eq!(b.drop, 1.0);
        b.tokens = 1;
        assert!(!b.check_limit(&settings, 1, 6));
    }

    #[test]
    fn off_when_tokens_is_zero() {
        let throttle = BlueThrottle::new(&ConnectionThrottle::default());
        assert!((0..10_000).all(|_| throttle.admit(SessionKind::New)));
    }

    #[test]
    fn weights_scale_the_bucket_and_the_cost() {
        let settings =
            ConnectionThrottle { tokens: 2, fill_time_ms: 1_000_000, weight_enabled: true, ..Default::default() };
        let throttle = BlueThrottle::new(&settings);
        // 2 global sessions' worth of tokens = 6: two new sessions (3 each), then nothing.
        assert!(throttle.admit(SessionKind::New));
        assert!(throttle.admit(SessionKind::Renew));
        assert!(!throttle.admit(SessionKind::New));
    }
}
