//! `paddock restore`: builds a new data directory from a backup, for a new cluster that the old cluster's
//! clients can keep using.
//!
//! The restored tree is the state at the restore point: the snapshot backup at or before it, with the
//! archived log replayed over it up to that point (`point.rs`). Then two log-order changes are applied as
//! ordinary txns:
//! a marker txn (an error txn, which changes nothing but the last zxid) at the backup's zxid plus the bump,
//! so that every zxid the new cluster hands out is above any the old one did and no client is refused as
//! "ahead of the server"; then, unless sessions are kept, a closeSession for every session, which deletes
//! its ephemerals as an expiry would. The directory is built beside the destination and renamed into
//! place only once complete: a failed restore leaves nothing behind.

use std::path::{Path, PathBuf};

use paddock_proto::ErrorCode;
use paddock_tree::{DataTree, ProposalId, Txn, TxnOp};
use serde::Serialize;

use crate::catalog::{self, ClusterBackups};
use crate::manifest::{self, Manifest};
use crate::point::{self, Plan, Point};
use crate::segment;
use crate::target::Target;
use crate::{BackupError, datadir, verify};

/// ZooKeeper clients remember the last zxid they saw; the bump puts the restored cluster above any zxid
/// the old one could have reached in practice (2^32, one epoch in ZooKeeper's zxid layout).
pub const DEFAULT_BUMP: i64 = 1 << 32;

