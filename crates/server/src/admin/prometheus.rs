//! `GET /metrics` in the Prometheus text format: the recorded events (request counts and latencies, fsync
//! and snapshot durations) rendered by the process-wide recorder, followed by gauges read from the core at
//! scrape time, so that they always equal what `mntr` reports, and continuous archiving's gauges and
//! counters (`paddock_backup_*`, from `crate::archiving::ArchiveView`), when it is on.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AdminState;
use crate::core::Core;

/// The exposition format version Prometheus negotiates for plain text.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One gauge: name, help text, value.
type Gauge = (&'static str, &'static str, i64);

pub async fn scrape(State(state): State<std::sync::Arc<AdminState>>) -> Response {
    let text = render(&state).await;
    (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

pub async fn render(state: &AdminState) -> String {
    let mut out = crate::metrics::handle().map(|h| h.render()).unwrap_or_default();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    // Without an answer from the core the state gauges are absent, which Prometheus shows as a gap
    // rather than as wrong values.
    let read =
        |core: &mut Core| (gauges(core), core.role.name(), crate::quota::prometheus(&core.tree, &core.stats.quota));
    if let Some((gauges, role, quota)) = state.shared.inspect(read).await {
        for (name, help, value) in gauges {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");
        }
        let _ = write!(
            out,
            "# HELP paddock_role The role this server plays (zk_server_state).\n\
             # TYPE paddock_role gauge\npaddock_role{{role=\"{role}\"}} 1\n\
             # HELP paddock_commit_lag Log entries committed but not yet applied here.\n\
             # TYPE paddock_commit_lag gauge\npaddock_commit_lag 0\n"
        );
        out.push_str(&quota);
    }
    // Continuous archiving's state, read from its own view (it does not wait for the core).
    if let Some(archive) = &state.shared.archive {
        archive.prometheus(&mut out);
    }
    out
}

fn gauges(core: &mut Core) -> Vec<Gauge> {
    let last_snapshot = core.snapshots.as_ref().map(|s| s.last_zxid.load(Ordering::Relaxed)).unwrap_or(-1);
    vec![
        ("paddock_znodes", "Znodes in the data tree (zk_znode_count).", count(core.tree.node_count())),
        ("paddock_sessions", "Live sessions (zk_global_sessions).", count(core.tree.sessions().count())),
        ("paddock_connections", "Open client connections (zk_num_alive_connections).", count(core.conns.len())),
        ("paddock_watches", "Watch registrations (zk_watch_count).", count(core.watches.watch_count())),
        ("paddock_ephemerals", "Ephemeral znodes (zk_ephemerals_count).", count(core.tree.ephemerals_count())),
        (
            "paddock_approximate_data_size_bytes",
            "Bytes of paths and data in the tree (zk_approximate_data_size).",
            count(core.tree.approximate_data_size()),
        ),
        ("paddock_last_zxid", "zxid of the last transaction applied.", core.last_zxid()),
        (
            "paddock_outstanding_requests",
            "Writes logged but not yet applied (zk_outstanding_requests).",
            count(core.outstanding_requests()),
        ),
        ("paddock_last_snapshot_zxid", "zxid of the newest snapshot on disk (-1: none).", last_snapshot),
    ]
}

/// A count as a gauge value; counts never come near `i64::MAX`.
fn count(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}
