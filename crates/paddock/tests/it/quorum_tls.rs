//! Peer (quorum) traffic over mutual TLS with ZooKeeper's `sslQuorum` and `ssl.quorum.*` keys, and positive
//! peer identity (docs/security.md, "Peer (quorum) TLS"): a 3-member ensemble with JKS stores, as ZooKeeper
//! users hold them, elects, replicates and survives its leader's kill; the peer port refuses plain TCP, a
//! certificate of the same CA for a host that is no member, and a member's certificate presented from
//! another address, while the member itself, from its own address, is served; a member removed by reconfig
//! is refused from then on.
//!
//! Each member has an address of its own on the loopback (127.0.0.2, .3, .4: `Ensemble::start_on_loopback`),
//! so that a connection's source says which member it is; the strangers connect from 127.0.0.9.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use paddock_testkit::{ENSEMBLE_WAIT, Ensemble, EnsembleSpec};
use zookeeper_client as zk;

use crate::tls::{Pki, tls_config};

/// Where a connection that is no member's comes from.
pub(crate) const STRANGER: &str = "127.0.0.9";

/// A CA, a certificate and JKS key store for each of `members` members (`m<id>`, naming its loopback
/// address), a stranger's certificate of the same CA for [`STRANGER`], and the JKS trust store.
pub(crate) fn member_pki(members: u64) -> Pki {
    let pki = Pki::new();
    for id in 1..=members {
        let name = format!("m{id}");
        pki.issue(&name, &format!("/CN=server.{id}/O=Paddock"), &format!("IP:{}", Ensemble::loopback_host(id)));
        pki.key_stores(&name);
    }
    pki.issue("stranger", "/CN=stranger/O=Paddock", &format!("IP:{STRANGER}"));
    pki.trust_stores();
    pki
}

/// Member `id`'s zoo.cfg lines: `sslQuorum=true` and its `ssl.quorum.*` stores (the client port's
/// `ssl.*` lines of the TLS tests, renamed).
pub(crate) fn quorum_config(pki: &Pki, id: u64) -> Vec<(String, String)> {
    let stores = tls_config(pki, 0, &format!("m{id}.jks"));
    let mut lines: Vec<(String, String)> = stores
        .into_iter()
        .filter_map(|(key, value)| Some((format!("ssl.quorum.{}", key.strip_prefix("ssl.")?), value)))
        .collect();
    lines.push(("sslQuorum".into(), "true".into()));
    lines
}

/// The PKI's directory, where `<name>.pem`, `<name>.key` and `ca.pem` are.
fn pki_dir(pki: &Pki) -> PathBuf {
    let stores = tls_config(pki, 0, "any");
    let location = stores.iter().find(|(k, _)| k == "ssl.keyStore.location").map(|(_, v)| PathBuf::from(v));
    location.and_then(|l| l.parent().map(PathBuf::from)).expect("the PKI's directory")
}

/// An ensemble of `members` participants with sslQuorum, each on its own loopback address.
pub(crate) fn tls_ensemble(pki: &Pki, members: u64) -> Ensemble {
    tls_ensemble_with(pki, members, &[])
}

fn tls_ensemble_with(pki: &Pki, members: u64, config: &[(&str, &str)]) -> Ensemble {
    let spec = EnsembleSpec { participants: members, observers: 0, config };
    Ensemble::start_on_loopback(&spec, &|id| quorum_config(pki, id)).expect("the TLS ensemble starts")
}

/// Member `id`'s peer address (`host`, `port`), from its zoo.cfg.
pub(crate) fn peer_addr(ensemble: &Ensemble, id: u64) -> (String, u16) {
    let member = &ensemble.members[(id - 1) as usize];
    let cfg = std::fs::read_to_string(member.config_path()).expect("zoo.cfg");
    let line = cfg.lines().find_map(|l| l.strip_prefix(&format!("server.{id}="))).expect("server.N line");
    let mut parts = line.split(':');
    let host = parts.next().expect("host").to_string();
    (host, parts.next().and_then(|p| p.parse().ok()).expect("peer port"))
}

/// How a probe of a peer port went.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The member answered a call: the caller could have voted, proposed or read the log.
    Served,
    Refused(String),
}

/// Connects to `target` from `source` (over TLS with the PKI's `cert`, or plain with `None`) and makes the
/// cheapest Raft-level call there is (INITIALIZED, method 64 + 3, no body), as a member asks before it
/// forms the ensemble. A reply frame of any kind means the connection was served.
pub(crate) fn probe(pki: &Pki, target: &(String, u16), source: &str, cert: Option<&str>) -> Probe {
    let script = r#"
import socket, ssl, struct, sys
host, port, source, cert, ca = sys.argv[1:6]
s = socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0))
try:
    if cert != "-":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(ca)
        ctx.load_cert_chain(cert + ".pem", cert + ".key")
        s = ctx.wrap_socket(s)
    s.sendall(struct.pack(">IQBB", 10, 1, 0, 67))
    data = b""
    while len(data) < 14:
        chunk = s.recv(64)
        if not chunk:
            break
        data += chunk
except (ssl.SSLError, OSError) as e:
    print("refused:", e)
    sys.exit(0)
print("served" if len(data) >= 14 and data[12] in (1, 2) else "refused: closed after %d bytes" % len(data))
"#;
    let dir = pki_dir(pki);
    let cert = cert.map_or_else(|| "-".to_string(), |c| dir.join(c).display().to_string());
    let ca = dir.join("ca.pem").display().to_string();
    let out = Command::new("python3")
        .args(["-c", script, &target.0, &target.1.to_string(), source, &cert, &ca])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(out.status.success(), "probe: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    if stdout == "served" { Probe::Served } else { Probe::Refused(stdout) }
}

