//! The function library: names and arities ([`TABLE`]), resolved to [`Func`] at parse
//! time, and their evaluation ([`call`]).
//!
//! Semantics follow JavaRosa (ODK Collect) where it differs from XPath 1.0; each
//! choice is noted on the function. Argument values are converted with the rules in
//! [`Value`]; date-times become numbers at the device's current offset (see
//! [`Ctx::number`]).

use std::borrow::Cow;
use std::fmt::Write as _;

use regex::{Regex, RegexBuilder};

use super::eval::{Ctx, eval};
use super::parser::Node;
use super::time::{self, DAY_MS, Iso, MAX_DAYS};
use super::{EMPTY, EvalError, Value, string_to_number};

/// Compiled-size limit of a regular expression (program and lazy DFA), so a pattern
/// from a spreadsheet or an answer cannot take a device's memory.
pub(super) const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Longest string `uuid(length)` makes.
const MAX_UUID_LENGTH: f64 = 1024.0;

/// A function, resolved from its name at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    Selected,
    CountSelected,
    SelectedAt,
    ChoiceName,
    StringLength,
    Regex,
    Contains,
    StartsWith,
    EndsWith,
    Concat,
    Substr,
    SubstringBefore,
    SubstringAfter,
    Translate,
    NormalizeSpace,
    String,
    Number,
    Boolean,
    BooleanFromString,
    Int,
    Round,
    Floor,
    Ceiling,
    Abs,
    Pow,
    Sqrt,
    Exp,
    Exp10,
    Log,
    Log10,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Atan2,
    Pi,
    Min,
    Max,
    If,
    Coalesce,
    Not,
    True,
    False,
    Today,
    Now,
    Date,
    DateTime,
    DecimalDateTime,
    DecimalTime,
    FormatDate,
    FormatDateTime,
    Position,
    Count,
    CountNonEmpty,
    Sum,
    Once,
    Uuid,
    Random,
    Join,
    IndexedRepeat,
    Current,
}

/// `max` of a function that takes any number of arguments.
pub(super) const ANY: u8 = u8::MAX;

/// A function's name and arity.
#[derive(Debug)]
pub(super) struct Spec {
    pub name: &'static str,
    pub func: Func,
    pub min: u8,
    pub max: u8,
}

const fn spec(name: &'static str, func: Func, min: u8, max: u8) -> Spec {
    Spec {
        name,
        func,
        min,
        max,
    }
}

