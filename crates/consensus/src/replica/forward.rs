//! Proposals into the leader's log, in the order the server queued them, pipelined.
//!
//! [`Forwarding::run`] takes the server's queued proposals in batches. On the leader a batch goes straight
//! into the log; on any other member it is forwarded to the leader in a FORWARD call. Either way the next
//! batch goes out before the previous one is applied, up to [`BATCHES_IN_FLIGHT`] at once, as ZooKeeper's
//! learners stream requests to their leader: waiting for each batch's round (forward, append and fsync,
//! replicate, commit, apply) before sending the next one made every write of a follower's clients wait for
//! the whole round of the batch before it.
//!
//! **Order.** openraft keeps the order in which writes are submitted, but the peer transport serves calls
//! concurrently, so two forwarded batches could reach openraft in either order. Each forwarded batch
//! therefore names its place in a *stream* of its origin ([`Place`]), and the leader's [`Sequencer`]
//! submits batch `seq` only after batch `seq - 1` of the same stream. Once a batch of a stream fails, every
//! later batch of that stream fails too, so that no write is applied after an earlier write of the same
//! server was lost. A member starts a new stream (at `seq` 0) whenever the leader or its term changes and
//! after any failure; the leader forgets the old stream of that origin when the new one begins.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use openraft::async_runtime::watch::WatchReceiver;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore, mpsc};

use super::{LostProposal, Proposal, leader_addr};
use crate::network::Network;
use crate::replica::ProxyStateMachine;
use crate::replica::proxy::TreeOwner;
use crate::transport::CallError;
use crate::types::{Raft, TxnBytes, TypeConfig};

/// Proposals sent in one batch (one forward call, one `client_write_many`).
const BATCH: usize = 512;
/// Batches of this server's proposals sent to the leader's log and not yet applied. The next batch does not
/// wait for them (a pipeline), but no more than this many, so that a stalled quorum pushes back on clients
/// (through the proposal queue) instead of growing memory.
const BATCHES_IN_FLIGHT: usize = 8;
/// How long the leader holds a forwarded batch whose predecessor in its stream has not arrived. Normally the
/// two are microseconds apart; a predecessor that never comes (its connection broke) fails the stream.
const REORDER_WAIT: Duration = Duration::from_secs(5);
/// A forward call waits this long for the leader to commit and apply a full batch behind a slow disk.
const FORWARD_DEADLINE: Duration = Duration::from_secs(30);

/// Where a forwarded batch stands: the `seq`th batch of stream `stream` of member `origin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Place {
    pub origin: u64,
    pub stream: u64,
    pub seq: u64,
}

/// A FORWARD call's body.
#[derive(Serialize, Deserialize)]
struct Forwarded {
    place: Place,
    payloads: Vec<Vec<u8>>,
}

/// Sends proposals to the leader's log in order.
pub(super) struct Forwarding<O: TreeOwner> {
    pub raft: Raft<ProxyStateMachine<O>>,
    pub network: Network,
    pub my_id: u64,
    /// On the leader: the order of every member's forwarded batches.
    sequencer: Arc<Sequencer>,
}

impl<O: TreeOwner> Clone for Forwarding<O> {
    fn clone(&self) -> Self {
        Forwarding {
            raft: self.raft.clone(),
            network: self.network.clone(),
            my_id: self.my_id,
            sequencer: self.sequencer.clone(),
        }
    }
}

impl<O: TreeOwner> Forwarding<O> {
    pub fn new(raft: Raft<ProxyStateMachine<O>>, network: Network, my_id: u64) -> Self {
        Forwarding { raft, network, my_id, sequencer: Arc::default() }
    }

