//! The example telecom survey (examples/forms/telecom-satisfaction.xlsx), imported and
//! filled by a scripted walk through the store and the forms engine: skip logic hides
//! and shows the "why?" follow-ups, constraints reject out-of-range scores, completion
//! is refused until the required answers exist, and completing writes the calculations.

use std::path::PathBuf;

use fieldsync_core::forms::{NodeRef, xlsform};
use fieldsync_core::model::{Answer, Form, ResponseStatus, Score};
use fieldsync_core::store::Locale;
use fieldsync_core::{DocId, Error, Scope, Store, StoreOptions};

type R = Result<(), Box<dyn std::error::Error>>;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/forms/telecom-satisfaction.xlsx")
}

fn publish(store: &Store, scope: &Scope) -> Result<(DocId, Form), Box<dyn std::error::Error>> {
    let mut form = xlsform::import_path(&example())?.form;
    form.version = 1;
    form.published = true;
    form.published_at = Some(1);
    let id = store.create(scope, &form)?;
    Ok((id, form))
}

fn score(form: &Form, q: &str, v: i64) -> Answer {
    let question = form.question(q).expect("question in the example");
    Answer::Score(question.score(v))
}

fn choice(v: &str) -> Option<Answer> {
    Some(Answer::Choice(v.into()))
}

fn top(q: &str) -> NodeRef {
    NodeRef::top(q)
}

fn expect_validation(r: fieldsync_core::Result<impl std::fmt::Debug>, field: &str, code: &str) {
    match r {
        Err(Error::Validation(v)) => {
            assert_eq!((v.field.as_str(), v.code), (field, code), "{v}");
        }
        other => panic!("expected {field} {code}, got {other:?}"),
    }
}

