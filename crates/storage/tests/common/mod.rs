//! Helpers shared by the storage integration tests: deterministic payloads, collecting a replay, an
//! independent reader of the documented WAL layout, and capturing tracing warnings.
#![allow(dead_code)] // each test binary uses a different subset

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use paddock_storage::{Wal, WalOptions};
use tracing::field::{Field, Visit};
use tracing::span;

pub const SEGMENT_HEADER: u64 = 24;
pub const RECORD_HEADER: u64 = 16;

/// Small segments so that a few records roll; no fsync to keep the suite fast where durability is not the
/// point.
pub fn small(segment_bytes: u64) -> WalOptions {
    WalOptions { segment_bytes, fsync: false, preallocate: true }
}

/// A payload that differs per index, has a varying length (never a multiple of 256) and no zero byte, so
/// that a cut anywhere inside a record leaves a non-zero, invalid tail.
pub fn payload(index: u64) -> Vec<u8> {
    let len = (index.wrapping_mul(37) % 200 + 1) as usize;
    let mut state = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 255 + 1) as u8
        })
        .collect()
}

pub fn append_range(wal: &mut Wal, range: std::ops::RangeInclusive<u64>) {
    for index in range {
        wal.append(index, &payload(index)).unwrap();
    }
}

pub fn replay_all(wal: &Wal) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(first) = wal.first_index() {
        wal.replay(first, |index, payload| {
            out.push((index, payload.to_vec()));
            Ok(())
        })
        .unwrap();
    }
    out
}

pub fn expected(range: std::ops::RangeInclusive<u64>) -> Vec<(u64, Vec<u8>)> {
    range.map(|i| (i, payload(i))).collect()
}

/// Byte offset of every record in a segment starting at `first`, computed from the documented layout and
/// the payload lengths: `(index, start, end)`.
pub fn record_spans(first: u64, last: u64, len_of: impl Fn(u64) -> usize) -> Vec<(u64, u64, u64)> {
    let mut pos = SEGMENT_HEADER;
    (first..=last)
        .map(|i| {
            let end = pos + RECORD_HEADER + len_of(i) as u64;
            let span = (i, pos, end);
            pos = end;
            span
        })
        .collect()
}

/// Encodes a record exactly as docs/format.md, 2.2 describes it, independently of the crate.
pub fn encode_record_by_spec(index: u64, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut covered = Vec::new();
    covered.extend_from_slice(&len.to_le_bytes());
    covered.extend_from_slice(&index.to_le_bytes());
    covered.extend_from_slice(payload);
    let crc = crc32c::crc32c(&covered);
    let mut out = Vec::new();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

pub fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    paths.sort();
    paths
}

pub fn flip_bit(path: &Path, offset: u64, bit: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 1 << bit;
    std::fs::write(path, bytes).unwrap();
}

/// Runs `f` with a subscriber that records every WARN event as "field=value ..." text.
pub fn capture_warnings<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let result = tracing::subscriber::with_default(Capture(seen.clone()), f);
    let warnings = seen.lock().unwrap().clone();
    (result, warnings)
}

struct Capture(Arc<Mutex<Vec<String>>>);

struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut text = Text(String::new());
            event.record(&mut text);
            self.0.lock().unwrap().push(text.0);
        }
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}
