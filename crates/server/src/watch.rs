//! Watch registrations and their triggering, with ZooKeeper's `WatchManager` semantics.
//!
//! A watch belongs to a connection (ZooKeeper's `ServerCnxn` is the watcher), not to a session: when the
//! connection goes, its watches go, and the client re-registers them with `setWatches` on its next connection.
//!
//! Two tables, as in ZooKeeper: the *data* table holds getData/exists watches, persistent watches and
//! persistent-recursive watches; the *child* table holds getChildren watches and persistent watches.
//! Standard watches are one-shot; persistent ones stay until removed.

use std::collections::{HashMap, HashSet};

use paddock_proto::{EventType, WatcherType};

pub type ConnId = u64;

const STANDARD: u8 = 1;
const PERSISTENT: u8 = 2;
const RECURSIVE: u8 = 4;

#[derive(Default)]
struct Table {
    by_path: HashMap<String, HashMap<ConnId, u8>>,
    /// Registrations (paths) per connection, for `paddock.maxWatchesPerSession`.
    per_conn: HashMap<ConnId, usize>,
}

impl Table {
    fn add(&mut self, path: &str, conn: ConnId, mode: u8) {
        let m = self.by_path.entry(path.to_string()).or_default().entry(conn).or_default();
        if *m == 0 {
            *self.per_conn.entry(conn).or_default() += 1;
        }
        *m |= mode;
    }

    fn uncount(&mut self, conn: ConnId) {
        if let Some(n) = self.per_conn.get_mut(&conn) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_conn.remove(&conn);
            }
        }
    }

    fn has(&self, path: &str, conn: ConnId, modes: u8) -> bool {
        self.by_path.get(path).and_then(|w| w.get(&conn)).is_some_and(|m| m & modes != 0)
    }

    /// Clears `modes` for `conn` at `path`; returns whether anything was set.
    fn clear(&mut self, path: &str, conn: ConnId, modes: u8) -> bool {
        let Some(watchers) = self.by_path.get_mut(path) else {
            return false;
        };
        let Some(m) = watchers.get_mut(&conn) else {
            return false;
        };
        let had = *m & modes != 0;
        *m &= !modes;
        let gone = *m == 0;
        if gone {
            watchers.remove(&conn);
        }
        if watchers.is_empty() {
            self.by_path.remove(path);
        }
        if gone {
            self.uncount(conn);
        }
        had
    }

    /// The connections holding a recursive watch on `path` or one of its ancestors.
    fn recursive_watchers(&self, path: &str) -> HashSet<ConnId> {
        std::iter::once(path)
            .chain(ancestors(path))
            .filter_map(|p| self.by_path.get(p))
            .flat_map(|watchers| watchers.iter().filter(|(_, m)| **m & RECURSIVE != 0).map(|(c, _)| *c))
            .collect()
    }

    /// Fires every watcher at `path` (standard ones are removed) and, when `with_ancestors`, the recursive
    /// watchers on every ancestor; returns the connections fired.
    fn fire(&mut self, path: &str, with_ancestors: bool) -> HashSet<ConnId> {
        let mut out = HashSet::new();
        let mut gone = Vec::new();
        if let Some(watchers) = self.by_path.get_mut(path) {
            out.extend(watchers.keys().copied());
            watchers.retain(|conn, m| {
                *m &= !STANDARD;
                if *m == 0 {
                    gone.push(*conn);
                }
                *m != 0
            });
            if watchers.is_empty() {
                self.by_path.remove(path);
            }
        }
        for conn in gone {
            self.uncount(conn);
        }
        if with_ancestors {
            for ancestor in ancestors(path) {
                if let Some(watchers) = self.by_path.get(ancestor) {
                    out.extend(watchers.iter().filter(|(_, m)| **m & RECURSIVE != 0).map(|(c, _)| *c));
                }
            }
        }
        out
    }

    fn remove_conn(&mut self, conn: ConnId) {
        self.per_conn.remove(&conn);
        self.by_path.retain(|_, watchers| {
            watchers.remove(&conn);
            !watchers.is_empty()
        });
    }

    fn count(&self) -> usize {
        self.by_path.values().map(HashMap::len).sum()
    }

    /// Registrations holding `mode` whose (path, connection) has no entry in `other`.
    fn count_mode_missing_from(&self, mode: u8, other: &Table) -> usize {
        let missing = |path: &String, conn: &ConnId| other.by_path.get(path).is_none_or(|w| !w.contains_key(conn));
        self.by_path
            .iter()
            .flat_map(|(path, watchers)| watchers.iter().map(move |(conn, m)| (path, conn, m)))
            .filter(|(path, conn, m)| *m & mode != 0 && missing(path, conn))
            .count()
    }
}

