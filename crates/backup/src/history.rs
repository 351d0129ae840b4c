//! Historical reads (`paddock history`): a node as it was at a zxid or a moment, and the txns that touched a
//! path, from what a backup target or a data directory retains — snapshots and the log after them.
//!
//! Nothing is restored and nothing is written: the tree at the point is rebuilt in memory, from the newest
//! snapshot at or before it with the log replayed over it, exactly as a restore rebuilds it (`restore.rs`
//! for a target, `datadir.rs` for a data directory). The cost is that of a restore without its writes:
//! reading one snapshot and the log after it, and holding the tree.
//!
//! The log of a path replays the history too, from the oldest snapshot the log continues (or from the
//! newest one before `--since`), because what a txn did depends on the tree it met: the name a sequential
//! create got, whether a write failed, which ephemerals a session's close deleted.

use std::path::{Path, PathBuf};

use paddock_proto::{Acl, CreateMode, ErrorCode, EventType};
/// The Stat and the time format zkCli prints, for those that print a [`NodeAt`].
pub use paddock_proto::{Stat, display::java_date};
use paddock_tree::{Applied, CONFIG_PATH, DataTree, Txn, TxnOp, TxnResult};
use serde::Serialize;

use crate::catalog::{self, ClusterBackups};
use crate::manifest;
use crate::point::Point;
use crate::segment;
use crate::target::Target;
use crate::{BackupError, datadir, restore};

/// Where history is read from.
#[derive(Clone)]
pub enum Source {
    /// A backup target's snapshot backups and archived log, of its one cluster or `cluster`.
    Target { target: Target, cluster: Option<String> },
    /// A standalone server's data directory (its `dataLogDir` when that differs), read-only.
    DataDir { data_dir: PathBuf, log_dir: Option<PathBuf> },
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Target { target, .. } => target.display().to_string(),
            Source::DataDir { data_dir, .. } => data_dir.display().to_string(),
        }
    }
}

/// A node as it was at a point: what `history get`, `ls` and `stat` print.
#[derive(Clone, Debug, Serialize)]
pub struct NodeAt {
    pub path: String,
    /// The point the tree was rebuilt at: its last zxid and that txn's time stamp.
    pub zxid: i64,
    pub time: String,
    /// `None` is null data.
    #[serde(skip)]
    pub data: Option<Vec<u8>>,
    #[serde(skip)]
    pub stat: Stat,
    pub acl: Vec<String>,
    /// Child names, sorted.
    pub children: Vec<String>,
}

/// The tree at `point`, rebuilt in memory from `source`. A point outside what the source holds is refused
/// with the range it does hold.
pub async fn tree_at(source: &Source, point: Point) -> Result<DataTree, BackupError> {
    match source {
        Source::Target { target, cluster } => {
            restore::tree_at(target, cluster.as_deref(), point, &|_| {}).await.map(|(tree, _)| tree)
        }
        Source::DataDir { data_dir, log_dir } => {
            let (data_dir, log_dir) = (data_dir.clone(), log_dir.clone());
            tokio::task::spawn_blocking(move || dir_tree_at(&data_dir, log_dir.as_deref(), point))
                .await
                .map_err(|e| BackupError::Source(e.to_string()))?
        }
    }
}

/// `path` in `tree`; a path the tree does not hold is refused as "did not exist at zxid ...".
pub fn node_at(tree: &DataTree, path: &str) -> Result<NodeAt, BackupError> {
    paddock_tree::path::validate(path).map_err(|_| BackupError::Refused(format!("{path:?} is not a znode path")))?;
    let node = tree
        .get(path)
        .ok_or_else(|| BackupError::Refused(format!("{path} did not exist at zxid 0x{:x}", tree.last_zxid())))?;
    let mut children: Vec<String> = node.children().map(str::to_string).collect();
    children.sort();
    Ok(NodeAt {
        path: path.to_string(),
        zxid: tree.last_zxid(),
        time: manifest::rfc3339_ms(tree.last_time()),
        data: node.data().map(<[u8]>::to_vec),
        stat: node.stat(),
        acl: node.acl().iter().map(acl_text).collect(),
        children,
    })
}