/// Every supported function.
pub(super) const TABLE: &[Spec] = &[
    spec("selected", Func::Selected, 2, 2),
    spec("count-selected", Func::CountSelected, 1, 1),
    spec("selected-at", Func::SelectedAt, 2, 2),
    spec("jr:choice-name", Func::ChoiceName, 2, 2),
    spec("string-length", Func::StringLength, 0, 1),
    spec("regex", Func::Regex, 2, 2),
    spec("contains", Func::Contains, 2, 2),
    spec("starts-with", Func::StartsWith, 2, 2),
    spec("ends-with", Func::EndsWith, 2, 2),
    spec("concat", Func::Concat, 0, ANY),
    spec("substr", Func::Substr, 2, 3),
    spec("substring-before", Func::SubstringBefore, 2, 2),
    spec("substring-after", Func::SubstringAfter, 2, 2),
    spec("translate", Func::Translate, 3, 3),
    spec("normalize-space", Func::NormalizeSpace, 0, 1),
    spec("string", Func::String, 0, 1),
    spec("number", Func::Number, 0, 1),
    spec("boolean", Func::Boolean, 1, 1),
    spec("boolean-from-string", Func::BooleanFromString, 1, 1),
    spec("int", Func::Int, 1, 1),
    spec("round", Func::Round, 1, 2),
    spec("floor", Func::Floor, 1, 1),
    spec("ceiling", Func::Ceiling, 1, 1),
    spec("abs", Func::Abs, 1, 1),
    spec("pow", Func::Pow, 2, 2),
    spec("sqrt", Func::Sqrt, 1, 1),
    spec("exp", Func::Exp, 1, 1),
    spec("exp10", Func::Exp10, 1, 1),
    spec("log", Func::Log, 1, 1),
    spec("log10", Func::Log10, 1, 1),
    spec("sin", Func::Sin, 1, 1),
    spec("cos", Func::Cos, 1, 1),
    spec("tan", Func::Tan, 1, 1),
    spec("asin", Func::Asin, 1, 1),
    spec("acos", Func::Acos, 1, 1),
    spec("atan", Func::Atan, 1, 1),
    spec("atan2", Func::Atan2, 2, 2),
    spec("pi", Func::Pi, 0, 0),
    spec("min", Func::Min, 1, ANY),
    spec("max", Func::Max, 1, ANY),
    spec("if", Func::If, 3, 3),
    spec("coalesce", Func::Coalesce, 2, 2),
    spec("not", Func::Not, 1, 1),
    spec("true", Func::True, 0, 0),
    spec("false", Func::False, 0, 0),
    spec("today", Func::Today, 0, 0),
    spec("now", Func::Now, 0, 0),
    spec("date", Func::Date, 1, 1),
    spec("date-time", Func::DateTime, 1, 1),
    spec("decimal-date-time", Func::DecimalDateTime, 1, 1),
    spec("decimal-time", Func::DecimalTime, 1, 1),
    spec("format-date", Func::FormatDate, 2, 2),
    spec("format-date-time", Func::FormatDateTime, 2, 2),
    spec("position", Func::Position, 0, 1),
    spec("count", Func::Count, 1, 1),
    spec("count-non-empty", Func::CountNonEmpty, 1, 1),
    spec("sum", Func::Sum, 1, 1),
    spec("once", Func::Once, 1, 1),
    spec("uuid", Func::Uuid, 0, 1),
    spec("random", Func::Random, 0, 0),
    spec("join", Func::Join, 2, ANY),
    spec("indexed-repeat", Func::IndexedRepeat, 3, 3),
    spec("current", Func::Current, 0, 0),
];

/// The names in [`TABLE`], in its order.
pub(super) const NAMES: [&str; TABLE.len()] = {
    let mut out = [""; TABLE.len()];
    let mut i = 0;
    while i < TABLE.len() {
        out[i] = TABLE[i].name;
        i += 1;
    }
    out
};

/// ODK functions fieldsync does not support, with what to do instead.
const NOT_SUPPORTED: &[(&str, &str)] = &[
    (
        "pulldata",
        "forms carry no CSV attachments; use a select with choices",
    ),
    (
        "substring",
        "use substr(string, start, end), whose indexes start at 0",
    ),
    (
        "checklist",
        "count the answers with count-selected() and compare",
    ),
    ("weighted-checklist", "add if() terms instead"),
    ("area", "geometry functions are not available"),
    ("distance", "geometry functions are not available"),
    ("geofence", "geometry functions are not available"),
    ("randomize", "choice order is fixed"),
    ("digest", "hashing is not available"),
    ("base64-decode", "not available"),
    ("extract-signed", "not available"),
    ("version", "not available"),
    ("property", "device properties are not available"),
    ("jr:itext", "labels are not expressions"),
];

/// The spec of a supported function (names are case-sensitive).
pub(super) fn lookup(name: &str) -> Option<&'static Spec> {
    TABLE.iter().find(|s| s.name == name)
}

/// The message of `unknown_function` for `name`.
pub(super) fn unknown_message(name: &str) -> String {
    if let Some((_, hint)) = NOT_SUPPORTED.iter().find(|(n, _)| *n == name) {
        return format!("unknown function '{name}()': not supported by fieldsync ({hint})");
    }
    if let Some(s) = TABLE.iter().find(|s| s.name.eq_ignore_ascii_case(name)) {
        return format!(
            "unknown function '{name}()': did you mean '{}()'? Function names are \
             case-sensitive",
            s.name
        );
    }
    format!("unknown function '{name}()'")
}

