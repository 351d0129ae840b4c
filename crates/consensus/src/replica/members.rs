//! Who may open a connection to this server's peer port: the members, as the log says they are now.
//!
//! The view handed to the transport's security ([`crate::transport::PeerSecurity::accept`]) is the Raft
//! membership (voters and learners, both halves of a joint change), so that a reconfig that removes a
//! member shuts it out at once and one that adds a member lets it in. Before the log holds a membership (a
//! first start, or a wiped member), only zoo.cfg's `server.N` lines can say who the members are. A
//! `server.N` line also counts while its server has not appeared in the log's membership: an observer of
//! zoo.cfg, or a new server, asks the leader to add it ([`super::reconfig::JOIN`]), which it could not do if
//! it were refused until added. Once a server has appeared in the membership, the log alone decides.

use std::collections::{BTreeMap, BTreeSet};

use openraft::async_runtime::watch::WatchReceiver;
use tokio::sync::watch;

use super::{ProxyStateMachine, TreeOwner};
use crate::transport::Members;
use crate::types::{PeerNode, Raft};

/// The current members, kept up to date with the log by the returned task.
pub(super) fn follow<O: TreeOwner>(
    raft: Raft<ProxyStateMachine<O>>,
    configured: &BTreeMap<u64, PeerNode>,
) -> (watch::Receiver<Members>, tokio::task::JoinHandle<()>) {
    let configured: Vec<(u64, String)> = configured.iter().map(|(id, node)| (*id, node.addr.clone())).collect();
    let (view, members) = watch::channel(Members::new(configured.clone()));
    let task = tokio::spawn(async move {
        // The membership is in the server metrics, which change far less often than the whole metrics (every
        // append).
        let mut metrics = raft.server_metrics();
        let mut seen = BTreeSet::new();
        loop {
            let in_log: Vec<(u64, String)> = {
                let m = metrics.borrow_watched();
                m.membership_config.membership().nodes().map(|(id, node)| (*id, node.addr.clone())).collect()
            };
            let now = current(&configured, &in_log, &mut seen);
            view.send_if_modified(|members| {
                let changed = **members != now;
                if changed {
                    *members = Members::new(now);
                }
                changed
            });
            if metrics.changed().await.is_err() {
                return;
            }
        }
    });
    (members, task)
}

/// The log's members, and the configured servers it has never named (`seen` remembers those it has).
fn current(configured: &[(u64, String)], in_log: &[(u64, String)], seen: &mut BTreeSet<u64>) -> Vec<(u64, String)> {
    seen.extend(in_log.iter().map(|(id, _)| *id));
    let mut now = in_log.to_vec();
    now.extend(configured.iter().filter(|(id, _)| !seen.contains(id)).cloned());
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64) -> (u64, String) {
        (id, format!("10.0.0.{id}:2888"))
    }

    #[test]
    fn the_log_decides_once_it_names_a_server() {
        let configured = [member(1), member(2), member(3), member(4)];
        let mut seen = BTreeSet::new();
        assert_eq!(current(&configured, &[], &mut seen), configured, "before the log: zoo.cfg");
        let formed = current(&configured, &[member(1), member(2), member(3)], &mut seen);
        assert_eq!(formed, configured, "4 (an observer of zoo.cfg) may still ask to join");
        let removed = current(&configured, &[member(1), member(2), member(4)], &mut seen);
        assert_eq!(removed, [member(1), member(2), member(4)], "3 was removed by a reconfig: refused");
        let moved = (4, "10.0.0.44:2888".to_string());
        let readdressed = current(&configured, &[member(1), member(2), moved.clone()], &mut seen);
        assert_eq!(readdressed, [member(1), member(2), moved], "the log's address, not zoo.cfg's");
    }
}
