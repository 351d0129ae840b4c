//! The shell's commands: their names, flags and usage lines (zkCli's), and parsing a command's words into
//! a [`Command`]. Everything that can be judged without a server is judged here, so a malformed command
//! never needs a connection.

use std::time::Duration;

use zookeeper_client::{Acl, AddWatchMode, CreateMode};

use super::acl;
use super::errors::ShellError;
use super::options::{self, Flag, Parsed};
use super::paths;
use super::quota::{self, QuotaKind};

/// A command line the shell can run. `Connect` without a server connects to the current connect string
/// again; `Redo` runs history entry `index` again.
#[derive(Debug)]
pub(crate) enum Command {
    Ls { path: String, stat: bool, watch: bool, recursive: bool },
    Get { path: String, stat: bool, watch: bool },
    Set { path: String, data: Vec<u8>, stat: bool, version: Option<i32> },
    Create { path: String, data: Vec<u8>, mode: CreateMode, ttl: Option<Duration>, acl: Option<Vec<Acl>> },
    Delete { path: String, version: Option<i32> },
    DeleteAll { path: String, batch: usize },
    Stat { path: String, watch: bool },
    GetAcl { path: String, stat: bool },
    SetAcl { path: String, acl: Vec<Acl>, stat: bool, version: Option<i32>, recursive: bool },
    AddAuth { scheme: String, auth: Vec<u8> },
    Sync { path: String },
    GetEphemerals { path: String },
    GetAllChildrenNumber { path: String },
    WhoAmI,
    AddWatch { path: String, mode: AddWatchMode },
    RemoveWatches { path: String, which: WatchFilter },
    Config { client_form: bool, watch: bool, stat: bool },
    Reconfig { update: Reconfig, version: Option<i64>, stat: bool },
    SetQuota { path: String, kind: QuotaKind, limit: i64 },
    ListQuota { path: String },
    DelQuota { path: String, kind: Option<QuotaKind> },
    PrintWatches { enable: Option<bool> },
    Connect { server: Option<String> },
    Close,
    Redo { index: i64 },
    History,
    Version,
    Help,
    Quit,
}

/// Which watches `removewatches` removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WatchFilter {
    Data,
    Child,
    Any,
}

/// A reconfiguration: servers to add and remove, or a whole new membership.
#[derive(Debug)]
pub(crate) enum Reconfig {
    Incremental { joining: Vec<String>, leaving: Vec<String> },
    New { members: Vec<String> },
}

/// A command's name, flags and zkCli usage synopsis.
pub(crate) struct Spec {
    pub name: &'static str,
    pub synopsis: &'static str,
    flags: &'static [Flag],
}

impl Spec {
    /// The usage line zkCli prints for the command.
    pub fn usage(&self) -> String {
        format!("{} {}", self.name, self.synopsis)
    }
}

