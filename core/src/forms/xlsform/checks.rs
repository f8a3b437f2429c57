//! Checks that need the whole form, run after the survey pass: `${name}` references
//! in every cell (pyxform's `validate_pyxform_references_in_workbook`), expressions
//! parsed by [`Expr::parse`], `trigger` targets, duplicate choice names, and finally
//! the model's own validation of the form, so an import never yields a form the
//! store would refuse.

use std::collections::{HashMap, HashSet};

use super::build::{Builder, short};
use crate::error::Error;
use crate::forms::expr::Expr;
use crate::ids::{DocId, Timestamp};
use crate::model::{Form, Record, RecordContext};

/// pyxform's reference syntax: every `${...}` must hold a name (optionally
/// `last-saved#name`). `Err` for a malformed one; `${}` is ignored, as pyxform does.
pub(super) fn scan_refs(v: &str) -> Result<Vec<String>, ()> {
    let mut out = Vec::new();
    if v.len() <= 2 || !v.contains("${") {
        return Ok(out);
    }
    let mut rest = v;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        match after.find('}') {
            None => return Err(()),
            Some(0) => {
                rest = &rest[i + 1..];
            }
            Some(j) => {
                let inner = &after[..j];
                let name = inner.strip_prefix("last-saved#").unwrap_or(inner);
                if !ncname(name) {
                    return Err(());
                }
                out.push(name.to_string());
                rest = &after[j + 1..];
            }
        }
    }
    Ok(out)
}

/// An XML NCName (Unicode letters allowed, no colon).
fn ncname(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_alphabetic() || c == '_')
        && cs.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '\u{b7}'))
}

/// The form's own validation needs no store: forms refer to nothing else.
struct NoContext;

impl RecordContext for NoContext {
    fn form(&self, id: &DocId) -> Result<Form, Error> {
        Err(Error::NotFound { id: *id })
    }
    fn now(&self) -> Timestamp {
        0
    }
}

impl Builder {
    /// Every whole-form check.
    pub(super) fn check_all(&mut self) {
        self.check_duplicate_choices();
        let malformed = self.check_references();
        self.check_expressions(&malformed);
        self.check_triggers();
    }

    fn check_duplicate_choices(&mut self) {
        let sheet = self.choices_sheet.clone();
        let mut problems = Vec::new();
        for (name, l) in &self.lists {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            let dups: Vec<(usize, &str, usize)> = l
                .choices
                .iter()
                .zip(&l.rows)
                .filter_map(|(c, row)| match seen.get(c.value.as_str()) {
                    Some(first) => Some((*row, c.value.as_str(), *first)),
                    None => {
                        seen.insert(&c.value, *row);
                        None
                    }
                })
                .collect();
            if dups.is_empty() {
                continue;
            }
            let (unfiltered, filtered) = self.list_use.get(name).copied().unwrap_or_default();
            // A list used only with a choice_filter may repeat names (the filter
            // tells them apart); one used unfiltered may not, nor an unused one unless
            // the setting allows it.
            if !unfiltered && (filtered || self.allow_choice_duplicates) {
                continue;
            }
            for (row, value, first) in dups {
                problems.push((
                    row,
                    format!(
                        "choice `{}` of list `{}` repeats row {first}; choice names must be unique \
                         in a list used without a choice_filter",
                        short(value),
                        short(name)
                    ),
                ));
            }
        }
        for (row, msg) in problems {
            self.is
                .error(&sheet, Some(row), Some("name"), "duplicate_choice", msg);
        }
    }

    /// `${...}` in every cell: well-formed, naming a row of the survey sheet. Returns
    /// the (row, column) cells with a malformed reference.
    fn check_references(&mut self) -> HashSet<(usize, String)> {
        let mut malformed = HashSet::new();
        let cells = std::mem::take(&mut self.ref_cells);
        for (sheet, row, header, value) in &cells {
            match scan_refs(value) {
                Err(()) => {
                    if *sheet == self.survey_sheet {
                        malformed.insert((*row, header.clone()));
                    }
                    self.is.error(
                        sheet,
                        Some(*row),
                        Some(header),
                        "invalid_reference",
                        "a reference must be `${` then a question name then `}`",
                    );
                }
                Ok(names) => {
                    for n in names {
                        if !self.names.contains_key(&n) {
                            self.is.error(
                                sheet,
                                Some(*row),
                                Some(header),
                                "unknown_reference",
                                format!("`${{{}}}` names no row of the survey sheet", short(&n)),
                            );
                        }
                    }
                }
            }
        }
        malformed
    }

    fn check_expressions(&mut self, malformed: &HashSet<(usize, String)>) {
        let sheet = self.survey_sheet.clone();
        for (row, header, src) in std::mem::take(&mut self.exprs) {
            if malformed.contains(&(row, header.clone())) {
                continue;
            }
            let parsed = if header == "choice_filter" {
                Expr::parse_choice_filter(&src)
            } else {
                Expr::parse(&src)
            };
            if let Err(e) = parsed {
                self.is.error(
                    &sheet,
                    Some(row),
                    Some(&header),
                    e.code,
                    format!(
                        "{} (at character {})",
                        short_message(&e.message),
                        e.position
                    ),
                );
            }
        }
    }

    fn check_triggers(&mut self) {
        let sheet = self.survey_sheet.clone();
        for (row, header, value) in std::mem::take(&mut self.triggers) {
            let names = match scan_refs(&value) {
                Ok(names) if !names.is_empty() => names,
                _ => {
                    self.is.error(
                        &sheet,
                        Some(row),
                        Some(&header),
                        "invalid_trigger",
                        "a trigger is one or more `${name}` references, separated by commas",
                    );
                    continue;
                }
            };
            for n in names {
                if !self.question_names.contains(&n) {
                    self.is.error(
                        &sheet,
                        Some(row),
                        Some(&header),
                        "unknown_reference",
                        format!("the trigger `${{{}}}` names no question", short(&n)),
                    );
                }
            }
        }
    }

    /// The model's validation of the imported form, mapped back to the sheet. Runs
    /// only when the import found nothing else wrong (earlier errors explain more).
    pub(super) fn validate(&mut self, form: &Form) {
        if !self.is.errors.is_empty() {
            return;
        }
        let Err(e) = form.validate(None, &NoContext) else {
            return;
        };
        let (field, code, message) = match &e {
            Error::Validation(v) => (v.field.clone(), v.code, v.message.clone()),
            other => (String::new(), "invalid", other.to_string()),
        };
        // `questions[3].relevant` -> survey row of element 3, column `relevant`.
        let mut row = None;
        let mut column = None;
        if let Some(rest) = field.strip_prefix("questions[")
            && let Some((i, tail)) = rest.split_once(']')
            && let Ok(i) = i.parse::<usize>()
        {
            row = self.q_rows.get(i).copied();
            column = tail.strip_prefix('.').map(str::to_string);
        }
        let sheet = if row.is_some() {
            self.survey_sheet.clone()
        } else {
            self.settings_sheet.clone()
        };
        let column = column.or_else(|| (!field.is_empty()).then_some(field));
        self.is.error(
            &sheet,
            row,
            column.as_deref(),
            code,
            short_message(&message),
        );
    }
}

/// A parser or validator message, cut to a sane length.
fn short_message(m: &str) -> String {
    const MAX: usize = 200;
    if m.chars().count() <= MAX {
        m.to_string()
    } else {
        m.chars().take(MAX).collect::<String>() + "…"
    }
}
