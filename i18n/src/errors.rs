//! Default renderings of the errors apps receive through the FFI: a stable code and
//! its parameters (ids, field paths, rule codes — never survey content) rendered in
//! either language. Apps may render codes themselves; this is the fallback the Kotlin
//! and Swift facades offer.

use crate::{Arg, Lang, k, tr, tr_args};

/// Every stable error code with its catalogue key.
pub const CODES: [(&str, &str); 15] = [
    ("not_found", k!("error-not-found")),
    ("validation", k!("error-validation")),
    ("immutable", k!("error-immutable")),
    ("wrong_key", k!("error-wrong-key")),
    ("corrupt", k!("error-corrupt")),
    ("store_moved_aside", k!("error-store-moved-aside")),
    ("storage_full", k!("error-storage-full")),
    ("read_only", k!("error-read-only")),
    ("storage", k!("error-storage")),
    ("unauthorized", k!("error-unauthorized")),
    ("network", k!("error-network")),
    ("conflict", k!("error-conflict")),
    ("invalid_argument", k!("error-invalid-argument")),
    ("closed", k!("error-closed")),
    ("internal", k!("error-internal")),
];

fn rule_key(rule: &str) -> Option<&'static str> {
    Some(match rule {
        "required" => k!("rule-required"),
        "score_out_of_range" => k!("rule-score-out-of-range"),
        "out_of_range" => k!("rule-out-of-range"),
        "too_long" => k!("rule-too-long"),
        "invalid_date" => k!("rule-invalid-date"),
        "invalid_time" => k!("rule-invalid-time"),
        "invalid_location" => k!("rule-invalid-location"),
        "illegal_transition" => k!("rule-illegal-transition"),
        "immutable" => k!("rule-immutable"),
        "duplicate" => k!("rule-duplicate"),
        "unknown_question" => k!("rule-unknown-question"),
        "wrong_type" => k!("rule-wrong-type"),
        "no_answer" => k!("rule-no-answer"),
        "unpublished_form" => k!("rule-unpublished-form"),
        _ => return None,
    })
}

/// The default text of error `code` with `params` in `lang`. A validation error shows
/// its rule in `lang` when the rule is known; a form's own constraint message (already
/// in the form language the device asked for) and unknown rules show the engine's
/// message. An unknown code renders as the code and its parameters.
pub fn render(lang: Lang, code: &str, params: &[(String, String)]) -> String {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let Some((_, key)) = CODES.iter().find(|(c, _)| *c == code) else {
        let p: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        return format!("{code} {}", p.join(" ")).trim_end().to_string();
    };
    if code == "validation" {
        let message =
            rule_key(get("rule")).map_or_else(|| get("message").to_string(), |k| tr(lang, k));
        return tr_args(
            lang,
            key,
            &[
                ("field", Arg::from(get("field"))),
                ("message", Arg::from(message)),
            ],
        );
    }
    let args: Vec<(&str, Arg<'_>)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), Arg::from(v.as_str())))
        .collect();
    tr_args(lang, key, &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn both_languages() {
        let nf = p(&[("id", "abc")]);
        assert_eq!(
            render(Lang::En, "not_found", &nf),
            "No record abc (it may have been deleted)."
        );
        assert_eq!(
            render(Lang::ZhCn, "not_found", &nf),
            "找不到记录 abc（可能已被删除）。"
        );
        let v = p(&[
            ("field", "answers.q3"),
            ("rule", "required"),
            ("message", "x"),
        ]);
        assert_eq!(
            render(Lang::ZhCn, "validation", &v),
            "answers.q3：此项为必填"
        );
        let c = p(&[
            ("field", "answers.age"),
            ("rule", "constraint"),
            ("message", "年龄须在 18 到 99 之间"),
        ]);
        assert_eq!(
            render(Lang::En, "validation", &c),
            "answers.age: 年龄须在 18 到 99 之间"
        );
        assert_eq!(render(Lang::En, "made_up", &nf), "made_up id=abc");
    }
}
