//! `paddock import zookeeper` and `paddock export zookeeper`: arguments, progress and output. The work is
//! in `paddock-backup` (`zookeeper.rs`) and `paddock-zkformat`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use paddock_backup::point::Point;
use paddock_backup::zookeeper::{ExportRequest, ExportSource, ImportRequest};
use paddock_zkformat::snapshot::Compression;

use crate::backup_cli::{destination, parse_zxid};

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Build a Paddock data directory from an Apache ZooKeeper (3.4 to 3.9) data directory: the newest
    /// usable snapshot with the transaction logs replayed over it, every seal, checksum and digest checked;
    /// every znode, Stat, ACL, session and ephemeral kept, at ZooKeeper's last zxid.
    Zookeeper(ImportArgs),
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// ZooKeeper's dataDir (holding version-2/), or its version-2 directory. Stop ZooKeeper first.
    #[arg(long, value_name = "DIR")]
    zk_data_dir: PathBuf,
    /// ZooKeeper's dataLogDir, when it differs from its dataDir.
    #[arg(long, value_name = "DIR")]
    zk_log_dir: Option<PathBuf>,
    /// The Paddock data directory to create: it must not exist, or hold nothing but a myid file. Defaults
    /// to the dataDir of --config.
    #[arg(long, value_name = "DIR", required_unless_present = "config")]
    data_dir: Option<PathBuf>,
    /// The zoo.cfg of the Paddock server that will run on the data. With server.N lines, this server is
    /// imported as that member of a new ensemble: import the same ZooKeeper data on every member.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum ExportCommand {
    /// Write an Apache ZooKeeper data directory (version-2/snapshot.<zxid> with ZooKeeper's digest,
    /// currentEpoch, acceptedEpoch) that ZooKeeper 3.5+ loads as its own, standalone or as every member of
    /// an ensemble.
    Zookeeper(ExportArgs),
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// A Paddock standalone server's data directory (stop the server first to export its last write).
    #[arg(long, value_name = "DIR", conflicts_with = "from", required_unless_present = "from")]
    data_dir: Option<PathBuf>,
    /// That server's dataLogDir, when it differs from its dataDir.
    #[arg(long, value_name = "DIR", requires = "data_dir", conflicts_with = "from")]
    data_log_dir: Option<PathBuf>,
    /// A backup target (a directory or s3://bucket/prefix): export the tree at a restore point.
    #[arg(long, value_name = "TARGET")]
    from: Option<String>,
    /// The cluster whose backup to export, when the target holds several.
    #[arg(long, value_name = "ID", requires = "from", conflicts_with = "data_dir")]
    cluster: Option<String>,
    #[command(flatten)]
    keys: crate::backup_cli::KeyArgs,
    /// The restore point's zxid (decimal or 0x hex); the latest by default.
    #[arg(long, value_name = "N", value_parser = parse_zxid, requires = "from", conflicts_with_all = ["time", "data_dir"])]
    zxid: Option<i64>,
    /// The restore point's time: RFC 3339 with an offset or Z.
    #[arg(long, value_name = "TIME", value_parser = paddock_backup::point::parse_time, requires = "from", conflicts_with = "data_dir")]
    time: Option<i64>,
    /// ZooKeeper's dataDir to write: it must not exist, or hold nothing but a myid file.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// The snapshot's compression, as zookeeper.snapshot.compression.method names it.
    #[arg(long, value_enum, default_value_t = ExportCompression::None)]
    compression: ExportCompression,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportCompression {
    None,
    Gz,
    Snappy,
}

pub async fn run_import(cmd: ImportCommand) -> anyhow::Result<ExitCode> {
    let ImportCommand::Zookeeper(args) = cmd;
    let (data_dir, member) = destination(args.config.as_deref(), args.data_dir)?;
    let request = ImportRequest { zk_data_dir: args.zk_data_dir, zk_log_dir: args.zk_log_dir, data_dir, member };
    let bar = count_bar("reading ZooKeeper's znodes and transactions", args.json);
    let progress = bar.clone();
    let imported =
        tokio::task::spawn_blocking(move || paddock_backup::zookeeper::import(&request, &|n| progress.set_position(n)))
            .await?;
    bar.finish_and_clear();
    let imported = imported?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&imported)?);
        return Ok(ExitCode::SUCCESS);
    }
    for skipped in &imported.skipped_snapshots {
        eprintln!("paddock: passed over a snapshot (as ZooKeeper would): {skipped}");
    }
    for torn in &imported.torn_tails {
        eprintln!("paddock: torn log tail ignored (as ZooKeeper ignores it): {torn}");
    }
    println!(
        "imported {} znodes at zxid {} into {}: snapshot {} plus {} transactions from {} logs, {} ZooKeeper digests checked; {} sessions, {} ephemerals; new cluster {} ({:.1} s)",
        imported.node_count,
        imported.zxid,
        imported.data_dir,
        imported.snapshot,
        imported.txns_replayed,
        imported.logs.len(),
        imported.digests_checked,
        imported.sessions,
        imported.ephemerals,
        imported.cluster_id,
        imported.seconds
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn run_export(cmd: ExportCommand) -> anyhow::Result<ExitCode> {
    let ExportCommand::Zookeeper(args) = cmd;
    let source = match (args.data_dir, args.from) {
        (Some(data_dir), _) => ExportSource::DataDir { data_dir, log_dir: args.data_log_dir },
        (None, Some(target)) => {
            let point = match (args.zxid, args.time) {
                (Some(zxid), _) => Point::Zxid(zxid),
                (None, Some(ms)) => Point::Time(ms),
                (None, None) => Point::Latest,
            };
            let key_files = args.keys.encryption_key_file;
            ExportSource::Backup { target, cluster: args.cluster, point, key_files }
        }
        (None, None) => anyhow::bail!("name what to export: --data-dir DIR or --from TARGET"),
    };
    let compression = match args.compression {
        ExportCompression::None => Compression::None,
        ExportCompression::Gz => Compression::Gzip,
        ExportCompression::Snappy => Compression::Snappy,
    };
    let request = ExportRequest { source, to: args.to, compression };
    let bar = count_bar("reading", args.json);
    let exported = paddock_backup::zookeeper::export(&request, &|n| bar.set_position(n)).await;
    bar.finish_and_clear();
    let exported = exported?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&exported)?);
    } else {
        println!(
            "exported {} znodes and {} sessions at zxid {} from {} to {} ({} bytes, ZooKeeper digest {}, epoch {}) ({:.1} s)",
            exported.node_count,
            exported.sessions,
            exported.zxid,
            exported.from,
            exported.snapshot,
            exported.bytes,
            exported.zookeeper_digest,
            exported.epoch,
            exported.seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A counter on a terminal; hidden with `--json` or when stderr is not a terminal.
fn count_bar(what: &str, json: bool) -> ProgressBar {
    if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{spinner} {msg} {pos} ({per_sec}, {elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}
