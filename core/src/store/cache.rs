//! A bounded cache of loaded documents.
//!
//! Each document has a slot with its own lock, so a write to one document (held across
//! its SQLite commit) never blocks reads or writes of another. When a write fails after
//! Automerge committed in memory, the slot is emptied so the next use reloads from disk:
//! memory never holds a change that is not on disk.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::{AutoCommit, ChangeHash};

use crate::ids::{DocId, Kind, Scope};
use crate::model::Record;

/// A document loaded in memory with what the store keeps beside it.
pub(crate) struct Loaded {
    pub doc: AutoCommit,
    pub kind: Kind,
    pub scope: Scope,
    /// Conflicted fields as last computed (a local change never adds one).
    pub conflicts: i64,
    /// The typed value this store last wrote, so the next edit need not hydrate it.
    pub value: Option<CachedValue>,
}

/// A typed record as of some heads of its document: valid only while the document's
/// heads are still those (any change, local or remote, moves them).
pub(crate) struct CachedValue {
    heads: Vec<ChangeHash>,
    value: Box<dyn Any + Send>,
}

impl Loaded {
    /// A document just loaded or built, with no cached value.
    pub fn new(doc: AutoCommit, kind: Kind, scope: Scope, conflicts: i64) -> Self {
        Loaded {
            doc,
            kind,
            scope,
            conflicts,
            value: None,
        }
    }

    /// Take the cached value, if it is of type `R` and the document has not changed
    /// since it was kept. The cache is empty afterwards (the caller keeps what it writes).
    pub fn take_cached<R: Record>(&mut self) -> Option<R> {
        let c = self.value.take()?;
        if c.heads != self.doc.get_heads() {
            return None;
        }
        c.value.downcast::<R>().ok().map(|b| *b)
    }

    /// Remember `value`, just written to the document, as of its current heads (kinds
    /// whose values cannot be rebound to the document are not kept).
    pub fn keep<R: Record>(&mut self, mut value: R) {
        self.value = None;
        if value.rebind(&self.doc) {
            self.value = Some(CachedValue {
                heads: self.doc.get_heads(),
                value: Box::new(value),
            });
        }
    }
}

/// One document's slot; `None` until loaded (or after a failed write).
pub(crate) struct Slot {
    pub state: Mutex<Option<Loaded>>,
}

impl Slot {
    pub fn lock(&self) -> MutexGuard<'_, Option<Loaded>> {
        // A panic while holding the lock leaves possibly half-applied state: drop it.
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                let mut g = poisoned.into_inner();
                *g = None;
                g
            }
        }
    }
}

struct Entry {
    slot: Arc<Slot>,
    tick: u64,
}

pub(crate) struct DocCache {
    capacity: usize,
    inner: Mutex<(HashMap<DocId, Entry>, u64)>,
}

impl DocCache {
    pub fn new(capacity: usize) -> Self {
        DocCache {
            capacity: capacity.max(1),
            inner: Mutex::new((HashMap::new(), 0)),
        }
    }

    /// The slot of `id`, created empty if absent. Evicts idle slots past capacity.
    pub fn slot(&self, id: DocId) -> Arc<Slot> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, tick) = &mut *g;
        *tick += 1;
        let t = *tick;
        if let Some(e) = map.get_mut(&id) {
            e.tick = t;
            return e.slot.clone();
        }
        let slot = Arc::new(Slot {
            state: Mutex::new(None),
        });
        map.insert(
            id,
            Entry {
                slot: slot.clone(),
                tick: t,
            },
        );
        if map.len() > self.capacity {
            // Evict the least recently used slots nobody holds, down to 7/8 of capacity.
            let target = self.capacity - self.capacity / 8;
            let mut idle: Vec<(u64, DocId)> = map
                .iter()
                .filter(|(_, e)| Arc::strong_count(&e.slot) == 1)
                .map(|(k, e)| (e.tick, *k))
                .collect();
            idle.sort_unstable();
            let excess = map.len().saturating_sub(target);
            for (_, k) in idle.into_iter().take(excess) {
                map.remove(&k);
            }
        }
        slot
    }

    /// Forget a document (e.g. after it was quarantined).
    pub fn remove(&self, id: &DocId) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.remove(id);
    }

    /// Forget everything.
    pub fn clear(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.clear();
    }

    /// Number of slots (loaded or not).
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).0.len()
    }
}
