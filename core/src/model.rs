//! The domain model: typed records mapped onto Automerge documents with autosurgeon.
//!
//! Each record kind (form, response, account, visit, case) is a plain Rust struct that
//! derives `Reconcile` and `Hydrate`; the store never writes document paths by hand.
//! Lists of identifiable items carry `#[key]` so concurrent inserts both survive, and
//! free text that several people edit (visit notes, case descriptions) is Automerge
//! text, so concurrent insertions interleave rather than overwrite.
//!
//! Fields added after a kind ships must be `Option` with
//! `#[autosurgeon(missing = "Default::default")]` so older documents still hydrate.
//! Struct reconciliation never deletes keys it does not know, so an older app editing a
//! document written by a newer one keeps the newer fields.

pub mod account;
pub mod attachment;
pub mod case;
pub mod common;
pub mod form;
pub mod response;
pub mod visit;

pub use account::{Account, Contact};
pub use attachment::{BlobRefs, MAX_BLOB_BYTES};
pub use case::{Case, CaseCategory, CaseStage, Dispatch, Severity, StageEntry};
pub use common::{Band, Dimension, GeoPoint, Score, Segment, SegmentKind, ValueTier};
pub use form::{Choice, Form, Question, QuestionKind, Scale, Texts};
pub use response::{
    Answer, AttachmentRef, FollowUp, RepeatInstance, Respondent, Response, ResponseStatus,
    ReviewEntry,
};
pub use visit::{CheckPoint, Commitment, DimensionScores, Visit, VisitIssue};

use autosurgeon::{Hydrate, Reconcile};

use crate::error::Error;
use crate::forms::CompiledForm;
use crate::ids::{DocId, Kind, Timestamp};

/// What validation may look up while checking a write.
pub trait RecordContext {
    /// The form version a response answers.
    fn form(&self, id: &DocId) -> Result<Form, Error>;
    /// That form, compiled by the forms engine (stores cache it per version).
    fn compiled_form(&self, id: &DocId) -> Result<std::sync::Arc<CompiledForm>, Error> {
        let f = self.form(id)?;
        CompiledForm::compile(&f)
            .map(std::sync::Arc::new)
            .map_err(|e| crate::error::ValidationError::new("form_id", e.code, e.message).into())
    }
    /// The time of the write.
    fn now(&self) -> Timestamp;
}

/// A record kind stored as one Automerge document.
pub trait Record: Reconcile + Hydrate + Clone + std::fmt::Debug + Send + 'static {
    /// The kind stored beside every document of this type.
    const KIND: Kind;

    /// Check the domain rules for a local write. `before` is the value before the edit
    /// (`None` when the record is created). A violation is returned as
    /// [`Error::Validation`] (or [`Error::Immutable`]) and nothing is written.
    fn validate(&self, before: Option<&Self>, ctx: &dyn RecordContext) -> Result<(), Error>;

    /// True when the record may no longer change (a published form version).
    fn is_immutable(&self) -> bool {
        false
    }

    /// Write into `doc` what changed from `before` to `self`. `before` must be what
    /// `doc` holds (hydrated from it, at its current heads) and `doc` must have no
    /// conflicts: then reconciling only the fields that differ writes the same change
    /// as reconciling the whole value, without visiting every field of the document.
    /// The default reconciles the whole value.
    fn reconcile_edit(
        &self,
        before: &Self,
        doc: &mut automerge::AutoCommit,
    ) -> Result<(), autosurgeon::ReconcileError> {
        let _ = before;
        autosurgeon::reconcile(doc, self)
    }

    /// After `self` was written to `doc` (which now holds exactly this value), make it
    /// equal to what hydrating `doc` would return, so the store can keep it for the next
    /// edit instead of hydrating again. autosurgeon `Text` fields remember the heads and
    /// object they were read from: a kind with text fields re-reads them here. Returns
    /// false when the kind does not support this (the default): it is hydrated each time.
    fn rebind(&mut self, doc: &automerge::AutoCommit) -> bool {
        let _ = doc;
        false
    }
}

/// Check that a text field is present (non-blank).
pub(crate) fn require_text(field: &str, v: &str) -> Result<(), Error> {
    if v.trim().is_empty() {
        Err(crate::error::ValidationError::new(field, "required", "this field is required").into())
    } else {
        Ok(())
    }
}

/// Check that an optional reference to another document is a well-formed id.
pub(crate) fn check_doc_ref(field: &str, v: &str) -> Result<DocId, Error> {
    v.parse::<DocId>().map_err(|_| {
        crate::error::ValidationError::new(field, "invalid_reference", "not a document id").into()
    })
}
