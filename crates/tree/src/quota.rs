//! ZooKeeper's quota bookkeeping (`DataTree.updateQuotaStat`, `updateQuotaForPath`, `StatsTrack`).
//!
//! A quota on `/app` is two nodes that clients (zkCli's `setquota`) create: `/zookeeper/quota/app/
//! zookeeper_limits` holds the limits and `/zookeeper/quota/app/zookeeper_stats` the usage, both as text like
//! `count=3,bytes=120`. The tree keeps the usage current: creating the stats node recounts the subtree, and
//! every create, delete and setData below `/app` adjusts the counts of the deepest quota above it. Only the
//! stats node's data changes (its version and mzxid do not), exactly as in ZooKeeper; `listquota` reads it.
//!
//! Limits are enforced only for a txn wrapped in [`TxnOp::EnforceQuota`](crate::TxnOp::EnforceQuota), which a
//! server proposes when its `enforceQuota` is on (ZooKeeper's default is off): then a create or setData that
//! would take the deepest quota above it past a hard limit (`countHardLimit`, `byteHardLimit`) fails with
//! QuotaExceeded, and one past a soft limit (`count`, `bytes`) is only reported, as `checkQuota` does in
//! ZooKeeper's `PrepRequestProcessor`. ZooKeeper checks on its leader before the write is ordered, against
//! the state applied so far; Paddock checks when the txn is applied, against the state every earlier txn
//! left, so the limit is exact under concurrent writers and the same on every replica. Unlike ZooKeeper, loading
//! a snapshot does not recount the stats: the snapshot already holds them, and recounting would change the
//! state (ZooKeeper's nested quotas drift) and with it the digest the snapshot was written with.

use std::collections::BTreeMap;
use std::sync::Arc;

use paddock_proto::ErrorCode;

use crate::node::Data;
use crate::path;
use crate::tree::DataTree;

const QUOTA_ROOT: &str = "/zookeeper/quota";
const LIMIT_NODE: &str = "zookeeper_limits";
const STAT_NODE: &str = "zookeeper_stats";

/// The quoted path that a limit node at `path` declares, if it is one: `/zookeeper/quota/app/zookeeper_limits`
/// declares `/app`. A limit node for `/` or directly under `/zookeeper/quota` declares nothing (ZooKeeper
/// ignores both).
pub(crate) fn declared_by_limit_node(path: &str) -> Option<&str> {
    quoted_path(path, LIMIT_NODE)
}

fn quoted_path<'a>(path: &'a str, node_name: &str) -> Option<&'a str> {
    if path::name(path) != node_name {
        return None;
    }
    let quoted = path::parent(path).strip_prefix(QUOTA_ROOT)?;
    (quoted.len() > 1 && quoted.starts_with('/')).then_some(quoted)
}

fn stats_path(quoted: &str) -> String {
    format!("{QUOTA_ROOT}{quoted}/{STAT_NODE}")
}

fn limits_path(quoted: &str) -> String {
    format!("{QUOTA_ROOT}{quoted}/{LIMIT_NODE}")
}

/// A limit that a create or setData passed, as ZooKeeper's `checkQuota` logs it: `Quota exceeded: /app
/// [current count=4, softCountLimit=3]`. Only a `hard` one refused the write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// The path the quota is on.
    pub quoted: String,
    pub hard: bool,
    /// `count` or `bytes`.
    pub kind: &'static str,
    /// The usage the write would have led to.
    pub current: i64,
    pub limit: i64,
}

impl QuotaExceeded {
    /// `PathUtils.getTopNamespace`: the namespace ZooKeeper's `quota_exceeded_error_per_namespace` counts under.
    pub fn namespace(&self) -> Option<&str> {
        self.quoted.split('/').nth(1)
    }
}

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (grade, kind) =
            (if self.hard { "hard" } else { "soft" }, if self.kind == "count" { "Count" } else { "Byte" });
        write!(
            f,
            "Quota exceeded: {} [current {}={}, {grade}{kind}Limit={}]",
            self.quoted, self.kind, self.current, self.limit
        )
    }
}

/// The quota gauges ZooKeeper's `QuotaMetricsUtils` exports, per top namespace: each sums the limit (the hard
/// one where set, else the soft one) or the usage of every quota under that namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuotaMetrics {
    pub count_limit: BTreeMap<String, i64>,
    pub bytes_limit: BTreeMap<String, i64>,
    pub count_usage: BTreeMap<String, i64>,
    pub bytes_usage: BTreeMap<String, i64>,
}

