//! Snapshot files (docs/format.md, 3): round trips, damage detection with offsets, listing and retention.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use paddock_storage::{
    Compression, SnapshotHeader, StorageError, clean_snapshot_temp_files, inspect_snapshot, list_snapshots,
    open_snapshot, purge_snapshots, verify_snapshot, write_snapshot, write_snapshot_to,
};

const MIB: usize = 1 << 20;

fn header(zxid: i64, compression: Compression) -> SnapshotHeader {
    SnapshotHeader {
        format_version: 3,
        zxid,
        time_ms: 1_750_000_000_123,
        node_count: 77,
        digest: 0xfeed_f00d,
        compression,
    }
}

/// A body mixing compressible runs and noise, so that zstd has real work and chunks differ.
fn body(len: usize) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..len)
        .map(|i| {
            if (i / 4096) % 2 == 0 {
                (i % 251) as u8
            } else {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            }
        })
        .collect()
}

fn write(dir: &Path, h: &SnapshotHeader, data: &[u8]) -> PathBuf {
    // Written in odd-sized pieces, as a serializer would.
    write_snapshot(dir, h, |out| {
        for piece in data.chunks(7919) {
            out.write_all(piece)?;
        }
        out.flush()
    })
    .unwrap()
}

fn read_body(path: &Path) -> io::Result<Vec<u8>> {
    let (_, mut reader) = open_snapshot(path).map_err(io::Error::other)?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out)?;
    Ok(out)
}

/// `(offset, stored_len)` of every chunk and the trailer's offset, parsed by the documented layout.
fn chunk_offsets(path: &Path) -> (Vec<(u64, u64)>, u64) {
    let bytes = fs::read(path).unwrap();
    let mut pos = 52usize;
    let mut chunks = Vec::new();
    loop {
        let stored = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap());
        if stored == u32::MAX {
            assert_eq!(bytes.len(), pos + 28, "the trailer ends the file");
            return (chunks, pos as u64);
        }
        chunks.push((pos as u64, u64::from(stored)));
        pos += 12 + stored as usize;
    }
}

#[test]
fn round_trip_with_and_without_compression() {
    for compression in [Compression::None, Compression::Zstd] {
        for len in [0, 1, 1000, MIB, MIB + 1, 3 * MIB + 12_345] {
            let dir = tempfile::tempdir().unwrap();
            let h = header(0x1_0000_0042, compression);
            let data = body(len);
            let path = write(dir.path(), &h, &data);
            assert_eq!(path, dir.path().join("00000000004294967362.snap"));
            assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left");

            let (read_header, mut reader) = open_snapshot(&path).unwrap();
            assert_eq!(read_header, h);
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            assert!(out == data, "{compression:?} {len}: body differs");

            assert_eq!(verify_snapshot(&path).unwrap(), h);
            let report = inspect_snapshot(&path).unwrap();
            assert_eq!(report.chunk_count, len.div_ceil(MIB) as u64, "{compression:?} {len}");
            assert_eq!(report.body_bytes, len as u64);
            assert_eq!(report.file_bytes, fs::metadata(&path).unwrap().len());
            let (chunks, _) = chunk_offsets(&path);
            assert_eq!(chunks.len() as u64, report.chunk_count);
            if compression == Compression::Zstd && len > 0 {
                let first = &fs::read(&path).unwrap()[52 + 12..52 + 16];
                assert_eq!(first, &[0x28, 0xB5, 0x2F, 0xFD], "each chunk is a zstd frame");
            }
        }
    }
}

#[test]
fn the_header_follows_the_documented_layout() {
    let dir = tempfile::tempdir().unwrap();
    let h = header(99, Compression::Zstd);
    let path = write(dir.path(), &h, b"body");
    let bytes = fs::read(path).unwrap();
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
    assert_eq!(&bytes[0..4], b"PDKS");
    assert_eq!((u32_at(4), u32_at(8), u32_at(12)), (1, 3, 1));
    assert_eq!((u64_at(16), u64_at(24) as i64, u64_at(32), u64_at(40)), (99, h.time_ms, 77, 0xfeed_f00d));
    assert_eq!(u32_at(48), crc32c::crc32c(&bytes[0..48]));
    let trailer = &bytes[bytes.len() - 28..];
    assert_eq!(&trailer[0..4], &[0xFF; 4]);
    assert_eq!(u64::from_le_bytes(trailer[4..12].try_into().unwrap()), 1, "chunk count");
    assert_eq!(u64::from_le_bytes(trailer[12..20].try_into().unwrap()), 4, "body length");
    assert_eq!(u32::from_le_bytes(trailer[20..24].try_into().unwrap()), crc32c::crc32c(b"body"));
    assert_eq!(u32::from_le_bytes(trailer[24..28].try_into().unwrap()), crc32c::crc32c(&trailer[0..24]));
}

