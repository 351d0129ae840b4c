//! The ensemble a `zoo.cfg` describes: `server.N` lines, this server's `myid`, and the quorum settings.
//!
//! Lines are ZooKeeper's (`QuorumPeerConfig`, `QuorumServer`):
//! `server.N=host:peerPort:electionPort[:participant|observer][;[clientAddress:]clientPort]`. With one or no
//! `server.N` line the server is standalone. Timeouts are counted in ticks, as in ZooKeeper, and turned into
//! the replication timeouts by [`Ensemble::timeouts`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use paddock_consensus::PeerNode;

use super::ConfigError;

/// A member's role, ZooKeeper's `LearnerType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Votes and may lead.
    Participant,
    /// Receives every write but never votes (a Raft learner).
    Observer,
}

/// One `server.N` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumServer {
    pub id: u64,
    pub host: String,
    /// ZooKeeper's quorum port: Paddock's replication traffic.
    pub peer_port: u16,
    /// Accepted for compatibility; Raft elects over the peer port.
    pub election_port: u16,
    pub role: Role,
    /// The client address after `;`, if the line has one (`None` address: all interfaces).
    pub client: Option<(Option<IpAddr>, u16)>,
}

/// The quorum settings of `zoo.cfg`, whether or not the server runs in an ensemble.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumSettings {
    pub servers: BTreeMap<u64, QuorumServer>,
    /// `initLimit`: ticks a member may take to connect and catch up with the leader.
    pub init_limit: u32,
    /// `syncLimit`: ticks a member may go without hearing from the leader.
    pub sync_limit: u32,
    /// `peerType`: the role this server expects; its own `server.N` line wins, as in ZooKeeper.
    pub peer_type: Option<Role>,
    pub standalone_enabled: bool,
    pub reconfig_enabled: bool,
    /// `readonlymode.enabled`: serve reads to read-only clients while cut off from the quorum.
    pub read_only_enabled: bool,
}

impl Default for QuorumSettings {
    fn default() -> Self {
        QuorumSettings {
            servers: BTreeMap::new(),
            init_limit: 10,
            sync_limit: 5,
            peer_type: None,
            standalone_enabled: true,
            reconfig_enabled: false,
            read_only_enabled: false,
        }
    }
}

/// This server as a member of an ensemble.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ensemble {
    pub my_id: u64,
    pub servers: BTreeMap<u64, QuorumServer>,
}

/// The longest election timeout `syncLimit` ticks give (see [`Timeouts::election_ms`]).
pub const MAX_ELECTION_MS: u64 = 1_000;
/// The longest interval between the leader's heartbeats.
pub const MAX_HEARTBEAT_MS: u64 = 100;

/// The replication timeouts `tickTime`, `initLimit` and `syncLimit` give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// The leader's heartbeat: ZooKeeper's leader pings its learners every half tick; Raft's at most every
    /// [`MAX_HEARTBEAT_MS`], so that a dead leader is noticed in about a second (below).
    pub heartbeat_ms: u64,
    /// A member that hears nothing from the leader for this long starts an election: `syncLimit` ticks (a
    /// ZooKeeper follower drops a leader it has not heard from in `syncLimit` ticks), but at most
    /// [`MAX_ELECTION_MS`]. ZooKeeper's followers notice a crashed leader at once (its TCP connection closes)
    /// and elect in a fraction of a second; a Raft follower notices only by the missing heartbeats, and
    /// openraft's followers also refuse votes for twice this long after the last one (the leader's lease),
    /// so with 10 s (the default ticks) a failover took 30 to 60 s.
    pub election_ms: u64,
    /// A lagging or new member has `initLimit` ticks to receive a snapshot, as a ZooKeeper learner to sync.
    pub catch_up_ms: u64,
}

