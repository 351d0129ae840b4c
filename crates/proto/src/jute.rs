//! Jute, ZooKeeper's record encoding: big-endian fixed-width integers, one-byte booleans, and
//! length-prefixed byte buffers, strings and vectors (length -1 means null).
//!
//! The reader never trusts a length: every length is checked against the bytes that remain and against
//! a configured maximum before anything is allocated, so a hostile frame costs at most its own size.

use thiserror::Error;

/// Why a record could not be decoded. Every variant is the client's fault, never a server bug.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("record truncated")]
    Truncated,
    #[error("negative length {0}")]
    NegativeLength(i32),
    #[error("length {len} exceeds the limit of {max} bytes")]
    TooLong { len: usize, max: usize },
    #[error("unknown opcode {0}")]
    UnknownOpCode(i32),
    #[error("opcode {0} is not allowed inside a multi")]
    InvalidMultiOp(i32),
}

/// Reads jute values from a byte slice.
pub struct JuteReader<'a> {
    buf: &'a [u8],
    pos: usize,
    max_len: usize,
}

impl<'a> JuteReader<'a> {
    /// `max_len` bounds every buffer, string and vector length (ZooKeeper's jute.maxbuffer check).
    pub fn new(buf: &'a [u8], max_len: usize) -> Self {
        JuteReader { buf, pos: 0, max_len }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.take_array()?))
    }

    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.take_array()?))
    }

    /// Java's `readBoolean`: any non-zero byte is true.
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A length prefix: -1 (null) reads as `None`; other negatives and oversize lengths are errors.
    fn read_len(&mut self) -> Result<Option<usize>, DecodeError> {
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| DecodeError::NegativeLength(len))?;
        if len > self.max_len {
            return Err(DecodeError::TooLong { len, max: self.max_len });
        }
        Ok(Some(len))
    }

    /// A byte buffer where null means nothing more than empty (passwords, auth, SASL tokens).
    pub fn read_buffer(&mut self) -> Result<Vec<u8>, DecodeError> {
        Ok(self.read_nullable_buffer()?.unwrap_or_default())
    }

    /// A byte buffer whose null (length -1) is kept as `None`: znode data, which ZooKeeper stores and
    /// returns as null, distinct from empty.
    pub fn read_nullable_buffer(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.read_len()? {
            None => Ok(None),
            Some(len) => Ok(Some(self.take(len)?.to_vec())),
        }
    }

    /// A UTF-8 string. Invalid sequences become U+FFFD exactly as Java's decoder does, so a bad path is
    /// then refused by path validation with the same error ZooKeeper gives.
    pub fn read_string(&mut self) -> Result<String, DecodeError> {
        match self.read_len()? {
            None => Ok(String::new()),
            Some(len) => Ok(String::from_utf8_lossy(self.take(len)?).into_owned()),
        }
    }

    /// A vector of records; null reads as empty. The count is bounded by the bytes left (each element
    /// takes at least one byte), so a forged count cannot make us reserve memory.
    pub fn read_vec<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let Some(count) = self.read_len()? else {
            return Ok(Vec::new());
        };
        if count > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(item(self)?);
        }
        Ok(items)
    }

    pub fn read_strings(&mut self) -> Result<Vec<String>, DecodeError> {
        self.read_vec(|r| r.read_string())
    }
}

/// Writes jute values into a growing buffer.
#[derive(Default)]
pub struct JuteWriter {
    buf: Vec<u8>,
}

impl JuteWriter {
    pub fn new() -> Self {
        JuteWriter::default()
    }

    /// A writer whose first four bytes are reserved for the frame length, filled in by [`JuteWriter::into_frame`].
    pub fn framed() -> Self {
        JuteWriter { buf: vec![0; 4] }
    }

    pub fn write_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    pub fn write_buffer(&mut self, v: &[u8]) {
        self.write_len(v.len());
        self.buf.extend_from_slice(v);
    }

