//! Real Apache ZooKeeper 3.8 (Debian's `zookeeper` package) as a standalone server on 127.0.0.1: the
//! reference every compatibility and differential test compares Paddock with.
//!
//! By default its AdminServer is off, and only `zookeeper.jar` (plus slf4j-simple, for a log) is on the
//! classpath. [`ZooKeeperProcess::start_with_admin`] also runs the Jetty AdminServer on a free port: Debian's
//! `zookeeper.jar` contains `JettyAdminServer`, but its manifest does not pull in Jetty, Jackson or the
//! servlet API, so their jars (Debian `libjetty9-java`, `libjackson2-databind-java`, `libservlet-api-java`)
//! are put on the classpath then, and a missing one fails the start rather than silently running without
//! an AdminServer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::net::{four_letter_word_within, free_port};
use crate::process::{ServerChild, write_config};

const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// Optional: without an slf4j binding ZooKeeper logs nothing, and a failed start would be unexplained.
const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";
/// What the AdminServer needs besides `zookeeper.jar`: Jetty 9, Jackson and the servlet API.
const ADMIN_SERVER_JARS: &[&str] = &[
    "/usr/share/java/jetty9-server.jar",
    "/usr/share/java/jetty9-servlet.jar",
    "/usr/share/java/jetty9-http.jar",
    "/usr/share/java/jetty9-io.jar",
    "/usr/share/java/jetty9-util.jar",
    "/usr/share/java/jetty9-security.jar",
    "/usr/share/java/jetty9-util-ajax.jar",
    "/usr/share/java/jackson-databind.jar",
    "/usr/share/java/jackson-core.jar",
    "/usr/share/java/jackson-annotations.jar",
    "/usr/share/java/servlet-api-4.0.1.jar",
];
const MAIN_CLASS: &str = "org.apache.zookeeper.server.ZooKeeperServerMain";
/// The ensemble member's main class (it runs standalone when the config lists no servers).
const QUORUM_MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";
/// A JVM on a busy two-core machine can take a while.
const START_LIMIT: Duration = Duration::from_secs(90);
/// A readiness probe gives up after this and tries again.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Port races (another process grabbing the port between `free_port` and the JVM's bind) are retried.
const START_ATTEMPTS: usize = 3;
/// One readiness probe of the AdminServer; the start loop retries it until `START_LIMIT`.
const ADMIN_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A standalone Apache ZooKeeper server with its own temporary dataDir, every four-letter word whitelisted
/// and extended types (TTL nodes) enabled; the admin server runs only when started with
/// [`ZooKeeperProcess::start_with_admin`]. Killed on drop.
pub struct ZooKeeperProcess {
    pub port: u16,
    /// The AdminServer's port on 127.0.0.1, when it runs.
    pub admin_port: Option<u16>,
    child: ServerChild,
    dir: TempDir,
}

