//! Injected I/O failures (docs/format.md, 2.5, 3.4 and 4): after a failed write or fsync the log is back at
//! its last successful sync, refuses to write while the disk keeps failing, and works again once it
//! recovers; replay then shows exactly the acknowledged records. Snapshots never leave partial files.
//!
//! Needs `--features failpoints`. Every test holds a `FailScenario`, which serializes them: the failpoint
//! registry is global.
#![cfg(feature = "failpoints")]

mod common;

use std::fs;
use std::io::Write;
use std::panic::AssertUnwindSafe;

use common::*;
use paddock_storage::{
    Compression, SnapshotHeader, StorageError, Wal, WalOptions, clean_snapshot_temp_files, list_snapshots,
    purge_snapshots, verify_snapshot, write_snapshot,
};

fn durable(segment_bytes: u64) -> WalOptions {
    WalOptions { segment_bytes, fsync: true, preallocate: true }
}

fn os_error(err: &StorageError) -> Option<i32> {
    match err {
        StorageError::Io { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

/// Records 1..=5 synced, 6 and 7 appended but not synced.
fn log_with_unsynced_tail(dir: &std::path::Path, options: WalOptions) -> Wal {
    let mut wal = Wal::open(dir, options).unwrap();
    append_range(&mut wal, 1..=5);
    wal.sync().unwrap();
    append_range(&mut wal, 6..=7);
    wal
}

fn retried(i: u64) -> Vec<u8> {
    format!("retried {i}").into_bytes()
}

#[test]
fn enospc_on_append_rolls_back_to_the_last_sync_and_appends_resume() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mut wal = log_with_unsynced_tail(dir.path(), durable(4096));

    fail::cfg("wal::before_append", "return(enospc)").unwrap();
    let err = wal.append(8, b"eight").unwrap_err();
    assert_eq!(os_error(&err), Some(libc::ENOSPC), "{err}");
    assert_eq!(wal.last_index(), Some(5), "unsynced 6 and 7 are gone with the failure");
    assert_eq!(replay_all(&wal), expected(1..=5));

    fail::remove("wal::before_append");
    for i in 6..=8 {
        wal.append(i, &retried(i)).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), durable(4096)).unwrap();
    let mut want = expected(1..=5);
    want.extend((6..=8).map(|i| (i, retried(i))));
    assert_eq!(replay_all(&wal), want);
    scenario.teardown();
}

#[test]
fn a_failed_write_that_reached_the_file_does_not_come_back() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), durable(4096)).unwrap();
    append_range(&mut wal, 1..=5);
    wal.sync().unwrap();
    let data_end = wal.segments()[0].bytes;

    fail::cfg("wal::after_append", "return(eio)").unwrap();
    let err = wal.append(6, &payload(6)).unwrap_err();
    assert_eq!(os_error(&err), Some(libc::EIO));
    assert_eq!(wal.last_index(), Some(5));
    fail::remove("wal::after_append");
    drop(wal);

    let bytes = fs::read(dir.path().join("00000000000000000001.wal")).unwrap();
    assert!(bytes[data_end as usize..].iter().all(|&b| b == 0), "the written record was cut away");
    let wal = Wal::open(dir.path(), durable(4096)).unwrap();
    assert_eq!(replay_all(&wal), expected(1..=5));
    scenario.teardown();
}

#[test]
fn eio_on_fsync_fails_the_log_until_the_disk_recovers() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mut wal = log_with_unsynced_tail(dir.path(), durable(4096));

    fail::cfg("wal::before_fsync", "return(eio)").unwrap();
    let err = wal.sync().unwrap_err();
    assert_eq!(os_error(&err), Some(libc::EIO), "{err}");
    assert_eq!(wal.last_index(), Some(5));
    // The rollback needs an fsync too, so the log stays failed and says why.
    for attempt in [wal.append(6, b"x"), wal.sync(), wal.truncate_after(2)] {
        match attempt {
            Err(StorageError::Failed { cause, .. }) => assert!(cause.contains("fsync"), "{cause}"),
            other => panic!("expected Failed, got {other:?}"),
        }
    }
    assert_eq!(replay_all(&wal), expected(1..=5), "durable records stay readable");

    fail::remove("wal::before_fsync");
    wal.append(6, &retried(6)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), durable(4096)).unwrap();
    let mut want = expected(1..=5);
    want.push((6, retried(6)));
    assert_eq!(replay_all(&wal), want, "none lost, none duplicated, no unacknowledged record");
    scenario.teardown();
}

