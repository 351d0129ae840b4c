//! Who a TLS client certificate says the client is: ZooKeeper's `x509` authentication provider makes the
//! certificate's subject, as Java's `X500Principal.getName()` writes it (RFC 2253), the session's `x509`
//! id, usable in ACLs, and a `super` id too when it is `zookeeper.X509AuthenticationProvider.superUser`.
//! And the client hostname check that ZooKeeper 3.9.4 added (`ssl.clientHostnameVerification`): the
//! certificate must name the address the client connects from, never found by a reverse DNS lookup
//! (CVE-2026-24281).

use std::net::IpAddr;

use paddock_proto::Id;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The subject of a DER certificate in RFC 2253 form, e.g. `CN=client,OU=Eng,O=Acme,C=US`.
pub fn subject_rfc2253(der: &[u8]) -> Result<String, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("the client certificate does not parse: {e}"))?;
    let rdns: Vec<String> = cert
        .subject()
        .iter()
        .map(|rdn| rdn.iter().map(|atv| attribute(atv.attr_type().to_id_string(), atv.as_str().ok(), atv.as_slice())))
        .map(|attrs| attrs.collect::<Vec<_>>().join("+"))
        .collect();
    // RFC 2253 names the most specific RDN first: the reverse of the certificate's order.
    Ok(rdns.into_iter().rev().collect::<Vec<_>>().join(","))
}

/// One `type=value` of RFC 2253: the keywords Java's `X500Principal` uses, other types as dotted OIDs with
/// the value's DER in hex.
fn attribute(oid: String, text: Option<&str>, raw: &[u8]) -> String {
    let keyword = match oid.as_str() {
        "2.5.4.3" => Some("CN"),
        "2.5.4.6" => Some("C"),
        "2.5.4.7" => Some("L"),
        "2.5.4.8" => Some("ST"),
        "2.5.4.9" => Some("STREET"),
        "2.5.4.10" => Some("O"),
        "2.5.4.11" => Some("OU"),
        "0.9.2342.19200300.100.1.25" => Some("DC"),
        "0.9.2342.19200300.100.1.1" => Some("UID"),
        _ => None,
    };
    match (keyword, text) {
        (Some(keyword), Some(text)) => format!("{keyword}={}", escape(text)),
        _ => format!("{oid}=#{}", raw.iter().map(|b| format!("{b:02x}")).collect::<String>()),
    }
}

/// RFC 2253 §2.4 escaping, as Java applies it.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == ' ' || c == '#'))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The ids a verified client certificate gives its session: `x509:<subject>`, and `super:<subject>` when the
/// subject is the configured super user.
pub fn x509_ids(der: &[u8], super_user: Option<&str>) -> Result<Vec<Id>, String> {
    let subject = subject_rfc2253(der)?;
    let mut ids = vec![Id { scheme: "x509".into(), id: subject.clone() }];
    if super_user == Some(subject.as_str()) {
        ids.push(Id { scheme: "super".into(), id: subject });
    }
    Ok(ids)
}

/// Whether the certificate names `ip` among its IP address subject alternative names. Only the address the
/// connection comes from counts: a DNS name would need a reverse lookup, which an attacker who controls
/// PTR records could answer (CVE-2026-24281).
pub fn names_address(der: &[u8], ip: IpAddr) -> bool {
    let Ok((_, cert)) = X509Certificate::from_der(der) else { return false };
    let Ok(Some(san)) = cert.subject_alternative_name() else { return false };
    // CVE-2026-24281's vulnerable variant: a DNS name passes, as if a reverse lookup had confirmed it.
    fail::fail_point!("cve::2026_24281", |_| san
        .value
        .general_names
        .iter()
        .any(|name| matches!(name, GeneralName::IPAddress(_) | GeneralName::DNSName(_))));
    let wanted: Vec<u8> = match ip.to_canonical() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    san.value.general_names.iter().any(|name| matches!(name, GeneralName::IPAddress(bytes) if *bytes == wanted))
}

/// Whether the certificate names `host` among its DNS name subject alternative names, exactly (ASCII
/// case aside; no wildcard): a peer's `server.N` host as written. Whoever resolves it does so forwards.
pub fn names_dns(der: &[u8], host: &str) -> bool {
    let Ok((_, cert)) = X509Certificate::from_der(der) else { return false };
    let Ok(Some(san)) = cert.subject_alternative_name() else { return false };
    let host = host.trim_end_matches('.');
    san.value
        .general_names
        .iter()
        .any(|name| matches!(name, GeneralName::DNSName(dns) if dns.trim_end_matches('.').eq_ignore_ascii_case(host)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_as_rfc_2253_says() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape("#lead"), "\\#lead");
        assert_eq!(escape(" both "), "\\ both\\ ");
        assert_eq!(escape("q\"<>;\\"), "q\\\"\\<\\>\\;\\\\");
        assert_eq!(attribute("2.5.4.3".into(), Some("x"), b""), "CN=x");
        assert_eq!(attribute("1.2.3".into(), Some("x"), &[0x0c, 1, b'x']), "1.2.3=#0c0178");
    }
}
