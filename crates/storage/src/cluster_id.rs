//! The cluster id: 128 random bits that name the data a data directory holds, so that backups of different
//! clusters never mix (`<target>/<cluster-id>/...`, design.md "Backup layout"). It is made the first time a
//! server uses its data directory and read back at every start, in `<dataDir>/paddock/cluster-id`: 32
//! lowercase hex digits and a newline (docs/format.md, 1.1). A member of an ensemble starts with its own and
//! then adopts the ensemble's, which its first leader writes into the log ([`adopt`]).

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The id's file inside `dataDir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("paddock").join(FILE_NAME)
}

const FILE_NAME: &str = "cluster-id";
/// 32 hex digits and `\n`.
const FILE_LEN: usize = 33;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClusterId(u128);

impl ClusterId {
    /// A new random id.
    fn generate() -> ClusterId {
        ClusterId(rand::random())
    }

    pub fn from_u128(id: u128) -> ClusterId {
        ClusterId(id)
    }

    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// The file's bytes: exactly 32 lowercase hex digits and a newline.
    fn parse(bytes: &[u8]) -> Result<ClusterId, String> {
        let Some(digits) = bytes.strip_suffix(b"\n") else {
            return Err("it does not end with a newline".to_string());
        };
        if bytes.len() != FILE_LEN || !digits.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!("{} bytes where 32 lowercase hex digits and a newline belong", bytes.len()));
        }
        let text = std::str::from_utf8(digits).map_err(|e| e.to_string())?;
        u128::from_str_radix(text, 16).map(ClusterId).map_err(|e| e.to_string())
    }
}

/// 32 lowercase hex digits, as in the file and the admin server's `paddock-cluster-id` header.
impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Why the cluster id could not be read or made; one line, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ClusterIdError {
    #[error("{}: not a valid cluster id ({reason}); it must hold 32 lowercase hex digits and a newline", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: io::Error },
}

/// Reads the cluster id of `data_dir`, or makes one durably when it has none: written to `cluster-id.tmp`,
/// fsynced, renamed to `cluster-id`, and the directory fsynced (so a crash leaves either no id, and the next
/// start makes one, or a complete one). Call with the data directory locked, so that two servers cannot
/// each make their own.
pub fn load_or_create(data_dir: &Path) -> Result<ClusterId, ClusterIdError> {
    let path = path(data_dir);
    match read_file(&path) {
        Err(ClusterIdError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => create(&path),
        other => other,
    }
}

/// Reads the cluster id of `data_dir`; an absent file is an `Io` error of kind `NotFound`.
pub fn read(data_dir: &Path) -> Result<ClusterId, ClusterIdError> {
    read_file(&path(data_dir))
}

fn read_file(path: &Path) -> Result<ClusterId, ClusterIdError> {
    let io_err = |op| move |source| ClusterIdError::Io { op, path: path.to_path_buf(), source };
    let file = File::open(path).map_err(io_err("open"))?;
    // One byte more than a valid file holds is enough to tell that it is too long.
    let mut bytes = Vec::with_capacity(FILE_LEN + 1);
    file.take(FILE_LEN as u64 + 1).read_to_end(&mut bytes).map_err(io_err("read"))?;
    ClusterId::parse(&bytes).map_err(|reason| ClusterIdError::Malformed { path: path.to_path_buf(), reason })
}

/// Replaces the cluster id of `data_dir` with `id` durably (as [`load_or_create`] makes one): a member
/// adopting its ensemble's id.
pub fn adopt(data_dir: &Path, id: ClusterId) -> Result<(), ClusterIdError> {
    write_durably(&path(data_dir), id)
}

fn create(path: &Path) -> Result<ClusterId, ClusterIdError> {
    let id = ClusterId::generate();
    write_durably(path, id)?;
    Ok(id)
}

fn write_durably(path: &Path, id: ClusterId) -> Result<(), ClusterIdError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_file_name(format!("{FILE_NAME}.tmp"));
    let io_err = |op, at: &Path| {
        let at = at.to_path_buf();
        move |source| ClusterIdError::Io { op, path: at, source }
    };
    let new_dir = !dir.is_dir();
    fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    if new_dir && let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsync_dir(parent).map_err(io_err("fsync", parent))?;
    }
    let mut file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    file.write_all(format!("{id}\n").as_bytes()).map_err(io_err("write", &tmp))?;
    file.sync_all().map_err(io_err("fsync", &tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err("rename to", path))?;
    fsync_dir(dir).map_err(io_err("fsync", dir))?;
    Ok(())
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_read_back_byte_for_byte() {
        let data = tempfile::tempdir().expect("temp dir");
        let id = load_or_create(data.path()).expect("made");
        let bytes = fs::read(path(data.path())).expect("the file");
        assert_eq!(bytes.len(), 33);
        assert_eq!(bytes, format!("{id}\n").into_bytes());
        assert!(bytes[..32].iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)), "{bytes:?}");
        assert_eq!(load_or_create(data.path()).expect("read"), id);
        let names: Vec<_> =
            fs::read_dir(data.path().join("paddock")).expect("dir").flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, ["cluster-id"], "no temp file left");
        let other = tempfile::tempdir().expect("temp dir");
        assert_ne!(load_or_create(other.path()).expect("made"), id, "128 random bits");
    }

    #[test]
    fn an_adopted_id_replaces_the_own_one() {
        let data = tempfile::tempdir().expect("temp dir");
        let own = load_or_create(data.path()).expect("made");
        let ensemble = ClusterId::from_u128(own.as_u128() ^ 1);
        adopt(data.path(), ensemble).expect("adopted");
        assert_eq!(read(data.path()).expect("read"), ensemble);
        assert_eq!(load_or_create(data.path()).expect("kept"), ensemble);
    }

    #[test]
    fn a_leftover_temp_file_is_replaced() {
        let data = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(data.path().join("paddock")).expect("dir");
        fs::write(data.path().join("paddock/cluster-id.tmp"), b"half").expect("leftover");
        let id = load_or_create(data.path()).expect("made");
        assert_eq!(fs::read(path(data.path())).expect("file"), format!("{id}\n").into_bytes());
        assert!(!data.path().join("paddock/cluster-id.tmp").exists());
    }

    #[test]
    fn a_malformed_file_is_refused_in_one_line_naming_it() {
        let good = "0123456789abcdef0123456789abcdef";
        assert_eq!(ClusterId::parse(format!("{good}\n").as_bytes()).map(|id| id.to_string()), Ok(good.to_string()));
        let bad = [
            String::new(),
            good.to_string(),
            format!("{good}\n\n"),
            format!("{good} \n"),
            format!("{}\n", good.to_uppercase()),
            format!("{}\n", &good[1..]),
            format!("{}g\n", &good[1..]),
            format!("+{}\n", &good[1..]),
            format!("{good}\r\n"),
        ];
        let data = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(data.path().join("paddock")).expect("dir");
        for text in bad {
            fs::write(path(data.path()), &text).expect("write");
            let err = load_or_create(data.path()).expect_err(&text).to_string();
            assert!(err.contains(&path(data.path()).display().to_string()), "{err}");
            assert!(!err.contains('\n'), "one line: {err}");
            assert_eq!(fs::read_to_string(path(data.path())).expect("kept"), text, "a bad file is left alone");
        }
    }
}
