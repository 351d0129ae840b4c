//! zkCli's quota commands, `setquota`, `listquota` and `delquota`. ZooKeeper keeps quotas in plain znodes,
//! `/zookeeper/quota<path>/zookeeper_limits` (set by clients) and `.../zookeeper_stats` (kept up to date by
//! the server), so these commands are client-side reads and writes of those nodes, as zkCli does them: the
//! same checks, the same node text (ZooKeeper's `StatsTrack`), the same messages.
//!
//! zkCli parses these three commands with commons-cli's `DefaultParser` (the others use `PosixParser`), and
//! reports its parse errors by the exception's full text instead of a usage line; [`parse`] does the same.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value, json};
use zookeeper_client::{Acls, Client, CreateMode, Error};

use super::command::Command;
use super::errors::ShellError;
use super::paths;
use crate::subtree::child_path;

/// The subtree that holds every quota.
const QUOTA_ROOT: &str = "/zookeeper/quota";
/// The node under a quota's path that holds its limits.
const LIMITS_NODE: &str = "zookeeper_limits";
/// The node under a quota's path that holds the usage the server counted.
const STATS_NODE: &str = "zookeeper_stats";
/// commons-cli's exception text when `setquota` has none of its flags.
const MISSING_QUOTA_FLAG: &str = "org.apache.commons.cli.MissingOptionException: Missing required option: \
     [-n num soft quota, -b bytes soft quota, -N num hard quota, -B bytes hard quota]";

/// One of a quota's four limits, by its zkCli flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QuotaKind {
    /// `-n`: soft limit on the number of nodes.
    Count,
    /// `-b`: soft limit on the bytes of data.
    Bytes,
    /// `-N`: hard limit on the number of nodes.
    CountHardLimit,
    /// `-B`: hard limit on the bytes of data.
    ByteHardLimit,
}

impl QuotaKind {
    fn from_flag(flag: char) -> Option<QuotaKind> {
        match flag {
            'n' => Some(QuotaKind::Count),
            'b' => Some(QuotaKind::Bytes),
            'N' => Some(QuotaKind::CountHardLimit),
            'B' => Some(QuotaKind::ByteHardLimit),
            _ => None,
        }
    }

    fn flag(self) -> char {
        match self {
            QuotaKind::Count => 'n',
            QuotaKind::Bytes => 'b',
            QuotaKind::CountHardLimit => 'N',
            QuotaKind::ByteHardLimit => 'B',
        }
    }

    /// The key in the limits node's text.
    fn key(self) -> &'static str {
        match self {
            QuotaKind::Count => COUNT,
            QuotaKind::Bytes => BYTES,
            QuotaKind::CountHardLimit => "countHardLimit",
            QuotaKind::ByteHardLimit => "byteHardLimit",
        }
    }

    fn is_count(self) -> bool {
        matches!(self, QuotaKind::Count | QuotaKind::CountHardLimit)
    }
}

const COUNT: &str = "count";
const BYTES: &str = "bytes";

/// The text of a limits or stats node (ZooKeeper's `StatsTrack`): `key=value` pairs separated by `,` or
/// `;`, a missing key meaning -1.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StatsTrack {
    values: BTreeMap<String, i64>,
}

impl StatsTrack {
    /// Reads a node's data; an empty node has no values.
    pub fn parse(data: &[u8]) -> Result<StatsTrack, String> {
        let text = String::from_utf8_lossy(data);
        let mut values = BTreeMap::new();
        for pair in text.split([',', ';']).filter(|pair| !pair.is_empty()) {
            let mut parts = pair.split('=');
            let key = parts.next().unwrap_or_default();
            // `bytes=5=` (the trailing `=` keeps pre-3.5 parsers working) reads as `bytes=5`.
            let value = match parts.next().unwrap_or_default() {
                "" => -1,
                number => number.parse().map_err(|_| format!("For input string: \"{number}\""))?,
            };
            values.insert(key.to_owned(), value);
        }
        Ok(StatsTrack { values })
    }

    fn get(&self, key: &str) -> i64 {
        self.values.get(key).copied().unwrap_or(-1)
    }

