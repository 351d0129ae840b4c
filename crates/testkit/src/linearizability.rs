//! Histories of a register workload and the checks run on them: linearizability per key (reads after
//! `sync`, writes through any server) and per-session order (plain reads).
//!
//! Clients record each operation's invocation before they send it and its completion when the answer
//! arrives ([`History::invoke`], then [`History::ok`], [`History::unknown`] or [`History::failed`]). Events
//! are numbered under one lock, so the numbers order them as real time does: an operation that completed
//! before another was invoked has the smaller number. An outcome that is unknown (ConnectionLoss, a
//! timeout, an expired session) may or may not have taken effect, at any moment after its invocation; one
//! that failed did not take effect at all. An operation never completed counts as unknown.
//!
//! # The checker
//!
//! [`check`] splits the history by key (linearizability is compositional: a history is linearizable iff
//! each object's subhistory is) and searches each key's subhistory for a linearization of a register
//! (`None` until the first write) with Wing and Gong's algorithm as Lowe improved it (the one Knossos and
//! Porcupine use): walk the calls in invocation order, linearize a call whose effect matches its result,
//! backtrack at the first return that is not linearized yet, and never revisit a (set of linearized
//! operations, register value) pair. Unknown writes have no return: the search may linearize them
//! anywhere after their invocation, or never. A unknown write whose value is unique for its key and read by
//! nobody is dropped before the search: it is linearizable iff the history without it is (place it just
//! before the next write, or leave it out), and dropping it keeps the search small after a failover.
//! The search is bounded ([`SEARCH_LIMIT`] steps per key); hitting the bound is reported as
//! [`Violation::SearchBound`], never as success.
//!
//! Why not `stateright::semantics::LinearizabilityTester`: its check tries the interleavings of the
//! per-thread histories without memoization, which is meant for the short histories of a model checker and
//! is exponential on the thousands of operations a kill loop records; it has no operation that may have
//! taken effect without ever returning (an unknown outcome would need a fresh thread per operation and an
//! in-flight op that never ends), and it brings a whole model checker as a dependency. The search here is
//! about 150 lines and tested below on hand-made histories.
//!
//! [`check_session_order`] checks plain reads, which ZooKeeper does not make linearizable: a session never
//! sees a key's version go back (its own writes included, so it reads its own writes), and one version of a
//! key has one value wherever it is seen.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Steps the search may take per key before giving up ([`Violation::SearchBound`]).
pub const SEARCH_LIMIT: u64 = 50_000_000;

/// An operation on a register named `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Write { key: String, value: u64 },
    Read { key: String },
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Write { key, .. } | Op::Read { key } => key,
        }
    }
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ret {
    Written,
    /// The register's value; `None` if it was never written (the znode does not exist).
    Read(Option<u64>),
}

/// Names an invocation recorded in a [`History`].
pub type OpId = usize;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Pending,
    Ok(Ret),
    Unknown,
    Failed,
}

#[derive(Clone, Debug)]
struct Record {
    client: u64,
    op: Op,
    invoked: u64,
    /// The event number of the completion (`Ok` only).
    returned: u64,
    outcome: Outcome,
    at: Instant,
}

/// One plain read (or a write's answer) seen by a session: `key` at `version` held `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub session: u64,
    pub key: String,
    pub version: i64,
    pub value: Option<u64>,
}

#[derive(Default)]
struct Inner {
    next_event: u64,
    ops: Vec<Record>,
    observations: Vec<Observation>,
}

/// A thread-safe history of invocations and completions (share it as `Arc<History>`).
pub struct History {
    start: Instant,
    inner: Mutex<Inner>,
}

