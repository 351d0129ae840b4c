//! The keys that bound what clients can make the server spend (docs/security.md §5): ZooKeeper's
//! `globalOutstandingLimit`, `maxCnxns`, connection throttling (`BlueThrottle`) and request throttling
//! (`RequestThrottler`), each also accepted as `zookeeper.<key>` (ZooKeeper reads them as system
//! properties, which its `zoo.cfg` sets that way), and Paddock's `paddock.maxOutboxBytes` and
//! `paddock.maxWatchesPerSession`.

use super::{ConfigError, bad_value, parse_bool, parse_num};

/// Every resource bound a client meets.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// `globalOutstandingLimit`: past this many requests in flight server-wide, connections with a request
    /// of their own in flight stop being read (ZooKeeper's default 1000). A member of an ensemble of more
    /// than two divides it by the ensemble's size minus one, as ZooKeeper's leader and followers do.
    pub global_outstanding_limit: usize,
    /// `maxCnxns`: connections the server holds at once, all clients together (0: no limit, ZooKeeper's
    /// default).
    pub max_cnxns: u32,
    /// `paddock.maxOutboxBytes`: the most bytes of replies and events queued for one connection beyond what
    /// the socket took; a client that lets more pile up is not reading and is disconnected.
    pub max_outbox_bytes: usize,
    /// `paddock.maxWatchesPerSession`: the most watches one session may hold (0: no limit).
    pub max_watches_per_session: usize,
    pub connection_throttle: ConnectionThrottle,
    pub request_throttle: RequestThrottle,
}

/// 8 MiB: a client that reads at all drains its outbox at network speed, with the kernel's socket send
/// buffer (up to 4 MiB under Linux's default `tcp_wmem`) already in between; 8 MiB more is seconds of
/// replies at any rate a reading client sustains, and still holds a watch storm of 100,000 events. Past it
/// the client is not reading, and holding more for it only moves the problem into the server's memory.
pub const DEFAULT_MAX_OUTBOX_BYTES: usize = 8 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            global_outstanding_limit: 1000,
            max_cnxns: 0,
            max_outbox_bytes: DEFAULT_MAX_OUTBOX_BYTES,
            max_watches_per_session: 0,
            connection_throttle: ConnectionThrottle::default(),
            request_throttle: RequestThrottle::default(),
        }
    }
}

/// ZooKeeper's `connection_throttle_*` keys (`BlueThrottle`), with its defaults: off (`tokens` 0).
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionThrottle {
    /// `connection_throttle_tokens`: the bucket's size; 0 turns connection throttling off.
    pub tokens: u32,
    /// `connection_throttle_fill_time`: every this many milliseconds ...
    pub fill_time_ms: u32,
    /// `connection_throttle_fill_count`: ... this many tokens come back.
    pub fill_count: u32,
    /// `connection_throttle_freeze_time`: how often (ms) the random drop chance is adjusted; -1 turns the
    /// BLUE random dropping off (the default).
    pub freeze_time_ms: i64,
    /// `connection_throttle_drop_increase`: added to the drop chance while the bucket is empty (0.02).
    pub drop_increase: f64,
    /// `connection_throttle_drop_decrease`: taken off it while the bucket is filled to the decrease ratio
    /// (0.002).
    pub drop_decrease: f64,
    /// `connection_throttle_decrease_ratio`: the bucket's deficit, as a share of its size, at or under which
    /// the drop chance decreases (0).
    pub decrease_ratio: f64,
    /// `connection_throttle_weight_enabled`: new sessions, renewed sessions and local sessions cost
    /// different numbers of tokens (off).
    pub weight_enabled: bool,
    /// `connection_throttle_global_session_weight` (3), `..._local_session_weight` (1),
    /// `..._renew_session_weight` (2).
    pub global_session_weight: i32,
    pub local_session_weight: i32,
    pub renew_session_weight: i32,
}

impl Default for ConnectionThrottle {
    fn default() -> Self {
        ConnectionThrottle {
            tokens: 0,
            fill_time_ms: 1,
            fill_count: 1,
            freeze_time_ms: -1,
            drop_increase: 0.02,
            drop_decrease: 0.002,
            decrease_ratio: 0.0,
            weight_enabled: false,
            global_session_weight: 3,
            local_session_weight: 1,
            renew_session_weight: 2,
        }
    }
}

impl ConnectionThrottle {
    /// The weights as ZooKeeper's `BlueThrottle` settles them: a weight under 1 falls back to its default,
    /// and a global or renew weight under the local one is raised to it. Returns (global, local, renew).
    pub fn weights(&self) -> (u32, u32, u32) {
        let local = self.local_session_weight;
        let global = match self.global_session_weight {
            w if w <= 0 => 3,
            w => w.max(local),
        };
        let renew = match self.renew_session_weight {
            w if w <= 0 => 2,
            w => w.max(local),
        };
        let local = if local > 0 { local } else { 1 };
        (global.unsigned_abs(), local.unsigned_abs(), renew.unsigned_abs())
    }
}

/// ZooKeeper's `request_throttle_*` keys (`RequestThrottler`), with its defaults: off (`max_requests` 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestThrottle {
    /// `request_throttle_max_requests`: requests in process at most before the next ones wait (0: off).
    pub max_requests: usize,
    /// `request_throttle_stall_time`: the longest a waiting request waits (ms) before it is looked at again.
    pub stall_time_ms: u64,
    /// `request_throttle_drop_stale`: a waiting request that became stale is dropped, closing its
    /// connection (true).
    pub drop_stale: bool,
    /// `request_stale_connection_check`: a request whose connection is gone is stale (true).
    pub stale_connection_check: bool,
    /// `request_stale_latency_check`: a request older than its session's timeout is stale (false).
    pub stale_latency_check: bool,
}

