//! A throwaway MIT Kerberos KDC on 127.0.0.1 (Debian `krb5-kdc`), for the Kerberos (SASL GSSAPI) tests:
//! a realm `EXAMPLE.COM` whose database, stash, configuration and keytabs all live in one temporary
//! directory, created with `kdb5_util create -s` and filled with `kadmin.local` (no kadmind), served by
//! `krb5kdc -n` on a free port over TCP and UDP, and killed by its pid on drop.
//!
//! The `krb5.conf` it writes turns off DNS canonicalization and reverse lookups, so that a service
//! principal is exactly the host name a client was given (`zookeeper/localhost`), and makes clients use
//! TCP (Java and MIT alike), which needs no datagram size guessing.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::net::{addr_accepts, free_port};

/// The realm every principal of the test KDC belongs to.
pub const REALM: &str = "EXAMPLE.COM";
/// The database's master password: the stash file holds it, nobody types it.
const MASTER_PASSWORD: &str = "paddock-test-master";
/// krb5kdc opens its database and binds its ports in well under a second; a busy machine may take longer.
const START_LIMIT: Duration = Duration::from_secs(30);
/// Another process may take the UDP port between `free_port` and the KDC's bind: try again that often.
const START_ATTEMPTS: usize = 3;
/// Each admin command (kdb5_util, kadmin.local, kinit) is local and quick; a hung one fails the test.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// A running KDC with its realm database in a temporary directory.
pub struct Kdc {
    pub port: u16,
    dir: TempDir,
    child: Child,
}

