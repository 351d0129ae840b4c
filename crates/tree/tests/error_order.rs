//! When a request is wrong in several ways, the error is the one ZooKeeper's `PrepRequestProcessor` finds
//! first. Each test below breaks two rules at once and expects the earlier check to win.

mod common;

use common::*;
use paddock_proto::{Acl, CreateMode, ErrorCode, Id, perms};
use paddock_tree::{TxnOp, TxnResult};

/// A tree with `/open` (world: all), `/locked` (world: read only) and `/locked/child`.
fn setup() -> Leader {
    let mut leader = Leader::new();
    leader.mk("/open", CreateMode::Persistent);
    leader.mk("/locked", CreateMode::Persistent);
    leader.mk("/locked/child", CreateMode::Persistent);
    assert!(matches!(leader.run(set_acl("/locked", Acl::read_unsafe(), -1)), TxnResult::SetAcl(_)));
    leader
}

fn ttl_create(path: &str, ttl: i64) -> TxnOp {
    TxnOp::Create {
        path: path.into(),
        data: Some(vec![]),
        acl: Acl::open_unsafe(),
        mode: CreateMode::PersistentWithTtl,
        ttl,
    }
}

#[test]
fn create_order() {
    let mut l = setup();
    let no_acl = |path: &str| create_op(path, b"", vec![], CreateMode::Persistent);
    // 1. TTL validity, before anything about the path.
    assert_eq!(l.run(ttl_create("bad", 0)), err(ErrorCode::BadArguments));
    assert_eq!(l.run(ttl_create("/missing/x", paddock_tree::ephemeral::MAX_TTL_MS + 1)), err(ErrorCode::BadArguments));
    // 2. An ephemeral needs a live session, before the path is looked at.
    let ephemeral = create_op("bad", b"", vec![], CreateMode::Ephemeral);
    assert_eq!(l.run_as(0, &[], ephemeral.clone()).result, err(ErrorCode::SessionExpired));
    assert_eq!(l.run_as(77, &[], ephemeral).result, err(ErrorCode::SessionExpired));
    // 3. A path without a slash (or with NUL), before the ACL.
    assert_eq!(l.run(no_acl("bad")), err(ErrorCode::BadArguments));
    assert_eq!(l.run(no_acl("/a\0b")), err(ErrorCode::BadArguments));
    // 4. The ACL, before the parent is looked up.
    assert_eq!(l.run(no_acl("/missing/x")), err(ErrorCode::InvalidAcl));
    // 5. The parent exists, before CREATE on it is checked.
    assert_eq!(l.run(create("/missing/x")), err(ErrorCode::NoNode));
    // 6. CREATE on the parent, before the full path rules and before existence.
    assert_eq!(l.run(create("/locked/.")), err(ErrorCode::NoAuth));
    assert_eq!(l.run(create("/locked/child")), err(ErrorCode::NoAuth));
    // 7. Full path rules once the suffix is known.
    assert_eq!(l.run(create("/open/")), err(ErrorCode::BadArguments));
    assert_eq!(l.run(create("/open/..")), err(ErrorCode::BadArguments));
    assert_eq!(l.run(create("/open/\u{1}")), err(ErrorCode::BadArguments));
    // 8. Existence. "/" exists too (its parent is the root's alias "").
    assert_eq!(l.run(create("/open")), err(ErrorCode::NodeExists));
    assert_eq!(l.run(create("/")), err(ErrorCode::NodeExists));
    // 9. Ephemeral parents.
    let s5 = l.open_session();
    assert!(matches!(
        l.run_as(s5, &[], create_op("/e", b"", Acl::open_unsafe(), CreateMode::Ephemeral)).result,
        TxnResult::Created { .. }
    ));
    assert_eq!(l.run(create("/e/x")), err(ErrorCode::NoChildrenForEphemerals));
    // The built-in /zookeeper tree is an ordinary place to create nodes in.
    assert!(matches!(l.run(create("/zookeeper/mine")), TxnResult::Created { .. }));
    assert_eq!(l.tree.check_consistency(), Ok(()));
}

