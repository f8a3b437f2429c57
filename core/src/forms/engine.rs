//! The form engine: a form version compiled once, and responses evaluated against it.
//!
//! [`CompiledForm::compile`] parses every expression of a form, resolves every
//! `${name}` to an element, and orders the elements so that everything an expression
//! reads is computed before it (a cycle is a compile error). For each element it keeps
//! the list of elements that must be recomputed when it changes, in that order.
//!
//! [`CompiledForm::evaluate`] turns a response into an [`Evaluation`]: per node (an
//! element, or an element inside one instance of a repeat) whether it is visible
//! (relevant), required, read-only, its value (answers, and calculations computed),
//! and what is wrong with it. [`Evaluation::set_answer`] changes one answer and
//! recomputes only what depends on it — skip logic stays instant on 300-question forms.
//!
//! Semantics worth knowing (kept in docs/forms.md):
//! - a node inside a non-relevant group is non-relevant; a non-relevant node's value
//!   reads as empty in every expression, takes no part in validation, and is kept in
//!   the document (another edit may make it relevant again);
//! - `required` and `constraint` are enforced when a response leaves draft; type,
//!   choice and scale checks on every write;
//! - calculations are evaluated live; [`CompiledForm::finalize`] writes them (and the
//!   `end` timestamp) into the response when it is completed, so exports and the
//!   back office read the values the enumerator saw.

mod eval;
mod types;

use std::collections::{BTreeMap, HashMap, HashSet};

pub use eval::{ElementState, Evaluation, Issue, IssueKind, NodeRef, RESPONDENT_ROLES};

use super::expr::Expr;
use crate::ids::Timestamp;
use crate::model::{Form, QuestionKind};

/// Why a form cannot be compiled: the element and column at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message} ({code})")]
pub struct FormError {
    /// The field path, e.g. `questions[3].relevant`.
    pub field: String,
    /// The element's id, when the error belongs to one.
    pub question: Option<String>,
    /// The XLSForm column, e.g. `relevant`.
    pub column: Option<&'static str>,
    /// Stable code.
    pub code: &'static str,
    /// What is wrong (no survey content).
    pub message: String,
}

/// Who and when, for metadata, `now()` and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalContext {
    /// Now, in milliseconds since the epoch (UTC).
    pub now: Timestamp,
    /// The device's local offset from UTC, in minutes (for `today()` and `now()`).
    pub utc_offset_minutes: i32,
    /// The device id (`deviceid` metadata).
    pub device_id: String,
    /// The user id (`username` metadata).
    pub username: String,
    /// The language texts are wanted in (`en`, `zh-CN`, or a form language name);
    /// `None` for the form's default texts.
    pub language: Option<String>,
}

impl EvalContext {
    /// A context at `now` with UTC offset 0 and no device or user.
    pub fn at(now: Timestamp) -> Self {
        EvalContext {
            now,
            utc_offset_minutes: 0,
            device_id: String::new(),
            username: String::new(),
            language: None,
        }
    }
}

/// A `required` column: never, always, or while an expression holds.
#[derive(Debug, Clone)]
pub(crate) enum Required {
    No,
    Yes,
    If(Expr),
}

/// An element's `default`: a literal value, or (when it reads other answers or calls
/// functions) an expression evaluated once when the node comes into being.
#[derive(Debug, Clone)]
pub(crate) enum DefaultValue {
    Literal(String),
    Dynamic(Expr),
}

/// One element, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    pub(crate) kind: QuestionKind,
    /// Index of the enclosing group or repeat.
    pub(crate) parent: Option<usize>,
    /// Enclosing repeats, outermost first (the element itself when it is a repeat is
    /// not included).
    pub(crate) repeats: Vec<usize>,
    pub(crate) relevant: Option<Expr>,
    pub(crate) constraint: Option<Expr>,
    pub(crate) required: Required,
    pub(crate) calculation: Option<Expr>,
    pub(crate) read_only: Option<Expr>,
    pub(crate) choice_filter: Option<Expr>,
    pub(crate) repeat_count: Option<Expr>,
    pub(crate) default: Option<DefaultValue>,
    /// Numeric parameters of a range question: (start, end, step).
    pub(crate) range: Option<(f64, f64, f64)>,
}

impl Element {
    /// The repeat chain of nodes of this element: for a repeat, its own instances are
    /// addressed too.
    pub(crate) fn node_repeats(&self, me: usize) -> Vec<usize> {
        let mut r = self.repeats.clone();
        if self.kind == QuestionKind::Repeat {
            r.push(me);
        }
        r
    }
}