impl History {
    pub fn new() -> Arc<History> {
        Arc::new(History { start: Instant::now(), inner: Mutex::new(Inner::default()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `client` invokes `op`, before it is sent.
    pub fn invoke(&self, client: u64, op: Op) -> OpId {
        let mut inner = self.lock();
        inner.next_event += 1;
        let invoked = inner.next_event;
        inner.ops.push(Record { client, op, invoked, returned: 0, outcome: Outcome::Pending, at: Instant::now() });
        inner.ops.len() - 1
    }

    /// Records that operation `id` completed with `ret`.
    pub fn ok(&self, id: OpId, ret: Ret) {
        self.complete(id, Outcome::Ok(ret));
    }

    /// Records that operation `id` may or may not have taken effect (ConnectionLoss, a timeout).
    pub fn unknown(&self, id: OpId) {
        self.complete(id, Outcome::Unknown);
    }

    /// Records that operation `id` definitely did not take effect.
    pub fn failed(&self, id: OpId) {
        self.complete(id, Outcome::Failed);
    }

    fn complete(&self, id: OpId, outcome: Outcome) {
        let mut inner = self.lock();
        inner.next_event += 1;
        let returned = inner.next_event;
        let record = &mut inner.ops[id];
        assert_eq!(record.outcome, Outcome::Pending, "operation {id} completed twice");
        record.returned = returned;
        record.outcome = outcome;
    }

    /// Records what a session saw with a plain read (or a write's answer), in the session's order.
    pub fn observe(&self, session: u64, key: &str, version: i64, value: Option<u64>) {
        self.lock().observations.push(Observation { session, key: key.to_owned(), version, value });
    }

    /// Operations recorded so far.
    pub fn len(&self) -> usize {
        self.lock().ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn snapshot(&self) -> (Vec<Record>, Vec<Observation>) {
        let inner = self.lock();
        (inner.ops.clone(), inner.observations.clone())
    }

    fn describe(&self, record: &Record) -> String {
        let outcome = match &record.outcome {
            Outcome::Ok(ret) => format!("{ret:?} (events {}..{})", record.invoked, record.returned),
            other => format!("{other:?} (invoked at event {})", record.invoked),
        };
        let at = record.at.duration_since(self.start);
        format!("client {} {:?} -> {outcome}, invoked {at:?} into the history", record.client, record.op)
    }
}

/// What [`check`] found in a linearizable history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub keys: usize,
    /// Operations that took part in the search.
    pub ops: usize,
    pub reads: usize,
    pub writes: usize,
    /// Writes of unknown outcome kept in the search, and those dropped because nobody read their value.
    pub unknown_writes: usize,
    pub dropped_unknown_writes: usize,
    /// Search steps, over all keys.
    pub steps: u64,
}

/// Why [`check`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// No linearization of `key`'s operations exists. The search got furthest with `linearized` of the
    /// acknowledged operations in order (the last few in `last_linearized`) and the register at `value`,
    /// where `stuck` could not be linearized before its return; `concurrent` lists operations overlapping it.
    NotLinearizable {
        key: String,
        stuck: String,
        value: Option<u64>,
        linearized: usize,
        last_linearized: Vec<String>,
        concurrent: Vec<String>,
    },
    /// The search for `key` took more than `steps` steps without an answer.
    SearchBound { key: String, steps: u64 },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::NotLinearizable { key, stuck, value, linearized, last_linearized, concurrent } => {
                writeln!(f, "key {key}: not linearizable")?;
                writeln!(
                    f,
                    "  furthest search: {linearized} operations linearized, register = {value:?}, then stuck at"
                )?;
                writeln!(f, "    {stuck}")?;
                writeln!(f, "  last linearized:")?;
                for op in last_linearized {
                    writeln!(f, "    {op}")?;
                }
                writeln!(f, "  concurrent with it:")?;
                for op in concurrent {
                    writeln!(f, "    {op}")?;
                }
                Ok(())
            }
            Violation::SearchBound { key, steps } => {
                write!(f, "key {key}: the linearizability search hit its bound of {steps} steps without an answer")
            }
        }
    }
}

/// Checks that every key's operations in `history` are linearizable as a register.
pub fn check(history: &History) -> Result<Summary, Violation> {
    check_with_limit(history, SEARCH_LIMIT)
}

/// [`check`] with a search bound of `limit` steps per key.
pub fn check_with_limit(history: &History, limit: u64) -> Result<Summary, Violation> {
    let (records, _) = history.snapshot();
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, record) in records.iter().enumerate() {
        by_key.entry(record.op.key()).or_default().push(i);
    }
    let mut summary = Summary { keys: by_key.len(), ..Summary::default() };
    for (key, ids) in by_key {
        check_key(history, &records, key, &ids, limit, &mut summary)?;
    }
    Ok(summary)
}

/// An operation of one key's search.
struct SearchOp {
    record: usize,
    write: Option<u64>,
    /// What a read returned (`None` for writes).
    read: Option<Option<u64>>,
    invoked: u64,
    /// `None`: unknown outcome, no return.
    returned: Option<u64>,
}

