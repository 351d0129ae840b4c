//! WAL behaviour in normal operation: appends across segment rolls, replay, reopen, truncation, purge, and
//! the on-disk layout checked against docs/format.md with an independent decoder.

mod common;

use common::*;
use paddock_storage::{StorageError, Wal, WalOptions};

fn all_options() -> Vec<WalOptions> {
    let mut all = Vec::new();
    for fsync in [false, true] {
        for preallocate in [false, true] {
            all.push(WalOptions { segment_bytes: 1024, fsync, preallocate });
        }
    }
    all
}

#[test]
fn round_trip_across_segment_rolls_and_reopen() {
    for options in all_options() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), options).unwrap();
        assert_eq!((wal.first_index(), wal.last_index()), (None, None));
        append_range(&mut wal, 1..=120);
        wal.sync().unwrap();
        assert_eq!((wal.first_index(), wal.last_index()), (Some(1), Some(120)));
        assert_eq!(replay_all(&wal), expected(1..=120), "{options:?}");

        let segments = wal.segments();
        assert!(segments.len() > 5, "1 KiB segments must have rolled: {segments:?}");
        for pair in segments.windows(2) {
            assert_eq!(pair[1].first_index, pair[0].last_index.unwrap() + 1, "segments are contiguous");
            assert!(pair[0].bytes <= 1024, "a sealed segment stays within segment_bytes: {:?}", pair[0]);
            assert_eq!(std::fs::metadata(&pair[0].path).unwrap().len(), pair[0].bytes, "sealed = cut to its data");
        }
        for s in &segments {
            let name = s.path.file_name().unwrap().to_str().unwrap().to_string();
            assert_eq!(name, format!("{:020}.wal", s.first_index));
        }
        drop(wal);

        let mut wal = Wal::open(dir.path(), options).unwrap();
        assert_eq!(wal.segments(), segments, "reopen sees the same segments");
        append_range(&mut wal, 121..=130);
        wal.sync().unwrap();
        drop(wal);
        let wal = Wal::open(dir.path(), options).unwrap();
        assert_eq!(replay_all(&wal), expected(1..=130), "{options:?}");
    }
}

#[test]
fn replay_starts_at_the_requested_index_and_refuses_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), small(512)).unwrap();
    append_range(&mut wal, 10..=60);
    let mut seen = Vec::new();
    wal.replay(42, |i, p| {
        assert_eq!(p, payload(i));
        seen.push(i);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, (42..=60).collect::<Vec<_>>());

    let mut calls = 0;
    wal.replay(61, |_, _| {
        calls += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(calls, 0, "nothing after the last record");

    match wal.replay(9, |_, _| Ok(())) {
        Err(StorageError::Gap { from: 9, first: 10 }) => {}
        other => panic!("expected a gap error, got {other:?}"),
    }
}

#[test]
fn replay_stops_at_the_callbacks_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), small(4096)).unwrap();
    append_range(&mut wal, 1..=10);
    let mut seen = 0;
    let err = wal
        .replay(1, |i, _| {
            seen += 1;
            if i == 4 { Err(StorageError::Corrupt(format!("record {i} does not decode"))) } else { Ok(()) }
        })
        .unwrap_err();
    assert_eq!(seen, 4);
    assert_eq!(err.to_string(), "corrupt data: record 4 does not decode");
}

#[test]
fn append_must_continue_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), small(4096)).unwrap();
    wal.append(1000, b"an empty log starts anywhere").unwrap();
    match wal.append(1002, b"x") {
        Err(StorageError::OutOfOrder { expected: 1001, got: 1002 }) => {}
        other => panic!("expected OutOfOrder, got {other:?}"),
    }
    assert!(matches!(wal.append(1000, b"x"), Err(StorageError::OutOfOrder { .. })));
    wal.append(1001, b"y").unwrap();
    assert_eq!(wal.last_index(), Some(1001));
}

#[test]
fn a_record_larger_than_a_segment_gets_a_segment_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), small(256)).unwrap();
    wal.append(1, b"small").unwrap();
    let big = vec![7u8; 1000];
    wal.append(2, &big).unwrap();
    wal.append(3, b"after").unwrap();
    wal.sync().unwrap();
    let ranges: Vec<_> = wal.segments().iter().map(|s| (s.first_index, s.last_index)).collect();
    assert_eq!(ranges, vec![(1, Some(1)), (2, Some(2)), (3, Some(3))]);
    drop(wal);
    let wal = Wal::open(dir.path(), small(256)).unwrap();
    let records = replay_all(&wal);
    assert_eq!(records[1], (2, big));
}

