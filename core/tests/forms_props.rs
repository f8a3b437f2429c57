//! Properties of the form engine on the example survey: after any sequence of edits
//! (any answer of any type on any element, repeat instances added), the incremental
//! state equals a fresh evaluation of the same response, and nothing panics.

use std::path::PathBuf;

use fieldsync_core::forms::engine::EvalContext;
use fieldsync_core::forms::{CompiledForm, NodeRef, xlsform};
use fieldsync_core::model::{Answer, GeoPoint, Response, Score};
use proptest::prelude::*;

fn compiled() -> CompiledForm {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/forms/telecom-satisfaction.xlsx");
    let mut form = xlsform::import_path(&path).expect("example imports").form;
    form.published = true;
    CompiledForm::compile(&form).expect("example compiles")
}

#[derive(Debug, Clone)]
enum Edit {
    Set(usize, Option<u32>, Answer),
    Clear(usize, Option<u32>),
    AddInstance,
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        (-5i64..15).prop_map(|v| Answer::Score(Score::of_ten(v, None))),
        (-5i64..25).prop_map(Answer::Integer),
        any::<f64>().prop_map(Answer::Decimal),
        "[a-z0-9 ]{0,12}".prop_map(Answer::Text),
        prop_oneof![
            Just("yes"),
            Just("no"),
            Just("network"),
            Just("enterprise"),
            Just("7"),
            Just("")
        ]
        .prop_map(|c| Answer::Choice(c.to_string())),
        prop::collection::vec("[a-z]{1,6}", 0..3).prop_map(Answer::Choices),
        "[0-9-]{0,10}".prop_map(Answer::Date),
        (-100.0f64..100.0, -200.0f64..200.0).prop_map(|(lat, lon)| Answer::Geo(GeoPoint {
            lat,
            lon,
            altitude_m: None,
            accuracy_m: None
        })),
        any::<bool>().prop_map(Answer::Acknowledged),
    ]
}

fn edit(n: usize) -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (0..n, prop::option::of(0u32..3), answer()).prop_map(|(e, i, a)| Edit::Set(e, i, a)),
        2 => (0..n, prop::option::of(0u32..3)).prop_map(|(e, i)| Edit::Clear(e, i)),
        1 => Just(Edit::AddInstance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_fresh(edits in prop::collection::vec(edit(compiled().len()), 1..40)) {
        let form = compiled();
        let ctx = EvalContext::at(1_764_590_400_000);
        let mut response = Response::draft("00000000000000000000000000000001", 1, "u", "r", 0);
        let mut ev = form.evaluate(&response, &ctx);
        for e in edits {
            match e {
                Edit::AddInstance => {
                    let path = form.add_instance(&mut response, "complaints", &[]).expect("add");
                    let got = ev.add_instance("complaints", &[]);
                    prop_assert_eq!(got, Some(path));
                }
                Edit::Set(i, inst, a) => {
                    let node = node(&form, i, inst);
                    if let Some(answers) = form.answers_mut(&mut response, &node) {
                        answers.insert(node.question.clone(), a.clone());
                        ev.set_answer(&node, Some(a));
                    }
                }
                Edit::Clear(i, inst) => {
                    let node = node(&form, i, inst);
                    if let Some(answers) = form.answers_mut(&mut response, &node) {
                        answers.remove(&node.question);
                        ev.set_answer(&node, None);
                    }
                }
            }
            let fresh = form.evaluate(&response, &ctx);
            prop_assert_eq!(format!("{:?}", ev.elements()), format!("{:?}", fresh.elements()));
            prop_assert_eq!(ev.issues(), fresh.issues());
        }
    }
}

fn node(form: &CompiledForm, i: usize, inst: Option<u32>) -> NodeRef {
    let q = form.form().questions[i].id.clone();
    if form.repeat_depth(i) > 0 {
        NodeRef::at(q, &[inst.unwrap_or(0)])
    } else {
        NodeRef::top(q)
    }
}
