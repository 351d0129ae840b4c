//! The CVE regression suite (issue 12): for each ZooKeeper CVE that applies, the attack, run against the
//! real build (refused) and against a deliberately vulnerable variant of it (succeeds). The variants are
//! test-only failpoints (`cve::<number>`, compiled in only with the `failpoints` feature the test suite
//! builds with) that undo exactly the fix, so each test proves that it would catch the regression.
//!
//! The two quorum CVEs run against an ensemble with `sslQuorum` (Paddock has no quorum SASL: peers prove
//! who they are with their certificates, docs/security.md "Peer (quorum) TLS"); the vulnerable variant is
//! one member restarted with the failpoint.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use paddock_testkit::{PaddockProcess, free_port};
use zookeeper_client as zk;

use crate::quorum_tls::{Probe, STRANGER, member_pki, peer_addr, probe, tls_ensemble};
use crate::tls::{Pki, borrowed, kazoo, tls_config};

/// Starts the real build, or the variant with failpoint `cve` switched on.
fn server(config: &[(&str, &str)], vulnerable: Option<&str>) -> PaddockProcess {
    let failpoints = vulnerable.map(|cve| format!("{cve}=return"));
    let env: Vec<(&str, &str)> = failpoints.iter().map(|f| ("FAILPOINTS", f.as_str())).collect();
    PaddockProcess::start_with_env(config, &env).expect("paddock starts")
}

async fn connect(addr: &str) -> zk::Client {
    zk::Client::connector().with_session_timeout(Duration::from_secs(20)).connect(addr).await.expect("connects")
}

fn digest(user_password: &str) -> zk::Acl {
    let id = paddock_tree::acl::digest_id(user_password);
    zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("digest", &id))
}

/// CVE-2019-0201: whether a stranger reads alice's password hash through getACL (on a node it may not
/// read at all, or on one it may only read).
async fn acl_hash_exposed(addr: &str) -> bool {
    let alice = connect(addr).await;
    alice.auth("digest", b"alice:pw").await.expect("alice authenticates");
    let hash = paddock_tree::acl::digest_id("alice:pw");
    alice
        .create("/secret", b"", &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&[digest("alice:pw")])))
        .await
        .expect("create");
    let readable = [digest("alice:pw"), zk::Acl::new(zk::Permission::READ, zk::AuthId::new("world", "anyone"))];
    alice
        .create("/readable", b"", &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&readable)))
        .await
        .expect("create");
    let stranger = connect(addr).await;
    let mut exposed = false;
    for path in ["/secret", "/readable"] {
        if let Ok((acl, _)) = stranger.get_acl(path).await {
            exposed |= acl.iter().any(|a| a.auth_id().id() == hash);
        }
    }
    exposed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cve_2019_0201_get_acl_reveals_no_password_hash() {
    let real = server(&[], None);
    assert!(!acl_hash_exposed(&real.addr()).await, "the real build hides digest hashes from strangers");
    let vulnerable = server(&[], Some("cve::2019_0201"));
    assert!(
        acl_hash_exposed(&vulnerable.addr()).await,
        "the test catches the vulnerable variant (built with --features paddock/failpoints)"
    );
}

/// CVE-2024-23944: whether a recursive watcher on a readable parent learns the path of a change to a
/// child it may not read. A change to a readable child afterwards proves the watch works.
async fn private_child_path_leaked(addr: &str) -> bool {
    let owner = connect(addr).await;
    owner.auth("digest", b"owner:pw").await.expect("authenticates");
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    owner.create("/pub", b"", &open).await.expect("create");
    let private = [digest("owner:pw")];
    owner
        .create("/pub/private", b"", &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&private)))
        .await
        .expect("create");
    owner.create("/pub/open", b"", &open).await.expect("create");
    let stranger = connect(addr).await;
    let mut watcher = stranger.watch("/pub", zk::AddWatchMode::PersistentRecursive).await.expect("addWatch");
    owner.set_data("/pub/private", b"changed", None).await.expect("set private");
    owner.set_data("/pub/open", b"changed", None).await.expect("set open");
    let first = tokio::time::timeout(Duration::from_secs(10), watcher.changed()).await.expect("an event arrives");
    first.path == "/pub/private"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cve_2024_23944_recursive_watches_reveal_no_unreadable_path() {
    let real = server(&[], None);
    assert!(!private_child_path_leaked(&real.addr()).await, "the real build delivers only readable paths");
    let vulnerable = server(&[], Some("cve::2024_23944"));
    assert!(
        private_child_path_leaked(&vulnerable.addr()).await,
        "the test catches the vulnerable variant (built with --features paddock/failpoints)"
    );
}

