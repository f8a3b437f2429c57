//! Forms: survey definitions. A published version is immutable; responses name the
//! exact version (document) they answer.
//!
//! A form is the normalised shape of an XLSForm (`crate::forms::xlsform` imports one):
//! a flat list of elements in sheet order — questions, groups and repeats — where each
//! element names its enclosing group or repeat (`group`), so the tree is kept without
//! nesting documents. Expressions (relevant, constraint, calculation, ...) are kept as
//! their source text; `crate::forms::engine` parses them once per form version and
//! evaluates them. Everything an XLSForm carries that the engine does not interpret
//! (appearance, parameters, unknown columns, media) is kept, so an export or a later
//! engine can use it.
//!
//! Fields added after the first schema are `#[autosurgeon(missing = ...)]`, so form
//! documents written by older apps still hydrate.

use std::collections::{BTreeMap, HashSet};

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use super::common::{Dimension, Score};
use super::{Record, RecordContext, require_text};
use crate::error::{Error, ValidationError};
use crate::ids::{Kind, Timestamp};

/// One version of a survey definition.
#[derive(Debug, Clone, PartialEq, Default, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Form {
    /// Stable key shared by every version of the same survey, e.g. `telecom-sat`
    /// (XLSForm `settings.form_id`).
    pub form_key: String,
    /// Version number, increasing per `form_key`.
    pub version: i64,
    /// Title shown to enumerators (`settings.form_title`).
    pub title: String,
    /// Questions, groups and repeats in sheet order.
    pub questions: Vec<Question>,
    /// Once true the form is immutable.
    pub published: bool,
    /// When it was published.
    pub published_at: Option<Timestamp>,
    /// The language of the untranslated texts (`label`, `hint`, ...) when the form has
    /// translations (`settings.default_language`, else the first language).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub default_language: Option<String>,
    /// Every language the form has texts in, in column order (e.g. `English (en)`,
    /// `中文 (zh)`); empty for an untranslated form.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub languages: Vec<String>,
    /// Choice lists by list name (the `choices` sheet). Questions name theirs in
    /// [`Question::list_name`]; forms built before lists existed carry choices inline.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub choice_lists: BTreeMap<String, Vec<Choice>>,
    /// Every other `settings` column, kept as written (`version`, `instance_name`,
    /// `style`, ...).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

/// Element types: the XLSForm question types, plus groups and repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// Free text.
    Text,
    /// Whole number.
    Integer,
    /// Decimal number.
    Decimal,
    /// A satisfaction score on the question's scale (an XLSForm question with a
    /// `dimension` or `scale` column; its XLSForm type is kept in `xls_type`).
    Score,
    /// One choice (also `select_one_from_file`, with [`Question::file`] set).
    SelectOne,
    /// Several choices (also `select_multiple_from_file`).
    SelectMultiple,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A GPS point.
    GeoPoint,
    /// Display-only text; takes no answer.
    Note,
    /// A number picked on a scale (`parameters`: start, end, step).
    Range,
    /// Choices put in order.
    Rank,
    /// A time of day, `HH:MM[:SS[.sss]][offset]`.
    Time,
    /// A date and time, ISO 8601.
    DateTime,
    /// A line of GPS points.
    GeoTrace,
    /// A closed polygon of GPS points.
    GeoShape,
    /// A photo (an attachment).
    Image,
    /// A recording (an attachment).
    Audio,
    /// A video (an attachment).
    Video,
    /// Any file (an attachment).
    File,
    /// A scanned barcode (text).
    Barcode,
    /// A tick to acknowledge.
    Acknowledge,
    /// A value computed from `calculation`; not shown.
    Calculate,
    /// A value set by `default` or by the app; not shown.
    Hidden,
    /// Metadata: when the form was opened.
    Start,
    /// Metadata: when the form was last saved.
    End,
    /// Metadata: the day of the interview.
    Today,
    /// Metadata: the device's id.
    DeviceId,
    /// Metadata: the enumerator's user id.
    Username,
    /// A group of elements (`begin group` ... `end group`).
    Group,
    /// A repeated group (`begin repeat` ... `end repeat`).
    Repeat,
}

impl QuestionKind {
    /// True for groups and repeats: elements that contain others and take no answer.
    pub fn is_container(self) -> bool {
        matches!(self, QuestionKind::Group | QuestionKind::Repeat)
    }

    /// True for elements that hold no answer at all (groups, repeats, notes).
    pub fn takes_no_answer(self) -> bool {
        self.is_container() || self == QuestionKind::Note
    }

    /// True for select-type questions (answers are choice names).
    pub fn is_select(self) -> bool {
        matches!(
            self,
            QuestionKind::SelectOne | QuestionKind::SelectMultiple | QuestionKind::Rank
        )
    }

