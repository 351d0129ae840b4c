//! One client session of the shell: the `zookeeper-client` session, the watches set through it, the task
//! reporting its state changes (zkCli's `WATCHER::` lines for `Closed`, `Disconnected`...), and the
//! commands that need a server, run into [`Reply`] values.

use std::time::Duration;

use zookeeper_client::{Acl, Acls, Client, EnsembleUpdate, Error, SessionState, StateWatcher};

use super::command::{Command, Reconfig, WatchFilter};
use super::errors::ShellError;
use super::events::{EventSink, ShellEvent};
use super::quota;
use super::session::Reply;
use super::watches::{WatchKind, Watches};
use crate::subtree;

/// How long closing a session may take before the shell gives up waiting for the server's answer.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);
/// How long one attempt to open a session (for `connect`, or a command while `CONNECTING`) may take.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(5);

/// Why an attempt to open a session failed.
pub(crate) enum Refused {
    /// The connect string itself is wrong (the client library's reason).
    Malformed(&'static str),
    /// No server accepted a session.
    Unreachable,
}

/// An open client session (connected, or reconnecting after losing its server).
pub(crate) struct Connection {
    client: Client,
    watches: Watches,
    state_task: tokio::task::JoinHandle<()>,
}

impl Connection {
    /// Opens a session to `server` (a ZooKeeper connect string, optionally with a chroot), retrying until
    /// `limit` while no server accepts it.
    pub async fn open(server: &str, timeout: Duration, limit: Duration, sink: EventSink) -> Result<Connection, String> {
        let client = crate::connect::connect(server, None, timeout, limit).await?;
        Ok(Connection::new(client, sink))
    }

    /// One attempt to open a session, as zkCli's `connect` makes before going on in the background.
    pub async fn attempt(server: &str, timeout: Duration, sink: EventSink) -> Result<Connection, Refused> {
        let connector = Client::connector().with_session_timeout(timeout).with_fail_eagerly();
        match tokio::time::timeout(ATTEMPT_LIMIT, connector.connect(server)).await {
            Ok(Ok(client)) => Ok(Connection::new(client, sink)),
            Ok(Err(Error::BadArguments(reason))) => Err(Refused::Malformed(reason)),
            Ok(Err(_)) | Err(_) => Err(Refused::Unreachable),
        }
    }

    fn new(client: Client, sink: EventSink) -> Connection {
        let state_task = tokio::spawn(report_session_states(client.state_watcher(), sink.clone()));
        Connection { client, watches: Watches::new(sink), state_task }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// zkCli's name for the session state, as shown in the prompt.
    pub fn state_name(&self) -> &'static str {
        match self.client.state() {
            SessionState::SyncConnected => "CONNECTED",
            SessionState::ConnectedReadOnly => "CONNECTEDREADONLY",
            SessionState::Disconnected => "CONNECTING",
            SessionState::AuthFailed => "AUTH_FAILED",
            SessionState::Expired | SessionState::Closed => "CLOSED",
        }
    }

    /// Whether the session can still serve requests (zkCli's `isAlive`: not closed, expired or refused).
    pub fn is_alive(&self) -> bool {
        !self.client.state().is_terminated()
    }

    /// Whether this session has watches set (so notifications may be on their way).
    pub fn has_watches(&self) -> bool {
        !self.watches.is_empty()
    }

    /// Closes the session and waits (briefly) for the server to confirm, so ephemeral nodes go at once;
    /// the state task reports the `Closed` state on the way.
    pub async fn close(self) {
        let Connection { client, watches, state_task } = self;
        drop((client, watches));
        let _ = tokio::time::timeout(CLOSE_LIMIT, state_task).await;
    }

