//! ZooKeeper's dynamic reconfiguration on Raft's membership (docs/replication.md, section 6).
//!
//! The Raft membership is the one source of truth: `/zookeeper/config` is written from it, at apply, on every
//! replica (`proxy::settled_config`). A reconfig names the membership it wants (`id → PeerNode`); the leader
//! gets there in steps, each a membership entry openraft commits:
//!
//! 1. members new to the ensemble are added as learners and caught up (ZooKeeper requires a synced quorum of
//!    the new config too: NewConfigNoQuorum otherwise);
//! 2. members whose `server.N` line changed get the new line;
//! 3. observers that left are removed;
//! 4. the voters become the new participants (openraft's joint consensus), participants that left going
//!    with it.
//!
//! A reconfig that removes the leader is carried out by that leader, which answers and then hands leadership
//! to the most up-to-date remaining voter (openraft's `removed_leader_step_down`), as ZooKeeper's leader
//! designates its successor. A leader that finds a joint config in its log (its predecessor crashed between the two halves of step 3)
//! finishes it. A server that is not in the membership yet (a new participant started for a reconfig, or an
//! observer of the zoo.cfg) asks to be added as a learner ([`JOIN`]) so that it catches up before anyone
//! names it in a reconfig, as a ZooKeeper server syncs with the leader before it counts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::ChangeMembers;
use openraft::async_runtime::watch::WatchReceiver;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{info, warn};

use super::{ProxyStateMachine, RECONFIG, Replica, Role, TreeOwner};
use crate::network::Network;
use crate::types::{PeerNode, Raft};

/// A server not yet in the membership asks the leader to add it as a learner.
pub(super) const JOIN: u8 = super::FIRST_APP_METHOD + 6;

/// How long a new member may take to catch up before the reconfig fails with NewConfigNoQuorum. The client
/// waits for the answer meanwhile (its pings queue behind the request, as in ZooKeeper), so this stays well
/// inside a session timeout; a member that needs longer (a large tree) should be started a while before
/// the reconfig: it joins as a learner and catches up on its own.
const CATCH_UP: Duration = Duration::from_secs(8);
/// How long one membership entry may take to commit (a quorum of the old and of the new config must
/// acknowledge it).
const COMMIT: Duration = Duration::from_secs(8);
/// A reconfig that found no leader is tried again this many times (it names the membership wanted, so a
/// repeat after a lost attempt is harmless).
const ATTEMPTS: usize = 3;
/// How often a server outside the membership asks to join.
const JOIN_EVERY: Duration = Duration::from_millis(500);

/// Why a reconfig did not happen, in the terms of ZooKeeper's error codes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReconfigError {
    /// A membership change is under way (ZooKeeper's ReconfigInProgress).
    InProgress,
    /// The new configuration has no caught-up quorum (NewConfigNoQuorum).
    NoQuorum(String),
    /// The outcome is unknown (no leader, the leader was lost): ConnectionLoss.
    Lost(String),
}

impl<O: TreeOwner> Replica<O> {
    /// Changes the ensemble's membership to `target` (every member, with its `server.N` line). Returns the
    /// log index of the membership entry that settled it: the zxid of the reconfig txn that writes
    /// `/zookeeper/config`, or of the current one if nothing changed.
    pub async fn reconfigure(&self, target: BTreeMap<u64, PeerNode>) -> Result<u64, ReconfigError> {
        let mut outcome = Err(ReconfigError::Lost("no leader is known".into()));
        for _ in 0..ATTEMPTS {
            outcome = match self.leader() {
                Some(leader) if leader == self.my_id => change_here(&self.raft, &target).await,
                Some(_) => self.reconfigure_at_leader(&target).await,
                None => Err(ReconfigError::Lost("no leader is known".into())),
            };
            if !matches!(outcome, Err(ReconfigError::Lost(_))) {
                return outcome;
            }
            // A new leader takes an election; a lost leader too.
            tokio::time::sleep(Duration::from_millis(self.raft.config().election_timeout_max)).await;
        }
        outcome
    }

