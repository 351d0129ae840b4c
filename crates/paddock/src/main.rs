//! `paddock`: one binary, one subcommand per job. Argument parsing and wiring only; the work lives in the
//! library crates.

mod backup_cli;
mod history_cli;
mod restore_into;
mod zookeeper_cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use paddock_server::ServerConfig;
use tracing::{error, info, warn};

#[derive(Parser)]
#[command(
    name = "paddock",
    version,
    about = "A ZooKeeper-compatible coordination service with built-in backup and restore"
)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "PADDOCK_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a server. With no arguments: standalone, client port 2181, data in ./paddock-data.
    Server(ServerArgs),
    /// zkCli's commands against any ZooKeeper-protocol server: interactive, or one command and exit.
    Shell(paddock_tools::shell::ShellArgs),
    /// Load a ZooKeeper-protocol server with a workload and report throughput and latency.
    Bench(paddock_tools::bench::BenchArgs),
    /// Examine snapshot files offline.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Examine a data directory offline.
    #[command(subcommand)]
    Data(DataCommand),
    /// Take, list and verify backups (a directory or s3://bucket/prefix).
    #[command(subcommand)]
    Backup(backup_cli::BackupCommand),
    /// Build a new data directory from a backup, for a new cluster its old clients keep working with.
    Restore(backup_cli::RestoreArgs),
    /// Build a Paddock data directory from another system's data (Apache ZooKeeper's).
    #[command(subcommand)]
    Import(zookeeper_cli::ImportCommand),
    /// Write a Paddock tree (a data directory, or a backup at a restore point) in another system's format
    /// (Apache ZooKeeper's).
    #[command(subcommand)]
    Export(zookeeper_cli::ExportCommand),
    /// Read the tree as it was at a zxid or a moment (get, ls, stat), or the txns that touched a path (log),
    /// from a backup target or a data directory, rebuilt in memory: nothing is restored or written.
    #[command(subcommand)]
    History(history_cli::HistoryCommand),
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Verify a snapshot and print its header, counts and digest.
    Inspect {
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Verify every checksum of a snapshot and its state digest; exit code 0 only when it is sound.
    Verify { file: PathBuf },
    /// Compare two trees (snapshot files, data directories or TARGET@POINT restore points): print the nodes
    /// created, changed and deleted from A to B. Exit code 0 when equal, 1 when different, 2 on error.
    Diff(history_cli::DiffArgs),
}

