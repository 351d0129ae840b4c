//! `paddock backup prune`: retention by restore points, chain-aware (docs/backup-format.md, section 8).
//!
//! The policy keeps snapshot backups: the newest `keep_last` complete backups of each cluster, and every
//! one taken (its manifest's `time_ms`) within `keep_within` of now. The archived log is kept from the
//! oldest backup that stays: every segment that ends after its zxid serves a point-in-time restore from it
//! onwards; segments wholly at or below it are deleted, and a cluster with no backup left keeps all its
//! log. No object younger than the grace period is deleted (an upload may just have finished, or a restore
//! may be reading it). Incomplete backups (a snapshot object without its manifest: an interrupted upload)
//! older than the grace period are deleted; a manifest whose snapshot object is missing is reported and
//! left alone.
//!
//! Deletion order makes an interrupted prune harmless: a backup's manifest goes before its snapshot (what
//! is left is an incomplete backup, which the next prune removes, never a manifest naming nothing), all
//! backups go before the segments they served, and segments go oldest first (no hole in the middle of
//! the log). The target is listed once; objects that appear after the listing are never touched.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use crate::BackupError;
use crate::duration::{duration_ms, format_duration};
use crate::manifest::{self, Manifest};
use crate::segment::SegmentName;
use crate::target::Target;

/// The default grace period: nothing younger than this is deleted.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(15 * 60);

/// What to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Keep the newest this many complete backups of each cluster.
    pub keep_last: Option<usize>,
    /// Keep every backup whose snapshot was taken (manifest `time_ms`) within this of now.
    pub keep_within: Option<Duration>,
    /// Delete nothing younger than this (the object's last-modified time).
    pub grace: Duration,
    /// Only this cluster; `None`: every cluster in the target.
    pub cluster: Option<String>,
}

impl Policy {
    /// Refuses a policy that names nothing to keep, or that keeps no backup at all.
    pub fn check(&self) -> Result<(), BackupError> {
        let refuse = |why: &str| Err(BackupError::Refused(why.to_string()));
        if self.keep_last.is_none() && self.keep_within.is_none() {
            return refuse("name what to keep: --keep-last N and/or --keep-within DURATION");
        }
        let keeps_by_count = self.keep_last.is_some_and(|n| n > 0);
        let keeps_by_time = self.keep_within.is_some_and(|d| !d.is_zero());
        if !keeps_by_count && !keeps_by_time {
            return refuse(match (self.keep_last, self.keep_within) {
                (Some(0), None) => "--keep-last 0 with no --keep-within would delete every backup: refused",
                (None, Some(_)) => "--keep-within 0 with no --keep-last would delete every backup: refused",
                _ => "--keep-last 0 and --keep-within 0 would delete every backup: refused",
            });
        }
        if let Some(id) = &self.cluster
            && !manifest::valid_cluster_id(id)
        {
            return Err(BackupError::Refused(format!(
                "--cluster {id:?} is not a cluster id (32 lowercase hex digits)"
            )));
        }
        Ok(())
    }
}

