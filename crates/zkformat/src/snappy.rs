//! snappy-java's stream format (`SnappyOutputStream` / `SnappyInputStream`), which ZooKeeper writes for
//! `zookeeper.snapshot.compression.method=snappy`. It is neither raw snappy nor the snappy framing format
//! the `snap` crate implements, so the framing is here and only the blocks are `snap`'s:
//!
//! ```text
//! header  82 53 4e 41 50 50 59 00    magic "\x82SNAPPY\0"
//!         00 00 00 01                version 1
//!         00 00 00 01                minimum compatible version 1
//! blocks  int length (big-endian), then `length` bytes of raw snappy, each holding up to 32 KiB
//! ```
//!
//! A reader also accepts a second header where a block length would be (streams written one after the
//! other), as `SnappyInputStream` does.

use std::io::{self, Read, Write};

pub const MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const HEADER_LEN: usize = 16;
/// `SnappyOutputStream`'s default block size.
const BLOCK: usize = 32 * 1024;
/// No block of a sane stream comes near this, compressed or not.
const MAX_BLOCK: usize = 64 << 20;

pub struct SnappyReader<R> {
    inner: R,
    block: Vec<u8>,
    at: usize,
    started: bool,
}

impl<R: Read> SnappyReader<R> {
    pub fn new(inner: R) -> Self {
        SnappyReader { inner, block: Vec::new(), at: 0, started: false }
    }

    /// The next block into `self.block`; false at the end of the stream.
    fn next_block(&mut self) -> io::Result<bool> {
        if !self.started {
            let mut header = [0u8; HEADER_LEN];
            self.inner.read_exact(&mut header).map_err(|_| invalid("shorter than snappy-java's header"))?;
            if header[..8] != MAGIC {
                return Err(invalid("no snappy-java magic header"));
            }
            self.started = true;
        }
        loop {
            let mut len = [0u8; 4];
            match read_full(&mut self.inner, &mut len)? {
                0 => return Ok(false),
                4 => {}
                _ => return Err(invalid("the stream ends inside a block length")),
            }
            if len == MAGIC[..4] {
                let mut rest = [0u8; HEADER_LEN - 4];
                self.inner.read_exact(&mut rest).map_err(|_| invalid("the stream ends inside a header"))?;
                if rest[..4] != MAGIC[4..] {
                    return Err(invalid("a damaged snappy-java header inside the stream"));
                }
                continue;
            }
            let len = u32::from_be_bytes(len) as usize;
            if len > MAX_BLOCK {
                return Err(invalid(&format!("a snappy block of {len} bytes")));
            }
            let mut compressed = vec![0u8; len];
            self.inner.read_exact(&mut compressed).map_err(|_| invalid("the stream ends inside a snappy block"))?;
            let size = snap::raw::decompress_len(&compressed).map_err(|e| invalid(&e.to_string()))?;
            if size > MAX_BLOCK {
                return Err(invalid(&format!("a snappy block that expands to {size} bytes")));
            }
            self.block = snap::raw::Decoder::new().decompress_vec(&compressed).map_err(|e| invalid(&e.to_string()))?;
            self.at = 0;
            if !self.block.is_empty() {
                return Ok(true);
            }
        }
    }
}

impl<R: Read> Read for SnappyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.at == self.block.len() && !self.next_block()? {
            return Ok(0);
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

pub struct SnappyWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
    encoder: snap::raw::Encoder,
}

impl<W: Write> SnappyWriter<W> {
    pub fn new(mut inner: W) -> io::Result<Self> {
        inner.write_all(&MAGIC)?;
        inner.write_all(&1i32.to_be_bytes())?;
        inner.write_all(&1i32.to_be_bytes())?;
        Ok(SnappyWriter { inner, pending: Vec::with_capacity(BLOCK), encoder: snap::raw::Encoder::new() })
    }

    fn emit(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let compressed = self.encoder.compress_vec(&self.pending).map_err(io::Error::other)?;
        self.inner.write_all(&(compressed.len() as u32).to_be_bytes())?;
        self.inner.write_all(&compressed)?;
        self.pending.clear();
        Ok(())
    }

    /// Writes the last block and hands back the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.emit()?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for SnappyWriter<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let total = buf.len();
        while !buf.is_empty() {
            let n = (BLOCK - self.pending.len()).min(buf.len());
            self.pending.extend_from_slice(&buf[..n]);
            buf = &buf[n..];
            if self.pending.len() == BLOCK {
                self.emit()?;
            }
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("snappy: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_over_several_blocks_and_a_concatenated_stream() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_be_bytes()).collect();
        let mut w = SnappyWriter::new(Vec::new()).unwrap();
        w.write_all(&data).unwrap();
        let mut bytes = w.finish().unwrap();
        assert_eq!(&bytes[..8], &MAGIC);
        let mut second = SnappyWriter::new(Vec::new()).unwrap();
        second.write_all(b"tail").unwrap();
        bytes.extend(second.finish().unwrap());
        let mut out = Vec::new();
        SnappyReader::new(&bytes[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), data.len() + 4);
        assert_eq!(&out[..data.len()], &data[..]);
        assert_eq!(&out[data.len()..], b"tail");
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let mut w = SnappyWriter::new(Vec::new()).unwrap();
        w.write_all(&[7u8; 5000]).unwrap();
        let bytes = w.finish().unwrap();
        for cut in [3, 18, bytes.len() - 1] {
            let mut out = Vec::new();
            assert!(SnappyReader::new(&bytes[..cut]).read_to_end(&mut out).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[0] = 0;
        assert!(SnappyReader::new(&flipped[..]).read_to_end(&mut Vec::new()).is_err());
    }
}
