//! `paddock shell` interactive, through a real pseudo-terminal (tmux send-keys / capture-pane), for every
//! command and flag, against a Paddock server (and the basic flow once against Apache ZooKeeper): zkCli's
//! prompt and output, watch notifications caused by the shell itself and by other clients, usage lines for
//! bad commands, line editing, history (Up arrow, the `history` command, the history file across runs), Tab
//! completion, `--json`, `connect`, `close` and `redo` (and the prompt they change), `quit` and end of input.
//!
//! Runs the `paddock` binary: `$PADDOCK_BIN`, else the workspace's target/debug/paddock (build it first with
//! `cargo build -p paddock`). Each test drives one tmux server of its own; every wait is bounded.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{normalize, stat_block};
use serde_json::{Value, json};

/// How long the screen may take to show what a step expects.
const STEP_LIMIT: Duration = Duration::from_secs(20);
/// How often the screen is read while waiting.
const POLL: Duration = Duration::from_millis(20);
/// The digest of `user:secret`, as `addauth digest user:secret` presents it.
const USER_DIGEST: &str = "user:5w9W4eL3797Y4Wq8AcKUPPk8ha4=";

fn paddock_binary() -> PathBuf {
    let path = match std::env::var_os("PADDOCK_BIN") {
        Some(path) => PathBuf::from(path),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
            .join("debug/paddock"),
    };
    assert!(
        path.is_file(),
        "the paddock binary is missing at {}: build it (cargo build -p paddock) or set PADDOCK_BIN",
        path.display()
    );
    let help = Command::new(&path).args(["shell", "--help"]).output().expect("the paddock binary runs");
    assert!(
        help.status.success(),
        "{} has no `shell` subcommand: {}",
        path.display(),
        String::from_utf8_lossy(&help.stderr)
    );
    path
}

