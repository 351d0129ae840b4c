//! `paddock backup create`: a consistent snapshot at one zxid, streamed compressed to a target, then its
//! manifest. From a running server (its admin `backup` command streams a frozen copy of its tree while
//! writes go on; nothing lands in the server's snapshot directory), or from a data directory.

use std::path::Path;

use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::manifest::{self, Manifest, ObjectEntry};
use crate::target::Target;
use crate::{BackupError, datadir};

/// How long the server may take to answer the backup request's headers (it freezes its tree first).
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Body chunks between the HTTP response and the upload: bounded so that a slow target slows the download
/// instead of growing memory.
const RELAY_QUEUE: usize = 8;

/// What a backup was, as `--json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct Created {
    pub target: String,
    pub cluster_id: String,
    pub zxid: i64,
    pub zxid_hex: String,
    pub time: String,
    pub node_count: u64,
    pub digest: String,
    pub snapshot_key: String,
    pub snapshot_bytes: u64,
    pub manifest_key: String,
    /// A backup of the same cluster at the same zxid was there already: nothing new was written.
    pub already_present: bool,
    /// The subtree a subtree backup holds; `None` for the whole tree.
    pub subtree: Option<String>,
    pub seconds: f64,
}

/// What the snapshot being backed up is, before its bytes arrive.
struct Described {
    cluster_id: String,
    zxid: i64,
    time_ms: i64,
    node_count: u64,
    digest: u64,
    snapshot_format: u32,
    source: String,
    /// `Some` for a subtree backup.
    subtree: Option<String>,
}

impl Described {
    fn of(tree: &paddock_tree::DataTree, cluster_id: String, source: String) -> Described {
        let header = datadir::header_of(tree);
        Described {
            cluster_id,
            zxid: header.zxid,
            time_ms: header.time_ms,
            node_count: header.node_count,
            digest: header.digest,
            subtree: None,
            snapshot_format: header.format_version,
            source,
        }
    }
}

