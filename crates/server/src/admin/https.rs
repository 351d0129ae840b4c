//! HTTPS for the AdminServer, configured as ZooKeeper's `JettyAdminServer` is: `admin.forceHttps` serves
//! HTTPS only, `admin.portUnification` serves HTTPS and HTTP on the one port, and both use the quorum's
//! key and trust stores (`ssl.quorum.keyStore.*`, `ssl.quorum.trustStore.*`). Clients are not asked for a
//! certificate: admin commands authenticate with their `Authorization` header.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use crate::config::ServerConfig;
use crate::tls::{StoreSpec, TlsSettings};

/// A handshake must finish within this, so that a client that never finishes one holds the (serial) accept
/// loop only this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether and how the AdminServer speaks TLS.
pub struct AdminTls {
    acceptor: TlsAcceptor,
    /// `admin.portUnification`: plain HTTP is served too.
    unified: bool,
}

impl AdminTls {
    /// `None` unless `admin.forceHttps` or `admin.portUnification` is set. An error names the key or file.
    pub fn from_config(config: &ServerConfig) -> Result<Option<AdminTls>, String> {
        let flag = |key: &str| config.raw.get(key).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let (force, unified) = (flag("admin.forceHttps"), flag("admin.portUnification"));
        if !force && !unified {
            return Ok(None);
        }
        let store = TlsSettings::store_of(config, "ssl.quorum.keyStore")?.ok_or_else(|| {
            "admin.forceHttps and admin.portUnification need ssl.quorum.keyStore.location (as ZooKeeper's)".to_string()
        })?;
        Ok(Some(AdminTls { acceptor: acceptor(&store)?, unified: unified && !force }))
    }

    /// The listener for axum: it completes each TLS handshake (or passes plain HTTP through when unified)
    /// before handing the connection over.
    pub fn listener(self, tcp: TcpListener) -> AdminListener {
        AdminListener { tcp, tls: Arc::new(self) }
    }
}

fn acceptor(store: &StoreSpec) -> Result<TlsAcceptor, String> {
    let identity = store.load_identity()?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)
        .map_err(|e| format!("{}: the key does not fit its certificate: {e}", store.location.display()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Either a TLS or a plain connection, as axum serves it.
pub trait AdminIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AdminIo for T {}

pub struct AdminListener {
    tcp: TcpListener,
    tls: Arc<AdminTls>,
}

impl axum::serve::Listener for AdminListener {
    type Io = Box<dyn AdminIo>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, peer) = match self.tcp.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    debug!("admin accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if self.tls.unified && !crate::tls::starts_tls(&stream).await {
                return (Box::new(stream), peer);
            }
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.tls.acceptor.accept(stream)).await {
                Ok(Ok(tls)) => return (Box::new(tls), peer),
                Ok(Err(e)) => debug!(peer = %peer, "admin TLS handshake failed: {e}"),
                Err(_) => debug!(peer = %peer, "no admin TLS handshake within {HANDSHAKE_TIMEOUT:?}"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
