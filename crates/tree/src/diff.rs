//! What differs between two trees under one path: what `paddock snapshot diff` prints, and the plan a
//! subtree restore (`TxnOp::RestoreSubtree`, see `restore.rs`) carries out.
//!
//! A node differs when its data, its ACL or its kind (persistent, ephemeral of a session, container, TTL:
//! the raw `ephemeralOwner`) differs. Stat fields that only record history (zxids, times, versions) are not
//! compared: two trees that hold the same content after different histories are equal.

use std::ops::Bound;
use std::sync::Arc;

use paddock_proto::{Acl, Stat};

use crate::node::Node;
use crate::tree::DataTree;

/// A node as one side of a comparison holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeImage {
    /// `None` is null data, kept apart from empty data as ZooKeeper keeps it.
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    /// The raw owner: 0 (persistent), a session id, or the container/TTL encoding (see [`crate::ephemeral`]).
    pub ephemeral_owner: i64,
    /// The Stat a client would read; `None` for a node not in a tree (one a restore is about to create).
    pub stat: Option<Stat>,
}

impl NodeImage {
    pub fn of(node: &Node) -> NodeImage {
        NodeImage {
            data: node.data().map(<[u8]>::to_vec),
            acl: node.acl().to_vec(),
            ephemeral_owner: node.persisted_stat().ephemeral_owner,
            stat: Some(node.stat()),
        }
    }
}

/// One difference, from the first tree to the second.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// In the second tree only.
    Create { path: String, node: NodeImage },
    /// In both, with different data, ACL or kind.
    Update { path: String, before: NodeImage, after: NodeImage },
    /// In the first tree only.
    Delete { path: String, before: NodeImage },
}

impl Change {
    pub fn path(&self) -> &str {
        match self {
            Change::Create { path, .. } | Change::Update { path, .. } | Change::Delete { path, .. } => path,
        }
    }

    /// `create`, `update` or `delete`: how the change is named in printed and JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Create { .. } => "create",
            Change::Update { .. } => "update",
            Change::Delete { .. } => "delete",
        }
    }

    /// For an update, which of `data`, `acl` and `kind` changed; empty otherwise.
    pub fn fields(&self) -> Vec<&'static str> {
        let Change::Update { before, after, .. } = self else { return Vec::new() };
        let mut fields = Vec::new();
        if before.data != after.data {
            fields.push("data");
        }
        if before.acl != after.acl {
            fields.push("acl");
        }
        if before.ephemeral_owner != after.ephemeral_owner {
            fields.push("kind");
        }
        fields
    }
}

/// Every difference under `subtree` (itself included) from `from` to `to`, in path order: a parent before
/// its children. `subtree` `/` compares whole trees.
pub fn diff_subtree(from: &DataTree, to: &DataTree, subtree: &str) -> Vec<Change> {
    let mut changes = Vec::new();
    merge(subtree_nodes(from, subtree), subtree_nodes(to, subtree), |path, before, after| {
        if let Some(change) = compare(path, before, after) {
            changes.push(change);
        }
    });
    changes
}

/// The change that makes `before` into `after`, if they differ.
pub(crate) fn compare(path: &str, before: Option<&Node>, after: Option<&Node>) -> Option<Change> {
    let path = path.to_string();
    match (before, after) {
        (None, None) => None,
        (None, Some(node)) => Some(Change::Create { path, node: NodeImage::of(node) }),
        (Some(node), None) => Some(Change::Delete { path, before: NodeImage::of(node) }),
        (Some(old), Some(new)) if same_content(old, new) => None,
        (Some(old), Some(new)) => Some(Change::Update { path, before: NodeImage::of(old), after: NodeImage::of(new) }),
    }
}

pub(crate) fn same_content(a: &Node, b: &Node) -> bool {
    a.data() == b.data()
        && (Arc::ptr_eq(a.acl(), b.acl()) || a.acl() == b.acl())
        && a.persisted_stat().ephemeral_owner == b.persisted_stat().ephemeral_owner
}

/// The nodes at and under `subtree`, in path order. Under `/a`, that is `/a` and every path starting with
/// `/a/`; in byte order those are contiguous (`/a-b` sorts between `/a` and `/a/`, so it is skipped).
pub(crate) fn subtree_nodes<'t>(tree: &'t DataTree, subtree: &str) -> impl Iterator<Item = (&'t str, &'t Node)> {
    let root = tree.nodes.get_key_value(subtree).map(|(path, node)| (&**path, &**node));
    let prefix = if subtree == "/" { "/".to_string() } else { format!("{subtree}/") };
    let below = tree
        .nodes
        .range::<_, str>((Bound::Excluded(prefix.as_str()), Bound::Unbounded))
        .take_while(move |(path, _)| path.starts_with(&prefix))
        .map(|(path, node)| (&**path, &**node));
    root.into_iter().chain(below)
}

