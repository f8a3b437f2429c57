//! Responses: one filled-in form for one respondent, with its review trail and
//! follow-ups after a low score.

use std::collections::{BTreeMap, HashSet};

use autosurgeon::{Hydrate, Reconcile, Text};

use super::common::{Band, GeoPoint, Score, Segment, check_score_of_ten};
use super::{Record, RecordContext, check_doc_ref, require_text};
use crate::error::{Error, ValidationError};
use crate::ids::{Kind, Timestamp};

/// Where a response is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum ResponseStatus {
    /// Being filled in; required answers may be missing.
    Draft,
    /// Submitted by the enumerator.
    Complete,
    /// Accepted by a reviewer.
    Approved,
    /// Rejected by a reviewer.
    Rejected,
    /// A reviewer asked for a follow-up.
    NeedsFollowUp,
}

impl ResponseStatus {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseStatus::Draft => "draft",
            ResponseStatus::Complete => "complete",
            ResponseStatus::Approved => "approved",
            ResponseStatus::Rejected => "rejected",
            ResponseStatus::NeedsFollowUp => "needs_follow_up",
        }
    }
}

/// One answer. The form says which variant each question takes.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub enum Answer {
    /// Free text.
    Text(String),
    /// Whole number.
    Integer(i64),
    /// Decimal number.
    Decimal(f64),
    /// A satisfaction score with its scale.
    Score(Score),
    /// One choice value.
    Choice(String),
    /// Several choice values.
    Choices(Vec<String>),
    /// A date, `YYYY-MM-DD`.
    Date(String),
    /// A GPS point.
    Geo(GeoPoint),
    /// A time of day, `HH:MM[:SS[.sss]][offset]`.
    Time(String),
    /// A date and time, ISO 8601 with offset (`2024-05-01T10:30:00.000+08:00`).
    DateTime(String),
    /// A line of GPS points (geotrace).
    GeoTrace(Vec<GeoPoint>),
    /// A closed polygon of GPS points (geoshape): first point equals the last.
    GeoShape(Vec<GeoPoint>),
    /// A photo, recording or file: a reference to a content-addressed blob.
    Attachment(AttachmentRef),
    /// An acknowledgement ticked (acknowledge questions).
    Acknowledged(bool),
}

/// A reference to an attachment stored outside the document, by content hash.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, serde::Serialize, serde::Deserialize)]
pub struct AttachmentRef {
    /// SHA-256 of the bytes, lowercase hex (64 characters). The key in lists: two
    /// people attaching files offline both keep theirs.
    #[key]
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// Media type, e.g. `image/jpeg`.
    pub media_type: String,
    /// File name as the app gave it.
    pub name: String,
}

/// One instance of a repeat: its own answers, and the repeats nested in it.
#[derive(Debug, Clone, PartialEq, Default, Reconcile, Hydrate)]
pub struct RepeatInstance {
    /// Unique id of the instance, so two people adding instances offline keep both.
    #[key]
    pub id: String,
    /// Answers of the questions inside the repeat, keyed by question id.
    pub answers: BTreeMap<String, Answer>,
    /// Repeats nested in this one, keyed by repeat id.
    pub repeats: BTreeMap<String, Vec<RepeatInstance>>,
}

/// Who answered.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct Respondent {
    /// Display name (sealed at rest; never in logs).
    pub name: Option<String>,
    /// Phone number (sealed at rest; never in logs).
    pub phone: Option<String>,
    /// The operator's customer id, to link repeat surveys and complaints.
    pub customer_id: Option<String>,
    /// Segment of the respondent.
    pub segment: Segment,
}