impl Ensemble {
    /// ZooKeeper's `QuorumVerifier.toString()`: a `server.N=host:peerPort:electionPort:role[;addr:clientPort]`
    /// line per server, then `version=0` (the static configuration of zoo.cfg), without a final newline. It is
    /// the content of `/zookeeper/config` and the end of `conf`.
    pub fn membership(&self) -> String {
        let mut out = String::new();
        for s in self.servers.values() {
            out.push_str(&format!("server.{}={}\n", s.id, s.peer_node().server_line()));
        }
        out.push_str("version=0");
        out
    }
}

impl QuorumServer {
    /// The server as the Raft membership records it: its whole line, so that `/zookeeper/config` can be
    /// written from the log.
    pub fn peer_node(&self) -> PeerNode {
        PeerNode {
            addr: format!("{}:{}", self.host, self.peer_port),
            election_port: self.election_port,
            participant: self.role == Role::Participant,
            client: self.client.map_or_else(String::new, |(addr, port)| {
                let addr = addr.map_or_else(|| "0.0.0.0".to_string(), |a| a.to_string());
                format!("{addr}:{port}")
            }),
        }
    }
}

/// One `server.N=...` line (of zoo.cfg, of a reconfig, of `/zookeeper/config`).
pub fn parse_server_line(key: &str, value: &str) -> Result<QuorumServer, ConfigError> {
    parse_server(key, value)
}

impl QuorumSettings {
    /// Applies one quorum key; `Ok(false)` if `key` is not one.
    pub(super) fn apply(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match key {
            "initLimit" => self.init_limit = positive(key, value)?,
            "syncLimit" => self.sync_limit = positive(key, value)?,
            "peerType" => self.peer_type = Some(parse_role(value).ok_or_else(|| invalid(key, value, ROLE_EXPECTED))?),
            "standaloneEnabled" => self.standalone_enabled = super::parse_bool(key, value)?,
            "reconfigEnabled" => self.reconfig_enabled = super::parse_bool(key, value)?,
            "readonlymode.enabled" | "zookeeper.readonlymode.enabled" => {
                self.read_only_enabled = super::parse_bool(key, value)?
            }
            k if k.starts_with("server.") => {
                let server = parse_server(key, value)?;
                self.servers.insert(server.id, server);
            }
            // Read with the `ssl.quorum.*` keys by `crate::tls::quorum` when the member starts; checked here so
            // that a bad value stops the start naming its key.
            "sslQuorum" | "zookeeper.sslQuorum" => {
                super::parse_bool(key, value)?;
            }
            // The peer stores are always reloaded when they change (`paddock.ssl.reloadInterval`).
            "sslQuorumReloadCertFiles" | "zookeeper.sslQuorumReloadCertFiles" => {
                super::parse_bool(key, value)?;
            }
            k if k.strip_prefix("zookeeper.").unwrap_or(k).starts_with("quorum.auth.") => {
                refuse_quorum_sasl(key, value)?
            }
            k if k.starts_with("group.") || k.starts_with("weight.") => {
                return Err(invalid(key, value, "hierarchical quorums (group.N, weight.N) are not supported"));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The ensemble this server belongs to, or `None` when it is standalone (one or no `server.N` line).
    /// Reads `myid` from `data_dir`, as ZooKeeper does.
    pub fn ensemble(&self, data_dir: &Path) -> Result<Option<Ensemble>, ConfigError> {
        if self.servers.len() < 2 {
            return Ok(None);
        }
        let path = data_dir.join("myid");
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::MyId {
            path: path.clone(),
            problem: format!("cannot be read ({e}); a server of an ensemble needs its id there"),
        })?;
        let my_id = text.trim().parse::<u64>().map_err(|_| ConfigError::MyId {
            path: path.clone(),
            problem: format!("holds {:?}, not a server id", text.trim()),
        })?;
        if !self.servers.contains_key(&my_id) {
            let ids: Vec<String> = self.servers.keys().map(u64::to_string).collect();
            return Err(ConfigError::MyId {
                path,
                problem: format!("names server {my_id}, but the server.N lines name {}", ids.join(", ")),
            });
        }
        if !self.servers.values().any(|s| s.role == Role::Participant) {
            return Err(ConfigError::Ensemble("every server.N line is an observer: nobody can vote".into()));
        }
        Ok(Some(Ensemble { my_id, servers: self.servers.clone() }))
    }

    /// The replication timeouts for a tick of `tick_ms`.
    pub fn timeouts(&self, tick_ms: u32) -> Timeouts {
        let tick = u64::from(tick_ms.max(1));
        let election_ms = (tick * u64::from(self.sync_limit)).min(MAX_ELECTION_MS);
        Timeouts {
            // Raft wants several heartbeats per election timeout.
            heartbeat_ms: (tick / 2).min(MAX_HEARTBEAT_MS).min(election_ms / 5).max(1),
            election_ms,
            catch_up_ms: tick * u64::from(self.init_limit),
        }
    }
}

/// ZooKeeper's quorum SASL (`quorum.auth.*`) is not built. Asking for it stops the start rather than run the
/// peers unauthenticated; the keys that only name principals or login sections are harmless without it.
fn refuse_quorum_sasl(key: &str, value: &str) -> Result<(), ConfigError> {
    let name = key.strip_prefix("zookeeper.").unwrap_or(key);
    let asks =
        matches!(name, "quorum.auth.enableSasl" | "quorum.auth.learnerRequireSasl" | "quorum.auth.serverRequireSasl");
    if asks && super::parse_bool(key, value)? {
        return Err(invalid(key, value, "quorum SASL is not supported: authenticate peers with sslQuorum=true"));
    }
    Ok(())
}

const ROLE_EXPECTED: &str = "participant or observer";

fn parse_role(value: &str) -> Option<Role> {
    match value.to_ascii_lowercase().as_str() {
        "participant" => Some(Role::Participant),
        "observer" => Some(Role::Observer),
        _ => None,
    }
}

fn positive(key: &str, value: &str) -> Result<u32, ConfigError> {
    match value.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(key, value, "a positive number of ticks")),
    }
}

