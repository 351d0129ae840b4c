//! Mutual TLS between the members of an ensemble (`sslQuorum=true`, the `ssl.quorum.*` keys, also as
//! `zookeeper.ssl.quorum.*`), with positive peer identity.
//!
//! ZooKeeper's quorum TLS checks the peer's chain and, with `ssl.quorum.hostnameVerification`, its host
//! name; any certificate of the trusted CA for any host gets in. Its two critical quorum CVEs are that
//! weakness: CVE-2018-8012 (no authorization for quorum join) and CVE-2023-44981 (a SASL peer whose id did
//! not name a member skipped the member check). Here an inbound connection is admitted only if
//!
//! 1. its certificate chains to `ssl.quorum.trustStore` (a certificate is required: clientAuth `need`), and
//! 2. it comes from the configured address of a current member (the membership the replica hands over,
//!    which follows reconfig), and
//! 3. the certificate names that member's configured host: an IP address SAN when `server.N` gives an
//!    address, a DNS name SAN equal to the name as written there otherwise. Never a reverse lookup
//!    (CVE-2026-24281): a name is resolved forwards only, as the member's own peers do to reach it.
//!
//! Outbound, the server's certificate must name the host of the `server.N` line being called. A refused
//! connection is closed before a frame of it is read, and logged once per address and reason.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};

use paddock_consensus::transport::{Handshake, Members, PeerSecurity, PeerStream};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{info, warn};

use super::{ClientAuth, TlsSettings, flag, identity, on_store_change};
use crate::config::ServerConfig;

/// Distinct refusals remembered for logging once; past this the memory is cleared (a refusal may then be
/// logged again), so a flood of strangers from many addresses cannot grow it.
const REMEMBERED_REFUSALS: usize = 256;

/// The peer port's TLS: what the keys say, the stores as last loaded, and who was refused.
pub struct QuorumTls {
    settings: TlsSettings,
    /// `ssl.quorum.hostnameVerification` (default true): the certificate must name the member's host.
    hostname_verification: bool,
    /// This member's own address, which its connections leave from.
    source: Option<IpAddr>,
    built: RwLock<Built>,
    refused: Mutex<HashSet<(IpAddr, String)>>,
}

struct Built {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

impl std::fmt::Debug for QuorumTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumTls").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl QuorumTls {
    /// The peer port's TLS when `sslQuorum=true`, with the stores read now; `own_host` is this member's host
    /// in its `server.N` line. An error is one line naming the key or file, never a password.
    pub fn from_config(config: &ServerConfig, own_host: &str) -> Result<Option<Arc<QuorumTls>>, String> {
        let raw = &config.raw;
        if !flag(raw, "sslQuorum", false).map_err(|e| e.to_string())? {
            return Ok(None);
        }
        let settings = TlsSettings::from_keys(raw, "ssl.quorum", "sslQuorum").map_err(|e| e.to_string())?;
        if settings.client_auth != ClientAuth::Need {
            return Err("config key ssl.quorum.clientAuth: only need is supported: every peer must prove which \
                        member it is with its certificate"
                .into());
        }
        let hostname_verification = flag(raw, "ssl.quorum.hostnameVerification", true).map_err(|e| e.to_string())?;
        if !hostname_verification {
            warn!("ssl.quorum.hostnameVerification=false: peers are matched to members by address only");
        }
        let built = build(&settings, hostname_verification).map_err(|e| format!("TLS on the peer port: {e}"))?;
        let source = resolve_now(own_host);
        let refused = Mutex::new(HashSet::new());
        Ok(Some(Arc::new(QuorumTls { settings, hostname_verification, source, built: RwLock::new(built), refused })))
    }

    fn current(&self) -> std::io::Result<(TlsAcceptor, TlsConnector)> {
        let built =
            self.built.read().map_err(|_| std::io::Error::other("the peer TLS configuration is unavailable"))?;
        Ok((built.acceptor.clone(), built.connector.clone()))
    }

