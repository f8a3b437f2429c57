//! Tests of the expression language: every operator, every function, every error code,
//! the limits, and property tests that neither `parse` nor `eval` panics on any input.

use std::collections::HashMap;

use proptest::prelude::*;

use super::functions::{ANY, TABLE, round_half_away};
use super::time::DAY_MS;
use super::*;

type R = Result<(), Box<dyn std::error::Error>>;

/// 2024-05-01 in days since 1970-01-01.
const MAY_1: i64 = 19_844;
/// 2024-05-01T10:30:00.000+08:00.
const NOW_MS: i64 = MAY_1 * DAY_MS + 2 * 3_600_000 + 30 * 60_000;

/// A test environment: answers by name, the current value, a repeat position, choice
/// labels and a fixed clock.
#[derive(Debug, Clone)]
struct TestEnv {
    vars: HashMap<String, Value>,
    current: Value,
    position: usize,
    labels: HashMap<(String, String), String>,
    now: (i64, i32),
}

impl TestEnv {
    fn empty() -> Self {
        TestEnv {
            vars: HashMap::new(),
            current: Value::String(String::new()),
            position: 0,
            labels: HashMap::new(),
            now: (NOW_MS, 480),
        }
    }

    fn with(mut self, name: &str, v: Value) -> Self {
        self.vars.insert(name.to_owned(), v);
        self
    }

    fn standard() -> Self {
        let s = |x: &str| Value::String(x.to_owned());
        let mut env = TestEnv::empty()
            .with("a", Value::Number(3.0))
            .with("b", s("hello"))
            .with("empty", s(""))
            .with("multi", s("a b  c"))
            .with("numstr", s(" 12.5 "))
            .with("neg", Value::Number(-2.5))
            .with("flag", Value::Boolean(true))
            .with("d", Value::Date(MAY_1))
            .with("dob", Value::Date(MAY_1 - 365))
            .with("dt", Value::DateTime(NOW_MS, 480))
            .with(
                "rep",
                Value::Nodes(vec![
                    Value::Number(1.0),
                    Value::Number(2.0),
                    Value::Number(3.0),
                ]),
            )
            .with("rep_s", Value::Nodes(vec![s("x"), s(""), s("y")]))
            .with("rep_empty", Value::Nodes(vec![]))
            .with(
                "nested",
                Value::Nodes(vec![
                    Value::Nodes(vec![]),
                    Value::Nodes(vec![Value::Number(4.0), Value::Number(5.0)]),
                    Value::Number(6.0),
                ]),
            )
            .with(
                "rep_d",
                Value::Nodes(vec![Value::Date(MAY_1 - 10), Value::Date(MAY_1 + 10)]),
            )
            .with("fruit", s("ban"));
        env.current = s("cur");
        env.position = 2;
        env.labels
            .insert(("fruit".into(), "ban".into()), "Banana".into());
        env
    }
}

impl Env for TestEnv {
    fn reference(&self, name: &str) -> Value {
        self.vars
            .get(name)
            .cloned()
            .unwrap_or_else(|| Value::String(String::new()))
    }
    fn current(&self) -> Value {
        self.current.clone()
    }
    fn position(&self) -> usize {
        self.position
    }
    fn choice_label(&self, question: &str, value: &str) -> Option<String> {
        self.labels
            .get(&(question.to_owned(), value.to_owned()))
            .cloned()
    }
    fn now(&self) -> (Timestamp, i32) {
        self.now
    }
}

fn eval_in(src: &str, env: &TestEnv) -> Result<Value, String> {
    let e = Expr::parse(src).map_err(|e| format!("parse {src:?}: {} ({})", e.message, e.code))?;
    e.eval(env)
        .map_err(|e| format!("eval {src:?}: {} ({})", e.message, e.code))
}

fn v(src: &str) -> Result<Value, String> {
    eval_in(src, &TestEnv::standard())
}

fn num(src: &str) -> Result<f64, String> {
    match v(src)? {
        Value::Number(n) => Ok(n),
        other => Err(format!("{src:?} gave {other:?}, not a number")),
    }
}

fn text(src: &str) -> Result<String, String> {
    match v(src)? {
        Value::String(s) => Ok(s),
        other => Err(format!("{src:?} gave {other:?}, not a string")),
    }
}

fn yes(src: &str) -> Result<bool, String> {
    match v(src)? {
        Value::Boolean(b) => Ok(b),
        other => Err(format!("{src:?} gave {other:?}, not a boolean")),
    }
}

/// Each expression must evaluate to `true`.
fn all_true(cases: &[&str]) -> R {
    for src in cases {
        assert!(yes(src)?, "{src} should be true");
    }
    Ok(())
}

/// Each expression must evaluate to `false`.
fn all_false(cases: &[&str]) -> R {
    for src in cases {
        assert!(!yes(src)?, "{src} should be false");
    }
    Ok(())
}

fn parse_err(src: &str) -> (&'static str, usize) {
    match Expr::parse(src) {
        Ok(e) => panic!("{src:?} parsed: {e:?}"),
        Err(e) => (e.code, e.position),
    }
}

fn eval_err(src: &str) -> &'static str {
    match Expr::parse(src).map(|e| e.eval(&TestEnv::standard())) {
        Ok(Err(e)) => e.code,
        other => panic!("{src:?} did not fail at evaluation: {other:?}"),
    }
}

// ---------------------------------------------------------------- values

