//! Property test: random sequences of appends, syncs, reopens, truncations, purges and torn tails, checked
//! against a plain `Vec` of records after every step.

mod common;

use std::fs;

use common::*;
use paddock_storage::{Wal, WalOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Appends `count` records with payloads of `len` bytes; an empty log starts at `start`.
    Append {
        count: u8,
        len: u16,
        start: u64,
    },
    Sync,
    Reopen,
    /// Truncates after `last - back` (below the first record when `back` is large).
    TruncateAfter {
        back: u8,
    },
    /// Purges before an index `percent`% of the way through the log.
    PurgeBefore {
        percent: u8,
    },
    /// Closes the log and damages its last segment from a point `percent`% into its records: cut off,
    /// zeroed or garbled, as a crash can leave it.
    Tear {
        percent: u8,
        how: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..6, 0u16..300, 1u64..1000).prop_map(|(count, len, start)| Op::Append { count, len, start }),
        2 => Just(Op::Sync),
        1 => Just(Op::Reopen),
        1 => (0u8..30).prop_map(|back| Op::TruncateAfter { back }),
        1 => (0u8..=100).prop_map(|percent| Op::PurgeBefore { percent }),
        1 => (0u8..=100, 0u8..3).prop_map(|(percent, how)| Op::Tear { percent, how }),
    ]
}

fn body(index: u64, len: u16) -> Vec<u8> {
    (0..len).map(|k| (index as u8).wrapping_add(k as u8) | 1).collect()
}

struct Harness {
    dir: tempfile::TempDir,
    options: WalOptions,
    wal: Option<Wal>,
    model: Vec<(u64, Vec<u8>)>,
}

impl Harness {
    fn wal(&mut self) -> &mut Wal {
        self.wal.as_mut().unwrap()
    }

    fn reopen(&mut self) {
        self.wal = None;
        self.wal = Some(Wal::open(self.dir.path(), self.options).unwrap());
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Append { count, len, start } => {
                let next = self.model.last().map_or(start, |(i, _)| i + 1);
                for index in next..next + u64::from(count) {
                    let payload = body(index, len);
                    self.wal().append(index, &payload).unwrap();
                    self.model.push((index, payload));
                }
            }
            Op::Sync => self.wal().sync().unwrap(),
            Op::Reopen => self.reopen(),
            Op::TruncateAfter { back } => {
                let Some((last, _)) = self.model.last() else { return };
                let target = last.saturating_sub(u64::from(back));
                self.wal().truncate_after(target).unwrap();
                self.model.retain(|(i, _)| *i <= target);
            }
            Op::PurgeBefore { percent } => {
                let (Some((first, _)), Some((last, _))) = (self.model.first(), self.model.last()) else { return };
                let (first, last) = (*first, *last);
                let index = first + (last - first) * u64::from(percent) / 100;
                self.wal().purge_before(index).unwrap();
                let new_first = self.wal().first_index().unwrap();
                assert!(new_first >= first && new_first <= index.max(first), "purge removed a needed record");
                self.model.retain(|(i, _)| *i >= new_first);
            }
            Op::Tear { percent, how } => self.tear(percent, how),
        }
    }

    fn tear(&mut self, percent: u8, how: u8) {
        let Some(segment) = self.wal().segments().last().cloned() else { return };
        self.wal = None;
        let spans: Vec<(u64, u64, u64)> = record_spans(segment.first_index, segment.last_index.unwrap_or(0), |i| {
            self.model.iter().find(|(j, _)| *j == i).map_or(0, |(_, p)| p.len())
        })
        .into_iter()
        .filter(|_| segment.last_index.is_some())
        .collect();
        let end = segment.bytes;
        let cut = SEGMENT_HEADER + (end - SEGMENT_HEADER) * u64::from(percent) / 100;
        let original = fs::read(&segment.path).unwrap();
        let mut bytes = original.clone();
        match how {
            0 => bytes.truncate(cut as usize),
            1 => bytes[cut as usize..].fill(0),
            _ => bytes[cut as usize..end as usize].iter_mut().for_each(|b| *b = 0xC3),
        }
        fs::write(&segment.path, &bytes).unwrap();
        // The first record the damage reached is the torn tail: it and everything after it are lost. Damage
        // that rewrites bytes with their own values (zeros over an index's high bytes) reaches nothing.
        let reached = |&(_, start, end): &(u64, u64, u64)| {
            bytes.get(start as usize..end as usize) != original.get(start as usize..end as usize)
        };
        let lost_from = spans.iter().find(|span| reached(span)).map(|(i, _, _)| *i);
        self.model.retain(|(i, _)| lost_from.is_none_or(|from| *i < from));
        self.reopen();
    }

    fn check(&mut self) {
        let model_first = self.model.first().map(|(i, _)| *i);
        let model_last = self.model.last().map(|(i, _)| *i);
        let wal = self.wal.as_ref().unwrap();
        assert_eq!((wal.first_index(), wal.last_index()), (model_first, model_last));
        assert_eq!(replay_all(wal), self.model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_log_behaves_like_a_vec(
        ops in proptest::collection::vec(op(), 1..40),
        preallocate in any::<bool>(),
        fsync in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let options = WalOptions { segment_bytes: 700, fsync, preallocate };
        let wal = Wal::open(dir.path(), options).unwrap();
        let mut h = Harness { dir, options, wal: Some(wal), model: Vec::new() };
        for op in &ops {
            h.apply(op);
            h.check();
        }
        h.reopen();
        h.check();
    }
}
