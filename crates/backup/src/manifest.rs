//! The manifest of a snapshot backup (docs/backup-format.md, section 3), and where objects live in a target.
//!
//! A target holds clusters side by side: `<cluster-id>/snapshots/<zxid>.snap` is the snapshot (Paddock's
//! snapshot file, byte for byte) and `<cluster-id>/snapshots/<zxid>.json` its manifest, written last and
//! create-only. A snapshot without a manifest is an incomplete backup: never used, removed by `prune`.

use serde::{Deserialize, Serialize};

use crate::BackupError;

pub const MANIFEST_FORMAT_VERSION: u32 = 1;

/// Everything a restore or a verification needs to know about one backup, without reading the snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub cluster_id: String,
    /// The last zxid the snapshot holds.
    pub zxid: i64,
    /// The leader's time stamp of that zxid, in milliseconds since the Unix epoch, and the same in RFC 3339.
    pub time_ms: i64,
    pub time: String,
    pub node_count: u64,
    /// The tree's state digest at `zxid`, 16 lowercase hex digits.
    pub digest: String,
    /// The snapshot body's encoding version (`paddock_tree::SNAPSHOT_FORMAT_VERSION` when it was written).
    pub snapshot_format: u32,
    /// Where the backup was taken from: `server HOST:PORT` or `data-dir PATH`.
    pub source: String,
    /// When the backup was completed (RFC 3339, UTC).
    pub created: String,
    /// `none`, or the id of the key the backup's objects were encrypted with (16 hex digits,
    /// docs/backup-format.md "Encrypted objects"). Absent in a manifest: `none`.
    #[serde(default = "unencrypted")]
    pub encryption: String,
    /// A subtree backup (`backup create --subtree`): the snapshot holds only this node, what is under it
    /// (ephemerals aside) and its ancestors. It lives under `<cluster>/subtrees/` and restores only that
    /// subtree, at exactly its zxid. Absent: the whole tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtree: Option<String>,
    pub objects: Vec<ObjectEntry>,
}

fn unencrypted() -> String {
    "none".to_string()
}

/// One object of a backup: its key relative to the cluster's directory, size and SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    pub sha256: String,
}

impl Manifest {
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    pub fn parse(name: &str, bytes: &[u8]) -> Result<Manifest, BackupError> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| BackupError::Damaged(format!("{name}: not a readable manifest: {e}")))?;
        if manifest.format_version != MANIFEST_FORMAT_VERSION {
            return Err(BackupError::Damaged(format!(
                "{name}: manifest format version {} is not one this Paddock reads ({MANIFEST_FORMAT_VERSION})",
                manifest.format_version
            )));
        }
        Ok(manifest)
    }

    /// The snapshot object's entry.
    pub fn snapshot(&self) -> Option<&ObjectEntry> {
        self.objects.iter().find(|o| o.key.ends_with(".snap"))
    }
}

/// `<cluster>/snapshots/<zxid>.snap`: zxids are 20 decimal digits, so that keys sort by zxid.
pub fn snapshot_key(cluster: &str, zxid: i64) -> String {
    format!("{cluster}/snapshots/{zxid:020}.snap")
}

pub fn manifest_key(cluster: &str, zxid: i64) -> String {
    format!("{cluster}/snapshots/{zxid:020}.json")
}

/// `<cluster>/subtrees/<zxid>.<tag>.snap`, and `.json` for its manifest: a subtree backup, kept apart from
/// whole-tree backups (a restore of the whole tree or a replay of the log never starts from one). `tag` is
/// 16 hex digits of the SHA-256 of the subtree's path, so backups of two subtrees at one zxid do not meet.
pub fn subtree_key(cluster: &str, zxid: i64, subtree: &str, ext: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(subtree.as_bytes());
    let tag: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{cluster}/subtrees/{zxid:020}.{tag}.{ext}")
}

/// Splits `<cluster>/subtrees/<zxid>.<tag>.<ext>` into its cluster and extension; `None` for any other key.
pub fn parse_subtree_key(key: &str) -> Option<(&str, &str)> {
    let (cluster, rest) = key.split_once('/')?;
    let name = rest.strip_prefix("subtrees/")?;
    let mut parts = name.split('.');
    let (zxid, tag, ext) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |text: &str, len: usize, hex: bool| {
        text.len() == len && text.bytes().all(|b| if hex { b.is_ascii_hexdigit() } else { b.is_ascii_digit() })
    };
    (parts.next().is_none() && digits(zxid, 20, false) && digits(tag, 16, true)).then_some((cluster, ext))
}

/// A key relative to its cluster's directory, as manifests name objects.
pub fn relative(cluster: &str, key: &str) -> String {
    key.strip_prefix(&format!("{cluster}/")).unwrap_or(key).to_string()
}

/// Splits `<cluster>/snapshots/<zxid>.<ext>` into its parts; `None` for any other key.
pub fn parse_snapshot_key(key: &str) -> Option<(&str, i64, &str)> {
    let (cluster, rest) = key.split_once('/')?;
    let name = rest.strip_prefix("snapshots/")?;
    let (zxid, ext) = name.split_once('.')?;
    if zxid.len() != 20 || !zxid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((cluster, zxid.parse().ok()?, ext))
}

/// A cluster id: 32 lowercase hex digits.
pub fn valid_cluster_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_zxid_and_parse_back() {
        let cluster = "0123456789abcdef0123456789abcdef";
        assert!(snapshot_key(cluster, 9) < snapshot_key(cluster, 10));
        assert_eq!(parse_snapshot_key(&snapshot_key(cluster, 4_294_967_296)), Some((cluster, 4_294_967_296, "snap")));
        assert_eq!(parse_snapshot_key(&manifest_key(cluster, 7)), Some((cluster, 7, "json")));
        assert_eq!(parse_snapshot_key("c/snapshots/12.snap"), None);
        assert_eq!(parse_snapshot_key("c/wal/00000000000000000001.seg"), None);
    }

    #[test]
    fn a_manifest_of_another_version_or_garbage_is_named_as_damaged() {
        assert!(matches!(Manifest::parse("m", b"{"), Err(BackupError::Damaged(m)) if m.starts_with("m: ")));
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_ms(1_500), "1970-01-01T00:00:01.5Z");
    }
}
