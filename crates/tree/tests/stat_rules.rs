//! Stat rules, sequential names and watch triggers, each checked against what ZooKeeper does.

mod common;

use std::sync::Arc;

use common::*;
use paddock_proto::{Acl, CreateMode, ErrorCode, EventType, Stat, perms};
use paddock_tree::{DataTree, TxnResult};

#[test]
fn fresh_tree_is_zookeepers() {
    let tree = DataTree::new();
    let zero = Stat::default();
    assert_eq!(tree.stat("/"), Some(Stat { cversion: -1, num_children: 1, ..zero }));
    assert_eq!(tree.stat("/zookeeper"), Some(Stat { cversion: -2, num_children: 2, ..zero }));
    assert_eq!(tree.stat("/zookeeper/quota"), Some(zero));
    assert_eq!(tree.stat("/zookeeper/config"), Some(Stat { aversion: -1, ..zero }));
    assert_eq!(tree.get("/zookeeper/config").map(|n| n.acl().as_ref().clone()), Some(Acl::read_unsafe()));
    for path in ["/", "/zookeeper", "/zookeeper/quota"] {
        assert_eq!(tree.get(path).map(|n| n.acl().as_ref().clone()), Some(Acl::open_unsafe()), "{path}");
    }
    assert_eq!(tree.children("/"), Some(vec!["zookeeper".to_string()]));
    assert_eq!(tree.children("/zookeeper"), Some(vec!["config".to_string(), "quota".to_string()]));
    // `mntr` on a fresh ZooKeeper: zk_znode_count 5, zk_approximate_data_size 44.
    assert_eq!(tree.node_count(), 5);
    assert_eq!(tree.approximate_data_size(), 44);
    assert_eq!(tree.all_children_number("/"), Some(3));
    assert_eq!(tree.all_children_number("/zookeeper"), Some(2));
    assert_eq!(tree.all_children_number("/nope"), None);
    assert_eq!(tree.last_zxid(), 0);
    assert_eq!(tree.get(""), tree.get("/"));
    assert_eq!(tree.check_consistency(), Ok(()));
}

#[test]
fn create_sets_the_new_stat_and_moves_the_parent() {
    let mut leader = Leader::new();
    leader.mk("/p", CreateMode::Persistent);
    let applied = leader.run_as(0, &[], create_op("/p/c", b"hello", Acl::open_unsafe(), CreateMode::Persistent));
    let (zxid, time) = (leader.zxid, leader.time);
    let expected = Stat {
        czxid: zxid,
        mzxid: zxid,
        ctime: time,
        mtime: time,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 5,
        num_children: 0,
        pzxid: zxid,
    };
    assert_eq!(applied.result, TxnResult::Created { path: "/p/c".into(), stat: expected });
    assert_eq!(leader.stat("/p/c"), expected);
    let parent = leader.stat("/p");
    assert_eq!((parent.cversion, parent.num_children, parent.pzxid), (1, 1, zxid));
    assert_eq!(parent.mzxid, zxid - 1, "a child does not change the parent's mzxid");
    assert_eq!(leader.tree.get("/p/c").and_then(|n| n.data()), Some(&b"hello"[..]));
    assert_eq!(leader.tree.approximate_data_size(), 44 + 2 + 4 + 5);
    assert_eq!(leader.tree.node_count(), 7);
    assert_eq!(leader.tree.all_children_number("/"), Some(5));
    assert_eq!(leader.tree.all_children_number("/p"), Some(1));
}

#[test]
fn delete_moves_parent_pzxid_and_visible_cversion_only() {
    let mut leader = Leader::new();
    leader.mk("/p", CreateMode::Persistent);
    leader.mk("/p/a", CreateMode::Persistent);
    leader.mk("/p/b", CreateMode::Persistent);
    let before = leader.stat("/p");
    assert_eq!(leader.run(delete("/p/a", -1)), TxnResult::Deleted);
    let after = leader.stat("/p");
    assert_eq!(after.cversion, before.cversion + 1);
    assert_eq!(after.pzxid, leader.zxid);
    assert_eq!(after.num_children, 1);
    assert_eq!((after.mzxid, after.version), (before.mzxid, before.version));
    let stored = leader.tree.get("/p").map(|n| n.persisted_stat().cversion);
    assert_eq!(stored, Some(2), "stored cversion counts creations only");
    assert_eq!(leader.tree.stat("/p/a"), None);
    assert_eq!(leader.tree.children("/p"), Some(vec!["b".to_string()]));
}

