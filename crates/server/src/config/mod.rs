//! Server configuration, read from a ZooKeeper `zoo.cfg` the way ZooKeeper reads it.
//!
//! `zoo.cfg` is a Java properties file: `key=value` (or `key: value`), `#`/`!` comments, surrounding
//! whitespace trimmed. Keys ZooKeeper knows keep ZooKeeper's meaning and defaults; Paddock's own keys start with
//! `paddock.`. Unknown keys are reported as warnings, never as failures, so an existing `zoo.cfg` always loads.
//!
//! Settings ZooKeeper takes as JVM system properties are keys too: `zookeeper.X` is read as `X`, and
//! `-D` flags in `SERVER_JVMFLAGS`/`JVMFLAGS` are read as keys the file does not set ([`jvm`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use paddock_proto::DEFAULT_MAX_BUFFER;
use paddock_storage::Pace;

mod ensemble;
pub mod jaas;
pub mod jvm;
mod limits;
mod security;

pub use ensemble::{Ensemble, QuorumServer, QuorumSettings, Role, Timeouts, parse_server_line};
pub use limits::{ConnectionThrottle, Limits, RequestThrottle};
pub use security::{AuthSettings, MASK, SaslLogin, Secret, is_secret_key, mask_properties};

/// Everything the server needs to know at start-up.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub tick_time_ms: u32,
    pub client_port: u16,
    pub client_port_address: IpAddr,
    pub data_dir: PathBuf,
    pub data_log_dir: Option<PathBuf>,
    pub max_client_cnxns: u32,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub extended_types_enabled: bool,
    /// `enforceQuota` (`zookeeper.enforceQuota`): hard quota limits refuse writes (docs/security.md §4).
    pub enforce_quota: bool,
    pub jute_max_buffer: usize,
    /// `None` means ZooKeeper's default whitelist (only `srvr`); `Some(vec!["*"])` means all.
    pub four_letter_whitelist: Vec<String>,
    /// `digest:` value of `zookeeper.DigestAuthenticationProvider.superDigest` (`super:<base64 sha1>`).
    pub super_digest: Option<String>,
    pub snap_count: u64,
    /// `paddock.snapshot.cpuShare`: the share of wall-clock time the snapshot writer may work, in (0, 1]
    /// (default 0.25; 1 writes flat out). See `paddock_storage::Pace`.
    pub snapshot_pace: Pace,
    pub snap_retain_count: usize,
    pub purge_interval_hours: u32,
    /// `paddock.autopurge.purgeIntervalMs`: the purge interval in milliseconds (wins over the hours).
    pub purge_interval_ms: Option<u64>,
    /// `paddock.wal.segmentBytes`: size at which a WAL segment is sealed (default 64 MiB).
    pub wal_segment_bytes: u64,
    /// `paddock.digestInterval`: every this many zxids the proposing server writes its state digest into
    /// the log (a `Digest` txn), which every replica and every replay of the log checks (1000; 0: never).
    pub digest_interval: u64,
    /// `paddock.workerThreads`: threads that run connections, the core and the Raft node (`None`: see
    /// [`ServerConfig::worker_threads`]).
    pub worker_threads: Option<usize>,
    /// `paddock.batchWaitMs`: in an ensemble, how long a server's next batch of writes may wait to be as
    /// large as its last (1; 0: never). See `docs/replication.md` §5.
    pub batch_wait_ms: u64,
    pub force_sync: bool,
    pub admin_enable_server: bool,
    pub admin_server_address: IpAddr,
    pub admin_server_port: u16,
    pub metrics_http_port: Option<u16>,
    /// `metricsProvider.httpHost`: where the Prometheus port listens.
    pub metrics_http_host: IpAddr,
    /// `admin.commandURL`: the path under which the admin commands answer.
    pub admin_command_url: String,
    /// `admin.rateLimiterIntervalInMS`: at most one admin `snapshot` per interval.
    pub admin_rate_limiter_interval_ms: u64,
    /// `admin.snapshot.enabled`: whether the admin `snapshot` command may run.
    pub admin_snapshot_enabled: bool,
    /// `admin.restore.enabled`: whether the admin `restore` command may run. Off by default, unlike
    /// ZooKeeper 3.9: a restore replaces live data, so an operator turns it on where it is wanted.
    pub admin_restore_enabled: bool,
    pub container_check_interval_ms: u64,
    pub container_max_never_used_ms: i64,
    /// `paddock.backup.*`: continuous archiving and scheduled backups (standalone servers).
    pub backup: BackupConfig,
    /// `server.N`, `initLimit`, `syncLimit` and the other quorum keys.
    pub quorum: QuorumSettings,
    /// SASL (the JAAS file) and enforced authentication.
    pub auth: AuthSettings,
    /// `globalOutstandingLimit`, `maxCnxns`, connection and request throttling, `paddock.maxOutboxBytes`,
    /// `paddock.maxWatchesPerSession` (docs/security.md §5).
    pub limits: Limits,
    /// Every key the file held, for `conf` and the admin `configuration` command.
    pub raw: BTreeMap<String, String>,
    /// Where the configuration came from, if a file.
    pub source: Option<PathBuf>,
}