/// Compile a pattern for `regex()`, within [`REGEX_SIZE_LIMIT`].
pub(super) fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// A one-line description of a pattern error (it quotes the pattern, which belongs to
/// the form, never an answer).
pub(super) fn regex_message(e: &regex::Error) -> String {
    let detail = match e {
        regex::Error::CompiledTooBig(limit) => {
            format!("the pattern compiles to more than {limit} bytes")
        }
        other => other
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    };
    format!(
        "regex(): invalid pattern, or one the regex engine cannot run (it has no \
         look-around or back-references): {detail}"
    )
}

fn err(code: &'static str, message: &str) -> EvalError {
    EvalError {
        code,
        message: message.to_owned(),
    }
}

/// Evaluate argument `i`; an absent optional argument is the empty string (arities are
/// checked at parse time, so only optional arguments can be absent).
fn arg<'n>(args: &'n [Node], i: usize, cx: &Ctx<'_>) -> Result<Cow<'n, Value>, EvalError> {
    match args.get(i) {
        Some(n) => eval(n, cx),
        None => Ok(Cow::Borrowed(&EMPTY)),
    }
}

/// Evaluate argument `i`, or the current value (`.`) when it is absent.
fn arg_or_current<'n>(
    args: &'n [Node],
    i: usize,
    cx: &Ctx<'_>,
) -> Result<Cow<'n, Value>, EvalError> {
    match args.get(i) {
        Some(n) => eval(n, cx),
        None => Ok(Cow::Owned(cx.env.current())),
    }
}

fn num(args: &[Node], i: usize, cx: &Ctx<'_>) -> Result<f64, EvalError> {
    Ok(cx.number(&*arg(args, i, cx)?))
}

/// Java's `(int)` / `(long)` of a double: truncation, NaN to 0, saturating.
fn to_int(n: f64) -> i64 {
    // `as` truncates towards zero, maps NaN to 0 and saturates: Java's semantics.
    n as i64
}

/// Evaluate a call of `f` with (arity-checked) `args`.
///
/// The functions are grouped into out-of-line helpers so that the frame on the
/// evaluator's recursive path stays small even in a debug build.
pub(super) fn call(f: Func, args: &[Node], cx: &Ctx<'_>) -> Result<Value, EvalError> {
    use Func as F;
    match f {
        F::Selected | F::CountSelected | F::SelectedAt => select_fn(f, args, cx),
        F::StringLength
        | F::Regex
        | F::Contains
        | F::StartsWith
        | F::EndsWith
        | F::Substr
        | F::SubstringBefore
        | F::SubstringAfter
        | F::Translate
        | F::NormalizeSpace
        | F::String
        | F::BooleanFromString => string_fn(f, args, cx),
        F::Concat | F::Join => concat_fn(f, args, cx),
        F::Number
        | F::Int
        | F::Round
        | F::Floor
        | F::Ceiling
        | F::Abs
        | F::Pow
        | F::Sqrt
        | F::Exp
        | F::Exp10
        | F::Log
        | F::Log10
        | F::Sin
        | F::Cos
        | F::Tan
        | F::Asin
        | F::Acos
        | F::Atan
        | F::Atan2
        | F::Pi => math_fn(f, args, cx),
        F::Min | F::Max | F::Count | F::CountNonEmpty | F::Sum => nodes_fn(f, args, cx),
        F::If | F::Coalesce | F::Once | F::Not | F::True | F::False | F::Boolean | F::Current => {
            logic_fn(f, args, cx)
        }
        F::Today
        | F::Now
        | F::Date
        | F::DateTime
        | F::DecimalDateTime
        | F::DecimalTime
        | F::FormatDate
        | F::FormatDateTime => date_fn(f, args, cx),
        F::Uuid | F::Random => random_fn(f, args, cx),
        // Built as their own nodes by the parser; a Call never carries them.
        F::ChoiceName | F::Position | F::IndexedRepeat => Err(misrouted()),
    }
}

fn misrouted() -> EvalError {
    err("internal", "function evaluated by the wrong group")
}

