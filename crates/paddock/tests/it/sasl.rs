//! SASL DIGEST-MD5 with kazoo, differential against Apache ZooKeeper 3.8: both servers read the same JAAS
//! file through `-Djava.security.auth.login.config` (Paddock from `SERVER_JVMFLAGS`, as zkServer.sh users
//! set it), and kazoo must see the same outcomes on both: right passwords authenticate and `whoAmI` names
//! the `sasl` id, a `sasl` ACL admits its user and refuses another, a wrong password is AuthFailed. Also:
//! no password reaches Paddock's log at any level, and `sessionRequireClientSASLAuth` (or `enforce.auth.*`)
//! refuses a client that does not authenticate; zkCli.sh with a JAAS `Client` section.

use std::path::{Path, PathBuf};
use std::process::Command;

use paddock_testkit::{PaddockProcess, ZooKeeperProcess};
use zookeeper_client as zk;

const PASSWORDS: [&str; 2] = ["b0b-s3cret-pw", "al1ce-s3cret-pw"];
const SASL_PROVIDER: (&str, &str) = ("authProvider.1", "org.apache.zookeeper.server.auth.SASLAuthenticationProvider");

fn jaas_file(dir: &Path) -> PathBuf {
    let path = dir.join("jaas.conf");
    let text = format!(
        "// the users kazoo logs in as\nServer {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    \
         user_bob=\"{}\"\n    user_alice=\"{}\";\n}};\n",
        PASSWORDS[0], PASSWORDS[1]
    );
    std::fs::write(&path, text).expect("JAAS file written");
    path
}

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/install-test-deps", python.display());
    let has_sasl = Command::new(&python).args(["-c", "import puresasl"]).status().expect("python runs");
    assert!(has_sasl.success(), "the venv lacks pure-sasl (kazoo's SASL): run scripts/install-test-deps");
    python
}

/// Runs sasl_kazoo.py against `addr`; its JSON outcomes.
fn kazoo_outcomes(addr: &str, extra: &[&str]) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/sasl_kazoo.py");
    let output = Command::new(python()).arg(script).arg(addr).args(extra).output().expect("kazoo runs");
    printed_outcomes(addr, &output)
}

/// The JSON outcomes a kazoo script run against `addr` printed; fails the test if it failed or printed none.
pub(crate) fn printed_outcomes(addr: &str, output: &std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kazoo against {addr} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("kazoo printed no JSON ({e}): {stdout}"))
}

#[test]
fn kazoo_digest_md5_against_paddock_and_zookeeper() {
    let dir = tempfile::tempdir().expect("temp dir");
    let jaas = jaas_file(dir.path());
    let flag = format!("-Djava.security.auth.login.config={}", jaas.display());
    let env = [("SERVER_JVMFLAGS", flag.as_str()), ("PADDOCK_LOG", "trace")];
    let paddock = PaddockProcess::start_with_env(&[SASL_PROVIDER], &env).expect("Paddock starts");
    let zookeeper = ZooKeeperProcess::start_with_jvm_flags(&[SASL_PROVIDER], &[&flag]).expect("ZooKeeper starts");

    let mut ours = kazoo_outcomes(&paddock.addr(), &["paddock"]);
    let theirs = kazoo_outcomes(&zookeeper.addr(), &[]);
    let expected = serde_json::json!({
        "bob_right_password": "connected",
        "bob_whoami": [["sasl", "bob"]],
        "bob_reads_own_node": "for bob",
        "acl": [["sasl", "bob", 31]],
        "alice_right_password": "connected",
        "alice_whoami": [["sasl", "alice"]],
        "alice_reads_bobs_node": "NoAuthError",
        "bob_wrong_password": "AuthFailedError",
        "unknown_user": "AuthFailedError",
        "no_sasl_client": "connected",
    });
    assert_eq!(theirs, expected, "ZooKeeper, the reference");
    let borrowed = ours.as_object_mut().and_then(|o| o.remove("unknown_user_with_anothers_password"));
    assert_eq!(borrowed, Some(serde_json::json!("AuthFailedError")), "a user without a password of its own");
    assert_eq!(ours, theirs, "Paddock differs from ZooKeeper");

    let log = paddock.log();
    // PADDOCK_LOG=trace: whatever any level logs is here.
    assert!(log.contains("SASL authentication succeeded"), "{log}");
    for password in PASSWORDS.iter().chain(&["not-the-password"]) {
        assert!(!log.contains(password), "a password reached Paddock's log");
    }
}