/// A reviewer's decision or comment.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct ReviewEntry {
    /// Unique id of the entry.
    #[key]
    pub id: String,
    /// The status the reviewer set, if any (`None` for a plain comment).
    pub decision: Option<ResponseStatus>,
    /// The reviewer's comment.
    pub comment: Option<String>,
    /// Reviewer's user id.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// A return call or visit after a low score.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct FollowUp {
    /// Unique id.
    #[key]
    pub id: String,
    /// Who followed up.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// Call, visit...
    pub channel: String,
    /// New satisfaction score, 1–10.
    pub score: Option<i64>,
    /// What was done.
    pub outcome: Option<String>,
    /// The customer habitually scores low without a concrete complaint: explain, don't repair.
    pub explain_only: bool,
}

/// One filled-in form for one respondent.
#[derive(Debug, Clone, Reconcile, Hydrate)]
pub struct Response {
    /// The form version (its document id) this answers.
    pub form_id: String,
    /// That form's version number (denormalised for lists).
    pub form_version: i64,
    /// Life-cycle status.
    pub status: ResponseStatus,
    /// Who answered.
    pub respondent: Respondent,
    /// Region path, e.g. `north/county-3/district-7`.
    pub region: String,
    /// Answers keyed by question id.
    pub answers: BTreeMap<String, Answer>,
    /// Where the interview took place.
    pub location: Option<GeoPoint>,
    /// When the form was opened.
    pub started_at: Timestamp,
    /// When it was submitted.
    pub completed_at: Option<Timestamp>,
    /// The enumerator's user id.
    pub enumerator: String,
    /// Free-text note by the enumerator.
    pub note: Text,
    /// Review decisions and comments.
    pub review: Vec<ReviewEntry>,
    /// Follow-ups after a low score.
    pub follow_ups: Vec<FollowUp>,
    /// Instances of the form's repeats, keyed by repeat id (top-level repeats; nested
    /// ones live in their parent instance).
    #[autosurgeon(missing = "Default::default")]
    pub repeats: BTreeMap<String, Vec<RepeatInstance>>,
}

impl PartialEq for Response {
    fn eq(&self, o: &Self) -> bool {
        self.form_id == o.form_id
            && self.form_version == o.form_version
            && self.status == o.status
            && self.respondent == o.respondent
            && self.region == o.region
            && self.answers == o.answers
            && self.location == o.location
            && self.started_at == o.started_at
            && self.completed_at == o.completed_at
            && self.enumerator == o.enumerator
            && self.note.as_str() == o.note.as_str()
            && self.review == o.review
            && self.follow_ups == o.follow_ups
            && self.repeats == o.repeats
    }
}

impl Response {
    /// A new draft answering form version `form_id` (number `form_version`), started
    /// now by `enumerator` in `region`, with no answers yet. The forms engine fills
    /// defaults and metadata ([`crate::forms::CompiledForm::prefill`]).
    pub fn draft(
        form_id: impl Into<String>,
        form_version: i64,
        enumerator: impl Into<String>,
        region: impl Into<String>,
        started_at: Timestamp,
    ) -> Response {
        Response {
            form_id: form_id.into(),
            form_version,
            status: ResponseStatus::Draft,
            respondent: Respondent {
                name: None,
                phone: None,
                customer_id: None,
                segment: super::common::Segment {
                    kind: super::common::SegmentKind::Individual,
                    value_tier: None,
                    core: false,
                },
            },
            region: region.into(),
            answers: BTreeMap::new(),
            location: None,
            started_at,
            completed_at: None,
            enumerator: enumerator.into(),
            note: Text::with_value(""),
            review: Vec::new(),
            follow_ups: Vec::new(),
            repeats: BTreeMap::new(),
        }
    }

    /// The scores given, with their question ids.
    pub fn scores(&self) -> impl Iterator<Item = (&str, &Score)> {
        self.answers.iter().filter_map(|(k, a)| match a {
            Answer::Score(s) => Some((k.as_str(), s)),
            _ => None,
        })
    }

    /// The overall satisfaction on 1–10: the overall-dimension score if there is one,
    /// else the mean of all scores; `None` without scores.
    pub fn overall(&self) -> Option<f64> {
        use super::common::Dimension;
        if let Some((_, s)) = self
            .scores()
            .find(|(_, s)| s.dimension == Some(Dimension::Overall))
        {
            return Some(s.normalized());
        }
        let (n, sum) = self.scores().fold((0usize, 0.0), |(n, sum), (_, s)| {
            (n + 1, sum + s.normalized())
        });
        (n > 0).then(|| sum / n as f64)
    }

