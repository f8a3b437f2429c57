//! Compaction: fold a document's changes into its snapshot, off the write path.
//!
//! The document is rebuilt on a reader connection from what is on disk (not from the
//! cache), saved, sealed, and written in one short transaction that marks exactly the
//! folded changes `in_snapshot` and deletes those the server already holds. A crash at
//! any point leaves either the old snapshot with all its changes or the new one: only
//! rows the new snapshot contains are ever deleted, and unacknowledged changes stay
//! until the server acknowledges them.

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::params;

use super::Store;
use super::changelog::{decode_raw, read_raw, snapshot_aad};
use crate::error::{Error, Result};
use crate::ids::DocId;

/// What one compaction pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Documents compacted.
    pub documents: usize,
    /// Change rows folded into snapshots.
    pub folded: usize,
    /// Change rows deleted (folded and acknowledged).
    pub deleted: usize,
}

impl Store {
    /// Compact up to `max_docs` documents that have reached the compaction threshold.
    pub fn compact_due(&self, max_docs: usize) -> Result<CompactReport> {
        let threshold = i64::from(self.inner.opts.compact_after.max(1));
        let ids: Vec<Vec<u8>> = self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id FROM documents WHERE pending >= ?1 AND quarantine IS NULL ORDER BY pending DESC LIMIT ?2",
            )?;
            let rows = st
                .query_map(params![threshold, i64::try_from(max_docs).unwrap_or(i64::MAX)], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        let mut report = CompactReport::default();
        for raw in ids {
            let Some(id) = DocId::from_slice(&raw) else {
                continue;
            };
            match self.compact(id) {
                Ok(r) => {
                    report.documents += r.documents;
                    report.folded += r.folded;
                    report.deleted += r.deleted;
                }
                Err(Error::Corrupt { .. } | Error::Quarantined { .. } | Error::NotFound { .. }) => {
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// Fold every change of `id` into its snapshot now.
    pub fn compact(&self, id: DocId) -> Result<CompactReport> {
        let raw = self.read(|c| read_raw(c, id))?;
        if let Some(reason) = raw.quarantine.clone() {
            return Err(Error::Quarantined { id, reason });
        }
        if raw.changes.is_empty() {
            return Ok(CompactReport::default());
        }
        let mut doc = match decode_raw(self.sealer(), id, &raw) {
            Ok(d) => d,
            Err(detail) => {
                self.quarantine(id, detail)?;
                return Err(Error::Corrupt { id, detail });
            }
        };
        let snapshot = doc.save();
        let sealed = self
            .sealer()
            .seal(&snapshot_aad(id, raw.kind, &raw.scope), &snapshot)?;
        let folded: Vec<&Vec<u8>> = raw.changes.iter().map(|(_, h, _)| h).collect();
        let (folded_n, deleted) = self.write(|tx| {
            let mut mark = tx.prepare_cached(
                "UPDATE changes SET in_snapshot = 1 WHERE doc_id = ?1 AND hash = ?2 AND in_snapshot = 0",
            )?;
            let mut n = 0usize;
            for h in &folded {
                n += mark.execute(params![&id.as_bytes()[..], &h[..]])?;
            }
            if n != folded.len() {
                // Someone compacted concurrently; their snapshot stands.
                return Err(Error::Malformed("concurrent compaction".into()));
            }
            tx.execute(
                "UPDATE documents SET snapshot = ?2,
                    pending = (SELECT count(*) FROM changes WHERE doc_id = ?1 AND in_snapshot = 0)
                 WHERE id = ?1",
                params![&id.as_bytes()[..], sealed],
            )?;
            let deleted = tx.execute(
                "DELETE FROM changes WHERE doc_id = ?1 AND in_snapshot = 1 AND acked = 1",
                [&id.as_bytes()[..]],
            )?;
            Ok((n, deleted))
        })?;
        Ok(CompactReport {
            documents: 1,
            folded: folded_n,
            deleted,
        })
    }
}

/// Start the background compaction thread: it wakes after writes (at most every 200 ms)
/// and compacts due documents, and exits when the store is closed or dropped.
pub(crate) fn start_worker(store: &Store) {
    let (tx, rx) = mpsc::channel::<()>();
    *store
        .inner
        .compaction_signal
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(tx);
    let weak = std::sync::Arc::downgrade(&store.inner);
    let spawned = std::thread::Builder::new()
        .name("fieldsync-compact".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                std::thread::sleep(Duration::from_millis(200));
                while rx.try_recv().is_ok() {}
                let Some(inner) = weak.upgrade() else { break };
                let store = Store { inner };
                if let Err(e) = store.compact_due(64) {
                    if matches!(e, Error::Closed) {
                        break;
                    }
                    tracing::warn!(error = %e, "background compaction failed");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the compaction thread; compaction runs on demand");
    }
}

/// Wake the background worker, if any.
pub(crate) fn signal(store: &Store) {
    if let Some(tx) = store
        .inner
        .compaction_signal
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        let _ = tx.send(());
    }
}