#[test]
fn number_to_text() {
    let cases = [
        (3.0, "3"),
        (-3.0, "-3"),
        (2.5, "2.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (-0.0, "0"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
        (1e21, "1000000000000000000000"),
        (1e-7, "0.0000001"),
    ];
    for (n, s) in cases {
        assert_eq!(Value::Number(n).as_str(), s);
    }
}

#[test]
fn text_to_number() {
    for (s, n) in [
        ("3", 3.0),
        (" 12.5 ", 12.5),
        ("-4", -4.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("-.5", -0.5),
    ] {
        assert_eq!(Value::String(s.into()).as_number(), n, "{s:?}");
    }
    for s in [
        "", " ", "abc", "1e5", "+1", "1.2.3", "-", ".", "Infinity", "NaN", "0x10", "1 2",
    ] {
        assert!(Value::String(s.into()).as_number().is_nan(), "{s:?}");
    }
}

#[test]
fn conversions_of_every_kind() {
    let nodes = Value::Nodes(vec![Value::String("7".into()), Value::String("8".into())]);
    assert_eq!(nodes.as_str(), "7");
    assert_eq!(nodes.as_number(), 7.0);
    assert!(nodes.as_bool());
    let none = Value::Nodes(vec![Value::Nodes(vec![])]);
    assert_eq!(none.as_str(), "");
    assert!(none.as_number().is_nan());
    assert!(!none.as_bool());
    assert!(none.is_empty());
    assert_eq!(Value::Date(MAY_1).as_str(), "2024-05-01");
    assert_eq!(Value::Date(MAY_1).as_number(), MAY_1 as f64);
    assert_eq!(
        Value::DateTime(NOW_MS, 480).as_str(),
        "2024-05-01T10:30:00.000+08:00"
    );
    assert_eq!(
        Value::DateTime(NOW_MS, 0).as_str(),
        "2024-05-01T02:30:00.000Z"
    );
    assert_eq!(
        Value::DateTime(NOW_MS, 480).as_number(),
        MAY_1 as f64 + 10.5 / 24.0
    );
    assert_eq!(Value::Boolean(true).as_number(), 1.0);
    assert_eq!(Value::Boolean(false).as_str(), "false");
    assert!(!Value::Number(f64::NAN).as_bool());
    assert!(!Value::Number(0.0).as_bool());
    assert!(Value::Number(-0.1).as_bool());
    assert!(!Value::String(String::new()).as_bool());
    assert!(Value::String("false".into()).as_bool());
    assert!(Value::Date(0).as_bool());
    assert!(!Value::Number(f64::NAN).is_empty());
    assert_eq!(Value::Number(4.0).to_string(), "4");
    assert_eq!(Value::Number(4.5).as_string(), "4.5");
    assert_eq!(Value::from_iso8601("2024-05-01"), Some(Value::Date(MAY_1)));
    assert_eq!(
        Value::from_iso8601("2024-05-01T10:30:00+08:00"),
        Some(Value::DateTime(NOW_MS, 480))
    );
    assert_eq!(
        Value::from_iso8601("2024-05-01T02:30:00"),
        Some(Value::DateTime(NOW_MS, 0))
    );
    assert_eq!(Value::from_iso8601("May 1"), None);
}

// ---------------------------------------------------------------- operators

#[test]
fn arithmetic() -> R {
    for (src, n) in [
        ("1 + 2", 3.0),
        ("5 - 7", -2.0),
        ("2 * 3", 6.0),
        ("7 div 2", 3.5),
        ("7 mod 3", 1.0),
        ("-7 mod 3", -1.0),
        ("7 mod -3", 1.0),
        ("5.5 mod 2", 1.5),
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("2 - 3 - 4", -5.0),
        ("8 div 2 div 2", 2.0),
        ("2 * 3 mod 4", 2.0),
        ("-2 * 3", -6.0),
        ("--3", 3.0),
        ("- ${a}", -3.0),
        ("-(1 + 1)", -2.0),
        ("${a} + ${numstr}", 15.5),
        ("${a}-1", 2.0),
        ("${a} * ${neg}", -7.5),
        ("true() + 1", 2.0),
        ("${a} + '2'", 5.0),
        (".5 + 3.", 3.5),
        ("${rep} + 10", 11.0),
        ("1 div 0", f64::INFINITY),
        ("-1 div 0", f64::NEG_INFINITY),
    ] {
        assert_eq!(num(src)?, n, "{src}");
    }
    for src in [
        "0 div 0",
        "5 mod 0",
        "'abc' + 1",
        "${empty} + 1",
        "${b} * 2",
        "${rep_empty} + 1",
        "- 'x'",
    ] {
        assert!(num(src)?.is_nan(), "{src}");
    }
    Ok(())
}

#[test]
fn equality_rules() -> R {
    all_true(&[
        "'abc' = 'abc'",
        "'a' != 'b'",
        "1 = '1'",
        "1 = ' 1.0 '",
        "${a} = 3",
        "${a} = '3'",
        "true() = 'x'",
        "false() = ''",
        "true() = 1",
        "false() = 0",
        "${flag} = true()",
        "'' = ${empty}",
        "${empty} = ''",
        "${missing} = ''",
        "'NaN' != 'nan'",
        "number('x') != number('x')",
        "1 = 1 = true()",
        "${b} = 'hello'",
    ])?;
    all_false(&[
        "'1' = '1.0'",
        "'a' = 'A'",
        "number('x') = number('x')",
        "1 = 'one'",
        "${empty} = 0",
        "true() = ''",
        "'abc' != 'abc'",
    ])
}

#[test]
fn relational_rules() -> R {
    all_true(&[
        "1 < 2",
        "2 <= 2",
        "3 > 2",
        "3 >= 3",
        "'2' < '10'",
        "-1 < 0",
        "true() > false()",
        "${a} > 2.5",
    ])?;
    all_false(&[
        "2 < 1",
        "2 >= 3",
        "'a' < 'b'",
        "'a' >= 'a'",
        "2 > '10'",
        "${empty} < 1",
        "${empty} >= 0",
        "1 < number('x')",
    ])
}

#[test]
fn boolean_operators_and_precedence() -> R {
    all_true(&[
        "1 = 1 and 2 = 2",
        "1 = 2 or 2 = 2",
        "1 = 1 or 1 = 2 and 1 = 2",
        "(1 = 1 or 1 = 2) and 2 = 2",
        "1 < 2 = true()",
        "1 + 1 = 2 and 3 * 2 > 5",
        "${b} and ${a}",
        "not(${empty}) and not(0) and not(number('x'))",
        "false() or false() or false() or true()",
    ])?;
    all_false(&[
        "1 = 1 and 1 = 2",
        "false() or 0 or ''",
        "(1 = 1 or 1 = 2) and 2 = 3",
        "true() and true() and false()",
    ])?;
    // Short-circuit: the failing right side is never evaluated.
    all_false(&["false() and date('nope')"])?;
    all_true(&["true() or date('nope')"])?;
    assert_eq!(eval_err("true() and date('nope')"), "invalid_date");
    Ok(())
}

#[test]
fn node_set_comparisons() -> R {
    all_true(&[
        "${rep} = 2",
        "${rep} != 2",
        "2 = ${rep}",
        "${rep} > 2",
        "${rep} <= 1",
        "${rep_s} = ''",
        "${rep_s} = 'y'",
        "${rep} = true()",
        "${rep_empty} = false()",
        "${rep} = ${rep}",
        "${rep} != ${nested}",
        "${nested} = 5",
        "${rep_d} > '2024-05-05'",
        "${rep_d} < ${d}",
    ])?;
    all_false(&[
        "${rep} = 5",
        "${rep} < 1",
        "${rep_empty} = ''",
        "${rep_empty} != ''",
        "${rep_empty} = 0",
        "${rep_empty} = true()",
        "${rep} = ${rep_s}",
        "${rep} = ${nested}",
        "${nested} = 7",
    ])
}

#[test]
fn date_comparisons_and_arithmetic() -> R {
    all_true(&[
        "${d} = '2024-05-01'",
        "'2024-05-01' = ${d}",
        "${d} != '2024-05-02'",
        "${d} > '2024-01-01'",
        "${d} >= '2024-05-01'",
        "'2023-12-31' < ${d}",
        "${d} = today()",
        "${dt} > ${d}",
        "${dt} < '2024-05-02'",
        "${dt} > '2024-05-01T10:00:00+08:00'",
        "${dt} = '2024-05-01T02:30:00Z'",
        "${dt} < '2024-05-01T11:00'",
        "now() = ${dt}",
        "${d} = 19844",
        "${d} > 'garbage' or true()",
    ])?;
    all_false(&[
        "${d} < '2024-01-01'",
        "${d} = 'garbage'",
        "${d} > 'garbage'",
        "${dt} = '2024-05-01'",
    ])?;
    assert_eq!(num("today() - ${dob}")?, 365.0);
    assert_eq!(num("${d} - '2024-04-01'")?, 30.0);
    assert_eq!(num("'2024-04-01' - ${d}")?, -30.0);
    assert_eq!(num("${d} + 1")?, (MAY_1 + 1) as f64);
    assert_eq!(num("${dt} - ${d}")?, 10.5 / 24.0);
    assert_eq!(v("date(${d} + 1)")?, Value::Date(MAY_1 + 1));
    assert!(yes("date(${d} + 1) = '2024-05-02'")?);
    Ok(())
}

#[test]
fn date_times_at_different_offsets_compare_as_instants() -> R {
    // 09:00 at +01:00 and 09:30 at +02:00 (after a daylight-saving change): the second
    // is earlier as an instant although its wall clock is later.
    let start = Value::from_iso8601("2024-03-30T09:00:00+01:00").ok_or("iso")?;
    let end = Value::from_iso8601("2024-03-31T09:30:00+02:00").ok_or("iso")?;
    let env = TestEnv::empty().with("start", start).with("end", end);
    let hours = eval_in(
        "(decimal-date-time(${end}) - decimal-date-time(${start})) * 24",
        &env,
    )?;
    assert!((hours.as_number() - 23.5).abs() < 1e-6, "{hours:?}");
    assert_eq!(
        eval_in("${end} - ${start} > 0.97", &env)?,
        Value::Boolean(true)
    );
    Ok(())
}

// ---------------------------------------------------------------- functions

#[test]
fn select_functions() -> R {
    all_true(&[
        "selected(${multi}, 'b')",
        "selected(${multi}, ' c ')",
        "selected('a', 'a')",
        "selected(${fruit}, 'ban')",
    ])?;
    all_false(&[
        "selected(${multi}, 'd')",
        "selected(${multi}, '')",
        "selected(${multi}, 'a b')",
        "selected(${empty}, 'a')",
    ])?;
    assert_eq!(num("count-selected(${multi})")?, 3.0);
    assert_eq!(num("count-selected(${empty})")?, 0.0);
    assert_eq!(num("count-selected('  x  ')")?, 1.0);
    assert_eq!(text("selected-at(${multi}, 0)")?, "a");
    assert_eq!(text("selected-at(${multi}, 2)")?, "c");
    assert_eq!(text("selected-at(${multi}, 1.9)")?, "b");
    assert_eq!(text("selected-at(${multi}, 3)")?, "");
    assert_eq!(text("selected-at(${multi}, -1)")?, "");
    assert_eq!(text("selected-at(${empty}, 0)")?, "");
    assert_eq!(text("jr:choice-name(${fruit}, '${fruit}')")?, "Banana");
    assert_eq!(text("jr:choice-name('app', '${fruit}')")?, "");
    assert_eq!(text("jr:choice-name(${fruit}, \" ${fruit} \")")?, "Banana");
    Ok(())
}

#[test]
fn string_functions() -> R {
    let cases = [
        ("concat('a', 1, true(), ${empty}, ${d})", "a1true2024-05-01"),
        ("concat()", ""),
        ("concat(${rep_s}, '|', ${rep})", "xy|123"),
        ("substr('hello', 1, 3)", "el"),
        ("substr('hello', 2)", "llo"),
        ("substr('hello', -3)", "llo"),
        ("substr('hello', 0, -1)", "hell"),
        ("substr('hello', 4, 2)", ""),
        ("substr('hello', 10)", ""),
        ("substr('hello', -10, 2)", "he"),
        ("substr('héllo', 1, 2)", "é"),
        ("substr('abc', number('x'))", "abc"),
        ("substring-before('2024-05-01', '-')", "2024"),
        ("substring-before('abc', 'x')", ""),
        ("substring-before('abc', '')", ""),
        ("substring-after('2024-05-01', '-')", "05-01"),
        ("substring-after('abc', 'x')", ""),
        ("substring-after('abc', '')", "abc"),
        ("translate('bar', 'abc', 'ABC')", "BAr"),
        ("translate('--aaa--', 'a-', 'A')", "AAA"),
        ("translate('aba', 'aa', 'xy')", "xbx"),
        ("translate('ü', 'ü', 'u')", "u"),
        ("normalize-space('  a \t b\n c  ')", "a b c"),
        ("normalize-space('')", ""),
        ("normalize-space()", "cur"),
        ("string(1.50)", "1.5"),
        ("string(${d})", "2024-05-01"),
        ("string(${rep})", "1"),
        ("string(${rep_empty})", ""),
        ("string(1 div 0)", "Infinity"),
        ("string()", "cur"),
        ("string(true())", "true"),
        ("join(', ', ${rep_s})", "x, , y"),
        ("join('-', ${nested})", "4-5-6"),
        ("join('-', 'a', ${rep}, 'b')", "a-1-2-3-b"),
        ("join('-', ${rep_empty})", ""),
        ("coalesce(${empty}, 'x')", "x"),
        ("coalesce(${b}, 'x')", "hello"),
        ("coalesce('', '')", ""),
        ("if(${a} > 2, 'big', 'small')", "big"),
        ("if(${empty}, 'yes', 'no')", "no"),
        ("once('x')", "cur"),
    ];
    for (src, want) in cases {
        assert_eq!(text(src)?, want, "{src}");
    }
    let lengths = [
        ("string-length('abc')", 3.0),
        ("string-length('')", 0.0),
        ("string-length('héllo')", 5.0),
        ("string-length(${a})", 1.0),
        ("string-length()", 3.0),
        ("string-length(${rep_empty})", 0.0),
    ];
    for (src, n) in lengths {
        assert_eq!(num(src)?, n, "{src}");
    }
    all_true(&[
        "contains('hello', 'ell')",
        "contains('hello', '')",
        "starts-with('hello', 'he')",
        "starts-with('', '')",
        "ends-with('hello', 'lo')",
        "contains(${rep_s}, 'x')",
        "boolean-from-string('true')",
        "boolean-from-string('TRUE')",
        "boolean-from-string('1')",
        "boolean('x')",
        "boolean(${rep})",
        "boolean(-1)",
        "not(false())",
        "true()",
    ])?;
    all_false(&[
        "contains('hello', 'x')",
        "starts-with('hello', 'lo')",
        "ends-with('hello', 'he')",
        "ends-with('', 'a')",
        "boolean-from-string('yes')",
        "boolean-from-string('0')",
        "boolean-from-string('')",
        "boolean('')",
        "boolean(0)",
        "boolean(number('x'))",
        "boolean(${rep_empty})",
        "not(true())",
        "false()",
    ])
}

#[test]
fn regex_function() -> R {
    all_true(&[
        "regex('0712345678', '^[0-9]{10}$')",
        "regex('abc123', '[0-9]+')",
        "regex(${b}, concat('^', 'hel'))",
        "regex('', '^$')",
        "regex('ÉCOLE', '^\\p{Lu}+$')",
    ])?;
    all_false(&[
        "regex('07123', '^[0-9]{10}$')",
        "regex(${empty}, '.')",
        "regex('abc', concat('^', 'b'))",
    ])?;
    assert_eq!(eval_err("regex('a', concat('(', ''))"), "invalid_regex");
    assert_eq!(
        eval_err("regex('a', concat('(?<=', 'a)'))"),
        "invalid_regex"
    );
    Ok(())
}

#[test]
fn number_functions() -> R {
    let cases = [
        ("number('12.5')", 12.5),
        ("number(true())", 1.0),
        ("number(${d})", MAY_1 as f64),
        ("number(${rep})", 1.0),
        ("int(3.7)", 3.0),
        ("int(-3.7)", -3.0),
        ("int('8.9')", 8.0),
        ("round(2.5)", 3.0),
        ("round(-2.5)", -3.0),
        ("round(2.4)", 2.0),
        ("round(1.005, 2)", 1.01),
        ("round(1.23456, 3)", 1.235),
        ("round(1234.5, -2)", 1200.0),
        ("round(9.99, 1)", 10.0),
        ("round(0.004, 2)", 0.0),
        ("round(0.005, 2)", 0.01),
        ("round(5, 0)", 5.0),
        ("round(123.456, 10)", 123.456),
        ("floor(-1.5)", -2.0),
        ("floor(1.5)", 1.0),
        ("ceiling(1.2)", 2.0),
        ("ceiling(-1.2)", -1.0),
        ("abs(-4)", 4.0),
        ("pow(2, 10)", 1024.0),
        ("pow(4, 0.5)", 2.0),
        ("sqrt(16)", 4.0),
        ("exp(0)", 1.0),
        ("exp10(3)", 1000.0),
        ("log(1)", 0.0),
        ("log10(1000)", 3.0),
        ("sin(0)", 0.0),
        ("cos(0)", 1.0),
        ("tan(0)", 0.0),
        ("asin(0)", 0.0),
        ("acos(1)", 0.0),
        ("atan(0)", 0.0),
        ("atan2(0, 1)", 0.0),
        ("pi()", std::f64::consts::PI),
        ("min(3, 1, 2)", 1.0),
        ("max(3, 1, 2)", 3.0),
        ("max(${rep})", 3.0),
        ("min(${rep}, 0.5)", 0.5),
        ("max(${nested})", 6.0),
        ("min(${d}, 0)", 0.0),
        ("count(${rep})", 3.0),
        ("count(${rep_empty})", 0.0),
        ("count(${nested})", 3.0),
        ("count(${a})", 1.0),
        ("count(${empty})", 1.0),
        ("count-non-empty(${rep_s})", 2.0),
        ("count-non-empty(${empty})", 0.0),
        ("sum(${rep})", 6.0),
        ("sum(${nested})", 15.0),
        ("sum(${rep_empty})", 0.0),
        ("sum(${a})", 3.0),
        ("position(..)", 2.0),
        ("position()", 2.0),
    ];
    for (src, n) in cases {
        assert_eq!(num(src)?, n, "{src}");
    }
    for src in [
        "number('')",
        "number()",
        "int(number('x'))",
        "round(number('x'))",
        "round(number('x'), 2)",
        "sqrt(-1)",
        "log(-1)",
        "min(1, 'x')",
        "max(${rep_s})",
        "max(${rep_empty})",
        "sum(${rep_s})",
    ] {
        assert!(num(src)?.is_nan(), "{src}");
    }
    assert_eq!(num("round(1 div 0)")?, f64::INFINITY);
    assert_eq!(num("int(1 div 0)")?, f64::INFINITY);
    assert_eq!(num("log(0)")?, f64::NEG_INFINITY);
    assert_eq!(round_half_away(-0.0, 2).to_bits(), (-0.0f64).to_bits());
    assert_eq!(round_half_away(-0.004, 2), 0.0);
    assert_eq!(round_half_away(1e300, -400), 0.0);
    assert_eq!(round_half_away(123.0, i64::MAX), 123.0);
    Ok(())
}

#[test]
fn date_functions() -> R {
    assert_eq!(v("today()")?, Value::Date(MAY_1));
    assert_eq!(v("now()")?, Value::DateTime(NOW_MS, 480));
    // Just before midnight UTC is already the next day at +08:00.
    let late = TestEnv {
        now: (MAY_1 * DAY_MS - 1, 480),
        ..TestEnv::empty()
    };
    assert_eq!(eval_in("today()", &late)?, Value::Date(MAY_1));
    let early = TestEnv {
        now: (MAY_1 * DAY_MS + 1, -60),
        ..TestEnv::empty()
    };
    assert_eq!(eval_in("today()", &early)?, Value::Date(MAY_1 - 1));

    let dates = [
        ("date('2024-05-01')", Value::Date(MAY_1)),
        ("date(' 2024-05-01 ')", Value::Date(MAY_1)),
        ("date(19844)", Value::Date(MAY_1)),
        ("date(19844.9)", Value::Date(MAY_1)),
        ("date('19844')", Value::Date(MAY_1)),
        ("date(-0.5)", Value::Date(-1)),
        ("date(${d})", Value::Date(MAY_1)),
        ("date(${dt})", Value::Date(MAY_1)),
        ("date('2024-05-01T23:30:00-05:00')", Value::Date(MAY_1)),
        ("date('')", Value::String(String::new())),
        ("date(number(''))", Value::String(String::new())),
        ("date(${rep_d})", Value::Date(MAY_1 - 10)),
        ("date-time(${dt})", Value::DateTime(NOW_MS, 480)),
        (
            "date-time('2024-05-01T10:30:00+08:00')",
            Value::DateTime(NOW_MS, 480),
        ),
        (
            "date-time('2024-05-01T10:30:00')",
            Value::DateTime(NOW_MS, 480),
        ),
        (
            "date-time('2024-05-01')",
            Value::DateTime(MAY_1 * DAY_MS - 480 * 60_000, 480),
        ),
        (
            "date-time(${d})",
            Value::DateTime(MAY_1 * DAY_MS - 480 * 60_000, 480),
        ),
        ("date-time(19844.4375)", Value::DateTime(NOW_MS, 480)),
        ("date-time('')", Value::String(String::new())),
    ];
    for (src, want) in dates {
        assert_eq!(v(src)?, want, "{src}");
    }
    for (src, n) in [
        ("decimal-date-time(${dt})", MAY_1 as f64 + 0.4375),
        (
            "decimal-date-time('2024-05-01T10:30:00+08:00')",
            MAY_1 as f64 + 0.4375,
        ),
        ("decimal-date-time(${d})", MAY_1 as f64),
        ("decimal-date-time(1.25)", 1.25),
        ("decimal-date-time(date-time(19844.4375))", 19844.4375),
        ("decimal-time('12:00')", 0.5),
        ("decimal-time('06:00:00.000+08:00')", 0.25),
        ("decimal-time('06:00:00.000+02:00')", 0.5),
        ("decimal-time(${dt})", 0.4375),
        ("decimal-time(2.75)", 0.75),
        ("decimal-time(${d})", 0.0),
    ] {
        assert_eq!(num(src)?, n, "{src}");
    }
    assert!(num("decimal-date-time('')")?.is_nan());
    assert!(num("decimal-time('')")?.is_nan());
    for src in [
        "date('2024-02-30')",
        "date('May 1')",
        "date(true())",
        "date-time('yesterday')",
        "decimal-date-time('soon')",
    ] {
        assert_eq!(eval_err(src), "invalid_date", "{src}");
    }
    assert_eq!(eval_err("decimal-time('noon')"), "invalid_time");
    assert_eq!(eval_err("date(1 div 0)"), "out_of_range");
    assert_eq!(eval_err("date(1000000000)"), "out_of_range");
    assert_eq!(eval_err("date-time(-1000000000)"), "out_of_range");
    Ok(())
}

#[test]
fn format_date_functions() -> R {
    let cases = [
        ("format-date(${d}, '%Y-%m-%d')", "2024-05-01"),
        ("format-date(${d}, '%e/%n/%y %a %b')", "1/5/24 Wed May"),
        ("format-date('2024-12-25', '%d %b %Y')", "25 Dec 2024"),
        ("format-date(${d}, '%H:%M')", "00:00"),
        ("format-date(19844, '%Y-%m-%d')", "2024-05-01"),
        (
            "format-date(${dt}, '%Y-%m-%d %H:%M:%S.%3')",
            "2024-05-01 10:30:00.000",
        ),
        ("format-date-time(${dt}, '%h:%M %a')", "10:30 Wed"),
        (
            "format-date-time('2024-05-01T07:05:09.042-03:00', '%H:%M:%S.%3')",
            "07:05:09.042",
        ),
        ("format-date-time(19844.75, '%H:%M')", "18:00"),
        ("format-date(${empty}, '%Y')", ""),
        ("format-date('garbage', '%Y')", ""),
        ("format-date(true(), '%Y')", ""),
        ("format-date(1 div 0, '%Y')", ""),
        ("format-date(${d}, '100%% %q')", "100% %q"),
        ("format-date(${rep_empty}, '%Y')", ""),
    ];
    for (src, want) in cases {
        assert_eq!(text(src)?, want, "{src}");
    }
    Ok(())
}

#[test]
fn once_and_current() -> R {
    let mut env = TestEnv::standard();
    assert_eq!(
        eval_in("once(${a} + 1)", &env)?,
        Value::String("cur".into())
    );
    assert_eq!(eval_in(". = 'cur'", &env)?, Value::Boolean(true));
    assert_eq!(eval_in("current() = 'cur'", &env)?, Value::Boolean(true));
    assert_eq!(eval_in("string-length(.) > 2", &env)?, Value::Boolean(true));
    env.current = Value::String(String::new());
    assert_eq!(eval_in("once(${a} + 1)", &env)?, Value::Number(4.0));
    assert_eq!(eval_in(". = ''", &env)?, Value::Boolean(true));
    env.current = Value::Number(0.0);
    assert_eq!(eval_in("once(9)", &env)?, Value::Number(0.0));
    env.position = 0;
    assert_eq!(eval_in("position(..)", &env)?, Value::Number(0.0));
    Ok(())
}

#[test]
fn indexed_repeat() -> R {
    let env = TestEnv::standard();
    assert_eq!(
        eval_in("indexed-repeat(${rep}, ${rep}, 2)", &env)?,
        Value::Number(2.0)
    );
    assert_eq!(
        eval_in("indexed-repeat(${rep}, ${rep}, 4)", &env)?,
        Value::String(String::new())
    );
    assert_eq!(
        eval_in("indexed-repeat(${rep}, ${rep}, 0)", &env)?,
        Value::String(String::new())
    );
    assert_eq!(
        eval_in("indexed-repeat(${rep}, ${rep}, number('x'))", &env)?,
        Value::String(String::new())
    );
    assert_eq!(
        eval_in("indexed-repeat(${a}, ${rep}, 1)", &env)?,
        Value::Number(3.0)
    );
    assert_eq!(
        eval_in("indexed-repeat(${a}, ${rep}, 2)", &env)?,
        Value::String(String::new())
    );
    assert_eq!(
        eval_in("indexed-repeat(${rep}, ${rep}, 1 div 0)", &env)?,
        Value::String(String::new())
    );
    Ok(())
}

#[test]
fn volatile_functions() -> R {
    let id = text("uuid()")?;
    assert_eq!(id.len(), 36);
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        vec![8, 4, 4, 4, 12]
    );
    assert!(
        id.chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(parts.get(2).and_then(|p| p.chars().next()), Some('4'));
    assert!(matches!(
        parts.get(3).and_then(|p| p.chars().next()),
        Some('8' | '9' | 'a' | 'b')
    ));
    assert_ne!(text("uuid()")?, id);
    let short = text("uuid(12)")?;
    assert_eq!(short.len(), 12);
    assert!(short.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(text("uuid(1024)")?.len(), 1024);
    assert_eq!(text("uuid(0)")?, "");
    assert_eq!(text("uuid(-5)")?, "");
    assert_eq!(eval_err("uuid(1025)"), "out_of_range");
    assert_eq!(eval_err("uuid(1 div 0)"), "out_of_range");
    for _ in 0..100 {
        let r = num("random()")?;
        assert!((0.0..1.0).contains(&r), "{r}");
    }
    Ok(())
}

// ---------------------------------------------------------------- parse-time facts

#[test]
fn references_volatility_current_and_functions() -> R {
    let e = Expr::parse(
        "${b} + ${a} * count(${b}) and jr:choice-name(${x}, '${q}') or indexed-repeat(${c}, ${r}, 1)",
    )?;
    assert_eq!(e.references(), ["a", "b", "c", "q", "r", "x"]);
    assert_eq!(e.functions(), ["count", "indexed-repeat", "jr:choice-name"]);
    assert!(!e.is_volatile());
    assert!(!e.uses_current());
    assert_eq!(
        e.source(),
        "${b} + ${a} * count(${b}) and jr:choice-name(${x}, '${q}') or indexed-repeat(${c}, ${r}, 1)"
    );
    for src in [
        "now()",
        "today() - ${d}",
        "random() < 0.5",
        "uuid(4)",
        "once(uuid())",
    ] {
        assert!(Expr::parse(src)?.is_volatile(), "{src}");
    }
    for src in [
        ".",
        "once(1)",
        "string-length()",
        "current()",
        "number() > 3",
        "normalize-space()",
        "string()",
        ". + 1",
    ] {
        assert!(Expr::parse(src)?.uses_current(), "{src}");
    }
    for src in ["string-length(${a})", "position(..)", "'.'", ".5"] {
        assert!(!Expr::parse(src)?.uses_current(), "{src}");
    }
    assert!(Expr::parse("'${not_a_ref}'")?.references().is_empty());
    Ok(())
}

#[test]
fn supported_functions_match_the_table() {
    assert_eq!(SUPPORTED_FUNCTIONS.len(), TABLE.len());
    for (name, spec) in SUPPORTED_FUNCTIONS.iter().zip(TABLE) {
        assert_eq!(*name, spec.name);
        assert!(spec.min <= spec.max);
    }
    let mut names = SUPPORTED_FUNCTIONS.to_vec();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), SUPPORTED_FUNCTIONS.len(), "duplicate names");
    for name in [
        "selected",
        "jr:choice-name",
        "format-date-time",
        "position",
        "once",
        "join",
    ] {
        assert!(SUPPORTED_FUNCTIONS.contains(&name), "{name}");
    }
}

/// Every function parses with each argument count in its arity and fails with `arity`
/// just outside it.
#[test]
fn every_function_checks_its_arity() {
    let arg = |f: &str, i: usize| match (f, i) {
        ("jr:choice-name", 1) => "'${q}'".to_owned(),
        ("indexed-repeat", 0 | 1) => "${r}".to_owned(),
        ("position", _) => "..".to_owned(),
        _ => "'1'".to_owned(),
    };
    for spec in TABLE {
        let call = |n: usize| {
            let args: Vec<String> = (0..n).map(|i| arg(spec.name, i)).collect();
            format!("{}({})", spec.name, args.join(", "))
        };
        let max = if spec.max == ANY {
            usize::from(spec.min) + 3
        } else {
            usize::from(spec.max)
        };
        for n in usize::from(spec.min)..=max {
            let src = call(n);
            let e = Expr::parse(&src).unwrap_or_else(|e| panic!("{src}: {e}"));
            // Every function evaluates without panicking on text arguments.
            let _ = e.eval(&TestEnv::standard());
        }
        if spec.name == "position" {
            continue; // position(.., ..) is `unsupported`, checked elsewhere
        }
        if spec.min > 0 {
            assert_eq!(
                parse_err(&call(usize::from(spec.min) - 1)),
                ("arity", 0),
                "{}",
                spec.name
            );
        }
        if spec.max != ANY {
            assert_eq!(parse_err(&call(max + 1)), ("arity", 0), "{}", spec.name);
        }
    }
}

// ---------------------------------------------------------------- errors

#[test]
fn syntax_errors_have_positions() {
    let cases = [
        ("", ("syntax", 0)),
        ("   ", ("syntax", 0)),
        ("1 +", ("syntax", 3)),
        ("1 + (2", ("syntax", 4)),
        ("(1))", ("syntax", 3)),
        ("1 2", ("syntax", 2)),
        ("'abc", ("syntax", 0)),
        ("1 = 'a", ("syntax", 4)),
        ("${a} = = 1", ("syntax", 7)),
        ("concat(1,", ("syntax", 9)),
        ("concat(1,)", ("syntax", 9)),
        ("concat(1 2)", ("syntax", 9)),
        ("if(1, 2", ("syntax", 0)),
        ("${a} AND ${b}", ("syntax", 5)),
        ("${a} ! ${b}", ("syntax", 5)),
        ("'é' + #", ("syntax", 6)),
        ("${a} &lt; 3", ("syntax", 5)),
        ("\u{201C}x\u{201D} = 1", ("syntax", 0)),
        ("${}", ("syntax", 0)),
        ("${a b}", ("syntax", 0)),
        ("${a", ("syntax", 0)),
        ("1 = ,", ("syntax", 4)),
        ("1.2.3", ("syntax", 3)),
    ];
    for (src, want) in cases {
        assert_eq!(parse_err(src), want, "{src:?}");
    }
}

#[test]
fn unknown_functions_and_arity() -> R {
    assert_eq!(parse_err("foo(1)"), ("unknown_function", 0));
    assert_eq!(
        parse_err("1 + pulldata('a', 'b', 'c', 'd')"),
        ("unknown_function", 4)
    );
    assert_eq!(parse_err("If(1, 2, 3)"), ("unknown_function", 0));
    assert_eq!(parse_err("  if(1, 2)"), ("arity", 2));
    assert_eq!(parse_err("true(1)"), ("arity", 0));
    assert_eq!(parse_err("not(1, 2)"), ("arity", 0));
    assert_eq!(parse_err("round()"), ("arity", 0));
    assert_eq!(parse_err("min()"), ("arity", 0));
    assert_eq!(parse_err("join(',')"), ("arity", 0));
    let e = Expr::parse("If(1, 2, 3)").err().ok_or("parsed")?;
    assert!(
        e.message.contains("If") && e.message.contains("'if()'"),
        "{}",
        e.message
    );
    let e = Expr::parse("pulldata('a', 'b', 'c', 'd')")
        .err()
        .ok_or("parsed")?;
    assert!(e.message.contains("pulldata"), "{}", e.message);
    let e = Expr::parse("substr('a')").err().ok_or("parsed")?;
    assert_eq!(e.message, "substr() takes 2 to 3 arguments, found 1");
    assert_eq!(
        e.to_string(),
        "substr() takes 2 to 3 arguments, found 1 (at character 0)"
    );
    let e = Expr::parse("if(1)").err().ok_or("parsed")?;
    assert_eq!(e.message, "if() takes 3 arguments, found 1");
    let e = Expr::parse("max()").err().ok_or("parsed")?;
    assert_eq!(e.message, "max() takes at least 1 argument, found 0");
    Ok(())
}

#[test]
fn unsupported_constructs() -> R {
    let cases = [
        ("/data/x = 1", 0),
        ("${a} / 2", 5),
        ("${a} // 2", 5),
        ("instance('list')/root/item[name = ${a}]/label", 0),
        ("x = 1", 0),
        ("data/x", 0),
        ("${a}[1]", 4),
        ("${a} | ${b}", 5),
        ("@id", 0),
        ("* = 1", 0),
        ("..", 0),
        ("count(..)", 6),
        ("position(.)", 9),
        ("position(${a})", 9),
        ("$a", 0),
        ("jr:choice-name(${a}, ${a})", 21),
        ("jr:choice-name(${a}, 'a')", 21),
        ("jr:choice-name(${a}, '${1}')", 21),
        ("indexed-repeat('x', ${r}, 1)", 0),
        ("current()/../x", 9),
        ("[1]", 0),
    ];
    for (src, at) in cases {
        assert_eq!(parse_err(src), ("unsupported", at), "{src:?}");
    }
    let e = Expr::parse("/data/x").err().ok_or("parsed")?;
    assert!(e.message.contains("${name}"), "{}", e.message);
    let e = Expr::parse("x + 1").err().ok_or("parsed")?;
    assert!(e.message.contains("${x}"), "{}", e.message);
    let e = Expr::parse("${a} / 2").err().ok_or("parsed")?;
    assert!(e.message.contains("div"), "{}", e.message);
    Ok(())
}

#[test]
fn invalid_literal_regex_fails_at_parse() {
    for (src, at) in [
        ("regex(., '(?<=a)b')", 9),
        ("regex(., '(a)\\1')", 9),
        ("regex(., '(')", 9),
        ("regex(., '(?<n>a)\\k<n>')", 9),
        ("regex(., '(?!x)')", 9),
        ("regex(., 'a{1000}{1000}')", 9),
        ("'é' = regex(., '[')", 15),
    ] {
        assert_eq!(parse_err(src), ("invalid_regex", at), "{src:?}");
    }
}

#[test]
fn size_and_depth_limits() -> R {
    let long = format!("'{}'", "x".repeat(MAX_SOURCE_BYTES));
    assert_eq!(parse_err(&long).0, "too_long");
    let just = format!("'{}'", "x".repeat(MAX_SOURCE_BYTES - 2));
    assert_eq!(Expr::parse(&just)?.source().len(), MAX_SOURCE_BYTES);
    let long_unicode = "é".repeat(MAX_SOURCE_BYTES);
    assert_eq!(parse_err(&long_unicode), ("too_long", MAX_SOURCE_BYTES / 2));

    let ok_parens = format!(
        "{}1{}",
        "(".repeat(MAX_DEPTH - 1),
        ")".repeat(MAX_DEPTH - 1)
    );
    assert_eq!(v(&ok_parens)?, Value::Number(1.0));
    let deep_parens = format!("{}1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert_eq!(parse_err(&deep_parens), ("too_deep", MAX_DEPTH));
    assert_eq!(parse_err(&"(".repeat(60_000)).0, "too_deep");
    // Signs do not nest: any number of them folds to at most two negations.
    assert_eq!(num(&format!("{}1", "-".repeat(60_001)))?, -1.0);
    assert_eq!(num(&format!("{}${{numstr}}", "-".repeat(60_000)))?, 12.5);
    assert_eq!(num(&format!("{}${{numstr}}", "- ".repeat(30_001)))?, -12.5);
    assert_eq!(parse_err(&"not(".repeat(10_000)).0, "too_deep");
    assert_eq!(
        parse_err(&format!("{}1{}", "if(1, 2, ".repeat(100), ")".repeat(100))).0,
        "too_deep"
    );

    // Long flat chains are fine: they do not nest.
    let sum = vec!["${a}"; 2_000].join(" + ");
    assert_eq!(num(&sum)?, 6_000.0);
    let any = vec!["selected(${multi}, 'z')"; 500].join(" or ");
    assert!(!yes(&any)?);
    // … up to the node limit.
    let huge = vec!["1"; MAX_NODES].join("+");
    assert_eq!(parse_err(&huge).0, "too_complex");
    let args = vec!["1"; MAX_ARGS + 1].join(",");
    assert_eq!(parse_err(&format!("concat({args})")), ("too_complex", 0));
    let ok_args = vec!["'a'"; MAX_ARGS].join(",");
    assert_eq!(text(&format!("concat({ok_args})"))?.len(), MAX_ARGS);
    Ok(())
}

/// The deepest expressions the parser accepts parse and evaluate on a small stack:
/// 256 KiB in a release build (half an iOS secondary thread's default; measured need
/// below 128 KiB), 1 MiB in a debug build, whose frames are several times larger.
#[test]
fn deepest_expressions_fit_a_small_stack() -> R {
    let level =
        |inner: String| format!("if(${{a}} = 1 or -(${{b}} * 2 + 1) < 3 and 2 > 1, {inner}, 1)");
    let mut src = "1".to_owned();
    let mut depth = 0;
    while Expr::parse(&level(src.clone())).is_ok() {
        src = level(src);
        depth += 1;
    }
    assert!(depth >= 20, "only {depth} levels");
    let worst = [
        src,
        format!(
            "{}1{}",
            "-(".repeat(MAX_DEPTH / 2 - 1),
            ")".repeat(MAX_DEPTH / 2 - 1)
        ),
        format!(
            "{}1{}",
            "not(".repeat(MAX_DEPTH - 1),
            ")".repeat(MAX_DEPTH - 1)
        ),
        format!(
            "{}'a'{}",
            "concat(1 < 2 = (".repeat(MAX_DEPTH / 2 - 1),
            "))".repeat(MAX_DEPTH / 2 - 1)
        ),
    ];
    let stack = if cfg!(debug_assertions) { 1024 } else { 256 } * 1024;
    let handle = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            worst
                .iter()
                .map(|src| {
                    let e = Expr::parse(src).map_err(|e| format!("{}: {src}", e.code))?;
                    e.eval(&TestEnv::standard())
                        .map(|_| ())
                        .map_err(|e| e.code.to_owned())
                })
                .collect::<Result<Vec<()>, String>>()
        })?;
    match handle.join() {
        Ok(r) => r.map(|_| ()).map_err(Into::into),
        Err(_) => Err("thread panicked".into()),
    }
}

