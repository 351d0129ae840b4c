//! Opening a client session, retrying while no server accepts it yet (a server still starting answers
//! `ruok` before it serves sessions) until a deadline, rather than hanging on a dead server forever as
//! zkCli does.

use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{Client, Error, StateWatcher};

/// How long closing sessions may take before giving up on the servers' confirmation.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);
/// Pause between attempts when every server refused.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Connects to `server` (a ZooKeeper connect string) with the given session timeout, trying until
/// `limit` has passed.
pub(crate) async fn connect(server: &str, session_timeout: Duration, limit: Duration) -> Result<Client, String> {
    let deadline = Instant::now() + limit;
    loop {
        let connector = Client::connector().with_session_timeout(session_timeout).with_fail_eagerly();
        let error = match tokio::time::timeout_at(deadline, connector.connect(server)).await {
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(error)) => error,
            Err(_) => return Err(format!("Unable to connect to {server}: timed out after {limit:?}")),
        };
        let retry = matches!(error, Error::NoHosts | Error::ConnectionLoss | Error::Timeout);
        if !retry || Instant::now() + RETRY_PAUSE >= deadline {
            return Err(format!("Unable to connect to {server}: {error}"));
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// Waits until the sessions behind `states` are closed, once every client of theirs has been dropped: the
/// client library closes a session in the background, and a process that exits first leaves the session
/// (and its ephemeral nodes) to expire on the server instead.
pub(crate) async fn wait_closed(states: Vec<StateWatcher>) {
    let all_closed = async {
        for mut states in states {
            while !states.peek_state().is_terminated() {
                states.changed().await;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_LIMIT, all_closed).await;
}