fn check_key(
    history: &History,
    records: &[Record],
    key: &str,
    ids: &[usize],
    limit: u64,
    summary: &mut Summary,
) -> Result<(), Violation> {
    // Values read, and how many writes wrote each value, to drop unknown writes nobody saw.
    let mut read_values: HashSet<u64> = HashSet::new();
    let mut written: HashMap<u64, usize> = HashMap::new();
    for &i in ids {
        match (&records[i].op, &records[i].outcome) {
            (Op::Read { .. }, Outcome::Ok(Ret::Read(Some(v)))) => {
                read_values.insert(*v);
            }
            (Op::Write { value, .. }, _) => *written.entry(*value).or_default() += 1,
            _ => {}
        }
    }
    let mut ops = Vec::new();
    for &i in ids {
        let r = &records[i];
        let known = matches!(r.outcome, Outcome::Ok(_));
        match (&r.op, &r.outcome) {
            (_, Outcome::Failed) | (Op::Read { .. }, Outcome::Unknown | Outcome::Pending) => continue,
            (Op::Write { value, .. }, _) => {
                if !known {
                    if written[value] == 1 && !read_values.contains(value) {
                        summary.dropped_unknown_writes += 1;
                        continue;
                    }
                    summary.unknown_writes += 1;
                }
                summary.writes += 1;
                let returned = known.then_some(r.returned);
                ops.push(SearchOp { record: i, write: Some(*value), read: None, invoked: r.invoked, returned });
            }
            (Op::Read { .. }, Outcome::Ok(ret)) => {
                let Ret::Read(value) = ret else { panic!("a read of {key} answered {ret:?}") };
                summary.reads += 1;
                let (invoked, returned) = (r.invoked, Some(r.returned));
                ops.push(SearchOp { record: i, write: None, read: Some(*value), invoked, returned });
            }
        }
    }
    summary.ops += ops.len();
    let found = search(&ops, limit);
    summary.steps += found.steps;
    match found.result {
        Ok(()) => Ok(()),
        Err(None) => Err(Violation::SearchBound { key: key.to_owned(), steps: found.steps }),
        Err(Some(stuck)) => {
            let describe = |j: usize| history.describe(&records[ops[j].record]);
            let op = &ops[stuck.op];
            let end = op.returned.unwrap_or(u64::MAX);
            let concurrent = (0..ops.len())
                .filter(|&j| j != stuck.op && ops[j].invoked < end && ops[j].returned.is_none_or(|r| r > op.invoked))
                .take(12)
                .map(describe)
                .collect();
            Err(Violation::NotLinearizable {
                key: key.to_owned(),
                stuck: describe(stuck.op),
                value: stuck.value,
                linearized: stuck.linearized,
                last_linearized: stuck.last.iter().map(|&j| describe(j)).collect(),
                concurrent,
            })
        }
    }
}

/// Where the search got furthest before failing.
struct Stuck {
    op: usize,
    value: Option<u64>,
    linearized: usize,
    last: Vec<usize>,
}

struct Found {
    /// `Err(None)`: the bound was hit.
    result: Result<(), Option<Stuck>>,
    steps: u64,
}

