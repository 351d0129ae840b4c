//! Authentication settings ZooKeeper reads as system properties (zoo.cfg keys here, `-Dzookeeper.X` flags
//! through `jvm`): the JAAS file and its `Server` section for SASL, the principal canonicalization of
//! `SaslServerCallbackHandler`, SASL super users, and the session authentication that
//! `AuthenticationHelper` enforces. Also which keys hold secrets, so that no dump of the configuration
//! shows them (CVE-2026-24308).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::jaas::{JaasConfig, LoginModule};
use super::{Applied, ConfigError, bad_value, parse_bool};

/// The JAAS section ZooKeeper's server logs in with unless `zookeeper.sasl.serverconfig` names another.
pub const DEFAULT_LOGIN_CONTEXT: &str = "Server";
/// The option prefix of a DIGEST-MD5 user in the `Server` section: `user_bob="password"`.
const USER_PREFIX: &str = "user_";
/// The schemes an `enforce.auth.schemes` list may name: Paddock's authentication providers.
const KNOWN_SCHEMES: [&str; 4] = ["ip", "digest", "sasl", "x509"];

/// A value that must never be printed: its `Debug` and `Display` say `******`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that needs it (a hash).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// What a configuration dump shows instead of a secret.
pub const MASK: &str = "******";

/// Whether the value of zoo.cfg key `key` (or system property of that name) is a secret: passwords of key
/// and trust stores, the super user's password and digest. Matched on the name, so that keys Paddock does
/// not know yet are masked too.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "passwd", "secret", "superdigest", "credential"].iter().any(|word| key.contains(word))
}

/// `text` of a properties file with the value of every secret key masked, line by line.
pub fn mask_properties(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        let split = trimmed.find(['=', ':']);
        match split {
            Some(at) if !trimmed.starts_with(['#', '!']) && is_secret_key(trimmed[..at].trim()) => {
                out.push_str(&line[..line.len() - trimmed.len() + at + 1]);
                out.push_str(MASK);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// How a server authenticates clients.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// `java.security.auth.login.config`: the JAAS file.
    pub jaas_file: Option<PathBuf>,
    /// `zookeeper.sasl.serverconfig`: the JAAS section to read (`Server`).
    pub login_context: String,
    /// `java.security.krb5.conf`: the Kerberos configuration file (else `KRB5_CONFIG`, else
    /// `/etc/krb5.conf`, as the Kerberos library looks for it).
    pub krb5_conf: Option<PathBuf>,
    /// `zookeeper.kerberos.removeHostFromPrincipal` / `removeRealmFromPrincipal`: strip `/host` and
    /// `@REALM` from a SASL principal before it becomes the `sasl` id.
    pub remove_host_from_principal: bool,
    pub remove_realm_from_principal: bool,
    /// `zookeeper.superUser` (and `zookeeper.superUser.<anything>`): SASL ids that are also `super`.
    pub super_users: BTreeMap<String, String>,
    /// `zookeeper.SASLAuthenticationProvider.superPassword`: the DIGEST-MD5 password of user `super`,
    /// over the JAAS file's.
    pub super_password: Option<Secret>,
    /// `zookeeper.sessionRequireClientSASLAuth`: as `enforce.auth.enabled` with the scheme `sasl`.
    pub session_require_client_sasl_auth: bool,
    /// `zookeeper.enforce.auth.enabled` / `zookeeper.enforce.auth.schemes`.
    pub enforce_auth_enabled: bool,
    pub enforce_auth_schemes: Vec<String>,
    /// `zookeeper.allowSaslFailedClients`: keep the connection of a client whose SASL exchange failed.
    pub allow_sasl_failed_clients: bool,
    /// The SASL login the JAAS section describes, once loaded.
    pub sasl: Option<SaslLogin>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            jaas_file: None,
            login_context: DEFAULT_LOGIN_CONTEXT.to_string(),
            krb5_conf: None,
            remove_host_from_principal: false,
            remove_realm_from_principal: false,
            super_users: BTreeMap::new(),
            super_password: None,
            session_require_client_sasl_auth: false,
            enforce_auth_enabled: false,
            enforce_auth_schemes: Vec::new(),
            allow_sasl_failed_clients: false,
            sasl: None,
        }
    }
}

