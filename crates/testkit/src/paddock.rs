//! The Paddock binary as a child process, with restarts and crashes on demand, for end-to-end and
//! durability tests.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::net::{addr_accepts, free_port};
use crate::process::{ServerChild, log_tail, read_log, write_config};

const START_LIMIT: Duration = Duration::from_secs(30);
/// A clean shutdown flushes and closes files; a server that needs longer is hung.
const TERMINATE_GRACE: Duration = Duration::from_secs(30);

/// A Paddock server (`paddock server --config <tmp>/zoo.cfg --port P --data-dir D`) on 127.0.0.1 with
/// its output in `<tmp>/paddock.log`. Killed on drop.
pub struct PaddockProcess {
    pub port: u16,
    pub data_dir: PathBuf,
    /// The address its client port listens on: 127.0.0.1, or its address in a test network.
    host: IpAddr,
    /// The network namespace it runs in (through `ip netns exec`), if any.
    namespace: Option<String>,
    binary: PathBuf,
    config: PathBuf,
    log: PathBuf,
    /// Environment variables of the server process, e.g. `FAILPOINTS` ([`PaddockProcess::set_env`]).
    env: Vec<(String, String)>,
    child: Option<ServerChild>,
    _dir: TempDir,
}

impl PaddockProcess {
    /// Starts a server on a fresh data dir with the default configuration.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(&[])
    }

    /// Starts a server on a fresh data dir; `extra_cfg` entries override or extend the zoo.cfg defaults.
    pub fn start_with(extra_cfg: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::launch(None, extra_cfg)
    }

    /// [`PaddockProcess::start_with`] with environment variables for the server process from its first start
    /// on (e.g. `AWS_ENDPOINT` for an `s3://` backup target); [`PaddockProcess::set_env`] changes them later.
    pub fn start_with_env(extra_cfg: &[(&str, &str)], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Self::launch_env(None, None, IpAddr::V4(Ipv4Addr::LOCALHOST), free_port(), extra_cfg, env)
    }

    /// Starts a server on an existing (or to-be-created) data dir that outlives this value, e.g. to
    /// restart on the data an earlier process left behind.
    pub fn start_in(data_dir: &Path, extra_cfg: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::launch(Some(data_dir), extra_cfg)
    }

    /// [`PaddockProcess::start_in`] on client port `port` of 127.0.0.1 (a port the caller had to name before,
    /// e.g. in the server's own `server.N` line).
    pub fn start_on(port: u16, data_dir: &Path, extra_cfg: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::launch_at(Some(data_dir), None, IpAddr::V4(Ipv4Addr::LOCALHOST), port, extra_cfg)
    }

    /// Starts a server inside network namespace `namespace` (`ip netns exec`), its client port on
    /// `host:port` (the namespace's own address; every namespace has all its ports free), on `data_dir`.
    pub fn start_in_namespace(
        namespace: &str,
        host: IpAddr,
        port: u16,
        data_dir: &Path,
        extra_cfg: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::launch_at(Some(data_dir), Some(namespace), host, port, extra_cfg)
    }

    /// `host:port` (`127.0.0.1:port` unless started in a namespace), ready for a client connect string.
    pub fn addr(&self) -> String {
        SocketAddr::new(self.host, self.port).to_string()
    }

    /// The zoo.cfg it runs with (its client port and data dir are given on the command line instead).
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Everything every run of this server logged so far (runs are separated by marker lines).
    pub fn log(&self) -> String {
        read_log(&self.log)
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(ServerChild::pid)
    }

    /// Sets (`None`: removes) an environment variable of the server process, from its next (re)start on.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            self.env.push((key.to_owned(), value.to_owned()));
        }
    }

    /// Crashes the server: SIGKILL, no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill9();
        }
    }

    /// Asks the server to shut down (SIGTERM) and waits for it; an error if it hangs (it is then killed)
    /// or was not running.
    pub fn terminate(&mut self) -> anyhow::Result<ExitStatus> {
        match self.child.take() {
            Some(mut child) => child.terminate(TERMINATE_GRACE),
            None => bail!("Paddock on {} is not running", self.addr()),
        }
    }

    /// Stops the server if it runs (cleanly, failing if it hangs) and starts it again on the same port,
    /// config and data dir.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            self.terminate()?;
        }
        let at = Place { namespace: self.namespace.as_deref(), host: self.host, port: self.port };
        self.child = Some(spawn_ready(&self.binary, &self.config, &at, &self.data_dir, &self.log, &self.env)?);
        Ok(())
    }

    fn launch(data_dir: Option<&Path>, extra_cfg: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::launch_at(data_dir, None, IpAddr::V4(Ipv4Addr::LOCALHOST), free_port(), extra_cfg)
    }

    fn launch_at(
        data_dir: Option<&Path>,
        namespace: Option<&str>,
        host: IpAddr,
        port: u16,
        extra_cfg: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::launch_env(data_dir, namespace, host, port, extra_cfg, Vec::new())
    }

    fn launch_env(
        data_dir: Option<&Path>,
        namespace: Option<&str>,
        host: IpAddr,
        port: u16,
        extra_cfg: &[(&str, &str)],
        env: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        let binary = paddock_binary()?;
        let dir = tempfile::Builder::new().prefix("paddock-").tempdir().context("cannot create a temp dir")?;
        let data_dir = data_dir.map(Path::to_path_buf).unwrap_or_else(|| dir.path().join("data"));
        std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        let config = dir.path().join("zoo.cfg");
        let defaults = [
            ("tickTime", "2000".to_owned()),
            ("dataDir", data_dir.display().to_string()),
            ("clientPort", port.to_string()),
            ("clientPortAddress", host.to_string()),
            ("admin.enableServer", "false".to_owned()),
            ("4lw.commands.whitelist", "*".to_owned()),
            ("extendedTypesEnabled", "true".to_owned()),
        ];
        write_config(&config, &defaults, extra_cfg)?;
        let log = dir.path().join("paddock.log");
        let child = spawn_ready(&binary, &config, &Place { namespace, host, port }, &data_dir, &log, &env)?;
        let namespace = namespace.map(str::to_owned);
        Ok(PaddockProcess { port, data_dir, host, namespace, binary, config, log, env, child: Some(child), _dir: dir })
    }
}

