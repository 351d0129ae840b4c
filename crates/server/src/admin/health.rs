//! Health probes for orchestrators: `/health/live` answers as long as the process serves HTTP;
//! `/health/ready` only once the request pipeline answers, so that traffic is sent to a server that can
//! serve it.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AdminState;

/// A pipeline that takes longer than this to answer a no-op is not ready, whatever the reason.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn live() -> Response {
    (StatusCode::OK, Json(json!({ "status": "live" }))).into_response()
}

pub async fn ready(State(state): State<Arc<AdminState>>) -> Response {
    let probe = state.shared.inspect(|core| (core.last_zxid(), core.conns.len(), core.role.name()));
    match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(Some((zxid, connections, role))) => {
            let body = json!({
                "status": "ready",
                "server_state": role,
                "last_zxid": format!("0x{zxid:x}"),
                "connections": connections,
            });
            (StatusCode::OK, Json(body)).into_response()
        }
        Ok(None) => not_ready("the request pipeline is not running"),
        Err(_) => not_ready("the request pipeline did not answer in time"),
    }
}

fn not_ready(reason: &str) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "not ready", "error": reason }))).into_response()
}
