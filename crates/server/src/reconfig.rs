//! ZooKeeper's `reconfig` request, as its `PrepRequestProcessor` checks it: from the current
//! `/zookeeper/config` and the request to the membership wanted. The replica then gets the ensemble there
//! (`paddock_consensus::replica::Replica::reconfigure`) and `/zookeeper/config` follows from the log.

use std::collections::BTreeMap;

use paddock_proto::{ErrorCode, ReconfigRequest};

use crate::config::{QuorumServer, Role, parse_server_line};

/// `/zookeeper/config` as read back: the servers and the configuration's version (the zxid, in hex, of the
/// reconfig that wrote it; 0 for zoo.cfg's static configuration).
#[derive(Debug, PartialEq, Eq)]
pub struct CurrentConfig {
    pub servers: BTreeMap<u64, QuorumServer>,
    pub version: i64,
}

impl CurrentConfig {
    /// Reads `/zookeeper/config`'s data; lines that do not parse are skipped (the node is written by the
    /// server itself, from lines it parsed before).
    pub fn parse(data: &[u8]) -> CurrentConfig {
        let mut config = CurrentConfig { servers: BTreeMap::new(), version: 0 };
        for line in String::from_utf8_lossy(data).lines() {
            let Some((key, value)) = line.split_once('=') else { continue };
            match key.trim() {
                "version" => config.version = i64::from_str_radix(value.trim(), 16).unwrap_or(0),
                key if key.starts_with("server.") => {
                    if let Ok(server) = parse_server_line(key, value.trim()) {
                        config.servers.insert(server.id, server);
                    }
                }
                _ => {}
            }
        }
        config
    }
}

/// The membership `req` asks for, checked as ZooKeeper checks it: the version (`curConfigId`, -1 for any),
/// the server lines (each with a client port), and enough participants (two while `standaloneEnabled`, as a
/// single one would make ZooKeeper a standalone server, else one).
pub fn target(
    req: &ReconfigRequest,
    current: &CurrentConfig,
    standalone_enabled: bool,
) -> Result<BTreeMap<u64, QuorumServer>, ErrorCode> {
    if req.cur_config_id != -1 && req.cur_config_id != current.version {
        return Err(ErrorCode::BadVersion);
    }
    let next = if req.new_members.trim().is_empty() {
        incremental(req, current)?
    } else {
        // Bulk: the lines are the whole new configuration, separated by commas or newlines.
        let mut servers = BTreeMap::new();
        for line in req.new_members.replace(',', "\n").lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = line.split_once('=').ok_or(ErrorCode::BadArguments)?;
            if key.trim() == "version" {
                continue;
            }
            let server = joining(key.trim(), value.trim())?;
            servers.insert(server.id, server);
        }
        servers
    };
    let participants = next.values().filter(|s| s.role == Role::Participant).count();
    if participants < if standalone_enabled { 2 } else { 1 } {
        return Err(ErrorCode::BadArguments);
    }
    Ok(next)
}

fn incremental(req: &ReconfigRequest, current: &CurrentConfig) -> Result<BTreeMap<u64, QuorumServer>, ErrorCode> {
    let mut next = current.servers.clone();
    for leaving in req.leaving_servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id = leaving.parse::<u64>().map_err(|_| ErrorCode::BadArguments)?;
        next.remove(&id);
    }
    for joiner in req.joining_servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = joiner.split_once('=').ok_or(ErrorCode::BadArguments)?;
        let server = joining(key.trim(), value.trim())?;
        next.insert(server.id, server);
    }
    Ok(next)
}

/// A `server.N=...` line of a reconfig: every part ZooKeeper requires, the client port included.
fn joining(key: &str, value: &str) -> Result<QuorumServer, ErrorCode> {
    let server = parse_server_line(key, value).map_err(|_| ErrorCode::BadArguments)?;
    if server.client.is_none() {
        return Err(ErrorCode::BadArguments);
    }
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE: &str = "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
                         server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
                         server.3=127.0.0.1:2890:3890:participant;0.0.0.0:2183\n\
                         version=1a";

    fn request(joining: &str, leaving: &str, members: &str, version: i64) -> ReconfigRequest {
        ReconfigRequest {
            joining_servers: joining.into(),
            leaving_servers: leaving.into(),
            new_members: members.into(),
            cur_config_id: version,
        }
    }

    #[test]
    fn the_current_config_is_read_with_its_hex_version() {
        let current = CurrentConfig::parse(THREE.as_bytes());
        assert_eq!(current.version, 0x1a);
        assert_eq!(current.servers.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(current.servers[&2].peer_port, 2889);
    }

    #[test]
    fn incremental_adds_and_removes() {
        let current = CurrentConfig::parse(THREE.as_bytes());
        let req = request("server.4=127.0.0.1:2891:3891:observer;2184", "3", "", 0x1a);
        let next = target(&req, &current, true).expect("valid");
        assert_eq!(next.keys().copied().collect::<Vec<_>>(), [1, 2, 4]);
        assert_eq!(next[&4].role, Role::Observer);
        assert_eq!(next[&4].client, Some((None, 2184)));
    }

    #[test]
    fn bulk_replaces_everything() {
        let current = CurrentConfig::parse(THREE.as_bytes());
        let req = request("", "", "server.1=127.0.0.1:2888:3888;2181,server.5=127.0.0.1:2895:3895;2185", -1);
        let next = target(&req, &current, true).expect("valid");
        assert_eq!(next.keys().copied().collect::<Vec<_>>(), [1, 5]);
    }

    #[test]
    fn what_zookeeper_refuses() {
        let current = CurrentConfig::parse(THREE.as_bytes());
        assert_eq!(target(&request("", "3", "", 7), &current, true), Err(ErrorCode::BadVersion));
        let no_client_port = request("server.4=127.0.0.1:2891:3891", "", "", -1);
        assert_eq!(target(&no_client_port, &current, true), Err(ErrorCode::BadArguments));
        assert_eq!(target(&request("", "x", "", -1), &current, true), Err(ErrorCode::BadArguments));
        assert_eq!(target(&request("", "2,3", "", -1), &current, true), Err(ErrorCode::BadArguments));
        assert!(target(&request("", "2,3", "", -1), &current, false).is_ok(), "one participant is enough then");
        assert_eq!(target(&request("garbage", "", "", -1), &current, true), Err(ErrorCode::BadArguments));
    }
}
