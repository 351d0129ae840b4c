//! Key and trust stores as ZooKeeper users hold them (`ssl.keyStore.*`, `ssl.trustStore.*`): JKS, PKCS12 or
//! PEM, the type named by `.type` or, as ZooKeeper's `KeyStoreFileType.fromPropertyValueOrFileName` does,
//! by the file's extension (`.jks`, `.p12`/`.pfx`, `.pem`). A store that cannot be read is an error naming
//! the file and the problem, never its password.

use std::path::{Path, PathBuf};

use p12_keystore::{KeyStoreEntry, Pkcs12ImportPolicy};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// How a store is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreType {
    Jks,
    Pkcs12,
    Pem,
}

impl StoreType {
    /// ZooKeeper's names (case-insensitive); `None` for one it does not know (`BCFKS` is Bouncy Castle's).
    pub fn parse(name: &str) -> Option<StoreType> {
        match name.to_ascii_uppercase().as_str() {
            "JKS" => Some(StoreType::Jks),
            "PKCS12" => Some(StoreType::Pkcs12),
            "PEM" => Some(StoreType::Pem),
            _ => None,
        }
    }

    fn from_extension(path: &Path) -> Option<StoreType> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jks" => Some(StoreType::Jks),
            "p12" | "pfx" => Some(StoreType::Pkcs12),
            "pem" => Some(StoreType::Pem),
            _ => None,
        }
    }
}

/// Where a store is and how to open it.
#[derive(Clone)]
pub struct StoreSpec {
    pub location: PathBuf,
    /// `None`: no password (a PEM store with an unencrypted key, or a trust store read without checking
    /// its integrity, as Java does).
    pub password: Option<String>,
    pub store_type: Option<StoreType>,
}

/// Never prints the password (CVE-2026-24308).
impl std::fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSpec")
            .field("location", &self.location)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("store_type", &self.store_type)
            .finish()
    }
}

/// A server's certificate chain and private key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl StoreSpec {
    fn kind(&self) -> Result<StoreType, String> {
        self.store_type.or_else(|| StoreType::from_extension(&self.location)).ok_or_else(|| {
            format!(
                "{}: cannot tell the store's type from its name: set its .type to JKS, PKCS12 or PEM",
                self.location.display()
            )
        })
    }

    fn read(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.location).map_err(|e| format!("cannot read {}: {e}", self.location.display()))
    }

    fn fail(&self, why: impl std::fmt::Display) -> String {
        format!("{}: {why}", self.location.display())
    }

    /// The first private key entry and its chain (ZooKeeper, like Java's default key manager, uses the one
    /// key a ZooKeeper key store holds).
    pub fn load_identity(&self) -> Result<Identity, String> {
        let bytes = self.read()?;
        if self.kind()? == StoreType::Pem {
            return self.pem_identity(&bytes);
        }
        let contents = self.open_keystore(&bytes)?;
        let (chain, key) = contents.keys.into_iter().next().ok_or_else(|| self.fail("holds no private key entry"))?;
        if chain.is_empty() {
            return Err(self.fail("its private key entry has no certificate"));
        }
        Ok(Identity { chain, key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)) })
    }

    /// Every certificate of a trust store.
    pub fn load_roots(&self) -> Result<RootCertStore, String> {
        let bytes = self.read()?;
        let certs = match self.kind()? {
            StoreType::Pem => CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.fail(format!("not a PEM file of certificates: {e}")))?,
            _ => self.open_keystore(&bytes)?.trusted,
        };
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(self.fail("holds no certificate usable as a trust anchor"));
        }
        Ok(roots)
    }

    fn pem_identity(&self, bytes: &[u8]) -> Result<Identity, String> {
        let chain = CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.fail(format!("a certificate does not parse: {e}")))?;
        if chain.is_empty() {
            return Err(self.fail("holds no certificate"));
        }
        if std::str::from_utf8(bytes).is_ok_and(|text| text.contains("ENCRYPTED PRIVATE KEY")) {
            return Err(self.fail(
                "its private key is encrypted, which Paddock does not read from PEM yet: store it unencrypted \
                 (and protect the file), or use a PKCS12 or JKS key store",
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(bytes).map_err(|e| self.fail(format!("no private key: {e}")))?;
        Ok(Identity { chain, key })
    }

    /// A JKS or PKCS12 store's private keys (PKCS#8, each with its chain) and trusted certificates.
    fn open_keystore(&self, bytes: &[u8]) -> Result<KeyStoreContents, String> {
        let password = self.password.as_deref().unwrap_or("");
        // The libraries' messages name no secret; a wrong password shows as a failed integrity check.
        let unreadable = |kind: &str, e: &dyn std::fmt::Display| {
            self.fail(format!("not a readable {kind} store (or the password is wrong): {e}"))
        };
        let mut contents = KeyStoreContents::default();
        if self.kind()? == StoreType::Pkcs12 {
            // Relaxed: a trust store made by openssl has certificates without Java's "trusted" attribute.
            let store = p12_keystore::KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Relaxed)
                .map_err(|e| unreadable("PKCS12", &e))?;
            for (_, entry) in store.entries() {
                match entry {
                    KeyStoreEntry::PrivateKeyChain(chain) => contents.keys.push((
                        chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect(),
                        chain.key().as_der().to_vec(),
                    )),
                    KeyStoreEntry::Certificate(cert) => {
                        contents.trusted.push(CertificateDer::from(cert.as_der().to_vec()))
                    }
                    KeyStoreEntry::Secret(_) => {}
                }
            }
            return Ok(contents);
        }
        let mut store = jks::KeyStore::new();
        store.load(bytes, password.as_bytes()).map_err(|e| unreadable("JKS", &e))?;
        for alias in store.aliases() {
            if let Ok(entry) = store.get_trusted_certificate_entry(&alias) {
                contents.trusted.push(CertificateDer::from(entry.certificate.content));
            } else if store.is_private_key_entry(&alias) {
                // A JKS entry's key is protected with the store's password (ZooKeeper uses one for both).
                let entry = store
                    .get_private_key_entry(&alias, password.as_bytes())
                    .map_err(|e| self.fail(format!("cannot read the key of entry {alias:?}: {e}")))?;
                let chain = entry.certificate_chain.into_iter().map(|c| CertificateDer::from(c.content)).collect();
                contents.keys.push((chain, entry.private_key));
            }
        }
        Ok(contents)
    }
}

/// What a JKS or PKCS12 store holds.
#[derive(Default)]
struct KeyStoreContents {
    keys: Vec<(Vec<CertificateDer<'static>>, Vec<u8>)>,
    trusted: Vec<CertificateDer<'static>>,
}
