//! `--workload failover`: how long an ensemble takes to acknowledge a write again after its leader dies.
//!
//! Writers (client i on server i mod n of `--server`, normally the followers) set their own node back to
//! back. Once every writer has had a write acknowledged, the process named by `--kill-pid` (the leader) is
//! sent SIGKILL; the clock starts just before the signal. The result is the time from the kill to the first
//! acknowledgement of a write *issued after* the kill (a write issued before could have been committed by
//! the old leader), the time until every writer had one, and the same per server.
//!
//! A writer whose session lost its connection does not wait out the client library's reconnect back-off
//! (100 ms doubling per round, which would be the client's time, not the ensemble's): it drops the client
//! and opens a new session to the same server, trying every [`RECONNECT_PAUSE`]. A writer whose request
//! failed on a live connection retries on it after [`RETRY_PAUSE`].

use std::io::{self, IsTerminal};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget};
use serde::Serialize;
use zookeeper_client::{Client, SessionState};

use super::setup::{self, Layout};
use super::{BenchArgs, SESSION_TIMEOUT, Workload, open, spread, validate};
use crate::connect;

/// How long to wait for the first write after the kill when --seconds is not given.
const DEFAULT_LIMIT: Duration = Duration::from_secs(60);
/// How long every writer may take to get its first write acknowledged before the kill.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// Writes before the kill once every writer is through, so the write path is warm.
const WARM_UP: Duration = Duration::from_millis(500);
const RETRY_PAUSE: Duration = Duration::from_millis(2);
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);
/// Longest a single session establishment may take before a writer tries again.
const CONNECT_LIMIT: Duration = Duration::from_secs(2);

/// The result of one kill.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FailoverReport {
    pub workload: String,
    pub clients: usize,
    pub killed_pid: u32,
    /// Kill → first acknowledged write issued after the kill, by any writer (milliseconds).
    pub failover_ms: f64,
    /// Kill → the last writer's first acknowledged write (every writer through); None if one never was.
    pub all_clients_ms: Option<f64>,
    /// Per server of `--server`, in order: kill → its first writer's acknowledged write.
    pub per_server_ms: Vec<Option<f64>>,
    /// Writes acknowledged before the kill.
    pub writes_before_kill: u64,
    /// Failed writes and failed session attempts after the kill.
    pub errors_after_kill: u64,
    /// New sessions the writers opened after losing theirs.
    pub reconnects: u64,
}

impl FailoverReport {
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn text(&self) -> String {
        let all = self.all_clients_ms.map_or("never".to_owned(), |ms| format!("{ms:.1} ms"));
        format!(
            "workload    failover ({} writers, killed pid {})\n\
             first write {:.1} ms after the kill (every writer: {all})\n\
             writes      {} before the kill; {} errors and {} new sessions after it",
            self.clients,
            self.killed_pid,
            self.failover_ms,
            self.writes_before_kill,
            self.errors_after_kill,
            self.reconnects,
        )
    }
}

/// One writer's outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct WriterOutcome {
    /// Kill → this writer's first acknowledged write issued after the kill.
    first_ack: Option<Duration>,
    before_kill: u64,
    errors_after_kill: u64,
    reconnects: u64,
}

/// Sets up, kills, measures and cleans up.
pub(crate) async fn execute(args: &BenchArgs) -> anyhow::Result<FailoverReport> {
    validate(args)?;
    let Some(pid) = args.kill_pid else { bail!("--workload failover needs --kill-pid") };
    let limit = args.seconds.map_or(DEFAULT_LIMIT, Duration::from_secs_f64);
    let admin = open(args, &args.server).await.context("cannot connect the setup session")?;
    let layout = Layout::new(&args.prefix, Workload::Failover);
    setup::prepare(&admin, &layout, args).await.context("cannot create the benchmark's nodes")?;
    let outcome = measure(args, &layout, pid, limit).await;
    let cleaned = if args.keep { Ok(()) } else { setup::clean_up(&admin, &args.prefix).await };
    let admin_state = admin.state_watcher();
    drop(admin);
    connect::wait_closed(vec![admin_state]).await;
    let outcomes = outcome?;
    // The measurement stands even if the clean-up after a failover did not finish.
    if let Err(e) = cleaned {
        eprintln!("paddock bench: cannot delete the benchmark's nodes: {e:#}");
    }
    summarize(args.clients, pid, spread(&args.server).len(), &outcomes)
}

