//! The `snapshot` admin command (ZooKeeper 3.9, ZOOKEEPER-4570); `restore` is in `restore.rs`.
//!
//! `snapshot` takes a real snapshot through [`crate::snapshots::Snapshots::start`] and answers with the
//! `last_zxid` (`0x<hex>`) and `snapshot_size` headers; with `streaming=true` (the default) the body is the
//! snapshot file. Intentional difference: the file is Paddock's own snapshot format (zstd-compressed,
//! checksummed chunks, see `docs/format.md`), not ZooKeeper's jute `snapshot.<zxid>`.
//!
//! The rate limit is ZooKeeper's (one snapshot per `admin.rateLimiterIntervalInMS`, default 5 minutes),
//! applied in milliseconds as documented: ZooKeeper 3.9 builds it in microseconds by mistake (300 ms).

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::io::{AsyncRead, ReadBuf};
use tracing::{info, warn};

use super::AdminState;
use super::response::{CommandResponse, add_headers};

const LAST_ZXID: HeaderName = HeaderName::from_static("last_zxid");
const SNAPSHOT_SIZE: HeaderName = HeaderName::from_static("snapshot_size");

/// How long a request waits for a snapshot already being written (by `snapCount`) to finish before
/// starting its own.
const BUSY_WAIT: Duration = Duration::from_secs(30);
const BUSY_POLL: Duration = Duration::from_millis(25);

/// Bytes read from the snapshot file per body chunk.
const CHUNK: usize = 64 * 1024;

/// ZooKeeper's `RateLimiter`: `rate` permits per interval, the first one available at once.
pub struct RateLimiter {
    interval: Duration,
    last_reset: Instant,
    remaining: u32,
}

impl RateLimiter {
    pub fn new(interval: Duration) -> Self {
        RateLimiter { interval, last_reset: Instant::now(), remaining: 1 }
    }

    pub fn allow(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.last_reset) > self.interval {
            self.remaining = 1;
            self.last_reset = now;
        }
        if self.remaining == 0 {
            return false;
        }
        self.remaining -= 1;
        true
    }
}

/// `SnapshotCommand.runGet`, after authorization.
pub async fn snapshot(state: &AdminState, kwargs: &HashMap<String, String>) -> Response {
    let mut response = CommandResponse::new("snapshot");
    if !state.shared.config.admin_snapshot_enabled {
        let error = "the snapshot command is disabled (admin.snapshot.enabled=false)";
        return CommandResponse::failed("snapshot", error, StatusCode::SERVICE_UNAVAILABLE).into_response();
    }
    let allowed = state.snapshot_limiter.lock().unwrap_or_else(PoisonError::into_inner).allow();
    if !allowed {
        metrics::counter!("paddock_admin_snapshot_rate_limited_total").increment(1);
        warn!("admin snapshot request rate limited");
        let error = "snapshot rate limited: at most one per admin.rateLimiterIntervalInMS";
        return CommandResponse::failed("snapshot", error, StatusCode::TOO_MANY_REQUESTS).into_response();
    }
    // Boolean.parseBoolean: only "true" (any case) is true.
    let streaming = kwargs.get("streaming").is_none_or(|v| v.eq_ignore_ascii_case("true"));
    let (zxid, path) = match take(state).await {
        Ok(taken) => taken,
        Err(failure) => {
            if failure.status == StatusCode::INTERNAL_SERVER_ERROR {
                metrics::counter!("paddock_admin_snapshot_errors_total").increment(1);
            }
            warn!("admin snapshot failed: {}", failure.error);
            return CommandResponse::failed("snapshot", failure.error, failure.status).into_response();
        }
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) => {
            metrics::counter!("paddock_admin_snapshot_errors_total").increment(1);
            let error = format!("cannot open snapshot {}: {e}", path.display());
            return CommandResponse::failed("snapshot", error, StatusCode::INTERNAL_SERVER_ERROR).into_response();
        }
    };
    let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    info!(zxid = format_args!("0x{zxid:x}"), size, path = %path.display(), streaming, "admin snapshot taken");
    response.add_header(LAST_ZXID, format!("0x{zxid:x}"));
    response.add_header(SNAPSHOT_SIZE, size.to_string());
    if size == 0 {
        metrics::counter!("paddock_admin_snapshot_errors_total").increment(1);
        response.status = StatusCode::INTERNAL_SERVER_ERROR;
        response.error = Some(format!("snapshot file {} is empty", path.display()));
        return response.into_response();
    }
    if !streaming {
        return response.into_response();
    }
    stream_file(&response, file, size)
}

/// The snapshot file as an `application/octet-stream` body, with the command's headers.
fn stream_file(command: &CommandResponse, file: tokio::fs::File, size: u64) -> Response {
    let body = Body::from_stream(FileChunks { file, buf: vec![0; CHUNK].into_boxed_slice() });
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::CONTENT_LENGTH, size.to_string())],
        body,
    )
        .into_response();
    add_headers(&mut response, command.header_pairs());
    response
}

struct Failure {
    status: StatusCode,
    error: String,
}

impl Failure {
    fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Failure { status, error: error.into() }
    }
}

/// Starts a snapshot of the tree as it is now and waits for it to be on disk.
async fn take(state: &AdminState) -> Result<(i64, PathBuf), Failure> {
    let started = Instant::now();
    let receiver = loop {
        let attempt = state.shared.inspect(|core| core.snapshots.as_ref().map(|s| s.start(&core.tree))).await;
        match attempt {
            None => return Err(Failure::new(StatusCode::OK, super::response::NOT_SERVING)),
            Some(None) => {
                let error = "this server keeps its data in memory only (no data directory): it takes no snapshots";
                return Err(Failure::new(StatusCode::SERVICE_UNAVAILABLE, error));
            }
            Some(Some(Some(receiver))) => break receiver,
            Some(Some(None)) if started.elapsed() < BUSY_WAIT => tokio::time::sleep(BUSY_POLL).await,
            Some(Some(None)) => {
                let error = "another snapshot is still being written; try again later";
                return Err(Failure::new(StatusCode::TOO_MANY_REQUESTS, error));
            }
        }
    };
    match receiver.await {
        Ok(Ok(taken)) => Ok(taken),
        Ok(Err(e)) => Err(Failure::new(StatusCode::INTERNAL_SERVER_ERROR, format!("snapshot failed: {e}"))),
        Err(_) => Err(Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "snapshot task ended without an answer")),
    }
}

/// A file read as a stream of chunks, for a response body that is never held in memory whole.
struct FileChunks {
    file: tokio::fs::File,
    buf: Box<[u8]>,
}

impl futures_core::Stream for FileChunks {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut read = ReadBuf::new(&mut this.buf);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) if read.filled().is_empty() => Poll::Ready(None),
            Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(Bytes::copy_from_slice(read.filled())))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_allows_one_per_interval() {
        let mut limiter = RateLimiter::new(Duration::from_secs(3600));
        assert!(limiter.allow());
        assert!(!limiter.allow());
        let mut unlimited = RateLimiter::new(Duration::ZERO);
        assert!(unlimited.allow());
        std::thread::sleep(Duration::from_millis(2));
        assert!(unlimited.allow());
    }
}
