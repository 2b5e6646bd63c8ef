//! The least-recently-used order of a cache folder's entries, which eviction consults. Pure
//! bookkeeping: it never touches the file system (the folder is the shared truth, and the cache
//! rebuilds this index from a fresh listing before it evicts).

use std::collections::{BTreeSet, HashMap};

/// Entries with their sizes and last-use stamps (larger is more recent).
#[derive(Debug, Clone, Default)]
pub(crate) struct LruIndex {
    entries: HashMap<String, (u64, u64)>,
    order: BTreeSet<(u64, String)>,
    total: u64,
}

impl LruIndex {
    /// Adds `name` (or replaces it) with `size` bytes, last used at `stamp`.
    pub(crate) fn insert(&mut self, name: &str, size: u64, stamp: u64) {
        self.remove(name);
        self.entries.insert(name.to_string(), (size, stamp));
        self.order.insert((stamp, name.to_string()));
        self.total += size;
    }

    /// Marks `name` used at `stamp`; false if it is not indexed. (The cache itself records
    /// uses in entry mtimes and rebuilds the index before evicting.)
    #[cfg(test)]
    pub(crate) fn touch(&mut self, name: &str, stamp: u64) -> bool {
        let Some((_, old)) = self.entries.get_mut(name) else {
            return false;
        };
        self.order.remove(&(*old, name.to_string()));
        *old = stamp;
        self.order.insert((stamp, name.to_string()));
        true
    }

    /// Drops `name`; returns its size if it was indexed.
    pub(crate) fn remove(&mut self, name: &str) -> Option<u64> {
        let (size, stamp) = self.entries.remove(name)?;
        self.order.remove(&(stamp, name.to_string()));
        self.total -= size;
        Some(size)
    }

    /// Total bytes of the indexed entries.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Number of indexed entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Removes least-recently-used entries, except `keep`, until the total is at most `cap`;
    /// returns their names, oldest first.
    pub(crate) fn evict_to(&mut self, cap: u64, keep: Option<&str>) -> Vec<String> {
        let mut evicted = Vec::new();
        let mut skipped = None;
        while self.total > cap {
            let Some((stamp, name)) = self.order.pop_first() else {
                break;
            };
            if Some(name.as_str()) == keep {
                skipped = Some((stamp, name));
                continue;
            }
            let (size, _) = self.entries.remove(&name).expect("order and entries agree");
            self.total -= size;
            evicted.push(name);
        }
        if let Some(kept) = skipped {
            self.order.insert(kept);
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u64, u64),
        Touch(u8, u64),
        Remove(u8),
        Evict(u64, Option<u8>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..12, 0u64..1000, 0u64..50).prop_map(|(k, s, t)| Op::Insert(k, s, t)),
            (0u8..12, 0u64..50).prop_map(|(k, t)| Op::Touch(k, t)),
            (0u8..12).prop_map(Op::Remove),
            (0u64..4000, proptest::option::of(0u8..12)).prop_map(|(c, k)| Op::Evict(c, k)),
        ]
    }

    fn name(key: u8) -> String {
        format!("entry-{key}")
    }

    /// The model: a plain map; eviction scans it for the oldest entry each time.
    fn model_evict(
        model: &mut HashMap<String, (u64, u64)>,
        cap: u64,
        keep: Option<&str>,
    ) -> Vec<String> {
        let mut evicted = Vec::new();
        loop {
            let total: u64 = model.values().map(|(size, _)| size).sum();
            if total <= cap {
                break;
            }
            let oldest = model
                .iter()
                .filter(|(name, _)| Some(name.as_str()) != keep)
                .map(|(name, (_, stamp))| (*stamp, name.clone()))
                .min();
            let Some((_, name)) = oldest else { break };
            model.remove(&name);
            evicted.push(name);
        }
        evicted
    }

    proptest! {
        #[test]
        fn the_index_behaves_like_a_map(ops in proptest::collection::vec(op(), 1..200)) {
            let mut index = LruIndex::default();
            let mut model: HashMap<String, (u64, u64)> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(key, size, stamp) => {
                        index.insert(&name(key), size, stamp);
                        model.insert(name(key), (size, stamp));
                    }
                    Op::Touch(key, stamp) => {
                        let found = model.get_mut(&name(key)).map(|entry| entry.1 = stamp);
                        prop_assert_eq!(index.touch(&name(key), stamp), found.is_some());
                    }
                    Op::Remove(key) => {
                        let expected = model.remove(&name(key)).map(|(size, _)| size);
                        prop_assert_eq!(index.remove(&name(key)), expected);
                    }
                    Op::Evict(cap, keep) => {
                        let keep = keep.map(name);
                        let expected = model_evict(&mut model, cap, keep.as_deref());
                        prop_assert_eq!(index.evict_to(cap, keep.as_deref()), expected);
                    }
                }
                prop_assert_eq!(index.len(), model.len());
                prop_assert_eq!(index.total(), model.values().map(|(size, _)| size).sum::<u64>());
            }
        }
    }

    #[test]
    fn eviction_takes_the_least_recently_used_first() {
        let mut index = LruIndex::default();
        index.insert("a", 10, 1);
        index.insert("b", 10, 2);
        index.insert("c", 10, 3);
        assert!(index.touch("a", 4));
        assert_eq!(index.evict_to(20, Some("b")), vec!["c".to_string()]);
        assert_eq!(index.evict_to(10, Some("b")), vec!["a".to_string()]);
        assert_eq!(index.evict_to(0, Some("b")), Vec::<String>::new());
        assert_eq!(index.total(), 10);
    }
}
