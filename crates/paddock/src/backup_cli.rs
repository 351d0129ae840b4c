//! `paddock backup …` and `paddock restore`: arguments, progress bars and output. The work is in
//! `paddock-backup`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use paddock_backup::encryption::Keyring;
use paddock_backup::manifest;
use paddock_backup::point::Point;
use paddock_backup::restore::{DEFAULT_BUMP, MemberSeed, RestoreRequest};
use paddock_backup::target::Target;

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Take a consistent backup of a running server (--server) or of a data directory (--data-dir) into
    /// a target: a directory, or s3://bucket/prefix.
    Create {
        /// A running server's AdminServer, HOST:PORT (admin.serverPort, 8080 by default).
        #[arg(long, value_name = "HOST:PORT", conflicts_with = "data_dir", required_unless_present = "data_dir")]
        server: Option<String>,
        /// Credentials for the server's admin commands: SCHEME:DATA (e.g. digest:admin:secret) or ip.
        #[arg(long, value_name = "SCHEME:DATA", requires = "server")]
        auth: Option<String>,
        /// A standalone server's dataDir (stopped, or running: its last durable write is the backup point).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The server's dataLogDir, when it differs from dataDir.
        #[arg(long, value_name = "DIR", requires = "data_dir")]
        data_log_dir: Option<PathBuf>,
        /// Where the backup goes: a directory or s3://bucket/prefix.
        #[arg(long, value_name = "TARGET")]
        to: String,
        /// Back up only this subtree (with its ancestors): a subtree backup, which `restore --subtree`
        /// restores at exactly its zxid (no log is replayed over it).
        #[arg(long, value_name = "PATH")]
        subtree: Option<String>,
        #[command(flatten)]
        keys: KeyArgs,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List every cluster and backup a target holds, and the incomplete ones.
    List {
        #[arg(long, value_name = "TARGET")]
        target: String,
        #[command(flatten)]
        keys: KeyArgs,
        #[arg(long)]
        json: bool,
    },
    /// Re-read every object of every backup: size, SHA-256, decompression, and the snapshot's zxid, node
    /// count and digest against its manifest. Exit code 0 only when everything is sound.
    Verify {
        #[arg(long, value_name = "TARGET")]
        target: String,
        #[command(flatten)]
        keys: KeyArgs,
        #[arg(long)]
        json: bool,
    },
    /// Delete the backups a retention policy does not keep, with the archived log only they needed, and
    /// interrupted uploads. Keeps restore points: the newest --keep-last N backups of each cluster and
    /// those taken within --keep-within, with every log segment they need. Nothing younger than --grace
    /// is deleted.
    Prune {
        #[arg(long, value_name = "TARGET")]
        target: String,
        #[command(flatten)]
        keys: KeyArgs,
        /// Keep the newest N complete backups of each cluster.
        #[arg(long, value_name = "N")]
        keep_last: Option<usize>,
        /// Keep every backup whose snapshot was taken within this of now: 500ms, 1s, 15m, 24h, 7d.
        #[arg(long, value_name = "DURATION", value_parser = paddock_backup::duration::parse_duration)]
        keep_within: Option<std::time::Duration>,
        /// Delete no object younger than this (an upload may just have finished, a restore may be reading).
        #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = paddock_backup::duration::parse_duration)]
        grace: std::time::Duration,
        /// Only this cluster (32 hex digits); every cluster in the target by default.
        #[arg(long, value_name = "ID")]
        cluster: Option<String>,
        /// Print what would be deleted and why; delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Re-encrypt every object of a target with a new key: the first --encryption-key-file is the new key,
    /// the others the old ones. Safe to interrupt and run again (each object is replaced whole, readable
    /// with the old or the new key at every moment); unencrypted objects are encrypted too.
    Rekey {
        #[arg(long, value_name = "TARGET")]
        target: String,
        #[command(flatten)]
        keys: KeyArgs,
        #[arg(long)]
        json: bool,
    },
}

/// `--encryption-key-file`, for every command that reads or writes a backup target. Flatten it into a
/// command's arguments (`#[command(flatten)] keys: KeyArgs`) and open the target with [`KeyArgs::open`].
#[derive(clap::Args, Clone, Debug, Default)]
pub struct KeyArgs {
    /// Encrypt what is written to the target and decrypt what is read from it with the key in FILE (32
    /// raw bytes, or 64 hex digits: `openssl rand 32 > FILE`). Repeat for key rotation: the first key
    /// encrypts, every one decrypts.
    #[arg(long = "encryption-key-file", value_name = "FILE")]
    pub encryption_key_file: Vec<PathBuf>,
}

impl KeyArgs {
    /// Opens `spec` with these keys (none: a plaintext target).
    pub fn open(&self, spec: &str) -> anyhow::Result<Target> {
        open_target(spec, &self.encryption_key_file)
    }
}

/// Opens a backup target (a directory or s3://bucket/prefix) with the keys in `key_files` (none: no
/// encryption). A key file that cannot be read or is not a key is a one-line error naming it.
pub fn open_target(spec: &str, key_files: &[PathBuf]) -> anyhow::Result<Target> {
    let target = Target::open(spec)?;
    if key_files.is_empty() {
        return Ok(target);
    }
    Ok(target.with_keyring(Keyring::load(key_files)?))
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The target holding the backups.
    #[arg(long, value_name = "TARGET")]
    pub(crate) from: String,
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
    /// The data directory to restore into: it must not exist, or hold nothing but a myid file. Defaults to
    /// the dataDir of --config.
    #[arg(long, value_name = "DIR", required_unless_present_any = ["config", "into"])]
    data_dir: Option<PathBuf>,
    /// Restore into this running server or ensemble instead (its AdminServer, HOST:PORT; the server needs
    /// admin.restore.enabled=true): the whole tree, every member at once, sessions ended and clients
    /// reconnecting; or, with --subtree, that subtree only, as one atomic write.
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["data_dir", "config", "keep_sessions", "bump"])]
    pub(crate) into: Option<String>,
    /// Credentials for the server's admin restore command (ALL on /): SCHEME:DATA, e.g. digest:admin:secret.
    #[arg(long, value_name = "SCHEME:DATA", requires = "into")]
    pub(crate) auth: Option<String>,
    /// Restore only this subtree: with --into, into the running server (other paths untouched); with
    /// --data-dir, a data directory holding only this subtree and its ancestors.
    #[arg(long, value_name = "PATH")]
    pub(crate) subtree: Option<String>,
    /// With --into and --subtree: what to do with live nodes that differ from the backup or are not in it.
    /// overwrite: the subtree becomes exactly the backup's; skip: only create what is missing; fail: refuse
    /// the restore if there is any (the default).
    #[arg(long, value_name = "POLICY", value_parser = ["overwrite", "skip", "fail"], requires = "subtree")]
    pub(crate) on_conflict: Option<String>,
    /// The zoo.cfg of the server that will run on the restored data. With server.N lines (and a myid in the
    /// data directory, or the --data-dir given), this server is restored as that member of a new ensemble:
    /// restore every member from the same backup to the same point, then start them.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The cluster whose backup to restore, when the target holds several.
    #[arg(long, value_name = "ID")]
    pub(crate) cluster: Option<String>,
    /// Restore the state at exactly this zxid (decimal or 0x hex).
    #[arg(long, value_name = "N", value_parser = parse_zxid, conflicts_with_all = ["latest", "time"])]
    pub(crate) zxid: Option<i64>,
    /// Restore the state at this moment: RFC 3339 with an offset or Z (2026-12-01T14:03:00+01:00).
    #[arg(long, value_name = "TIME", value_parser = paddock_backup::point::parse_time, conflicts_with = "latest")]
    pub(crate) time: Option<i64>,
    /// Restore the latest state the target holds (the default).
    #[arg(long)]
    latest: bool,
    /// How far above the backup's zxid the restored cluster continues.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BUMP)]
    bump: i64,
    /// Keep the backup's sessions and their ephemeral nodes (dropped by default).
    #[arg(long)]
    keep_sessions: bool,
    /// Say what would be restored; write nothing. With --into --subtree: list every node the restore would
    /// create, change and delete.
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn parse_zxid(text: &str) -> Result<i64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.ok().filter(|z| *z >= 0).ok_or_else(|| format!("{text:?} is not a zxid (a decimal or 0x-hex number)"))
}

