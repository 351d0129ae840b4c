//! `paddock import zookeeper` and `paddock export zookeeper`: Apache ZooKeeper's data directories to a
//! Paddock data directory and back. The formats are `paddock-zkformat`'s; this module maps ZooKeeper's tree
//! onto Paddock's and writes the result the way a restore writes (`restore::install`): built beside the
//! destination, renamed into place once complete.
//!
//! Both trees store the same things the same way — data (null kept apart from empty), ACL lists, the nine
//! `StatPersisted` fields (cversion counts child creations in both, container and TTL owners use the same
//! encoding), sessions with their timeouts — so the mapping is one to one. The import's zxid is the last
//! zxid ZooKeeper's log holds: Paddock continues from there. Sessions keep their ids and get the password
//! ZooKeeper derives from the id, so a client of the old ensemble reconnects to its session.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use paddock_proto::{Acl, Id};
use paddock_tree::{DataTree, Session, StatPersisted, TreeBuilder};
use paddock_zkformat::datadir::{self as zkdir, Progress, ZkDataDir};
use paddock_zkformat::jute;
use paddock_zkformat::snapshot::{self as zksnap, Compression, SnapshotFile, SnapshotWriter};
use paddock_zkformat::tree::ZkTree;
use serde::Serialize;

use crate::point::Point;
use crate::restore::{self, MemberSeed};
use crate::target::Target;
use crate::{BackupError, datadir};

impl From<paddock_zkformat::Error> for BackupError {
    fn from(e: paddock_zkformat::Error) -> Self {
        match e {
            paddock_zkformat::Error::Refused(why) => BackupError::Refused(why),
            damaged @ paddock_zkformat::Error::Damaged { .. } => BackupError::Damaged(damaged.to_string()),
            io @ paddock_zkformat::Error::Io { .. } => BackupError::Io(io.to_string()),
        }
    }
}

// ---- import ------------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct ImportRequest {
    /// ZooKeeper's `dataDir` (or its `version-2`).
    pub zk_data_dir: PathBuf,
    /// ZooKeeper's `dataLogDir`, when it differs.
    pub zk_log_dir: Option<PathBuf>,
    /// The Paddock data directory to create.
    pub data_dir: PathBuf,
    /// Import as this member of a new Paddock ensemble (every member imports the same ZooKeeper data).
    pub member: Option<MemberSeed>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Imported {
    pub data_dir: String,
    pub zk_data_dir: String,
    /// The snapshot the replay started from, its zxid, and the zxid of the digest it holds (above the
    /// snapshot's own zxid when ZooKeeper kept applying transactions while it wrote the file: fuzzy).
    pub snapshot: String,
    pub snapshot_zxid: String,
    pub snapshot_digest_zxid: Option<String>,
    /// Newer snapshots passed over, and why (ZooKeeper passes over them too).
    pub skipped_snapshots: Vec<String>,
    pub logs: Vec<String>,
    pub txns_replayed: u64,
    /// ZooKeeper digests compared with the replayed tree and found equal.
    pub digests_checked: u64,
    /// Torn log tails (a crash while writing), ignored as ZooKeeper ignores them.
    pub torn_tails: Vec<String>,
    /// The last zxid imported: the Paddock data directory continues after it.
    pub zxid: String,
    pub node_count: u64,
    pub sessions: usize,
    pub ephemerals: usize,
    /// Ephemerals whose session has no timeout recorded, deleted as ZooKeeper deletes them at start-up.
    pub orphan_ephemerals_dropped: usize,
    /// ZooKeeper's digest of the imported tree, and Paddock's state digest of it.
    pub zookeeper_digest: String,
    pub digest: String,
    pub cluster_id: String,
    pub seconds: f64,
}

