//! A tree assembled from nodes and sessions held elsewhere: an import of another server's data (Apache
//! ZooKeeper's, through `paddock-backup`). The same checks as reading a snapshot body apply — valid paths,
//! each parent before its children, no duplicate, every ephemeral's session present — and the digest and
//! every index are computed as the nodes arrive.

use std::sync::Arc;

use paddock_proto::Acl;

use crate::ephemeral::EphemeralType;
use crate::node::{Node, StatPersisted};
use crate::path;
use crate::tree::{DataTree, Session};

pub struct TreeBuilder {
    tree: DataTree,
}

impl TreeBuilder {
    /// A tree whose last applied txn is `last_zxid`, stamped `last_time` (ms since the epoch).
    pub fn new(last_zxid: i64, last_time: i64) -> TreeBuilder {
        let mut tree = DataTree::empty();
        tree.last_zxid = last_zxid;
        tree.last_time = last_time;
        TreeBuilder { tree }
    }

    /// A session; its `last_zxid` may not be above the tree's.
    pub fn session(&mut self, id: i64, session: Session) -> Result<(), String> {
        if self.tree.sessions.contains_key(&id) {
            return Err(format!("session 0x{id:x} appears twice"));
        }
        if session.last_zxid > self.tree.last_zxid {
            return Err(format!("session 0x{id:x} was last active after the tree's last zxid"));
        }
        if !(0..i64::MAX).contains(&id) {
            return Err(format!("session id 0x{id:x} is out of range"));
        }
        self.tree.put_session(id, session);
        Ok(())
    }

    /// A node: the root `/` first, then every node after its parent. `data` `None` is null.
    pub fn node(&mut self, path: &str, data: Option<&[u8]>, acl: &[Acl], stat: StatPersisted) -> Result<(), String> {
        if path::validate(path).is_err() {
            return Err(format!("invalid node path {path:?}"));
        }
        if self.tree.nodes.contains_key(path) {
            return Err(format!("node {path} appears twice"));
        }
        let root_present = self.tree.nodes.contains_key("/");
        if root_present == (path == "/") {
            return Err(format!("node {path} where the root was expected, or a second root"));
        }
        if path != "/" && !self.tree.nodes.contains_key(path::parent(path)) {
            return Err(format!("node {path} comes before its parent"));
        }
        let acl = self.tree.acls.acquire(acl);
        self.tree.attach(Arc::from(path), Node::new(data, acl, stat));
        Ok(())
    }

    /// The tree; refused if it has no root or an ephemeral node's session is missing.
    pub fn finish(mut self) -> Result<DataTree, String> {
        if !self.tree.nodes.contains_key("/") {
            return Err("the tree has no root".to_string());
        }
        for (path, node) in &self.tree.nodes {
            if let EphemeralType::Normal(owner) = EphemeralType::of(node.stat.ephemeral_owner)
                && !self.tree.sessions.contains_key(&owner)
            {
                return Err(format!(
                    "ephemeral node {path} belongs to session 0x{owner:x}, which is not among the sessions"
                ));
            }
        }
        let highest = self.tree.sessions.get_max().map_or(0, |(id, _)| id.saturating_add(1));
        self.tree.next_session_id = self.tree.next_session_id.max(highest);
        Ok(self.tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_tree_equals_the_same_tree_read_back_from_its_snapshot() {
        let open = Acl::open_unsafe();
        let mut b = TreeBuilder::new(0x1_0000_0005, 1000);
        b.session(0x77, Session { last_zxid: 3, ..Session::new(5000, [1; 16]) }).unwrap();
        b.node("/", Some(b""), &open, StatPersisted { cversion: 2, pzxid: 4, ..StatPersisted::default() }).unwrap();
        b.node("/a", None, &open, StatPersisted::created(3, 900, 0x77)).unwrap();
        b.node("/b", Some(b"x"), &Acl::read_unsafe(), StatPersisted::created(4, 950, 0)).unwrap();
        assert!(b.node("/c/d", None, &open, StatPersisted::default()).unwrap_err().contains("before its parent"));
        assert!(b.node("/a", None, &open, StatPersisted::default()).unwrap_err().contains("twice"));
        let tree = b.finish().unwrap();
        assert_eq!(tree.stat("/").unwrap().cversion, 2 * 2 - 2);
        assert_eq!(tree.ephemerals(0x77), vec!["/a".to_string()]);
        tree.check_consistency().unwrap();
        let mut bytes = Vec::new();
        tree.write_snapshot(&mut bytes).unwrap();
        assert_eq!(DataTree::read_snapshot(&mut &bytes[..]).unwrap(), tree);
        assert_eq!(tree.nodes().map(|(path, _)| path).collect::<Vec<_>>(), vec!["/", "/a", "/b"]);
    }

    #[test]
    fn an_ephemeral_without_its_session_is_refused() {
        let mut b = TreeBuilder::new(5, 0);
        b.node("/", Some(b""), &Acl::open_unsafe(), StatPersisted::default()).unwrap();
        b.node("/e", None, &Acl::open_unsafe(), StatPersisted::created(1, 1, 0x99)).unwrap();
        assert!(b.finish().unwrap_err().contains("0x99"));
    }
}
