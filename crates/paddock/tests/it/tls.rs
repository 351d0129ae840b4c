//! TLS on the client port (issue 12 point 2), with ZooKeeper's own keys and the stores ZooKeeper users hold:
//! kazoo with a JKS key store and `ssl.clientAuth=need`, a client certificate as an `x509` identity in an ACL
//! (the same script against Apache ZooKeeper 3.8 gives the same outcomes, so the identity reads as Java's
//! does), zkCli.sh over TLS with PKCS12 stores, the AdminServer over HTTPS, a PEM key store with `client.portUnification` (plain and TLS
//! clients on one port), certificates reloaded without a restart, client hostname verification that never
//! trusts a DNS name (CVE-2026-24281), and bad settings refused in one line that names no secret.
//!
//! Certificates are made by `openssl` and converted by `keytool`, as an operator makes them.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use paddock_testkit::{PaddockProcess, ZooKeeperProcess, free_port};
use zookeeper_client as zk;

const PASSWORD: &str = "store-secret-4711";

fn run(program: &str, args: &[&str], dir: &Path) {
    let out = Command::new(program).args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A test CA and certificates it signed, in a temporary directory, in every format the tests need.
pub(crate) struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let dir = tempfile::Builder::new().prefix("paddock-pki-").tempdir().expect("pki dir");
        let pki = Pki { dir };
        pki.openssl(
            &["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
                .iter()
                .chain(&["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Paddock Test CA"])
                .copied()
                .collect::<Vec<_>>(),
        );
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn openssl(&self, args: &[&str]) {
        run("openssl", args, self.dir.path());
    }

    fn keytool(&self, args: &[&str]) {
        run("keytool", args, self.dir.path());
    }

    /// `<name>.key` and `<name>.pem` (its chain: leaf then CA), signed by the CA, with `subject` and the
    /// subject alternative names `san` (e.g. `IP:127.0.0.1,DNS:localhost`).
    pub(crate) fn issue(&self, name: &str, subject: &str, san: &str) {
        let (key, csr, leaf) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.leaf.pem"));
        self.openssl(
            &["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
                .iter()
                .chain(&["-keyout", &key, "-out", &csr, "-subj", subject])
                .copied()
                .collect::<Vec<_>>(),
        );
        let ext = format!("{name}.ext");
        std::fs::write(
            self.path(&ext),
            format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"),
        )
        .expect("ext file");
        self.openssl(
            &["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]
                .iter()
                .chain(&["-out", &leaf, "-days", "2", "-extfile", &ext])
                .copied()
                .collect::<Vec<_>>(),
        );
        let chain = [std::fs::read(self.path(&leaf)).expect("leaf"), std::fs::read(self.path("ca.pem")).expect("ca")];
        std::fs::write(self.path(&format!("{name}.pem")), chain.concat()).expect("chain");
    }

    /// `<name>.p12` (key and chain) and `<name>.jks` (the same, converted by keytool).
    pub(crate) fn key_stores(&self, name: &str) {
        let pass = format!("pass:{PASSWORD}");
        let (p12, jks) = (format!("{name}.p12"), format!("{name}.jks"));
        self.openssl(
            &["pkcs12", "-export", "-in", &format!("{name}.pem"), "-inkey", &format!("{name}.key")]
                .iter()
                .chain(&["-out", &p12, "-passout", &pass, "-name", name])
                .copied()
                .collect::<Vec<_>>(),
        );
        self.keytool(
            &["-importkeystore", "-srckeystore", &p12, "-srcstoretype", "PKCS12", "-srcstorepass", PASSWORD]
                .iter()
                .chain(&["-destkeystore", &jks, "-deststoretype", "JKS", "-deststorepass", PASSWORD, "-noprompt"])
                .copied()
                .collect::<Vec<_>>(),
        );
    }

    /// `trust.jks` and `trust.p12`: the CA as a trusted certificate.
    pub(crate) fn trust_stores(&self) {
        for (file, kind) in [("trust.jks", "JKS"), ("trust.p12", "PKCS12")] {
            self.keytool(
                &["-importcert", "-alias", "ca", "-file", "ca.pem", "-keystore", file, "-storetype", kind]
                    .iter()
                    .chain(&["-storepass", PASSWORD, "-noprompt"])
                    .copied()
                    .collect::<Vec<_>>(),
            );
        }
    }
}

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/install-test-deps", python.display());
    python
}

/// What one kazoo TLS client did: connect with `cert` (or none), then `action`.
pub(crate) fn kazoo(pki: &Pki, hosts: &str, cert: Option<&str>, action: &str, dn: &str) -> serde_json::Value {
    let script = r#"
import json, sys
from kazoo.client import KazooClient
from kazoo.security import make_acl
hosts, ca, cert, action, dn = sys.argv[1:6]
tls = dict(use_ssl=True, verify_certs=True, ca=ca)
if cert != "-":
    tls.update(certfile=cert + ".pem", keyfile=cert + ".key")
zk = KazooClient(hosts=hosts, timeout=10, connection_retry=dict(max_tries=2, delay=0.2), **tls)
try:
    zk.start(timeout=8)
except Exception as e:
    print(json.dumps({"connected": False, "error": type(e).__name__}))
    sys.exit(0)
out = {"connected": True}
try:
    if action == "create":
        zk.create("/tls-acl", b"only-x509", acl=[make_acl("x509", dn, all=True)])
        out["ok"] = True
    else:
        data, _ = zk.get("/tls-acl")
        out.update(ok=True, data=data.decode())
except Exception as e:
    out.update(ok=False, error=type(e).__name__)
zk.stop()
print(json.dumps(out))
"#;
    let cert = cert.map_or_else(|| "-".to_string(), |c| pki.p(c));
    let out = Command::new(python())
        .args(["-c", script, hosts, &pki.p("ca.pem"), &cert, action, dn])
        .output()
        .expect("run kazoo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kazoo: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("kazoo printed no JSON ({e}): {stdout}"))
}

/// zoo.cfg lines for TLS on `port` with the given key store and the JKS trust store; `clientAuth` need.
pub(crate) fn tls_config(pki: &Pki, port: u16, key_store: &str) -> Vec<(String, String)> {
    [
        ("secureClientPort", port.to_string()),
        ("ssl.keyStore.location", pki.p(key_store)),
        ("ssl.keyStore.password", PASSWORD.to_string()),
        ("ssl.trustStore.location", pki.p("trust.jks")),
        ("ssl.trustStore.password", PASSWORD.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

pub(crate) fn borrowed(lines: &[(String, String)]) -> Vec<(&str, &str)> {
    lines.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The outcomes of the x509 ACL scenario against a server's TLS port.
fn x509_outcomes(pki: &Pki, hosts: &str) -> Vec<serde_json::Value> {
    // Java's X500Principal.getName(): the subject's RDNs, most specific first.
    let dn = "O=Paddock,CN=client";
    vec![
        kazoo(pki, hosts, None, "read", dn),
        kazoo(pki, hosts, Some("client"), "create", dn),
        kazoo(pki, hosts, Some("client"), "read", dn),
        kazoo(pki, hosts, Some("other"), "read", dn),
    ]
}

#[test]
fn kazoo_over_tls_with_jks_stores_and_an_x509_acl_behaves_as_on_zookeeper() {
    let pki = Pki::new();
    pki.issue("server", "/CN=localhost/O=Paddock", "IP:127.0.0.1,DNS:localhost");
    pki.issue("client", "/CN=client/O=Paddock", "IP:127.0.0.1");
    pki.issue("other", "/CN=other/O=Paddock", "IP:127.0.0.1");
    pki.key_stores("server");
    pki.trust_stores();

    let port = free_port();
    let config = tls_config(&pki, port, "server.jks");
    let paddock = PaddockProcess::start_with(&borrowed(&config)).expect("paddock starts with TLS");
    let ours = x509_outcomes(&pki, &format!("127.0.0.1:{port}"));

    let zk_port = free_port();
    let mut zk_config = tls_config(&pki, zk_port, "server.jks");
    zk_config.push(("serverCnxnFactory".into(), "org.apache.zookeeper.server.NettyServerCnxnFactory".into()));
    let zookeeper = ZooKeeperProcess::start_with(&borrowed(&zk_config)).expect("zookeeper starts with TLS");
    let theirs = x509_outcomes(&pki, &format!("127.0.0.1:{zk_port}"));

    assert_eq!(ours[0]["connected"], false, "clientAuth=need refuses a client without a certificate: {ours:?}");
    assert_eq!(ours[1]["ok"], true, "the client creates a node only its certificate may use: {ours:?}");
    assert_eq!(ours[2]["data"], "only-x509", "its x509 identity reads it: {ours:?}");
    assert_eq!(ours[3]["error"], "NoAuthError", "another certificate may not: {ours:?}");
    assert_eq!(ours, theirs, "the same outcomes as ZooKeeper 3.8:\n{}", zookeeper.log());
    assert!(!paddock.log().contains(PASSWORD), "no store password in the log");
}

#[test]
fn zkcli_runs_over_tls_with_pkcs12_stores() {
    let pki = Pki::new();
    pki.issue("server", "/CN=localhost", "IP:127.0.0.1,DNS:localhost");
    pki.issue("client", "/CN=zkcli", "IP:127.0.0.1");
    pki.key_stores("server");
    pki.key_stores("client");
    pki.trust_stores();
    let port = free_port();
    let mut config = tls_config(&pki, port, "server.p12");
    config.push(("ssl.trustStore.location".into(), pki.p("trust.p12")));
    let paddock = PaddockProcess::start_with(&borrowed(&config)).expect("paddock starts with TLS");

    let class_path = paddock_testkit::zkcli_class_path();
    let flags = [
        // Debian's zkCli.sh classpath lacks a jar its Netty client socket needs: the last -cp wins.
        "-cp",
        &class_path,
        "-Dzookeeper.client.secure=true",
        "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
        &format!("-Dzookeeper.ssl.keyStore.location={}", pki.p("client.p12")),
        &format!("-Dzookeeper.ssl.keyStore.password={PASSWORD}"),
        &format!("-Dzookeeper.ssl.trustStore.location={}", pki.p("trust.p12")),
        &format!("-Dzookeeper.ssl.trustStore.password={PASSWORD}"),
    ]
    .join(" ");
    let server = format!("127.0.0.1:{port}");
    let zkcli = |args: &[&str]| {
        let out = Command::new("/usr/share/zookeeper/bin/zkCli.sh")
            .args(["-server", &server])
            .args(args)
            .env("CLIENT_JVMFLAGS", &flags)
            .output()
            .expect("run zkCli.sh");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "zkCli {args:?}:\n{text}\nserver log:\n{}", paddock.log());
        text
    };
    let created = zkcli(&["create", "/over-tls", "secret-data"]);
    assert!(created.contains("Created /over-tls"), "{created}");
    let read = zkcli(&["get", "/over-tls"]);
    assert!(read.lines().any(|l| l.trim() == "secret-data"), "{read}");
}

/// The subject of the certificate a TLS server presents at `addr`.
fn presented_subject(pki: &Pki, addr: &str) -> String {
    let script = r#"
import socket, ssl, sys
host, port, ca, cert = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert + ".pem", cert + ".key")
with socket.create_connection((host, port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=host) as tls:
        print(dict(x[0] for x in tls.getpeercert()["subject"])["commonName"])
"#;
    let (host, port) = addr.split_once(':').expect("host:port");
    let out = Command::new(python())
        .args(["-c", script, host, port, &pki.p("ca.pem"), &pki.p("client")])
        .output()
        .expect("python");
    assert!(out.status.success(), "TLS probe: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pem_key_store_serves_plain_and_tls_on_one_port_and_is_reloaded_when_it_changes() {
    let pki = Pki::new();
    pki.issue("first", "/CN=first-cert", "IP:127.0.0.1");
    pki.issue("client", "/CN=client/O=Paddock", "IP:127.0.0.1");
    let key_store = pki.path("server.pem");
    let pem =
        |name: &str| [std::fs::read(pki.path(&format!("{name}.key"))), std::fs::read(pki.path(&format!("{name}.pem")))];
    std::fs::write(&key_store, pem("first").map(|b| b.expect("pem")).concat()).expect("key store");
    let server = PaddockProcess::start_with(&[
        ("client.portUnification", "true"),
        ("ssl.keyStore.location", &key_store.display().to_string()),
        ("ssl.trustStore.location", &pki.p("ca.pem")),
        ("paddock.ssl.reloadInterval", "200"),
    ])
    .expect("paddock starts");
    let addr = server.addr();

    // A plain client and a TLS client on the same port, seeing the same tree.
    let plain = zk::Client::connector().connect(&addr).await.expect("a plain client connects");
    plain
        .create("/tls-acl", b"shared", &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()))
        .await
        .expect("create");
    let tls_read = kazoo(&pki, &addr, Some("client"), "read", "");
    assert_eq!(tls_read["data"], "shared", "{tls_read}");
    assert_eq!(presented_subject(&pki, &addr), "first-cert");

    // A renewed certificate, written in place: new connections get it, without a restart.
    pki.issue("second", "/CN=second-cert", "IP:127.0.0.1");
    std::fs::write(&key_store, pem("second").map(|b| b.expect("pem")).concat()).expect("renewed key store");
    let deadline = Instant::now() + Duration::from_secs(20);
    while presented_subject(&pki, &addr) != "second-cert" {
        assert!(Instant::now() < deadline, "the renewed certificate was never served:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(server.log().contains("reloaded the TLS key and trust stores"), "{}", server.log());
    assert_eq!(plain.get_data("/tls-acl").await.expect("the plain session lives on").0, b"shared");
}

#[test]
fn client_hostname_verification_trusts_only_the_address_the_certificate_names() {
    let pki = Pki::new();
    pki.issue("server", "/CN=localhost", "IP:127.0.0.1");
    pki.issue("client", "/CN=client/O=Paddock", "IP:127.0.0.1");
    // Names 127.0.0.1 only as a DNS name: accepting it would need a reverse lookup (CVE-2026-24281).
    pki.issue("other", "/CN=other/O=Paddock", "DNS:localhost");
    pki.key_stores("server");
    pki.trust_stores();
    let port = free_port();
    let mut config = tls_config(&pki, port, "server.jks");
    config.push(("ssl.clientHostnameVerification".into(), "true".into()));
    let server = PaddockProcess::start_with(&borrowed(&config)).expect("paddock starts");
    let hosts = format!("127.0.0.1:{port}");
    assert_eq!(kazoo(&pki, &hosts, Some("client"), "create", "O=Paddock,CN=client")["ok"], true);
    let refused = kazoo(&pki, &hosts, Some("other"), "read", "");
    assert_eq!(refused["connected"], false, "a certificate naming only a DNS name is refused: {refused}");
    assert!(server.log().contains("does not name 127.0.0.1"), "{}", server.log());
}

#[test]
fn unusable_tls_settings_stop_the_start_in_one_line_naming_no_secret() {
    let pki = Pki::new();
    pki.issue("server", "/CN=localhost", "IP:127.0.0.1");
    pki.key_stores("server");
    pki.trust_stores();
    let port = free_port().to_string();
    let refused = |lines: &[(&str, &str)]| {
        let extra: Vec<String> = lines.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let stderr = crate::archive::refused_start(&extra.join("\n"));
        assert!(!stderr.contains(PASSWORD) && !stderr.contains("wrong-password"), "a secret in: {stderr}");
        stderr.lines().last().unwrap_or_default().to_string()
    };
    let (jks, trust) = (pki.p("server.jks"), pki.p("trust.jks"));
    let err = refused(&[
        ("secureClientPort", &port),
        ("ssl.keyStore.location", &jks),
        ("ssl.keyStore.password", "wrong-password"),
        ("ssl.trustStore.location", &trust),
        ("ssl.trustStore.password", PASSWORD),
    ]);
    assert!(err.contains("server.jks"), "names the store: {err}");
    let err =
        refused(&[("secureClientPort", &port), ("ssl.keyStore.location", &jks), ("ssl.keyStore.password", PASSWORD)]);
    assert!(err.contains("ssl.trustStore.location"), "clientAuth=need without a trust store: {err}");
    let err = refused(&[("secureClientPort", &port), ("ssl.keyStore.location", "/nonexistent/k.jks")]);
    assert!(err.contains("/nonexistent/k.jks"), "{err}");
    let err = refused(&[("secureClientPort", &port), ("ssl.keyStore.location", &jks), ("ssl.clientAuth", "maybe")]);
    assert!(err.contains("ssl.clientAuth"), "{err}");
}

/// The status of `GET /commands/ruok` on the admin port over HTTPS (`https`) or plain HTTP, or the name of
/// the error that stopped the request.
fn admin_get(pki: &Pki, port: u16, https: bool) -> String {
    let script = r#"
import ssl, sys, urllib.request
url, ca = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
try:
    with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
        print(r.status)
except Exception as e:
    print(type(e).__name__)
"#;
    let scheme = if https { "https" } else { "http" };
    let url = format!("{scheme}://127.0.0.1:{port}/commands/ruok");
    let out = Command::new(python()).args(["-c", script, &url, &pki.p("ca.pem")]).output().expect("python");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_admin_server_serves_https_with_the_quorum_key_store() {
    let pki = Pki::new();
    pki.issue("server", "/CN=localhost", "IP:127.0.0.1");
    pki.key_stores("server");
    let jks = pki.p("server.jks");
    for (mode, plain_too) in [("admin.forceHttps", false), ("admin.portUnification", true)] {
        let port = free_port();
        let port_text = port.to_string();
        let server = PaddockProcess::start_with(&[
            ("admin.enableServer", "true"),
            ("admin.serverAddress", "127.0.0.1"),
            ("admin.serverPort", &port_text),
            (mode, "true"),
            ("ssl.quorum.keyStore.location", &jks),
            ("ssl.quorum.keyStore.password", PASSWORD),
        ])
        .expect("paddock starts");
        // Clients stalled in their handshakes (a TLS record header and nothing more) hold no one up: a
        // serial accept loop would make the next client wait 5 s for each, past its 10 s timeout.
        let stalled: Vec<TcpStream> = (0..4)
            .map(|_| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the admin port");
                s.write_all(&[0x16]).expect("send a byte");
                s
            })
            .collect();
        assert_eq!(admin_get(&pki, port, true), "200", "{mode}: HTTPS beside stalled handshakes:\n{}", server.log());
        drop(stalled);
        let plain = admin_get(&pki, port, false);
        assert_eq!(plain == "200", plain_too, "{mode}: plain HTTP answered {plain}");
    }
}

/// The issue asks for the C client `cli_mt` over TLS "where the Debian build supports it": Debian's
/// libzookeeper-mt is built without OpenSSL, so it cannot. This pins that fact (the library exports
/// `zookeeper_init` but not `zookeeper_init_ssl`), so a Debian build that gains TLS fails here and gets its test.
#[test]
fn debian_c_client_has_no_tls_so_cli_mt_is_not_run_over_tls() {
    let dirs =
        ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"];
    let library = dirs
        .iter()
        .map(|dir| Path::new(dir).join("libzookeeper_mt.so.2"))
        .find(|path| path.exists())
        .expect("libzookeeper_mt.so.2 (Debian zookeeper-bin): run scripts/install-test-deps");
    let bytes = std::fs::read(&library).expect("read the C client library");
    let exports = |symbol: &str| {
        bytes.windows(symbol.len() + 1).any(|w| w[..symbol.len()] == *symbol.as_bytes() && w[symbol.len()] == 0)
    };
    assert!(exports("zookeeper_init"), "{} is the C client library", library.display());
    assert!(!exports("zookeeper_init_ssl"), "{} now has TLS: run cli_mt over TLS in this suite", library.display());
}

/// `paddock bench` measures a secureClientPort (scripts/bench-security's TLS figures come from it): with the
/// CA and a client certificate it runs against `ssl.clientAuth=need`; a missing file is named in one line.
#[test]
fn paddock_bench_runs_over_tls_with_a_client_certificate() {
    let pki = Pki::new();
    pki.issue("server", "/CN=localhost/O=Paddock", "IP:127.0.0.1,DNS:localhost");
    pki.issue("client", "/CN=client/O=Paddock", "IP:127.0.0.1");
    pki.key_stores("server");
    pki.trust_stores();
    let port = free_port();
    let _paddock = PaddockProcess::start_with(&borrowed(&tls_config(&pki, port, "server.jks"))).expect("starts");
    let bench = |tls: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_paddock"))
            .args(["bench", "--server", &format!("127.0.0.1:{port}"), "--workload", "get", "--clients", "4"])
            .args(["--ops", "200", "--json"])
            .args(tls)
            .output()
            .expect("run paddock bench")
    };
    let (ca, cert, key) = (pki.p("ca.pem"), pki.p("client.pem"), pki.p("client.key"));
    let out = bench(&["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bench over TLS: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!((report["ops"].as_u64(), report["errors"].as_u64()), (Some(200), Some(0)), "{report}");

    let missing = pki.p("absent.pem");
    let out = bench(&["--tls-ca", &missing]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains(&missing), "a missing CA file is named: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}
