//! Request counters and latencies, as ZooKeeper's `ServerStats` and per-connection stats report them
//! (`srvr`, `stat`, `cons`, `mntr`).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use paddock_proto::OpCode;

/// Minimum, maximum and total of a series of latencies, in milliseconds as ZooKeeper reports them.
#[derive(Clone, Debug, Default)]
pub struct Latency {
    pub count: u64,
    pub total_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn add(&mut self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        if self.count == 0 || ms < self.min_ms {
            self.min_ms = ms;
        }
        if ms > self.max_ms {
            self.max_ms = ms;
        }
        self.count += 1;
        self.total_ms += ms;
    }

    pub fn avg_ms(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.total_ms / self.count as f64 }
    }

    pub fn reset(&mut self) {
        *self = Latency::default();
    }
}

/// A [`Latency`] summary plus a histogram for ZooKeeper's percentile keys (`zk_p99_readlatency`...).
#[derive(Debug)]
pub struct LatencyHistogram {
    pub summary: Latency,
    micros: hdrhistogram::Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            summary: Latency::default(),
            // 1 µs to 1 h at 3 significant digits: constant bounds, valid by construction.
            micros: hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
        }
    }
}

impl LatencyHistogram {
    pub fn add(&mut self, d: Duration) {
        self.summary.add(d);
        self.micros.saturating_record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1));
    }

    /// The latency at quantile `q`, in whole milliseconds as ZooKeeper reports it.
    pub fn quantile_ms(&self, q: f64) -> u64 {
        self.micros.value_at_quantile(q) / 1000
    }

    pub fn reset(&mut self) {
        self.summary.reset();
        self.micros.reset();
    }
}

/// Count, sum and extremes of a series of sizes.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub count: u64,
    pub sum: u64,
    pub min: u64,
    pub max: u64,
}

impl Summary {
    pub fn add(&mut self, v: u64) {
        self.min = if self.count == 0 { v } else { self.min.min(v) };
        self.max = self.max.max(v);
        self.count += 1;
        self.sum += v;
    }

    pub fn avg(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.sum as f64 / self.count as f64 }
    }
}

#[derive(Clone, Debug, Default)]
pub struct NamespaceBytes {
    pub read: Summary,
    pub write: Summary,
}

#[derive(Debug, Default)]
pub struct ServerStats {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub latency: Latency,
    pub per_op: HashMap<&'static str, Latency>,
    /// Bytes read and written per top-level znode (`zk_*_<ns>_read_per_namespace`, `..._write_...`).
    pub namespaces: std::collections::BTreeMap<String, NamespaceBytes>,
    /// ZooKeeper's `readlatency` and `updatelatency`: requests served locally vs through the log.
    pub read_latency: LatencyHistogram,
    pub update_latency: LatencyHistogram,
    pub auth_failed: u64,
    pub sessions_expired: u64,
    pub log_failures: u64,
    pub bytes_received: u64,
    pub connections_accepted: u64,
    /// Timings of background work reported as ZooKeeper summaries (`fsynctime`, `snapshottime`).
    pub timings: std::collections::BTreeMap<&'static str, Latency>,
}

impl ServerStats {
    pub fn record(&mut self, op: OpCode, latency: Duration) {
        self.latency.add(latency);
        self.per_op.entry(op.name()).or_default().add(latency);
        if is_update(op) {
            self.update_latency.add(latency);
        } else if op != OpCode::Ping {
            self.read_latency.add(latency);
        }
    }

    /// Timings in ZooKeeper's summary shape, for `mntr`.
    pub fn summaries(&self) -> impl Iterator<Item = (&'static str, &Latency)> {
        self.timings.iter().map(|(name, l)| (*name, l))
    }

    /// Counts `bytes` read or written under `path`'s top-level znode, as ZooKeeper's per-namespace metrics.
    pub fn record_namespace(&mut self, path: &str, write: bool, bytes: usize) {
        let Some(namespace) = path.split('/').nth(1).filter(|n| !n.is_empty()) else { return };
        // Called for every request: allocate the key only for a namespace not seen before.
        if !self.namespaces.contains_key(namespace) {
            self.namespaces.insert(namespace.to_string(), NamespaceBytes::default());
        }
        let Some(entry) = self.namespaces.get_mut(namespace) else { return };
        let summary = if write { &mut entry.write } else { &mut entry.read };
        summary.add(bytes as u64);
    }

    /// `srst`: counters back to zero.
    pub fn reset(&mut self) {
        self.packets_received = 0;
        self.packets_sent = 0;
        self.latency.reset();
        self.per_op.clear();
        self.read_latency.reset();
        self.update_latency.reset();
        // Keys stay (as in ZooKeeper, whose metrics reset to zero but remain registered).
        for bytes in self.namespaces.values_mut() {
            *bytes = NamespaceBytes::default();
        }
    }
}

#[derive(Debug)]
pub struct ConnStats {
    pub established: SystemTime,
    pub received: u64,
    pub sent: u64,
    pub last_op: &'static str,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_response: Option<Instant>,
    pub last_latency_ms: f64,
    pub latency: Latency,
}

impl ConnStats {
    pub fn new() -> Self {
        ConnStats {
            established: SystemTime::now(),
            received: 0,
            sent: 0,
            last_op: "NA",
            // ZooKeeper's "nothing yet": -1 for both.
            last_cxid: -1,
            last_zxid: -1,
            last_response: None,
            last_latency_ms: 0.0,
            latency: Latency::default(),
        }
    }

    pub fn record(&mut self, xid: i32, zxid: i64, op: OpCode, latency: Duration) {
        self.sent += 1;
        self.last_op = op.name();
        self.last_cxid = xid;
        self.last_zxid = zxid;
        self.last_response = Some(Instant::now());
        self.last_latency_ms = latency.as_secs_f64() * 1000.0;
        self.latency.add(latency);
    }

    /// When the last reply was sent, in ms since the epoch (0: never), as `cons` prints `lresp`.
    pub fn last_response_epoch_ms(&self) -> i64 {
        match self.last_response {
            Some(at) => {
                let ago = at.elapsed();
                SystemTime::now().checked_sub(ago).map(crate::monitor::epoch_ms).unwrap_or(0)
            }
            None => 0,
        }
    }

    /// `crst`.
    pub fn reset(&mut self) {
        *self = ConnStats { established: self.established, ..ConnStats::new() };
    }
}

impl Default for ConnStats {
    fn default() -> Self {
        ConnStats::new()
    }
}

/// Opcodes that go through the log (ZooKeeper's `updatelatency`); everything else counts as a read.
fn is_update(op: OpCode) -> bool {
    use OpCode::*;
    matches!(
        op,
        Create
            | Create2
            | CreateContainer
            | CreateTtl
            | Delete
            | DeleteContainer
            | SetData
            | SetAcl
            | Multi
            | Reconfig
            | CloseSession
            | CreateSession
    )
}
