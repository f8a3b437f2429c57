//! Engine tests on forms built in code (the importer has its own; the example survey's
//! scripted walk lives in core/tests/forms_walk.rs).

use std::collections::BTreeMap;

use super::*;
use crate::forms::expr::Value;
use crate::model::{
    Answer, Choice, Dimension, Form, Question, QuestionKind as K, RepeatInstance, Response,
    ResponseStatus,
};

type R = std::result::Result<(), Box<dyn std::error::Error>>;

fn q(id: &str, kind: K) -> Question {
    Question::new(id, kind, id)
}

fn form(questions: Vec<Question>) -> Form {
    let mut lists = BTreeMap::new();
    lists.insert(
        "yn".to_string(),
        vec![Choice::new("yes", "Yes"), Choice::new("no", "No")],
    );
    lists.insert(
        "score10".to_string(),
        (1..=10)
            .map(|i| Choice::new(i.to_string(), i.to_string()))
            .collect(),
    );
    Form {
        form_key: "t".into(),
        version: 1,
        title: "T".into(),
        questions,
        published: true,
        published_at: Some(0),
        choice_lists: lists,
        ..Form::default()
    }
}

fn empty_response() -> Response {
    Response::draft("00000000000000000000000000000001", 1, "li.wei", "north", 0)
}

fn ctx() -> EvalContext {
    // 2024-05-01T02:00:00Z, at UTC+8.
    EvalContext {
        now: 1_714_528_800_000,
        utc_offset_minutes: 480,
        device_id: "dev-1".into(),
        username: "li.wei".into(),
        language: None,
    }
}

fn top(id: &str) -> NodeRef {
    NodeRef::top(id)
}

#[test]
fn relevant_hides_and_shows() -> R {
    let mut why = q("why", K::Text);
    why.relevant = Some("${score} != '' and ${score} <= 4".into());
    let f = form(vec![q("score", K::Integer), why]);
    let c = CompiledForm::compile(&f)?;
    let mut ev = c.evaluate(&empty_response(), &ctx());
    assert!(!ev.is_visible(&top("why")), "hidden while score is empty");
    let changed = ev.set_answer(&top("score"), Some(Answer::Integer(3)));
    assert!(ev.is_visible(&top("why")));
    assert!(
        changed.contains(&top("why")),
        "the follow-up is reported as changed"
    );
    ev.set_answer(&top("score"), Some(Answer::Integer(9)));
    assert!(!ev.is_visible(&top("why")));
    Ok(())
}

#[test]
fn hidden_answers_read_as_empty_and_are_not_validated() -> R {
    let mut a = q("a", K::Integer);
    a.relevant = Some("${gate} = 'yes'".into());
    a.constraint = Some(". < 5".into());
    a.required = true;
    let mut gate = q("gate", K::SelectOne);
    gate.list_name = Some("yn".into());
    let mut b = q("b", K::Calculate);
    b.calculation = Some("concat('x', ${a})".into());
    let f = form(vec![gate, a, b]);
    let c = CompiledForm::compile(&f)?;
    let mut r = empty_response();
    r.answers.insert("gate".into(), Answer::Choice("no".into()));
    r.answers.insert("a".into(), Answer::Integer(99));
    let ev = c.evaluate(&r, &ctx());
    assert_eq!(ev.value(&top("b")), Value::String("x".into()));
    assert!(ev.issues().is_empty(), "{:?}", ev.issues());
    let mut ev = ev;
    ev.set_answer(&top("gate"), Some(Answer::Choice("yes".into())));
    assert_eq!(ev.value(&top("b")), Value::String("x99".into()));
    let issues = ev.issues();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].kind, IssueKind::Constraint);
    Ok(())
}

#[test]
fn required_and_required_if() -> R {
    let mut a = q("a", K::Text);
    a.required = true;
    a.required_message = Some("Name please".into());
    let mut b = q("b", K::Integer);
    b.required_if = Some("${a} = 'x'".into());
    let f = form(vec![a, b]);
    let c = CompiledForm::compile(&f)?;
    let mut ev = c.evaluate(&empty_response(), &ctx());
    let issues = ev.issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].code, "required");
    assert_eq!(issues[0].message, "Name please");
    ev.set_answer(&top("a"), Some(Answer::Text("x".into())));
    let issues = ev.issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].node, top("b"));
    ev.set_answer(&top("b"), Some(Answer::Integer(1)));
    assert!(ev.is_valid());
    // Blank text does not count as an answer.
    ev.set_answer(&top("a"), Some(Answer::Text("  ".into())));
    assert_eq!(ev.issues().len(), 1);
    Ok(())
}