    fn set(&mut self, key: &str, value: i64) {
        self.values.insert(key.to_owned(), value);
    }

    /// Every value by its key (`count` and `bytes` always).
    pub fn json(&self) -> Value {
        let mut object = Map::new();
        object.insert(COUNT.to_owned(), json!(self.get(COUNT)));
        object.insert(BYTES.to_owned(), json!(self.get(BYTES)));
        for (key, value) in &self.values {
            object.insert(key.clone(), json!(value));
        }
        Value::Object(object)
    }
}

impl fmt::Display for StatsTrack {
    /// ZooKeeper's layout: `count` and `bytes` first, then, after an extra `=`, the other keys in order,
    /// each after a `;` (`count=10,bytes=-1=;byteHardLimit=-1;countHardLimit=20`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{COUNT}={},{BYTES}={}", self.get(COUNT), self.get(BYTES))?;
        let mut others = self.values.iter().filter(|(key, _)| *key != COUNT && *key != BYTES).peekable();
        if others.peek().is_some() {
            f.write_str("=")?;
        }
        for (key, value) in others {
            write!(f, ";{key}={value}")?;
        }
        Ok(())
    }
}

/// What a quota command did.
#[derive(Debug)]
pub(crate) enum QuotaReply {
    /// `setquota`: the limits now set and the usage the server counted.
    Set { limits: StatsTrack, stats: StatsTrack },
    /// `listquota`.
    Listed { path: String, limits: StatsTrack, stats: StatsTrack },
    /// `delquota`: the limits left (`None` when the whole quota went).
    Deleted { limits: Option<StatsTrack> },
    /// `delquota` of a path without a quota: zkCli says so on stdout and succeeds.
    NoQuota { path: String },
}

impl QuotaReply {
    /// zkCli's stdout lines.
    pub fn lines(&self) -> Vec<String> {
        match self {
            QuotaReply::Set { limits, stats } => below_usage_warnings(limits, stats),
            QuotaReply::Listed { path, limits, stats } => {
                vec![format!("Output quota for {path} {limits}"), format!("Output stat for {path} {stats}")]
            }
            QuotaReply::Deleted { .. } => Vec::new(),
            QuotaReply::NoQuota { path } => vec![format!("Quota does not exist for {path}")],
        }
    }

    /// The `--json` fields.
    pub fn json(&self, object: &mut Map<String, Value>) {
        match self {
            QuotaReply::Set { limits, stats } => {
                object.insert("limits".to_owned(), limits.json());
                object.insert("stats".to_owned(), stats.json());
                let warnings = below_usage_warnings(limits, stats);
                if !warnings.is_empty() {
                    object.insert("warnings".to_owned(), json!(warnings));
                }
            }
            QuotaReply::Listed { limits, stats, .. } => {
                object.insert("limits".to_owned(), limits.json());
                object.insert("stats".to_owned(), stats.json());
            }
            QuotaReply::Deleted { limits } => {
                object.insert("deleted".to_owned(), json!(true));
                if let Some(limits) = limits {
                    object.insert("limits".to_owned(), limits.json());
                }
            }
            QuotaReply::NoQuota { .. } => {
                object.insert("deleted".to_owned(), json!(false));
            }
        }
    }
}

/// zkCli's warnings for limits already below what the subtree holds.
fn below_usage_warnings(limits: &StatsTrack, stats: &StatsTrack) -> Vec<String> {
    let below = |soft: QuotaKind, hard: QuotaKind, used: i64| {
        [limits.get(soft.key()), limits.get(hard.key())].iter().any(|limit| *limit > -1 && *limit < used)
    };
    let (count, bytes) = (stats.get(COUNT), stats.get(BYTES));
    let mut warnings = Vec::new();
    if below(QuotaKind::Count, QuotaKind::CountHardLimit, count) {
        warnings.push(format!("[Warning]: the count quota you create is less than the existing count:{count}"));
    }
    if below(QuotaKind::Bytes, QuotaKind::ByteHardLimit, bytes) {
        warnings.push(format!("[Warning]: the bytes quota you create is less than the existing bytes:{bytes}"));
    }
    warnings
}

