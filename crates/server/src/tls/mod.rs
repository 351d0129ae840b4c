//! TLS on the client port, configured with ZooKeeper's keys (`secureClientPort`, `ssl.*`, also as
//! `zookeeper.ssl.*`, the system properties ZooKeeper turns them into): rustls with the key and trust
//! stores ZooKeeper users hold (`stores.rs`), client certificates as `x509` identities (`identity.rs`),
//! `client.portUnification` (plain and TLS on the plain port), and certificate files reloaded when they
//! change. A setting that cannot be used stops the start with one line naming the key; no secret is ever
//! printed.

mod identity;
pub mod quorum;
mod stores;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use paddock_proto::Id;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ServerConfig as RustlsConfig, SupportedCipherSuite, SupportedProtocolVersion};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

pub use stores::{StoreSpec, StoreType};

use crate::config::{ConfigError, ServerConfig};

/// A TLS handshake must finish within this: a client that trickles its hello (slowloris) holds a socket
/// and a task only this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `ssl.clientAuth`: whether the server asks for, and requires, a client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Want,
    Need,
}

/// What the `ssl.*` keys say (or the `ssl.quorum.*` keys, for the peer port: [`quorum`]).
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// The keys these settings come from, `ssl` or `ssl.quorum`: errors name them.
    pub prefix: &'static str,
    pub secure_port: Option<SocketAddr>,
    pub port_unification: bool,
    pub key_store: StoreSpec,
    pub trust_store: Option<StoreSpec>,
    pub client_auth: ClientAuth,
    /// `ssl.enabledProtocols` (or `ssl.protocol`): `TLSv1.2`, `TLSv1.3`.
    pub protocols: Vec<String>,
    /// `ssl.ciphersuites`, Java's names; empty: rustls' defaults.
    pub cipher_suites: Vec<String>,
    /// `ssl.clientHostnameVerification`: the client's certificate must name the address it connects from.
    pub client_hostname_verification: bool,
    /// `ssl.authProvider` is `x509` (the default): client certificates become `x509` ids.
    pub x509_ids: bool,
    /// `zookeeper.X509AuthenticationProvider.superUser`.
    pub super_user: Option<String>,
    /// `paddock.ssl.reloadInterval` (ms): how often the store files are checked for changes; 0: never.
    pub reload_every: Duration,
}

/// The value of a key, given as ZooKeeper's zoo.cfg key or as the system property it becomes.
fn lookup<'a>(raw: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    raw.get(key).or_else(|| raw.get(&format!("zookeeper.{key}"))).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// Whether `key` is one this module reads (so the configuration does not warn about it).
pub fn is_tls_key(key: &str) -> bool {
    let key = key.strip_prefix("zookeeper.").unwrap_or(key);
    key.starts_with("ssl.")
        || matches!(
            key,
            "secureClientPort"
                | "secureClientPortAddress"
                | "client.portUnification"
                | "X509AuthenticationProvider.superUser"
                | "paddock.ssl.reloadInterval"
        )
}

fn invalid(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { key: key.to_string(), value: value.to_string(), reason: reason.to_string() }
}

fn flag(raw: &BTreeMap<String, String>, key: &str, default: bool) -> Result<bool, ConfigError> {
    match lookup(raw, key) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(invalid(key, v, "true or false")),
    }
}

fn list(raw: &BTreeMap<String, String>, key: &str) -> Vec<String> {
    lookup(raw, key)
        .map_or_else(Vec::new, |v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
}

/// A store's spec from `<prefix>.location`, `.password` or `.passwordPath` (a file holding it, as
/// ZooKeeper 3.8 reads it), and `.type`. `None` without a location.
fn store(raw: &BTreeMap<String, String>, prefix: &str) -> Result<Option<StoreSpec>, ConfigError> {
    let Some(location) = lookup(raw, &format!("{prefix}.location")) else { return Ok(None) };
    let password = match (lookup(raw, &format!("{prefix}.password")), lookup(raw, &format!("{prefix}.passwordPath"))) {
        (Some(password), _) => Some(password.to_string()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                invalid(&format!("{prefix}.passwordPath"), path, &format!("cannot read the password file: {e}"))
            })?;
            Some(text.trim_end_matches(['\r', '\n']).to_string())
        }
        (None, None) => None,
    };
    let type_key = format!("{prefix}.type");
    let store_type = match lookup(raw, &type_key) {
        None => None,
        Some(name) => Some(StoreType::parse(name).ok_or_else(|| invalid(&type_key, name, "JKS, PKCS12 or PEM"))?),
    };
    Ok(Some(StoreSpec { location: PathBuf::from(location), password, store_type }))
}