pub async fn run_backup(cmd: BackupCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BackupCommand::Create { server, auth, data_dir, data_log_dir, to, subtree, keys, json } => {
            let target = keys.open(&to)?;
            let bar = bytes_bar("uploading", json);
            let progress = |n: u64| bar.set_position(n);
            let subtree = subtree.as_deref();
            let created = match (server, data_dir) {
                (Some(server), _) => {
                    paddock_backup::create::from_server(&server, auth.as_deref(), subtree, &target, &progress).await
                }
                (None, Some(dir)) => {
                    let log_dir = data_log_dir.as_deref();
                    paddock_backup::create::from_data_dir(&dir, log_dir, subtree, &target, &progress).await
                }
                (None, None) => anyhow::bail!("name what to back up: --server HOST:PORT or --data-dir DIR"),
            };
            bar.finish_and_clear();
            let created = created?;
            if json {
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                let what = if created.already_present { "already backed up" } else { "backed up" };
                let what = match &created.subtree {
                    Some(subtree) => format!("{what} subtree {subtree}"),
                    None => what.to_string(),
                };
                println!(
                    "{what}: cluster {} at zxid {} ({}), {} znodes, digest {}, {} bytes in {:.1} s -> {}/{}",
                    created.cluster_id,
                    created.zxid_hex,
                    created.time,
                    created.node_count,
                    created.digest,
                    created.snapshot_bytes,
                    created.seconds,
                    created.target,
                    created.manifest_key
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::List { target, keys, json } => {
            let target = keys.open(&target)?;
            let catalog = paddock_backup::catalog::read(&target).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&catalog)?);
                return Ok(ExitCode::SUCCESS);
            }
            if catalog.clusters.is_empty() {
                println!("{}: no backups", catalog.target);
            }
            for cluster in &catalog.clusters {
                println!("cluster {}", cluster.cluster_id);
                for m in &cluster.snapshots {
                    let size: u64 = m.objects.iter().map(|o| o.size).sum();
                    println!(
                        "  zxid {} (0x{:x})  {}  {} znodes  {} bytes  digest {}",
                        m.zxid, m.zxid, m.time, m.node_count, size, m.digest
                    );
                }
                for m in &cluster.subtrees {
                    let size: u64 = m.objects.iter().map(|o| o.size).sum();
                    println!(
                        "  subtree {} at zxid {} (0x{:x})  {}  {} znodes  {} bytes  digest {}  (restore --subtree only)",
                        m.subtree.as_deref().unwrap_or("/"),
                        m.zxid,
                        m.zxid,
                        m.time,
                        m.node_count,
                        size,
                        m.digest
                    );
                }
                for range in &cluster.log_ranges {
                    println!(
                        "  log zxid {}..={}  {} .. {}  (any zxid in this range after a snapshot can be restored)",
                        range.first, range.last, range.first_time, range.last_time
                    );
                }
                for (first, last) in cluster.gaps() {
                    println!("  GAP in the archived log: zxids {first}..={last} are missing");
                }
                for key in &cluster.incomplete {
                    println!("  incomplete (no manifest): {key}");
                }
                for why in &cluster.unreadable {
                    println!("  unreadable manifest: {why}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Verify { target, keys, json } => {
            let target = keys.open(&target)?;
            let bar = bytes_bar("verifying", json);
            let verified = paddock_backup::verify::verify(&target, &|n| bar.set_position(n)).await;
            bar.finish_and_clear();
            let verified = verified?;
            if json {
                println!("{}", serde_json::to_string_pretty(&verified)?);
            } else {
                for p in &verified.problems {
                    let zxid = p.zxid.map(|z| format!(" (zxid {z})")).unwrap_or_default();
                    println!("DAMAGED {}/{}{zxid}: {}", verified.target, p.key, p.problem);
                }
                println!(
                    "{}: {} backups sound, {} problems, {} bytes read",
                    verified.target,
                    verified.sound,
                    verified.problems.len(),
                    verified.bytes_read
                );
            }
            Ok(if verified.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        BackupCommand::Prune { target, keys, keep_last, keep_within, grace, cluster, dry_run, json } => {
            let target = keys.open(&target)?;
            let policy = paddock_backup::prune::Policy { keep_last, keep_within, grace, cluster };
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            let pruned = paddock_backup::prune::prune(&target, &policy, now_ms, dry_run).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&pruned)?);
                return Ok(ExitCode::SUCCESS);
            }
            for cluster in &pruned.clusters {
                for point in &cluster.kept {
                    let why = point.reasons.join(", ");
                    println!("keep cluster {} zxid {} ({}): {why}", cluster.cluster_id, point.zxid, point.time);
                }
                let id = &cluster.cluster_id;
                if cluster.kept.is_empty() && cluster.backups > 0 {
                    println!(
                        "WARNING cluster {id}: the policy keeps none of its {} backups (all older than --keep-within?)",
                        cluster.backups
                    );
                }
                match cluster.log_kept_after {
                    Some(zxid) => println!("keep cluster {id} archived log after zxid {zxid}"),
                    None => println!("keep cluster {id} archived log whole: no backup of it stays"),
                }
            }
            for object in &pruned.held {
                println!("hold {} ({} bytes): {}", object.key, object.size, object.reason);
            }
            for object in &pruned.reported {
                println!("PROBLEM {}: {}", object.key, object.reason);
            }
            let verb = if dry_run { "would delete" } else { "deleted" };
            for object in &pruned.deleted {
                println!("{verb} {} ({} bytes): {}", object.key, object.size, object.reason);
            }
            let (count, bytes) = (pruned.deleted.len(), pruned.bytes_freed);
            if dry_run {
                println!("{}: dry run, would delete {count} objects ({bytes} bytes)", pruned.target);
            } else {
                println!("{}: deleted {count} objects, {bytes} bytes freed", pruned.target);
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Rekey { target, keys, json } => rekey(&target, &keys, json).await,
    }
}

async fn rekey(target: &str, keys: &KeyArgs, json: bool) -> anyhow::Result<ExitCode> {
    if keys.encryption_key_file.is_empty() {
        anyhow::bail!("rekey needs --encryption-key-file NEW, then --encryption-key-file OLD for each old key");
    }
    let target = keys.open(target)?;
    let bar = count_bar("re-encrypting", json);
    let rekeyed = paddock_backup::rekey::rekey(&target, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    let rekeyed = rekeyed?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rekeyed)?);
    } else {
        println!(
            "{}: {} objects now encrypted with key {}: {} re-encrypted ({} of them were unencrypted, {} bytes), {} already were ({:.1} s)",
            rekeyed.target,
            rekeyed.objects,
            rekeyed.key_id,
            rekeyed.rekeyed,
            rekeyed.were_plaintext,
            rekeyed.bytes,
            rekeyed.already,
            rekeyed.seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run_restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    if args.into.is_some() {
        return crate::restore_into::run(args).await;
    }
    let target = args.keys.open(&args.from)?;
    let point = restore_point(args.zxid, args.time);
    let (data_dir, member) = destination(args.config.as_deref(), args.data_dir)?;
    let request = RestoreRequest {
        data_dir,
        member,
        cluster: args.cluster,
        point,
        bump: args.bump,
        keep_sessions: args.keep_sessions,
        dry_run: args.dry_run,
        subtree: args.subtree,
    };
    let plan = paddock_backup::restore::plan(&target, &request).await?;
    if !args.json {
        let base = match &plan.base {
            Some(m) => format!("the snapshot at zxid {} ({})", m.zxid, m.time),
            None => "the start of the log".to_string(),
        };
        let until =
            plan.until_ms.map(|ms| format!(" stamped at or before {}", manifest::rfc3339_ms(ms))).unwrap_or_default();
        eprintln!(
            "restoring cluster {} from {base}, replaying {} archived segments up to zxid {}{until}, into {}",
            plan.cluster_id,
            plan.segments.len(),
            plan.upto,
            request.data_dir.display()
        );
    }
    let bar = bytes_bar("downloading", args.json);
    let json = args.json;
    let resolved = |zxid: i64, time: &str| {
        if !json {
            bar.suspend(|| eprintln!("restore point: zxid {zxid} (0x{zxid:x}), {time}"));
        }
    };
    let restored = paddock_backup::restore::restore(&target, &request, &|n| bar.set_position(n), &resolved).await;
    bar.finish_and_clear();
    let restored = restored?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&restored)?);
    } else if restored.dry_run {
        println!("dry run: nothing written");
    } else {
        println!(
            "restored {} znodes at zxid 0x{:x} into {}: new cluster {}, continuing after zxid 0x{:x}; {} sessions and {} ephemerals dropped ({:.1} s)",
            restored.node_count,
            restored.zxid,
            restored.data_dir,
            restored.cluster_id,
            restored.last_zxid,
            restored.sessions_dropped,
            restored.ephemerals_dropped,
            restored.seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `--zxid` or `--time`, else the latest restore point.
pub(crate) fn restore_point(zxid: Option<i64>, time: Option<i64>) -> Point {
    match (zxid, time) {
        (Some(zxid), _) => Point::Zxid(zxid),
        (None, Some(ms)) => Point::Time(ms),
        (None, None) => Point::Latest,
    }
}

/// The directory to restore into and, for a member of an ensemble, who it is and who the others are.
pub(crate) fn destination(
    config: Option<&std::path::Path>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<(PathBuf, Option<MemberSeed>)> {
    let Some(path) = config else {
        let dir = data_dir
            .ok_or_else(|| anyhow::anyhow!("name the directory to restore into: --data-dir DIR or --config zoo.cfg"))?;
        return Ok((dir, None));
    };
    let (mut config, _warnings) = paddock_server::ServerConfig::load(path)?;
    if let Some(dir) = data_dir {
        config.data_dir = dir;
    }
    let Some(ensemble) = config.ensemble()? else { return Ok((config.data_dir, None)) };
    if config.log_dir() != config.data_dir.as_path() {
        anyhow::bail!(
            "{}: restoring a member whose dataLogDir differs from its dataDir is not supported yet",
            path.display()
        );
    }
    let members = ensemble.servers.iter().map(|(id, server)| (*id, server.peer_node())).collect();
    Ok((config.data_dir, Some(MemberSeed { my_id: ensemble.my_id, members })))
}

/// An object counter on a terminal; hidden with `--json` or when stderr is not a terminal.
fn count_bar(what: &str, json: bool) -> ProgressBar {
    if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} objects ({elapsed}, eta {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// A byte counter on a terminal; hidden with `--json` or when stderr is not a terminal.
pub(crate) fn bytes_bar(what: &str, json: bool) -> ProgressBar {
    if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{spinner} {msg} {bytes} ({bytes_per_sec}, {elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}