/// `scheme:id:perms`, perms as zkCli's `getAcl` letters (`cdrwa`).
pub fn acl_text(acl: &Acl) -> String {
    const LETTERS: [(i32, char); 5] = [(4, 'c'), (8, 'd'), (1, 'r'), (2, 'w'), (16, 'a')];
    let perms: String = LETTERS.iter().filter(|(bit, _)| acl.perms & bit != 0).map(|(_, c)| *c).collect();
    format!("{}:{perms}", acl.id)
}

// ---------------------------------------------------------------------------------------------------------
// The log of a path.

/// What `history log` lists: the txns naming `path`, stamped within `since..=until` (ms).
#[derive(Clone, Debug)]
pub struct LogRequest {
    pub path: String,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PathLog {
    pub path: String,
    pub source: String,
    /// The zxid ranges whose txns were read (within the time bounds); history outside them was not.
    pub searched: Vec<ZxidRange>,
    /// Log the source holds but that could not be read for want of a tree to replay it over (no snapshot
    /// before it), or that is missing (a gap in the archive).
    pub not_searched: Vec<ZxidRange>,
    pub entries: Vec<LogEntry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ZxidRange {
    pub first: i64,
    pub last: i64,
}

/// One txn that touched the path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    pub zxid: i64,
    /// The leader's time stamp, RFC 3339 with milliseconds, and in ms.
    pub time: String,
    pub time_ms: i64,
    /// `0x…`; `0x0` for txns no session made (a container's reaping, a reconfig).
    pub session_id: String,
    /// The caller's ids when it wrote (`ip:127.0.0.1`, `digest:user:hash`, ...).
    pub auth: Vec<String>,
    /// `ok`, or the txn's error (a failed multi: the code of the op that failed it).
    pub result: String,
    /// The txn was a multi (its other ops, on other paths, are not listed).
    pub multi: bool,
    /// What the txn did to the path (one op; several when a multi names it more than once).
    pub ops: Vec<OpRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpRecord {
    /// ZooKeeper's name: `create`, `delete`, `deleteContainer`, `setData`, `setACL`, `reconfig`, and
    /// `closeSession` / `expireSession` when the session's end deleted the path (an ephemeral).
    pub op: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Bytes of data written; -1 for null data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_length: Option<i64>,
    /// The expected version the write carried (-1: any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acl: Option<Vec<String>>,
}

impl OpRecord {
    fn new(op: &str, path: &str) -> OpRecord {
        OpRecord { op: op.into(), path: path.into(), mode: None, data_length: None, version: None, acl: None }
    }

    /// One line: `setData /a (5 bytes, version -1)`.
    pub fn describe(&self) -> String {
        let mut details = Vec::new();
        if let Some(mode) = &self.mode {
            details.push(mode.clone());
        }
        match self.data_length {
            Some(-1) => details.push("null data".into()),
            Some(n) => details.push(format!("{n} bytes")),
            None => {}
        }
        if let Some(version) = self.version {
            details.push(format!("version {version}"));
        }
        if let Some(acl) = &self.acl {
            details.push(format!("acl {}", acl.join(",")));
        }
        if details.is_empty() {
            format!("{} {}", self.op, self.path)
        } else {
            format!("{} {} ({})", self.op, self.path, details.join(", "))
        }
    }
}

/// Every txn the source holds that touched `request.path`, oldest first.
pub async fn path_log(source: &Source, request: &LogRequest) -> Result<PathLog, BackupError> {
    paddock_tree::path::validate(&request.path)
        .map_err(|_| BackupError::Refused(format!("{:?} is not a znode path", request.path)))?;
    let mut log = PathLog {
        path: request.path.clone(),
        source: source.describe(),
        searched: Vec::new(),
        not_searched: Vec::new(),
        entries: Vec::new(),
    };
    match source {
        Source::Target { target, cluster } => target_log(target, cluster.as_deref(), request, &mut log).await?,
        Source::DataDir { data_dir, log_dir } => {
            let (data_dir, log_dir, request) = (data_dir.clone(), log_dir.clone(), request.clone());
            log = tokio::task::spawn_blocking(move || {
                dir_log(&data_dir, log_dir.as_deref(), &request, &mut log).map(|()| log)
            })
            .await
            .map_err(|e| BackupError::Source(e.to_string()))??;
        }
    }
    Ok(log)
}

/// Watches a replay for the txns that touch one path.
struct Observer<'r> {
    request: &'r LogRequest,
    log: &'r mut PathLog,
    /// The range being searched: its first zxid, once a txn within the time bounds was seen.
    open: Option<ZxidRange>,
}

impl Observer<'_> {
    /// Sees txn `zxid`, just applied; false once past `until` (the replay can stop).
    fn see(&mut self, zxid: i64, txn: &Txn, applied: &Applied) -> bool {
        if self.request.until_ms.is_some_and(|until| txn.time > until) {
            return false;
        }
        if self.request.since_ms.is_some_and(|since| txn.time < since) {
            return true;
        }
        match &mut self.open {
            Some(range) => range.last = zxid,
            None => self.open = Some(ZxidRange { first: zxid, last: zxid }),
        }
        let ops = records(&self.request.path, &txn.op, &applied.result, applied);
        if !ops.is_empty() {
            self.log.entries.push(LogEntry {
                zxid,
                time: manifest::rfc3339_ms(txn.time),
                time_ms: txn.time,
                session_id: format!("0x{:x}", txn.session_id),
                auth: txn.auth.iter().map(ToString::to_string).collect(),
                result: outcome(&applied.result),
                multi: matches!(txn.op.unwrapped(), TxnOp::Multi(_)),
                ops,
            });
        }
        true
    }

