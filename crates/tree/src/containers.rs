//! `ContainerManager.getCandidates`: which containers and TTL nodes are due for deletion.
//!
//! The tree never deletes them by itself. The server asks for candidates now and then and proposes a
//! `DeleteContainer` txn for each, so deletion goes through the log like every other write.

use crate::ephemeral::EphemeralType;
use crate::tree::DataTree;

impl DataTree {
    /// Empty containers that have had a child (stored cversion > 0); empty containers that never had one,
    /// once `max_never_used_ms` (> 0) has passed since their last change; and empty TTL nodes not changed
    /// for longer than their TTL. Times are leader-stamped milliseconds, compared against node mtimes.
    /// Each candidate comes with its mzxid, for the `DeleteContainer` that must not delete it if it changed.
    pub fn expired_containers(&self, now_ms: i64, max_never_used_ms: i64) -> Vec<(String, i64)> {
        let mut due = Vec::new();
        for path in &self.containers {
            let Some(node) = self.get(path) else { continue };
            if !node.children.is_empty() {
                continue;
            }
            let idle = now_ms.saturating_sub(node.stat.mtime);
            if node.stat.cversion > 0 || (max_never_used_ms > 0 && idle > max_never_used_ms) {
                due.push((path.to_string(), node.stat.mzxid));
            }
        }
        for path in &self.ttls {
            let Some(node) = self.get(path) else { continue };
            if let EphemeralType::Ttl(ttl) = EphemeralType::of(node.stat.ephemeral_owner)
                && node.children.is_empty()
                && ttl != 0
                && now_ms.saturating_sub(node.stat.mtime) > ttl
            {
                due.push((path.to_string(), node.stat.mzxid));
            }
        }
        due
    }
}