#[inline(never)]
fn select_fn(f: Func, args: &[Node], cx: &Ctx<'_>) -> Result<Value, EvalError> {
    let list = arg(args, 0, cx)?;
    let list = list.as_str();
    Ok(match f {
        Func::Selected => {
            let item = arg(args, 1, cx)?;
            Value::Boolean(selected(&list, &item.as_str()))
        }
        Func::CountSelected => Value::Number(list.split_whitespace().count() as f64),
        Func::SelectedAt => {
            let i = usize::try_from(to_int(num(args, 1, cx)?)).ok();
            let item = i.and_then(|i| list.split_whitespace().nth(i));
            Value::String(item.unwrap_or("").to_owned())
        }
        _ => return Err(misrouted()),
    })
}

#[inline(never)]
fn string_fn(f: Func, args: &[Node], cx: &Ctx<'_>) -> Result<Value, EvalError> {
    let first = arg_or_current(args, 0, cx)?;
    let s = first.as_str();
    let second = || arg(args, 1, cx);
    Ok(match f {
        Func::StringLength => Value::Number(s.chars().count() as f64),
        Func::Regex => {
            let pattern = second()?;
            let re = compile_regex(&pattern.as_str()).map_err(|_| {
                err(
                    "invalid_regex",
                    "regex(): the computed pattern is not a valid regular expression",
                )
            })?;
            Value::Boolean(re.is_match(&s))
        }
        Func::Contains => Value::Boolean(s.contains(&*second()?.as_str())),
        Func::StartsWith => Value::Boolean(s.starts_with(&*second()?.as_str())),
        Func::EndsWith => Value::Boolean(s.ends_with(&*second()?.as_str())),
        Func::Substr => {
            let start = to_int(num(args, 1, cx)?);
            let end = match args.get(2) {
                Some(_) => Some(to_int(num(args, 2, cx)?)),
                None => None,
            };
            Value::String(substr(&s, start, end).to_owned())
        }
        Func::SubstringBefore => {
            let sep = second()?;
            Value::String(
                s.split_once(&*sep.as_str())
                    .map_or("", |(x, _)| x)
                    .to_owned(),
            )
        }
        Func::SubstringAfter => {
            let sep = second()?;
            Value::String(
                s.split_once(&*sep.as_str())
                    .map_or("", |(_, y)| y)
                    .to_owned(),
            )
        }
        Func::Translate => {
            let from = second()?;
            let to = arg(args, 2, cx)?;
            Value::String(translate(&s, &from.as_str(), &to.as_str()))
        }
        Func::NormalizeSpace => Value::String(s.split_whitespace().collect::<Vec<_>>().join(" ")),
        Func::String => Value::String(s.into_owned()),
        Func::BooleanFromString => Value::Boolean(s.eq_ignore_ascii_case("true") || s == "1"),
        _ => return Err(misrouted()),
    })
}

/// `concat(…)` and `join(sep, …)`: JavaRosa takes every node of a node-set argument,
/// not only the first.
#[inline(never)]
fn concat_fn(f: Func, args: &[Node], cx: &Ctx<'_>) -> Result<Value, EvalError> {
    let (sep, items) = match f {
        Func::Join => (arg(args, 0, cx)?, args.get(1..).unwrap_or(&[])),
        _ => (Cow::Borrowed(&EMPTY), args),
    };
    let sep = sep.as_str();
    let mut out = String::new();
    let mut first = true;
    for n in items {
        let v = eval(n, cx)?;
        for s in v.scalars() {
            if !first {
                out.push_str(&sep);
            }
            first = false;
            out.push_str(&s.as_str());
        }
    }
    Ok(Value::String(out))
}