impl DataTree {
    /// `ZooKeeperServer.checkQuota` for a write under `path` that changes the node count by `count` and the
    /// data bytes by `bytes`: the deepest quota at or above `path` must stay within its hard limits. Every
    /// limit passed is pushed to `exceeded`; a hard one is QuotaExceeded. Missing or unparseable limit or
    /// stats nodes enforce nothing (ZooKeeper logs an error and lets the write through).
    pub(crate) fn check_quota(
        &self,
        path: &str,
        count: i64,
        bytes: i64,
        exceeded: &mut Vec<QuotaExceeded>,
    ) -> Result<(), ErrorCode> {
        let Some(quoted) = self.deepest_quota(path) else { return Ok(()) };
        let Some(limits) = self.stats_track(&limits_path(&quoted)) else { return Ok(()) };
        let checks = [("count", count, "countHardLimit"), ("bytes", bytes, "byteHardLimit")];
        let limited =
            |(soft, diff, hard): &(&str, i64, &str)| *diff != 0 && (limits.get(soft) > -1 || limits.get(hard) > -1);
        if !checks.iter().any(limited) {
            return Ok(());
        }
        let Some(usage) = self.stats_track(&stats_path(&quoted)) else { return Ok(()) };
        for (kind, diff, hard_key) in checks.iter().filter(|c| limited(c)) {
            let hard = limits.get(hard_key) > -1;
            let limit = if hard { limits.get(hard_key) } else { limits.get(kind) };
            let current = usage.get(kind).wrapping_add(*diff);
            if current > limit {
                exceeded.push(QuotaExceeded { quoted: quoted.to_string(), hard, kind, current, limit });
                if hard {
                    return Err(ErrorCode::QuotaExceeded);
                }
            }
        }
        Ok(())
    }

    /// `QuotaMetricsUtils`: every childless `zookeeper_limits` and `zookeeper_stats` node under
    /// `/zookeeper/quota`, summed per namespace (the first component of the path below `/zookeeper/quota`).
    pub fn quota_metrics(&self) -> QuotaMetrics {
        let mut metrics = QuotaMetrics::default();
        let (from, to) = (format!("{QUOTA_ROOT}/"), format!("{QUOTA_ROOT}0"));
        let range = (std::ops::Bound::Included(from.as_str()), std::ops::Bound::Excluded(to.as_str()));
        for (path, node) in self.nodes.range::<_, str>(range) {
            let name = path::name(path);
            if !node.children.is_empty() || (name != LIMIT_NODE && name != STAT_NODE) {
                continue;
            }
            let Some(namespace) = path[QUOTA_ROOT.len()..].split('/').nth(1) else { continue };
            let Some(track) = node.data().and_then(StatsTrack::parse) else { continue };
            let pairs = if name == LIMIT_NODE {
                let limit =
                    |hard: &str, soft: &str| if track.get(hard) > -1 { track.get(hard) } else { track.get(soft) };
                [
                    (&mut metrics.count_limit, limit("countHardLimit", "count")),
                    (&mut metrics.bytes_limit, limit("byteHardLimit", "bytes")),
                ]
            } else {
                [(&mut metrics.count_usage, track.get("count")), (&mut metrics.bytes_usage, track.get("bytes"))]
            };
            for (map, value) in pairs {
                *map.entry(namespace.to_string()).or_default() += value;
            }
        }
        metrics
    }

    fn stats_track(&self, path: &str) -> Option<StatsTrack> {
        self.get(path).and_then(|node| StatsTrack::parse(node.data()?))
    }

    /// After `path` was created with `data_len` bytes.
    pub(crate) fn quota_after_create(&mut self, path: &str, data_len: usize) {
        if let Some(quoted) = quoted_path(path, STAT_NODE) {
            self.recount_quota(quoted);
        }
        self.adjust_quota(path, data_len as i64, 1);
    }

    /// After `path`, which held `data_len` bytes, was deleted.
    pub(crate) fn quota_after_delete(&mut self, path: &str, data_len: usize) {
        self.adjust_quota(path, -(data_len as i64), -1);
    }

    /// After `path`'s data went from `old_len` to `new_len` bytes.
    pub(crate) fn quota_after_set_data(&mut self, path: &str, old_len: usize, new_len: usize) {
        self.adjust_quota(path, new_len as i64 - old_len as i64, 0);
    }

    /// `getMaxPrefixWithQuota` + `updateQuotaStat`: the deepest quota at or above `path` absorbs the change.
    /// Stats whose data is null are left alone, like unparseable ones (ZooKeeper's `StatsTrack` throws).
    fn adjust_quota(&mut self, path: &str, bytes: i64, count: i64) {
        if self.quotas.is_empty() {
            return;
        }
        let Some(quoted) = self.deepest_quota(path) else {
            return;
        };
        let stats = stats_path(&quoted);
        let Some(mut track) = self.stats_track(&stats) else {
            return;
        };
        track.add("count", count);
        track.add("bytes", bytes);
        self.replace_data(&stats, track.to_string().as_bytes());
    }

    fn deepest_quota(&self, path: &str) -> Option<Arc<str>> {
        let mut candidate = path;
        while candidate.len() > 1 {
            if let Some(quoted) = self.quotas.get(candidate) {
                return Some(quoted.clone());
            }
            candidate = path::parent(candidate);
        }
        None
    }

