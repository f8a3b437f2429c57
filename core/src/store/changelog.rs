//! The per-document change log: sealed change rows, loading a document from its
//! snapshot and changes, applying changes from other replicas, and the
//! "server acknowledged" marks sync relies on.

use automerge::{AutoCommit, Change, ChangeHash};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{ChangeOrigin, Store, has_change, parse_change, projection};
use crate::crypto::{Sealer, row_aad};
use crate::doc::{self, guarded};
use crate::error::{Error, Result};
use crate::ids::{DocId, Kind, Scope};

/// Largest single change accepted from outside.
pub const MAX_CHANGE_BYTES: usize = 4 << 20;
/// Largest size a compressed change may inflate to.
pub const MAX_CHANGE_INFLATED: usize = 16 << 20;
/// Largest sum of changes accepted in one apply.
pub const MAX_APPLY_BYTES: usize = 16 << 20;
/// Largest snapshot loaded (sealed size).
pub const MAX_SNAPSHOT_BYTES: usize = 64 << 20;

/// AAD of a change row: binds it to the document, its kind and scope, and its hash.
pub(crate) fn change_aad(id: DocId, kind: Kind, scope: &Scope, hash: &[u8]) -> Vec<u8> {
    row_aad("change", &doc_binding(id, kind, scope), hash)
}

/// AAD of a snapshot.
pub(crate) fn snapshot_aad(id: DocId, kind: Kind, scope: &Scope) -> Vec<u8> {
    row_aad("snapshot", &doc_binding(id, kind, scope), b"")
}

fn doc_binding(id: DocId, kind: Kind, scope: &Scope) -> Vec<u8> {
    let mut b = Vec::with_capacity(17 + scope.as_str().len());
    b.extend_from_slice(id.as_bytes());
    b.push(kind.code());
    b.extend_from_slice(scope.as_str().as_bytes());
    b
}

