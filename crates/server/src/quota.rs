//! ZooKeeper's quota enforcement (`enforceQuota`) as the server sees it: which writes ask for it, what is
//! logged and counted when a limit is passed, and the quota metrics ZooKeeper exports.
//!
//! ZooKeeper's leader checks a create or setData in `PrepRequestProcessor.checkQuota`, against the state
//! applied so far, before the write is ordered: two concurrent writers (or one pipelining client) can both
//! pass a limit that only one of them fits in. Paddock instead wraps each write in
//! [`TxnOp::EnforceQuota`] on the server that prepares it, and the tree checks it when it is applied, against
//! the state every earlier txn left: the limit is exact, and the outcome is the same on every replica because
//! the flag travels in the log rather than in each replica's configuration. A server with `enforceQuota` on
//! answers its own clients' writes only; a txn another member proposed keeps that member's setting.
//!
//! Only the proposing server logs and counts a limit passed, as only ZooKeeper's leader does; other replicas
//! apply the same txn silently.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use paddock_tree::{DataTree, QuotaExceeded, TxnOp};
use tracing::warn;

/// ZooKeeper's `RateLogger`: the same "Quota exceeded" line again within this interval is counted, not
/// logged, so a client hammering a full quota does not flood the log.
const LOG_INTERVAL: Duration = Duration::from_millis(100);

/// Limits passed by this server's own writes: `quota_exceeded_error_per_namespace`, and the log's pace.
#[derive(Debug, Default)]
pub struct QuotaStats {
    /// Writes refused by a hard limit, per top namespace (ZooKeeper's counter set of that name).
    pub exceeded_per_namespace: BTreeMap<String, u64>,
    /// The last line logged, and when.
    last_logged: Option<(String, Instant)>,
    /// Repeats of it left out since.
    suppressed: u64,
}

impl QuotaStats {
    /// `srst`: ZooKeeper's counters reset to zero but stay registered.
    pub fn reset(&mut self) {
        self.exceeded_per_namespace.values_mut().for_each(|n| *n = 0);
    }
}

/// `op` as the proposing server logs it: wrapped when `enforceQuota` is on and the op is one that ZooKeeper's
/// `checkQuota` looks at (a create or setData, alone or inside a multi).
pub fn wrap(op: TxnOp, enforce_quota: bool) -> TxnOp {
    let checked = matches!(op, TxnOp::Create { .. } | TxnOp::SetData { .. } | TxnOp::Multi(_));
    if enforce_quota && checked { TxnOp::EnforceQuota(Box::new(op)) } else { op }
}

/// A write this server proposed passed `exceeded` limits: log each (rate-limited) and count the hard ones.
pub fn report(stats: &mut QuotaStats, exceeded: &[QuotaExceeded]) {
    for limit in exceeded {
        if limit.hard
            && let Some(namespace) = limit.namespace()
        {
            *stats.exceeded_per_namespace.entry(namespace.to_string()).or_default() += 1;
        }
        let (line, now) = (limit.to_string(), Instant::now());
        let repeat = |(last, at): &(String, Instant)| *last == line && now.duration_since(*at) < LOG_INTERVAL;
        if stats.last_logged.as_ref().is_some_and(repeat) {
            stats.suppressed += 1;
            continue;
        }
        match std::mem::take(&mut stats.suppressed) {
            0 => warn!("{line}"),
            left_out => warn!("{line} (the previous quota line repeated {left_out} more times)"),
        }
        stats.last_logged = Some((line, now));
    }
}

/// The five names, as `QuotaMetricsUtils` spells them.
const COUNT_LIMIT: &str = "quota_count_limit_per_namespace";
const BYTES_LIMIT: &str = "quota_bytes_limit_per_namespace";
const COUNT_USAGE: &str = "quota_count_usage_per_namespace";
const BYTES_USAGE: &str = "quota_bytes_usage_per_namespace";
const EXCEEDED: &str = "quota_exceeded_error_per_namespace";

/// The four gauge sets, read from the tree, then the counter set: `(name, namespace → value)`.
fn sets(tree: &DataTree, stats: &QuotaStats) -> Vec<(&'static str, BTreeMap<String, i64>)> {
    let m = tree.quota_metrics();
    let exceeded =
        stats.exceeded_per_namespace.iter().map(|(ns, n)| (ns.clone(), i64::try_from(*n).unwrap_or(i64::MAX)));
    vec![
        (COUNT_LIMIT, m.count_limit),
        (BYTES_LIMIT, m.bytes_limit),
        (COUNT_USAGE, m.count_usage),
        (BYTES_USAGE, m.bytes_usage),
        (EXCEEDED, exceeded.collect()),
    ]
}