    /// Runs a command that needs the server.
    pub async fn execute(&mut self, command: &Command) -> Result<Reply, ShellError> {
        match command {
            Command::Ls { path, stat, watch, recursive } => self.ls(path, *stat, *watch, *recursive).await,
            Command::Get { path, stat, watch } => self.get(path, *stat, *watch).await,
            Command::Set { path, data, stat, version } => {
                let written = self.client.set_data(path, data, *version).await;
                Ok(Reply::Written { stat: written.map_err(|e| ShellError::keeper(e, path))?, show: *stat })
            }
            Command::Create { path, data, mode, ttl, acl } => {
                let acls = acl.as_deref().map(Acls::new).unwrap_or(Acls::anyone_all());
                let options = mode.with_acls(acls);
                let options = match ttl {
                    Some(ttl) => options.with_ttl(*ttl),
                    None => options,
                };
                let (_, sequence) =
                    self.client.create(path, data, &options).await.map_err(|e| ShellError::keeper(e, path))?;
                let sequential = sequence.into_i64() >= 0;
                Ok(Reply::Created(if sequential { format!("{path}{sequence}") } else { path.clone() }))
            }
            Command::Delete { path, version } => {
                self.client.delete(path, *version).await.map_err(|e| ShellError::keeper(e, path))?;
                Ok(Reply::Nothing)
            }
            Command::DeleteAll { path, batch } => {
                let outcome = subtree::delete_recursive(&self.client, path, *batch).await;
                match outcome.map_err(|e| ShellError::keeper(e, path))? {
                    deleted if deleted.failed > 0 => {
                        Err(ShellError::Message("Failed to delete some node(s) in the subtree!".to_owned()))
                    }
                    _ => Ok(Reply::Nothing),
                }
            }
            Command::Stat { path, watch } => self.stat(path, *watch).await,
            Command::GetAcl { path, stat } => {
                let (acl, node) = self.client.get_acl(path).await.map_err(|e| ShellError::keeper(e, path))?;
                Ok(Reply::Acl { acl, stat: stat.then_some(node) })
            }
            Command::SetAcl { path, acl, stat, version, recursive } => {
                self.set_acl(path, acl, *stat, *version, *recursive).await
            }
            Command::AddAuth { scheme, auth } => {
                self.client.auth(scheme, auth).await.map_err(|error| ShellError::Keeper { error, path: None })?;
                Ok(Reply::Nothing)
            }
            Command::Sync { path } => {
                self.client.sync(path).await.map_err(|e| ShellError::keeper(e, path))?;
                Ok(Reply::Synced)
            }
            Command::GetEphemerals { path } => {
                let ephemerals = self.client.list_ephemerals(path).await.map_err(|e| ShellError::keeper(e, path))?;
                Ok(Reply::Ephemerals(ephemerals))
            }
            Command::GetAllChildrenNumber { path } => {
                let count = self.client.count_descendants_number(path).await;
                Ok(Reply::Count(count.map_err(|e| ShellError::keeper(e, path))?))
            }
            Command::WhoAmI => {
                let users = self.client.list_auth_users().await;
                Ok(Reply::WhoAmI(users.map_err(|error| ShellError::Keeper { error, path: None })?))
            }
            Command::AddWatch { path, mode } => {
                let watcher = self.client.watch(path, *mode).await.map_err(|e| ShellError::keeper(e, path))?;
                self.watches.add_persistent(path, watcher);
                Ok(Reply::Nothing)
            }
            Command::RemoveWatches { path, which } => self.remove_watches(path, *which).await,
            Command::Config { client_form, watch, stat } => self.config(*client_form, *watch, *stat).await,
            Command::Reconfig { update, version, stat } => self.reconfig(update, *version, *stat).await,
            Command::SetQuota { path, kind, limit } => {
                quota::set(&self.client, path, *kind, *limit).await.map(Reply::Quota)
            }
            Command::ListQuota { path } => quota::list(&self.client, path).await.map(Reply::Quota),
            Command::DelQuota { path, kind } => quota::delete(&self.client, path, *kind).await.map(Reply::Quota),
            // The shell's own commands never reach a connection: Session::execute runs them.
            _ => Ok(Reply::Nothing),
        }
    }

