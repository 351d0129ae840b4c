//! `log.<hex zxid>`: ZooKeeper's transaction logs (`FileTxnLog`). The name's zxid is that of the first
//! transaction in the file.
//!
//! ```text
//! FileHeader   int magic "ZKLG", int version 2, long dbid 0
//! entries      long adler32(txn), int length, `length` bytes of txn, byte 0x42 ('B')
//! padding      zeros (files are pre-allocated in 64 MiB steps)
//! ```
//!
//! A file ends, as `FileTxnIterator.next` decides, at its end, at a zero length (the padding), or at an
//! entry cut short — a torn tail left by a crash while the entry was being written, never acknowledged to a
//! client. A checksum that does not match, a length no entry can have or a transaction that does not decode
//! is damage.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::Error;
use crate::jute::{MAX_LENGTH, ReadError, Reader};
use crate::snapshot::parse_hex_zxid;
use crate::txn::{self, LoggedTxn};

pub const LOG_MAGIC: i32 = 0x5A4B_4C47;
pub const LOG_VERSION: i32 = 2;
const HEADER_LEN: u64 = 16;
const END_OF_RECORD: u8 = 0x42;

/// A log file found in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFile {
    pub path: PathBuf,
    /// The zxid of its first transaction, from the name.
    pub zxid: i64,
}

impl LogFile {
    pub fn from_path(path: &Path) -> Option<LogFile> {
        let name = path.file_name()?.to_str()?;
        let zxid = parse_hex_zxid(name.strip_prefix("log.")?)?;
        Some(LogFile { path: path.to_path_buf(), zxid })
    }
}

/// How a log file ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// At the end of the file, or of the transactions before the zero padding, at this offset.
    Clean { offset: u64 },
    /// Inside an entry that starts at `offset`: a torn tail. `trailing_bytes`: non-zero bytes found after
    /// it, which ZooKeeper ignores as well (they were written after the tear, never acknowledged).
    Torn { offset: u64, why: &'static str, trailing_bytes: u64 },
    /// The file is shorter than its header (ZooKeeper 3.9.3 deletes such a last log, earlier versions fail).
    NoHeader { len: u64 },
}

pub struct LogReader {
    file: LogFile,
    /// `None` once the file has ended (or when it has no header).
    reader: Option<Reader<BufReader<File>>>,
    end: Option<End>,
}

impl LogReader {
    /// Opens a log and checks its header.
    pub fn open(file: &LogFile) -> Result<LogReader, Error> {
        let path = &file.path;
        let opened = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = opened.metadata().map_err(|e| Error::io(path, e))?.len();
        if len < HEADER_LEN {
            return Ok(LogReader { file: file.clone(), reader: None, end: Some(End::NoHeader { len }) });
        }
        let mut reader = Reader::new(BufReader::with_capacity(256 * 1024, opened));
        let header = (|| Ok::<_, ReadError>((reader.i32()?, reader.i32()?, reader.i64()?)))();
        let (magic, version, _dbid) = header.map_err(|e| Error::damaged(path, e.to_string()))?;
        if magic != LOG_MAGIC {
            return Err(Error::Refused(format!(
                "{}: not a ZooKeeper transaction log (magic {magic:#010x}, not \"ZKLG\")",
                path.display()
            )));
        }
        if version != LOG_VERSION {
            return Err(Error::Refused(format!(
                "{}: transaction log format version {version} is not supported (ZooKeeper 3.4 to 3.9 write version {LOG_VERSION})",
                path.display()
            )));
        }
        Ok(LogReader { file: file.clone(), reader: Some(reader), end: None })
    }

    pub fn file(&self) -> &LogFile {
        &self.file
    }

    /// How the file ended, once [`LogReader::next_txn`] has returned `None`.
    pub fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    /// The next transaction and the offset of its entry, or `None` at the end of the file.
    pub fn next_txn(&mut self) -> Result<Option<(u64, LoggedTxn)>, Error> {
        let Some(reader) = self.reader.as_mut() else { return Ok(None) };
        let path = &self.file.path;
        let at = reader.offset();
        match entry(reader, path)? {
            Ok(txn) => Ok(Some((at, txn))),
            Err(end) => {
                let end = match end {
                    End::Torn { offset, why, .. } => {
                        let mut trailing_bytes = 0;
                        reader
                            .rest(|bytes| trailing_bytes += bytes.iter().filter(|b| **b != 0).count() as u64)
                            .map_err(|e| Error::damaged(path, e.to_string()))?;
                        End::Torn { offset, why, trailing_bytes }
                    }
                    other => other,
                };
                self.end = Some(end);
                self.reader = None;
                Ok(None)
            }
        }
    }
}