#[test]
fn constraint_messages_follow_the_language() -> R {
    let mut a = q("age", K::Integer);
    a.constraint = Some(". >= 0 and . < 130".into());
    a.constraint_message = Some("Age 0-129".into());
    a.translations.insert(
        "中文 (zh)".into(),
        crate::model::Texts {
            label: Some("年龄".into()),
            constraint_message: Some("年龄须在0到129之间".into()),
            ..Default::default()
        },
    );
    let mut f = form(vec![a]);
    f.languages = vec!["English (en)".into(), "中文 (zh)".into()];
    f.default_language = Some("English (en)".into());
    let c = CompiledForm::compile(&f)?;
    let mut r = empty_response();
    r.answers.insert("age".into(), Answer::Integer(200));
    let en = c.evaluate(&r, &ctx());
    assert_eq!(en.issues()[0].message, "Age 0-129");
    let zh = c.evaluate(
        &r,
        &EvalContext {
            language: Some("zh-CN".into()),
            ..ctx()
        },
    );
    assert_eq!(zh.issues()[0].message, "年龄须在0到129之间");
    assert_eq!(zh.label("age"), Some("年龄"));
    Ok(())
}

#[test]
fn groups_pass_relevance_down() -> R {
    let mut g = q("grp", K::Group);
    g.relevant = Some("${show} = 'yes'".into());
    let mut inner = q("inner", K::Integer);
    inner.group = Some("grp".into());
    inner.required = true;
    let mut show = q("show", K::SelectOne);
    show.list_name = Some("yn".into());
    let f = form(vec![show, g, inner]);
    let c = CompiledForm::compile(&f)?;
    let mut ev = c.evaluate(&empty_response(), &ctx());
    assert!(!ev.is_visible(&top("inner")));
    assert!(
        ev.is_valid(),
        "a required question in a hidden group is not required"
    );
    ev.set_answer(&top("show"), Some(Answer::Choice("yes".into())));
    assert!(ev.is_visible(&top("inner")));
    assert_eq!(ev.issues().len(), 1);
    Ok(())
}

#[test]
fn calculations_chain_in_dependency_order() -> R {
    // Declared out of order: c reads b which reads a.
    let mut c_ = q("c", K::Calculate);
    c_.calculation = Some("${b} * 2".into());
    let mut b = q("b", K::Calculate);
    b.calculation = Some("${a} + 1".into());
    let f = form(vec![c_, b, q("a", K::Integer)]);
    let c = CompiledForm::compile(&f)?;
    let mut ev = c.evaluate(&empty_response(), &ctx());
    ev.set_answer(&top("a"), Some(Answer::Integer(4)));
    assert_eq!(ev.value(&top("c")), Value::Number(10.0));
    Ok(())
}

#[test]
fn cycles_and_unknown_references_fail_at_compile_time() {
    let mut a = q("a", K::Calculate);
    a.calculation = Some("${b} + 1".into());
    let mut b = q("b", K::Calculate);
    b.calculation = Some("${a} + 1".into());
    let e = CompiledForm::compile(&form(vec![a, b])).err();
    assert_eq!(e.map(|e| e.code), Some("dependency_cycle"));

    let mut x = q("x", K::Text);
    x.relevant = Some("${nope} = 1".into());
    let e = CompiledForm::compile(&form(vec![x])).err();
    assert_eq!(e.as_ref().map(|e| e.code), Some("unknown_reference"));
    assert_eq!(e.and_then(|e| e.column), Some("relevant"));

    let calc = q("calc", K::Calculate);
    let e = CompiledForm::compile(&form(vec![calc])).err();
    assert_eq!(e.map(|e| e.code), Some("required"));
}