#[test]
fn eval_errors_carry_no_answers() -> R {
    let secret = "SECRET-ANSWER-4711";
    let env = TestEnv::empty().with("x", Value::String(secret.into()));
    for src in [
        "date(${x})",
        "date-time(${x})",
        "decimal-time(${x})",
        "regex('a', ${x})",
        "regex('a', concat('(', ${x}))",
    ] {
        let e = Expr::parse(src)?;
        match e.eval(&env) {
            Err(err) => {
                assert!(
                    !err.message.contains(secret) && !err.to_string().contains(secret),
                    "{src}"
                );
            }
            Ok(other) => {
                // `regex('a', ${x})` compiles the answer as a pattern and may succeed.
                assert!(src.starts_with("regex"), "{src} gave {other:?}");
            }
        }
    }
    Ok(())
}

#[test]
fn expr_is_send_sync_clone() -> R {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
    check::<Expr>();
    check::<Value>();
    let e = Expr::parse("regex(${b}, '^h') and ${a} > 2")?;
    let copy = e.clone();
    let handle = std::thread::spawn(move || copy.eval(&TestEnv::standard()));
    let r = handle.join().map_err(|_| "thread panicked")??;
    assert_eq!(r, Value::Boolean(true));
    assert_eq!(e.eval(&TestEnv::standard())?, Value::Boolean(true));
    Ok(())
}

