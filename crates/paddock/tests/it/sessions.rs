//! Sessions across the servers of an ensemble: a session follows its client to whichever server it reconnects
//! to (and its old server's connection loses it: SessionMoved), an ephemeral owner whose server dies keeps its
//! session on another server, an abandoned session expires exactly once on the leader's decision across a
//! leader change, and a server behind what the client has seen refuses it.
//!
//! Sessions are driven over raw sockets with the wire encoding of `paddock-proto`, so that the test decides
//! which server each connection uses and when a client reconnects (a real client library reconnects on its own
//! and would move the session back).

use std::time::{Duration, Instant};

use paddock_proto::{CreateMode, ErrorCode, Request};
use paddock_testkit::Ensemble;

use crate::raw::eventually;
use crate::raw::{Handshake, Raw};

/// Reconnects a session as clients do: a server that has not yet applied what the client has seen closes
/// the connection unanswered, and the client tries again.
fn resume(addr: &str, session: (i64, &[u8]), timeout_ms: i32, last_zxid_seen: i64) -> (Raw, Handshake) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (raw, answer) = Raw::connect(addr, session, timeout_ms, last_zxid_seen);
        if answer.is_some() || Instant::now() > deadline {
            return (raw, answer);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `path` exists, read through a fresh session on `addr` (after nothing: a plain read there).
fn exists_on(addr: &str, path: &str) -> bool {
    let (mut raw, session) = Raw::connect(addr, (0, &[0; 16]), 10_000, 0);
    assert!(session.is_some(), "a session on {addr}");
    let code = raw.exists(1, path);
    assert!(matches!(code, Some(ErrorCode::Ok | ErrorCode::NoNode)), "exists {path} on {addr}: {code:?}");
    let _ = raw.call(2, &Request::CloseSession);
    code == Some(ErrorCode::Ok)
}

#[test]
fn a_session_moves_to_the_server_its_client_reconnects_to() {
    let ensemble = Ensemble::start(3, 0).expect("ensemble starts");
    let followers = ensemble.followers().expect("followers");
    let (first, second) = (ensemble.members[followers[0]].addr(), ensemble.members[followers[1]].addr());

    let (mut old, session) = Raw::connect(&first, (0, &[0; 16]), 10_000, 0);
    let (id, passwd, _, _) = session.expect("a session on the first follower");
    assert_eq!(old.create(1, "/moving", CreateMode::Ephemeral), Some(ErrorCode::Ok));

    // The client comes back through the other follower with its id and password: same session.
    let (mut new, resumed) = resume(&second, (id, &passwd), 10_000, old.last_zxid);
    assert_eq!(resumed.map(|s| s.0), Some(id), "the session resumes on the other follower");
    assert_eq!(new.set(1, "/moving"), Some(ErrorCode::Ok), "the moved session writes");
    // Its old connection has lost it: a write there is refused (SessionMoved) or finds the connection
    // closed, as ZooKeeper tears such a connection down; never acknowledged.
    let stale = old.set(2, "/moving");
    assert!(matches!(stale, None | Some(ErrorCode::SessionMoved)), "a write on the old connection: {stale:?}");
    assert!(old.closed_within(Duration::from_secs(30)), "the old server closes the moved session's connection");
    // The ephemeral went with the session and the session still writes.
    assert_eq!(new.create(2, "/moving2", CreateMode::Ephemeral), Some(ErrorCode::Ok));
    assert!(exists_on(&first, "/moving") && exists_on(&first, "/moving2"));
    assert_eq!(new.call(3, &Request::CloseSession), Some(ErrorCode::Ok));
    assert!(eventually(|| !exists_on(&first, "/moving")), "closing the session removes its ephemerals");
    ensemble.converged().expect("converged");
}

#[test]
fn an_ephemeral_owner_keeps_its_session_when_its_server_dies() {
    let mut ensemble = Ensemble::start(3, 0).expect("ensemble starts");
    let leader = ensemble.leader().expect("a leader");
    let followers = ensemble.followers().expect("followers");
    let (dying, surviving) = (followers[0], followers[1]);

    let timeout_ms = 4_000;
    let (mut first, session) = Raw::connect(&ensemble.members[dying].addr(), (0, &[0; 16]), timeout_ms, 0);
    let (id, passwd, negotiated, _) = session.expect("a session");
    assert_eq!(first.create(1, "/owned", CreateMode::Ephemeral), Some(ErrorCode::Ok));
    ensemble.kill9(dying);

    let (mut second, resumed) = resume(&ensemble.members[surviving].addr(), (id, &passwd), timeout_ms, first.last_zxid);
    assert_eq!(resumed.map(|s| s.0), Some(id), "the session resumes on another server within its timeout");
    // Kept alive by pings well past its timeout: the leader hears of it through the surviving follower.
    let until = Instant::now() + Duration::from_millis(3 * negotiated as u64);
    let mut xid = 1;
    while Instant::now() < until {
        xid += 1;
        assert_eq!(second.call(xid, &Request::Ping), Some(ErrorCode::Ok), "ping");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(exists_on(&ensemble.members[leader].addr(), "/owned"), "the ephemeral outlives the owner's server");
    assert_eq!(second.call(xid + 1, &Request::CloseSession), Some(ErrorCode::Ok));
    assert!(eventually(|| !exists_on(&ensemble.members[leader].addr(), "/owned")));
}

#[test]
fn an_abandoned_session_expires_exactly_once_on_the_leaders_decision_across_a_leader_change() {
    let mut ensemble = Ensemble::start(3, 0).expect("ensemble starts");
    let first_leader = ensemble.leader().expect("a leader");
    let follower = ensemble.followers().expect("followers")[0];
    let (mut client, session) = Raw::connect(&ensemble.members[follower].addr(), (0, &[0; 16]), 4_000, 0);
    let (id, _, _, _) = session.expect("a session");
    assert_eq!(client.create(1, "/abandoned", CreateMode::Ephemeral), Some(ErrorCode::Ok));
    // The client vanishes without closing its session, and the leader dies before the timeout is up.
    drop(client);
    ensemble.kill9(first_leader);
    let second_leader = ensemble.leader().expect("a new leader");
    let addr = ensemble.members[follower].addr();
    assert!(eventually(|| !exists_on(&addr, "/abandoned")), "the session expires under the new leader");
    ensemble.converged().expect("converged");

    let session = format!("0x{id:x}");
    let count = |log: &str, what: &str| log.lines().filter(|l| l.contains(what) && l.contains(&session)).count();
    let decisions: usize = ensemble.members.iter().map(|m| count(&m.log(), "session expired")).sum();
    assert_eq!(decisions, 1, "one expiry decision in the whole ensemble");
    assert_eq!(count(&ensemble.members[second_leader].log(), "session expired"), 1, "made by the new leader");
    for member in ensemble.members.iter().filter(|m| m.is_running()) {
        assert_eq!(count(&member.log(), "session closed"), 1, "applied once on server.{}", member.id);
    }
}

#[test]
fn a_server_behind_what_the_client_has_seen_refuses_it() {
    let ensemble = Ensemble::start(3, 0).expect("ensemble starts");
    let follower = ensemble.followers().expect("followers")[0];
    let addr = ensemble.members[follower].addr();
    let (mut client, session) = Raw::connect(&addr, (0, &[0; 16]), 10_000, 0);
    let (id, passwd, _, _) = session.expect("a session");
    assert_eq!(client.create(1, "/seen", CreateMode::Persistent), Some(ErrorCode::Ok));
    // A client that has seen a zxid this server has not reached yet (as after a partition) is refused: the
    // connection is closed without an answer, and the client tries another server.
    let (_, refused) = Raw::connect(&addr, (id, &passwd), 10_000, client.last_zxid + 1_000);
    assert_eq!(refused, None, "refused without an answer");
    let (_, accepted) = Raw::connect(&addr, (id, &passwd), 10_000, client.last_zxid);
    assert_eq!(accepted.map(|s| s.0), Some(id), "a client that has seen no more than the server is served");
}
