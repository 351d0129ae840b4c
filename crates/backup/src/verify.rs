//! `paddock backup verify`: re-reads every object of every backup in a target, checks its size and
//! SHA-256 against the manifest, decompresses and loads the snapshot, and compares its zxid, node count
//! and state digest with the manifest; replays the archived log and names every hole in it. Every problem
//! names the object (and zxid) at fault.

use std::io::Write;

use paddock_tree::{DataTree, Txn, TxnOp, TxnResult};
use serde::Serialize;

use crate::catalog::{ClusterBackups, LogRange};
use crate::manifest::Manifest;
use crate::segment;
use crate::target::Target;
use crate::{BackupError, catalog, datadir};

#[derive(Clone, Debug, Serialize)]
pub struct Verified {
    pub target: String,
    /// Backups checked and found sound.
    pub sound: usize,
    pub bytes_read: u64,
    pub problems: Vec<Problem>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    pub cluster_id: String,
    /// The object at fault, relative to the target.
    pub key: String,
    pub zxid: Option<i64>,
    pub problem: String,
}

/// Verifies everything in `target`. Problems are reported, not returned as errors; an error means the
/// target itself could not be read.
pub async fn verify(target: &Target, progress: &(dyn Fn(u64) + Sync)) -> Result<Verified, BackupError> {
    let catalog = catalog::read(target).await?;
    let mut verified = Verified { target: target.display().to_string(), sound: 0, bytes_read: 0, problems: Vec::new() };
    for cluster in &catalog.clusters {
        let id = &cluster.cluster_id;
        let problem =
            |key: &str, zxid, problem: String| Problem { cluster_id: id.clone(), key: key.to_string(), zxid, problem };
        for key in &cluster.incomplete {
            verified.problems.push(problem(key, None, "a snapshot without a manifest: an incomplete backup".into()));
        }
        for why in &cluster.unreadable {
            verified.problems.push(problem("", None, why.clone()));
        }
        for manifest in cluster.snapshots.iter().chain(&cluster.subtrees) {
            match check_backup(target, manifest, progress, &mut verified.bytes_read).await {
                Ok(()) => verified.sound += 1,
                Err((key, why)) => verified.problems.push(problem(&key, Some(manifest.zxid), why)),
            }
        }
        for range in &cluster.log_ranges {
            if let Err((key, zxid, why)) = replay_range(target, cluster, range, &mut verified).await {
                verified.problems.push(problem(&key, zxid, why));
            }
        }
        for (first, last) in cluster.gaps() {
            // Named by the object that follows the hole: the restore points before it stop short of it.
            let after = cluster.segments.iter().find(|s| s.first == last + 1).map(|s| s.key(id)).unwrap_or_default();
            let why = format!(
                "zxids {first}..={last} are missing from the archived log (a segment lost, or the log purged before \
                 it was archived): no restore point lies between them"
            );
            verified.problems.push(problem(&after, Some(first), why));
        }
    }
    if target.keyring().is_some() {
        plaintext_objects(target, &mut verified.problems).await?;
    }
    Ok(verified)
}

/// In a target used with a key, every object stored unencrypted: readable by whoever holds the bucket and
/// not authenticated (written before encryption was turned on, or put there by someone else).
async fn plaintext_objects(target: &Target, problems: &mut Vec<Problem>) -> Result<(), BackupError> {
    for (key, _) in target.list("").await? {
        if target.sealed_with(&key).await?.is_none() {
            problems.push(Problem {
                cluster_id: key.split_once('/').map(|(c, _)| c.to_string()).unwrap_or_default(),
                key,
                zxid: None,
                problem: "stored unencrypted in a target used with an encryption key: `paddock backup rekey` \
                          encrypts it"
                    .into(),
            });
        }
    }
    Ok(())
}