/// `sessionRequireClientSASLAuth`, and `enforce.auth.enabled` with `enforce.auth.schemes=sasl`: a client
/// that does not authenticate is refused with SessionClosedRequireSaslAuth (-124), one that does works, on
/// Paddock as on ZooKeeper.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_sessions_are_refused_when_sasl_is_required() {
    let dir = tempfile::tempdir().expect("temp dir");
    let jaas = jaas_file(dir.path()).display().to_string();
    let settings: [&[(&str, &str)]; 2] = [
        &[("sessionRequireClientSASLAuth", "true")],
        &[("enforce.auth.enabled", "true"), ("enforce.auth.schemes", "sasl")],
    ];
    for required in settings {
        // Paddock takes the JAAS file as a zoo.cfg key too; ZooKeeper only as a system property.
        let mut cfg = vec![("java.security.auth.login.config", jaas.as_str()), SASL_PROVIDER];
        cfg.extend_from_slice(required);
        let paddock = PaddockProcess::start_with(&cfg).expect("Paddock starts");
        let flag = format!("-Djava.security.auth.login.config={jaas}");
        let zk_cfg: Vec<(&str, &str)> = std::iter::once(SASL_PROVIDER).chain(required.iter().copied()).collect();
        let zookeeper = ZooKeeperProcess::start_with_jvm_flags(&zk_cfg, &[&flag]).expect("ZooKeeper starts");
        // A client without SASL: its first request (here the Rust client's own, right after the
        // handshake) is refused with -124, which this client reports as AuthFailed; kazoo below tells the
        // codes apart.
        let refused = match zk::Client::connect(&paddock.addr()).await {
            Ok(client) => client.get_children("/").await.expect_err("refused"),
            Err(e) => e,
        };
        assert_eq!(refused, zk::Error::AuthFailed, "{required:?}");
        let ours = kazoo_outcomes(&paddock.addr(), &[]);
        let theirs = kazoo_outcomes(&zookeeper.addr(), &[]);
        assert_eq!(theirs["no_sasl_client"], "SessionClosedRequireSaslError", "{required:?}: {theirs}");
        assert_eq!(theirs["bob_right_password"], "connected", "{required:?}: {theirs}");
        assert_eq!(ours, theirs, "{required:?}: Paddock differs from ZooKeeper");
    }
}

/// zkCli.sh logs in with a JAAS `Client` section (`-Djava.security.auth.login.config` in CLIENT_JVMFLAGS),
/// as Java users do: `whoami` names the `sasl` id on Paddock as on ZooKeeper.
#[test]
fn zkcli_with_a_jaas_client_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let jaas = jaas_file(dir.path());
    let client_jaas = dir.path().join("client.conf");
    let client = format!(
        "Client {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  username=\"bob\"\n  \
         password=\"{}\";\n}};\n",
        PASSWORDS[0]
    );
    std::fs::write(&client_jaas, client).expect("client JAAS written");
    let flag = format!("-Djava.security.auth.login.config={}", jaas.display());
    let paddock = PaddockProcess::start_with_env(&[SASL_PROVIDER], &[("SERVER_JVMFLAGS", flag.as_str())])
        .expect("Paddock starts");
    let zookeeper = ZooKeeperProcess::start_with_jvm_flags(&[SASL_PROVIDER], &[&flag]).expect("ZooKeeper starts");
    let client_flags = format!("-Djava.security.auth.login.config={}", client_jaas.display());
    let whoami = |addr: &str| {
        let out = Command::new("/usr/share/zookeeper/bin/zkCli.sh")
            .args(["-server", addr, "whoami"])
            .env("CLIENT_JVMFLAGS", &client_flags)
            .output()
            .expect("run zkCli.sh");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "zkCli whoami against {addr}:\n{text}");
        let mut ids: Vec<String> = text
            .lines()
            // `Auth scheme: User`, then one `<scheme>: <user>` line per id.
            .filter(|l| ["Auth scheme:", "sasl:", "ip:", "digest:", "super:"].iter().any(|p| l.starts_with(p)))
            .map(|l| l.trim().to_string())
            .collect();
        // ZooKeeper lists a connection's ids in hash order: compare them as a set.
        ids.sort();
        ids.dedup();
        ids
    };
    let theirs = whoami(&zookeeper.addr());
    assert!(theirs.iter().any(|l| l == "sasl: bob"), "{theirs:?}");
    assert_eq!(whoami(&paddock.addr()), theirs, "zkCli's whoami differs");
}
