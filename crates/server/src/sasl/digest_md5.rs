//! The server side of DIGEST-MD5 (RFC 2831) as Java's SASL server runs it for ZooKeeper: protocol
//! `zookeeper`, server name and realm `zk-sasl-md5`, quality of protection `auth` only (no integrity or
//! confidentiality layer, which ZooKeeper never negotiates), `charset=utf-8`, `algorithm=md5-sess`.
//!
//! The exchange: the client's first token is empty and the server answers a challenge (realm, a fresh
//! nonce); the client answers a digest of its password over that nonce and its own cnonce; the server
//! checks it against the password of the JAAS `Server` section and answers `rspauth`, proving it knows the
//! password too. Nothing here logs or returns a password or a digest: a failure's reason says what was
//! wrong, never with what value.

use std::collections::BTreeMap;

use base64::Engine;
use md5::{Digest, Md5};

use crate::config::Secret;

/// ZooKeeper's hard-coded server name for DIGEST-MD5, which Java also offers as the realm.
pub const REALM: &str = "zk-sasl-md5";
/// The `digest-uri` a ZooKeeper client names: `<protocol>/<server name>`.
pub const DIGEST_URI: &str = "zookeeper/zk-sasl-md5";
/// Java's nonce: this many random bytes, base64-encoded.
const NONCE_BYTES: usize = 30;

/// Where an exchange stands.
#[derive(Debug)]
pub enum DigestMd5 {
    /// Waiting for the client's (empty) first token.
    Start,
    /// The challenge with this nonce was sent.
    Challenged { nonce: String },
    /// Authenticated, or failed: nothing more is accepted.
    Done,
}

/// What one client token leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this token and wait for the next.
    Continue(Vec<u8>),
    /// The client proved it knows `user`'s password: send `token` (the `rspauth`).
    Complete { token: Vec<u8>, user: String },
    /// Refuse; the reason is for the log and names no secret.
    Failed(String),
}

impl DigestMd5 {
    /// Evaluates the client's token against `passwords` (user name → password).
    pub fn evaluate(&mut self, token: &[u8], passwords: &dyn Fn(&str) -> Option<Secret>) -> Step {
        match std::mem::replace(self, DigestMd5::Done) {
            DigestMd5::Start => {
                // Java's server answers any first token with its challenge; DIGEST-MD5 has no initial response.
                let nonce = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; NONCE_BYTES]>());
                let challenge = challenge(REALM, &nonce);
                *self = DigestMd5::Challenged { nonce };
                Step::Continue(challenge)
            }
            DigestMd5::Challenged { nonce } => match verify(token, &nonce, passwords) {
                Ok((user, rspauth)) => Step::Complete { token: format!("rspauth={rspauth}").into_bytes(), user },
                Err(reason) => Step::Failed(format!("DIGEST-MD5: {reason}")),
            },
            DigestMd5::Done => Step::Failed("DIGEST-MD5: authentication already complete".to_string()),
        }
    }
}

/// The challenge, directive for directive as Java's `DigestMD5Server` writes it.
fn challenge(realm: &str, nonce: &str) -> Vec<u8> {
    format!("realm=\"{realm}\",nonce=\"{nonce}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess").into_bytes()
}

