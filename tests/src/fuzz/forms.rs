//! Targets `xlsform` and `expr`: the XLSForm importer (`forms::xlsform`) with the form
//! engine behind it, and the expression language (`forms::expr`).
//!
//! - `xlsform`: the first byte picks raw bytes as an `.xlsx` archive (calamine's zip and
//!   XML readers), as pyxform's CSV layout, or as a JSON workbook; or a structured
//!   workbook (rows of real XLSForm types, names, groups and repeats nested at random,
//!   expressions built from real fragments) written as JSON. A form that imports is
//!   compiled, and a response with fuzzed answers is evaluated, prefilled and finalised.
//! - `expr`: text parsed as an expression and as a choice filter, or an expression tree
//!   built from the grammar (functions with their arities, operators, references),
//!   nested past the depth limit; what parses is evaluated against an environment whose
//!   answers come from the input.

use arbitrary::{Arbitrary, Result, Unstructured};
use fieldsync_core::forms::engine::{CompiledForm, EvalContext};
use fieldsync_core::forms::expr::{Env, Expr, Value};
use fieldsync_core::forms::xlsform::{Format, import_bytes};
use fieldsync_core::model::response::Answer;
use fieldsync_core::model::{Form, QuestionKind};
use serde_json::{Map, Value as J, json};

const TYPES: &[&str] = &[
    "text",
    "integer",
    "decimal",
    "select_one yn",
    "select_multiple yn",
    "select_one region",
    "select_one yn or_other",
    "begin group",
    "end group",
    "begin repeat",
    "end repeat",
    "note",
    "calculate",
    "date",
    "datetime",
    "time",
    "geopoint",
    "range",
    "acknowledge",
    "rank yn",
    "image",
    "barcode",
    "start",
    "today",
    "deviceid",
    "hidden",
    "trigger",
    "select_one_from_file c.csv",
    "score",
];
const NAMES: &[&str] = &["q0", "q1", "q2", "q3", "g", "r", "n", "a-b", "1bad", ""];
const FRAGMENTS: &[&str] = &[
    "${q0}",
    "${q1}",
    "${q2} > 3",
    "selected(${q3}, 'y')",
    ".",
    ". >= 1 and . <= 10",
    "count(${r})",
    "position(..)",
    "concat(${q0}, 'x')",
    "if(${q1} = 'y', 1, 0)",
    "today()",
    "${missing}",
    "indexed-repeat(${q2}, ${r}, 1)",
    "region = ${q0}",
    "string-length(.) < 5",
    "sum(${q2})",
    "jr:choice-name(${q1}, '${q1}')",
    "(",
    "1 div 0",
    "regex(., '^[0-9]+$')",
];

#[derive(Debug, Arbitrary)]
struct Row {
    ty: u8,
    ty_raw: Option<String>,
    name: u8,
    label: Option<String>,
    relevant: Option<u8>,
    constraint: Option<u8>,
    required: Option<bool>,
    calculation: Option<u8>,
    choice_filter: Option<u8>,
    repeat_count: Option<u8>,
    default: Option<String>,
    parameters: Option<String>,
    extra: Option<(String, String)>,
}

fn pick(list: &[&str], i: u8) -> String {
    list[usize::from(i) % list.len()].to_string()
}

fn survey_row(r: &Row) -> J {
    let mut o = Map::new();
    let ty = match &r.ty_raw {
        Some(t) if r.ty.is_multiple_of(8) => t.clone(),
        _ => pick(TYPES, r.ty),
    };
    o.insert("type".into(), J::String(ty));
    o.insert("name".into(), J::String(pick(NAMES, r.name)));
    if let Some(l) = &r.label {
        o.insert("label".into(), J::String(l.clone()));
    }
    let mut put = |col: &str, v: Option<u8>| {
        if let Some(i) = v {
            o.insert(col.into(), J::String(pick(FRAGMENTS, i)));
        }
    };
    put("relevant", r.relevant);
    put("constraint", r.constraint);
    put("calculation", r.calculation);
    put("choice_filter", r.choice_filter);
    put("repeat_count", r.repeat_count);
    if let Some(q) = r.required {
        o.insert(
            "required".into(),
            J::String(if q { "yes".into() } else { "no".into() }),
        );
    }
    if let Some(d) = &r.default {
        o.insert("default".into(), J::String(d.clone()));
    }
    if let Some(p) = &r.parameters {
        o.insert("parameters".into(), J::String(p.clone()));
    }
    if let Some((k, v)) = &r.extra {
        o.insert(k.clone(), J::String(v.clone()));
    }
    J::Object(o)
}