    /// The replay of one range ended.
    fn close(&mut self) {
        if let Some(range) = self.open.take() {
            self.log.searched.push(range);
        }
    }
}

/// What `op` (its result `result`) did to `path`.
fn records(path: &str, op: &TxnOp, result: &TxnResult, applied: &Applied) -> Vec<OpRecord> {
    match (op.unwrapped(), result) {
        (TxnOp::Multi(ops), TxnResult::Multi(results)) => {
            ops.iter().zip(results).filter_map(|(op, result)| record(path, op, result)).collect()
        }
        (TxnOp::Multi(ops), result) => ops.iter().filter_map(|op| record(path, op, result)).collect(),
        (TxnOp::CloseSession | TxnOp::ExpireSession { .. }, _) => {
            let deleted = applied.triggers.iter().any(|t| t.path == path && t.event == EventType::NodeDeleted);
            let name = if matches!(op, TxnOp::CloseSession) { "closeSession" } else { "expireSession" };
            if deleted { vec![OpRecord::new(name, path)] } else { Vec::new() }
        }
        (op, result) => record(path, op, result).into_iter().collect(),
    }
}

/// `op` as a record when it names `path`. A create names the path it made (a sequential one's name is
/// known only once it succeeded).
fn record(path: &str, op: &TxnOp, result: &TxnResult) -> Option<OpRecord> {
    let data_length = |data: &Option<Vec<u8>>| Some(data.as_ref().map_or(-1, |d| d.len() as i64));
    let acl_texts = |acl: &[Acl]| Some(acl.iter().map(acl_text).collect());
    match op.unwrapped() {
        TxnOp::Create { path: named, data, acl, mode, ttl } => {
            let made = match result {
                TxnResult::Created { path, .. } => path.as_str(),
                _ if matches!(mode, CreateMode::PersistentSequential | CreateMode::EphemeralSequential) => return None,
                _ if matches!(mode, CreateMode::PersistentSequentialWithTtl) => return None,
                _ => named.as_str(),
            };
            (made == path).then(|| {
                let mode = if mode.is_ttl() { format!("{mode:?} ttl {ttl}ms") } else { format!("{mode:?}") };
                OpRecord {
                    mode: Some(mode),
                    data_length: data_length(data),
                    acl: acl_texts(acl),
                    ..OpRecord::new("create", path)
                }
            })
        }
        TxnOp::Delete { path: named, version } if named == path => {
            Some(OpRecord { version: Some(*version), ..OpRecord::new("delete", path) })
        }
        TxnOp::DeleteContainer { path: named, .. } if named == path => Some(OpRecord::new("deleteContainer", path)),
        TxnOp::SetData { path: named, data, version } if named == path => {
            Some(OpRecord { data_length: data_length(data), version: Some(*version), ..OpRecord::new("setData", path) })
        }
        TxnOp::SetAcl { path: named, acl, version } if named == path => {
            Some(OpRecord { acl: acl_texts(acl), version: Some(*version), ..OpRecord::new("setACL", path) })
        }
        TxnOp::Reconfig { data } if path == CONFIG_PATH => {
            Some(OpRecord { data_length: Some(data.len() as i64), ..OpRecord::new("reconfig", path) })
        }
        _ => None,
    }
}