impl Kdc {
    /// Creates the realm database and starts the KDC, failing (naming the tool) when the MIT Kerberos
    /// tools are not installed (`scripts/install-test-deps` installs them).
    pub fn start() -> anyhow::Result<Kdc> {
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match Kdc::launch() {
                Ok(kdc) => return Ok(kdc),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("the KDC did not start")))
    }

    fn launch() -> anyhow::Result<Kdc> {
        let dir = tempfile::tempdir().context("KDC temp dir")?;
        let port = free_port();
        write_configs(dir.path(), port)?;
        run_in(dir.path(), Command::new("kdb5_util").args(["-r", REALM, "create", "-s", "-P", MASTER_PASSWORD]))?;
        let log = std::fs::File::create(dir.path().join("krb5kdc.out")).context("KDC output file")?;
        let stderr = log.try_clone().context("KDC output file")?;
        let mut command = Command::new("krb5kdc");
        configure(dir.path(), &mut command);
        let child = command
            .args(["-n", "-r", REALM])
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .context("start krb5kdc (Debian package krb5-kdc; run scripts/install-test-deps)")?;
        // From here on, Drop kills the KDC whatever happens.
        let mut kdc = Kdc { port, dir, child };
        kdc.wait_ready()?;
        Ok(kdc)
    }

    /// Returns once the KDC accepts TCP connections; fails if it exits or takes too long.
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while started.elapsed() < START_LIMIT {
            if let Some(status) = self.child.try_wait().context("poll krb5kdc")? {
                bail!("krb5kdc exited with {status} on port {}: {}", self.port, self.log());
            }
            if addr_accepts(addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("krb5kdc did not listen on {addr} within {START_LIMIT:?}: {}", self.log())
    }

    /// The `krb5.conf` clients and servers of the realm use (`KRB5_CONFIG`, `-Djava.security.krb5.conf`).
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    /// The directory the KDC's files live in; tests may put their own files (JAAS, caches) there too.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Adds `principal` (`name` or `service/host`, in the realm) with a random key.
    pub fn add_principal(&self, principal: &str) -> anyhow::Result<()> {
        self.kadmin(&format!("addprinc -randkey {principal}@{REALM}"))
    }

    /// Writes the keys of `principal` to a new keytab file, without changing them, and returns its path.
    pub fn keytab(&self, principal: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.path().join(format!("{}.keytab", principal.replace('/', "_")));
        self.kadmin(&format!("ktadd -k {} -norandkey {principal}@{REALM}", path.display()))?;
        Ok(path)
    }

    /// Gets a ticket-granting ticket for `principal` from its keytab into a new credential cache file,
    /// whose path (for `KRB5CCNAME`) it returns.
    pub fn kinit(&self, principal: &str, keytab: &Path) -> anyhow::Result<PathBuf> {
        let cache = self.dir.path().join(format!("{}.ccache", principal.replace('/', "_")));
        let full = format!("{principal}@{REALM}");
        run_in(self.dir.path(), Command::new("kinit").arg("-kt").arg(keytab).arg("-c").arg(&cache).arg(&full))?;
        Ok(cache)
    }

    /// What the KDC logged (its log file and its output), for failure messages.
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("kdc.log"), read("krb5kdc.out"))
    }

    fn kadmin(&self, query: &str) -> anyhow::Result<()> {
        run_in(self.dir.path(), Command::new("kadmin.local").args(["-r", REALM, "-q", query]))
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        // Only the KDC this value started, by its own handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Gives a command of the realm's tools the realm's configuration files.
fn configure(dir: &Path, command: &mut Command) {
    command
        .env("KRB5_CONFIG", dir.join("krb5.conf"))
        .env("KRB5_KDC_PROFILE", dir.join("kdc.conf"))
        .stdin(Stdio::null());
}

/// Runs an admin command of the realm in `dir` to completion within [`COMMAND_LIMIT`]; fails with its
/// output otherwise.
fn run_in(dir: &Path, command: &mut Command) -> anyhow::Result<()> {
    configure(dir, command);
    let program = command.get_program().to_string_lossy().into_owned();
    let output_path = dir.join("command.out");
    let output = std::fs::File::create(&output_path).context("command output file")?;
    let mut child = command
        .stdout(output.try_clone().context("command output file")?)
        .stderr(output)
        .spawn()
        .with_context(|| format!("run {program} (MIT Kerberos tools: run scripts/install-test-deps)"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().with_context(|| format!("wait for {program}"))? {
            break status;
        }
        if started.elapsed() > COMMAND_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{program} did not finish within {COMMAND_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(&output_path).unwrap_or_default();
    // kadmin.local reports a failed query on its output and still exits 0: its messages then start with
    // the program's name, while success prints "Principal ... created." or "Entry for principal ...".
    let kadmin_failed = program == "kadmin.local" && text.lines().any(|l| l.starts_with("kadmin.local:"));
    if !status.success() || kadmin_failed {
        bail!("{program} failed ({status}): {text}");
    }
    Ok(())
}

fn write_configs(dir: &Path, port: u16) -> anyhow::Result<()> {
    let d = dir.display();
    let kdc_conf = format!(
        "[kdcdefaults]\n kdc_ports = {port}\n kdc_tcp_ports = {port}\n\n[realms]\n {REALM} = {{\n  \
         database_name = {d}/principal\n  key_stash_file = {d}/stash\n  acl_file = {d}/kadm5.acl\n  \
         kdc_ports = {port}\n  kdc_tcp_ports = {port}\n  max_life = 1h\n  \
         supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n }}\n\n\
         [logging]\n kdc = FILE:{d}/kdc.log\n admin_server = FILE:{d}/kadmin.log\n"
    );
    let krb5_conf = format!(
        "[libdefaults]\n default_realm = {REALM}\n dns_lookup_realm = false\n dns_lookup_kdc = false\n \
         dns_canonicalize_hostname = false\n rdns = false\n udp_preference_limit = 1\n ticket_lifetime = 1h\n\n\
         [realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n\n[domain_realm]\n localhost = {REALM}\n"
    );
    std::fs::write(dir.join("kdc.conf"), kdc_conf).context("write kdc.conf")?;
    std::fs::write(dir.join("krb5.conf"), krb5_conf).context("write krb5.conf")?;
    std::fs::write(dir.join("kadm5.acl"), "").context("write kadm5.acl")?;
    Ok(())
}