#[test]
fn an_fsync_that_ran_but_failed_is_not_trusted() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mut wal = log_with_unsynced_tail(dir.path(), durable(4096));

    // Fails once; the rollback's own fsync then succeeds, so the log is usable at once.
    fail::cfg("wal::after_fsync", "1*return(eio)").unwrap();
    let err = wal.sync().unwrap_err();
    assert_eq!(os_error(&err), Some(libc::EIO));
    assert_eq!(wal.last_index(), Some(5));
    wal.append(6, &retried(6)).unwrap();
    wal.sync().unwrap();
    fail::remove("wal::after_fsync");
    drop(wal);
    let wal = Wal::open(dir.path(), durable(4096)).unwrap();
    let mut want = expected(1..=5);
    want.push((6, retried(6)));
    assert_eq!(replay_all(&wal), want);
    scenario.teardown();
}

#[test]
fn a_failed_roll_leaves_a_contiguous_log() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), durable(300)).unwrap();
    append_range(&mut wal, 1..=2);
    wal.sync().unwrap();

    fail::cfg("wal::before_roll", "return(eio)").unwrap();
    let mut next = 3;
    let err = loop {
        match wal.append(next, &payload(next)) {
            Ok(()) => next += 1,
            Err(e) => break e,
        }
        assert!(next < 100, "a roll must have been attempted");
    };
    assert_eq!(os_error(&err), Some(libc::EIO));
    assert_eq!(wal.last_index(), Some(2));
    fail::remove("wal::before_roll");

    append_range(&mut wal, 3..=30);
    wal.sync().unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), durable(300)).unwrap();
    assert_eq!(replay_all(&wal), expected(1..=30));
    assert!(wal.segments().len() > 3);
    scenario.teardown();
}

#[test]
fn an_fsync_failure_while_creating_a_segment_is_rolled_back() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), durable(300)).unwrap();
    append_range(&mut wal, 1..=2);
    wal.sync().unwrap();
    // Find the append that rolls: the one that does not fit in the active segment.
    let mut next = 3;
    while wal.segments().last().unwrap().bytes + 16 + payload(next).len() as u64 <= 300 {
        wal.append(next, &payload(next)).unwrap();
        next += 1;
    }
    let segments_before = wal.segments().len();
    // The seal's fsync passes, the new segment's fsync fails once.
    fail::cfg("wal::before_fsync", "1*off->1*return(eio)").unwrap();
    let err = wal.append(next, &payload(next)).unwrap_err();
    assert_eq!(os_error(&err), Some(libc::EIO), "{err}");
    assert_eq!(wal.last_index(), Some(2));
    assert_eq!(segment_paths(dir.path()).len(), segments_before, "the half-made segment is gone");
    assert!(fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().path().to_string_lossy().ends_with(".tmp")));
    fail::remove("wal::before_fsync");

    append_range(&mut wal, 3..=20);
    wal.sync().unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), durable(300)).unwrap();
    assert_eq!(replay_all(&wal), expected(1..=20));
    scenario.teardown();
}

#[test]
fn a_failed_append_into_a_segment_left_empty_by_a_crash_recovers() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    {
        let mut wal = Wal::open(dir.path(), durable(4096)).unwrap();
        append_range(&mut wal, 1..=5);
        wal.sync().unwrap();
    }
    // A header-only segment 6, as a crash right after creating it leaves behind.
    let mut header = b"PDKW".to_vec();
    header.extend_from_slice(&1u32.to_le_bytes());
    header.extend_from_slice(&6u64.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&crc32c::crc32c(&header).to_le_bytes());
    fs::write(dir.path().join("00000000000000000006.wal"), &header).unwrap();

    let mut wal = Wal::open(dir.path(), durable(4096)).unwrap();
    assert_eq!(wal.segments().len(), 2);
    fail::cfg("wal::before_append", "return(eio)").unwrap();
    assert!(wal.append(6, b"six").is_err());
    fail::remove("wal::before_append");
    assert_eq!(wal.last_index(), Some(5));
    assert_eq!(wal.segments().last().unwrap().last_index, None, "the empty segment stays empty");
    wal.append(6, b"six").unwrap();
    wal.sync().unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), durable(4096)).unwrap();
    assert_eq!(replay_all(&wal).last(), Some(&(6, b"six".to_vec())));
    scenario.teardown();
}

