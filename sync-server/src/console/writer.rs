//! Changes made in the console: a review decision, a comment, a published form.
//!
//! The console writes like a device. The document is rebuilt from the change log (the
//! source of truth), edited as a typed record by `fieldsync_core::edit` under an actor
//! derived from the reviewer's user id (so field history names them), validated by the
//! same domain rules as on a device, and pushed through the storage's `ingest` — which
//! authorises the change against the reviewer's write scopes and commits it durably.
//! Devices then pull it like any other change; the merged view applies it from the log.

use std::collections::HashSet;
use std::sync::Arc;

use automerge::ActorId;
use fieldsync_core::edit::{self, NewChange};
use fieldsync_core::forms::CompiledForm;
use fieldsync_core::model::{Form, Record, RecordContext};
use fieldsync_core::store::{Store, StoredRecord};
use fieldsync_core::{DocId, Error as CoreError, Kind, Timestamp};

use crate::storage::{IngestDoc, IngestRequest, ParsedChange, Storage, StorageError};

/// The device id console changes are logged under.
pub const CONSOLE_DEVICE: &str = "console";

/// What went wrong with a console write.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A domain rule (or an immutable record).
    #[error(transparent)]
    Rule(#[from] CoreError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The change was refused by ingest (scope not writable, ...).
    #[error("refused: {0}")]
    Refused(String),
    /// No such document for this reader.
    #[error("not found")]
    NotFound,
}

/// Validation context on the server: forms come from the merged view.
struct ServerCtx<'a> {
    merged: &'a Store,
    now: Timestamp,
}

impl RecordContext for ServerCtx<'_> {
    fn form(&self, id: &DocId) -> fieldsync_core::Result<Form> {
        Ok(self.merged.compiled_form(*id)?.form().clone())
    }
    fn compiled_form(&self, id: &DocId) -> fieldsync_core::Result<Arc<CompiledForm>> {
        self.merged.compiled_form(*id)
    }
    fn now(&self) -> Timestamp {
        self.now
    }
}

/// Who is writing.
#[derive(Debug, Clone)]
pub struct Author {
    /// Tenant.
    pub tenant: String,
    /// Tenant user id.
    pub user_id: String,
    /// Scopes they may write.
    pub writable: HashSet<String>,
}

impl Author {
    fn actor(&self) -> ActorId {
        edit::derived_actor(&[CONSOLE_DEVICE, &self.tenant, &self.user_id])
    }
}

fn push(
    storage: &dyn Storage,
    author: &Author,
    id: DocId,
    kind: Kind,
    scope: &str,
    change: NewChange,
) -> Result<u64, WriteError> {
    let outcome = storage.ingest(IngestRequest {
        tenant: author.tenant.clone(),
        device_id: CONSOLE_DEVICE.into(),
        user_id: author.user_id.clone(),
        writable: author.writable.clone(),
        docs: vec![IngestDoc {
            id,
            kind,
            scope: scope.to_string(),
            changes: vec![ParsedChange {
                index: 0,
                hash: change.hash,
                deps: change.deps,
                actor: change.actor,
                bytes: change.bytes,
            }],
        }],
        pre_rejected: Vec::new(),
    })?;
    if let Some(r) = outcome.rejected.first() {
        return Err(WriteError::Refused(r.reason.as_str().to_string()));
    }
    Ok(outcome.last_position)
}

/// Edit record `R` with id `id` as `author`: rebuilt from the log, changed by `f`,
/// validated, pushed. Returns false when nothing changed.
pub fn edit_record<R: StoredRecord>(
    storage: &dyn Storage,
    merged: &Store,
    author: &Author,
    id: DocId,
    f: impl FnOnce(&mut R) -> fieldsync_core::Result<()>,
) -> Result<bool, WriteError> {
    let meta = storage
        .doc_meta(&author.tenant, id)?
        .ok_or(WriteError::NotFound)?;
    if meta.kind != R::KIND {
        return Err(WriteError::NotFound);
    }
    let log: Vec<Vec<u8>> = storage
        .doc_log(&author.tenant, id)?
        .into_iter()
        .map(|e| e.bytes)
        .collect();
    let mut doc = edit::load(&log)?;
    let now = fieldsync_core::now_ms();
    let ctx = ServerCtx { merged, now };
    match edit::edit::<R>(id, &mut doc, author.actor(), now, &ctx, f)? {
        None => Ok(false),
        Some(change) => {
            push(storage, author, id, R::KIND, &meta.scope, change)?;
            Ok(true)
        }
    }
}

/// Create record `value` in `scope` as `author`; returns its id.
pub fn create_record<R: Record>(
    storage: &dyn Storage,
    merged: &Store,
    author: &Author,
    scope: &str,
    value: &R,
) -> Result<DocId, WriteError> {
    let id = DocId::random()?;
    let now = fieldsync_core::now_ms();
    let ctx = ServerCtx { merged, now };
    let change = edit::create(value, author.actor(), now, &ctx)?;
    push(storage, author, id, R::KIND, scope, change)?;
    Ok(id)
}