#[derive(Debug, Arbitrary)]
struct Workbook {
    rows: Vec<Row>,
    /// Extra `begin group`/`begin repeat` wrappers around everything (deep nesting).
    wrap: u8,
    choices: Vec<(u8, String, Option<String>)>,
    form_id: Option<String>,
    version: Option<String>,
}

fn workbook_json(w: &Workbook) -> Vec<u8> {
    let mut survey = Vec::new();
    let depth = usize::from(w.wrap % 40);
    for i in 0..depth {
        let kind = if i % 2 == 0 { "group" } else { "repeat" };
        survey.push(json!({"type": format!("begin {kind}"), "name": format!("w{i}")}));
    }
    survey.extend(w.rows.iter().map(survey_row));
    for i in (0..depth).rev() {
        let kind = if i % 2 == 0 { "group" } else { "repeat" };
        survey.push(json!({"type": format!("end {kind}")}));
    }
    let mut choices = vec![
        json!({"list_name": "yn", "name": "y", "label": "Yes"}),
        json!({"list_name": "yn", "name": "n", "label": "No"}),
    ];
    for (l, name, label) in &w.choices {
        let list = if l % 2 == 0 { "yn" } else { "region" };
        choices.push(json!({"list_name": list, "name": name, "label": label, "region": name}));
    }
    let mut settings = Map::new();
    if let Some(f) = &w.form_id {
        settings.insert("form_id".into(), J::String(f.clone()));
    }
    if let Some(v) = &w.version {
        settings.insert("version".into(), J::String(v.clone()));
    }
    serde_json::to_vec(&json!({
        "survey": survey,
        "choices": choices,
        "settings": [J::Object(settings)],
    }))
    .unwrap_or_default()
}

fn answer(
    u: &mut Unstructured<'_>,
    kind: QuestionKind,
    first_choice: Option<&str>,
) -> Result<Answer> {
    Ok(match u.int_in_range(0u8..=6)? {
        0 => Answer::Text(u.arbitrary()?),
        1 => Answer::Integer(u.arbitrary()?),
        2 => Answer::Decimal(u.arbitrary()?),
        3 => Answer::Choice(match first_choice {
            Some(c) if u.arbitrary()? => c.to_string(),
            _ => u.arbitrary()?,
        }),
        4 => Answer::Choices(u.arbitrary()?),
        5 => Answer::Date(u.arbitrary()?),
        _ => match kind {
            QuestionKind::Integer => Answer::Integer(u.int_in_range(-5..=20)?),
            _ => Answer::Text(u.arbitrary()?),
        },
    })
}

/// Compile an imported form and run a response with fuzzed answers through it.
fn exercise(form: &Form, u: &mut Unstructured<'_>) {
    let Ok(compiled) = CompiledForm::compile(form) else {
        return;
    };
    let template = fieldsync_core::sample::telecom_form(1);
    let mut rng = fieldsync_core::sample::Rng::new(1);
    let form_id = fieldsync_core::DocId::from_slice(&[1; 16]).expect("16 bytes");
    let mut r = fieldsync_core::sample::telecom_response(&mut rng, form_id, &template, "r", "e", 0);
    r.answers.clear();
    for q in &form.questions {
        match answer(u, q.kind, q.choices.first().map(|c| c.value.as_str())) {
            Ok(a) => {
                r.answers.insert(q.id.clone(), a);
            }
            Err(_) => break,
        }
    }
    let ctx = EvalContext::at(1_700_000_000_000);
    compiled.prefill(&mut r, &ctx);
    let ev = compiled.evaluate(&r, &ctx);
    drop(ev);
    compiled.finalize(&mut r, &ctx);
}

/// The `xlsform` harness.
pub fn xlsform(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut u = Unstructured::new(rest);
    let imported = match mode % 4 {
        0 => import_bytes(rest, Format::Xlsx),
        1 => import_bytes(rest, Format::Csv),
        2 => import_bytes(rest, Format::Json),
        _ => {
            let Ok(w) = Workbook::arbitrary(&mut u) else {
                return;
            };
            import_bytes(&workbook_json(&w), Format::Json)
        }
    };
    if let Ok(import) = imported {
        exercise(&import.form, &mut u);
    }
}

