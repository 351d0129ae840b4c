//! Property test with injected failures: random appends, syncs, reopens, truncations and purges, with
//! writes, fsyncs and rolls failing once or for a while. After every step the log must hold exactly what
//! a `Vec` model says: everything appended since the last successful sync is dropped by a failure, nothing
//! else. Needs `--features failpoints`.
#![cfg(feature = "failpoints")]

mod common;

use common::*;
use paddock_storage::{StorageError, Wal, WalOptions};
use proptest::prelude::*;

const POINTS: [&str; 5] =
    ["wal::before_append", "wal::after_append", "wal::before_fsync", "wal::after_fsync", "wal::before_roll"];

#[derive(Debug, Clone)]
enum Op {
    Append {
        count: u8,
        len: u16,
    },
    Sync,
    Reopen,
    TruncateAfter {
        back: u8,
    },
    PurgeBefore {
        percent: u8,
    },
    /// Arms failpoint `point` to fail once, then appends `count` records and syncs.
    FailOnce {
        point: usize,
        count: u8,
    },
    /// Arms failpoint `point` for good, appends and syncs until something fails, tries twice more while
    /// the "disk" is still broken, then repairs it.
    FailForAWhile {
        point: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..6, 0u16..200).prop_map(|(count, len)| Op::Append { count, len }),
        2 => Just(Op::Sync),
        1 => Just(Op::Reopen),
        1 => (0u8..20).prop_map(|back| Op::TruncateAfter { back }),
        1 => (0u8..=100).prop_map(|percent| Op::PurgeBefore { percent }),
        2 => (0..POINTS.len(), 1u8..8).prop_map(|(point, count)| Op::FailOnce { point, count }),
        1 => (0..POINTS.len()).prop_map(|point| Op::FailForAWhile { point }),
    ]
}

struct Harness {
    dir: tempfile::TempDir,
    options: WalOptions,
    wal: Option<Wal>,
    model: Vec<(u64, Vec<u8>)>,
    /// How many of the model's records are durable.
    synced: usize,
    serial: u8,
}

impl Harness {
    fn wal(&mut self) -> &mut Wal {
        self.wal.as_mut().unwrap()
    }

    fn next_index(&self) -> u64 {
        self.model.last().map_or(1, |(i, _)| i + 1)
    }

    fn payload(&mut self, len: u16) -> Vec<u8> {
        self.serial = self.serial.wrapping_add(1);
        vec![self.serial | 1; len as usize]
    }

    /// One append as the server does it; a failure drops back to the durable records.
    fn append(&mut self, len: u16) -> Result<(), StorageError> {
        let (index, payload) = (self.next_index(), self.payload(len));
        match self.wal().append(index, &payload) {
            Ok(()) => {
                self.model.push((index, payload));
                Ok(())
            }
            Err(e) => {
                self.model.truncate(self.synced);
                Err(e)
            }
        }
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        match self.wal().sync() {
            Ok(()) => {
                self.synced = self.model.len();
                Ok(())
            }
            Err(e) => {
                self.model.truncate(self.synced);
                Err(e)
            }
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Append { count, len } => {
                for _ in 0..count {
                    self.append(len).unwrap();
                }
            }
            Op::Sync => self.sync().unwrap(),
            Op::Reopen => {
                self.wal = None;
                self.wal = Some(Wal::open(self.dir.path(), self.options).unwrap());
                self.synced = self.model.len();
            }
            Op::TruncateAfter { back } => {
                let Some((last, _)) = self.model.last() else { return };
                let target = last.saturating_sub(u64::from(back));
                self.wal().truncate_after(target).unwrap();
                self.model.retain(|(i, _)| *i <= target);
                self.synced = self.model.len();
            }
            Op::PurgeBefore { percent } => {
                let (Some((first, _)), Some((last, _))) = (self.model.first(), self.model.last()) else { return };
                let index = first + (last - first) * u64::from(percent) / 100;
                self.wal().purge_before(index).unwrap();
                let new_first = self.wal().first_index().unwrap();
                let dropped = self.model.iter().take_while(|(i, _)| *i < new_first).count();
                self.model.drain(..dropped);
                self.synced -= dropped;
            }
            Op::FailOnce { point, count } => {
                fail::cfg(POINTS[point], "1*return(eio)").unwrap();
                let mut failed = false;
                for _ in 0..count {
                    failed |= self.append(150).is_err();
                }
                failed |= self.sync().is_err();
                fail::remove(POINTS[point]);
                if !failed {
                    return;
                }
                // The disk is fine again: the log takes writes at once.
                self.append(10).unwrap();
                self.sync().unwrap();
            }
            Op::FailForAWhile { point } => {
                fail::cfg(POINTS[point], "return(eio)").unwrap();
                let mut attempts = 0;
                while self.append(150).and_then(|()| self.sync()).is_ok() {
                    attempts += 1;
                    if attempts > 20 {
                        break; // this point is not on the path of these writes (e.g. no roll happened)
                    }
                }
                let _ = self.append(5);
                let _ = self.sync();
                fail::remove(POINTS[point]);
                self.append(10).unwrap();
                self.sync().unwrap();
            }
        }
    }

    fn check(&self) {
        let wal = self.wal.as_ref().unwrap();
        assert_eq!(wal.first_index(), self.model.first().map(|(i, _)| *i));
        assert_eq!(wal.last_index(), self.model.last().map(|(i, _)| *i));
        assert_eq!(replay_all(wal), self.model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn failures_drop_exactly_the_unsynced_records(ops in proptest::collection::vec(op(), 1..30)) {
        let scenario = fail::FailScenario::setup();
        let dir = tempfile::tempdir().unwrap();
        let options = WalOptions { segment_bytes: 600, fsync: true, preallocate: true };
        let wal = Wal::open(dir.path(), options).unwrap();
        let mut h = Harness { dir, options, wal: Some(wal), model: Vec::new(), synced: 0, serial: 0 };
        for op in &ops {
            h.apply(op);
            h.check();
        }
        // A restart (without power loss: unsynced records are still in the page cache) shows the same log;
        // in particular no record dropped by a failure comes back.
        h.wal = None;
        h.wal = Some(Wal::open(h.dir.path(), options).unwrap());
        h.check();
        scenario.teardown();
    }
}