fn repeat_form() -> Form {
    let mut n = q("n_kids", K::Integer);
    n.constraint = Some(". <= 5".into());
    let mut kids = q("kids", K::Repeat);
    kids.repeat_count = Some("${n_kids}".into());
    let mut age = q("kid_age", K::Integer);
    age.group = Some("kids".into());
    age.required = true;
    let mut pos = q("kid_no", K::Calculate);
    pos.group = Some("kids".into());
    pos.calculation = Some("position(..)".into());
    let mut teen = q("teen_note", K::Text);
    teen.group = Some("kids".into());
    teen.relevant = Some("${kid_age} >= 13".into());
    let mut total = q("total_age", K::Calculate);
    total.calculation = Some("sum(${kid_age})".into());
    let mut count = q("count_kids", K::Calculate);
    count.calculation = Some("count(${kids})".into());
    form(vec![n, kids, age, pos, teen, total, count])
}

fn kid(id: &str, age: Option<i64>) -> RepeatInstance {
    let mut answers = BTreeMap::new();
    if let Some(a) = age {
        answers.insert("kid_age".to_string(), Answer::Integer(a));
    }
    RepeatInstance {
        id: id.into(),
        answers,
        repeats: BTreeMap::new(),
    }
}

#[test]
fn repeats_relative_references_position_count_and_sum() -> R {
    let f = repeat_form();
    let c = CompiledForm::compile(&f)?;
    let mut r = empty_response();
    r.answers.insert("n_kids".into(), Answer::Integer(2));
    r.repeats
        .insert("kids".into(), vec![kid("k1", Some(4)), kid("k2", Some(15))]);
    let mut ev = c.evaluate(&r, &ctx());
    assert_eq!(ev.value(&top("total_age")), Value::Number(19.0));
    assert_eq!(ev.value(&top("count_kids")), Value::Number(2.0));
    assert_eq!(
        ev.value(&NodeRef::at("kid_no", &[1])),
        Value::Number(2.0),
        "position(..) is 1-based"
    );
    assert!(!ev.is_visible(&NodeRef::at("teen_note", &[0])));
    assert!(ev.is_visible(&NodeRef::at("teen_note", &[1])));
    assert_eq!(
        ev.state(&top("kids")).and_then(|s| s.expected_instances),
        Some(2)
    );
    // Editing one instance recomputes its own relative references only.
    let changed = ev.set_answer(&NodeRef::at("kid_age", &[0]), Some(Answer::Integer(14)));
    assert!(ev.is_visible(&NodeRef::at("teen_note", &[0])));
    assert!(changed.contains(&NodeRef::at("teen_note", &[0])));
    assert!(!changed.contains(&NodeRef::at("teen_note", &[1])));
    assert_eq!(ev.value(&top("total_age")), Value::Number(29.0));
    // A new instance is required to be filled.
    let p = ev.add_instance("kids", &[]).ok_or("repeat")?;
    assert_eq!(p, vec![2]);
    assert_eq!(
        ev.value(&top("count_kids")),
        Value::Number(2.0),
        "past repeat_count: not relevant"
    );
    ev.set_answer(&top("n_kids"), Some(Answer::Integer(3)));
    assert_eq!(ev.value(&top("count_kids")), Value::Number(3.0));
    let issues = ev.issues();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].node, NodeRef::at("kid_age", &[2]));
    assert_eq!(issues[0].node.field(&c), "repeats.kids[2].answers.kid_age");
    Ok(())
}

#[test]
fn finalize_writes_calculations_into_instances_and_end() -> R {
    let mut f = repeat_form();
    f.questions.push(q("end", K::End));
    let c = CompiledForm::compile(&f)?;
    let mut r = empty_response();
    r.answers.insert("n_kids".into(), Answer::Integer(1));
    r.repeats.insert("kids".into(), vec![kid("k1", Some(7))]);
    c.finalize(&mut r, &ctx());
    assert_eq!(r.answers.get("total_age"), Some(&Answer::Text("7".into())));
    assert_eq!(
        r.repeats["kids"][0].answers.get("kid_no"),
        Some(&Answer::Text("1".into()))
    );
    assert_eq!(
        r.answers.get("end"),
        Some(&Answer::DateTime("2024-05-01T10:00:00.000+08:00".into()))
    );
    Ok(())
}