#[test]
fn set_data_and_set_acl_touch_only_their_fields() {
    let mut leader = Leader::new();
    leader.mk("/n", CreateMode::Persistent);
    let created = leader.stat("/n");
    let TxnResult::SetData(stat) = leader.run(set_data("/n", b"abc", 0)) else { panic!("setData failed") };
    assert_eq!(stat, leader.stat("/n"));
    assert_eq!((stat.version, stat.mzxid, stat.mtime, stat.data_length), (1, leader.zxid, leader.time, 3));
    assert_eq!((stat.czxid, stat.ctime, stat.pzxid, stat.aversion), (created.czxid, created.ctime, created.pzxid, 0));
    // Version -1 matches anything.
    let TxnResult::SetData(stat) = leader.run(set_data("/n", b"", -1)) else { panic!("setData failed") };
    assert_eq!((stat.version, stat.data_length), (2, 0));
    let before = stat;
    let TxnResult::SetAcl(stat) = leader.run(set_acl("/n", Acl::read_unsafe(), 0)) else { panic!("setACL failed") };
    assert_eq!(stat, Stat { aversion: 1, ..before });
    assert_eq!(leader.tree.get("/n").map(|n| n.acl().as_ref().clone()), Some(Acl::read_unsafe()));
    assert_eq!(leader.run(set_data("/n", b"", -1)), err(ErrorCode::NoAuth), "the new ACL applies at once");
    assert_eq!(leader.tree.approximate_data_size(), 44 + 2);
}

#[test]
fn sequential_suffix_is_the_parents_creation_count() {
    let mut leader = Leader::new();
    leader.mk("/p", CreateMode::Persistent);
    leader.mk("/p/a", CreateMode::Persistent);
    assert_eq!(leader.run(delete("/p/a", -1)), TxnResult::Deleted);
    // ZooKeeper 3.8 / 3.9: "Created /p/s-0000000001", then "/p/0000000002", and `stat /p` shows cversion 3.
    assert_eq!(leader.mk("/p/s-", CreateMode::PersistentSequential), "/p/s-0000000001");
    assert_eq!(leader.stat("/p").cversion, 3);
    assert_eq!(leader.mk("/p/", CreateMode::PersistentSequential), "/p/0000000002");
    let s9 = leader.open_session();
    let applied = leader.run_as(s9, &[], create_op("/p/e-", b"", Acl::open_unsafe(), CreateMode::EphemeralSequential));
    assert!(matches!(applied.result, TxnResult::Created { ref path, .. } if path == "/p/e-0000000003"));
    // The root's counter does not count /zookeeper, which was never "created": /p was its first child.
    assert_eq!(leader.mk("/s", CreateMode::PersistentSequential), "/s0000000001");
}

#[test]
fn ephemeral_container_and_ttl_owners() {
    let mut leader = Leader::new();
    let s = leader.open_session();
    let applied = leader.run_as(s, &[], create_op("/e", b"", Acl::open_unsafe(), CreateMode::Ephemeral));
    assert!(matches!(applied.result, TxnResult::Created { stat, .. } if stat.ephemeral_owner == s));
    leader.mk("/c", CreateMode::Container);
    assert_eq!(leader.stat("/c").ephemeral_owner, 0);
    assert_eq!(leader.tree.get("/c").map(|n| n.persisted_stat().ephemeral_owner), Some(i64::MIN));
    let ttl = paddock_tree::TxnOp::Create {
        path: "/t".into(),
        data: Some(vec![]),
        acl: Acl::open_unsafe(),
        mode: CreateMode::PersistentWithTtl,
        ttl: 5000,
    };
    assert!(matches!(leader.run(ttl), TxnResult::Created { stat, .. } if stat.ephemeral_owner == 0));
    assert_eq!(leader.tree.get("/t").map(|n| n.persisted_stat().ephemeral_owner as u64), Some(0xff00_0000_0000_1388));
    // Containers and TTL nodes may have children; ephemerals may not.
    leader.mk("/c/x", CreateMode::Persistent);
    leader.mk("/t/x", CreateMode::Persistent);
    assert_eq!(leader.run(create("/e/x")), err(ErrorCode::NoChildrenForEphemerals));
}

