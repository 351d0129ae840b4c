//! Real Apache ZooKeeper 3.8 (Debian's `zookeeper` package) as a standalone server on 127.0.0.1: the
//! reference every compatibility and differential test compares Paddock with.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::net::{four_letter_word, free_port};
use crate::process::{ServerChild, write_config};

const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// Optional: without an slf4j binding ZooKeeper logs nothing, and a failed start would be unexplained.
const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";
const MAIN_CLASS: &str = "org.apache.zookeeper.server.ZooKeeperServerMain";
/// A JVM on a busy two-core machine can take a while.
const START_LIMIT: Duration = Duration::from_secs(90);
/// Port races (another process grabbing the port between `free_port` and the JVM's bind) are retried.
const START_ATTEMPTS: usize = 3;

/// A standalone Apache ZooKeeper server with its own temporary dataDir, the admin server disabled, every
/// four-letter word whitelisted and extended types (TTL nodes) enabled. Killed on drop.
pub struct ZooKeeperProcess {
    pub port: u16,
    child: ServerChild,
    dir: TempDir,
}

impl ZooKeeperProcess {
    /// Starts a server with the default configuration.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(&[])
    }

    /// Starts a server; `extra_cfg` entries are zoo.cfg keys that override or extend the defaults.
    pub fn start_with(extra_cfg: &[(&str, &str)]) -> anyhow::Result<Self> {
        let java = java_binary()?;
        if !Path::new(ZOOKEEPER_JAR).exists() {
            bail!("Apache ZooKeeper is not installed ({ZOOKEEPER_JAR} is missing): run scripts/install-test-deps");
        }
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match Self::launch(&java, extra_cfg) {
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

    /// The temporary directory holding zoo.cfg, data/ and zookeeper.log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        crate::process::read_log(&self.dir.path().join("zookeeper.log"))
    }

    fn launch(java: &Path, extra_cfg: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("zookeeper-").tempdir().context("cannot create a temp dir")?;
        let port = free_port();
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir)?;
        let config = dir.path().join("zoo.cfg");
        let defaults = [
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
        write_config(&config, &defaults, extra_cfg)?;
        let mut command = Command::new(java);
        command
            .arg("-Xmx512m")
            .arg("-XX:+UseSerialGC")
            .arg("-Djava.net.preferIPv4Stack=true")
            .arg(format!("-Dzookeeper.log.dir={}", dir.path().display()))
            .arg("-cp")
            .arg(class_path())
            .arg(MAIN_CLASS)
            .arg(&config)
            .current_dir(dir.path());
        let mut child = ServerChild::spawn(command, &dir.path().join("zookeeper.log"))?;
        let addr = format!("127.0.0.1:{port}");
        // `ruok` answers before the request pipeline runs; `srvr` reports a Mode only once it serves (and
        // names itself as not whitelisted when a test restricts the whitelist, which is late enough).
        let waited = child.wait_until("Apache ZooKeeper", START_LIMIT, || {
            four_letter_word(&addr, "srvr")
                .map(|answer| answer.contains("Mode:") || answer.contains("not in the whitelist"))
                .unwrap_or(false)
        });
        if let Err(e) = waited {
            child.kill9();
            return Err(e);
        }
        Ok(ZooKeeperProcess { port, child, dir })
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

fn class_path() -> String {
    // zookeeper.jar's manifest Class-Path lists its Debian dependencies.
    if Path::new(SLF4J_SIMPLE_JAR).exists() {
        format!("{ZOOKEEPER_JAR}:{SLF4J_SIMPLE_JAR}")
    } else {
        ZOOKEEPER_JAR.to_owned()
    }
}
