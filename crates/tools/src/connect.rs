//! Opening a client session, retrying while no server accepts it yet (a server still starting answers
//! `ruok` before it serves sessions) until a deadline, rather than hanging on a dead server forever as
//! zkCli does.

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{Client, Error, StateWatcher, TlsOptions};

/// How long closing sessions may take before giving up on the servers' confirmation.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);
/// Pause between attempts when every server refused.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// TLS to a server's `secureClientPort`: the CA that signed the server's certificate and, for a server
/// with `ssl.clientAuth=need` (ZooKeeper's default), the client's own certificate and key; PEM files.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsArgs {
    /// Connect over TLS, trusting the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// The client's certificate chain (PEM), presented to the server; needs --tls-key and --tls-ca.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM, unencrypted).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The client's TLS settings, `None` for a plain connection; an unreadable file is named.
    pub(crate) fn options(&self) -> Result<Option<TlsOptions>, String> {
        let Some(ca) = &self.tls_ca else { return Ok(None) };
        let read =
            |path: &PathBuf| std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
        let mut options =
            TlsOptions::new().with_pem_ca(&read(ca)?).map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?;
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            options = options
                .with_pem_identity(&read(cert)?, &read(key)?)
                .map_err(|e| format!("--tls-cert/--tls-key {}: {e}", cert.display()))?;
        }
        Ok(Some(options))
    }
}

/// Connects to `server` (a ZooKeeper connect string), over TLS when `tls` is given, with the given session
/// timeout, trying until `limit` has passed.
pub(crate) async fn connect(
    server: &str,
    tls: Option<&TlsOptions>,
    session_timeout: Duration,
    limit: Duration,
) -> Result<Client, String> {
    let deadline = Instant::now() + limit;
    loop {
        let connector = Client::connector().with_session_timeout(session_timeout).with_fail_eagerly();
        let attempt = async {
            match tls {
                Some(tls) => connector.with_tls(tls.clone()).secure_connect(server).await,
                None => connector.connect(server).await,
            }
        };
        let error = match tokio::time::timeout_at(deadline, attempt).await {
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
