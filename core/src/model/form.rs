//! Forms: survey definitions. A published version is immutable; responses name the
//! exact version (document) they answer. The full XLSForm engine (skip logic,
//! expressions) builds on this shape in the forms module.

use std::collections::HashSet;

use autosurgeon::{Hydrate, Reconcile};

use super::common::{Dimension, Score};
use super::{Record, RecordContext, require_text};
use crate::error::{Error, ValidationError};
use crate::ids::{Kind, Timestamp};

/// One version of a survey definition.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct Form {
    /// Stable key shared by every version of the same survey, e.g. `telecom-sat`.
    pub form_key: String,
    /// Version number, increasing per `form_key`.
    pub version: i64,
    /// Title shown to enumerators.
    pub title: String,
    /// Questions in display order.
    pub questions: Vec<Question>,
    /// Once true the form is immutable.
    pub published: bool,
    /// When it was published.
    pub published_at: Option<Timestamp>,
}

/// Question types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate)]
pub enum QuestionKind {
    /// Free text.
    Text,
    /// Whole number.
    Integer,
    /// Decimal number.
    Decimal,
    /// A satisfaction score on the question's scale.
    Score,
    /// One choice.
    SelectOne,
    /// Several choices.
    SelectMultiple,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A GPS point.
    GeoPoint,
    /// Display-only text; takes no answer.
    Note,
}

/// A numeric scale, e.g. 1–10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Scale {
    /// Lowest value.
    pub min: i64,
    /// Highest value.
    pub max: i64,
}

/// A choice of a select question.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Choice {
    /// The stored value.
    #[key]
    pub value: String,
    /// The label shown.
    pub label: String,
}

/// One question.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct Question {
    /// Stable name, the key of the answer in a response.
    #[key]
    pub id: String,
    /// Its type.
    pub kind: QuestionKind,
    /// Label shown.
    pub label: String,
    /// Hint shown under the label.
    pub hint: Option<String>,
    /// Must be answered before the response is complete.
    pub required: bool,
    /// Satisfaction dimension measured (score questions).
    pub dimension: Option<Dimension>,
    /// Scale of a score question (default 1–10).
    pub scale: Option<Scale>,
    /// Choices of a select question.
    pub choices: Vec<Choice>,
}

impl Question {
    /// A question with only the essentials set.
    pub fn new(id: impl Into<String>, kind: QuestionKind, label: impl Into<String>) -> Self {
        Question {
            id: id.into(),
            kind,
            label: label.into(),
            hint: None,
            required: false,
            dimension: None,
            scale: None,
            choices: Vec::new(),
        }
    }

    /// The effective scale of a score question.
    pub fn effective_scale(&self) -> Scale {
        self.scale.unwrap_or(Scale { min: 1, max: 10 })
    }

    /// A score on this question's scale and dimension.
    pub fn score(&self, value: i64) -> Score {
        let s = self.effective_scale();
        Score {
            value,
            min: s.min,
            max: s.max,
            dimension: self.dimension,
        }
    }
}

impl Form {
    /// Find a question by id.
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == id)
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Record for Form {
    const KIND: Kind = Kind::Form;

    fn is_immutable(&self) -> bool {
        self.published
    }

    fn validate(&self, before: Option<&Self>, _ctx: &dyn RecordContext) -> Result<(), Error> {
        if let Some(b) = before
            && b.published
        {
            // The store reports Immutable with the id; this is the defensive rule.
            return Err(ValidationError::new(
                "published",
                "immutable",
                "published forms cannot change",
            )
            .into());
        }
        if !valid_name(&self.form_key) {
            return Err(ValidationError::new(
                "form_key",
                "invalid_name",
                "1-64 of a-z A-Z 0-9 _ -",
            )
            .into());
        }
        if self.version < 1 {
            return Err(
                ValidationError::new("version", "invalid_version", "versions start at 1").into(),
            );
        }
        require_text("title", &self.title)?;
        let mut seen = HashSet::new();
        for (i, q) in self.questions.iter().enumerate() {
            let f = |name: &str| format!("questions[{i}].{name}");
            if !valid_name(&q.id) {
                return Err(ValidationError::new(
                    f("id"),
                    "invalid_name",
                    "1-64 of a-z A-Z 0-9 _ -",
                )
                .into());
            }
            if !seen.insert(q.id.as_str()) {
                return Err(ValidationError::new(
                    f("id"),
                    "duplicate",
                    "question ids must be unique",
                )
                .into());
            }
            match q.kind {
                QuestionKind::Score => {
                    let s = q.effective_scale();
                    if s.min >= s.max || s.max - s.min > 100 {
                        return Err(ValidationError::new(
                            f("scale"),
                            "invalid_scale",
                            "min must be below max",
                        )
                        .into());
                    }
                }
                QuestionKind::SelectOne | QuestionKind::SelectMultiple => {
                    if q.choices.is_empty() {
                        return Err(ValidationError::new(
                            f("choices"),
                            "required",
                            "a select question needs choices",
                        )
                        .into());
                    }
                    let mut cs = HashSet::new();
                    for c in &q.choices {
                        if c.value.is_empty() || !cs.insert(c.value.as_str()) {
                            return Err(ValidationError::new(
                                f("choices"),
                                "duplicate",
                                "choice values must be unique and non-empty",
                            )
                            .into());
                        }
                    }
                }
                QuestionKind::Note if q.required => {
                    return Err(ValidationError::new(
                        f("required"),
                        "invalid",
                        "a note cannot be required",
                    )
                    .into());
                }
                _ => {}
            }
        }
        if self.published && self.questions.is_empty() {
            return Err(ValidationError::new(
                "questions",
                "required",
                "a published form needs questions",
            )
            .into());
        }
        Ok(())
    }
}