/// `ok`, or the error's name; a failed multi's is the code of the op that failed it.
fn outcome(result: &TxnResult) -> String {
    match result {
        TxnResult::Error(code) => format!("{code:?}"),
        TxnResult::Multi(results) => results
            .iter()
            .find_map(|r| match r {
                TxnResult::Error(code) if *code != ErrorCode::Ok && *code != ErrorCode::RuntimeInconsistency => {
                    Some(format!("{code:?}"))
                }
                _ => None,
            })
            .unwrap_or_else(|| "ok".into()),
        _ => "ok".into(),
    }
}

/// A base to replay a log range from: the snapshot (or the empty tree, zxid 0) at `zxid`, stamped `time_ms`.
#[derive(Clone, Copy, Debug)]
struct Base {
    zxid: i64,
    time_ms: i64,
}

/// Of the bases that can start the replay of a log covering `first..=last`, the newest stamped before
/// `since` (no txn of interest comes before it), else the oldest (the longest history).
fn choose_base(bases: &[Base], first: i64, last: i64, since: Option<i64>) -> Option<Base> {
    let usable: Vec<Base> = bases.iter().copied().filter(|b| b.zxid >= first - 1 && b.zxid <= last).collect();
    let before_since = since.and_then(|since| usable.iter().rev().find(|b| b.time_ms < since).copied());
    before_since.or_else(|| usable.first().copied())
}

async fn target_log(
    target: &Target,
    cluster: Option<&str>,
    request: &LogRequest,
    log: &mut PathLog,
) -> Result<(), BackupError> {
    let catalog = catalog::read(target).await?;
    let cluster = crate::restore::pick_cluster(&catalog.clusters, cluster, target)?;
    let mut bases: Vec<Base> = cluster.snapshots.iter().map(|m| Base { zxid: m.zxid, time_ms: m.time_ms }).collect();
    if cluster.log_ranges.first().is_some_and(|r| r.first == 1) {
        bases.insert(0, Base { zxid: 0, time_ms: i64::MIN });
    }
    for (i, range) in cluster.log_ranges.iter().enumerate() {
        if let Some(previous) = i.checked_sub(1).and_then(|p| cluster.log_ranges.get(p)) {
            log.not_searched.push(ZxidRange { first: previous.last + 1, last: range.first - 1 });
        }
        if request.since_ms.is_some_and(|since| range.last_time_ms < since)
            || request.until_ms.is_some_and(|until| range.first_time_ms > until)
        {
            continue;
        }
        let Some(base) = choose_base(&bases, range.first, range.last, request.since_ms) else {
            log.not_searched.push(ZxidRange { first: range.first, last: range.last });
            continue;
        };
        if base.zxid >= range.first {
            log.not_searched.push(ZxidRange { first: range.first, last: base.zxid });
        }
        let mut observer = Observer { request, log: &mut *log, open: None };
        replay_archive(target, cluster, base.zxid, range.last, &mut observer).await?;
        observer.close();
    }
    Ok(())
}

