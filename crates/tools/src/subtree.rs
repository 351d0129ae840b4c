//! Whole-subtree operations over a client session: listing (zkCli's `ls -R` order and breadth-first) and
//! recursive deletion. Requests of one level (or one deletion window) are issued together: the client
//! library sends a request when its future is created, so they travel pipelined on the one connection.

use zookeeper_client::{Client, Error};

/// `parent` joined with a child name.
pub(crate) fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" { format!("/{name}") } else { format!("{parent}/{name}") }
}

/// `root` and every descendant, breadth-first (parents before children). Nodes that vanish while being
/// listed are left out; a missing `root` is an error.
pub(crate) async fn list_breadth_first(client: &Client, root: &str) -> Result<Vec<String>, Error> {
    let mut tree = vec![root.to_owned()];
    let mut level = vec![root.to_owned()];
    let mut first = true;
    while !level.is_empty() {
        let pending: Vec<_> = level.iter().map(|path| client.list_children(path)).collect();
        let mut next = Vec::new();
        for (parent, reply) in level.iter().zip(pending) {
            match reply.await {
                Ok(children) => next.extend(children.iter().map(|c| child_path(parent, c))),
                Err(Error::NoNode) if !first => {}
                Err(e) => return Err(e),
            }
        }
        first = false;
        tree.extend(next.iter().cloned());
        level = next;
    }
    Ok(tree)
}

/// The outcome of a recursive delete.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Deleted {
    pub deleted: usize,
    pub failed: usize,
}

/// Deletes `root` and everything under it, children first, `window` requests in flight at a time. The
/// root `/` and ZooKeeper's own `/zookeeper` subtree are never deleted (the server refuses anyway).
pub(crate) async fn delete_recursive(client: &Client, root: &str, window: usize) -> Result<Deleted, Error> {
    let tree = list_breadth_first(client, root).await?;
    let mut outcome = Deleted::default();
    let deletable: Vec<&String> = tree.iter().rev().filter(|p| !is_protected(p)).collect();
    for chunk in deletable.chunks(window.max(1)) {
        let pending: Vec<_> = chunk.iter().map(|path| client.delete(path, None)).collect();
        for reply in pending {
            match reply.await {
                Ok(()) => outcome.deleted += 1,
                Err(Error::NoNode) => {}
                Err(_) => outcome.failed += 1,
            }
        }
    }
    Ok(outcome)
}

fn is_protected(path: &str) -> bool {
    path == "/" || path == "/zookeeper" || path.starts_with("/zookeeper/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protects_root_and_zookeeper() {
        assert!(is_protected("/"));
        assert!(is_protected("/zookeeper/config"));
        assert!(!is_protected("/zookeeperx"));
        assert!(!is_protected("/a"));
    }

    #[test]
    fn joins() {
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/a", "b"), "/a/b");
    }
}