/// Checks a digest-response; returns the user and the `rspauth` value.
fn verify(token: &[u8], nonce: &str, passwords: &dyn Fn(&str) -> Option<Secret>) -> Result<(String, String), String> {
    let text = std::str::from_utf8(token).map_err(|_| "the response is not UTF-8")?;
    let d = parse_directives(text)?;
    let get = |name: &str| d.get(name).map(String::as_str);
    let required = |name: &'static str| get(name).ok_or(format!("the response lacks {name}"));
    let user = required("username")?;
    if get("charset").is_some_and(|c| !c.eq_ignore_ascii_case("utf-8")) {
        return Err("unsupported charset".to_string());
    }
    let realm = get("realm").unwrap_or("");
    if !realm.is_empty() && realm != REALM {
        return Err("mismatched realm".to_string());
    }
    if required("nonce")? != nonce {
        return Err("mismatched nonce".to_string());
    }
    let cnonce = required("cnonce")?;
    let nc = required("nc")?;
    if nc != "00000001" {
        return Err("nonce count is not 1".to_string());
    }
    let qop = get("qop").unwrap_or("auth");
    if qop != "auth" {
        return Err(format!("quality of protection {qop} was not offered"));
    }
    let digest_uri = required("digest-uri")?;
    if !digest_uri.eq_ignore_ascii_case(DIGEST_URI) {
        return Err("mismatched digest-uri".to_string());
    }
    let password = passwords(user).ok_or_else(|| format!("no password for user {user}"))?;
    let exchange =
        Exchange { user, realm, password: &password, nonce, cnonce, nc, qop, digest_uri, authzid: get("authzid") };
    let expected = exchange.response_value("AUTHENTICATE");
    if !constant_time_eq(expected.as_bytes(), required("response")?.to_ascii_lowercase().as_bytes()) {
        return Err(format!("wrong password for user {user}"));
    }
    Ok((user.to_string(), exchange.response_value("")))
}

/// The values both sides hash.
struct Exchange<'a> {
    user: &'a str,
    realm: &'a str,
    password: &'a Secret,
    nonce: &'a str,
    cnonce: &'a str,
    nc: &'a str,
    qop: &'a str,
    digest_uri: &'a str,
    authzid: Option<&'a str>,
}

impl Exchange<'_> {
    /// RFC 2831 §2.1.2.1 `response-value`; `method` is `AUTHENTICATE` for the client's response and empty
    /// for the server's `rspauth`.
    fn response_value(&self, method: &str) -> String {
        let mut secret = Md5::new();
        for (i, part) in [self.user, self.realm, self.password.expose()].into_iter().enumerate() {
            if i > 0 {
                secret.update(b":");
            }
            secret.update(java_bytes(part));
        }
        let mut a1 = secret.finalize().to_vec();
        a1.extend_from_slice(format!(":{}:{}", self.nonce, self.cnonce).as_bytes());
        if let Some(authzid) = self.authzid {
            a1.push(b':');
            a1.extend_from_slice(authzid.as_bytes());
        }
        let a2 = format!("{method}:{}", self.digest_uri);
        let kd = format!(
            "{}:{}:{}:{}:{}:{}",
            md5_hex(&a1),
            self.nonce,
            self.nc,
            self.cnonce,
            self.qop,
            md5_hex(a2.as_bytes())
        );
        md5_hex(kd.as_bytes())
    }
}

