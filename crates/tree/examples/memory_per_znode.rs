//! How much memory one znode costs: builds `n` znodes (default 1,000,000) of 100 bytes each through
//! `DataTree::apply`, as a server would, and divides the growth of the process's resident set by `n`.
//!
//! `cargo run --release -p paddock-tree --example memory_per_znode [-- n]`
//!
//! The figure includes everything a znode really costs: the path, the data, the stat, the map entry, the
//! parent's child-set entry and the allocator's own overhead. Linux only (reads `/proc/self/status`).

use std::time::Instant;

use paddock_proto::{Acl, CreateMode};
use paddock_tree::{DataTree, Txn, TxnOp, TxnResult};

const DATA_LEN: usize = 100;
const CHILDREN_PER_PARENT: usize = 1000;

fn main() {
    let n = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    match measure_memory_per_znode(n) {
        Ok(report) => println!("{report}"),
        Err(e) => {
            eprintln!("measurement failed: {e}");
            std::process::exit(1);
        }
    }
}

pub struct Report {
    pub znodes: usize,
    pub bytes_per_znode: f64,
    pub creates_per_sec: f64,
    pub digest: u64,
    pub snapshot_bytes: usize,
    pub snapshot_write_secs: f64,
    pub snapshot_read_secs: f64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} znodes of {DATA_LEN} bytes: {:.0} bytes/znode resident ({:.0} creates/s through apply, digest {:016x})\n\
             snapshot body: {} bytes, written in {:.2} s, read back (and verified) in {:.2} s",
            self.znodes,
            self.bytes_per_znode,
            self.creates_per_sec,
            self.digest,
            self.snapshot_bytes,
            self.snapshot_write_secs,
            self.snapshot_read_secs
        )
    }
}

/// Builds `n` znodes of 100 bytes under `n / 1000` parents and reports the resident memory per znode.
pub fn measure_memory_per_znode(n: usize) -> Result<Report, String> {
    let before = resident_bytes()?;
    let started = Instant::now();
    let mut tree = DataTree::new();
    let mut zxid = 0;
    let mut apply = |tree: &mut DataTree, path: String| -> Result<(), String> {
        zxid += 1;
        let op = TxnOp::Create {
            path,
            data: Some(vec![b'x'; DATA_LEN]),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
            ttl: 0,
        };
        let txn = Txn { origin: Default::default(), time: 1_700_000_000_000 + zxid, session_id: 1, auth: vec![], op };
        match tree.apply(zxid, &txn).result {
            TxnResult::Created { .. } => Ok(()),
            other => Err(format!("create failed: {other:?}")),
        }
    };
    apply(&mut tree, "/bench".to_string())?;
    let mut made = 1;
    for parent in 0.. {
        if made >= n {
            break;
        }
        apply(&mut tree, format!("/bench/p{parent:06}"))?;
        made += 1;
        for child in 0..CHILDREN_PER_PARENT.min(n - made) {
            apply(&mut tree, format!("/bench/p{parent:06}/n{child:04}"))?;
            made += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = resident_bytes()?;
    let (snapshot_bytes, snapshot_write_secs, snapshot_read_secs) = time_snapshot(&tree)?;
    let report = Report {
        znodes: made,
        bytes_per_znode: after.saturating_sub(before) as f64 / made as f64,
        creates_per_sec: made as f64 / elapsed,
        digest: tree.digest(),
        snapshot_bytes,
        snapshot_write_secs,
        snapshot_read_secs,
    };
    drop(std::hint::black_box(tree));
    Ok(report)
}

/// Writes the tree's snapshot body to memory and reads it back (measured after the memory figure).
fn time_snapshot(tree: &DataTree) -> Result<(usize, f64, f64), String> {
    let started = Instant::now();
    let mut body = Vec::new();
    tree.write_snapshot(&mut body).map_err(|e| e.to_string())?;
    let written = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let read = DataTree::read_snapshot(&mut body.as_slice()).map_err(|e| e.to_string())?;
    let read_secs = started.elapsed().as_secs_f64();
    if read.digest() != tree.digest() {
        return Err("snapshot read back with a different digest".to_string());
    }
    Ok((body.len(), written, read_secs))
}

/// `VmRSS` from `/proc/self/status` (in kB there, whatever the page size).
fn resident_bytes() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| "no VmRSS line in /proc/self/status".to_string())
}