impl TlsSettings {
    /// The TLS settings of `config`; `None` when neither `secureClientPort` nor `client.portUnification`
    /// asks for TLS.
    pub fn from_config(config: &ServerConfig) -> Result<Option<TlsSettings>, ConfigError> {
        let raw = &config.raw;
        let port_unification = flag(raw, "client.portUnification", false)?;
        let secure_port = match lookup(raw, "secureClientPort") {
            None => None,
            Some(v) => Some(v.parse::<u16>().map_err(|_| invalid("secureClientPort", v, "a port number"))?),
        };
        if secure_port.is_none() && !port_unification {
            return Ok(None);
        }
        let address = match lookup(raw, "secureClientPortAddress") {
            None => config.client_port_address,
            Some(v) => v.parse::<IpAddr>().map_err(|_| invalid("secureClientPortAddress", v, "an IP address"))?,
        };
        let common = TlsSettings::from_keys(raw, "ssl", "TLS (secureClientPort or client.portUnification)")?;
        Ok(Some(TlsSettings {
            secure_port: secure_port.map(|port| SocketAddr::new(address, port)),
            port_unification,
            client_hostname_verification: flag(raw, "ssl.clientHostnameVerification", false)?,
            x509_ids: lookup(raw, "ssl.authProvider").is_none_or(|p| p == "x509"),
            super_user: lookup(raw, "X509AuthenticationProvider.superUser").map(str::to_string),
            ..common
        }))
    }

    /// The stores, client authentication, protocols and cipher suites of the `<prefix>.*` keys (`ssl` or
    /// `ssl.quorum`); no port. `what` names what needs the key store, for the error without one.
    fn from_keys(raw: &BTreeMap<String, String>, prefix: &'static str, what: &str) -> Result<TlsSettings, ConfigError> {
        let key = |name: &str| format!("{prefix}.{name}");
        let key_store = store(raw, &key("keyStore"))?
            .ok_or_else(|| invalid(&key("keyStore.location"), "", &format!("{what} needs a key store")))?;
        let client_auth = match lookup(raw, &key("clientAuth")).map(str::to_ascii_lowercase).as_deref() {
            None | Some("need") => ClientAuth::Need,
            Some("want") => ClientAuth::Want,
            Some("none") => ClientAuth::None,
            Some(other) => return Err(invalid(&key("clientAuth"), other, "none, want or need")),
        };
        let mut protocols = list(raw, &key("enabledProtocols"));
        if protocols.is_empty() {
            protocols = match lookup(raw, &key("protocol")) {
                // ZooKeeper's default on a JVM with TLS 1.3: TLS 1.3 first, TLS 1.2 still accepted.
                None | Some("TLSv1.3") => vec!["TLSv1.3".into(), "TLSv1.2".into()],
                Some(protocol) => vec![protocol.to_string()],
            };
        }
        let reload_ms = match lookup(raw, "paddock.ssl.reloadInterval") {
            None => 2000,
            Some(v) => v.parse::<u64>().map_err(|_| invalid("paddock.ssl.reloadInterval", v, "milliseconds"))?,
        };
        Ok(TlsSettings {
            prefix,
            secure_port: None,
            port_unification: false,
            key_store,
            trust_store: store(raw, &key("trustStore"))?,
            client_auth,
            protocols,
            cipher_suites: list(raw, &key("ciphersuites")),
            client_hostname_verification: false,
            x509_ids: false,
            super_user: None,
            reload_every: Duration::from_millis(reload_ms),
        })
    }

    /// The store named by the `<prefix>.*` keys of `config` (`ssl.quorum.keyStore` for the AdminServer's
    /// HTTPS), if its location is set.
    pub fn store_of(config: &ServerConfig, prefix: &str) -> Result<Option<StoreSpec>, String> {
        store(&config.raw, prefix).map_err(|e| e.to_string())
    }