/// Every command, in zkCli's help order.
pub(crate) const SPECS: &[Spec] = &[
    Spec {
        name: "addWatch",
        synopsis: "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE",
        flags: &[Flag::value("m")],
    },
    Spec { name: "addauth", synopsis: "scheme auth", flags: &[] },
    Spec { name: "close", synopsis: "", flags: &[] },
    Spec {
        name: "config",
        synopsis: "[-c] [-w] [-s]",
        flags: &[Flag::switch("c"), Flag::switch("w"), Flag::switch("s")],
    },
    Spec { name: "connect", synopsis: "host:port", flags: &[] },
    Spec {
        name: "create",
        synopsis: "[-s] [-e] [-c] [-t ttl] path [data] [acl]",
        flags: &[Flag::switch("s"), Flag::switch("e"), Flag::switch("c"), Flag::value("t")],
    },
    Spec { name: "delete", synopsis: "[-v version] path", flags: &[Flag::value("v")] },
    Spec { name: "deleteall", synopsis: "path [-b batch size]", flags: &[Flag::value("b")] },
    // The quota commands' flags are read by `quota::parse`.
    Spec { name: "delquota", synopsis: "[-n|-b|-N|-B] path", flags: &[] },
    Spec { name: "get", synopsis: "[-s] [-w] path", flags: &[Flag::switch("s"), Flag::switch("w")] },
    Spec { name: "getAcl", synopsis: "[-s] path", flags: &[Flag::switch("s")] },
    Spec { name: "getAllChildrenNumber", synopsis: "path", flags: &[] },
    Spec { name: "getEphemerals", synopsis: "path", flags: &[] },
    Spec { name: "help", synopsis: "", flags: &[] },
    Spec { name: "history", synopsis: "", flags: &[] },
    Spec { name: "listquota", synopsis: "path", flags: &[] },
    Spec {
        name: "ls",
        synopsis: "[-s] [-w] [-R] path",
        flags: &[Flag::switch("s"), Flag::switch("w"), Flag::switch("R")],
    },
    Spec { name: "printwatches", synopsis: "on|off", flags: &[] },
    Spec { name: "quit", synopsis: "", flags: &[] },
    Spec {
        name: "reconfig",
        synopsis: "[-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]",
        flags: &[
            Flag::switch("s"),
            Flag::value("v"),
            Flag::value("file"),
            Flag::value("members"),
            Flag::value("add"),
            Flag::value("remove"),
        ],
    },
    Spec { name: "redo", synopsis: "cmdno", flags: &[] },
    Spec {
        name: "removewatches",
        synopsis: "path [-c|-d|-a] [-l]",
        flags: &[Flag::switch("c"), Flag::switch("d"), Flag::switch("a"), Flag::switch("l")],
    },
    Spec { name: "set", synopsis: "[-s] [-v version] path data", flags: &[Flag::switch("s"), Flag::value("v")] },
    Spec {
        name: "setAcl",
        synopsis: "[-s] [-v version] [-R] path acl",
        flags: &[Flag::switch("s"), Flag::value("v"), Flag::switch("R")],
    },
    Spec { name: "setquota", synopsis: "-n|-b|-N|-B val path", flags: &[] },
    Spec { name: "stat", synopsis: "[-w] path", flags: &[Flag::switch("w")] },
    Spec { name: "sync", synopsis: "path", flags: &[] },
    Spec { name: "version", synopsis: "", flags: &[] },
    Spec { name: "whoami", synopsis: "", flags: &[] },
];

/// zkCli's own commands, which read their words as given: no flags (`redo -1` is an index, not a flag).
const PLAIN_WORDS: &[&str] = &["connect", "redo"];

/// zkCli's largest TTL: the milliseconds that fit in the 40 bits an ephemeralOwner leaves for them.
const MAX_TTL_MILLIS: i64 = 0xFF_FFFF_FFFF;
/// zkCli's default `deleteall -b`.
const DEFAULT_DELETE_BATCH: usize = 1000;

/// A parsed command, the non-fatal complaints zkCli would print on the way (bad ACL entries, deprecated
/// forms), and what it prints on stderr before running the command (`listquota`'s node path).
#[derive(Debug)]
pub(crate) struct ParsedCommand {
    pub command: Command,
    pub warnings: Vec<String>,
    pub notices: Vec<String>,
}

/// Parses a command line already split into words (`words[0]` is the command name).
pub(crate) fn parse(words: &[String]) -> Result<ParsedCommand, ShellError> {
    let Some((name, rest)) = words.split_first() else {
        return Err(ShellError::Malformed("no command given".to_owned()));
    };
    let spec = SPECS.iter().find(|s| s.name == name).ok_or_else(|| ShellError::UnknownCommand(name.clone()))?;
    if quota::COMMANDS.contains(&spec.name) {
        let command = quota::parse(spec.name, rest, spec.usage())?;
        let notices = match &command {
            Command::ListQuota { path } => vec![quota::listing_notice(path)],
            _ => Vec::new(),
        };
        return Ok(ParsedCommand { command, warnings: Vec::new(), notices });
    }
    let parsed = if PLAIN_WORDS.contains(&spec.name) {
        Parsed::plain(rest)
    } else {
        options::parse(rest, spec.flags).map_err(|detail| usage(spec, Some(detail)))?
    };
    let mut warnings = Vec::new();
    let command = build(spec, &parsed, &mut warnings)?;
    Ok(ParsedCommand { command, warnings, notices: Vec::new() })
}

