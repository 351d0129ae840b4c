//! One shared copy of each distinct ACL list (ZooKeeper's `ReferenceCountedACLCache`).
//!
//! Almost every znode in a real tree carries one of a handful of ACL lists; interning them makes the
//! per-node cost one pointer. Reference counts let a list be forgotten when its last node goes, and the
//! table is itself a persistent map so the tree stays O(1) to clone.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use paddock_proto::Acl;

#[derive(Clone, Default)]
pub(crate) struct AclCache {
    lists: imbl::HashMap<Shared, u64>,
}

/// A shared list, looked up by its contents.
#[derive(Clone, PartialEq, Eq)]
struct Shared(Arc<Vec<Acl>>);

impl Hash for Shared {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_slice().hash(state);
    }
}

impl Borrow<[Acl]> for Shared {
    fn borrow(&self) -> &[Acl] {
        self.0.as_slice()
    }
}

impl AclCache {
    /// The shared copy of `acl`, counted once more.
    pub(crate) fn acquire(&mut self, acl: &[Acl]) -> Arc<Vec<Acl>> {
        let shared = match self.lists.get_key_value(acl) {
            Some((shared, _)) => shared.0.clone(),
            None => Arc::new(acl.to_vec()),
        };
        *self.lists.entry(Shared(shared.clone())).or_insert(0) += 1;
        shared
    }

    /// One node no longer uses `acl`.
    pub(crate) fn release(&mut self, acl: &Arc<Vec<Acl>>) {
        let Some(count) = self.lists.get_mut(acl.as_slice()) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            self.lists.remove(acl.as_slice());
        }
    }

    /// Every list in use, with how many nodes use it.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Arc<Vec<Acl>>, u64)> {
        self.lists.iter().map(|(list, count)| (&list.0, *count))
    }

    pub(crate) fn len(&self) -> usize {
        self.lists.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_proto::Id;

    #[test]
    fn identical_lists_are_shared_and_forgotten_when_unused() {
        let mut cache = AclCache::default();
        let open = Acl::open_unsafe();
        let a = cache.acquire(&open);
        let b = cache.acquire(&open);
        assert!(Arc::ptr_eq(&a, &b));
        let other = cache.acquire(&[Acl::new(1, Id::anyone())]);
        assert!(!Arc::ptr_eq(&a, &other));
        assert_eq!(cache.len(), 2);
        cache.release(&a);
        assert_eq!(cache.len(), 2);
        cache.release(&b);
        cache.release(&other);
        assert_eq!(cache.len(), 0);
    }
}