/// More worker threads than this is a typo, not a machine.
const MAX_WORKER_THREADS: usize = 1024;
/// A batch held back longer than this would cost more latency than any fsync it saves (one is 0.1–10 ms).
const MAX_BATCH_WAIT_MS: u64 = 100;

/// A snapshot writer working a quarter of the time keeps the p99.9 of writes during snapshots within a few
/// percent of steady state on a loaded 2-core machine (at half, ~1.3x; flat out, ~2x: docs/benchmarks.md).
const DEFAULT_SNAPSHOT_PACE: Pace = match Pace::share(0.25) {
    Some(pace) => pace,
    None => Pace::FULL,
};

impl Default for ServerConfig {
    fn default() -> Self {
        let tick = 2000;
        ServerConfig {
            tick_time_ms: tick,
            client_port: 2181,
            client_port_address: IpAddr::from([0, 0, 0, 0]),
            data_dir: PathBuf::from("./paddock-data"),
            data_log_dir: None,
            max_client_cnxns: 60,
            min_session_timeout_ms: 2 * tick as i32,
            max_session_timeout_ms: 20 * tick as i32,
            extended_types_enabled: false,
            enforce_quota: false,
            jute_max_buffer: DEFAULT_MAX_BUFFER,
            four_letter_whitelist: vec!["srvr".to_string()],
            super_digest: None,
            snap_count: 100_000,
            snapshot_pace: DEFAULT_SNAPSHOT_PACE,
            snap_retain_count: 3,
            purge_interval_hours: 0,
            purge_interval_ms: None,
            wal_segment_bytes: 64 * 1024 * 1024,
            digest_interval: 1000,
            worker_threads: None,
            batch_wait_ms: 1,
            force_sync: true,
            admin_enable_server: true,
            admin_server_address: IpAddr::from([0, 0, 0, 0]),
            admin_server_port: 8080,
            metrics_http_port: None,
            metrics_http_host: IpAddr::from([0, 0, 0, 0]),
            admin_command_url: "/commands".to_string(),
            admin_rate_limiter_interval_ms: 300_000,
            admin_snapshot_enabled: true,
            admin_restore_enabled: false,
            container_check_interval_ms: 60_000,
            container_max_never_used_ms: 0,
            backup: BackupConfig::default(),
            quorum: QuorumSettings::default(),
            auth: AuthSettings::default(),
            limits: Limits::default(),
            raw: BTreeMap::new(),
            source: None,
        }
    }
}

/// `paddock.backup.*`: where a standalone server archives its log and backs up its tree, and how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupConfig {
    /// `paddock.backup.target`: a directory or `s3://bucket/prefix`; `None`: no archiving, no backups.
    pub target: Option<String>,
    /// `paddock.backup.archiveInterval`: the longest a durable log entry waits before it is archived (1s).
    pub archive_interval: Duration,
    /// `paddock.backup.snapshotInterval`: how often the whole tree is backed up (24h).
    pub snapshot_interval: Duration,
    /// `paddock.backup.maxUnarchivedBytes`: past this many bytes of log segments holding unarchived entries,
    /// retention purges the log as if archiving were off (1 GiB).
    pub max_unarchived_bytes: u64,
    /// `paddock.backup.retainLast` / `retainWithin` / `retainGrace`: after each scheduled backup the server
    /// prunes the target as `paddock backup prune --keep-last --keep-within --grace` would (off unless one
    /// of the first two is set; grace 15m).
    pub retain_last: Option<usize>,
    pub retain_within: Option<Duration>,
    pub retain_grace: Duration,
    /// `paddock.backup.verifyInterval`: how often the server verifies everything in the target as
    /// `paddock backup verify` does (off by default: it reads every object).
    pub verify_interval: Option<Duration>,
    /// `paddock.backup.encryptionKeyFile`: key files (comma-separated) encrypting everything written to the
    /// target, as `--encryption-key-file` does: the first encrypts, every one decrypts (rotation). Empty:
    /// no encryption.
    pub encryption_key_files: Vec<PathBuf>,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            target: None,
            archive_interval: Duration::from_secs(1),
            snapshot_interval: Duration::from_secs(24 * 3600),
            max_unarchived_bytes: 1 << 30,
            retain_last: None,
            retain_within: None,
            retain_grace: Duration::from_secs(15 * 60),
            verify_interval: None,
            encryption_key_files: Vec::new(),
        }
    }
}

