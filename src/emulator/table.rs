//! `Table`: one kind of record (vaults, restore points, backups, policies) in creation order,
//! indexed by id, remembering which records changed since the data file last saw them — so
//! that a lookup by id is O(1) and persisting a change writes that record, not the store.
//!
//! Reads go through `Deref<Target = [T]>`. Every way to change a record marks it: `push`,
//! `extend`, `get_mut`, `retain`, `remove`, and the items of `iter_mut`, which mark a record
//! only when it is written through (not when a filter merely reads it).

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, PoisonError};

use indexmap::IndexSet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A record with a unique id.
pub(crate) trait Keyed {
    /// The record's id.
    fn key(&self) -> &str;
}

/// Records in creation order with an index by id and a change log (see the module docs).
#[derive(Debug)]
pub(crate) struct Table<T> {
    items: Vec<T>,
    index: HashMap<String, usize>,
    /// Shared by the items [`Table::iter_mut`] hands out (never contended: the store is
    /// behind one lock).
    changes: Mutex<Changed>,
}

impl<T: Clone> Clone for Table<T> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
            index: self.index.clone(),
            changes: Mutex::new(lock(&self.changes).clone()),
        }
    }
}

fn lock(changes: &Mutex<Changed>) -> MutexGuard<'_, Changed> {
    changes.lock().unwrap_or_else(PoisonError::into_inner)
}

fn changed(changes: &mut Mutex<Changed>) -> &mut Changed {
    changes.get_mut().unwrap_or_else(PoisonError::into_inner)
}

/// Ids changed (in the order of their first change) and removed since the last
/// [`Table::take_changes`].
#[derive(Debug, Clone, Default)]
struct Changed {
    put: IndexSet<String>,
    removed: Vec<String>,
}

/// What changed in a table: the current version of each changed record, and removed ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct TableChanges<T> {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) put: Vec<T>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) removed: Vec<String>,
}

impl<T> Default for TableChanges<T> {
    fn default() -> Self {
        Self {
            put: Vec::new(),
            removed: Vec::new(),
        }
    }
}

impl<T> TableChanges<T> {
    /// True when nothing changed.
    pub(crate) fn is_empty(&self) -> bool {
        self.put.is_empty() && self.removed.is_empty()
    }
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            index: HashMap::new(),
            changes: Mutex::default(),
        }
    }
}

impl<T: Keyed> Table<T> {
    /// A table of `items` with no changes recorded.
    fn from_items(items: Vec<T>) -> Self {
        let index = items
            .iter()
            .enumerate()
            .map(|(i, t)| (t.key().to_owned(), i))
            .collect();
        Self {
            items,
            index,
            changes: Mutex::default(),
        }
    }

    fn mark(&self, id: &str) {
        lock(&self.changes).put.insert(id.to_owned());
    }

    /// The record with `id`.
    pub(crate) fn get(&self, id: &str) -> Option<&T> {
        self.index.get(id).map(|&i| &self.items[i])
    }

    /// The record with `id`, to change it.
    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        let &i = self.index.get(id)?;
        self.mark(id);
        Some(&mut self.items[i])
    }

    /// Adds a record at the end (or replaces the one with its id in place).
    pub(crate) fn push(&mut self, item: T) {
        self.mark(item.key());
        match self.index.get(item.key()) {
            Some(&i) => self.items[i] = item,
            None => {
                self.index.insert(item.key().to_owned(), self.items.len());
                self.items.push(item);
            }
        }
    }

    /// Adds records at the end.
    pub(crate) fn extend(&mut self, items: impl IntoIterator<Item = T>) {
        for item in items {
            self.push(item);
        }
    }

    /// Keeps the records for which `keep` is true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let before = self.items.len();
        let mut removed = Vec::new();
        self.items.retain(|t| {
            let kept = keep(t);
            if !kept {
                removed.push(t.key().to_owned());
            }
            kept
        });
        if self.items.len() != before {
            self.reindex();
            changed(&mut self.changes).removed.extend(removed);
        }
    }

    /// Removes and returns the record with `id`.
    pub(crate) fn remove(&mut self, id: &str) -> Option<T> {
        let &i = self.index.get(id)?;
        let item = self.items.remove(i);
        self.reindex();
        changed(&mut self.changes).removed.push(id.to_owned());
        Some(item)
    }

    fn reindex(&mut self) {
        self.index = self
            .items
            .iter()
            .enumerate()
            .map(|(i, t)| (t.key().to_owned(), i))
            .collect();
    }

    /// Iterates mutably; a record is marked changed when it is written through.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = Tracked<'_, T>> {
        let changes = &self.changes;
        self.items
            .iter_mut()
            .map(move |item| Tracked { item, changes })
    }

    /// The changes since the last call, and forgets them.
    pub(crate) fn take_changes(&mut self) -> TableChanges<T>
    where
        T: Clone,
    {
        let Changed { put, removed } = std::mem::take(changed(&mut self.changes));
        TableChanges {
            put: put.iter().filter_map(|id| self.get(id)).cloned().collect(),
            removed: removed
                .into_iter()
                .filter(|id| !self.index.contains_key(id))
                .collect(),
        }
    }

    /// Forgets the changes recorded so far (they are in the data file another way).
    pub(crate) fn forget_changes(&mut self) {
        *changed(&mut self.changes) = Changed::default();
    }

    /// Applies changes read back from the data file: puts replace in place or append,
    /// removals of absent ids are ignored, so applying them twice changes nothing.
    pub(crate) fn apply(&mut self, changes: TableChanges<T>) {
        for item in changes.put {
            self.push(item);
        }
        for id in changes.removed {
            self.remove(&id);
        }
    }
}

