//! XLSForm expressions: the XPath 1.0 subset that XLSForm, ODK and JavaRosa use in
//! `relevant`, `constraint`, `required`, `calculation`, `read_only`, `choice_filter`
//! and `repeat_count`.
//!
//! An expression is parsed once, when a form is imported or compiled
//! ([`Expr::parse`]). Syntax errors, unknown functions, wrong argument counts,
//! unsupported XPath (paths, predicates, `instance()`) and literal regular expressions
//! the `regex` crate cannot run are reported there, with a stable code and the
//! character position. The result is a small tree with function names resolved and
//! literal patterns compiled; [`Expr::eval`] walks it against an [`Env`], which
//! supplies answers (`${name}`), the current value (`.`), the repeat position, choice
//! labels and the clock.
//!
//! Parts: `lexer` (tokens), `parser` (precedence, limits, special forms), `eval`
//! (operators, comparisons), `functions` (the library, [`SUPPORTED_FUNCTIONS`]), `time`
//! (calendar arithmetic and ISO 8601 text, no date library; crate-visible because the
//! form engine reads and writes date answers with it).
//!
//! ## Values
//!
//! Conversions follow XPath 1.0 as JavaRosa implements it ([`Value::as_number`],
//! [`Value::as_str`], [`Value::as_bool`]): text is a number only when it is a plain
//! decimal (`-12.5`, not `1e3` or `+1`), so the empty string is NaN in arithmetic;
//! numbers print without `.0`, NaN as `NaN`; a node-set (answers of a question in a
//! repeat) is its first node as text or number and true when not empty; a date is its
//! day number, a date-time its (fractional) day number. Comparisons and arithmetic are
//! described in `eval`; where JavaRosa and XPath differ, JavaRosa wins (`round` half
//! away from zero, `substr` with negative indexes, `concat` of whole node-sets, dates
//! against ISO text). Division by zero is Infinity or NaN, never an error.
//!
//! ## Limits
//!
//! Input is untrusted (forms come from spreadsheets, answers from people), so `parse`
//! and `eval` never panic: sources are capped at [`MAX_SOURCE_BYTES`], nesting at
//! [`MAX_DEPTH`] (the evaluator's recursion follows the tree, so it is bounded too),
//! the tree at [`MAX_NODES`] parts and a call at [`MAX_ARGS`] arguments; regular
//! expressions have a compiled-size limit and run in linear time. At the deepest
//! nesting allowed, a release build needs under 128 KiB of stack to parse and under
//! 64 KiB to evaluate (a test checks both on a small thread). Errors name the
//! expression's own parts, never an answer.

mod eval;
mod functions;
mod lexer;
mod parser;
pub(crate) mod time;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

use crate::ids::Timestamp;

/// Longest expression source, in bytes (64 KiB).
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;
/// Deepest nesting of parentheses, function arguments and unary minus.
pub const MAX_DEPTH: usize = 64;
/// Most parts (values, operators, calls) in one expression.
pub const MAX_NODES: usize = 10_000;
/// Most arguments in one function call.
pub const MAX_ARGS: usize = 256;

/// Every function name [`Expr::parse`] accepts (case-sensitive, as in XPath).
pub const SUPPORTED_FUNCTIONS: &[&str] = &functions::NAMES;

/// The empty string, the value of anything absent.
static EMPTY: Value = Value::String(String::new());

/// A parsed expression: parse once, evaluate many times (cheap to clone, `Send` and
/// `Sync`).
#[derive(Debug, Clone)]
pub struct Expr {
    source: String,
    root: parser::Node,
    refs: Vec<String>,
    funcs: Vec<&'static str>,
    volatile: bool,
    uses_current: bool,
}

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string (an unanswered question is the empty string).
    String(String),
    /// A number (NaN for "not a number").
    Number(f64),
    /// A boolean.
    Boolean(bool),
    /// A date: days since 1970-01-01.
    Date(i64),
    /// A date and time: milliseconds since the epoch (UTC) and the offset in minutes.
    DateTime(i64, i32),
    /// Several values (a question inside a repeat referenced from outside it, or a
    /// repeat). Nested node-sets count as the flat sequence of their values.
    Nodes(Vec<Value>),
}