/// Java's `stringToByte_8859_1` under `charset=utf-8`: ISO 8859-1 bytes when every character fits, else
/// UTF-8 (RFC 2831 §2.1.2.1 asks the same).
fn java_bytes(text: &str) -> Vec<u8> {
    if text.chars().all(|c| u32::from(c) <= 0xFF) {
        text.chars().map(|c| c as u8).collect()
    } else {
        text.as_bytes().to_vec()
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without stopping at the first difference, so timing tells nothing about the expected value.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `name=value` directives separated by commas; a value is a token or a quoted string with backslash
/// escapes. A directive given twice is refused, as Java does.
fn parse_directives(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut directives = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        if chars.peek().is_none() {
            return Ok(directives);
        }
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && *c != ',') {
            name.push(c);
        }
        let name = name.trim().to_ascii_lowercase();
        if chars.next() != Some('=') || name.is_empty() {
            return Err("malformed directive in the response".to_string());
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated quoted value of {name}")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
            value = value.trim().to_string();
        }
        if directives.insert(name.clone(), value).is_some() {
            return Err(format!("directive {name} given twice"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2831 §4's example exchange (an IMAP login), checked against its published values.
    #[test]
    fn the_rfc_example_hashes_to_its_published_values() {
        let password = Secret::new("secret");
        let exchange = Exchange {
            user: "chris",
            realm: "elwood.innosoft.com",
            password: &password,
            nonce: "OA6MG9tEQGm2hh",
            cnonce: "OA6MHXh6VqTrRk",
            nc: "00000001",
            qop: "auth",
            digest_uri: "imap/elwood.innosoft.com",
            authzid: None,
        };
        assert_eq!(exchange.response_value("AUTHENTICATE"), "d388dad90d4bbd760a152321f2143af7");
        assert_eq!(exchange.response_value(""), "ea40f60335c427b5527b84dbabcdfffd");
    }

    fn passwords(user: &str) -> Option<Secret> {
        (user == "bob").then(|| Secret::new("bobsecret"))
    }

    /// A client's response to `challenge` as pure-sasl (kazoo) and the Java client write it.
    fn respond(challenge: &[u8], user: &str, password: &str) -> (Vec<u8>, String) {
        let directives = parse_directives(std::str::from_utf8(challenge).expect("utf-8")).expect("parses");
        let nonce = directives["nonce"].as_str();
        let password = Secret::new(password);
        let exchange = Exchange {
            user,
            realm: REALM,
            password: &password,
            nonce,
            cnonce: "cnonce1",
            nc: "00000001",
            qop: "auth",
            digest_uri: DIGEST_URI,
            authzid: None,
        };
        let response = format!(
            "qop=auth,realm=\"{REALM}\",username=\"{user}\",nonce=\"{nonce}\",cnonce=\"cnonce1\",nc=00000001,\
             digest-uri=\"{DIGEST_URI}\",response={}",
            exchange.response_value("AUTHENTICATE")
        );
        (response.into_bytes(), exchange.response_value(""))
    }

    #[test]
    fn a_right_password_completes_with_rspauth() {
        let mut server = DigestMd5::Start;
        let Step::Continue(challenge) = server.evaluate(b"", &passwords) else { panic!("a challenge") };
        let text = String::from_utf8(challenge.clone()).expect("utf-8");
        assert!(text.starts_with("realm=\"zk-sasl-md5\",nonce=\""), "{text}");
        assert!(text.ends_with("\",qop=\"auth\",charset=utf-8,algorithm=md5-sess"), "{text}");
        let (response, rspauth) = respond(&challenge, "bob", "bobsecret");
        assert_eq!(
            server.evaluate(&response, &passwords),
            Step::Complete { token: format!("rspauth={rspauth}").into_bytes(), user: "bob".to_string() }
        );
        assert!(matches!(server.evaluate(b"", &passwords), Step::Failed(r) if r.contains("already complete")));
    }

    #[test]
    fn wrong_passwords_unknown_users_and_replays_fail_without_secrets() {
        for (user, password) in [("bob", "not-it"), ("eve", "bobsecret")] {
            let mut server = DigestMd5::Start;
            let Step::Continue(challenge) = server.evaluate(b"", &passwords) else { panic!("a challenge") };
            let (response, _) = respond(&challenge, user, password);
            let Step::Failed(reason) = server.evaluate(&response, &passwords) else { panic!("{user} must fail") };
            assert!(reason.contains(user) && !reason.contains("secret") && !reason.contains(password), "{reason}");
        }
        // A response to another exchange's nonce is refused.
        let mut first = DigestMd5::Start;
        let Step::Continue(challenge) = first.evaluate(b"", &passwords) else { panic!("a challenge") };
        let (response, _) = respond(&challenge, "bob", "bobsecret");
        let mut second = DigestMd5::Start;
        second.evaluate(b"", &passwords);
        assert!(matches!(second.evaluate(&response, &passwords), Step::Failed(r) if r.contains("nonce")));
    }

    #[test]
    fn malformed_responses_fail() {
        for bad in [&b"\xff\xfe"[..], b"username", b"username=\"bob", b"username=bob,username=bob", b"nonce=x"] {
            let mut server = DigestMd5::Challenged { nonce: "n".to_string() };
            assert!(matches!(server.evaluate(bad, &passwords), Step::Failed(_)), "{bad:?}");
        }
    }

    #[test]
    fn latin1_names_hash_as_java_does() {
        assert_eq!(java_bytes("bob"), b"bob");
        assert_eq!(java_bytes("jos\u{e9}"), b"jos\xe9");
        assert_eq!(java_bytes("\u{65e5}"), "\u{65e5}".as_bytes());
    }
}
