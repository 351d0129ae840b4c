//! SASL GSSAPI (Kerberos) against a real MIT KDC that the test starts on 127.0.0.1 (`paddock_testkit::Kdc`),
//! differential against Apache ZooKeeper 3.8: both servers log in as `zookeeper/localhost@EXAMPLE.COM` from
//! the same keytab through the same JAAS `Server` section (`Krb5LoginModule`), and read the realm's
//! krb5.conf from `-Djava.security.krb5.conf` in SERVER_JVMFLAGS. kazoo (pure-sasl over pykerberos) must
//! see the same outcomes on both: principals authenticate and `whoAmI` names them (with and without
//! `kerberos.removeHostFromPrincipal` / `removeRealmFromPrincipal`), a `sasl` ACL admits its principal and
//! refuses another, a client without a ticket, with a ticket for another service or with a garbage token
//! is refused. zkCli.sh logs in with a keytab through a JAAS `Client` section. And a server configured for
//! Kerberos without the GSSAPI library, or with a keytab that lacks its principal, does not start.

use std::path::{Path, PathBuf};
use std::process::Command;

use paddock_testkit::{KDC_REALM, Kdc, PaddockProcess, ZooKeeperProcess};

const SASL_PROVIDER: (&str, &str) = ("authProvider.1", "org.apache.zookeeper.server.auth.SASLAuthenticationProvider");
const SERVICE: &str = "zookeeper/localhost";

/// A realm with the server's principal and two clients, each client with a ticket in its own cache.
struct Realm {
    kdc: Kdc,
    server_keytab: PathBuf,
    client_keytab: PathBuf,
    client_cache: PathBuf,
    app_cache: PathBuf,
}

fn realm() -> Realm {
    let kdc = Kdc::start().expect("the KDC starts (krb5-kdc: scripts/install-test-deps)");
    for principal in [SERVICE, "client", "app/localhost", "HTTP/localhost"] {
        kdc.add_principal(principal).expect("principal added");
    }
    let server_keytab = kdc.keytab(SERVICE).expect("server keytab");
    let client_keytab = kdc.keytab("client").expect("client keytab");
    let app_keytab = kdc.keytab("app/localhost").expect("app keytab");
    let client_cache = kdc.kinit("client", &client_keytab).expect("kinit client");
    let app_cache = kdc.kinit("app/localhost", &app_keytab).expect("kinit app");
    Realm { kdc, server_keytab, client_keytab, client_cache, app_cache }
}

/// The JAAS `Server` section ZooKeeper users write for Kerberos.
fn server_jaas(dir: &Path, keytab: &Path, principal: &str) -> PathBuf {
    let path = dir.join("server-jaas.conf");
    let text = format!(
        "Server {{\n  com.sun.security.auth.module.Krb5LoginModule required\n  useKeyTab=true\n  \
         keyTab=\"{}\"\n  storeKey=true\n  useTicketCache=false\n  principal=\"{principal}@{KDC_REALM}\";\n}};\n",
        keytab.display()
    );
    std::fs::write(&path, text).expect("JAAS file written");
    path
}

/// The `-D` flags both servers get: the JAAS file, the realm's krb5.conf, and `extra`.
fn jvm_flags(realm: &Realm, jaas: &Path, extra: &[&str]) -> Vec<String> {
    let mut flags = vec![
        format!("-Djava.security.auth.login.config={}", jaas.display()),
        format!("-Djava.security.krb5.conf={}", realm.kdc.krb5_conf().display()),
    ];
    flags.extend(extra.iter().map(|f| f.to_string()));
    flags
}

fn start_both(realm: &Realm, extra_flags: &[&str]) -> (PaddockProcess, ZooKeeperProcess) {
    let jaas = server_jaas(realm.kdc.dir(), &realm.server_keytab, SERVICE);
    let flags = jvm_flags(realm, &jaas, extra_flags);
    let joined = flags.join(" ");
    let env = [("SERVER_JVMFLAGS", joined.as_str()), ("PADDOCK_LOG", "debug")];
    let paddock = PaddockProcess::start_with_env(&[SASL_PROVIDER], &env).expect("Paddock starts");
    let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let zookeeper = ZooKeeperProcess::start_with_jvm_flags(&[SASL_PROVIDER], &refs).expect("ZooKeeper starts");
    (paddock, zookeeper)
}

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/install-test-deps", python.display());
    let has_gssapi = Command::new(&python).args(["-c", "import puresasl, kerberos"]).status().expect("python runs");
    assert!(
        has_gssapi.success(),
        "the venv lacks pure-sasl or pykerberos (kazoo's GSSAPI): run scripts/install-test-deps"
    );
    python
}

/// The port of a `127.0.0.1:port` address: clients connect to `localhost`, the host of the service principal.
fn port(addr: &str) -> &str {
    addr.rsplit(':').next().expect("host:port")
}

/// Runs kerberos_kazoo.py against `localhost:<port>`; its JSON outcomes.
fn kazoo_outcomes(realm: &Realm, addr: &str, client_id: &str) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/kerberos_kazoo.py");
    let output = Command::new(python())
        .arg(script)
        .arg(format!("localhost:{}", port(addr)))
        .arg(&realm.client_cache)
        .arg(&realm.app_cache)
        .arg(client_id)
        .env("KRB5_CONFIG", realm.kdc.krb5_conf())
        .output()
        .expect("kazoo runs");
    crate::sasl::printed_outcomes(addr, &output)
}