#[test]
fn a_flipped_bit_in_any_chunk_is_reported_with_its_offset() {
    for compression in [Compression::None, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        let data = body(3 * MIB + 100);
        let path = write(dir.path(), &header(7, compression), &data);
        let pristine = fs::read(&path).unwrap();
        let (chunks, _) = chunk_offsets(&path);
        assert_eq!(chunks.len(), 4);
        for &(chunk_at, stored) in &chunks {
            // In the chunk header and in its stored bytes.
            for flip_at in [chunk_at + 1, chunk_at + 9, chunk_at + 12 + stored / 2, chunk_at + 12 + stored - 1] {
                let mut bytes = pristine.clone();
                bytes[flip_at as usize] ^= 0x10;
                fs::write(&path, &bytes).unwrap();

                let err = read_body(&path).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{compression:?} flip at {flip_at}");
                let message = err.to_string();
                assert!(message.contains(&format!("offset {chunk_at}")), "flip at {flip_at}: {message}");
                assert!(message.contains(&path.display().to_string()), "{message}");
                match verify_snapshot(&path) {
                    Err(StorageError::SnapshotCorrupt { offset, .. }) => assert_eq!(offset, chunk_at),
                    other => panic!("expected SnapshotCorrupt, got {other:?}"),
                }
            }
        }
    }
}

#[test]
fn damage_outside_the_chunks_is_reported_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &header(8, Compression::Zstd), &body(5000));
    let pristine = fs::read(&path).unwrap();
    let (_, trailer_at) = chunk_offsets(&path);

    for flip_at in 0..52 {
        let mut bytes = pristine.clone();
        bytes[flip_at] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        match open_snapshot(&path) {
            Err(StorageError::SnapshotCorrupt { offset: 0, .. }) => {}
            Err(other) => panic!("header flip at {flip_at}: {other}"),
            Ok(_) => panic!("header flip at {flip_at} went unnoticed"),
        }
    }
    for flip_at in trailer_at..trailer_at + 28 {
        let mut bytes = pristine.clone();
        bytes[flip_at as usize] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        match verify_snapshot(&path) {
            Err(StorageError::SnapshotCorrupt { offset, .. }) => assert_eq!(offset, trailer_at, "flip at {flip_at}"),
            other => panic!("trailer flip at {flip_at}: {other:?}"),
        }
    }
    let mut bytes = pristine.clone();
    bytes.extend_from_slice(b"extra");
    fs::write(&path, &bytes).unwrap();
    let err = verify_snapshot(&path).unwrap_err().to_string();
    assert!(err.contains("follow the trailer"), "{err}");
}

#[test]
fn a_truncated_file_never_reads_as_complete() {
    let dir = tempfile::tempdir().unwrap();
    let data = body(2 * MIB + 10);
    let path = write(dir.path(), &header(9, Compression::None), &data);
    let pristine = fs::read(&path).unwrap();
    let (chunks, trailer_at) = chunk_offsets(&path);
    let mut cuts: Vec<usize> = (0..80).collect();
    for &(at, stored) in &chunks {
        cuts.extend([at as usize, at as usize + 5, at as usize + 12, (at + 12 + stored / 2) as usize]);
    }
    cuts.extend((trailer_at as usize..pristine.len()).collect::<Vec<_>>());
    for cut in cuts {
        fs::write(&path, &pristine[..cut]).unwrap();
        assert!(read_body(&path).is_err(), "cut at {cut} read as complete");
        assert!(verify_snapshot(&path).is_err(), "cut at {cut} verified");
    }
    fs::write(&path, &pristine).unwrap();
    assert_eq!(read_body(&path).unwrap(), data);
}