#[inline(never)]
fn math_fn(f: Func, args: &[Node], cx: &Ctx<'_>) -> Result<Value, EvalError> {
    if f == Func::Pi {
        return Ok(Value::Number(std::f64::consts::PI));
    }
    let x = cx.number(&*arg_or_current(args, 0, cx)?);
    let second = || num(args, 1, cx);
    Ok(Value::Number(match f {
        Func::Number => x,
        Func::Int => x.trunc(),
        Func::Round => {
            let digits = match args.get(1) {
                Some(_) => to_int(second()?),
                None => 0,
            };
            round_half_away(x, digits)
        }
        Func::Floor => x.floor(),
        Func::Ceiling => x.ceil(),
        Func::Abs => x.abs(),
        Func::Pow => x.powf(second()?),
        Func::Sqrt => x.sqrt(),
        Func::Exp => x.exp(),
        Func::Exp10 => 10f64.powf(x),
        Func::Log => x.ln(),
        Func::Log10 => x.log10(),
        Func::Sin => x.sin(),
        Func::Cos => x.cos(),
        Func::Tan => x.tan(),
        Func::Asin => x.asin(),
        Func::Acos => x.acos(),
        Func::Atan => x.atan(),
        Func::Atan2 => x.atan2(second()?),
        _ => return Err(misrouted()),
    }))
}

#[inline(never)]
fn nodes_fn(f: Func, args: &[Node], cx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(Value::Number(match f {
        Func::Min => extremum(args, cx, f64::min)?,
        Func::Max => extremum(args, cx, f64::max)?,
        Func::Count => {
            let v = arg(args, 0, cx)?;
            match &*v {
                Value::Nodes(_) => v.scalars().count() as f64,
                _ => 1.0,
            }
        }
        Func::CountNonEmpty => {
            let v = arg(args, 0, cx)?;
            v.scalars().filter(|s| !s.is_empty()).count() as f64
        }
        Func::Sum => {
            // XPath: the sum of number() of every node; a node that is empty or not a
            // number makes the sum NaN. An empty node-set sums to 0.
            let v = arg(args, 0, cx)?;
            v.scalars().fold(0.0, |acc, s| acc + cx.number(s))
        }
        _ => return Err(misrouted()),
    }))
}

#[inline(never)]
fn logic_fn(f: Func, args: &[Node], cx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(match f {
        Func::If => {
            let branch = if arg(args, 0, cx)?.as_bool() { 1 } else { 2 };
            arg(args, branch, cx)?.into_owned()
        }
        Func::Coalesce => {
            let a = arg(args, 0, cx)?;
            if a.is_empty() {
                arg(args, 1, cx)?.into_owned()
            } else {
                a.into_owned()
            }
        }
        Func::Once => {
            let current = cx.env.current();
            if current.is_empty() {
                arg(args, 0, cx)?.into_owned()
            } else {
                current
            }
        }
        Func::Not => Value::Boolean(!arg(args, 0, cx)?.as_bool()),
        Func::Boolean => Value::Boolean(arg(args, 0, cx)?.as_bool()),
        Func::True => Value::Boolean(true),
        Func::False => Value::Boolean(false),
        Func::Current => cx.env.current(),
        _ => return Err(misrouted()),
    })
}

#[inline(never)]
fn date_fn(f: Func, args: &[Node], cx: &Ctx<'_>) -> Result<Value, EvalError> {
    match f {
        Func::Today => {
            let (ms, offset) = cx.env.now();
            return Ok(Value::Date(time::local_days(ms, offset)));
        }
        Func::Now => {
            let (ms, offset) = cx.env.now();
            return Ok(Value::DateTime(ms, offset));
        }
        _ => {}
    }
    let v = arg(args, 0, cx)?;
    Ok(match f {
        Func::Date => to_date(&v)?,
        Func::DateTime => to_datetime(&v, cx)?,
        Func::DecimalDateTime => match to_datetime(&v, cx)? {
            Value::DateTime(ms, _) => Value::Number(time::fractional_days(ms, cx.offset())),
            _ => Value::Number(f64::NAN),
        },
        Func::DecimalTime => Value::Number(decimal_time(&v, cx)?),
        Func::FormatDate | Func::FormatDateTime => {
            let pattern = arg(args, 1, cx)?;
            match civil_of(&v) {
                Some(c) => Value::String(time::format_with(&pattern.as_str(), &c)),
                None => Value::String(String::new()),
            }
        }
        _ => return Err(misrouted()),
    })
}