/// The quota commands' names.
pub(crate) const COMMANDS: &[&str] = &["setquota", "listquota", "delquota"];

/// Parses a quota command's words (after its name) into a [`Command`]; `usage` is its usage line.
pub(crate) fn parse(name: &str, words: &[String], usage: String) -> Result<Command, ShellError> {
    let style = match name {
        "setquota" => Style::Values,
        "delquota" => Style::Switches,
        _ => Style::NoFlags,
    };
    let Flags { chosen, args } = Flags::parse(words, style).map_err(ShellError::Malformed)?;
    if style == Style::Values && chosen.is_none() {
        return Err(ShellError::Malformed(MISSING_QUOTA_FLAG.to_owned()));
    }
    let path = args.into_iter().next().ok_or(ShellError::Usage { detail: None, usage })?;
    match (name, chosen) {
        ("setquota", Some((kind, value))) => set_command(path, kind, value.unwrap_or_default()),
        ("listquota", _) => Ok(Command::ListQuota { path }),
        (_, chosen) => Ok(Command::DelQuota { path, kind: chosen.map(|(kind, _)| kind) }),
    }
}

/// zkCli's checks of `setquota`'s words, in its order; their complaints end the command without failing it.
fn set_command(path: String, kind: QuotaKind, value: String) -> Result<Command, ShellError> {
    if path.starts_with(QUOTA_ROOT) {
        return Err(ShellError::Refused(format!("cannot set a quota under the path: {QUOTA_ROOT}")));
    }
    let limit = if kind.is_count() { value.parse::<i32>().map(i64::from) } else { value.parse::<i64>() };
    let limit =
        limit.map_err(|_| ShellError::Refused("NumberFormatException happens when parsing the option value".into()))?;
    if kind.is_count() && limit <= 0 {
        return Err(ShellError::Refused("the num quota must be greater than zero".to_owned()));
    }
    if !kind.is_count() && limit < 0 {
        return Err(ShellError::Refused("the bytes quota must be greater than or equal to zero".to_owned()));
    }
    Ok(Command::SetQuota { path, kind, limit })
}

/// How a quota command takes the limit flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// `setquota`: one flag, with a value.
    Values,
    /// `delquota`: at most one flag, without a value.
    Switches,
    /// `listquota`: no flags.
    NoFlags,
}

/// The one limit flag given (with its first value) and the other words, as commons-cli's `DefaultParser`
/// reads them for an option group of `-n`, `-b`, `-N`, `-B`.
struct Flags {
    chosen: Option<(QuotaKind, Option<String>)>,
    args: Vec<String>,
}

impl Flags {
    fn parse(words: &[String], style: Style) -> Result<Flags, String> {
        let mut flags = Flags { chosen: None, args: Vec::new() };
        // A flag still waiting for its value.
        let mut awaiting: Option<QuotaKind> = None;
        let mut words = words.iter();
        while let Some(word) = words.next() {
            if word == "--" {
                flags.args.extend(words.by_ref().cloned());
                break;
            }
            if awaiting.is_some() && is_argument(word) {
                awaiting = None;
                flags.take_value(word);
                continue;
            }
            match word.strip_prefix('-') {
                Some(body) if !body.is_empty() && !body.starts_with('-') => {
                    flags.short(word, body, style, &mut awaiting)?;
                }
                Some(body) if !body.is_empty() => return Err(unrecognized(word)),
                _ => flags.args.push(word.clone()),
            }
        }
        match awaiting {
            Some(kind) => Err(missing_argument(kind)),
            None => Ok(flags),
        }
    }