/// Backs up a running server through its AdminServer (`HOST:PORT`). `auth` is `SCHEME:DATA` or a bare
/// `SCHEME` (`ip`), sent as ZooKeeper 3.9's admin commands expect it (`Authorization: SCHEME DATA`).
/// With `subtree`, the server sends only that subtree (and its ancestors): a subtree backup.
pub async fn from_server(
    server: &str,
    auth: Option<&str>,
    subtree: Option<&str>,
    target: &Target,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Created, BackupError> {
    let started = std::time::Instant::now();
    let mut url = format!("http://{server}/commands/backup");
    if let Some(subtree) = subtree {
        url = reqwest::Url::parse_with_params(&url, [("subtree", subtree)])
            .map_err(|e| BackupError::Refused(format!("{url} is not a usable address: {e}")))?
            .to_string();
    }
    let client = reqwest::Client::builder()
        .connect_timeout(ANSWER_TIMEOUT)
        .build()
        .map_err(|e| BackupError::Source(format!("cannot make an HTTP client: {e}")))?;
    let mut request = client.get(&url);
    if let Some(auth) = auth {
        // `digest:admin:secret` is sent as `digest admin:secret`; `ip` alone as `ip`.
        let value = match auth.split_once(':') {
            Some((scheme, data)) => format!("{scheme} {data}"),
            None => auth.to_string(),
        };
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    let response = tokio::time::timeout(ANSWER_TIMEOUT, request.send())
        .await
        .map_err(|_| BackupError::Source(format!("{url}: no answer within {ANSWER_TIMEOUT:?}")))?
        .map_err(|e| BackupError::Source(format!("cannot reach {url}: {e}")))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        return Err(BackupError::Source(format!("{url} refused the backup ({status}): {}", error_of(&body))));
    }
    let is_snapshot = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"));
    if !is_snapshot {
        // An admin command's JSON answer in place of the snapshot (a member that is not serving says so
        // with status 200, as ZooKeeper's commands do).
        let body = response.text().await.unwrap_or_default();
        return Err(BackupError::Source(format!("{url} sent no snapshot: {}", error_of(&body))));
    }
    let mut described = describe(&response, server)?;
    described.subtree = subtree.map(str::to_string);
    let (tx, rx) = mpsc::channel(RELAY_QUEUE);
    let mut body = response.bytes_stream();
    let relay = tokio::spawn(async move {
        while let Some(chunk) = body.next().await {
            let item = chunk.map_err(|e| format!("the server's stream broke off: {e}"));
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
        }
    });
    let created = store(target, described, rx, progress, started).await;
    relay.abort();
    created
}

/// Backs up the tree a data directory holds (a stopped server's, or a running one's as of its last durable
/// write).
/// With `subtree`, only that subtree (and its ancestors) is backed up: a subtree backup.
pub async fn from_data_dir(
    data_dir: &Path,
    log_dir: Option<&Path>,
    subtree: Option<&str>,
    target: &Target,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Created, BackupError> {
    let started = std::time::Instant::now();
    let cluster_id = datadir::read_cluster_id(data_dir)?;
    let (dir, log) = (data_dir.to_path_buf(), log_dir.map(Path::to_path_buf));
    let mut tree = tokio::task::spawn_blocking(move || datadir::load_tree(&dir, log.as_deref()))
        .await
        .map_err(|e| BackupError::Source(format!("loading the data directory: {e}")))??;
    if let Some(subtree) = subtree {
        let zxid = tree.last_zxid();
        tree = tree.subtree_only(subtree).ok_or_else(|| {
            BackupError::Refused(format!("{subtree} does not exist in {} at zxid 0x{zxid:x}", data_dir.display()))
        })?;
    }
    let mut described = Described::of(&tree, cluster_id, format!("data-dir {}", data_dir.display()));
    described.subtree = subtree.map(str::to_string);
    store(target, described, datadir::snapshot_stream(tree), progress, started).await
}

/// Backs up a tree the caller froze (a server's scheduled backup): `source` says where it came from.
pub async fn from_tree(
    tree: paddock_tree::DataTree,
    cluster_id: &str,
    source: String,
    target: &Target,
) -> Result<Created, BackupError> {
    let started = std::time::Instant::now();
    let described = Described::of(&tree, cluster_id.to_string(), source);
    store(target, described, datadir::snapshot_stream(tree), &|_| {}, started).await
}

/// Uploads the snapshot stream, then writes the manifest (create-only: the backup exists from then on).
async fn store(
    target: &Target,
    d: Described,
    stream: mpsc::Receiver<Result<Bytes, String>>,
    progress: &(dyn Fn(u64) + Sync),
    started: std::time::Instant,
) -> Result<Created, BackupError> {
    let (snapshot_key, manifest_key) = match &d.subtree {
        None => (manifest::snapshot_key(&d.cluster_id, d.zxid), manifest::manifest_key(&d.cluster_id, d.zxid)),
        Some(subtree) => (
            manifest::subtree_key(&d.cluster_id, d.zxid, subtree, "snap"),
            manifest::subtree_key(&d.cluster_id, d.zxid, subtree, "json"),
        ),
    };
    let (manifest, fresh) = if target.exists(&manifest_key).await? {
        // A complete backup of this very state: its snapshot must not be rewritten under its manifest.
        (Manifest::parse(&manifest_key, &target.get(&manifest_key).await?)?, false)
    } else {
        let written = target.upload(&snapshot_key, stream, progress).await?;
        let manifest = Manifest {
            format_version: manifest::MANIFEST_FORMAT_VERSION,
            cluster_id: d.cluster_id.clone(),
            zxid: d.zxid,
            time_ms: d.time_ms,
            time: manifest::rfc3339_ms(d.time_ms),
            node_count: d.node_count,
            digest: format!("{:016x}", d.digest),
            snapshot_format: d.snapshot_format,
            source: d.source,
            created: manifest::now_rfc3339(),
            encryption: target.keyring().map_or_else(|| "none".to_string(), |k| k.primary().id().to_string()),
            subtree: d.subtree.clone(),
            objects: vec![ObjectEntry {
                key: manifest::relative(&d.cluster_id, &snapshot_key),
                size: written.size,
                sha256: written.sha256,
            }],
        };
        let fresh = target.put_new(&manifest_key, Bytes::from(manifest.to_json())).await?;
        (manifest, fresh)
    };
    Ok(Created {
        target: target.display().to_string(),
        cluster_id: d.cluster_id,
        zxid: d.zxid,
        zxid_hex: format!("0x{:x}", d.zxid),
        time: manifest.time,
        node_count: manifest.node_count,
        digest: manifest.digest,
        snapshot_bytes: manifest.objects.iter().map(|o| o.size).sum(),
        snapshot_key,
        manifest_key,
        already_present: !fresh,
        subtree: d.subtree,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The snapshot's description from the admin `backup` command's headers.
fn describe(response: &reqwest::Response, server: &str) -> Result<Described, BackupError> {
    let header = |name: &str| -> Result<&str, BackupError> {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| BackupError::Source(format!("{server} sent no {name} header: is it a Paddock server?")))
    };
    let number = |name: &str| -> Result<i64, BackupError> {
        header(name)?.parse().map_err(|_| BackupError::Source(format!("{server} sent a bad {name} header")))
    };
    let cluster_id = header("paddock-cluster-id")?.to_string();
    if !manifest::valid_cluster_id(&cluster_id) {
        return Err(BackupError::Source(format!("{server} sent a bad cluster id {cluster_id:?}")));
    }
    let digest = u64::from_str_radix(header("paddock-digest")?, 16)
        .map_err(|_| BackupError::Source(format!("{server} sent a bad paddock-digest header")))?;
    Ok(Described {
        cluster_id,
        zxid: number("paddock-zxid")?,
        time_ms: number("paddock-time-ms")?,
        node_count: number("paddock-node-count")?.try_into().unwrap_or(0),
        digest,
        snapshot_format: number("paddock-snapshot-format")?.try_into().unwrap_or(0),
        source: format!("server {server}"),
        subtree: None,
    })
}

/// The `error` field of an admin command's JSON answer, or the body itself.
fn error_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| body.chars().take(200).collect())
}