#[test]
fn a_failing_body_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let result = write_snapshot(dir.path(), &header(10, Compression::Zstd), |out| {
        out.write_all(&body(2 * MIB))?;
        Err(io::Error::other("serializer gave up"))
    });
    let err = result.unwrap_err().to_string();
    assert!(err.contains("serializer gave up"), "{err}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    let negative = write_snapshot(dir.path(), &header(-1, Compression::None), |_| Ok(()));
    assert!(matches!(negative, Err(StorageError::InvalidArgument(_))));
}

/// Streams a snapshot of `data` into a `Vec`, in the same odd-sized pieces as [`write`].
fn stream(h: &SnapshotHeader, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let written = write_snapshot_to(&mut out, h, |body| {
        for piece in data.chunks(7919) {
            body.write_all(piece)?;
        }
        body.flush()
    })
    .unwrap();
    assert_eq!(written, out.len() as u64, "the count is the bytes written");
    out
}

#[test]
fn a_streamed_snapshot_is_byte_for_byte_the_file_and_reads_back() {
    for compression in [Compression::None, Compression::Zstd] {
        for len in [0, 1000, MIB, 3 * MIB + 12_345] {
            let dir = tempfile::tempdir().unwrap();
            let h = header(0x2_0000_0007, compression);
            let data = body(len);
            let path = write(dir.path(), &h, &data);
            let streamed = stream(&h, &data);
            assert!(streamed == fs::read(&path).unwrap(), "{compression:?} {len}: streamed bytes differ from the file");
            // Stored by a backup under a name of its own, and restored under the canonical one.
            for name in ["backup.bin", "00000000008589934599.snap"] {
                let copy = dir.path().join("copies").join(name);
                fs::create_dir_all(copy.parent().unwrap()).unwrap();
                fs::write(&copy, &streamed).unwrap();
                assert_eq!(open_snapshot(&copy).unwrap().0, h);
                assert!(read_body(&copy).unwrap() == data, "{compression:?} {len}: body differs");
                assert_eq!(verify_snapshot(&copy).unwrap(), h);
            }
        }
    }
}

/// Takes `room` bytes, then fails every write.
struct FailingAfter {
    taken: Vec<u8>,
    room: usize,
}

impl io::Write for FailingAfter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.taken.len() >= self.room {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"));
        }
        let n = buf.len().min(self.room - self.taken.len());
        self.taken.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_stream_or_body_is_an_error_and_never_a_complete_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let h = header(21, Compression::Zstd);
    let data = body(3 * MIB);
    let full = stream(&h, &data).len();
    for room in [0, 10, 52, 52 + 12, MIB, full - 28, full - 1] {
        let mut out = FailingAfter { taken: Vec::new(), room };
        let result = write_snapshot_to(&mut out, &h, |body| body.write_all(&data));
        match result {
            Err(StorageError::Stream { source, .. }) => assert_eq!(source.kind(), io::ErrorKind::BrokenPipe),
            Err(other) => panic!("room {room}: expected a stream error, got {other}"),
            Ok(n) => panic!("room {room}: {n} bytes reported written"),
        }
        let partial = dir.path().join(format!("partial-{room}"));
        fs::write(&partial, &out.taken).unwrap();
        assert!(verify_snapshot(&partial).is_err(), "room {room}: the partial stream verified");
    }
    let mut out = Vec::new();
    let failed = write_snapshot_to(&mut out, &h, |body| {
        body.write_all(&data)?;
        Err(io::Error::other("serializer gave up"))
    });
    let err = failed.unwrap_err().to_string();
    assert!(err.contains("serializer gave up"), "{err}");
    let partial = dir.path().join("partial-body");
    fs::write(&partial, &out).unwrap();
    assert!(verify_snapshot(&partial).is_err(), "a stream whose body failed verified");
    let negative = write_snapshot_to(&mut Vec::new(), &header(-1, Compression::None), |_| Ok(()));
    assert!(matches!(negative, Err(StorageError::InvalidArgument(_))));
}

