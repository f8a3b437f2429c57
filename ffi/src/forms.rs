//! The forms engine for apps: import an XLSForm, start a response, see which questions
//! are shown and required and what is wrong, set answers (also inside repeats), and
//! complete. Conversions only: the engine is `fieldsync_core::forms`.

use fieldsync_core::forms::{self as cf, xlsform};
use fieldsync_core::store::Locale;

use crate::error::{Result, guard};
use crate::records::{Answer, Choice, Form, parse_id};
use crate::store::{FieldStore, scope};

/// Where and how a response is filled in.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FormLocale {
    /// Language of labels and messages: `en`, `zh-CN`, or a form language name
    /// (`English (en)`); `None` — or a language the form does not have — gives the
    /// form's default texts.
    #[uniffi(default)]
    pub language: Option<String>,
    /// The device's offset from UTC in minutes now (480 in China), for `today()`,
    /// `now()` and the start/end times. Required: a default of 0 would silently put
    /// every date in UTC.
    pub utc_offset_minutes: i32,
}

fn locale(l: FormLocale) -> Locale {
    Locale {
        language: l.language,
        utc_offset_minutes: l.utc_offset_minutes,
    }
}

/// A question (or group, or repeat) in one repeat instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct FormNode {
    /// The element's id.
    pub question: String,
    /// 0-based instance index in each enclosing repeat, outermost first; empty outside
    /// repeats.
    #[uniffi(default)]
    pub instance: Vec<u32>,
}

impl From<FormNode> for cf::NodeRef {
    fn from(n: FormNode) -> Self {
        cf::NodeRef {
            question: n.question,
            instance: n.instance,
        }
    }
}
impl From<cf::NodeRef> for FormNode {
    fn from(n: cf::NodeRef) -> Self {
        FormNode {
            question: n.question,
            instance: n.instance,
        }
    }
}

/// The state of one node after evaluation.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NodeState {
    /// The node.
    pub node: FormNode,
    /// Shown (its relevant and every enclosing group's hold).
    pub visible: bool,
    /// Must be answered before completion.
    pub required: bool,
    /// May not be edited.
    pub read_only: bool,
    /// Its value as the form's expressions see it (answer or calculation), as text.
    pub value: String,
    /// For a repeat with a `repeat_count`: how many instances it should have.
    pub expected_instances: Option<u32>,
    /// Its label in the language asked for.
    pub label: String,
}

/// What kind of problem an answer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FormIssueKind {
    /// A required question is unanswered.
    Required,
    /// The answer breaks the question's constraint.
    Constraint,
    /// The answer does not fit the type, choices or scale.
    Invalid,
    /// An expression of the question could not be evaluated.
    Expression,
}

/// A problem with one answer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FormIssue {
    /// Where.
    pub node: FormNode,
    /// The field path, as in `FieldsyncError.Validation` (`answers.q`,
    /// `repeats.r[0].answers.q`).
    pub field: String,
    /// What kind of problem.
    pub kind: FormIssueKind,
    /// Stable code (`required`, `constraint`, `unknown_choice`, ...).
    pub code: String,
    /// The form's message (in the language asked for), or the engine's.
    pub message: String,
}

/// A response evaluated against its form.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FormEvaluation {
    /// Every node, in form order.
    pub nodes: Vec<NodeState>,
    /// Everything that stops completion (type problems also stop saving).
    pub issues: Vec<FormIssue>,
    /// True when `complete_response` would succeed.
    pub can_complete: bool,
}

/// One problem found while importing an XLSForm.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ImportIssue {
    /// The sheet (`survey`, `choices`, `settings`).
    pub sheet: String,
    /// 1-based spreadsheet row (the header is row 1).
    pub row: Option<u32>,
    /// The column header.
    pub column: Option<String>,
    /// Stable code.
    pub code: String,
    /// What is wrong.
    pub message: String,
}

impl From<xlsform::ImportIssue> for ImportIssue {
    fn from(i: xlsform::ImportIssue) -> Self {
        ImportIssue {
            sheet: i.sheet,
            row: i.row.and_then(|r| u32::try_from(r).ok()),
            column: i.column,
            code: i.code.to_string(),
            message: i.message,
        }
    }
}

/// The result of importing an XLSForm: the form, or the errors (never both).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FormImport {
    /// The normalised form (version 1, unpublished), when the import succeeded.
    pub form: Option<Form>,
    /// Errors: each names its sheet, row and column.
    pub errors: Vec<ImportIssue>,
    /// Things worth knowing that did not stop the import.
    pub warnings: Vec<ImportIssue>,
}