/// Replays the archive of `cluster` from the base at `base` through `last`, showing each txn to `observer`.
async fn replay_archive(
    target: &Target,
    cluster: &ClusterBackups,
    base: i64,
    last: i64,
    observer: &mut Observer<'_>,
) -> Result<(), BackupError> {
    let (mut tree, _) = restore::tree_at(target, Some(&cluster.cluster_id), Point::Zxid(base), &|_| {}).await?;
    for segment in cluster.segments.iter().filter(|s| s.last > base && s.first <= last) {
        let key = segment.key(&cluster.cluster_id);
        let name = format!("{}/{key}", target.display());
        let bytes = target.get(&key).await?;
        for (index, payload) in segment::decode(&name, &bytes, segment)? {
            if index <= tree.last_zxid() {
                continue;
            }
            if index > last {
                break;
            }
            let (txn, applied) =
                tree.apply_entry(index, &payload).map_err(|e| BackupError::Damaged(format!("{name}: {e}")))?;
            if !observer.see(index, &txn, &applied) {
                return Ok(());
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Data directories.

/// What a data directory holds: its snapshots (zxid, time stamp, file) and its log's index range.
struct DirHistory {
    wal_dir: PathBuf,
    display: String,
    snapshots: Vec<(Base, PathBuf)>,
    log: Option<ZxidRange>,
}

impl DirHistory {
    fn read(data_dir: &Path, log_dir: Option<&Path>) -> Result<DirHistory, BackupError> {
        let snap_dir = paddock_storage::snap_dir(data_dir);
        let wal_dir = paddock_storage::wal_dir(log_dir.unwrap_or(data_dir));
        let display = data_dir.display().to_string();
        if data_dir.join("paddock").join("raft").exists() {
            return Err(BackupError::Refused(format!(
                "{display} is an ensemble member's data directory: read history from the ensemble's backup target (--from)"
            )));
        }
        if !snap_dir.exists() && !wal_dir.exists() {
            return Err(BackupError::Source(format!(
                "{display} holds no Paddock data (no paddock/snap or paddock/wal)"
            )));
        }
        let storage = |e: paddock_storage::StorageError| BackupError::Source(e.to_string());
        let mut snapshots = Vec::new();
        if snap_dir.exists() {
            for (zxid, path) in paddock_storage::list_snapshots(&snap_dir).map_err(storage)? {
                // A snapshot whose header does not read is not a base (`load` would refuse its body too).
                if let Ok((header, _)) = paddock_storage::open_snapshot(&path) {
                    snapshots.push((Base { zxid, time_ms: header.time_ms }, path));
                }
            }
        }
        let mut log = None;
        if wal_dir.exists() {
            let report = paddock_storage::check_wal(&wal_dir).map_err(storage)?;
            if let Some(problem) = report.problems.iter().find(|p| p.kind == paddock_storage::WalProblemKind::Corrupt) {
                return Err(BackupError::Damaged(problem.to_string()));
            }
            if let (Some(first), Some(last)) = (report.first_index, report.last_index) {
                log = Some(ZxidRange { first: first as i64, last: last as i64 });
            }
        }
        Ok(DirHistory { wal_dir, display, snapshots, log })
    }

    /// The trees replay can start from: the empty tree when the log starts at zxid 1, and every snapshot.
    fn bases(&self) -> Vec<Base> {
        let mut bases = Vec::new();
        if self.log.is_some_and(|log| log.first == 1) {
            bases.push(Base { zxid: 0, time_ms: i64::MIN });
        }
        bases.extend(self.snapshots.iter().map(|(base, _)| *base));
        bases
    }

    /// The last zxid a replay from `base` reaches.
    fn reach(&self, base: Base) -> i64 {
        match self.log {
            Some(log) if log.first <= base.zxid + 1 && log.last > base.zxid => log.last,
            _ => base.zxid,
        }
    }

    fn load(&self, base: Base) -> Result<DataTree, BackupError> {
        // The empty tree is the only base stamped before every time.
        match self.snapshots.iter().find(|(b, _)| b.zxid == base.zxid && base.time_ms != i64::MIN) {
            Some((_, path)) => datadir::read_snapshot_file(path),
            None => Ok(DataTree::new()),
        }
    }

    /// The time stamp of the last log entry (of the newest snapshot without one).
    fn last_time(&self) -> Result<Option<i64>, BackupError> {
        let Some(log) = self.log else { return Ok(self.snapshots.last().map(|(b, _)| b.time_ms)) };
        let mut time = None;
        paddock_storage::read_range_dir(&self.wal_dir, log.last as u64, log.last as u64 + 1, |index, payload| {
            time = Txn::decode(payload, index as i64).ok().map(|t| t.time);
            Ok(())
        })
        .map_err(|e| BackupError::Source(e.to_string()))?;
        Ok(time)
    }

    /// What the directory holds, for refusals: its zxid range and times.
    fn describe(&self) -> String {
        let bases = self.bases();
        let (Some(first), Some(last)) = (bases.first(), bases.iter().map(|b| self.reach(*b)).max()) else {
            return format!("{} holds no history (no snapshot, no log)", self.display);
        };
        let from =
            if first.time_ms == i64::MIN { "the start".to_string() } else { manifest::rfc3339_ms(first.time_ms) };
        let to = match self.last_time() {
            Ok(Some(t)) => manifest::rfc3339_ms(t),
            _ => "?".into(),
        };
        format!("{} holds zxids 0x{:x} to 0x{last:x} ({from} to {to})", self.display, first.zxid)
    }
}

/// The tree a data directory held at `point`: the newest snapshot at or before it that reads, and the log
/// after it replayed up to the point. Read-only.
fn dir_tree_at(data_dir: &Path, log_dir: Option<&Path>, point: Point) -> Result<DataTree, BackupError> {
    let dir = DirHistory::read(data_dir, log_dir)?;
    let bases = dir.bases();
    let refuse = |what: String| BackupError::Refused(format!("no history at {what}: {}", dir.describe()));
    let candidates: Vec<Base> = match point {
        Point::Latest => bases.iter().rev().copied().take(1).collect(),
        Point::Zxid(z) => bases.iter().rev().copied().filter(|b| b.zxid <= z && dir.reach(*b) >= z).collect(),
        Point::Time(t) => bases.iter().rev().copied().filter(|b| b.time_ms <= t).collect(),
    };
    let what = match point {
        Point::Latest => "the latest state".to_string(),
        Point::Zxid(z) => format!("zxid 0x{z:x}"),
        Point::Time(t) => manifest::rfc3339_ms(t),
    };
    // A snapshot that does not read back is skipped for the next older base, as recovery does.
    let mut failure = None;
    for base in candidates {
        match dir.load(base).and_then(|tree| replay_dir_to(&dir, tree, point)) {
            Ok(Some(tree)) => return Ok(tree),
            Ok(None) => return Err(refuse(what)),
            Err(e) => failure = Some(e),
        }
    }
    Err(failure.unwrap_or_else(|| refuse(what)))
}

/// Replays the directory's log over `tree` up to `point`; `None` when the log ends before a time point
/// (later writes may not be in this directory).
fn replay_dir_to(dir: &DirHistory, mut tree: DataTree, point: Point) -> Result<Option<DataTree>, BackupError> {
    let Some(log) = dir.log.filter(|log| log.last > tree.last_zxid()) else {
        return Ok(match point {
            Point::Time(_) => None,
            _ => Some(tree),
        });
    };
    let from = tree.last_zxid() + 1;
    let end = match point {
        Point::Zxid(z) => z.min(log.last),
        _ => log.last,
    };
    let mut passed = false;
    let apply = |index: u64, payload: &[u8]| {
        let index = index as i64;
        let txn =
            tree.decode_entry(index, payload).map_err(|e| paddock_storage::StorageError::Corrupt(e.to_string()))?;
        if let Point::Time(t) = point {
            passed |= txn.time > t;
        }
        if !passed {
            tree.apply(index, &txn);
        }
        Ok(())
    };
    paddock_storage::read_range_dir(&dir.wal_dir, from as u64, end as u64 + 1, apply)
        .map_err(|e| BackupError::Source(e.to_string()))?;
    Ok(match point {
        Point::Time(_) if !passed => None,
        _ => Some(tree),
    })
}

fn dir_log(
    data_dir: &Path,
    log_dir: Option<&Path>,
    request: &LogRequest,
    log: &mut PathLog,
) -> Result<(), BackupError> {
    let dir = DirHistory::read(data_dir, log_dir)?;
    let Some(range) = dir.log else { return Ok(()) };
    let Some(base) = choose_base(&dir.bases(), range.first, range.last, request.since_ms) else {
        log.not_searched.push(range);
        return Ok(());
    };
    if base.zxid >= range.first {
        log.not_searched.push(ZxidRange { first: range.first, last: base.zxid });
    }
    let mut tree = dir.load(base)?;
    let mut observer = Observer { request, log, open: None };
    let mut stopped = false;
    let from = (tree.last_zxid() + 1) as u64;
    paddock_storage::read_range_dir(&dir.wal_dir, from, range.last as u64 + 1, |index, payload| {
        if stopped {
            return Ok(());
        }
        let (txn, applied) = tree
            .apply_entry(index as i64, payload)
            .map_err(|e| paddock_storage::StorageError::Corrupt(e.to_string()))?;
        stopped = !observer.see(index as i64, &txn, &applied);
        Ok(())
    })
    .map_err(|e| BackupError::Source(e.to_string()))?;
    observer.close();
    Ok(())
}
