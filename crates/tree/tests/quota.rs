//! Quota usage tracking, replaying what zkCli's `setquota` does against ZooKeeper 3.8 and comparing the
//! `zookeeper_stats` text it then shows.

mod common;

use common::*;
use paddock_proto::{Acl, CreateMode};
use paddock_tree::TxnResult;

fn mk_data(l: &mut Leader, path: &str, data: &[u8]) {
    let result = l.run(create_op(path, data, Acl::open_unsafe(), CreateMode::Persistent));
    assert!(matches!(result, TxnResult::Created { .. }), "{path}: {result:?}");
}

/// zkCli `setquota -n <count> <path>`: the quota path, the limits node, then the stats node.
fn setquota(l: &mut Leader, quoted: &str, count: i64) {
    let mut at = String::from("/zookeeper/quota");
    for part in quoted.split('/').skip(1) {
        at = format!("{at}/{part}");
        if l.tree.get(&at).is_none() {
            mk_data(l, &at, b"");
        }
    }
    let limits = format!("count={count},bytes=-1=;byteHardLimit=-1;countHardLimit=-1");
    mk_data(l, &format!("{at}/zookeeper_limits"), limits.as_bytes());
    mk_data(l, &format!("{at}/zookeeper_stats"), b"count=0,bytes=0");
}

fn stats(l: &Leader, quoted: &str) -> String {
    let node = l.tree.get(&format!("/zookeeper/quota{quoted}/zookeeper_stats"));
    node.and_then(|n| n.data()).map(|d| String::from_utf8_lossy(d).into_owned()).unwrap_or_default()
}

#[test]
fn usage_follows_creates_deletes_and_set_data_like_zookeeper() {
    let mut l = Leader::new();
    mk_data(&mut l, "/qa", b"hi");
    mk_data(&mut l, "/qa/x", b"abc");
    setquota(&mut l, "/qa", 10);
    assert_eq!(stats(&l, "/qa"), "count=2,bytes=5", "setting the quota counts what is already there");
    let stats_node = l.stat("/zookeeper/quota/qa/zookeeper_stats");
    mk_data(&mut l, "/qa/y", b"12345");
    assert!(matches!(l.run(set_data("/qa/x", b"z", -1)), TxnResult::SetData(_)));
    assert_eq!(stats(&l, "/qa"), "count=3,bytes=8");
    let after = l.stat("/zookeeper/quota/qa/zookeeper_stats");
    assert_eq!((after.version, after.mzxid, after.data_length), (stats_node.version, stats_node.mzxid, 15));
    assert_eq!(l.run(delete("/qa/y", -1)), TxnResult::Deleted);
    assert_eq!(stats(&l, "/qa"), "count=2,bytes=3");
    mk_data(&mut l, "/qa/x/deep", b"d");
    mk_data(&mut l, "/qa/x/deeper", b"dd");
    assert_eq!(stats(&l, "/qa"), "count=4,bytes=6");
    // Nothing outside the quoted subtree counts.
    mk_data(&mut l, "/qab", b"zzzz");
    assert_eq!(stats(&l, "/qa"), "count=4,bytes=6");
    assert_eq!(l.tree.check_consistency(), Ok(()));
}

#[test]
fn the_deepest_quota_takes_the_change_and_removing_limits_stops_tracking() {
    let mut l = Leader::new();
    mk_data(&mut l, "/a", b"");
    mk_data(&mut l, "/a/b", b"");
    setquota(&mut l, "/a", 5);
    setquota(&mut l, "/a/b", 5);
    assert_eq!((stats(&l, "/a").as_str(), stats(&l, "/a/b").as_str()), ("count=2,bytes=0", "count=1,bytes=0"));
    mk_data(&mut l, "/a/b/c", b"xyz");
    assert_eq!((stats(&l, "/a").as_str(), stats(&l, "/a/b").as_str()), ("count=2,bytes=0", "count=2,bytes=3"));
    assert_eq!(l.run(delete("/zookeeper/quota/a/b/zookeeper_limits", -1)), TxnResult::Deleted);
    mk_data(&mut l, "/a/b/d", b"");
    assert_eq!((stats(&l, "/a").as_str(), stats(&l, "/a/b").as_str()), ("count=3,bytes=0", "count=2,bytes=3"));
    // Unparseable stats are left alone rather than failing the write.
    assert!(matches!(l.run(set_data("/zookeeper/quota/a/zookeeper_stats", b"garbage", -1)), TxnResult::SetData(_)));
    mk_data(&mut l, "/a/e", b"");
    assert_eq!(stats(&l, "/a"), "garbage");
    // A tree read back from a snapshot keeps tracking: the quota index is rebuilt from the limit nodes.
    assert!(matches!(
        l.run(set_data("/zookeeper/quota/a/zookeeper_stats", b"count=0,bytes=0", -1)),
        TxnResult::SetData(_)
    ));
    let mut bytes = Vec::new();
    assert!(l.tree.write_snapshot(&mut bytes).is_ok());
    let mut read = paddock_tree::DataTree::read_snapshot(&mut bytes.as_slice()).expect("snapshot reads back");
    let (zxid, txn) = l.txn(0, &[], create_op("/a/f", b"12", Acl::open_unsafe(), CreateMode::Persistent));
    read.apply(zxid, &txn);
    l.tree.apply(zxid, &txn);
    assert_eq!(stats(&l, "/a"), "count=1,bytes=2");
    assert_eq!(read, l.tree);
    assert_eq!(read.check_consistency(), Ok(()));
}