/// The usage line of the command called `name` (empty for a name that is no command).
pub(crate) fn usage_line(name: &str) -> String {
    SPECS.iter().find(|s| s.name == name).map(Spec::usage).unwrap_or_default()
}

fn usage(spec: &Spec, detail: Option<String>) -> ShellError {
    ShellError::Usage { detail, usage: spec.usage() }
}

fn build(spec: &Spec, p: &Parsed, warnings: &mut Vec<String>) -> Result<Command, ShellError> {
    let required = |index: usize| p.arg(index).map(str::to_owned).ok_or_else(|| usage(spec, None));
    let command = match spec.name {
        "ls" => {
            let path = checked_path(required(0)?)?;
            let watch = p.has("w") || deprecated_watch(p, "ls", "ls [-w] path", warnings);
            Command::Ls { path, stat: p.has("s"), watch, recursive: p.has("R") }
        }
        "get" => {
            let path = checked_path(required(0)?)?;
            let watch = p.has("w") || deprecated_watch(p, "get", "get [-s] [-w] path", warnings);
            Command::Get { path, stat: p.has("s"), watch }
        }
        "stat" => {
            let path = checked_path(required(0)?)?;
            let watch = p.has("w") || deprecated_watch(p, "stat", "stat [-w] path", warnings);
            Command::Stat { path, watch }
        }
        "set" => {
            let path = checked_path(required(0)?)?;
            let data = required(1)?.into_bytes();
            Command::Set { path, data, stat: p.has("s"), version: version(spec, p)? }
        }
        "create" => create(spec, p, warnings)?,
        "delete" => Command::Delete { path: checked_path(required(0)?)?, version: version(spec, p)? },
        "deleteall" => {
            let path = checked_path(required(0)?)?;
            let batch =
                match p.value("b") {
                    None => DEFAULT_DELETE_BATCH,
                    Some(b) => b.parse().ok().filter(|b| *b > 0).ok_or_else(|| {
                        ShellError::Malformed("-b argument must be a positive integer value".to_owned())
                    })?,
                };
            Command::DeleteAll { path, batch }
        }
        "getAcl" => Command::GetAcl { path: checked_path(required(0)?)?, stat: p.has("s") },
        "setAcl" => {
            let path = checked_path(required(0)?)?;
            let (acl, acl_warnings) = acl::parse(&required(1)?);
            warnings.extend(acl_warnings);
            Command::SetAcl { path, acl, stat: p.has("s"), version: version(spec, p)?, recursive: p.has("R") }
        }
        "addauth" => {
            let scheme = required(0)?;
            Command::AddAuth { scheme, auth: p.arg(1).unwrap_or_default().as_bytes().to_vec() }
        }
        "sync" => Command::Sync { path: checked_path(required(0)?)? },
        "getEphemerals" => Command::GetEphemerals { path: checked_path(p.arg(0).unwrap_or("/").to_owned())? },
        "getAllChildrenNumber" => Command::GetAllChildrenNumber { path: checked_path(required(0)?)? },
        "whoami" => Command::WhoAmI,
        "addWatch" => {
            let path = checked_path(required(0)?)?;
            let mode = match p.value("m").map(str::to_ascii_uppercase).as_deref() {
                None | Some("PERSISTENT_RECURSIVE") => AddWatchMode::PersistentRecursive,
                Some("PERSISTENT") => AddWatchMode::Persistent,
                Some(_) => return Err(usage(spec, None)),
            };
            Command::AddWatch { path, mode }
        }
        "removewatches" => {
            let path = checked_path(required(0)?)?;
            let which = match (p.has("c"), p.has("d")) {
                (true, false) => WatchFilter::Child,
                (false, true) => WatchFilter::Data,
                _ => WatchFilter::Any,
            };
            Command::RemoveWatches { path, which }
        }
        "config" => Command::Config { client_form: p.has("c"), watch: p.has("w"), stat: p.has("s") },
        "reconfig" => reconfig(spec, p)?,
        "printwatches" => Command::PrintWatches {
            enable: match p.arg(0) {
                None => None,
                Some("on") => Some(true),
                Some("off") => Some(false),
                Some(_) => return Err(usage(spec, None)),
            },
        },
        "connect" => Command::Connect { server: p.arg(0).map(str::to_owned) },
        "close" => Command::Close,
        "redo" => Command::Redo { index: p.arg(0).and_then(java_integer).ok_or_else(|| usage(spec, None))? },
        "history" => Command::History,
        "version" => Command::Version,
        "help" => Command::Help,
        _ => Command::Quit,
    };
    Ok(command)
}