    /// Takes the server's proposals from `queue` until it closes; reports each one whose fate is unknown to
    /// `lost`.
    pub async fn run(self, mut queue: mpsc::Receiver<Proposal>, lost: LostProposal) {
        let in_flight = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
        let mut stream = OutStream::new(self.my_id);
        let mut batch = Vec::with_capacity(BATCH);
        while queue.recv_many(&mut batch, BATCH).await > 0 {
            let seqs: Vec<u64> = batch.iter().map(|p| p.seq).collect();
            let payloads: Vec<Vec<u8>> = batch.drain(..).map(|p| p.payload).collect();
            let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
            let lost = lost.clone();
            let count = payloads.len();
            let Some((leader, term)) = self.leader_within(Duration::from_secs(2)).await else {
                report_lost(&lost, seqs, vec![Err("no leader".to_string()); count]);
                continue;
            };
            if leader == self.my_id {
                // Into the log now, behind the batches still committing; outcomes are collected on the side.
                let submitted = self.raft.client_write_many(payloads.into_iter().map(TxnBytes)).await;
                tokio::spawn(async move {
                    let outcomes = match submitted {
                        Ok(results) => collect_outcomes(results, count).await,
                        Err(e) => vec![Err(e.to_string()); count],
                    };
                    report_lost(&lost, seqs, outcomes);
                    drop(permit);
                });
                continue;
            }
            let Some(addr) = leader_addr(&self.raft, leader) else {
                report_lost(&lost, seqs, vec![Err(format!("leader {leader} has no address")); count]);
                continue;
            };
            let (place, failed) = stream.next_place(leader, term);
            let this = self.clone();
            tokio::spawn(async move {
                let outcomes = this.forward(&addr, place, payloads).await.unwrap_or_else(|why| vec![Err(why); count]);
                if outcomes.iter().any(Result::is_err) {
                    failed.store(true, Ordering::Relaxed);
                }
                report_lost(&lost, seqs, outcomes);
                drop(permit);
            });
        }
    }

    async fn forward(
        &self,
        addr: &str,
        place: Place,
        payloads: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<u64, String>>, String> {
        let body = postcard::to_stdvec(&Forwarded { place, payloads }).map_err(|e| e.to_string())?;
        let peer = self.network.peer(addr)?;
        let reply = peer.call(super::FORWARD, body, FORWARD_DEADLINE).await.map_err(|e: CallError| e.to_string())?;
        postcard::from_bytes(&reply).map_err(|e| e.to_string())
    }

    /// On the leader: a member's forwarded batch, appended in its stream's order; answers once each entry is
    /// applied here.
    pub async fn serve_forwarded(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        let Forwarded { place, payloads } = postcard::from_bytes(body).map_err(|e| e.to_string())?;
        let count = payloads.len();
        let outcomes = match self.sequencer.submit(&self.raft, place, payloads).await {
            Ok(results) => collect_outcomes(results, count).await,
            Err(why) => vec![Err(why); count],
        };
        postcard::to_stdvec(&outcomes).map_err(|e| e.to_string())
    }

    /// The leader and its term, waiting up to `limit` for an election to end. When this node leads, it waits
    /// until the entry of its own term is applied too: before that, openraft refuses writes ("forward to
    /// leader").
    async fn leader_within(&self, limit: Duration) -> Option<(u64, u64)> {
        let mut metrics = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let known = {
                let m = metrics.borrow_watched();
                let settled = m.last_applied.is_some_and(|a| crate::term_of(&a) == m.current_term);
                m.current_leader
                    .filter(|leader| *leader != self.my_id || settled)
                    .map(|leader| (leader, m.current_term))
            };
            if let Some(leader) = known {
                return Some(leader);
            }
            if tokio::time::timeout_at(deadline, metrics.changed()).await.is_err() {
                return None;
            }
        }
    }
}

// ---- the sending member's stream ----------------------------------------------------------------------

/// This member's current stream of forwarded batches.
struct OutStream {
    origin: u64,
    /// The leader and term the stream goes to. A leader's sequencer lives in its memory and a restarted leader
    /// leads only in a new term, so a new term starts a new stream even when the leader is the same node.
    leader: Option<(u64, u64)>,
    id: u64,
    next: u64,
    /// Set by a batch of this stream that failed: the next batch starts a new stream.
    failed: Arc<AtomicBool>,
}

impl OutStream {
    fn new(origin: u64) -> OutStream {
        // Distinct from the streams of this member's earlier runs, which the leader may still remember.
        let id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        OutStream { origin, leader: None, id, next: 0, failed: Arc::new(AtomicBool::new(false)) }
    }

    /// The place of the next batch for `leader` in `term`, and the flag its failure sets.
    fn next_place(&mut self, leader: u64, term: u64) -> (Place, Arc<AtomicBool>) {
        if self.leader != Some((leader, term)) || self.failed.load(Ordering::Relaxed) {
            self.leader = Some((leader, term));
            self.id = self.id.wrapping_add(1);
            self.next = 0;
            self.failed = Arc::new(AtomicBool::new(false));
        }
        let place = Place { origin: self.origin, stream: self.id, seq: self.next };
        self.next += 1;
        (place, self.failed.clone())
    }
}