    /// `-n`, `-n5`, `-n=5`, or (switches) `-nb`.
    fn short(&mut self, word: &str, body: &str, style: Style, awaiting: &mut Option<QuotaKind>) -> Result<(), String> {
        let takes_value = style == Style::Values;
        if style == Style::NoFlags {
            return Err(unrecognized(word));
        }
        if let Some((name, value)) = body.split_once('=') {
            let kind = single_flag(name).filter(|_| takes_value).ok_or_else(|| unrecognized(word))?;
            self.select(kind, awaiting)?;
            self.take_value(value);
            return Ok(());
        }
        for (at, letter) in body.char_indices() {
            let kind = QuotaKind::from_flag(letter).ok_or_else(|| unrecognized(word))?;
            self.select(kind, awaiting)?;
            if takes_value {
                let rest = &body[at + letter.len_utf8()..];
                if rest.is_empty() {
                    *awaiting = Some(kind);
                } else {
                    self.take_value(rest);
                }
                return Ok(());
            }
        }
        Ok(())
    }

    /// A flag of the group: a flag still missing its value, or a second flag of the group, is an error.
    fn select(&mut self, kind: QuotaKind, awaiting: &mut Option<QuotaKind>) -> Result<(), String> {
        if let Some(missing) = awaiting.take() {
            return Err(missing_argument(missing));
        }
        match &self.chosen {
            Some((chosen, _)) if *chosen != kind => Err(format!(
                "org.apache.commons.cli.AlreadySelectedException: The option '{}' was specified but an option \
                 from this group has already been selected: '{}'",
                kind.flag(),
                chosen.flag()
            )),
            Some(_) => Ok(()),
            None => {
                self.chosen = Some((kind, None));
                Ok(())
            }
        }
    }

    /// zkCli reads the first value given.
    fn take_value(&mut self, value: &str) {
        if let Some((_, slot @ None)) = &mut self.chosen {
            *slot = Some(value.to_owned());
        }
    }
}

fn single_flag(name: &str) -> Option<QuotaKind> {
    let mut letters = name.chars();
    match (letters.next(), letters.next()) {
        (Some(letter), None) => QuotaKind::from_flag(letter),
        _ => None,
    }
}

/// commons-cli takes a word as a flag's value unless it looks like one of the flags; a negative number
/// is always a value.
fn is_argument(word: &str) -> bool {
    let Some(body) = word.strip_prefix('-').filter(|body| !body.is_empty()) else { return true };
    let name = body.split_once('=').map_or(body, |(name, _)| name);
    let flag_like = name.chars().next().and_then(QuotaKind::from_flag).is_some();
    !flag_like || is_java_double(word)
}

/// Java's `Double.parseDouble` on the words a shell user would type as a number.
fn is_java_double(word: &str) -> bool {
    let number = word.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(word);
    let unsigned = number.trim_start_matches(['-', '+']);
    matches!(unsigned, "Infinity" | "NaN")
        || (unsigned.chars().any(|c| c.is_ascii_digit()) && number.parse::<f64>().is_ok())
}

fn unrecognized(word: &str) -> String {
    format!("org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {word}")
}

fn missing_argument(kind: QuotaKind) -> String {
    format!("org.apache.commons.cli.MissingArgumentException: Missing argument for option: {}", kind.flag())
}

/// The node that holds the limits of `path`'s quota.
pub(crate) fn limits_path(path: &str) -> String {
    format!("{QUOTA_ROOT}{path}/{LIMITS_NODE}")
}

fn stats_path(path: &str) -> String {
    format!("{QUOTA_ROOT}{path}/{STATS_NODE}")
}

/// `listquota`'s first line, on stderr whatever follows.
pub(crate) fn listing_notice(path: &str) -> String {
    format!("absolute path is {}", limits_path(path))
}

fn checked(path: &str) -> Result<(), ShellError> {
    paths::validate(path, false).map_err(ShellError::Malformed)
}

fn keeper(path: &str) -> impl Fn(Error) -> ShellError + '_ {
    move |error| ShellError::keeper(error, path)
}

fn track(data: &[u8]) -> Result<StatsTrack, ShellError> {
    StatsTrack::parse(data).map_err(|reason| ShellError::Message(format!("java.lang.NumberFormatException: {reason}")))
}