    /// `None` is written as null (length -1), as Java writes a null `byte[]`.
    pub fn write_nullable_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            Some(v) => self.write_buffer(v),
            None => self.write_i32(-1),
        }
    }

    pub fn write_string(&mut self, v: &str) {
        self.write_buffer(v.as_bytes());
    }

    pub fn write_vec<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Self, &T)) {
        self.write_len(items.len());
        for v in items {
            item(self, v);
        }
    }

    pub fn write_strings(&mut self, items: &[String]) {
        self.write_vec(items, |w, s| w.write_string(s));
    }

    /// Lengths beyond i32 cannot be framed at all; they saturate and the peer rejects the frame.
    fn write_len(&mut self, len: usize) {
        self.write_i32(i32::try_from(len).unwrap_or(i32::MAX));
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Finishes a [`JuteWriter::framed`] writer: patches the length prefix.
    pub fn into_frame(mut self) -> bytes::Bytes {
        let len = i32::try_from(self.buf.len().saturating_sub(4)).unwrap_or(i32::MAX);
        if let Some(prefix) = self.buf.get_mut(0..4) {
            prefix.copy_from_slice(&len.to_be_bytes());
        }
        bytes::Bytes::from(self.buf)
    }
}

/// A jute record: a struct with a fixed field order.
pub trait Record: Sized {
    fn write_to(&self, w: &mut JuteWriter);
    fn read_from(r: &mut JuteReader<'_>) -> Result<Self, DecodeError>;

    fn to_bytes(&self) -> Vec<u8> {
        let mut w = JuteWriter::new();
        self.write_to(&mut w);
        w.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_negative_lengths() {
        let mut r = JuteReader::new(&[0xff, 0xff, 0xff, 0xff], 100);
        assert_eq!(r.read_string(), Ok(String::new()));
        let mut r = JuteReader::new(&[0xff, 0xff, 0xff, 0xfe], 100);
        assert_eq!(r.read_buffer(), Err(DecodeError::NegativeLength(-2)));
    }

    #[test]
    fn nullable_buffers_keep_null_apart_from_empty() {
        let mut w = JuteWriter::new();
        w.write_nullable_buffer(None);
        w.write_nullable_buffer(Some(b""));
        w.write_nullable_buffer(Some(b"ab"));
        let bytes = w.into_bytes();
        assert_eq!(bytes, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 2, b'a', b'b']);
        let mut r = JuteReader::new(&bytes, 100);
        assert_eq!(r.read_nullable_buffer(), Ok(None));
        assert_eq!(r.read_nullable_buffer(), Ok(Some(vec![])));
        assert_eq!(r.read_nullable_buffer(), Ok(Some(b"ab".to_vec())));
        let mut r = JuteReader::new(&bytes, 100);
        assert_eq!(r.read_buffer(), Ok(vec![]), "where null carries no meaning it reads as empty");
    }

    #[test]
    fn lengths_are_bounded_before_allocation() {
        let mut r = JuteReader::new(&[0, 0, 1, 0], 100);
        assert_eq!(r.read_buffer(), Err(DecodeError::TooLong { len: 256, max: 100 }));
        let mut r = JuteReader::new(&[0, 0, 0, 50, 1, 2], 100);
        assert_eq!(r.read_buffer(), Err(DecodeError::Truncated));
        let mut r = JuteReader::new(&[0, 0, 0, 50, 1, 2], 100);
        assert_eq!(r.read_strings(), Err(DecodeError::Truncated));
    }

    #[test]
    fn invalid_utf8_decodes_like_java() {
        let mut r = JuteReader::new(&[0, 0, 0, 3, b'/', 0xff, b'a'], 100);
        assert_eq!(r.read_string(), Ok("/\u{fffd}a".to_string()));
    }

    #[test]
    fn frame_prefix_is_patched() {
        let mut w = JuteWriter::framed();
        w.write_i32(7);
        assert_eq!(&w.into_frame()[..], &[0, 0, 0, 4, 0, 0, 0, 7]);
    }
}
