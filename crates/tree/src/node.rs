//! A znode as the tree stores it (`DataNode` + `StatPersisted`), and the `Stat` clients see.
//!
//! Stored and visible stats differ in two places, both ZooKeeper's: the stored `cversion` counts child
//! *creations* only (the sequential suffix and the container "ever had a child" test read it), and clients
//! see `cversion * 2 - numChildren`, i.e. creations plus deletions; and containers and TTL nodes show an
//! `ephemeralOwner` of 0.
//!
//! A znode's data is null, empty or bytes, as in ZooKeeper (a client that sends a null buffer gets null
//! back from getData); `dataLength` is 0 for both null and empty.

use std::sync::{Arc, LazyLock};

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

/// A znode's data: null, empty, or bytes, in the same 16 bytes a plain `Option<Arc<[u8]>>` takes.
///
/// `None` is empty data, which spares an allocation for the many nodes that hold nothing. A zero-length
/// slice is null: always the one process-wide [`NULL`] allocation, so null costs no allocation either.
/// Anything else is the bytes. Equality compares contents, so null and empty are never equal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Data(Option<Arc<[u8]>>);

/// The shared allocation behind every null [`Data`].
static NULL: LazyLock<Arc<[u8]>> = LazyLock::new(|| Arc::from(&[][..]));

impl Data {
    /// `None` is null.
    pub(crate) fn new(data: Option<&[u8]>) -> Data {
        match data {
            None => Data(Some(NULL.clone())),
            Some([]) => Data(None),
            Some(bytes) => Data(Some(Arc::from(bytes))),
        }
    }

    /// ZooKeeper's `DataNode.getData()`: `None` for null.
    pub(crate) fn get(&self) -> Option<&[u8]> {
        match &self.0 {
            None => Some(&[]),
            Some(bytes) if bytes.is_empty() => None,
            Some(bytes) => Some(bytes),
        }
    }

    /// `dataLength`: 0 for null as for empty.
    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |bytes| bytes.len())
    }

    /// Whether `other` is this very value (same allocation, or both empty), decided without reading the
    /// bytes: a node whose data was not replaced needs no rehashing.
    pub(crate) fn is(&self, other: &Data) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

/// One znode. Cheap to clone: data, ACL and the child set are shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub(crate) data: Data,
    pub(crate) acl: Arc<Vec<Acl>>,
    pub(crate) stat: StatPersisted,
    /// Children by full path, sharing the allocation of the tree's key (same order as by name).
    pub(crate) children: imbl::OrdSet<Arc<str>>,
}

impl Node {
    /// `data` `None` is null.
    pub(crate) fn new(data: Option<&[u8]>, acl: Arc<Vec<Acl>>, stat: StatPersisted) -> Node {
        Node { data: Data::new(data), acl, stat, children: imbl::OrdSet::new() }
    }

    /// The data as ZooKeeper's getData returns it: `None` when the node's data is null (created or set with
    /// a null buffer), `Some(b"")` when it is empty.
    pub fn data(&self) -> Option<&[u8]> {
        self.data.get()
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
            data_length: self.data.len() as i32,
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

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_proto::Acl;

    #[test]
    fn client_cversion_counts_creates_and_deletes() {
        let mut node = Node::new(Some(b""), Arc::new(Acl::open_unsafe()), StatPersisted::created(5, 7, 0));
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
        let container =
            Node::new(Some(b"x"), acl.clone(), StatPersisted::created(1, 1, crate::ephemeral::CONTAINER_OWNER));
        assert_eq!(container.stat().ephemeral_owner, 0);
        assert_eq!(container.stat().data_length, 1);
        let ephemeral = Node::new(Some(b""), acl, StatPersisted::created(1, 1, 0x77));
        assert_eq!(ephemeral.stat().ephemeral_owner, 0x77);
        assert_eq!(ephemeral.data(), Some(&b""[..]));
    }

    #[test]
    fn null_and_empty_data_differ_but_both_have_length_zero() {
        let acl = Arc::new(Acl::open_unsafe());
        let null = Node::new(None, acl.clone(), StatPersisted::default());
        let empty = Node::new(Some(b""), acl.clone(), StatPersisted::default());
        let full = Node::new(Some(b"ab"), acl, StatPersisted::default());
        assert_eq!((null.data(), empty.data(), full.data()), (None, Some(&b""[..]), Some(&b"ab"[..])));
        assert_eq!((null.stat().data_length, empty.stat().data_length, full.stat().data_length), (0, 0, 2));
        assert_ne!(null, empty);
        assert_eq!(null, null.clone());
        assert!(null.data.is(&Data::new(None)), "every null shares one allocation");
        assert!(!null.data.is(&empty.data));
    }

    #[test]
    fn telling_null_from_empty_costs_no_bytes_per_znode() {
        assert_eq!(std::mem::size_of::<Data>(), std::mem::size_of::<Option<Arc<[u8]>>>());
        assert_eq!(std::mem::size_of::<Data>(), 16);
    }
}