async fn connect(addr: &str) -> zk::Client {
    zk::Client::connector().with_session_timeout(Duration::from_secs(10)).connect(addr).await.expect("client connects")
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// A write through `writer` is read on every member in `readers` (after a sync: any member serves reads).
async fn write_and_read_everywhere(ensemble: &Ensemble, writer: usize, readers: &[usize], path: &str) {
    let client = connect(&ensemble.members[writer].addr()).await;
    client.create(path, path.as_bytes(), &persistent()).await.expect("create");
    for reader in readers {
        let client = connect(&ensemble.members[*reader].addr()).await;
        client.sync(path).await.expect("sync");
        assert_eq!(client.get_data(path).await.expect("read").0, path.as_bytes(), "on member {reader}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_ensemble_elects_replicates_and_survives_its_leaders_kill() {
    let pki = member_pki(3);
    let mut ensemble = tls_ensemble(&pki, 3);
    let leader = ensemble.leader().expect("a leader over TLS");
    assert!(ensemble.members[leader].log().contains("peer connections use mutual TLS (sslQuorum)"));
    let followers = ensemble.followers().expect("followers");
    write_and_read_everywhere(&ensemble, followers[0], &[followers[1], leader], "/through-a-follower").await;
    ensemble.converged().expect("converged");

    ensemble.kill9(leader);
    let next = ensemble.leader().expect("a new leader among the survivors");
    let survivor = followers.iter().copied().find(|i| *i != next).expect("the other survivor");
    write_and_read_everywhere(&ensemble, survivor, &[next], "/after-the-kill").await;
    ensemble.restart(leader).expect("the old leader restarts");
    ensemble.converged().expect("the old leader catches up over TLS");
    for member in &ensemble.members {
        assert!(!member.log().contains("peer connection refused"), "no member refused another:\n{}", member.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_port_serves_members_only_from_their_own_address() {
    let pki = member_pki(3);
    let ensemble = tls_ensemble(&pki, 3);
    ensemble.leader().expect("a leader");
    let target = peer_addr(&ensemble, 2);
    let member1 = Ensemble::loopback_host(1);
    // The control: member 1's certificate from member 1's address is served, so refusals below are the
    // identity check's.
    assert_eq!(probe(&pki, &target, &member1, Some("m1")), Probe::Served);
    let refusals = [
        ("plain TCP from a member's address", member1.as_str(), None),
        ("plain TCP from a stranger", STRANGER, None),
        ("a valid certificate of the CA for a host that is no member", STRANGER, Some("stranger")),
        ("member 1's certificate from another address", STRANGER, Some("m1")),
        ("the stranger's certificate from member 1's address", member1.as_str(), Some("stranger")),
    ];
    for (what, source, cert) in refusals {
        assert!(matches!(probe(&pki, &target, source, cert), Probe::Refused(_)), "{what} is refused");
    }
    // A stranger that keeps trying is logged once.
    assert!(matches!(probe(&pki, &target, STRANGER, Some("stranger")), Probe::Refused(_)));
    let log = ensemble.members[1].log();
    let stranger_lines =
        log.lines().filter(|l| l.contains("is the address of no member") && l.contains("CN=stranger")).count();
    assert_eq!(stranger_lines, 1, "one line for the stranger's two attempts:\n{log}");
    assert!(log.contains("does not name 127.0.0.2, server.1's host"), "the stranger at member 1's address:\n{log}");
}

/// The members the peer port admits follow reconfig: once server.3 is removed, its own certificate from its
/// own address is refused by the remaining members (it could otherwise still ask to be added back, or
/// forward writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_removed_by_reconfig_is_refused_from_then_on() {
    // `super:secret`, as reconfig.rs: ZooKeeper's reconfig is the super user's.
    let config = [
        ("reconfigEnabled", "true"),
        ("DigestAuthenticationProvider.superDigest", "super:lK75jTNcA+U9vtVEw5vB51mj/w4="),
    ];
    let pki = member_pki(3);
    let ensemble = tls_ensemble_with(&pki, 3, &config);
    let leader = ensemble.leader().expect("a leader");
    // Remove a follower, and probe a member that stays.
    let removed = ensemble.followers().expect("followers")[0];
    let stays = (0..3).find(|i| *i != removed && *i != leader).expect("the other follower");
    let removed_id = ensemble.members[removed].id;
    let target = peer_addr(&ensemble, ensemble.members[stays].id);
    let (source, cert) = (Ensemble::loopback_host(removed_id), format!("m{removed_id}"));
    assert_eq!(probe(&pki, &target, &source, Some(&cert)), Probe::Served, "a member before the reconfig");

    let admin = connect(&ensemble.members[leader].addr()).await;
    admin.auth("digest", b"super:secret").await.expect("super authenticates");
    let leaving = removed_id.to_string();
    let (joinings, leavings): ([&str; 0], [&str; 1]) = ([], [leaving.as_str()]);
    let update =
        zk::EnsembleUpdate::Incremental { joinings: joinings.iter().copied(), leavings: leavings.iter().copied() };
    admin.update_ensemble(update, None).await.expect("remove a follower");
    let stays_client = connect(&ensemble.members[stays].addr()).await;
    let deadline = std::time::Instant::now() + ENSEMBLE_WAIT;
    while probe(&pki, &target, &source, Some(&cert)) == Probe::Served {
        assert!(std::time::Instant::now() < deadline, "server.{removed_id} is still served after its removal");
        stays_client.sync("/").await.expect("sync");
    }
    let log = ensemble.members[stays].log();
    assert!(log.contains(&format!("{source} is the address of no member")), "{log}");
}
