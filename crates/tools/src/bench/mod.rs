//! `paddock bench`: a load generator for any ZooKeeper-protocol server. N concurrent sessions (one tokio
//! task and one client session each) run a workload for a number of seconds or operations; per-operation
//! latencies go into an HDR histogram; the result is printed as text or one JSON object.
//!
//! Everything the benchmark creates lives under `--prefix`, which is deleted at the end unless `--keep`.

mod failover;
mod report;
mod setup;
mod workload;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use zookeeper_client::{Client, StateWatcher};

use crate::connect;

pub use self::report::BenchReport;
use self::workload::{Budget, ClientStats};

/// What the benchmark's clients do.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Each client creates sequential nodes under its own parent.
    Create,
    /// Clients set data on a pre-created set of nodes.
    Set,
    /// Clients read a pre-created set of nodes.
    Get,
    /// 90% get, 10% set on a pre-created set of nodes.
    Mixed,
    /// Writers set data on nodes a separate watcher session watches; measures notification latency.
    Watch,
    /// Writers set their own node on every server given; after a warm-up the process named by
    /// --kill-pid (an ensemble's leader) is killed (SIGKILL) and the time until a write issued after the
    /// kill is acknowledged is reported. --seconds is how long to wait for it (default 60).
    Failover,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Mixed => "mixed",
            Workload::Watch => "watch",
            Workload::Failover => "failover",
        }
    }
}

/// `paddock bench` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// ZooKeeper connect string: HOST:PORT[,HOST:PORT...]. With several servers, client i connects to
    /// server i mod n, so an ensemble is loaded evenly, leader and followers alike.
    #[arg(long, default_value = "127.0.0.1:2181", value_name = "HOST:PORT")]
    pub server: String,
    /// What the clients do.
    #[arg(long, value_enum, default_value_t = Workload::Mixed)]
    pub workload: Workload,
    /// Concurrent client sessions.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub clients: usize,
    /// Run for this many seconds (the default, 10, when neither --seconds nor --ops is given).
    #[arg(long, conflicts_with = "ops", value_name = "S")]
    pub seconds: Option<f64>,
    /// Run exactly this many operations, shared among the clients.
    #[arg(long, value_name = "N")]
    pub ops: Option<u64>,
    /// Bytes of data per create or set.
    #[arg(long, default_value_t = 100, value_name = "B")]
    pub value_size: usize,
    /// Nodes pre-created for the set, get and mixed workloads.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub keys: usize,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Parent of everything the benchmark creates; deleted (with all it holds) at the end unless --keep.
    #[arg(long, default_value = "/paddock-bench", value_name = "PATH")]
    pub prefix: String,
    /// Leave the benchmark's nodes in place.
    #[arg(long)]
    pub keep: bool,
    /// Create workload: nodes created per request, as one multi (to load a large tree quickly). An
    /// operation is still one node; latencies are per multi.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub batch: usize,
    /// Failover workload: the process to kill (SIGKILL) once every writer has had a write acknowledged.
    #[arg(long, value_name = "PID")]
    pub kill_pid: Option<u32>,
    #[command(flatten)]
    pub tls: connect::TlsArgs,
}

/// Default run length when neither `--seconds` nor `--ops` is given.
const DEFAULT_SECONDS: f64 = 10.0;
/// Largest value accepted: ZooKeeper's default `jute.maxbuffer` is 1 MiB for the whole request.
const MAX_VALUE_SIZE: usize = 1_000_000;
pub(crate) const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
const PROGRESS_TICK: Duration = Duration::from_millis(100);

/// Runs the benchmark, printing to the process's stdout (result) and stderr (progress, errors). Exits
/// non-zero when the benchmark cannot run or any operation failed.
pub async fn run(args: BenchArgs) -> ExitCode {
    run_with_io(args, &mut io::stdout(), &mut io::stderr()).await
}