/// The report from every writer's outcome (writer i wrote through server i mod `servers`).
fn summarize(clients: usize, pid: u32, servers: usize, outcomes: &[WriterOutcome]) -> anyhow::Result<FailoverReport> {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let firsts: Vec<Duration> = outcomes.iter().filter_map(|o| o.first_ack).collect();
    let Some(first) = firsts.iter().min() else { bail!("no write was acknowledged after the kill") };
    let all = if firsts.len() == outcomes.len() { firsts.iter().max().copied().map(ms) } else { None };
    let per_server = (0..servers.max(1))
        .map(|s| outcomes.iter().skip(s).step_by(servers.max(1)).filter_map(|o| o.first_ack).min().map(ms))
        .collect();
    Ok(FailoverReport {
        workload: Workload::Failover.name().to_owned(),
        clients,
        killed_pid: pid,
        failover_ms: ms(*first),
        all_clients_ms: all,
        per_server_ms: per_server,
        writes_before_kill: outcomes.iter().map(|o| o.before_kill).sum(),
        errors_after_kill: outcomes.iter().map(|o| o.errors_after_kill).sum(),
        reconnects: outcomes.iter().map(|o| o.reconnects).sum(),
    })
}

async fn measure(args: &BenchArgs, layout: &Layout, pid: u32, limit: Duration) -> anyhow::Result<Vec<WriterOutcome>> {
    let servers = spread(&args.server);
    let mut clients = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        clients.push(open(args, &servers[i % servers.len()]).await?);
    }
    let spinner = spinner();
    spinner.set_message("waiting for every writer's first write");
    let killed_at: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(args.clients);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, client) in clients.into_iter().enumerate() {
        let writer = Writer {
            index,
            server: servers[index % servers.len()].clone(),
            tls: args.tls.options().map_err(anyhow::Error::msg)?,
            client,
            key: layout.key(index),
            value: vec![b'x'; args.value_size],
            killed_at: Arc::clone(&killed_at),
            ready: ready_tx.clone(),
        };
        tasks.spawn(writer.run(limit));
    }
    drop(ready_tx);
    let ready = async {
        for _ in 0..args.clients {
            ready_rx.recv().await.context("a writer ended before its first write")?;
        }
        anyhow::Ok(())
    };
    match tokio::time::timeout(READY_LIMIT, ready).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tasks.abort_all();
            return Err(e);
        }
        Err(_) => {
            tasks.abort_all();
            bail!("not every writer had a write acknowledged within {READY_LIMIT:?} before the kill");
        }
    }
    tokio::time::sleep(WARM_UP).await;
    spinner.set_message(format!("killed pid {pid}; waiting for a write to be acknowledged"));
    let at = Instant::now();
    let _ = killed_at.set(at);
    if let Err(e) = kill(pid) {
        tasks.abort_all();
        return Err(e);
    }
    let mut outcomes = vec![WriterOutcome::default(); args.clients];
    while let Some(joined) = tasks.join_next().await {
        let (index, outcome) = joined.context("a failover writer failed")?;
        outcomes[index % args.clients] = outcome;
    }
    spinner.finish_and_clear();
    Ok(outcomes)
}