/// `paddock shell --server <server> COMMAND...` as another client would run it: must succeed.
fn one_shot(server: &str, command: &[&str]) {
    let output = Command::new(paddock_binary())
        .args(["shell", "--server", server])
        .args(command)
        .output()
        .expect("the paddock binary runs");
    assert!(output.status.success(), "paddock shell {command:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// What `help` prints, from a one-shot run, as a terminal shows it (tabs expanded: each is at column 0).
fn help_text() -> String {
    let output = Command::new(paddock_binary())
        .args(["shell", "--server", "127.0.0.1:1", "help"])
        .output()
        .expect("the paddock binary runs");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).replace('\t', "        ")
}

/// A tmux server of our own (its socket in a temporary directory, so nothing is left behind), with one
/// window running `command`; killed on drop.
struct Tmux {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let dir = tempfile::tempdir().expect("temp dir");
        let tmux = Tmux { socket: dir.path().join("tmux"), _dir: dir };
        // A long scrollback, so every session's whole transcript stays readable.
        tmux.run(&[
            "start-server",
            ";",
            "set-option",
            "-g",
            "history-limit",
            "100000",
            ";",
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "50",
            command,
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux must be installed (scripts/install-test-deps)");
        assert!(output.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Everything the pane showed, wrapped lines joined, without the empty rows below the cursor.
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-J", "-S", "-"]).trim_end_matches('\n').to_owned()
    }

    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-l", text]);
    }

    fn key(&self, key: &str) {
        self.run(&["send-keys", key]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-S").arg(&self.socket).arg("kill-server").output();
    }
}

/// An interactive `paddock shell` in tmux, and the prompt it shows now.
struct Shell {
    tmux: Tmux,
    /// The server the shell was started with.
    started: String,
    /// The connect string and session state the prompt shows.
    server: String,
    state: &'static str,
    count: usize,
    /// Where the running shell's transcript starts on the screen (after an earlier run's).
    base: usize,
    /// Every line entered in the running shell, as its `history` numbers them.
    entered: Vec<String>,
    /// What printed after the current prompt while the shell waited for input (a notification), already
    /// asserted: the next typed line follows it, and nothing else may.
    idle: String,
    home: tempfile::TempDir,
}

impl Shell {
    /// Starts `paddock shell [flags] --server <server>` with a fresh home directory, `runs` times in a
    /// row (each run's exit code printed as `EXIT=n`), and waits for the first prompt.
    fn start(server: &str, flags: &str, runs: usize) -> Shell {
        let binary = paddock_binary();
        let home = tempfile::tempdir().expect("temp dir");
        let run = format!(
            "env HOME={} TERM=xterm {} shell {flags} --server {server}; echo EXIT=$?; ",
            home.path().display(),
            binary.display()
        );
        let tmux = Tmux::start(&format!("{}sleep 60", run.repeat(runs)));
        let shell = Shell {
            tmux,
            started: server.to_owned(),
            server: server.to_owned(),
            state: "CONNECTED",
            count: 0,
            base: 0,
            entered: Vec::new(),
            idle: String::new(),
            home,
        };
        shell.wait("the first prompt", |s| s.contains(&shell.prompt(0)));
        shell
    }

    fn prompt(&self, n: usize) -> String {
        format!("[zk: {}({}) {n}] ", self.server, self.state)
    }

    /// The running shell's transcript.
    fn view(&self) -> String {
        let screen = self.tmux.screen();
        screen.get(self.base..).unwrap_or_default().to_owned()
    }

    /// Waits until the transcript satisfies `done`, failing with the screen after [`STEP_LIMIT`].
    fn wait(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            let view = self.view();
            if done(&view) {
                return view;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; screen:\n{view}");
            std::thread::sleep(POLL);
        }
    }

    /// The transcript after the current prompt.
    fn after_prompt(&self, view: &str) -> String {
        after_last(view, &self.prompt(self.count)).to_owned()
    }

    /// Presses Enter on what is typed (`line`), waits for the next prompt and returns what the command
    /// printed in between.
    fn enter(&mut self, line: &str) -> String {
        let (server, state) = (self.server.clone(), self.state);
        self.enter_to(line, &server, state)
    }

    /// [`Shell::enter`] for a line after which the prompt shows `server` in `state`.
    fn enter_to(&mut self, line: &str, server: &str, state: &'static str) -> String {
        self.entered.push(line.to_owned());
        let current = self.prompt(self.count);
        self.count += 1;
        (self.server, self.state) = (server.to_owned(), state);
        let next = self.prompt(self.count);
        self.tmux.key("Enter");
        let view = self.wait(&format!("prompt {} after `{line}`", self.count), |s| s.contains(&next));
        let before_next = &view[..view.rfind(&next).unwrap_or(view.len())];
        let rest = after_last(before_next, &current);
        // The typed line follows the prompt, or starts a line of its own when a notification printed
        // while the shell waited took the prompt's line.
        let typed = format!("{line}\n");
        let at = rest.find(&typed).unwrap_or_else(|| panic!("`{line}` is not on screen:\n{view}"));
        let idle = if self.idle.is_empty() { String::new() } else { format!("{}\n", std::mem::take(&mut self.idle)) };
        assert_eq!(&rest[..at], idle, "printed before `{line}` was entered; screen:\n{view}");
        rest[at + typed.len()..].to_owned()
    }

    /// Types a command line, presses Enter and returns what the command printed.
    fn run(&mut self, line: &str) -> String {
        self.tmux.type_text(line);
        self.enter(line)
    }

    /// Runs `line` and asserts its output (Stat times, zxids and session ids normalized).
    fn expect(&mut self, line: &str, output: &str) {
        let printed = self.run(line);
        assert_eq!(normalize(&printed), output, "output of `{line}`; screen:\n{}", self.view());
    }

    /// Runs a line that changes the session (`connect`, `close`), asserts its output and that the next
    /// prompt shows `server` in `state`.
    fn expect_switch(&mut self, line: &str, server: &str, state: &'static str, output: &str) {
        self.tmux.type_text(line);
        let printed = self.enter_to(line, server, state);
        assert_eq!(printed, output, "output of `{line}`; screen:\n{}", self.view());
    }

    /// Waits for a notification printed while the shell waits for input and asserts it is exactly zkCli's
    /// text, right after the prompt.
    fn expect_notification(&mut self, event: &str) {
        let text = format!("\nWATCHER::\n\nWatchedEvent state:SyncConnected {event}");
        let view = self.wait(&format!("the notification {event}"), |s| self.after_prompt(s).contains(&text));
        assert_eq!(self.after_prompt(&view), text, "screen:\n{view}");
        self.idle = text;
    }

    /// Waits for the line editor to show `line` after the current prompt.
    fn expect_edited(&self, line: &str) {
        let shown = format!("{}{line}", self.prompt(self.count));
        self.wait(&format!("the edited line {line:?}"), |s| s.lines().last() == Some(shown.as_str()));
    }

    /// Waits for the next run of the shell (see [`Shell::start`]) and its first prompt.
    fn next_run(&mut self) {
        let view = self.view();
        self.base += view.rfind("EXIT=").map_or(0, |at| at + "EXIT=".len());
        self.count = 0;
        (self.server, self.state) = (self.started.clone(), "CONNECTED");
        self.entered.clear();
        self.wait("the next run's first prompt", |s| s.contains(&self.prompt(0)));
    }

    /// Quits with `quit` and waits for the exit; returns what followed the `quit` line.
    fn quit(&mut self) -> String {
        self.tmux.type_text("quit");
        self.tmux.key("Enter");
        let view = self.wait("the shell to exit", |s| s.contains("EXIT="));
        let rest = self.after_prompt(&view);
        let rest = rest.strip_prefix("quit\n").unwrap_or_else(|| panic!("screen:\n{view}"));
        exit_transcript(rest).to_owned()
    }
}

/// The text after the last `marker`; fails showing the whole text when there is none.
fn after_last<'a>(text: &'a str, marker: &str) -> &'a str {
    let at = text.rfind(marker).unwrap_or_else(|| panic!("no {marker:?} on screen:\n{text}"));
    &text[at + marker.len()..]
}

/// `text` up to the end of its `EXIT=n` line (a later run of the shell may follow).
fn exit_transcript(text: &str) -> &str {
    let Some(exit) = text.find("EXIT=") else { return text };
    let end = text[exit..].find('\n').map_or(text.len(), |at| exit + at);
    &text[..end]
}

/// A notification as zkCli prints it after a command's output.
fn event(kind: &str, path: &str) -> String {
    format!("\nWATCHER::\n\nWatchedEvent state:SyncConnected type:{kind} path:{path}\n")
}

const CLOSED: &str = "\nWATCHER::\n\nWatchedEvent state:Closed type:None path:null\nEXIT=0";
/// zkCli's notification of a session it closed (`close`, or `connect` closing the one before).
const SESSION_CLOSED: &str = "\nWATCHER::\n\nWatchedEvent state:Closed type:None path:null\n";
/// zkCli's notification of a session it opened.
const SESSION_CONNECTED: &str = "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n";

/// create (plain, -s, -e, -c, -t), ls (-s, -w, -R), get (-s, -w), set (-s, -v), stat (-w), delete (-v),
/// deleteall, getEphemerals, getAllChildrenNumber and sync, with watches fired by this shell and by
/// another client.
#[test]
fn node_commands_through_a_terminal() {
    let server = common::paddock();
    let mut shell = Shell::start(&server, "", 1);
    assert!(
        shell.view().starts_with(&format!(
            "Connecting to {server}\n\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n{}",
            shell.prompt(0)
        )),
        "{}",
        shell.view()
    );

    shell.expect("create /data hello", "Created /data\n");
    shell.expect("create -s /data/seq- a", "Created /data/seq-0000000000\n");
    shell.expect("create -e /data/eph b", "Created /data/eph\n");
    shell.expect("create -c /data/box", "Created /data/box\n");
    shell.expect("create /data/box/item", "Created /data/box/item\n");
    shell.expect("create -t 600000 /data/ttl c", "Created /data/ttl\n");
    shell.expect("create -t 600000 -s /data/ttlseq-", "Created /data/ttlseq-0000000004\n");
    shell.expect("create /data", "Node already exists: /data\n");
    shell.expect("create /data/missing/child", "Node does not exist: /data/missing/child\n");
    shell.expect("create -e /data/eph/child", "Ephemerals cannot have children: /data/eph/child\n");

    let children = "[box, eph, seq-0000000000, ttl, ttlseq-0000000004]\n";
    shell.expect("ls /data", children);
    shell.expect("ls -s /data", &format!("{children}{}", stat_block(5, 0, 0, false, 5, 5)));
    shell.expect(
        "ls -R /data",
        "/data\n/data/box\n/data/eph\n/data/seq-0000000000\n/data/ttl\n/data/ttlseq-0000000004\n/data/box/item\n",
    );
    shell.expect("ls /data/nope", "Node does not exist: /data/nope\n");
    shell.expect("stat /data/eph", &stat_block(0, 0, 0, true, 1, 0));
    shell.expect("stat /data/nope", "Node does not exist: /data/nope\n");
    shell.expect("get /data", "hello\n");
    shell.expect("get -s /data/ttl", &format!("c\n{}", stat_block(0, 0, 0, false, 1, 0)));
    shell.expect("getEphemerals /data", "[/data/eph]\n");
    shell.expect("getAllChildrenNumber /data", "6\n");
    shell.expect("getAllChildrenNumber /data/nope", "Node does not exist: /data/nope\n");
    shell.expect("sync /data", "Sync is OK\n");

    // A data watch fired by another client prints while the shell waits for input.
    shell.expect("get -w /data", "hello\n");
    one_shot(&server, &["set", "/data", "world"]);
    shell.expect_notification("type:NodeDataChanged path:/data");
    shell.expect("get /data", "world\n");
    // A child watch, likewise.
    shell.expect("ls -w /data/box", "[item]\n");
    one_shot(&server, &["create", "/data/box/other"]);
    shell.expect_notification("type:NodeChildrenChanged path:/data/box");
    // A watch this shell fires itself prints after the command's own output.
    shell.expect("get -s -w /data/eph", &format!("b\n{}", stat_block(0, 0, 0, true, 1, 0)));
    shell.expect("set /data/eph c", &event("NodeDataChanged", "/data/eph"));
    shell.expect("stat -w /data/late", "Node does not exist: /data/late\n");
    shell.expect("create /data/late", &format!("Created /data/late\n{}", event("NodeCreated", "/data/late")));
    shell.expect("ls -w -s /data/late", &format!("[]\n{}", stat_block(0, 0, 0, false, 0, 0)));
    shell.expect(
        "create /data/late/x",
        &format!("Created /data/late/x\n{}", event("NodeChildrenChanged", "/data/late")),
    );
    // One notification reaching several of the shell's watches prints once, as zkCli prints it.
    shell.expect("get -w /data/late/x", "\n");
    shell.expect("ls -w /data/late/x", "[]\n");
    shell.expect("delete /data/late/x", &event("NodeDeleted", "/data/late/x"));

    shell.expect("set -v 5 /data x", "version No is not valid : /data\n");
    shell.expect("set -v 1 /data again", "");
    shell.expect("set -s /data final", &stat_block(6, 3, 0, false, 5, 6));
    shell.expect("set /data/nope x", "Node does not exist: /data/nope\n");
    shell.expect("delete /data/box", "Node not empty: /data/box\n");
    shell.expect("delete -v 3 /data/late", "version No is not valid : /data/late\n");
    shell.expect("delete -v 0 /data/late", "");
    shell.expect("delete /data/late", "Node does not exist: /data/late\n");
    shell.expect("deleteall /data/box -b 2", "");
    shell.expect("ls /data", "[eph, seq-0000000000, ttl, ttlseq-0000000004]\n");
    shell.expect("deleteall /data", "");
    shell.expect("ls /data", "Node does not exist: /data\n");
    shell.expect("deleteall /data", "Node does not exist: /data\n");

    assert_eq!(shell.quit(), CLOSED);
}

/// getAcl (-s), setAcl (-s, -v, -R), addauth with an ACL-protected node, whoami, addWatch (default,
/// PERSISTENT, PERSISTENT_RECURSIVE), removewatches (-c, -d, -a), printwatches, config (-c, -s), reconfig
/// against a standalone server, and version.
#[test]
fn session_commands_through_a_terminal() {
    let server = common::paddock();
    let mut shell = Shell::start(&server, "", 1);

    shell.expect("whoami", "Auth scheme: User\nip: 127.0.0.1\n");
    shell.expect("create /auth x", "Created /auth\n");
    shell.expect("getAcl /auth", "'world,'anyone\n: cdrwa\n");
    shell.expect("getAcl -s /auth", &format!("'world,'anyone\n: cdrwa\n{}", stat_block(0, 0, 0, false, 1, 0)));
    shell.expect("setAcl /auth world:anyone:cdra", "");
    shell.expect("getAcl /auth", "'world,'anyone\n: cdra\n");
    shell.expect("setAcl -s /auth world:anyone:cdrwa", &stat_block(0, 0, 2, false, 1, 0));
    shell.expect("setAcl -v 9 /auth world:anyone:cdrwa", "version No is not valid : /auth\n");
    shell.expect("setAcl -v 2 /auth world:anyone:cdrwa", "");
    shell.expect("setAcl /auth bogus", "bogus does not have the form scheme:id:perm\nAcl is not valid : /auth\n");
    shell.expect("create /auth/sub", "Created /auth/sub\n");
    shell.expect("create /auth/sub/leaf", "Created /auth/sub/leaf\n");
    shell.expect("setAcl -R /auth/sub world:anyone:cdra", "");
    shell.expect("getAcl /auth/sub/leaf", "'world,'anyone\n: cdra\n");
    shell.expect("set /auth/sub/leaf x", "Insufficient permission : /auth/sub/leaf\n");
    shell.expect("getAcl /auth/nope", "Node does not exist: /auth/nope\n");

    shell.expect(&format!("create /auth/locked secret digest:{USER_DIGEST}:cdrwa"), "Created /auth/locked\n");
    shell.expect("get /auth/locked", "Insufficient permission : /auth/locked\n");
    shell.expect("addauth digest user:secret", "");
    shell.expect("whoami", "Auth scheme: User\nip: 127.0.0.1\ndigest: user\n");
    shell.expect("get /auth/locked", "secret\n");
    shell.expect("getAcl /auth/locked", &format!("'digest,'{USER_DIGEST}\n: cdrwa\n"));

    // A recursive watch (the default mode) sees its subtree; another client's writes print as they come,
    // once even when two of the shell's watches see them.
    shell.expect("addWatch /auth/sub", "");
    shell.expect("addWatch -m PERSISTENT_RECURSIVE /auth", "");
    one_shot(&server, &["create", "/auth/sub/new"]);
    shell.expect_notification("type:NodeCreated path:/auth/sub/new");
    shell.expect("removewatches /auth/sub", &event("PersistentWatchRemoved", "/auth/sub"));
    one_shot(&server, &["set", "/auth/sub/new", "v"]);
    shell.expect_notification("type:NodeDataChanged path:/auth/sub/new");
    shell.expect("removewatches /auth -a", &event("PersistentWatchRemoved", "/auth"));
    // A persistent watch stays: it sees the node's own changes and its children, again and again.
    shell.expect("addWatch -m PERSISTENT /auth", "");
    shell.expect("create /auth/second", &format!("Created /auth/second\n{}", event("NodeChildrenChanged", "/auth")));
    shell.expect("set /auth y", &event("NodeDataChanged", "/auth"));
    shell.expect("set /auth z", &event("NodeDataChanged", "/auth"));
    shell.expect("set /auth/second z", "");
    shell.expect("removewatches /auth", &event("PersistentWatchRemoved", "/auth"));
    shell.expect("removewatches /auth", "KeeperErrorCode = No such watcher for /auth\n");
    shell.expect("set /auth w", "");
    // One-time watches removed by kind.
    shell.expect("get -w /auth", "w\n");
    shell.expect("ls -w /auth", "[locked, second, sub]\n");
    shell.expect("removewatches /auth -d", &event("DataWatchRemoved", "/auth"));
    shell.expect("removewatches /auth -d", "KeeperErrorCode = No such watcher for /auth\n");
    shell.expect("removewatches /auth -c", &event("ChildWatchRemoved", "/auth"));
    shell.expect("set /auth v", "");

    shell.expect("printwatches off", "");
    shell.expect("printwatches", "printwatches is off\n");
    shell.expect("get -w /auth", "v\n");
    shell.expect("set /auth u", "");
    shell.expect("printwatches on", "");
    shell.expect("printwatches", "printwatches is on\n");

    shell.expect("config", "\n");
    shell.expect("config -c", " \n");
    shell.expect("config -s", &format!("\n{}", stat_block(0, 0, -1, false, 0, 0)));
    shell.expect("config -w", "\n");
    shell.expect("removewatches /zookeeper/config", &event("DataWatchRemoved", "/zookeeper/config"));
    // A standalone server has no ensemble to reconfigure: zkCli reports the server's refusal.
    shell.expect("reconfig -add 2=127.0.0.1:2888:3888;2181", "KeeperErrorCode = Reconfig is disabled\n");
    shell.expect("reconfig -remove 2", "KeeperErrorCode = Reconfig is disabled\n");
    shell.expect("reconfig -members 1=127.0.0.1:2888:3888;2181", "KeeperErrorCode = Reconfig is disabled\n");
    shell.expect("version", &format!("Paddock CLI version: {}\n", env!("CARGO_PKG_VERSION")));

    shell.expect("deleteall /auth", "");
    assert_eq!(shell.quit(), CLOSED);
}

/// setquota (each flag, its refusals and its warning), listquota (the node path first, on stderr) and
/// delquota (one limit, then the whole quota), with zkCli's texts, against Paddock's quota nodes.
#[test]
fn quota_commands_through_a_terminal() {
    let server = common::paddock();
    let mut shell = Shell::start(&server, "", 1);

    shell.expect("create /tquota ab", "Created /tquota\n");
    shell.expect("create /tquota/child c", "Created /tquota/child\n");
    shell.expect("setquota -n 5 /tquota", "");
    let notice = "absolute path is /zookeeper/quota/tquota/zookeeper_limits\n";
    shell.expect(
        "listquota /tquota",
        &format!(
            "{notice}Output quota for /tquota count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1\n\
             Output stat for /tquota count=2,bytes=3\n"
        ),
    );
    shell.expect("setquota -b 10 /tquota", "");
    shell.expect("setquota -B 20 /tquota", "");
    shell.expect("setquota -N 1 /tquota", "[Warning]: the count quota you create is less than the existing count:2\n");
    shell.expect("setquota -n 0 /tquota", "the num quota must be greater than zero\n");
    shell.expect("setquota -n 5 /tquota/child", "/tquota/child has a parent /tquota which has a quota\n");
    shell.expect("setquota /tquota", "org.apache.commons.cli.MissingOptionException: Missing required option: [-n num soft quota, -b bytes soft quota, -N num hard quota, -B bytes hard quota]\n");
    shell.expect("setquota -n 5", "setquota -n|-b|-N|-B val path\n");
    shell.expect("delquota -N /tquota", "");
    shell.expect(
        "listquota /tquota",
        &format!(
            "{notice}Output quota for /tquota count=5,bytes=10=;byteHardLimit=20;countHardLimit=-1\n\
             Output stat for /tquota count=2,bytes=3\n"
        ),
    );
    shell.expect("delquota /tquota", "");
    shell.expect("listquota /tquota", &format!("{notice}quota for /tquota does not exist.\n"));
    shell.expect("delquota /tquota", "Quota does not exist for /tquota\n");
    shell.expect("delquota", "delquota [-n|-b|-N|-B] path\n");
    shell.expect("listquota", "listquota path\n");

    shell.expect("deleteall /tquota", "");
    // A closed session refuses listquota before it names the quota's node.
    shell.expect_switch("close", &server, "CLOSED", SESSION_CLOSED);
    shell.expect("listquota /tquota", "Not connected\n");
    assert_eq!(shell.quit(), "EXIT=0");
}

/// `help`, an unknown command, usage lines for bad arguments, line editing (Left, Home, Backspace), Tab
/// completion, history (Up arrow, `history`, and the history file read by the next run), and end of
/// input (Ctrl-D).
#[test]
fn editing_history_and_errors_through_a_terminal() {
    let server = common::paddock();
    let mut shell = Shell::start(&server, "", 2);
    let help = help_text();

    shell.expect("create /edit edit-me", "Created /edit\n");
    shell.expect("create /edit/completion-target x", "Created /edit/completion-target\n");
    assert_eq!(shell.run("help"), help);
    assert!(help.starts_with("paddock shell --server host:port [--json] cmd args\n"), "{help}");
    assert!(help.contains("\n        ls [-s] [-w] [-R] path\n"), "{help}");
    assert_eq!(shell.run("frobnicate /edit"), format!("{help}Command not found: frobnicate\n"));

    let usages = [
        ("create", "create [-s] [-e] [-c] [-t ttl] path [data] [acl]\n"),
        ("create -z /edit/x", "Unrecognized option: -z\ncreate [-s] [-e] [-c] [-t ttl] path [data] [acl]\n"),
        ("create -t abc /edit/x", "-t argument must be a long value\n"),
        (
            "create -c -s /edit/x",
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.\n",
        ),
        ("create edit", "Path must start with / character\n"),
        ("get", "get [-s] [-w] path\n"),
        ("get /edit/", "Path must not end with / character\n"),
        ("set /edit", "set [-s] [-v version] path data\n"),
        ("set -v abc /edit x", "version must be an integer: abc\nset [-s] [-v version] path data\n"),
        ("set -v", "Missing argument for option: v\nset [-s] [-v version] path data\n"),
        ("ls", "ls [-s] [-w] [-R] path\n"),
        ("ls -x /edit", "Unrecognized option: -x\nls [-s] [-w] [-R] path\n"),
        ("delete", "delete [-v version] path\n"),
        ("delete -v x /edit", "version must be an integer: x\ndelete [-v version] path\n"),
        ("deleteall", "deleteall path [-b batch size]\n"),
        ("stat", "stat [-w] path\n"),
        ("getAcl", "getAcl [-s] path\n"),
        ("setAcl /edit", "setAcl [-s] [-v version] [-R] path acl\n"),
        ("addauth", "addauth scheme auth\n"),
        ("sync", "sync path\n"),
        ("getAllChildrenNumber", "getAllChildrenNumber path\n"),
        (
            "addWatch -m BAD /edit",
            "addWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE\n",
        ),
        ("removewatches", "removewatches path [-c|-d|-a] [-l]\n"),
        ("printwatches maybe", "printwatches on|off\n"),
        (
            "reconfig",
            "reconfig [-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]\n",
        ),
    ];
    for (line, usage) in usages {
        shell.expect(line, usage);
    }
    shell.expect("get /edit", "edit-me\n");

    // Left arrow, then a character inserted in the middle of the line.
    shell.tmux.type_text("get /dit");
    for _ in 0..3 {
        shell.tmux.key("Left");
    }
    shell.tmux.type_text("e");
    shell.expect_edited("get /edit");
    assert_eq!(shell.enter("get /edit"), "edit-me\n");
    // Home, then a character inserted at the start; Backspace at the end.
    shell.tmux.type_text("et /editx");
    shell.tmux.key("BSpace");
    shell.tmux.key("Home");
    shell.tmux.type_text("g");
    shell.expect_edited("get /edit");
    assert_eq!(shell.enter("get /edit"), "edit-me\n");

    // Up recalls the previous lines; Enter runs the recalled one.
    shell.expect("ls /edit", "[completion-target]\n");
    shell.tmux.key("Up");
    shell.expect_edited("ls /edit");
    shell.tmux.key("Up");
    shell.expect_edited("get /edit");
    assert_eq!(shell.enter("get /edit"), "edit-me\n");
    // A recalled line can be edited before it runs.
    shell.tmux.key("Up");
    shell.expect_edited("get /edit");
    shell.tmux.key("Home");
    for _ in 0..3 {
        shell.tmux.key("Right");
    }
    shell.tmux.type_text(" -s");
    shell.expect_edited("get -s /edit");
    assert_eq!(normalize(&shell.enter("get -s /edit")), format!("edit-me\n{}", stat_block(1, 0, 0, false, 7, 1)));

    // Tab completes a command name, and a path from the children of its parent.
    shell.tmux.type_text("getE");
    shell.tmux.key("Tab");
    shell.expect_edited("getEphemerals ");
    shell.tmux.type_text("/edit/comp");
    shell.tmux.key("Tab");
    shell.expect_edited("getEphemerals /edit/completion-target");
    assert_eq!(shell.enter("getEphemerals /edit/completion-target"), "[]\n");

    // `history`: the last ten lines before it, and itself, numbered as the prompts numbered them.
    let now = shell.count;
    let expected: String = (now.saturating_sub(10)..now)
        .map(|n| format!("{n} - {}\n", shell.entered[n]))
        .chain([format!("{now} - history\n")])
        .collect();
    assert_eq!(shell.run("history"), expected);

    shell.expect("deleteall /edit", "");
    assert_eq!(shell.quit(), CLOSED);

    // The next run reads the history file: Up recalls the last run's lines.
    let saved = std::fs::read_to_string(shell.home.path().join(".paddock_history")).expect("history file");
    for line in ["create /edit edit-me", "get -s /edit", "history", "quit"] {
        assert!(saved.lines().any(|l| l == line), "history file has {line:?}:\n{saved}");
    }
    shell.next_run();
    shell.tmux.key("Up");
    shell.expect_edited("quit");
    shell.tmux.key("Up");
    shell.expect_edited("deleteall /edit");
    shell.tmux.key("Up");
    shell.expect_edited("history");
    shell.tmux.key("Down");
    shell.expect_edited("deleteall /edit");
    assert_eq!(shell.enter("deleteall /edit"), "Node does not exist: /edit\n");
    // Ctrl-D on an empty line ends the shell like `quit`.
    shell.tmux.key("C-d");
    let view = shell.wait("the shell to exit", |s| s.contains("EXIT="));
    // The line editor ends the prompt's line, then the session closes as with `quit`.
    assert_eq!(exit_transcript(&shell.after_prompt(&view)), format!("\n{CLOSED}"), "{view}");
}

/// `--json` interactive: one JSON object per command result and per notification.
#[test]
fn json_mode_through_a_terminal() {
    let server = common::paddock();
    let mut shell = Shell::start(&server, "--json", 1);
    let first = shell.view();
    assert_eq!(
        first.lines().next().map(serde_json::from_str::<Value>).and_then(Result::ok),
        Some(json!({ "event": { "state": "SyncConnected", "type": "None", "path": null } })),
        "{first}"
    );
    let object = |text: &str| -> Value {
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {text:?}"))
    };

    assert_eq!(
        object(&shell.run("create /json x")),
        json!({ "command": "create", "path": "/json", "created": "/json" })
    );
    assert_eq!(object(&shell.run("get -w /json")), json!({ "command": "get", "path": "/json", "data": "x" }));
    one_shot(&server, &["set", "/json", "y"]);
    let event = json!({ "event": { "state": "SyncConnected", "type": "NodeDataChanged", "path": "/json" } });
    let view = shell.wait("the JSON notification", |s| {
        serde_json::from_str::<Value>(shell.after_prompt(s).trim()).is_ok_and(|value| value.is_object())
    });
    assert_eq!(object(&shell.after_prompt(&view)), event, "{view}");
    shell.idle = shell.after_prompt(&view);
    let listed = object(&shell.run("ls -s /json"));
    assert_eq!((&listed["children"], &listed["stat"]["version"]), (&json!([]), &json!(1)), "{listed}");
    assert_eq!(object(&shell.run("get")), json!({ "command": "get", "code": "usage", "error": "get [-s] [-w] path" }));
    assert_eq!(
        object(&shell.run("frob")),
        json!({ "command": "frob", "code": "unknown_command", "error": "Command not found: frob" })
    );
    assert_eq!(
        object(&shell.run("get /json/nope")),
        json!({ "command": "get", "path": "/json/nope", "code": "NoNode", "error": "Node does not exist: /json/nope" })
    );
    // The watch fired once: this write prints its result and no notification.
    let lines: Vec<Value> = shell.run("set /json z").lines().map(object).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!((&lines[0]["command"], &lines[0]["stat"]["version"]), (&json!("set"), &json!(2)), "{lines:?}");
    assert_eq!(object(&shell.run("delete /json")), json!({ "command": "delete", "path": "/json" }));

    let rest = shell.quit();
    let lines: Vec<&str> = rest.lines().collect();
    assert_eq!(lines.first().map(|l| object(l)), Some(json!({ "command": "quit" })), "{rest}");
    assert_eq!(
        lines.get(1).map(|l| object(l)),
        Some(json!({ "event": { "state": "Closed", "type": "None", "path": null } })),
        "{rest}"
    );
    assert_eq!(lines.get(2), Some(&"EXIT=0"), "{rest}");
}

/// The same shell against Apache ZooKeeper: the prompt, a few commands, a watch, Tab completion and quit.
#[test]
fn against_apache_zookeeper_through_a_terminal() {
    let server = common::zookeeper();
    let mut shell = Shell::start(&server, "", 1);
    assert!(
        shell.view().starts_with(&format!(
            "Connecting to {server}\n\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n"
        )),
        "{}",
        shell.view()
    );
    shell.expect("create /tty hello", "Created /tty\n");
    shell.expect("create /tty/completion-target x", "Created /tty/completion-target\n");
    shell.expect("ls /tty", "[completion-target]\n");
    shell.expect("get -w /tty", "hello\n");
    shell.expect("set /tty world", &event("NodeDataChanged", "/tty"));
    shell.tmux.type_text("get /tty/comp");
    shell.tmux.key("Tab");
    shell.expect_edited("get /tty/completion-target");
    assert_eq!(shell.enter("get /tty/completion-target"), "x\n");
    shell.expect("get -s /tty", &format!("world\n{}", stat_block(1, 1, 0, false, 5, 1)));
    shell.expect("set -v 7 /tty x", "version No is not valid : /tty\n");
    shell.expect("reconfig -add 2=127.0.0.1:2888:3888;2181", "KeeperErrorCode = Reconfig is disabled\n");
    shell.expect("get", "get [-s] [-w] path\n");
    shell.expect("deleteall /tty", "");
    shell.expect("ls /tty", "Node does not exist: /tty\n");
    assert_eq!(shell.quit(), CLOSED);
}

/// `close` (the prompt shows `CLOSED`; commands print `Not connected`), `connect` again (the node made
/// before is still there, its ephemeral child is not), `connect` with a chroot (commands and Tab completion
/// work under it), to an unreachable server (`CONNECTING`, commands fail with `ConnectionLoss`) and with a
/// malformed connect string (the session stays), `connect` alone (the same servers again), and `redo` of
/// earlier lines, out of range, of a redo, with a bad or missing number, and while closed.
#[test]
fn connect_close_and_redo_through_a_terminal() {
    let server = common::paddock();
    let mut shell = Shell::start(&server, "", 1);
    let switched = format!("{SESSION_CLOSED}{SESSION_CONNECTED}");

    shell.expect("create /relink x", "Created /relink\n");
    shell.expect("create -e /relink/eph e", "Created /relink/eph\n");
    shell.expect_switch("close", &server, "CLOSED", SESSION_CLOSED);
    shell.expect("ls /relink", "Not connected\n");
    shell.expect("get /relink", "Not connected\n");
    shell.expect("close", "Not connected\n");
    // zkCli's own commands do their work, then say they have no session.
    shell.expect("printwatches", "printwatches is on\nNot connected\n");
    shell.expect_switch(&format!("connect {server}"), &server, "CONNECTED", SESSION_CONNECTED);
    shell.expect("ls /relink", "[]\n");
    shell.expect("get /relink", "x\n");

    let chroot = format!("{server}/relink");
    shell.expect_switch(&format!("connect {chroot}"), &chroot, "CONNECTED", &switched);
    shell.expect("create /inside y", "Created /inside\n");
    let listed = shell.count;
    shell.expect("ls /", "[inside]\n");
    shell.tmux.type_text("get /ins");
    shell.tmux.key("Tab");
    shell.expect_edited("get /inside");
    assert_eq!(shell.enter("get /inside"), "y\n");

    let redone = shell.count;
    shell.expect(&format!("redo {listed}"), "[inside]\n");
    let out_of_range = shell.count;
    shell.expect(&format!("redo {out_of_range}"), "Command index out of range\n");
    shell.expect(&format!("redo {out_of_range}"), "No redoing redos\n");
    shell.expect("redo -1", "Command index out of range\n");
    shell.expect("redo", "redo cmdno\n");
    shell.expect("redo one", "redo cmdno\n");
    // A redo takes the place of its line in the history; a failed one stays as typed.
    let history = shell.run("history");
    assert!(history.contains(&format!("\n{redone} - ls /\n{out_of_range} - redo {out_of_range}\n")), "{history}");

    shell.expect(
        "connect 127.0.0.1:port",
        "Invalid connect string 127.0.0.1:port: invalid address\nconnect host:port\n",
    );
    shell.expect("ls /", "[inside]\n");
    shell.expect_switch("connect 127.0.0.1:1", "127.0.0.1:1", "CONNECTING", SESSION_CLOSED);
    shell.expect("ls /", "KeeperErrorCode = ConnectionLoss for /\n");
    shell.expect_switch(&format!("connect {server}"), &server, "CONNECTED", &switched);
    shell.expect("ls /relink", "[inside]\n");

    let got = shell.count;
    shell.expect("get /relink/inside", "y\n");
    shell.expect_switch("close", &server, "CLOSED", SESSION_CLOSED);
    // The redone command is refused, then the redo itself.
    shell.expect(&format!("redo {got}"), "Not connected\nNot connected\n");
    shell.expect_switch("connect", &server, "CONNECTED", SESSION_CONNECTED);
    shell.expect(&format!("redo {got}"), "y\n");
    shell.expect("deleteall /relink", "");
    assert_eq!(shell.quit(), CLOSED);
}
