//! The ACL truth table, differential against Apache ZooKeeper 3.8: every operation a client can send, on a
//! node whose ACL grants exactly one permission (READ, WRITE, CREATE, DELETE, ADMIN, or nothing) to the
//! caller's identity under each scheme (world, auth, digest, ip, sasl, x509, and the super user), run
//! against both servers; every outcome — the error code, or what was returned: data, children, counts and
//! the ACL, with digest ids masked for a caller without ADMIN (CVE-2019-0201) — must be the same.
//!
//! A scheme is one line of [`SCHEMES`]: its ACL entry, the `addauth` its caller sends and how its caller
//! connects: plain, with SASL DIGEST-MD5 (users from a JAAS file both servers read), or over TLS with a
//! client certificate on the secure port (its subject is the caller's `x509` id).

use std::collections::BTreeMap;

use paddock_testkit::{PaddockProcess, ZooKeeperProcess, free_port};
use zookeeper_client as zk;

use crate::kill_loop::connect_retrying;
use crate::tls::{Pki, borrowed, tls_config};

/// ZooKeeper's `superDigest` for `super:secret` (base64 of the SHA-1 of `super:secret`).
const SUPER_DIGEST: &str = "super:lK75jTNcA+U9vtVEw5vB51mj/w4=";
/// `digest` ids: the user and the base64 SHA-1 of `user:password`.
const ALICE: &[u8] = b"alice:alice-secret";
const BOB: &[u8] = b"bob:bob-secret";
const BOB_ID: &str = "bob:j7ZGIvWbIQ1LANfL4BJ8Ibdfqsk=";
/// Someone no caller is: the "none" rows grant everything to them and nothing to the caller.
const NOBODY_ID: &str = "nobody:NErki0kllzHpcgpbJgBc09WX7ns=";
/// The SASL caller's user and password, from the JAAS `Server` section both servers read.
const SASL_USER: (&str, &str) = ("carol", "car0l-sasl-pw");
/// The x509 caller's certificate subject (`/CN=client/O=Paddock`) as Java's `X500Principal.getName()`
/// writes it: the most specific RDN first.
const X509_ID: &str = "O=Paddock,CN=client";

/// One way of being a caller.
struct Scheme {
    name: &'static str,
    /// The ACL entry (scheme, id) that names the caller; `auth` is expanded by the server to the ids of the
    /// client that sets it (alice, who sets up every node).
    acl: (&'static str, &'static str),
    /// What the caller sends with `addauth` once connected.
    auth: Option<(&'static str, &'static [u8])>,
    /// How the caller connects.
    via: Via,
}

/// How a caller connects and proves who it is beyond `addauth`.
#[derive(Clone, Copy)]
enum Via {
    Plain,
    /// SASL DIGEST-MD5 as [`SASL_USER`], on the plain port.
    Sasl,
    /// TLS with the `client` certificate, on the secure port.
    X509,
}

const SCHEMES: &[Scheme] = &[
    Scheme { name: "world", acl: ("world", "anyone"), auth: None, via: Via::Plain },
    Scheme { name: "auth", acl: ("auth", ""), auth: Some(("digest", ALICE)), via: Via::Plain },
    Scheme { name: "digest", acl: ("digest", BOB_ID), auth: Some(("digest", BOB)), via: Via::Plain },
    Scheme { name: "ip", acl: ("ip", "127.0.0.1"), auth: None, via: Via::Plain },
    // The super user passes every check whatever the ACL names (here bob).
    Scheme { name: "super", acl: ("digest", BOB_ID), auth: Some(("digest", b"super:secret")), via: Via::Plain },
    Scheme { name: "sasl", acl: ("sasl", SASL_USER.0), auth: None, via: Via::Sasl },
    Scheme { name: "x509", acl: ("x509", X509_ID), auth: None, via: Via::X509 },
];

/// The permission under test, or none at all.
const PERMISSIONS: &[(&str, Option<zk::Permission>)] = &[
    ("READ", Some(zk::Permission::READ)),
    ("WRITE", Some(zk::Permission::WRITE)),
    ("CREATE", Some(zk::Permission::CREATE)),
    ("DELETE", Some(zk::Permission::DELETE)),
    ("ADMIN", Some(zk::Permission::ADMIN)),
    ("none", None),
];

