//! `paddock snapshot diff A B`: the nodes created, changed and deleted from one tree to another, where each
//! tree is a snapshot file, a data directory, or a restore point of a backup target (`TARGET@POINT`).
//! The comparison is `paddock_tree::diff` (data, ACL and ephemeral owner; history-only Stat fields are not
//! compared); this module finds the trees and describes the changes.

use std::path::{Path, PathBuf};

use paddock_proto::Stat;
use paddock_tree::DataTree;
use paddock_tree::diff::{Change, NodeImage, diff_subtree};
use serde::Serialize;

use crate::point::{self, Point};
use crate::target::Target;
use crate::{BackupError, datadir, restore};

/// One side of a comparison, as named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeSpec {
    SnapshotFile(PathBuf),
    DataDir(PathBuf),
    /// `TARGET@latest`, `TARGET@ZXID` (decimal or 0x hex) or `TARGET@TIME` (RFC 3339 with an offset).
    RestorePoint {
        target: String,
        point: Point,
    },
}

impl TreeSpec {
    /// A path that exists is a snapshot file or a data directory; anything else must be `TARGET@POINT`.
    pub fn parse(spec: &str) -> Result<TreeSpec, String> {
        let path = Path::new(spec);
        if path.is_file() {
            return Ok(TreeSpec::SnapshotFile(path.to_path_buf()));
        }
        if path.is_dir() {
            if path.join("paddock").is_dir() {
                return Ok(TreeSpec::DataDir(path.to_path_buf()));
            }
            return Err(format!(
                "{spec} is a directory but not a data directory (no paddock/ in it); a backup target needs a restore point: {spec}@latest, {spec}@ZXID or {spec}@TIME"
            ));
        }
        let Some((target, at)) = spec.rsplit_once('@') else {
            return Err(format!("{spec} is not a snapshot file, a data directory or TARGET@POINT"));
        };
        let point = match at {
            "latest" => Point::Latest,
            _ => match parse_zxid(at) {
                Some(zxid) => Point::Zxid(zxid),
                None => Point::Time(point::parse_time(at).map_err(|_| {
                    format!("{spec}: {at:?} is not a restore point (latest, a zxid such as 0x1f4 or 500, or an RFC 3339 time such as 2026-12-01T14:03:00Z)")
                })?),
            },
        };
        Ok(TreeSpec::RestorePoint { target: target.to_string(), point })
    }

    /// The tree this names, rebuilt in memory; `cluster` picks the cluster of a target that holds several,
    /// and `open` opens a target (with the caller's encryption keys).
    pub async fn load(
        &self,
        cluster: Option<&str>,
        open: impl FnOnce(&str) -> Result<Target, BackupError>,
    ) -> Result<DataTree, BackupError> {
        match self {
            TreeSpec::SnapshotFile(path) => {
                let path = path.clone();
                blocking(move || datadir::read_snapshot_file(&path)).await
            }
            TreeSpec::DataDir(dir) => {
                let dir = dir.clone();
                blocking(move || datadir::load_tree(&dir, None)).await
            }
            TreeSpec::RestorePoint { target, point } => {
                let target = open(target)?;
                restore::tree_at(&target, cluster, *point, &|_| {}).await.map(|(tree, _)| tree)
            }
        }
    }
}

async fn blocking(
    work: impl FnOnce() -> Result<DataTree, BackupError> + Send + 'static,
) -> Result<DataTree, BackupError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| BackupError::Source(e.to_string()))?
}

fn parse_zxid(text: &str) -> Option<i64> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    };
    parsed.filter(|z| *z >= 0)
}

/// The whole comparison, as printed.
#[derive(Clone, Debug, Serialize)]
pub struct TreeDiff {
    pub from: String,
    pub to: String,
    pub subtree: String,
    /// The last zxid of each tree.
    pub from_zxid: i64,
    pub to_zxid: i64,
    pub created: usize,
    pub changed: usize,
    pub deleted: usize,
    /// In path order (a parent before its children).
    pub changes: Vec<ChangeRecord>,
}

impl TreeDiff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangeRecord {
    pub path: String,
    /// `create`, `update` or `delete`.
    pub change: String,
    /// For an update, which of `data`, `acl` and `ephemeralOwner` differ.
    pub fields: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Versions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Versions>,
}