/// A number as Java's `Integer.decode` reads it (zkCli's `redo`): an optional sign, then decimal, `0x`,
/// `0X` or `#` hexadecimal, or `0`-prefixed octal, within 32 bits.
fn java_integer(word: &str) -> Option<i64> {
    let (negative, digits) = match word.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, word.strip_prefix('+').unwrap_or(word)),
    };
    let (radix, digits) = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        (16, hex)
    } else if let Some(hex) = digits.strip_prefix('#') {
        (16, hex)
    } else if digits.len() > 1
        && let Some(octal) = digits.strip_prefix('0')
    {
        (8, octal)
    } else {
        (10, digits)
    };
    // A second sign (`--1`, `0x-1`) is as invalid to Java as to zkCli.
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = i64::from_str_radix(digits, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i32::try_from(value).ok().map(i64::from)
}

fn checked_path(path: String) -> Result<String, ShellError> {
    paths::validate(&path, false).map_err(ShellError::Malformed)?;
    Ok(path)
}

/// zkCli still accepts `ls path watch` (any second word) with a warning.
fn deprecated_watch(p: &Parsed, name: &str, modern: &str, warnings: &mut Vec<String>) -> bool {
    if p.args.len() < 2 {
        return false;
    }
    warnings.push(format!("'{name} path [watch]' has been deprecated. Please use '{modern}' instead."));
    true
}

fn version(spec: &Spec, p: &Parsed) -> Result<Option<i32>, ShellError> {
    p.value("v")
        .map(|v| v.parse::<i32>().map_err(|_| usage(spec, Some(format!("version must be an integer: {v}")))))
        .transpose()
}

fn create(spec: &Spec, p: &Parsed, warnings: &mut Vec<String>) -> Result<Command, ShellError> {
    let (ephemeral, sequential, container, ttl) = (p.has("e"), p.has("s"), p.has("c"), p.value("t"));
    let path = p.arg(0).ok_or_else(|| usage(spec, None))?.to_owned();
    if container && (ephemeral || sequential) {
        return malformed("-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.");
    }
    let ttl = match ttl {
        None => None,
        Some(t) => Some(t.parse::<i64>().or(malformed("-t argument must be a long value"))?),
    };
    if ttl.is_some() && ephemeral {
        return malformed("TTLs cannot be used with Ephemeral znodes");
    }
    if ttl.is_some() && container {
        return malformed("TTLs cannot be used with Container znodes");
    }
    if ttl.is_some_and(|t| t <= 0 || t > MAX_TTL_MILLIS) {
        return malformed(&format!("ttl must be positive and cannot be larger than: {MAX_TTL_MILLIS}"));
    }
    let mode = match (ephemeral, sequential, container) {
        (true, true, _) => CreateMode::EphemeralSequential,
        (true, false, _) => CreateMode::Ephemeral,
        (false, true, _) => CreateMode::PersistentSequential,
        (false, false, true) => CreateMode::Container,
        (false, false, false) => CreateMode::Persistent,
    };
    paths::validate(&path, sequential).map_err(ShellError::Malformed)?;
    let data = p.arg(1).unwrap_or_default().as_bytes().to_vec();
    let acl = p.arg(2).map(|text| {
        let (acl, acl_warnings) = acl::parse(text);
        warnings.extend(acl_warnings);
        acl
    });
    let ttl = ttl.and_then(|t| u64::try_from(t).ok()).map(Duration::from_millis);
    Ok(Command::Create { path, data, mode, ttl, acl })
}

fn malformed<T>(message: &str) -> Result<T, ShellError> {
    Err(ShellError::Malformed(message.to_owned()))
}

