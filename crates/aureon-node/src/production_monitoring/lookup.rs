//! A small string-keyed table that recording threads read without a lock, copied on insert.
//!
//! The dashboard finds an operation's metrics, and an error tracker an error kind's counter,
//! by name on every record. A registry lookup would build a key (allocating) and a locked map
//! would write a lock word every thread shares; instead the table is an immutable
//! `HashMap` + `Vec` behind `arc-swap`. A lookup is an `arc-swap` load (which writes only the
//! calling thread's own debt slot, not a shared reference count) and a hash probe; the found
//! value is lent to a closure rather than cloned, so no shared `Arc` count is touched either.
//! Inserting (a name's first use) takes a mutex, copies the table and publishes the copy;
//! names are few and inserts rare, so the copy is cheap. The table keeps first-use order for
//! reports and a cap on its size, because names come from callers and memory must not grow
//! without bound.

use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An immutable version of the table.
pub(crate) struct Table<V> {
    index: HashMap<Arc<str>, usize>,
    entries: Vec<(Arc<str>, V)>,
}

impl<V> Table<V> {
    /// Entries in first-use order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &V)> + '_ {
        self.entries.iter().map(|(k, v)| (&**k, v))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }
}

/// The table was full when a new name arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full {
    pub(crate) limit: usize,
}

pub(crate) struct LookupTable<V> {
    current: ArcSwap<Table<V>>,
    /// Serialises inserts so that `make` runs once per name (it may register metrics).
    /// Readers never take it. `std`'s mutex even under loom: see `crate::sync`.
    insert: Mutex<()>,
    limit: usize,
}

impl<V: Clone> LookupTable<V> {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            current: ArcSwap::from_pointee(Table {
                index: HashMap::new(),
                entries: Vec::new(),
            }),
            insert: Mutex::new(()),
            limit,
        }
    }

    /// Lends the value for `key` to `f`, if present.
    #[inline]
    pub(crate) fn with<R>(&self, key: &str, f: impl FnOnce(&V) -> R) -> Option<R> {
        let table = self.current.load();
        table.get(key).map(f)
    }

    /// Lends the value for `key` to `f`, creating it with `make` on first use.
    pub(crate) fn with_or_insert<R>(
        &self,
        key: &str,
        make: impl FnOnce(&str) -> V,
        f: impl FnOnce(&V) -> R,
    ) -> Result<R, Full> {
        {
            let table = self.current.load();
            if let Some(v) = table.get(key) {
                return Ok(f(v));
            }
        }
        let _serial = self.insert.lock().unwrap_or_else(|e| e.into_inner());
        // Another thread may have inserted `key` while this one waited for the lock.
        let table = self.current.load_full();
        if let Some(v) = table.get(key) {
            return Ok(f(v));
        }
        if table.entries.len() >= self.limit {
            return Err(Full { limit: self.limit });
        }
        let name: Arc<str> = Arc::from(key);
        let mut entries = table.entries.clone();
        entries.push((Arc::clone(&name), make(key)));
        let mut index = table.index.clone();
        index.insert(name, entries.len() - 1);
        let next = Arc::new(Table { index, entries });
        let result = f(&next.entries[next.entries.len() - 1].1);
        self.current.store(next);
        Ok(result)
    }

    /// The current version of the table (for iteration by readers).
    pub(crate) fn snapshot(&self) -> Arc<Table<V>> {
        self.current.load_full()
    }

    pub(crate) fn len(&self) -> usize {
        self.current.load().entries.len()
    }
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;

    #[test]
    fn inserts_once_keeps_order_and_refuses_past_the_limit() {
        let t: LookupTable<u32> = LookupTable::new(2);
        let mut made = 0;
        assert_eq!(
            t.with_or_insert(
                "b",
                |_| {
                    made += 1;
                    10
                },
                |v| *v
            ),
            Ok(10)
        );
        assert_eq!(
            t.with_or_insert(
                "b",
                |_| {
                    made += 1;
                    99
                },
                |v| *v
            ),
            Ok(10)
        );
        assert_eq!(t.with_or_insert("a", |_| 20, |v| *v), Ok(20));
        assert_eq!(
            t.with_or_insert("c", |_| 30, |v| *v),
            Err(Full { limit: 2 })
        );
        assert_eq!(made, 1);
        assert_eq!(t.with("a", |v| *v), Some(20));
        assert_eq!(t.with("c", |v| *v), None);
        let table = t.snapshot();
        let names: Vec<&str> = table.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(t.len(), 2);
    }
}
