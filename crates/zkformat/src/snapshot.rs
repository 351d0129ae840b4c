//! `snapshot.<hex zxid>[.gz|.snappy]`: ZooKeeper's snapshot files (`FileSnap`, `SnapStream`).
//!
//! The stream, before compression (all jute; `docs/zookeeper-formats.md` has it byte by byte):
//!
//! ```text
//! FileHeader   int magic "ZKSN", int version 2, long dbid -1
//! sessions     int n, n × { long id, int timeoutMs }
//! ACL cache    int n, n × { long id, vector<ACL> }
//! nodes        { ustring path, buffer data, long aclId, StatPersisted } …   the root's path is ""
//!              ustring "/"                                                   ends the nodes
//! seal         long adler32 of every byte before it, ustring "/"
//! digest       long zxid, int version, long digest (version < 2: a hex ustring)      3.6+, may be absent
//! seal
//! last zxid    long lastProcessedZxid                                                3.9+, may be absent
//! seal
//! ```
//!
//! The zxid of a snapshot is the one in its name: the last zxid applied when ZooKeeper started writing it.
//! The file is fuzzy — transactions kept being applied while it was written — so the logs after that zxid
//! must be replayed over it ([`crate::datadir`]).

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::jute::{Acl, ReadError, Reader, StatPersisted, Writer};
use crate::snappy::{self, SnappyReader, SnappyWriter};
use crate::tree::{Node, ZkTree};
use crate::{Error, digest};

pub const SNAP_MAGIC: i32 = 0x5A4B_534E;
pub const SNAP_VERSION: i32 = 2;
const SNAP_DBID: i64 = -1;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `SnapStream.StreamMode`: the file's extension says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// `CHECKED`, the default: the jute bytes as they are.
    None,
    Gzip,
    Snappy,
}

impl Compression {
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Snappy => ".snappy",
        }
    }
}

/// A snapshot file found in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotFile {
    pub path: PathBuf,
    pub zxid: i64,
    pub compression: Compression,
}

impl SnapshotFile {
    /// `snapshot.<hex zxid>` with an optional `.gz` or `.snappy`; `None` for any other name (ZooKeeper
    /// ignores those too).
    pub fn from_path(path: &Path) -> Option<SnapshotFile> {
        let name = path.file_name()?.to_str()?;
        let rest = name.strip_prefix("snapshot.")?;
        let (hex, compression) = if let Some(hex) = rest.strip_suffix(".gz") {
            (hex, Compression::Gzip)
        } else if let Some(hex) = rest.strip_suffix(".snappy") {
            (hex, Compression::Snappy)
        } else {
            (rest, Compression::None)
        };
        let zxid = parse_hex_zxid(hex)?;
        Some(SnapshotFile { path: path.to_path_buf(), zxid, compression })
    }

    /// `SnapStream.isValidSnapshot`: the cheap test ZooKeeper makes before it tries a file. A plain file
    /// must end with the seal's `"/"`; a compressed one must start with its format's magic.
    pub fn looks_complete(&self) -> bool {
        let Ok(mut file) = File::open(&self.path) else { return false };
        match self.compression {
            Compression::None => {
                use std::io::{Seek, SeekFrom};
                let mut tail = [0u8; 5];
                let long_enough = file.metadata().map(|m| m.len() >= 10).unwrap_or(false);
                long_enough
                    && file.seek(SeekFrom::End(-5)).is_ok()
                    && file.read_exact(&mut tail).is_ok()
                    && tail == [0, 0, 0, 1, b'/']
            }
            Compression::Gzip => {
                let mut magic = [0u8; 2];
                file.read_exact(&mut magic).is_ok() && magic == GZIP_MAGIC
            }
            Compression::Snappy => {
                let mut magic = [0u8; 8];
                file.read_exact(&mut magic).is_ok() && magic == snappy::MAGIC
            }
        }
    }
}

/// `Long.parseLong(hex, 16)`: a zxid is a signed long; an optional leading `-` is Java's, too.
pub(crate) fn parse_hex_zxid(hex: &str) -> Option<i64> {
    if hex.is_empty() || hex.len() > 17 {
        return None;
    }
    let (negative, digits) = match hex.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, hex.strip_prefix('+').unwrap_or(hex)),
    };
    let magnitude = i128::from_str_radix(digits, 16).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// `ZxidDigest`: the tree digest as of `zxid` (the last zxid applied when the digest was taken, after the
/// nodes were written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZxidDigest {
    pub zxid: i64,
    pub version: i32,
    pub digest: i64,
}

