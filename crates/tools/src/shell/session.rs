//! The shell's session across connections: the servers it is connected to (the prompt's connect string),
//! whether its link to them is open, still connecting or closed, the commands typed so far (`history`,
//! `redo`), and running a parsed command into a [`Reply`] (what happened, not how it is printed).
//!
//! zkCli's `connect` returns at once and its client keeps trying in the background, so while no server
//! answers its prompt shows `CONNECTING` and every command fails with `ConnectionLoss`. This shell tries
//! once when `connect` runs and once more for each command that needs the server, which shows the same.

use std::time::Duration;

use zookeeper_client::{Acl, AuthUser, Client, Error, SessionState, Stat};

use super::command::{self, Command};
use super::connection::{Connection, Refused};
use super::errors::ShellError;
use super::events::{EventSink, ShellEvent};
use super::quota::QuotaReply;
use super::tokenize;

/// zkCli's `history` shows the last this many commands.
const HISTORY_SHOWN: usize = 11;
/// zkCli's `redo` of an entry not yet in the history, or of itself.
pub(crate) const OUT_OF_RANGE: &str = "Command index out of range";
/// zkCli's `redo` of a line that is itself a `redo`.
const NO_REDOING_REDOS: &str = "No redoing redos";

/// What a successful command produced.
#[derive(Debug)]
pub(crate) enum Reply {
    Nothing,
    Children {
        children: Vec<String>,
        stat: Option<Stat>,
    },
    Tree(Vec<String>),
    Data {
        data: Vec<u8>,
        stat: Option<Stat>,
    },
    Created(String),
    /// A write's resulting Stat; `show` when the user asked for it (`-s`).
    Written {
        stat: Stat,
        show: bool,
    },
    Stat(Stat),
    Acl {
        acl: Vec<Acl>,
        stat: Option<Stat>,
    },
    Ephemerals(Vec<String>),
    Count(usize),
    WhoAmI(Vec<AuthUser>),
    Synced,
    Config {
        text: String,
        stat: Option<Stat>,
    },
    Reconfigured {
        text: String,
        stat: Option<Stat>,
    },
    PrintWatches(bool),
    /// `setquota`, `listquota`, `delquota`.
    Quota(QuotaReply),
    /// `connect`: the connect string now shown in the prompt, and the state the new session is in.
    Connected {
        server: String,
        state: &'static str,
    },
    /// `close`.
    Closed,
    History(Vec<(usize, String)>),
    Version,
    Help,
    Quit,
}

/// Where the session stands with its servers.
enum Link {
    Open(Connection),
    /// No server answered the last attempt: commands that need one try again first.
    Connecting,
    /// After `close`: commands that need a session print `Not connected`.
    Closed,
}

/// The shell's session.
pub(crate) struct Session {
    /// The connect string, as zkCli's prompt shows it (with its chroot).
    server: String,
    timeout: Duration,
    link: Link,
    sink: EventSink,
    history: Vec<String>,
}

impl Session {
    /// Connects to `server` (a ZooKeeper connect string, optionally with a chroot), retrying for up to
    /// the session timeout while no server accepts the session.
    pub async fn connect(server: &str, timeout: Duration, sink: EventSink) -> Result<Session, String> {
        let connection = Connection::open(server, timeout, timeout, sink.clone()).await?;
        Ok(Session { server: server.to_owned(), timeout, link: Link::Open(connection), sink, history: Vec::new() })
    }

    /// The connect string of the current (or last) session.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The open session's client, if there is one.
    pub fn client(&self) -> Option<&Client> {
        match &self.link {
            Link::Open(connection) => Some(connection.client()),
            Link::Connecting | Link::Closed => None,
        }
    }