/// One entry; `Ok(Err(end))` where the file ends. An `Err` is damage.
fn entry<R: BufRead>(reader: &mut Reader<R>, path: &Path) -> Result<Result<LoggedTxn, End>, Error> {
    let at = reader.offset();
    let torn = |why| Ok(Err(End::Torn { offset: at, why, trailing_bytes: 0 }));
    let fail = |e: ReadError| match e {
        ReadError::Io(error) => Error::io(path, error),
        other => Error::damaged(path, other.to_string()),
    };
    if reader.at_end().map_err(fail)? {
        return Ok(Err(End::Clean { offset: at }));
    }
    let crc = match reader.i64() {
        Ok(crc) => crc,
        Err(ReadError::Eof { .. }) => return torn("the file ends inside an entry's checksum"),
        Err(e) => return Err(fail(e)),
    };
    let len = match reader.i32() {
        Ok(len) => len,
        Err(ReadError::Eof { .. }) => return torn("the file ends inside an entry's length"),
        Err(e) => return Err(fail(e)),
    };
    match len {
        0 => return Ok(Err(End::Clean { offset: at })),
        -1 => return torn("an entry of null length"),
        n if n < 0 || n as usize > MAX_LENGTH => {
            return Err(Error::damaged(path, format!("an entry of length {n} at offset {at}")));
        }
        _ => {}
    }
    let bytes = match reader.bytes(len as usize) {
        Ok(bytes) => bytes,
        Err(ReadError::Eof { .. }) => return torn("the file ends inside an entry"),
        Err(e) => return Err(fail(e)),
    };
    match reader.u8() {
        Ok(END_OF_RECORD) => {}
        Ok(_) => return torn("an entry not followed by its end-of-record byte 0x42"),
        Err(ReadError::Eof { .. }) => return torn("the file ends before an entry's end-of-record byte"),
        Err(e) => return Err(fail(e)),
    }
    let mut sum = adler2::Adler32::new();
    sum.write_slice(&bytes);
    if i64::from(sum.checksum()) != crc {
        return Err(Error::damaged(
            path,
            format!("CRC check failed for the entry at offset {at} (recorded {crc:#x}, content {:#x})", sum.checksum()),
        ));
    }
    txn::decode(&bytes).map(Ok).map_err(|e| {
        let what = match e {
            ReadError::Bad { offset, what } => format!("{what} (entry at offset {at}, byte {offset} of it)"),
            ReadError::Eof { offset } => format!("a transaction cut short (entry at offset {at}, byte {offset} of it)"),
            ReadError::Io(e) => e.to_string(),
        };
        Error::damaged(path, what)
    })
}

/// The bytes of a log file holding `entries` (each a transaction's bytes), as ZooKeeper writes it, with
/// `padding` zero bytes after them. For tests here and elsewhere.
pub fn encode_log(entries: &[Vec<u8>], padding: usize) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&LOG_MAGIC.to_be_bytes());
    out.extend_from_slice(&LOG_VERSION.to_be_bytes());
    out.extend_from_slice(&0i64.to_be_bytes());
    for bytes in entries {
        let mut sum = adler2::Adler32::new();
        sum.write_slice(bytes);
        out.extend_from_slice(&i64::from(sum.checksum()).to_be_bytes());
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
        out.push(END_OF_RECORD);
    }
    out.resize(out.len() + padding, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::tests::{create_record, encode};
    use crate::txn::{TxnHeader, op};

    fn entry(zxid: i64) -> Vec<u8> {
        let header = TxnHeader { client_id: 1, cxid: 1, zxid, time: 5, kind: op::CREATE };
        encode(&header, &create_record(&format!("/n{zxid}"), b"", false, zxid as i32), None)
    }

    fn read_all(bytes: &[u8]) -> Result<(Vec<i64>, End), Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        std::fs::write(&path, bytes).unwrap();
        let mut log = LogReader::open(&LogFile::from_path(&path).unwrap())?;
        let mut zxids = Vec::new();
        while let Some((_, txn)) = log.next_txn()? {
            zxids.push(txn.header.zxid);
        }
        Ok((zxids, log.end().unwrap().clone()))
    }

    #[test]
    fn entries_then_padding() {
        let bytes = encode_log(&[entry(1), entry(2)], 4096);
        let (zxids, end) = read_all(&bytes).unwrap();
        assert_eq!(zxids, vec![1, 2]);
        assert!(matches!(end, End::Clean { .. }));
        let (zxids, end) = read_all(&encode_log(&[entry(1)], 0)).unwrap();
        assert_eq!(
            (zxids, end),
            (vec![1], End::Clean { offset: (bytes.len() - 4096) as u64 - entry(2).len() as u64 - 13 })
        );
    }

    #[test]
    fn a_torn_tail_ends_the_file_as_in_zookeeper() {
        let full = encode_log(&[entry(1), entry(2)], 0);
        for cut in 1..(entry(2).len() + 13) {
            let (zxids, end) = read_all(&full[..full.len() - cut]).unwrap();
            assert_eq!(zxids, vec![1], "cut {cut}");
            assert!(matches!(end, End::Torn { trailing_bytes: 0, .. }), "cut {cut}: {end:?}");
        }
        let (_, end) = read_all(&full[..10]).unwrap();
        assert_eq!(end, End::NoHeader { len: 10 });
    }

    #[test]
    fn a_bad_checksum_is_damage_named_with_its_offset() {
        let mut bytes = encode_log(&[entry(1), entry(2)], 100);
        let second = 16 + entry(1).len() + 13;
        bytes[second + 20] ^= 0x40;
        let error = read_all(&bytes).unwrap_err().to_string();
        assert!(error.contains("log.1") && error.contains(&format!("offset {second}")), "{error}");
        let mut bytes = encode_log(&[entry(1)], 0);
        bytes[7] = 1;
        assert!(read_all(&bytes).unwrap_err().to_string().contains("version 1 is not supported"));
    }
}