/// Why an expression could not be parsed.
///
/// Codes: `syntax`, `unknown_function`, `arity`, `unsupported`, `invalid_regex`,
/// `too_long`, `too_deep`, `too_complex`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct ExprError {
    /// Stable code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// Character (not byte) offset in the source.
    pub position: usize,
}

/// Why an evaluation failed. The message never contains an answer.
///
/// Codes: `invalid_regex` (a computed pattern), `invalid_date`, `invalid_time`,
/// `out_of_range`, `random_unavailable`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// Stable code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

/// What an expression can look up while it is evaluated.
pub trait Env {
    /// The value of `${name}`: a scalar, or [`Value::Nodes`] for a repeat or a question
    /// in a repeat referenced from outside it; `Value::String("")` when empty.
    fn reference(&self, name: &str) -> Value;
    /// The value of `.` (the question the expression belongs to).
    fn current(&self) -> Value;
    /// `position(..)`: the 1-based index of the current repeat instance (0 outside a
    /// repeat).
    fn position(&self) -> usize;
    /// `jr:choice-name(value, '${question}')`: the label of choice `value` of
    /// `question`.
    fn choice_label(&self, question: &str, value: &str) -> Option<String>;
    /// Now: milliseconds since the epoch and the device's offset in minutes.
    fn now(&self) -> (Timestamp, i32);
    /// A bare name in a choice filter ([`Expr::parse_choice_filter`]): that column of
    /// the choice being filtered (`name`, `label`, or an extra column); empty when
    /// the choice has no such column or outside a choice filter.
    fn column(&self, _name: &str) -> Value {
        Value::String(String::new())
    }

    /// `indexed-repeat(${name}, ${repeat}, index)`: the value of `name` in instance
    /// `index` (1-based) of `repeat`. The default takes node `index` of
    /// `reference(name)` (the whole node-set, as seen from outside the repeat).
    fn indexed(&self, name: &str, repeat: &str, index: usize) -> Value {
        let _ = repeat;
        match self.reference(name) {
            Value::Nodes(nodes) => index
                .checked_sub(1)
                .and_then(|i| nodes.into_iter().nth(i))
                .unwrap_or_else(|| Value::String(String::new())),
            scalar if index == 1 => scalar,
            _ => Value::String(String::new()),
        }
    }
}

impl Expr {
    /// Parse `src`. Fails on syntax errors, unknown functions, wrong arities,
    /// unsupported constructs, invalid literal regular expressions and the size limits,
    /// with the character position of the fault.
    pub fn parse(src: &str) -> Result<Expr, ExprError> {
        Self::parse_with(src, false)
    }

    /// Parse a `choice_filter`: like [`Expr::parse`], and a bare name (`county`,
    /// `name`, `label`) reads that column of the choice being filtered
    /// ([`Env::column`]).
    pub fn parse_choice_filter(src: &str) -> Result<Expr, ExprError> {
        Self::parse_with(src, true)
    }

