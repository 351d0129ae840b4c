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
/// A membership config whose nodes record only their peer address (read, no longer written).
const KIND_MEMBERSHIP_V1: u8 = 2;
/// A membership config whose nodes record their whole `server.N` line.
const KIND_MEMBERSHIP: u8 = 3;

/// How the nodes of a membership config are laid out (docs/format.md, 6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeLayout {
    /// `u64 id, u32 addr_len, addr`.
    AddressOnly,
    /// `u64 id, u32 addr_len, addr, u16 election_port, u8 participant, u32 client_len, client`.
    ServerLine,
}

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
        KIND_MEMBERSHIP => EntryPayload::Membership(decode_membership(body, NodeLayout::ServerLine).map_err(bad)?),
        KIND_MEMBERSHIP_V1 => EntryPayload::Membership(decode_membership(body, NodeLayout::AddressOnly).map_err(bad)?),
        other => return Err(bad(format!("unknown entry kind {other}"))),
    };
    Ok(Entry { log_id: log_id(term, index), payload })
}

/// The txn a member applies for the WAL record of entry `index` (what continuous archiving ships, so that a
/// replay of the archive applies exactly what the members applied): a normal entry's txn, the `Reconfig`
/// txn of a settled membership, or nothing for a blank entry and a joint membership.
pub fn applied_txn(index: u64, bytes: &[u8]) -> io::Result<Option<Vec<u8>>> {
    Ok(match decode(index, bytes)?.payload {
        EntryPayload::Blank => None,
        EntryPayload::Normal(txn) => Some(txn.0),
        EntryPayload::Membership(m) => crate::replica::settled_config(&m, index),
    })
}

/// The term of an encoded entry, without decoding its body.
pub(crate) fn term(index: u64, bytes: &[u8]) -> io::Result<u64> {
    match bytes.get(1..HEADER_LEN) {
        Some(term) => Ok(le_u64(term)),
        None => Err(io::Error::new(io::ErrorKind::InvalidData, format!("log entry {index}: no envelope header"))),
    }
}

/// `u32 config count`, each config `u32 n` and `n × u64` ascending voter ids, then `u32 node count`, each
/// node laid out as [`NodeLayout::ServerLine`] (docs/format.md, 6.1).
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
        put_str(out, &node.addr);
        out.extend_from_slice(&node.election_port.to_le_bytes());
        out.push(u8::from(node.participant));
        put_str(out, &node.client);
    }
}

pub(crate) fn decode_membership(body: &[u8], layout: NodeLayout) -> Result<Membership, String> {
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
        let mut node = PeerNode::new(input.str()?);
        if layout == NodeLayout::ServerLine {
            node.election_port = u16::from_le_bytes([input.u8()?, input.u8()?]);
            node.participant = match input.u8()? {
                0 => false,
                1 => true,
                other => return Err(format!("node {id}: participant flag {other}, not 0 or 1")),
            };
            node.client = input.str()?.to_string();
        }
        nodes.insert(id, node);
    }
    if !input.0.is_empty() {
        return Err(format!("{} bytes after the membership config", input.0.len()));
    }
    Membership::new(configs, nodes).map_err(|e| format!("invalid membership config: {e}"))
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
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

    fn u8(&mut self) -> Result<u8, String> {
        self.take(1).map(|b| b[0])
    }

    fn str(&mut self) -> Result<&'a str, String> {
        let len = self.len()?;
        std::str::from_utf8(self.take(len)?).map_err(|_| "a node's address is not UTF-8".to_string())
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
            (
                5,
                PeerNode {
                    addr: "learner:2888".into(),
                    election_port: 3888,
                    participant: false,
                    client: "0.0.0.0:2181".into(),
                },
            ),
        ]);
        let membership = Membership::new(configs, nodes).expect("valid");
        round_trip(Entry { log_id: log_id(5, 9), payload: EntryPayload::Membership(membership) });
    }

    #[test]
    fn a_membership_written_before_server_lines_were_recorded_still_reads() {
        // kind 2, term 1; one config {7}; node 7 at "h:1".
        let mut v1 = vec![2, 1, 0, 0, 0, 0, 0, 0, 0];
        v1.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
        v1.extend_from_slice(&[1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, b'h', b':', b'1']);
        let entry = decode(4, &v1).expect("a version 1 membership decodes");
        let EntryPayload::Membership(m) = entry.payload else { panic!("not a membership entry: {entry:?}") };
        assert_eq!(m.get_node(&7), Some(&PeerNode::new("h:1")));
    }

    #[test]
    fn the_documented_bytes_of_a_blank_entry() {
        let mut buf = Vec::new();
        encode(&Entry { log_id: log_id(0x0102, 1), payload: EntryPayload::Blank }, &mut buf);
        assert_eq!(buf, [0, 0x02, 0x01, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn the_applied_txn_of_each_kind() {
        let encoded = |payload| {
            let mut buf = Vec::new();
            encode(&Entry { log_id: log_id(2, 10), payload }, &mut buf);
            buf
        };
        assert_eq!(applied_txn(10, &encoded(EntryPayload::Blank)).expect("blank"), None);
        let normal = encoded(EntryPayload::Normal(TxnBytes(b"txn".to_vec())));
        assert_eq!(applied_txn(10, &normal).expect("normal"), Some(b"txn".to_vec()));
        let line = |host: &str| PeerNode {
            addr: format!("{host}:2888"),
            election_port: 3888,
            participant: true,
            client: "0.0.0.0:2181".into(),
        };
        let nodes = BTreeMap::from([(1, line("a")), (2, line("b"))]);
        let settled = Membership::new(vec![BTreeSet::from([1, 2])], nodes.clone()).expect("valid");
        let txn = applied_txn(10, &encoded(EntryPayload::Membership(settled.clone()))).expect("membership");
        assert_eq!(txn, crate::replica::settled_config(&settled, 10), "the reconfig txn members apply");
        assert!(txn.is_some());
        let joint = Membership::new(vec![BTreeSet::from([1]), BTreeSet::from([1, 2])], nodes).expect("valid");
        assert_eq!(applied_txn(10, &encoded(EntryPayload::Membership(joint))).expect("joint"), None);
        assert!(applied_txn(10, &[9; 9]).is_err(), "damage is an error");
    }

    #[test]
    fn damage_is_an_error() {
        assert!(decode(1, &[9, 0, 0, 0, 0, 0, 0, 0, 0]).is_err(), "unknown kind");
        assert!(decode(1, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err(), "blank with a body");
        let huge_count = [2, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(decode(1, &huge_count).is_err(), "a count past the end");
    }
}
