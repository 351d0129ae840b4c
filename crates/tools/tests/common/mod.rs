//! Helpers shared by the tools' integration tests: one Apache ZooKeeper server and one Paddock server per
//! test binary, and `paddock shell` / `paddock bench` run in-process with their output captured.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use paddock_testkit::{PaddockProcess, ZooKeeperProcess, four_letter_word};
use paddock_tools::shell::{self, ShellArgs};

static ZOOKEEPER: OnceLock<ZooKeeperProcess> = OnceLock::new();
static PADDOCK: OnceLock<PaddockProcess> = OnceLock::new();

/// The test binary's Apache ZooKeeper server (started on first use, killed when the binary exits).
pub fn zookeeper() -> String {
    ZOOKEEPER.get_or_init(start_serving).addr()
}

/// The test binary's Paddock server, from the workspace's `paddock` binary (`$PADDOCK_BIN`, else
/// target/debug/paddock: build it first with `cargo build -p paddock`). Started on first use, killed when
/// the test binary exits.
pub fn paddock() -> String {
    PADDOCK.get_or_init(|| PaddockProcess::start().expect("Paddock must start (cargo build -p paddock first)")).addr()
}

/// `ruok` answers `imok` before the server serves sessions; `srvr` tells when it does.
fn start_serving() -> ZooKeeperProcess {
    let server = ZooKeeperProcess::start().expect("Apache ZooKeeper must start (run scripts/install-test-deps)");
    let deadline = Instant::now() + Duration::from_secs(60);
    while four_letter_word(&server.addr(), "srvr").map_or(true, |answer| !answer.contains("Mode:")) {
        assert!(Instant::now() < deadline, "Apache ZooKeeper never started serving:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// What a shell run printed, and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: ExitCode,
    pub out: String,
    pub err: String,
}

impl Run {
    /// stdout with Stat times, zxids and session ids replaced by placeholders.
    pub fn out_normalized(&self) -> String {
        normalize(&self.out)
    }
}

pub fn args(server: &str, json: bool, command: &[&str]) -> ShellArgs {
    ShellArgs {
        server: server.to_owned(),
        json,
        timeout: 30_000,
        command: command.iter().map(|s| s.to_string()).collect(),
    }
}

/// `paddock shell --server <zk> COMMAND...`.
pub async fn shell(command: &[&str]) -> Run {
    run(args(&zookeeper(), false, command), "").await
}

/// `paddock shell --server <zk> --json COMMAND...`.
pub async fn shell_json(command: &[&str]) -> serde_json::Value {
    let run = run(args(&zookeeper(), true, command), "").await;
    serde_json::from_str(run.out.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {:?}", run.out))
}

/// `paddock shell --server <zk>` with `script` on its standard input.
pub async fn script(script: &str) -> Run {
    run(args(&zookeeper(), false, &[]), script).await
}

pub async fn run(args: ShellArgs, input: &str) -> Run {
    let mut input = input.as_bytes();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = shell::run_with_io(args, &mut input, &mut out, &mut err).await;
    Run { code, out: String::from_utf8_lossy(&out).into_owned(), err: String::from_utf8_lossy(&err).into_owned() }
}

/// Replaces what differs between runs in zkCli's Stat output.
pub fn normalize(text: &str) -> String {
    text.lines()
        .map(|line| {
            for key in ["cZxid = ", "mZxid = ", "pZxid = "] {
                if line.starts_with(key) {
                    return format!("{key}ZXID");
                }
            }
            for key in ["ctime = ", "mtime = "] {
                if line.starts_with(key) {
                    return format!("{key}TIME");
                }
            }
            if line.starts_with("ephemeralOwner = ") && line != "ephemeralOwner = 0x0" {
                return "ephemeralOwner = SESSION".to_owned();
            }
            line.to_owned()
        })
        .map(|line| line + "\n")
        .collect()
}

/// zkCli's Stat block after [`normalize`].
pub fn stat_block(
    cversion: i32,
    version: i32,
    aversion: i32,
    ephemeral: bool,
    data_length: usize,
    children: usize,
) -> String {
    let owner = if ephemeral { "SESSION" } else { "0x0" };
    format!(
        "cZxid = ZXID\nctime = TIME\nmZxid = ZXID\nmtime = TIME\npZxid = ZXID\ncversion = {cversion}\n\
         dataVersion = {version}\naclVersion = {aversion}\nephemeralOwner = {owner}\ndataLength = {data_length}\n\
         numChildren = {children}\n"
    )
}

/// Asserts a one-shot command's exit code and exact stdout (normalized) and stderr.
pub async fn expect(command: &[&str], code: u8, out: &str, err: &str) {
    let run = shell(command).await;
    assert_eq!(
        (run.code, run.out_normalized().as_str(), run.err.as_str()),
        (ExitCode::from(code), out, err),
        "paddock shell {}",
        command.join(" ")
    );
}
