//! A member cut off from its quorum (here: the other two servers of three are down). Without
//! `readonlymode.enabled` it serves no client, as ZooKeeper's LOOKING server; with it, it serves reads to
//! clients that asked for read-only mode, refuses their writes and `sync` with NotReadOnly, refuses other
//! clients, says `ro` to `isro`, and goes back to serving everyone when the quorum returns.

use std::time::Duration;

use paddock_proto::{CreateMode, ErrorCode, PathRequest, Request};
use paddock_testkit::{Ensemble, EnsembleSpec, four_letter_word};

use crate::raw::Raw;
use crate::raw::eventually;

/// Starts three servers, writes `/before` through the one that will be left alone, and kills the other two.
fn cut_off(config: &[(&str, &str)]) -> (Ensemble, usize) {
    let mut ensemble =
        Ensemble::start_spec(&EnsembleSpec { participants: 3, observers: 0, config }).expect("ensemble starts");
    let alone = ensemble.followers().expect("followers")[0];
    let mut connected = None;
    assert!(
        eventually(|| {
            let (client, session) = Raw::connect(&ensemble.members[alone].addr(), (0, &[0; 16]), 10_000, 0);
            connected = session.map(|_| client);
            connected.is_some()
        }),
        "a session on the member that will be left alone"
    );
    let mut client = connected.expect("connected");
    assert_eq!(client.create(1, "/before", CreateMode::Persistent), Some(ErrorCode::Ok));
    assert_eq!(client.call(2, &Request::CloseSession), Some(ErrorCode::Ok));
    ensemble.converged().expect("converged");
    for i in 0..3 {
        if i != alone {
            ensemble.kill9(i);
        }
    }
    (ensemble, alone)
}

#[test]
fn a_member_cut_off_from_its_quorum_serves_no_client() {
    let (ensemble, alone) = cut_off(&[]);
    let addr = ensemble.members[alone].addr();
    assert!(
        eventually(|| four_letter_word(&addr, "srvr").is_ok_and(|s| s.contains("not currently serving requests"))),
        "srvr says the member is not serving"
    );
    for read_only in [false, true] {
        let (_, answer) = Raw::connect_as(&addr, (0, &[0; 16]), 10_000, 0, read_only);
        assert_eq!(answer, None, "a client (read-only: {read_only}) is refused without an answer");
    }
    assert_eq!(four_letter_word(&addr, "isro").ok().as_deref(), Some("rw"));
}

#[test]
fn a_read_only_member_serves_reads_refuses_writes_and_rejoins() {
    let (mut ensemble, alone) = cut_off(&[("readonlymode.enabled", "true")]);
    let addr = ensemble.members[alone].addr();
    assert!(eventually(|| four_letter_word(&addr, "isro").ok().as_deref() == Some("ro")), "isro says ro");
    assert_eq!(ensemble.members[alone].srvr_line("Mode:").as_deref(), Some("read-only"));

    let (mut reader, answer) = Raw::connect_as(&addr, (0, &[0; 16]), 10_000, 0, true);
    let (_, _, _, read_only) = answer.expect("a read-only client gets a session");
    assert!(read_only, "the handshake answer says read-only");
    assert_eq!(reader.exists(1, "/before"), Some(ErrorCode::Ok), "reads see what was committed before");
    assert_eq!(reader.create(2, "/during", CreateMode::Persistent), Some(ErrorCode::NotReadOnly));
    assert_eq!(reader.set(3, "/before"), Some(ErrorCode::NotReadOnly));
    assert_eq!(reader.call(4, &Request::Sync(PathRequest { path: "/".into() })), Some(ErrorCode::NotReadOnly));
    assert_eq!(reader.exists(5, "/during"), Some(ErrorCode::NoNode), "a refused write changed nothing");
    let (_, refused) = Raw::connect_as(&addr, (0, &[0; 16]), 10_000, 0, false);
    assert_eq!(refused, None, "a client that did not ask for read-only mode is refused");

    // The quorum returns: read-only sessions end, and the member serves writes again.
    for i in 0..3 {
        if i != alone {
            ensemble.restart(i).expect("restart");
        }
    }
    assert!(reader.closed_within(Duration::from_secs(30)), "the read-only connection is closed");
    assert!(eventually(|| four_letter_word(&addr, "isro").ok().as_deref() == Some("rw")), "isro says rw again");
    ensemble.leader().expect("a leader");
    let (mut writer, session) = Raw::connect(&addr, (0, &[0; 16]), 10_000, 0);
    assert!(session.is_some_and(|s| !s.3), "a read-write session");
    assert_eq!(writer.create(1, "/after", CreateMode::Persistent), Some(ErrorCode::Ok));
    ensemble.converged().expect("converged");
}

/// A member restarted while its quorum is away cannot catch up, yet with read-only mode it serves read-only
/// clients what it has (as ZooKeeper's read-only server starts from its own data), and no one else; once
/// the quorum returns and it has caught up, it serves everyone.
#[test]
fn a_member_restarted_while_cut_off_serves_read_only_clients_what_it_has() {
    let (mut ensemble, alone) = cut_off(&[("readonlymode.enabled", "true")]);
    // An operator's restart (a crash may lose the member's record of what was committed last, which it
    // then learns from its leader: not here).
    ensemble.terminate(alone).expect("stop the member alone");
    ensemble.restart(alone).expect("restart the member alone");
    let addr = ensemble.members[alone].addr();
    assert!(eventually(|| four_letter_word(&addr, "isro").ok().as_deref() == Some("ro")), "isro says ro");
    let mut answered = None;
    assert!(
        eventually(|| {
            let (reader, answer) = Raw::connect_as(&addr, (0, &[0; 16]), 10_000, 0, true);
            answered = answer.map(|a| (reader, a.3));
            answered.is_some()
        }),
        "a read-only client gets a session on the restarted member"
    );
    let (mut reader, read_only) = answered.expect("answered");
    assert!(read_only, "the handshake answer says read-only");
    assert_eq!(reader.exists(1, "/before"), Some(ErrorCode::Ok), "it serves what it had before the restart");
    assert_eq!(reader.create(2, "/during", CreateMode::Persistent), Some(ErrorCode::NotReadOnly));
    let (_, refused) = Raw::connect_as(&addr, (0, &[0; 16]), 10_000, 0, false);
    assert_eq!(refused, None, "a client that did not ask for read-only mode is refused");

    for i in 0..3 {
        if i != alone {
            ensemble.restart(i).expect("restart");
        }
    }
    ensemble.leader().expect("a leader");
    assert!(
        eventually(|| Raw::connect(&addr, (0, &[0; 16]), 10_000, 0).1.is_some_and(|s| !s.3)),
        "a read-write session once the quorum is back"
    );
    ensemble.converged().expect("converged");
}