fn invalid(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { key: key.to_string(), value: value.to_string(), reason: reason.to_string() }
}

const SERVER_FORMAT: &str = "expected host:peerPort:electionPort[:participant|observer][;[address:]clientPort]";

/// `server.N=host:peerPort:electionPort[:role][;[clientAddress:]clientPort]`; IPv6 hosts in brackets.
fn parse_server(key: &str, value: &str) -> Result<QuorumServer, ConfigError> {
    let id =
        key["server.".len()..].parse::<u64>().map_err(|_| invalid(key, value, "N in server.N must be a number"))?;
    if value.contains('|') {
        return Err(invalid(key, value, "several addresses for one server are not supported"));
    }
    let (quorum, client) = match value.split_once(';') {
        Some((quorum, client)) => (quorum, Some(parse_client(key, value, client.trim())?)),
        None => (value, None),
    };
    let (host, rest) = split_host(quorum.trim()).ok_or_else(|| invalid(key, value, SERVER_FORMAT))?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (ports, role) = match parts.as_slice() {
        [peer, election] => ((peer, election), Role::Participant),
        [peer, election, role] => {
            ((peer, election), parse_role(role).ok_or_else(|| invalid(key, value, SERVER_FORMAT))?)
        }
        _ => return Err(invalid(key, value, SERVER_FORMAT)),
    };
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| invalid(key, value, SERVER_FORMAT));
    let (peer_port, election_port) = (port(ports.0)?, port(ports.1)?);
    if host.is_empty() {
        return Err(invalid(key, value, SERVER_FORMAT));
    }
    Ok(QuorumServer { id, host: host.to_string(), peer_port, election_port, role, client })
}

/// `host:rest` or `[v6]:rest`.
fn split_host(text: &str) -> Option<(&str, &str)> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let (host, rest) = bracketed.split_once(']')?;
        return Some((host, rest.strip_prefix(':')?));
    }
    text.split_once(':')
}