/// The bytes of a TEXT column, UTF-8 or not (a damaged row may not be).
pub(crate) fn text_bytes(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Vec<u8>> {
    match r.get_ref(i)? {
        ValueRef::Text(b) | ValueRef::Blob(b) => Ok(b.to_vec()),
        other => Err(rusqlite::Error::InvalidColumnType(
            i,
            "text".into(),
            other.data_type(),
        )),
    }
}

/// A stored scope, if it is still a valid one.
pub(crate) fn stored_scope(raw: Vec<u8>) -> Option<Scope> {
    String::from_utf8(raw).ok().and_then(|s| Scope::new(s).ok())
}

/// Insert one change row (ignored if the document already has this hash).
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_change(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    id: DocId,
    kind: Kind,
    scope: &Scope,
    change: &Change,
    local: bool,
    acked: bool,
) -> Result<bool> {
    let sealed = seal_change(sealer, id, kind, scope, change)?;
    insert_sealed_change(tx, id, &sealed, local, acked)
}

/// A change row's hash and sealed bytes, ready to insert.
pub(crate) struct SealedChange {
    pub hash: ChangeHash,
    pub bytes: Vec<u8>,
}

/// Seal a change's bytes under its row's AAD.
pub(crate) fn seal_change(
    sealer: &Sealer,
    id: DocId,
    kind: Kind,
    scope: &Scope,
    change: &Change,
) -> Result<SealedChange> {
    let hash = change.hash();
    let bytes = sealer.seal(&change_aad(id, kind, scope, &hash.0), change.raw_bytes())?;
    Ok(SealedChange { hash, bytes })
}

/// Insert one sealed change row (ignored if the document already has this hash).
pub(crate) fn insert_sealed_change(
    tx: &Transaction<'_>,
    id: DocId,
    sealed: &SealedChange,
    local: bool,
    acked: bool,
) -> Result<bool> {
    let n = tx
        .prepare_cached(
            "INSERT INTO changes (doc_id, hash, bytes, local, acked) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(doc_id, hash) DO NOTHING",
        )?
        .execute(params![
            &id.as_bytes()[..],
            &sealed.hash.0[..],
            &sealed.bytes,
            local,
            acked
        ])?;
    Ok(n == 1)
}

/// A document's rows as stored, before verification.
pub(crate) struct RawDoc {
    pub kind: Kind,
    pub scope: Scope,
    pub heads: Vec<u8>,
    pub snapshot: Option<Vec<u8>>,
    pub quarantine: Option<String>,
    pub conflicts: i64,
    /// (seq, hash, sealed bytes) of changes not in the snapshot, in arrival order.
    pub changes: Vec<(i64, Vec<u8>, Vec<u8>)>,
}

/// Read a document's rows in one read transaction, so the heads, snapshot and changes
/// are one consistent state even while the writer commits.
pub(crate) fn read_raw(c: &Connection, id: DocId) -> Result<RawDoc> {
    let tx = c.unchecked_transaction()?;
    let raw = read_raw_in(&tx, id)?;
    tx.finish()?;
    Ok(raw)
}

fn read_raw_in(c: &Connection, id: DocId) -> Result<RawDoc> {
    let row = c
        .query_row(
            "SELECT kind, scope, heads, snapshot, quarantine, conflicts FROM documents WHERE id = ?1",
            [&id.as_bytes()[..]],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    text_bytes(r, 1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Option<Vec<u8>>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            },
        )
        .optional()?
        .ok_or(Error::NotFound { id })?;
    let kind = u8::try_from(row.0)
        .ok()
        .and_then(Kind::from_code)
        .ok_or(Error::Corrupt { id, detail: "kind" })?;
    let scope = stored_scope(row.1).ok_or(Error::Corrupt {
        id,
        detail: "scope",
    })?;
    let mut st = c.prepare_cached(
        "SELECT seq, hash, bytes FROM changes WHERE doc_id = ?1 AND in_snapshot = 0 ORDER BY seq",
    )?;
    let changes = st
        .query_map([&id.as_bytes()[..]], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RawDoc {
        kind,
        scope,
        heads: row.2,
        snapshot: row.3,
        quarantine: row.4,
        conflicts: row.5,
        changes,
    })
}

/// Verify and load a document from its rows. Every failure names what failed (no
/// content): the caller quarantines the document.
pub(crate) fn decode_raw(
    sealer: &Sealer,
    id: DocId,
    raw: &RawDoc,
) -> std::result::Result<AutoCommit, &'static str> {
    // Open every row first: any flipped bit, moved or truncated row fails here.
    let snapshot = match &raw.snapshot {
        Some(sealed) => {
            if sealed.len() > MAX_SNAPSHOT_BYTES {
                return Err("snapshot too large");
            }
            Some(
                sealer
                    .open(&snapshot_aad(id, raw.kind, &raw.scope), sealed)
                    .map_err(|_| "snapshot failed authentication")?,
            )
        }
        None => None,
    };
    let mut plain = Vec::with_capacity(raw.changes.len());
    for (_, hash, sealed) in &raw.changes {
        let bytes = sealer
            .open(&change_aad(id, raw.kind, &raw.scope, hash), sealed)
            .map_err(|_| "change failed authentication")?;
        plain.push((hash, bytes));
    }
    let stored_heads = doc::decode_heads(&raw.heads).map_err(|_| "heads malformed")?;
    let heads_match = |doc: &mut AutoCommit| {
        let mut have = doc.get_heads();
        have.sort();
        let mut want = stored_heads.clone();
        want.sort();
        have == want
    };
    // Fast path: one load of the snapshot and the changes concatenated (a third of the
    // memory of applying changes one by one). Falls back to the step-by-step path when
    // some change waits for dependencies that have not arrived.
    let mut all = snapshot.clone().unwrap_or_default();
    for (_, b) in &plain {
        all.extend_from_slice(b);
    }
    if !all.is_empty()
        && let Ok(mut doc) = guarded("load stored document", || Ok(AutoCommit::load(&all)?))
    {
        let complete = plain.iter().all(|(h, _)| {
            ChangeHash::try_from(&h[..]).is_ok_and(|h| doc.get_change_by_hash(&h).is_some())
        });
        if complete && heads_match(&mut doc) {
            return Ok(doc);
        }
    }
    let mut doc = match &snapshot {
        Some(bytes) => guarded("load snapshot", || Ok(AutoCommit::load(bytes)?))
            .map_err(|_| "snapshot failed to load")?,
        None => AutoCommit::new(),
    };
    let mut changes = Vec::with_capacity(plain.len());
    for (hash, bytes) in &plain {
        let change = parse_change(bytes).map_err(|_| "change failed to decode")?;
        if change.hash().0[..] != hash[..] {
            return Err("change hash mismatch");
        }
        changes.push(change);
    }
    guarded("apply stored changes", || Ok(doc.apply_changes(changes)?))
        .map_err(|_| "stored changes failed to apply")?;
    if !heads_match(&mut doc) {
        return Err("heads mismatch (missing or extra changes)");
    }
    Ok(doc)
}

