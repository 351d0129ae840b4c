//! The state digest: a 64-bit fingerprint of the whole tree, kept up to date in O(1) per change.
//!
//! Like ZooKeeper's (`DigestCalculator`, an AdHash), it is the wrapping sum of one hash per element, so
//! the order things were added in does not matter and a change costs a subtraction and an addition. Unlike
//! ZooKeeper's it covers everything: each znode contributes a *meta* hash (path, ACL, stored stat) and a
//! *data* hash (path, data — null data hashed apart from empty), kept apart so that touching a parent's stat never rehashes its data; each
//! session contributes one hash (id, timeout, password). The hash is the first 8 bytes of SHA-1, read as a
//! little-endian u64, over the inputs laid out as in `docs/tree-format.md`. It is identical on every
//! platform and every build.

use paddock_proto::Acl;
use sha1::{Digest, Sha1};

use crate::node::StatPersisted;
use crate::tree::Session;
use crate::wire::Put;

/// Feeds the shared little-endian layout straight into the hasher.
struct Hashing(Sha1);

impl Put for Hashing {
    fn put_u8(&mut self, v: u8) {
        self.0.update([v]);
    }
    fn put_raw(&mut self, v: &[u8]) {
        self.0.update(v);
    }
}

impl Hashing {
    fn new(tag: u8) -> Hashing {
        let mut h = Hashing(Sha1::new());
        h.put_u8(tag);
        h
    }

    fn finish(self) -> u64 {
        let hash = self.0.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash[..8]);
        u64::from_le_bytes(first)
    }
}

pub(crate) fn node_meta(path: &str, acl: &[Acl], stat: &StatPersisted) -> u64 {
    let mut h = Hashing::new(b'M');
    h.put_str(path);
    h.put_acl_list(acl);
    h.put_stat(stat);
    h.finish()
}

/// Null data (`None`) hashes with the null length marker and no bytes, so it differs from empty data while
/// every non-null value hashes exactly as before null was told apart.
pub(crate) fn node_data(path: &str, data: Option<&[u8]>) -> u64 {
    let mut h = Hashing::new(b'D');
    h.put_str(path);
    h.put_nullable_bytes(data);
    h.finish()
}

pub(crate) fn session(id: i64, session: &Session) -> u64 {
    let mut h = Hashing::new(b'S');
    h.put_i64(id);
    h.put_i32(session.timeout_ms);
    h.put_raw(&session.passwd);
    // The owner (snapshot format 4) is hashed only once set, so that digests recorded by older snapshots and
    // replayed older logs still check. `last_zxid` is not hashed: it changes with every write of the session,
    // and hashing it would cost two hashes per write for a field that follows from the log order.
    if session.owner != 0 {
        h.put_i64(session.owner as i64);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_values_never_change() {
        // Pinned so that a change to the layout (which would break digests stored with snapshots) fails here.
        let stat = StatPersisted::created(1, 2, 0);
        assert_eq!(node_data("/", Some(b"")), node_data("/", Some(b"")));
        assert_ne!(node_data("/a", Some(b"x")), node_data("/b", Some(b"x")));
        assert_ne!(node_data("/a", None), node_data("/a", Some(b"")));
        assert_ne!(node_meta("/a", &Acl::open_unsafe(), &stat), node_meta("/a", &Acl::read_unsafe(), &stat));
        let pinned = [
            node_data("/a", Some(b"x")),
            node_meta("/a", &Acl::open_unsafe(), &stat),
            session(7, &Session::new(30000, [1; 16])),
            node_data("/a", None),
            node_data("/a", Some(b"")),
        ];
        assert_eq!(pinned, PINNED);
    }

    /// Computed independently (Python's hashlib) from the layout in `docs/tree-format.md`.
    const PINNED: [u64; 5] = [
        0xf460_830d_2eee_0243,
        0xb2dc_f18e_2335_25a7,
        0x4b34_2ee1_df0c_7dc0,
        0x92ba_967f_1630_fdf9,
        0x5b5b_231f_9367_2e2d,
    ];
}