impl Drop for PaddockProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- Paddock log tail ({}) ----\n{}", self.addr(), log_tail(&self.log));
        }
        if let Some(mut child) = self.child.take() {
            child.stop_quietly();
        }
    }
}

/// Where a server runs: its namespace (none: the test's own) and its client address.
struct Place<'a> {
    namespace: Option<&'a str>,
    host: IpAddr,
    port: u16,
}

fn spawn_ready(
    binary: &Path,
    config: &Path,
    at: &Place<'_>,
    data_dir: &Path,
    log: &Path,
    env: &[(String, String)],
) -> anyhow::Result<ServerChild> {
    let port = at.port;
    let mut command = match at.namespace {
        // `ip netns exec` execs the server in place: the child's pid is the server's.
        Some(namespace) => {
            let mut command = Command::new("ip");
            command.arg("netns").arg("exec").arg(namespace).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command
        .arg("server")
        .arg("--config")
        .arg(config)
        .arg("--port")
        .arg(port.to_string())
        .arg("--data-dir")
        .arg(data_dir);
    let mut child = ServerChild::spawn(command, log)?;
    // The client port is bound before the AdminServer's: a test that talks to the admin port right after
    // the start must find it listening too.
    let admin = admin_port(config).map(|admin| SocketAddr::new(at.host, admin));
    let ready = || addr_accepts(SocketAddr::new(at.host, port)) && admin.is_none_or(addr_accepts);
    if let Err(e) = child.wait_until("Paddock", START_LIMIT, ready) {
        child.kill9();
        return Err(e);
    }
    Ok(child)
}

/// The AdminServer's port when the zoo.cfg of a standalone server enables it (`admin.enableServer=true`,
/// `admin.serverPort`). A member of an ensemble (`server.N` lines) binds it only once it has joined, which
/// needs the members started after it: its readiness stays its client port's.
fn admin_port(config: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(config).ok()?;
    if text.lines().any(|line| line.trim_start().starts_with("server.")) {
        return None;
    }
    let value = |key: &str| {
        text.lines().filter_map(|line| line.split_once('=')).find(|(k, _)| k.trim() == key).map(|(_, v)| v.trim())
    };
    if value("admin.enableServer") != Some("true") {
        return None;
    }
    value("admin.serverPort")?.parse().ok()
}

/// `$PADDOCK_BIN`, else the debug build in this workspace's target dir.
fn paddock_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PADDOCK_BIN") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("PADDOCK_BIN={} does not exist", path.display());
        }
        return Ok(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("debug/paddock");
    if !path.is_file() {
        bail!(
            "the Paddock binary is missing at {}: build it with `cargo build -p paddock` or set PADDOCK_BIN",
            path.display()
        );
    }
    Ok(path)
}
