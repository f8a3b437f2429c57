//! Responses: one filled-in form for one respondent, with its review trail and
//! follow-ups after a low score.

use std::collections::{BTreeMap, HashSet};

use autosurgeon::{Hydrate, Reconcile, Text};

use super::common::{Band, GeoPoint, Score, Segment, check_score_of_ten};
use super::form::{Form, QuestionKind};
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
    }
}

impl Response {
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

    fn check_answers(&self, form: &Form) -> Result<(), Error> {
        for (qid, a) in &self.answers {
            let field = format!("answers.{qid}");
            let Some(q) = form.question(qid) else {
                return Err(ValidationError::new(
                    field,
                    "unknown_question",
                    "the form has no such question",
                )
                .into());
            };
            let mismatch = || -> Error {
                ValidationError::new(
                    field.clone(),
                    "wrong_type",
                    "the answer does not fit the question type",
                )
                .into()
            };
            match (q.kind, a) {
                (QuestionKind::Text, Answer::Text(_)) => {}
                (QuestionKind::Integer, Answer::Integer(_)) => {}
                (QuestionKind::Decimal, Answer::Decimal(v)) if v.is_finite() => {}
                (QuestionKind::Decimal, Answer::Integer(_)) => {}
                (QuestionKind::Score, Answer::Score(s)) => {
                    s.check(&field)?;
                    let want = q.score(s.value);
                    if *s != want {
                        return Err(ValidationError::new(
                            field,
                            "wrong_scale",
                            "the score's scale differs from the question's",
                        )
                        .into());
                    }
                }
                (QuestionKind::SelectOne, Answer::Choice(c)) => {
                    if !q.choices.iter().any(|x| &x.value == c) {
                        return Err(ValidationError::new(
                            field,
                            "unknown_choice",
                            "not one of the question's choices",
                        )
                        .into());
                    }
                }
                (QuestionKind::SelectMultiple, Answer::Choices(cs)) => {
                    let mut seen = HashSet::new();
                    for c in cs {
                        if !q.choices.iter().any(|x| &x.value == c) {
                            return Err(ValidationError::new(
                                field,
                                "unknown_choice",
                                "not one of the question's choices",
                            )
                            .into());
                        }
                        if !seen.insert(c) {
                            return Err(ValidationError::new(
                                field,
                                "duplicate",
                                "a choice is selected twice",
                            )
                            .into());
                        }
                    }
                }
                (QuestionKind::Date, Answer::Date(d)) => {
                    if !valid_date(d) {
                        return Err(ValidationError::new(
                            field,
                            "invalid_date",
                            "dates are YYYY-MM-DD",
                        )
                        .into());
                    }
                }
                (QuestionKind::GeoPoint, Answer::Geo(g)) => g.check(&field)?,
                _ => return Err(mismatch()),
            }
        }
        if self.status != ResponseStatus::Draft {
            for q in form.questions.iter().filter(|q| q.required) {
                let answered = match self.answers.get(&q.id) {
                    None => false,
                    Some(Answer::Text(t)) => !t.trim().is_empty(),
                    Some(Answer::Choices(c)) => !c.is_empty(),
                    Some(_) => true,
                };
                if !answered {
                    return Err(ValidationError::new(
                        format!("answers.{}", q.id),
                        "required",
                        "a required question is unanswered",
                    )
                    .into());
                }
            }
        }
        Ok(())
    }
}

/// `YYYY-MM-DD` with a real month and day.
pub(crate) fn valid_date(d: &str) -> bool {
    let b = d.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| d.get(r).and_then(|s| s.parse::<u32>().ok());
    let (Some(y), Some(m), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

impl Record for Response {
    const KIND: Kind = Kind::Response;

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
        let form = ctx.form(&form_id)?;
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
        self.check_answers(&form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(valid_date("2024-02-29"));
        assert!(!valid_date("2023-02-29"));
        assert!(!valid_date("2023-13-01"));
        assert!(!valid_date("2023-1-01"));
        assert!(valid_date("2000-02-29"));
        assert!(!valid_date("1900-02-29"));
    }
}
