//! A server child process: its log file, readiness wait, signals and reaping.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::spawner;

/// How much of a log goes into error messages.
const LOG_TAIL_LINES: usize = 60;
/// How long a server gets to exit after SIGTERM when a test drops it without asking.
pub(crate) const DROP_GRACE: Duration = Duration::from_secs(5);

/// A running (or exited, not yet forgotten) server process whose stdout and stderr go to `log`.
pub(crate) struct ServerChild {
    child: Child,
    log: PathBuf,
}

impl ServerChild {
    /// Starts `command` with stdout and stderr appended to `log`, after a marker line saying what runs.
    pub(crate) fn spawn(mut command: Command, log: &Path) -> anyhow::Result<ServerChild> {
        let program = command.get_program().to_string_lossy().into_owned();
        let mut file = open_log(log)?;
        writeln!(file, "==== paddock-testkit: starting {command:?}")?;
        let stderr = file.try_clone().context("cannot duplicate the log file handle")?;
        command.stdin(Stdio::null()).stdout(file).stderr(stderr);
        let child = spawner::spawn(command).with_context(|| format!("cannot start {program}"))?;
        Ok(ServerChild { child, log: log.to_path_buf() })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has exited (reaping it), `None` while it runs.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Polls `ready` until it holds, failing early with the log tail if the process exits or the deadline
    /// passes.
    pub(crate) fn wait_until(
        &mut self,
        what: &str,
        limit: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                bail!("{what} exited during startup ({status}); log tail:\n{}", self.log_tail());
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("{what} not ready after {limit:?}; log tail:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, then reap.
    pub(crate) fn kill9(&mut self) -> Option<ExitStatus> {
        if self.exited().is_none() {
            self.signal(libc::SIGKILL);
        }
        self.child.wait().ok()
    }

    /// SIGTERM, wait up to `grace`; `Err` (after a SIGKILL) when the process did not exit in time.
    pub(crate) fn terminate(&mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.exited() {
            return Ok(status);
        }
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
        bail!(
            "process {} did not exit within {grace:?} of SIGTERM and was killed; log tail:\n{}",
            self.pid(),
            self.log_tail()
        )
    }

    /// Best-effort stop for destructors: SIGTERM, then SIGKILL after `DROP_GRACE`.
    pub(crate) fn stop_quietly(&mut self) {
        let _ = self.terminate(DROP_GRACE);
    }

    pub(crate) fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    fn signal(&self, signal: libc::c_int) {
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else { return };
        // SAFETY: kill(2) has no memory-safety preconditions. The pid is our unreaped child, so it cannot
        // have been recycled for another process.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// The whole log as text (lossy UTF-8), or an empty string if it cannot be read.
pub(crate) fn read_log(log: &Path) -> String {
    std::fs::read(log).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
}

/// The last lines of a log, for error messages, after any panic it recorded earlier (a panic's message
/// scrolls out of the tail behind the errors that follow it).
pub(crate) fn log_tail(log: &Path) -> String {
    let text = read_log(log);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate().take(start) {
        if line.contains("panicked at") {
            let end = (i + 3).min(start);
            out.push_str(&format!("(earlier) {}\n", lines[i..end].join("\n")));
        }
    }
    out + &lines.get(start..).unwrap_or_default().join("\n")
}

/// Writes a `zoo.cfg`: `defaults` first, each overridden in place by an `extra` entry with the same key,
/// then the remaining `extra` entries in order.
pub(crate) fn write_config(path: &Path, defaults: &[(&str, String)], extra: &[(&str, &str)]) -> anyhow::Result<()> {
    let mut entries: Vec<(String, String)> = defaults.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    for (key, value) in extra {
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = (*value).to_owned(),
            None => entries.push(((*key).to_owned(), (*value).to_owned())),
        }
    }
    let text: String = entries.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn open_log(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open log file {}", path.display()))
}
