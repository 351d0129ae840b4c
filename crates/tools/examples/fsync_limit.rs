//! The disk's own group-commit ceiling: appends 100-byte records to a file in DIR and calls `fdatasync`
//! once per batch, for batch sizes 1, 8 and 32. No server can acknowledge durable writes faster than
//! this, so it is the yardstick for `scripts/bench-vs-zookeeper`.
//!
//! Two layouts are measured. `preallocated`: the file is zero-filled and synced first, then records
//! overwrite it from the start, as Paddock's WAL and ZooKeeper's txn log do (both preallocate), so a
//! data sync need not also commit a new file size. `growing`: a fresh file that each batch extends.
//!
//! Usage: `cargo run --release -p paddock-tools --example fsync_limit -- DIR [SECONDS_PER_CASE]`.
//! Prints one JSON object per case on stdout.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const RECORD_BYTES: usize = 100;
const BATCH_SIZES: [usize; 3] = [1, 8, 32];
const DEFAULT_SECONDS: f64 = 3.0;
/// Large enough that no case runs off the end of the preallocated file at any plausible disk speed;
/// a case that would is wrapped back to the start.
const PREALLOCATED_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone, Copy)]
enum Layout {
    Preallocated,
    Growing,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Preallocated => "preallocated",
            Layout::Growing => "growing",
        }
    }
}

struct Case {
    layout: Layout,
    batch: usize,
    fsyncs: u64,
    elapsed: Duration,
}

impl Case {
    fn json(&self) -> String {
        let seconds = self.elapsed.as_secs_f64();
        let fsyncs_per_sec = if seconds > 0.0 { self.fsyncs as f64 / seconds } else { 0.0 };
        format!(
            "{{\"layout\":\"{}\",\"batch\":{},\"record_bytes\":{RECORD_BYTES},\"fsyncs\":{},\"seconds\":{seconds:.3},\
             \"fsyncs_per_sec\":{fsyncs_per_sec:.1},\"records_per_sec\":{:.1},\"avg_fsync_us\":{:.1}}}",
            self.layout.name(),
            self.batch,
            self.fsyncs,
            fsyncs_per_sec * self.batch as f64,
            if self.fsyncs > 0 { seconds * 1e6 / self.fsyncs as f64 } else { 0.0 },
        )
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fsync_limit: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args_os().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: fsync_limit DIR [SECONDS_PER_CASE]")?);
    let seconds = match args.next() {
        Some(s) => s.to_string_lossy().parse::<f64>().map_err(|e| format!("bad SECONDS_PER_CASE: {e}"))?,
        None => DEFAULT_SECONDS,
    };
    if !(seconds > 0.0 && seconds.is_finite()) {
        return Err("SECONDS_PER_CASE must be a positive number".into());
    }
    let per_case = Duration::from_secs_f64(seconds);
    for layout in [Layout::Preallocated, Layout::Growing] {
        for batch in BATCH_SIZES {
            let case =
                measure(&dir, layout, batch, per_case).map_err(|e| format!("{} batch {batch}: {e}", layout.name()))?;
            println!("{}", case.json());
        }
    }
    Ok(())
}

fn measure(dir: &Path, layout: Layout, batch: usize, per_case: Duration) -> std::io::Result<Case> {
    let path = dir.join(format!("fsync-limit-{}-{batch}.dat", layout.name()));
    let mut file = open(&path, layout)?;
    let record = [b'r'; RECORD_BYTES];
    let batch_bytes = (batch * RECORD_BYTES) as u64;
    let mut offset = 0u64;
    let mut fsyncs = 0u64;
    let started = Instant::now();
    while started.elapsed() < per_case {
        if matches!(layout, Layout::Preallocated) && offset + batch_bytes > PREALLOCATED_BYTES {
            file.seek(SeekFrom::Start(0))?;
            offset = 0;
        }
        for _ in 0..batch {
            file.write_all(&record)?;
        }
        offset += batch_bytes;
        file.sync_data()?;
        fsyncs += 1;
    }
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(Case { layout, batch, fsyncs, elapsed })
}

fn open(path: &Path, layout: Layout) -> std::io::Result<File> {
    let mut file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(path)?;
    if let Layout::Preallocated = layout {
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..PREALLOCATED_BYTES / zeros.len() as u64 {
            file.write_all(&zeros)?;
        }
        file.sync_all()?;
        file.seek(SeekFrom::Start(0))?;
    } else if let Some(parent) = path.parent() {
        // The new file's directory entry must be durable too, or the first fsyncs pay for it.
        file.sync_all()?;
        File::open(parent)?.sync_all()?;
    }
    Ok(file)
}
