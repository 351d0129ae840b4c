//! Pacing a snapshot writer. A snapshot is background work that competes with requests for the same cores,
//! caches and disk; written flat out on a small machine it raises the tail latency of every write while it
//! runs (measured on 2 cores with 1M znodes: p99.9 of writes ~2x). Paced, the writer works only a share of
//! the wall-clock time and sleeps the rest, so a snapshot takes longer and requests barely notice it.
//! Snapshots only bound how much log a restart replays; the log holds every write meanwhile.

use std::time::{Duration, Instant};

/// The share of wall-clock time a snapshot writer may spend working, in (0, 1]; 1 is unpaced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace(f64);

impl Pace {
    /// No pacing: the writer runs flat out (offline tools, tests).
    pub const FULL: Pace = Pace(1.0);

    /// A pace working `share` of the time; `None` unless `0 < share <= 1`.
    pub const fn share(share: f64) -> Option<Pace> {
        if share > 0.0 && share <= 1.0 { Some(Pace(share)) } else { None }
    }

    pub const fn get(self) -> f64 {
        self.0
    }
}

/// A stall (a slow disk, a descheduled thread) counts as work; one long stall must not turn into an
/// equally long multiple of sleep.
const MAX_REST: Duration = Duration::from_secs(1);

/// Measures the work since the last rest and sleeps in proportion to it.
pub(crate) struct Pacer {
    pace: Pace,
    since: Instant,
}

impl Pacer {
    pub(crate) fn new(pace: Pace) -> Pacer {
        Pacer { pace, since: Instant::now() }
    }

    /// Called between pieces of work: sleeps so that work / (work + rest) is the pace's share.
    pub(crate) fn rest(&mut self) {
        if self.pace.0 < 1.0 {
            let work = self.since.elapsed();
            std::thread::sleep(work.mul_f64(1.0 / self.pace.0 - 1.0).min(MAX_REST));
        }
        self.since = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_must_be_in_range() {
        assert_eq!(Pace::share(0.25).map(Pace::get), Some(0.25));
        assert_eq!(Pace::share(1.0), Some(Pace::FULL));
        for bad in [0.0, -0.5, 1.01, f64::NAN, f64::INFINITY] {
            assert_eq!(Pace::share(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_paced_writer_rests_three_times_its_work_at_a_quarter_share() {
        let mut pacer = Pacer::new(Pace(0.25));
        let started = Instant::now();
        for _ in 0..4 {
            let work = Instant::now();
            while work.elapsed() < Duration::from_millis(10) {}
            pacer.rest();
        }
        // 40 ms of work at a quarter share: at least 120 ms of rest (sleeping only ever adds time).
        assert!(started.elapsed() >= Duration::from_millis(160), "{:?}", started.elapsed());
    }
}
