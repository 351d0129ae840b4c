//! The `restore` admin command (ZooKeeper 3.9's name, `POST <commandURL>/restore`): puts a running server
//! or ensemble back to a posted snapshot, authenticated as `snapshot` is, and refused unless
//! `admin.restore.enabled=true`.
//!
//! - With `?subtree=/path` (and `onConflict=overwrite|skip|fail`, `fail` by default): only that subtree
//!   becomes the posted tree's, as one `RestoreSubtree` txn (an atomic write that every member applies,
//!   planned at apply time; `paddock-tree`'s `restore.rs`). `dryRun=true` answers the plan against the tree
//!   as it stands and changes nothing. Answered with every change made, or 409 with the conflicts.
//! - Without, on a member of an ensemble: the whole tree, as one `RestoreTree` txn that every member applies;
//!   every session ends and every client is dropped (clients reconnect and start new sessions).
//! - Without, on a standalone server: as follows.
//!
//! The body is a Paddock snapshot file, as `snapshot` and `backup` stream it and as backup targets hold it
//! (`<cluster>/snapshots/<zxid>.snap`). It is spooled to a file beside the data (never held in memory
//! whole), checked (every chunk's checksum, the digest against the header) and loaded; only then is it
//! handed to the write-ahead log, which puts it in place after every write queued before, at a zxid above
//! every one the server gave out (docs/backup-format.md, 9). Every client connection is closed, as after a
//! snapshot install: clients reconnect and see the restored tree. An ensemble's members are restored offline
//! (`paddock restore --config`).

mod replicated;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

use paddock_tree::DataTree;
use paddock_tree::restore::OnConflict;

use super::AdminState;
use super::response::CommandResponse;

pub(super) const COMMAND: &str = "restore";

/// Spool files of restores under way get distinct names.
static SPOOLED: AtomicU64 = AtomicU64::new(0);

/// `RestoreCommand.runPost`, after authorization.
pub async fn restore(state: &AdminState, kwargs: &HashMap<String, String>, body: Body) -> Response {
    let config = &state.shared.config;
    if !config.admin_restore_enabled {
        let error = "the restore command is disabled: set admin.restore.enabled=true to allow it";
        return CommandResponse::failed(COMMAND, error, StatusCode::SERVICE_UNAVAILABLE).into_response();
    }
    let options = match RestoreOptions::parse(kwargs) {
        Ok(options) => options,
        Err(error) => return CommandResponse::failed(COMMAND, error, StatusCode::BAD_REQUEST).into_response(),
    };
    // The posted snapshot is spooled beside the data: a server without a data directory has nowhere to put it.
    if state.shared.cluster_id.is_none() {
        let error = "this server keeps its data in memory only (no data directory): it cannot restore";
        return CommandResponse::failed(COMMAND, error, StatusCode::SERVICE_UNAVAILABLE).into_response();
    }
    let member = config.ensemble().ok().flatten().is_some();
    if options.subtree.is_some() || member {
        return replicated::restore(state, options, body).await;
    }
    let tree = match read_posted_tree(state, body).await {
        Ok(tree) => tree,
        Err(refused) => return refused,
    };
    match install(state, tree).await {
        Ok(zxid) => {
            let mut response = CommandResponse::new(COMMAND);
            response.put("last_zxid", zxid);
            response.into_response()
        }
        Err(error) => {
            warn!("admin restore failed: {error}");
            CommandResponse::failed(COMMAND, error, StatusCode::INTERNAL_SERVER_ERROR).into_response()
        }
    }
}

/// A standalone server: hands the tree to the write-ahead log, which puts it in place after every write
/// queued before; the zxid the log continues after.
async fn install(state: &AdminState, tree: DataTree) -> Result<i64, String> {
    let (nodes, from_zxid) = (tree.node_count(), tree.last_zxid());
    let (reply, answer) = tokio::sync::oneshot::channel();
    if state.shared.inspect(move |core| core.restore(tree, reply)).await.is_none() {
        return Err("the server is shutting down".into());
    }
    let zxid = answer.await.map_err(|_| "the log stopped before restoring".to_string())??;
    info!(nodes, from_zxid = format_args!("0x{from_zxid:x}"), zxid = format_args!("0x{zxid:x}"), "admin restore done");
    Ok(zxid)
}

/// What the query string asks of a restore.
pub(super) struct RestoreOptions {
    pub subtree: Option<String>,
    pub on_conflict: OnConflict,
    pub dry_run: bool,
}

impl RestoreOptions {
    fn parse(kwargs: &HashMap<String, String>) -> Result<RestoreOptions, String> {
        let on_conflict = match kwargs.get("onConflict") {
            None => OnConflict::Fail,
            Some(text) => OnConflict::parse(text)
                .ok_or_else(|| format!("onConflict={text} is not one of overwrite, skip, fail"))?,
        };
        let dry_run = match kwargs.get("dryRun").map(String::as_str) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(format!("dryRun={other} is not true or false")),
        };
        let subtree = kwargs.get("subtree").cloned();
        if let Some(path) = &subtree
            && paddock_tree::path::validate(path).is_err()
        {
            return Err(format!("subtree={path} is not a valid znode path"));
        }
        if subtree.is_none() && (kwargs.contains_key("onConflict") || dry_run) {
            return Err("onConflict and dryRun apply to a subtree restore: give subtree=/path".into());
        }
        Ok(RestoreOptions { subtree, on_conflict, dry_run })
    }
}

/// The posted snapshot, spooled to a file beside the data and checked; `Err` is the answer to send.
pub(super) async fn read_posted_tree(state: &AdminState, body: Body) -> Result<DataTree, Response> {
    let config = &state.shared.config;
    let spool = config.data_dir.join("paddock").join(format!(
        "restore-{}-{}.tmp",
        std::process::id(),
        SPOOLED.fetch_add(1, Ordering::Relaxed)
    ));
    let outcome = async {
        let bytes = spool_body(body, &spool).await?;
        let path: PathBuf = spool.clone();
        tokio::task::spawn_blocking(move || paddock_backup::datadir::read_snapshot_file(&path))
            .await
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(|e| {
                (StatusCode::BAD_REQUEST, format!("the posted body ({bytes} bytes) is not a sound snapshot: {e}"))
            })
    }
    .await;
    let _ = tokio::fs::remove_file(&spool).await;
    outcome.map_err(|(status, error)| {
        warn!("admin restore refused: {error}");
        CommandResponse::failed(COMMAND, error, status).into_response()
    })
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
