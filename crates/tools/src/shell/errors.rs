//! Why a shell command failed, worded as zkCli words it (`Node does not exist: /x`,
//! `version No is not valid : /x`...), and the exit code that goes with it.

use zookeeper_client::Error;

/// A failed command.
#[derive(Debug)]
pub(crate) enum ShellError {
    /// The words do not fit the command: an optional reason, then the command's usage line.
    Usage { detail: Option<String>, usage: String },
    /// The words fit but ask for something invalid (zkCli's MalformedCommand/MalformedPath messages).
    Malformed(String),
    /// The server or the client library refused the request on `path`.
    Keeper { error: Error, path: Option<String> },
    /// Any other failure, with its message ready.
    Message(String),
    /// A complaint after which zkCli carries on as if the command had succeeded (exit code 0), such as
    /// `setquota`'s `the num quota must be greater than zero`.
    Refused(String),
    /// Not a command the shell knows.
    UnknownCommand(String),
    /// The session is closed (`close`, or it expired): zkCli's `Not connected`, which it prints on stdout.
    NotConnected,
}

impl ShellError {
    pub fn keeper(error: Error, path: &str) -> ShellError {
        ShellError::Keeper { error, path: Some(path.to_owned()) }
    }

    /// What zkCli prints for this failure (the usage text for usage errors).
    pub fn lines(&self) -> Vec<String> {
        match self {
            ShellError::Usage { detail, usage } => detail.iter().cloned().chain([usage.clone()]).collect(),
            ShellError::Malformed(message) | ShellError::Message(message) | ShellError::Refused(message) => {
                vec![message.clone()]
            }
            ShellError::Keeper { error, path } => vec![keeper_message(error, path.as_deref())],
            ShellError::UnknownCommand(name) => vec![format!("Command not found: {name}")],
            ShellError::NotConnected => vec![NOT_CONNECTED.to_owned()],
        }
    }

    /// zkCli's exit codes: 127 for an unknown command, 0 for a complaint it does not count as a failure,
    /// 1 for every other failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            ShellError::UnknownCommand(_) => 127,
            ShellError::Refused(_) => 0,
            _ => 1,
        }
    }

    /// A short machine-readable name for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            ShellError::Usage { .. } => "usage",
            ShellError::Malformed(_) => "malformed",
            ShellError::Keeper { error, .. } => code_name(error),
            ShellError::Message(_) => "failed",
            ShellError::Refused(_) => "refused",
            ShellError::UnknownCommand(_) => "unknown_command",
            ShellError::NotConnected => "not_connected",
        }
    }
}

/// What zkCli prints for a command that needs a session when it has none.
pub(crate) const NOT_CONNECTED: &str = "Not connected";

/// zkCli's `CliWrapperException` wording for the common errors, `KeeperErrorCode = <code> for <path>`
/// (the text of Java's `KeeperException`) for the rest.
pub(crate) fn keeper_message(error: &Error, path: Option<&str>) -> String {
    let p = path.unwrap_or("null");
    match error {
        Error::NoNode => format!("Node does not exist: {p}"),
        Error::NoChildrenForEphemerals => format!("Ephemerals cannot have children: {p}"),
        Error::NodeExists => format!("Node already exists: {p}"),
        Error::NotEmpty => format!("Node not empty: {p}"),
        Error::NotReadOnly => format!("Not a read-only call: {p}"),
        Error::InvalidAcl => format!("Acl is not valid : {p}"),
        Error::NoAuth => format!("Insufficient permission : {p}"),
        Error::BadArguments(_) => format!("Arguments are not valid : {p}"),
        Error::BadVersion => format!("version No is not valid : {p}"),
        Error::ReconfigDisabled => "KeeperErrorCode = Reconfig is disabled".to_owned(),
        other => match path {
            Some(path) => format!("KeeperErrorCode = {} for {path}", code_text(other)),
            None => format!("KeeperErrorCode = {}", code_text(other)),
        },
    }
}

/// Java's `KeeperException.Code` message for errors without a dedicated zkCli wording.
fn code_text(error: &Error) -> String {
    match error {
        Error::SessionExpired => "Session expired".to_owned(),
        Error::AuthFailed => "AuthFailed".to_owned(),
        Error::SessionMoved => "Session moved".to_owned(),
        Error::NoWatcher => "No such watcher".to_owned(),
        Error::QuotaExceeded => "Quota has exceeded".to_owned(),
        Error::Throttled => "Op throttled due to high load".to_owned(),
        Error::MarshallingError => "MarshallingError".to_owned(),
        Error::Unimplemented => "Unimplemented".to_owned(),
        Error::ConnectionLoss | Error::ClientClosed | Error::NoHosts => "ConnectionLoss".to_owned(),
        Error::Timeout => "OperationTimeout".to_owned(),
        Error::RuntimeInconsistent => "RuntimeInconsistency".to_owned(),
        Error::UnexpectedErrorCode(code) => format!("Unknown error {code}"),
        other => other.to_string(),
    }
}

/// ZooKeeper's error code name, for `--json` output.
fn code_name(error: &Error) -> &'static str {
    match error {
        Error::NoNode => "NoNode",
        Error::NoChildrenForEphemerals => "NoChildrenForEphemerals",
        Error::NodeExists => "NodeExists",
        Error::NotEmpty => "NotEmpty",
        Error::NotReadOnly => "NotReadOnly",
        Error::InvalidAcl => "InvalidACL",
        Error::NoAuth => "NoAuth",
        Error::BadArguments(_) => "BadArguments",
        Error::BadVersion => "BadVersion",
        Error::ReconfigDisabled => "ReconfigDisabled",
        Error::SessionExpired => "SessionExpired",
        Error::AuthFailed => "AuthFailed",
        Error::SessionMoved => "SessionMoved",
        Error::NoWatcher => "NoWatcher",
        Error::QuotaExceeded => "QuotaExceeded",
        Error::Throttled => "Throttled",
        Error::MarshallingError => "MarshallingError",
        Error::Unimplemented => "Unimplemented",
        Error::ConnectionLoss | Error::ClientClosed | Error::NoHosts => "ConnectionLoss",
        Error::Timeout => "OperationTimeout",
        Error::RuntimeInconsistent => "RuntimeInconsistency",
        _ => "SystemError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zkcli_wordings() {
        assert_eq!(keeper_message(&Error::NoNode, Some("/x")), "Node does not exist: /x");
        assert_eq!(keeper_message(&Error::BadVersion, Some("/x")), "version No is not valid : /x");
        assert_eq!(keeper_message(&Error::NoAuth, Some("/x")), "Insufficient permission : /x");
        assert_eq!(keeper_message(&Error::NoWatcher, Some("/x")), "KeeperErrorCode = No such watcher for /x");
        assert_eq!(keeper_message(&Error::ReconfigDisabled, None), "KeeperErrorCode = Reconfig is disabled");
    }

    #[test]
    fn usage_error_prints_detail_then_usage() {
        let e = ShellError::Usage { detail: Some("Unrecognized option: -z".into()), usage: "sync path".into() };
        assert_eq!(e.lines(), ["Unrecognized option: -z", "sync path"]);
        assert_eq!(e.exit_code(), 1);
        assert_eq!(ShellError::UnknownCommand("foo".into()).exit_code(), 127);
    }
}
