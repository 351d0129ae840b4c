//! Recovery at `Wal::open` (docs/format.md, 2.4): torn tails are cut with a warning, everything else that
//! is damaged is refused with the file, offset and index, and `check_wal` reports the same without writing.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use paddock_storage::{StorageError, Wal, WalOptions, WalProblemKind, check_wal};

const SEGMENT_BYTES: u64 = 1024;

/// A log of records 1..=`at_least` or a few more, so that the last of its 1 KiB segments holds at least
/// four records; synced and closed. Returns the last segment's path and the spans of its records.
fn build(dir: &Path, at_least: u64, options: WalOptions) -> (PathBuf, Vec<(u64, u64, u64)>) {
    let mut wal = Wal::open(dir, options).unwrap();
    append_range(&mut wal, 1..=at_least);
    let mut last = at_least;
    while wal.segments().last().map(|s| s.last_index.unwrap() - s.first_index) < Some(3) {
        last += 1;
        append_range(&mut wal, last..=last);
    }
    wal.sync().unwrap();
    let segment = wal.segments().last().unwrap().clone();
    let spans = record_spans(segment.first_index, last, |i| payload(i).len());
    assert_eq!(spans.last().unwrap().2, segment.bytes, "test and crate agree on the layout");
    (segment.path, spans)
}

fn expect_corrupt(result: Result<Wal, StorageError>) -> (PathBuf, u64, u64, String) {
    match result {
        Err(StorageError::WalCorrupt { path, offset, index, reason }) => (path, offset, index, reason),
        Err(other) => panic!("expected WalCorrupt, got {other}"),
        Ok(wal) => panic!("expected WalCorrupt, but the log opened with last index {:?}", wal.last_index()),
    }
}

fn snapshot_dir(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.into_iter().map(|p| (p.clone(), fs::read(&p).unwrap())).collect()
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    /// The file ends at the cut (no preallocated tail).
    Cut,
    /// Zeros from the cut on: a write that never reached the disk in preallocated space.
    Zeros,
    /// Non-zero junk from the cut to the end of the last record: stale or garbled sectors.
    Garbage,
}

