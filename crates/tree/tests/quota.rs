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
    let (zxid, txn) = l.txn(1, &[], create_op("/a/f", b"12", Acl::open_unsafe(), CreateMode::Persistent));
    read.apply(zxid, &txn);
    l.tree.apply(zxid, &txn);
    assert_eq!(stats(&l, "/a"), "count=1,bytes=2");
    assert_eq!(read, l.tree);
    assert_eq!(read.check_consistency(), Ok(()));
}