/// Every operation, on a node `n` (data `d`) with one child `n/child`, both with the ACL under test.
#[derive(Clone, Copy, Debug)]
enum Op {
    Create,
    CreateEphemeral,
    Delete,
    Exists,
    ExistsWatch,
    GetData,
    GetDataWatch,
    SetData,
    GetAcl,
    SetAcl,
    GetChildren,
    GetChildrenWatch,
    GetChildren2,
    GetAllChildrenNumber,
    GetEphemerals,
    AddWatchPersistent,
    AddWatchRecursive,
    Sync,
    MultiCreate,
    MultiDelete,
    MultiSetData,
    MultiCheck,
    MultiReadData,
    MultiReadChildren,
}

const OPS: &[Op] = &[
    Op::Create,
    Op::CreateEphemeral,
    Op::Delete,
    Op::Exists,
    Op::ExistsWatch,
    Op::GetData,
    Op::GetDataWatch,
    Op::SetData,
    Op::GetAcl,
    Op::SetAcl,
    Op::GetChildren,
    Op::GetChildrenWatch,
    Op::GetChildren2,
    Op::GetAllChildrenNumber,
    Op::GetEphemerals,
    Op::AddWatchPersistent,
    Op::AddWatchRecursive,
    Op::Sync,
    Op::MultiCreate,
    Op::MultiDelete,
    Op::MultiSetData,
    Op::MultiCheck,
    Op::MultiReadData,
    Op::MultiReadChildren,
];

/// What both servers are given: the super user, the SASL provider (ZooKeeper loads it only when named)
/// with its JAAS file, TLS on a secure port with `clientAuth=need`, and the keys and certificates for it.
struct Setup {
    pki: Pki,
    jaas_flag: String,
}

impl Setup {
    fn new() -> Setup {
        let pki = Pki::new();
        pki.issue("server", "/CN=localhost/O=Paddock", "IP:127.0.0.1,DNS:localhost");
        pki.issue("client", "/CN=client/O=Paddock", "IP:127.0.0.1");
        pki.key_stores("server");
        pki.trust_stores();
        let jaas = pki.p("jaas.conf");
        let section = format!(
            "Server {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_{}=\"{}\";\n}};\n",
            SASL_USER.0, SASL_USER.1
        );
        std::fs::write(&jaas, section).expect("JAAS file written");
        Setup { pki, jaas_flag: format!("-Djava.security.auth.login.config={jaas}") }
    }

    /// zoo.cfg lines, with TLS on `secure_port`.
    fn config(&self, secure_port: u16) -> Vec<(String, String)> {
        let mut lines = tls_config(&self.pki, secure_port, "server.jks");
        lines.push(("DigestAuthenticationProvider.superDigest".into(), SUPER_DIGEST.into()));
        lines.push(("authProvider.1".into(), "org.apache.zookeeper.server.auth.SASLAuthenticationProvider".into()));
        lines
    }
}

/// Where a server listens: plain and TLS.
struct Ports<'a> {
    plain: String,
    secure: String,
    setup: &'a Setup,
}

fn acl_under_test(scheme: &Scheme, permission: Option<zk::Permission>) -> Vec<zk::Acl> {
    match permission {
        Some(p) => vec![zk::Acl::new(p, zk::AuthId::new(scheme.acl.0, scheme.acl.1))],
        None => vec![zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("digest", NOBODY_ID))],
    }
}

fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn shown<T>(result: Result<T, impl std::fmt::Debug>, ok: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(value) => ok(value),
        Err(e) => format!("{e:?}"),
    }
}

fn ok<T>(_: T) -> String {
    "ok".to_string()
}

fn acl_text(acl: &[zk::Acl]) -> String {
    let entries: Vec<String> = acl.iter().map(|a| format!("{}:{}={:?}", a.scheme(), a.id(), a.permission())).collect();
    entries.join(" ")
}