/// A configuration value that could not be used; the message names the key and the value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config key {key}: invalid value {value:?}: {reason}")]
    Invalid { key: String, value: String, reason: String },
    #[error("myid file {path} {problem}")]
    MyId { path: PathBuf, problem: String },
    #[error("ensemble: {0}")]
    Ensemble(String),
    #[error(transparent)]
    Jaas(#[from] jaas::JaasError),
}

impl ServerConfig {
    /// Threads for the async runtime: `paddock.workerThreads`, or one per CPU but one, at least one. The CPU
    /// left over is for what runs beside the workers and must not wait for them: the log writer's fsyncs,
    /// the snapshot writer, and the kernel's network work (on a 2-CPU machine, a second worker only adds
    /// wake-ups between the two: measured in docs/benchmarks.md, 3-server ensembles).
    pub fn worker_threads(&self) -> usize {
        self.worker_threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |cpus| cpus.get().saturating_sub(1).max(1))
        })
    }

    /// Loads a `zoo.cfg`, with the `-D` flags of `SERVER_JVMFLAGS` and `JVMFLAGS`. Returns the config and
    /// the warnings (unknown keys, ignored quorum settings, malformed flags).
    pub fn load(path: &Path) -> Result<(ServerConfig, Vec<String>), ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let (flags, mut warnings) = jvm::from_env();
        let (mut config, more) = ServerConfig::parse_with_flags(&text, &flags)?;
        warnings.extend(more);
        config.source = Some(path.to_path_buf());
        Ok((config, warnings))
    }

    /// The configuration of a server started without a `zoo.cfg`: the defaults and the `-D` flags.
    pub fn from_env_flags() -> Result<(ServerConfig, Vec<String>), ConfigError> {
        let (flags, mut warnings) = jvm::from_env();
        let (config, more) = ServerConfig::parse_with_flags("", &flags)?;
        warnings.extend(more);
        Ok((config, warnings))
    }

    /// Parses `zoo.cfg` text.
    pub fn parse(text: &str) -> Result<(ServerConfig, Vec<String>), ConfigError> {
        ServerConfig::parse_with_flags(text, &[])
    }

    /// Parses `zoo.cfg` text under JVM `-D` flags: a key the file sets wins over a flag, as in ZooKeeper.
    /// Flags Paddock does not know are skipped silently (the JVM's own, logging's, ...), as ZooKeeper
    /// ignores system properties it does not read; a bad value of one it knows fails naming the flag.
    pub fn parse_with_flags(text: &str, flags: &[jvm::JvmFlag]) -> Result<(ServerConfig, Vec<String>), ConfigError> {
        let (raw, from_flag) = merge_flags(text, flags);
        let mut config = ServerConfig::default();
        let mut warnings = Vec::new();
        let mut min_set = false;
        let mut max_set = false;
        let mut client_port_set = false;
        for (key, value) in &raw {
            let flag = from_flag.get(key).copied();
            let applied = apply_key(&mut config, key, value).map_err(|e| name_flag(e, flag))?;
            match applied {
                Applied::Known => {}
                Applied::MinTimeout => min_set = true,
                Applied::MaxTimeout => max_set = true,
                Applied::ClientPort => client_port_set = true,
                Applied::Unknown if flag.is_some() => {}
                Applied::Unknown => warnings.push(format!("unknown config key {key} ignored")),
                Applied::Ignored(why) => warnings.push(format!("config key {key} ignored: {why}")),
            }
        }
        warnings.extend(config.auth.finish()?);
        // ZooKeeper derives the session timeout bounds from tickTime unless they are given explicitly.
        if !min_set {
            config.min_session_timeout_ms = 2 * config.tick_time_ms as i32;
        }
        if !max_set {
            config.max_session_timeout_ms = 20 * config.tick_time_ms as i32;
        }
        warnings.extend(config.check_own_line(client_port_set)?);
        config.raw = raw;
        Ok((config, warnings))
    }

    /// The ensemble this server belongs to (reading `myid` from the data directory), or `None` standalone.
    pub fn ensemble(&self) -> Result<Option<Ensemble>, ConfigError> {
        self.quorum.ensemble(&self.data_dir)
    }

    /// ZooKeeper takes the client port from the server's own `server.N` line when `clientPort` is unset, and
    /// refuses a `clientPort` that disagrees with it; `peerType` loses to the line.
    fn check_own_line(&mut self, client_port_set: bool) -> Result<Vec<String>, ConfigError> {
        let Ok(Some(ensemble)) = self.ensemble() else { return Ok(Vec::new()) };
        let Some(own) = ensemble.servers.get(&ensemble.my_id) else { return Ok(Vec::new()) };
        let mut warnings = Vec::new();
        if let Some((address, port)) = own.client {
            if client_port_set && self.client_port != port {
                return Err(ConfigError::Ensemble(format!(
                    "clientPort={} disagrees with the client port {port} in server.{}",
                    self.client_port, own.id
                )));
            }
            self.client_port = port;
            if let Some(address) = address {
                self.client_port_address = address;
            }
        }
        if self.quorum.peer_type.is_some_and(|role| role != own.role) {
            warnings.push(format!("peerType disagrees with server.{}; its role there wins, as in ZooKeeper", own.id));
        }
        Ok(warnings)
    }

    /// Clamps a client's requested session timeout into the configured bounds.
    pub fn negotiate_timeout(&self, requested_ms: i32) -> i32 {
        requested_ms.clamp(self.min_session_timeout_ms, self.max_session_timeout_ms.max(self.min_session_timeout_ms))
    }

    /// Whether a four-letter word may run (`4lw.commands.whitelist`).
    pub fn four_letter_allowed(&self, cmd: &str) -> bool {
        self.four_letter_whitelist.iter().any(|w| w == "*" || w == cmd)
    }

    /// The directory holding the write-ahead log (`dataLogDir`, or `dataDir` when unset).
    pub fn log_dir(&self) -> &Path {
        self.data_log_dir.as_deref().unwrap_or(&self.data_dir)
    }
}

