//! Request counters and latencies, as ZooKeeper's `ServerStats`, `ServerMetrics` and per-connection stats
//! report them (`srvr`, `stat`, `cons`, `mntr`), counted at the points where ZooKeeper 3.8 counts them:
//! every frame in and out (the connect handshake and four-letter words included), the size of every
//! serialized reply, per-namespace bytes of what the data tree served or changed.

use std::time::{Duration, Instant, SystemTime};

use paddock_proto::{ErrorCode, MultiOp, MultiResult, OpCode, Request, Response};
use paddock_tree::{TxnOp, TxnResult};

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

/// Count, sum and extremes of a series of sizes (ZooKeeper's `AvgMinMaxCounter`).
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

/// ZooKeeper's `BufferStats` for client responses: sizes of the last, smallest and largest reply, -1
/// until the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferStats {
    pub last: i64,
    pub min: i64,
    pub max: i64,
}

impl BufferStats {
    const NONE_YET: i64 = -1;

    pub fn add(&mut self, size: usize) {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        self.last = size;
        if self.min == Self::NONE_YET || size < self.min {
            self.min = size;
        }
        self.max = self.max.max(size);
    }
}

impl Default for BufferStats {
    fn default() -> Self {
        BufferStats { last: Self::NONE_YET, min: Self::NONE_YET, max: Self::NONE_YET }
    }
}

/// The `ServerMetrics` summary ZooKeeper records the watchers an event fired in.
pub fn watch_count_metric(event: paddock_proto::EventType) -> Option<&'static str> {
    use paddock_proto::EventType;
    match event {
        EventType::NodeCreated => Some("node_created_watch_count"),
        EventType::NodeDeleted => Some("node_deleted_watch_count"),
        EventType::NodeDataChanged => Some("node_changed_watch_count"),
        EventType::NodeChildrenChanged => Some("node_children_watch_count"),
        EventType::None => None,
    }
}

/// ZooKeeper's `DataTree.STAT_OVERHEAD_BYTES`, added to every read counted per namespace.
const STAT_OVERHEAD_BYTES: u64 = 6 * 8 + 5 * 4;

/// Four-letter-word output goes out through a `BufferedWriter` of this many characters, one packet each.
const FOUR_LETTER_CHUNK: usize = 8192;

#[derive(Debug, Default)]
pub struct ServerStats {
    pub packets_received: u64,
    pub packets_sent: u64,
    /// Every request ZooKeeper's `FinalRequestProcessor` answers (pings and createSession included).
    pub latency: Latency,
    /// Bytes read and written per top-level znode (`zk_*_<ns>_read_per_namespace`, `..._write_...`).
    pub namespaces: std::collections::BTreeMap<String, NamespaceBytes>,
    /// ZooKeeper's `readlatency` and `updatelatency`: requests that did not and did go through the log.
    pub read_latency: LatencyHistogram,
    pub update_latency: LatencyHistogram,
    pub auth_failed: u64,
    pub sessions_expired: u64,
    pub log_failures: u64,
    /// `Digest` log entries this replica's tree did not match (`zk_paddock_digest_mismatches`).
    pub digest_mismatches: u64,
    /// Quota limits this server's writes passed (`quota_exceeded_error_per_namespace`).
    pub quota: crate::quota::QuotaStats,
    /// The request throttler's counters, as ZooKeeper's `RequestThrottler` counts them.
    pub throttle: ThrottleCounts,
    pub bytes_received: u64,
    pub connections_accepted: u64,
    /// `zk_connection_drop_count`: connections the client closed before the server did.
    pub connections_dropped: u64,
    /// Sizes of serialized replies and notifications (header and body, not the length prefix).
    pub client_response: BufferStats,
    /// `zk_response_bytes`: reply sizes of the requests `FinalRequestProcessor` answers after the switch
    /// (pings, auth and the handshake are not counted).
    pub response_bytes: u64,
    /// `zk_watch_bytes`: sizes of the notifications sent.
    pub watch_bytes: u64,
    /// Watchers fired per event and per watch table (`node_created_watch_count`, ...).
    pub watch_counts: std::collections::BTreeMap<&'static str, Summary>,
    /// Timings of background work reported as ZooKeeper summaries (`fsynctime`, `snapshottime`).
    pub timings: std::collections::BTreeMap<&'static str, Latency>,
}

impl ServerStats {
    /// `ServerStats.updateLatency`: requests that went through the log count as updates, the rest as reads.
    pub fn record_latency(&mut self, update: bool, latency: Duration) {
        self.latency.add(latency);
        if update {
            self.update_latency.add(latency);
        } else {
            self.read_latency.add(latency);
        }
    }

    /// `ServerCnxn.packetReceived`: a frame of `bytes` (length prefix included) came in.
    pub fn packet_received(&mut self, bytes: usize) {
        self.packets_received += 1;
        self.bytes_received += bytes as u64;
    }

    /// Timings in ZooKeeper's summary shape, for `mntr`.
    pub fn summaries(&self) -> impl Iterator<Item = (&'static str, &Latency)> {
        self.timings.iter().map(|(name, l)| (*name, l))
    }