/// Runs `op` as `c` on node `n` and says what happened.
async fn run(op: Op, c: &zk::Client, n: &str) -> String {
    let child = format!("{n}/child");
    let new = format!("{n}/new");
    match op {
        Op::Create => shown(c.create(&new, b"x", &open()).await, |(_, _)| "created".into()),
        Op::CreateEphemeral => {
            let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
            shown(c.create(&new, b"x", &ephemeral).await, |(_, _)| "created".into())
        }
        Op::Delete => shown(c.delete(&child, None).await, ok),
        Op::Exists => shown(c.check_stat(n).await, |s| format!("exists {}", s.is_some())),
        Op::ExistsWatch => shown(c.check_and_watch_stat(n).await, |(s, _)| format!("exists {}", s.is_some())),
        Op::GetData => shown(c.get_data(n).await, |(d, _)| format!("data {}", String::from_utf8_lossy(&d))),
        Op::GetDataWatch => {
            shown(c.get_and_watch_data(n).await, |(d, _, _)| format!("data {}", String::from_utf8_lossy(&d)))
        }
        Op::SetData => shown(c.set_data(n, b"y", None).await, ok),
        Op::GetAcl => shown(c.get_acl(n).await, |(acl, _)| acl_text(&acl)),
        Op::SetAcl => shown(c.set_acl(n, &zk::Acls::anyone_all(), None).await, ok),
        Op::GetChildren => shown(c.list_children(n).await, |children| format!("{children:?}")),
        Op::GetChildrenWatch => shown(c.list_and_watch_children(n).await, |(children, _)| format!("{children:?}")),
        Op::GetChildren2 => shown(c.get_children(n).await, |(children, _)| format!("{children:?}")),
        Op::GetAllChildrenNumber => shown(c.count_descendants_number(n).await, |count| count.to_string()),
        Op::GetEphemerals => shown(c.list_ephemerals(n).await, |paths| format!("{paths:?}")),
        Op::AddWatchPersistent => shown(c.watch(n, zk::AddWatchMode::Persistent).await, ok),
        Op::AddWatchRecursive => shown(c.watch(n, zk::AddWatchMode::PersistentRecursive).await, ok),
        Op::Sync => shown(c.sync(n).await, ok),
        Op::MultiCreate | Op::MultiDelete | Op::MultiSetData | Op::MultiCheck => {
            let mut multi = c.new_multi_writer();
            let added = match op {
                Op::MultiCreate => multi.add_create(&new, b"x", &open()),
                Op::MultiDelete => multi.add_delete(&child, None),
                Op::MultiSetData => multi.add_set_data(n, b"y", None),
                _ => multi.add_check_version(n, 0),
            };
            added.expect("a valid multi op");
            shown(multi.commit().await, |results| format!("{} results", results.len()))
        }
        Op::MultiReadData | Op::MultiReadChildren => {
            let mut multi = c.new_multi_reader();
            let added = if matches!(op, Op::MultiReadData) { multi.add_get_data(n) } else { multi.add_get_children(n) };
            added.expect("a valid multi read");
            shown(multi.commit().await, |results| {
                let shown: Vec<String> = results
                    .into_iter()
                    .map(|r| match r {
                        zk::MultiReadResult::Data { data, .. } => format!("data {}", String::from_utf8_lossy(&data)),
                        zk::MultiReadResult::Children { children } => format!("{children:?}"),
                        zk::MultiReadResult::Error { err } => format!("{err:?}"),
                        other => format!("{other:?}"),
                    })
                    .collect();
                shown.join(", ")
            })
        }
    }
}

/// A node for one case: `n` with data `d` and a child, both with the ACL under test. Set up by alice, who
/// creates `n` open, its child with the ACL, then gives `n` the ACL (so `auth` means alice in both).
async fn set_up(alice: &zk::Client, n: &str, acl: &[zk::Acl]) {
    alice.create(n, b"d", &open()).await.expect("create the node");
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::new(acl));
    alice.create(&format!("{n}/child"), b"c", &options).await.expect("create the child");
    alice.set_acl(n, &zk::Acls::new(acl), None).await.expect("set the node's ACL");
}

async fn caller(ports: &Ports<'_>, scheme: &Scheme) -> zk::Client {
    let connected = match scheme.via {
        Via::Plain => zk::Client::connector().connect(&ports.plain).await,
        Via::Sasl => {
            let sasl = zk::SaslOptions::digest_md5(SASL_USER.0, SASL_USER.1);
            zk::Client::connector().with_sasl(sasl).connect(&ports.plain).await
        }
        Via::X509 => {
            let pem = |name: &str| std::fs::read_to_string(ports.setup.pki.p(name)).expect("a PEM file");
            let tls = zk::TlsOptions::new()
                .with_pem_ca(&pem("ca.pem"))
                .and_then(|tls| tls.with_pem_identity(&pem("client.pem"), &pem("client.key")))
                .expect("TLS options from the test PKI");
            zk::Client::connector().with_tls(tls).secure_connect(&ports.secure).await
        }
    };
    let client = connected.unwrap_or_else(|e| panic!("the {} caller connects: {e}", scheme.name));
    if let Some((auth_scheme, auth)) = scheme.auth {
        client.auth(auth_scheme, auth).await.expect("the caller authenticates");
    }
    client
}

