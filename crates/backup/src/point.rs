//! Restore points: which snapshot backup to start from and which archived log segments to replay over it
//! to reach a zxid, a moment, or the latest state the target holds.
//!
//! A zxid `z` can be restored when a base (a snapshot backup at `b <= z`, or the empty tree when the
//! archive starts at zxid 1) is followed by archived segments that cover `b+1 ..= z` without a gap. A time
//! `T` resolves to the last entry stamped at or before `T`; it is refused when `T` is before the first
//! base, or when the archive ends before `T` (the state at `T` might hold writes that were never archived).

use serde::Serialize;

use crate::BackupError;
use crate::catalog::ClusterBackups;
use crate::manifest::{self, Manifest};
use crate::segment::SegmentName;

/// What the operator asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    Latest,
    Zxid(i64),
    /// Milliseconds since the Unix epoch.
    Time(i64),
}

/// How a restore point is reached.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub cluster_id: String,
    /// The snapshot backup to start from; `None`: the empty tree (the archive starts at zxid 1).
    pub base: Option<Manifest>,
    /// Replay entries up to this zxid (inclusive) ...
    pub upto: i64,
    /// ... and, for a time, only those stamped at or before it (ms).
    pub until_ms: Option<i64>,
    /// The archived segments to replay, in order.
    pub segments: Vec<SegmentName>,
}

impl Plan {
    pub fn base_zxid(&self) -> i64 {
        self.base.as_ref().map_or(0, |m| m.zxid)
    }
}

/// A base to start from: a snapshot backup, or the empty tree when the archive starts at zxid 1.
fn bases(cluster: &ClusterBackups) -> Vec<(i64, i64, Option<&Manifest>)> {
    let mut bases: Vec<(i64, i64, Option<&Manifest>)> = Vec::new();
    if cluster.log_ranges.first().is_some_and(|r| r.first == 1) {
        bases.push((0, i64::MIN, None));
    }
    bases.extend(cluster.snapshots.iter().map(|m| (m.zxid, m.time_ms, Some(m))));
    bases
}

/// The last zxid reachable from a base at `zxid`: the end of the log range that continues it.
fn reach(cluster: &ClusterBackups, zxid: i64) -> i64 {
    cluster.range_of(zxid + 1).map_or(zxid, |r| r.last.max(zxid))
}

pub fn resolve(cluster: &ClusterBackups, point: Point) -> Result<Plan, BackupError> {
    let bases = bases(cluster);
    let refuse = |why: String| BackupError::Refused(format!("cluster {}: {why}", cluster.cluster_id));
    let (base, upto, until_ms) = match point {
        Point::Latest => {
            let base = bases.last().ok_or_else(|| refuse(format!("no complete backup: {}", describe(cluster))))?;
            (base.2, reach(cluster, base.0), None)
        }
        Point::Zxid(z) => {
            let base = bases
                .iter()
                .rev()
                .find(|(b, _, _)| *b <= z && reach(cluster, *b) >= z)
                .ok_or_else(|| refuse(format!("no restore point at zxid {z} (0x{z:x}): {}", describe(cluster))))?;
            (base.2, z, None)
        }
        Point::Time(t) => {
            let when = manifest::rfc3339_ms(t);
            let base = bases
                .iter()
                .rev()
                .find(|(_, time, _)| *time <= t)
                .ok_or_else(|| refuse(format!("{when} is before the first backup: {}", describe(cluster))))?;
            let upto = reach(cluster, base.0);
            let archived_past = cluster.range_of(base.0 + 1).is_some_and(|r| r.last_time_ms >= t);
            let next_base_past = bases.iter().any(|(b, time, _)| *b > base.0 && *b <= upto && *time > t);
            if !archived_past && !next_base_past {
                return Err(refuse(format!(
                    "the archive reaches only zxid {upto} before {when}, and writes after it may not have been archived: restore to an earlier time, or --latest. {}",
                    describe(cluster)
                )));
            }
            (base.2, upto, Some(t))
        }
    };
    let from = base.map_or(0, |m| m.zxid);
    let segments = cluster.segments.iter().filter(|s| s.last > from && s.first <= upto).copied().collect();
    Ok(Plan { cluster_id: cluster.cluster_id.clone(), base: base.cloned(), upto, until_ms, segments })
}

/// The plan for restoring `subtree` (or the whole tree, `None`): a subtree backup that holds it (its own
/// subtree or one above it) is used as it is when it is exactly the point asked for (`--zxid` its zxid), or
/// for `Latest` when it is newer than anything the whole-tree backups and the log reach. No log is replayed
/// over a subtree backup: the log's writes elsewhere in the tree could not be applied to it. Anything else
/// is the whole tree's plan.
pub fn resolve_for(cluster: &ClusterBackups, point: Point, subtree: Option<&str>) -> Result<Plan, BackupError> {
    let whole = resolve(cluster, point);
    let Some(subtree) = subtree else { return whole };
    let holds = |m: &&Manifest| {
        m.subtree.as_deref().is_some_and(|s| s == "/" || s == subtree || subtree.starts_with(&format!("{s}/")))
    };
    let mut held = cluster.subtrees.iter().filter(holds);
    let chosen = match point {
        Point::Zxid(z) if whole.is_err() => held.rfind(|m| m.zxid == z),
        Point::Latest => held.next_back().filter(|m| whole.as_ref().is_ok_and(|p| m.zxid > p.upto) || whole.is_err()),
        Point::Zxid(_) | Point::Time(_) => None,
    };
    match chosen {
        Some(m) => Ok(Plan {
            cluster_id: cluster.cluster_id.clone(),
            base: Some(m.clone()),
            upto: m.zxid,
            until_ms: None,
            segments: Vec::new(),
        }),
        None => whole,
    }
}

/// The restore points a cluster offers, for messages.
pub fn describe(cluster: &ClusterBackups) -> String {
    let mut points: Vec<String> = Vec::new();
    for (zxid, time_ms, manifest) in bases(cluster) {
        let end = reach(cluster, zxid);
        let at = match manifest {
            Some(_) => format!("snapshot at zxid {zxid} ({})", manifest::rfc3339_ms(time_ms)),
            None => "the start of the log".to_string(),
        };
        points.push(if end > zxid { format!("{at}, then any zxid to {end}") } else { at });
    }
    for m in &cluster.subtrees {
        let subtree = m.subtree.as_deref().unwrap_or("/");
        points.push(format!("subtree backup of {subtree} at zxid {} ({}), for --subtree only", m.zxid, m.time));
    }
    if points.is_empty() { "it has no restore point".into() } else { format!("restore points: {}", points.join("; ")) }
}

/// An RFC 3339 time with an offset or `Z`, as milliseconds since the epoch; a time without an offset is
/// refused rather than read in some zone.
pub fn parse_time(text: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            format!("{text:?} is not an RFC 3339 time with an offset (e.g. 2026-12-01T14:03:00Z or 2026-12-01T15:03:00+01:00)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_need_an_offset() {
        assert_eq!(parse_time("1970-01-01T00:00:01.5Z"), Ok(1500));
        assert_eq!(parse_time("1970-01-01T01:00:01+01:00"), Ok(1000));
        assert!(parse_time("2026-12-01T14:03:00").is_err());
        assert!(parse_time("last tuesday").is_err());
    }
}
