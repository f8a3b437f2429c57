//! The forms engine: XLSForm import, expressions, and the evaluation of skip logic,
//! validation and calculations on the device.
//!
//! - [`xlsform`] reads an XLSForm workbook (`.xlsx`, `.csv`, `.json`) into a
//!   [`Form`](crate::model::Form); every error names its sheet, row and column.
//! - [`expr`] parses and evaluates the XPath subset XLSForm uses.
//! - [`engine`] compiles a form version once (every expression parsed, references
//!   resolved, a dependency graph built) and evaluates a response against it:
//!   which elements are visible, required, read-only, which answers are invalid and
//!   why, the values of calculations — recomputed incrementally as answers change.
//!
//! The store validates every local write of a response through the engine, so a
//! response cannot be marked complete while invalid, on any device.

pub mod columns;
pub mod engine;
pub mod expr;
pub mod xlsform;

pub use engine::{
    CompiledForm, ElementState, EvalContext, Evaluation, FormError, Issue, IssueKind, NodeRef,
};

use crate::error::{Error, ValidationError};
use crate::model::Form;

/// Check that every expression of `form` parses and names only its own elements.
/// Called by [`Form`]'s validation, so no device stores a form the engine cannot run.
pub fn check(form: &Form) -> Result<(), Error> {
    CompiledForm::compile(form).map(|_| ()).map_err(|e| {
        Error::from(ValidationError::new(
            e.field.clone(),
            e.code,
            e.message.clone(),
        ))
    })
}
