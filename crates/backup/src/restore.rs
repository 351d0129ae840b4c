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

pub mod into;

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
    /// Restore as this member of a new ensemble (its Raft directory), rather than a standalone server.
    pub member: Option<MemberSeed>,
    /// Restore only this subtree, with its ancestors (and the server's own `/zookeeper` nodes).
    pub subtree: Option<String>,
}

/// A member of the ensemble being restored: its id and every `server.N` line of its zoo.cfg.
#[derive(Clone, Debug)]
pub struct MemberSeed {
    pub my_id: u64,
    pub members: std::collections::BTreeMap<u64, paddock_consensus::PeerNode>,
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
    point::resolve_for(cluster, request.point, request.subtree.as_deref())
}

/// Restores; `resolved(zxid, time)` hears the exact restore point once the replay has found it, before
/// anything is written.
pub async fn restore(
    target: &Target,
    request: &RestoreRequest,
    progress: &(dyn Fn(u64) + Sync),
    resolved: &(dyn Fn(i64, &str) + Sync),
) -> Result<Restored, BackupError> {
    let started = std::time::Instant::now();
    if request.bump < 1 {
        return Err(BackupError::Refused(format!("--bump {} must be at least 1", request.bump)));
    }
    let plan = plan(target, request).await?;
    let (mut tree, replayed) = rebuild(target, &plan, progress).await?;
    if let Some(subtree) = &request.subtree {
        let zxid = tree.last_zxid();
        tree = tree.subtree_only(subtree).ok_or_else(|| {
            BackupError::Refused(format!("{subtree} does not exist in the backup at zxid 0x{zxid:x}"))
        })?;
    }
    // The restored tree belongs to a new cluster, whose first leader names it (an ensemble's id is in its tree).
    tree.clear_cluster_id();
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
        let tree = prepare(tree, request, &mut restored);
        let (tree, cluster_id) = install(&request.data_dir, tree, request.member.as_ref())?;
        restored.last_zxid = tree.last_zxid();
        restored.node_count = tree.node_count() as u64;
        restored.cluster_id = cluster_id;
    }
    restored.seconds = started.elapsed().as_secs_f64();
    Ok(restored)
}

/// The tree at a restore point of a target, without writing anything (`paddock export zookeeper --from`):
/// the plan, then the snapshot and the archived log replayed over it, as a restore rebuilds it.
pub async fn tree_at(
    target: &Target,
    cluster: Option<&str>,
    point: Point,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(DataTree, Plan), BackupError> {
    subtree_at(target, cluster, point, None, progress).await
}

/// [`tree_at`] for restoring `subtree` only: the plan may start from (and end at) a subtree backup that
/// holds it (`point::resolve_for`), and the tree then holds only what that backup holds.
pub async fn subtree_at(
    target: &Target,
    cluster: Option<&str>,
    point: Point,
    subtree: Option<&str>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(DataTree, Plan), BackupError> {
    let catalog = catalog::read(target).await?;
    let chosen = pick_cluster(&catalog.clusters, cluster, target)?;
    let plan = point::resolve_for(chosen, point, subtree)?;
    let (tree, _) = rebuild(target, &plan, progress).await?;
    Ok((tree, plan))
}

/// Writes `tree` as a new data directory at `data_dir` — its snapshot (a member's: its Raft snapshot) and a
/// new cluster id — built beside it and renamed into place once complete, so that a failure leaves nothing
/// behind. The destination must not exist, or hold nothing but a `myid`. Returns the tree as written (a
/// member's carries its membership) and the new cluster id. Restore and `paddock import zookeeper` both
/// write through here.
pub fn install(
    data_dir: &Path,
    tree: DataTree,
    member: Option<&MemberSeed>,
) -> Result<(DataTree, String), BackupError> {
    refuse_unless_empty(data_dir)?;
    let existed = data_dir.exists();
    let staging = staging_dir(data_dir)?;
    let built = write_data(&staging, tree, member)
        .and_then(|written| move_into_place(&staging, data_dir, member).map(|()| written));
    if built.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
        if !existed {
            let _ = std::fs::remove_dir(data_dir);
        }
    }
    built
}

/// The tree at the plan's restore point: its base, then the archived entries replayed over it, each
/// `Digest` entry among them checked against the replayed tree (a mismatch is damage: the log holds another
/// history than the one that wrote it).
async fn rebuild(
    target: &Target,
    plan: &Plan,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(DataTree, u64), BackupError> {
    let mut tree = match &plan.base {
        Some(manifest) => fetch_tree(target, manifest, progress).await?,
        None => DataTree::new(),
    };
    let mut replayed = 0u64;
    // The last index the replay has gone through: an ensemble's log holds no txn at some indexes.
    let mut covered = tree.last_zxid();
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
            let applied = tree.apply(index, &txn);
            if let Some(why) = verify::digest_mismatch(&tree, &txn, &applied.result) {
                return Err(BackupError::Damaged(format!("{name}: zxid {index}: {why}")));
            }
            replayed += 1;
        }
        covered = covered.max(segment.last.min(plan.upto));
    }
    if plan.until_ms.is_none() && covered != plan.upto {
        return Err(BackupError::Damaged(format!(
            "the archive of cluster {} ends at zxid {covered}, short of {}",
            plan.cluster_id, plan.upto
        )));
    }
    Ok((tree, replayed))
}