#[inline(never)]
fn random_fn(f: Func, args: &[Node], cx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(Value::String(match (f, args.first()) {
        (Func::Random, _) => {
            let mut b = [0u8; 8];
            random(&mut b)?;
            // 53 random bits scaled into [0, 1).
            return Ok(Value::Number(
                (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64,
            ));
        }
        (_, None) => uuid_v4()?,
        (_, Some(_)) => {
            let n = num(args, 0, cx)?;
            if n > MAX_UUID_LENGTH {
                return Err(err(
                    "out_of_range",
                    "uuid(length): the length is above 1024",
                ));
            }
            random_alphanumeric(usize::try_from(to_int(n)).unwrap_or(0))?
        }
    }))
}

/// `selected(list, item)`: `item` (trimmed) is one of the space-separated answers.
fn selected(list: &str, item: &str) -> bool {
    let item = item.trim();
    !item.is_empty() && list.split_whitespace().any(|x| x == item)
}

/// JavaRosa `substr(s, start, end)`: characters `start..end`, 0-based, `end` exclusive
/// (the end of the string when absent); a negative index counts from the end; indexes
/// are clamped to the string.
fn substr(s: &str, start: i64, end: Option<i64>) -> &str {
    let len = i64::try_from(s.chars().count()).unwrap_or(i64::MAX);
    let from_end = |i: i64| if i < 0 { len.saturating_add(i) } else { i };
    let end = from_end(end.unwrap_or(len)).clamp(0, len);
    let start = from_end(start).clamp(0, end);
    let byte = |i: i64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| s.char_indices().nth(i).map(|(b, _)| b))
            .unwrap_or(s.len())
    };
    s.get(byte(start)..byte(end)).unwrap_or("")
}

/// XPath `translate`: each character of `from` becomes the character at the same place
/// in `to`, or is removed when `to` is shorter; the first occurrence in `from` wins.
fn translate(s: &str, from: &str, to: &str) -> String {
    let to: Vec<char> = to.chars().collect();
    let mut map = std::collections::HashMap::new();
    for (i, c) in from.chars().enumerate() {
        map.entry(c).or_insert_with(|| to.get(i).copied());
    }
    s.chars()
        .filter_map(|c| match map.get(&c) {
            Some(mapped) => *mapped,
            None => Some(c),
        })
        .collect()
}

/// `min`/`max` over every argument and every node of node-set arguments; NaN when any
/// value is not a number or there is none (JavaRosa).
fn extremum(args: &[Node], cx: &Ctx<'_>, pick: fn(f64, f64) -> f64) -> Result<f64, EvalError> {
    let mut acc: Option<f64> = None;
    for n in args {
        let v = eval(n, cx)?;
        for s in v.scalars() {
            let x = cx.number(s);
            if x.is_nan() {
                return Ok(f64::NAN);
            }
            acc = Some(acc.map_or(x, |a| pick(a, x)));
        }
    }
    Ok(acc.unwrap_or(f64::NAN))
}

/// JavaRosa `round(x, digits)`: half away from zero, on the shortest decimal text of
/// `x` (so `round(1.005, 2)` is 1.01, as a person reading 1.005 expects), `digits`
/// may be negative (`round(1234, -2)` is 1200).
pub(super) fn round_half_away(x: f64, digits: i64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let digits = digits.clamp(-400, 400);
    let sci = format!("{:e}", x.abs()); // "1.005e0", "1e-7", "1.2345e21"
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return x;
    };
    let Ok(exp) = exp.parse::<i64>() else {
        return x;
    };
    let mut ds: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    // |x| = 0.d1 d2 d3 … × 10^point
    let mut point = exp + 1;
    let keep = point + digits;
    let len = i64::try_from(ds.len()).unwrap_or(i64::MAX);
    if keep >= len {
        return x;
    }
    let sign = x.signum();
    let Ok(keep) = usize::try_from(keep) else {
        return sign * 0.0;
    };
    let up = ds.get(keep).is_some_and(|&d| d >= 5);
    ds.truncate(keep);
    if up {
        let mut i = keep;
        loop {
            if i == 0 {
                ds.insert(0, 1);
                point += 1;
                break;
            }
            i -= 1;
            match ds.get_mut(i) {
                Some(d) if *d == 9 => *d = 0,
                Some(d) => {
                    *d += 1;
                    break;
                }
                None => break,
            }
        }
    }
    if ds.is_empty() {
        return sign * 0.0;
    }
    let text: String = ds.iter().map(|d| char::from(b'0' + d)).collect();
    let scale = point - i64::try_from(ds.len()).unwrap_or(0);
    format!("{text}e{scale}")
        .parse::<f64>()
        .map_or(x, |v| sign * v)
}