impl ZooKeeperProcess {
    /// Starts a server with the default configuration.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(&[])
    }

    /// Starts a server without the AdminServer; `extra_cfg` entries are zoo.cfg keys that override or
    /// extend the defaults.
    pub fn start_with(extra_cfg: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_checked(extra_cfg, &[], false)
    }

    /// [`ZooKeeperProcess::start_with`] with JVM flags before the main class, as `SERVER_JVMFLAGS` puts
    /// them (e.g. `-Djava.security.auth.login.config=<jaas file>`).
    pub fn start_with_jvm_flags(extra_cfg: &[(&str, &str)], jvm_flags: &[&str]) -> anyhow::Result<Self> {
        Self::start_checked(extra_cfg, jvm_flags, false)
    }

    /// Starts a server with its Jetty AdminServer on a free 127.0.0.1 port (`admin_port`, `/commands`),
    /// returning once that port answers too. Fails, naming the jar, if Jetty, Jackson or the servlet API
    /// is not installed.
    pub fn start_with_admin(extra_cfg: &[(&str, &str)]) -> anyhow::Result<Self> {
        if let Some(missing) = ADMIN_SERVER_JARS.iter().find(|jar| !Path::new(jar).exists()) {
            bail!(
                "ZooKeeper's AdminServer needs {missing}, which is missing (Debian libjetty9-java, \
                 libjackson2-databind-java, libservlet-api-java): run scripts/install-test-deps"
            );
        }
        Self::start_checked(extra_cfg, &[], true)
    }

    fn start_checked(extra_cfg: &[(&str, &str)], jvm_flags: &[&str], admin: bool) -> anyhow::Result<Self> {
        let java = java_binary()?;
        if !Path::new(ZOOKEEPER_JAR).exists() {
            bail!("Apache ZooKeeper is not installed ({ZOOKEEPER_JAR} is missing): run scripts/install-test-deps");
        }
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match Self::launch(&java, extra_cfg, jvm_flags, admin) {
                Ok(server) => return Ok(server),
                Err(e) if format!("{e:#}").contains("Address already in use") => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("ZooKeeper did not start")))
    }

    /// `127.0.0.1:port`, ready for a client connect string.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:admin_port` when the AdminServer runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_port.map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// The temporary directory holding zoo.cfg, data/ and zookeeper.log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        crate::process::read_log(&self.dir.path().join("zookeeper.log"))
    }

    fn launch(java: &Path, extra_cfg: &[(&str, &str)], jvm_flags: &[&str], admin: bool) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("zookeeper-").tempdir().context("cannot create a temp dir")?;
        let port = free_port();
        let configured = extra_cfg.iter().find(|(key, _)| *key == "admin.serverPort").and_then(|(_, v)| v.parse().ok());
        let admin_port = admin.then(|| configured.unwrap_or_else(free_port));
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir)?;
        let config = dir.path().join("zoo.cfg");
        let mut defaults = vec![
            ("tickTime", "2000".to_owned()),
            ("initLimit", "10".to_owned()),
            ("syncLimit", "5".to_owned()),
            ("dataDir", data_dir.display().to_string()),
            ("clientPort", port.to_string()),
            ("clientPortAddress", "127.0.0.1".to_owned()),
            ("admin.enableServer", admin.to_string()),
        ];
        if let Some(admin_port) = admin_port {
            defaults.push(("admin.serverAddress", "127.0.0.1".to_owned()));
            defaults.push(("admin.serverPort", admin_port.to_string()));
        }
        defaults.push(("4lw.commands.whitelist", "*".to_owned()));
        defaults.push(("extendedTypesEnabled", "true".to_owned()));
        write_config(&config, &defaults, extra_cfg)?;
        let command = java_command(java, "-Xmx512m", dir.path(), jvm_flags, admin, MAIN_CLASS, &config);
        let mut child = ServerChild::spawn(command, &dir.path().join("zookeeper.log"))?;
        let addr = format!("127.0.0.1:{port}");
        // `ruok` answers before the request pipeline runs; `srvr` reports a Mode only once it serves (and
        // names itself as not whitelisted when a test restricts the whitelist, which is late enough).
        let waited = child.wait_until("Apache ZooKeeper", START_LIMIT, || {
            let serving = four_letter_word_within(&addr, "srvr", PROBE_TIMEOUT)
                .map(|answer| answer.contains("Mode:") || answer.contains("not in the whitelist"))
                .unwrap_or(false);
            serving && admin_port.is_none_or(admin_answers)
        });
        if let Err(e) = waited {
            child.kill9();
            return Err(e);
        }
        Ok(ZooKeeperProcess { port, admin_port, child, dir })
    }
}

impl ZooKeeperProcess {
    /// Starts an ensemble of `data_dirs.len()` members (`QuorumPeerMain`) on 127.0.0.1, member `i + 1` on
    /// `data_dirs[i]` (which the caller prepared and which outlives the member; its `myid` is written here),
    /// and returns once every member serves as leader or follower. `jvm_flags` go to every member.
    pub fn start_ensemble(data_dirs: &[&Path], jvm_flags: &[&str]) -> anyhow::Result<Vec<ZooKeeperProcess>> {
        let java = java_binary()?;
        if !Path::new(ZOOKEEPER_JAR).exists() {
            bail!("Apache ZooKeeper is not installed ({ZOOKEEPER_JAR} is missing): run scripts/install-test-deps");
        }
        let servers: Vec<String> =
            (1..=data_dirs.len()).map(|id| format!("server.{id}=127.0.0.1:{}:{}", free_port(), free_port())).collect();
        let mut launched = Vec::new();
        for (i, data_dir) in data_dirs.iter().enumerate() {
            let dir =
                tempfile::Builder::new().prefix("zookeeper-member-").tempdir().context("cannot create a temp dir")?;
            let port = free_port();
            std::fs::create_dir_all(data_dir)?;
            std::fs::write(data_dir.join("myid"), format!("{}\n", i + 1))?;
            let mut entries = vec![
                ("tickTime", "2000".to_owned()),
                ("initLimit", "10".to_owned()),
                ("syncLimit", "5".to_owned()),
                ("dataDir", data_dir.display().to_string()),
                ("clientPort", port.to_string()),
                ("clientPortAddress", "127.0.0.1".to_owned()),
                ("admin.enableServer", "false".to_owned()),
                ("4lw.commands.whitelist", "*".to_owned()),
                ("extendedTypesEnabled", "true".to_owned()),
            ];
            let lines: Vec<(String, String)> = servers
                .iter()
                .filter_map(|line| line.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect();
            let extra: Vec<(&str, &str)> = lines.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            entries.push(("standaloneEnabled", "false".to_owned()));
            let config = dir.path().join("zoo.cfg");
            write_config(&config, &entries, &extra)?;
            let command = java_command(&java, "-Xmx256m", dir.path(), jvm_flags, false, QUORUM_MAIN_CLASS, &config);
            let child = ServerChild::spawn(command, &dir.path().join("zookeeper.log"))?;
            launched.push(ZooKeeperProcess { port, admin_port: None, child, dir });
        }
        for member in &mut launched {
            let addr = member.addr();
            member.child.wait_until("an Apache ZooKeeper ensemble member", START_LIMIT, || {
                four_letter_word_within(&addr, "srvr", PROBE_TIMEOUT)
                    .map(|answer| answer.contains("Mode: leader") || answer.contains("Mode: follower"))
                    .unwrap_or(false)
            })?;
        }
        Ok(launched)
    }
}

impl Drop for ZooKeeperProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- Apache ZooKeeper log tail ({}) ----\n{}", self.addr(), self.child.log_tail());
        }
        self.child.stop_quietly();
    }
}

