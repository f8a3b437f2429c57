//! Typed edits of a document held outside a device store: the server's back office
//! acts on a document rebuilt from its change log, as a participant with its own
//! actor, and pushes the resulting change through the same ingest path as a device.
//!
//! The rules are the store's: the record is hydrated, changed on a copy, validated
//! (`Record::validate`, with the caller's context), reconciled with autosurgeon and
//! committed as one change; published forms are immutable. Nothing here touches
//! SQLite — the caller decides where the change goes.

use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit, Change, ChangeHash};
use autosurgeon::{hydrate, reconcile};

use crate::doc::guarded;
use crate::error::{Error, Result};
use crate::ids::{DocId, Timestamp};
use crate::model::{Record, RecordContext};

/// One new change, ready to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// Its hash.
    pub hash: ChangeHash,
    /// What it depends on.
    pub deps: Vec<ChangeHash>,
    /// Its actor's bytes.
    pub actor: Vec<u8>,
    /// The change, uncompressed (as the log stores it).
    pub bytes: Vec<u8>,
}

fn new_change(c: Change) -> NewChange {
    NewChange {
        hash: c.hash(),
        deps: c.deps().to_vec(),
        actor: c.actor_id().to_bytes().to_vec(),
        bytes: c.raw_bytes().to_vec(),
    }
}

/// A stable actor for a participant that is not a device store, e.g. the back office
/// acting for a user: the first 16 bytes of SHA-256 over `parts`, so every edit by the
/// same person shows under the same actor in field history.
pub fn derived_actor(parts: &[&str]) -> ActorId {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"fieldsync-actor/v1");
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p.as_bytes());
    }
    let d = ctx.finish();
    ActorId::from(&d.as_ref()[..16])
}

/// Rebuild a document from its changes (in causal order, as a log holds them), with
/// panics contained: the bytes came from the network once.
pub fn load(changes: &[Vec<u8>]) -> Result<AutoCommit> {
    guarded("load", || {
        let mut doc = AutoCommit::new();
        for c in changes {
            doc.load_incremental(c)?;
        }
        Ok(doc)
    })
}

/// Edit record `R` in `doc` as `actor` at `now`: `f` changes a copy, the result is
/// validated against `ctx`, and the difference becomes one change. `Ok(None)` when
/// nothing changed. On any error `doc` is left as it was.
pub fn edit<R: Record>(
    id: DocId,
    doc: &mut AutoCommit,
    actor: ActorId,
    now: Timestamp,
    ctx: &dyn RecordContext,
    f: impl FnOnce(&mut R) -> Result<()>,
) -> Result<Option<NewChange>> {
    let before: R = guarded("hydrate", || Ok(hydrate(&*doc)?))?;
    if before.is_immutable() {
        return Err(Error::Immutable { id });
    }
    let mut after = before.clone();
    f(&mut after)?;
    after.validate(Some(&before), ctx)?;
    doc.set_actor(actor);
    if let Err(e) = reconcile(doc, &after) {
        doc.rollback();
        return Err(e.into());
    }
    if doc
        .commit_with(CommitOptions::default().with_time(now))
        .is_none()
    {
        return Ok(None);
    }
    Ok(doc
        .get_last_local_change()
        .filter(|c| !c.is_empty())
        .map(new_change))
}

/// Create record `value` as a new document's first change, validated against `ctx`.
pub fn create<R: Record>(
    value: &R,
    actor: ActorId,
    now: Timestamp,
    ctx: &dyn RecordContext,
) -> Result<NewChange> {
    value.validate(None, ctx)?;
    let mut doc = AutoCommit::new().with_actor(actor);
    reconcile(&mut doc, value)?;
    doc.commit_with(CommitOptions::default().with_time(now));
    doc.get_last_local_change()
        .map(new_change)
        .ok_or_else(|| Error::Malformed("a new record made no change".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Form, Question, QuestionKind};

    struct NoForms;
    impl RecordContext for NoForms {
        fn form(&self, _id: &DocId) -> Result<Form> {
            Err(Error::Malformed("no forms".into()))
        }
        fn now(&self) -> Timestamp {
            0
        }
    }

    fn form() -> Form {
        Form {
            form_key: "k".into(),
            version: 1,
            title: "T".into(),
            questions: vec![Question::new("q", QuestionKind::Text, "Q")],
            ..Form::default()
        }
    }

    #[test]
    fn create_then_edit_then_immutable() -> Result<()> {
        let id = DocId::random()?;
        let a = derived_actor(&["console", "tenant", "li.wei"]);
        assert_eq!(a, derived_actor(&["console", "tenant", "li.wei"]));
        assert_ne!(a, derived_actor(&["console", "tenant", "li.we", "i"]));
        let first = create(&form(), a.clone(), 5, &NoForms)?;
        assert!(first.deps.is_empty());
        let mut doc = load(std::slice::from_ref(&first.bytes))?;
        let edit1 = edit::<Form>(id, &mut doc, a.clone(), 6, &NoForms, |f| {
            f.title = "Renamed".into();
            Ok(())
        })?
        .ok_or_else(|| Error::Malformed("no change".into()))?;
        assert_eq!(edit1.deps, vec![first.hash]);
        // Nothing changed: no change.
        assert!(edit::<Form>(id, &mut doc, a.clone(), 7, &NoForms, |_| Ok(()))?.is_none());
        // A rule broken: an error, and the document is as it was.
        let heads = doc.get_heads();
        let bad = edit::<Form>(id, &mut doc, a.clone(), 8, &NoForms, |f| {
            f.title = String::new();
            Ok(())
        });
        assert!(matches!(bad, Err(Error::Validation(_))));
        assert_eq!(doc.get_heads(), heads);
        edit::<Form>(id, &mut doc, a.clone(), 9, &NoForms, |f| {
            f.published = true;
            Ok(())
        })?;
        let frozen = edit::<Form>(id, &mut doc, a, 10, &NoForms, |f| {
            f.title = "x".into();
            Ok(())
        });
        assert!(matches!(frozen, Err(Error::Immutable { .. })));
        // The log's bytes rebuild the same document.
        let again = load(&[first.bytes, edit1.bytes])?;
        let f: Form = hydrate(&again)?;
        assert_eq!(f.title, "Renamed");
        Ok(())
    }
}
