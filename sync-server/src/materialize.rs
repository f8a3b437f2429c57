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

fn apply_entries(store: &Store, entries: Vec<LogEntry>) -> Result<(), Error> {
    let mut i = 0;
    while i < entries.len() {
        let doc = entries[i].doc_id;
        let mut j = i;
        let mut changes = Vec::new();
        while j < entries.len() && entries[j].doc_id == doc {
            changes.push(entries[j].bytes.clone());
            j += 1;
        }
        let e = &entries[i];
        for a in entries[i..j]
            .iter()
            .map(|e| (&e.actor, &e.device, &e.user))
            .collect::<std::collections::BTreeSet<_>>()
        {
            store.record_actor(&ActorId::from(a.0.as_slice()), a.1, a.2)?;
        }
        match Scope::new(e.scope.clone())
            .and_then(|scope| store.apply_changes(doc, e.kind, &scope, &changes, true))
        {
            Ok(_) => {}
            // A document that cannot merge is quarantined in the merged view; the log
            // keeps its changes and devices keep theirs. Nothing else stops.
            Err(
                err @ (Error::Malformed(_)
                | Error::TooLarge { .. }
                | Error::Automerge(_)
                | Error::Corrupt { .. }
                | Error::Quarantined { .. }),
            ) => {
                tracing::error!(doc = %doc, error = %err, "document failed to merge on the server");
            }
            Err(err) => return Err(err),
        }
        i = j;
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