fn java_binary() -> anyhow::Result<PathBuf> {
    let candidates = std::env::var_os("JAVA_HOME")
        .map(|home| PathBuf::from(home).join("bin/java"))
        .into_iter()
        .chain([PathBuf::from("/usr/bin/java")]);
    for candidate in candidates {
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    bail!(
        "no Java runtime found (JAVA_HOME/bin/java or /usr/bin/java) for Apache ZooKeeper: run scripts/install-test-deps"
    )
}

/// Netty's resolver and codec, which Debian's `zookeeper.jar` manifest leaves out although its Netty
/// transport (TLS on the client port: `NettyServerCnxnFactory`, `ClientCnxnSocketNetty`) cannot load
/// without them.
const NETTY_JARS: &str = "/usr/share/java/netty-resolver.jar:/usr/share/java/netty-codec.jar";

/// The classpath of Debian's `zkCli.sh`, completed with the Netty jars it lacks: give it as `-cp` in
/// `CLIENT_JVMFLAGS` (the last `-cp` wins) for zkCli over TLS.
pub fn zkcli_class_path() -> String {
    format!("/etc/zookeeper/conf:{ZOOKEEPER_JAR}:{NETTY_JARS}")
}

/// The JVM running `main_class` on `config` in `dir`, logging there, with `jvm_flags` and Debian's class path.
fn java_command(
    java: &Path,
    heap: &str,
    dir: &Path,
    jvm_flags: &[&str],
    admin: bool,
    main_class: &str,
    config: &Path,
) -> Command {
    let mut command = Command::new(java);
    command
        .arg(heap)
        .arg("-XX:+UseSerialGC")
        .arg("-Djava.net.preferIPv4Stack=true")
        .arg(format!("-Dzookeeper.log.dir={}", dir.display()))
        .args(jvm_flags)
        .arg("-cp")
        .arg(class_path(admin))
        .arg(main_class)
        .arg(config)
        .current_dir(dir);
    command
}

fn class_path(admin: bool) -> String {
    // zookeeper.jar's manifest Class-Path lists its other Debian dependencies, all but one.
    let mut jars = vec![ZOOKEEPER_JAR, NETTY_JARS];
    if Path::new(SLF4J_SIMPLE_JAR).exists() {
        jars.push(SLF4J_SIMPLE_JAR);
    }
    if admin {
        jars.extend_from_slice(ADMIN_SERVER_JARS);
    }
    jars.join(":")
}

/// Whether the AdminServer answers `GET /commands/ruok` with 200 (Jetty is up and the command servlet
/// mapped).
fn admin_answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, ADMIN_PROBE_TIMEOUT) else { return false };
    let _ = stream.set_read_timeout(Some(ADMIN_PROBE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(ADMIN_PROBE_TIMEOUT));
    let request = "GET /commands/ruok HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    reply.starts_with(b"HTTP/1.1 200")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_jars_are_on_the_class_path_only_with_the_admin_server() {
        let with = class_path(true);
        let without = class_path(false);
        assert!(with.starts_with(ZOOKEEPER_JAR) && without.starts_with(ZOOKEEPER_JAR));
        for jar in ADMIN_SERVER_JARS {
            assert!(with.split(':').any(|j| j == *jar), "{jar} missing from {with}");
            assert!(!without.contains(jar), "{jar} in {without}");
        }
    }

    #[test]
    fn the_admin_server_answers_when_asked_for_and_only_then() {
        let server = ZooKeeperProcess::start_with_admin(&[]).expect("ZooKeeper starts with its AdminServer");
        let port = server.admin_port.expect("an admin port");
        assert_eq!(server.admin_addr(), Some(SocketAddr::from(([127, 0, 0, 1], port))));
        assert!(admin_answers(port));
        let config = std::fs::read_to_string(server.dir().join("zoo.cfg")).expect("zoo.cfg");
        assert!(config.contains(&format!("admin.serverPort={port}\n")), "{config}");
        assert!(config.contains("admin.enableServer=true\n"), "{config}");
        drop(server);
        assert!(!admin_answers(port), "the AdminServer outlived its ZooKeeper");

        let plain = ZooKeeperProcess::start().expect("ZooKeeper starts");
        assert_eq!(plain.admin_port, None);
        let config = std::fs::read_to_string(plain.dir().join("zoo.cfg")).expect("zoo.cfg");
        assert!(config.contains("admin.enableServer=false\n") && !config.contains("admin.serverPort"), "{config}");
    }
}