fn damage(path: &Path, cut: u64, end: u64, how: Damage) {
    let mut bytes = fs::read(path).unwrap();
    match how {
        Damage::Cut => bytes.truncate(cut as usize),
        Damage::Zeros => bytes[cut as usize..].fill(0),
        Damage::Garbage => {
            for (k, b) in bytes[cut as usize..end as usize].iter_mut().enumerate() {
                *b = (k as u8).wrapping_mul(31).wrapping_add(0xA5) | 1;
            }
        }
    }
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_cut_anywhere_in_the_last_two_records_recovers_exactly_the_whole_records_before_it() {
    for how in [Damage::Cut, Damage::Zeros, Damage::Garbage] {
        let pristine = tempfile::tempdir().unwrap();
        let (last_path, spans) = build(pristine.path(), 40, small(SEGMENT_BYTES));
        let name = last_path.file_name().unwrap().to_owned();
        let (_, from, _) = spans[spans.len() - 2];
        let (_, _, end) = spans[spans.len() - 1];

        for cut in from..=end {
            if matches!(how, Damage::Garbage) && cut == end {
                continue; // nothing to garble
            }
            let dir = tempfile::tempdir().unwrap();
            for (path, bytes) in snapshot_dir(pristine.path()) {
                fs::write(dir.path().join(path.file_name().unwrap()), bytes).unwrap();
            }
            let target = dir.path().join(&name);
            damage(&target, cut, end, how);
            let survivors = spans.iter().filter(|(_, _, e)| *e <= cut).map(|(i, _, _)| *i).max().unwrap_or(0);
            let at_boundary = spans.iter().any(|(_, _, e)| *e == cut) || cut == spans[0].1;

            let report = check_wal(dir.path()).unwrap();
            assert_eq!(report.last_index, Some(survivors), "{how:?} cut at {cut}");
            assert!(!report.is_corrupt(), "{how:?} cut at {cut}: {:?}", report.problems);

            let (wal, warnings) = capture_warnings(|| Wal::open(dir.path(), small(SEGMENT_BYTES)));
            let mut wal = wal.unwrap_or_else(|e| panic!("{how:?} cut at {cut}: {e}"));
            assert_eq!(wal.last_index(), Some(survivors), "{how:?} cut at {cut}");
            assert_eq!(replay_all(&wal), expected(1..=survivors), "{how:?} cut at {cut}");
            let torn_warnings = warnings.iter().filter(|w| w.contains("torn tail")).count();
            if at_boundary && !matches!(how, Damage::Garbage) {
                assert_eq!(torn_warnings, 0, "{how:?} cut at a record boundary {cut} is a clean end: {warnings:?}");
            } else {
                assert_eq!(torn_warnings, 1, "{how:?} cut at {cut}: {warnings:?}");
                let w = warnings.iter().find(|w| w.contains("torn tail")).unwrap();
                let offset = spans.iter().find(|(i, _, _)| *i == survivors + 1).unwrap().1;
                assert!(w.contains(&format!("offset={offset}")), "{w}");
                assert!(w.contains(&format!("expected_index={}", survivors + 1)), "{w}");
                assert!(w.contains(&target.display().to_string()), "{w}");
            }
            // The log carries on after the cut, and the repaired file holds nothing after the data.
            wal.append(survivors + 1, b"after recovery").unwrap();
            wal.sync().unwrap();
            drop(wal);
            let wal = Wal::open(dir.path(), small(SEGMENT_BYTES)).unwrap();
            assert_eq!(wal.last_index(), Some(survivors + 1), "{how:?} cut at {cut}");
            assert!(check_wal(dir.path()).unwrap().problems.is_empty());
        }
    }
}

#[test]
fn a_flipped_bit_in_a_middle_record_is_corruption_naming_file_offset_and_index() {
    let pristine = tempfile::tempdir().unwrap();
    let (last_path, spans) = build(pristine.path(), 40, small(SEGMENT_BYTES));
    let (index, start, end) = spans[1]; // followed by at least one more record
    for offset in start..end {
        let dir = tempfile::tempdir().unwrap();
        for (path, bytes) in snapshot_dir(pristine.path()) {
            fs::write(dir.path().join(path.file_name().unwrap()), bytes).unwrap();
        }
        let target = dir.path().join(last_path.file_name().unwrap());
        flip_bit(&target, offset, (offset % 8) as u8);
        let before = snapshot_dir(dir.path());

        let (path, at, expected_index, reason) = expect_corrupt(Wal::open(dir.path(), small(SEGMENT_BYTES)));
        assert_eq!((path.as_path(), at, expected_index), (target.as_path(), start, index), "flip at {offset}");
        assert!(reason.contains("follows"), "{reason}");
        assert_eq!(snapshot_dir(dir.path()), before, "a refused open modifies nothing");

        let report = check_wal(dir.path()).unwrap();
        assert!(report.is_corrupt());
        let problem = &report.problems[0];
        assert_eq!((problem.kind, problem.offset, problem.index), (WalProblemKind::Corrupt, start, index));
    }
}

#[test]
fn a_flipped_bit_in_a_sealed_segment_is_corruption_even_in_its_last_record() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 40, small(SEGMENT_BYTES));
    let wal = Wal::open(dir.path(), small(SEGMENT_BYTES)).unwrap();
    let sealed = wal.segments()[0].clone();
    drop(wal);
    let spans = record_spans(sealed.first_index, sealed.last_index.unwrap(), |i| payload(i).len());
    let (index, start, end) = *spans.last().unwrap();
    flip_bit(&sealed.path, end - 1, 3);
    let (path, offset, expected_index, reason) = expect_corrupt(Wal::open(dir.path(), small(SEGMENT_BYTES)));
    assert_eq!((path, offset, expected_index), (sealed.path.clone(), start, index));
    assert!(reason.contains("sealed"), "{reason}");
    let message = Wal::open(dir.path(), small(SEGMENT_BYTES)).unwrap_err().to_string();
    assert!(message.contains(&sealed.path.display().to_string()) && message.contains(&format!("offset {start}")));
}

