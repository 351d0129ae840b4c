//! What a target holds: every cluster, its complete backups (those with a manifest) and the incomplete
//! ones (a snapshot object without its manifest: an interrupted upload, never used for a restore).

use serde::Serialize;

use crate::BackupError;
use crate::manifest::{self, Manifest};
use crate::segment::SegmentName;
use crate::target::Target;

#[derive(Clone, Debug, Serialize)]
pub struct Catalog {
    pub target: String,
    pub clusters: Vec<ClusterBackups>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClusterBackups {
    pub cluster_id: String,
    /// Complete backups, oldest first.
    pub snapshots: Vec<Manifest>,
    /// Complete subtree backups (`backup create --subtree`), oldest first: each restores only its subtree,
    /// at exactly its zxid.
    pub subtrees: Vec<Manifest>,
    /// Keys of snapshot objects that have no manifest.
    pub incomplete: Vec<String>,
    /// Manifests that could not be read, with why.
    pub unreadable: Vec<String>,
    /// Archived log segments, by first zxid.
    pub segments: Vec<SegmentName>,
    /// The continuous zxid ranges the archived segments cover, oldest first: a restore can reach any
    /// zxid of a range that a snapshot backup starts or precedes without a gap.
    pub log_ranges: Vec<LogRange>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogRange {
    pub first: i64,
    pub last: i64,
    /// The leader's time stamps of the first and last entry, in ms and in RFC 3339.
    pub first_time_ms: i64,
    pub last_time_ms: i64,
    pub first_time: String,
    pub last_time: String,
}

impl ClusterBackups {
    /// The zxids between log ranges that no archived segment holds: `(first missing, last missing)`.
    pub fn gaps(&self) -> Vec<(i64, i64)> {
        self.log_ranges.windows(2).map(|w| (w[0].last + 1, w[1].first - 1)).collect()
    }

    /// The log range holding `zxid`, if any.
    pub fn range_of(&self, zxid: i64) -> Option<&LogRange> {
        self.log_ranges.iter().find(|r| r.first <= zxid && zxid <= r.last)
    }
}

/// Joins segments (sorted by first zxid) into continuous ranges; overlapping segments (two archivers
/// racing) count once.
fn ranges(segments: &[SegmentName]) -> Vec<LogRange> {
    let mut ranges: Vec<(SegmentName, SegmentName)> = Vec::new();
    for s in segments {
        match ranges.last_mut() {
            Some((_, end)) if s.first <= end.last + 1 => {
                if s.last > end.last {
                    *end = *s;
                }
            }
            _ => ranges.push((*s, *s)),
        }
    }
    ranges
        .into_iter()
        .map(|(start, end)| LogRange {
            first: start.first,
            last: end.last,
            first_time_ms: start.first_time_ms,
            last_time_ms: end.last_time_ms,
            first_time: manifest::rfc3339_ms(start.first_time_ms),
            last_time: manifest::rfc3339_ms(end.last_time_ms),
        })
        .collect()
}

impl Catalog {
    pub fn cluster(&self, id: &str) -> Option<&ClusterBackups> {
        self.clusters.iter().find(|c| c.cluster_id == id)
    }
}

/// Reads the catalogue of `target`: one LIST of the whole target, then every manifest.
pub async fn read(target: &Target) -> Result<Catalog, BackupError> {
    let objects = target.list("").await?;
    let mut clusters: Vec<ClusterBackups> = Vec::new();
    let keys: std::collections::BTreeSet<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
    for key in &keys {
        let subtree = manifest::parse_subtree_key(key);
        let (cluster, snapshot) = match (manifest::parse_snapshot_key(key), SegmentName::parse(key), subtree) {
            (Some((cluster, zxid, ext)), _, _) => (cluster, Some((zxid, ext))),
            (None, Some((cluster, _)), _) => (cluster, None),
            (None, None, Some((cluster, _))) => (cluster, None),
            (None, None, None) => continue,
        };
        if !manifest::valid_cluster_id(cluster) {
            continue;
        }
        let at = match clusters.iter().position(|c| c.cluster_id == cluster) {
            Some(at) => at,
            None => {
                clusters.push(ClusterBackups {
                    cluster_id: cluster.to_string(),
                    snapshots: Vec::new(),
                    subtrees: Vec::new(),
                    incomplete: Vec::new(),
                    unreadable: Vec::new(),
                    segments: Vec::new(),
                    log_ranges: Vec::new(),
                });
                clusters.len() - 1
            }
        };
        let entry = &mut clusters[at];
        let Some((zxid, ext)) = snapshot else {
            if let Some((_, name)) = SegmentName::parse(key) {
                entry.segments.push(name);
            }
            match subtree {
                Some((_, "json")) => match target.get(key).await.and_then(|bytes| Manifest::parse(key, &bytes)) {
                    Ok(m) => entry.subtrees.push(m),
                    Err(e @ BackupError::Key(_)) => return Err(e),
                    Err(e) => entry.unreadable.push(e.to_string()),
                },
                Some((_, "snap")) if !keys.contains(key.replace(".snap", ".json").as_str()) => {
                    entry.incomplete.push(key.to_string())
                }
                _ => {}
            }
            continue;
        };
        match ext {
            "json" => match target.get(key).await.and_then(|bytes| Manifest::parse(key, &bytes)) {
                Ok(m) => entry.snapshots.push(m),
                // Without the key nothing in the target can be read: say so once, not per manifest.
                Err(e @ BackupError::Key(_)) => return Err(e),
                Err(e) => entry.unreadable.push(e.to_string()),
            },
            "snap" if !keys.contains(manifest::manifest_key(cluster, zxid).as_str()) => {
                entry.incomplete.push(key.to_string())
            }
            _ => {}
        }
    }
    for cluster in &mut clusters {
        cluster.snapshots.sort_by_key(|m| m.zxid);
        cluster.subtrees.sort_by_key(|m| m.zxid);
        cluster.segments.sort_by_key(|s| (s.first, s.last));
        cluster.log_ranges = ranges(&cluster.segments);
    }
    Ok(Catalog { target: target.display().to_string(), clusters })
}