/// What a prune did (or, in a dry run, would do), as `--json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct Pruned {
    pub target: String,
    pub dry_run: bool,
    /// The instant the policy was applied at, ms since the Unix epoch and RFC 3339.
    pub now_ms: i64,
    pub now: String,
    pub keep_last: Option<usize>,
    pub keep_within: Option<String>,
    pub grace: String,
    pub clusters: Vec<ClusterPruned>,
    /// Every object deleted (or, in a dry run, that would be), in the order of deletion, with why.
    pub deleted: Vec<PrunedObject>,
    /// Objects the policy would delete but the grace period protects: deleted by a later prune.
    pub held: Vec<PrunedObject>,
    /// Problems seen and left alone: manifests whose snapshot object is missing, unreadable manifests.
    pub reported: Vec<PrunedObject>,
    /// Sum of the sizes of `deleted`.
    pub bytes_freed: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClusterPruned {
    pub cluster_id: String,
    /// Complete backups found (readable manifest, snapshot object present).
    pub backups: usize,
    /// The restore points the policy keeps, oldest first.
    pub kept: Vec<KeptPoint>,
    /// Archived log segments ending after this zxid are kept (the oldest backup that stays: kept, or
    /// protected by the grace period); `None`: no backup stays, and the whole log is kept.
    pub log_kept_after: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KeptPoint {
    pub zxid: i64,
    pub time_ms: i64,
    pub time: String,
    pub manifest_key: String,
    /// Why it is kept: `among the newest N`, `taken within D`, or both.
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PrunedObject {
    /// Relative to the target.
    pub key: String,
    pub size: u64,
    pub reason: String,
}

/// One listed object: size and last-modified time (ms).
#[derive(Clone, Copy)]
struct Listed {
    size: u64,
    modified_ms: i64,
}

/// A complete backup: a readable manifest whose snapshot object is present.
struct Backup {
    manifest_key: String,
    manifest: Manifest,
    /// The manifest's key, then every object it names: the order they are deleted in.
    keys: Vec<String>,
}

/// Applies `policy` to `target` at `now_ms` (ms since the Unix epoch). With `dry_run`, deletes nothing and
/// returns exactly what a real run at the same instant would delete.
pub async fn prune(target: &Target, policy: &Policy, now_ms: i64, dry_run: bool) -> Result<Pruned, BackupError> {
    policy.check()?;
    let listed: BTreeMap<String, Listed> = target
        .list_meta("")
        .await?
        .into_iter()
        .map(|(key, size, modified_ms)| (key, Listed { size, modified_ms }))
        .collect();
    let mut by_cluster: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for key in listed.keys() {
        let cluster = match (manifest::parse_snapshot_key(key), SegmentName::parse(key)) {
            (Some((cluster, _, _)), _) | (None, Some((cluster, _))) => cluster,
            (None, None) => continue,
        };
        if manifest::valid_cluster_id(cluster) && policy.cluster.as_deref().is_none_or(|only| only == cluster) {
            by_cluster.entry(cluster).or_default().push(key);
        }
    }
    if let Some(only) = &policy.cluster
        && by_cluster.is_empty()
    {
        return Err(BackupError::Refused(format!("{} holds no backup of cluster {only}", target.display())));
    }

    let mut pruned = Pruned {
        target: target.display().to_string(),
        dry_run,
        now_ms,
        now: manifest::rfc3339_ms(now_ms),
        keep_last: policy.keep_last,
        keep_within: policy.keep_within.map(format_duration),
        grace: format_duration(policy.grace),
        clusters: Vec::new(),
        deleted: Vec::new(),
        held: Vec::new(),
        reported: Vec::new(),
        bytes_freed: 0,
    };
    for (cluster, keys) in by_cluster {
        let cluster_pruned = plan_cluster(target, policy, now_ms, &listed, cluster, &keys, &mut pruned).await?;
        pruned.clusters.push(cluster_pruned);
    }
    pruned.bytes_freed = pruned.deleted.iter().map(|o| o.size).sum();
    if dry_run {
        return Ok(pruned);
    }
    for (done, object) in pruned.deleted.iter().enumerate() {
        if let Err(e) = target.delete(&object.key).await {
            // Gone already (another prune got there first) is as good as deleted.
            if target.exists(&object.key).await.unwrap_or(true) {
                return Err(BackupError::Io(format!(
                    "{e} ({done} objects deleted before it; what is left is consistent: prune again to finish)"
                )));
            }
        }
    }
    Ok(pruned)
}

/// Decides one cluster: appends its deletions (in order), held objects and problems to `out`.
async fn plan_cluster(
    target: &Target,
    policy: &Policy,
    now_ms: i64,
    listed: &BTreeMap<String, Listed>,
    cluster: &str,
    keys: &[&str],
    out: &mut Pruned,
) -> Result<ClusterPruned, BackupError> {
    let grace_ms = duration_ms(policy.grace);
    let young = |key: &str| listed.get(key).is_some_and(|o| now_ms.saturating_sub(o.modified_ms) < grace_ms);
    let object = |key: &str, reason: String| PrunedObject {
        key: key.to_string(),
        size: listed.get(key).map_or(0, |o| o.size),
        reason,
    };
    let grace = format_duration(policy.grace);

    // Complete backups, oldest first; snapshot objects some manifest names; segments by first zxid.
    let mut backups: Vec<Backup> = Vec::new();
    let mut named: BTreeSet<String> = BTreeSet::new();
    let mut segments: Vec<(&str, SegmentName)> = Vec::new();
    // The oldest manifest that cannot be read: maybe a newer Paddock's, so its log is kept as if it stayed.
    let mut unreadable_oldest: Option<i64> = None;
    for &key in keys {
        if let Some((_, name)) = SegmentName::parse(key) {
            segments.push((key, name));
            continue;
        }
        let Some((_, zxid, "json")) = manifest::parse_snapshot_key(key) else { continue };
        // The snapshot object of this zxid belongs to this manifest whatever happens below: a snapshot
        // next to an unreadable manifest is not an incomplete backup.
        named.insert(manifest::snapshot_key(cluster, zxid));
        let parsed = match target.get(key).await {
            Ok(bytes) => Manifest::parse(key, &bytes),
            Err(BackupError::Missing(_)) => continue, // deleted since the listing
            Err(e) => return Err(e),
        };
        let manifest = match parsed {
            Ok(manifest) => manifest,
            Err(e) => {
                unreadable_oldest = Some(unreadable_oldest.map_or(zxid, |u| u.min(zxid)));
                out.reported.push(object(key, format!("unreadable manifest, left alone: {e}")));
                continue;
            }
        };
        let mut objects: Vec<String> = manifest.objects.iter().map(|o| format!("{cluster}/{}", o.key)).collect();
        named.extend(objects.iter().cloned());
        let snapshot = manifest.snapshot().map(|o| format!("{cluster}/{}", o.key));
        let missing = match &snapshot {
            None => Some("lists no snapshot object".to_string()),
            Some(snap) if !listed.contains_key(snap) => Some(format!("names snapshot object {snap}, which is missing")),
            Some(_) => None,
        };
        if let Some(why) = missing {
            out.reported.push(object(
                key,
                format!("manifest of zxid {zxid} {why}: not a restore point, left alone (see backup verify)"),
            ));
            continue;
        }
        objects.retain(|k| listed.contains_key(k));
        let mut deletion_order = vec![key.to_string()];
        deletion_order.extend(objects);
        backups.push(Backup { manifest_key: key.to_string(), manifest, keys: deletion_order });
    }
    backups.sort_by_key(|b| b.manifest.zxid);
    segments.sort_by_key(|(_, s)| (s.first, s.last));

    // The policy: reasons to keep each backup.
    let count = backups.len();
    let mut kept: Vec<KeptPoint> = Vec::new();
    let mut remaining_oldest: Option<i64> = None;
    let mut going: Vec<(&Backup, String)> = Vec::new();
    for (at, backup) in backups.iter().enumerate() {
        let m = &backup.manifest;
        let mut reasons = Vec::new();
        if let Some(n) = policy.keep_last
            && count - at <= n
        {
            reasons.push(format!("among the newest {n}"));
        }
        if let Some(within) = policy.keep_within
            && now_ms.saturating_sub(m.time_ms) <= duration_ms(within)
        {
            reasons.push(format!("taken within {}", format_duration(within)));
        }
        if !reasons.is_empty() {
            remaining_oldest.get_or_insert(m.zxid);
            kept.push(KeptPoint {
                zxid: m.zxid,
                time_ms: m.time_ms,
                time: m.time.clone(),
                manifest_key: backup.manifest_key.clone(),
                reasons,
            });
            continue;
        }
        let why = format!("backup at zxid {} ({}) is outside the policy", m.zxid, m.time);
        if backup.keys.iter().any(|k| young(k)) {
            // Held back whole: it stays a restore point until a later prune, so its log stays too.
            remaining_oldest.get_or_insert(m.zxid);
            for key in &backup.keys {
                out.held.push(object(key, format!("{why}, but younger than the grace period ({grace})")));
            }
            continue;
        }
        going.push((backup, why));
    }

    // Deletions in order: each backup's manifest then its snapshot; leftovers; then the log, oldest first.
    for (backup, why) in going {
        for key in &backup.keys {
            let what = if *key == backup.manifest_key { "manifest" } else { "snapshot" };
            out.deleted.push(object(key, format!("{what}: {why}")));
        }
    }
    for &key in keys {
        if !matches!(manifest::parse_snapshot_key(key), Some((_, _, "snap"))) || named.contains(key) {
            continue;
        }
        let Some(o) = listed.get(key) else { continue };
        let uploaded = manifest::rfc3339_ms(o.modified_ms);
        if young(key) {
            out.held.push(object(
                key,
                format!(
                    "incomplete backup (no manifest) uploaded {uploaded}, younger than the grace period ({grace}): it may still be completing"
                ),
            ));
        } else {
            out.deleted
                .push(object(key, format!("incomplete backup (no manifest), an interrupted upload of {uploaded}")));
        }
    }
    // A cluster with no backup left keeps all its log; otherwise the log from the oldest that stays.
    let remaining_oldest = remaining_oldest.map(|oldest| unreadable_oldest.map_or(oldest, |u| u.min(oldest)));
    if let Some(oldest) = remaining_oldest {
        for (key, s) in segments.iter().filter(|(_, s)| s.last <= oldest) {
            let why = format!(
                "log zxids {}..={}, all at or below the oldest backup that stays (zxid {oldest}): no restore point left needs it",
                s.first, s.last
            );
            if young(key) {
                out.held.push(object(key, format!("{why}, but younger than the grace period ({grace})")));
            } else {
                out.deleted.push(object(key, why));
            }
        }
    }
    Ok(ClusterPruned { cluster_id: cluster.to_string(), backups: count, kept, log_kept_after: remaining_oldest })
}