// ---------------------------------------------------------------- property tests

fn value_strategy() -> impl Strategy<Value = Value> {
    let texts = prop::sample::select(vec![
        "",
        " ",
        "2024-05-01",
        "2024-05-01T10:30:00Z",
        "2024-05-01T10:30:00.123-05:30",
        "10:30",
        "a b c",
        "12.5",
        "-0",
        "NaN",
        " 7 ",
        "1e5",
        "Infinity",
        "(",
        "[",
        "^a+$",
        "%Y %b %3",
        "ünïcødé",
        "日本語",
        "\u{0}",
        "𝕏",
    ]);
    let leaf = prop_oneof![
        ".{0,12}".prop_map(Value::String),
        texts.prop_map(|s| Value::String(s.to_owned())),
        any::<f64>().prop_map(Value::Number),
        prop::sample::select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            1e308,
            -1e308,
            5e-324,
            3.0,
            1024.0,
            1025.0,
            1e15,
            -1.0,
            0.5,
            19_844.437_5,
            3_000_000.0,
            3_000_001.0,
        ])
        .prop_map(Value::Number),
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(Value::Date),
        (-1_000_000i64..1_000_000).prop_map(Value::Date),
        (any::<i64>(), any::<i32>()).prop_map(|(ms, off)| Value::DateTime(ms, off)),
        (-100_000_000_000_000i64..100_000_000_000_000, -900i32..900)
            .prop_map(|(ms, off)| Value::DateTime(ms, off)),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop::collection::vec(inner, 0..5).prop_map(Value::Nodes)
    })
}

