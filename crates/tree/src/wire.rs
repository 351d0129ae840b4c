//! The little-endian primitives shared by the txn payload and the snapshot body (`docs/tree-format.md`):
//! fixed-width integers, `u32`-length-prefixed byte strings (znode data may also be null), ACL lists,
//! stats.
//!
//! Decoding works over any [`Input`] — a byte slice for txns, a stream for snapshots — and never trusts a
//! length: nothing is allocated beyond what the input really holds.

use std::io::Read;

use paddock_proto::{Acl, Id};

use crate::node::StatPersisted;

/// No single string or byte field is larger than this; a bigger length is corruption.
pub(crate) const MAX_FIELD_LEN: u64 = 256 << 20;

/// The length that marks null znode data. Far above [`MAX_FIELD_LEN`], so no real length is ever taken for
/// it, and a reader of the formats before null existed refused it as corruption.
pub(crate) const NULL_LEN: u32 = u32::MAX;

#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    #[error("input ends in the middle of a field")]
    Truncated,
    #[error("a string is not valid UTF-8")]
    InvalidUtf8,
    #[error("a field claims {0} bytes, more than the {MAX_FIELD_LEN} allowed")]
    TooLong(u64),
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

// ---- encoding -------------------------------------------------------------------------------------------

pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_raw(&mut self, v: &[u8]);

    fn put_i32(&mut self, v: i32) {
        self.put_raw(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.put_raw(&v.to_le_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.put_raw(&v.to_le_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.put_raw(&v.to_le_bytes());
    }
    /// Lengths above `u32::MAX` cannot occur: every field is far below [`MAX_FIELD_LEN`] when built.
    fn put_bytes(&mut self, v: &[u8]) {
        self.put_u32(v.len() as u32);
        self.put_raw(v);
    }
    /// Znode data: `None` (null) is the length [`NULL_LEN`] alone.
    fn put_nullable_bytes(&mut self, v: Option<&[u8]>) {
        match v {
            Some(v) => self.put_bytes(v),
            None => self.put_u32(NULL_LEN),
        }
    }
    fn put_str(&mut self, v: &str) {
        self.put_bytes(v.as_bytes());
    }
    fn put_id(&mut self, id: &Id) {
        self.put_str(&id.scheme);
        self.put_str(&id.id);
    }
    fn put_acl_list(&mut self, acl: &[Acl]) {
        self.put_u32(acl.len() as u32);
        for entry in acl {
            self.put_i32(entry.perms);
            self.put_id(&entry.id);
        }
    }
    fn put_stat(&mut self, s: &StatPersisted) {
        self.put_i64(s.czxid);
        self.put_i64(s.mzxid);
        self.put_i64(s.ctime);
        self.put_i64(s.mtime);
        self.put_i32(s.version);
        self.put_i32(s.cversion);
        self.put_i32(s.aversion);
        self.put_i64(s.ephemeral_owner);
        self.put_i64(s.pzxid);
    }
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_raw(&mut self, v: &[u8]) {
        self.extend_from_slice(v);
    }
}

// ---- decoding -------------------------------------------------------------------------------------------

pub(crate) trait Input {
    /// Fills `buf` completely.
    fn read_into(&mut self, buf: &mut [u8]) -> Result<(), WireError>;
    /// Exactly `len` more bytes.
    fn read_vec(&mut self, len: usize) -> Result<Vec<u8>, WireError>;

    fn get_u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }
    fn get_i32(&mut self) -> Result<i32, WireError> {
        self.array().map(i32::from_le_bytes)
    }
    fn get_u32(&mut self) -> Result<u32, WireError> {
        self.array().map(u32::from_le_bytes)
    }
    fn get_i64(&mut self) -> Result<i64, WireError> {
        self.array().map(i64::from_le_bytes)
    }
    fn get_u64(&mut self) -> Result<u64, WireError> {
        self.array().map(u64::from_le_bytes)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut buf = [0u8; N];
        self.read_into(&mut buf)?;
        Ok(buf)
    }
    fn get_bytes(&mut self) -> Result<Vec<u8>, WireError> {
        let len = u64::from(self.get_u32()?);
        if len > MAX_FIELD_LEN {
            return Err(WireError::TooLong(len));
        }
        self.read_vec(len as usize)
    }
    /// Znode data as [`Put::put_nullable_bytes`] writes it.
    fn get_nullable_bytes(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        let len = self.get_u32()?;
        if len == NULL_LEN {
            return Ok(None);
        }
        if u64::from(len) > MAX_FIELD_LEN {
            return Err(WireError::TooLong(len.into()));
        }
        self.read_vec(len as usize).map(Some)
    }
    fn get_string(&mut self) -> Result<String, WireError> {
        String::from_utf8(self.get_bytes()?).map_err(|_| WireError::InvalidUtf8)
    }
    fn get_id(&mut self) -> Result<Id, WireError> {
        Ok(Id { scheme: self.get_string()?, id: self.get_string()? })
    }
    fn get_acl_list(&mut self) -> Result<Vec<Acl>, WireError> {
        let count = self.get_u32()?;
        let mut acl = Vec::new();
        for _ in 0..count {
            let perms = self.get_i32()?;
            acl.push(Acl { perms, id: self.get_id()? });
        }
        Ok(acl)
    }
    fn get_stat(&mut self) -> Result<StatPersisted, WireError> {
        Ok(StatPersisted {
            czxid: self.get_i64()?,
            mzxid: self.get_i64()?,
            ctime: self.get_i64()?,
            mtime: self.get_i64()?,
            version: self.get_i32()?,
            cversion: self.get_i32()?,
            aversion: self.get_i32()?,
            ephemeral_owner: self.get_i64()?,
            pzxid: self.get_i64()?,
        })
    }
}

impl Input for &[u8] {
    fn read_into(&mut self, buf: &mut [u8]) -> Result<(), WireError> {
        let (head, rest) = self.split_at_checked(buf.len()).ok_or(WireError::Truncated)?;
        buf.copy_from_slice(head);
        *self = rest;
        Ok(())
    }

    fn read_vec(&mut self, len: usize) -> Result<Vec<u8>, WireError> {
        let (head, rest) = self.split_at_checked(len).ok_or(WireError::Truncated)?;
        *self = rest;
        Ok(head.to_vec())
    }
}

/// A stream being decoded, e.g. a snapshot body.
pub(crate) struct Stream<R>(pub(crate) R);

impl<R: Read> Input for Stream<R> {
    fn read_into(&mut self, buf: &mut [u8]) -> Result<(), WireError> {
        self.0.read_exact(buf).map_err(truncation)
    }

    fn read_vec(&mut self, len: usize) -> Result<Vec<u8>, WireError> {
        // Grows with what actually arrives, so a corrupt length cannot reserve memory up front.
        let mut out = Vec::new();
        (&mut self.0).take(len as u64).read_to_end(&mut out)?;
        if out.len() == len { Ok(out) } else { Err(WireError::Truncated) }
    }
}

fn truncation(e: std::io::Error) -> WireError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof { WireError::Truncated } else { WireError::Io(e) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_short_input() {
        let mut buf = Vec::new();
        buf.put_i64(-5);
        buf.put_str("héllo");
        buf.put_acl_list(&Acl::open_unsafe());
        let mut input = buf.as_slice();
        assert_eq!(input.get_i64().ok(), Some(-5));
        assert_eq!(input.get_string().ok().as_deref(), Some("héllo"));
        assert_eq!(input.get_acl_list().ok(), Some(Acl::open_unsafe()));
        assert!(input.is_empty());
        let mut short: &[u8] = &buf[..10];
        assert!(short.get_i64().is_ok());
        assert!(matches!(short.get_string(), Err(WireError::Truncated)));
        let mut stream = Stream(&buf[..10]);
        assert!(stream.get_i64().is_ok());
        assert!(matches!(stream.get_string(), Err(WireError::Truncated)));
    }

    #[test]
    fn nullable_bytes_keep_null_apart_from_empty() {
        let mut buf = Vec::new();
        buf.put_nullable_bytes(None);
        buf.put_nullable_bytes(Some(b""));
        buf.put_nullable_bytes(Some(b"ab"));
        assert_eq!(buf, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 2, 0, 0, 0, b'a', b'b']);
        let mut input = buf.as_slice();
        assert_eq!(input.get_nullable_bytes().ok(), Some(None));
        assert_eq!(input.get_nullable_bytes().ok(), Some(Some(vec![])));
        assert_eq!(input.get_nullable_bytes().ok(), Some(Some(b"ab".to_vec())));
        assert!(input.is_empty());
        // Where data cannot be null (strings, the older formats) the marker stays corruption.
        assert!(matches!([0xff; 4].as_slice().get_bytes(), Err(WireError::TooLong(_))));
        assert!(matches!([0xfe, 0xff, 0xff, 0xff].as_slice().get_nullable_bytes(), Err(WireError::TooLong(_))));
    }

    #[test]
    fn huge_lengths_are_refused_without_allocating() {
        let mut buf = Vec::new();
        buf.put_u32(u32::MAX);
        assert!(matches!(buf.as_slice().get_bytes(), Err(WireError::TooLong(_))));
        let mut buf = Vec::new();
        buf.put_u32(1000);
        buf.put_raw(b"abc");
        assert!(matches!(Stream(buf.as_slice()).get_bytes(), Err(WireError::Truncated)));
    }
}