fn parse_client(key: &str, value: &str, client: &str) -> Result<(Option<IpAddr>, u16), ConfigError> {
    let bad = || invalid(key, value, SERVER_FORMAT);
    let (address, port) = match client.rsplit_once(':') {
        Some((address, port)) => {
            let address = address.trim_start_matches('[').trim_end_matches(']');
            (Some(address.parse::<IpAddr>().map_err(|_| bad())?), port)
        }
        None => (None, client),
    };
    Ok((address, port.parse::<u16>().map_err(|_| bad())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(value: &str) -> Result<QuorumServer, ConfigError> {
        parse_server("server.3", value)
    }

    #[test]
    fn server_lines_parse_as_zookeeper_writes_them() {
        let s = server("zk3.example:2888:3888").expect("plain");
        assert_eq!((s.id, s.host.as_str(), s.peer_port, s.election_port), (3, "zk3.example", 2888, 3888));
        assert_eq!((s.role, s.client), (Role::Participant, None));
        let s = server("10.0.0.3:2888:3888:observer;2181").expect("observer with client port");
        assert_eq!((s.role, s.client), (Role::Observer, Some((None, 2181))));
        let s = server("[::1]:2888:3888:participant;127.0.0.1:2182").expect("IPv6, client address");
        assert_eq!(s.host, "::1");
        assert_eq!(s.client, Some((Some(IpAddr::from([127, 0, 0, 1])), 2182)));
    }

    #[test]
    fn bad_server_lines_name_the_problem() {
        for bad in [
            "zk3",
            "zk3:2888",
            "zk3:2888:x",
            "zk3:2888:3888:voter",
            ":2888:3888",
            "zk3:0:3888",
            "a:1:2|b:1:2",
            "zk3:2888:3888;port",
        ] {
            let err = server(bad).expect_err(bad).to_string();
            assert!(err.contains("server.3") && err.contains(bad), "{bad}: {err}");
        }
        let err = parse_server("server.x", "a:1:2").expect_err("bad N").to_string();
        assert!(err.contains("server.N must be a number"), "{err}");
    }

    #[test]
    fn quorum_sasl_is_refused_never_ignored_and_ssl_quorum_flags_are_checked() {
        let mut settings = QuorumSettings::default();
        for key in
            ["quorum.auth.enableSasl", "zookeeper.quorum.auth.learnerRequireSasl", "quorum.auth.serverRequireSasl"]
        {
            let err = settings.apply(key, "true").expect_err(key).to_string();
            assert!(err.contains(key) && err.contains("sslQuorum") && !err.contains('\n'), "{err}");
            assert!(settings.apply(key, "false").expect("off is harmless"), "{key}");
        }
        assert!(settings.apply("quorum.auth.kerberos.servicePrincipal", "zkquorum/_HOST").expect("harmless"));
        assert!(settings.apply("sslQuorum", "true").expect("a flag"));
        assert!(
            settings.apply("zookeeper.sslQuorum", "maybe").expect_err("not a flag").to_string().contains("sslQuorum")
        );
    }

    #[test]
    fn timeouts_follow_the_ticks() {
        let settings = QuorumSettings { init_limit: 10, sync_limit: 5, ..QuorumSettings::default() };
        let t = settings.timeouts(200);
        assert_eq!((t.heartbeat_ms, t.election_ms, t.catch_up_ms), (100, 1000, 2000));
        // ZooKeeper's default ticks: elections after a second, not after syncLimit's 10 s.
        let t = settings.timeouts(2000);
        assert_eq!((t.heartbeat_ms, t.election_ms, t.catch_up_ms), (100, 1000, 20_000));
        // Fast ticks stay as fast as they ask.
        let t = settings.timeouts(20);
        assert_eq!((t.heartbeat_ms, t.election_ms), (10, 100));
    }
}