/// A snapshot as read: the tree (sessions included) before any replay, and what the file's trailer says.
pub struct Snapshot {
    pub file: SnapshotFile,
    pub tree: ZkTree,
    /// `None` for snapshots written without digests (before 3.6, or `zookeeper.digest.enabled=false`).
    pub digest: Option<ZxidDigest>,
    /// 3.9's `lastProcessedZxid` after the digest: the last zxid applied when the file was finished.
    pub last_processed_zxid: Option<i64>,
    pub node_count: u64,
}

/// Reads and checks a whole snapshot: header, every record, every seal. `each_node` hears every node
/// read (for progress).
pub fn read(file: &SnapshotFile, each_node: &mut dyn FnMut()) -> Result<Snapshot, Error> {
    let mut tree = ZkTree::empty();
    let (digest, last_processed_zxid) = read_into(file, &mut tree, each_node)?;
    let node_count = tree.len() as u64;
    tree.finish_load(file.zxid).map_err(|what| Error::damaged(&file.path, what))?;
    Ok(Snapshot { file: file.clone(), tree, digest, last_processed_zxid, node_count })
}

/// What a snapshot holds, read through without being kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    pub node_count: u64,
    /// The digest of the nodes as they are in the file: the recorded digest, when the snapshot is not fuzzy.
    pub nodes_digest: u64,
    pub digest: Option<ZxidDigest>,
    pub last_processed_zxid: Option<i64>,
}

/// Reads a whole snapshot as [`read`] does — header, every record, every seal — keeping nothing but counts:
/// a check of a file just written, in constant memory.
pub fn check(file: &SnapshotFile) -> Result<Checked, Error> {
    let mut tally = Tally::default();
    let (digest, last_processed_zxid) = read_into(file, &mut tally, &mut || {})?;
    Ok(Checked { node_count: tally.nodes, nodes_digest: tally.digest, digest, last_processed_zxid })
}

/// Where the records of a snapshot's body go.
trait Body {
    fn session(&mut self, id: i64, timeout_ms: i32);
    fn acl(&mut self, id: i64, list: Vec<Acl>);
    /// A node, after its parent; an error is damage.
    fn node(&mut self, path: String, node: Node) -> Result<(), String>;
}

impl Body for ZkTree {
    fn session(&mut self, id: i64, timeout_ms: i32) {
        self.load_session(id, timeout_ms);
    }

    fn acl(&mut self, id: i64, list: Vec<Acl>) {
        self.load_acl(id, list);
    }

    fn node(&mut self, path: String, node: Node) -> Result<(), String> {
        self.load_node(path, node)
    }
}

#[derive(Default)]
struct Tally {
    nodes: u64,
    digest: u64,
}

impl Body for Tally {
    fn session(&mut self, _: i64, _: i32) {}

    fn acl(&mut self, _: i64, _: Vec<Acl>) {}

    fn node(&mut self, _: String, node: Node) -> Result<(), String> {
        self.nodes += 1;
        self.digest = self.digest.wrapping_add(node.digest());
        Ok(())
    }
}

/// The stream of `file` into `body`, checked to its last seal: the digest and last processed zxid trailers.
fn read_into(
    file: &SnapshotFile,
    body: &mut dyn Body,
    each_node: &mut dyn FnMut(),
) -> Result<(Option<ZxidDigest>, Option<i64>), Error> {
    let path = &file.path;
    let opened = File::open(path).map_err(|e| Error::io(path, e))?;
    let raw = BufReader::with_capacity(256 * 1024, opened);
    let where_ = match file.compression {
        Compression::None => "at offset",
        _ => "at offset (uncompressed)",
    };
    let fail = |e: ReadError| match e {
        ReadError::Eof { offset } => {
            Error::damaged(path, format!("the snapshot ends {where_} {offset}, inside a record"))
        }
        ReadError::Bad { offset, what } => Error::damaged(path, format!("{what} ({where_} {offset})")),
        ReadError::Io(error) => Error::io(path, error),
    };
    let stream: Box<dyn BufRead> = match file.compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(raw))),
        Compression::Snappy => Box::new(BufReader::with_capacity(256 * 1024, SnappyReader::new(raw))),
    };
    let mut r = Reader::new(stream);
    let magic = r.i32().map_err(fail)?;
    if magic != SNAP_MAGIC {
        return Err(Error::Refused(format!(
            "{}: not a ZooKeeper snapshot (magic {magic:#010x}, not \"ZKSN\")",
            path.display()
        )));
    }
    let version = r.i32().map_err(fail)?;
    if version != SNAP_VERSION {
        return Err(Error::Refused(format!(
            "{}: snapshot format version {version} is not supported (ZooKeeper 3.4 to 3.9 write version {SNAP_VERSION})",
            path.display()
        )));
    }
    let _dbid = r.i64().map_err(fail)?;
    read_body(&mut r, body, each_node).map_err(fail)?;
    seal(&mut r).map_err(fail)?;
    let digest = match read_digest(&mut r).map_err(fail)? {
        Some(digest) => {
            seal(&mut r).map_err(fail)?;
            Some(digest)
        }
        None => None,
    };
    let last_processed_zxid = match optional(r.i64()).map_err(fail)? {
        Some(zxid) => {
            seal(&mut r).map_err(fail)?;
            Some(zxid)
        }
        None => None,
    };
    Ok((digest, last_processed_zxid))
}