    /// True for metadata the device fills in itself.
    pub fn is_metadata(self) -> bool {
        matches!(
            self,
            QuestionKind::Start
                | QuestionKind::End
                | QuestionKind::Today
                | QuestionKind::DeviceId
                | QuestionKind::Username
        )
    }

    /// True for attachment questions (photos, recordings, files).
    pub fn is_attachment(self) -> bool {
        matches!(
            self,
            QuestionKind::Image | QuestionKind::Audio | QuestionKind::Video | QuestionKind::File
        )
    }
}

/// A numeric scale, e.g. 1–10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Scale {
    /// Lowest value.
    pub min: i64,
    /// Highest value.
    pub max: i64,
}

/// A choice of a select question.
#[derive(Debug, Clone, PartialEq, Eq, Default, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Choice {
    /// The stored value (XLSForm `name`).
    #[key]
    pub value: String,
    /// The label in the form's default language (or the only label).
    pub label: String,
    /// Labels by language, for translated forms.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub translations: BTreeMap<String, String>,
    /// Every other column of the choice row, kept as written; `choice_filter`
    /// expressions read them (e.g. `county=${county}`).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

impl Choice {
    /// A choice with a value and a label.
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        Choice {
            value: value.into(),
            label: label.into(),
            ..Choice::default()
        }
    }
}

/// The texts of an element in one language. Absent texts fall back to the default
/// language's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Texts {
    /// Label.
    pub label: Option<String>,
    /// Hint.
    pub hint: Option<String>,
    /// Guidance hint (shown on request).
    pub guidance_hint: Option<String>,
    /// Message when the constraint fails.
    pub constraint_message: Option<String>,
    /// Message when a required answer is missing.
    pub required_message: Option<String>,
    /// Media file names: `image`, `big-image`, `audio`, `video`.
    #[serde(default)]
    pub media: BTreeMap<String, String>,
}

/// One element of a form: a question, a group or a repeat.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Question {
    /// Stable name, the key of the answer in a response (XLSForm `name`). Unique in the
    /// form.
    #[key]
    pub id: String,
    /// Its type.
    pub kind: QuestionKind,
    /// Label in the form's default language.
    pub label: String,
    /// Hint shown under the label.
    pub hint: Option<String>,
    /// Must be answered before the response is complete (XLSForm `required` of
    /// `yes`/`true()`; an expression goes to [`Question::required_if`]).
    pub required: bool,
    /// Satisfaction dimension measured (score questions).
    pub dimension: Option<Dimension>,
    /// Scale of a score question (default 1–10).
    pub scale: Option<Scale>,
    /// Choices carried inline (forms built in code). Imported forms use
    /// [`Question::list_name`] and [`Form::choice_lists`]; see [`Form::choices`].
    pub choices: Vec<Choice>,
    /// The XLSForm type cell as written, e.g. `select_one yes_no or_other`.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub xls_type: Option<String>,
    /// The name of the group or repeat this element is in (`None`: top level).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub group: Option<String>,
    /// Texts by language, for translated forms.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub translations: BTreeMap<String, Texts>,
    /// Skip logic: shown (and answered) only while this is true.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub relevant: Option<String>,
    /// Validation: the answer (`.`) must make this true.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub constraint: Option<String>,
    /// Shown when the constraint fails (default language).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub constraint_message: Option<String>,
    /// Required while this expression is true (a `required` that is not a constant).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub required_if: Option<String>,
    /// Shown when a required answer is missing (default language).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub required_message: Option<String>,
    /// The value, computed (calculate questions, or any question with a calculation).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub calculation: Option<String>,
    /// Initial value when the response is created.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub default: Option<String>,
    /// Read-only while this is true (`yes` is kept as `true()`).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub read_only: Option<String>,
    /// Which choices are offered (`choice_filter`), evaluated per choice.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub choice_filter: Option<String>,
    /// The choice list of a select question (`select_one <list_name>`).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub list_name: Option<String>,
    /// `or_other`: an "other" choice with a free-text follow-up.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub or_other: bool,
    /// The external file of `select_one_from_file` / `select_multiple_from_file`.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub file: Option<String>,
    /// How the app shows it (`appearance`), kept as written.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub appearance: Option<String>,
    /// `parameters`, split into key=value pairs.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Number of instances of a repeat (`repeat_count`), an expression.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub repeat_count: Option<String>,
    /// Every column the engine does not interpret, kept as written.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
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
            xls_type: None,
            group: None,
            translations: BTreeMap::new(),
            relevant: None,
            constraint: None,
            constraint_message: None,
            required_if: None,
            required_message: None,
            calculation: None,
            default: None,
            read_only: None,
            choice_filter: None,
            list_name: None,
            or_other: false,
            file: None,
            appearance: None,
            parameters: BTreeMap::new(),
            repeat_count: None,
            extra: BTreeMap::new(),
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

    /// The label in `language`, falling back to the default language.
    pub fn label_in(&self, language: Option<&str>) -> &str {
        language
            .and_then(|l| self.translations.get(l))
            .and_then(|t| t.label.as_deref())
            .unwrap_or(&self.label)
    }
}

