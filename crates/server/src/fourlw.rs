//! Four-letter words on the client port, with ZooKeeper's output formats.

use std::sync::Arc;

use crate::Shared;
use crate::core::Core;

pub const VERSION: &str = concat!("3.9.3-paddock-", env!("CARGO_PKG_VERSION"));

/// Runs a (whitelisted) four-letter word and returns its text.
pub async fn run(cmd: &str, shared: &Arc<Shared>) -> String {
    match cmd {
        "ruok" => "imok".to_string(),
        "isro" => "rw".to_string(),
        "srvr" => shared.inspect(srvr).await.unwrap_or_else(not_serving),
        _ => shared.inspect(srvr).await.unwrap_or_else(not_serving),
    }
}

fn not_serving() -> String {
    "This ZooKeeper instance is not currently serving requests\n".to_string()
}

fn srvr(core: &Core) -> String {
    let l = &core.stats.latency;
    format!(
        "Zookeeper version: {VERSION}\nLatency min/avg/max: {}/{:.4}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: standalone\nNode count: {}\n",
        l.min_ms.round() as i64,
        l.avg_ms(),
        l.max_ms.round() as i64,
        core.stats.packets_received,
        core.stats.packets_sent,
        core.conns.len(),
        core.outstanding_requests(),
        core.last_zxid(),
        core.tree.node_count(),
    )
}