#[test]
fn kazoo_gssapi_against_paddock_and_zookeeper() {
    let realm = realm();
    let cases: [(&[&str], &str, &str); 2] = [
        (&[], "client@EXAMPLE.COM", "app/localhost@EXAMPLE.COM"),
        (
            &[
                "-Dzookeeper.kerberos.removeHostFromPrincipal=true",
                "-Dzookeeper.kerberos.removeRealmFromPrincipal=true",
            ],
            "client",
            "app",
        ),
    ];
    for (flags, client_id, app_id) in cases {
        let (paddock, zookeeper) = start_both(&realm, flags);
        let theirs = kazoo_outcomes(&realm, &zookeeper.addr(), client_id);
        let expected = serde_json::json!({
            "client": "connected",
            "client_whoami": [["sasl", client_id]],
            "client_reads_own_node": "for client",
            "acl": [["sasl", client_id, 31]],
            "app": "connected",
            "app_whoami": [["sasl", app_id]],
            "app_reads_clients_node": "NoAuthError",
            "no_ticket": "refused",
            "ticket_for_another_service": "AUTH_FAILED",
            "garbage_token": "AuthFailedError",
        });
        assert_eq!(theirs, expected, "ZooKeeper, the reference ({flags:?}); KDC log:\n{}", realm.kdc.log());
        let ours = kazoo_outcomes(&realm, &paddock.addr(), client_id);
        assert_eq!(ours, theirs, "Paddock differs from ZooKeeper ({flags:?}):\n{}", paddock.log());
        let log = paddock.log();
        assert!(log.contains("SASL authentication succeeded"), "{log}");
    }
}

/// zkCli.sh logs in with a keytab through a JAAS `Client` section, as Java users do: `whoami` names the
/// principal on Paddock as on ZooKeeper.
#[test]
fn zkcli_with_a_kerberos_jaas_client_file() {
    let realm = realm();
    let (paddock, zookeeper) = start_both(&realm, &[]);
    let client_jaas = realm.kdc.dir().join("client-jaas.conf");
    let text = format!(
        "Client {{\n  com.sun.security.auth.module.Krb5LoginModule required\n  useKeyTab=true\n  keyTab=\"{}\"\n  \
         storeKey=true\n  useTicketCache=false\n  principal=\"client@{KDC_REALM}\";\n}};\n",
        realm.client_keytab.display()
    );
    std::fs::write(&client_jaas, text).expect("client JAAS written");
    let client_flags = format!(
        "-Djava.security.auth.login.config={} -Djava.security.krb5.conf={}",
        client_jaas.display(),
        realm.kdc.krb5_conf().display()
    );
    let whoami = |addr: &str| {
        let out = Command::new("/usr/share/zookeeper/bin/zkCli.sh")
            .args(["-server", &format!("localhost:{}", port(addr)), "whoami"])
            .env("CLIENT_JVMFLAGS", &client_flags)
            .output()
            .expect("run zkCli.sh");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "zkCli whoami against {addr}:\n{text}");
        let mut ids: Vec<String> = text
            .lines()
            .filter(|l| ["Auth scheme:", "sasl:", "ip:", "super:"].iter().any(|p| l.starts_with(p)))
            .map(|l| l.trim().to_string())
            .collect();
        // ZooKeeper lists a connection's ids in hash order: compare them as a set.
        ids.sort();
        ids.dedup();
        (ids, text)
    };
    let (theirs, text) = whoami(&zookeeper.addr());
    assert!(theirs.iter().any(|l| l == "sasl: client@EXAMPLE.COM"), "{theirs:?}\n{text}");
    let (ours, text) = whoami(&paddock.addr());
    assert_eq!(ours, theirs, "zkCli's whoami differs:\n{text}\n{}", paddock.log());
}

/// A server configured for Kerberos refuses to start, in one line naming the cause, when the GSSAPI
/// library cannot be loaded (here: `PADDOCK_GSSAPI_LIBRARY` names one that does not exist) or when its
/// keytab lacks its principal.
#[test]
fn kerberos_misconfiguration_stops_the_start() {
    let realm = realm();
    let jaas = server_jaas(realm.kdc.dir(), &realm.server_keytab, SERVICE);
    let flags = jvm_flags(&realm, &jaas, &[]).join(" ");
    let missing = [("SERVER_JVMFLAGS", flags.as_str()), ("PADDOCK_GSSAPI_LIBRARY", "libgssapi_missing.so.9")];
    let error = PaddockProcess::start_with_env(&[SASL_PROVIDER], &missing).err().expect("no start without the library");
    let text = format!("{error:#}");
    assert!(text.contains("cannot load the GSSAPI library libgssapi_missing.so.9"), "{text}");

    let dir = tempfile::tempdir().expect("temp dir");
    let jaas = server_jaas(dir.path(), &realm.client_keytab, SERVICE);
    let flags = jvm_flags(&realm, &jaas, &[]).join(" ");
    let error = PaddockProcess::start_with_env(&[SASL_PROVIDER], &[("SERVER_JVMFLAGS", flags.as_str())])
        .err()
        .expect("no start with a keytab that lacks the principal");
    let text = format!("{error:#}");
    assert!(text.contains("cannot acquire the credential of zookeeper/localhost@EXAMPLE.COM"), "{text}");
}