fn reconfig(spec: &Spec, p: &Parsed) -> Result<Command, ShellError> {
    let (file, members, add, remove) = (p.value("file"), p.value("members"), p.value("add"), p.value("remove"));
    if file.is_none() && members.is_none() && add.is_none() && remove.is_none() {
        return Err(usage(spec, None));
    }
    let version = match p.value("v") {
        None => None,
        Some(v) => Some(
            i64::from_str_radix(v.trim_start_matches("0x"), 16)
                .or(malformed("-v must be followed by a long (configuration version)"))?,
        ),
    };
    if (file.is_some() || members.is_some()) && (add.is_some() || remove.is_some()) {
        return malformed(
            "Can't use -file or -members together with -add or -remove (mixing incremental and non-incremental modes is not allowed)",
        );
    }
    if file.is_some() && members.is_some() {
        return malformed("Can't use -file and -members together (conflicting non-incremental modes)");
    }
    let list = |text: Option<&str>| -> Vec<String> {
        text.map(|t| t.to_lowercase().split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let update = if let Some(file) = file {
        Reconfig::New { members: members_from_file(file)? }
    } else if members.is_some() {
        Reconfig::New { members: list(members) }
    } else {
        Reconfig::Incremental { joining: list(add), leaving: list(remove) }
    };
    Ok(Command::Reconfig { update, version, stat: p.has("s") })
}

/// The `server.N=...` lines of a dynamic configuration file.
fn members_from_file(file: &str) -> Result<Vec<String>, ShellError> {
    let text =
        std::fs::read_to_string(file).map_err(|e| ShellError::Malformed(format!("Error processing {file}{e}")))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("server."))
        .map(|line| line.split_whitespace().collect::<String>())
        .collect())
}