fn invalid_date(func: &str) -> EvalError {
    EvalError {
        code: "invalid_date",
        message: format!(
            "{func}: the value is not a date (YYYY-MM-DD), a date-time or a number of days"
        ),
    }
}

fn out_of_range(func: &str) -> EvalError {
    EvalError {
        code: "out_of_range",
        message: format!("{func}: the number of days is out of range"),
    }
}

/// `date(x)`: a date from a date, a date-time (its local date where it was recorded),
/// ISO text, or a number of days (floored). Empty text and NaN give the empty string.
fn to_date(v: &Value) -> Result<Value, EvalError> {
    let from_days = |n: f64| {
        if n.is_nan() {
            Ok(Value::String(String::new()))
        } else if n.abs() > MAX_DAYS {
            Err(out_of_range("date()"))
        } else {
            Ok(Value::Date(n.floor() as i64))
        }
    };
    match v.first_scalar() {
        Value::Date(d) => Ok(Value::Date(*d)),
        Value::DateTime(ms, offset) => Ok(Value::Date(time::local_days(*ms, *offset))),
        Value::Number(n) => from_days(*n),
        Value::String(s) if s.trim().is_empty() => Ok(Value::String(String::new())),
        Value::String(s) => match time::parse_iso(s) {
            Some(Iso::Date(d)) => Ok(Value::Date(d)),
            Some(Iso::DateTime { local_ms, .. }) => Ok(Value::Date(local_ms.div_euclid(DAY_MS))),
            None => match string_to_number(s) {
                n if n.is_nan() => Err(invalid_date("date()")),
                n => from_days(n),
            },
        },
        Value::Boolean(_) | Value::Nodes(_) => Err(invalid_date("date()")),
    }
}

/// `date-time(x)`: a date-time from a date-time, a date (local midnight), ISO text
/// (without a zone: the device's offset), or a number of days since 1970 on the
/// device's wall clock. Empty text and NaN give the empty string.
fn to_datetime(v: &Value, cx: &Ctx<'_>) -> Result<Value, EvalError> {
    let from_days = |n: f64| {
        if n.is_nan() {
            Ok(Value::String(String::new()))
        } else if n.abs() > MAX_DAYS {
            Err(out_of_range("date-time()"))
        } else {
            let offset = cx.offset();
            // |n| ≤ MAX_DAYS, so the product is far inside i64 and i128.
            let local = (n * DAY_MS as f64).round() as i128;
            Ok(Value::DateTime(time::utc_ms(local, offset), offset))
        }
    };
    let local_midnight = |days: i64| {
        let offset = cx.offset();
        Value::DateTime(
            time::utc_ms(i128::from(days) * i128::from(DAY_MS), offset),
            offset,
        )
    };
    match v.first_scalar() {
        Value::DateTime(ms, offset) => Ok(Value::DateTime(*ms, *offset)),
        Value::Date(d) => Ok(local_midnight(*d)),
        Value::Number(n) => from_days(*n),
        Value::String(s) if s.trim().is_empty() => Ok(Value::String(String::new())),
        Value::String(s) => match time::parse_iso(s) {
            Some(Iso::Date(d)) => Ok(local_midnight(d)),
            Some(Iso::DateTime { local_ms, offset }) => {
                let offset = offset.unwrap_or_else(|| cx.offset());
                Ok(Value::DateTime(
                    time::utc_ms(i128::from(local_ms), offset),
                    offset,
                ))
            }
            None => match string_to_number(s) {
                n if n.is_nan() => Err(invalid_date("date-time()")),
                n => from_days(n),
            },
        },
        Value::Boolean(_) | Value::Nodes(_) => Err(invalid_date("date-time()")),
    }
}