    async fn ls(&mut self, path: &str, stat: bool, watch: bool, recursive: bool) -> Result<Reply, ShellError> {
        let fail = |e| ShellError::keeper(e, path);
        if recursive {
            return self.ls_recursive(path, watch).await.map(Reply::Tree).map_err(fail);
        }
        let (mut children, node) = match (stat, watch) {
            (false, false) => (self.client.list_children(path).await.map_err(fail)?, None),
            (true, false) => {
                let (children, node) = self.client.get_children(path).await.map_err(fail)?;
                (children, Some(node))
            }
            (false, true) => {
                let (children, watcher) = self.client.list_and_watch_children(path).await.map_err(fail)?;
                self.watches.add_oneshot(path, WatchKind::Child, watcher);
                (children, None)
            }
            (true, true) => {
                let (children, node, watcher) = self.client.get_and_watch_children(path).await.map_err(fail)?;
                self.watches.add_oneshot(path, WatchKind::Child, watcher);
                (children, Some(node))
            }
        };
        children.sort();
        Ok(Reply::Children { children, stat: node })
    }

    /// zkCli's `ls -R` order: a node's sorted children, then each child's subtree in turn.
    async fn ls_recursive(&mut self, root: &str, watch: bool) -> Result<Vec<String>, zookeeper_client::Error> {
        if watch {
            let (_, _, watcher) = self.client.get_and_watch_data(root).await?;
            self.watches.add_oneshot(root, WatchKind::Data, watcher);
        } else {
            self.client.get_data(root).await?;
        }
        let mut tree = vec![root.to_owned()];
        let mut pending = vec![root.to_owned()];
        while let Some(path) = pending.pop() {
            let listed = if watch {
                self.client.list_and_watch_children(&path).await.map(|(children, watcher)| {
                    self.watches.add_oneshot(&path, WatchKind::Child, watcher);
                    children
                })
            } else {
                self.client.list_children(&path).await
            };
            let mut children = match listed {
                Ok(children) => children,
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) => return Err(e),
            };
            children.sort();
            let paths: Vec<String> = children.iter().map(|c| subtree::child_path(&path, c)).collect();
            tree.extend(paths.iter().cloned());
            pending.extend(paths.into_iter().rev());
        }
        Ok(tree)
    }

    async fn get(&mut self, path: &str, stat: bool, watch: bool) -> Result<Reply, ShellError> {
        let fail = |e| ShellError::keeper(e, path);
        let (data, node) = if watch {
            let (data, node, watcher) = self.client.get_and_watch_data(path).await.map_err(fail)?;
            self.watches.add_oneshot(path, WatchKind::Data, watcher);
            (data, node)
        } else {
            self.client.get_data(path).await.map_err(fail)?
        };
        Ok(Reply::Data { data, stat: stat.then_some(node) })
    }

    async fn stat(&mut self, path: &str, watch: bool) -> Result<Reply, ShellError> {
        let fail = |e| ShellError::keeper(e, path);
        let node = if watch {
            // Like zkCli, the watch is set even when the node does not exist (it then waits for creation).
            let (node, watcher) = self.client.check_and_watch_stat(path).await.map_err(fail)?;
            self.watches.add_oneshot(path, WatchKind::Data, watcher);
            node
        } else {
            self.client.check_stat(path).await.map_err(fail)?
        };
        node.map(Reply::Stat).ok_or_else(|| fail(zookeeper_client::Error::NoNode))
    }

