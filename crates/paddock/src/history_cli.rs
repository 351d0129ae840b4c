//! `paddock history …` (a node as it was at a zxid or a moment, and the txns that touched a path) and
//! `paddock snapshot diff`: arguments and output. The work is in `paddock_backup::history` and
//! `paddock_backup::tree_diff`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use paddock_backup::BackupError;
use paddock_backup::history::{self, LogRequest, NodeAt, PathLog, Source};
use paddock_backup::point::{self, Point};
use paddock_backup::tree_diff::{self, TreeSpec};
use serde_json::json;

use crate::backup_cli::parse_zxid;

#[derive(Subcommand)]
pub enum HistoryCommand {
    /// Print a node's data as it was at a zxid or a moment (as zkCli's get prints it; bytes that are not
    /// printable UTF-8 are escaped), rebuilt in memory from retained snapshots and logs: nothing is restored.
    Get(ReadArgs),
    /// Print a node's children as they were (as zkCli's ls prints them).
    Ls(ReadArgs),
    /// Print a node's Stat as it was (as zkCli's stat prints it).
    Stat(ReadArgs),
    /// List every txn that touched a path: creates (a sequential one under the name it got), deletes,
    /// setData, setACL — failed attempts included, with their error — and the session closes that deleted
    /// it as an ephemeral; each with its zxid, time, session and the caller's auth ids.
    Log(LogArgs),
}

/// Where the history is: a backup target, or a data directory (read-only).
#[derive(clap::Args)]
pub struct SourceArgs {
    /// A backup target (a directory or s3://bucket/prefix): its snapshot backups and archived log.
    #[arg(long, value_name = "TARGET", conflicts_with = "data_dir", required_unless_present = "data_dir")]
    from: Option<String>,
    /// A standalone server's dataDir (stopped, or running: read-only).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The server's dataLogDir, when it differs from dataDir.
    #[arg(long, value_name = "DIR", requires = "data_dir")]
    data_log_dir: Option<PathBuf>,
    /// The cluster to read, when the target holds several.
    #[arg(long, value_name = "ID", requires = "from")]
    cluster: Option<String>,
    #[command(flatten)]
    keys: crate::backup_cli::KeyArgs,
}

impl SourceArgs {
    fn source(&self) -> anyhow::Result<Source> {
        Ok(match (&self.from, &self.data_dir) {
            (Some(from), _) => Source::Target { target: self.keys.open(from)?, cluster: self.cluster.clone() },
            (None, Some(dir)) => {
                if !dir.is_dir() {
                    anyhow::bail!("data directory {} does not exist", dir.display());
                }
                Source::DataDir { data_dir: dir.clone(), log_dir: self.data_log_dir.clone() }
            }
            (None, None) => anyhow::bail!("name where the history is: --from TARGET or --data-dir DIR"),
        })
    }
}

#[derive(clap::Args)]
pub struct ReadArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The state right after this zxid (decimal or 0x hex).
    #[arg(long, value_name = "N", value_parser = parse_zxid, conflicts_with = "time", required_unless_present = "time")]
    zxid: Option<i64>,
    /// The state at this moment (after the last txn stamped at or before it): RFC 3339 with an offset or Z.
    #[arg(long, value_name = "TIME", value_parser = point::parse_time)]
    time: Option<i64>,
    /// The znode.
    path: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct LogArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Only txns stamped at or after this moment (RFC 3339 with an offset or Z).
    #[arg(long, value_name = "TIME", value_parser = point::parse_time)]
    since: Option<i64>,
    /// Only txns stamped at or before this moment.
    #[arg(long, value_name = "TIME", value_parser = point::parse_time)]
    until: Option<i64>,
    /// The znode.
    path: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub async fn run_history(cmd: HistoryCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        HistoryCommand::Get(args) => read(args, print_get).await,
        HistoryCommand::Ls(args) => read(args, print_ls).await,
        HistoryCommand::Stat(args) => read(args, print_stat).await,
        HistoryCommand::Log(args) => log(args).await,
    }
}

async fn read(args: ReadArgs, print: fn(&NodeAt, bool) -> anyhow::Result<()>) -> anyhow::Result<ExitCode> {
    let point = match (args.zxid, args.time) {
        (Some(zxid), _) => Point::Zxid(zxid),
        (None, Some(time)) => Point::Time(time),
        (None, None) => anyhow::bail!("name the point: --zxid N or --time TIME"),
    };
    let tree = history::tree_at(&args.source.source()?, point).await?;
    let node = history::node_at(&tree, &args.path)?;
    print(&node, args.json)?;
    Ok(ExitCode::SUCCESS)
}