#[test]
fn triggers_name_the_node_and_carry_its_acl() {
    let mut leader = Leader::new();
    leader.mk_with_acl("/p", vec![Acl::new(perms::ALL, paddock_proto::Id::anyone())]);
    let child_acl = vec![Acl::new(perms::READ | perms::DELETE | perms::WRITE, paddock_proto::Id::anyone())];
    let applied = leader.run_as(0, &[], create_op("/p/c", b"", child_acl.clone(), CreateMode::Persistent));
    let fired: Vec<_> =
        applied.triggers.iter().map(|t| (t.path.as_str(), t.event, t.zxid, t.acl.as_ref().clone())).collect();
    let z = leader.zxid;
    assert_eq!(
        fired,
        vec![
            ("/p/c", EventType::NodeCreated, z, child_acl.clone()),
            ("/p", EventType::NodeChildrenChanged, z, Acl::open_unsafe()),
        ]
    );
    let applied = leader.run_as(0, &[], set_data("/p/c", b"x", -1));
    assert_eq!(applied.triggers.len(), 1);
    assert_eq!((applied.triggers[0].event, applied.triggers[0].acl.as_ref()), (EventType::NodeDataChanged, &child_acl));
    assert!(leader.run_as(0, &[], set_acl("/p/c", Acl::open_unsafe(), -1)).triggers.is_empty());
    let applied = leader.run_as(0, &[], delete("/p/c", -1));
    let fired: Vec<_> = applied.triggers.iter().map(|t| (t.path.as_str(), t.event)).collect();
    assert_eq!(fired, vec![("/p/c", EventType::NodeDeleted), ("/p", EventType::NodeChildrenChanged)]);
    // Children of the root report the root as "/".
    let applied = leader.run_as(0, &[], create("/top"));
    assert_eq!(applied.triggers[1].path, "/");
    // Failures fire nothing.
    assert!(leader.run_as(0, &[], create("/top")).triggers.is_empty());
}

#[test]
fn failed_writes_consume_their_zxid_and_change_nothing_else() {
    let mut leader = Leader::new();
    leader.mk("/n", CreateMode::Persistent);
    let digest = leader.tree.digest();
    assert_eq!(leader.run(set_data("/n", b"x", 5)), err(ErrorCode::BadVersion));
    assert_eq!(leader.tree.last_zxid(), leader.zxid);
    assert_eq!(leader.tree.digest(), digest);
    assert_eq!(leader.stat("/n").version, 0);
}

#[test]
fn acl_lists_are_shared_between_nodes() {
    let mut leader = Leader::new();
    for i in 0..50 {
        leader.mk(&format!("/n{i}"), CreateMode::Persistent);
    }
    let a = leader.tree.get("/n1").map(|n| n.acl().clone());
    let b = leader.tree.get("/n2").map(|n| n.acl().clone());
    assert!(matches!((a, b), (Some(a), Some(b)) if Arc::ptr_eq(&a, &b)));
    assert_eq!(leader.tree.acl_count(), 2, "open and read-only (for /zookeeper/config)");
    assert_eq!(leader.tree.check_consistency(), Ok(()));
}

#[test]
fn a_tree_can_be_handed_to_another_thread() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<DataTree>();
    let mut leader = Leader::new();
    leader.mk("/x", CreateMode::Persistent);
    let frozen = leader.tree.clone();
    let digest = std::thread::spawn(move || frozen.digest()).join().ok();
    assert_eq!(digest, Some(leader.tree.digest()));
}