impl Default for RequestThrottle {
    fn default() -> Self {
        RequestThrottle {
            max_requests: 0,
            stall_time_ms: 100,
            drop_stale: true,
            stale_connection_check: true,
            stale_latency_check: false,
        }
    }
}

impl Limits {
    /// Applies one limit key; `Ok(false)` if `key` is not one.
    pub(super) fn apply(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match key.strip_prefix("zookeeper.").unwrap_or(key) {
            "globalOutstandingLimit" => self.global_outstanding_limit = parse_num(key, value)?,
            "maxCnxns" => self.max_cnxns = parse_num(key, value)?,
            "paddock.maxOutboxBytes" => {
                let bytes = positive(key, super::parse_bytes(key, value)?)?;
                self.max_outbox_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
            }
            "paddock.maxWatchesPerSession" => self.max_watches_per_session = parse_num(key, value)?,
            name if name.starts_with("connection_throttle_") => return self.connection_throttle.apply(key, value),
            name if name.starts_with("request_") => return self.request_throttle.apply(key, value),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl ConnectionThrottle {
    fn apply(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let name = key.strip_prefix("zookeeper.").unwrap_or(key);
        match name.strip_prefix("connection_throttle_").unwrap_or(name) {
            "tokens" => self.tokens = parse_num(key, value)?,
            // ZooKeeper divides by it; 0 would fail there on the first connection.
            "fill_time" => self.fill_time_ms = positive(key, parse_num(key, value)?)?,
            "fill_count" => self.fill_count = parse_num(key, value)?,
            "freeze_time" => self.freeze_time_ms = parse_num(key, value)?,
            "drop_increase" => self.drop_increase = parse_num(key, value)?,
            "drop_decrease" => self.drop_decrease = parse_num(key, value)?,
            "decrease_ratio" => self.decrease_ratio = parse_num(key, value)?,
            "weight_enabled" => self.weight_enabled = parse_bool(key, value)?,
            "global_session_weight" => self.global_session_weight = parse_num(key, value)?,
            "local_session_weight" => self.local_session_weight = parse_num(key, value)?,
            "renew_session_weight" => self.renew_session_weight = parse_num(key, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl RequestThrottle {
    fn apply(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match key.strip_prefix("zookeeper.").unwrap_or(key) {
            "request_throttle_max_requests" => self.max_requests = parse_num(key, value)?,
            "request_throttle_stall_time" => self.stall_time_ms = positive(key, parse_num(key, value)?)?,
            "request_throttle_drop_stale" => self.drop_stale = parse_bool(key, value)?,
            "request_stale_connection_check" => self.stale_connection_check = parse_bool(key, value)?,
            "request_stale_latency_check" => self.stale_latency_check = parse_bool(key, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn positive<T: PartialOrd + Default + ToString>(key: &str, value: T) -> Result<T, ConfigError> {
    if value > T::default() { Ok(value) } else { Err(bad_value(key, &value.to_string(), "a number above 0")) }
}

#[cfg(test)]
mod tests {
    use super::super::ServerConfig;
    use super::*;

    #[test]
    fn limit_keys_are_read_with_or_without_the_zookeeper_prefix() {
        let text = "globalOutstandingLimit=10\nzookeeper.maxCnxns=5\npaddock.maxOutboxBytes=1MiB\n\
                    paddock.maxWatchesPerSession=100\nzookeeper.connection_throttle_tokens=7\n\
                    connection_throttle_freeze_time=50\nconnection_throttle_drop_increase=0.5\n\
                    request_throttle_max_requests=3\nzookeeper.request_throttle_drop_stale=false";
        let (config, warnings) = ServerConfig::parse(text).expect("parses");
        assert!(warnings.is_empty(), "{warnings:?}");
        let limits = &config.limits;
        assert_eq!((limits.global_outstanding_limit, limits.max_cnxns), (10, 5));
        assert_eq!((limits.max_outbox_bytes, limits.max_watches_per_session), (1 << 20, 100));
        assert_eq!(limits.connection_throttle.tokens, 7);
        assert_eq!(limits.connection_throttle.freeze_time_ms, 50);
        assert_eq!(limits.connection_throttle.drop_increase, 0.5);
        assert_eq!(limits.request_throttle.max_requests, 3);
        assert!(!limits.request_throttle.drop_stale);
    }

    #[test]
    fn defaults_are_zookeepers_and_throttling_is_off() {
        let limits = Limits::default();
        assert_eq!(limits.global_outstanding_limit, 1000);
        assert_eq!(limits.max_cnxns, 0);
        assert_eq!(limits.connection_throttle.tokens, 0);
        assert_eq!(limits.request_throttle.max_requests, 0);
        assert_eq!(limits.connection_throttle.weights(), (3, 1, 2));
    }

    #[test]
    fn bad_values_name_the_key() {
        for text in ["connection_throttle_fill_time=0", "paddock.maxOutboxBytes=0", "globalOutstandingLimit=x"] {
            let err = ServerConfig::parse(text).expect_err(text);
            let key = text.split('=').next().unwrap_or_default();
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn weights_settle_as_zookeepers() {
        let throttle = ConnectionThrottle {
            global_session_weight: 0,
            local_session_weight: 4,
            renew_session_weight: 1,
            ..ConnectionThrottle::default()
        };
        assert_eq!(throttle.weights(), (3, 4, 4));
    }
}