pub(crate) fn pick_cluster<'c>(
    clusters: &'c [ClusterBackups],
    wanted: Option<&str>,
    target: &Target,
) -> Result<&'c ClusterBackups, BackupError> {
    let with_backups: Vec<&ClusterBackups> = clusters
        .iter()
        .filter(|c| !c.snapshots.is_empty() || !c.segments.is_empty() || !c.subtrees.is_empty())
        .collect();
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

/// A destination that exists may hold nothing but a `myid` file (ZooKeeper's members keep theirs in
/// dataDir): a restore never mixes with other data, and a running server's directory is never that empty.
pub(crate) fn refuse_unless_empty(dir: &Path) -> Result<(), BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(BackupError::Refused(format!("cannot use {}: {e}", dir.display()))),
    };
    for entry in entries {
        let entry = entry.map_err(|e| BackupError::Refused(format!("cannot list {}: {e}", dir.display())))?;
        if entry.file_name() != "myid" {
            return Err(BackupError::Refused(format!(
                "{} is not empty (it holds {}): use a new or empty directory (a myid file may be there)",
                dir.display(),
                entry.file_name().to_string_lossy()
            )));
        }
    }
    Ok(())
}

async fn fetch_tree(
    target: &Target,
    manifest: &Manifest,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<DataTree, BackupError> {
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

/// `DIR/.restoring-<pid>`: the restore is built in its `paddock` directory, which becomes `DIR/paddock`
/// in one rename.
fn staging_dir(data_dir: &Path) -> Result<PathBuf, BackupError> {
    let staging = data_dir.join(format!(".restoring-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .map_err(|e| BackupError::Refused(format!("cannot create {}: {e}", staging.display())))?;
    Ok(staging)
}

/// Applies the bump and, unless sessions are kept, the session closes.
fn prepare(mut tree: DataTree, request: &RestoreRequest, restored: &mut Restored) -> DataTree {
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
    tree
}

/// Writes the snapshot (a member's: its Raft snapshot) and a new cluster id into `staging`.
fn write_data(staging: &Path, tree: DataTree, member: Option<&MemberSeed>) -> Result<(DataTree, String), BackupError> {
    let tree = match member {
        Some(member) => {
            let raft_dir = paddock_storage::wal_dir(staging).with_file_name("raft");
            paddock_consensus::seed_member(&raft_dir, tree, &member.members)
                .map_err(|e| BackupError::Io(format!("cannot write the member's Raft snapshot: {e}")))?
        }
        None => {
            let header = datadir::header_of(&tree);
            paddock_storage::write_snapshot(&paddock_storage::snap_dir(staging), &header, |w| tree.write_snapshot(w))
                .map_err(|e| BackupError::Io(format!("cannot write the snapshot: {e}")))?;
            tree
        }
    };
    let cluster_id = paddock_storage::cluster_id::load_or_create(staging)
        .map_err(|e| BackupError::Io(format!("cannot write the new cluster id: {e}")))?;
    Ok((tree, cluster_id.to_string()))
}

/// Renames the finished `paddock` directory into the destination, then writes a member's `myid` if the
/// destination had none.
fn move_into_place(staging: &Path, data_dir: &Path, member: Option<&MemberSeed>) -> Result<(), BackupError> {
    // A `paddock` directory that appeared meanwhile makes the rename fail: nothing is mixed.
    let target = data_dir.join("paddock");
    std::fs::rename(staging.join("paddock"), &target)
        .map_err(|e| BackupError::Io(format!("cannot move the restored data into {}: {e}", target.display())))?;
    let _ = std::fs::remove_dir_all(staging);
    if let Some(member) = member {
        let myid = data_dir.join("myid");
        match std::fs::read_to_string(&myid) {
            Ok(text) if text.trim() == member.my_id.to_string() => {}
            Ok(text) => {
                return Err(BackupError::Refused(format!(
                    "{} says {}, but this member is server.{}",
                    myid.display(),
                    text.trim(),
                    member.my_id
                )));
            }
            Err(_) => write_durably(&myid, format!("{}\n", member.my_id).as_bytes())?,
        }
    }
    if let Ok(dir) = std::fs::File::open(data_dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    use std::io::Write;
    let io = |e: std::io::Error| BackupError::Io(format!("cannot write {}: {e}", path.display()));
    let mut file = std::fs::File::create(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}