/// A form version compiled for evaluation. Cheap to share (`Arc`), immutable.
#[derive(Debug)]
pub struct CompiledForm {
    pub(crate) form: Form,
    pub(crate) elements: Vec<Element>,
    pub(crate) index: HashMap<String, usize>,
    /// Every element in an order where what an element's expressions read (and its
    /// parent) comes before it.
    pub(crate) order: Vec<usize>,
    /// Per element: the elements to recompute when it changes, in `order`.
    pub(crate) affected: Vec<Vec<usize>>,
    /// Language resolved per requested language string.
    pub(crate) choice_index: HashMap<(usize, String), usize>,
}

fn looks_dynamic(src: &str) -> bool {
    src.contains("${") || src.contains('(')
}

fn parse_range(params: &BTreeMap<String, String>) -> Result<(f64, f64, f64), &'static str> {
    let get = |k: &str, d: f64| -> Result<f64, &'static str> {
        match params.get(k) {
            None => Ok(d),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or("range parameters must be numbers"),
        }
    };
    let (start, end, step) = (get("start", 1.0)?, get("end", 10.0)?, get("step", 1.0)?);
    if step <= 0.0 {
        return Err("the range step must be positive");
    }
    if start == end {
        return Err("the range start and end must differ");
    }
    Ok((start, end, step))
}

