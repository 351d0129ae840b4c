//! The admin HTTP server (ZooKeeper's `JettyAdminServer`), health probes and Prometheus metrics.
//!
//! On `admin.serverAddress:admin.serverPort` (default 0.0.0.0:8080):
//! * `GET <admin.commandURL>` (default `/commands`): links to every command, as ZooKeeper prints them (no
//!   `Content-Type`, as Jetty sends none for that page);
//! * `GET <admin.commandURL>/<name>`: ZooKeeper 3.9's commands under the same names and aliases, answering
//!   the same JSON (see [`registry`] and [`commands`]); `snapshot` and `restore` need `Authorization`;
//!   HEAD is answered as GET without the body, as a servlet does;
//! * `GET <admin.commandURL>/backup`: Paddock's own command, authorized as `snapshot` is, streaming a
//!   snapshot of the applied tree from memory for `paddock backup create` (see [`backup`]);
//! * `GET /health/live`, `GET /health/ready`: probes, with JSON bodies;
//! * `GET /metrics`: Prometheus text format.
//!
//! `/metrics` is also served alone on `metricsProvider.httpPort` (ZooKeeper's Prometheus port) when set,
//! whether or not the admin server is enabled.
//!
//! `crates/server/tests/admin_vs_zookeeper.rs` compares every answer with Apache ZooKeeper 3.8's.
//! Differences, on purpose: a command called with a method it does not answer gets 405 like in 3.8, but
//! with the usual JSON body rather than Jetty's HTML page (3.9 fails with a bare 500 on POST); `snapshot`
//! also accepts POST; the snapshot body is Paddock's snapshot format, and so is the body `restore` takes
//! (see [`restore`]).

mod auth;
mod backup;
mod commands;
mod environment;
mod health;
mod https;
mod prometheus;
mod registry;
mod response;
mod restore;
mod snapshot;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{info, warn};

use crate::Shared;
use registry::Invocation;
use response::CommandResponse;

/// What every admin request handler shares.
pub struct AdminState {
    shared: Arc<Shared>,
    /// `admin.commandURL` without a trailing `/` (empty when the commands live at the root).
    command_base: String,
    snapshot_limiter: Mutex<snapshot::RateLimiter>,
    /// Whether a `backup` is being streamed (one at a time).
    backup_in_flight: Arc<AtomicBool>,
}

impl AdminState {
    fn new(shared: Arc<Shared>) -> Self {
        let config = &shared.config;
        let command_base = command_base(&config.admin_command_url);
        let interval = Duration::from_millis(config.admin_rate_limiter_interval_ms);
        AdminState {
            command_base,
            snapshot_limiter: Mutex::new(snapshot::RateLimiter::new(interval)),
            backup_in_flight: Arc::new(AtomicBool::new(false)),
            shared,
        }
    }
}

/// Starts the admin server when `admin.enableServer` is on, and the Prometheus port when
/// `metricsProvider.httpPort` is set; returns the task serving them (aborting it stops both), or `None`
/// when neither is configured. A port that cannot be bound fails the start, as in ZooKeeper.
pub async fn start(shared: Arc<Shared>) -> anyhow::Result<Option<JoinHandle<()>>> {
    let config = shared.config.clone();
    let state = Arc::new(AdminState::new(shared));
    let mut servers = JoinSet::new();
    if config.admin_enable_server {
        // Unusable HTTPS settings stop the start, naming the key or file.
        let https = https::AdminTls::from_config(&config).map_err(anyhow::Error::msg)?;
        let listener = bind(config.admin_server_address, config.admin_server_port, "admin server").await?;
        let addr = local_addr(&listener);
        info!(addr = %addr, command_url = %config.admin_command_url, https = https.is_some(), "started AdminServer");
        match https {
            Some(tls) => servers.spawn(serve_https(tls.listener(listener)?, admin_router(state.clone()))),
            None => servers.spawn(serve(listener, admin_router(state.clone()))),
        };
    }
    if let Some(port) = config.metrics_http_port {
        let listener = bind(config.metrics_http_host, port, "Prometheus metrics").await?;
        info!(addr = %local_addr(&listener), "serving Prometheus metrics at /metrics");
        servers.spawn(serve(listener, metrics_router(state)));
    }
    if servers.is_empty() {
        return Ok(None);
    }
    // Dropping the JoinSet, when this task is aborted, aborts the servers with it.
    Ok(Some(tokio::spawn(async move { while servers.join_next().await.is_some() {} })))
}