fn print_get(node: &NodeAt, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        let data = node.data.as_ref();
        let text = data.and_then(|d| std::str::from_utf8(d).ok());
        let hex = data.map(|d| d.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let value = json!({
            "path": node.path, "zxid": node.zxid, "time": node.time,
            "data": text, "data_hex": hex, "data_null": data.is_none(),
            "stat": stat_json(&node.stat),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{}", printable(node.data.as_deref()));
    }
    Ok(())
}

fn print_ls(node: &NodeAt, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        let value = json!({ "path": node.path, "zxid": node.zxid, "time": node.time, "children": node.children });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("[{}]", node.children.join(", "));
    }
    Ok(())
}

fn print_stat(node: &NodeAt, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        let value = json!({
            "path": node.path, "zxid": node.zxid, "time": node.time,
            "stat": stat_json(&node.stat), "acl": node.acl,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        for line in stat_lines(&node.stat) {
            println!("{line}");
        }
    }
    Ok(())
}

/// zkCli's `get` prints the bytes as a string, and `null` for null data. Bytes that are not UTF-8, and
/// control characters other than newline and tab, are escaped (`\x00`) so that no terminal is driven by them.
fn printable(data: Option<&[u8]>) -> String {
    let Some(data) = data else { return "null".into() };
    match std::str::from_utf8(data) {
        Ok(text) if !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => text.to_string(),
        _ => data.escape_ascii().to_string(),
    }
}

/// zkCli's `StatPrinter` lines.
fn stat_lines(stat: &paddock_backup::history::Stat) -> Vec<String> {
    use paddock_backup::history::java_date;
    vec![
        format!("cZxid = 0x{:x}", stat.czxid),
        format!("ctime = {}", java_date(stat.ctime)),
        format!("mZxid = 0x{:x}", stat.mzxid),
        format!("mtime = {}", java_date(stat.mtime)),
        format!("pZxid = 0x{:x}", stat.pzxid),
        format!("cversion = {}", stat.cversion),
        format!("dataVersion = {}", stat.version),
        format!("aclVersion = {}", stat.aversion),
        format!("ephemeralOwner = 0x{:x}", stat.ephemeral_owner),
        format!("dataLength = {}", stat.data_length),
        format!("numChildren = {}", stat.num_children),
    ]
}

/// The Stat with ZooKeeper's (jute) field names.
fn stat_json(stat: &paddock_backup::history::Stat) -> serde_json::Value {
    json!({
        "czxid": stat.czxid,
        "mzxid": stat.mzxid,
        "ctime": stat.ctime,
        "mtime": stat.mtime,
        "version": stat.version,
        "cversion": stat.cversion,
        "aversion": stat.aversion,
        "ephemeralOwner": stat.ephemeral_owner,
        "dataLength": stat.data_length,
        "numChildren": stat.num_children,
        "pzxid": stat.pzxid,
    })
}

async fn log(args: LogArgs) -> anyhow::Result<ExitCode> {
    let request = LogRequest { path: args.path.clone(), since_ms: args.since, until_ms: args.until };
    let found = history::path_log(&args.source.source()?, &request).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        print!("{}", render_log(&found));
        for range in &found.not_searched {
            eprintln!(
                "note: zxids 0x{:x} to 0x{:x} were not searched (no snapshot to replay them from, or missing from the log)",
                range.first, range.last
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per txn: zxid, time, session, auth ids, what it did, and its outcome.
fn render_log(log: &PathLog) -> String {
    let mut out = String::new();
    for entry in &log.entries {
        let what: Vec<String> = entry.ops.iter().map(|op| op.describe()).collect();
        let auth = if entry.auth.is_empty() { "-".to_string() } else { entry.auth.join(",") };
        let multi = if entry.multi { "multi: " } else { "" };
        out.push_str(&format!(
            "0x{:x}  {}  session {}  auth {auth}  {multi}{}  {}\n",
            entry.zxid,
            entry.time,
            entry.session_id,
            what.join("; "),
            entry.result
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------------------------
// snapshot diff

#[derive(clap::Args)]
pub struct DiffArgs {
    /// The first tree: a snapshot file, a data directory, or a backup target's restore point written
    /// TARGET@latest, TARGET@ZXID (decimal or 0x hex) or TARGET@TIME (RFC 3339 with an offset or Z), e.g.
    /// s3://backups/prod@0x1f40 or /backups@2026-12-01T14:03:00Z.
    a: String,
    /// The second tree, named the same ways.
    b: String,
    /// Compare only this node and what is under it.
    #[arg(long, value_name = "PATH", default_value = "/")]
    subtree: String,
    /// The cluster to read from a target that holds several.
    #[arg(long, value_name = "ID")]
    cluster: Option<String>,
    #[command(flatten)]
    keys: crate::backup_cli::KeyArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Exit code 0 when the trees are equal (under the subtree), 1 when they differ, 2 on error: diff(1)'s.
pub async fn run_snapshot_diff(args: DiffArgs) -> ExitCode {
    match snapshot_diff(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            let message = format!("{e:#}");
            eprintln!("paddock: {}", message.split_whitespace().collect::<Vec<_>>().join(" "));
            ExitCode::from(2)
        }
    }
}

/// True when the trees are equal.
async fn snapshot_diff(args: &DiffArgs) -> anyhow::Result<bool> {
    if !args.subtree.starts_with('/') || (args.subtree.len() > 1 && args.subtree.ends_with('/')) {
        anyhow::bail!("--subtree {:?} is not a znode path", args.subtree);
    }
    let (a, b) =
        (TreeSpec::parse(&args.a).map_err(anyhow::Error::msg)?, TreeSpec::parse(&args.b).map_err(anyhow::Error::msg)?);
    // A restore point's target is opened with the --encryption-key-file keys.
    let open = |spec: &str| args.keys.open(spec).map_err(|e| BackupError::Refused(format!("{e:#}")));
    let from = a.load(args.cluster.as_deref(), open).await?;
    let to = b.load(args.cluster.as_deref(), open).await?;
    let diff = tree_diff::compare(&from, &to, &args.subtree, &args.a, &args.b);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&diff)?);
    } else {
        print!("{}", tree_diff::render(&diff));
    }
    Ok(diff.is_empty())
}