/// An admin server on a free port of 127.0.0.1 with the snapshot command on.
fn admin_config(port: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("admin.enableServer", "true"),
        ("admin.serverAddress", "127.0.0.1"),
        ("admin.serverPort", port),
        ("admin.rateLimiterIntervalInMS", "0"),
    ]
}

/// The status code of `GET path` on the admin port with `headers`.
fn admin_status(port: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    let mut stream = TcpStream::connect(format!("127.0.0.1:{port}")).expect("admin port");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n").expect("request");
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).expect("status line");
    let status = String::from_utf8_lossy(&head[9..12]).to_string();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    status.parse().unwrap_or_else(|_| panic!("no status in {:?}", String::from_utf8_lossy(&head)))
}

/// CVE-2024-51504: whether a caller on 127.0.0.1 passes `ip` authentication as the only address `/`
/// admits by claiming it in `X-Forwarded-For`.
async fn forwarded_address_trusted(vulnerable: Option<&str>) -> bool {
    let port = free_port().to_string();
    let server = server(&admin_config(&port), vulnerable);
    let admin = connect(&server.addr()).await;
    let only = zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("ip", "10.9.8.7"));
    admin.set_acl("/", &[only], None).await.expect("setACL on /");
    let headers = [("Authorization", "ip"), ("X-Forwarded-For", "10.9.8.7")];
    admin_status(&port, "/commands/snapshot", &headers) == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cve_2024_51504_admin_ip_auth_ignores_x_forwarded_for() {
    assert!(!forwarded_address_trusted(None).await, "the real build takes the socket's address");
    assert!(
        forwarded_address_trusted(Some("cve::2024_51504")).await,
        "the test catches the vulnerable variant (built with --features paddock/failpoints)"
    );
}