/// `setquota`: checks that `path` exists and that no ancestor or descendant has a quota, then creates the
/// quota's nodes, or changes one limit of the quota already there.
pub(crate) async fn set(client: &Client, path: &str, kind: QuotaKind, limit: i64) -> Result<QuotaReply, ShellError> {
    checked(path)?;
    if client.check_stat(path).await.map_err(keeper(path))?.is_none() {
        return Err(ShellError::Malformed(format!("{path} does not exist.")));
    }
    let quota_path = format!("{QUOTA_ROOT}{path}");
    // `/`'s quota node would end in `/`: zkCli stops at that path's check.
    checked(&quota_path)?;
    check_descendants(client, path, &quota_path).await?;
    check_ancestors(client, path).await?;
    let mut at = String::new();
    for segment in QUOTA_ROOT.split('/').chain(path.split('/')).filter(|s| !s.is_empty()) {
        at = format!("{at}/{segment}");
        ensure(client, &at).await?;
    }
    let (limits_node, stats_node) = (limits_path(path), stats_path(path));
    let Some(mut limits) = read_track(client, &limits_node).await? else {
        let mut limits = StatsTrack::default();
        for unset in [QuotaKind::Count, QuotaKind::Bytes, QuotaKind::CountHardLimit, QuotaKind::ByteHardLimit] {
            limits.set(unset.key(), -1);
        }
        limits.set(kind.key(), limit);
        create(client, &limits_node, &limits.to_string()).await?;
        create(client, &stats_node, "count=0,bytes=0").await?;
        // Read back: creating the stats node makes the server count the subtree.
        let stats = read_existing(client, &stats_node).await?;
        return Ok(QuotaReply::Set { limits, stats });
    };
    limits.set(kind.key(), limit);
    let stats = read_existing(client, &stats_node).await?;
    client.set_data(&limits_node, limits.to_string().as_bytes(), None).await.map_err(keeper(&limits_node))?;
    Ok(QuotaReply::Set { limits, stats })
}

/// A limits or stats node's text, `None` when the node does not exist.
async fn read_track(client: &Client, node: &str) -> Result<Option<StatsTrack>, ShellError> {
    match client.get_data(node).await {
        Ok((data, _)) => track(&data).map(Some),
        Err(Error::NoNode) => Ok(None),
        Err(error) => Err(ShellError::keeper(error, node)),
    }
}

/// A node that must be there: a missing one is the error zkCli reports for it.
async fn read_existing(client: &Client, node: &str) -> Result<StatsTrack, ShellError> {
    read_track(client, node).await?.ok_or_else(|| ShellError::keeper(Error::NoNode, node))
}

/// zkCli refuses a quota on a path with a quota somewhere below it.
async fn check_descendants(client: &Client, path: &str, quota_path: &str) -> Result<(), ShellError> {
    let mut pending = vec![quota_path.to_owned()];
    while let Some(node) = pending.pop() {
        let children = match client.list_children(&node).await {
            Ok(children) => children,
            Err(Error::NoNode) => continue,
            Err(error) => return Err(ShellError::keeper(error, &node)),
        };
        if node != quota_path && children.iter().any(|child| child == LIMITS_NODE) {
            let below = node.strip_prefix(QUOTA_ROOT).unwrap_or(&node);
            return Err(ShellError::Malformed(format!("{path} has a child {below} which has a quota")));
        }
        // Depth first, in the server's order, as zkCli walks the tree.
        pending.extend(children.iter().rev().map(|child| child_path(&node, child)));
    }
    Ok(())
}

/// zkCli refuses a quota on a path with a quota on one of its ancestors; it stops looking at the first
/// ancestor without quota nodes below it.
async fn check_ancestors(client: &Client, path: &str) -> Result<(), ShellError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut ancestor = String::new();
    for segment in segments.iter().take(segments.len().saturating_sub(1)) {
        ancestor = format!("{ancestor}/{segment}");
        let node = format!("{QUOTA_ROOT}{ancestor}");
        let children = match client.list_children(&node).await {
            Ok(children) => children,
            Err(Error::NoNode) => return Ok(()),
            Err(error) => return Err(ShellError::keeper(error, &node)),
        };
        if children.is_empty() {
            return Ok(());
        }
        if children.iter().any(|child| child == LIMITS_NODE) {
            return Err(ShellError::Malformed(format!("{path} has a parent {ancestor} which has a quota")));
        }
    }
    Ok(())
}