#[test]
fn a_snapshot_renamed_to_another_zxid_is_refused_but_a_copy_under_any_other_name_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &header(12, Compression::Zstd), b"twelve");
    let renamed = dir.path().join("00000000000000000013.snap");
    fs::copy(&path, &renamed).unwrap();
    match open_snapshot(&renamed) {
        Err(StorageError::SnapshotCorrupt { offset: 16, reason, .. }) => {
            assert!(reason.contains("file name"), "{reason}")
        }
        Err(other) => panic!("expected SnapshotCorrupt, got {other}"),
        Ok(_) => panic!("a snapshot under another zxid's name was accepted"),
    }
    let copy = dir.path().join("backup-copy.bin");
    fs::copy(&path, &copy).unwrap();
    assert_eq!(verify_snapshot(&copy).unwrap().zxid, 12);
}

#[test]
fn rewriting_a_snapshot_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &header(11, Compression::Zstd), b"old");
    let path = write(dir.path(), &header(11, Compression::None), b"new body");
    assert_eq!(read_body(&path).unwrap(), b"new body");
}

#[test]
fn listing_sorts_by_zxid_and_ignores_temp_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    for zxid in [500, 7, 0x2_0000_0001, 42] {
        write(dir.path(), &header(zxid, Compression::Zstd), &body(100));
    }
    fs::write(dir.path().join("00000000000000000900.snap.tmp"), b"being written").unwrap();
    fs::write(dir.path().join("snapshot.100"), b"a ZooKeeper file").unwrap();
    fs::write(dir.path().join("12.snap"), b"short name").unwrap();
    let zxids: Vec<i64> = list_snapshots(dir.path()).unwrap().into_iter().map(|(z, _)| z).collect();
    assert_eq!(zxids, vec![7, 42, 500, 0x2_0000_0001]);
    assert!(list_snapshots(&dir.path().join("missing")).unwrap().is_empty());

    let removed = clean_snapshot_temp_files(dir.path()).unwrap();
    assert_eq!(removed, vec![dir.path().join("00000000000000000900.snap.tmp")]);
    assert!(dir.path().join("snapshot.100").exists() && dir.path().join("12.snap").exists());
    assert_eq!(list_snapshots(dir.path()).unwrap().len(), 4);
}

#[test]
fn purge_keeps_at_least_three_valid_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> =
        (1..=6).map(|z| write(dir.path(), &header(z * 10, Compression::Zstd), &body(300))).collect();
    fs::write(dir.path().join("00000000000000000001.snap.tmp"), b"x").unwrap();

    let removed = purge_snapshots(dir.path(), 1).unwrap();
    assert_eq!(removed, paths[..3].to_vec(), "retain 1 is raised to 3");
    let left: Vec<i64> = list_snapshots(dir.path()).unwrap().into_iter().map(|(z, _)| z).collect();
    assert_eq!(left, vec![40, 50, 60]);
    assert!(dir.path().join("00000000000000000001.snap.tmp").exists(), "temp files are not purge's business");
    assert!(purge_snapshots(dir.path(), 3).unwrap().is_empty());
    assert!(purge_snapshots(dir.path(), 5).unwrap().is_empty());
}

#[test]
fn damaged_snapshots_do_not_count_as_kept() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = (1..=6).map(|z| write(dir.path(), &header(z, Compression::None), &body(300))).collect();
    // The newest is zero-filled (a power failure before it was flushed), the fifth lost its trailer.
    let len = fs::metadata(&paths[5]).unwrap().len() as usize;
    fs::write(&paths[5], vec![0u8; len]).unwrap();
    let cut = fs::read(&paths[4]).unwrap();
    fs::write(&paths[4], &cut[..cut.len() - 10]).unwrap();

    let removed = purge_snapshots(dir.path(), 3).unwrap();
    assert_eq!(removed, vec![paths[0].clone()], "keeps 2, 3, 4 (valid) and leaves the damaged newer ones");
    assert!(paths[4].exists() && paths[5].exists());

    // With fewer valid snapshots than retained, nothing is deleted.
    fs::write(&paths[1], b"").unwrap();
    assert!(purge_snapshots(dir.path(), 3).unwrap().is_empty());
    assert_eq!(list_snapshots(dir.path()).unwrap().len(), 5);
}
