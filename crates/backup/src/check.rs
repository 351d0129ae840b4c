//! `paddock data check`: an offline audit of a data directory. It reads every snapshot and every log
//! record, verifies every checksum, replays the log from the oldest usable snapshot and compares the
//! replayed state digest with each newer snapshot's, and reports the zxid range a restart would recover.
//! It never modifies anything (a torn log tail is reported, not truncated).

use std::collections::BTreeMap;
use std::path::Path;

use paddock_storage::{StorageError, WalProblemKind, check_wal};
use paddock_tree::DataTree;
use serde::Serialize;

use crate::datadir::{load_snapshot, replay_log};

#[derive(Debug, Serialize)]
pub struct DataCheck {
    pub snapshots: Vec<SnapshotCheck>,
    pub wal_segments: usize,
    pub wal_first_zxid: Option<u64>,
    pub wal_last_zxid: Option<u64>,
    /// Where replay started (the snapshot zxid, or 0 for an empty tree) and how many records it applied.
    pub replayed_from: Option<i64>,
    pub replayed: u64,
    /// Snapshot digests the replayed state was compared with (all matched, or a problem says which not).
    pub digests_compared: usize,
    /// The zxids a restart can recover to: from the base snapshot to the last intact log record.
    pub recoverable: Option<(i64, i64)>,
    /// Harmless findings (a torn log tail that recovery truncates, leftover temp files).
    pub warnings: Vec<String>,
    /// Anything that makes the store unsound; empty means sound.
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SnapshotCheck {
    pub path: String,
    pub zxid: i64,
    pub nodes: Option<usize>,
    pub digest: Option<u64>,
    pub error: Option<String>,
}

impl DataCheck {
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Audits the data directory `data_dir`, whose log is in `log_dir` (`dataLogDir`) when it differs.
pub fn check_data_dir(data_dir: &Path, log_dir: Option<&Path>) -> Result<DataCheck, StorageError> {
    let snap_dir = paddock_storage::snap_dir(data_dir);
    let wal_dir = paddock_storage::wal_dir(log_dir.unwrap_or(data_dir));
    let mut report = DataCheck {
        snapshots: Vec::new(),
        wal_segments: 0,
        wal_first_zxid: None,
        wal_last_zxid: None,
        replayed_from: None,
        replayed: 0,
        digests_compared: 0,
        recoverable: None,
        warnings: Vec::new(),
        problems: Vec::new(),
    };
    let log_readable = if wal_dir.exists() {
        audit_wal(&wal_dir, &mut report)?
    } else {
        report.warnings.push(format!("no write-ahead log at {}", wal_dir.display()));
        true
    };
    let base = check_snapshots(&snap_dir, &mut report)?;
    if log_readable {
        replay(&wal_dir, base, &mut report);
    }
    Ok(report)
}

/// Whether a log starting at `first` continues the state at `zxid` (no missing history in between).
fn log_continues(first: Option<u64>, zxid: i64) -> bool {
    first.is_none_or(|f| f as i64 <= zxid + 1)
}

/// Reads every snapshot through; keeps the oldest valid one the log continues, the base for the replay, so
/// it is not read twice.
fn check_snapshots(snap_dir: &Path, report: &mut DataCheck) -> Result<Option<(i64, DataTree)>, StorageError> {
    if !snap_dir.exists() {
        return Ok(None);
    }
    let mut base = None;
    for (zxid, path) in paddock_storage::list_snapshots(snap_dir)? {
        let path = path.display().to_string();
        match load_snapshot(Path::new(&path)) {
            Ok(tree) => {
                let (nodes, digest) = (Some(tree.node_count()), Some(tree.digest()));
                report.snapshots.push(SnapshotCheck { path, zxid, nodes, digest, error: None });
                if base.is_none() && log_continues(report.wal_first_zxid, zxid) {
                    base = Some((zxid, tree));
                }
            }
            Err(e) => {
                report.problems.push(format!("snapshot {path}: {e}"));
                report.snapshots.push(SnapshotCheck { path, zxid, nodes: None, digest: None, error: Some(e) });
            }
        }
    }
    Ok(base)
}

/// Records the log's shape and damage; false when the damage stops any replay.
fn audit_wal(wal_dir: &Path, report: &mut DataCheck) -> Result<bool, StorageError> {
    let wal = check_wal(wal_dir)?;
    report.wal_segments = wal.segments.len();
    report.wal_first_zxid = wal.first_index;
    report.wal_last_zxid = wal.last_index;
    for tmp in &wal.temp_files {
        report.warnings.push(format!("leftover temporary file {} (recovery deletes it)", tmp.display()));
    }
    for p in &wal.problems {
        match p.kind {
            WalProblemKind::Corrupt => report.problems.push(p.to_string()),
            WalProblemKind::TornTail | WalProblemKind::BlankLastSegment => report.warnings.push(p.to_string()),
        }
    }
    Ok(!wal.is_corrupt())
}

/// Replays the log from an empty tree when it holds the whole history, else from `base`.
fn replay(wal_dir: &Path, base: Option<(i64, DataTree)>, report: &mut DataCheck) {
    let first = report.wal_first_zxid;
    let (base_zxid, mut tree) = match base {
        _ if log_continues(first, 0) => (0, DataTree::new()),
        Some(base) => base,
        None => {
            report.problems.push(format!(
                "no usable snapshot is continued by the log (log starts at zxid {}): history is missing",
                first.unwrap_or(0)
            ));
            return;
        }
    };
    let valid: BTreeMap<i64, u64> = report.snapshots.iter().filter_map(|s| s.digest.map(|d| (s.zxid, d))).collect();
    report.replayed_from = Some(base_zxid);
    if wal_dir.exists() {
        replay_checking_digests(wal_dir, &mut tree, &valid, report);
    }
    report.recoverable = Some((base_zxid, tree.last_zxid()));
}

/// Replays the log over `tree`, comparing the state digest after each record with the snapshot of that
/// zxid in `valid`, if any.
fn replay_checking_digests(wal_dir: &Path, tree: &mut DataTree, valid: &BTreeMap<i64, u64>, report: &mut DataCheck) {
    let mut replayed = 0u64;
    let mut compared = 0usize;
    let mut mismatches = Vec::new();
    let result = replay_log(wal_dir, tree, |tree| {
        replayed += 1;
        let zxid = tree.last_zxid();
        if let Some(expected) = valid.get(&zxid) {
            compared += 1;
            if *expected != tree.digest() {
                mismatches.push(format!(
                    "replayed state at zxid 0x{:x} has digest {} but the snapshot says {expected}",
                    zxid,
                    tree.digest()
                ));
            }
        }
    });
    report.replayed = replayed;
    report.digests_compared = compared;
    report.problems.extend(mismatches);
    if let Err(e) = result {
        report.problems.push(e.to_string());
    }
}

/// The human rendering: one fact per line, problems last, so the end of the output says what matters.
pub fn render(report: &DataCheck) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for s in &report.snapshots {
        match (&s.error, s.nodes) {
            (None, Some(nodes)) => {
                let _ = writeln!(out, "snapshot {} zxid 0x{:x}: ok, {nodes} znodes", s.path, s.zxid);
            }
            (Some(e), _) => {
                let _ = writeln!(out, "snapshot {} zxid 0x{:x}: BAD: {e}", s.path, s.zxid);
            }
            _ => {}
        }
    }
    let range = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => format!("zxid 0x{a:x}..0x{b:x}"),
        _ => "no records".to_string(),
    };
    let _ =
        writeln!(out, "log: {} segments, {}", report.wal_segments, range(report.wal_first_zxid, report.wal_last_zxid));
    let _ = writeln!(
        out,
        "replayed {} records, state digest matched {} snapshots",
        report.replayed, report.digests_compared
    );
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    for p in &report.problems {
        let _ = writeln!(out, "PROBLEM: {p}");
    }
    match (report.is_sound(), report.recoverable) {
        (true, Some((from, to))) => {
            let _ = writeln!(out, "sound: recoverable zxid range 0x{from:x}..0x{to:x}");
        }
        (_, Some((from, to))) => {
            let _ = writeln!(out, "NOT SOUND: a restart would recover zxid 0x{from:x}..0x{to:x} at most");
        }
        _ => {
            let _ = writeln!(out, "NOT SOUND: nothing recoverable");
        }
    }
    out
}