/// `decimal-time(t)`: the fraction of the day of a time (`HH:MM:SS.sss±HH:MM`) on the
/// device's clock (a time with a zone is moved to the device's offset). Empty: NaN.
fn decimal_time(v: &Value, cx: &Ctx<'_>) -> Result<f64, EvalError> {
    let fraction = |ms: i64| ms.rem_euclid(DAY_MS) as f64 / DAY_MS as f64;
    match v.first_scalar() {
        Value::String(s) if s.trim().is_empty() => Ok(f64::NAN),
        Value::String(s) => {
            let (tod, offset) = match time::parse_time(s) {
                Some(t) => t,
                None => match time::parse_iso(s) {
                    Some(Iso::DateTime { local_ms, offset }) => {
                        (local_ms.rem_euclid(DAY_MS), offset)
                    }
                    _ => {
                        return Err(EvalError {
                            code: "invalid_time",
                            message: "decimal-time(): the value is not a time (HH:MM:SS)".into(),
                        });
                    }
                },
            };
            // tod < one day and both offsets are minutes in i32: no overflow in i64.
            let local = match offset {
                Some(o) => tod - i64::from(o) * 60_000 + i64::from(cx.offset()) * 60_000,
                None => tod,
            };
            Ok(fraction(local))
        }
        Value::DateTime(ms, _) => Ok(time::fractional_days(*ms, cx.offset()).rem_euclid(1.0)),
        Value::Number(n) => Ok(n.rem_euclid(1.0)),
        Value::Date(_) => Ok(0.0),
        Value::Boolean(_) | Value::Nodes(_) => Err(EvalError {
            code: "invalid_time",
            message: "decimal-time(): the value is not a time (HH:MM:SS)".into(),
        }),
    }
}

/// The calendar fields `format-date` shows for `v`: a date-time on the wall clock where
/// it was recorded; ISO text as written; a number as days since 1970. `None` (shown as
/// the empty string) for anything else.
fn civil_of(v: &Value) -> Option<time::Civil> {
    let from_days = |n: f64| {
        (n.is_finite() && n.abs() <= MAX_DAYS)
            .then(|| time::civil_of_datetime((n * DAY_MS as f64).round() as i64, 0))
    };
    match v.first_scalar() {
        Value::Date(d) => Some(time::civil_of_date(*d)),
        Value::DateTime(ms, offset) => Some(time::civil_of_datetime(*ms, *offset)),
        Value::Number(n) => from_days(*n),
        Value::String(s) => match time::parse_iso(s) {
            Some(Iso::Date(d)) => Some(time::civil_of_date(d)),
            Some(Iso::DateTime { local_ms, .. }) => Some(time::civil_of_datetime(local_ms, 0)),
            None => from_days(string_to_number(s)),
        },
        Value::Boolean(_) | Value::Nodes(_) => None,
    }
}

fn random(buf: &mut [u8]) -> Result<(), EvalError> {
    crate::ids::random_bytes(buf)
        .map_err(|_| err("random_unavailable", "the system random source failed"))
}

/// A random RFC 4122 version 4 UUID, lowercase with hyphens.
fn uuid_v4() -> Result<String, EvalError> {
    let mut b = [0u8; 16];
    random(&mut b)?;
    // Constant indexes into a [u8; 16], checked at compile time: version 4, variant 1.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        // Writing into a String cannot fail.
        let _ = write!(s, "{byte:02x}");
    }
    Ok(s)
}

/// `n` random characters from `0-9a-zA-Z` (ODK `uuid(length)`).
fn random_alphanumeric(n: usize) -> Result<String, EvalError> {
    const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut buf = [0u8; 64];
        random(&mut buf)?;
        // Rejection sampling: 248 = 4 × 62 keeps every character equally likely.
        for b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == n {
                break;
            }
            if let Some(&c) = ALPHABET.get(usize::from(b % 62)) {
                out.push(char::from(c));
            }
        }
    }
    Ok(out)
}
