//! Where a benchmark's nodes live, creating them before the run and deleting them after.

use anyhow::bail;
use zookeeper_client::{Acls, Client, CreateMode, Error};

use super::{BenchArgs, Workload};
use crate::subtree;

/// Requests in flight at once while creating or deleting nodes.
const WINDOW: usize = 1000;

/// The benchmark's node names: `<prefix>/<workload>/c<i>` (create: each client's parent) and
/// `<prefix>/<workload>/key-<j>` (the pre-created nodes).
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    dir: String,
}

impl Layout {
    pub fn new(prefix: &str, workload: Workload) -> Layout {
        Layout { dir: subtree::child_path(prefix, workload.name()) }
    }

    /// Client `index`'s parent for sequential nodes.
    pub fn client_dir(&self, index: usize) -> String {
        format!("{}/c{index}", self.dir)
    }

    pub fn key(&self, index: usize) -> String {
        format!("{}/key-{index}", self.dir)
    }
}

/// The prefix must be a plain absolute path that is not the root or ZooKeeper's own subtree: all of it is
/// deleted at the end.
pub(crate) fn validate_prefix(prefix: &str) -> anyhow::Result<()> {
    let plain = prefix.starts_with('/')
        && prefix.len() > 1
        && !prefix.ends_with('/')
        && prefix.split('/').skip(1).all(|part| !part.is_empty() && part != "." && part != "..");
    if !plain {
        bail!("--prefix must be an absolute znode path other than /, got {prefix:?}");
    }
    if prefix == "/zookeeper" || prefix.starts_with("/zookeeper/") {
        bail!("--prefix must not be under /zookeeper");
    }
    Ok(())
}

/// Creates the prefix, the workload's directory and the nodes the workload needs.
pub(crate) async fn prepare(client: &Client, layout: &Layout, args: &BenchArgs) -> Result<(), Error> {
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    client.mkdir(&layout.dir, &options).await?;
    let value = vec![b'x'; args.value_size];
    let nodes: Vec<(String, &[u8])> = match args.workload {
        Workload::Create => (0..args.clients).map(|i| (layout.client_dir(i), &[][..])).collect(),
        Workload::Set | Workload::Get | Workload::Mixed => {
            (0..args.keys).map(|j| (layout.key(j), &value[..])).collect()
        }
        Workload::Watch | Workload::Failover => (0..args.clients).map(|i| (layout.key(i), &value[..])).collect(),
    };
    for chunk in nodes.chunks(WINDOW) {
        let pending: Vec<_> = chunk.iter().map(|(path, data)| client.create(path, data, &options)).collect();
        for reply in pending {
            match reply.await {
                Ok(_) | Err(Error::NodeExists) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Deletes the prefix and everything under it.
pub(crate) async fn clean_up(client: &Client, prefix: &str) -> anyhow::Result<()> {
    match subtree::delete_recursive(client, prefix, WINDOW).await {
        Ok(outcome) if outcome.failed == 0 => Ok(()),
        Ok(outcome) => bail!("{} nodes under {prefix} could not be deleted", outcome.failed),
        Err(Error::NoNode) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert!(validate_prefix("/paddock-bench").is_ok());
        assert!(validate_prefix("/a/b").is_ok());
        for bad in ["/", "", "a", "/a/", "/a//b", "/zookeeper", "/zookeeper/x", "/a/.."] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn layout_names() {
        let layout = Layout::new("/p", Workload::Create);
        assert_eq!(layout.client_dir(3), "/p/create/c3");
        assert_eq!(layout.key(7), "/p/create/key-7");
    }
}
