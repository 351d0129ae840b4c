//! Null znode data stays apart from empty data through every write path, as in ZooKeeper's `DataTree`
//! (a client's null buffer is stored as null and read back as null; `dataLength` is 0 for both).

mod common;

use common::{Leader, create_op, set_data};
use paddock_proto::{Acl, CreateMode};
use paddock_tree::{DataTree, TxnOp, TxnResult};

fn create_null(path: &str) -> TxnOp {
    TxnOp::Create { path: path.into(), data: None, acl: Acl::open_unsafe(), mode: CreateMode::Persistent, ttl: 0 }
}

fn set_null(path: &str) -> TxnOp {
    TxnOp::SetData { path: path.into(), data: None, version: -1 }
}

fn data(l: &Leader, path: &str) -> Option<Option<Vec<u8>>> {
    l.tree.get(path).map(|n| n.data().map(<[u8]>::to_vec))
}

#[test]
fn create_and_set_data_keep_null_apart_from_empty() {
    let mut l = Leader::new();
    let created = l.run(create_null("/n"));
    assert!(matches!(created, TxnResult::Created { stat, .. } if stat.data_length == 0));
    l.run(create_op("/e", b"", Acl::open_unsafe(), CreateMode::Persistent));
    assert_eq!(data(&l, "/n"), Some(None));
    assert_eq!(data(&l, "/e"), Some(Some(vec![])));
    assert_eq!((l.stat("/n").data_length, l.stat("/e").data_length), (0, 0));

    // setData(null) on empty data, then setData(empty) on null data: each is a real change (version, mzxid).
    assert!(matches!(l.run(set_null("/e")), TxnResult::SetData(stat) if stat.version == 1 && stat.data_length == 0));
    assert!(matches!(l.run(set_data("/n", b"", -1)), TxnResult::SetData(stat) if stat.version == 1));
    assert_eq!(data(&l, "/e"), Some(None));
    assert_eq!(data(&l, "/n"), Some(Some(vec![])));
    assert!(matches!(l.run(set_data("/e", b"x", -1)), TxnResult::SetData(stat) if stat.data_length == 1));
    l.run(set_null("/e"));
    assert_eq!(data(&l, "/e"), Some(None));
    assert_eq!(l.tree.approximate_data_size(), 44 + 2 + 2, "null counts no bytes");
    assert_eq!(l.tree.check_consistency(), Ok(()));
}

#[test]
fn a_multi_keeps_null_too() {
    let mut l = Leader::new();
    let ops =
        vec![create_null("/m"), create_op("/m2", b"", Acl::open_unsafe(), CreateMode::Persistent), set_null("/m2")];
    assert!(
        matches!(l.run(TxnOp::Multi(ops)), TxnResult::Multi(r) if r.iter().all(|r| !matches!(r, TxnResult::Error(_))))
    );
    assert_eq!((data(&l, "/m"), data(&l, "/m2")), (Some(None), Some(None)));
}

#[test]
fn the_digest_tells_null_from_empty_and_the_log_carries_it() {
    let mut null = Leader::new();
    let mut empty = Leader::new();
    let txn_null = null.txn(0, &[], create_null("/x"));
    let txn_empty = empty.txn(0, &[], create_op("/x", b"", Acl::open_unsafe(), CreateMode::Persistent));
    // Through the txn encoding, as a WAL replay would see them.
    for (leader, (zxid, txn)) in [(&mut null, txn_null), (&mut empty, txn_empty)] {
        let applied = leader.tree.apply_entry(zxid, &txn.encode());
        assert_eq!(applied.map(|(decoded, _)| decoded), Ok(txn));
    }
    assert_eq!(null.stat("/x"), empty.stat("/x"), "clients see the same Stat");
    assert_ne!(null.tree.digest(), empty.tree.digest());
    assert_ne!(null.tree, empty.tree);
    // Setting each to the other's value makes the states, and so the digests, equal.
    null.run(set_data("/x", b"", -1));
    empty.run(set_null("/x"));
    null.run(set_null("/x"));
    empty.run(set_null("/x"));
    assert_eq!(null.tree.digest(), empty.tree.digest());
}

#[test]
fn snapshots_restore_null_and_empty() {
    let mut l = Leader::new();
    l.run(create_null("/n"));
    l.run(create_op("/e", b"", Acl::open_unsafe(), CreateMode::Persistent));
    l.run(create_op("/d", b"d", Acl::open_unsafe(), CreateMode::Persistent));
    l.run(set_null("/d"));
    let mut bytes = Vec::new();
    assert!(l.tree.write_snapshot(&mut bytes).is_ok());
    let read = DataTree::read_snapshot(&mut bytes.as_slice());
    assert!(read.is_ok(), "{read:?}");
    if let Ok(read) = read {
        assert_eq!(read.get("/n").map(|n| n.data()), Some(None));
        assert_eq!(read.get("/d").map(|n| n.data()), Some(None));
        assert_eq!(read.get("/e").map(|n| n.data()), Some(Some(&b""[..])));
        assert_eq!(read.digest(), l.tree.digest());
        assert_eq!(read.check_consistency(), Ok(()));
        assert_eq!(read, l.tree);
    }
}

#[test]
fn a_quota_counts_null_as_zero_bytes_and_leaves_null_stats_alone() {
    let mut l = Leader::new();
    let open = |path: &str, data: &[u8]| create_op(path, data, Acl::open_unsafe(), CreateMode::Persistent);
    let stats = "/zookeeper/quota/q/zookeeper_stats";
    l.run(open("/q", b"ab"));
    l.run(open("/zookeeper/quota/q", b""));
    l.run(open("/zookeeper/quota/q/zookeeper_limits", b"count=10,bytes=100"));
    l.run(open(stats, b""));
    l.run(create_null("/q/n"));
    assert_eq!(data(&l, stats), Some(Some(b"count=2,bytes=2".to_vec())));
    l.run(set_null("/q"));
    assert_eq!(data(&l, stats), Some(Some(b"count=2,bytes=0".to_vec())));
    l.run(set_null(stats));
    l.run(create_null("/q/m"));
    assert_eq!(data(&l, stats), Some(None), "ZooKeeper's StatsTrack cannot read null; the stats stay as they are");
    assert_eq!(l.tree.check_consistency(), Ok(()));
}
