//! A znode as the tree stores it (`DataNode` + `StatPersisted`), and the `Stat` clients see.
//!
//! Stored and visible stats differ in two places, both ZooKeeper's: the stored `cversion` counts child
//! *creations* only (the sequential suffix and the container "ever had a child" test read it), and clients
//! see `cversion * 2 - numChildren`, i.e. creations plus deletions; and containers and TTL nodes show an
//! `ephemeralOwner` of 0.

use std::sync::Arc;

use paddock_proto::{Acl, Stat};

use crate::{ephemeral, path};

/// The stored metadata of a znode (`org.apache.zookeeper.data.StatPersisted`), field for field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StatPersisted {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// Number of children ever created (not deleted) under this node.
    pub cversion: i32,
    pub aversion: i32,
    /// Raw owner: a session id, 0, or a container/TTL encoding (see [`crate::ephemeral`]).
    pub ephemeral_owner: i64,
    pub pzxid: i64,
}

impl StatPersisted {
    /// `DataTree.createStat`.
    pub fn created(zxid: i64, time: i64, ephemeral_owner: i64) -> StatPersisted {
        StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            pzxid: zxid,
            ephemeral_owner,
            ..StatPersisted::default()
        }
    }
}

/// One znode. Cheap to clone: data, ACL and the child set are shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// `None` is empty data; it spares an allocation for the many nodes that hold nothing.
    pub(crate) data: Option<Arc<[u8]>>,
    pub(crate) acl: Arc<Vec<Acl>>,
    pub(crate) stat: StatPersisted,
    /// Children by full path, sharing the allocation of the tree's key (same order as by name).
    pub(crate) children: imbl::OrdSet<Arc<str>>,
}

impl Node {
    pub(crate) fn new(data: &[u8], acl: Arc<Vec<Acl>>, stat: StatPersisted) -> Node {
        Node { data: shared_data(data), acl, stat, children: imbl::OrdSet::new() }
    }

    pub fn data(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }

    pub fn acl(&self) -> &Arc<Vec<Acl>> {
        &self.acl
    }

    /// The stat clients see (`DataNode.copyStat`).
    pub fn stat(&self) -> Stat {
        let s = &self.stat;
        let num_children = self.num_children();
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: s.aversion,
            ephemeral_owner: ephemeral::client_owner(s.ephemeral_owner),
            data_length: self.data().len() as i32,
            num_children,
            pzxid: s.pzxid,
        }
    }

    /// The stat as stored, for tools that export or compare trees.
    pub fn persisted_stat(&self) -> &StatPersisted {
        &self.stat
    }

    /// Child names, in byte order.
    pub fn children(&self) -> impl Iterator<Item = &str> {
        self.children.iter().map(|child| path::name(child))
    }

    pub fn num_children(&self) -> i32 {
        self.children.len() as i32
    }
}

pub(crate) fn shared_data(data: &[u8]) -> Option<Arc<[u8]>> {
    (!data.is_empty()).then(|| Arc::from(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_proto::Acl;

    #[test]
    fn client_cversion_counts_creates_and_deletes() {
        let mut node = Node::new(b"", Arc::new(Acl::open_unsafe()), StatPersisted::created(5, 7, 0));
        assert_eq!(node.stat().cversion, 0);
        // Three children created, one of them deleted since.
        node.stat.cversion = 3;
        node.children.insert(Arc::from("/p/a"));
        node.children.insert(Arc::from("/p/b"));
        let stat = node.stat();
        assert_eq!((stat.cversion, stat.num_children), (4, 2));
        assert_eq!(node.children().collect::<Vec<_>>(), vec!["a", "b"]);
    }

    #[test]
    fn containers_and_ttl_nodes_show_no_owner() {
        let acl = Arc::new(Acl::open_unsafe());
        let container = Node::new(b"x", acl.clone(), StatPersisted::created(1, 1, crate::ephemeral::CONTAINER_OWNER));
        assert_eq!(container.stat().ephemeral_owner, 0);
        assert_eq!(container.stat().data_length, 1);
        let ephemeral = Node::new(b"", acl, StatPersisted::created(1, 1, 0x77));
        assert_eq!(ephemeral.stat().ephemeral_owner, 0x77);
        assert_eq!(ephemeral.data(), b"");
    }
}