enum Applied {
    Known,
    MinTimeout,
    MaxTimeout,
    ClientPort,
    Unknown,
    Ignored(&'static str),
}

fn apply_key(config: &mut ServerConfig, key: &str, value: &str) -> Result<Applied, ConfigError> {
    match key {
        "tickTime" => config.tick_time_ms = parse_num(key, value)?,
        "clientPortAddress" => config.client_port_address = parse_num(key, value)?,
        "dataDir" => config.data_dir = PathBuf::from(value),
        "dataLogDir" => config.data_log_dir = Some(PathBuf::from(value)),
        "maxClientCnxns" => config.max_client_cnxns = parse_num(key, value)?,
        "minSessionTimeout" => {
            config.min_session_timeout_ms = parse_num(key, value)?;
            return Ok(Applied::MinTimeout);
        }
        "maxSessionTimeout" => {
            config.max_session_timeout_ms = parse_num(key, value)?;
            return Ok(Applied::MaxTimeout);
        }
        "extendedTypesEnabled" | "zookeeper.extendedTypesEnabled" => {
            config.extended_types_enabled = parse_bool(key, value)?
        }
        "enforceQuota" | "zookeeper.enforceQuota" => config.enforce_quota = parse_bool(key, value)?,
        "jute.maxbuffer" => config.jute_max_buffer = parse_num(key, value)?,
        "4lw.commands.whitelist" => {
            config.four_letter_whitelist =
                value.split(',').map(|w| w.trim().to_string()).filter(|w| !w.is_empty()).collect()
        }
        "DigestAuthenticationProvider.superDigest"
        | "zookeeper.DigestAuthenticationProvider.superDigest"
        | "paddock.superDigest" => config.super_digest = Some(value.to_string()),
        "snapCount" => config.snap_count = parse_num(key, value)?,
        "paddock.snapshot.cpuShare" => {
            config.snapshot_pace = Pace::share(parse_num(key, value)?)
                .ok_or_else(|| bad_value(key, value, "a share of time above 0 and at most 1"))?
        }
        "autopurge.snapRetainCount" => {
            // ZooKeeper never keeps fewer than 3 snapshots, whatever the file says.
            config.snap_retain_count = parse_num::<usize>(key, value)?.max(3)
        }
        "autopurge.purgeInterval" => config.purge_interval_hours = parse_num(key, value)?,
        "paddock.autopurge.purgeIntervalMs" => config.purge_interval_ms = Some(parse_num(key, value)?),
        "paddock.wal.segmentBytes" => config.wal_segment_bytes = parse_num::<u64>(key, value)?.max(4096),
        "paddock.digestInterval" => config.digest_interval = parse_num(key, value)?,
        "paddock.workerThreads" => {
            let threads = parse_num::<usize>(key, value)?;
            if !(1..=MAX_WORKER_THREADS).contains(&threads) {
                return Err(bad_value(key, value, &format!("a number of threads from 1 to {MAX_WORKER_THREADS}")));
            }
            config.worker_threads = Some(threads);
        }
        "paddock.batchWaitMs" => {
            config.batch_wait_ms = parse_num(key, value)?;
            if config.batch_wait_ms > MAX_BATCH_WAIT_MS {
                return Err(bad_value(key, value, &format!("milliseconds from 0 to {MAX_BATCH_WAIT_MS}")));
            }
        }
        "forceSync" => config.force_sync = !value.eq_ignore_ascii_case("no"),
        "admin.enableServer" => config.admin_enable_server = parse_bool(key, value)?,
        "admin.serverAddress" => config.admin_server_address = parse_num(key, value)?,
        "admin.serverPort" => config.admin_server_port = parse_num(key, value)?,
        "metricsProvider.httpPort" => config.metrics_http_port = Some(parse_num(key, value)?),
        "metricsProvider.className" => {}
        "metricsProvider.httpHost" => config.metrics_http_host = parse_num(key, value)?,
        "admin.commandURL" => config.admin_command_url = value.to_string(),
        "admin.rateLimiterIntervalInMS" => config.admin_rate_limiter_interval_ms = parse_num(key, value)?,
        "admin.snapshot.enabled" => config.admin_snapshot_enabled = parse_bool(key, value)?,
        "admin.restore.enabled" => config.admin_restore_enabled = parse_bool(key, value)?,
        "paddock.backup.target" => config.backup.target = Some(value.to_string()),
        "paddock.backup.archiveInterval" => config.backup.archive_interval = parse_interval(key, value)?,
        "paddock.backup.snapshotInterval" => config.backup.snapshot_interval = parse_interval(key, value)?,
        "paddock.backup.maxUnarchivedBytes" => config.backup.max_unarchived_bytes = parse_bytes(key, value)?,
        "paddock.backup.retainLast" => config.backup.retain_last = Some(parse_num(key, value)?),
        "paddock.backup.retainWithin" => config.backup.retain_within = Some(parse_duration(key, value)?),
        "paddock.backup.retainGrace" => config.backup.retain_grace = parse_duration(key, value)?,
        "paddock.backup.verifyInterval" => config.backup.verify_interval = Some(parse_interval(key, value)?),
        "paddock.backup.encryptionKeyFile" => {
            config.backup.encryption_key_files =
                value.split(',').map(str::trim).filter(|f| !f.is_empty()).map(PathBuf::from).collect()
        }
        "znode.container.checkIntervalMs" => config.container_check_interval_ms = parse_num(key, value)?,
        "znode.container.maxNeverUsedIntervalMs" => config.container_max_never_used_ms = parse_num(key, value)?,
        "clientPort" => {
            config.client_port = parse_num(key, value)?;
            return Ok(Applied::ClientPort);
        }
        "electionAlg" => return Ok(Applied::Ignored("Paddock elects with Raft over the peer port")),
        "quorumListenOnAllIPs" => return Ok(Applied::Ignored("the peer port listens on the server's own address")),
        "portUnification" | "zookeeper.portUnification" => {
            return Ok(Applied::Ignored("the peer port is TLS only with sslQuorum, plain only without"));
        }
        k if config.quorum.apply(k, value)? => {}
        k if let Some(applied) = config.auth.apply(k, value)? => return Ok(applied),
        k if config.limits.apply(k, value)? => {}
        // Read by `crate::tls` (and `admin::https`) from `raw`, when the server starts.
        k if crate::tls::is_tls_key(k) => {}
        "admin.forceHttps" | "admin.portUnification" => {}
        k if k.starts_with("admin.") || k.starts_with("metricsProvider.") => {
            return Ok(Applied::Ignored("not supported by Paddock"));
        }
        _ => return Ok(Applied::Unknown),
    }
    Ok(Applied::Known)
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.parse::<T>().map_err(|e| ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        reason: e.to_string(),
    })
}