/// Imports a ZooKeeper data directory; `progress` hears the count of nodes read and transactions
/// replayed.
pub fn import(request: &ImportRequest, progress: &(dyn Fn(u64) + Sync)) -> Result<Imported, BackupError> {
    let started = std::time::Instant::now();
    restore::refuse_unless_empty(&request.data_dir)?;
    let dir = ZkDataDir::open(&request.zk_data_dir, request.zk_log_dir.as_deref())?;
    let mut done = 0u64;
    let mut tick = |_: Progress| {
        done += 1;
        if done.is_multiple_of(4096) {
            progress(done);
        }
    };
    let loaded = zkdir::load(&dir, &mut tick)?;
    let zookeeper_digest = format!("{:016x}", loaded.tree.digest());
    let tree = to_paddock(loaded.tree)?;
    let mut imported = Imported {
        data_dir: request.data_dir.display().to_string(),
        zk_data_dir: request.zk_data_dir.display().to_string(),
        snapshot: loaded.snapshot.display().to_string(),
        snapshot_zxid: hex(loaded.snapshot_zxid),
        snapshot_digest_zxid: loaded.snapshot_digest.map(|d| hex(d.zxid)),
        skipped_snapshots: loaded.skipped_snapshots,
        logs: loaded.logs.iter().map(|p| p.display().to_string()).collect(),
        txns_replayed: loaded.txns_replayed,
        digests_checked: loaded.digests_checked,
        torn_tails: loaded.torn_tails,
        zxid: hex(tree.last_zxid()),
        node_count: tree.node_count() as u64,
        sessions: tree.sessions().count(),
        ephemerals: tree.ephemerals_count(),
        orphan_ephemerals_dropped: loaded.orphan_ephemerals_dropped,
        zookeeper_digest,
        digest: format!("{:016x}", tree.digest()),
        cluster_id: String::new(),
        seconds: 0.0,
    };
    let (_, cluster_id) = restore::install(&request.data_dir, tree, request.member.as_ref())?;
    imported.cluster_id = cluster_id;
    imported.seconds = started.elapsed().as_secs_f64();
    Ok(imported)
}

/// ZooKeeper's tree as a Paddock tree: the same nodes, stats, ACLs and sessions, at the same last zxid. The
/// ZooKeeper tree is consumed node by node, so the two are not held whole at once.
pub fn to_paddock(zk: ZkTree) -> Result<DataTree, BackupError> {
    let (last_zxid, zk_last_time) = (zk.last_zxid(), zk.last_time());
    let paddock_zkformat::tree::Parts { nodes, acls: lists, sessions } = zk.into_parts();
    // Paddock stamps time from the log and never goes back: start from the latest time the data shows.
    let last_time = nodes.iter().map(|(_, n)| n.stat.mtime.max(n.stat.ctime)).fold(zk_last_time, i64::max).max(0);
    let mut builder = TreeBuilder::new(last_zxid, last_time);
    for (id, timeout_ms) in &sessions {
        let session = Session { last_zxid, ..Session::new(*timeout_ms, zookeeper_password(*id)) };
        builder.session(*id, session).map_err(|why| BackupError::Damaged(format!("ZooKeeper's sessions: {why}")))?;
    }
    // ACL lists are shared: convert each id once.
    let mut acls: HashMap<i64, Vec<Acl>> = HashMap::new();
    for (path, node) in nodes {
        let acl = match acls.entry(node.acl) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => {
                let list = lists.get(&node.acl).ok_or_else(|| {
                    BackupError::Damaged(format!(
                        "node {path} refers to ACL #{}, which neither the snapshot's ACL cache nor the log holds",
                        node.acl
                    ))
                })?;
                new.insert(list.iter().cloned().map(to_paddock_acl).collect())
            }
        };
        builder
            .node(&path, node.data.as_deref(), acl, to_paddock_stat(&node.stat))
            .map_err(|why| BackupError::Damaged(format!("ZooKeeper's tree: {why}")))?;
    }
    let mut tree = builder.finish().map_err(|why| BackupError::Damaged(format!("ZooKeeper's tree: {why}")))?;
    if tree.get(paddock_tree::CONFIG_PATH).is_none() && tree.get("/zookeeper").is_some() {
        tree = with_config_node(tree)?;
    }
    Ok(tree)
}

/// A tree from a ZooKeeper older than 3.5 gets the `/zookeeper/config` every newer server has (empty,
/// world-readable, aversion -1).
fn with_config_node(tree: DataTree) -> Result<DataTree, BackupError> {
    let mut builder = TreeBuilder::new(tree.last_zxid(), tree.last_time());
    for (id, session) in tree.sessions() {
        builder.session(id, *session).map_err(BackupError::Damaged)?;
    }
    let mut added = false;
    for (path, node) in tree.nodes() {
        if !added && path > paddock_tree::CONFIG_PATH {
            add_config(&mut builder)?;
            added = true;
        }
        builder.node(path, node.data(), node.acl(), *node.persisted_stat()).map_err(BackupError::Damaged)?;
    }
    if !added {
        add_config(&mut builder)?;
    }
    builder.finish().map_err(BackupError::Damaged)
}

fn add_config(builder: &mut TreeBuilder) -> Result<(), BackupError> {
    let stat = StatPersisted { aversion: -1, ..StatPersisted::default() };
    builder.node(paddock_tree::CONFIG_PATH, Some(b""), &Acl::read_unsafe(), stat).map_err(BackupError::Damaged)
}