/// What the server's JAAS section says about SASL.
#[derive(Clone, Debug)]
pub enum SaslLogin {
    /// DIGEST-MD5 against the section's `user_<name>="<password>"` options.
    DigestMd5 { users: BTreeMap<String, Secret> },
    /// `Krb5LoginModule`: GSSAPI (Kerberos) as `principal`, with the credential acquired from the keytab at
    /// start-up.
    Gssapi { principal: String, acceptor: Arc<crate::sasl::Acceptor> },
}

impl AuthSettings {
    /// Applies `key` if it is one of these settings (`None`: not one of them).
    pub(super) fn apply(&mut self, key: &str, value: &str) -> Result<Option<Applied>, ConfigError> {
        match key {
            "java.security.auth.login.config" => self.jaas_file = Some(PathBuf::from(value)),
            "sasl.serverconfig" => self.login_context = value.to_string(),
            "java.security.krb5.conf" => self.krb5_conf = Some(PathBuf::from(value)),
            "kerberos.removeHostFromPrincipal" => self.remove_host_from_principal = parse_bool(key, value)?,
            "kerberos.removeRealmFromPrincipal" => self.remove_realm_from_principal = parse_bool(key, value)?,
            k if k == "superUser" || k.starts_with("superUser.") => {
                self.super_users.insert(k.to_string(), value.to_string());
            }
            "SASLAuthenticationProvider.superPassword" => self.super_password = Some(Secret::new(value)),
            "sessionRequireClientSASLAuth" => self.session_require_client_sasl_auth = parse_bool(key, value)?,
            "enforce.auth.enabled" => self.enforce_auth_enabled = parse_bool(key, value)?,
            "enforce.auth.schemes" => {
                self.enforce_auth_schemes =
                    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
            }
            "allowSaslFailedClients" => self.allow_sasl_failed_clients = parse_bool(key, value)?,
            k if k.starts_with("authProvider.") => return Ok(Some(auth_provider(value))),
            _ => return Ok(None),
        }
        Ok(Some(Applied::Known))
    }

    /// The schemes a session must hold one of before its first request, or `None` when authentication is
    /// not enforced. `sessionRequireClientSASLAuth` wins over `enforce.auth.*`, as in ZooKeeper.
    pub fn enforced_schemes(&self) -> Option<Vec<&str>> {
        if self.session_require_client_sasl_auth {
            Some(vec!["sasl"])
        } else if self.enforce_auth_enabled {
            Some(self.enforce_auth_schemes.iter().map(String::as_str).collect())
        } else {
            None
        }
    }

    /// Whether enforcement requires `sasl`: then a failed SASL exchange answers
    /// SessionClosedRequireSaslAuth instead of AuthFailed.
    pub fn sasl_required(&self) -> bool {
        self.enforced_schemes().is_some_and(|schemes| schemes.contains(&"sasl"))
    }

    /// Whether SASL id `id` is a super user (`zookeeper.superUser[.*]`).
    pub fn is_sasl_super_user(&self, id: &str) -> bool {
        !id.is_empty() && self.super_users.values().any(|user| user == id)
    }

    /// Checks the enforcement settings and reads the JAAS file, as ZooKeeper does at start-up. Returns
    /// warnings.
    pub(super) fn finish(&mut self) -> Result<Vec<String>, ConfigError> {
        if let Some(schemes) = self.enforced_schemes() {
            if schemes.is_empty() {
                return Err(bad_value(
                    "enforce.auth.schemes",
                    "",
                    "at least one scheme when enforce.auth.enabled=true",
                ));
            }
            if let Some(unknown) = schemes.iter().find(|s| !KNOWN_SCHEMES.contains(s)) {
                return Err(ConfigError::Invalid {
                    key: "enforce.auth.schemes".to_string(),
                    value: schemes.join(","),
                    reason: format!("authentication scheme {unknown} is not available"),
                });
            }
        }
        let Some(path) = &self.jaas_file else { return Ok(Vec::new()) };
        let jaas = JaasConfig::load(path)?;
        let Some(section) = jaas.section(&self.login_context) else {
            // ZooKeeper carries on without SASL when the file has no such section.
            return Ok(vec![format!(
                "JAAS file {} has no section {}: SASL authentication is off",
                path.display(),
                self.login_context
            )]);
        };
        if let Some(module) = section.modules.iter().find(|m| m.class.ends_with("Krb5LoginModule")) {
            self.sasl = Some(self.kerberos_login(path, module)?);
            return Ok(Vec::new());
        }
        // As `SaslServerCallbackHandler`: every `user_` option of every module of the section is a user.
        let users = section
            .modules
            .iter()
            .flat_map(|m| &m.options)
            .filter_map(|(key, value)| Some((key.strip_prefix(USER_PREFIX)?.to_string(), Secret::new(value.as_str()))))
            .collect();
        self.sasl = Some(SaslLogin::DigestMd5 { users });
        Ok(Vec::new())
    }
}