/// Every case's outcome on the server at `ports`, by "scheme permission op".
async fn table(ports: &Ports<'_>) -> BTreeMap<String, String> {
    let alice = connect_retrying(&ports.plain).await;
    alice.auth("digest", ALICE).await.expect("alice authenticates");
    alice.create("/acl", b"", &open()).await.expect("/acl");
    let mut cases = Vec::new();
    for scheme in SCHEMES {
        let base = format!("/acl/{}", scheme.name);
        alice.create(&base, b"", &open()).await.expect("scheme node");
        for (perm_name, permission) in PERMISSIONS {
            alice.create(&format!("{base}/{perm_name}"), b"", &open()).await.expect("permission node");
            let acl = acl_under_test(scheme, *permission);
            let mut setups = tokio::task::JoinSet::new();
            for op in OPS {
                let (alice, acl, n) = (alice.clone(), acl.clone(), format!("{base}/{perm_name}/{op:?}"));
                setups.spawn(async move { set_up(&alice, &n, &acl).await });
                cases.push((scheme, *perm_name, *op));
            }
            setups.join_all().await;
        }
    }
    let mut callers = BTreeMap::new();
    for scheme in SCHEMES {
        callers.insert(scheme.name, caller(ports, scheme).await);
    }
    let mut runs = tokio::task::JoinSet::new();
    for (scheme, perm_name, op) in cases {
        let c = callers[scheme.name].clone();
        let key = format!("{} {perm_name} {op:?}", scheme.name);
        let n = format!("/acl/{}/{perm_name}/{op:?}", scheme.name);
        runs.spawn(async move { (key, run(op, &c, &n).await) });
    }
    runs.join_all().await.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_permission_and_scheme_answers_as_zookeeper() {
    let setup = Setup::new();
    let (zk_secure, our_secure) = (free_port(), free_port());
    let mut zk_config = setup.config(zk_secure);
    // ZooKeeper serves TLS only through its Netty transport.
    zk_config.push(("serverCnxnFactory".into(), "org.apache.zookeeper.server.NettyServerCnxnFactory".into()));
    let zookeeper =
        ZooKeeperProcess::start_with_jvm_flags(&borrowed(&zk_config), &[&setup.jaas_flag]).expect("ZooKeeper starts");
    let env = [("SERVER_JVMFLAGS", setup.jaas_flag.as_str())];
    let paddock = PaddockProcess::start_with_env(&borrowed(&setup.config(our_secure)), &env).expect("Paddock starts");
    let secure = |port: u16| format!("127.0.0.1:{port}");
    let expected = table(&Ports { plain: zookeeper.addr(), secure: secure(zk_secure), setup: &setup }).await;
    let got = table(&Ports { plain: paddock.addr(), secure: secure(our_secure), setup: &setup }).await;
    assert_eq!(expected.len(), SCHEMES.len() * PERMISSIONS.len() * OPS.len());
    let differences: Vec<String> = expected
        .iter()
        .filter(|(case, want)| got.get(*case) != Some(want))
        .map(|(case, want)| format!("{case}: ZooKeeper {want}, Paddock {}", got.get(case).map_or("-", String::as_str)))
        .collect();
    assert!(
        differences.is_empty(),
        "{} of {} cases differ:\n{}",
        differences.len(),
        expected.len(),
        differences.join("\n")
    );
    // The table is not vacuous: permissions decide, and getACL masks digests for a reader without ADMIN.
    assert_eq!(expected["digest READ GetData"], "data d");
    assert_eq!(expected["digest WRITE GetData"], "NoAuth");
    assert_eq!(expected["super none SetData"], "ok");
    assert!(expected["digest READ GetAcl"].starts_with("digest:bob:x="), "{}", expected["digest READ GetAcl"]);
    assert_eq!((expected["sasl READ GetData"].as_str(), expected["sasl WRITE GetData"].as_str()), ("data d", "NoAuth"));
    assert_eq!((expected["x509 READ GetData"].as_str(), expected["x509 none GetData"].as_str()), ("data d", "NoAuth"));
}