    fn parse_with(src: &str, columns: bool) -> Result<Expr, ExprError> {
        if src.len() > MAX_SOURCE_BYTES {
            let cut = (0..=MAX_SOURCE_BYTES)
                .rev()
                .find(|&i| src.is_char_boundary(i))
                .unwrap_or(0);
            return Err(ExprError {
                code: "too_long",
                message: format!("expression is longer than {MAX_SOURCE_BYTES} bytes"),
                position: char_position(src, cut),
            });
        }
        match parser::parse(src, columns) {
            Ok(p) => Ok(Expr {
                source: src.to_owned(),
                root: p.root,
                refs: p.refs,
                funcs: p.funcs,
                volatile: p.volatile,
                uses_current: p.uses_current,
            }),
            Err(f) => Err(ExprError {
                code: f.code,
                message: f.message,
                position: char_position(src, f.at),
            }),
        }
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every question referenced (`${name}`, including the `'${q}'` of
    /// `jr:choice-name` and both references of `indexed-repeat`), sorted, without
    /// duplicates.
    pub fn references(&self) -> &[String] {
        &self.refs
    }

    /// True when the value can change without any answer changing: the expression reads
    /// the clock or randomness (`now()`, `today()`, `random()`, `uuid()`).
    pub fn is_volatile(&self) -> bool {
        self.volatile
    }

    /// True when the expression reads the current value (`.`, `current()`, `once()`,
    /// or `string()`, `number()`, `string-length()`, `normalize-space()` without an
    /// argument).
    pub fn uses_current(&self) -> bool {
        self.uses_current
    }

    /// The functions the expression calls, sorted, without duplicates.
    pub fn functions(&self) -> &[&'static str] {
        &self.funcs
    }

    /// Evaluate against `env`.
    pub fn eval(&self, env: &dyn Env) -> Result<Value, EvalError> {
        let cx = eval::Ctx::new(env);
        eval::eval(&self.root, &cx).map(Cow::into_owned)
    }
}

/// XPath `string()` of a value (the same as [`Value::as_string`]).
pub(crate) fn to_string(v: &Value) -> String {
    v.as_string()
}

/// The character offset of byte offset `byte` of `src`.
fn char_position(src: &str, byte: usize) -> usize {
    src.get(..byte).map_or(byte, |s| s.chars().count())
}

impl Value {
    /// XPath `boolean()`: text when not empty, a number when neither 0 nor NaN, a
    /// node-set when it has a node; dates and date-times are true.
    pub fn as_bool(&self) -> bool {
        match self {
            Value::String(s) => !s.is_empty(),
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            Value::Boolean(b) => *b,
            Value::Date(_) | Value::DateTime(..) => true,
            Value::Nodes(_) => self.scalars().next().is_some(),
        }
    }

    /// XPath `number()`: text when it is a plain decimal (trimmed; `-1.5`, `.5`, `3.`)
    /// else NaN; booleans 1 and 0; a date its day number since 1970-01-01; a date-time
    /// its fractional day number on its own wall clock (expressions use the device's
    /// current offset instead); a node-set its first node (NaN when empty).
    pub fn as_number(&self) -> f64 {
        match self {
            Value::String(s) => string_to_number(s),
            Value::Number(n) => *n,
            Value::Boolean(b) => f64::from(u8::from(*b)),
            Value::Date(d) => *d as f64,
            Value::DateTime(ms, offset) => time::fractional_days(*ms, *offset),
            Value::Nodes(_) => match self.first_scalar() {
                Value::Nodes(_) => f64::NAN,
                s => s.as_number(),
            },
        }
    }

    /// XPath `string()`, borrowed when the value is text: integers without `.0`, NaN as
    /// `NaN`, `Infinity` and `-Infinity`, other numbers in their shortest round-trip
    /// decimal form; `true`/`false`; dates `YYYY-MM-DD`; date-times
    /// `YYYY-MM-DDTHH:MM:SS.mmm±HH:MM` at their offset; a node-set its first node.
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            Value::String(s) => Cow::Borrowed(s),
            Value::Number(n) => Cow::Owned(number_to_string(*n)),
            Value::Boolean(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Date(d) => Cow::Owned(time::format_date(*d)),
            Value::DateTime(ms, offset) => Cow::Owned(time::format_datetime(*ms, *offset)),
            Value::Nodes(_) => match self.first_scalar() {
                Value::Nodes(_) => Cow::Borrowed(""),
                s => s.as_str(),
            },
        }
    }

    /// [`as_str`](Self::as_str), owned.
    pub fn as_string(&self) -> String {
        self.as_str().into_owned()
    }

    /// True when the value as text is empty (an unanswered question, an empty
    /// node-set).
    pub fn is_empty(&self) -> bool {
        match self {
            Value::String(s) => s.is_empty(),
            Value::Number(_) | Value::Boolean(_) | Value::Date(_) | Value::DateTime(..) => false,
            Value::Nodes(_) => match self.first_scalar() {
                Value::String(s) => s.is_empty(),
                Value::Nodes(_) => true,
                _ => false,
            },
        }
    }

    /// Read ISO 8601 text: `YYYY-MM-DD` as a [`Value::Date`], a date-time
    /// (`YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z`, `±HH:MM` or no zone, taken as UTC) as a
    /// [`Value::DateTime`]. `None` for anything else.
    pub fn from_iso8601(s: &str) -> Option<Value> {
        match time::parse_iso(s)? {
            time::Iso::Date(d) => Some(Value::Date(d)),
            time::Iso::DateTime { local_ms, offset } => {
                let offset = offset.unwrap_or(0);
                Some(Value::DateTime(
                    time::utc_ms(i128::from(local_ms), offset),
                    offset,
                ))
            }
        }
    }

    /// True for a date or a date-time.
    fn is_temporal(&self) -> bool {
        matches!(self, Value::Date(_) | Value::DateTime(..))
    }

    /// True for a number, a date or a date-time (compared numerically by `=`).
    fn is_numeric(&self) -> bool {
        matches!(
            self,
            Value::Number(_) | Value::Date(_) | Value::DateTime(..)
        )
    }

    /// A scalar itself; a node-set its first value in document order, the empty string
    /// when it has none. Never a node-set.
    fn first_scalar(&self) -> &Value {
        match self {
            Value::Nodes(_) => self.scalars().next().unwrap_or(&EMPTY),
            other => other,
        }
    }

    /// A scalar once; a node-set's values, nested node-sets flattened (without
    /// recursion, however deep the nesting).
    fn scalars(&self) -> Scalars<'_> {
        match self {
            Value::Nodes(nodes) => Scalars {
                single: None,
                top: nodes.iter(),
                stack: Vec::new(),
            },
            other => Scalars {
                single: Some(other),
                top: [].iter(),
                stack: Vec::new(),
            },
        }
    }
}