/// Sessions, ACL cache and nodes, up to the `"/"` that ends them (`SerializeUtils.deserializeSnapshot`).
fn read_body<R: BufRead>(r: &mut Reader<R>, body: &mut dyn Body, each_node: &mut dyn FnMut()) -> Result<(), ReadError> {
    let at = r.offset();
    let sessions = r.i32()?;
    if sessions < 0 {
        return Err(r.bad(at, format!("{sessions} sessions")));
    }
    for _ in 0..sessions {
        let id = r.i64()?;
        body.session(id, r.i32()?);
    }
    let at = r.offset();
    let acls = r.i32()?;
    if acls < 0 {
        return Err(r.bad(at, format!("{acls} ACL lists")));
    }
    for _ in 0..acls {
        let id = r.i64()?;
        let at = r.offset();
        let list = r.acl_list()?.ok_or_else(|| r.bad(at, format!("ACL #{id} is a null list")))?;
        body.acl(id, list);
    }
    loop {
        let at = r.offset();
        let path = r.path()?;
        if path == "/" {
            return Ok(());
        }
        let data = r.buffer()?;
        let acl = r.i64()?;
        let stat = r.stat()?;
        let node = Node::new(&path, data, acl, stat);
        body.node(path, node).map_err(|what| r.bad(at, what))?;
        each_node();
    }
}

/// `SnapStream.checkSealIntegrity`: the Adler32 of everything before the seal, then a `"/"`.
fn seal<R: BufRead>(r: &mut Reader<R>) -> Result<(), ReadError> {
    let expected = r.checksum();
    let at = r.offset();
    let recorded = r.i64()?;
    r.string()?;
    if recorded != expected {
        return Err(r.bad(at, format!("seal checksum {recorded:#x} where the content gives {expected:#x}")));
    }
    Ok(())
}

/// `DataTree.deserializeZxidDigest`: absent when the file ends first, as in older snapshots.
fn read_digest<R: BufRead>(r: &mut Reader<R>) -> Result<Option<ZxidDigest>, ReadError> {
    let Some(zxid) = optional(r.i64())? else { return Ok(None) };
    let Some(version) = optional(r.i32())? else { return Ok(None) };
    let digest = if version < 2 {
        let at = r.offset();
        match optional(r.string())? {
            None | Some(None) => return Ok(None),
            Some(Some(hex)) => {
                let parsed =
                    u64::from_str_radix(&hex, 16).map_err(|_| r.bad(at, format!("digest {hex:?} is not hex")))?;
                parsed as i64
            }
        }
    } else {
        let Some(digest) = optional(r.i64())? else { return Ok(None) };
        digest
    };
    Ok(Some(ZxidDigest { zxid, version, digest }))
}