impl AuthSettings {
    /// The Kerberos login of a `Krb5LoginModule` entry, as ZooKeeper's server logs in at start-up: the
    /// `principal` option's keys from the `keyTab` file (with `useKeyTab=true`; otherwise the default
    /// keytab). Fails, naming the JAAS file and why, when the GSSAPI library does not load or the
    /// credential cannot be had.
    fn kerberos_login(&self, jaas: &Path, module: &LoginModule) -> Result<SaslLogin, ConfigError> {
        let fail = |reason: String| ConfigError::Invalid {
            key: "java.security.auth.login.config".to_string(),
            value: jaas.display().to_string(),
            reason: format!("JAAS section {} logs in with Kerberos: {reason}", self.login_context),
        };
        let Some(principal) = module.options.get("principal") else {
            return Err(fail(format!("{} has no principal option", module.class)));
        };
        let use_keytab = module.options.get("useKeyTab").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let keytab = module.options.get("keyTab").filter(|_| use_keytab).map(PathBuf::from);
        if let Some(conf) = &self.krb5_conf {
            crate::sasl::use_krb5_config_file(conf);
        }
        let acceptor = crate::sasl::Acceptor::new(principal, keytab.as_deref()).map_err(fail)?;
        Ok(SaslLogin::Gssapi { principal: principal.clone(), acceptor })
    }
}

/// `authProvider.N=<class>`: Paddock's providers are built in; ZooKeeper's own classes are accepted as
/// the no-ops they are here, any other class is ignored with a warning.
fn auth_provider(class: &str) -> Applied {
    const BUILT_IN: [&str; 4] = [
        "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
        "org.apache.zookeeper.server.auth.DigestAuthenticationProvider",
        "org.apache.zookeeper.server.auth.IPAuthenticationProvider",
        "org.apache.zookeeper.server.auth.X509AuthenticationProvider",
    ];
    if BUILT_IN.contains(&class.trim()) {
        Applied::Known
    } else {
        Applied::Ignored("custom authentication providers are not supported; the built-in ones are always on")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognized_by_name_and_masked() {
        for key in [
            "ssl.keyStore.password",
            "ssl.quorum.trustStore.password",
            "ssl.keyStore.passwordPath",
            "SASLAuthenticationProvider.superPassword",
            "DigestAuthenticationProvider.superDigest",
            "paddock.backup.secretKey",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["ssl.keyStore.location", "clientPort", "superUser", "java.security.auth.login.config"] {
            assert!(!is_secret_key(key), "{key}");
        }
        let text = "clientPort=2181\nssl.keyStore.password = hunter2\n  ssl.trustStore.password:hunter2\n\
                    # ssl.keyStore.password=comment\nzookeeper.DigestAuthenticationProvider.superDigest=super:x=";
        assert_eq!(
            mask_properties(text),
            "clientPort=2181\nssl.keyStore.password =******\n  ssl.trustStore.password:******\n\
             # ssl.keyStore.password=comment\nzookeeper.DigestAuthenticationProvider.superDigest=******\n"
        );
        assert_eq!(format!("{:?}", Secret::new("hunter2")), MASK);
    }

    #[test]
    fn session_require_client_sasl_auth_wins_over_enforce_auth() {
        let mut settings = AuthSettings::default();
        assert_eq!(settings.enforced_schemes(), None);
        settings.enforce_auth_enabled = true;
        settings.enforce_auth_schemes = vec!["digest".to_string()];
        assert_eq!(settings.enforced_schemes(), Some(vec!["digest"]));
        assert!(!settings.sasl_required());
        settings.session_require_client_sasl_auth = true;
        assert_eq!(settings.enforced_schemes(), Some(vec!["sasl"]));
        assert!(settings.sasl_required());
    }
}