#[test]
fn the_telecom_survey_filled_step_by_step() -> R {
    let store = Store::open_in_memory(&[7u8; 32], StoreOptions::new("phone-1", "li.wei"))?;
    let scope = Scope::new("team:north")?;
    let (form_id, form) = publish(&store, &scope)?;
    let en = Locale {
        language: Some("en".into()),
        utc_offset_minutes: 480,
    };
    let zh = Locale {
        language: Some("zh-CN".into()),
        utc_offset_minutes: 480,
    };

    // Started: the metadata is filled in by the engine.
    let id = store.start_response(&scope, form_id, "north/county-1", &en, |_| {})?;
    let r: fieldsync_core::model::Response = store.get(id)?;
    assert_eq!(r.status, ResponseStatus::Draft);
    assert!(matches!(
        r.answers.get("started"),
        Some(Answer::DateTime(_))
    ));
    assert!(matches!(
        r.answers.get("interview_day"),
        Some(Answer::Date(_))
    ));
    assert_eq!(
        r.answers.get("device"),
        Some(&Answer::Text("phone-1".into()))
    );
    assert_eq!(
        r.answers.get("enumerator"),
        Some(&Answer::Text("li.wei".into()))
    );

    let visible = |q: &str| -> bool {
        store
            .with_evaluation(id, &en, |_, ev| ev.is_visible(&top(q)))
            .expect("evaluate")
    };

    // Skip logic: the network follow-up appears on a low network score only.
    assert!(!visible("why_network"));
    store.set_answer(
        id,
        &top("network_coverage"),
        Some(score(&form, "network_coverage", 3)),
    )?;
    assert!(visible("why_network"));
    assert!(!visible("why_service"));
    store.set_answer(
        id,
        &top("network_coverage"),
        Some(score(&form, "network_coverage", 8)),
    )?;
    assert!(!visible("why_network"));
    store.set_answer(
        id,
        &top("network_speed"),
        Some(score(&form, "network_speed", 2)),
    )?;
    assert!(visible("why_network"), "any low network score opens it");

    // Constraints: an out-of-range score is refused and nothing is written.
    expect_validation(
        store.set_answer(
            id,
            &top("overall"),
            Some(Answer::Score(Score {
                value: 11,
                ..Score::of_ten(1, None)
            })),
        ),
        "answers.overall",
        "score_out_of_range",
    );
    let r: fieldsync_core::model::Response = store.get(id)?;
    assert!(!r.answers.contains_key("overall"));
    // A form screen may send the choice it showed: a score question stores it as a
    // score on its own scale and dimension. A text answer is still the wrong type.
    store.set_answer(id, &top("overall"), choice("7"))?;
    let r: fieldsync_core::model::Response = store.get(id)?;
    assert_eq!(r.answers.get("overall"), Some(&score(&form, "overall", 7)));
    expect_validation(
        store.set_answer(
            id,
            &top("overall"),
            Some(Answer::Geo(fieldsync_core::model::GeoPoint {
                lat: 1.0,
                lon: 1.0,
                altitude_m: None,
                accuracy_m: None,
            })),
        ),
        "answers.overall",
        "wrong_type",
    );
    store.set_answer(id, &top("overall"), None)?;

    // Completion is refused until every required answer exists.
    expect_validation(
        store.complete_response(id, &en),
        "answers.segment",
        "required",
    );
    store.set_answer(id, &top("segment"), choice("enterprise"))?;
    store.set_answer(id, &top("value_tier"), choice("high"))?;
    store.set_answer(id, &top("core_customer"), choice("yes"))?;
    store.set_answer(id, &top("region"), choice("north"))?;
    expect_validation(
        store.complete_response(id, &en),
        "answers.overall",
        "required",
    );
    store.set_answer(id, &top("overall"), Some(score(&form, "overall", 3)))?;
    // A low overall score makes the reason required.
    expect_validation(
        store.complete_response(id, &en),
        "answers.why_overall",
        "required",
    );
    store.set_answer(
        id,
        &top("why_overall"),
        Some(Answer::Text("Dropped calls".into())),
    )?;
    // Consent makes the phone required, and its constraint applies.
    store.set_answer(id, &top("contact_consent"), choice("yes"))?;
    expect_validation(
        store.complete_response(id, &en),
        "answers.contact_phone",
        "required",
    );
    store.set_answer(id, &top("contact_phone"), Some(Answer::Text("123".into())))?;
    expect_validation(
        store.complete_response(id, &en),
        "answers.contact_phone",
        "constraint",
    );
    let msg = store.with_evaluation(id, &zh, |_, ev| {
        ev.issues()
            .into_iter()
            .find(|i| i.node == top("contact_phone"))
            .map(|i| i.message)
    })?;
    assert!(
        msg.as_deref()
            .is_some_and(|m| m.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))),
        "the constraint message comes in Chinese: {msg:?}"
    );
    store.set_answer(
        id,
        &top("contact_phone"),
        Some(Answer::Text("13800138000".into())),
    )?;

    // A repeat sized by an answer: each instance's required answers count.
    store.set_answer(id, &top("complaint_count"), Some(Answer::Integer(2)))?;
    let expected = store.with_evaluation(id, &en, |_, ev| {
        ev.state(&top("complaints"))
            .and_then(|s| s.expected_instances)
    })?;
    assert_eq!(expected, Some(2));
    let a = store.add_repeat_instance(id, "complaints", &[])?;
    let b = store.add_repeat_instance(id, "complaints", &[])?;
    assert_eq!((a.clone(), b.clone()), (vec![0], vec![1]));
    expect_validation(
        store.complete_response(id, &en),
        "repeats.complaints[0].answers.complaint_category",
        "required",
    );
    store.set_answer(
        id,
        &NodeRef::at("complaint_category", &a),
        choice("network"),
    )?;
    store.set_answer(
        id,
        &NodeRef::at("complaint_category", &b),
        choice("billing"),
    )?;
    expect_validation(
        store.set_answer(
            id,
            &NodeRef::at("complaint_category", &b),
            choice("weather"),
        ),
        "repeats.complaints[1].answers.complaint_category",
        "unknown_choice",
    );

    // Labels follow the language asked for.
    let zh_label =
        store.with_evaluation(id, &zh, |_, ev| ev.label("why_network").map(str::to_string))?;
    assert_eq!(zh_label.as_deref(), Some("网络在何时何地表现不好？"));

    // Complete: accepted now, calculations and the end time written.
    assert!(store.complete_response(id, &en)?);
    let r: fieldsync_core::model::Response = store.get(id)?;
    assert_eq!(r.status, ResponseStatus::Complete);
    assert_eq!(
        r.answers.get("overall_band"),
        Some(&Answer::Text("low".into()))
    );
    // Two dimension scores were given (8 and 2): the index is their mean.
    assert_eq!(
        r.answers.get("answered_dimensions"),
        Some(&Answer::Text("2".into()))
    );
    assert_eq!(
        r.answers.get("overall_index"),
        Some(&Answer::Text("5".into()))
    );
    assert!(matches!(r.answers.get("ended"), Some(Answer::DateTime(_))));
    assert_eq!(r.repeats["complaints"].len(), 2);
    // Questions with a `respondent` column fill the respondent's segment, which lists,
    // analytics and exports read.
    use fieldsync_core::model::{SegmentKind, ValueTier};
    assert_eq!(r.respondent.segment.kind, SegmentKind::Enterprise);
    assert_eq!(r.respondent.segment.value_tier, Some(ValueTier::High));
    assert!(r.respondent.segment.core);
    assert_eq!(r.respondent.phone.as_deref(), Some("13800138000"));
    // Completing twice changes nothing.
    assert!(!store.complete_response(id, &en)?);
    Ok(())
}

#[test]
fn hidden_answers_survive_and_do_not_block_completion() -> R {
    let store = Store::open_in_memory(&[8u8; 32], StoreOptions::new("phone-2", "wang.fang"))?;
    let scope = Scope::new("team:north")?;
    let (form_id, form) = publish(&store, &scope)?;
    let en = Locale::default();
    let id = store.start_response(&scope, form_id, "north", &en, |_| {})?;
    for (q, v) in [
        ("segment", "individual"),
        ("value_tier", "low"),
        ("core_customer", "no"),
        ("region", "south"),
        ("contact_consent", "no"),
    ] {
        store.set_answer(id, &top(q), choice(v))?;
    }
    // A low score, its reason, then the score is corrected upwards: the reason is
    // hidden again but kept in the document; it no longer counts.
    store.set_answer(id, &top("overall"), Some(score(&form, "overall", 2)))?;
    store.set_answer(id, &top("why_overall"), Some(Answer::Text("Slow".into())))?;
    store.set_answer(id, &top("overall"), Some(score(&form, "overall", 9)))?;
    assert!(store.complete_response(id, &en)?);
    let r: fieldsync_core::model::Response = store.get(id)?;
    assert_eq!(
        r.answers.get("why_overall"),
        Some(&Answer::Text("Slow".into()))
    );
    assert_eq!(
        r.answers.get("overall_band"),
        Some(&Answer::Text("high".into()))
    );
    // No dimension was scored: the index is empty, so it is not stored.
    assert_eq!(r.answers.get("overall_index"), None);
    Ok(())
}