/// A duration with its unit, which Paddock's own duration keys require: `500ms`, `1s`, `15m`, `24h`, `7d`
/// (a whole number, then `ms`, `s`, `m`, `h` or `d`). A bare number is refused: `5` could mean any unit.
pub fn parse_duration(key: &str, value: &str) -> Result<Duration, ConfigError> {
    paddock_backup::duration::parse_duration(value).map_err(|reason| ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        reason,
    })
}

/// [`parse_duration`] of an interval: above zero.
fn parse_interval(key: &str, value: &str) -> Result<Duration, ConfigError> {
    let interval = parse_duration(key, value)?;
    if interval.is_zero() {
        return Err(bad_value(key, value, "an interval above 0"));
    }
    Ok(interval)
}

/// A size in bytes: a whole number, alone (bytes) or with `KiB`, `MiB`, `GiB` or `TiB`.
pub fn parse_bytes(key: &str, value: &str) -> Result<u64, ConfigError> {
    const EXPECTED: &str = "a number of bytes, or one with KiB, MiB, GiB or TiB (e.g. 512MiB)";
    let text = value.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "kib" => 10,
        "mib" => 20,
        "gib" => 30,
        "tib" => 40,
        _ => return Err(bad_value(key, value, EXPECTED)),
    };
    let number: u64 = number.parse().map_err(|_| bad_value(key, value, EXPECTED))?;
    number.checked_mul(1 << shift).ok_or_else(|| bad_value(key, value, "a smaller size"))
}