/// Import an XLSForm spreadsheet. `file_name` picks the format by its extension
/// (`.xlsx`, `.csv`, `.json`).
#[uniffi::export]
pub fn import_xlsform(bytes: Vec<u8>, file_name: String) -> Result<FormImport> {
    guard(|| {
        let Some(format) = xlsform::Format::from_path(std::path::Path::new(&file_name)) else {
            return Err(crate::error::FieldsyncError::InvalidArgument {
                message: "XLSForms are .xlsx, .csv or .json files".into(),
            });
        };
        Ok(match xlsform::import_bytes(&bytes, format) {
            Ok(i) => FormImport {
                form: Some(i.form.into()),
                errors: Vec::new(),
                warnings: i.warnings.into_iter().map(Into::into).collect(),
            },
            Err(e) => FormImport {
                form: None,
                errors: e.errors.into_iter().map(Into::into).collect(),
                warnings: e.warnings.into_iter().map(Into::into).collect(),
            },
        })
    })
}

#[uniffi::export]
impl FieldStore {
    /// Start a draft response to form version `form_id` in `scope`: the form's defaults
    /// and metadata (start time, day, device, user) are filled in. Returns its id.
    pub fn start_response(
        &self,
        scope_name: String,
        form_id: String,
        region: String,
        locale_info: FormLocale,
    ) -> Result<String> {
        guard(|| {
            Ok(self
                .inner
                .start_response(
                    &scope(&scope_name)?,
                    parse_id(&form_id)?,
                    &region,
                    &locale(locale_info),
                    |_| {},
                )?
                .to_string())
        })
    }

    /// Evaluate response `id` against its form: which questions are shown, required,
    /// read-only, their values (calculations included) and every problem. Call it
    /// after each answer to refresh the screen.
    pub fn evaluate_response(&self, id: String, locale_info: FormLocale) -> Result<FormEvaluation> {
        guard(|| {
            Ok(self
                .inner
                .with_evaluation(parse_id(&id)?, &locale(locale_info), |_, ev| {
                    let nodes = ev
                        .elements()
                        .into_iter()
                        .map(|s| NodeState {
                            label: ev.label(&s.node.question).unwrap_or("").to_string(),
                            value: s.value.as_string(),
                            node: s.node.into(),
                            visible: s.visible,
                            required: s.required,
                            read_only: s.read_only,
                            expected_instances: s.expected_instances,
                        })
                        .collect();
                    let issues: Vec<FormIssue> = ev
                        .issues()
                        .into_iter()
                        .map(|i| FormIssue {
                            field: i.node.field(ev.form()),
                            node: i.node.into(),
                            kind: match i.kind {
                                cf::IssueKind::Required => FormIssueKind::Required,
                                cf::IssueKind::Constraint => FormIssueKind::Constraint,
                                cf::IssueKind::Invalid => FormIssueKind::Invalid,
                                cf::IssueKind::Expression => FormIssueKind::Expression,
                            },
                            code: i.code.to_string(),
                            message: i.message,
                        })
                        .collect();
                    FormEvaluation {
                        can_complete: issues.is_empty(),
                        nodes,
                        issues,
                    }
                })?)
        })
    }

    /// The choices a select question offers now (its `choice_filter` applied), with
    /// labels in the language asked for. An unknown node is a `Validation` error
    /// (`unknown_node`).
    pub fn offered_choices(
        &self,
        id: String,
        node: FormNode,
        locale_info: FormLocale,
    ) -> Result<Vec<Choice>> {
        guard(|| {
            Ok(self
                .inner
                .offered_choices(parse_id(&id)?, &node.into(), &locale(locale_info))?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Set (or, with `None`, clear) the answer at `node` — top level or inside a repeat
    /// instance. Checked against the question's type, choices and scale; a score
    /// question also takes a choice name or a number. Returns true when it changed
    /// something.
    pub fn set_form_answer(
        &self,
        id: String,
        node: FormNode,
        answer: Option<Answer>,
    ) -> Result<bool> {
        guard(|| {
            Ok(self
                .inner
                .set_answer(parse_id(&id)?, &node.into(), answer.map(Into::into))?)
        })
    }

    /// Add an instance to repeat `repeat_id` (inside the instances `parent` of its enclosing
    /// repeats); returns the new instance's path.
    pub fn add_repeat_instance(
        &self,
        id: String,
        repeat_id: String,
        parent: Vec<u32>,
    ) -> Result<Vec<u32>> {
        guard(|| {
            Ok(self
                .inner
                .add_repeat_instance(parse_id(&id)?, &repeat_id, &parent)?)
        })
    }

    /// Mark the response complete: calculations and the end time are written, and
    /// every required answer and constraint is checked — the first problem is a
    /// `Validation` error and nothing is written. False when it was already complete.
    pub fn complete_response(&self, id: String, locale_info: FormLocale) -> Result<bool> {
        guard(|| {
            Ok(self
                .inner
                .complete_response(parse_id(&id)?, &locale(locale_info))?)
        })
    }
}