/// Wing–Gong–Lowe search over `ops` for a register starting at `None`.
fn search(ops: &[SearchOp], limit: u64) -> Found {
    // The list of events in time order: calls (op, true) and the returns of known ops (op, false).
    let mut events: Vec<(u64, usize, bool)> = Vec::new();
    for (j, op) in ops.iter().enumerate() {
        events.push((op.invoked, j, true));
        if let Some(r) = op.returned {
            events.push((r, j, false));
        }
    }
    events.sort_unstable();
    let n = events.len();
    // A doubly linked list over event slots 1..=n, slot 0 the head; `n + 1` ends the list.
    let mut next: Vec<usize> = (1..=n + 1).collect();
    let mut prev: Vec<usize> = (0..=n).map(|i| i.saturating_sub(1)).collect();
    next.push(n + 1);
    prev.push(n);
    let mut call_slot = vec![0; ops.len()];
    let mut return_slot = vec![None; ops.len()];
    for (slot, &(_, j, is_call)) in events.iter().enumerate() {
        if is_call {
            call_slot[j] = slot + 1;
        } else {
            return_slot[j] = Some(slot + 1);
        }
    }
    let unlink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, s: usize| {
        let (p, q) = (prev[s], next[s]);
        next[p] = q;
        prev[q] = p;
    };
    let relink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, s: usize| {
        let (p, q) = (prev[s], next[s]);
        next[p] = s;
        prev[q] = s;
    };

    let mut remaining = ops.iter().filter(|op| op.returned.is_some()).count();
    let mut value: Option<u64> = None;
    let mut linearized = vec![0u64; ops.len().div_ceil(64)];
    let mut stack: Vec<(usize, Option<u64>)> = Vec::new();
    let mut seen: HashSet<(Vec<u64>, Option<u64>)> = HashSet::new();
    let mut best: Option<Stuck> = None;
    let mut steps = 0u64;
    let mut slot = next[0];
    loop {
        if remaining == 0 {
            return Found { result: Ok(()), steps };
        }
        steps += 1;
        if steps > limit {
            return Found { result: Err(None), steps };
        }
        let (_, j, is_call) = events[slot - 1];
        if is_call {
            let op = &ops[j];
            let after = match (op.write, op.read) {
                (Some(w), _) => Some(Some(w)),
                (None, Some(read)) => (read == value).then_some(value),
                (None, None) => None,
            };
            if let Some(after) = after {
                linearized[j / 64] |= 1 << (j % 64);
                if seen.insert((linearized.clone(), after)) {
                    stack.push((j, value));
                    value = after;
                    unlink(&mut next, &mut prev, call_slot[j]);
                    if let Some(r) = return_slot[j] {
                        unlink(&mut next, &mut prev, r);
                        remaining -= 1;
                    }
                    slot = next[0];
                    continue;
                }
                linearized[j / 64] &= !(1 << (j % 64));
            }
            slot = next[slot];
        } else {
            // The return of an op not linearized yet: what is linearized so far cannot go on.
            let known = stack.iter().filter(|(k, _)| ops[*k].returned.is_some()).count();
            if best.as_ref().is_none_or(|b| known > b.linearized) {
                let last = stack.iter().rev().take(6).rev().map(|(k, _)| *k).collect();
                best = Some(Stuck { op: j, value, linearized: known, last });
            }
            let Some((k, before)) = stack.pop() else {
                return Found { result: Err(best), steps };
            };
            value = before;
            linearized[k / 64] &= !(1 << (k % 64));
            if let Some(r) = return_slot[k] {
                relink(&mut next, &mut prev, r);
                remaining += 1;
            }
            relink(&mut next, &mut prev, call_slot[k]);
            slot = next[call_slot[k]];
        }
    }
}

/// What [`check_session_order`] checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionSummary {
    pub sessions: usize,
    pub observations: usize,
}

/// A session saw a key go back, or one version of a key with two values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderViolation {
    pub key: String,
    pub earlier: Observation,
    pub later: Observation,
    pub reason: &'static str,
}

impl fmt::Display for OrderViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {}: {}: {:?} then {:?}", self.key, self.reason, self.earlier, self.later)
    }
}

