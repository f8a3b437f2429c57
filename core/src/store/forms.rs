//! Responses through the forms engine: start one with its defaults and metadata,
//! evaluate it (skip logic, validation, calculations) and complete it.
//!
//! Forms are compiled once per published version and cached by the store; every
//! write of a response is validated by the same engine ([`crate::model::Response`]'s
//! validation), so these functions only add what a form-filling app needs on top of
//! `create`/`update`.

use std::sync::Arc;

use super::{Ctx, Store};
use crate::error::{Error, Result};
use crate::forms::CompiledForm;
use crate::forms::engine::{EvalContext, Evaluation};
use crate::ids::{DocId, Scope};
use crate::model::{RecordContext, Response, ResponseStatus};

/// Where and how a response is being filled: the language texts are wanted in and the
/// device's local offset from UTC (for `today()`, `now()` and the metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locale {
    /// `en`, `zh-CN`, or a form language name; `None` for the form's default texts.
    pub language: Option<String>,
    /// Minutes east of UTC, e.g. 480 for China Standard Time.
    pub utc_offset_minutes: i32,
}

impl Store {
    /// The compiled form version `form_id` (cached once published).
    pub fn compiled_form(&self, form_id: DocId) -> Result<Arc<CompiledForm>> {
        Ctx {
            store: self,
            now: self.now(),
        }
        .compiled_form(&form_id)
    }

    /// The evaluation context of this store's device and user, now.
    pub fn eval_context(&self, locale: &Locale) -> EvalContext {
        EvalContext {
            now: self.now(),
            utc_offset_minutes: locale.utc_offset_minutes,
            device_id: self.device_id().to_string(),
            username: self.user_id().to_string(),
            language: locale.language.clone(),
        }
    }

    /// Start a draft response to form version `form_id` in `scope`: `edit` fills what
    /// the app knows (respondent, region, location, first answers), then the form's
    /// defaults and metadata (`start`, `today`, `deviceid`, `username`) are filled
    /// where no answer was given. Validated and stored like any create.
    pub fn start_response(
        &self,
        scope: &Scope,
        form_id: DocId,
        region: &str,
        locale: &Locale,
        edit: impl FnOnce(&mut Response),
    ) -> Result<DocId> {
        let form = self.compiled_form(form_id)?;
        let ctx = self.eval_context(locale);
        let mut r = Response::draft(
            form_id.to_string(),
            form.form().version,
            self.user_id(),
            region,
            ctx.now,
        );
        edit(&mut r);
        form.prefill(&mut r, &ctx);
        self.create(scope, &r)
    }

    /// Evaluate response `id` against its form and hand the evaluation to `f`.
    pub fn with_evaluation<T>(
        &self,
        id: DocId,
        locale: &Locale,
        f: impl FnOnce(&Response, &Evaluation<'_>) -> T,
    ) -> Result<T> {
        let r: Response = self.get(id)?;
        let form = self.compiled_form(parse_form_id(&r)?)?;
        let ev = form.evaluate(&r, &self.eval_context(locale));
        Ok(f(&r, &ev))
    }

    /// The choices `node` of response `id` offers now (choice filter applied), labels
    /// in the locale's language. An unknown node is a validation error.
    pub fn offered_choices(
        &self,
        id: DocId,
        node: &crate::forms::NodeRef,
        locale: &Locale,
    ) -> Result<Vec<crate::model::Choice>> {
        self.with_evaluation(id, locale, |_, ev| ev.offered_choices(node))?
            .ok_or_else(|| {
                Error::Validation(crate::error::ValidationError::new(
                    format!("answers.{}", node.question),
                    "unknown_node",
                    "no such question or repeat instance in this response",
                ))
            })
    }

    /// Mark response `id` complete: calculations and the `end` timestamp are written
    /// as the engine computes them now, then the response is validated in full
    /// (required answers, constraints); on any violation nothing is written and the
    /// first problem is returned as [`Error::Validation`]. Returns false when it was
    /// already complete (or reviewed).
    pub fn complete_response(&self, id: DocId, locale: &Locale) -> Result<bool> {
        let ctx = self.eval_context(locale);
        let mut was_draft = false;
        self.update::<Response>(id, |r| {
            if r.status != ResponseStatus::Draft {
                return Ok(());
            }
            was_draft = true;
            let form = self.compiled_form(parse_form_id(r)?)?;
            form.finalize(r, &ctx);
            r.status = ResponseStatus::Complete;
            r.completed_at = Some(ctx.now.max(r.started_at));
            Ok(())
        })?;
        Ok(was_draft)
    }
}

impl Store {
    /// Set (or, with `None`, clear) the answer at `node` of response `id` — top level
    /// or inside a repeat instance. A score question also takes a choice name or a
    /// number ([`crate::forms::CompiledForm::normalize_answer`]). Validated like any
    /// write; returns whether anything changed.
    pub fn set_answer(
        &self,
        id: DocId,
        node: &crate::forms::NodeRef,
        answer: Option<crate::model::Answer>,
    ) -> Result<bool> {
        self.update::<Response>(id, |r| {
            let form = self.compiled_form(parse_form_id(r)?)?;
            let answers = form.answers_mut(r, node).ok_or_else(|| {
                Error::Validation(crate::error::ValidationError::new(
                    format!("answers.{}", node.question),
                    "unknown_node",
                    "no such question or repeat instance in this response",
                ))
            })?;
            match answer {
                Some(a) => answers.insert(
                    node.question.clone(),
                    form.normalize_answer(&node.question, a),
                ),
                None => answers.remove(&node.question),
            };
            Ok(())
        })
    }

    /// Add an instance to `repeat` of response `id` (inside the instances `parent` of
    /// its enclosing repeats); returns the new instance's path.
    pub fn add_repeat_instance(&self, id: DocId, repeat: &str, parent: &[u32]) -> Result<Vec<u32>> {
        let mut path = Vec::new();
        self.update::<Response>(id, |r| {
            let form = self.compiled_form(parse_form_id(r)?)?;
            path = form.add_instance(r, repeat, parent)?;
            Ok(())
        })?;
        Ok(path)
    }
}

fn parse_form_id(r: &Response) -> Result<DocId> {
    r.form_id.parse().map_err(|_| {
        Error::Validation(crate::error::ValidationError::new(
            "form_id",
            "invalid_reference",
            "not a document id",
        ))
    })
}
