//! Replacing a leader whose process is gone without waiting out its lease.
//!
//! Raft notices a dead leader by missed heartbeats, and openraft's voters then refuse to vote until the
//! dead leader's lease has run out: an election timeout plus the lease, up to three election timeouts in
//! all. ZooKeeper's followers notice at once, because the leader's TCP connection closes. So do these
//! members: a follower keeps a connection to its leader open (the [`standing`](super::standing) probes use
//! it), and when the leader's end closes it (end of stream or reset), the follower tries to connect to the
//! leader's peer port once. Refused means no process listens there any more: the leader is gone. A connect
//! that times out or a connection that stalls proves nothing (a partition, a slow machine) and leaves the
//! ordinary Raft timers in charge.
//!
//! A follower that finds its leader gone asks the other voters ([`LEADER_GONE`]) whether they, too, follow
//! that leader in that term and find its port refusing connections; each that does resets its lease for
//! that leader (openraft's `handle_transfer_leader`) and answers with its last log id. Once a quorum of the
//! voters (counting itself) agrees, the follower names the candidate: the most up-to-date log among them,
//! ties to the lowest id. If that is itself, it starts a leadership-transfer election at once (voters grant
//! it inside the dead leader's lease); if not, it tells the candidate, which checks the same things itself
//! first. Every survivor runs this on its own and, with the same logs in hand, names the same candidate, so
//! the vote is not split.
//!
//! Raft's safety does not rest on any of this: a vote still needs a log at least as up to date as the
//! voter's, and reads are confirmed by a quorum (ReadIndex), not by the lease. What it protects is a
//! working leader: a voter that can still reach the leader, or follows another one, refuses, so a follower
//! merely cut off from its leader cannot depose it (nor could a minority: the candidate needs a quorum).

use std::collections::BTreeSet;
use std::io;
use std::time::Duration;

use futures_util::future::join_all;
use openraft::ServerState;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::raft::TransferLeaderRequest;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tracing::{info, warn};

use super::{LEADER_GONE, ProxyStateMachine, TreeOwner, leader_addr};
use crate::network::Network;
use crate::types::{LogId, Raft, Vote};

/// A connected probe whose connection is not reset within this long counts as a live leader. A process
/// that died while the probe's handshake was under way (its listening socket closed after accepting it into
/// the backlog) resets the connection within microseconds; a live one just waits for a frame.
const ACCEPTED_GRACE: Duration = Duration::from_millis(20);

/// What one member asks another about the leader both follow.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct GoneRequest {
    /// The member asking.
    from: u64,
    /// The leader it found gone, and the vote (term) it followed that leader in.
    leader: u64,
    vote: Vote,
    /// `true` when the asker names the callee as the candidate: it is to stand for election now.
    elect: bool,
}

/// The answer: the callee's last log id if it agrees the leader is gone, else why not.
type GoneReply = Result<Option<LogId>, String>;

/// Whether anyone listens at the leader's peer port.
#[derive(Debug, PartialEq, Eq)]
enum Presence {
    Gone,
    Alive,
    /// No answer in time, or an unexpected error: a partition looks like this, so it proves nothing.
    Unknown(String),
}

/// Watches this member's leader and replaces it as soon as its process is seen to be gone. Runs for the
/// life of the replica.
pub(super) async fn replace_dead_leaders<O: TreeOwner>(raft: Raft<ProxyStateMachine<O>>, network: Network, my_id: u64) {
    // Server metrics change with the state, the leader and the vote only; the whole metrics change at every
    // append.
    let mut metrics = raft.server_metrics();
    loop {
        let Some((leader, vote)) = following(&raft, my_id) else {
            if metrics.changed().await.is_err() {
                return;
            }
            continue;
        };
        let Some(addr) = leader_addr(&raft, leader) else {
            if metrics.changed().await.is_err() {
                return;
            }
            continue;
        };
        let peer = match network.peer(&addr) {
            Ok(peer) => peer,
            Err(e) => {
                warn!(leader, "cannot watch the leader's connection: {e}");
                if metrics.changed().await.is_err() {
                    return;
                }
                continue;
            }
        };
        let mut closures = peer.closures();
        closures.borrow_and_update();
        let pretend = leader_refuses_here();
        let pretended = tokio::time::sleep(probe_limit(&raft));
        tokio::pin!(pretended);
        // Only a new leader or term ends the wait.
        let closed = loop {
            tokio::select! {
                closed = closures.changed() => break closed.is_ok(),
                _ = &mut pretended, if pretend => break true,
                changed = metrics.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if following(&raft, my_id) != Some((leader, vote)) {
                        break false;
                    }
                }
            }
        };
        if !closed || following(&raft, my_id) != Some((leader, vote)) {
            continue;
        }
        let presence = probe(&addr, probe_limit(&raft)).await;
        info!(leader, ?presence, "the connection to the leader closed");
        if presence == Presence::Gone {
            stand_in(&raft, &network, my_id, leader, vote).await;
        }
    }
}