fn bad_value(key: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid { key: key.to_string(), value: value.to_string(), reason: format!("expected {expected}") }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(bad_value(key, value, "true or false")),
    }
}

/// The keys of the file and of the flags, the file's winning, keyed as [`jvm::property_key`] names them;
/// and which came from a flag.
fn merge_flags<'f>(
    text: &str,
    flags: &'f [jvm::JvmFlag],
) -> (BTreeMap<String, String>, BTreeMap<String, &'f jvm::JvmFlag>) {
    let mut raw = BTreeMap::new();
    let mut from_flag = BTreeMap::new();
    for flag in flags {
        raw.insert(flag.key().to_string(), flag.value.clone());
        from_flag.insert(flag.key().to_string(), flag);
    }
    for (key, value) in parse_properties(text) {
        let key = jvm::property_key(&key).to_string();
        from_flag.remove(&key);
        raw.insert(key, value);
    }
    (raw, from_flag)
}

/// A bad value that came from a flag is reported as the flag: `-Dzookeeper.X (from JVMFLAGS)`.
fn name_flag(error: ConfigError, flag: Option<&jvm::JvmFlag>) -> ConfigError {
    match (error, flag) {
        (ConfigError::Invalid { value, reason, .. }, Some(flag)) => {
            ConfigError::Invalid { key: format!("-D{} (from {})", flag.property, flag.source), value, reason }
        }
        (error, _) => error,
    }
}