async fn bind(ip: IpAddr, port: u16, what: &str) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::new(ip, port);
    TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} for the {what}"))
}

fn local_addr(listener: &TcpListener) -> String {
    listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
}

async fn serve(listener: TcpListener, router: Router) {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, service).await {
        warn!("admin HTTP server stopped: {e}");
    }
}

async fn serve_https(listener: https::AdminListener, router: Router) {
    use axum::serve::ListenerExt;
    // `tap_io` gives the TLS listener's connections the peer address as `ConnectInfo`, as plain TCP has.
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener.tap_io(|_| {}), service).await {
        warn!("admin HTTPS server stopped: {e}");
    }
}

/// Probes and metrics have fixed paths; everything else is routed by [`dispatch`], so that any
/// `admin.commandURL` works without clashing with them.
fn admin_router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(prometheus::scrape))
        .fallback(dispatch)
        .with_state(state)
}

fn metrics_router(state: Arc<AdminState>) -> Router {
    Router::new().route("/metrics", get(prometheus::scrape)).with_state(state)
}

/// `admin.commandURL` as a path prefix: one leading `/`, no trailing one.
fn command_base(url: &str) -> String {
    format!("/{}", url.trim_matches('/')).trim_end_matches('/').to_string()
}

/// The command servlet: the index at the command URL, a command below it, 404 elsewhere.
async fn dispatch(
    State(state): State<Arc<AdminState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let path = uri.path();
    let base = state.command_base.as_str();
    let Some(rest) = path.strip_prefix(base) else { return not_found() };
    if rest.is_empty() || rest == "/" {
        return command_index(&method, base);
    }
    let Some(name) = rest.strip_prefix('/') else { return not_found() };
    let kwargs = Query::<HashMap<String, String>>::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or_default());
    run_command(&state, &method, name, &kwargs, authorization, caller_address(peer, &headers), body).await
}

/// The address `ip` authentication sees: the socket's, never a header's. ZooKeeper 3.9.0–3.9.2 took
/// `X-Forwarded-For`, so a spoofed header passed as any address (CVE-2024-51504); the failpoint
/// `cve::2024_51504` brings that back, for the regression test to prove it catches it.
fn caller_address(peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    fail::fail_point!("cve::2024_51504", |_| {
        let forwarded = headers.get("X-Forwarded-For").and_then(|v| v.to_str().ok());
        forwarded.and_then(|v| v.split(',').next()).and_then(|v| v.trim().parse().ok()).unwrap_or(peer.ip())
    });
    let _ = headers;
    peer.ip()
}

/// `Commands.runGetCommand` / `runPostCommand`.
async fn run_command(
    state: &AdminState,
    method: &Method,
    name: &str,
    kwargs: &HashMap<String, String>,
    authorization: Option<&str>,
    peer: IpAddr,
    body: axum::body::Body,
) -> Response {
    let Some(command) = registry::find(name) else {
        // ZooKeeper keeps answering unknown commands with 200, the error in the body.
        return CommandResponse::failed(name, format!("Unknown command: {name}"), StatusCode::OK).into_response();
    };
    let allowed = match command.invocation {
        Invocation::Get | Invocation::Backup => is_get(method),
        Invocation::Snapshot => is_get(method) || *method == Method::POST,
        Invocation::Restore => *method == Method::POST,
    };
    if !allowed {
        let error = format!("{} does not answer {method}", command.primary());
        return CommandResponse::failed(command.primary(), error, StatusCode::METHOD_NOT_ALLOWED).into_response();
    }
    if command.needs_auth()
        && let Err(refused) = auth::authorize(&state.shared, name, authorization, peer).await
    {
        return refused.into_response();
    }
    match command.invocation {
        Invocation::Get => commands::run(state, command, name, kwargs).await.into_response(),
        Invocation::Snapshot => snapshot::snapshot(state, kwargs).await,
        Invocation::Restore => restore::restore(state, kwargs, body).await,
        Invocation::Backup => backup::backup(state, kwargs).await,
    }
}

