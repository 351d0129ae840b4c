//! SASL authentication on the client port, as ZooKeeper's `ZooKeeperSaslServer` does it: the client sends
//! `sasl` packets (opcode 102) right after its handshake; each token is evaluated by the connection's SASL
//! server, whose answer goes back in the reply. Once the exchange completes, the connection holds the id
//! `sasl:<authorization id>`, which `sasl` ACLs match and `whoAmI` reports.
//!
//! The mechanism follows the JAAS `Server` section, as in ZooKeeper: DIGEST-MD5 with its `user_` options,
//! or GSSAPI (Kerberos, through the system's GSSAPI library loaded at run time) when the section logs in
//! with `Krb5LoginModule`.

mod digest_md5;
mod gss;
mod gssapi;

use crate::config::{AuthSettings, SaslLogin, Secret};
pub use digest_md5::{DIGEST_URI, REALM};
pub use gss::{Acceptor, LIBRARY as GSSAPI_LIBRARY, use_config_file as use_krb5_config_file};

/// A SASL mechanism the server may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    DigestMd5,
    /// Kerberos through the system's GSSAPI library.
    Gssapi,
}

/// The SASL server of one connection.
#[derive(Debug)]
pub struct SaslServer {
    state: State,
}

#[derive(Debug)]
enum State {
    DigestMd5(digest_md5::DigestMd5),
    Gssapi(gssapi::Gssapi),
    /// No JAAS `Server` section: ZooKeeper then has no SASL server for the connection.
    Unconfigured,
}

/// What one client token leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send this token, even when empty; the exchange goes on.
    Continue(Vec<u8>),
    /// Authenticated: the connection gains `sasl:<id>`; send `token` (empty: no token, Java's null).
    Complete { token: Vec<u8>, id: String },
    /// The exchange failed; the reason is for the log and names no secret.
    Failed(String),
    /// No SASL server is configured: ZooKeeper answers such a token with success and no token, without
    /// authenticating anyone.
    Unconfigured,
}

impl SaslServer {
    /// The server a new connection gets under `settings`.
    pub fn new(settings: &AuthSettings) -> SaslServer {
        let state = match &settings.sasl {
            Some(SaslLogin::DigestMd5 { .. }) => State::DigestMd5(digest_md5::DigestMd5::Start),
            Some(SaslLogin::Gssapi { acceptor, .. }) => State::Gssapi(gssapi::Gssapi::new(acceptor.clone())),
            None => State::Unconfigured,
        };
        SaslServer { state }
    }

    /// Evaluates the client's token.
    pub fn evaluate(&mut self, token: &[u8], settings: &AuthSettings) -> Outcome {
        match &mut self.state {
            State::DigestMd5(exchange) => match exchange.evaluate(token, &|user| password(settings, user)) {
                digest_md5::Step::Continue(token) => Outcome::Continue(token),
                digest_md5::Step::Complete { token, user } => match authorization_id(&user, settings) {
                    Some(id) => Outcome::Complete { token, id },
                    None => Outcome::Failed(format!("malformed principal name {user}")),
                },
                digest_md5::Step::Failed(reason) => Outcome::Failed(reason),
            },
            State::Gssapi(exchange) => match exchange.evaluate(token) {
                gssapi::Step::Continue(token) => Outcome::Continue(token),
                // Java's GSSAPI server completes with no token, which ZooKeeper sends as a null buffer.
                gssapi::Step::Complete { principal } => match authorization_id(&principal, settings) {
                    Some(id) => Outcome::Complete { token: Vec::new(), id },
                    None => Outcome::Failed(format!("malformed principal name {principal}")),
                },
                gssapi::Step::Failed(reason) => Outcome::Failed(reason),
            },
            State::Unconfigured => Outcome::Unconfigured,
        }
    }
}

/// The mechanism the JAAS section calls for, if SASL is configured.
pub fn mechanism(settings: &AuthSettings) -> Option<Mechanism> {
    match settings.sasl.as_ref()? {
        SaslLogin::DigestMd5 { .. } => Some(Mechanism::DigestMd5),
        SaslLogin::Gssapi { .. } => Some(Mechanism::Gssapi),
    }
}