/// Java-properties-style parsing, as much of it as `zoo.cfg` files use.
fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']).unwrap_or(line.len());
        let key = line[..split].trim();
        let value = line.get(split + 1..).unwrap_or("").trim();
        if !key.is_empty() {
            map.insert(key.to_string(), value.to_string());
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_zookeeper_keys_and_warns_on_unknown_ones() {
        let text = "# sample\ntickTime=1000\nclientPort = 2999\ndataDir=/tmp/x\nfoo.bar=1\n\
                    maxClientCnxns=5\nextendedTypesEnabled=true\njute.maxbuffer=4096\nserver.1=a:1:2\n";
        let (config, warnings) = ServerConfig::parse(text).expect("parses");
        assert_eq!(config.tick_time_ms, 1000);
        assert_eq!(config.client_port, 2999);
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.max_client_cnxns, 5);
        assert!(config.extended_types_enabled);
        assert_eq!(config.jute_max_buffer, 4096);
        assert_eq!(config.min_session_timeout_ms, 2000);
        assert_eq!(config.max_session_timeout_ms, 20000);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(config.quorum.servers.len(), 1, "one server.N line: standalone");
        assert_eq!(config.ensemble().ok(), Some(None));
        assert!(warnings.iter().any(|w| w.contains("foo.bar")));
    }

    #[test]
    fn explicit_session_bounds_win_and_negotiation_clamps() {
        let (config, _) = ServerConfig::parse("minSessionTimeout=3000\nmaxSessionTimeout=9000").expect("parses");
        assert_eq!(config.negotiate_timeout(100), 3000);
        assert_eq!(config.negotiate_timeout(5000), 5000);
        assert_eq!(config.negotiate_timeout(100_000), 9000);
    }

    #[test]
    fn bad_value_names_the_key() {
        let err = ServerConfig::parse("clientPort=abc").expect_err("must fail");
        assert!(err.to_string().contains("clientPort"), "{err}");
    }

    #[test]
    fn snapshot_cpu_share_is_a_share_of_time() {
        assert_eq!(ServerConfig::default().snapshot_pace, DEFAULT_SNAPSHOT_PACE);
        let (config, _) = ServerConfig::parse("paddock.snapshot.cpuShare=1").expect("parses");
        assert_eq!(config.snapshot_pace, Pace::FULL);
        for bad in ["0", "1.5", "-0.1", "quarter"] {
            let err = ServerConfig::parse(&format!("paddock.snapshot.cpuShare={bad}")).expect_err(bad);
            assert!(err.to_string().contains("paddock.snapshot.cpuShare"), "{err}");
        }
    }

    #[test]
    fn batch_wait_defaults_to_a_millisecond_and_takes_zero_to_a_bound() {
        assert_eq!(ServerConfig::default().batch_wait_ms, 1);
        for (value, ms) in [("0", 0), ("5", 5), ("100", 100)] {
            let (config, _) = ServerConfig::parse(&format!("paddock.batchWaitMs={value}")).expect(value);
            assert_eq!(config.batch_wait_ms, ms);
        }
        for bad in ["101", "-1", "soon"] {
            let err = ServerConfig::parse(&format!("paddock.batchWaitMs={bad}")).expect_err(bad);
            assert!(err.to_string().contains("paddock.batchWaitMs"), "{err}");
        }
    }

    #[test]
    fn worker_threads_default_to_all_cpus_but_one_and_take_a_count() {
        let (default, _) = ServerConfig::parse("").expect("parses");
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(default.worker_threads(), (cpus - 1).max(1));
        let (config, warnings) = ServerConfig::parse("paddock.workerThreads=3").expect("parses");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.worker_threads(), 3);
        for bad in ["0", "-1", "many", "1025"] {
            let err = ServerConfig::parse(&format!("paddock.workerThreads={bad}")).expect_err(bad);
            assert!(err.to_string().contains("paddock.workerThreads"), "{err}");
        }
    }

    #[test]
    fn digest_interval_is_a_count_of_zxids_and_zero_turns_it_off() {
        assert_eq!(ServerConfig::default().digest_interval, 1000);
        let (config, warnings) = ServerConfig::parse("paddock.digestInterval=20").expect("parses");
        assert_eq!((config.digest_interval, warnings.len()), (20, 0));
        assert_eq!(ServerConfig::parse("paddock.digestInterval=0").expect("parses").0.digest_interval, 0);
        for bad in ["-1", "1s", "lots"] {
            let err = ServerConfig::parse(&format!("paddock.digestInterval={bad}")).expect_err(bad);
            assert!(err.to_string().contains("paddock.digestInterval"), "{err}");
        }
    }

    fn ensemble_dir(myid: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        if let Some(myid) = myid {
            std::fs::write(dir.path().join("myid"), myid).expect("myid written");
        }
        dir
    }

    fn three_servers(dir: &Path, extra: &str) -> Result<(ServerConfig, Vec<String>), ConfigError> {
        ServerConfig::parse(&format!(
            "dataDir={}\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889;2182\n\
             server.3=127.0.0.1:2890:3890:observer;127.0.0.2:2183\n{extra}",
            dir.display()
        ))
    }

    #[test]
    fn an_ensemble_needs_its_own_id_in_myid() {
        let dir = ensemble_dir(Some("2\n"));
        let (config, warnings) =
            three_servers(dir.path(), "initLimit=7\nsyncLimit=3\npeerType=observer").expect("parses");
        let ensemble = config.ensemble().expect("valid").expect("an ensemble");
        assert_eq!(ensemble.my_id, 2);
        assert_eq!(ensemble.servers[&3].role, Role::Observer);
        assert_eq!(config.client_port, 2182, "the client port comes from the server's own line");
        assert_eq!((config.quorum.init_limit, config.quorum.sync_limit), (7, 3));
        assert!(warnings.iter().any(|w| w.contains("peerType")), "{warnings:?}");
        for (myid, expected) in
            [(None, "cannot be read"), (Some("two"), "not a server id"), (Some("4"), "names server 4")]
        {
            let dir = ensemble_dir(myid);
            let (config, _) = three_servers(dir.path(), "").expect("parses");
            let err = config.ensemble().expect_err("bad myid").to_string();
            assert!(err.contains("myid") && err.contains(expected), "{err}");
        }
    }

    #[test]
    fn a_client_port_that_disagrees_with_the_server_line_is_refused() {
        let dir = ensemble_dir(Some("2"));
        assert!(three_servers(dir.path(), "clientPort=2182").is_ok());
        let err = three_servers(dir.path(), "clientPort=2999").expect_err("disagrees").to_string();
        assert!(err.contains("clientPort=2999") && err.contains("server.2"), "{err}");
        let err = ServerConfig::parse("group.1=1:2:3").expect_err("hierarchical").to_string();
        assert!(err.contains("group.1"), "{err}");
    }

    #[test]
    fn durations_need_a_unit() {
        let d = |v: &str| parse_duration("k", v).map_err(|e| e.to_string());
        assert_eq!(d("500ms").ok(), Some(Duration::from_millis(500)));
        assert_eq!(d("1s").ok(), Some(Duration::from_secs(1)));
        assert_eq!(d("15m").ok(), Some(Duration::from_secs(15 * 60)));
        assert_eq!(d("24h").ok(), Some(Duration::from_secs(24 * 3600)));
        assert_eq!(d("7d").ok(), Some(Duration::from_secs(7 * 24 * 3600)));
        assert_eq!(d(" 2 s ").ok(), Some(Duration::from_secs(2)), "spaces around and before the unit");
        assert_eq!(d("0s").ok(), Some(Duration::ZERO));
        assert_eq!(d("3650d").ok(), Some(Duration::from_secs(3650 * 86_400)));
        assert!(d("3651d").expect_err("too long").contains("at most 3650d"));
        for bad in ["5", "", "s", "1.5s", "-1s", "1 sec", "1S", "10w", "ms500", "99999999999999999999d", "1e3ms"] {
            let err = d(bad).expect_err(bad);
            assert!(err.contains("config key k") && err.contains("unit"), "{bad}: {err}");
        }
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        let b = |v: &str| parse_bytes("k", v).ok();
        assert_eq!(b("4096"), Some(4096));
        assert_eq!(b("64KiB"), Some(64 << 10));
        assert_eq!(b("512 MiB"), Some(512 << 20));
        assert_eq!(b("1GiB"), Some(1 << 30));
        assert_eq!(b("2gib"), Some(2 << 30));
        for bad in ["", "1GB", "1.5GiB", "-1", "GiB", "99999999999TiB"] {
            assert!(b(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn backup_keys_are_read_and_bad_values_name_the_key() {
        assert_eq!(ServerConfig::default().backup, BackupConfig::default());
        assert_eq!(BackupConfig::default().archive_interval, Duration::from_secs(1));
        assert_eq!(BackupConfig::default().snapshot_interval, Duration::from_secs(86_400));
        assert_eq!(BackupConfig::default().max_unarchived_bytes, 1 << 30);
        let (config, warnings) = ServerConfig::parse(
            "paddock.backup.target=s3://b/p\npaddock.backup.archiveInterval=200ms\n\
             paddock.backup.snapshotInterval=6h\npaddock.backup.maxUnarchivedBytes=64MiB",
        )
        .expect("parses");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.backup.target.as_deref(), Some("s3://b/p"));
        assert_eq!(config.backup.archive_interval, Duration::from_millis(200));
        assert_eq!(config.backup.snapshot_interval, Duration::from_secs(6 * 3600));
        assert_eq!(config.backup.max_unarchived_bytes, 64 << 20);
        for (key, bad) in [
            ("paddock.backup.archiveInterval", "5"),
            ("paddock.backup.archiveInterval", "0ms"),
            ("paddock.backup.snapshotInterval", "1y"),
            ("paddock.backup.maxUnarchivedBytes", "1GB"),
        ] {
            let err = ServerConfig::parse(&format!("{key}={bad}")).expect_err(bad).to_string();
            assert!(err.contains(key) && err.contains(&format!("{bad:?}")) && !err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn snap_retain_count_never_below_three() {
        let (config, _) = ServerConfig::parse("autopurge.snapRetainCount=1").expect("parses");
        assert_eq!(config.snap_retain_count, 3);
    }
}
