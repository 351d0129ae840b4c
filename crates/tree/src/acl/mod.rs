//! ACL evaluation (`ZooKeeperServer.checkACL`), create-time ACL fixing (`PrepRequestProcessor.fixupACL`)
//! and the `digest` scheme's id format (`DigestAuthenticationProvider`).
//!
//! The schemes known are ZooKeeper's defaults: `world` (only `world:anyone`), `digest`, `ip`, and the
//! create-time alias `auth`; and `sasl` (`SASLAuthenticationProvider`, which Paddock always has, where
//! ZooKeeper needs it configured as an `authProvider`). The `super` id (added to a connection by the
//! server) bypasses every check.

mod ip;

use base64::Engine;
use paddock_proto::{Acl, ErrorCode, Id};
use sha1::{Digest, Sha1};

/// May a caller holding `auth` do `perm` on a node with `acl`? An empty ACL allows everything.
pub fn check(acl: &[Acl], perm: i32, auth: &[Id]) -> bool {
    if acl.is_empty() || auth.iter().any(|id| id.scheme == "super") {
        return true;
    }
    acl.iter().any(|entry| entry.perms & perm != 0 && grants(&entry.id, auth))
}

fn grants(acl_id: &Id, auth: &[Id]) -> bool {
    let matching = |scheme: &str, matches: fn(&str, &str) -> bool| {
        auth.iter().any(|id| id.scheme == scheme && matches(&id.id, &acl_id.id))
    };
    match acl_id.scheme.as_str() {
        "world" => acl_id.id == "anyone",
        "digest" => matching("digest", |id, expr| id == expr),
        "ip" => matching("ip", ip::matches),
        // `SASLAuthenticationProvider.matches`: the same id, or an authenticated SASL user named `super`.
        "sasl" => matching("sasl", |id, expr| id == "super" || id == expr),
        // `X509AuthenticationProvider.matches`: the client certificate's subject, exactly.
        "x509" => matching("x509", |id, expr| id == expr),
        _ => false,
    }
}