#[test]
fn a_flipped_bit_in_the_final_record_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (last_path, spans) = build(dir.path(), 40, small(SEGMENT_BYTES));
    let (index, start, end) = *spans.last().unwrap();
    flip_bit(&last_path, (start + end) / 2, 5);

    let report = check_wal(dir.path()).unwrap();
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].kind, WalProblemKind::TornTail);
    assert_eq!((report.problems[0].offset, report.problems[0].index), (start, index));
    assert_eq!(report.last_index, Some(index - 1));

    let (wal, warnings) = capture_warnings(|| Wal::open(dir.path(), small(SEGMENT_BYTES)));
    let wal = wal.unwrap();
    assert_eq!(wal.last_index(), Some(index - 1));
    assert_eq!(warnings.iter().filter(|w| w.contains("torn tail")).count(), 1, "{warnings:?}");
}

#[test]
fn garbage_after_the_preallocated_zeros_is_dropped_unless_it_holds_a_later_record() {
    let dir = tempfile::tempdir().unwrap();
    let (last_path, spans) = build(dir.path(), 40, small(SEGMENT_BYTES));
    let data_end = spans.last().unwrap().2;
    let mut bytes = fs::read(&last_path).unwrap();
    assert_eq!(bytes.len() as u64, SEGMENT_BYTES);
    let junk_at = bytes.len() - 50;
    bytes[junk_at..].fill(0x5A);
    fs::write(&last_path, &bytes).unwrap();

    let report = check_wal(dir.path()).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!((report.problems[0].kind, report.problems[0].offset), (WalProblemKind::TornTail, data_end));
    assert_eq!(fs::read(&last_path).unwrap(), bytes, "check writes nothing");

    let last = spans.last().unwrap().0;
    let wal = Wal::open(dir.path(), small(SEGMENT_BYTES)).unwrap();
    assert_eq!(wal.last_index(), Some(last));
    let repaired = fs::read(&last_path).unwrap();
    assert!(repaired[data_end as usize..].iter().all(|&b| b == 0), "the junk is gone");
    drop(wal);

    // A valid record with a later index after the zeros cannot be a torn write.
    let mut bytes = fs::read(&last_path).unwrap();
    let record = encode_record_by_spec(last + 2, b"written after a hole");
    let at = bytes.len() - record.len() - 8;
    bytes[at..at + record.len()].copy_from_slice(&record);
    fs::write(&last_path, &bytes).unwrap();
    let (path, offset, index, _) = expect_corrupt(Wal::open(dir.path(), small(SEGMENT_BYTES)));
    assert_eq!((path, offset, index), (last_path, data_end, last + 1));
}

#[test]
fn a_valid_record_with_the_wrong_index_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (last_path, spans) = build(dir.path(), 40, small(SEGMENT_BYTES));
    let (index, start, _) = *spans.last().unwrap();
    let mut bytes = fs::read(&last_path).unwrap();
    let replacement = encode_record_by_spec(index + 5, &payload(index));
    bytes[start as usize..start as usize + replacement.len()].copy_from_slice(&replacement);
    fs::write(&last_path, bytes).unwrap();
    let (_, offset, expected_index, reason) = expect_corrupt(Wal::open(dir.path(), small(SEGMENT_BYTES)));
    assert_eq!((offset, expected_index), (start, index));
    assert!(reason.contains(&format!("index {}", index + 5)), "{reason}");
}

#[test]
fn a_segment_header_with_a_bad_checksum_is_corruption() {
    for which in ["first", "last"] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), 40, small(SEGMENT_BYTES));
        let paths = segment_paths(dir.path());
        let target = if which == "first" { paths[0].clone() } else { paths.last().unwrap().clone() };
        flip_bit(&target, 10, 0);
        let (path, offset, _, reason) = expect_corrupt(Wal::open(dir.path(), small(SEGMENT_BYTES)));
        assert_eq!((path, offset), (target, 0), "{which}");
        assert!(reason.contains("checksum"), "{reason}");
    }
}