    /// The member `leaf`, presented from `from`, proves to be; `Err` says why it is none.
    async fn identify(&self, leaf: &[u8], from: IpAddr, members: &[(u64, String)]) -> Result<Option<u64>, String> {
        // CVE-2023-44981's vulnerable variant: any certificate of the trusted CA is a peer.
        fail::fail_point!("cve::2023_44981", |_| Ok(None));
        let from = from.to_canonical();
        let mut at_address = None;
        for (id, addr) in members {
            let host = host_of(addr);
            if !resolve(host).await.contains(&from) {
                continue;
            }
            if !self.hostname_verification || names_host(leaf, host) {
                return Ok(Some(*id));
            }
            at_address.get_or_insert((*id, host.to_string()));
        }
        // CVE-2018-8012's vulnerable variant: ZooKeeper's own check, a trusted certificate that names the
        // address it comes from, member or not.
        fail::fail_point!("cve::2018_8012", |_| {
            if identity::names_address(leaf, from) { Ok(None) } else { Err("not a member".into()) }
        });
        let subject = identity::subject_rfc2253(leaf).unwrap_or_else(|_| "an unreadable subject".into());
        Err(match at_address {
            Some((id, host)) => format!("the certificate of {subject} does not name {host}, server.{id}'s host"),
            None => format!("{from} is the address of no member (certificate {subject})"),
        })
    }

    /// Logs a refusal the first time this address is refused for this reason; returns the error.
    fn refuse(&self, from: SocketAddr, why: String) -> std::io::Error {
        let first = {
            let mut refused = self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if refused.len() >= REMEMBERED_REFUSALS {
                refused.clear();
            }
            refused.insert((from.ip(), why.clone()))
        };
        if first {
            warn!(peer = %from, "peer connection refused: {why}");
        }
        std::io::Error::new(std::io::ErrorKind::PermissionDenied, why)
    }

    async fn secure_inbound(
        &self,
        stream: TcpStream,
        from: SocketAddr,
        members: Members,
    ) -> std::io::Result<(PeerStream, Option<u64>)> {
        let (acceptor, _) = self.current()?;
        let tls = acceptor.accept(stream).await.map_err(|e| match e.kind() {
            // The caller hung up before the handshake ended (a member that gave up or stopped meanwhile):
            // nothing was refused.
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => e,
            _ => self.refuse(from, format!("TLS handshake failed: {e}")),
        })?;
        let leaf = tls.get_ref().1.peer_certificates().and_then(|chain| chain.first()).map(|c| c.to_vec());
        let leaf = leaf.ok_or_else(|| self.refuse(from, "no client certificate".into()))?;
        match self.identify(&leaf, from.ip(), &members).await {
            Ok(member) => Ok((Box::new(tls) as PeerStream, member)),
            Err(why) => Err(self.refuse(from, why)),
        }
    }

    async fn secure_outbound(&self, stream: TcpStream, target: &str) -> std::io::Result<PeerStream> {
        let (_, connector) = self.current()?;
        let name = ServerName::try_from(host_of(target).to_string())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("peer host {target}: {e}")))?;
        Ok(Box::new(connector.connect(name, stream).await?))
    }

    /// Rebuilds the stores whenever a file changes (`paddock.ssl.reloadInterval`, as on the client port);
    /// connections made since use the new ones. A change that does not load keeps the old ones, loudly.
    pub async fn reload_on_change(self: Arc<QuorumTls>) {
        on_store_change(&self.settings, || match build(&self.settings, self.hostname_verification) {
            Ok(built) => {
                if let Ok(mut current) = self.built.write() {
                    *current = built;
                    info!("reloaded the peer (quorum) TLS key and trust stores");
                }
            }
            Err(e) => warn!("the peer TLS stores changed but do not load (keeping the previous ones): {e}"),
        })
        .await;
    }
}

impl PeerSecurity for QuorumTls {
    fn accept(
        &self,
        stream: TcpStream,
        from: SocketAddr,
        members: Members,
    ) -> Handshake<'_, (PeerStream, Option<u64>)> {
        Box::pin(self.secure_inbound(stream, from, members))
    }

    fn connect<'a>(&'a self, stream: TcpStream, target: &'a str) -> Handshake<'a, PeerStream> {
        Box::pin(self.secure_outbound(stream, target))
    }

    fn source(&self) -> Option<IpAddr> {
        self.source
    }
}

