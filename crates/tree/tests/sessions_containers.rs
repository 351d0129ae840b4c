//! Sessions and their ephemerals, containers and TTL nodes.

mod common;

use common::*;
use paddock_proto::{Acl, CreateMode, ErrorCode, EventType};
use paddock_tree::{TxnOp, TxnResult};

fn ephemeral(path: &str) -> TxnOp {
    create_op(path, b"", Acl::open_unsafe(), CreateMode::Ephemeral)
}

#[test]
fn sessions_are_recorded_and_own_their_ephemerals() {
    let mut l = Leader::new();
    let (s10, s20) = (l.open_session(), l.open_session());
    assert_eq!(l.tree.session(s10).map(|s| (s.timeout_ms, s.passwd)), Some((30_000, [7; 16])));
    assert_eq!(l.tree.sessions().map(|(id, _)| id).collect::<Vec<_>>(), vec![s10, s20]);
    l.mk("/q", CreateMode::Persistent);
    for path in ["/q/b", "/q/a", "/e"] {
        assert!(matches!(l.run_as(s10, &[], ephemeral(path)).result, TxnResult::Created { .. }));
    }
    assert!(matches!(l.run_as(s20, &[], ephemeral("/q/c")).result, TxnResult::Created { .. }));
    assert_eq!(l.tree.ephemerals(s10), vec!["/e", "/q/a", "/q/b"]);
    assert_eq!(l.tree.ephemerals(s20), vec!["/q/c"]);
    assert_eq!(l.tree.ephemerals(0x30), Vec::<String>::new());
    assert_eq!(l.tree.ephemerals_count(), 4);
    // Deleting one by hand takes it out of the index.
    assert_eq!(l.run(delete("/e", -1)), TxnResult::Deleted);
    assert_eq!(l.tree.ephemerals(s10), vec!["/q/a", "/q/b"]);
    assert_eq!(l.tree.ephemerals_count(), 3);
    assert_eq!(l.tree.check_consistency(), Ok(()));
}

#[test]
fn closing_a_session_deletes_its_ephemerals_and_fires_their_watches() {
    let mut l = Leader::new();
    let s10 = l.open_session();
    l.mk("/q", CreateMode::Persistent);
    for path in ["/q/a", "/q/b"] {
        assert!(matches!(l.run_as(s10, &[], ephemeral(path)).result, TxnResult::Created { .. }));
    }
    let digest_before_session = {
        let mut other = Leader::new();
        other.mk("/q", CreateMode::Persistent);
        other.tree.digest()
    };
    let applied = l.run_as(s10, &[], TxnOp::CloseSession);
    assert_eq!(applied.result, TxnResult::SessionClosed);
    let fired: Vec<_> = applied.triggers.iter().map(|t| (t.path.as_str(), t.event, t.zxid)).collect();
    let z = l.zxid;
    assert_eq!(
        fired,
        vec![
            ("/q/a", EventType::NodeDeleted, z),
            ("/q", EventType::NodeChildrenChanged, z),
            ("/q/b", EventType::NodeDeleted, z),
            ("/q", EventType::NodeChildrenChanged, z),
        ]
    );
    assert_eq!(l.tree.session(s10), None);
    assert_eq!(l.tree.children("/q"), Some(vec![]));
    assert_eq!(l.stat("/q").pzxid, z);
    assert_eq!(l.tree.ephemerals_count(), 0);
    assert_ne!(l.tree.digest(), digest_before_session, "stats moved, so the digests differ");
    // Closing again, or closing a session never seen, is harmless.
    assert_eq!(l.run_as(s10, &[], TxnOp::CloseSession).result, TxnResult::SessionClosed);
    assert_eq!(l.run_as(0x99, &[], TxnOp::CloseSession).result, TxnResult::SessionClosed);
    // A closed session cannot create ephemerals any more.
    assert_eq!(l.run_as(s10, &[], ephemeral("/q/late")).result, err(ErrorCode::SessionExpired));
    assert_eq!(l.tree.check_consistency(), Ok(()));
}

#[test]
fn containers_become_candidates_only_after_use_or_when_never_used_for_long() {
    let mut l = Leader::new();
    l.mk("/c", CreateMode::Container);
    let created = l.time;
    assert!(l.tree.expired_containers(created + 10_000_000, 0).is_empty(), "never used, no limit");
    assert!(l.tree.expired_containers(created + 60_000, 60_000).is_empty(), "not older than the limit yet");
    assert_eq!(paths(l.tree.expired_containers(created + 60_001, 60_000)), vec!["/c"]);
    l.mk("/c/x", CreateMode::Persistent);
    assert!(l.tree.expired_containers(created + 10_000_000, 1).is_empty(), "has a child");
    assert_eq!(l.run(delete("/c/x", -1)), TxnResult::Deleted);
    // The tree keeps the empty container; the server reaps it through a DeleteContainer txn.
    assert!(l.tree.get("/c").is_some());
    assert_eq!(paths(l.tree.expired_containers(l.time, 0)), vec!["/c"]);
    assert_eq!(
        l.run_as(0, &[], TxnOp::DeleteContainer { path: "/c".into(), observed_mzxid: None }).result,
        TxnResult::Deleted
    );
    assert!(l.tree.expired_containers(l.time, 0).is_empty());
}

fn paths(candidates: Vec<(String, i64)>) -> Vec<String> {
    candidates.into_iter().map(|(path, _)| path).collect()
}

