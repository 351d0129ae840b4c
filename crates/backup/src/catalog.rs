//! What a target holds: every cluster, its complete backups (those with a manifest) and the incomplete
//! ones (a snapshot object without its manifest: an interrupted upload, never used for a restore).

use serde::Serialize;

use crate::BackupError;
use crate::manifest::{self, Manifest};
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
    /// Keys of snapshot objects that have no manifest.
    pub incomplete: Vec<String>,
    /// Manifests that could not be read, with why.
    pub unreadable: Vec<String>,
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
        let Some((cluster, zxid, ext)) = manifest::parse_snapshot_key(key) else { continue };
        if !manifest::valid_cluster_id(cluster) {
            continue;
        }
        let at = match clusters.iter().position(|c| c.cluster_id == cluster) {
            Some(at) => at,
            None => {
                clusters.push(ClusterBackups {
                    cluster_id: cluster.to_string(),
                    snapshots: Vec::new(),
                    incomplete: Vec::new(),
                    unreadable: Vec::new(),
                });
                clusters.len() - 1
            }
        };
        let entry = &mut clusters[at];
        match ext {
            "json" => match target.get(key).await.and_then(|bytes| Manifest::parse(key, &bytes)) {
                Ok(m) => entry.snapshots.push(m),
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
    }
    Ok(Catalog { target: target.display().to_string(), clusters })
}