/// Walks two path-ordered node lists side by side, calling `each` once per path with the node of each side.
pub(crate) fn merge<'a, 'b>(
    left: impl Iterator<Item = (&'a str, &'a Node)>,
    right: impl Iterator<Item = (&'b str, &'b Node)>,
    mut each: impl FnMut(&str, Option<&Node>, Option<&Node>),
) {
    let (mut left, mut right) = (left.peekable(), right.peekable());
    loop {
        match (left.peek(), right.peek()) {
            (None, None) => return,
            (Some(&(path, node)), None) => {
                each(path, Some(node), None);
                left.next();
            }
            (None, Some(&(path, node))) => {
                each(path, None, Some(node));
                right.next();
            }
            (Some(&(l_path, l_node)), Some(&(r_path, r_node))) => match l_path.cmp(r_path) {
                std::cmp::Ordering::Less => {
                    each(l_path, Some(l_node), None);
                    left.next();
                }
                std::cmp::Ordering::Greater => {
                    each(r_path, None, Some(r_node));
                    right.next();
                }
                std::cmp::Ordering::Equal => {
                    each(l_path, Some(l_node), Some(r_node));
                    left.next();
                    right.next();
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{ProposalId, Txn, TxnOp};
    use paddock_proto::CreateMode;

    fn write(tree: &mut DataTree, op: TxnOp) {
        let zxid = tree.last_zxid() + 1;
        let txn = Txn { origin: ProposalId::default(), time: zxid, session_id: 0, auth: vec![], op };
        tree.apply(zxid, &txn);
    }

    fn create(tree: &mut DataTree, path: &str, data: &[u8]) {
        let op = TxnOp::Create {
            path: path.into(),
            data: Some(data.to_vec()),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
            ttl: 0,
        };
        write(tree, op);
    }

    fn summary(changes: &[Change]) -> Vec<(String, &'static str, Vec<&'static str>)> {
        changes.iter().map(|c| (c.path().to_string(), c.kind(), c.fields())).collect()
    }

    #[test]
    fn a_diff_names_what_was_created_changed_and_deleted_under_the_subtree_only() {
        let mut a = DataTree::new();
        for (path, data) in [("/app", "x"), ("/app/keep", "k"), ("/app/gone", "g"), ("/app-b", "1"), ("/other", "o")] {
            create(&mut a, path, data.as_bytes());
        }
        let mut b = a.clone();
        write(&mut b, TxnOp::SetData { path: "/app/keep".into(), data: Some(b"k2".to_vec()), version: -1 });
        write(&mut b, TxnOp::Delete { path: "/app/gone".into(), version: -1 });
        create(&mut b, "/app/new", b"n");
        create(&mut b, "/app/new/child", b"");
        write(&mut b, TxnOp::SetData { path: "/app-b".into(), data: Some(b"2".to_vec()), version: -1 });
        write(&mut b, TxnOp::SetAcl { path: "/other".into(), acl: Acl::read_unsafe(), version: -1 });
        // Same data written again: history changed, content did not.
        write(&mut b, TxnOp::SetData { path: "/app".into(), data: Some(b"x".to_vec()), version: -1 });

        assert_eq!(
            summary(&diff_subtree(&a, &b, "/app")),
            vec![
                ("/app/gone".to_string(), "delete", vec![]),
                ("/app/keep".to_string(), "update", vec!["data"]),
                ("/app/new".to_string(), "create", vec![]),
                ("/app/new/child".to_string(), "create", vec![]),
            ]
        );
        let whole = summary(&diff_subtree(&a, &b, "/"));
        assert_eq!(whole.len(), 6);
        assert!(whole.contains(&("/other".to_string(), "update", vec!["acl"])));
        assert!(whole.contains(&("/app-b".to_string(), "update", vec!["data"])));
        assert!(diff_subtree(&a, &a.clone(), "/").is_empty());
        assert!(diff_subtree(&a, &b, "/nowhere").is_empty());
    }

    #[test]
    fn null_and_empty_data_differ() {
        let mut a = DataTree::new();
        create(&mut a, "/n", b"");
        let mut b = a.clone();
        write(&mut b, TxnOp::SetData { path: "/n".into(), data: None, version: -1 });
        let changes = diff_subtree(&a, &b, "/n");
        assert_eq!(summary(&changes), vec![("/n".to_string(), "update", vec!["data"])]);
        let Change::Update { before, after, .. } = &changes[0] else { panic!("an update") };
        assert_eq!((before.data.as_deref(), after.data.as_deref()), (Some(&b""[..]), None));
        assert_eq!(after.stat.map(|s| s.version), Some(1));
    }
}