impl Form {
    /// Find an element by id.
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == id)
    }

    /// The choices a select question offers: its list's, or those carried inline.
    pub fn choices<'a>(&'a self, q: &'a Question) -> &'a [Choice] {
        if !q.choices.is_empty() {
            return &q.choices;
        }
        q.list_name
            .as_deref()
            .and_then(|l| self.choice_lists.get(l))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The language of `wanted` the form has, matched exactly, then by the code in
    /// parentheses (`en` finds `English (en)`), then by name before the code; `None`
    /// when the form has no such language (callers then use the default texts).
    pub fn language<'a>(&'a self, wanted: &str) -> Option<&'a str> {
        let wanted = wanted.trim();
        if wanted.is_empty() {
            return None;
        }
        let code = |l: &str| -> Option<String> {
            let open = l.rfind('(')?;
            let close = l[open..].find(')')? + open;
            Some(l[open + 1..close].trim().to_ascii_lowercase())
        };
        let w = wanted.to_ascii_lowercase();
        // `zh-CN` asks for `zh` too.
        let w_primary = w.split(['-', '_']).next().unwrap_or(&w).to_string();
        self.languages
            .iter()
            .find(|l| l.eq_ignore_ascii_case(wanted))
            .or_else(|| {
                self.languages
                    .iter()
                    .find(|l| code(l).as_deref() == Some(&w))
            })
            .or_else(|| {
                self.languages
                    .iter()
                    .find(|l| code(l).as_deref() == Some(&w_primary))
            })
            .or_else(|| {
                self.languages.iter().find(|l| {
                    l.split('(')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .eq_ignore_ascii_case(wanted)
                })
            })
            .map(String::as_str)
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
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
                "1-64 of a-z A-Z 0-9 _ - .",
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
        let mut containers = HashSet::new();
        for (i, q) in self.questions.iter().enumerate() {
            let f = |name: &str| format!("questions[{i}].{name}");
            if !valid_name(&q.id) {
                return Err(ValidationError::new(
                    f("id"),
                    "invalid_name",
                    "1-64 of a-z A-Z 0-9 _ - .",
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
            // Elements come in sheet order: a group is declared before what it holds.
            if let Some(g) = &q.group
                && !containers.contains(g.as_str())
            {
                return Err(ValidationError::new(
                    f("group"),
                    "unknown_group",
                    "the enclosing group must come earlier in the form",
                )
                .into());
            }
            if q.kind.is_container() {
                containers.insert(q.id.as_str());
            }
            if let Some(role) = q.extra.get("respondent")
                && !role.is_empty()
                && !crate::forms::engine::RESPONDENT_ROLES.contains(&role.as_str())
            {
                return Err(ValidationError::new(
                    f("extra.respondent"),
                    "invalid_respondent_field",
                    "respondent is one of segment, value_tier, core, customer_id, name, phone",
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
                QuestionKind::SelectOne | QuestionKind::SelectMultiple | QuestionKind::Rank => {
                    if q.file.is_some() {
                        continue;
                    }
                    if let Some(l) = &q.list_name
                        && q.choices.is_empty()
                        && !self.choice_lists.contains_key(l)
                    {
                        return Err(ValidationError::new(
                            f("list_name"),
                            "unknown_list",
                            "no choice list of that name",
                        )
                        .into());
                    }
                    let choices = self.choices(q);
                    if choices.is_empty() {
                        return Err(ValidationError::new(
                            f("choices"),
                            "required",
                            "a select question needs choices",
                        )
                        .into());
                    }
                    // Filtered lists may repeat a name under different filter values
                    // (pyxform allows it then); unfiltered ones may not.
                    if q.choice_filter.is_none() {
                        let mut cs = HashSet::new();
                        for c in choices {
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
        if self.published && self.questions.iter().all(|q| q.kind.takes_no_answer()) {
            return Err(ValidationError::new(
                "questions",
                "required",
                "a published form needs questions",
            )
            .into());
        }
        // Every expression must parse and name only questions of this form.
        crate::forms::check(self)?;
        Ok(())
    }
}