/// `fixupACL`: removes duplicates, expands `auth` to the caller's authenticated ids, and refuses an empty
/// list, an unknown scheme or a malformed id with `InvalidAcl`.
pub fn fixup_acl(acl: &[Acl], auth: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for entry in acl {
        if !unique.contains(&entry) {
            unique.push(entry);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut fixed = Vec::with_capacity(unique.len());
    for entry in unique {
        if entry.id.scheme == "auth" {
            let before = fixed.len();
            // Only providers that really authenticate count: `ip` does not, `super` has no provider.
            let authenticated = |id: &&Id| matches!(id.scheme.as_str(), "digest" | "sasl" | "x509");
            fixed.extend(auth.iter().filter(authenticated).map(|id| Acl::new(entry.perms, id.clone())));
            if fixed.len() == before {
                return Err(ErrorCode::InvalidAcl);
            }
        } else if is_valid_id(&entry.id) {
            fixed.push(entry.clone());
        } else {
            return Err(ErrorCode::InvalidAcl);
        }
    }
    Ok(fixed)
}

fn is_valid_id(id: &Id) -> bool {
    match id.scheme.as_str() {
        "world" => id.id == "anyone",
        "digest" => java_split_len(&id.id, ':') == 2,
        "ip" => ip::is_valid(&id.id),
        "sasl" => is_kerberos_name(&id.id),
        // `X509AuthenticationProvider.isValid` asks `X500Principal` to parse it: at least one `type=value`.
        "x509" => id.id.contains('='),
        _ => false,
    }
}

/// `SASLAuthenticationProvider.isValid`: what `KerberosName` accepts, a name without `@`, or
/// `service[/host]@REALM` with no further `/` or `@`.
fn is_kerberos_name(id: &str) -> bool {
    let Some((name, realm)) = id.split_once('@') else { return true };
    !realm.contains(['/', '@']) && name.matches('/').count() <= 1 && !name.contains('@')
}

/// Java's `String.split(sep).length`: trailing empty pieces are dropped, which makes `user:` invalid.
fn java_split_len(s: &str, sep: char) -> usize {
    let pieces: Vec<&str> = s.split(sep).collect();
    pieces.iter().rposition(|p| !p.is_empty()).map_or(0, |last| last + 1)
}

/// `DigestAuthenticationProvider.generateDigest`: `user:BASE64(SHA1("user:password"))`, the hash taken over
/// the whole text and the user being everything before the first `:`.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or_default();
    let hash = Sha1::digest(user_password.as_bytes());
    format!("{user}:{}", base64::engine::general_purpose::STANDARD.encode(hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_proto::perms;

    fn digest(user_password: &str) -> Id {
        Id::new("digest", digest_id(user_password))
    }

    #[test]
    fn digest_id_matches_zookeeper() {
        // Values produced by `DigestAuthenticationProvider.generateDigest`.
        assert_eq!(digest_id("super:test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
        assert_eq!(digest_id("bob:secret"), "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=");
        assert_eq!(digest_id("nopassword"), "nopassword:0Ybo2sSKJNARW1aNCrLJ6Lguats=");
    }

    #[test]
    fn empty_acl_and_super_allow_everything() {
        assert!(check(&[], perms::ALL, &[]));
        let acl = vec![Acl::new(perms::READ, digest("bob:secret"))];
        assert!(!check(&acl, perms::WRITE, &[digest("bob:secret")]));
        assert!(check(&acl, perms::WRITE, &[Id::new("super", "")]));
    }

    #[test]
    fn world_anyone_and_digest() {
        let acl = vec![Acl::new(perms::READ, Id::anyone()), Acl::new(perms::ALL, digest("bob:secret"))];
        assert!(check(&acl, perms::READ, &[]));
        assert!(!check(&acl, perms::WRITE, &[Id::new("ip", "127.0.0.1")]));
        assert!(check(&acl, perms::WRITE, &[Id::new("ip", "127.0.0.1"), digest("bob:secret")]));
        assert!(!check(&acl, perms::WRITE, &[digest("bob:wrong")]));
        let other_world = vec![Acl::new(perms::ALL, Id::new("world", "someone"))];
        assert!(!check(&other_world, perms::READ, &[]));
        // A permission needs any one of the requested bits.
        assert!(check(&acl, perms::READ | perms::ADMIN, &[]));
    }

    #[test]
    fn ip_acls_match_addresses_and_networks() {
        let acl = |expr: &str| vec![Acl::new(perms::ALL, Id::new("ip", expr))];
        let from = |addr: &str| vec![Id::new("ip", addr)];
        assert!(check(&acl("10.0.0.0/8"), perms::READ, &from("10.1.2.3")));
        assert!(!check(&acl("10.0.0.0/8"), perms::READ, &from("11.1.2.3")));
        assert!(check(&acl("127.0.0.1"), perms::READ, &from("127.0.0.1")));
        assert!(!check(&acl("127.0.0.1"), perms::READ, &from("127.0.0.2")));
        assert!(check(&acl("192.168.1.0/23"), perms::READ, &from("192.168.0.77")));
        assert!(check(&acl("0.0.0.0/0"), perms::READ, &from("8.8.8.8")));
        assert!(check(&acl("::1"), perms::READ, &from("0:0:0:0:0:0:0:1")));
        assert!(check(&acl("2001:db8::/32"), perms::READ, &from("2001:db8:1::5")));
        assert!(!check(&acl("2001:db8::/32"), perms::READ, &from("2001:db9::5")));
        assert!(!check(&acl("::/0"), perms::READ, &from("10.0.0.1")));
        // A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6 addresses.
        assert!(check(&acl("10.0.0.0/8"), perms::READ, &from("::ffff:10.9.8.7")));
        // A digest id never matches an ip entry, even with the same text.
        assert!(!check(&acl("10.0.0.1"), perms::READ, &[Id::new("digest", "10.0.0.1")]));
    }

    #[test]
    fn sasl_ids_match_themselves_and_a_sasl_super() {
        let acl = vec![Acl::new(perms::READ, Id::new("sasl", "bob"))];
        assert!(check(&acl, perms::READ, &[Id::new("sasl", "bob")]));
        assert!(!check(&acl, perms::READ, &[Id::new("sasl", "alice")]));
        assert!(!check(&acl, perms::READ, &[Id::new("digest", "bob")]));
        assert!(check(&acl, perms::READ, &[Id::new("sasl", "super")]));
        let auth_acl = vec![Acl::new(perms::ALL, Id::new("auth", ""))];
        assert_eq!(
            fixup_acl(&auth_acl, &[Id::new("ip", "127.0.0.1"), Id::new("sasl", "bob")]),
            Ok(vec![Acl::new(perms::ALL, Id::new("sasl", "bob"))])
        );
    }

    #[test]
    fn fixup_expands_auth_and_refuses_bad_entries() {
        let bob = digest("bob:secret");
        let ip = Id::new("ip", "10.0.0.1");
        let auth_acl = vec![Acl::new(perms::ALL, Id::new("auth", ""))];
        assert_eq!(
            fixup_acl(&auth_acl, &[ip.clone(), bob.clone(), Id::new("super", "")]),
            Ok(vec![Acl::new(perms::ALL, bob.clone())])
        );
        assert_eq!(fixup_acl(&auth_acl, std::slice::from_ref(&ip)), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup_acl(&[], std::slice::from_ref(&bob)), Err(ErrorCode::InvalidAcl));
        let dup = vec![Acl::new(perms::READ, Id::anyone()), Acl::new(perms::READ, Id::anyone())];
        assert_eq!(fixup_acl(&dup, &[]), Ok(vec![Acl::new(perms::READ, Id::anyone())]));
        for bad in [
            Id::new("world", "someone"),
            Id::new("digest", "user"),
            Id::new("digest", "user:"),
            Id::new("digest", "a:b:c"),
            Id::new("ip", "1.2.3"),
            Id::new("ip", "10.0.0.0/33"),
            Id::new("ip", "nothost"),
            Id::new("super", ""),
            Id::new("sasl", "bob@A@B"),
            Id::new("sasl", "a/b/c@R"),
        ] {
            assert_eq!(fixup_acl(&[Acl::new(perms::ALL, bad.clone())], &[]), Err(ErrorCode::InvalidAcl), "{bad}");
        }
        for good in [
            Id::new("digest", "user:hash"),
            Id::new("ip", "10.0.0.0/8"),
            Id::new("ip", "fe80::1/64"),
            Id::new("sasl", "bob"),
            Id::new("sasl", "zk/host@EXAMPLE.COM"),
        ] {
            assert!(fixup_acl(&[Acl::new(perms::ALL, good.clone())], &[]).is_ok(), "{good}");
        }
    }
}
