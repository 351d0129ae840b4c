//! The consensus envelope: how a Raft entry is laid out in a WAL record's payload (docs/format.md, 6.1).
//!
//! The WAL stores opaque payloads under contiguous indexes; the record index is the entry's log index. What
//! Raft needs beyond that, the entry's kind and term and, for membership changes, the config, lives in
//! this envelope, so the storage crate stays payload-opaque and WAL format 1 is unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use openraft::EntryPayload;

use crate::types::{Entry, Membership, PeerNode, TxnBytes, log_id, term_of};

const KIND_BLANK: u8 = 0;
const KIND_NORMAL: u8 = 1;
const KIND_MEMBERSHIP: u8 = 2;

/// Bytes before the body: the kind and the term.
const HEADER_LEN: usize = 9;

/// Encodes `entry` into `out` (cleared first).
pub(crate) fn encode(entry: &Entry, out: &mut Vec<u8>) {
    out.clear();
    let kind = match &entry.payload {
        EntryPayload::Blank => KIND_BLANK,
        EntryPayload::Normal(_) => KIND_NORMAL,
        EntryPayload::Membership(_) => KIND_MEMBERSHIP,
    };
    out.push(kind);
    out.extend_from_slice(&term_of(&entry.log_id).to_le_bytes());
    match &entry.payload {
        EntryPayload::Blank => {}
        EntryPayload::Normal(txn) => out.extend_from_slice(&txn.0),
        EntryPayload::Membership(m) => encode_membership(m, out),
    }
}

/// Decodes the payload of WAL record `index`. Anything that does not decode is corruption: an error, never
/// a panic.
pub(crate) fn decode(index: u64, bytes: &[u8]) -> io::Result<Entry> {
    let bad = |why: String| io::Error::new(io::ErrorKind::InvalidData, format!("log entry {index}: {why}"));
    if bytes.len() < HEADER_LEN {
        return Err(bad(format!("{} bytes, shorter than the 9-byte envelope header", bytes.len())));
    }
    let term = le_u64(&bytes[1..9]);
    let body = &bytes[HEADER_LEN..];
    let payload = match bytes[0] {
        KIND_BLANK if body.is_empty() => EntryPayload::Blank,
        KIND_BLANK => return Err(bad(format!("a blank entry with {} bytes of body", body.len()))),
        KIND_NORMAL => EntryPayload::Normal(TxnBytes(body.to_vec())),
        KIND_MEMBERSHIP => EntryPayload::Membership(decode_membership(body).map_err(bad)?),
        other => return Err(bad(format!("unknown entry kind {other}"))),
    };
    Ok(Entry { log_id: log_id(term, index), payload })
}

/// The term of an encoded entry, without decoding its body.
pub(crate) fn term(index: u64, bytes: &[u8]) -> io::Result<u64> {
    match bytes.get(1..HEADER_LEN) {
        Some(term) => Ok(le_u64(term)),
        None => Err(io::Error::new(io::ErrorKind::InvalidData, format!("log entry {index}: no envelope header"))),
    }
}

/// `u32 config count`, each config `u32 n` and `n × u64` ascending voter ids, then `u32 node count`, each
/// node `u64 id`, `u32 address length` and the address in UTF-8 (docs/format.md, 6.1).
pub(crate) fn encode_membership(m: &Membership, out: &mut Vec<u8>) {
    let configs = m.get_joint_config();
    put_len(out, configs.len());
    for config in configs {
        put_len(out, config.len());
        for id in config {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    let nodes: Vec<(&u64, &PeerNode)> = m.nodes().collect();
    put_len(out, nodes.len());
    for (id, node) in nodes {
        out.extend_from_slice(&id.to_le_bytes());
        put_len(out, node.addr.len());
        out.extend_from_slice(node.addr.as_bytes());
    }
}

pub(crate) fn decode_membership(body: &[u8]) -> Result<Membership, String> {
    let mut input = Input(body);
    let mut configs = Vec::new();
    for _ in 0..input.len()? {
        let mut config = BTreeSet::new();
        for _ in 0..input.len()? {
            config.insert(input.u64()?);
        }
        configs.push(config);
    }
    let mut nodes = BTreeMap::new();
    for _ in 0..input.len()? {
        let id = input.u64()?;
        let addr_len = input.len()?;
        let addr = std::str::from_utf8(input.take(addr_len)?).map_err(|_| "a node address is not UTF-8")?;
        nodes.insert(id, PeerNode::new(addr));
    }
    if !input.0.is_empty() {
        return Err(format!("{} bytes after the membership config", input.0.len()));
    }
    Membership::new(configs, nodes).map_err(|e| format!("invalid membership config: {e}"))
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Configs, node lists and addresses are tiny; u32 holds any of them.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// A cursor over a membership body; every read is bounds-checked.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!("membership config truncated ({} bytes left, {n} needed)", self.0.len()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.take(8).map(le_u64)
    }

    /// A `u32` count or length. It is checked against the bytes left (every counted item takes at least one
    /// byte), so a damaged count cannot make the decoder loop or allocate without bound.
    fn len(&mut self) -> Result<usize, String> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        let n = u32::from_le_bytes(a) as usize;
        if n > self.0.len() {
            return Err(format!("a count of {n} exceeds the {} bytes left", self.0.len()));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(entry: Entry) {
        let mut buf = Vec::new();
        encode(&entry, &mut buf);
        let index = entry.log_id.index;
        assert_eq!(decode(index, &buf).expect("decodes"), entry);
        assert_eq!(term(index, &buf).expect("has a term"), term_of(&entry.log_id));
        for cut in 0..buf.len() {
            // Any prefix is refused or, for a normal entry, decodes to a shorter txn: never a panic.
            let _ = decode(index, &buf[..cut]);
        }
    }

    #[test]
    fn every_kind_round_trips() {
        round_trip(Entry { log_id: log_id(3, 7), payload: EntryPayload::Blank });
        round_trip(Entry { log_id: log_id(4, 8), payload: EntryPayload::Normal(TxnBytes(b"txn".to_vec())) });
        let configs = vec![BTreeSet::from([1, 2, 3]), BTreeSet::from([2, 3, 4])];
        let nodes = BTreeMap::from([
            (1, PeerNode::new("10.0.0.1:2888")),
            (2, PeerNode::new("10.0.0.2:2888")),
            (3, PeerNode::new("10.0.0.3:2888")),
            (4, PeerNode::new("10.0.0.4:2888")),
            (5, PeerNode::new("learner:2888")),
        ]);
        let membership = Membership::new(configs, nodes).expect("valid");
        round_trip(Entry { log_id: log_id(5, 9), payload: EntryPayload::Membership(membership) });
    }

    #[test]
    fn the_documented_bytes_of_a_blank_entry() {
        let mut buf = Vec::new();
        encode(&Entry { log_id: log_id(0x0102, 1), payload: EntryPayload::Blank }, &mut buf);
        assert_eq!(buf, [0, 0x02, 0x01, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn damage_is_an_error() {
        assert!(decode(1, &[9, 0, 0, 0, 0, 0, 0, 0, 0]).is_err(), "unknown kind");
        assert!(decode(1, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err(), "blank with a body");
        let huge_count = [2, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(decode(1, &huge_count).is_err(), "a count past the end");
    }
}
