//! What continuous archiving asks of a log purge: keep every segment that holds an entry not yet archived,
//! unless those segments weigh more than `paddock.backup.maxUnarchivedBytes` (a stalled archive must not
//! fill the disk). A standalone server's retention and a member's Raft log store both purge through it.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tracing::error;

use crate::SegmentInfo;

/// Where the log may be purged with archiving on.
#[derive(Debug, PartialEq, Eq)]
pub enum Bound {
    /// Below this index: the lower of what the log's owner wants purged and what is archived.
    Archived(u64),
    /// The segments holding unarchived entries weigh more than the cap: purge as wanted.
    OverCap { unarchived_bytes: u64 },
}

/// The purge bound given what the owner wants purged (`wanted`: below it), the last archived index, the
/// log's segments and the cap.
pub fn purge_bound(wanted: u64, archived: i64, segments: &[SegmentInfo], cap: u64) -> Bound {
    let unarchived_bytes = unarchived_bytes(segments, archived);
    if unarchived_bytes > cap {
        return Bound::OverCap { unarchived_bytes };
    }
    Bound::Archived(wanted.min(archived.max(0) as u64 + 1))
}

/// Bytes of the segments that hold at least one entry above `archived`.
pub fn unarchived_bytes(segments: &[SegmentInfo], archived: i64) -> u64 {
    segments.iter().filter(|s| s.last_index.is_some_and(|last| last as i64 > archived)).map(|s| s.bytes).sum()
}

/// The archive's position as a log's purges see it, shared between the archiver (which moves it) and the
/// log's writer (which asks it before deleting segments).
#[derive(Debug)]
pub struct ArchiveGate {
    /// The last archived index; 0 until the archive has been listed (nothing may go before that).
    archived: AtomicI64,
    cap: u64,
    /// Purges that went past unarchived entries because of the cap.
    cap_exceeded: AtomicU64,
}

impl ArchiveGate {
    pub fn new(max_unarchived_bytes: u64) -> ArchiveGate {
        ArchiveGate { archived: AtomicI64::new(0), cap: max_unarchived_bytes, cap_exceeded: AtomicU64::new(0) }
    }

    pub fn set_archived(&self, archived: i64) {
        self.archived.store(archived, Ordering::Release);
    }

    pub fn archived(&self) -> i64 {
        self.archived.load(Ordering::Acquire)
    }

    pub fn cap_exceeded(&self) -> u64 {
        self.cap_exceeded.load(Ordering::Acquire)
    }

    /// Where a purge that wants everything below `wanted` gone may go: below the first unarchived entry,
    /// or below `wanted` once the unarchived segments pass the cap (logged as an error and counted: the
    /// archive gets a gap, which its archiver names too).
    pub fn purge_below(&self, wanted: u64, segments: &[SegmentInfo]) -> u64 {
        let archived = self.archived();
        match purge_bound(wanted, archived, segments, self.cap) {
            Bound::Archived(below) => below,
            Bound::OverCap { unarchived_bytes } => {
                self.cap_exceeded.fetch_add(1, Ordering::AcqRel);
                error!(
                    archived,
                    unarchived_bytes,
                    max_unarchived_bytes = self.cap,
                    "log segments holding unarchived entries exceed paddock.backup.maxUnarchivedBytes: purging the \
                     log as if archiving were off; entries purged before they are archived leave a gap in the archive"
                );
                wanted
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn segment(first: u64, last: Option<u64>, bytes: u64) -> SegmentInfo {
        SegmentInfo { path: PathBuf::from(format!("{first:020}.wal")), first_index: first, last_index: last, bytes }
    }

    #[test]
    fn the_log_is_kept_until_archived_within_the_cap() {
        let log = [segment(1, Some(100), 1000), segment(101, Some(200), 1000), segment(201, Some(250), 500)];
        // The archive is behind the snapshots: it decides.
        assert_eq!(purge_bound(201, 150, &log, 10_000), Bound::Archived(151));
        // The snapshots are behind the archive: they decide.
        assert_eq!(purge_bound(101, 250, &log, 10_000), Bound::Archived(101));
        // Nothing archived (or the target cannot be listed): nothing purged.
        assert_eq!(purge_bound(201, 0, &log, 10_000), Bound::Archived(1));
        // Segments 2 and 3 hold unarchived entries: 1500 bytes.
        assert_eq!(unarchived_bytes(&log, 150), 1500);
        assert_eq!(purge_bound(201, 150, &log, 1500), Bound::Archived(151), "at the cap is within it");
        assert_eq!(purge_bound(201, 150, &log, 1499), Bound::OverCap { unarchived_bytes: 1500 });
        // A segment without records (a fresh active one) holds nothing unarchived.
        let fresh = [segment(1, Some(100), 1000), segment(101, None, 64)];
        assert_eq!(unarchived_bytes(&fresh, 100), 0);
        assert_eq!(unarchived_bytes(&fresh, 99), 1000);
    }

    #[test]
    fn the_gate_holds_purges_back_until_the_cap_and_counts_passing_it() {
        let log = [segment(1, Some(100), 1000), segment(101, Some(200), 1000)];
        let gate = ArchiveGate::new(2000);
        assert_eq!(gate.purge_below(150, &log), 1, "nothing archived yet: nothing purged");
        gate.set_archived(120);
        assert_eq!(gate.purge_below(150, &log), 121);
        assert_eq!(gate.purge_below(101, &log), 101, "the log's owner wants less");
        let small = ArchiveGate::new(1500);
        small.set_archived(50);
        assert_eq!(small.purge_below(150, &log), 150, "2000 unarchived bytes, over the cap: purged as wanted");
        assert_eq!((small.cap_exceeded(), gate.cap_exceeded()), (1, 0));
    }
}