fn spinner() -> ProgressBar {
    let target = if io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(None, target);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn kill(pid: u32) -> anyhow::Result<()> {
    let Ok(raw) = libc::pid_t::try_from(pid) else { bail!("--kill-pid {pid} is not a process id") };
    if raw <= 0 {
        bail!("--kill-pid must name one process, got {pid}");
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    if unsafe { libc::kill(raw, libc::SIGKILL) } != 0 {
        bail!("cannot kill pid {pid}: {}", io::Error::last_os_error());
    }
    Ok(())
}

struct Writer {
    index: usize,
    server: String,
    tls: Option<zookeeper_client::TlsOptions>,
    client: Client,
    key: String,
    value: Vec<u8>,
    killed_at: Arc<OnceLock<Instant>>,
    ready: tokio::sync::mpsc::Sender<()>,
}

impl Writer {
    /// Writes until a write issued after the kill is acknowledged, or until `limit` after the kill.
    /// Returns its index and outcome.
    async fn run(mut self, limit: Duration) -> (usize, WriterOutcome) {
        let index = self.index;
        let mut outcome = WriterOutcome::default();
        let mut announced = false;
        loop {
            let killed = self.killed_at.get().copied();
            if let Some(at) = killed
                && at.elapsed() > limit
            {
                return (index, outcome);
            }
            let issued = Instant::now();
            let write = self.client.set_data(&self.key, &self.value, None);
            let result = tokio::time::timeout(limit, write).await.unwrap_or(Err(zookeeper_client::Error::Timeout));
            let acked = Instant::now();
            match (result, killed) {
                (Ok(_), Some(at)) => {
                    outcome.first_ack = Some(acked.saturating_duration_since(at));
                    return (index, outcome);
                }
                (Ok(_), None) => {
                    // Issued before the kill, whenever it was acknowledged.
                    outcome.before_kill += 1;
                    if !announced {
                        announced = true;
                        let _ = self.ready.send(()).await;
                    }
                }
                (Err(_), killed) => {
                    if killed.is_some() {
                        outcome.errors_after_kill += 1;
                    }
                    self.recover(&mut outcome, issued, limit).await;
                }
            }
        }
    }

    /// After a failed write: a new session when this one is no longer connected, else a short pause.
    async fn recover(&mut self, outcome: &mut WriterOutcome, issued: Instant, limit: Duration) {
        if matches!(self.client.state(), SessionState::SyncConnected | SessionState::ConnectedReadOnly) {
            tokio::time::sleep(RETRY_PAUSE.saturating_sub(issued.elapsed())).await;
            return;
        }
        loop {
            let attempt = connect::connect(&self.server, self.tls.as_ref(), SESSION_TIMEOUT, CONNECT_LIMIT);
            match tokio::time::timeout(CONNECT_LIMIT, attempt).await {
                Ok(Ok(client)) => {
                    // The old session closes in the background; the server expires it if it cannot.
                    self.client = client;
                    outcome.reconnects += 1;
                    return;
                }
                _ => {
                    if let Some(at) = self.killed_at.get() {
                        outcome.errors_after_kill += 1;
                        if at.elapsed() > limit {
                            return;
                        }
                    }
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(ms: u64) -> WriterOutcome {
        WriterOutcome { first_ack: Some(Duration::from_millis(ms)), before_kill: 10, ..WriterOutcome::default() }
    }

    #[test]
    fn the_failover_time_is_the_first_ack_and_every_writer_and_server_is_reported() {
        // Writers 0 and 2 on server 0, writers 1 and 3 on server 1.
        let outcomes = [acked(700), acked(450), acked(650), WriterOutcome { errors_after_kill: 3, ..acked(900) }];
        let report = summarize(4, 42, 2, &outcomes).unwrap();
        assert_eq!(report.failover_ms, 450.0);
        assert_eq!(report.all_clients_ms, Some(900.0));
        assert_eq!(report.per_server_ms, [Some(650.0), Some(450.0)]);
        assert_eq!(report.writes_before_kill, 40);
        assert_eq!(report.errors_after_kill, 3);
        assert_eq!(report.killed_pid, 42);
    }

    #[test]
    fn a_writer_that_never_got_through_leaves_every_writer_unset() {
        let outcomes = [acked(300), WriterOutcome::default()];
        let report = summarize(2, 1, 2, &outcomes).unwrap();
        assert_eq!(report.failover_ms, 300.0);
        assert_eq!(report.all_clients_ms, None);
        assert_eq!(report.per_server_ms, [Some(300.0), None]);
        assert!(summarize(2, 1, 2, &[WriterOutcome::default(); 2]).is_err());
    }

    #[test]
    fn a_pid_that_names_a_group_or_nothing_is_refused() {
        assert!(kill(0).is_err());
        assert!(kill(u32::MAX).is_err());
    }
}
