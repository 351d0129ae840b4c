//! Jute, the encoding of every ZooKeeper record on disk: big-endian `int` (4 bytes) and `long` (8 bytes),
//! `boolean` as one byte, `buffer` and `ustring` as an `int` length (-1 for null) and the bytes, `vector` as
//! an `int` count (-1 for null) and the items.
//!
//! [`Reader`] reads from any buffered stream, counts the offset of every field (so that damage is named by
//! its place in the file) and keeps an Adler32 of everything read, as the `CheckedInputStream` ZooKeeper
//! reads snapshots through. [`Writer`] is its mirror image. Lengths are bounded by [`MAX_LENGTH`], and a
//! length is never trusted for an allocation before its bytes have arrived.

use std::io::{self, BufRead, Read, Write};

/// The longest `buffer` or `ustring` accepted: far above `jute.maxbuffer` (1 MiB by default, raised by some
/// operators), far below anything that could exhaust memory by itself. Paddock's own limit for one znode's
/// data is the same.
pub const MAX_LENGTH: usize = 256 << 20;

/// An ACL entry: `perms` bits over a `scheme:id` identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acl {
    pub perms: i32,
    pub scheme: String,
    pub id: String,
}

/// `StatPersisted`, the nine stored fields of a znode's stat, in jute order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatPersisted {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// Children ever created (clients see `2·cversion − numChildren`).
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub pzxid: i64,
}