fn expr_strategy() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "${a}",
        "${b}",
        "${c}",
        "${n}",
        ".",
        "position(..)",
        "today()",
        "now()",
        "random()",
        "uuid()",
        "uuid(${a})",
        "true()",
        "1",
        "0",
        "-1",
        ".5",
        "1e",
        "'2024-05-01'",
        "''",
        "'a b'",
        "'%Y-%m-%d %H:%M:%S %3 %a %b %e %n %y %h %%'",
        "'^[0-9]+$'",
        "'('",
        "..",
        "/x",
        "pi()",
        "jr:choice-name(${a}, '${b}')",
        "indexed-repeat(${a}, ${b}, ${c})",
        "current()",
        "regex(${a}, ${b})",
        "'10:30+02:00'",
        "'2024-05-01T10:30:00Z'",
    ]);
    let leaf = prop_oneof![
        4 => atoms.prop_map(String::from),
        1 => any::<f64>().prop_map(|f| format!("{}", f.abs())),
        1 => "[a-z %-]{0,6}".prop_map(|s| format!("'{s}'")),
    ];
    let ops = prop::sample::select(vec![
        "+", "-", "*", "div", "mod", "=", "!=", "<", "<=", ">", ">=", "and", "or", "|", "/",
    ]);
    leaf.prop_recursive(5, 64, 4, move |inner| {
        prop_oneof![
            3 => (inner.clone(), ops.clone(), inner.clone()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            1 => inner.clone().prop_map(|a| format!("({a})")),
            1 => inner.clone().prop_map(|a| format!("-{a}")),
            4 => (0..TABLE.len(), prop::collection::vec(inner, 0..4), any::<bool>()).prop_map(
                |(i, mut args, fit)| {
                    let (name, min, max) = TABLE.get(i).map_or(("concat", 0, ANY), |s| (s.name, s.min, s.max));
                    if fit {
                        while args.len() < usize::from(min) {
                            args.push("'1'".to_owned());
                        }
                        if max != ANY {
                            args.truncate(usize::from(max));
                        }
                    }
                    format!("{name}({})", args.join(", "))
                }
            ),
        ]
    })
}