#[test]
fn a_header_naming_another_index_than_the_file_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 40, small(SEGMENT_BYTES));
    let paths = segment_paths(dir.path());
    let renamed = dir.path().join("00000000000000000099.wal");
    fs::rename(paths.last().unwrap(), &renamed).unwrap();
    let (path, _, _, reason) = expect_corrupt(Wal::open(dir.path(), small(SEGMENT_BYTES)));
    assert_eq!(path, renamed);
    assert!(reason.contains("file name"), "{reason}");
}

#[test]
fn a_missing_segment_is_corruption_naming_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 60, small(SEGMENT_BYTES));
    let paths = segment_paths(dir.path());
    assert!(paths.len() >= 3);
    fs::remove_file(&paths[1]).unwrap();
    let (path, _, _, reason) = expect_corrupt(Wal::open(dir.path(), small(SEGMENT_BYTES)));
    assert_eq!(path, paths[2]);
    assert!(reason.contains(&paths[0].display().to_string()), "{reason}");
}

#[test]
fn temp_files_are_deleted_and_foreign_files_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 20, small(SEGMENT_BYTES));
    let tmp = dir.path().join("00000000000000000021.wal.tmp");
    fs::write(&tmp, b"half a header").unwrap();
    let foreign = dir.path().join("README.txt");
    fs::write(&foreign, b"not a segment").unwrap();
    let odd = dir.path().join("21.wal");
    fs::write(&odd, b"not 20 digits").unwrap();

    let report = check_wal(dir.path()).unwrap();
    assert_eq!(report.temp_files, vec![tmp.clone()]);
    assert!(report.problems.is_empty());
    assert!(tmp.exists(), "check deletes nothing");

    let wal = Wal::open(dir.path(), small(SEGMENT_BYTES)).unwrap();
    assert_eq!(wal.last_index(), Some(20));
    assert!(!tmp.exists());
    assert!(foreign.exists() && odd.exists());
}

#[test]
fn a_blank_last_segment_is_deleted_with_a_warning() {
    for contents in [Vec::new(), vec![0u8; 4096]] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), 20, small(SEGMENT_BYTES));
        let blank = dir.path().join("00000000000000000021.wal");
        fs::write(&blank, &contents).unwrap();

        let report = check_wal(dir.path()).unwrap();
        assert_eq!(report.problems.len(), 1);
        assert_eq!((report.problems[0].kind, report.problems[0].index), (WalProblemKind::BlankLastSegment, 21));

        let (wal, warnings) = capture_warnings(|| Wal::open(dir.path(), small(SEGMENT_BYTES)));
        let mut wal = wal.unwrap();
        assert!(!blank.exists());
        assert!(warnings.iter().any(|w| w.contains("blank last WAL segment")), "{warnings:?}");
        assert_eq!(wal.last_index(), Some(20));
        wal.append(21, b"next").unwrap();
    }
}

#[test]
fn a_blank_segment_that_is_not_the_last_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 60, small(SEGMENT_BYTES));
    let paths = segment_paths(dir.path());
    fs::write(&paths[1], b"").unwrap();
    let (path, offset, _, _) = expect_corrupt(Wal::open(dir.path(), small(SEGMENT_BYTES)));
    assert_eq!((path, offset), (paths[1].clone(), 0));
}

#[test]
fn check_reports_ranges_and_segments_of_a_healthy_log() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 60, small(SEGMENT_BYTES));
    let wal = Wal::open(dir.path(), small(SEGMENT_BYTES)).unwrap();
    let report = check_wal(dir.path()).unwrap();
    assert_eq!((report.first_index, report.last_index), (Some(1), Some(60)));
    assert_eq!(report.segments, wal.segments());
    assert!(report.problems.is_empty() && report.temp_files.is_empty() && !report.is_corrupt());
    assert!(matches!(check_wal(&dir.path().join("missing")), Err(StorageError::Io { .. })));
}
