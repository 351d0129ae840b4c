//! Prometheus metrics. Events are recorded where they happen (a reply sent, an fsync, a snapshot) through the
//! `metrics` facade; state gauges (znodes, sessions, watches...) are read from the core when scraped, so
//! they can never drift from what `mntr` reports.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use paddock_proto::OpCode;

/// Latency buckets in seconds: 50 µs to 10 s, dense where a coordination service lives.
const LATENCY_BUCKETS: &[f64] =
    &[0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// How often histogram samples are folded into their buckets. Until then the recorder keeps every sample
/// (metrics-exporter-prometheus's `run_upkeep`: its HTTP exporter runs it itself, `install_recorder` leaves
/// it to the caller). Without it every request's latency sample stayed in memory until the next scrape, so
/// a server nobody scraped grew by some 20 bytes per request: 170 MiB in a 10-minute soak. Every second,
/// the samples held are at most a second's requests (a few MiB at the highest rates).
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (several servers in one test process share it), with a thread
/// that keeps it bounded ([`UPKEEP_EVERY`]). `None` when another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new().set_buckets(LATENCY_BUCKETS).ok()?.install_recorder().ok()?;
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
            spawned.ok().map(|_| handle)
        })
        .as_ref()
}

pub fn request_served(op: OpCode, err: i32, latency: Duration) {
    let labels = [("op", op.name())];
    metrics::counter!("paddock_requests_total", &labels).increment(1);
    if err != 0 {
        metrics::counter!("paddock_request_errors_total", &labels).increment(1);
    }
    metrics::histogram!("paddock_request_duration_seconds", &labels).record(latency.as_secs_f64());
}

pub fn wal_fsync(took: Duration) {
    metrics::histogram!("paddock_wal_fsync_duration_seconds").record(took.as_secs_f64());
}

pub fn snapshot_written(took: Duration) {
    metrics::histogram!("paddock_snapshot_duration_seconds").record(took.as_secs_f64());
}

/// `Digest` log entries this replica's tree did not match (it diverged from the server that wrote them).
pub fn digest_mismatches(n: u64) {
    metrics::counter!("paddock_digest_mismatches_total").increment(n);
}