/// `SaslServerCallbackHandler`'s password lookup: a user of the JAAS section's `user_<name>` options;
/// for user `super`, `zookeeper.SASLAuthenticationProvider.superPassword` when set (but only when the
/// section names `super`, since ZooKeeper looks the name up there first).
fn password(settings: &AuthSettings, user: &str) -> Option<Secret> {
    let SaslLogin::DigestMd5 { users } = settings.sasl.as_ref()? else { return None };
    let from_file = users.get(user)?;
    match &settings.super_password {
        Some(password) if user == "super" => Some(password.clone()),
        _ => Some(from_file.clone()),
    }
}

/// The `sasl` id of an authenticated principal, canonicalized as `SaslServerCallbackHandler` does: a
/// Kerberos-style name `service/host@REALM` keeps its host and realm unless
/// `kerberos.removeHostFromPrincipal` / `kerberos.removeRealmFromPrincipal` say otherwise. `None`: a name
/// with an `@` that is not of that shape (`KerberosName` refuses it).
pub fn authorization_id(principal: &str, settings: &AuthSettings) -> Option<String> {
    let Some((name, realm)) = principal.split_once('@') else { return Some(principal.to_string()) };
    if realm.contains(['/', '@']) {
        return None;
    }
    let (service, host) = match name.split_once('/') {
        Some((service, host)) if !host.contains('/') => (service, Some(host)),
        Some(_) => return None,
        None => (name, None),
    };
    let mut id = service.to_string();
    if let Some(host) = host.filter(|_| !settings.remove_host_from_principal) {
        id.push('/');
        id.push_str(host);
    }
    if !settings.remove_realm_from_principal {
        id.push('@');
        id.push_str(realm);
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_lose_host_and_realm_only_when_asked() {
        let mut settings = AuthSettings::default();
        let id = |settings: &AuthSettings, name: &str| authorization_id(name, settings);
        assert_eq!(id(&settings, "bob").as_deref(), Some("bob"));
        assert_eq!(id(&settings, "zk/host1@EXAMPLE.COM").as_deref(), Some("zk/host1@EXAMPLE.COM"));
        settings.remove_host_from_principal = true;
        assert_eq!(id(&settings, "zk/host1@EXAMPLE.COM").as_deref(), Some("zk@EXAMPLE.COM"));
        settings.remove_realm_from_principal = true;
        assert_eq!(id(&settings, "zk/host1@EXAMPLE.COM").as_deref(), Some("zk"));
        assert_eq!(id(&settings, "bob@EXAMPLE.COM").as_deref(), Some("bob"));
        for malformed in ["a@b@c", "a/b/c@R", "a@R/x"] {
            assert_eq!(id(&settings, malformed), None, "{malformed}");
        }
    }

    #[test]
    fn without_a_jaas_section_no_one_authenticates() {
        let settings = AuthSettings::default();
        assert_eq!(mechanism(&settings), None);
        assert_eq!(SaslServer::new(&settings).evaluate(b"", &settings), Outcome::Unconfigured);
    }

    #[test]
    fn the_super_password_overrides_the_jaas_file() {
        let users = [("super".to_string(), Secret::new("fromfile")), ("bob".to_string(), Secret::new("b"))];
        let mut settings = AuthSettings {
            sasl: Some(SaslLogin::DigestMd5 { users: users.into_iter().collect() }),
            ..Default::default()
        };
        assert_eq!(password(&settings, "super"), Some(Secret::new("fromfile")));
        settings.super_password = Some(Secret::new("fromflag"));
        assert_eq!(password(&settings, "super"), Some(Secret::new("fromflag")));
        assert_eq!(password(&settings, "bob"), Some(Secret::new("b")));
        assert_eq!(password(&settings, "eve"), None);
        let mut settings = AuthSettings { sasl: Some(SaslLogin::DigestMd5 { users: Default::default() }), ..settings };
        settings.super_password = Some(Secret::new("fromflag"));
        assert_eq!(password(&settings, "super"), None, "super must be a JAAS user");
    }
}