impl CompiledForm {
    /// Compile: parse every expression, resolve every reference, order the elements.
    pub fn compile(form: &Form) -> Result<CompiledForm, FormError> {
        let mut index: HashMap<String, usize> = HashMap::with_capacity(form.questions.len());
        for (i, q) in form.questions.iter().enumerate() {
            if index.insert(q.id.clone(), i).is_some() {
                return Err(FormError {
                    field: format!("questions[{i}].id"),
                    question: Some(q.id.clone()),
                    column: Some("name"),
                    code: "duplicate",
                    message: "element ids must be unique in the form".into(),
                });
            }
        }
        let mut elements: Vec<Element> = Vec::with_capacity(form.questions.len());
        // What each element's expressions read.
        let mut reads: Vec<Vec<usize>> = Vec::with_capacity(form.questions.len());
        for (i, q) in form.questions.iter().enumerate() {
            let err = |col: &'static str, code: &'static str, message: String| FormError {
                field: format!("questions[{i}].{col}"),
                question: Some(q.id.clone()),
                column: Some(col),
                code,
                message,
            };
            let parent = match &q.group {
                None => None,
                Some(g) => match index.get(g) {
                    Some(&p)
                        if p < i
                            && form
                                .questions
                                .get(p)
                                .is_some_and(|pq| pq.kind.is_container()) =>
                    {
                        Some(p)
                    }
                    _ => {
                        return Err(err(
                            "group",
                            "unknown_group",
                            "the enclosing group must be a group or repeat declared earlier".into(),
                        ));
                    }
                },
            };
            let repeats = match parent {
                None => Vec::new(),
                Some(p) => elements[p].node_repeats(p),
            };
            let mut my_reads = Vec::new();
            let mut parse =
                |col: &'static str, src: &Option<String>| -> Result<Option<Expr>, FormError> {
                    let Some(src) = src else { return Ok(None) };
                    if src.trim().is_empty() {
                        return Ok(None);
                    }
                    let parsed = if col == "choice_filter" {
                        Expr::parse_choice_filter(src)
                    } else {
                        Expr::parse(src)
                    };
                    let e = parsed.map_err(|e| {
                        err(
                            col,
                            e.code,
                            format!("{} (at character {})", e.message, e.position),
                        )
                    })?;
                    for r in e.references() {
                        match index.get(r.as_str()) {
                            Some(&t) => my_reads.push(t),
                            None => {
                                return Err(err(
                                    col,
                                    "unknown_reference",
                                    format!("${{{r}}} names no element of this form"),
                                ));
                            }
                        }
                    }
                    Ok(Some(e))
                };
            let relevant = parse("relevant", &q.relevant)?;
            let constraint = parse("constraint", &q.constraint)?;
            let required_if = parse("required", &q.required_if)?;
            let calculation = parse("calculation", &q.calculation)?;
            let read_only = parse("read_only", &q.read_only)?;
            let choice_filter = parse("choice_filter", &q.choice_filter)?;
            let repeat_count = parse("repeat_count", &q.repeat_count)?;
            let default = match &q.default {
                Some(d) if looks_dynamic(d) => {
                    parse("default", &Some(d.clone()))?.map(DefaultValue::Dynamic)
                }
                Some(d) if !d.is_empty() => Some(DefaultValue::Literal(d.clone())),
                _ => None,
            };
            if q.kind == QuestionKind::Calculate && calculation.is_none() {
                return Err(err(
                    "calculation",
                    "required",
                    "a calculate element needs a calculation".into(),
                ));
            }
            if repeat_count.is_some() && q.kind != QuestionKind::Repeat {
                return Err(err(
                    "repeat_count",
                    "invalid",
                    "only a repeat takes a repeat_count".into(),
                ));
            }
            let range = if q.kind == QuestionKind::Range
                || (q.kind == QuestionKind::Score
                    && q.xls_type
                        .as_deref()
                        .is_some_and(|t| t.trim().starts_with("range")))
            {
                Some(
                    parse_range(&q.parameters)
                        .map_err(|m| err("parameters", "invalid_range", m.into()))?,
                )
            } else {
                None
            };
            let required = match (&required_if, q.required) {
                (Some(e), _) => Required::If(e.clone()),
                (None, true) => Required::Yes,
                (None, false) => Required::No,
            };
            // The parent's relevance flows into the child.
            if let Some(p) = parent {
                my_reads.push(p);
            }
            my_reads.sort_unstable();
            my_reads.dedup();
            reads.push(my_reads);
            elements.push(Element {
                kind: q.kind,
                parent,
                repeats,
                relevant,
                constraint,
                required,
                calculation,
                read_only,
                choice_filter,
                repeat_count,
                default,
                range,
            });
        }
        let order = topo_order(form, &reads)?;
        // Reverse edges, then the transitive closure per element in `order`.
        let n = elements.len();
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (e, rs) in reads.iter().enumerate() {
            for &r in rs {
                if r != e {
                    readers[r].push(e);
                }
            }
        }
        let mut pos = vec![0usize; n];
        for (p, &e) in order.iter().enumerate() {
            pos[e] = p;
        }
        let mut affected = Vec::with_capacity(n);
        for e in 0..n {
            let mut seen: HashSet<usize> = HashSet::new();
            let mut stack = vec![e];
            while let Some(x) = stack.pop() {
                for &y in &readers[x] {
                    if seen.insert(y) {
                        stack.push(y);
                    }
                }
            }
            let mut v: Vec<usize> = seen.into_iter().collect();
            v.sort_unstable_by_key(|&x| pos[x]);
            affected.push(v);
        }
        let mut choice_index = HashMap::new();
        for (i, q) in form.questions.iter().enumerate() {
            for (c_i, c) in form.choices(q).iter().enumerate() {
                choice_index.entry((i, c.value.clone())).or_insert(c_i);
            }
        }
        Ok(CompiledForm {
            form: form.clone(),
            elements,
            index,
            order,
            affected,
            choice_index,
        })
    }

    /// The form this was compiled from.
    pub fn form(&self) -> &Form {
        &self.form
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// True for a form without elements.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The index of an element by id.
    pub fn element_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// How many repeats enclose element `e` (0 at top level).
    pub fn repeat_depth(&self, e: usize) -> usize {
        self.elements.get(e).map_or(0, |el| el.repeats.len())
    }

    /// Number of expressions in the form (for figures and tests).
    pub fn expression_count(&self) -> usize {
        self.elements
            .iter()
            .map(|e| {
                [
                    e.relevant.is_some(),
                    e.constraint.is_some(),
                    matches!(e.required, Required::If(_)),
                    e.calculation.is_some(),
                    e.read_only.is_some(),
                    e.choice_filter.is_some(),
                    e.repeat_count.is_some(),
                    matches!(e.default, Some(DefaultValue::Dynamic(_))),
                ]
                .iter()
                .filter(|b| **b)
                .count()
            })
            .sum()
    }
}

/// Order elements so that everything an element reads comes first; a cycle is an
/// error naming one element on it.
fn topo_order(form: &Form, reads: &[Vec<usize>]) -> Result<Vec<usize>, FormError> {
    let n = reads.len();
    // 0 = unvisited, 1 = on the stack, 2 = done. Iterative, so deep chains cannot
    // overflow the stack.
    let mut state = vec![0u8; n];
    let mut order = Vec::with_capacity(n);
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&dep) = reads[node].get(*next) {
                *next += 1;
                if dep == node {
                    // `${me}` inside my own expression reads my current value: fine
                    // for constraints and once(); no ordering edge.
                    continue;
                }
                match state[dep] {
                    0 => {
                        state[dep] = 1;
                        stack.push((dep, 0));
                    }
                    1 => {
                        let q = &form.questions[node];
                        return Err(FormError {
                            field: format!("questions[{node}]"),
                            question: Some(q.id.clone()),
                            column: None,
                            code: "dependency_cycle",
                            message: format!(
                                "the expressions of {} and {} depend on each other",
                                q.id, form.questions[dep].id
                            ),
                        });
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                order.push(node);
                stack.pop();
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests;