/// The leader this member follows as a voter, and the vote it follows it in.
fn following<O: TreeOwner>(raft: &Raft<ProxyStateMachine<O>>, my_id: u64) -> Option<(u64, Vote)> {
    let metrics = raft.server_metrics();
    let m = metrics.borrow_watched();
    let voter = m.membership_config.membership().voter_ids().any(|id| id == my_id);
    match (m.state, m.current_leader) {
        (ServerState::Follower, Some(leader)) if voter && leader != my_id => Some((leader, m.vote)),
        _ => None,
    }
}

/// A connect to a live member on a reachable network takes well under a heartbeat interval.
fn probe_limit<O: TreeOwner>(raft: &Raft<ProxyStateMachine<O>>) -> Duration {
    Duration::from_millis(raft.config().heartbeat_interval.max(1))
}

/// Failpoint `failover::leader_refuses`: this member sees its leader's connection close and its port
/// refuse connections (every heartbeat interval), whether the leader runs or not, as behind a firewall that
/// rejects. Other members still judge for themselves.
fn leader_refuses_here() -> bool {
    fail::fail_point!("failover::leader_refuses", |_| true);
    false
}

/// Tries once to connect to `addr`.
async fn probe(addr: &str, limit: Duration) -> Presence {
    if leader_refuses_here() {
        return Presence::Gone;
    }
    let mut stream = match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Err(_) => return Presence::Unknown(format!("no connection within {limit:?}")),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => return Presence::Gone,
        // A handshake reset by a listener that closed while it was under way (seen when the probe races the
        // leader's exit): a live listener completes it.
        Ok(Err(e)) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted) => {
            return Presence::Gone;
        }
        Ok(Err(e)) => return Presence::Unknown(format!("connecting: {e}")),
        Ok(Ok(stream)) => stream,
    };
    let mut byte = [0u8; 1];
    match tokio::time::timeout(ACCEPTED_GRACE, stream.read(&mut byte)).await {
        Err(_) => Presence::Alive,
        // A peer port never speaks first: an end or a reset here is a listener that closed meanwhile.
        Ok(Ok(0)) => Presence::Gone,
        Ok(Err(e)) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted) => {
            Presence::Gone
        }
        Ok(Ok(_)) => Presence::Unknown("a peer port that speaks first".to_string()),
        Ok(Err(e)) => Presence::Unknown(format!("reading: {e}")),
    }
}

/// Whether the leader this member follows in `vote` is `leader`, and its process is gone.
async fn agrees<O: TreeOwner>(
    raft: &Raft<ProxyStateMachine<O>>,
    my_id: u64,
    leader: u64,
    vote: &Vote,
) -> Result<(), String> {
    if following(raft, my_id) != Some((leader, *vote)) {
        return Err(format!("member {my_id} does not follow {leader} in that term"));
    }
    let addr = leader_addr(raft, leader).ok_or_else(|| format!("leader {leader} has no address"))?;
    match probe(&addr, probe_limit(raft)).await {
        Presence::Gone => Ok(()),
        presence => Err(format!("member {my_id} finds leader {leader} {presence:?}")),
    }
}

/// Asks the other voters whether `leader` is gone and, with a quorum agreeing, starts the election of the
/// most up-to-date of them.
async fn stand_in<O: TreeOwner>(
    raft: &Raft<ProxyStateMachine<O>>,
    network: &Network,
    my_id: u64,
    leader: u64,
    vote: Vote,
) {
    let membership = raft.metrics().borrow_watched().membership_config.membership().clone();
    let others: Vec<u64> = membership.voter_ids().filter(|id| *id != my_id && *id != leader).collect();
    let ask = GoneRequest { from: my_id, leader, vote, elect: false };
    let deadline = Duration::from_millis(raft.config().election_timeout_min / 2);
    let answers = join_all(others.iter().map(|id| call(raft, network, *id, &ask, deadline))).await;
    let mut agreed = vec![(my_id, last_log_id(raft).await)];
    for (id, answer) in others.iter().zip(answers) {
        match answer {
            Ok(last) => agreed.push((*id, last)),
            Err(why) => info!(voter = id, "does not agree that the leader is gone: {why}"),
        }
    }
    let ids: BTreeSet<u64> = agreed.iter().map(|(id, _)| *id).collect();
    if !is_quorum(membership.get_joint_config(), &ids) {
        info!(leader, agreed = ?ids, "too few voters find the leader gone: waiting for Raft's election timeout");
        return;
    }
    let Some(candidate) = successor(&agreed) else { return };
    info!(leader, candidate, agreed = ?ids, "the leader is gone: electing its successor without waiting out its lease");
    if candidate == my_id {
        elect_me(raft, my_id, vote).await;
    } else {
        // Resets this member's lease as well: the candidate's own round may not name the same member.
        reset_lease(raft, vote, candidate).await;
        let elect = GoneRequest { elect: true, ..ask };
        if let Err(why) = call(raft, network, candidate, &elect, deadline).await {
            info!(candidate, "the candidate did not stand: {why}");
        }
    }
}

/// Whether `ids` hold a majority of every configuration (two during a joint membership change).
fn is_quorum(configs: &[BTreeSet<u64>], ids: &BTreeSet<u64>) -> bool {
    !configs.is_empty() && configs.iter().all(|config| config.intersection(ids).count() * 2 > config.len())
}

