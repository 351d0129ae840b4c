//! Opening a client session, retrying while no server accepts it yet (a server still starting answers
//! `ruok` before it serves sessions) until a deadline, rather than hanging on a dead server forever as
//! zkCli does.

use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{Client, Error};

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
