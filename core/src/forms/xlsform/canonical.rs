//! The canonical tree of a form: a plain JSON shape both this importer and pyxform
//! can be reduced to, so a test can compare them (`core/tests/xlsform_pyxform.rs`
//! builds the same shape from pyxform's output with
//! `core/tests/xlsforms/pyxform_tree.py`).
//!
//! ```text
//! {"form_key", "title", "settings": {..}, "children": [element, ...]}
//! element: {"name", "type", "label"?, "hint"?, "relevant"?, "constraint"?,
//!           "constraint_message"?, "required"? (true or an expression),
//!           "required_message"?, "calculation"?, "choice_filter"?, "appearance"?,
//!           "parameters"? {..}, "repeat_count"?, "default"?, "read_only"?,
//!           "list_name"?, "choices"? [{"name", "label"?, "extra"?}], "file"?,
//!           "dimension"?, "extra"? {custom column: value}, "children"? [..]}
//! ```
//!
//! Types use the XLSForm spelling (`select_one`, `dateTime`, `group`, ...; a score
//! shows the type under it). Texts are a string in an untranslated form and a
//! `{language: text}` object otherwise. Absent and empty values are left out. A
//! `range` shows its effective `start`/`end`/`step` (pyxform fills the defaults).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::columns::{self, ChoiceCol};
use super::types;
use crate::model::{Form, Question, QuestionKind, Texts};

/// The canonical tree of `form` (see the module documentation).
pub fn canonical_tree(form: &Form) -> Value {
    let settings: Map<String, Value> = form
        .settings
        .iter()
        .filter(|(k, _)| !["add_none_option", "client_editable"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut by_parent: Children<'_> = HashMap::new();
    for q in &form.questions {
        by_parent.entry(q.group.as_deref()).or_default().push(q);
    }
    json!({
        "form_key": form.form_key,
        "title": form.title,
        "settings": settings,
        "children": children(form, &by_parent, None),
    })
}

/// Elements by enclosing group, in sheet order.
type Children<'f> = HashMap<Option<&'f str>, Vec<&'f Question>>;

fn children(form: &Form, by_parent: &Children<'_>, parent: Option<&str>) -> Vec<Value> {
    by_parent
        .get(&parent)
        .map(|qs| qs.iter().map(|q| element(form, by_parent, q)).collect())
        .unwrap_or_default()
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<&str>) {
    if let Some(v) = v.filter(|v| !v.is_empty()) {
        m.insert(k.into(), Value::String(v.to_string()));
    }
}

/// A text: a string, or an object of languages in a translated form.
fn text(
    form: &Form,
    m: &mut Map<String, Value>,
    k: &str,
    plain: Option<&str>,
    q: &Question,
    get: impl Fn(&Texts) -> Option<&str>,
) {
    if form.languages.is_empty() {
        put(m, k, plain);
        return;
    }
    let by_lang: Map<String, Value> = q
        .translations
        .iter()
        .filter_map(|(l, t)| get(t).map(|v| (l.clone(), Value::String(v.to_string()))))
        .collect();
    if !by_lang.is_empty() {
        m.insert(k.into(), Value::Object(by_lang));
    }
}

/// An element's type in XLSForm spelling (`select_one`, `dateTime`, `group`, ...; a
/// score's own XLSForm type, a select from a file as `select_one_from_file`).
pub fn type_name(q: &Question) -> &'static str {
    match (q.kind, q.file.is_some()) {
        (QuestionKind::Score, _) => types::score_base(q.xls_type.as_deref()),
        (QuestionKind::SelectOne, true) => "select_one_from_file",
        (QuestionKind::SelectMultiple, true) => "select_multiple_from_file",
        (k, _) => types::canonical(k),
    }
}

fn element(form: &Form, by_parent: &Children<'_>, q: &Question) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::String(q.id.clone()));
    let ty = type_name(q);
    m.insert("type".into(), Value::String(ty.into()));
    text(form, &mut m, "label", Some(&q.label), q, |t| {
        t.label.as_deref()
    });
    text(form, &mut m, "hint", q.hint.as_deref(), q, |t| {
        t.hint.as_deref()
    });
    put(&mut m, "relevant", q.relevant.as_deref());
    put(&mut m, "constraint", q.constraint.as_deref());
    text(
        form,
        &mut m,
        "constraint_message",
        q.constraint_message.as_deref(),
        q,
        |t| t.constraint_message.as_deref(),
    );
    if q.required {
        m.insert("required".into(), Value::Bool(true));
    } else {
        put(&mut m, "required", q.required_if.as_deref());
    }
    text(
        form,
        &mut m,
        "required_message",
        q.required_message.as_deref(),
        q,
        |t| t.required_message.as_deref(),
    );
    put(&mut m, "calculation", q.calculation.as_deref());
    put(&mut m, "choice_filter", q.choice_filter.as_deref());
    put(&mut m, "appearance", q.appearance.as_deref());
    let mut parameters: Map<String, Value> = q
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if ty == "range" {
        for (k, d) in [("start", "1"), ("end", "10"), ("step", "1")] {
            parameters
                .entry(k)
                .or_insert_with(|| Value::String(d.into()));
        }
    }
    if !parameters.is_empty() {
        m.insert("parameters".into(), Value::Object(parameters));
    }
    put(&mut m, "repeat_count", q.repeat_count.as_deref());
    let default = q.default.as_deref().map(|d| {
        if ty == "image" {
            d.strip_prefix("jr://images/").unwrap_or(d)
        } else {
            d
        }
    });
    put(&mut m, "default", default);
    put(&mut m, "read_only", q.read_only.as_deref());
    if let Some(list) = &q.list_name {
        m.insert("list_name".into(), Value::String(list.clone()));
        let choices: Vec<Value> = form
            .choice_lists
            .get(list)
            .map(|cs| cs.iter().map(|c| choice(form, c)).collect())
            .unwrap_or_default();
        m.insert("choices".into(), Value::Array(choices));
    }
    put(&mut m, "file", q.file.as_deref());
    if let Some(d) = q.dimension {
        m.insert("dimension".into(), Value::String(d.as_str().into()));
    }
    let extra: Map<String, Value> = q
        .extra
        .iter()
        .filter(|(k, _)| columns::survey_extra_is_custom(k))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if !extra.is_empty() {
        m.insert("extra".into(), Value::Object(extra));
    }
    if q.kind.is_container() {
        m.insert(
            "children".into(),
            Value::Array(children(form, by_parent, Some(&q.id))),
        );
    }
    Value::Object(m)
}

fn choice(form: &Form, c: &crate::model::Choice) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::String(c.value.clone()));
    if form.languages.is_empty() {
        put(&mut m, "label", Some(&c.label));
    } else if !c.translations.is_empty() {
        let by_lang: Map<String, Value> = c
            .translations
            .iter()
            .map(|(l, v)| (l.clone(), Value::String(v.clone())))
            .collect();
        m.insert("label".into(), Value::Object(by_lang));
    }
    let extra: Map<String, Value> = c
        .extra
        .iter()
        .filter(|(k, _)| {
            !k.contains(':')
                && !matches!(
                    columns::choice_col(k, false),
                    ChoiceCol::Extra { media: true, .. }
                )
        })
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if !extra.is_empty() {
        m.insert("extra".into(), Value::Object(extra));
    }
    Value::Object(m)
}
