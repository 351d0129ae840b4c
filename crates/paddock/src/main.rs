//! `paddock`: one binary, one subcommand per job. Argument parsing and wiring only; the work lives in the
//! library crates.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use paddock_server::ServerConfig;
use tracing::{error, info, warn};

#[derive(Parser)]
#[command(name = "paddock", version, about = "A ZooKeeper-compatible coordination service with built-in backup and restore")]
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
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paddock: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Server(args) => run_server(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("paddock: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PADDOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run_server(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => {
            let (config, warnings) = ServerConfig::load(path)?;
            for w in warnings {
                warn!("{w}");
            }
            config
        }
        None => ServerConfig::default(),
    };
    if let Some(port) = args.port {
        config.client_port = port;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    let server = paddock_server::start_durable(config).await?;
    wait_for_signal().await;
    info!("shutting down");
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
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