#[test]
fn prefill_sets_metadata_and_defaults() -> R {
    let mut d = q("visits", K::Integer);
    d.default = Some("3".into());
    let mut dd = q("double", K::Integer);
    dd.default = Some("${visits} * 2".into());
    let f = form(vec![
        q("start", K::Start),
        q("today", K::Today),
        q("deviceid", K::DeviceId),
        q("username", K::Username),
        d,
        dd,
    ]);
    let c = CompiledForm::compile(&f)?;
    let mut r = empty_response();
    c.prefill(&mut r, &ctx());
    assert_eq!(
        r.answers.get("today"),
        Some(&Answer::Date("2024-05-01".into()))
    );
    assert_eq!(
        r.answers.get("start"),
        Some(&Answer::DateTime("2024-05-01T10:00:00.000+08:00".into()))
    );
    assert_eq!(
        r.answers.get("deviceid"),
        Some(&Answer::Text("dev-1".into()))
    );
    assert_eq!(
        r.answers.get("username"),
        Some(&Answer::Text("li.wei".into()))
    );
    assert_eq!(r.answers.get("visits"), Some(&Answer::Integer(3)));
    assert_eq!(r.answers.get("double"), Some(&Answer::Integer(6)));
    Ok(())
}

#[test]
fn choice_filters_and_choice_names() -> R {
    let mut f = form(vec![]);
    f.choice_lists.insert(
        "county".into(),
        vec![
            Choice::new("c1", "North County"),
            Choice::new("c2", "South County"),
        ],
    );
    let mut districts = Vec::new();
    for (d, c) in [("d1", "c1"), ("d2", "c1"), ("d3", "c2")] {
        let mut ch = Choice::new(d, d);
        ch.extra.insert("county".into(), c.into());
        districts.push(ch);
    }
    f.choice_lists.insert("district".into(), districts);
    let mut county = q("county", K::SelectOne);
    county.list_name = Some("county".into());
    let mut district = q("district", K::SelectOne);
    district.list_name = Some("district".into());
    district.choice_filter = Some("county = ${county}".into());
    let mut label = q("county_label", K::Calculate);
    label.calculation = Some("jr:choice-name(${county}, '${county}')".into());
    f.questions = vec![county, district, label];
    let c = CompiledForm::compile(&f)?;
    let mut ev = c.evaluate(&empty_response(), &ctx());
    ev.set_answer(&top("county"), Some(Answer::Choice("c1".into())));
    let offered: Vec<&str> = ev
        .choices(&top("district"))
        .iter()
        .map(|c| c.value.as_str())
        .collect();
    assert_eq!(offered, ["d1", "d2"]);
    assert_eq!(
        ev.value(&top("county_label")),
        Value::String("North County".into())
    );
    Ok(())
}