#[derive(Subcommand)]
enum DataCommand {
    /// Verify every snapshot and log record, replay the log and compare state digests; print the
    /// recoverable zxid range. Exit code 0 only when all is sound. Never modifies anything.
    Check {
        /// The server's dataDir.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The server's dataLogDir, when it differs from dataDir.
        #[arg(long, value_name = "DIR")]
        data_log_dir: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct ServerArgs {
    /// A ZooKeeper zoo.cfg to read.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Client port (overrides clientPort).
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// Data directory (overrides dataDir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    end_quietly_when_stdout_is_closed();
    let cli = Cli::parse();
    // Reads FAILPOINTS from the environment when built with the `failpoints` feature; a no-op otherwise.
    let _failpoints = fail::FailScenario::setup();
    // Only the server narrates; tools keep stderr for their own output unless PADDOCK_LOG asks for more.
    // object_store logs every retry of a request at info: the archiver's own warnings say what failed.
    let default_level = if matches!(cli.command, Command::Server(_)) { "info,object_store=warn" } else { "error" };
    init_logging(cli.log_format, default_level);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // The server's configuration decides how many threads its runtime has, so it is read first.
    let server = match &cli.command {
        Command::Server(args) => match server_config(args) {
            Ok(config) => Some(config),
            Err(e) => return fail(&e),
        },
        _ => None,
    };
    if let Some(config) = &server {
        builder.worker_threads(config.worker_threads());
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paddock: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Server(args) => run_server(server.map_or_else(|| server_config(&args), Ok)?).await,
            Command::Shell(args) => Ok(paddock_tools::shell::run(args).await),
            Command::Bench(args) => Ok(paddock_tools::bench::run(args).await),
            Command::Snapshot(cmd) => run_snapshot(cmd).await,
            Command::Data(cmd) => run_data(cmd),
            Command::Backup(cmd) => backup_cli::run_backup(cmd).await,
            Command::Restore(args) => backup_cli::run_restore(args).await,
            Command::Import(cmd) => zookeeper_cli::run_import(cmd).await,
            Command::Export(cmd) => zookeeper_cli::run_export(cmd).await,
            Command::History(cmd) => history_cli::run_history(cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

/// Exit status of a tool whose stdout reader went away: what a shell reports for a process that SIGPIPE
/// ended (128 + 13).
const CLOSED_STDOUT_EXIT: i32 = 141;

/// A tool's output piped into `head` (or any reader that stops early) ends the tool quietly, as it ends
/// `cat`, instead of the panic `println!` raises on the broken pipe. SIGPIPE itself stays ignored (Rust's
/// default): its default action would also end a tool whose HTTP client (`writev`, which has no
/// `MSG_NOSIGNAL`) writes to an object store that reset the connection, where a retry is due.
fn end_quietly_when_stdout_is_closed() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(CLOSED_STDOUT_EXIT);
        }
        report(info);
    }));
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PADDOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The error's one-line message on stderr, and failure.
fn fail(e: &anyhow::Error) -> ExitCode {
    // One line, whatever a dependency's message holds (an object store's XML error body, say).
    let message = format!("{e:#}");
    eprintln!("paddock: {}", message.split_whitespace().collect::<Vec<_>>().join(" "));
    ExitCode::FAILURE
}

fn server_config(args: &ServerArgs) -> anyhow::Result<ServerConfig> {
    let mut config = match &args.config {
        Some(path) => {
            let (config, warnings) = ServerConfig::load(path)?;
            for w in warnings {
                warn!("{w}");
            }
            config
        }
        None => {
            let (config, warnings) = ServerConfig::from_env_flags()?;
            for w in warnings {
                warn!("{w}");
            }
            config
        }
    };
    if let Some(port) = args.port {
        config.client_port = port;
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    Ok(config)
}

async fn run_server(config: ServerConfig) -> anyhow::Result<ExitCode> {
    let server = paddock_server::start_durable(config).await?;
    wait_for_signal().await;
    info!("shutting down");
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn run_snapshot(cmd: SnapshotCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SnapshotCommand::Diff(args) => Ok(history_cli::run_snapshot_diff(args).await),
        SnapshotCommand::Inspect { file, json } => {
            let info = paddock_backup::check::inspect_snapshot(&file).map_err(anyhow::Error::msg)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                let value = serde_json::to_value(&info)?;
                for (key, v) in value.as_object().into_iter().flatten() {
                    println!("{key}: {}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SnapshotCommand::Verify { file } => match paddock_backup::check::inspect_snapshot(&file) {
            Ok(info) => {
                println!(
                    "{}: ok (zxid {}, {} znodes, digest {})",
                    file.display(),
                    info.zxid,
                    info.node_count,
                    info.digest
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("paddock: {}: {e}", file.display());
                Ok(ExitCode::FAILURE)
            }
        },
    }
}

fn run_data(cmd: DataCommand) -> anyhow::Result<ExitCode> {
    let DataCommand::Check { data_dir, data_log_dir, json } = cmd;
    if !data_dir.is_dir() {
        anyhow::bail!("data directory {} does not exist", data_dir.display());
    }
    let report = paddock_backup::check::check_data_dir(&data_dir, data_log_dir.as_deref())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", paddock_backup::check::render(&report));
    }
    Ok(if report.is_sound() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        error!("cannot install signal handlers; stop the server with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