#[test]
fn delete_order() {
    let mut l = setup();
    l.mk("/open/full", CreateMode::Persistent);
    l.mk("/open/full/x", CreateMode::Persistent);
    // 1. Path shape and the built-in nodes.
    for path in ["bad", "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config", "/a\0"] {
        assert_eq!(l.run(delete(path, -1)), err(ErrorCode::BadArguments), "{path:?}");
    }
    // 2. The parent.
    assert_eq!(l.run(delete("/missing/x", -1)), err(ErrorCode::NoNode));
    // 3. DELETE on the parent, even for a node that does not exist (ZooKeeper answers NoAuth here too).
    assert_eq!(l.run(delete("/locked/nothing", -1)), err(ErrorCode::NoAuth));
    assert_eq!(l.run(delete("/locked/child", 3)), err(ErrorCode::NoAuth));
    // 4. The node.
    assert_eq!(l.run(delete("/open/nothing", -1)), err(ErrorCode::NoNode));
    // 5. Version, before emptiness.
    assert_eq!(l.run(delete("/open/full", 3)), err(ErrorCode::BadVersion));
    assert_eq!(l.run(delete("/open/full", 0)), err(ErrorCode::NotEmpty));
    assert_eq!(l.run(delete("/open/full/x", 0)), TxnResult::Deleted);
    // Nodes under /zookeeper other than the built-in ones can go.
    l.mk("/zookeeper/mine", CreateMode::Persistent);
    assert_eq!(l.run(delete("/zookeeper/mine", -1)), TxnResult::Deleted);
}

#[test]
fn set_data_order() {
    let mut l = setup();
    assert_eq!(l.run(set_data("/open/", b"", -1)), err(ErrorCode::BadArguments));
    assert_eq!(l.run(set_data("", b"", -1)), err(ErrorCode::BadArguments));
    assert_eq!(l.run(set_data("/missing", b"", -1)), err(ErrorCode::NoNode));
    assert_eq!(l.run(set_data("/locked", b"", 99)), err(ErrorCode::NoAuth));
    assert_eq!(l.run(set_data("/open", b"", 99)), err(ErrorCode::BadVersion));
    assert_eq!(l.run(set_data("/zookeeper/config", b"x", -1)), err(ErrorCode::NoAuth));
}

#[test]
fn set_acl_order() {
    let mut l = setup();
    let bad_acl = vec![Acl::new(perms::ALL, Id::new("ip", "1.2.3"))];
    assert_eq!(l.run(set_acl("bad", bad_acl.clone(), -1)), err(ErrorCode::BadArguments));
    // The ACL is validated before the node is looked up (ZooKeeper: "Acl is not valid : /nonexist").
    assert_eq!(l.run(set_acl("/missing", bad_acl.clone(), -1)), err(ErrorCode::InvalidAcl));
    assert_eq!(l.run(set_acl("/missing", vec![], -1)), err(ErrorCode::InvalidAcl));
    assert_eq!(l.run(set_acl("/missing", Acl::open_unsafe(), -1)), err(ErrorCode::NoNode));
    assert_eq!(l.run(set_acl("/locked", Acl::open_unsafe(), 99)), err(ErrorCode::NoAuth));
    assert_eq!(l.run(set_acl("/open", Acl::open_unsafe(), 99)), err(ErrorCode::BadVersion));
    assert!(matches!(l.run(set_acl("/open", Acl::open_unsafe(), 0)), TxnResult::SetAcl(s) if s.aversion == 1));
}

#[test]
fn check_order() {
    let mut l = setup();
    l.mk_with_acl("/secret", vec![Acl::new(perms::WRITE, Id::anyone())]);
    assert_eq!(l.run(check("nope", -1)), err(ErrorCode::BadArguments));
    assert_eq!(l.run(check("/missing", -1)), err(ErrorCode::NoNode));
    assert_eq!(l.run(check("/secret", 99)), err(ErrorCode::NoAuth));
    assert_eq!(l.run(check("/open", 99)), err(ErrorCode::BadVersion));
    assert_eq!(l.run(check("/open", 0)), TxnResult::Checked);
    assert_eq!(l.run(check("/open", -1)), TxnResult::Checked);
}