#[test]
fn truncate_after_removes_newer_records_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions { segment_bytes: 600, fsync: true, preallocate: true };
    let mut wal = Wal::open(dir.path(), options).unwrap();
    append_range(&mut wal, 1..=80);
    wal.sync().unwrap();
    let before = wal.segments();
    let middle = &before[before.len() / 2];
    let cut = middle.first_index + 1;

    wal.truncate_after(cut).unwrap();
    assert_eq!(wal.last_index(), Some(cut));
    assert_eq!(replay_all(&wal), expected(1..=cut));
    assert!(before.iter().filter(|s| s.first_index > cut).all(|s| !s.path.exists()), "later segments deleted");
    // Appends continue after the cut, with new contents, and survive a reopen.
    wal.append(cut + 1, b"rewritten").unwrap();
    wal.sync().unwrap();
    drop(wal);
    let mut wal = Wal::open(dir.path(), options).unwrap();
    let records = replay_all(&wal);
    assert_eq!(records.len() as u64, cut + 1);
    assert_eq!(records.last().unwrap(), &(cut + 1, b"rewritten".to_vec()));

    // At a segment boundary: the segment starting right after the cut goes entirely.
    let boundary = wal.segments()[1].first_index - 1;
    wal.truncate_after(boundary).unwrap();
    assert_eq!(wal.segments().len(), 1);
    assert_eq!(wal.last_index(), Some(boundary));

    // At or after the last record: nothing to do.
    wal.truncate_after(boundary).unwrap();
    wal.truncate_after(u64::MAX).unwrap();
    assert_eq!(wal.last_index(), Some(boundary));

    // Below the first record: everything goes, and the log starts again anywhere.
    wal.truncate_after(0).unwrap();
    assert_eq!((wal.first_index(), wal.last_index()), (None, None));
    assert!(segment_paths(dir.path()).is_empty());
    wal.append(500, b"fresh start").unwrap();
    wal.sync().unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), options).unwrap();
    assert_eq!(replay_all(&wal), vec![(500, b"fresh start".to_vec())]);
}

#[test]
fn purge_before_deletes_only_segments_entirely_below_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), small(512)).unwrap();
    append_range(&mut wal, 1..=100);
    wal.sync().unwrap();
    let before = wal.segments();
    assert!(before.len() >= 4);
    let keep_from = before[2].first_index + 1; // a record inside the third segment

    let removed = wal.purge_before(keep_from).unwrap();
    assert_eq!(removed, vec![before[0].path.clone(), before[1].path.clone()]);
    assert!(removed.iter().all(|p| !p.exists()));
    assert_eq!(wal.first_index(), Some(before[2].first_index), "the segment holding keep_from stays");
    assert_eq!(replay_all(&wal), expected(before[2].first_index..=100));

    // Purging at a segment's first index removes its predecessor too.
    let removed = wal.purge_before(before[3].first_index).unwrap();
    assert_eq!(removed, vec![before[2].path.clone()]);

    // Never the active segment.
    wal.purge_before(u64::MAX).unwrap();
    let left = wal.segments();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].last_index, Some(100));
    assert_eq!(replay_all(&wal), expected(left[0].first_index..=100));
    assert!(matches!(wal.replay(1, |_, _| Ok(())), Err(StorageError::Gap { .. })));

    drop(wal);
    let mut wal = Wal::open(dir.path(), small(512)).unwrap();
    assert_eq!(wal.first_index(), Some(left[0].first_index));
    append_range(&mut wal, 101..=101);
}

#[test]
fn purge_before_keeps_unsynced_history_back_to_the_durable_mark() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), small(256)).unwrap();
    append_range(&mut wal, 1..=3);
    wal.sync().unwrap();
    let mark_segment = wal.segments().last().unwrap().first_index;
    append_range(&mut wal, 4..=40); // rolls several times, not synced
    wal.purge_before(u64::MAX).unwrap();
    assert_eq!(wal.first_index(), Some(mark_segment), "the segment of the last sync survives");
}

#[test]
fn segment_files_follow_the_documented_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), small(4096)).unwrap();
    append_range(&mut wal, 7..=12);
    wal.sync().unwrap();
    let path = dir.path().join("00000000000000000007.wal");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 4096, "preallocated to segment_bytes");
    assert_eq!(&bytes[0..4], b"PDKW");
    assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 1, "format version");
    assert_eq!(u64::from_le_bytes(bytes[8..16].try_into().unwrap()), 7, "first index");
    assert_eq!(&bytes[16..20], &[0, 0, 0, 0], "reserved");
    assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), crc32c::crc32c(&bytes[0..20]));
    let mut expected_bytes = bytes[0..24].to_vec();
    for i in 7..=12 {
        expected_bytes.extend(encode_record_by_spec(i, &payload(i)));
    }
    assert_eq!(&bytes[..expected_bytes.len()], &expected_bytes[..]);
    assert!(bytes[expected_bytes.len()..].iter().all(|&b| b == 0), "preallocated space is zero");
}