/// A change not yet acknowledged by the server.
#[derive(Debug, Clone)]
pub struct PendingChange {
    /// Local arrival order.
    pub seq: i64,
    /// Document.
    pub doc_id: DocId,
    /// Its kind.
    pub kind: Kind,
    /// Its scope.
    pub scope: Scope,
    /// Change hash.
    pub hash: ChangeHash,
    /// Raw Automerge change bytes.
    pub bytes: Vec<u8>,
}

/// Changes of one document received from another replica.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Document.
    pub id: DocId,
    /// Its kind (must match what is stored).
    pub kind: Kind,
    /// Its scope (must match what is stored).
    pub scope: Scope,
    /// Raw Automerge change chunks.
    pub changes: Vec<Vec<u8>>,
}

/// What applying changes from another replica did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Changes new to this store.
    pub new_changes: usize,
    /// Changes it already had (duplicates are harmless).
    pub duplicates: usize,
    /// The document is new here.
    pub created: bool,
}

impl Store {
    /// Heads of a stored document.
    pub fn heads(&self, id: DocId) -> Result<Vec<ChangeHash>> {
        Ok(self.info(id)?.heads)
    }

    /// Raw bytes of every change of `id` that is not an ancestor of `have` (all of them
    /// when `have` is empty), in causal order.
    pub fn changes_since(&self, id: DocId, have: &[ChangeHash]) -> Result<Vec<Vec<u8>>> {
        self.with_doc(id, |l| {
            Ok(l.doc
                .get_changes(have)
                .into_iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect())
        })
    }

    /// Apply changes of `id` received from another replica. The document is created if
    /// new here; `kind` and `scope` must match what is stored. Changes are parsed under
    /// size caps with panics contained; nothing is written unless all of them parse and
    /// apply. `acked` marks them as held by the server (they came from it).
    pub fn apply_changes(
        &self,
        id: DocId,
        kind: Kind,
        scope: &Scope,
        changes: &[Vec<u8>],
        acked: bool,
    ) -> Result<ApplyOutcome> {
        let batch = vec![Incoming {
            id,
            kind,
            scope: scope.clone(),
            changes: changes.to_vec(),
        }];
        self.apply_batch(batch, acked)?
            .pop()
            .unwrap_or_else(|| Err(Error::NotFound { id }))
    }

