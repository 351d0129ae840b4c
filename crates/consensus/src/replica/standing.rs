//! Whether this member is part of a working quorum, published as its [`Role`].
//!
//! openraft keeps a leader that lost its quorum a leader, and its followers followers as long as it
//! heartbeats them: a minority of an ensemble split by a partition would go on serving stale reads. ZooKeeper's
//! members of such a minority go LOOKING and serve no one. So a leader counts as cut off once no quorum has
//! acknowledged it for the longest election timeout (openraft's lease), and a follower or observer asks its
//! leader about that, every quarter of that, and counts as cut off once its leader has not said "I lead a
//! quorum" for as long. The same holds between leaders: a member whose leader vouched for itself within that
//! time still counts as a follower while it votes or stands in an election.

use std::time::{Duration, Instant};

use openraft::ServerState;
use openraft::async_runtime::watch::WatchReceiver;
use tokio::sync::watch;

use super::{LEADER_STANDING, ProxyStateMachine, Role, TreeOwner, leader_addr};
use crate::network::Network;
use crate::types::Raft;

/// Whether this node leads and a quorum acknowledged it within the longest election timeout. Between a leader's start
/// and its first quorum ack there is no measurement: it counts as leading.
pub(crate) fn leads_a_quorum<O: TreeOwner>(raft: &Raft<ProxyStateMachine<O>>) -> bool {
    let lapse = election_timeout(raft);
    let metrics = raft.metrics();
    let m = metrics.borrow_watched();
    m.state == ServerState::Leader
        && m.last_quorum_acked.as_ref().is_none_or(|t| openraft::Instant::elapsed(&**t) <= lapse)
}

fn election_timeout<O: TreeOwner>(raft: &Raft<ProxyStateMachine<O>>) -> Duration {
    Duration::from_millis(raft.config().election_timeout_max)
}

/// Publishes the role whenever this server's state, leader or vote changes, and at least every quarter of an
/// election timeout (a leader that stops hearing from its quorum changes none of them, yet must be seen to be
/// cut off). It watches openraft's server metrics, not the whole metrics: those change at every append, and
/// a follower asks its leader about its quorum on each pass, so under write load it asked thousands of times
/// a second instead of four times an election timeout.
pub(crate) async fn watch_role<O: TreeOwner>(
    raft: Raft<ProxyStateMachine<O>>,
    network: Network,
    role: watch::Sender<Role>,
    my_id: u64,
) {
    let lapse = election_timeout(&raft);
    let recheck = lapse / 4;
    let mut metrics = raft.server_metrics();
    // The leader last heard to lead a quorum, and when.
    let mut vouched: Option<(u64, Instant)> = None;
    loop {
        let (state, leader) = {
            let m = metrics.borrow_watched();
            (m.state, m.current_leader)
        };
        let next = match (state, leader) {
            (ServerState::Leader, _) if leads_a_quorum(&raft) => Role::Leader,
            (ServerState::Leader, _) => Role::Looking,
            // An election that began while the last leader's word is still fresh (a dead leader replaced
            // at once, a leadership transfer) takes milliseconds: serving on through it, as the vouch
            // allows anyway, spares every client a reconnect. An election after a silence (a partition, a
            // stalled leader) begins after the vouch lapsed, so nothing changes there.
            (ServerState::Candidate, _) | (ServerState::Follower, None)
                if vouched.is_some_and(|(_, at)| at.elapsed() <= lapse) =>
            {
                Role::Follower
            }
            (ServerState::Candidate, _) => Role::Candidate,
            (ServerState::Shutdown, _) => Role::Learner,
            (ServerState::Follower | ServerState::Learner, Some(leader)) if leader != my_id => {
                if vouched.is_none_or(|(id, _)| id != leader) {
                    // A new leader gets the benefit of the doubt for one election timeout.
                    vouched = Some((leader, Instant::now()));
                }
                if asks_leader(&raft, &network, leader, lapse / 2).await {
                    vouched = Some((leader, Instant::now()));
                }
                match (vouched.is_some_and(|(_, at)| at.elapsed() <= lapse), state) {
                    (false, _) => Role::Looking,
                    (true, ServerState::Follower) => Role::Follower,
                    (true, _) => Role::Learner,
                }
            }
            (ServerState::Follower, _) => Role::Looking,
            // A learner without a leader has not been added yet, or lost it.
            (ServerState::Learner, _) => Role::Learner,
        };
        role.send_if_modified(|current| std::mem::replace(current, next) != next);
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(recheck) => {}
        }
    }
}

/// Whether `leader` answers, within `deadline`, that it leads a quorum.
async fn asks_leader<O: TreeOwner>(
    raft: &Raft<ProxyStateMachine<O>>,
    network: &Network,
    leader: u64,
    deadline: Duration,
) -> bool {
    let Some(addr) = leader_addr(raft, leader) else { return false };
    let Ok(peer) = network.peer(&addr) else { return false };
    matches!(peer.call(LEADER_STANDING, Vec::new(), deadline).await.as_deref(), Ok([1]))
}