/// Proper ancestors of `path`, nearest first, ending with "/".
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut current = path;
    std::iter::from_fn(move || {
        if current == "/" || current.is_empty() {
            return None;
        }
        let idx = current.rfind('/')?;
        current = if idx == 0 { "/" } else { &current[..idx] };
        Some(current)
    })
}

/// What one event fired: the connections to notify, and how many watchers each of ZooKeeper's watch
/// tables fired (only tables that fired any), which ZooKeeper reports as `node_*_watch_count`.
#[derive(Debug, Default)]
pub struct Fired {
    pub conns: HashSet<ConnId>,
    pub per_table: Vec<usize>,
}

impl Fired {
    fn add_table(&mut self, fired: HashSet<ConnId>) {
        if !fired.is_empty() {
            self.per_table.push(fired.len());
            self.conns.extend(fired);
        }
    }
}

/// All watches of all connections.
#[derive(Default)]
pub struct WatchManager {
    data: Table,
    child: Table,
}

impl WatchManager {
    pub fn add_data_watch(&mut self, path: &str, conn: ConnId) {
        self.data.add(path, conn, STANDARD);
    }

    pub fn add_child_watch(&mut self, path: &str, conn: ConnId) {
        self.child.add(path, conn, STANDARD);
    }

    /// ZooKeeper keeps one mode per (path, watcher) in each table and a persistent add overwrites it: the
    /// last persistent mode added wins. So a persistent watch replaces a recursive one on the same path.
    pub fn add_persistent(&mut self, path: &str, conn: ConnId) {
        self.data.clear(path, conn, RECURSIVE);
        self.data.add(path, conn, PERSISTENT);
        self.child.add(path, conn, PERSISTENT);
    }

    /// A recursive watch replaces a persistent one on the same path, and turns the connection's entry in
    /// ZooKeeper's child table into a recursive one, which never fires NodeChildrenChanged: a pending
    /// getChildren watch on that path is gone (its deletion is still seen, through the recursive watch).
    pub fn add_persistent_recursive(&mut self, path: &str, conn: ConnId) {
        self.data.clear(path, conn, PERSISTENT);
        self.data.add(path, conn, RECURSIVE);
        self.child.clear(path, conn, STANDARD | PERSISTENT);
    }