impl<T> Deref for Table<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<'a, T> IntoIterator for &'a Table<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<'a, T: Keyed> IntoIterator for &'a mut Table<T> {
    type Item = Tracked<'a, T>;
    type IntoIter = Box<dyn Iterator<Item = Tracked<'a, T>> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter_mut())
    }
}

impl<T: PartialEq> PartialEq for Table<T> {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
    }
}

impl<T: Serialize> Serialize for Table<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.items.serialize(serializer)
    }
}

impl<'de, T: Keyed + Deserialize<'de>> Deserialize<'de> for Table<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(deserializer).map(Self::from_items)
    }
}

/// A record borrowed from [`Table::iter_mut`]; writing through it marks it changed.
pub(crate) struct Tracked<'a, T> {
    item: &'a mut T,
    changes: &'a Mutex<Changed>,
}

impl<T> Deref for Tracked<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.item
    }
}

impl<T: Keyed> DerefMut for Tracked<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        lock(self.changes).put.insert(self.item.key().to_owned());
        self.item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Rec {
        id: String,
        n: u32,
    }

    impl Keyed for Rec {
        fn key(&self) -> &str {
            &self.id
        }
    }

    fn rec(id: &str, n: u32) -> Rec {
        Rec {
            id: id.to_owned(),
            n,
        }
    }

    #[test]
    fn records_exactly_what_changed_in_order() {
        let mut t = Table::default();
        t.extend([rec("a", 1), rec("b", 2), rec("c", 3)]);
        t.forget_changes();
        t.get_mut("c").unwrap().n = 30;
        // Reading through iter_mut marks nothing; writing marks the record.
        for mut r in t.iter_mut().filter(|r| r.n == 2) {
            r.n = 20;
        }
        t.push(rec("d", 4));
        t.retain(|r| r.id != "a");
        let changes = t.take_changes();
        assert_eq!(changes.put, vec![rec("c", 30), rec("b", 20), rec("d", 4)]);
        assert_eq!(changes.removed, vec!["a".to_owned()]);
        assert!(t.take_changes().is_empty());
        assert_eq!(t.get("b"), Some(&rec("b", 20)));
        assert_eq!(
            t.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["b", "c", "d"]
        );
    }

    #[test]
    fn a_record_added_and_removed_in_one_batch_is_only_removed() {
        let mut t = Table::default();
        t.push(rec("a", 1));
        assert_eq!(t.remove("a"), Some(rec("a", 1)));
        let changes = t.take_changes();
        assert!(changes.put.is_empty());
        assert_eq!(changes.removed, vec!["a".to_owned()]);
    }

    #[test]
    fn applying_changes_twice_gives_the_same_table() {
        let mut live = Table::default();
        live.extend([rec("a", 1), rec("b", 2)]);
        let mut copy = live.clone();
        copy.forget_changes();
        live.forget_changes();
        live.get_mut("a").unwrap().n = 10;
        live.push(rec("c", 3));
        live.remove("b");
        let changes = live.take_changes();
        copy.apply(changes.clone());
        assert_eq!(copy, live);
        copy.apply(changes);
        assert_eq!(copy, live);
    }

    #[test]
    fn serializes_as_a_plain_list_and_indexes_what_it_reads() {
        let mut t = Table::default();
        t.extend([rec("a", 1), rec("b", 2)]);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"[{"id":"a","n":1},{"id":"b","n":2}]"#);
        let back: Table<Rec> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.get("b"), Some(&rec("b", 2)));
        assert_eq!(back, t);
    }
}