/// The Stat fields that say which version of a node a side holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Versions {
    pub version: i32,
    pub aversion: i32,
    pub mzxid: i64,
    pub ephemeral_owner: i64,
    pub data_length: i32,
}

impl Versions {
    fn of(image: &NodeImage) -> Option<Versions> {
        let stat: Stat = image.stat?;
        Some(Versions {
            version: stat.version,
            aversion: stat.aversion,
            mzxid: stat.mzxid,
            ephemeral_owner: image.ephemeral_owner,
            data_length: stat.data_length,
        })
    }
}

/// Compares `from` and `to` under `subtree` (`/`: everything). `from_name` and `to_name` say what they are.
pub fn compare(from: &DataTree, to: &DataTree, subtree: &str, from_name: &str, to_name: &str) -> TreeDiff {
    let changes: Vec<ChangeRecord> = diff_subtree(from, to, subtree).iter().map(record).collect();
    let count = |kind: &str| changes.iter().filter(|c| c.change == kind).count();
    TreeDiff {
        from: from_name.to_string(),
        to: to_name.to_string(),
        subtree: subtree.to_string(),
        from_zxid: from.last_zxid(),
        to_zxid: to.last_zxid(),
        created: count("create"),
        changed: count("update"),
        deleted: count("delete"),
        changes,
    }
}

fn record(change: &Change) -> ChangeRecord {
    let fields = change.fields().into_iter().map(|f| if f == "kind" { "ephemeralOwner" } else { f }.to_string());
    let (before, after) = match change {
        Change::Create { node, .. } => (None, Versions::of(node)),
        Change::Update { before, after, .. } => (Versions::of(before), Versions::of(after)),
        Change::Delete { before, .. } => (Versions::of(before), None),
    };
    ChangeRecord {
        path: change.path().to_string(),
        change: change.kind().to_string(),
        fields: fields.collect(),
        before,
        after,
    }
}

/// One line per change: `+ /path`, `- /path`, `~ /path data (version 1 -> 2), acl (aversion 0 -> 1)`.
pub fn render(diff: &TreeDiff) -> String {
    let mut out = String::new();
    for change in &diff.changes {
        let line = match (change.change.as_str(), change.before, change.after) {
            ("create", _, _) => format!("+ {}", change.path),
            ("delete", _, _) => format!("- {}", change.path),
            (_, Some(before), Some(after)) => {
                let what: Vec<String> = change.fields.iter().map(|f| describe_field(f, &before, &after)).collect();
                format!("~ {} {}", change.path, what.join(", "))
            }
            _ => format!("~ {} {}", change.path, change.fields.join(", ")),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn describe_field(field: &str, before: &Versions, after: &Versions) -> String {
    match field {
        "data" => format!("data (version {} -> {})", before.version, after.version),
        "acl" => format!("acl (aversion {} -> {})", before.aversion, after.aversion),
        "ephemeralOwner" => {
            format!("ephemeralOwner (0x{:x} -> 0x{:x})", before.ephemeral_owner, after.ephemeral_owner)
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_points_are_named_after_an_at_sign() {
        let spec = |s: &str| TreeSpec::parse(s);
        assert_eq!(
            spec("s3://bucket/prefix@0x1f"),
            Ok(TreeSpec::RestorePoint { target: "s3://bucket/prefix".into(), point: Point::Zxid(31) })
        );
        assert_eq!(
            spec("/nowhere/backups@500"),
            Ok(TreeSpec::RestorePoint { target: "/nowhere/backups".into(), point: Point::Zxid(500) })
        );
        assert_eq!(
            spec("/nowhere/b@1970-01-01T00:00:01Z"),
            Ok(TreeSpec::RestorePoint { target: "/nowhere/b".into(), point: Point::Time(1000) })
        );
        assert_eq!(
            spec("/nowhere/b@latest"),
            Ok(TreeSpec::RestorePoint { target: "/nowhere/b".into(), point: Point::Latest })
        );
        assert!(spec("/nowhere/b@yesterday").is_err());
        assert!(spec("/nowhere/b").is_err());
    }
}