/// Checks the observations of [`History::observe`]: per session and key, versions never go back (and the
/// same version shows the same value); across sessions, one version of a key has one value.
pub fn check_session_order(history: &History) -> Result<SessionSummary, Box<OrderViolation>> {
    let (_, observations) = history.snapshot();
    let mut last: HashMap<(u64, &str), &Observation> = HashMap::new();
    let mut values: HashMap<(&str, i64), &Observation> = HashMap::new();
    let mut sessions = HashSet::new();
    for seen in &observations {
        sessions.insert(seen.session);
        let violation = |earlier: &Observation, reason| {
            Box::new(OrderViolation { key: seen.key.clone(), earlier: earlier.clone(), later: seen.clone(), reason })
        };
        if let Some(earlier) = last.insert((seen.session, &seen.key), seen)
            && seen.version < earlier.version
        {
            return Err(violation(earlier, "the session saw the version go back"));
        }
        match values.get(&(seen.key.as_str(), seen.version)) {
            Some(other) if other.value != seen.value => {
                return Err(violation(other, "one version of the key has two values"));
            }
            Some(_) => {}
            None => {
                values.insert((&seen.key, seen.version), seen);
            }
        }
    }
    Ok(SessionSummary { sessions: sessions.len(), observations: observations.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(key: &str, value: u64) -> Op {
        Op::Write { key: key.into(), value }
    }

    fn r(key: &str) -> Op {
        Op::Read { key: key.into() }
    }

    fn read(v: Option<u64>) -> Ret {
        Ret::Read(v)
    }

    #[test]
    fn a_sequential_history_is_linearizable() {
        let h = History::new();
        let a = h.invoke(1, r("x"));
        h.ok(a, read(None));
        let a = h.invoke(1, w("x", 1));
        h.ok(a, Ret::Written);
        let b = h.invoke(2, r("x"));
        h.ok(b, read(Some(1)));
        let summary = check(&h).expect("linearizable");
        assert_eq!((summary.keys, summary.ops, summary.reads, summary.writes), (1, 3, 2, 1));
    }

    #[test]
    fn concurrent_reads_may_see_either_side_of_a_write() {
        let h = History::new();
        let init = h.invoke(1, w("x", 1));
        h.ok(init, Ret::Written);
        let write = h.invoke(1, w("x", 2));
        let r1 = h.invoke(2, r("x"));
        let r2 = h.invoke(3, r("x"));
        h.ok(r1, read(Some(2)));
        h.ok(r2, read(Some(1)));
        h.ok(write, Ret::Written);
        check(&h).expect("linearizable: r2 before the write, r1 after");
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_caught() {
        let h = History::new();
        let a = h.invoke(1, w("x", 1));
        h.ok(a, Ret::Written);
        let b = h.invoke(1, w("x", 2));
        h.ok(b, Ret::Written);
        let c = h.invoke(2, r("x"));
        h.ok(c, read(Some(1)));
        let err = check(&h).expect_err("a stale read");
        let Violation::NotLinearizable { key, stuck, value, .. } = &err else { panic!("{err}") };
        assert_eq!(key, "x");
        assert!(stuck.contains("client 2") && stuck.contains("Read(Some(1))"), "{err}");
        assert_eq!(*value, Some(2));
        assert!(err.to_string().contains("not linearizable"));
    }

    #[test]
    fn reads_going_back_between_two_clients_are_caught() {
        // r1 sees the write, r2 starts after r1 ended and sees the old value: the write is still in flight,
        // but no single point can be both before r1 and after r2.
        let h = History::new();
        let a = h.invoke(1, w("x", 1));
        h.ok(a, Ret::Written);
        let write = h.invoke(1, w("x", 2));
        let r1 = h.invoke(2, r("x"));
        h.ok(r1, read(Some(2)));
        let r2 = h.invoke(3, r("x"));
        h.ok(r2, read(Some(1)));
        h.ok(write, Ret::Written);
        assert!(matches!(check(&h), Err(Violation::NotLinearizable { .. })));
    }

    #[test]
    fn a_value_nobody_wrote_is_caught() {
        let h = History::new();
        let a = h.invoke(1, r("x"));
        h.ok(a, read(Some(7)));
        assert!(check(&h).is_err());
    }

    #[test]
    fn unknown_writes_may_or_may_not_have_happened() {
        // Seen by a later read: it happened (after its invocation, possibly long after).
        let h = History::new();
        let a = h.invoke(1, w("x", 1));
        h.ok(a, Ret::Written);
        let lost = h.invoke(1, w("x", 2));
        h.unknown(lost);
        let b = h.invoke(2, r("x"));
        h.ok(b, read(Some(1)));
        let c = h.invoke(2, r("x"));
        h.ok(c, read(Some(2)));
        let summary = check(&h).expect("the unknown write took effect between the reads");
        assert_eq!((summary.unknown_writes, summary.dropped_unknown_writes), (1, 0));

        // Never seen: it did not happen, or was overwritten; dropped before the search.
        let h = History::new();
        let lost = h.invoke(1, w("x", 5));
        h.unknown(lost);
        let a = h.invoke(2, r("x"));
        h.ok(a, read(None));
        let summary = check(&h).expect("linearizable");
        assert_eq!(summary.dropped_unknown_writes, 1);

        // Seen before it was invoked: impossible.
        let h = History::new();
        let a = h.invoke(2, r("x"));
        h.ok(a, read(Some(3)));
        let lost = h.invoke(1, w("x", 3));
        h.unknown(lost);
        assert!(check(&h).is_err());

        // Seen, then the old value again: it cannot be undone.
        let h = History::new();
        let a = h.invoke(1, w("x", 1));
        h.ok(a, Ret::Written);
        let lost = h.invoke(1, w("x", 2));
        h.unknown(lost);
        let b = h.invoke(2, r("x"));
        h.ok(b, read(Some(2)));
        let c = h.invoke(2, r("x"));
        h.ok(c, read(Some(1)));
        assert!(check(&h).is_err());
    }

    #[test]
    fn failed_and_unfinished_operations() {
        let h = History::new();
        let a = h.invoke(1, w("x", 1));
        h.failed(a);
        let pending_read = h.invoke(3, r("x"));
        let _ = pending_read;
        let b = h.invoke(2, r("x"));
        h.ok(b, read(None));
        check(&h).expect("a failed write took no effect; a pending read says nothing");

        let h = History::new();
        let a = h.invoke(1, w("x", 1));
        h.failed(a);
        let b = h.invoke(2, r("x"));
        h.ok(b, read(Some(1)));
        assert!(check(&h).is_err(), "a failed write must not be seen");

        // A write never completed is unknown: it may be seen.
        let h = History::new();
        let _pending = h.invoke(1, w("x", 4));
        let b = h.invoke(2, r("x"));
        h.ok(b, read(Some(4)));
        check(&h).expect("a pending write may have taken effect");
    }

    #[test]
    fn keys_are_checked_separately_and_violations_name_theirs() {
        let h = History::new();
        for (key, v) in [("a", 1), ("b", 2)] {
            let x = h.invoke(1, w(key, v));
            h.ok(x, Ret::Written);
        }
        let x = h.invoke(2, r("a"));
        h.ok(x, read(Some(1)));
        let x = h.invoke(2, r("b"));
        h.ok(x, read(Some(1)));
        match check(&h) {
            Err(Violation::NotLinearizable { key, .. }) => assert_eq!(key, "b"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn long_concurrent_histories_with_unknowns_finish_quickly() {
        // Four clients, overlapping writes and reads, and unknown writes that later reads see: thousands of
        // ops must stay far from the bound.
        let h = History::new();
        let mut value = 0;
        let mut current = None;
        for round in 0..2000u64 {
            let writer = (round % 4) + 1;
            value += 1;
            let wr = h.invoke(writer, w("k", value));
            let rd = h.invoke(10 + round % 3, r("k"));
            // The read overlaps the write and sees either side.
            let seen = if round % 2 == 0 { current } else { Some(value) };
            h.ok(rd, read(seen));
            if round % 10 == 0 {
                h.unknown(wr);
            } else {
                h.ok(wr, Ret::Written);
            }
            current = Some(value);
            let after = h.invoke(20, r("k"));
            h.ok(after, read(current));
        }
        let summary = check(&h).expect("linearizable");
        assert!(summary.steps < 1_000_000, "{summary:?}");
        assert_eq!(summary.unknown_writes, 200);
    }

    #[test]
    fn the_bound_is_reported() {
        let h = History::new();
        for v in 0..50 {
            let x = h.invoke(v, w("k", v));
            h.unknown(x);
        }
        for v in (0..50).rev() {
            let x = h.invoke(100, r("k"));
            h.ok(x, read(Some(v)));
        }
        // Write 1 was used up before 0: no linearization, and 2^50 subsets of the writes to rule out.
        h.ok(h.invoke(100, r("k")), read(Some(1)));
        assert!(matches!(check_with_limit(&h, 1000), Err(Violation::SearchBound { .. })));
    }

    #[test]
    fn session_order() {
        let h = History::new();
        h.observe(1, "x", 0, Some(1));
        h.observe(1, "x", 2, Some(3));
        h.observe(2, "x", 1, Some(2));
        h.observe(2, "y", 0, Some(9));
        h.observe(1, "x", 2, Some(3));
        assert_eq!(check_session_order(&h), Ok(SessionSummary { sessions: 2, observations: 5 }));

        h.observe(2, "x", 0, Some(1));
        let err = check_session_order(&h).expect_err("session 2 went back");
        assert_eq!((err.key.as_str(), err.earlier.version, err.later.version), ("x", 1, 0));

        let h = History::new();
        h.observe(1, "x", 4, Some(1));
        h.observe(2, "x", 4, Some(2));
        let err = check_session_order(&h).expect_err("two values at one version");
        assert_eq!(err.reason, "one version of the key has two values");
    }
}