    /// The band of [`Response::overall`].
    pub fn band(&self) -> Option<Band> {
        use super::common::Dimension;
        if let Some((_, s)) = self
            .scores()
            .find(|(_, s)| s.dimension == Some(Dimension::Overall))
        {
            return Some(s.band());
        }
        self.overall().map(Band::of_ten)
    }

    /// Check every answer against the compiled form: types, choices and scales
    /// always; required answers and constraints once the response leaves draft.
    fn check_answers(
        &self,
        form: &crate::forms::CompiledForm,
        now: Timestamp,
    ) -> Result<(), Error> {
        use crate::forms::IssueKind;
        // Answers the form has no place for (unknown ids, or at the wrong depth).
        fn placed(
            form: &crate::forms::CompiledForm,
            id: &str,
            depth: usize,
            field: String,
        ) -> Result<(), Error> {
            match form.element_index(id) {
                None => Err(ValidationError::new(
                    field,
                    "unknown_question",
                    "the form has no such question",
                )
                .into()),
                Some(e) if form.form().questions[e].kind.takes_no_answer() => Err(
                    ValidationError::new(field, "no_answer", "this element takes no answer").into(),
                ),
                Some(e) if form.repeat_depth(e) != depth => Err(ValidationError::new(
                    field,
                    "wrong_place",
                    "the question belongs to another repeat level",
                )
                .into()),
                Some(_) => Ok(()),
            }
        }
        fn walk(
            form: &crate::forms::CompiledForm,
            answers: &BTreeMap<String, Answer>,
            repeats: &BTreeMap<String, Vec<RepeatInstance>>,
            prefix: &str,
            depth: usize,
        ) -> Result<(), Error> {
            for id in answers.keys() {
                placed(form, id, depth, format!("{prefix}answers.{id}"))?;
            }
            for (rid, list) in repeats {
                match form.element_index(rid) {
                    Some(e)
                        if form.form().questions[e].kind == super::form::QuestionKind::Repeat
                            && form.repeat_depth(e) == depth => {}
                    _ => {
                        return Err(ValidationError::new(
                            format!("{prefix}repeats.{rid}"),
                            "unknown_repeat",
                            "the form has no such repeat at this level",
                        )
                        .into());
                    }
                }
                let mut ids = HashSet::new();
                for (i, inst) in list.iter().enumerate() {
                    if inst.id.is_empty() || !ids.insert(inst.id.as_str()) {
                        return Err(ValidationError::new(
                            format!("{prefix}repeats.{rid}[{i}].id"),
                            "duplicate",
                            "repeat instances need unique ids",
                        )
                        .into());
                    }
                    walk(
                        form,
                        &inst.answers,
                        &inst.repeats,
                        &format!("{prefix}repeats.{rid}[{i}]."),
                        depth + 1,
                    )?;
                }
            }
            Ok(())
        }
        walk(form, &self.answers, &self.repeats, "", 0)?;
        let ev = form.evaluate(self, &crate::forms::engine::EvalContext::at(now));
        for issue in ev.issues() {
            let blocking = match issue.kind {
                IssueKind::Invalid => true,
                IssueKind::Required | IssueKind::Constraint | IssueKind::Expression => {
                    self.status != ResponseStatus::Draft
                }
            };
            if blocking {
                return Err(ValidationError::new(
                    issue.node.field(form),
                    issue.code,
                    issue.message,
                )
                .into());
            }
        }
        Ok(())
    }
}

impl Record for Response {
    const KIND: Kind = Kind::Response;

