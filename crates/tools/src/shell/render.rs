//! Printing a command's outcome: zkCli's text (including which lines go to stderr: zkCli prints
//! `Created /x` and every error there) or, with `--json`, one JSON object per command on stdout.

use std::io::{self, Write};

use serde_json::{Map, Value, json};
use zookeeper_client::Stat;

use super::acl::permission_letters;
use super::command::{Command, SPECS};
use super::errors::ShellError;
use super::session::Reply;
use super::stat_format::{stat_json, stat_lines};

/// The first line of zkCli's help text, in Paddock's terms.
const HELP_HEADER: &str = "paddock shell --server host:port [--json] cmd args";

/// Text for stdout and for stderr.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Printed {
    pub out: Vec<String>,
    pub err: Vec<String>,
}

impl Printed {
    pub fn write(&self, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
        for line in &self.out {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        for line in &self.err {
            writeln!(err, "{line}")?;
        }
        err.flush()
    }
}

/// What zkCli prints for a successful command.
pub(crate) fn reply_text(reply: &Reply) -> Printed {
    let mut p = Printed::default();
    let stat_of = |stat: &Option<Stat>| stat.as_ref().map(stat_lines).unwrap_or_default();
    match reply {
        Reply::Nothing | Reply::Quit | Reply::Connected { .. } | Reply::Closed => {}
        Reply::Children { children, stat } => {
            p.out.push(format!("[{}]", children.join(", ")));
            p.out.extend(stat_of(stat));
        }
        Reply::Tree(paths) => p.out.extend(paths.iter().cloned()),
        Reply::Data { data, stat } => {
            p.out.push(String::from_utf8_lossy(data).into_owned());
            p.out.extend(stat_of(stat));
        }
        Reply::Created(path) => p.err.push(format!("Created {path}")),
        Reply::Written { stat, show } => {
            if *show {
                p.out.extend(stat_lines(stat));
            }
        }
        Reply::Stat(stat) => p.out.extend(stat_lines(stat)),
        Reply::Acl { acl, stat } => {
            for entry in acl {
                p.out.push(format!("'{},'{}", entry.scheme(), entry.id()));
                p.out.push(format!(": {}", permission_letters(entry.permission())));
            }
            p.out.extend(stat_of(stat));
        }
        Reply::Ephemerals(paths) => p.out.push(format!("[{}]", paths.join(", "))),
        Reply::Count(n) => p.out.push(n.to_string()),
        Reply::WhoAmI(users) => {
            p.out.push("Auth scheme: User".to_owned());
            p.out.extend(users.iter().map(|u| format!("{}: {}", u.scheme(), u.user())));
        }
        Reply::Synced => p.out.push("Sync is OK".to_owned()),
        Reply::Config { text, stat } => {
            p.out.push(text.clone());
            p.out.extend(stat_of(stat));
        }
        Reply::Reconfigured { text, stat } => {
            p.out.push(format!("Committed new configuration:\n{text}"));
            p.out.extend(stat_of(stat));
        }
        Reply::PrintWatches(on) => p.out.push(format!("printwatches is {}", if *on { "on" } else { "off" })),
        Reply::Quota(quota) => p.out.extend(quota.lines()),
        Reply::History(lines) => p.out.extend(lines.iter().map(|(n, line)| format!("{n} - {line}"))),
        Reply::Version => p.out.push(version_line()),
        Reply::Help => p.out.extend(help_lines()),
    }
    p
}

/// What zkCli prints for a failed command: its message on stderr (but `Not connected` on stdout),
/// preceded by the command list for an unknown command.
pub(crate) fn error_text(error: &ShellError) -> Printed {
    let mut p = Printed::default();
    match error {
        ShellError::NotConnected => p.out.extend(error.lines()),
        ShellError::UnknownCommand(_) => {
            p.err.extend(help_lines());
            p.err.extend(error.lines());
        }
        _ => p.err.extend(error.lines()),
    }
    p
}

/// Non-fatal complaints (bad ACL entries, deprecated forms): stderr in text mode.
pub(crate) fn warnings_text(warnings: &[String]) -> Printed {
    Printed { out: Vec::new(), err: warnings.to_vec() }
}

/// The JSON object for a command's outcome; `redo` is the history entry a `redo` ran again.
pub(crate) fn json(
    command: Option<&Command>,
    name: &str,
    outcome: &Result<Reply, ShellError>,
    warnings: &[String],
    redo: Option<i64>,
) -> Value {
    let mut object = Map::new();
    object.insert("command".to_owned(), json!(name));
    if let Some(index) = redo {
        object.insert("redo".to_owned(), json!(index));
    }
    if let Some(path) = command.and_then(Command::path) {
        object.insert("path".to_owned(), json!(path));
    }
    match outcome {
        Ok(reply) => reply_json(reply, &mut object),
        Err(error) => {
            object.insert("error".to_owned(), json!(error.lines().join("\n")));
            object.insert("code".to_owned(), json!(error.kind()));
        }
    }
    if !warnings.is_empty() {
        object.insert("warnings".to_owned(), json!(warnings));
    }
    Value::Object(object)
}

fn reply_json(reply: &Reply, object: &mut Map<String, Value>) {
    let mut put = |key: &str, value: Value| {
        object.insert(key.to_owned(), value);
    };
    let stat_value = |stat: &Option<Stat>| stat.as_ref().map(stat_json);
    match reply {
        Reply::Nothing | Reply::Quit => {}
        Reply::Children { children, stat } => {
            put("children", json!(children));
            if let Some(stat) = stat_value(stat) {
                put("stat", stat);
            }
        }
        Reply::Tree(paths) => put("paths", json!(paths)),
        Reply::Data { data, stat } => {
            put("data", json!(String::from_utf8_lossy(data)));
            if let Some(stat) = stat_value(stat) {
                put("stat", stat);
            }
        }
        Reply::Created(path) => put("created", json!(path)),
        Reply::Written { stat, .. } | Reply::Stat(stat) => put("stat", stat_json(stat)),
        Reply::Acl { acl, stat } => {
            let entries: Vec<Value> = acl
                .iter()
                .map(|a| json!({ "scheme": a.scheme(), "id": a.id(), "perms": permission_letters(a.permission()) }))
                .collect();
            put("acl", Value::Array(entries));
            if let Some(stat) = stat_value(stat) {
                put("stat", stat);
            }
        }
        Reply::Ephemerals(paths) => put("ephemerals", json!(paths)),
        Reply::Count(n) => put("count", json!(n)),
        Reply::WhoAmI(users) => {
            let users: Vec<Value> = users.iter().map(|u| json!({ "scheme": u.scheme(), "user": u.user() })).collect();
            put("auth", Value::Array(users));
        }
        Reply::Synced => put("synced", json!(true)),
        Reply::Config { text, stat } | Reply::Reconfigured { text, stat } => {
            put("config", json!(text));
            if let Some(stat) = stat_value(stat) {
                put("stat", stat);
            }
        }
        Reply::PrintWatches(on) => put("printwatches", json!(on)),
        Reply::Quota(quota) => quota.json(object),
        Reply::Connected { server, state } => {
            put("server", json!(server));
            put("state", json!(state));
        }
        Reply::Closed => put("state", json!("CLOSED")),
        Reply::History(lines) => {
            let lines: Vec<Value> = lines.iter().map(|(n, line)| json!({ "number": n, "line": line })).collect();
            put("history", Value::Array(lines));
        }
        Reply::Version => put("version", json!(version_line())),
        Reply::Help => put("usage", json!(help_lines())),
    }
}

fn version_line() -> String {
    format!("Paddock CLI version: {}", env!("CARGO_PKG_VERSION"))
}

/// zkCli's help: a header, then each command's usage line, tab-indented.
pub(crate) fn help_lines() -> Vec<String> {
    std::iter::once(HELP_HEADER.to_owned())
        .chain(SPECS.iter().filter(|s| s.name != "help").map(|s| format!("\t{}", s.usage())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_and_created() {
        let p = reply_text(&Reply::Children { children: vec!["a".into(), "b".into()], stat: None });
        assert_eq!(p.out, ["[a, b]"]);
        let p = reply_text(&Reply::Created("/x".into()));
        assert_eq!(p.err, ["Created /x"]);
        assert!(p.out.is_empty());
    }

    #[test]
    fn unknown_command_lists_commands() {
        let p = error_text(&ShellError::UnknownCommand("foo".into()));
        assert_eq!(p.err.first().map(String::as_str), Some(HELP_HEADER));
        assert!(p.err.contains(&"\tls [-s] [-w] [-R] path".to_owned()));
        assert_eq!(p.err.last().map(String::as_str), Some("Command not found: foo"));
    }

    #[test]
    fn not_connected_goes_to_stdout() {
        let p = error_text(&ShellError::NotConnected);
        assert_eq!((p.out.as_slice(), p.err.as_slice()), (&["Not connected".to_owned()][..], &[][..]));
    }

    #[test]
    fn json_connect_close_and_redo() {
        let connected = Ok(Reply::Connected { server: "h:1/r".into(), state: "CONNECTED" });
        assert_eq!(
            json(None, "connect", &connected, &[], None),
            json!({ "command": "connect", "server": "h:1/r", "state": "CONNECTED" })
        );
        assert_eq!(
            json(None, "close", &Ok(Reply::Closed), &[], None),
            json!({ "command": "close", "state": "CLOSED" })
        );
        let counted = json(None, "getAllChildrenNumber", &Ok(Reply::Count(2)), &[], Some(4));
        assert_eq!(counted, json!({ "command": "getAllChildrenNumber", "redo": 4, "count": 2 }));
    }

    #[test]
    fn json_error_object() {
        let error: Result<Reply, ShellError> = Err(ShellError::keeper(zookeeper_client::Error::NoNode, "/x"));
        let value = json(None, "get", &error, &[], None);
        assert_eq!(value["error"], "Node does not exist: /x");
        assert_eq!(value["code"], "NoNode");
    }
}