/// `mntr` lines as ZooKeeper's default metrics provider names set members: `zk_<namespace>_<name>`.
pub fn mntr(tree: &DataTree, stats: &QuotaStats) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, values) in sets(tree, stats) {
        out.extend(values.into_iter().map(|(ns, value)| (format!("zk_{ns}_{name}"), value.to_string())));
    }
    out
}

/// The same in the Prometheus text format, as ZooKeeper's Prometheus provider exports sets: one series per
/// namespace, labelled `key`. Namespaces are znode names, which may hold `"` or `\`: escaped as the format
/// asks.
pub fn prometheus(tree: &DataTree, stats: &QuotaStats) -> String {
    let mut out = String::new();
    for (name, values) in sets(tree, stats) {
        let kind = if name == EXCEEDED { "counter" } else { "gauge" };
        let _ = write!(out, "# HELP {name} {name}\n# TYPE {name} {kind}\n");
        for (ns, value) in values {
            let key = ns.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            let _ = writeln!(out, "{name}{{key=\"{key}\"}} {value}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_checked_ops_are_wrapped_and_only_when_enforcing() {
        let create = TxnOp::Create {
            path: "/a".into(),
            data: None,
            acl: vec![],
            mode: paddock_proto::CreateMode::Persistent,
            ttl: 0,
        };
        assert!(matches!(wrap(create.clone(), true), TxnOp::EnforceQuota(_)));
        assert_eq!(wrap(create.clone(), false), create);
        let delete = TxnOp::Delete { path: "/a".into(), version: -1 };
        assert_eq!(wrap(delete.clone(), true), delete);
    }

    /// A tree with a quota on `/a"b` (a name Prometheus labels must escape) holding itself.
    fn quoted_tree() -> DataTree {
        let mut tree = DataTree::new();
        let paths: [(&str, &[u8]); 4] = [
            ("/a\"b", b"xy"),
            ("/zookeeper/quota/a\"b", b""),
            ("/zookeeper/quota/a\"b/zookeeper_limits", b"count=5,bytes=-1=;byteHardLimit=100;countHardLimit=-1"),
            ("/zookeeper/quota/a\"b/zookeeper_stats", b"count=0,bytes=0"),
        ];
        for (zxid, (path, data)) in (1..).zip(paths) {
            let op = TxnOp::Create {
                path: path.into(),
                data: Some(data.to_vec()),
                acl: vec![paddock_proto::Acl { perms: paddock_proto::perms::ALL, id: paddock_proto::Id::anyone() }],
                mode: paddock_proto::CreateMode::Persistent,
                ttl: 0,
            };
            let txn = paddock_tree::Txn { origin: Default::default(), time: 1, session_id: 0, auth: vec![], op };
            tree.apply(zxid, &txn);
        }
        tree
    }

    #[test]
    fn metrics_are_named_and_labelled_as_zookeepers() {
        let tree = quoted_tree();
        let mut stats = QuotaStats::default();
        stats.exceeded_per_namespace.insert("a\"b".into(), 2);
        let mntr = mntr(&tree, &stats);
        assert!(mntr.contains(&("zk_a\"b_quota_count_limit_per_namespace".into(), "5".into())), "{mntr:?}");
        assert!(mntr.contains(&("zk_a\"b_quota_bytes_limit_per_namespace".into(), "100".into())));
        assert!(mntr.contains(&("zk_a\"b_quota_bytes_usage_per_namespace".into(), "2".into())));
        let text = prometheus(&tree, &stats);
        assert!(text.contains("# TYPE quota_count_usage_per_namespace gauge\n"), "{text}");
        assert!(text.contains("quota_count_usage_per_namespace{key=\"a\\\"b\"} 1\n"), "{text}");
        assert!(text.contains("# TYPE quota_exceeded_error_per_namespace counter\n"));
        assert!(text.contains("quota_exceeded_error_per_namespace{key=\"a\\\"b\"} 2\n"));
    }

    #[test]
    fn hard_limits_count_per_namespace_and_the_log_is_paced() {
        let mut stats = QuotaStats::default();
        let limit = |hard| QuotaExceeded { quoted: "/app/x".into(), hard, kind: "count", current: 3, limit: 2 };
        report(&mut stats, &[limit(true), limit(true), limit(true)]);
        assert_eq!(stats.exceeded_per_namespace.get("app"), Some(&3));
        assert_eq!(stats.suppressed, 2, "repeats within the interval are left out");
        report(&mut stats, &[limit(false)]);
        assert_eq!((stats.suppressed, stats.exceeded_per_namespace.get("app")), (0, Some(&3)), "a new line is logged");
        stats.reset();
        assert_eq!(stats.exceeded_per_namespace.get("app"), Some(&0));
    }
}