    /// zkCli's name for the session state, as shown in the prompt.
    pub fn state_name(&self) -> &'static str {
        match &self.link {
            Link::Open(connection) => connection.state_name(),
            Link::Connecting => "CONNECTING",
            Link::Closed => "CLOSED",
        }
    }

    /// zkCli's `isAlive`: anything but closed (by `close`, expiry or failed authentication).
    pub fn is_alive(&self) -> bool {
        match &self.link {
            Link::Open(connection) => connection.is_alive(),
            Link::Connecting => true,
            Link::Closed => false,
        }
    }

    /// Whether this session has watches set (so notifications may be on their way).
    pub fn has_watches(&self) -> bool {
        matches!(&self.link, Link::Open(connection) if connection.has_watches())
    }

    /// Notifications received and not yet printed.
    pub fn unprinted_events(&self) -> usize {
        self.sink.unprinted()
    }

    /// Remembers a command line for `history`.
    pub fn record(&mut self, line: &str) {
        self.history.push(line.to_owned());
    }

    /// zkCli's `redo index`: the history entry to run again, which also takes the place of the `redo`
    /// line itself (the last one recorded) in the history.
    pub fn recall(&mut self, index: i64) -> Result<String, ShellError> {
        let current = self.history.len().saturating_sub(1);
        let line = usize::try_from(index)
            .ok()
            .filter(|i| *i < current)
            .and_then(|i| self.history.get(i))
            .cloned()
            .ok_or_else(|| ShellError::Malformed(OUT_OF_RANGE.to_owned()))?;
        if tokenize::tokenize(&line).first().is_some_and(|name| name == "redo") {
            return Err(ShellError::Malformed(NO_REDOING_REDOS.to_owned()));
        }
        if let Some(entry) = self.history.last_mut() {
            entry.clone_from(&line);
        }
        Ok(line)
    }

    /// Closes the session (if still open) and waits (briefly) for the server to confirm, so ephemeral
    /// nodes go at once.
    pub async fn close(mut self) {
        self.shut().await;
    }

    pub async fn execute(&mut self, command: &Command) -> Result<Reply, ShellError> {
        if command.needs_live_session() && !self.is_alive() {
            return Err(ShellError::NotConnected);
        }
        match command {
            Command::Connect { server } => self.reconnect(server.clone()).await,
            Command::Close => {
                self.shut().await;
                Ok(Reply::Closed)
            }
            Command::PrintWatches { enable } => {
                match enable {
                    Some(enable) => self.sink.set_enabled(*enable),
                    None => return Ok(Reply::PrintWatches(self.sink.enabled())),
                }
                Ok(Reply::Nothing)
            }
            Command::History => {
                let start = self.history.len().saturating_sub(HISTORY_SHOWN);
                Ok(Reply::History(self.history.iter().cloned().enumerate().skip(start).collect()))
            }
            // A redo runs the line it recalls as a command of its own (see `shell::run_words`): only a
            // redo of a redo would get here.
            Command::Redo { .. } => Err(ShellError::Malformed(NO_REDOING_REDOS.to_owned())),
            Command::Version => Ok(Reply::Version),
            Command::Help => Ok(Reply::Help),
            Command::Quit => Ok(Reply::Quit),
            _ => self.live(command).await?.execute(command).await,
        }
    }

    /// zkCli's `connect`: closes the current session, then opens one to `server` (the current connect
    /// string again when `None`). The new session is tried first, so a malformed connect string (which
    /// ends zkCli with a stack trace) leaves the current session as it was.
    async fn reconnect(&mut self, server: Option<String>) -> Result<Reply, ShellError> {
        let server = server.unwrap_or_else(|| self.server.clone());
        let opened = match Connection::attempt(&server, self.timeout, self.sink.clone()).await {
            Ok(connection) => Some(connection),
            Err(Refused::Unreachable) => None,
            Err(Refused::Malformed(reason)) => {
                let detail = format!("Invalid connect string {server}: {reason}");
                return Err(ShellError::Usage { detail: Some(detail), usage: command::usage_line("connect") });
            }
        };
        self.shut().await;
        self.link = match opened {
            Some(connection) => {
                self.sink.emit(ShellEvent::session(SessionState::SyncConnected));
                Link::Open(connection)
            }
            None => Link::Connecting,
        };
        self.server = server;
        Ok(Reply::Connected { server: self.server.clone(), state: self.state_name() })
    }

    /// Ends the current link. zkCli's watcher reports `Closed` for a session it closes, connected or still
    /// connecting, and nothing for one already over.
    async fn shut(&mut self) {
        match std::mem::replace(&mut self.link, Link::Closed) {
            Link::Open(connection) => connection.close().await,
            Link::Connecting => self.sink.emit(ShellEvent::session(SessionState::Closed)),
            Link::Closed => {}
        }
    }

    /// The open connection for a command that needs the server, after one more attempt to open it when
    /// no server answered before; failing that, the command's `ConnectionLoss`.
    async fn live(&mut self, command: &Command) -> Result<&mut Connection, ShellError> {
        if matches!(self.link, Link::Connecting) {
            match Connection::attempt(&self.server, self.timeout, self.sink.clone()).await {
                Ok(connection) => {
                    self.sink.emit(ShellEvent::session(SessionState::SyncConnected));
                    self.link = Link::Open(connection);
                }
                Err(_) => {
                    let path = command.path().map(str::to_owned);
                    return Err(ShellError::Keeper { error: Error::ConnectionLoss, path });
                }
            }
        }
        match &mut self.link {
            Link::Open(connection) => Ok(connection),
            Link::Connecting | Link::Closed => Err(ShellError::NotConnected),
        }
    }
}