async fn create(client: &Client, path: &str, data: &str) -> Result<(), ShellError> {
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    client.create(path, data.as_bytes(), &options).await.map_err(keeper(path))?;
    Ok(())
}

/// Creates an empty node unless it is there already (looking first, as zkCli does, so an existing node
/// needs no create permission on its parent).
async fn ensure(client: &Client, path: &str) -> Result<(), ShellError> {
    if client.check_stat(path).await.map_err(keeper(path))?.is_some() {
        return Ok(());
    }
    match create(client, path, "").await {
        Err(ShellError::Keeper { error: Error::NodeExists, .. }) => Ok(()),
        other => other,
    }
}

/// `listquota`: the quota's limits and the usage the server counted.
pub(crate) async fn list(client: &Client, path: &str) -> Result<QuotaReply, ShellError> {
    let (limits_node, stats_node) = (limits_path(path), stats_path(path));
    checked(&limits_node)?;
    let missing = || ShellError::Refused(format!("quota for {path} does not exist."));
    let limits = read_track(client, &limits_node).await?.ok_or_else(missing)?;
    let stats = read_track(client, &stats_node).await?.ok_or_else(missing)?;
    Ok(QuotaReply::Listed { path: path.to_owned(), limits, stats })
}

/// `delquota`: the whole quota (its nodes, and the quota tree's nodes left empty above them), or one
/// limit (set back to -1).
pub(crate) async fn delete(client: &Client, path: &str, kind: Option<QuotaKind>) -> Result<QuotaReply, ShellError> {
    let limits_node = limits_path(path);
    checked(&limits_node)?;
    let Some(mut limits) = read_track(client, &limits_node).await? else {
        return Ok(QuotaReply::NoQuota { path: path.to_owned() });
    };
    if let Some(kind) = kind {
        limits.set(kind.key(), -1);
        client.set_data(&limits_node, limits.to_string().as_bytes(), None).await.map_err(keeper(&limits_node))?;
        return Ok(QuotaReply::Deleted { limits: Some(limits) });
    }
    let quota_path = format!("{QUOTA_ROOT}{path}");
    for child in client.list_children(&quota_path).await.map_err(keeper(&quota_path))? {
        let node = child_path(&quota_path, &child);
        client.delete(&node, None).await.map_err(keeper(&node))?;
    }
    trim(client, quota_path).await?;
    Ok(QuotaReply::Deleted { limits: None })
}