/// `paddock snapshot inspect`: what a snapshot file holds, after verifying every checksum and that the
/// body's digest matches the header.
#[derive(Debug, Serialize)]
pub struct SnapshotInfo {
    pub path: String,
    pub format_version: u32,
    pub zxid: String,
    pub time_ms: i64,
    pub node_count: u64,
    pub digest: u64,
    pub compression: String,
    pub file_bytes: u64,
    pub chunks: u64,
    pub body_bytes: u64,
    pub sessions: usize,
    pub ephemerals: usize,
    pub approximate_data_size: u64,
}

pub fn inspect_snapshot(path: &Path) -> Result<SnapshotInfo, String> {
    let report = paddock_storage::inspect_snapshot(path).map_err(|e| e.to_string())?;
    let tree = load_snapshot(path)?;
    let h = report.header;
    Ok(SnapshotInfo {
        path: path.display().to_string(),
        format_version: h.format_version,
        zxid: format!("0x{:x}", h.zxid),
        time_ms: h.time_ms,
        node_count: h.node_count,
        digest: h.digest,
        compression: format!("{:?}", h.compression).to_lowercase(),
        file_bytes: report.file_bytes,
        chunks: report.chunk_count,
        body_bytes: report.body_bytes,
        sessions: tree.sessions().count(),
        ephemerals: tree.ephemerals_count(),
        approximate_data_size: tree.approximate_data_size(),
    })
}