/// A servlet answers HEAD with its GET answer minus the body (hyper leaves the body out).
fn is_get(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

/// The page ZooKeeper shows at the command URL: a link per primary name. Jetty sends it without a
/// `Content-Type`, and 3.8 serves it to GET only.
fn command_index(method: &Method, base: &str) -> Response {
    if !is_get(method) {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let body: String = registry::primary_names()
        .into_iter()
        .map(|name| format!("<a href=\"{base}/{name}\">{name}</a>\n<br/>\n"))
        .collect();
    // A bare `Response` carries no `Content-Type` (a `String` response would say text/plain).
    Response::new(axum::body::Body::from(body))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found\n").into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap as Map;

    use tokio::sync::mpsc;

    use super::*;
    use crate::config::ServerConfig;

    /// State over a core that is gone: every inspect fails.
    fn stopped_server() -> Arc<AdminState> {
        let (core, _) = mpsc::channel(1);
        Arc::new(AdminState::new(Arc::new(Shared::new(Arc::new(ServerConfig::default()), core))))
    }

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
        serde_json::from_slice(&bytes).expect("JSON body")
    }

    #[test]
    fn command_url_is_normalized() {
        assert_eq!(command_base("/commands"), "/commands");
        assert_eq!(command_base("commands/"), "/commands");
        assert_eq!(command_base("/"), "");
        assert_eq!(command_base(""), "");
    }

    #[tokio::test]
    async fn not_ready_while_the_core_does_not_answer() {
        let state = stopped_server();
        let response = health::ready(State(state)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body_json(response).await["status"], "not ready");
    }

    #[tokio::test]
    async fn commands_say_not_serving_while_the_core_does_not_answer() {
        let state = stopped_server();
        let peer = IpAddr::from([127, 0, 0, 1]);
        let response =
            run_command(&state, &Method::GET, "srvr", &Map::new(), None, peer, axum::body::Body::empty()).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = body_json(response).await;
        assert_eq!(body["command"], "srvr");
        assert_eq!(body["error"], response::NOT_SERVING);
        // Commands that need no server still answer.
        let response =
            run_command(&state, &Method::GET, "envi", &Map::new(), None, peer, axum::body::Body::empty()).await;
        let body = body_json(response).await;
        assert_eq!(body["command"], "environment");
        assert!(body["error"].is_null());
        assert!(body["os.name"].is_string());
        // The auth check needs the root node's ACL, so it says "not serving" too.
        let response =
            run_command(&state, &Method::GET, "snapshot", &Map::new(), None, peer, axum::body::Body::empty()).await;
        assert_eq!(body_json(response).await["error"], response::NOT_SERVING);
    }

    #[tokio::test]
    async fn trace_mask_round_trips() {
        let state = stopped_server();
        let peer = IpAddr::from([127, 0, 0, 1]);
        let body = body_json(
            run_command(&state, &Method::GET, "gtmk", &Map::new(), None, peer, axum::body::Body::empty()).await,
        )
        .await;
        assert_eq!(body["tracemask"], crate::DEFAULT_TRACE_MASK);
        let kwargs = Map::from([("traceMask".to_string(), "7".to_string())]);
        let body =
            body_json(run_command(&state, &Method::GET, "stmk", &kwargs, None, peer, axum::body::Body::empty()).await)
                .await;
        assert_eq!(body["tracemask"], 7);
        let body = body_json(
            run_command(&state, &Method::GET, "gtmk", &Map::new(), None, peer, axum::body::Body::empty()).await,
        )
        .await;
        assert_eq!(body["tracemask"], 7);
        let kwargs = Map::from([("traceMask".to_string(), "x".to_string())]);
        let body =
            body_json(run_command(&state, &Method::GET, "stmk", &kwargs, None, peer, axum::body::Body::empty()).await)
                .await;
        assert_eq!(body["error"], "setTraceMask requires long traceMask argument, got x");
    }
}