/// An optional trailer field: the end of the stream reads as `None`, as ZooKeeper reads it.
fn optional<T>(read: Result<T, ReadError>) -> Result<Option<T>, ReadError> {
    match read {
        Ok(v) => Ok(Some(v)),
        Err(ReadError::Eof { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The name ZooKeeper gives a snapshot of `zxid` (`Util.makeSnapshotName`): lower-case hex, no padding.
pub fn file_name(zxid: i64, compression: Compression) -> String {
    format!("snapshot.{zxid:x}{}", compression.extension())
}

/// Writes a snapshot stream as ZooKeeper 3.8's `FileSnap.serialize` does, digest included: header and
/// sessions first, then the ACL cache, then nodes, each after its parent; [`SnapshotWriter::finish`] writes
/// the end marker, the seals and the digest, which it computed from the nodes written.
pub struct SnapshotWriter<W: Write> {
    out: Writer<Sink<W>>,
    digest: u64,
    nodes: u64,
    stage: Stage,
}

#[derive(PartialEq, Eq, Debug)]
enum Stage {
    Acls,
    Nodes,
}

enum Sink<W: Write> {
    Plain(BufWriter<W>),
    Gzip(Box<flate2::write::GzEncoder<BufWriter<W>>>),
    Snappy(Box<SnappyWriter<BufWriter<W>>>),
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Gzip(w) => w.write(buf),
            Sink::Snappy(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
            Sink::Snappy(w) => w.flush(),
        }
    }
}

impl<W: Write> Sink<W> {
    fn finish(self) -> io::Result<W> {
        let buffered = match self {
            Sink::Plain(w) => w,
            Sink::Gzip(w) => (*w).finish()?,
            Sink::Snappy(w) => (*w).finish()?,
        };
        buffered.into_inner().map_err(|e| e.into_error())
    }
}

impl<W: Write> SnapshotWriter<W> {
    /// Starts the stream with the file header and the sessions (id, timeout in ms).
    pub fn new(out: W, compression: Compression, sessions: &[(i64, i32)]) -> io::Result<Self> {
        let buffered = BufWriter::with_capacity(256 * 1024, out);
        let sink = match compression {
            Compression::None => Sink::Plain(buffered),
            Compression::Gzip => {
                Sink::Gzip(Box::new(flate2::write::GzEncoder::new(buffered, flate2::Compression::default())))
            }
            Compression::Snappy => Sink::Snappy(Box::new(SnappyWriter::new(buffered)?)),
        };
        let mut out = Writer::new(sink);
        out.i32(SNAP_MAGIC)?;
        out.i32(SNAP_VERSION)?;
        out.i64(SNAP_DBID)?;
        out.i32(len_i32(sessions.len())?)?;
        for (id, timeout) in sessions {
            out.i64(*id)?;
            out.i32(*timeout)?;
        }
        Ok(SnapshotWriter { out, digest: 0, nodes: 0, stage: Stage::Acls })
    }

    /// The ACL cache: every list a node will refer to, by id (ids ≥ 1; -1 is the open ACL, never listed).
    pub fn acls(&mut self, acls: &[(i64, &[Acl])]) -> io::Result<()> {
        assert_eq!(self.stage, Stage::Acls, "the ACL cache is written once, before the nodes");
        self.out.i32(len_i32(acls.len())?)?;
        for (id, list) in acls {
            self.out.i64(*id)?;
            self.out.acl_list(list)?;
        }
        self.stage = Stage::Nodes;
        Ok(())
    }

    /// One node; `path` `/` is the root, which must come first; every other node after its parent.
    pub fn node(&mut self, path: &str, data: Option<&[u8]>, acl: i64, stat: &StatPersisted) -> io::Result<()> {
        assert_eq!(self.stage, Stage::Nodes, "nodes come after the ACL cache");
        let path = if path == "/" { "" } else { path };
        self.out.string(path)?;
        self.out.buffer(data)?;
        self.out.i64(acl)?;
        self.out.stat(stat)?;
        self.digest = self.digest.wrapping_add(digest::node(path, data, stat));
        self.nodes += 1;
        Ok(())
    }

    /// Ends the nodes, seals, writes the digest as of `zxid` and seals again; with
    /// `last_processed_zxid`, also 3.9's trailer and its seal. Returns the writer and the digest.
    pub fn finish(mut self, zxid: i64, last_processed_zxid: Option<i64>) -> io::Result<(W, u64)> {
        self.out.string("/")?;
        self.seal()?;
        self.out.i64(zxid)?;
        self.out.i32(digest::DIGEST_VERSION)?;
        self.out.i64(self.digest as i64)?;
        self.seal()?;
        if let Some(last) = last_processed_zxid {
            self.out.i64(last)?;
            self.seal()?;
        }
        let inner = self.out.into_inner().finish()?;
        Ok((inner, self.digest))
    }

    fn seal(&mut self) -> io::Result<()> {
        let sum = self.out.checksum();
        self.out.i64(sum)?;
        self.out.string("/")
    }

    pub fn node_count(&self) -> u64 {
        self.nodes
    }
}

fn len_i32(len: usize) -> io::Result<i32> {
    i32::try_from(len).map_err(|_| io::Error::other(format!("{len} entries do not fit a jute count")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> Vec<Acl> {
        vec![Acl { perms: 31, scheme: "world".into(), id: "anyone".into() }]
    }

    /// A small snapshot: root, /zookeeper, /a (ephemeral of session 5, null data), /a/b.
    fn write(compression: Compression, last: Option<i64>) -> Vec<u8> {
        let mut w = SnapshotWriter::new(Vec::new(), compression, &[(5, 30000)]).unwrap();
        let open = open();
        w.acls(&[(1, &open[..])]).unwrap();
        let stat = |zxid| StatPersisted { czxid: zxid, mzxid: zxid, pzxid: zxid, ..StatPersisted::default() };
        w.node("/", Some(b""), 1, &stat(0)).unwrap();
        w.node("/zookeeper", Some(b""), 1, &stat(0)).unwrap();
        w.node("/a", None, 1, &StatPersisted { ephemeral_owner: 5, ..stat(3) }).unwrap();
        w.node("/a/b", Some(b"\x00\xff"), -1, &stat(4)).unwrap();
        w.finish(4, last).unwrap().0
    }

    fn read_bytes(bytes: &[u8], name: &str) -> Result<Snapshot, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let file = SnapshotFile::from_path(&path).unwrap();
        read(&file, &mut || {})
    }

    #[test]
    fn written_snapshots_read_back_in_every_compression() {
        for (compression, name) in [
            (Compression::None, "snapshot.4"),
            (Compression::Gzip, "snapshot.4.gz"),
            (Compression::Snappy, "snapshot.4.snappy"),
        ] {
            let snapshot = read_bytes(&write(compression, Some(6)), name).unwrap();
            assert_eq!(snapshot.file.zxid, 4);
            assert_eq!(snapshot.node_count, 4);
            assert_eq!(snapshot.tree.sessions().get(&5), Some(&30000));
            let digest = snapshot.digest.unwrap();
            assert_eq!((digest.zxid, digest.version), (4, 2));
            assert_eq!(digest.digest as u64, snapshot.tree.digest());
            assert_eq!(snapshot.last_processed_zxid, Some(6));
            let a = snapshot.tree.get("/a").unwrap();
            assert_eq!((a.data.as_deref(), a.stat.ephemeral_owner), (None, 5));
            assert_eq!(snapshot.tree.get("/a/b").unwrap().data.as_deref(), Some(&b"\x00\xff"[..]));
            assert_eq!(snapshot.tree.acl(1), Some(open()));
        }
    }

    #[test]
    fn a_check_reads_through_without_keeping_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot.4.snappy");
        std::fs::write(&path, write(Compression::Snappy, None)).unwrap();
        let file = SnapshotFile::from_path(&path).unwrap();
        let checked = check(&file).unwrap();
        let read = read(&file, &mut || {}).unwrap();
        assert_eq!((checked.node_count, checked.nodes_digest), (read.node_count, read.tree.digest()));
        assert_eq!((checked.digest, checked.last_processed_zxid), (read.digest, None));
    }

    #[test]
    fn a_snapshot_without_trailers_reads_as_an_old_one() {
        let full = write(Compression::None, None);
        // Drop the digest and its seal (8 + 4 + 8 + 8 + 5 bytes).
        let old = &full[..full.len() - 33];
        assert!(old.ends_with(&[0, 0, 0, 1, b'/']));
        let snapshot = read_bytes(old, "snapshot.4").unwrap();
        assert_eq!((snapshot.digest, snapshot.last_processed_zxid), (None, None));
    }

    #[test]
    fn damage_is_named_with_its_offset() {
        let mut bytes = write(Compression::None, None);
        bytes[40] ^= 0x01;
        let error = read_bytes(&bytes, "snapshot.4").map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("snapshot.4") && error.contains("offset"), "{error}");
        let bytes = write(Compression::None, None);
        let error = read_bytes(&bytes[..60], "snapshot.4").map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("ends at offset"), "{error}");
        let mut bytes = write(Compression::None, None);
        bytes[7] = 3;
        let error = read_bytes(&bytes, "snapshot.4").map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("version 3 is not supported"), "{error}");
    }

    #[test]
    fn names_parse_as_zookeeper_parses_them() {
        let f = SnapshotFile::from_path(Path::new("/d/snapshot.1a2b.snappy")).unwrap();
        assert_eq!((f.zxid, f.compression), (0x1a2b, Compression::Snappy));
        assert!(SnapshotFile::from_path(Path::new("/d/snapshot.xyz")).is_none());
        assert!(SnapshotFile::from_path(Path::new("/d/log.10")).is_none());
        assert_eq!(file_name(0x100000002, Compression::Gzip), "snapshot.100000002.gz");
    }
}