const FUNCS: &[(&str, usize)] = &[
    ("concat", 3),
    ("if", 3),
    ("selected", 2),
    ("count", 1),
    ("sum", 1),
    ("string-length", 1),
    ("substr", 3),
    ("regex", 2),
    ("coalesce", 2),
    ("round", 2),
    ("pow", 2),
    ("int", 1),
    ("number", 1),
    ("string", 1),
    ("not", 1),
    ("format-date", 2),
    ("date", 1),
    ("decimal-date-time", 1),
    ("jr:choice-name", 2),
    ("indexed-repeat", 3),
    ("join", 2),
    ("count-selected", 1),
    ("selected-at", 2),
    ("translate", 3),
    ("max", 1),
    ("min", 1),
    ("today", 0),
    ("now", 0),
    ("position", 1),
    ("once", 1),
    ("digest", 2),
    ("distance", 1),
    ("area", 1),
    ("checklist", 3),
    ("weighted-checklist", 4),
    ("substring-before", 2),
    ("boolean-from-string", 1),
    ("normalize-space", 1),
    ("date-time", 1),
    ("exp", 1),
    ("random", 0),
    ("uuid", 0),
    ("pi", 0),
    ("true", 0),
    ("false", 0),
    ("current", 0),
];
const OPS: &[&str] = &[
    " + ", " - ", " * ", " div ", " mod ", " = ", " != ", " < ", " <= ", " > ", " >= ", " and ",
    " or ", " | ",
];
const LEAVES: &[&str] = &[
    "${q0}",
    "${q1}",
    "${r}",
    ".",
    "..",
    "'y'",
    "'2026-01-31'",
    "3",
    "-1.5",
    "0",
    "''",
    "'a b c'",
    "1e308",
    "${q0}[1]",
    "current()/../q1",
    "name",
];

fn gen_expr(u: &mut Unstructured<'_>, depth: usize, out: &mut String) -> Result<()> {
    if depth == 0 || u.is_empty() {
        out.push_str(u.choose(LEAVES)?);
        return Ok(());
    }
    match u.int_in_range(0u8..=4)? {
        0 => out.push_str(u.choose(LEAVES)?),
        1 => {
            let (f, n) = *u.choose(FUNCS)?;
            out.push_str(f);
            out.push('(');
            let n = if u.ratio(1u8, 8u8)? { n + 1 } else { n };
            for i in 0..n {
                if i > 0 {
                    out.push_str(", ");
                }
                gen_expr(u, depth - 1, out)?;
            }
            out.push(')');
        }
        2 => {
            gen_expr(u, depth - 1, out)?;
            out.push_str(u.choose(OPS)?);
            gen_expr(u, depth - 1, out)?;
        }
        3 => {
            out.push('(');
            gen_expr(u, depth - 1, out)?;
            out.push(')');
        }
        _ => {
            out.push('-');
            gen_expr(u, depth - 1, out)?;
        }
    }
    Ok(())
}

/// Answers for `${name}` from the input.
struct FuzzEnv {
    values: Vec<Value>,
}

impl Env for FuzzEnv {
    fn reference(&self, name: &str) -> Value {
        let i = name.bytes().map(usize::from).sum::<usize>();
        self.values
            .get(i % self.values.len().max(1))
            .cloned()
            .unwrap_or_else(|| Value::String(String::new()))
    }
    fn current(&self) -> Value {
        self.values.first().cloned().unwrap_or(Value::Number(1.0))
    }
    fn position(&self) -> usize {
        self.values.len()
    }
    fn choice_label(&self, _question: &str, value: &str) -> Option<String> {
        (!value.is_empty()).then(|| value.to_uppercase())
    }
    fn now(&self) -> (fieldsync_core::Timestamp, i32) {
        (1_700_000_000_000, 480)
    }
    fn column(&self, name: &str) -> Value {
        Value::String(name.to_string())
    }
}

fn value(u: &mut Unstructured<'_>, depth: u8) -> Result<Value> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => Value::String(u.arbitrary()?),
        1 => Value::Number(u.arbitrary()?),
        2 => Value::Boolean(u.arbitrary()?),
        3 => Value::Date(u.arbitrary()?),
        4 => Value::DateTime(u.arbitrary()?, u.int_in_range(-900..=900)?),
        _ if depth < 3 => {
            let n = u.int_in_range(0u8..=4)?;
            Value::Nodes((0..n).map(|_| value(u, depth + 1)).collect::<Result<_>>()?)
        }
        _ => Value::String(String::new()),
    })
}

/// The `expr` harness.
pub fn expr(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut u = Unstructured::new(rest);
    let src = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let mut s = String::new();
        let depth = usize::from(mode / 2 % 96);
        if gen_expr(&mut u, depth, &mut s).is_err() {
            return;
        }
        s
    };
    let mut values = Vec::new();
    while values.len() < 8 {
        match value(&mut u, 0) {
            Ok(v) => values.push(v),
            Err(_) => break,
        }
    }
    let env = FuzzEnv { values };
    for e in [Expr::parse(&src), Expr::parse_choice_filter(&src)]
        .into_iter()
        .flatten()
    {
        let _ = e.references();
        if let Ok(v) = e.eval(&env) {
            let _ = (v.as_bool(), v.as_number(), v.as_string());
        }
    }
}