/// `ZooKeeperServer.generatePasswd`: `new java.util.Random(id ^ 0xB3415C00).nextBytes(new byte[16])`.
pub fn zookeeper_password(session_id: i64) -> [u8; 16] {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;
    let mut seed = ((session_id ^ 0xB341_5C00) as u64 ^ MULTIPLIER) & MASK;
    let mut next_int = || {
        seed = seed.wrapping_mul(MULTIPLIER).wrapping_add(0xB) & MASK;
        (seed >> 16) as u32
    };
    let mut passwd = [0u8; 16];
    for chunk in passwd.chunks_mut(4) {
        let word = next_int();
        for (i, byte) in chunk.iter_mut().enumerate() {
            *byte = (word >> (8 * i)) as u8;
        }
    }
    passwd
}

fn to_paddock_acl(acl: jute::Acl) -> Acl {
    Acl::new(acl.perms, Id::new(acl.scheme, acl.id))
}

fn to_paddock_stat(s: &jute::StatPersisted) -> StatPersisted {
    StatPersisted {
        czxid: s.czxid,
        mzxid: s.mzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion,
        aversion: s.aversion,
        ephemeral_owner: s.ephemeral_owner,
        pzxid: s.pzxid,
    }
}

fn to_zk_stat(s: &StatPersisted) -> jute::StatPersisted {
    jute::StatPersisted {
        czxid: s.czxid,
        mzxid: s.mzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion,
        aversion: s.aversion,
        ephemeral_owner: s.ephemeral_owner,
        pzxid: s.pzxid,
    }
}

fn hex(zxid: i64) -> String {
    format!("0x{zxid:x}")
}

// ---- export ------------------------------------------------------------------------------------------------

/// Where the tree to export comes from.
#[derive(Clone, Debug)]
pub enum ExportSource {
    /// A (stopped, or running standalone) Paddock server's data directory.
    DataDir { data_dir: PathBuf, log_dir: Option<PathBuf> },
    /// A backup target, at a restore point; `key_files` decrypt it (docs/backup-format.md, "Encrypted
    /// objects"), none for a plaintext target.
    Backup { target: String, cluster: Option<String>, point: Point, key_files: Vec<PathBuf> },
}

#[derive(Clone, Debug)]
pub struct ExportRequest {
    pub source: ExportSource,
    /// ZooKeeper's `dataDir` to write: it must not exist, or hold nothing but a `myid`.
    pub to: PathBuf,
    pub compression: Compression,
}

#[derive(Clone, Debug, Serialize)]
pub struct Exported {
    pub from: String,
    pub to: String,
    pub snapshot: String,
    pub zxid: String,
    /// `currentEpoch` and `acceptedEpoch`: the zxid's epoch (its top 32 bits).
    pub epoch: i64,
    pub node_count: u64,
    pub sessions: usize,
    /// ZooKeeper's digest of the exported tree, as the snapshot records it.
    pub zookeeper_digest: String,
    pub bytes: u64,
    pub seconds: f64,
}