impl fmt::Display for Value {
    /// The value as text ([`Value::as_str`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// The scalar values of a [`Value`], depth first, never yielding a node-set.
struct Scalars<'a> {
    single: Option<&'a Value>,
    top: std::slice::Iter<'a, Value>,
    stack: Vec<std::slice::Iter<'a, Value>>,
}

impl<'a> Iterator for Scalars<'a> {
    type Item = &'a Value;

    fn next(&mut self) -> Option<&'a Value> {
        if let Some(v) = self.single.take() {
            return Some(v);
        }
        loop {
            match self.top.next() {
                Some(Value::Nodes(inner)) => {
                    let outer = std::mem::replace(&mut self.top, inner.iter());
                    self.stack.push(outer);
                }
                Some(v) => return Some(v),
                None => self.top = self.stack.pop()?,
            }
        }
    }
}

/// XPath `number()` of text: an optional `-`, digits with at most one `.`, at least one
/// digit, surrounding whitespace ignored; anything else (including `''`) is NaN.
fn string_to_number(s: &str) -> f64 {
    let t = s.trim();
    let body = t.strip_prefix('-').unwrap_or(t);
    let mut digits = 0usize;
    let mut points = 0usize;
    for c in body.chars() {
        match c {
            '0'..='9' => digits += 1,
            '.' => points += 1,
            _ => return f64::NAN,
        }
    }
    if digits == 0 || points > 1 {
        return f64::NAN;
    }
    t.parse::<f64>().unwrap_or(f64::NAN)
}

/// XPath `string()` of a number.
fn number_to_string(n: f64) -> String {
    if n.is_nan() {
        "NaN".to_owned()
    } else if n.is_infinite() {
        if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else if n == 0.0 {
        "0".to_owned()
    } else {
        // Rust prints the shortest text that reads back as `n`, never with an exponent
        // and without `.0` for integers.
        format!("{n}")
    }
}