    /// `WatchManager.triggerWatch`: one watch table fired `watchers` watchers for `event`.
    pub fn watchers_fired(&mut self, event: paddock_proto::EventType, watchers: usize) {
        if let Some(name) = watch_count_metric(event) {
            self.watch_counts.entry(name).or_default().add(watchers as u64);
        }
    }

    /// `DataTree.updateReadStat`: a getData, exists or getChildren served `bytes` of data or child names.
    pub fn record_read(&mut self, path: &str, bytes: u64) {
        let total = java_length(path) + bytes + STAT_OVERHEAD_BYTES;
        if let Some(entry) = self.namespace(path) {
            entry.read.add(total);
        }
    }

    /// `DataTree.updateWriteStat`: a node was created, deleted or set with `bytes` of data.
    pub fn record_write(&mut self, path: &str, bytes: u64) {
        let total = java_length(path) + bytes;
        if let Some(entry) = self.namespace(path) {
            entry.write.add(total);
        }
    }

    /// The reads ZooKeeper's data tree counts per namespace, from a request served locally and its answer:
    /// getData (data bytes), exists (none), getChildren (child names), also inside a multiRead; errors
    /// count nothing.
    pub fn record_reads(&mut self, req: &Request, result: &Result<Response, ErrorCode>) {
        match (req, result) {
            (Request::GetData(r), Ok(Response::GetData { data, .. })) => self.record_read(&r.path, data_len(data)),
            (Request::Exists(r), Ok(Response::Stat(_))) => self.record_read(&r.path, 0),
            (Request::GetChildren(r), Ok(Response::GetChildren(children)))
            | (Request::GetChildren2(r), Ok(Response::GetChildren2 { children, .. })) => {
                self.record_read(&r.path, names_len(children))
            }
            (Request::MultiRead(ops), Ok(Response::Multi(results))) => {
                for (op, result) in ops.iter().zip(results) {
                    match (op, result) {
                        (MultiOp::GetData(r), MultiResult::GetData { data, .. }) => {
                            self.record_read(&r.path, data_len(data))
                        }
                        (MultiOp::GetChildren(r), MultiResult::GetChildren(children)) => {
                            self.record_read(&r.path, names_len(children))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// The writes ZooKeeper's data tree counts per namespace once a txn is applied: every node created,
    /// deleted or set (inside a multi too), and the `ephemerals` a closed session took with it.
    pub fn record_writes(&mut self, op: &TxnOp, result: &TxnResult, ephemerals: &[String]) {
        match (op.unwrapped(), result) {
            (TxnOp::Create { data, .. }, TxnResult::Created { path, .. }) => self.record_write(path, data_len(data)),
            (TxnOp::Delete { path, .. } | TxnOp::DeleteContainer { path, .. }, TxnResult::Deleted) => {
                self.record_write(path, 0)
            }
            (TxnOp::SetData { path, data, .. }, TxnResult::SetData(_)) => self.record_write(path, data_len(data)),
            (TxnOp::CloseSession | TxnOp::ExpireSession { .. }, TxnResult::SessionClosed) => {
                for path in ephemerals {
                    self.record_write(path, 0);
                }
            }
            (TxnOp::Multi(ops), TxnResult::Multi(results)) => {
                for (op, result) in ops.iter().zip(results) {
                    self.record_writes(op, result, &[]);
                }
            }
            _ => {}
        }
    }

    /// `PathUtils.getTopNamespace`: the first path component, none for "/".
    fn namespace(&mut self, path: &str) -> Option<&mut NamespaceBytes> {
        let namespace = path.split('/').nth(1).filter(|n| !n.is_empty())?;
        // Called for every read and write: allocate the key only for a namespace not seen before.
        if !self.namespaces.contains_key(namespace) {
            self.namespaces.insert(namespace.to_string(), NamespaceBytes::default());
        }
        self.namespaces.get_mut(namespace)
    }

    /// `ServerStats.reset()`, which is also `ServerMetrics.resetAll()`: latencies, packet counts, response
    /// sizes and every counter and summary of the metrics provider. The authentication failure count is
    /// ZooKeeper's own field outside both, and stays.
    pub fn reset(&mut self) {
        self.packets_received = 0;
        self.packets_sent = 0;
        self.latency.reset();
        self.read_latency.reset();
        self.update_latency.reset();
        self.client_response = BufferStats::default();
        self.bytes_received = 0;
        self.connections_accepted = 0;
        self.connections_dropped = 0;
        self.watch_counts.clear();
        self.response_bytes = 0;
        self.watch_bytes = 0;
        for timing in self.timings.values_mut() {
            timing.reset();
        }
        // Keys stay (as in ZooKeeper, whose metrics reset to zero but remain registered).
        for bytes in self.namespaces.values_mut() {
            *bytes = NamespaceBytes::default();
        }
        self.quota.reset();
        self.throttle = ThrottleCounts::default();
    }
}

/// ZooKeeper's `RequestThrottler` metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThrottleCounts {
    /// `request_throttle_wait_count`: times the oldest held request was looked at and had to wait on.
    pub waits: u64,
    /// `stale_requests`: requests that went on although stale (`request_throttle_drop_stale=false`).
    pub stale: u64,
    /// `stale_requests_dropped`: stale requests dropped, their connections closed.
    pub stale_dropped: u64,
}

fn data_len(data: &Option<Vec<u8>>) -> u64 {
    data.as_ref().map_or(0, |d| d.len() as u64)
}

fn names_len(names: &[String]) -> u64 {
    names.iter().map(|n| java_length(n)).sum()
}

/// Packets ZooKeeper counts for a four-letter word's output: one per buffered chunk, none when empty.
pub fn four_letter_packets(text: &str) -> u64 {
    text.encode_utf16().count().div_ceil(FOUR_LETTER_CHUNK) as u64
}

/// Java's `String.length()`: UTF-16 code units, which is what ZooKeeper adds up for paths and child names.
pub fn java_length(s: &str) -> u64 {
    s.encode_utf16().count() as u64
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

    /// `ServerCnxn.updateStatsForResponse`: a request was answered. Special xids (pings, setWatches) do not
    /// replace the last real cxid.
    pub fn record(&mut self, xid: i32, zxid: i64, last_op: &'static str, latency: Duration) {
        if xid >= 0 {
            self.last_cxid = xid;
        }
        self.last_op = last_op;
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

/// Opcodes that go through the log, whose requests carry a txn header in ZooKeeper (`updatelatency`),
/// failed ones included; everything else counts as a read.
pub fn is_update(op: OpCode) -> bool {
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

/// The `lastOp` ZooKeeper's `FinalRequestProcessor` records for a connection (`cons`' `lop`). A write
/// that failed is "NA": ZooKeeper throws its error before naming the operation (a multi is named either
/// way, its errors being inside its results).
pub fn last_op(op: OpCode, ok: bool) -> &'static str {
    use OpCode::*;
    if !ok && is_update(op) && op != Multi {
        return "NA";
    }
    match op {
        Ping => "PING",
        CreateSession => "SESS",
        Multi => "MULT",
        MultiRead => "MLTR",
        Create | Create2 | CreateTtl | CreateContainer => "CREA",
        Delete | DeleteContainer => "DELE",
        SetData => "SETD",
        Reconfig => "RECO",
        SetAcl => "SETA",
        CloseSession => "CLOS",
        Sync => "SYNC",
        Check => "CHEC",
        Exists => "EXIS",
        GetData => "GETD",
        SetWatches => "SETW",
        SetWatches2 => "STW2",
        AddWatch => "ADDW",
        GetAcl => "GETA",
        GetChildren | GetChildren2 => "GETC",
        GetAllChildrenNumber => "GETACN",
        CheckWatches => "CHKW",
        RemoveWatches => "REMW",
        WhoAmI => "HOMI",
        GetEphemerals => "GETE",
        Notification | Auth | Sasl | Error => "NA",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_stats_start_at_none_and_track_extremes() {
        let mut b = BufferStats::default();
        assert_eq!((b.last, b.min, b.max), (-1, -1, -1));
        for size in [30, 16, 91] {
            b.add(size);
        }
        assert_eq!((b.last, b.min, b.max), (91, 16, 91));
    }

    #[test]
    fn namespace_bytes_as_zookeeper_adds_them() {
        let mut s = ServerStats::default();
        s.record_read("/ns", 3);
        s.record_write("/ns/x", 2);
        s.record_write("/", 0);
        s.record_read("/ns/\u{1F600}", 1);
        let ns = &s.namespaces["ns"];
        // Path + data + ZooKeeper's stat overhead for reads; an emoji is two UTF-16 units.
        assert_eq!((ns.read.min, ns.read.max, ns.read.count), (74, 75, 2));
        assert_eq!((ns.write.sum, ns.write.count), (7, 1));
        assert_eq!(s.namespaces.len(), 1, "the root has no namespace");
    }

    #[test]
    fn four_letter_output_is_a_packet_per_buffered_chunk() {
        assert_eq!(four_letter_packets(""), 0);
        assert_eq!(four_letter_packets("imok"), 1);
        assert_eq!(four_letter_packets(&"x".repeat(8192)), 1);
        // A 3.8 `mntr`, as measured on the real server.
        assert_eq!(four_letter_packets(&"x".repeat(16_661)), 3);
    }

    #[test]
    fn reset_keeps_namespaces_and_auth_failures() {
        let mut s = ServerStats::default();
        s.record_write("/a", 1);
        s.auth_failed = 2;
        s.client_response.add(16);
        s.packet_received(49);
        s.reset();
        assert_eq!(s.namespaces["a"].write.count, 0);
        assert_eq!((s.auth_failed, s.bytes_received, s.client_response), (2, 0, BufferStats::default()));
    }

    #[test]
    fn last_op_names_are_zookeepers() {
        assert_eq!(last_op(OpCode::GetData, true), "GETD");
        assert_eq!(last_op(OpCode::GetData, false), "GETD");
        assert_eq!(last_op(OpCode::Create2, false), "NA");
        assert_eq!(last_op(OpCode::Multi, false), "MULT");
        assert_eq!(last_op(OpCode::CreateSession, true), "SESS");
    }
}