    async fn set_acl(
        &mut self,
        path: &str,
        acl: &[Acl],
        stat: bool,
        version: Option<i32>,
        recursive: bool,
    ) -> Result<Reply, ShellError> {
        if !recursive {
            let node = self.client.set_acl(path, acl, version).await.map_err(|e| ShellError::keeper(e, path))?;
            return Ok(Reply::Written { stat: node, show: stat });
        }
        let tree = self.ls_recursive(path, false).await.map_err(|e| ShellError::keeper(e, path))?;
        let pending: Vec<_> = tree.iter().map(|p| self.client.set_acl(p, acl, version)).collect();
        let mut failures = Vec::new();
        for (p, reply) in tree.iter().zip(pending) {
            if let Err(e) = reply.await {
                failures.push(super::errors::keeper_message(&e, Some(p)));
            }
        }
        if failures.is_empty() { Ok(Reply::Nothing) } else { Err(ShellError::Message(failures.join("\n"))) }
    }

    async fn remove_watches(&mut self, path: &str, which: WatchFilter) -> Result<Reply, ShellError> {
        // Like the Java client, a watch this session never set is an error found without asking the server.
        if self.watches.remove(path, which).await.is_empty() {
            return Err(ShellError::keeper(zookeeper_client::Error::NoWatcher, path));
        }
        Ok(Reply::Nothing)
    }

    async fn config(&mut self, client_form: bool, watch: bool, stat: bool) -> Result<Reply, ShellError> {
        let fail = |error| ShellError::Keeper { error, path: Some("/zookeeper/config".to_owned()) };
        let (data, node) = if watch {
            let (data, node, watcher) = self.client.get_and_watch_config().await.map_err(fail)?;
            self.watches.add_oneshot("/zookeeper/config", WatchKind::Data, watcher);
            (data, node)
        } else {
            self.client.get_config().await.map_err(fail)?
        };
        let text = String::from_utf8_lossy(&data).into_owned();
        let text = if client_form { client_config(&text) } else { text };
        Ok(Reply::Config { text, stat: stat.then_some(node) })
    }

    async fn reconfig(&mut self, update: &Reconfig, version: Option<i64>, stat: bool) -> Result<Reply, ShellError> {
        let result = match update {
            Reconfig::Incremental { joining, leaving } => {
                let update = EnsembleUpdate::Incremental {
                    joinings: joining.iter().map(String::as_str),
                    leavings: leaving.iter().map(String::as_str),
                };
                self.client.update_ensemble(update, version).await
            }
            Reconfig::New { members } => {
                let update = EnsembleUpdate::New { ensemble: members.iter().map(String::as_str) };
                self.client.update_ensemble(update, version).await
            }
        };
        let (data, node) = result.map_err(|error| ShellError::Keeper { error, path: None })?;
        Ok(Reply::Reconfigured { text: String::from_utf8_lossy(&data).into_owned(), stat: stat.then_some(node) })
    }
}

/// zkCli's `config -c`: the config version and the servers' client addresses, `version host:port,...`.
fn client_config(config: &str) -> String {
    let mut version = "";
    let mut clients = Vec::new();
    for line in config.lines() {
        let Some((key, value)) = line.split_once('=') else { continue };
        if key.trim() == "version" {
            version = value.trim();
        } else if key.trim().starts_with("server.")
            && let Some(address) = client_address(value.trim())
        {
            clients.push(address);
        }
    }
    format!("{version} {}", clients.join(","))
}

/// The client address of a `host:quorumPort:electionPort[:role];[clientHost:]clientPort` server entry.
fn client_address(entry: &str) -> Option<String> {
    let (server, client) = entry.split_once(';')?;
    if client.contains(':') {
        return Some(client.to_owned());
    }
    let host = server.split(':').next()?;
    Some(format!("{host}:{client}"))
}

/// Reports session state changes after the initial connection, like zkCli's default watcher.
async fn report_session_states(mut states: StateWatcher, sink: EventSink) {
    loop {
        let state = states.changed().await;
        sink.emit(ShellEvent::session(state));
        if state.is_terminated() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_config_form() {
        assert_eq!(client_config(""), " ");
        let config =
            "server.1=10.0.0.1:2888:3888:participant;0.0.0.0:2181\nserver.2=h2:2888:3888;2182\nversion=100000000";
        assert_eq!(client_config(config), "100000000 0.0.0.0:2181,h2:2182");
    }
}
