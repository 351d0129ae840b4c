//! `multi`: all or nothing, ZooKeeper's result shape, one zxid for every op.

mod common;

use common::*;
use paddock_proto::{Acl, CreateMode, ErrorCode, EventType};
use paddock_tree::{TxnOp, TxnResult};

#[test]
fn later_ops_see_earlier_ones_and_share_the_zxid() {
    let mut l = Leader::new();
    let applied = l.run_as(
        0,
        &[],
        TxnOp::Multi(vec![
            create("/m"),
            create_op("/m/s-", b"", Acl::open_unsafe(), CreateMode::PersistentSequential),
            create_op("/m/s-", b"", Acl::open_unsafe(), CreateMode::PersistentSequential),
            set_data("/m", b"v", 0),
            check("/m", 1),
            delete("/m/s-0000000000", 0),
        ]),
    );
    let TxnResult::Multi(results) = applied.result else { panic!("not a multi result") };
    let z = l.zxid;
    assert!(matches!(&results[0], TxnResult::Created { path, stat } if path == "/m" && stat.czxid == z));
    assert!(matches!(&results[1], TxnResult::Created { path, .. } if path == "/m/s-0000000000"));
    assert!(matches!(&results[2], TxnResult::Created { path, .. } if path == "/m/s-0000000001"));
    assert!(matches!(&results[3], TxnResult::SetData(stat) if stat.version == 1 && stat.mzxid == z));
    assert_eq!(results[4], TxnResult::Checked);
    assert_eq!(results[5], TxnResult::Deleted);
    assert_eq!(l.tree.children("/m"), Some(vec!["s-0000000001".to_string()]));
    let events: Vec<_> = applied.triggers.iter().map(|t| (t.path.as_str(), t.event)).collect();
    assert_eq!(
        events,
        vec![
            ("/m", EventType::NodeCreated),
            ("/", EventType::NodeChildrenChanged),
            ("/m/s-0000000000", EventType::NodeCreated),
            ("/m", EventType::NodeChildrenChanged),
            ("/m/s-0000000001", EventType::NodeCreated),
            ("/m", EventType::NodeChildrenChanged),
            ("/m", EventType::NodeDataChanged),
            ("/m/s-0000000000", EventType::NodeDeleted),
            ("/m", EventType::NodeChildrenChanged),
        ]
    );
    assert!(applied.triggers.iter().all(|t| t.zxid == z));
    assert_eq!(l.tree.check_consistency(), Ok(()));
}

#[test]
fn a_failing_op_undoes_everything_and_fires_nothing() {
    let mut l = Leader::new();
    l.mk("/keep", CreateMode::Persistent);
    let before = l.tree.clone();
    let applied = l.run_as(
        0,
        &[],
        TxnOp::Multi(vec![create("/new"), set_data("/keep", b"x", -1), delete("/keep", 5), create("/other")]),
    );
    assert_eq!(
        applied.result,
        TxnResult::Multi(vec![
            err(ErrorCode::Ok),
            err(ErrorCode::Ok),
            err(ErrorCode::BadVersion),
            err(ErrorCode::RuntimeInconsistency),
        ])
    );
    assert!(applied.triggers.is_empty());
    assert_eq!(l.tree.digest(), before.digest());
    assert_eq!(l.tree.get("/new"), None);
    assert_eq!(l.tree.get("/keep"), before.get("/keep"));
    assert_eq!(l.tree.last_zxid(), l.zxid, "the failed multi still consumed its zxid");
    assert_eq!(l.tree.check_consistency(), Ok(()));
}

#[test]
fn only_create_delete_set_data_and_check_may_be_in_a_multi() {
    let mut l = Leader::new();
    for op in [
        TxnOp::CloseSession,
        TxnOp::CreateSession { timeout_ms: 1, passwd: [0; 16] },
        TxnOp::DeleteContainer { path: "/x".into(), observed_mzxid: None },
        set_acl("/", Acl::open_unsafe(), -1),
        TxnOp::Multi(vec![]),
    ] {
        let result = l.run(TxnOp::Multi(vec![create("/a"), op.clone()]));
        assert_eq!(result, TxnResult::Multi(vec![err(ErrorCode::Ok), err(ErrorCode::MarshallingError)]), "{op:?}");
    }
    assert_eq!(l.tree.get("/a"), None);
    assert_eq!(l.run(TxnOp::Multi(vec![])), TxnResult::Multi(vec![]));
}