#[derive(Clone, Debug)]
pub struct RestoreRequest {
    pub data_dir: PathBuf,
    pub cluster: Option<String>,
    pub point: Point,
    pub bump: i64,
    pub keep_sessions: bool,
    pub dry_run: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Restored {
    pub data_dir: String,
    pub from_target: String,
    pub from_cluster: String,
    /// The restore point: its zxid and the leader's time stamp of it; the snapshot it started from and
    /// how many archived entries were replayed over it.
    pub zxid: i64,
    pub time: String,
    pub base_zxid: i64,
    pub replayed: u64,
    pub node_count: u64,
    /// The new cluster's id and the last zxid of the restored directory (restore point + bump + closes).
    pub cluster_id: String,
    pub last_zxid: i64,
    pub sessions_dropped: usize,
    pub ephemerals_dropped: usize,
    pub dry_run: bool,
    pub seconds: f64,
}

/// How the restore point would be reached, resolved before anything is read or written.
pub async fn plan(target: &Target, request: &RestoreRequest) -> Result<Plan, BackupError> {
    refuse_unless_empty(&request.data_dir)?;
    let catalog = catalog::read(target).await?;
    let cluster = pick_cluster(&catalog.clusters, request.cluster.as_deref(), target)?;
    point::resolve(cluster, request.point)
}

/// Restores; `resolved(zxid, time)` hears the exact restore point once the replay has found it, before
/// anything is written.
pub async fn restore(
    target: &Target,
    request: &RestoreRequest,
    progress: &dyn Fn(u64),
    resolved: &dyn Fn(i64, &str),
) -> Result<Restored, BackupError> {
    let started = std::time::Instant::now();
    if request.bump < 1 {
        return Err(BackupError::Refused(format!("--bump {} must be at least 1", request.bump)));
    }
    let plan = plan(target, request).await?;
    let (tree, replayed) = rebuild(target, &plan, progress).await?;
    let time = manifest::rfc3339_ms(tree.last_time());
    resolved(tree.last_zxid(), &time);
    let mut restored = Restored {
        data_dir: request.data_dir.display().to_string(),
        from_target: target.display().to_string(),
        from_cluster: plan.cluster_id.clone(),
        zxid: tree.last_zxid(),
        time,
        base_zxid: plan.base_zxid(),
        replayed,
        node_count: tree.node_count() as u64,
        cluster_id: String::new(),
        last_zxid: 0,
        sessions_dropped: 0,
        ephemerals_dropped: 0,
        dry_run: request.dry_run,
        seconds: 0.0,
    };
    if !request.dry_run {
        let staging = staging_dir(&request.data_dir)?;
        let built =
            build(&staging, tree, request, &mut restored).and_then(|()| move_into_place(&staging, &request.data_dir));
        if built.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        built?;
    }
    restored.seconds = started.elapsed().as_secs_f64();
    Ok(restored)
}

/// The tree at the plan's restore point: its base, then the archived entries replayed over it.
async fn rebuild(target: &Target, plan: &Plan, progress: &dyn Fn(u64)) -> Result<(DataTree, u64), BackupError> {
    let mut tree = match &plan.base {
        Some(manifest) => fetch_tree(target, manifest, progress).await?,
        None => DataTree::new(),
    };
    let mut replayed = 0u64;
    for segment in &plan.segments {
        let key = segment.key(&plan.cluster_id);
        let name = format!("{}/{key}", target.display());
        let bytes = target.get(&key).await?;
        let entries = segment::decode(&name, &bytes, segment)?;
        for (index, payload) in entries {
            if index <= tree.last_zxid() {
                continue;
            }
            if index > plan.upto {
                break;
            }
            let txn = tree.decode_entry(index, &payload).map_err(|e| BackupError::Damaged(format!("{name}: {e}")))?;
            if plan.until_ms.is_some_and(|until| txn.time > until) {
                return Ok((tree, replayed));
            }
            tree.apply(index, &txn);
            replayed += 1;
        }
    }
    if plan.until_ms.is_none() && tree.last_zxid() != plan.upto {
        return Err(BackupError::Damaged(format!(
            "the archive of cluster {} ends at zxid {}, short of {}",
            plan.cluster_id,
            tree.last_zxid(),
            plan.upto
        )));
    }
    Ok((tree, replayed))
}

fn pick_cluster<'c>(
    clusters: &'c [ClusterBackups],
    wanted: Option<&str>,
    target: &Target,
) -> Result<&'c ClusterBackups, BackupError> {
    let with_backups: Vec<&ClusterBackups> =
        clusters.iter().filter(|c| !c.snapshots.is_empty() || !c.segments.is_empty()).collect();
    match (wanted, with_backups.as_slice()) {
        (Some(id), _) => with_backups.into_iter().find(|c| c.cluster_id == id).ok_or_else(|| {
            BackupError::Refused(format!("{} holds no complete backup of cluster {id}", target.display()))
        }),
        (None, []) => Err(BackupError::Refused(format!("{} holds no complete backup", target.display()))),
        (None, [only]) => Ok(only),
        (None, many) => Err(BackupError::Refused(format!(
            "{} holds backups of several clusters ({}): name one with --cluster",
            target.display(),
            many.iter().map(|c| c.cluster_id.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// A destination that exists must be an empty directory: a restore never mixes with other data (and a
/// running server's directory is never empty).
fn refuse_unless_empty(dir: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(BackupError::Refused(format!(
                "{} is not empty: restore into a new or empty directory",
                dir.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BackupError::Refused(format!("cannot use {}: {e}", dir.display()))),
    }
}

async fn fetch_tree(target: &Target, manifest: &Manifest, progress: &dyn Fn(u64)) -> Result<DataTree, BackupError> {
    let entry = manifest
        .snapshot()
        .ok_or_else(|| BackupError::Damaged(format!("the manifest of zxid {} lists no snapshot", manifest.zxid)))?;
    let key = format!("{}/{}", manifest.cluster_id, entry.key);
    let mut read = 0;
    let file = verify::fetch_checked(target, &key, entry.size, &entry.sha256, progress, &mut read)
        .await
        .map_err(|why| BackupError::Damaged(format!("{}/{key}: {why}", target.display())))?;
    let path = file.path().to_path_buf();
    let tree = tokio::task::spawn_blocking(move || datadir::read_snapshot_file(&path))
        .await
        .map_err(|e| BackupError::Source(e.to_string()))??;
    if tree.last_zxid() != manifest.zxid || format!("{:016x}", tree.digest()) != manifest.digest {
        return Err(BackupError::Damaged(format!("{key}: the snapshot does not hold what its manifest says")));
    }
    Ok(tree)
}

fn staging_dir(data_dir: &Path) -> Result<PathBuf, BackupError> {
    let name = data_dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "data".into());
    let parent = data_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| BackupError::Refused(format!("cannot create {}: {e}", parent.display())))?;
    let staging = parent.join(format!(".{name}.restoring-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .map_err(|e| BackupError::Refused(format!("cannot create {}: {e}", staging.display())))?;
    Ok(staging)
}

/// Applies the bump and the session closes, then writes the snapshot and a new cluster id into `staging`.
fn build(
    staging: &Path,
    mut tree: DataTree,
    request: &RestoreRequest,
    restored: &mut Restored,
) -> Result<(), BackupError> {
    let time = tree.last_time();
    let txn = |session_id, op| Txn { origin: ProposalId::default(), time, session_id, auth: Vec::new(), op };
    let mut zxid = tree.last_zxid() + request.bump;
    tree.apply(zxid, &txn(0, TxnOp::Error(ErrorCode::Ok)));
    if !request.keep_sessions {
        let sessions: Vec<i64> = tree.sessions().map(|(id, _)| id).collect();
        let before = tree.ephemerals_count();
        for session in &sessions {
            zxid += 1;
            tree.apply(zxid, &txn(*session, TxnOp::CloseSession));
        }
        restored.sessions_dropped = sessions.len();
        restored.ephemerals_dropped = before - tree.ephemerals_count();
    }
    restored.last_zxid = tree.last_zxid();
    restored.node_count = tree.node_count() as u64;
    let snap_dir = paddock_storage::snap_dir(staging);
    let header = datadir::header_of(&tree);
    paddock_storage::write_snapshot(&snap_dir, &header, |w| tree.write_snapshot(w))
        .map_err(|e| BackupError::Io(format!("cannot write the restored snapshot: {e}")))?;
    let cluster_id = paddock_storage::cluster_id::load_or_create(staging)
        .map_err(|e| BackupError::Io(format!("cannot write the new cluster id: {e}")))?;
    restored.cluster_id = cluster_id.to_string();
    Ok(())
}

/// Renames the finished directory over the destination (absent, or an empty directory).
fn move_into_place(staging: &Path, data_dir: &Path) -> Result<(), BackupError> {
    refuse_unless_empty(data_dir)?;
    std::fs::rename(staging, data_dir)
        .map_err(|e| BackupError::Io(format!("cannot move the restored data into {}: {e}", data_dir.display())))?;
    if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = std::fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}
