//! Seeding a member's Raft directory with a tree: how a restore builds the members of a new ensemble.
//!
//! Every member of the new ensemble is restored from the same backup to the same point, so each starts
//! with the same tree as a state machine snapshot at the same log id, and with the membership of its
//! `zoo.cfg` as the snapshot's membership: the members agree on everything before their first election,
//! and none of them forms the ensemble anew (the snapshot's membership makes each one initialized). The
//! tree's `/zookeeper/config` is rewritten for that membership by a Reconfig txn at the snapshot's index,
//! as a settled membership entry would.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use paddock_tree::DataTree;

use crate::replica::proxy::settled_config;
use crate::types::{Membership, PeerNode, SnapshotMeta, StoredMembership, log_id};

/// Writes `tree` as the only snapshot of the Raft directory `raft_dir` (`<dataLogDir>/paddock/raft`) of a
/// member of the ensemble `members` (every `server.N` line), at the index after the tree's last zxid, where
/// the Reconfig txn for `members` is applied first. Returns the tree as written.
pub fn seed_member(raft_dir: &Path, mut tree: DataTree, members: &BTreeMap<u64, PeerNode>) -> io::Result<DataTree> {
    let voters: BTreeSet<u64> = members.iter().filter(|(_, node)| node.participant).map(|(id, _)| *id).collect();
    if voters.is_empty() {
        return Err(io::Error::other("the ensemble has no participant"));
    }
    let membership = Membership::new(vec![voters], members.clone()).map_err(io::Error::other)?;
    let index = u64::try_from(tree.last_zxid()).map_err(io::Error::other)? + 1;
    let txn = settled_config(&membership, index)
        .ok_or_else(|| io::Error::other("a server.N line lacks its election port: /zookeeper/config cannot list it"))?;
    tree.apply_entry(index as i64, &txn).map_err(|e| io::Error::other(e.to_string()))?;
    let id = log_id(0, index);
    let meta = SnapshotMeta { last_log_id: Some(id), last_membership: StoredMembership::new(Some(id), membership) };
    let mut body = Vec::new();
    tree.write_snapshot(&mut body)?;
    let snap_dir = raft_dir.join("snap");
    std::fs::create_dir_all(&snap_dir)?;
    crate::snapshot_dir::save(&snap_dir, &meta, &tree, &body)?;
    Ok(tree)
}