#[derive(Debug)]
pub enum ReadError {
    /// The stream ended inside a field that started at `offset` (or exactly at it).
    Eof {
        offset: u64,
    },
    /// The bytes at `offset` cannot be what the format says is there.
    Bad {
        offset: u64,
        what: String,
    },
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Eof { offset } => write!(f, "the data ends inside a field at offset {offset}"),
            ReadError::Bad { offset, what } => write!(f, "{what} at offset {offset}"),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

pub struct Reader<R> {
    inner: R,
    offset: u64,
    checksum: adler2::Adler32,
}

impl<R: BufRead> Reader<R> {
    pub fn new(inner: R) -> Self {
        Reader { inner, offset: 0, checksum: adler2::Adler32::new() }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Adler32 of every byte consumed so far, as Java's `Adler32.getValue()` gives it.
    pub fn checksum(&self) -> i64 {
        i64::from(self.checksum.checksum())
    }

    /// Whether nothing is left to read.
    pub fn at_end(&mut self) -> Result<bool, ReadError> {
        loop {
            match self.inner.fill_buf() {
                Ok(buf) => return Ok(buf.is_empty()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }

    pub fn bad(&self, at: u64, what: impl Into<String>) -> ReadError {
        ReadError::Bad { offset: at, what: what.into() }
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<(), ReadError> {
        let start = self.offset;
        let mut done = 0;
        while done < buf.len() {
            match self.inner.read(&mut buf[done..]) {
                Ok(0) => {
                    self.checksum.write_slice(&buf[..done]);
                    self.offset += done as u64;
                    return Err(ReadError::Eof { offset: start });
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
        self.checksum.write_slice(buf);
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let mut buf = [0u8; N];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    pub fn u8(&mut self) -> Result<u8, ReadError> {
        Ok(self.array::<1>()?[0])
    }

    /// Jute `boolean`: Java's `readBoolean`, any non-zero byte is true.
    pub fn bool(&mut self) -> Result<bool, ReadError> {
        Ok(self.u8()? != 0)
    }

    pub fn i32(&mut self) -> Result<i32, ReadError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub fn i64(&mut self) -> Result<i64, ReadError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// A length or count: -1 is null (`None`), other negative values and values above [`MAX_LENGTH`] are
    /// damage.
    fn length(&mut self, what: &str) -> Result<Option<usize>, ReadError> {
        let at = self.offset;
        match self.i32()? {
            -1 => Ok(None),
            n if n < 0 || n as usize > MAX_LENGTH => Err(self.bad(at, format!("{what} length {n} is impossible"))),
            n => Ok(Some(n as usize)),
        }
    }

    /// Jute `buffer`; `None` is null.
    pub fn buffer(&mut self) -> Result<Option<Vec<u8>>, ReadError> {
        let Some(len) = self.length("buffer")? else { return Ok(None) };
        self.bytes(len).map(Some)
    }

    /// Exactly `len` raw bytes (at most [`MAX_LENGTH`] is asked for by the callers).
    pub fn bytes(&mut self, len: usize) -> Result<Vec<u8>, ReadError> {
        let start = self.offset;
        let mut bytes = Vec::with_capacity(len.min(64 * 1024));
        let read = (&mut self.inner).take(len as u64).read_to_end(&mut bytes).map_err(ReadError::Io)?;
        self.checksum.write_slice(&bytes);
        self.offset += read as u64;
        if read < len {
            return Err(ReadError::Eof { offset: start });
        }
        Ok(bytes)
    }

    /// Consumes everything left, handing it to `each` piece by piece.
    pub fn rest(&mut self, mut each: impl FnMut(&[u8])) -> Result<(), ReadError> {
        loop {
            let n = match self.inner.fill_buf() {
                Ok([]) => return Ok(()),
                Ok(buf) => {
                    each(buf);
                    self.checksum.write_slice(buf);
                    buf.len()
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::Io(e)),
            };
            self.inner.consume(n);
            self.offset += n as u64;
        }
    }

    /// Jute `ustring`; `None` is null. ZooKeeper writes UTF-8; anything else is damage.
    pub fn string(&mut self) -> Result<Option<String>, ReadError> {
        let at = self.offset;
        match self.buffer()? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| self.bad(at, "a string that is not UTF-8")),
        }
    }

    /// A `ustring` that may not be null.
    pub fn path(&mut self) -> Result<String, ReadError> {
        let at = self.offset;
        self.string()?.ok_or_else(|| self.bad(at, "a null path"))
    }

    /// `vector<ACL>`; `None` is null.
    pub fn acl_list(&mut self) -> Result<Option<Vec<Acl>>, ReadError> {
        let Some(count) = self.length("ACL vector")? else { return Ok(None) };
        let mut acls = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            let perms = self.i32()?;
            let scheme = self.string()?.unwrap_or_default();
            let id = self.string()?.unwrap_or_default();
            acls.push(Acl { perms, scheme, id });
        }
        Ok(Some(acls))
    }

    /// `vector<ustring>`; `None` is null.
    pub fn string_list(&mut self) -> Result<Option<Vec<String>>, ReadError> {
        let Some(count) = self.length("string vector")? else { return Ok(None) };
        let mut list = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            list.push(self.path()?);
        }
        Ok(Some(list))
    }

    pub fn stat(&mut self) -> Result<StatPersisted, ReadError> {
        Ok(StatPersisted {
            czxid: self.i64()?,
            mzxid: self.i64()?,
            ctime: self.i64()?,
            mtime: self.i64()?,
            version: self.i32()?,
            cversion: self.i32()?,
            aversion: self.i32()?,
            ephemeral_owner: self.i64()?,
            pzxid: self.i64()?,
        })
    }
}

/// Writes jute fields and keeps the Adler32 of everything written (`CheckedOutputStream`).
pub struct Writer<W> {
    inner: W,
    checksum: adler2::Adler32,
}

impl<W: Write> Writer<W> {
    pub fn new(inner: W) -> Self {
        Writer { inner, checksum: adler2::Adler32::new() }
    }

    pub fn into_inner(self) -> W {
        self.inner
    }

    pub fn checksum(&self) -> i64 {
        i64::from(self.checksum.checksum())
    }

    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.checksum.write_slice(bytes);
        self.inner.write_all(bytes)
    }

    pub fn i32(&mut self, v: i32) -> io::Result<()> {
        self.raw(&v.to_be_bytes())
    }

    pub fn i64(&mut self, v: i64) -> io::Result<()> {
        self.raw(&v.to_be_bytes())
    }

    pub fn buffer(&mut self, bytes: Option<&[u8]>) -> io::Result<()> {
        match bytes {
            None => self.i32(-1),
            Some(bytes) => {
                self.i32(len_i32(bytes.len())?)?;
                self.raw(bytes)
            }
        }
    }

    pub fn string(&mut self, s: &str) -> io::Result<()> {
        self.buffer(Some(s.as_bytes()))
    }

    pub fn acl_list(&mut self, acls: &[Acl]) -> io::Result<()> {
        self.i32(len_i32(acls.len())?)?;
        for acl in acls {
            self.i32(acl.perms)?;
            self.string(&acl.scheme)?;
            self.string(&acl.id)?;
        }
        Ok(())
    }

    pub fn stat(&mut self, s: &StatPersisted) -> io::Result<()> {
        let mut b = [0u8; 60];
        b[0..8].copy_from_slice(&s.czxid.to_be_bytes());
        b[8..16].copy_from_slice(&s.mzxid.to_be_bytes());
        b[16..24].copy_from_slice(&s.ctime.to_be_bytes());
        b[24..32].copy_from_slice(&s.mtime.to_be_bytes());
        b[32..36].copy_from_slice(&s.version.to_be_bytes());
        b[36..40].copy_from_slice(&s.cversion.to_be_bytes());
        b[40..44].copy_from_slice(&s.aversion.to_be_bytes());
        b[44..52].copy_from_slice(&s.ephemeral_owner.to_be_bytes());
        b[52..60].copy_from_slice(&s.pzxid.to_be_bytes());
        self.raw(&b)
    }
}

fn len_i32(len: usize) -> io::Result<i32> {
    i32::try_from(len).map_err(|_| io::Error::other(format!("{len} bytes do not fit a jute length")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_the_checksum_follows_the_bytes() {
        let mut w = Writer::new(Vec::new());
        w.i32(-7).unwrap();
        w.i64(0x0102030405060708).unwrap();
        w.buffer(None).unwrap();
        w.buffer(Some(b"")).unwrap();
        w.string("/a").unwrap();
        w.acl_list(&[Acl { perms: 31, scheme: "world".into(), id: "anyone".into() }]).unwrap();
        let written_sum = w.checksum();
        let bytes = w.into_inner();
        assert_eq!(&bytes[..4], &[0xff, 0xff, 0xff, 0xf9]);
        let mut r = Reader::new(&bytes[..]);
        assert_eq!(r.i32().unwrap(), -7);
        assert_eq!(r.i64().unwrap(), 0x0102030405060708);
        assert_eq!(r.buffer().unwrap(), None);
        assert_eq!(r.buffer().unwrap(), Some(Vec::new()));
        assert_eq!(r.path().unwrap(), "/a");
        assert_eq!(r.acl_list().unwrap().unwrap()[0].id, "anyone");
        assert!(r.at_end().unwrap());
        assert_eq!(r.checksum(), written_sum);
        assert_eq!(r.offset(), bytes.len() as u64);
    }

    #[test]
    fn adler32_is_javas() {
        // java.util.zip.Adler32 over "Wikipedia" is 0x11E60398.
        let mut w = Writer::new(Vec::new());
        w.raw(b"Wikipedia").unwrap();
        assert_eq!(w.checksum(), 0x11E6_0398);
    }

    #[test]
    fn truncation_and_absurd_lengths_are_named_with_their_offset() {
        let mut r = Reader::new(&[0u8, 0, 0, 5, b'a', b'b'][..]);
        assert!(matches!(r.buffer(), Err(ReadError::Eof { offset: 4 })));
        let mut r = Reader::new(&[0u8, 0, 0][..]);
        assert!(matches!(r.i32(), Err(ReadError::Eof { offset: 0 })));
        let mut r = Reader::new(&[0x7fu8, 0xff, 0xff, 0xff][..]);
        assert!(matches!(r.buffer(), Err(ReadError::Bad { offset: 0, .. })));
        let mut r = Reader::new(&[0xffu8, 0xff, 0xff, 0xfe][..]);
        assert!(matches!(r.buffer(), Err(ReadError::Bad { offset: 0, .. })));
        let mut r = Reader::new(&[0u8, 0, 0, 1, 0xff][..]);
        assert!(matches!(r.string(), Err(ReadError::Bad { offset: 0, .. })));
    }
}
