//! The generator of the protocol v2 preset dictionary (`wire/dict_v2.bin`).
//!
//! The dictionary is raw content (no trained entropy tables): the v2 payload of a `Push`
//! of synthetic records — [`DICT_RESPONSES`] responses to the sample telecom form, an
//! account and a visit — written exactly as a device writes them (autosurgeon reconcile,
//! one commit) but with a fixed actor, fixed document ids, fixed times and a fixed seed,
//! so that the output is the same on every machine and every run. It gives the
//! compressor the model's field names, the shape of an Automerge change chunk and of a
//! v2 change section, and typical answer values before the first byte of a frame.
//!
//! The bytes are part of protocol v2: `core/tests/wire_snapshots.rs` checks that this
//! function still produces the committed file and pins its SHA-256. Regenerate with
//! `scripts/gen-dict-v2.sh` only together with a new protocol version.

use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit};
use serde_bytes::ByteBuf;

use super::{ClientMsg, DocChanges, PROTOCOL_VERSION, Push};
use crate::ids::DocId;
use crate::model::Record;
use crate::sample::{self, Rng};

/// Responses in the dictionary.
pub const DICT_RESPONSES: usize = 24;
/// Seed of the synthetic answers (not the benchmark's).
const SEED: u64 = 0xd1c7_2024;
/// Time of the first synthetic record (2024-01-01T00:00:00Z, ms).
const T0: i64 = 1_704_067_200_000;

fn id(n: u8) -> Option<DocId> {
    DocId::from_slice(&[n; 16])
}

fn doc_changes<R: Record>(
    n: u8,
    value: &R,
    at: i64,
    scope: &str,
) -> crate::error::Result<DocChanges> {
    doc_changes_of(n, R::KIND, value, at, scope)
}

fn doc_changes_of(
    n: u8,
    kind: crate::ids::Kind,
    value: &impl autosurgeon::Reconcile,
    at: i64,
    scope: &str,
) -> crate::error::Result<DocChanges> {
    let mut doc = AutoCommit::new().with_actor(ActorId::from([0xd1u8; 16].as_slice()));
    autosurgeon::reconcile(&mut doc, value)?;
    doc.commit_with(CommitOptions::default().with_time(at));
    let bytes = doc
        .get_last_local_change()
        .map(|c| c.raw_bytes().to_vec())
        .unwrap_or_default();
    Ok(DocChanges {
        id: id(n).map(|d| *d.as_bytes()).unwrap_or([n; 16]),
        kind: kind.code(),
        scope: scope.to_string(),
        changes: vec![ByteBuf::from(bytes)],
    })
}

/// The v2 preset dictionary, generated (see the module documentation).
pub fn generate() -> crate::error::Result<Vec<u8>> {
    generate_with(DICT_RESPONSES)
}

/// [`generate`] with another number of responses (to measure what a size buys; only
/// [`DICT_RESPONSES`] is the protocol's).
pub fn generate_with(responses: usize) -> crate::error::Result<Vec<u8>> {
    let scope = "team:north";
    let form = sample::telecom_form(1);
    let form_id = id(1).ok_or_else(|| crate::error::Error::Malformed("dictionary id".into()))?;
    let account = sample::account("Harbour Logistics", "enumerator", "north/county-1");
    let mut docs = vec![doc_changes(2, &account, T0, scope)?];
    let visit = sample::visit(
        id(2).unwrap_or(form_id),
        "enumerator",
        T0 + 3_600_000,
        "quarterly review",
    );
    docs.push(doc_changes_of(
        3,
        crate::ids::Kind::Visit,
        &VisitV2(&visit),
        T0 + 60_000,
        scope,
    )?);
    let mut rng = Rng::new(SEED);
    for i in 0..responses.min(200) {
        let at = T0 + 7_200_000 + i as i64 * 60_000;
        let r = sample::telecom_response(
            &mut rng,
            form_id,
            &form,
            "north/county-1/district-1",
            "enumerator",
            at,
        );
        docs.push(doc_changes(16 + i as u8, &r, at, scope)?);
    }
    let msg = ClientMsg::Push(Push { batch: 1, docs });
    Ok(super::encode_payload(PROTOCOL_VERSION, &msg))
}

/// A visit as protocol v2's dictionary saw it: the fields of that time, in their order
/// (`attachments` came later). The dictionary is frozen protocol data, so its inputs
/// stay as they were when the model grows.
struct VisitV2<'a>(&'a crate::model::Visit);

impl autosurgeon::Reconcile for VisitV2<'_> {
    type Key<'k> = autosurgeon::reconcile::NoKey;

    fn reconcile<R: autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        use autosurgeon::reconcile::MapReconciler;
        let v = self.0;
        let mut m = reconciler.map()?;
        m.put("account_id", &v.account_id)?;
        m.put("owner", &v.owner)?;
        m.put("purpose", &v.purpose)?;
        m.put("planned_at", v.planned_at)?;
        m.put("attendees", &v.attendees)?;
        m.put("check_in", v.check_in)?;
        m.put("check_out", v.check_out)?;
        m.put("notes", &v.notes)?;
        m.put("scores", v.scores)?;
        m.put("issues", &v.issues)?;
        m.put("commitments", &v.commitments)?;
        m.put("cancelled", v.cancelled)?;
        Ok(())
    }
}