    async fn reconfigure_at_leader(&self, target: &BTreeMap<u64, PeerNode>) -> Result<u64, ReconfigError> {
        let body = postcard::to_stdvec(target).map_err(|e| ReconfigError::Lost(e.to_string()))?;
        let reply = self.call_leader(RECONFIG, body, CATCH_UP + 4 * COMMIT).await.map_err(ReconfigError::Lost)?;
        postcard::from_bytes(&reply).map_err(|e| ReconfigError::Lost(e.to_string()))?
    }
}

/// The RECONFIG method on the leader.
pub(super) async fn serve_reconfig<O: TreeOwner>(
    raft: &Raft<ProxyStateMachine<O>>,
    body: &[u8],
) -> Result<Vec<u8>, String> {
    let target: BTreeMap<u64, PeerNode> = postcard::from_bytes(body).map_err(|e| e.to_string())?;
    postcard::to_stdvec(&change_here(raft, &target).await).map_err(|e| e.to_string())
}

/// On the leader: the four steps of the module comment.
async fn change_here<O: TreeOwner>(
    raft: &Raft<ProxyStateMachine<O>>,
    target: &BTreeMap<u64, PeerNode>,
) -> Result<u64, ReconfigError> {
    let lost = |e: &dyn std::fmt::Display| ReconfigError::Lost(e.to_string());
    let current = raft.metrics().borrow_watched().membership_config.clone();
    let membership = current.membership();
    if membership.get_joint_config().len() > 1 {
        return Err(ReconfigError::InProgress);
    }
    let voters: BTreeSet<u64> = target.iter().filter(|(_, n)| n.participant).map(|(id, _)| *id).collect();
    let current_voters: BTreeSet<u64> = membership.voter_ids().collect();
    if voters.intersection(&current_voters).next().is_none() {
        return Err(ReconfigError::NoQuorum("no participant of the new config is a participant now".into()));
    }
    let mut last = current.log_id().map_or(0, |id| id.index);
    for (id, node) in target.iter().filter(|(id, _)| membership.get_node(id).is_none()) {
        let added = tokio::time::timeout(CATCH_UP, raft.add_learner(*id, node.clone(), true)).await;
        match added {
            Ok(Ok(written)) => last = written.log_id.index,
            Ok(Err(e)) => return Err(lost(&e)),
            Err(_) => {
                if let Err(e) = raft.change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([*id])), false).await {
                    warn!(server = id, "a learner that did not catch up stays until the next reconfig: {e}");
                }
                return Err(ReconfigError::NoQuorum(format!("server {id} did not catch up within {CATCH_UP:?}")));
            }
        }
    }
    let changed: BTreeMap<u64, PeerNode> = target
        .iter()
        .filter(|(id, node)| membership.get_node(id).is_some_and(|old| old != *node))
        .map(|(id, node)| (*id, node.clone()))
        .collect();
    let leaving_learners: BTreeSet<u64> = membership.learner_ids().filter(|id| !target.contains_key(id)).collect();
    // Voters that leave go with the change of voters (a removed leader among them commits it, answers, then
    // hands leadership to the most up-to-date voter: openraft's `removed_leader_step_down`, as ZooKeeper's
    // designated leader). Only a voter turned observer stays, as a learner.
    let demoted = voters.iter().chain(current_voters.iter()).any(|id| target.get(id).is_some_and(|n| !n.participant));
    let steps = [
        (!changed.is_empty()).then_some((ChangeMembers::SetNodes(changed), true)),
        (!leaving_learners.is_empty()).then_some((ChangeMembers::RemoveNodes(leaving_learners), true)),
        (voters != current_voters).then_some((ChangeMembers::ReplaceAllVoters(voters), demoted)),
    ];
    for (step, retain) in steps.into_iter().flatten() {
        // Without a quorum of the old and the new config the change cannot commit; it may still commit
        // later, so the client hears that the outcome is unknown.
        let written = tokio::time::timeout(COMMIT, raft.change_membership(step, retain))
            .await
            .map_err(|_| ReconfigError::Lost(format!("the membership change was not committed within {COMMIT:?}")))?
            .map_err(|e| lost(&e))?;
        last = written.log_id.index;
    }
    if demoted {
        // Voters that left were kept as learners with the demoted ones; they are not listed (their line says
        // participant) and go now, if this server still leads.
        let gone: BTreeSet<u64> = current_voters.iter().filter(|id| !target.contains_key(id)).copied().collect();
        if !gone.is_empty() {
            match raft.change_membership(ChangeMembers::RemoveNodes(gone), false).await {
                Ok(written) => last = written.log_id.index,
                Err(e) => warn!("servers that left stay learners until the next reconfig: {e}"),
            }
        }
    }
    Ok(last)
}