#[test]
fn a_failed_wal_purge_deletes_nothing_more_and_can_be_retried() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), small(300)).unwrap();
    append_range(&mut wal, 1..=40);
    wal.sync().unwrap();
    let before = wal.segments();

    fail::cfg("purge::before_delete", "1*off->return(eio)").unwrap();
    let err = wal.purge_before(40).unwrap_err();
    assert_eq!(os_error(&err), Some(libc::EIO));
    assert!(!before[0].path.exists() && before[1].path.exists(), "the first delete went through, then it stopped");
    assert_eq!(wal.first_index(), Some(before[1].first_index));
    fail::remove("purge::before_delete");

    let removed = wal.purge_before(40).unwrap();
    assert_eq!(removed.first(), Some(&before[1].path));
    assert_eq!(replay_all(&wal).last().map(|(i, _)| *i), Some(40));
    scenario.teardown();
}

fn snap_header(zxid: i64) -> SnapshotHeader {
    SnapshotHeader { format_version: 1, zxid, time_ms: 1, node_count: 2, digest: 3, compression: Compression::Zstd }
}

fn big_body(out: &mut dyn Write) -> std::io::Result<()> {
    for i in 0..3u32 {
        out.write_all(&vec![i as u8; 1 << 20])?;
    }
    Ok(())
}

#[test]
fn a_failed_snapshot_write_leaves_no_file() {
    let scenario = fail::FailScenario::setup();
    for (point, action) in [
        ("snapshot::before_write", "return(enospc)"),
        ("snapshot::before_write", "2*off->return(enospc)"),
        ("snapshot::before_fsync", "return(eio)"),
        ("snapshot::before_rename", "return(eio)"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        fail::cfg(point, action).unwrap();
        let err = write_snapshot(dir.path(), &snap_header(5), big_body).unwrap_err();
        fail::remove(point);
        assert!(err.to_string().contains("00000000000000000005.snap"), "{point}: {err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "{point} {action}: a file was left");
        let path = write_snapshot(dir.path(), &snap_header(5), big_body).unwrap();
        assert_eq!(verify_snapshot(&path).unwrap(), snap_header(5));
    }
    scenario.teardown();
}

#[test]
fn a_directory_fsync_failure_after_the_rename_leaves_a_valid_snapshot() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    fail::cfg("snapshot::after_rename", "return(eio)").unwrap();
    let err = write_snapshot(dir.path(), &snap_header(6), big_body).unwrap_err();
    fail::remove("snapshot::after_rename");
    assert!(err.to_string().contains("fsync snapshot directory"), "{err}");
    let listed = list_snapshots(dir.path()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(verify_snapshot(&listed[0].1).unwrap(), snap_header(6));
    scenario.teardown();
}

#[test]
fn a_crash_before_the_rename_leaves_only_a_temp_file() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    fail::cfg("snapshot::before_rename", "panic").unwrap();
    let crashed = std::panic::catch_unwind(AssertUnwindSafe(|| write_snapshot(dir.path(), &snap_header(7), big_body)));
    fail::remove("snapshot::before_rename");
    assert!(crashed.is_err(), "the failpoint simulates a crash");
    assert!(list_snapshots(dir.path()).unwrap().is_empty(), "a temp file is not a snapshot");
    let removed = clean_snapshot_temp_files(dir.path()).unwrap();
    assert_eq!(removed, vec![dir.path().join("00000000000000000007.snap.tmp")]);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    scenario.teardown();
}

#[test]
fn a_failed_snapshot_purge_can_be_retried() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    for zxid in 1..=6 {
        write_snapshot(dir.path(), &snap_header(zxid), |out| out.write_all(b"body")).unwrap();
    }
    fail::cfg("purge::before_delete", "1*off->return(enospc)").unwrap();
    assert!(purge_snapshots(dir.path(), 3).is_err());
    fail::remove("purge::before_delete");
    assert_eq!(list_snapshots(dir.path()).unwrap().len(), 5, "one deleted before the failure");
    assert_eq!(purge_snapshots(dir.path(), 3).unwrap().len(), 2);
    let left: Vec<i64> = list_snapshots(dir.path()).unwrap().into_iter().map(|(z, _)| z).collect();
    assert_eq!(left, vec![4, 5, 6]);
    scenario.teardown();
}