fn build(settings: &TlsSettings, hostname_verification: bool) -> Result<Built, String> {
    let acceptor = TlsAcceptor::from(Arc::new(settings.build()?));
    let connector = TlsConnector::from(Arc::new(client_config(settings, hostname_verification)?));
    Ok(Built { acceptor, connector })
}

/// The calling side: this member's certificate, and the callee's checked against the trust store and,
/// with hostname verification, against the host it is called by.
fn client_config(settings: &TlsSettings, hostname_verification: bool) -> Result<ClientConfig, String> {
    let trust = settings.trust_store.as_ref().ok_or_else(|| {
        "ssl.quorum.trustStore.location: sslQuorum needs a trust store to check the peers' certificates".to_string()
    })?;
    let identity = settings.key_store.load_identity()?;
    let provider = Arc::new(settings.provider()?);
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(trust.load_roots()?), provider.clone())
        .build()
        .map_err(|e| format!("ssl.quorum.trustStore: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> =
        if hostname_verification { verifier } else { Arc::new(AnyHost(verifier)) };
    ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&settings.versions()?)
        .map_err(|e| format!("ssl.quorum.enabledProtocols: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(identity.chain, identity.key)
        .map_err(|e| format!("{}: the key does not fit its certificate: {e}", settings.key_store.location.display()))
}

/// `ssl.quorum.hostnameVerification=false`: the callee's chain is checked, the host it names is not.
#[derive(Debug)]
struct AnyHost(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHost {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The host of a `host:port` peer address (`[v6]:port` too).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Whether the certificate names `host`: as an IP address SAN when it is an address, else as a DNS SAN.
fn names_host(leaf: &[u8], host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(ip) => identity::names_address(leaf, ip),
        Err(_) => identity::names_dns(leaf, host),
    }
}

/// The addresses of `host`, by forward lookup only; none when it does not resolve.
async fn resolve(host: &str) -> Vec<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip.to_canonical()];
    }
    match tokio::net::lookup_host((host, 0)).await {
        Ok(found) => found.map(|a| a.ip().to_canonical()).collect(),
        Err(_) => Vec::new(),
    }
}

/// This member's address, for the source of its connections: its host's first address, at start.
fn resolve_now(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip);
    }
    std::net::ToSocketAddrs::to_socket_addrs(&(host, 0)).ok()?.next().map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::super::tests::config;
    use super::*;

    #[test]
    fn hosts_are_taken_from_peer_addresses() {
        assert_eq!(host_of("10.0.0.1:2888"), "10.0.0.1");
        assert_eq!(host_of("zk1.example.com:2888"), "zk1.example.com");
        assert_eq!(host_of("[::1]:2888"), "::1");
    }

    #[test]
    fn bad_quorum_settings_are_one_line_naming_the_key() {
        let refused = |lines: &[(&str, &str)]| {
            let err = QuorumTls::from_config(&config(lines), "127.0.0.1").expect_err("refused");
            assert!(!err.contains('\n') && !err.contains("secret-pw"), "{err}");
            err
        };
        assert!(QuorumTls::from_config(&config(&[]), "127.0.0.1").expect("off").is_none());
        assert!(refused(&[("sslQuorum", "yes please")]).contains("sslQuorum"));
        assert!(refused(&[("sslQuorum", "true")]).contains("ssl.quorum.keyStore.location"));
        let store = [("zookeeper.sslQuorum", "true"), ("ssl.quorum.keyStore.location", "/nonexistent/k.jks")];
        fn with<'a>(store: [(&'a str, &'a str); 2], extra: (&'a str, &'a str)) -> [(&'a str, &'a str); 4] {
            [store[0], store[1], ("ssl.quorum.keyStore.password", "secret-pw"), extra]
        }
        assert!(refused(&with(store, ("ssl.quorum.clientAuth", "want"))).contains("ssl.quorum.clientAuth"));
        assert!(refused(&with(store, ("ssl.quorum.hostnameVerification", "maybe"))).contains("hostnameVerification"));
        assert!(refused(&with(store, ("ssl.quorum.keyStore.type", "BCFKS"))).contains("ssl.quorum.keyStore.type"));
        assert!(refused(&with(store, ("ssl.quorum.clientAuth", "need"))).contains("/nonexistent/k.jks"));
    }
}