/// Whoever leads finishes a membership change its predecessor left joint (openraft leaves it so when the
/// leader is lost between the two entries of a change). A leader just elected may refuse changes until its
/// first entry is committed: it is asked again, every [`JOIN_EVERY`], while it leads and the change stands.
pub(super) async fn finish_interrupted_changes<O: TreeOwner>(
    raft: Raft<ProxyStateMachine<O>>,
    mut role: watch::Receiver<Role>,
) {
    while role.changed().await.is_ok() {
        while *role.borrow_and_update() == Role::Leader {
            let membership = raft.metrics().borrow_watched().membership_config.membership().clone();
            let configs = membership.get_joint_config();
            let (Some(last), true) = (configs.last(), configs.len() > 1) else { break };
            info!(voters = ?last, "finishing the membership change the previous leader left joint");
            match raft.change_membership(ChangeMembers::ReplaceAllVoters(last.clone()), true).await {
                Ok(_) => break,
                Err(e) => warn!("cannot finish the interrupted membership change yet: {e}"),
            }
            tokio::time::sleep(JOIN_EVERY).await;
        }
    }
}

/// A server that is in no membership yet asks, every [`JOIN_EVERY`], whoever leads to add it as a learner,
/// until some leader did (it then has a log, and is initialized).
pub(super) async fn join_until_added<O: TreeOwner>(
    raft: Raft<ProxyStateMachine<O>>,
    network: Network,
    my_id: u64,
    me: PeerNode,
    peers: Vec<String>,
) {
    let Ok(body) = postcard::to_stdvec(&(my_id, me)) else { return };
    while !raft.is_initialized().await.unwrap_or(true) {
        for addr in &peers {
            let Ok(peer) = network.peer(addr) else { continue };
            if let Ok([1]) = peer.call(JOIN, body.clone(), JOIN_EVERY).await.as_deref() {
                info!(via = addr, "asked the leader to add this server as a learner");
            }
        }
        tokio::time::sleep(JOIN_EVERY).await;
    }
}

/// The JOIN method: on the leader, adds the caller as a learner unless it is a member already. Answers
/// `[1]` if this server leads (and the caller is or will be a member), `[0]` otherwise.
pub(super) async fn serve_join<O: TreeOwner>(
    raft: &Raft<ProxyStateMachine<O>>,
    body: &[u8],
) -> Result<Vec<u8>, String> {
    let (id, node): (u64, PeerNode) = postcard::from_bytes(body).map_err(|e| e.to_string())?;
    if raft.metrics().borrow_watched().state != openraft::ServerState::Leader {
        return Ok(vec![0]);
    }
    let known = raft.metrics().borrow_watched().membership_config.membership().get_node(&id).is_some();
    if !known {
        info!(server = id, addr = %node.addr, "adding a server that asked to join as a learner");
        raft.add_learner(id, node, false).await.map_err(|e| e.to_string())?;
    }
    Ok(vec![1])
}
