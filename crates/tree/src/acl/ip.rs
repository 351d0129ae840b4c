//! The `ip` scheme (`IPAuthenticationProvider`): an ACL id is an address or `address/bits`, IPv4 or IPv6,
//! parsed exactly as ZooKeeper parses it.
//!
//! One addition: a caller whose address is an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a
//! dual-stack listener reports for IPv4 clients) is matched as the IPv4 address it stands for.

use std::net::Ipv6Addr;

/// Is `expr` a well-formed ACL id for the `ip` scheme?
pub(super) fn is_valid(expr: &str) -> bool {
    parse_expr(expr).is_some()
}

/// Does the caller's address `id` fall inside the ACL's address or network `expr`?
pub(super) fn matches(id: &str, expr: &str) -> bool {
    let Some((mut network, bits)) = parse_expr(expr) else {
        return false;
    };
    let Some(mut caller) = parse_caller(id) else {
        return false;
    };
    if caller.len() != network.len() {
        return false;
    }
    mask(&mut network, bits);
    mask(&mut caller, bits);
    caller == network
}

fn parse_expr(expr: &str) -> Option<(Vec<u8>, usize)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits)),
        None => (expr, None),
    };
    let bytes = parse_addr(addr)?;
    let max = bytes.len() * 8;
    let bits = match bits {
        None => max,
        Some(bits) => usize::try_from(bits.parse::<i32>().ok()?).ok().filter(|b| *b <= max)?,
    };
    Some((bytes, bits))
}

fn parse_caller(id: &str) -> Option<Vec<u8>> {
    if let Some(v4) = id.parse::<Ipv6Addr>().ok().and_then(|a| a.to_ipv4_mapped()) {
        return Some(v4.octets().to_vec());
    }
    parse_addr(id)
}

/// `addr2Bytes`: a `:` means IPv6, otherwise a `.` means IPv4.
fn parse_addr(addr: &str) -> Option<Vec<u8>> {
    if addr.contains(':') {
        parse_v6(addr)
    } else if addr.contains('.') {
        parse_v4(addr)
    } else {
        None
    }
}

/// Four decimal parts, each 0..=255 as Java's `Integer.parseInt` reads them.
fn parse_v4(addr: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    parts.iter().map(|p| p.parse::<i32>().ok().and_then(|v| u8::try_from(v).ok())).collect()
}

/// `parseV6addr`: at most one `::`, eight groups of at most four hex digits otherwise.
fn parse_v6(addr: &str) -> Option<Vec<u8>> {
    let halves: Vec<&str> = addr.split("::").collect();
    let groups =
        |s: &str| -> Vec<String> { if s.is_empty() { Vec::new() } else { s.split(':').map(str::to_string).collect() } };
    let (head, tail) = match halves.as_slice() {
        [full] => {
            let head = full.split(':').map(str::to_string).collect::<Vec<_>>();
            (head.len() == 8).then_some((head, Vec::new()))?
        }
        [head, tail] => {
            let (head, tail) = (groups(head), groups(tail));
            (head.len() + tail.len() < 8).then_some((head, tail))?
        }
        _ => return None,
    };
    let mut bytes = vec![0u8; 16];
    write_groups(&mut bytes[..], &head)?;
    let tail_start = 16 - tail.len() * 2;
    write_groups(&mut bytes[tail_start..], &tail)?;
    Some(bytes)
}

fn write_groups(out: &mut [u8], groups: &[String]) -> Option<()> {
    for (slot, group) in out.chunks_mut(2).zip(groups) {
        if group.is_empty() || group.chars().count() > 4 {
            return None;
        }
        let value = i32::from_str_radix(group, 16).ok()?;
        slot.copy_from_slice(&[(value >> 8) as u8, value as u8]);
    }
    Some(())
}

/// Clears every bit after the first `bits`.
fn mask(bytes: &mut [u8], bits: usize) {
    for (i, byte) in bytes.iter_mut().enumerate() {
        let keep = bits.saturating_sub(i * 8).min(8);
        *byte &= !(0xffu16 >> keep) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_zookeeper() {
        assert_eq!(parse_addr("10.0.0.1"), Some(vec![10, 0, 0, 1]));
        assert_eq!(parse_addr("10.0.0.256"), None);
        assert_eq!(parse_addr("10.0.0"), None);
        assert_eq!(parse_addr("::1").map(|b| b[15]), Some(1));
        assert_eq!(parse_addr("1:2:3:4:5:6:7:8").map(|b| (b[0], b[1], b[15])), Some((0, 1, 8)));
        assert_eq!(parse_addr("1:2:3:4:5:6:7"), None);
        assert_eq!(parse_addr("1::2::3"), None);
        assert_eq!(parse_addr("1:2:3:4::5:6:7:8"), None);
        assert_eq!(parse_addr("12345::"), None);
        assert_eq!(parse_addr("localhost"), None);
        // Java's parseInt(…, 16) reads "::ffff:1.2.3.4" as a bad group, so the ACL form stays invalid.
        assert_eq!(parse_addr("::ffff:1.2.3.4"), None);
    }

    #[test]
    fn masks_partial_bytes() {
        let mut b = vec![0xff, 0xff, 0xff, 0xff];
        mask(&mut b, 12);
        assert_eq!(b, vec![0xff, 0xf0, 0, 0]);
        let mut b = vec![0xff; 4];
        mask(&mut b, 0);
        assert_eq!(b, vec![0; 4]);
        let mut b = vec![0xff; 4];
        mask(&mut b, 32);
        assert_eq!(b, vec![0xff; 4]);
    }

    #[test]
    fn cidr_bits_out_of_range_never_match() {
        assert!(!matches("10.0.0.1", "10.0.0.0/33"));
        assert!(!matches("10.0.0.1", "10.0.0.0/-1"));
        assert!(!matches("10.0.0.1", "10.0.0.0/x"));
        assert!(matches("10.0.0.1", "10.0.0.0/24"));
    }
}
