//! The log store's meta file: the vote, the committed log id and the last purged log id, replaced
//! atomically as a whole (docs/format.md, 6.2). Written only by the log writer thread.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::failpoint::io_failpoint;
use crate::types::{LogId, Vote, log_id, term_of};

pub(crate) const META_FILE: &str = "raft.meta";
const MAGIC: [u8; 4] = *b"PDKR";
const VERSION: u32 = 1;
const META_LEN: usize = 64;

/// What the meta file holds. `Default` is what a missing file means: a node that never voted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Meta {
    pub vote: Option<Vote>,
    pub committed: Option<LogId>,
    pub purged: Option<LogId>,
}

impl Meta {
    fn encode(&self) -> [u8; META_LEN] {
        let mut b = [0u8; META_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..8].copy_from_slice(&VERSION.to_le_bytes());
        if let Some(vote) = &self.vote {
            b[8] = 1;
            b[9..17].copy_from_slice(&vote.leader_id.term.to_le_bytes());
            b[17..25].copy_from_slice(&vote.leader_id.voted_for.to_le_bytes());
            b[25] = u8::from(vote.committed);
        }
        put_log_id(&mut b[26..43], self.committed.as_ref());
        put_log_id(&mut b[43..60], self.purged.as_ref());
        let crc = crc32c::crc32c(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Result<Meta, String> {
        if b.len() != META_LEN {
            return Err(format!("{} bytes, expected {META_LEN}", b.len()));
        }
        if b[0..4] != MAGIC {
            return Err(format!("bad magic {:02x?}, expected \"PDKR\"", &b[0..4]));
        }
        let (stored, computed) = (le_u32(&b[60..64]), crc32c::crc32c(&b[0..60]));
        if stored != computed {
            return Err(format!("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"));
        }
        let version = le_u32(&b[4..8]);
        if version != VERSION {
            return Err(format!("unsupported meta format version {version} (this build reads {VERSION})"));
        }
        let vote = match flag(b[8])? {
            false => None,
            true => {
                let mut vote = Vote::new(le_u64(&b[9..17]), le_u64(&b[17..25]));
                vote.committed = flag(b[25])?;
                Some(vote)
            }
        };
        Ok(Meta { vote, committed: get_log_id(&b[26..43])?, purged: get_log_id(&b[43..60])? })
    }
}

/// Reads the meta file in `dir`; a missing file is `Meta::default()`. A damaged file is an error: the vote
/// it held may have been given, and forgetting it could let this node vote twice in a term.
pub(crate) fn read(dir: &Path) -> io::Result<Meta> {
    let path = dir.join(META_FILE);
    match fs::read(&path) {
        Ok(bytes) => Meta::decode(&bytes)
            .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {why}", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Meta::default()),
        Err(e) => Err(io::Error::new(e.kind(), format!("read {}: {e}", path.display()))),
    }
}

/// Replaces the meta file atomically (`atomic_write`).
pub(crate) fn write(dir: &Path, meta: &Meta) -> io::Result<()> {
    atomic_write(dir, META_FILE, &meta.encode())
}

/// Replaces `dir/name` with `bytes`: they go to `name.tmp`, which is fsynced and renamed over the old file,
/// and the directory is fsynced, so after a crash the file holds either the old or the new contents. Used
/// for the log store's meta file and for snapshot meta files, behind the `raftmeta::*` failpoints.
pub(crate) fn atomic_write(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let result = write_tmp(dir, &tmp, bytes).and_then(|()| replace(dir, &tmp, &path));
    result.map_err(|e| io::Error::new(e.kind(), format!("write {}: {e}", path.display())))
}

fn write_tmp(dir: &Path, tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(tmp)?;
    io_failpoint!("raftmeta::before_write", dir);
    file.write_all(bytes)?;
    io_failpoint!("raftmeta::before_fsync", dir);
    file.sync_all()
}

fn replace(dir: &Path, tmp: &Path, path: &Path) -> io::Result<()> {
    io_failpoint!("raftmeta::before_rename", dir);
    fs::rename(tmp, path)?;
    io_failpoint!("raftmeta::before_dir_fsync", dir);
    File::open(dir)?.sync_all()
}

pub(crate) fn put_log_id(b: &mut [u8], id: Option<&LogId>) {
    if let Some(id) = id {
        b[0] = 1;
        b[1..9].copy_from_slice(&term_of(id).to_le_bytes());
        b[9..17].copy_from_slice(&id.index.to_le_bytes());
    }
}

pub(crate) fn get_log_id(b: &[u8]) -> Result<Option<LogId>, String> {
    Ok(flag(b[0])?.then(|| log_id(le_u64(&b[1..9]), le_u64(&b[9..17]))))
}

fn flag(b: u8) -> Result<bool, String> {
    match b {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(format!("a presence flag is {other}, not 0 or 1")),
    }
}

pub(crate) fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_damage_is_refused() {
        let mut vote = Vote::new(7, 3);
        vote.committed = true;
        let meta = Meta { vote: Some(vote), committed: Some(log_id(7, 100)), purged: Some(log_id(6, 50)) };
        let bytes = meta.encode();
        assert_eq!(Meta::decode(&bytes), Ok(meta));
        assert_eq!(Meta::decode(&Meta::default().encode()), Ok(Meta::default()));
        for byte in 0..bytes.len() {
            let mut bad = bytes;
            bad[byte] ^= 0x04;
            assert!(Meta::decode(&bad).is_err(), "flip in byte {byte} went unnoticed");
        }
    }

    #[test]
    fn missing_file_is_default_and_write_replaces() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(read(dir.path()).expect("read"), Meta::default());
        let meta = Meta { vote: Some(Vote::new(1, 1)), committed: None, purged: Some(log_id(1, 5)) };
        write(dir.path(), &meta).expect("write");
        assert_eq!(read(dir.path()).expect("read"), meta);
        assert!(!dir.path().join("raft.meta.tmp").exists());
    }
}
