//! `paddock shell` interactive, through a real pseudo-terminal (tmux), against Apache ZooKeeper: the
//! zkCli prompt, create/ls/get/set/delete/quit, a watch notification, Tab completion of a znode path and
//! the history file. Runs the `paddock` binary: `$PADDOCK_BIN`, else the workspace's target/debug/paddock
//! (build it first with `cargo build -p paddock`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the screen may take to show what a step expects.
const STEP_LIMIT: Duration = Duration::from_secs(20);

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

/// A tmux server of our own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let tmux = Tmux { socket: format!("paddock-tools-test-{}", std::process::id()) };
        tmux.run(&["new-session", "-d", "-x", "160", "-y", "50", command]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux must be installed (scripts/install-test-deps)");
        assert!(output.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Everything the pane showed, without the empty rows below the cursor.
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-J", "-S", "-"]).trim_end_matches('\n').to_owned()
    }

    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-l", text]);
    }

    fn key(&self, key: &str) {
        self.run(&["send-keys", key]);
    }

    /// Waits until the screen satisfies `done`, failing with the screen after [`STEP_LIMIT`].
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).output();
    }
}

/// Types a command line and waits for the prompt numbered `next` that follows it.
fn command(tmux: &Tmux, line: &str, next: usize) -> String {
    tmux.type_text(line);
    tmux.key("Enter");
    tmux.wait_for(&format!("prompt {next} after `{line}`"), |s| s.contains(&format!("(CONNECTED) {next}] ")))
}

/// The screen's text after the last occurrence of `marker`.
fn after<'a>(screen: &'a str, marker: &str) -> &'a str {
    screen.rfind(marker).map_or("", |at| &screen[at + marker.len()..])
}

#[test]
fn interactive_session_through_a_terminal() {
    let binary = paddock_binary();
    let server = common::zookeeper();
    let home = tempfile::tempdir().expect("temp dir");
    let tmux = Tmux::start(&format!(
        "env HOME={} TERM=xterm {} shell --server {server}; echo EXIT=$?; sleep 60",
        home.path().display(),
        binary.display()
    ));
    let prompt = |n: usize| format!("[zk: {server}(CONNECTED) {n}] ");
    let screen = tmux.wait_for("the first prompt", |s| s.contains(&prompt(0)));
    assert!(
        screen.starts_with(&format!(
            "Connecting to {server}\n\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n"
        )),
        "{screen}"
    );

    let screen = command(&tmux, "create /tty hello", 1);
    assert_eq!(after(&screen, &format!("{}create /tty hello\n", prompt(0))), format!("Created /tty\n{}", prompt(1)));
    command(&tmux, "create /tty/completion-target x", 2);
    let screen = command(&tmux, "ls /tty", 3);
    assert!(after(&screen, "ls /tty\n").starts_with("[completion-target]\n"), "{screen}");
    let screen = command(&tmux, "get -w /tty", 4);
    assert!(after(&screen, "get -w /tty\n").starts_with("hello\n"), "{screen}");
    let screen = command(&tmux, "set /tty world", 5);
    assert!(
        after(&screen, "set /tty world\n")
            .contains("WATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/tty\n"),
        "{screen}"
    );

    // Tab completes the path from the children of /tty.
    tmux.type_text("get /tty/comp");
    tmux.key("Tab");
    tmux.wait_for("the completed path", |s| s.ends_with(&format!("{}get /tty/completion-target", prompt(5))));
    tmux.key("Enter");
    let screen = tmux.wait_for("prompt 6", |s| s.contains(&prompt(6)));
    assert!(after(&screen, "get /tty/completion-target\n").starts_with("x\n"), "{screen}");

    let screen = command(&tmux, "get /tty", 7);
    assert!(after(&screen, "get /tty\n").starts_with("world\n"), "{screen}");
    command(&tmux, "delete /tty/completion-target", 8);
    command(&tmux, "delete /tty", 9);
    let screen = command(&tmux, "ls /tty", 10);
    assert!(after(&screen, "ls /tty\n").starts_with("Node does not exist: /tty\n"), "{screen}");

    tmux.type_text("quit");
    tmux.key("Enter");
    let screen = tmux.wait_for("the shell to exit", |s| s.contains("EXIT="));
    assert!(after(&screen, "quit\n").contains("WatchedEvent state:Closed type:None path:null\nEXIT=0"), "{screen}");

    let history = std::fs::read_to_string(home.path().join(".paddock_history")).expect("history file");
    for line in ["create /tty hello", "get /tty/completion-target", "quit"] {
        assert!(history.lines().any(|l| l == line), "history has {line:?}:\n{history}");
    }
}
