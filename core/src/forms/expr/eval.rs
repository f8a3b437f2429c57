//! Evaluation of the expression tree: operators and comparisons (functions are in
//! [`functions`](super::functions)).
//!
//! [`eval`] recurses along the tree, whose depth the parser bounds, and returns a
//! [`Cow`] so that literals are compared without being copied. Comparison and
//! arithmetic follow XPath 1.0 with JavaRosa's treatment of dates:
//!
//! - a node-set compared with a boolean is converted to a boolean; compared with
//!   anything else the comparison is existential (true when any node satisfies it);
//! - `=` / `!=`: booleans if either side is a boolean, else numbers if either side is
//!   a number, a date or a date-time, else strings;
//! - `<` `<=` `>` `>=` and arithmetic: numbers;
//! - a date or date-time against text that reads as an ISO date or date-time compares
//!   (and subtracts) as dates, so `${d} > '2024-01-01'` and `today() - ${dob}` work.

use std::borrow::Cow;
use std::cell::Cell;

use super::functions::{Func, call};
use super::parser::{ArithOp, BinOp, CmpOp, Node};
use super::time::{self, DAY_MS, Iso};
use super::{Env, EvalError, Value, string_to_number};

/// What one evaluation reads: the environment, and the device's offset once asked.
pub(super) struct Ctx<'e> {
    pub env: &'e dyn Env,
    offset: Cell<Option<i32>>,
}

impl<'e> Ctx<'e> {
    pub(super) fn new(env: &'e dyn Env) -> Self {
        Ctx {
            env,
            offset: Cell::new(None),
        }
    }

    /// The device's current offset in minutes (from [`Env::now`], read once).
    pub(super) fn offset(&self) -> i32 {
        if let Some(o) = self.offset.get() {
            return o;
        }
        let o = self.env.now().1;
        self.offset.set(Some(o));
        o
    }

    /// `number(v)`, with a date-time counted in days on the device's current clock
    /// (so that date-times recorded at different offsets, e.g. across a daylight-saving
    /// change, compare and subtract as instants, and a date-time compares with a
    /// local date as JavaRosa does).
    pub(super) fn number(&self, v: &Value) -> f64 {
        match v {
            Value::DateTime(ms, _) => time::fractional_days(*ms, self.offset()),
            Value::Nodes(_) => match v.first_scalar() {
                s @ Value::DateTime(..) => self.number(s),
                s => s.as_number(),
            },
            other => other.as_number(),
        }
    }

    /// The number of ISO text used against a date: days (fractional for a date-time).
    fn iso_number(&self, s: &str) -> Option<f64> {
        match time::parse_iso(s)? {
            Iso::Date(d) => Some(d as f64),
            Iso::DateTime {
                local_ms,
                offset: None,
            } => Some(local_ms as f64 / DAY_MS as f64),
            Iso::DateTime {
                local_ms,
                offset: Some(o),
            } => {
                let utc = time::utc_ms(i128::from(local_ms), o);
                Some(time::fractional_days(utc, self.offset()))
            }
        }
    }

    /// Both operands of a numeric operator, with the date rule for text.
    fn numbers(&self, a: &Value, b: &Value) -> (f64, f64) {
        let (a, b) = (a.first_scalar(), b.first_scalar());
        match (a, b) {
            (t, Value::String(s)) if t.is_temporal() => (
                self.number(t),
                self.iso_number(s).unwrap_or_else(|| string_to_number(s)),
            ),
            (Value::String(s), t) if t.is_temporal() => (
                self.iso_number(s).unwrap_or_else(|| string_to_number(s)),
                self.number(t),
            ),
            _ => (self.number(a), self.number(b)),
        }
    }
}

/// Evaluate `node`.
///
/// This is the recursive path, so its frame is kept small: `if`, `and` and `or` are
/// handled here (nested `if`s are the deepest real expressions) and everything else
/// goes to out-of-line helpers.
pub(super) fn eval<'n>(node: &'n Node, cx: &Ctx<'_>) -> Result<Cow<'n, Value>, EvalError> {
    match node {
        Node::Lit(v) => Ok(Cow::Borrowed(v)),
        Node::Ref(name) => Ok(Cow::Owned(cx.env.reference(name))),
        Node::Current => Ok(Cow::Owned(cx.env.current())),
        Node::Call(Func::If, args) => match &**args {
            [cond, then, otherwise] => {
                if eval(cond, cx)?.as_bool() {
                    eval(then, cx)
                } else {
                    eval(otherwise, cx)
                }
            }
            _ => Err(EvalError {
                code: "internal",
                message: "if() without 3 arguments".into(),
            }),
        },
        Node::Call(f, args) => call(*f, args, cx).map(Cow::Owned),
        Node::And(items) => junction(items, false, cx),
        Node::Or(items) => junction(items, true, cx),
        other => eval_other(other, cx).map(Cow::Owned),
    }
}

