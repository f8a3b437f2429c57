//! The merged view: every document as the server holds it, merged from the change log
//! into a core [`Store`] (SQLite, sealed with the server's key), with its projections
//! for the back office. It is a cache: the log is the source of truth, and deleting
//! `merged.db` rebuilds it from position 0.
//!
//! A background thread follows the log: after every commit it applies the new entries,
//! document by document. How far it got is kept as a cursor inside the merged store
//! itself (scope `log/<tenant>`), so a restart resumes where it stopped; re-applying a
//! change is harmless.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use automerge::ActorId;
use fieldsync_core::store::Store;
use fieldsync_core::{Error, Scope};

use crate::storage::{LogEntry, Storage};

/// Follows the log into the merged store.
pub struct Materializer {
    signal: mpsc::Sender<()>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn cursor_scope(tenant: &str) -> Result<Scope, Error> {
    Scope::new(format!("log/{tenant}"))
}

/// How far the merged store has applied `tenant`'s log.
pub fn position(store: &Store, tenant: &str) -> Result<u64, Error> {
    let scope = cursor_scope(tenant)?;
    let (_, cursors) = store.sync_cursors()?;
    Ok(cursors
        .into_iter()
        .find(|(s, _)| *s == scope)
        .map_or(0, |(_, p)| p))
}

/// Apply everything after the merged store's cursor, up to `limit` entries per tenant.
/// Returns the number of entries applied.
pub fn catch_up<S: Storage + ?Sized>(
    storage: &S,
    store: &Store,
    limit: usize,
) -> Result<usize, crate::storage::StorageError> {
    let mut applied = 0;
    for tenant in storage.tenants()? {
        let from = position(store, &tenant)?;
        let entries = storage.log_after(&tenant, from, limit)?;
        let Some(last) = entries.last().map(|e| e.position) else {
            continue;
        };
        applied += entries.len();
        apply_entries(store, entries)?;
        store.set_sync_cursors([0; 16], &[(cursor_scope(&tenant)?, last)])?;
    }
    Ok(applied)
}

/// [`catch_up`] for one tenant.
pub fn catch_up_tenant<S: Storage + ?Sized>(
    storage: &S,
    store: &Store,
    tenant: &str,
    limit: usize,
) -> Result<usize, crate::storage::StorageError> {
    let from = position(store, tenant)?;
    let entries = storage.log_after(tenant, from, limit)?;
    let Some(last) = entries.last().map(|e| e.position) else {
        return Ok(0);
    };
    let n = entries.len();
    apply_entries(store, entries)?;
    store.set_sync_cursors([0; 16], &[(cursor_scope(tenant)?, last)])?;
    Ok(n)
}

fn apply_entries(store: &Store, entries: Vec<LogEntry>) -> Result<(), Error> {
    let mut actors: Vec<(ActorId, String, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for e in &entries {
        if seen.insert(e.actor.clone()) {
            actors.push((
                ActorId::from(e.actor.as_slice()),
                e.device.clone(),
                e.user.clone(),
            ));
        }
    }
    store.record_actors(&actors)?;
    // Group by document, keeping log order within each (a document's changes are in
    // causal order in the log).
    let mut batch: Vec<fieldsync_core::store::Incoming> = Vec::new();
    let mut at: std::collections::HashMap<fieldsync_core::DocId, usize> =
        std::collections::HashMap::new();
    for e in entries {
        match at.get(&e.doc_id) {
            Some(&i) => batch[i].changes.push(e.bytes),
            None => {
                let Ok(scope) = Scope::new(e.scope.clone()) else {
                    continue;
                };
                at.insert(e.doc_id, batch.len());
                batch.push(fieldsync_core::store::Incoming {
                    id: e.doc_id,
                    kind: e.kind,
                    scope,
                    changes: vec![e.bytes],
                });
            }
        }
    }
    for chunk in batch.chunks(256) {
        let ids: Vec<_> = chunk.iter().map(|d| d.id).collect();
        for (id, r) in ids
            .into_iter()
            .zip(store.apply_batch(chunk.to_vec(), true)?)
        {
            // A document that cannot merge is quarantined in the merged view; the log
            // keeps its changes and devices keep theirs. Nothing else stops.
            if let Err(err) = r {
                tracing::error!(doc = %id, error = %err, "document failed to merge on the server");
            }
        }
    }
    Ok(())
}

impl Materializer {
    /// Start following `storage` into `store`.
    pub fn start<S: Storage + ?Sized>(storage: Arc<S>, store: Store) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<()>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("fieldsync-materialize".into())
            .spawn(move || {
                loop {
                    match catch_up(&*storage, &store, 2000) {
                        Ok(n) if n > 0 => continue,
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "materializer failed; retrying"),
                    }
                    if stop2.load(Ordering::Acquire) {
                        break;
                    }
                    match rx.recv_timeout(Duration::from_millis(500)) {
                        Ok(()) => while rx.try_recv().is_ok() {},
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            })?;
        Ok(Materializer {
            signal: tx,
            stop,
            thread: Some(thread),
        })
    }

    /// New entries were committed.
    pub fn notify(&self) {
        let _ = self.signal.send(());
    }

    /// Stop after the current pass.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.signal.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Materializer {
    fn drop(&mut self) {
        self.stop();
    }
}
