//! `paddock restore --into HOST:ADMIN_PORT`: puts a running server or ensemble back to a restore point,
//! whole or one subtree, through its admin `restore` command (authenticated, and enabled by
//! `admin.restore.enabled`). The tree at the restore point is rebuilt here, as for any restore; a subtree
//! restore sends only that subtree (and its ancestors), and the server carries the change out as one txn
//! of its log (see `paddock-tree`'s `restore.rs` for what it changes and what `--on-conflict` does).

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::point::Point;
use crate::target::Target;
use crate::{BackupError, manifest};

/// How long the server may take to answer: it applies the restore before answering, which for a large
/// tree on a busy ensemble takes a while; a hang is still caught.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Clone, Debug)]
pub struct IntoRequest {
    /// The server's AdminServer, `HOST:PORT`.
    pub server: String,
    /// `SCHEME:DATA` (`digest:admin:secret`) or a bare `SCHEME` (`ip`).
    pub auth: Option<String>,
    pub cluster: Option<String>,
    pub point: Point,
    pub subtree: Option<String>,
    /// `overwrite`, `skip` or `fail`; only with a subtree.
    pub on_conflict: Option<String>,
    pub dry_run: bool,
}

/// What was restored: the restore point, and the server's answer as it gave it (for a subtree: `created`,
/// `updated`, `deleted` and every change; for a whole tree: `node_count`; and `last_zxid`, the zxid the
/// restore took).
#[derive(Clone, Debug, Serialize)]
pub struct RestoredInto {
    pub server: String,
    pub from_target: String,
    pub from_cluster: String,
    pub zxid: i64,
    pub time: String,
    pub subtree: Option<String>,
    pub dry_run: bool,
    pub answer: Value,
    pub seconds: f64,
}

pub async fn restore_into(
    target: &Target,
    request: &IntoRequest,
    progress: &(dyn Fn(u64) + Sync),
    resolved: &(dyn Fn(i64, &str) + Sync),
) -> Result<RestoredInto, BackupError> {
    let started = std::time::Instant::now();
    let subtree = request.subtree.as_deref();
    let (tree, plan) = super::subtree_at(target, request.cluster.as_deref(), request.point, subtree, progress).await?;
    let time = manifest::rfc3339_ms(tree.last_time());
    resolved(tree.last_zxid(), &time);
    let zxid = tree.last_zxid();
    let sent = match &request.subtree {
        Some(subtree) => tree.subtree_only(subtree).ok_or_else(|| {
            BackupError::Refused(format!("{subtree} does not exist in the backup at zxid 0x{zxid:x} ({time})"))
        })?,
        None => {
            let mut tree = tree;
            tree.strip_sessions();
            tree.clear_cluster_id();
            tree
        }
    };
    let body = snapshot_bytes(sent).await?;
    let answer = post(request, body).await?;
    Ok(RestoredInto {
        server: request.server.clone(),
        from_target: target.display().to_string(),
        from_cluster: plan.cluster_id.clone(),
        zxid,
        time,
        subtree: request.subtree.clone(),
        dry_run: request.dry_run,
        answer,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The tree as a snapshot file, the format the admin `restore` command reads.
async fn snapshot_bytes(tree: paddock_tree::DataTree) -> Result<Vec<u8>, BackupError> {
    let mut stream = crate::datadir::snapshot_stream(tree);
    let mut body = Vec::new();
    while let Some(chunk) = stream.recv().await {
        body.extend_from_slice(&chunk.map_err(BackupError::Source)?);
    }
    Ok(body)
}

async fn post(request: &IntoRequest, body: Vec<u8>) -> Result<Value, BackupError> {
    let url = format!("http://{}/commands/restore", request.server);
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| BackupError::Source(format!("cannot make an HTTP client: {e}")))?;
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(subtree) = &request.subtree {
        query.push(("subtree", subtree.clone()));
        query.push(("onConflict", request.on_conflict.clone().unwrap_or_else(|| "fail".into())));
        query.push(("dryRun", request.dry_run.to_string()));
    }
    let address = reqwest::Url::parse_with_params(&url, &query)
        .map_err(|e| BackupError::Refused(format!("{url} is not a usable address: {e}")))?;
    let mut post = client.post(address).header(reqwest::header::CONTENT_TYPE, "application/octet-stream");
    if let Some(auth) = &request.auth {
        post = post.header(reqwest::header::AUTHORIZATION, authorization(auth));
    }
    let response = tokio::time::timeout(ANSWER_TIMEOUT, post.body(body).send())
        .await
        .map_err(|_| BackupError::Source(format!("{url}: no answer within {ANSWER_TIMEOUT:?}")))?
        .map_err(|e| BackupError::Source(format!("cannot reach {url}: {e}")))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| BackupError::Source(format!("{url}: the answer broke off: {e}")))?;
    let answer: Value = serde_json::from_str(&text)
        .map_err(|_| BackupError::Source(format!("{url} answered {status} with no JSON: {}", first_chars(&text))))?;
    let error = answer.get("error").and_then(Value::as_str);
    match error {
        None if status.is_success() => Ok(answer),
        _ => Err(BackupError::Refused(format!(
            "{url} refused the restore ({status}): {}",
            error.map_or_else(|| first_chars(&text), str::to_string)
        ))),
    }
}

/// `digest:admin:secret` is sent as `digest admin:secret`, `ip` alone as `ip`: ZooKeeper 3.9's admin
/// `Authorization` header.
fn authorization(auth: &str) -> String {
    match auth.split_once(':') {
        Some((scheme, data)) => format!("{scheme} {data}"),
        None => auth.to_string(),
    }
}

fn first_chars(text: &str) -> String {
    text.chars().take(200).collect()
}