/// Short-circuit `and` (`stop_on` false) or `or` (`stop_on` true).
#[inline(never)]
fn junction<'n>(items: &[Node], stop_on: bool, cx: &Ctx<'_>) -> Result<Cow<'n, Value>, EvalError> {
    for item in items {
        if eval(item, cx)?.as_bool() == stop_on {
            return Ok(Cow::Owned(Value::Boolean(stop_on)));
        }
    }
    Ok(Cow::Owned(Value::Boolean(!stop_on)))
}

/// The nodes [`eval`] does not handle itself.
#[inline(never)]
fn eval_other(node: &Node, cx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(match node {
        Node::Neg(inner) => {
            let v = eval(inner, cx)?;
            Value::Number(-cx.number(&v))
        }
        Node::Chain(first, rest) => {
            let mut acc = eval(first, cx)?;
            for (op, rhs) in rest.iter() {
                let r = eval(rhs, cx)?;
                acc = Cow::Owned(binary(*op, &acc, &r, cx));
            }
            acc.into_owned()
        }
        Node::Regex(value, re) => {
            let v = eval(value, cx)?;
            Value::Boolean(re.is_match(&v.as_str()))
        }
        Node::ChoiceName(value, question) => {
            let v = eval(value, cx)?;
            let label = cx.env.choice_label(question, &v.as_str());
            Value::String(label.unwrap_or_default())
        }
        Node::Indexed(name, repeat, index) => {
            let i = cx.number(&*eval(index, cx)?);
            if i >= 1.0 && i.is_finite() {
                // `as` truncates; i is finite and ≥ 1, so the index is ≥ 1 (saturating).
                cx.env.indexed(name, repeat, i as usize)
            } else {
                Value::String(String::new())
            }
        }
        // `as f64` is exact for any realistic position (below 2^53).
        Node::Position => Value::Number(cx.env.position() as f64),
        Node::Column(name) => cx.env.column(name),
        // Handled by `eval`.
        Node::Lit(v) => v.clone(),
        Node::Ref(_) | Node::Current | Node::Call(..) | Node::And(_) | Node::Or(_) => {
            eval(node, cx)?.into_owned()
        }
    })
}

fn binary(op: BinOp, a: &Value, b: &Value, cx: &Ctx<'_>) -> Value {
    match op {
        BinOp::Cmp(op) => Value::Boolean(compare(op, a, b, cx)),
        BinOp::Arith(op) => {
            let (x, y) = cx.numbers(a, b);
            Value::Number(match op {
                ArithOp::Add => x + y,
                ArithOp::Sub => x - y,
                ArithOp::Mul => x * y,
                // IEEE: x div 0 is ±Infinity or NaN, as in XPath; never an error.
                ArithOp::Div => x / y,
                // Truncating remainder with the sign of the dividend, as XPath's mod.
                ArithOp::Mod => x % y,
            })
        }
    }
}

/// XPath comparison with node-sets (recursion is at most two levels: a scalar is
/// never a node-set).
fn compare(op: CmpOp, a: &Value, b: &Value, cx: &Ctx<'_>) -> bool {
    match (a, b) {
        (Value::Nodes(_), Value::Boolean(_)) => {
            compare_scalars(op, &Value::Boolean(a.as_bool()), b, cx)
        }
        (Value::Boolean(_), Value::Nodes(_)) => {
            compare_scalars(op, a, &Value::Boolean(b.as_bool()), cx)
        }
        (Value::Nodes(_), _) => a.scalars().any(|x| compare(op, x, b, cx)),
        (_, Value::Nodes(_)) => b.scalars().any(|y| compare_scalars(op, a, y, cx)),
        _ => compare_scalars(op, a, b, cx),
    }
}

fn compare_scalars(op: CmpOp, a: &Value, b: &Value, cx: &Ctx<'_>) -> bool {
    let equal = || {
        if matches!(a, Value::Boolean(_)) || matches!(b, Value::Boolean(_)) {
            a.as_bool() == b.as_bool()
        } else if a.is_numeric() || b.is_numeric() {
            let (x, y) = cx.numbers(a, b);
            x == y
        } else {
            // Both are strings here: compared without copying.
            a.as_str() == b.as_str()
        }
    };
    match op {
        CmpOp::Eq => equal(),
        CmpOp::Ne => !equal(),
        CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
            let (x, y) = cx.numbers(a, b);
            match op {
                CmpOp::Lt => x < y,
                CmpOp::Le => x <= y,
                CmpOp::Gt => x > y,
                _ => x >= y,
            }
        }
    }
}