impl Command {
    /// The command's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Ls { .. } => "ls",
            Command::Get { .. } => "get",
            Command::Set { .. } => "set",
            Command::Create { .. } => "create",
            Command::Delete { .. } => "delete",
            Command::DeleteAll { .. } => "deleteall",
            Command::Stat { .. } => "stat",
            Command::GetAcl { .. } => "getAcl",
            Command::SetAcl { .. } => "setAcl",
            Command::AddAuth { .. } => "addauth",
            Command::Sync { .. } => "sync",
            Command::GetEphemerals { .. } => "getEphemerals",
            Command::GetAllChildrenNumber { .. } => "getAllChildrenNumber",
            Command::WhoAmI => "whoami",
            Command::AddWatch { .. } => "addWatch",
            Command::RemoveWatches { .. } => "removewatches",
            Command::Config { .. } => "config",
            Command::Reconfig { .. } => "reconfig",
            Command::SetQuota { .. } => "setquota",
            Command::ListQuota { .. } => "listquota",
            Command::DelQuota { .. } => "delquota",
            Command::PrintWatches { .. } => "printwatches",
            Command::Connect { .. } => "connect",
            Command::Close => "close",
            Command::Redo { .. } => "redo",
            Command::History => "history",
            Command::Version => "version",
            Command::Help => "help",
            Command::Quit => "quit",
        }
    }

    /// The znode the command is about, if any.
    pub fn path(&self) -> Option<&str> {
        match self {
            Command::Ls { path, .. }
            | Command::Get { path, .. }
            | Command::Set { path, .. }
            | Command::Create { path, .. }
            | Command::Delete { path, .. }
            | Command::DeleteAll { path, .. }
            | Command::Stat { path, .. }
            | Command::GetAcl { path, .. }
            | Command::SetAcl { path, .. }
            | Command::Sync { path }
            | Command::GetEphemerals { path }
            | Command::GetAllChildrenNumber { path }
            | Command::AddWatch { path, .. }
            | Command::RemoveWatches { path, .. }
            | Command::SetQuota { path, .. }
            | Command::ListQuota { path }
            | Command::DelQuota { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Whether the command needs a server connection (one-shot mode connects only for these).
    pub fn needs_server(&self) -> bool {
        !matches!(
            self,
            Command::Help
                | Command::Version
                | Command::Quit
                | Command::History
                | Command::PrintWatches { .. }
                | Command::Redo { .. }
        )
    }

    /// Whether zkCli refuses the command with `Not connected` once its session is closed: all but its
    /// own built-in commands (and Paddock's `help`). `version` and `close` are among the refused ones.
    pub fn needs_live_session(&self) -> bool {
        !matches!(
            self,
            Command::Help
                | Command::Quit
                | Command::History
                | Command::PrintWatches { .. }
                | Command::Redo { .. }
                | Command::Connect { .. }
        )
    }

    /// zkCli's built-ins that, in a closed session, do their work and then say `Not connected` anyway
    /// (they fall through to its connection check).
    pub fn reports_closed_session(&self) -> bool {
        matches!(self, Command::History | Command::PrintWatches { .. } | Command::Redo { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> Result<ParsedCommand, ShellError> {
        parse(&line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    }

    fn error_lines(line: &str) -> Vec<String> {
        run(line).unwrap_err().lines()
    }

    #[test]
    fn missing_arguments_print_usage() {
        assert_eq!(error_lines("create"), ["create [-s] [-e] [-c] [-t ttl] path [data] [acl]"]);
        assert_eq!(error_lines("set /a"), ["set [-s] [-v version] path data"]);
        assert_eq!(error_lines("ls"), ["ls [-s] [-w] [-R] path"]);
        assert_eq!(error_lines("addWatch -m BAD /a").len(), 1);
    }

    #[test]
    fn unknown_flags_print_detail_and_usage() {
        assert_eq!(error_lines("get -x /a"), ["Unrecognized option: -x", "get [-s] [-w] path"]);
    }

    #[test]
    fn create_modes() {
        let Command::Create { mode, ttl, .. } = run("create -s -t 100 /a").unwrap().command else { panic!() };
        assert_eq!(mode, CreateMode::PersistentSequential);
        assert_eq!(ttl, Some(Duration::from_millis(100)));
        assert_eq!(
            error_lines("create -c -e /a"),
            ["-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."]
        );
        assert_eq!(error_lines("create -e -t 10 /a"), ["TTLs cannot be used with Ephemeral znodes"]);
        assert_eq!(error_lines("create -t 0 /a"), ["ttl must be positive and cannot be larger than: 1099511627775"]);
        assert_eq!(error_lines("create -t x /a"), ["-t argument must be a long value"]);
        assert_eq!(error_lines("create a"), ["Path must start with / character"]);
    }

    #[test]
    fn deprecated_watch_form_warns() {
        let parsed = run("ls /a watch").unwrap();
        assert!(matches!(parsed.command, Command::Ls { watch: true, .. }));
        assert_eq!(parsed.warnings, ["'ls path [watch]' has been deprecated. Please use 'ls [-w] path' instead."]);
    }

    #[test]
    fn unknown_command() {
        assert!(matches!(run("frobnicate /a"), Err(ShellError::UnknownCommand(name)) if name == "frobnicate"));
    }

    #[test]
    fn redo_reads_java_integers() {
        for (word, index) in [("3", 3), ("+3", 3), ("-1", -1), ("0x1F", 31), ("#10", 16), ("010", 8), ("0", 0)] {
            assert!(matches!(run(&format!("redo {word}")).unwrap().command, Command::Redo { index: i } if i == index));
        }
        for word in ["", "abc", "1.5", "0x", "--1", "08", "2147483648"] {
            assert_eq!(error_lines(&format!("redo {word}")), ["redo cmdno"], "redo {word}");
        }
    }

    #[test]
    fn connect_takes_its_words_as_given() {
        assert!(matches!(run("connect").unwrap().command, Command::Connect { server: None }));
        let Command::Connect { server } = run("connect h:1/a extra").unwrap().command else { panic!() };
        assert_eq!(server.as_deref(), Some("h:1/a"));
        assert!(matches!(run("connect -x").unwrap().command, Command::Connect { server: Some(s) } if s == "-x"));
    }

    #[test]
    fn reconfig_forms() {
        assert!(matches!(
            run("reconfig -add 2=h:1:2;3").unwrap().command,
            Command::Reconfig { update: Reconfig::Incremental { .. }, .. }
        ));
        assert_eq!(error_lines("reconfig -s").len(), 1);
        assert!(matches!(run("reconfig -members a -add b"), Err(ShellError::Malformed(_))));
    }
}