    /// Which connections an event on `path` reaches. Each connection appears once, however many of its
    /// watches matched, because ZooKeeper delivers one notification per watcher.
    pub fn trigger(&mut self, path: &str, event: EventType) -> Fired {
        let mut fired = Fired::default();
        match event {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                let data = self.data.fire(path, true);
                fired.add_table(data);
            }
            EventType::NodeDeleted => {
                // ZooKeeper's child table holds the persistent-recursive watches too, and fires them for
                // a deletion: counted as its watchers (`node_deleted_watch_count`), delivered once.
                let recursive = self.data.recursive_watchers(path);
                let data = self.data.fire(path, true);
                let child = self.child.fire(path, false);
                fired.add_table(data);
                fired.add_table(child.union(&recursive).copied().collect());
            }
            EventType::NodeChildrenChanged => {
                let child = self.child.fire(path, false);
                fired.add_table(child);
            }
            EventType::None => {}
        }
        fired
    }

    /// `checkWatches` / `removeWatches`: whether `conn` holds a watch of `kind` on `path`, removing it when
    /// `remove` is set.
    pub fn check_or_remove(&mut self, path: &str, conn: ConnId, kind: WatcherType, remove: bool) -> bool {
        let (data_modes, child_modes) = match kind {
            // A persistent watch sits in both of ZooKeeper's tables and a recursive one in the data table,
            // so removing by Data or Children finds them too.
            WatcherType::Data => (STANDARD | PERSISTENT | RECURSIVE, 0),
            WatcherType::Children => (RECURSIVE, STANDARD | PERSISTENT),
            WatcherType::Any => (STANDARD | PERSISTENT | RECURSIVE, STANDARD | PERSISTENT),
            WatcherType::Persistent => (PERSISTENT, PERSISTENT),
            WatcherType::PersistentRecursive => (RECURSIVE, 0),
        };
        let found = self.data.has(path, conn, data_modes) || self.child.has(path, conn, child_modes);
        if found && remove {
            self.data.clear(path, conn, data_modes);
            self.child.clear(path, conn, child_modes);
        }
        found
    }

    pub fn remove_conn(&mut self, conn: ConnId) {
        self.data.remove_conn(conn);
        self.child.remove_conn(conn);
    }

    /// The registrations `conn` holds in both tables, each (path, table) once: a getData, exists or
    /// getChildren watch is one, a persistent watch two (it sits in both tables), a recursive one one.
    pub fn conn_watch_count(&self, conn: ConnId) -> usize {
        self.data.per_conn.get(&conn).copied().unwrap_or(0) + self.child.per_conn.get(&conn).copied().unwrap_or(0)
    }

    /// `zk_watch_count`: (path, connection) registrations in both of ZooKeeper's tables. ZooKeeper 3.8
    /// also registers a persistent-recursive watch in its child table (which Paddock's triggering does not
    /// need), where it adds an entry unless the connection already watches that path's children.
    pub fn watch_count(&self) -> usize {
        self.data.count() + self.child.count() + self.data.count_mode_missing_from(RECURSIVE, &self.child)
    }

    /// ZooKeeper's data-watch table (getData and exists watches, persistent and recursive ones): path →
    /// the connections watching it. ZooKeeper's watch reports (`wchc`, `wchp`, `wchs`) cover only this
    /// table (`DataTree.getWatches()` is `dataWatches.getWatches()`).
    pub fn data_by_path(&self) -> std::collections::BTreeMap<String, Vec<ConnId>> {
        self.data.by_path.iter().map(|(path, watchers)| (path.clone(), watchers.keys().copied().collect())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_watch_fires_once() {
        let mut w = WatchManager::default();
        w.add_data_watch("/a", 1);
        assert_eq!(w.trigger("/a", EventType::NodeDataChanged).conns, HashSet::from([1]));
        assert!(w.trigger("/a", EventType::NodeDataChanged).conns.is_empty());
    }

    #[test]
    fn delete_fires_data_and_child_watchers_once_each_connection() {
        let mut w = WatchManager::default();
        w.add_data_watch("/a", 1);
        w.add_child_watch("/a", 1);
        w.add_child_watch("/a", 2);
        assert_eq!(w.trigger("/a", EventType::NodeDeleted).conns, HashSet::from([1, 2]));
        assert_eq!(w.watch_count(), 0);
    }

    #[test]
    fn recursive_watch_fires_for_descendants_but_never_for_children_changed() {
        let mut w = WatchManager::default();
        w.add_persistent_recursive("/a", 7);
        assert_eq!(w.trigger("/a/b/c", EventType::NodeCreated).conns, HashSet::from([7]));
        assert!(w.trigger("/a", EventType::NodeChildrenChanged).conns.is_empty());
        assert_eq!(w.trigger("/a/b", EventType::NodeDataChanged).conns, HashSet::from([7]));
        // In both of ZooKeeper's tables, so counted twice (as `zk_watch_count` does).
        assert_eq!(w.watch_count(), 2, "persistent watches stay");
    }

    #[test]
    fn persistent_watch_sees_children_changes_of_its_own_path_only() {
        let mut w = WatchManager::default();
        w.add_persistent("/a", 3);
        assert_eq!(w.trigger("/a", EventType::NodeChildrenChanged).conns, HashSet::from([3]));
        assert!(w.trigger("/a/b", EventType::NodeCreated).conns.is_empty());
        assert_eq!(w.trigger("/a", EventType::NodeDataChanged).conns, HashSet::from([3]));
    }

    #[test]
    fn check_and_remove_by_type() {
        let mut w = WatchManager::default();
        w.add_data_watch("/a", 1);
        assert!(!w.check_or_remove("/a", 1, WatcherType::Children, true));
        assert!(w.check_or_remove("/a", 1, WatcherType::Data, false));
        assert!(w.check_or_remove("/a", 1, WatcherType::Any, true));
        assert!(!w.check_or_remove("/a", 1, WatcherType::Data, false));
    }

    #[test]
    fn registrations_are_counted_per_connection_as_they_come_and_go() {
        let mut w = WatchManager::default();
        w.add_data_watch("/a", 1);
        w.add_data_watch("/a", 1);
        w.add_child_watch("/a", 1);
        w.add_persistent("/b", 1);
        w.add_data_watch("/a", 2);
        assert_eq!(w.conn_watch_count(1), 4, "/a twice (data, child), /b twice (persistent)");
        w.trigger("/a", EventType::NodeDataChanged);
        assert_eq!(w.conn_watch_count(1), 3, "the one-shot data watch fired");
        assert_eq!(w.conn_watch_count(2), 0);
        w.trigger("/b", EventType::NodeDataChanged);
        assert_eq!(w.conn_watch_count(1), 3, "persistent watches stay");
        assert!(w.check_or_remove("/b", 1, WatcherType::Persistent, true));
        assert_eq!(w.conn_watch_count(1), 1);
        w.remove_conn(1);
        assert_eq!(w.conn_watch_count(1), 0);
    }

    #[test]
    fn ancestors_of_a_path() {
        assert_eq!(ancestors("/a/b/c").collect::<Vec<_>>(), vec!["/a/b", "/a", "/"]);
        assert_eq!(ancestors("/").count(), 0);
    }

    #[test]
    fn a_recursive_watch_takes_over_a_getchildren_watch_of_the_same_connection() {
        let mut w = WatchManager::default();
        w.add_child_watch("/a", 1);
        w.add_persistent_recursive("/a", 1);
        // As in ZooKeeper, where the child table's entry became recursive: no NodeChildrenChanged.
        assert!(w.trigger("/a", EventType::NodeChildrenChanged).conns.is_empty());
        let deleted = w.trigger("/a", EventType::NodeDeleted);
        assert_eq!(deleted.conns, HashSet::from([1]));
        assert_eq!(deleted.per_table, vec![1, 1], "fired in the data table and in the child table");
    }

    #[test]
    fn the_last_persistent_mode_added_wins() {
        let mut w = WatchManager::default();
        w.add_persistent_recursive("/a", 1);
        w.add_persistent("/a", 1);
        assert!(w.trigger("/a/b", EventType::NodeCreated).conns.is_empty(), "no longer recursive");
        assert_eq!(w.trigger("/a", EventType::NodeChildrenChanged).conns, HashSet::from([1]));
        w.add_persistent_recursive("/a", 1);
        assert_eq!(w.trigger("/a/b", EventType::NodeCreated).conns, HashSet::from([1]));
        assert!(w.trigger("/a", EventType::NodeChildrenChanged).conns.is_empty(), "no longer persistent");
    }
}