#[test]
fn an_empty_segment_left_by_a_crash_is_reused_or_replaced() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut wal = Wal::open(dir.path(), small(4096)).unwrap();
        wal.append(5, b"five").unwrap();
        wal.truncate_after(5).unwrap();
    }
    // A header-only segment, as left by a crash right after a segment was created.
    let path = dir.path().join("00000000000000000005.wal");
    let header = std::fs::read(&path).unwrap()[..24].to_vec();
    std::fs::write(&path, &header).unwrap();
    let mut wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!((wal.first_index(), wal.last_index()), (None, None));
    assert_eq!(wal.segments().len(), 1);
    wal.append(9, b"nine").unwrap();
    wal.sync().unwrap();
    assert!(!path.exists(), "the empty segment named 5 was replaced");
    drop(wal);
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!(replay_all(&wal), vec![(9, b"nine".to_vec())]);
}

#[test]
fn paths_follow_the_directory_layout() {
    let base = std::path::Path::new("/var/lib/zk");
    assert_eq!(paddock_storage::snap_dir(base), base.join("paddock/snap"));
    assert_eq!(paddock_storage::wal_dir(base), base.join("paddock/wal"));
}

#[test]
fn read_range_hands_out_exactly_the_records_of_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), small(512)).unwrap();
    append_range(&mut wal, 10..=60);
    assert!(wal.segments().len() > 3, "the range spans several segments");
    let read = |from, end| {
        let mut seen = Vec::new();
        wal.read_range(from, end, |i, p| {
            assert_eq!(p, payload(i));
            seen.push(i);
            Ok(())
        })
        .unwrap();
        seen
    };
    assert_eq!(read(20, 45), (20..45).collect::<Vec<_>>());
    assert_eq!(read(10, 11), vec![10]);
    assert_eq!(read(55, 1000), (55..=60).collect::<Vec<_>>(), "an end past the log stops at the last record");
    assert!(read(30, 30).is_empty(), "an empty range reads nothing");
    assert!(matches!(wal.read_range(5, 20, |_, _| Ok(())), Err(StorageError::Gap { from: 5, first: 10 })));
}

#[test]
fn clear_empties_the_log_which_then_accepts_any_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), WalOptions { segment_bytes: 512, fsync: true, preallocate: false }).unwrap();
    append_range(&mut wal, 0..=40);
    wal.sync().unwrap();
    wal.clear().unwrap();
    assert_eq!((wal.first_index(), wal.last_index()), (None, None));
    assert!(wal.segments().is_empty(), "every segment is deleted");
    append_range(&mut wal, 100..=105);
    wal.sync().unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), small(512)).unwrap();
    assert_eq!(replay_all(&wal), expected(100..=105), "after a reopen only the records appended after the clear");
}

#[test]
fn append_all_writes_what_appends_one_by_one_write_across_rolls() {
    for options in all_options() {
        let (one_dir, all_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut one_by_one = Wal::open(one_dir.path(), options).unwrap();
        append_range(&mut one_by_one, 1..=120);
        one_by_one.sync().unwrap();
        let mut batched = Wal::open(all_dir.path(), options).unwrap();
        let records: Vec<(u64, Vec<u8>)> = (1..=120).map(|i| (i, payload(i))).collect();
        for batch in records.chunks(37) {
            batched.append_all(batch).unwrap();
        }
        batched.sync().unwrap();
        assert_eq!(replay_all(&batched), expected(1..=120), "{options:?}");
        let layout =
            |wal: &Wal| wal.segments().iter().map(|s| (s.first_index, s.last_index, s.bytes)).collect::<Vec<_>>();
        assert_eq!(layout(&batched), layout(&one_by_one), "the same segments, {options:?}");
        for (a, b) in one_by_one.segments().iter().zip(batched.segments()) {
            assert_eq!(std::fs::read(&a.path).unwrap(), std::fs::read(&b.path).unwrap(), "{options:?}");
        }
    }
}

#[test]
fn append_all_appends_the_records_before_a_refused_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), small(4096)).unwrap();
    let records = [(1u64, payload(1)), (2, payload(2)), (4, payload(4)), (5, payload(5))];
    let err = wal.append_all(&records).unwrap_err();
    assert!(matches!(err, StorageError::OutOfOrder { expected: 3, got: 4 }), "{err}");
    wal.sync().unwrap();
    assert_eq!(replay_all(&wal), expected(1..=2));
    wal.append_all(&[(3, payload(3))]).unwrap();
    assert_eq!(wal.last_index(), Some(3), "the log goes on after the refusal");
}