#[test]
fn ttl_nodes_expire_after_their_ttl_since_the_last_change() {
    let mut l = Leader::new();
    let ttl = TxnOp::Create {
        path: "/t".into(),
        data: Some(vec![]),
        acl: Acl::open_unsafe(),
        mode: CreateMode::PersistentWithTtl,
        ttl: 5_000,
    };
    assert!(matches!(l.run(ttl), TxnResult::Created { .. }));
    let created = l.time;
    assert!(l.tree.expired_containers(created + 5_000, 0).is_empty());
    let due = l.tree.expired_containers(created + 5_001, 0);
    assert_eq!(due, vec![("/t".to_string(), l.stat("/t").mzxid)]);
    assert!(matches!(l.run(set_data("/t", b"x", -1)), TxnResult::SetData(_)));
    let touched = l.time;
    // The reaper's txn was decided before the setData: it must not delete the refreshed node.
    let stale = TxnOp::DeleteContainer { path: "/t".into(), observed_mzxid: Some(due[0].1) };
    assert_eq!(l.run_as(0, &[], stale).result, err(ErrorCode::BadVersion));
    assert!(l.tree.get("/t").is_some());
    assert!(l.tree.expired_containers(touched + 5_000, 0).is_empty(), "setData restarts the clock");
    l.mk("/t/child", CreateMode::Persistent);
    assert!(l.tree.expired_containers(touched + 100_000, 0).is_empty(), "has a child");
    assert_eq!(l.run(delete("/t/child", -1)), TxnResult::Deleted);
    let due = l.tree.expired_containers(l.time + 5_001, 0);
    assert_eq!(paths(due.clone()), vec!["/t"]);
    let current = TxnOp::DeleteContainer { path: "/t".into(), observed_mzxid: Some(due[0].1) };
    assert_eq!(l.run_as(0, &[], current).result, TxnResult::Deleted);
    assert_eq!(l.tree.check_consistency(), Ok(()));
}

#[test]
fn persistent_and_ephemeral_nodes_are_never_candidates() {
    let mut l = Leader::new();
    let s4 = l.open_session();
    l.mk("/p", CreateMode::Persistent);
    assert!(matches!(l.run_as(s4, &[], ephemeral("/e")).result, TxnResult::Created { .. }));
    assert!(l.tree.expired_containers(i64::MAX, 1).is_empty());
}

#[test]
fn a_session_moves_with_its_reopen_and_its_old_server_can_no_longer_write_for_it() {
    let mut l = Leader::new();
    let open = TxnOp::CreateSession { timeout_ms: 30_000, passwd: [7; 16] };
    let TxnResult::SessionCreated(s) = l.run_on(1, 0, open) else { panic!("session created") };
    assert_eq!(l.tree.session(s).map(|s| (s.owner, s.last_zxid)), Some((1, 1)));
    assert!(matches!(l.run_on(1, s, ephemeral("/e1")), TxnResult::Created { .. }));
    // The client reconnects to server 2: from the reopen on, server 1's writes for it fail and change nothing.
    assert_eq!(l.run_on(2, s, TxnOp::ReopenSession), TxnResult::SessionReopened);
    assert_eq!(l.tree.session(s).map(|s| (s.owner, s.last_zxid)), Some((2, 3)));
    let digest = l.tree.digest();
    assert_eq!(l.run_on(1, s, ephemeral("/e2")), err(ErrorCode::SessionMoved));
    assert_eq!(l.run_on(1, s, TxnOp::CloseSession), err(ErrorCode::SessionMoved));
    assert_eq!(l.tree.digest(), digest, "a refused write changes nothing");
    assert!(matches!(l.run_on(2, s, ephemeral("/e2")), TxnResult::Created { .. }));
    assert_eq!(l.tree.ephemerals(s), vec!["/e1", "/e2"]);
    // Reopening a session that is gone says so.
    assert_eq!(l.run_on(2, 0x77, TxnOp::ReopenSession), err(ErrorCode::SessionExpired));
}

#[test]
fn an_expiry_is_overruled_by_a_later_entry_of_the_session_and_applies_once() {
    let mut l = Leader::new();
    let open = TxnOp::CreateSession { timeout_ms: 30_000, passwd: [7; 16] };
    let TxnResult::SessionCreated(s) = l.run_on(1, 0, open) else { panic!("session created") };
    assert!(matches!(l.run_on(1, s, ephemeral("/e")), TxnResult::Created { .. }));
    let basis = l.tree.session(s).map(|s| s.last_zxid).unwrap_or_default();
    // A write of the session is logged after the leader decided: the expiry does not hold.
    assert!(matches!(l.run_on(1, s, create("/later")), TxnResult::Created { .. }));
    assert_eq!(l.run_on(3, s, TxnOp::ExpireSession { basis }), TxnResult::SessionKept);
    assert_eq!(l.tree.ephemerals(s), vec!["/e"]);
    // Decided on the latest basis, it closes the session and its ephemerals; a second expiry (a new leader
    // deciding again) finds nothing to close.
    let basis = l.tree.session(s).map(|s| s.last_zxid).unwrap_or_default();
    let expired = l.run_as(s, &[], TxnOp::ExpireSession { basis });
    assert_eq!(expired.result, TxnResult::SessionClosed);
    assert_eq!(expired.triggers.iter().map(|t| t.path.as_str()).collect::<Vec<_>>(), ["/e", "/"]);
    assert!(l.tree.session(s).is_none());
    assert_eq!(l.run_on(2, s, TxnOp::ExpireSession { basis }), err(ErrorCode::SessionExpired));
}
