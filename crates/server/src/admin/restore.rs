//! The `restore` admin command (ZooKeeper 3.9's name, `POST <commandURL>/restore`): replaces a running
//! standalone server's tree with a posted snapshot, authenticated as `snapshot` is.
//!
//! The body is a Paddock snapshot file, as `snapshot` and `backup` stream it and as backup targets hold it
//! (`<cluster>/snapshots/<zxid>.snap`). It is spooled to a file beside the data (never held in memory
//! whole), checked (every chunk's checksum, the digest against the header) and loaded; only then is it
//! handed to the write-ahead log, which puts it in place after every write queued before, at a zxid above
//! every one the server gave out (docs/backup-format.md, 9). Every client connection is closed, as after a
//! snapshot install: clients reconnect and see the restored tree. An ensemble's members are restored offline
//! (`paddock restore --config`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

use super::AdminState;
use super::response::CommandResponse;

const COMMAND: &str = "restore";

/// Spool files of restores under way get distinct names.
static SPOOLED: AtomicU64 = AtomicU64::new(0);

/// `RestoreCommand.runPost`, after authorization.
pub async fn restore(state: &AdminState, body: Body) -> Response {
    let config = &state.shared.config;
    if config.ensemble().ok().flatten().is_some() {
        let error = "a member of an ensemble is not restored in place: restore every member with \
                     `paddock restore --config`, then start them";
        return CommandResponse::failed(COMMAND, error, StatusCode::SERVICE_UNAVAILABLE).into_response();
    }
    if state.shared.cluster_id.is_none() {
        let error = "this server keeps its data in memory only (no data directory): it cannot restore";
        return CommandResponse::failed(COMMAND, error, StatusCode::SERVICE_UNAVAILABLE).into_response();
    }
    let spool = config.data_dir.join("paddock").join(format!(
        "restore-{}-{}.tmp",
        std::process::id(),
        SPOOLED.fetch_add(1, Ordering::Relaxed)
    ));
    let outcome = spool_and_restore(state, body, &spool).await;
    let _ = tokio::fs::remove_file(&spool).await;
    match outcome {
        Ok(zxid) => {
            let mut response = CommandResponse::new(COMMAND);
            response.put("last_zxid", zxid);
            response.into_response()
        }
        Err((status, error)) => {
            warn!("admin restore refused: {error}");
            CommandResponse::failed(COMMAND, error, status).into_response()
        }
    }
}

async fn spool_and_restore(state: &AdminState, body: Body, spool: &Path) -> Result<i64, (StatusCode, String)> {
    let internal = |e: String| (StatusCode::INTERNAL_SERVER_ERROR, e);
    let bytes = spool_body(body, spool).await?;
    let path: PathBuf = spool.to_path_buf();
    let tree = tokio::task::spawn_blocking(move || paddock_backup::datadir::read_snapshot_file(&path))
        .await
        .map_err(|e| internal(e.to_string()))?
        .map_err(|e| {
            (StatusCode::BAD_REQUEST, format!("the posted body ({bytes} bytes) is not a sound snapshot: {e}"))
        })?;
    let (nodes, from_zxid) = (tree.node_count(), tree.last_zxid());
    let (reply, answer) = tokio::sync::oneshot::channel();
    let handed = state.shared.inspect(move |core| core.restore(tree, reply)).await;
    if handed.is_none() {
        return Err(internal("the server is shutting down".into()));
    }
    let zxid = answer.await.map_err(|_| internal("the log stopped before restoring".into()))?.map_err(internal)?;
    info!(nodes, from_zxid = format_args!("0x{from_zxid:x}"), zxid = format_args!("0x{zxid:x}"), "admin restore done");
    Ok(zxid)
}

/// Writes the request body to `spool`; its size.
async fn spool_body(body: Body, spool: &Path) -> Result<u64, (StatusCode, String)> {
    let io =
        |what: &str, e: std::io::Error| (StatusCode::INTERNAL_SERVER_ERROR, format!("{what} {}: {e}", spool.display()));
    let mut file = tokio::fs::File::create(spool).await.map_err(|e| io("cannot create", e))?;
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| (StatusCode::BAD_REQUEST, format!("the request body broke off: {e}")))?;
        size += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(|e| io("cannot write", e))?;
    }
    file.sync_all().await.map_err(|e| io("cannot fsync", e))?;
    if size == 0 {
        return Err((StatusCode::BAD_REQUEST, "the request has no body: post the snapshot file to restore".into()));
    }
    Ok(size)
}
