//! Authentication and authorization of admin commands (ZooKeeper 3.9's `Commands.handleAuthentication`
//! and `handleAuthorization`, ZOOKEEPER-4639).
//!
//! The `Authorization` header holds `<scheme> <auth data>`, e.g. `digest root:secret`; for `ip` only the
//! scheme is sent and the id is the caller's address. The ids obtained must hold every bit of the required
//! permission on the node's ACL, each bit checked on its own (ZOOKEEPER-4964). Missing or unusable
//! credentials answer 401, insufficient ones 403.

use std::net::IpAddr;

use axum::http::StatusCode;
use paddock_proto::{AuthPacket, Id, perms};

use super::response::CommandResponse;
use crate::Shared;

/// What `AuthRequest` asks of every authenticated command: ALL on `/`.
const REQUIRED_PERMS: i32 = perms::ALL;
const REQUIRED_PATH: &str = "/";

/// Checks the `Authorization` header of a request for `command` (the name as typed, which ZooKeeper
/// echoes in these answers). `Err` is the answer to send instead of running the command.
pub async fn authorize(
    shared: &Shared,
    command: &str,
    header: Option<&str>,
    peer: IpAddr,
) -> Result<(), CommandResponse> {
    let Some(acl) = shared.inspect(|core| core.tree.get(REQUIRED_PATH).map(|node| node.acl().clone())).await else {
        return Err(CommandResponse::not_serving(command));
    };
    let Some(header) = header else {
        return Err(CommandResponse::failed(command, "Auth info is missing for the command", StatusCode::UNAUTHORIZED));
    };
    let Some(ids) = authenticate(header, peer, shared.config.super_digest.as_deref()) else {
        return Err(CommandResponse::failed(command, "Not authenticated", StatusCode::UNAUTHORIZED));
    };
    let Some(acl) = acl else {
        return Err(CommandResponse::failed(command, "Error occurred during auth", StatusCode::INTERNAL_SERVER_ERROR));
    };
    // CVE-2025-58457's vulnerable variant (any authenticated caller may run the command), for its test.
    fail::fail_point!("cve::2025_58457", |_| Ok(()));
    let granted = permission_bits(REQUIRED_PERMS).all(|bit| paddock_tree::acl::check(&acl, bit, &ids));
    if granted { Ok(()) } else { Err(CommandResponse::failed(command, "Not authorized", StatusCode::FORBIDDEN)) }
}

/// The ids an `Authorization` value proves, or `None` (401). Known schemes are ZooKeeper's default
/// server providers that can work over plain HTTP: `digest` and `ip`.
fn authenticate(header: &str, peer: IpAddr, super_digest: Option<&str>) -> Option<Vec<Id>> {
    let parts = java_split(header, ' ');
    let (scheme, data) = match parts.as_slice() {
        [scheme] => (*scheme, None),
        [scheme, data] => (*scheme, Some(*data)),
        _ => return None,
    };
    let ids = match scheme {
        // DigestAuthenticationProvider needs the `user:password` text.
        "digest" => {
            let packet = AuthPacket { auth_type: 0, scheme: scheme.to_string(), auth: data?.as_bytes().to_vec() };
            crate::auth::authenticate(&packet, super_digest)?
        }
        "ip" => crate::auth::initial_ids(peer),
        _ => return None,
    };
    if ids.is_empty() { None } else { Some(ids) }
}

/// Java's `String.split`: trailing empty pieces are dropped.
fn java_split(text: &str, separator: char) -> Vec<&str> {
    let mut pieces: Vec<&str> = text.split(separator).collect();
    while pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    pieces
}

/// The single-bit permissions making up `perm`.
fn permission_bits(perm: i32) -> impl Iterator<Item = i32> {
    (0..31).map(|b| 1 << b).filter(move |bit| perm & bit != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_tree::acl::digest_id;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn digest_credentials_give_digest_and_super_ids() {
        let super_digest = digest_id("super:secret");
        let ids = authenticate("digest super:secret", PEER, Some(&super_digest)).expect("authenticates");
        assert!(ids.contains(&Id::new("super", "")));
        let ids = authenticate("digest bob:pw", PEER, Some(&super_digest)).expect("authenticates");
        assert_eq!(ids, vec![Id::new("digest", digest_id("bob:pw"))]);
    }

    #[test]
    fn unusable_headers_are_not_authenticated() {
        assert!(authenticate("digest", PEER, None).is_none());
        assert!(authenticate("digest a:b c", PEER, None).is_none());
        assert!(authenticate("digest  a:b", PEER, None).is_none());
        assert!(authenticate("kerberos x", PEER, None).is_none());
        assert!(authenticate("", PEER, None).is_none());
    }

    #[test]
    fn ip_scheme_uses_the_callers_address() {
        assert_eq!(authenticate("ip", PEER, None), Some(vec![Id::new("ip", "127.0.0.1")]));
    }

    #[test]
    fn every_bit_is_checked_on_its_own() {
        assert_eq!(permission_bits(perms::ALL).collect::<Vec<_>>(), vec![1, 2, 4, 8, 16]);
        let read_only = [paddock_proto::Acl { perms: perms::READ, id: Id::new("world", "anyone") }];
        assert!(!permission_bits(perms::ALL).all(|bit| paddock_tree::acl::check(&read_only, bit, &[])));
    }

    #[test]
    fn java_split_drops_trailing_empties_only() {
        assert_eq!(java_split("digest a:b ", ' '), vec!["digest", "a:b"]);
        assert_eq!(java_split("digest  a:b", ' '), vec!["digest", "", "a:b"]);
    }
}