/// Exports a Paddock tree as a ZooKeeper data directory: `to/version-2/snapshot.<zxid>` (with the digest
/// ZooKeeper checks on load) and the epoch files a quorum member needs.
pub async fn export(request: &ExportRequest, progress: &(dyn Fn(u64) + Sync)) -> Result<Exported, BackupError> {
    let started = std::time::Instant::now();
    restore::refuse_unless_empty(&request.to)?;
    let (tree, from) = match &request.source {
        ExportSource::DataDir { data_dir, log_dir } => {
            let (dir, logs) = (data_dir.clone(), log_dir.clone());
            let tree = tokio::task::spawn_blocking(move || datadir::load_tree(&dir, logs.as_deref()))
                .await
                .map_err(|e| BackupError::Source(e.to_string()))??;
            (tree, data_dir.display().to_string())
        }
        ExportSource::Backup { target, cluster, point, key_files } => {
            let mut target = Target::open(target)?;
            if !key_files.is_empty() {
                target = target.with_keyring(crate::encryption::Keyring::load(key_files)?);
            }
            let (tree, plan) = restore::tree_at(&target, cluster.as_deref(), *point, progress).await?;
            (tree, format!("{} (cluster {})", target.display(), plan.cluster_id))
        }
    };
    let to = request.to.clone();
    let compression = request.compression;
    let (zxid, node_count, sessions) = (tree.last_zxid(), tree.node_count() as u64, tree.sessions().count());
    let (snapshot, digest, bytes) = tokio::task::spawn_blocking(move || write_zookeeper_dir(&tree, &to, compression))
        .await
        .map_err(|e| BackupError::Source(e.to_string()))??;
    Ok(Exported {
        from,
        to: request.to.display().to_string(),
        snapshot: snapshot.display().to_string(),
        zxid: hex(zxid),
        epoch: zxid >> 32,
        node_count,
        sessions,
        zookeeper_digest: format!("{digest:016x}"),
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes `to/version-2/` beside `to` (in `to/.exporting-<pid>`), reads the snapshot back, then renames it
/// into place. Returns the snapshot's final path, its digest and its size.
fn write_zookeeper_dir(
    tree: &DataTree,
    to: &Path,
    compression: Compression,
) -> Result<(PathBuf, u64, u64), BackupError> {
    let existed = to.exists();
    let io = |what: &Path, e: std::io::Error| BackupError::Io(format!("cannot write {}: {e}", what.display()));
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    let staging = to.join(format!(".exporting-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let written = write_version_2(tree, &staging.join("version-2"), compression).and_then(|(name, digest, bytes)| {
        let final_dir = to.join("version-2");
        std::fs::rename(staging.join("version-2"), &final_dir).map_err(|e| io(&final_dir, e))?;
        let _ = std::fs::remove_dir_all(&staging);
        if let Ok(dir) = std::fs::File::open(to) {
            let _ = dir.sync_all();
        }
        Ok((final_dir.join(name), digest, bytes))
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
        if !existed {
            let _ = std::fs::remove_dir(to);
        }
    }
    written
}

/// The snapshot, checked by reading it back, and `currentEpoch` / `acceptedEpoch`, all fsynced.
fn write_version_2(tree: &DataTree, dir: &Path, compression: Compression) -> Result<(String, u64, u64), BackupError> {
    let io = |what: &Path, e: std::io::Error| BackupError::Io(format!("cannot write {}: {e}", what.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let zxid = tree.last_zxid();
    let name = zksnap::file_name(zxid, compression);
    let path = dir.join(&name);
    let file = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
    let sessions: Vec<(i64, i32)> = tree.sessions().map(|(id, s)| (id, s.timeout_ms)).collect();
    // The ACL cache first: one id per distinct list, from 1, in the order nodes first use them.
    let mut ids: HashMap<&[Acl], i64> = HashMap::new();
    let mut lists: Vec<(i64, Vec<jute::Acl>)> = Vec::new();
    for (_, node) in tree.nodes() {
        let acl: &Arc<Vec<Acl>> = node.acl();
        if !ids.contains_key(acl.as_slice()) {
            let id = lists.len() as i64 + 1;
            ids.insert(acl.as_slice(), id);
            lists.push((id, acl.iter().map(to_zk_acl).collect()));
        }
    }
    let write = || -> std::io::Result<(std::fs::File, u64)> {
        let mut writer = SnapshotWriter::new(file, compression, &sessions)?;
        let refs: Vec<(i64, &[jute::Acl])> = lists.iter().map(|(id, list)| (*id, list.as_slice())).collect();
        writer.acls(&refs)?;
        for (path, node) in tree.nodes() {
            let acl = ids.get(node.acl().as_slice()).copied().unwrap_or(-1);
            writer.node(path, node.data(), acl, &to_zk_stat(node.persisted_stat()))?;
        }
        writer.finish(zxid, None)
    };
    let (file, digest) = write().map_err(|e| io(&path, e))?;
    file.sync_all().map_err(|e| io(&path, e))?;
    let bytes = file.metadata().map_err(|e| io(&path, e))?.len();
    drop(file);
    for epoch_file in ["currentEpoch", "acceptedEpoch"] {
        let epoch_path = dir.join(epoch_file);
        let mut f = std::fs::File::create(&epoch_path).map_err(|e| io(&epoch_path, e))?;
        f.write_all((zxid >> 32).to_string().as_bytes()).and_then(|()| f.sync_all()).map_err(|e| io(&epoch_path, e))?;
    }
    // Read back as ZooKeeper will: every seal, the node count and the digest.
    let file = SnapshotFile::from_path(&path).ok_or_else(|| BackupError::Io(format!("bad snapshot name {name}")))?;
    let back =
        zksnap::check(&file).map_err(|e| BackupError::Io(format!("the snapshot written does not read back: {e}")))?;
    let recorded = back.digest.map(|d| (d.zxid, d.digest as u64));
    if back.node_count != tree.nodes().count() as u64 || back.nodes_digest != digest || recorded != Some((zxid, digest))
    {
        return Err(BackupError::Io(format!("{}: the snapshot written does not read back as written", path.display())));
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok((name, digest, bytes))
}

fn to_zk_acl(acl: &Acl) -> jute::Acl {
    jute::Acl { perms: acl.perms, scheme: acl.id.scheme.clone(), id: acl.id.id.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree with what ZooKeeper's formats must carry: null and binary data, several ACLs, an ephemeral,
    /// a container and a TTL node, a session, an epoch in the zxid.
    fn sample() -> DataTree {
        let zxid = 0x1_0000_0010;
        let mut b = TreeBuilder::new(zxid, 5000);
        b.session(0x77, Session { last_zxid: zxid, ..Session::new(30000, zookeeper_password(0x77)) }).unwrap();
        let open = Acl::open_unsafe();
        let secret = vec![Acl::new(31, Id::new("digest", "user:smGaoVKd/cQkjm7b88GyorAUz20="))];
        let stat = |czxid: i64, time: i64, owner: i64| StatPersisted {
            cversion: 1,
            ..StatPersisted::created(czxid, time, owner)
        };
        b.node("/", Some(b""), &open, StatPersisted { cversion: 5, pzxid: 9, ..StatPersisted::default() }).unwrap();
        b.node("/a", None, &secret, stat(3, 5000, 0)).unwrap();
        b.node("/a/e", Some(&[0, 255, 7]), &open, StatPersisted::created(4, 4000, 0x77)).unwrap();
        b.node("/c", Some(b"container"), &open, stat(5, 4100, paddock_tree::ephemeral::CONTAINER_OWNER)).unwrap();
        let ttl = paddock_tree::ephemeral::ttl_owner(60_000).unwrap();
        b.node("/t", Some(b""), &Acl::read_unsafe(), StatPersisted::created(6, 4200, ttl)).unwrap();
        b.node("/zookeeper", Some(b""), &open, StatPersisted::default()).unwrap();
        add_config(&mut b).unwrap();
        b.node("/zookeeper/quota", Some(b""), &open, StatPersisted::default()).unwrap();
        b.finish().unwrap()
    }

    #[test]
    fn a_tree_exported_and_imported_again_is_the_same_tree() {
        let tree = sample();
        for compression in [Compression::None, Compression::Gzip, Compression::Snappy] {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("zk");
            let (path, digest, _) = write_zookeeper_dir(&tree, &out, compression).unwrap();
            assert_eq!(path, out.join("version-2").join(zksnap::file_name(tree.last_zxid(), compression)));
            assert_eq!(std::fs::read_to_string(out.join("version-2/currentEpoch")).unwrap(), "1");
            assert_eq!(std::fs::read_to_string(out.join("version-2/acceptedEpoch")).unwrap(), "1");
            let loaded = zkdir::load(&ZkDataDir::open(&out, None).unwrap(), &mut |_| {}).unwrap();
            assert_eq!((loaded.digests_checked, loaded.tree.digest()), (1, digest));
            let back = to_paddock(loaded.tree).unwrap();
            assert_eq!(back, tree);
            back.check_consistency().unwrap();
        }
    }

    #[test]
    fn a_tree_from_before_zookeeper_3_5_gets_a_config_node() {
        let mut zk = ZkTree::new();
        let header = |zxid| paddock_zkformat::txn::TxnHeader { client_id: 1, cxid: 0, zxid, time: 10, kind: 1 };
        let create = |path: &str| paddock_zkformat::txn::Txn::Create {
            path: path.into(),
            data: Some(b"x".to_vec()),
            acl: None,
            owner: paddock_zkformat::txn::Owner::None,
            parent_cversion: -1,
        };
        zk.apply(&header(1), &create("/zz"));
        let delete = paddock_zkformat::txn::Txn::Delete { path: paddock_tree::CONFIG_PATH.into() };
        zk.apply(&paddock_zkformat::txn::TxnHeader { kind: 2, ..header(2) }, &delete);
        assert!(zk.get(paddock_tree::CONFIG_PATH).is_none());
        let tree = to_paddock(zk).unwrap();
        assert_eq!(tree.get("/zz").unwrap().data(), Some(&b"x"[..]));
        assert_eq!(tree.stat(paddock_tree::CONFIG_PATH).unwrap().aversion, -1);
        assert_eq!(tree.last_time(), 10);
    }

    #[test]
    fn session_passwords_are_zookeepers() {
        // ZooKeeperServer.generatePasswd(0x100000000000001), computed with java.util.Random.
        assert_eq!(zookeeper_password(0x0100_0000_0000_0001), EXPECTED_PASSWORD);
    }

    const EXPECTED_PASSWORD: [u8; 16] =
        [0x05, 0x4c, 0xc7, 0x4a, 0x37, 0x32, 0x7d, 0xb2, 0x15, 0xe7, 0x02, 0xe2, 0x0c, 0x73, 0xf0, 0x05];
}