    /// Field by field (answer by answer): an edit of two answers reconciles two answers,
    /// not the 24 others, the respondent, the note and the review trail.
    fn reconcile_edit(
        &self,
        before: &Self,
        doc: &mut automerge::AutoCommit,
    ) -> Result<(), autosurgeon::ReconcileError> {
        use automerge::{ObjType, ROOT, ReadDoc, Value, transaction::Transactable};
        use autosurgeon::reconcile_prop;
        // Every field of the struct, by the name autosurgeon stores it under. A field
        // missing here would never be written by an edit: the exhaustive destructuring
        // makes adding a field without listing it a compile error.
        let Response {
            form_id,
            form_version,
            status,
            respondent,
            region,
            answers,
            location,
            started_at,
            completed_at,
            enumerator,
            note,
            review,
            follow_ups,
            repeats,
        } = self;
        macro_rules! field {
            ($name:ident) => {
                if *$name != before.$name {
                    reconcile_prop(doc, ROOT, stringify!($name), $name)?;
                }
            };
        }
        field!(form_id);
        field!(form_version);
        field!(status);
        field!(respondent);
        field!(region);
        if *answers != before.answers {
            match doc.get(ROOT, "answers")? {
                Some((Value::Object(ObjType::Map), obj)) => {
                    for (k, v) in answers {
                        if before.answers.get(k) != Some(v) {
                            reconcile_prop(doc, &obj, k.as_str(), v)?;
                        }
                    }
                    for k in before.answers.keys() {
                        if !answers.contains_key(k) {
                            doc.delete(&obj, k.as_str())?;
                        }
                    }
                }
                _ => reconcile_prop(doc, ROOT, "answers", answers)?,
            }
        }
        field!(location);
        field!(started_at);
        field!(completed_at);
        field!(enumerator);
        field!(note);
        field!(review);
        field!(follow_ups);
        field!(repeats);
        Ok(())
    }

    /// The note is the only text field (answers, respondent, review and follow-ups are
    /// plain values that hydrate to what was reconciled).
    fn rebind(&mut self, doc: &automerge::AutoCommit) -> bool {
        // Adding a field makes this a compile error: check whether it needs re-reading.
        let Response {
            form_id: _,
            form_version: _,
            status: _,
            respondent: _,
            region: _,
            answers: _,
            location: _,
            started_at: _,
            completed_at: _,
            enumerator: _,
            note: _,
            review: _,
            follow_ups: _,
            repeats: _,
        } = self;
        match autosurgeon::hydrate_prop(doc, &automerge::ROOT, "note") {
            Ok(note) => {
                self.note = note;
                true
            }
            Err(_) => false,
        }
    }

    fn validate(&self, before: Option<&Self>, ctx: &dyn RecordContext) -> Result<(), Error> {
        let form_id = check_doc_ref("form_id", &self.form_id)?;
        if let Some(b) = before
            && (b.form_id != self.form_id || b.form_version != self.form_version)
        {
            return Err(ValidationError::new(
                "form_id",
                "immutable",
                "a response cannot change its form",
            )
            .into());
        }
        require_text("enumerator", &self.enumerator)?;
        require_text("region", &self.region)?;
        let compiled = ctx.compiled_form(&form_id)?;
        let form = compiled.form();
        if !form.published {
            return Err(ValidationError::new(
                "form_id",
                "unpublished_form",
                "responses answer published forms only",
            )
            .into());
        }
        if form.version != self.form_version {
            return Err(ValidationError::new(
                "form_version",
                "mismatch",
                "form_version differs from the form's version",
            )
            .into());
        }
        if let Some(l) = &self.location {
            l.check("location")?;
        }
        if let Some(c) = self.completed_at
            && c < self.started_at
        {
            return Err(ValidationError::new(
                "completed_at",
                "before_start",
                "completion precedes the start",
            )
            .into());
        }
        for (i, f) in self.follow_ups.iter().enumerate() {
            if let Some(s) = f.score {
                check_score_of_ten(&format!("follow_ups[{i}].score"), s)?;
            }
        }
        self.check_answers(&compiled, ctx.now())
    }
}