    /// rustls' configuration for these settings, with the stores read now.
    fn build(&self) -> Result<RustlsConfig, String> {
        let identity = self.key_store.load_identity()?;
        let provider = Arc::new(self.provider()?);
        let versions = self.versions()?;
        let builder = RustlsConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("{}.enabledProtocols: {e}", self.prefix))?;
        let builder = match (self.client_auth, &self.trust_store) {
            (ClientAuth::None, _) => builder.with_no_client_auth(),
            (_, None) => {
                return Err(format!(
                    "{0}.clientAuth is want or need (need is the default), which needs {0}.trustStore.location \
                     to check client certificates against",
                    self.prefix
                ));
            }
            (auth, Some(trust)) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(trust.load_roots()?), provider);
                let verifier = if auth == ClientAuth::Want { verifier.allow_unauthenticated() } else { verifier };
                let verifier = verifier.build().map_err(|e| format!("{}.trustStore: {e}", self.prefix))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        builder
            .with_single_cert(identity.chain, identity.key)
            .map_err(|e| format!("{}: the key does not fit its certificate: {e}", self.key_store.location.display()))
    }

    fn versions(&self) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
        self.protocols
            .iter()
            .map(|p| match p.as_str() {
                "TLSv1.3" => Ok(&rustls::version::TLS13),
                "TLSv1.2" => Ok(&rustls::version::TLS12),
                other => {
                    Err(format!("{}.enabledProtocols: {other} is not offered (TLSv1.2 and TLSv1.3 are)", self.prefix))
                }
            })
            .collect()
    }

    /// aws-lc-rs, limited to `ssl.ciphersuites` when set (Java's names: `TLS_AES_128_GCM_SHA256` is rustls'
    /// `TLS13_AES_128_GCM_SHA256`).
    fn provider(&self) -> Result<CryptoProvider, String> {
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        if self.cipher_suites.is_empty() {
            return Ok(provider);
        }
        let chosen: Vec<SupportedCipherSuite> = self
            .cipher_suites
            .iter()
            .map(|name| {
                let found = provider.cipher_suites.iter().find(|s| java_name(s) == *name);
                found.copied().ok_or_else(|| format!("{}.ciphersuites: {name} is not offered", self.prefix))
            })
            .collect::<Result<_, _>>()?;
        provider.cipher_suites = chosen;
        Ok(provider)
    }

    /// The store files and when each last changed, to notice a change.
    fn stamps(&self) -> Vec<Option<SystemTime>> {
        let files = std::iter::once(&self.key_store).chain(&self.trust_store);
        files.map(|s| std::fs::metadata(&s.location).and_then(|m| m.modified()).ok()).collect()
    }
}

/// A cipher suite's name as Java (and so `ssl.ciphersuites`) writes it.
fn java_name(suite: &SupportedCipherSuite) -> String {
    let name = suite.suite().as_str().unwrap_or_default();
    name.strip_prefix("TLS13_").map_or_else(|| name.to_string(), |rest| format!("TLS_{rest}"))
}

/// The client port's TLS: the acceptor (replaced when the store files change) and what to do with a
/// client's certificate.
pub struct TlsServer {
    settings: TlsSettings,
    acceptor: RwLock<TlsAcceptor>,
}

