//! The admin commands ZooKeeper 3.9 registers (`Commands.java`), plus Paddock's own `backup`: primary name
//! first, then the aliases, and how each is invoked. Commands that change state or expose the whole database
//! (`snapshot`, `restore`, `backup`) require `Authorization` and ALL permissions on `/`, as in ZooKeeper.

/// How a command is invoked over HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `GetCommand`: answered to GET, with the query string as keyword arguments.
    Get,
    /// `snapshot`: a GET command in ZooKeeper; POST is accepted too, since it changes state.
    Snapshot,
    /// `restore`: a `PostCommand`, the body being the snapshot.
    Restore,
    /// `backup` (Paddock's own): answered to GET, the body being a snapshot streamed from memory.
    Backup,
}

#[derive(Debug)]
pub struct Command {
    /// Primary name first.
    pub names: &'static [&'static str],
    pub invocation: Invocation,
    /// `CommandBase.serverRequired`: the command answers "not serving" while the core does not.
    pub server_required: bool,
}

impl Command {
    pub fn primary(&self) -> &'static str {
        self.names.first().copied().unwrap_or_default()
    }

    /// `AuthRequest(ZooDefs.Perms.ALL, "/")`.
    pub fn needs_auth(&self) -> bool {
        self.invocation != Invocation::Get
    }
}

const fn get(names: &'static [&'static str]) -> Command {
    Command { names, invocation: Invocation::Get, server_required: true }
}

const fn get_without_server(names: &'static [&'static str]) -> Command {
    Command { names, invocation: Invocation::Get, server_required: false }
}

pub const COMMANDS: &[Command] = &[
    get(&["connection_stat_reset", "crst"]),
    get(&["configuration", "conf", "config"]),
    get(&["connections", "cons"]),
    get(&["hash"]),
    get(&["dirs"]),
    get(&["dump"]),
    get_without_server(&["environment", "env", "envi"]),
    get_without_server(&["get_trace_mask", "gtmk"]),
    get(&["initial_configuration", "icfg"]),
    get(&["is_read_only", "isro"]),
    get(&["last_snapshot", "lsnp"]),
    get(&["leader", "lead"]),
    get_without_server(&["monitor", "mntr"]),
    get(&["observer_connection_stat_reset", "orst"]),
    Command { names: &["restore", "rest"], invocation: Invocation::Restore, server_required: true },
    get(&["ruok"]),
    get_without_server(&["set_trace_mask", "stmk"]),
    Command { names: &["snapshot", "snap"], invocation: Invocation::Snapshot, server_required: true },
    get(&["server_stats", "srvr"]),
    get(&["stats", "stat"]),
    get(&["stat_reset", "srst"]),
    get(&["observers", "obsr"]),
    get_without_server(&["system_properties", "sysp"]),
    get(&["voting_view"]),
    get(&["watches", "wchc"]),
    get(&["watches_by_path", "wchp"]),
    get(&["watch_summary", "wchs"]),
    get_without_server(&["zabstate"]),
    // Paddock's own.
    Command { names: &["backup"], invocation: Invocation::Backup, server_required: true },
];

/// The command registered under `name` (primary name or alias).
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.names.contains(&name))
}

/// Primary names, sorted, as the command index lists them.
pub fn primary_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = COMMANDS.iter().map(Command::primary).collect();
    names.sort_unstable();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_resolve_to_their_command() {
        let mut all: Vec<&str> = COMMANDS.iter().flat_map(|c| c.names.iter().copied()).collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "a name is registered twice");
        assert_eq!(find("mntr").map(Command::primary), Some("monitor"));
        assert_eq!(find("srvr").map(Command::primary), Some("server_stats"));
        assert_eq!(find("stat").map(Command::primary), Some("stats"));
        assert!(find("snap").is_some_and(Command::needs_auth));
        assert!(find("backup").is_some_and(Command::needs_auth));
        assert!(find("nope").is_none());
    }
}
