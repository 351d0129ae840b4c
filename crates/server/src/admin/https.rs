//! HTTPS for the AdminServer, configured as ZooKeeper's `JettyAdminServer` is: `admin.forceHttps` serves
//! HTTPS only, `admin.portUnification` serves HTTPS and HTTP on the one port, and both use the quorum's
//! key and trust stores (`ssl.quorum.keyStore.*`, `ssl.quorum.trustStore.*`). Clients are not asked for a
//! certificate: admin commands authenticate with their `Authorization` header.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use crate::config::ServerConfig;
use crate::tls::{StoreSpec, TlsSettings};

/// A handshake must finish within this: a client that never finishes one holds a task and a socket only
/// this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Handshakes under way at once. A connection past this is closed at once: the AdminServer serves operators
/// and scrapers, a handful at a time, and a flood of stalled handshakes must not hold unbounded tasks.
const MAX_HANDSHAKES: usize = 64;
/// Connections whose handshake is done and that axum has not taken yet. Past this, finished handshakes wait
/// (holding their handshake permit), which stops new ones.
const READY_QUEUE: usize = 16;

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

    /// The listener for axum. Handshakes run concurrently, each in its own task (one client that trickles
    /// its hello must not hold up the others); a connection is handed over once its TLS handshake is done,
    /// or at once when it speaks plain HTTP on a unified port.
    pub fn listener(self, tcp: TcpListener) -> std::io::Result<AdminListener> {
        let local = tcp.local_addr()?;
        let (ready_tx, ready) = mpsc::channel(READY_QUEUE);
        let accepting = tokio::spawn(accept_and_secure(tcp, Arc::new(self), ready_tx));
        Ok(AdminListener { ready, local, accepting })
    }
}

/// Accepts connections and completes their handshakes, at most [`MAX_HANDSHAKES`] at once.
async fn accept_and_secure(tcp: TcpListener, tls: Arc<AdminTls>, ready: mpsc::Sender<Accepted>) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                debug!("admin accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            debug!(peer = %peer, "admin connection closed: {MAX_HANDSHAKES} handshakes are under way");
            continue;
        };
        let (tls, ready) = (tls.clone(), ready.clone());
        tokio::spawn(async move {
            if let Some(io) = secure(&tls, stream, peer).await {
                let _ = ready.send((io, peer)).await;
            }
            drop(permit);
        });
    }
}

async fn secure(tls: &AdminTls, stream: TcpStream, peer: SocketAddr) -> Option<Box<dyn AdminIo>> {
    if tls.unified && !crate::tls::starts_tls(&stream).await {
        return Some(Box::new(stream));
    }
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream)).await {
        Ok(Ok(secured)) => Some(Box::new(secured)),
        Ok(Err(e)) => {
            debug!(peer = %peer, "admin TLS handshake failed: {e}");
            None
        }
        Err(_) => {
            debug!(peer = %peer, "no admin TLS handshake within {HANDSHAKE_TIMEOUT:?}");
            None
        }
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

type Accepted = (Box<dyn AdminIo>, SocketAddr);

pub struct AdminListener {
    ready: mpsc::Receiver<Accepted>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for AdminListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for AdminListener {
    type Io = Box<dyn AdminIo>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task ended (it never does on its own): serve nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
