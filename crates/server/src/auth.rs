//! Authentication providers: what an `auth` packet adds to a connection's ids.
//!
//! Every connection starts with `ip:<address>`; `digest` adds `digest:user:BASE64(SHA1(user:password))` and,
//! when that digest equals the configured super digest, the `super` id that bypasses every ACL check.

use std::net::IpAddr;

use paddock_proto::{AuthPacket, Id};
use paddock_tree::acl::digest_id;

/// The ids a fresh connection from `peer` holds.
pub fn initial_ids(peer: IpAddr) -> Vec<Id> {
    vec![Id::new("ip", peer.to_string())]
}

/// Applies an `auth` packet. Returns the ids to add, or `None` when the scheme is unknown or the data is
/// unusable (ZooKeeper answers AuthFailed and closes the connection).
pub fn authenticate(packet: &AuthPacket, super_digest: Option<&str>) -> Option<Vec<Id>> {
    match packet.scheme.as_str() {
        "digest" => {
            let user_password = std::str::from_utf8(&packet.auth).ok()?;
            let id = digest_id(user_password);
            let mut ids = vec![Id::new("digest", id.clone())];
            if super_digest.is_some_and(|s| s == id) {
                ids.push(Id::new("super", ""));
            }
            Some(ids)
        }
        // ZooKeeper's IPAuthenticationProvider only re-asserts the address the connection already has.
        "ip" => Some(Vec::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(scheme: &str, auth: &str) -> AuthPacket {
        AuthPacket { auth_type: 0, scheme: scheme.to_string(), auth: auth.as_bytes().to_vec() }
    }

    #[test]
    fn digest_auth_adds_digest_id_and_super_when_configured() {
        let super_digest = digest_id("super:secret");
        let ids = authenticate(&packet("digest", "super:secret"), Some(&super_digest)).expect("ok");
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[1], Id::new("super", ""));
        let ids = authenticate(&packet("digest", "bob:pw"), Some(&super_digest)).expect("ok");
        assert_eq!(ids, vec![Id::new("digest", digest_id("bob:pw"))]);
    }

    #[test]
    fn unknown_scheme_fails() {
        assert!(authenticate(&packet("kerberos", "x"), None).is_none());
    }
}