/// The most up-to-date log, then the lowest id: every survivor that sees the same logs names the same.
fn successor(agreed: &[(u64, Option<LogId>)]) -> Option<u64> {
    agreed.iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).map(|(id, _)| *id)
}

async fn call<O: TreeOwner>(
    raft: &Raft<ProxyStateMachine<O>>,
    network: &Network,
    to: u64,
    request: &GoneRequest,
    deadline: Duration,
) -> GoneReply {
    let addr = leader_addr(raft, to).ok_or_else(|| format!("member {to} has no address"))?;
    let body = postcard::to_stdvec(request).map_err(|e| e.to_string())?;
    let reply = network.peer(&addr)?.call(LEADER_GONE, body, deadline).await.map_err(|e| e.to_string())?;
    postcard::from_bytes::<GoneReply>(&reply).map_err(|e| format!("a garbled answer from member {to}: {e}"))?
}

/// Serves [`LEADER_GONE`]: agrees (and resets this member's lease, or stands for election when named the
/// candidate) only if this member follows the same leader in the same term and finds its port refusing
/// connections itself.
pub(super) async fn answer<O: TreeOwner>(
    raft: &Raft<ProxyStateMachine<O>>,
    my_id: u64,
    body: &[u8],
) -> Result<Vec<u8>, String> {
    let request: GoneRequest = postcard::from_bytes(body).map_err(|e| format!("a garbled LEADER_GONE: {e}"))?;
    let reply: GoneReply = match agrees(raft, my_id, request.leader, &request.vote).await {
        Err(why) => Err(why),
        Ok(()) if request.elect => {
            info!(leader = request.leader, by = request.from, "named the successor of a leader that is gone");
            elect_me(raft, my_id, request.vote).await;
            Ok(last_log_id(raft).await)
        }
        Ok(()) => {
            reset_lease(raft, request.vote, request.from).await;
            Ok(last_log_id(raft).await)
        }
    };
    postcard::to_stdvec(&reply).map_err(|e| e.to_string())
}

/// This member's last log id as the Raft core has it now (metrics may lag behind an append).
async fn last_log_id<O: TreeOwner>(raft: &Raft<ProxyStateMachine<O>>) -> Option<LogId> {
    raft.with_raft_state(|state| state.log_ids.last().cloned()).await.ok().flatten()
}

/// Lets this member vote before the gone leader's lease runs out (`to` is another member: openraft only
/// resets the lease then).
async fn reset_lease<O: TreeOwner>(raft: &Raft<ProxyStateMachine<O>>, vote: Vote, to: u64) {
    let reset = TransferLeaderRequest::new(vote, to, None);
    match raft.handle_transfer_leader(reset).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => info!("lease not reset: {e}"),
        Err(e) => warn!("lease not reset: {e}"),
    }
}

/// Stands for election at once, as if the gone leader had handed over to this member; openraft waits for
/// this member's log to be flushed first, and drops the request if the vote moved on meanwhile.
async fn elect_me<O: TreeOwner>(raft: &Raft<ProxyStateMachine<O>>, my_id: u64, vote: Vote) {
    let transfer = TransferLeaderRequest::new(vote, my_id, last_log_id(raft).await);
    match raft.handle_transfer_leader(transfer).await {
        Ok(Ok(())) => info!("standing for election in place of the gone leader"),
        Ok(Err(e)) => info!("not standing for election: {e}"),
        Err(e) => warn!("not standing for election: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::log_id;

    #[test]
    fn the_successor_has_the_most_up_to_date_log_then_the_lowest_id() {
        assert_eq!(successor(&[(3, Some(log_id(2, 10))), (2, Some(log_id(2, 10)))]), Some(2));
        assert_eq!(successor(&[(1, Some(log_id(2, 9))), (3, Some(log_id(2, 10)))]), Some(3));
        // A later term wins over a longer log of an earlier one, as in a Raft vote.
        assert_eq!(successor(&[(1, Some(log_id(1, 50))), (2, Some(log_id(2, 40)))]), Some(2));
        assert_eq!(successor(&[(2, None), (3, Some(log_id(1, 1)))]), Some(3));
        assert_eq!(successor(&[]), None);
    }

    #[test]
    fn a_quorum_is_a_majority_of_every_configuration() {
        let set = |ids: &[u64]| ids.iter().copied().collect::<BTreeSet<u64>>();
        let three = vec![set(&[1, 2, 3])];
        assert!(is_quorum(&three, &set(&[2, 3])));
        assert!(!is_quorum(&three, &set(&[3])));
        let five = vec![set(&[1, 2, 3, 4, 5])];
        assert!(!is_quorum(&five, &set(&[4, 5])));
        assert!(is_quorum(&five, &set(&[2, 4, 5])));
        let joint = vec![set(&[1, 2, 3]), set(&[3, 4, 5])];
        assert!(!is_quorum(&joint, &set(&[2, 3])), "a majority of the old configuration only");
        assert!(is_quorum(&joint, &set(&[2, 3, 4])));
        assert!(!is_quorum(&[], &set(&[1])));
    }
}