/// Replays one continuous range of the archived log from its base (the empty tree, or the first snapshot
/// in or just before it) and compares the digest at every snapshot inside the range with its manifest:
/// the log and the snapshots must tell the same story; so must every `Digest` entry of the log, checked
/// against the replayed tree after its zxid. Every segment is decoded (checksums) on the way.
async fn replay_range(
    target: &Target,
    cluster: &ClusterBackups,
    range: &LogRange,
    verified: &mut Verified,
) -> Result<(), (String, Option<i64>, String)> {
    let base = cluster.snapshots.iter().find(|m| m.zxid >= range.first - 1 && m.zxid <= range.last);
    let mut tree = match base {
        Some(manifest) => {
            let entry =
                manifest.snapshot().ok_or_else(|| (String::new(), Some(manifest.zxid), "no snapshot".into()))?;
            let key = format!("{}/{}", manifest.cluster_id, entry.key);
            let mut read = 0;
            let file = fetch_checked(target, &key, entry.size, &entry.sha256, &|_| {}, &mut read)
                .await
                .map_err(|why| (key.clone(), Some(manifest.zxid), why))?;
            datadir::read_snapshot_file(file.path()).map_err(|e| (key.clone(), Some(manifest.zxid), e.to_string()))?
        }
        // The log from zxid 1 replays from the empty tree; a range with no base is only decoded.
        None => DataTree::new(),
    };
    let replaying = base.is_some() || range.first == 1;
    let checkpoints: Vec<&Manifest> =
        cluster.snapshots.iter().filter(|m| m.zxid > tree.last_zxid() && m.zxid <= range.last).collect();
    for segment in cluster.segments.iter().filter(|s| s.first >= range.first && s.last <= range.last) {
        let key = segment.key(&cluster.cluster_id);
        let bytes = target.get(&key).await.map_err(|e| (key.clone(), Some(segment.first), e.to_string()))?;
        verified.bytes_read += bytes.len() as u64;
        let entries =
            segment::decode(&key, &bytes, segment).map_err(|e| (key.clone(), Some(segment.first), e.to_string()))?;
        for (index, payload) in entries {
            if !replaying || index <= tree.last_zxid() {
                continue;
            }
            let (txn, applied) = tree
                .apply_entry(index, &payload)
                .map_err(|e| (key.clone(), Some(index), format!("cannot be applied: {e}")))?;
            if let Some(why) = digest_mismatch(&tree, &txn, &applied.result) {
                return Err((key, Some(index), why));
            }
            if let Some(at) = checkpoints.iter().find(|m| m.zxid == index) {
                let digest = format!("{:016x}", tree.digest());
                if digest != at.digest {
                    return Err((
                        key,
                        Some(index),
                        format!(
                            "replaying the archived log gives digest {digest} at zxid {index}; the snapshot backup there says {}",
                            at.digest
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// What is wrong when `txn`, just applied to `tree`, is a `Digest` entry (`paddock.digestInterval`) that
/// the replay does not match: the log holds another history than the one that wrote it.
pub(crate) fn digest_mismatch(tree: &DataTree, txn: &Txn, result: &TxnResult) -> Option<String> {
    let (TxnOp::Digest { zxid, digest }, TxnResult::DigestChecked { matches: Some(false) }) = (&txn.op, result) else {
        return None;
    };
    let ours = tree.digest_after(*zxid).map_or_else(|| "unknown".to_string(), |d| format!("{d:016x}"));
    Some(format!("the log records state digest {digest:016x} after zxid {zxid}; replaying it gives {ours}"))
}

/// Checks one backup: `Err((key, why))` for the first problem found.
async fn check_backup(
    target: &Target,
    manifest: &Manifest,
    progress: &(dyn Fn(u64) + Sync),
    bytes_read: &mut u64,
) -> Result<(), (String, String)> {
    let Some(entry) = manifest.snapshot() else {
        return Err((String::new(), format!("the manifest of zxid {} lists no snapshot", manifest.zxid)));
    };
    let key = format!("{}/{}", manifest.cluster_id, entry.key);
    let fail = |why: String| (key.clone(), why);
    let file = fetch_checked(target, &key, entry.size, &entry.sha256, progress, bytes_read).await.map_err(fail)?;
    let path = file.path().to_path_buf();
    let tree = tokio::task::spawn_blocking(move || datadir::read_snapshot_file(&path))
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(e.to_string()))?;
    let digest = format!("{:016x}", tree.digest());
    if tree.last_zxid() != manifest.zxid || digest != manifest.digest || tree.node_count() as u64 != manifest.node_count
    {
        return Err(fail(format!(
            "the snapshot holds zxid {} with {} nodes and digest {digest}; the manifest says zxid {}, {} nodes, digest {}",
            tree.last_zxid(),
            tree.node_count(),
            manifest.zxid,
            manifest.node_count,
            manifest.digest
        )));
    }
    Ok(())
}

/// Downloads an object into a temporary file, checking its size and SHA-256 against what is expected.
pub(crate) async fn fetch_checked(
    target: &Target,
    key: &str,
    size: u64,
    sha256: &str,
    progress: &(dyn Fn(u64) + Sync),
    bytes_read: &mut u64,
) -> Result<tempfile::NamedTempFile, String> {
    let mut file = tempfile::NamedTempFile::new().map_err(|e| format!("cannot make a temporary file: {e}"))?;
    let mut read = 0u64;
    let written = target
        .download(key, |chunk| {
            read += chunk.len() as u64;
            progress(*bytes_read + read);
            file.write_all(chunk).map_err(|e| BackupError::Io(format!("cannot write a temporary file: {e}")))
        })
        .await
        .map_err(|e| match e {
            BackupError::Missing(_) => "missing: the manifest lists it but the target does not hold it".to_string(),
            e => e.to_string(),
        })?;
    *bytes_read += written.size;
    if written.size != size {
        return Err(format!("{} bytes, the manifest says {size} (truncated or replaced)", written.size));
    }
    if written.sha256 != sha256 {
        return Err(format!("SHA-256 {} differs from the manifest's {sha256} (the bytes changed)", written.sha256));
    }
    file.flush().map_err(|e| format!("cannot write a temporary file: {e}"))?;
    Ok(file)
}
