//! A benchmark's result: operation counts, throughput and latency percentiles, as text or JSON.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::BenchArgs;
use super::workload::ClientStats;

/// The result of one benchmark run. Latencies are in microseconds; for the watch workload they are
/// notification latencies (set issued → watcher notified).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BenchReport {
    pub workload: String,
    pub clients: usize,
    /// Successful operations.
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub value_size: usize,
}

impl BenchReport {
    pub(crate) fn new(args: &BenchArgs, stats: &[ClientStats], elapsed: Duration) -> BenchReport {
        let mut latencies: Option<Histogram<u64>> = None;
        for client in stats {
            match latencies.as_mut() {
                // Same bounds everywhere, so adding cannot fail.
                Some(total) => {
                    let _ = total.add(&client.latencies);
                }
                None => latencies = Some(client.latencies.clone()),
            }
        }
        let ops = stats.iter().map(|s| s.ops).sum();
        let seconds = elapsed.as_secs_f64();
        let percentile = |q: f64| latencies.as_ref().filter(|h| !h.is_empty()).map_or(0, |h| h.value_at_quantile(q));
        BenchReport {
            workload: args.workload.name().to_owned(),
            clients: args.clients,
            ops,
            errors: stats.iter().map(|s| s.errors).sum(),
            seconds,
            ops_per_sec: if seconds > 0.0 { ops as f64 / seconds } else { 0.0 },
            p50_us: percentile(0.5),
            p99_us: percentile(0.99),
            p999_us: percentile(0.999),
            max_us: latencies.as_ref().map_or(0, Histogram::max),
            value_size: args.value_size,
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn text(&self) -> String {
        let what = if self.workload == "watch" { "notification latency" } else { "latency" };
        format!(
            "workload    {} ({} clients, {}-byte values)\n\
             operations  {} ok, {} errors in {:.2} s\n\
             throughput  {:.1} ops/s\n\
             {what:<11} p50 {} us, p99 {} us, p99.9 {} us, max {} us",
            self.workload,
            self.clients,
            self.value_size,
            self.ops,
            self.errors,
            self.seconds,
            self.ops_per_sec,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
        )
    }
}