#[test]
fn delete_container_order() {
    let mut l = setup();
    l.mk("/c", CreateMode::Container);
    l.mk("/c/x", CreateMode::Container);
    l.mk("/c/x/y", CreateMode::Persistent);
    let delete_container = |path: &str| TxnOp::DeleteContainer { path: path.into(), observed_mzxid: None };
    assert_eq!(l.run(delete_container("/zookeeper")), err(ErrorCode::BadArguments));
    assert_eq!(l.run(delete_container("/missing")), err(ErrorCode::NoNode));
    assert_eq!(l.run(delete_container("/c")), err(ErrorCode::NotEmpty));
    // Not a container: ZooKeeper says BadVersion for an ephemeral; Paddock also protects persistent nodes.
    assert_eq!(l.run(delete_container("/c/x/y")), err(ErrorCode::BadVersion));
    let s3 = l.open_session();
    assert!(matches!(
        l.run_as(s3, &[], create_op("/e", b"", Acl::open_unsafe(), CreateMode::Ephemeral)).result,
        TxnResult::Created { .. }
    ));
    assert_eq!(l.run(delete_container("/e")), err(ErrorCode::BadVersion));
    // No ACL check: the server's reaper (session 0, no ids) may delete a container nobody else could.
    assert_eq!(l.run(delete("/c/x/y", -1)), TxnResult::Deleted);
    assert!(matches!(l.run(set_acl("/c", Acl::read_unsafe(), -1)), TxnResult::SetAcl(_)));
    assert_eq!(l.run_as(0, &[], delete_container("/c/x")).result, TxnResult::Deleted);
    assert_eq!(l.run_as(0, &[], delete_container("/c")).result, TxnResult::Deleted);
    assert_eq!(l.tree.stat("/c"), None);
}

#[test]
fn acl_checks_use_the_callers_ids() {
    let mut l = Leader::new();
    let bob = digest_user("bob:secret");
    let alice = digest_user("alice:pw");
    // "auth" expands to the caller's digest ids; an ip id alone cannot satisfy it.
    let auth_acl = vec![Acl::new(perms::ALL, Id::new("auth", ""))];
    let ip = Id::new("ip", "10.1.1.1");
    assert_eq!(
        l.run_as(0, std::slice::from_ref(&ip), create_op("/b", b"", auth_acl.clone(), CreateMode::Persistent)).result,
        err(ErrorCode::InvalidAcl)
    );
    let created = l.run_as(0, &[ip.clone(), bob.clone()], create_op("/b", b"", auth_acl, CreateMode::Persistent));
    assert!(matches!(created.result, TxnResult::Created { .. }));
    assert_eq!(l.tree.get("/b").map(|n| n.acl().as_ref().clone()), Some(vec![Acl::new(perms::ALL, bob.clone())]));
    assert_eq!(l.run_as(0, &[alice], set_data("/b", b"x", -1)).result, err(ErrorCode::NoAuth));
    assert!(matches!(l.run_as(0, std::slice::from_ref(&bob), set_data("/b", b"x", -1)).result, TxnResult::SetData(_)));
    assert!(matches!(l.run_as(0, &[Id::new("super", "")], set_data("/b", b"y", -1)).result, TxnResult::SetData(_)));
    // An ip network ACL.
    l.mk_with_acl("/net", vec![Acl::new(perms::ALL, Id::new("ip", "10.0.0.0/8"))]);
    assert!(matches!(l.run_as(0, &[ip], create("/net/x")).result, TxnResult::Created { .. }));
    assert_eq!(l.run_as(0, &[Id::new("ip", "192.168.0.1")], create("/net/y")).result, err(ErrorCode::NoAuth));
}