/// CVE-2025-58457: whether an authenticated caller with READ only on `/` may run `snapshot`.
async fn reader_takes_snapshot(vulnerable: Option<&str>) -> bool {
    let port = free_port().to_string();
    let server = server(&admin_config(&port), vulnerable);
    let admin = connect(&server.addr()).await;
    admin.auth("digest", b"admin:pw").await.expect("authenticates");
    let reader = zk::Acl::new(zk::Permission::READ, zk::AuthId::new("digest", &paddock_tree::acl::digest_id("bob:pw")));
    admin.set_acl("/", &[digest("admin:pw"), reader], None).await.expect("setACL on /");
    admin_status(&port, "/commands/snapshot", &[("Authorization", "digest bob:pw")]) == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cve_2025_58457_admin_snapshot_needs_all_on_root() {
    assert!(!reader_takes_snapshot(None).await, "the real build answers 403");
    assert!(
        reader_takes_snapshot(Some("cve::2025_58457")).await,
        "the test catches the vulnerable variant (built with --features paddock/failpoints)"
    );
}

/// CVE-2026-24281: whether a client certificate that names 127.0.0.1 only as a DNS name passes client
/// hostname verification (a reverse lookup would be needed to accept it).
fn dns_name_trusted(pki: &Pki, vulnerable: Option<&str>) -> bool {
    let port = free_port();
    let mut config = tls_config(pki, port, "server.jks");
    config.push(("ssl.clientHostnameVerification".into(), "true".into()));
    let _server = server(&borrowed(&config), vulnerable);
    kazoo(pki, &format!("127.0.0.1:{port}"), Some("dns-only"), "read", "")["connected"] == true
}

#[test]
fn cve_2026_24281_hostname_verification_never_trusts_a_dns_name() {
    let pki = Pki::new();
    pki.issue("server", "/CN=localhost", "IP:127.0.0.1");
    pki.issue("dns-only", "/CN=dns-only", "DNS:localhost");
    pki.key_stores("server");
    pki.trust_stores();
    assert!(!dns_name_trusted(&pki, None), "the real build refuses the certificate");
    assert!(
        dns_name_trusted(&pki, Some("cve::2026_24281")),
        "the test catches the vulnerable variant (built with --features paddock/failpoints)"
    );
}

/// CVE-2026-24308: whether a secret from zoo.cfg reaches the server's log, at any level.
fn secret_logged(vulnerable: Option<&str>) -> bool {
    let secret = "quorum-store-secret-0815";
    let config = [("ssl.quorum.keyStore.password", secret), ("ssl.quorum.trustStore.password", secret)];
    let mut env = vec![("PADDOCK_LOG", "trace".to_string())];
    env.extend(vulnerable.map(|cve| ("FAILPOINTS", format!("{cve}=return"))));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = PaddockProcess::start_with_env(&config, &env).expect("paddock starts");
    let _ = paddock_testkit::four_letter_word(&server.addr(), "conf");
    server.log().contains(secret)
}

#[test]
fn cve_2026_24308_no_secret_reaches_the_log() {
    assert!(!secret_logged(None), "the real build logs no secret");
    assert!(
        secret_logged(Some("cve::2026_24308")),
        "the test catches the vulnerable variant (built with --features paddock/failpoints)"
    );
}

/// Which of `probes` (source address, certificate) server.2 of a 2-member sslQuorum ensemble serves, on the
/// real build and then restarted with failpoint `cve` on.
fn quorum_probes(probes: &[(&str, &str)], cve: &str) -> (Vec<bool>, Vec<bool>) {
    let pki = member_pki(2);
    let mut ensemble = tls_ensemble(&pki, 2);
    ensemble.leader().expect("a leader");
    let target = peer_addr(&ensemble, 2);
    let served = |pki: &Pki| -> Vec<bool> {
        probes.iter().map(|(source, cert)| probe(pki, &target, source, Some(cert)) == Probe::Served).collect()
    };
    let real = served(&pki);
    ensemble.members[1].set_env("FAILPOINTS", Some(&format!("{cve}=return")));
    ensemble.restart(1).expect("server.2 restarts with the failpoint");
    ensemble.leader().expect("a leader again");
    (real, served(&pki))
}

/// CVE-2023-44981: a peer whose certificate (of the trusted CA) names no member, or names a member other
/// than the address it comes from, is refused at the handshake; the vulnerable variant trusts any
/// certificate of the CA, as ZooKeeper's quorum SASL trusted a principal without the member part.
#[test]
fn cve_2023_44981_a_peer_must_prove_it_is_the_member_it_connects_from() {
    let probes = [(STRANGER, "stranger"), (STRANGER, "m1"), ("127.0.0.2", "stranger")];
    let (real, vulnerable) = quorum_probes(&probes, "cve::2023_44981");
    assert_eq!(real, [false, false, false], "the real build refuses every one of {probes:?}");
    assert_eq!(
        vulnerable,
        [true, true, true],
        "the test catches the vulnerable variant (built with --features paddock/failpoints)"
    );
}

/// CVE-2018-8012: a host with a valid certificate for its own address (what ZooKeeper's quorum TLS checks:
/// the chain and the host name) that is not in the membership can neither vote, propose nor receive data:
/// its connection is refused before any call. The vulnerable variant admits it, membership unasked.
#[test]
fn cve_2018_8012_a_non_member_with_a_valid_certificate_cannot_join() {
    let probes = [(STRANGER, "stranger")];
    let (real, vulnerable) = quorum_probes(&probes, "cve::2018_8012");
    assert_eq!(real, [false], "the real build refuses the non-member");
    assert_eq!(
        vulnerable,
        [true],
        "the test catches the vulnerable variant (built with --features paddock/failpoints)"
    );
}