    /// `updateQuotaForPath`: the stats of `quoted` become the node count and data bytes of its subtree.
    fn recount_quota(&mut self, quoted: &str) {
        let (mut count, mut bytes) = (0i64, 0i64);
        if let Some(node) = self.get(quoted) {
            count = 1 + i64::from(self.all_children_number(quoted).unwrap_or(0));
            bytes = node.data.len() as i64;
            let (from, to) = (format!("{quoted}/"), format!("{quoted}0"));
            let range = (std::ops::Bound::Included(from.as_str()), std::ops::Bound::Excluded(to.as_str()));
            bytes += self.nodes.range::<_, str>(range).map(|(_, n)| n.data.len() as i64).sum::<i64>();
        }
        let mut track = StatsTrack::default();
        track.set("count", count);
        track.set("bytes", bytes);
        self.replace_data(&stats_path(quoted), track.to_string().as_bytes());
    }

    /// Quota bookkeeping changes data only: no version, no mzxid, no watch.
    fn replace_data(&mut self, path: &str, data: &[u8]) {
        self.modify(path, |node| node.data = Data::new(Some(data)));
    }
}

/// `StatsTrack`: `count=N,bytes=N`, then, if there are other keys, `=` and `;key=value` for each, sorted.
#[derive(Default)]
struct StatsTrack {
    values: BTreeMap<String, i64>,
}

impl StatsTrack {
    /// Pairs separated by runs of `,` and `;`; a missing value reads as -1. Text ZooKeeper could not parse
    /// either gives `None`, and the stats are left alone (ZooKeeper would fail the whole txn).
    fn parse(data: &[u8]) -> Option<StatsTrack> {
        let text = std::str::from_utf8(data).ok()?;
        let mut values = BTreeMap::new();
        if text.is_empty() {
            return Some(StatsTrack { values });
        }
        let mut pairs: Vec<&str> = text.split([',', ';']).collect();
        // Java's split drops trailing empty pieces; runs of separators count as one.
        while pairs.last().is_some_and(|p| p.is_empty()) {
            pairs.pop();
        }
        for (i, pair) in pairs.into_iter().enumerate() {
            if pair.is_empty() && i > 0 {
                continue;
            }
            let mut kv = pair.split('=');
            let key = kv.next()?;
            let value = kv.next()?;
            let value = if value.is_empty() { -1 } else { value.parse().ok()? };
            values.insert(key.to_string(), value);
        }
        Some(StatsTrack { values })
    }

    fn get(&self, key: &str) -> i64 {
        self.values.get(key).copied().unwrap_or(-1)
    }

    fn set(&mut self, key: &str, value: i64) {
        self.values.insert(key.to_string(), value);
    }

    fn add(&mut self, key: &str, delta: i64) {
        self.set(key, self.get(key).wrapping_add(delta));
    }
}

impl std::fmt::Display for StatsTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "count={},bytes={}", self.get("count"), self.get("bytes"))?;
        let mut others = self.values.iter().filter(|(k, _)| *k != "count" && *k != "bytes").peekable();
        if others.peek().is_some() {
            // The extra "=" is ZooKeeper's: it makes pre-3.7 parsers ignore the new keys.
            f.write_str("=")?;
            for (key, value) in others {
                write!(f, ";{key}={value}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_text_round_trips_like_zookeeper() {
        let track = StatsTrack::parse(b"count=1,bytes=2=;byteHardLimit=-1;countHardLimit=10").map(|t| t.to_string());
        assert_eq!(track.as_deref(), Some("count=1,bytes=2=;byteHardLimit=-1;countHardLimit=10"));
        assert_eq!(StatsTrack::parse(b"count=3,bytes=").map(|t| t.get("bytes")), Some(-1));
        assert_eq!(StatsTrack::parse(b"").map(|t| t.to_string()).as_deref(), Some("count=-1,bytes=-1"));
        assert!(StatsTrack::parse(b"count").is_none());
        assert!(StatsTrack::parse(b"count=x").is_none());
        assert!(StatsTrack::parse(b",count=1").is_none());
    }

    #[test]
    fn only_limit_nodes_under_a_real_quoted_path_declare_a_quota() {
        assert_eq!(declared_by_limit_node("/zookeeper/quota/app/zookeeper_limits"), Some("/app"));
        assert_eq!(declared_by_limit_node("/zookeeper/quota/a/b/zookeeper_limits"), Some("/a/b"));
        assert_eq!(declared_by_limit_node("/zookeeper/quota/zookeeper_limits"), None);
        assert_eq!(declared_by_limit_node("/zookeeper/quotax/zookeeper_limits"), None);
        assert_eq!(declared_by_limit_node("/zookeeper/quota/app/zookeeper_stats"), None);
        assert_eq!(declared_by_limit_node("/elsewhere/zookeeper_limits"), None);
    }
}