    /// Apply changes of many documents (a pull batch) in one SQLite transaction: one
    /// fsync for the batch instead of one per document. Each document is checked on its
    /// own — a malformed one gets its error in the result and the others are applied —
    /// but a storage failure (disk full...) fails the whole batch and writes nothing.
    pub fn apply_batch(
        &self,
        mut docs: Vec<Incoming>,
        acked: bool,
    ) -> Result<Vec<Result<ApplyOutcome>>> {
        self.check_open()?;
        let n = docs.len();
        // A document listed more than once (only a broken or hostile peer sends that;
        // found by fuzzing) is applied once with all its changes in the order given:
        // taking its slot lock twice would deadlock. A repeat with another kind or
        // scope is refused.
        let mut repeat_of: Vec<Option<usize>> = vec![None; n];
        let mut first: std::collections::HashMap<DocId, usize> = Default::default();
        for i in 0..n {
            match first.get(&docs[i].id) {
                Some(&j) => {
                    repeat_of[i] = Some(j);
                    if docs[i].kind == docs[j].kind && docs[i].scope == docs[j].scope {
                        let extra = std::mem::take(&mut docs[i].changes);
                        docs[j].changes.extend(extra);
                    }
                }
                None => {
                    first.insert(docs[i].id, i);
                }
            }
        }
        // Slot locks are taken in id order, so two batches never wait on each other.
        let mut order: Vec<usize> = (0..n).filter(|&i| repeat_of[i].is_none()).collect();
        order.sort_by_key(|&i| docs[i].id);
        let mut results: Vec<Option<Result<ApplyOutcome>>> = (0..n).map(|_| None).collect();
        let slots: Vec<_> = order
            .iter()
            .map(|&i| self.inner.cache.slot(docs[i].id))
            .collect();
        let mut guards: Vec<_> = slots.iter().map(|s| s.lock()).collect();
        struct Pending {
            pos: usize,
            id: DocId,
            kind: Kind,
            scope: Scope,
            exists: bool,
            to_store: Vec<Change>,
            heads: Vec<ChangeHash>,
            conflicts: i64,
        }
        let mut pending: Vec<Pending> = Vec::new();
        for (pos, &i) in order.iter().enumerate() {
            let d = &mut docs[i];
            let (id, kind) = (d.id, d.kind);
            let scope = d.scope.clone();
            let changes = std::mem::take(&mut d.changes);
            let total: usize = changes.iter().map(Vec::len).sum();
            if total > MAX_APPLY_BYTES {
                results[i] = Some(Err(Error::TooLarge {
                    what: "change batch",
                    size: total,
                    limit: MAX_APPLY_BYTES,
                }));
                continue;
            }
            let parsed = match changes
                .iter()
                .map(|b| parse_change(b))
                .collect::<Result<Vec<_>>>()
            {
                Ok(p) => p,
                Err(e) => {
                    results[i] = Some(Err(e));
                    continue;
                }
            };
            let g = &mut guards[pos];
            let exists = match self.ensure_loaded(id, &slots[pos], g) {
                Ok(l) => {
                    if l.kind != kind || l.scope != scope {
                        results[i] = Some(Err(Error::Malformed(format!(
                            "document {id} is stored with another kind or scope"
                        ))));
                        continue;
                    }
                    true
                }
                Err(Error::NotFound { .. }) => {
                    let mut doc = AutoCommit::new();
                    doc.set_actor(self.inner.actor.clone());
                    **g = Some(super::Loaded::new(doc, kind, scope.clone(), 0));
                    false
                }
                Err(e) => {
                    results[i] = Some(Err(e));
                    continue;
                }
            };
            let Some(l) = g.as_mut() else { continue };
            let mut outcome = ApplyOutcome {
                created: !exists,
                ..Default::default()
            };
            let mut fresh: Vec<Change> = Vec::new();
            for c in parsed {
                if has_change(&mut l.doc, &c.hash()) || fresh.iter().any(|f| f.hash() == c.hash()) {
                    outcome.duplicates += 1;
                } else {
                    fresh.push(c);
                }
            }
            if fresh.is_empty() {
                if !exists {
                    **g = None;
                }
                results[i] = Some(Ok(outcome));
                continue;
            }
            outcome.new_changes = fresh.len();
            // A history that only extends the current heads one change after another
            // cannot create a conflict: skip the walk then.
            let mut h: std::collections::BTreeSet<ChangeHash> =
                l.doc.get_heads().into_iter().collect();
            let mut linear = true;
            for c in &fresh {
                let deps: std::collections::BTreeSet<ChangeHash> =
                    c.deps().iter().copied().collect();
                if deps == h {
                    h = std::iter::once(c.hash()).collect();
                } else {
                    linear = false;
                    break;
                }
            }
            let to_store = fresh.clone();
            if let Err(e) = guarded("apply changes", || Ok(l.doc.apply_changes(fresh)?)) {
                **g = None;
                results[i] = Some(Err(e));
                continue;
            }
            if !(linear && l.conflicts == 0) {
                match doc::conflicts(&l.doc) {
                    Ok(c) => l.conflicts = i64::try_from(c.len()).unwrap_or(i64::MAX),
                    Err(e) => {
                        **g = None;
                        results[i] = Some(Err(e));
                        continue;
                    }
                }
            }
            let heads = l.doc.get_heads();
            self.forget_form(id);
            pending.push(Pending {
                pos,
                id,
                kind,
                scope,
                exists,
                to_store,
                heads,
                conflicts: l.conflicts,
            });
            results[i] = Some(Ok(outcome));
        }
        if !pending.is_empty() {
            let now = self.now();
            let r = self.write(|tx| {
                for p in &pending {
                    let idb = &p.id.as_bytes()[..];
                    if !p.exists {
                        tx.prepare_cached(
                            "INSERT INTO documents (id, kind, scope, created_at, updated_at, heads, pending, conflicts)
                             VALUES (?1, ?2, ?3, ?4, ?4, ?5, 0, ?6)",
                        )?
                        .execute(params![idb, p.kind.code(), p.scope.as_str(), now, doc::encode_heads(&p.heads), p.conflicts])?;
                    }
                    let mut inserted = 0i64;
                    for c in &p.to_store {
                        if insert_change(tx, self.sealer(), p.id, p.kind, &p.scope, c, false, acked)? {
                            inserted += 1;
                        }
                    }
                    tx.prepare_cached(
                        "UPDATE documents SET updated_at = ?2, heads = ?3, pending = pending + ?4, conflicts = ?5 WHERE id = ?1",
                    )?
                    .execute(params![idb, now, doc::encode_heads(&p.heads), inserted, p.conflicts])?;
                    let l = guards[p.pos].as_ref().ok_or(Error::NotFound { id: p.id })?;
                    projection::project_doc(tx, self.sealer(), p.id, p.kind, &l.doc)?;
                }
                Ok(())
            });
            if let Err(e) = r {
                // Memory must not hold changes that are not on disk.
                for p in &pending {
                    *guards[p.pos] = None;
                }
                return Err(e);
            }
        }
        drop(guards);
        for (i, r) in repeat_of.iter().enumerate() {
            let Some(j) = *r else { continue };
            let (d, f) = (&docs[i], &docs[j]);
            results[i] = Some(if d.kind != f.kind || d.scope != f.scope {
                Err(Error::Malformed(format!(
                    "document {} listed twice in one batch with another kind or scope",
                    d.id
                )))
            } else {
                match &results[j] {
                    Some(Ok(o)) => Ok(o.clone()),
                    _ => Err(Error::Malformed(format!(
                        "document {} listed twice in one batch; its first entry failed",
                        d.id
                    ))),
                }
            });
        }
        let changed: Vec<DocId> = pending.iter().map(|p| p.id).collect();
        self.notify(&changed, ChangeOrigin::Remote);
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Malformed("not applied".into()))))
            .collect())
    }

    /// Up to `limit` changes the server has not acknowledged (nor refused), in the order
    /// they were made.
    ///
    /// A row that fails verification quarantines its document and is reported as
    /// [`Error::Corrupt`] once; after that the rows of the quarantined document that fail
    /// verification are skipped, so one damaged row never blocks the rest of the outbox.
    pub fn pending_changes(&self, after_seq: i64, limit: usize) -> Result<Vec<PendingChange>> {
        let rows = self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT c.seq, c.doc_id, d.kind, d.scope, c.hash, c.bytes, d.quarantine IS NOT NULL
                 FROM changes c JOIN documents d ON d.id = c.doc_id
                 WHERE c.acked = 0 AND c.rejected IS NULL AND c.seq > ?1
                 ORDER BY c.seq LIMIT ?2",
            )?;
            let rows = st
                .query_map(
                    params![after_seq, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, Vec<u8>>(1)?,
                            r.get::<_, i64>(2)?,
                            text_bytes(r, 3)?,
                            r.get::<_, Vec<u8>>(4)?,
                            r.get::<_, Vec<u8>>(5)?,
                            r.get::<_, bool>(6)?,
                        ))
                    },
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (seq, id, kind, scope, hash, sealed, quarantined) in rows {
            let id = DocId::from_slice(&id).ok_or_else(|| Error::Malformed("stored id".into()))?;
            match self.verify_pending(seq, id, kind, scope, &hash, &sealed) {
                Ok(p) => out.push(p),
                Err(_) if quarantined => {}
                Err(detail) => {
                    self.quarantine(id, detail)?;
                    return Err(Error::Corrupt { id, detail });
                }
            }
        }
        Ok(out)
    }

    fn verify_pending(
        &self,
        seq: i64,
        id: DocId,
        kind: i64,
        scope: Vec<u8>,
        hash: &[u8],
        sealed: &[u8],
    ) -> std::result::Result<PendingChange, &'static str> {
        let kind = u8::try_from(kind)
            .ok()
            .and_then(Kind::from_code)
            .ok_or("kind")?;
        let scope = stored_scope(scope).ok_or("scope")?;
        let bytes = self
            .sealer()
            .open(&change_aad(id, kind, &scope, hash), sealed)
            .map_err(|_| "change failed authentication")?;
        let hash = ChangeHash::try_from(hash).map_err(|_| "change hash")?;
        Ok(PendingChange {
            seq,
            doc_id: id,
            kind,
            scope,
            hash,
            bytes,
        })
    }

    /// Number of changes the server has not acknowledged (refused ones included).
    pub fn unacked_count(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT count(*) FROM changes WHERE acked = 0", [], |r| {
                r.get(0)
            })?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// Record that the server durably holds these changes. Rows already folded into
    /// the snapshot are deleted now; the rest stay until compaction.
    pub fn mark_acked(&self, acked: &[(DocId, ChangeHash)]) -> Result<()> {
        self.write(|tx| {
            let mut up = tx.prepare_cached(
                "UPDATE changes SET acked = 1, rejected = NULL WHERE doc_id = ?1 AND hash = ?2",
            )?;
            let mut del = tx.prepare_cached(
                "DELETE FROM changes WHERE doc_id = ?1 AND hash = ?2 AND in_snapshot = 1",
            )?;
            for (id, h) in acked {
                up.execute(params![&id.as_bytes()[..], &h.0[..]])?;
                del.execute(params![&id.as_bytes()[..], &h.0[..]])?;
            }
            Ok(())
        })
    }

    /// Record that the server refused a change, with its reason. The change stays on
    /// the device (and in the document); it is not offered again until
    /// [`Store::retry_rejected`].
    pub fn mark_rejected(&self, id: DocId, hash: &ChangeHash, reason: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE changes SET rejected = ?3 WHERE doc_id = ?1 AND hash = ?2 AND acked = 0",
                params![&id.as_bytes()[..], &hash.0[..], reason],
            )?;
            Ok(())
        })
    }

    /// Changes the server refused: (document, hash, reason).
    pub fn rejected_changes(&self) -> Result<Vec<(DocId, ChangeHash, String)>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT doc_id, hash, rejected FROM changes WHERE rejected IS NOT NULL ORDER BY seq",
            )?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, String>(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, h, why)| {
                    let id = DocId::from_slice(&id).ok_or_else(|| Error::Malformed("stored id".into()))?;
                    let h = ChangeHash::try_from(&h[..]).map_err(|_| Error::Corrupt { id, detail: "change hash" })?;
                    Ok((id, h, why))
                })
                .collect()
        })
    }

    /// Offer refused changes again (after the user gained the right, say).
    pub fn retry_rejected(&self) -> Result<usize> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE changes SET rejected = NULL WHERE rejected IS NOT NULL",
                [],
            )?)
        })
    }
}