impl TlsServer {
    /// Reads the stores and builds the acceptor; an error names the key or file at fault.
    pub fn new(settings: TlsSettings) -> Result<Arc<TlsServer>, String> {
        let built = settings.build().map_err(|reason| format!("TLS on the client port: {reason}"))?;
        let acceptor = RwLock::new(TlsAcceptor::from(Arc::new(built)));
        Ok(Arc::new(TlsServer { settings, acceptor }))
    }

    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// Completes a client's TLS handshake on `stream` and says who its certificate proves it is.
    /// `Err` says why the client was turned away (for the log).
    pub async fn accept(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Result<(tokio_rustls::server::TlsStream<TcpStream>, Vec<Id>), String> {
        let acceptor = self.acceptor.read().map_err(|_| "the TLS configuration is unavailable".to_string())?.clone();
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
            .await
            .map_err(|_| format!("no TLS handshake within {HANDSHAKE_TIMEOUT:?}"))?
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        let leaf = tls.get_ref().1.peer_certificates().and_then(|chain| chain.first()).map(|c| c.to_vec());
        let Some(leaf) = leaf else { return Ok((tls, Vec::new())) };
        if self.settings.client_hostname_verification && !identity::names_address(&leaf, peer.ip()) {
            return Err(format!("the client certificate does not name {} (ssl.clientHostnameVerification)", peer.ip()));
        }
        let ids = if self.settings.x509_ids {
            identity::x509_ids(&leaf, self.settings.super_user.as_deref())?
        } else {
            Vec::new()
        };
        Ok((tls, ids))
    }

    /// Rebuilds the acceptor whenever a store file changes (a renewed certificate); connections made since
    /// get the new one. A change that does not load keeps the old one, loudly.
    pub async fn reload_on_change(self: Arc<TlsServer>) {
        on_store_change(&self.settings, || match self.settings.build() {
            Ok(built) => {
                if let Ok(mut acceptor) = self.acceptor.write() {
                    *acceptor = TlsAcceptor::from(Arc::new(built));
                    info!(key_store = %self.settings.key_store.location.display(), "reloaded the TLS key and trust stores");
                }
            }
            Err(e) => warn!("the TLS stores changed but do not load (keeping the previous ones): {e}"),
        })
        .await;
    }
}

/// Calls `reload` whenever one of `settings`' store files changes, looking every `reload_every`; returns at
/// once when reloading is off.
async fn on_store_change(settings: &TlsSettings, mut reload: impl FnMut()) {
    if settings.reload_every.is_zero() {
        return;
    }
    let mut seen = settings.stamps();
    loop {
        tokio::time::sleep(settings.reload_every).await;
        let now = settings.stamps();
        if now != seen {
            seen = now;
            reload();
        }
    }
}

/// Whether a connection's first byte starts a TLS handshake (a record of type 22), for
/// `client.portUnification`: ZooKeeper's plain protocol starts with a length (or a four-letter word), whose
/// first byte is never 22 for a frame ZooKeeper accepts.
pub async fn starts_tls(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await;
    matches!(peeked, Ok(Ok(1))) && first[0] == 0x16
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A configuration holding exactly `lines`.
    pub(in crate::tls) fn config(lines: &[(&str, &str)]) -> ServerConfig {
        let raw = lines.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ServerConfig { raw, ..ServerConfig::default() }
    }

    #[test]
    fn zookeepers_keys_and_their_system_property_names_both_count() {
        assert!(TlsSettings::from_config(&config(&[])).expect("no TLS").is_none());
        let settings = TlsSettings::from_config(&config(&[
            ("secureClientPort", "2281"),
            ("zookeeper.ssl.keyStore.location", "/k/server.jks"),
            ("ssl.keyStore.password", "secret"),
            ("ssl.trustStore.location", "/k/trust.p12"),
            ("ssl.clientAuth", "want"),
            ("ssl.enabledProtocols", "TLSv1.2"),
        ]))
        .expect("valid")
        .expect("TLS on");
        assert_eq!(settings.secure_port.map(|a| a.port()), Some(2281));
        assert_eq!(settings.key_store.location, PathBuf::from("/k/server.jks"));
        assert_eq!(settings.client_auth, ClientAuth::Want);
        assert_eq!(settings.protocols, ["TLSv1.2"]);
        assert!(!format!("{settings:?}").contains("secret"), "no password in Debug: {settings:?}");
        assert!(is_tls_key("zookeeper.ssl.quorum.keyStore.location") && is_tls_key("secureClientPort"));
    }

    #[test]
    fn a_bad_setting_is_named() {
        let bad = |lines: &[(&str, &str)]| {
            let err = TlsSettings::from_config(&config(lines)).expect_err("refused").to_string();
            assert!(!err.contains('\n'), "one line: {err}");
            err
        };
        assert!(bad(&[("secureClientPort", "x")]).contains("secureClientPort"));
        assert!(bad(&[("secureClientPort", "2281")]).contains("ssl.keyStore.location"));
        let store = [("secureClientPort", "2281"), ("ssl.keyStore.location", "/k")];
        assert!(bad(&[store[0], store[1], ("ssl.clientAuth", "maybe")]).contains("ssl.clientAuth"));
        assert!(bad(&[store[0], store[1], ("ssl.keyStore.type", "BCFKS")]).contains("ssl.keyStore.type"));
    }

    #[test]
    fn java_cipher_suite_names_map_to_rustls() {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let names: Vec<String> = provider.cipher_suites.iter().map(java_name).collect();
        assert!(names.contains(&"TLS_AES_128_GCM_SHA256".to_string()), "{names:?}");
        assert!(names.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string()), "{names:?}");
    }
}