/// Deletes `node` and its ancestors up to the quota root while they have no children.
async fn trim(client: &Client, mut node: String) -> Result<(), ShellError> {
    while node != QUOTA_ROOT {
        if !client.list_children(&node).await.map_err(keeper(&node))?.is_empty() {
            break;
        }
        client.delete(&node, None).await.map_err(keeper(&node))?;
        match node.rfind('/') {
            Some(at) => node.truncate(at),
            None => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn run(name: &str, line: &str) -> Result<Command, ShellError> {
        parse(name, &words(line), format!("{name} usage"))
    }

    fn error(name: &str, line: &str) -> (Vec<String>, u8) {
        let error = run(name, line).unwrap_err();
        (error.lines(), error.exit_code())
    }

    #[test]
    fn stats_track_text() {
        let limits = StatsTrack::parse(b"count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=7").unwrap();
        assert_eq!(limits.get(COUNT), 5);
        assert_eq!(limits.get("countHardLimit"), 7);
        assert_eq!(limits.to_string(), "count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=7");
        assert_eq!(StatsTrack::parse(b"count=2,bytes=10").unwrap().to_string(), "count=2,bytes=10");
        assert_eq!(StatsTrack::parse(b"").unwrap().to_string(), "count=-1,bytes=-1");
        assert!(StatsTrack::parse(b"count=x").is_err());
    }

    #[test]
    fn warnings_for_limits_below_usage() {
        let limits = StatsTrack::parse(b"count=1,bytes=-1=;byteHardLimit=3;countHardLimit=-1").unwrap();
        let stats = StatsTrack::parse(b"count=2,bytes=4").unwrap();
        assert_eq!(
            below_usage_warnings(&limits, &stats),
            [
                "[Warning]: the count quota you create is less than the existing count:2",
                "[Warning]: the bytes quota you create is less than the existing bytes:4"
            ]
        );
    }

    #[test]
    fn setquota_flags_as_default_parser_reads_them() {
        for (line, kind, limit) in [
            ("-n 5 /a", QuotaKind::Count, 5),
            ("/a -b5", QuotaKind::Bytes, 5),
            ("-N=7 /a", QuotaKind::CountHardLimit, 7),
            ("-B 9 /a extra", QuotaKind::ByteHardLimit, 9),
            ("-n 3 -n 4 /a", QuotaKind::Count, 3),
        ] {
            let Command::SetQuota { path, kind: k, limit: l } = run("setquota", line).unwrap() else { panic!() };
            assert_eq!((path.as_str(), k, l), ("/a", kind, limit), "{line}");
        }
        let prefix = "org.apache.commons.cli.";
        assert_eq!(error("setquota", "/a"), (vec![MISSING_QUOTA_FLAG.to_owned()], 1));
        assert_eq!(error("setquota", "-n 5"), (vec!["setquota usage".to_owned()], 1));
        assert_eq!(
            error("setquota", "-x 5 /a").0,
            [format!("{prefix}UnrecognizedOptionException: Unrecognized option: -x")]
        );
        assert_eq!(
            error("setquota", "-n").0,
            [format!("{prefix}MissingArgumentException: Missing argument for option: n")]
        );
        assert_eq!(
            error("setquota", "-n -b 5 /a").0,
            [format!("{prefix}MissingArgumentException: Missing argument for option: n")]
        );
        assert_eq!(
            error("setquota", "-N 7 -B 100 /a").0,
            [format!(
                "{prefix}AlreadySelectedException: The option 'B' was specified but an option from this group has already been selected: 'N'"
            )]
        );
    }

    #[test]
    fn setquota_value_complaints_do_not_fail() {
        assert_eq!(error("setquota", "-n 0 /a"), (vec!["the num quota must be greater than zero".to_owned()], 0));
        assert_eq!(
            error("setquota", "-b -1 /a"),
            (vec!["the bytes quota must be greater than or equal to zero".to_owned()], 0)
        );
        assert_eq!(
            error("setquota", "-N abc /a"),
            (vec!["NumberFormatException happens when parsing the option value".to_owned()], 0)
        );
        assert_eq!(
            error("setquota", "-n 0 /zookeeper/quota/a"),
            (vec!["cannot set a quota under the path: /zookeeper/quota".to_owned()], 0)
        );
    }

    #[test]
    fn delquota_and_listquota_words() {
        assert!(matches!(run("delquota", "/a").unwrap(), Command::DelQuota { kind: None, .. }));
        assert!(matches!(
            run("delquota", "-N /a").unwrap(),
            Command::DelQuota { kind: Some(QuotaKind::CountHardLimit), .. }
        ));
        // `-n` takes no value here: the number is the path.
        assert!(matches!(run("delquota", "-n 5 /a").unwrap(), Command::DelQuota { path, .. } if path == "5"));
        assert_eq!(
            error("delquota", "-nb /a").0,
            [
                "org.apache.commons.cli.AlreadySelectedException: The option 'b' was specified but an option from this group has already been selected: 'n'"
            ]
        );
        assert_eq!(error("delquota", "").0, ["delquota usage"]);
        assert_eq!(
            error("listquota", "-n /a").0,
            ["org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -n"]
        );
    }

    #[test]
    fn quota_node_paths() {
        assert_eq!(limits_path("/a/b"), "/zookeeper/quota/a/b/zookeeper_limits");
        assert_eq!(listing_notice("x"), "absolute path is /zookeeper/quotax/zookeeper_limits");
    }
}