#[test]
fn type_checks_cover_every_kind() -> R {
    use crate::model::{AttachmentRef, GeoPoint};
    let mut range = q("range", K::Range);
    range.parameters.insert("start".into(), "0".into());
    range.parameters.insert("end".into(), "10".into());
    range.parameters.insert("step".into(), "0.5".into());
    let mut sel = q("sel", K::SelectOne);
    sel.list_name = Some("yn".into());
    sel.or_other = true;
    let mut multi = q("multi", K::SelectMultiple);
    multi.list_name = Some("yn".into());
    let mut score = q("overall", K::Score);
    score.dimension = Some(Dimension::Overall);
    let f = form(vec![
        range,
        sel,
        multi,
        score,
        q("t", K::Time),
        q("dt", K::DateTime),
        q("d", K::Date),
        q("photo", K::Image),
        q("trace", K::GeoTrace),
        q("shape", K::GeoShape),
        q("ack", K::Acknowledge),
        q("note", K::Note),
    ]);
    let c = CompiledForm::compile(&f)?;
    let p = GeoPoint {
        lat: 30.0,
        lon: 114.0,
        altitude_m: None,
        accuracy_m: None,
    };
    let p2 = GeoPoint { lat: 30.1, ..p };
    let p3 = GeoPoint { lon: 114.1, ..p };
    let photo = |media: &str, sha: &str| {
        Answer::Attachment(AttachmentRef {
            sha256: sha.into(),
            size: 10,
            media_type: media.into(),
            name: "p.jpg".into(),
        })
    };
    let good_sha = "ab".repeat(32);
    let cases: Vec<(&str, Answer, Option<&str>)> = vec![
        ("range", Answer::Decimal(2.5), None),
        ("range", Answer::Decimal(2.25), Some("off_step")),
        ("range", Answer::Integer(11), Some("out_of_range")),
        ("sel", Answer::Choice("yes".into()), None),
        ("sel", Answer::Choice("other".into()), None),
        (
            "sel",
            Answer::Choice("maybe".into()),
            Some("unknown_choice"),
        ),
        ("sel", Answer::Text("yes".into()), Some("wrong_type")),
        (
            "multi",
            Answer::Choices(vec!["yes".into(), "no".into()]),
            None,
        ),
        (
            "multi",
            Answer::Choices(vec!["yes".into(), "yes".into()]),
            Some("duplicate"),
        ),
        (
            "overall",
            Answer::Score(crate::model::Score::of_ten(7, Some(Dimension::Overall))),
            None,
        ),
        (
            "overall",
            Answer::Score(crate::model::Score::of_ten(11, Some(Dimension::Overall))),
            Some("score_out_of_range"),
        ),
        (
            "overall",
            Answer::Score(crate::model::Score::of_ten(7, None)),
            Some("wrong_scale"),
        ),
        ("t", Answer::Time("09:30".into()), None),
        ("t", Answer::Time("25:30".into()), Some("invalid_time")),
        (
            "dt",
            Answer::DateTime("2024-05-01T10:30:00+08:00".into()),
            None,
        ),
        (
            "dt",
            Answer::DateTime("2024-05-01".into()),
            Some("invalid_datetime"),
        ),
        ("d", Answer::Date("2024-02-30".into()), Some("invalid_date")),
        ("photo", photo("image/jpeg", &good_sha), None),
        (
            "photo",
            photo("audio/ogg", &good_sha),
            Some("wrong_media_type"),
        ),
        (
            "photo",
            photo("image/jpeg", "xyz"),
            Some("invalid_attachment"),
        ),
        ("trace", Answer::GeoTrace(vec![p, p2]), None),
        ("trace", Answer::GeoTrace(vec![p]), Some("invalid_location")),
        ("shape", Answer::GeoShape(vec![p, p2, p3, p]), None),
        (
            "shape",
            Answer::GeoShape(vec![p, p2, p3]),
            Some("invalid_location"),
        ),
        ("ack", Answer::Acknowledged(true), None),
        ("note", Answer::Text("x".into()), Some("no_answer")),
    ];
    for (id, a, want) in cases {
        let mut r = empty_response();
        r.answers.insert(id.into(), a.clone());
        let got = c
            .evaluate(&r, &ctx())
            .issues()
            .into_iter()
            .find(|i| i.kind == IssueKind::Invalid)
            .map(|i| i.code);
        assert_eq!(got, want, "{id} {a:?}");
    }
    Ok(())
}

#[test]
fn incremental_matches_full_evaluation() -> R {
    // After any sequence of edits, the incremental state equals a fresh evaluation.
    let f = repeat_form();
    let c = CompiledForm::compile(&f)?;
    let mut r = empty_response();
    r.answers.insert("n_kids".into(), Answer::Integer(3));
    r.repeats.insert(
        "kids".into(),
        vec![kid("a", Some(1)), kid("b", None), kid("c", Some(20))],
    );
    let mut ev = c.evaluate(&r, &ctx());
    let edits: Vec<(NodeRef, Option<Answer>)> = vec![
        (NodeRef::at("kid_age", &[1]), Some(Answer::Integer(13))),
        (top("n_kids"), Some(Answer::Integer(2))),
        (NodeRef::at("kid_age", &[2]), None),
        (top("n_kids"), Some(Answer::Integer(9))),
    ];
    for (node, a) in edits {
        ev.set_answer(&node, a.clone());
        let answers = if node.instance.is_empty() {
            &mut r.answers
        } else {
            &mut r.repeats.get_mut("kids").ok_or("kids")?[node.instance[0] as usize].answers
        };
        match a {
            Some(a) => answers.insert(node.question.clone(), a),
            None => answers.remove(&node.question),
        };
        let fresh = c.evaluate(&r, &ctx());
        // Debug form, so NaN (an empty sum) compares equal to itself.
        assert_eq!(
            format!("{:?}", ev.elements()),
            format!("{:?}", fresh.elements()),
            "after editing {node:?}"
        );
        assert_eq!(ev.issues(), fresh.issues());
    }
    Ok(())
}

#[test]
fn completing_requires_a_valid_response() -> R {
    let _ = ResponseStatus::Complete;
    let mut a = q("a", K::Integer);
    a.required = true;
    let c = CompiledForm::compile(&form(vec![a]))?;
    assert!(!c.evaluate(&empty_response(), &ctx()).is_valid());
    Ok(())
}