// ---- the leader's side --------------------------------------------------------------------------------

/// On the leader: where each member's current stream stands. One entry per member that ever forwarded.
#[derive(Default)]
pub(super) struct Sequencer {
    streams: Mutex<HashMap<u64, InStream>>,
    /// Woken whenever a batch was submitted or a stream failed.
    turn: Notify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InStream {
    id: u64,
    /// The seq of the batch whose turn it is.
    next: u64,
    failed: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Turn {
    Yours,
    Wait,
    Failed(String),
}

type Outcomes = futures_util::stream::BoxStream<
    'static,
    Result<openraft::raft::WriteResult<TypeConfig>, openraft::error::Fatal<TypeConfig>>,
>;

impl Sequencer {
    /// Appends `payloads` once every earlier batch of `place`'s stream is appended.
    async fn submit<O: TreeOwner>(
        &self,
        raft: &Raft<ProxyStateMachine<O>>,
        place: Place,
        payloads: Vec<Vec<u8>>,
    ) -> Result<Outcomes, String> {
        self.wait_turn(place, REORDER_WAIT).await?;
        let submitted = raft.client_write_many(payloads.into_iter().map(TxnBytes)).await;
        self.submitted(place, submitted.is_ok());
        submitted.map_err(|e| e.to_string())
    }

    /// Waits until it is `place`'s turn, at most `limit`.
    async fn wait_turn(&self, place: Place, limit: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let mut woken = pin!(self.turn.notified());
            woken.as_mut().enable();
            match self.turn_of(place) {
                Turn::Yours => return Ok(()),
                Turn::Failed(why) => return Err(why),
                Turn::Wait => {}
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                self.fail(place);
                return Err(format!(
                    "batch {} of member {}'s stream {} never arrived within {limit:?}",
                    place.seq.saturating_sub(1),
                    place.origin,
                    place.stream
                ));
            }
        }
    }

    fn turn_of(&self, place: Place) -> Turn {
        let mut streams = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let stream = streams.entry(place.origin).or_insert(InStream { id: place.stream, next: 0, failed: false });
        decide(stream, place)
    }

    /// Batch `place` went into the log (`appended`) or not; either way it is the next batch's turn.
    fn submitted(&self, place: Place, appended: bool) {
        let mut streams = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(stream) = streams.get_mut(&place.origin).filter(|s| s.id == place.stream) {
            assert_eq!(stream.next, place.seq, "a forwarded batch was appended out of its turn");
            stream.next += 1;
            stream.failed |= !appended;
        }
        drop(streams);
        self.turn.notify_waiters();
    }

    fn fail(&self, place: Place) {
        let mut streams = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(stream) = streams.get_mut(&place.origin).filter(|s| s.id == place.stream) {
            stream.failed = true;
        }
        drop(streams);
        self.turn.notify_waiters();
    }
}

/// Whose turn it is, for a batch at `place` of a member whose current stream is `stream`. A batch at `seq` 0
/// begins a new stream: the member abandoned the old one, whose stragglers then wait and fail.
fn decide(stream: &mut InStream, place: Place) -> Turn {
    if place.seq == 0 && stream.id != place.stream {
        *stream = InStream { id: place.stream, next: 0, failed: false };
    }
    if stream.id != place.stream {
        return Turn::Wait;
    }
    if stream.failed {
        return Turn::Failed(format!("an earlier batch of member {}'s stream {} failed", place.origin, place.stream));
    }
    match place.seq.cmp(&stream.next) {
        std::cmp::Ordering::Equal => Turn::Yours,
        std::cmp::Ordering::Greater => Turn::Wait,
        std::cmp::Ordering::Less => {
            Turn::Failed(format!("batch {} of member {} was sent twice", place.seq, place.origin))
        }
    }
}

/// One outcome per entry of a batch written with `client_write_many`, once each is applied here.
pub(super) async fn collect_outcomes(mut results: Outcomes, count: usize) -> Vec<Result<u64, String>> {
    let mut outcomes = Vec::with_capacity(count);
    while let Some(result) = results.next().await {
        outcomes.push(match result {
            Ok(Ok(written)) => Ok(written.log_id.index),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        });
    }
    outcomes.resize(count, Err("the leader stopped before answering".to_string()));
    outcomes
}

fn report_lost(lost: &LostProposal, seqs: Vec<u64>, outcomes: Vec<Result<u64, String>>) {
    for (seq, outcome) in seqs.into_iter().zip(outcomes) {
        if let Err(why) = outcome {
            lost(seq, why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(stream: u64, seq: u64) -> Place {
        Place { origin: 2, stream, seq }
    }

    #[test]
    fn batches_take_their_turn_in_stream_order() {
        let mut stream = InStream { id: 7, next: 0, failed: false };
        assert_eq!(decide(&mut stream, place(7, 1)), Turn::Wait);
        assert_eq!(decide(&mut stream, place(7, 0)), Turn::Yours);
        stream.next = 1;
        assert_eq!(decide(&mut stream, place(7, 1)), Turn::Yours);
        assert!(matches!(decide(&mut stream, place(7, 0)), Turn::Failed(_)), "a batch sent twice");
    }

    #[test]
    fn a_failed_batch_fails_every_later_batch_of_its_stream_but_not_the_next_stream() {
        let mut stream = InStream { id: 7, next: 3, failed: true };
        assert!(matches!(decide(&mut stream, place(7, 3)), Turn::Failed(_)));
        assert!(matches!(decide(&mut stream, place(7, 5)), Turn::Failed(_)));
        assert_eq!(decide(&mut stream, place(8, 0)), Turn::Yours);
        assert_eq!(stream, InStream { id: 8, next: 0, failed: false });
    }

    #[test]
    fn stragglers_of_an_abandoned_stream_wait_and_a_new_stream_waits_for_its_first_batch() {
        let mut stream = InStream { id: 8, next: 4, failed: false };
        assert_eq!(decide(&mut stream, place(7, 9)), Turn::Wait, "an old stream's straggler");
        assert_eq!(decide(&mut stream, place(9, 1)), Turn::Wait, "a new stream's second batch before its first");
        assert_eq!(stream.id, 8);
    }

    #[test]
    fn a_member_starts_a_new_stream_when_the_leader_or_its_term_changes_or_a_batch_failed() {
        let mut out = OutStream::new(2);
        let (first, failed) = out.next_place(1, 5);
        let (second, _) = out.next_place(1, 5);
        assert_eq!((second.stream, second.seq), (first.stream, 1));
        let (third, _) = out.next_place(3, 6);
        assert_eq!(third.seq, 0);
        assert_ne!(third.stream, first.stream);
        let (fourth, _) = out.next_place(3, 6);
        assert_eq!((fourth.stream, fourth.seq), (third.stream, 1));
        drop(failed);
        let (_, failed) = out.next_place(3, 6);
        failed.store(true, Ordering::Relaxed);
        let (after_failure, _) = out.next_place(3, 6);
        assert_eq!(after_failure.seq, 0);
        assert_ne!(after_failure.stream, third.stream);
        let (restarted_leader, _) = out.next_place(3, 7);
        assert_eq!(restarted_leader.seq, 0, "the same leader in a new term (it may have restarted)");
    }

    #[tokio::test]
    async fn a_batch_whose_predecessor_never_arrives_fails_after_the_reorder_wait() {
        let sequencer = Sequencer::default();
        assert_eq!(sequencer.turn_of(place(7, 0)), Turn::Yours);
        let waiting = sequencer.wait_turn(place(7, 2), Duration::from_millis(50));
        let outcome = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("the wait is bounded");
        assert!(outcome.is_err_and(|why| why.contains("never arrived")));
        assert!(matches!(sequencer.turn_of(place(7, 0)), Turn::Failed(_)), "the stream is failed");
    }

    #[tokio::test]
    async fn a_waiting_batch_goes_once_its_predecessor_is_submitted() {
        let sequencer = Arc::new(Sequencer::default());
        assert_eq!(sequencer.turn_of(place(7, 0)), Turn::Yours);
        let waiter = {
            let sequencer = sequencer.clone();
            tokio::spawn(async move { sequencer.wait_turn(place(7, 1), REORDER_WAIT).await })
        };
        tokio::task::yield_now().await;
        sequencer.submitted(place(7, 0), true);
        let outcome = tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("woken").expect("joined");
        assert_eq!(outcome, Ok(()));
    }
}
