//! What a znode's `ephemeralOwner` means (`EphemeralType.java`).
//!
//! The field does double duty: 0 is a plain persistent node, a session id marks an ephemeral node, and
//! two reserved encodings mark containers (`0x8000000000000000`) and TTL nodes
//! (`0xFF00000000000000 | ttl_ms`, the next two bytes zero). ZooKeeper only decodes the TTL form when
//! extended types are enabled; Paddock always does, which is safe because its session ids never have a top
//! byte of `0xFF` (the top byte is a server id below 128).

/// `EphemeralType.CONTAINER_EPHEMERAL_OWNER`.
pub const CONTAINER_OWNER: i64 = i64::MIN;

/// The largest TTL in milliseconds (2^40 - 1, about 34 years).
pub const MAX_TTL_MS: i64 = 0x0000_00ff_ffff_ffff;

const EXTENDED_MASK: u64 = 0xff00_0000_0000_0000;
const RESERVED_BITS_MASK: u64 = 0x00ff_ff00_0000_0000;

/// The decoded `ephemeralOwner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EphemeralType {
    /// A persistent node (owner 0).
    Void,
    /// An ephemeral node owned by this session.
    Normal(i64),
    Container,
    /// A TTL node with this TTL in milliseconds.
    Ttl(i64),
}

impl EphemeralType {
    pub fn of(owner: i64) -> EphemeralType {
        let bits = owner as u64;
        if bits & EXTENDED_MASK == EXTENDED_MASK && bits & RESERVED_BITS_MASK == 0 {
            return EphemeralType::Ttl(owner & MAX_TTL_MS);
        }
        match owner {
            0 => EphemeralType::Void,
            CONTAINER_OWNER => EphemeralType::Container,
            session => EphemeralType::Normal(session),
        }
    }
}

/// `EphemeralType.TTL.toEphemeralOwner`: `None` when the TTL is outside 1..=MAX_TTL_MS.
pub fn ttl_owner(ttl_ms: i64) -> Option<i64> {
    (1..=MAX_TTL_MS).contains(&ttl_ms).then_some((EXTENDED_MASK as i64) | ttl_ms)
}

/// What clients see in `Stat.ephemeralOwner`: the session for ephemeral nodes, 0 for everything else,
/// containers and TTL nodes included (`DataNode.getClientEphemeralOwner`).
pub fn client_owner(owner: i64) -> i64 {
    match EphemeralType::of(owner) {
        EphemeralType::Normal(session) => session,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip() {
        assert_eq!(EphemeralType::of(0), EphemeralType::Void);
        assert_eq!(EphemeralType::of(0x0100_0000_0000_0001), EphemeralType::Normal(0x0100_0000_0000_0001));
        assert_eq!(EphemeralType::of(i64::MIN), EphemeralType::Container);
        let owner = ttl_owner(5000).expect("valid ttl");
        assert_eq!(owner as u64, 0xff00_0000_0000_1388);
        assert_eq!(EphemeralType::of(owner), EphemeralType::Ttl(5000));
        assert_eq!(ttl_owner(0), None);
        assert_eq!(ttl_owner(-1), None);
        assert_eq!(ttl_owner(MAX_TTL_MS + 1), None);
        assert!(ttl_owner(MAX_TTL_MS).is_some());
        assert_eq!(client_owner(owner), 0);
        assert_eq!(client_owner(i64::MIN), 0);
        assert_eq!(client_owner(42), 42);
    }
}