/// [`run`] with the result written to `out` and errors to `err`.
pub async fn run_with_io(args: BenchArgs, out: &mut (dyn Write + Send), err: &mut (dyn Write + Send)) -> ExitCode {
    if args.workload == Workload::Failover {
        return match failover::execute(&args).await {
            Ok(report) => {
                let text = if args.json { report.json() } else { report.text() };
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
                ExitCode::SUCCESS
            }
            Err(e) => {
                let _ = writeln!(err, "paddock bench: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match execute(&args).await {
        Ok(report) => {
            let text = if args.json { report.json() } else { report.text() };
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
            if report.errors == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            let _ = writeln!(err, "paddock bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Sets up, runs and cleans up one benchmark.
pub async fn execute(args: &BenchArgs) -> anyhow::Result<BenchReport> {
    validate(args)?;
    let admin = open(args, &args.server).await.context("cannot connect the setup session")?;
    let layout = setup::Layout::new(&args.prefix, args.workload);
    setup::prepare(&admin, &layout, args).await.context("cannot create the benchmark's nodes")?;
    let outcome = measure(args, &layout).await;
    let cleaned = if args.keep { Ok(()) } else { setup::clean_up(&admin, &args.prefix).await };
    let admin_state = admin.state_watcher();
    drop(admin);
    connect::wait_closed(vec![admin_state]).await;
    cleaned.context("cannot delete the benchmark's nodes")?;
    let (stats, elapsed) = outcome?;
    Ok(BenchReport::new(args, &stats, elapsed))
}

pub(crate) fn validate(args: &BenchArgs) -> anyhow::Result<()> {
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    if args.ops == Some(0) {
        bail!("--ops must be at least 1");
    }
    if args.seconds.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
        bail!("--seconds must be a positive number");
    }
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    if args.batch > 1 && args.workload != Workload::Create {
        bail!("--batch applies to the create workload only");
    }
    if (args.workload == Workload::Failover) != args.kill_pid.is_some() {
        bail!("--kill-pid is needed by the failover workload and used by no other");
    }
    if args.value_size > MAX_VALUE_SIZE {
        bail!("--value-size must be at most {MAX_VALUE_SIZE} bytes");
    }
    if matches!(args.workload, Workload::Set | Workload::Get | Workload::Mixed) && args.keys == 0 {
        bail!("--keys must be at least 1");
    }
    setup::validate_prefix(&args.prefix)
}

/// The servers of a connect string, one connect string per server (a chroot suffix kept on each).
pub(crate) fn spread(connect: &str) -> Vec<String> {
    let (hosts, chroot) = match connect.find('/') {
        Some(at) => connect.split_at(at),
        None => (connect, ""),
    };
    let servers: Vec<String> =
        hosts.split(',').map(str::trim).filter(|h| !h.is_empty()).map(|h| format!("{h}{chroot}")).collect();
    if servers.is_empty() { vec![connect.to_string()] } else { servers }
}

/// A session on `server` (one of `--server`'s), over TLS when `args` ask for it.
pub(crate) async fn open(args: &BenchArgs, server: &str) -> anyhow::Result<Client> {
    let tls = args.tls.options().map_err(anyhow::Error::msg)?;
    connect::connect(server, tls.as_ref(), SESSION_TIMEOUT, SESSION_TIMEOUT).await.map_err(anyhow::Error::msg)
}

/// Connects the clients, runs the workload and returns each client's statistics and the run's length.
async fn measure(args: &BenchArgs, layout: &setup::Layout) -> anyhow::Result<(Vec<ClientStats>, Duration)> {
    let servers = spread(&args.server);
    let mut clients = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        clients.push(open(args, &servers[i % servers.len()]).await?);
    }
    let watcher = match args.workload {
        Workload::Watch => Some(open(args, &args.server).await?),
        _ => None,
    };
    let states: Vec<StateWatcher> = clients.iter().chain(watcher.iter()).map(Client::state_watcher).collect();
    let latencies = workload::new_histogram().context("cannot create a latency histogram")?;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let budget = match args.ops {
        Some(limit) => Budget::ops(limit),
        None => Budget::until(started + Duration::from_secs_f64(args.seconds.unwrap_or(DEFAULT_SECONDS))),
    };
    let progress = progress_bar(args, started, Arc::clone(&done));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, client) in clients.into_iter().enumerate() {
        let job = workload::Job {
            index,
            client,
            watcher: watcher.clone(),
            layout: layout.clone(),
            keys: args.keys,
            value: vec![b'x'; args.value_size],
            batch: args.batch,
            budget: budget.clone(),
            done: Arc::clone(&done),
            latencies: latencies.clone(),
        };
        tasks.spawn(workload::run(args.workload, job));
    }
    let mut stats = Vec::with_capacity(args.clients);
    while let Some(joined) = tasks.join_next().await {
        stats.push(joined.context("a benchmark client failed")?);
    }
    let elapsed = started.elapsed();
    progress.finish();
    // Every task has ended, so this was the watcher session's last client.
    drop(watcher);
    connect::wait_closed(states).await;
    Ok((stats, elapsed))
}

/// A progress bar on stderr, fed from the shared operation count by a ticker task so that clients only
/// bump an atomic. Hidden when stderr is not a terminal.
struct Progress {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

fn progress_bar(args: &BenchArgs, started: Instant, done: Arc<AtomicU64>) -> Progress {
    let target = if io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let seconds = args.seconds.unwrap_or(DEFAULT_SECONDS);
    let (length, template) = match args.ops {
        Some(ops) => (ops, "{bar:40} {pos}/{len} ops {elapsed}"),
        None => ((seconds * 1000.0) as u64, "{bar:40} {msg} {elapsed}"),
    };
    let bar = ProgressBar::with_draw_target(Some(length), target);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    let by_ops = args.ops.is_some();
    let shown = bar.clone();
    let ticker = tokio::spawn(async move {
        let mut tick = tokio::time::interval(PROGRESS_TICK);
        loop {
            tick.tick().await;
            let ops = done.load(Ordering::Relaxed);
            if by_ops {
                shown.set_position(ops);
            } else {
                shown.set_position((started.elapsed().as_millis() as u64).min(length));
                shown.set_message(format!("{ops} ops"));
            }
        }
    });
    Progress { bar, ticker }
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn clients_are_spread_over_every_server_of_the_connect_string() {
        assert_eq!(spread("127.0.0.1:2181"), ["127.0.0.1:2181"]);
        assert_eq!(spread("a:1, b:2,c:3"), ["a:1", "b:2", "c:3"]);
        assert_eq!(spread("a:1,b:2/app"), ["a:1/app", "b:2/app"]);
    }
}