fn env_strategy() -> impl Strategy<Value = TestEnv> {
    (
        prop::collection::vec(value_strategy(), 4),
        value_strategy(),
        0usize..5,
        any::<i64>(),
        any::<i32>(),
        any::<bool>(),
    )
        .prop_map(|(vals, current, position, ms, off, realistic)| {
            let mut env = TestEnv::empty();
            for (name, v) in ["a", "b", "c", "n"].iter().zip(vals) {
                env.vars.insert((*name).to_owned(), v);
            }
            env.current = current;
            env.position = position;
            env.now = if realistic { (NOW_MS, 480) } else { (ms, off) };
            env.labels.insert(("b".into(), "x".into()), "X".into());
            env
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_500, ..ProptestConfig::default() })]

    /// Structured random expressions over random answers: parse may fail, nothing panics,
    /// and what parses reports sorted, unique references and evaluates twice alike
    /// unless it is volatile.
    #[test]
    fn structured_expressions_never_panic(src in expr_strategy(), env in env_strategy()) {
        if let Ok(e) = Expr::parse(&src) {
            let refs = e.references();
            prop_assert!(refs.windows(2).all(|w| w.first() < w.get(1)));
            let first = e.eval(&env);
            if let Ok(v) = &first {
                let _ = (v.as_str(), v.as_number(), v.as_bool(), v.is_empty());
            }
            if !e.is_volatile() {
                let again = e.eval(&env);
                prop_assert_eq!(format!("{first:?}"), format!("{again:?}"));
            }
        }
    }

    /// Arbitrary text and token soup never panic the parser (nor the evaluator).
    #[test]
    fn arbitrary_text_never_panics(
        any_text in ".{0,80}",
        soup in prop::collection::vec(prop::sample::select(vec![
            "(", ")", ",", "'", "\"", "${", "}", "a", "${a}", ".", "..", "-", "+", "*", "/", "//",
            "[", "]", "|", "@", "=", "!=", "!", "<", ">=", " and ", " or ", " div ", " mod ",
            "1", "2.5", ".5", "if(", "concat(", "regex(", "jr:choice-name(", "position(", "é",
            "date(", "format-date(", "substr(", "'%Y'", "\u{201C}", "&", ":", "$",
        ]), 0..40),
        env in env_strategy(),
    ) {
        for src in [any_text, soup.concat()] {
            if let Ok(e) = Expr::parse(&src) {
                let _ = e.eval(&env);
            }
        }
    }

    /// Conversions of any value never panic and agree with their definitions.
    #[test]
    fn conversions_never_panic(v in value_strategy()) {
        let s = v.as_str();
        prop_assert_eq!(v.is_empty(), s.is_empty());
        let _ = (v.as_number(), v.as_bool(), v.to_string(), v.as_string());
    }
}