/// A quota on `quoted` with ZooKeeper's `setquota -N/-B` limits text (hard) or `-n/-b` (soft).
fn set_limits(l: &mut Leader, quoted: &str, limits: &str) {
    setquota(l, quoted, -1);
    let at = format!("/zookeeper/quota{quoted}/zookeeper_limits");
    assert!(matches!(l.run(set_data(&at, limits.as_bytes(), -1)), TxnResult::SetData(_)));
}

fn enforced(op: paddock_tree::TxnOp) -> paddock_tree::TxnOp {
    paddock_tree::TxnOp::EnforceQuota(Box::new(op))
}

#[test]
fn hard_limits_refuse_creates_and_set_data_only_when_enforced() {
    let mut l = Leader::new();
    mk_data(&mut l, "/q", b"");
    set_limits(&mut l, "/q", "count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=3");
    let node = |p: &str| create_op(p, b"12345", Acl::open_unsafe(), CreateMode::Persistent);
    assert!(matches!(l.run(enforced(node("/q/a"))), TxnResult::Created { .. }));
    let applied = l.run_as(0, &[], enforced(node("/q/b")));
    assert!(matches!(applied.result, TxnResult::Created { .. }), "count 3 of 3, bytes 10 of 10");
    assert!(applied.quota_exceeded.is_empty());
    let refused = l.run_as(0, &[], enforced(node("/q/c")));
    assert_eq!(refused.result, err(paddock_proto::ErrorCode::QuotaExceeded));
    assert_eq!(refused.quota_exceeded[0].to_string(), "Quota exceeded: /q [current count=4, hardCountLimit=3]");
    assert_eq!(refused.quota_exceeded[0].namespace(), Some("q"));
    // Growing data passes the byte limit (checked before the version, as ZooKeeper); shrinking is fine.
    assert_eq!(l.run(enforced(set_data("/q/a", b"123456", 99))), err(paddock_proto::ErrorCode::QuotaExceeded));
    assert!(matches!(l.run(enforced(set_data("/q/a", b"1", -1))), TxnResult::SetData(_)));
    // Without the wrapper, nothing is enforced (ZooKeeper's default).
    assert!(matches!(l.run(node("/q/c")), TxnResult::Created { .. }));
    assert_eq!(stats(&l, "/q"), "count=4,bytes=11");
    assert_eq!(l.tree.check_consistency(), Ok(()));
}

#[test]
fn soft_limits_are_reported_not_enforced_and_multi_counts_its_own_ops() {
    let mut l = Leader::new();
    mk_data(&mut l, "/s", b"");
    set_limits(&mut l, "/s", "count=1,bytes=-1");
    let applied = l.run_as(0, &[], enforced(create("/s/a")));
    assert!(matches!(applied.result, TxnResult::Created { .. }));
    assert_eq!(applied.quota_exceeded[0].to_string(), "Quota exceeded: /s [current count=2, softCountLimit=1]");
    mk_data(&mut l, "/h", b"");
    set_limits(&mut l, "/h", "count=-1,bytes=-1=;countHardLimit=2");
    let multi = paddock_tree::TxnOp::Multi(vec![create("/h/a"), create("/h/b")]);
    let TxnResult::Multi(results) = l.run(enforced(multi)) else { panic!("not a multi result") };
    assert_eq!(results[1], err(paddock_proto::ErrorCode::QuotaExceeded), "the second create makes 3 of 2");
    assert!(l.tree.get("/h/a").is_none(), "all or nothing");
    // A nested wrapper is malformed.
    let nested = paddock_tree::TxnOp::Multi(vec![enforced(create("/h/a"))]);
    let TxnResult::Multi(results) = l.run(nested) else { panic!("not a multi result") };
    assert_eq!(results[0], err(paddock_proto::ErrorCode::MarshallingError));
}

#[test]
fn the_nested_quota_decides_and_metrics_sum_per_namespace() {
    let mut l = Leader::new();
    mk_data(&mut l, "/n", b"");
    mk_data(&mut l, "/n/inner", b"");
    set_limits(&mut l, "/n", "count=-1,bytes=-1=;countHardLimit=100");
    set_limits(&mut l, "/n/inner", "count=-1,bytes=-1=;countHardLimit=1");
    assert_eq!(l.run(enforced(create("/n/inner/x"))), err(paddock_proto::ErrorCode::QuotaExceeded));
    assert!(matches!(l.run(enforced(create("/n/x"))), TxnResult::Created { .. }));
    let metrics = l.tree.quota_metrics();
    assert_eq!(metrics.count_limit.get("n"), Some(&101));
    assert_eq!(metrics.bytes_limit.get("n"), Some(&-2), "no limit is -1, summed as ZooKeeper does");
    // The outer stats counted /n and /n/inner when they were created, then /n/x; the inner ones /n/inner:
    // nested quotas overlap, as in ZooKeeper.
    assert_eq!(metrics.count_usage.get("n"), Some(&4));
    assert_eq!(metrics.bytes_usage.get("n"), Some(&0));
    // Removing the inner quota's limits lets the outer one decide again.
    assert_eq!(l.run(delete("/zookeeper/quota/n/inner/zookeeper_limits", -1)), TxnResult::Deleted);
    assert!(matches!(l.run(enforced(create("/n/inner/x"))), TxnResult::Created { .. }));
}
