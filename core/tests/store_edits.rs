//! The edit path: only changed fields are written, the value kept after a write is
//! what a fresh load reads, and any other change to the document (sync, conflicts,
//! conflict resolution) makes the next edit read the document again.

mod common;

use common::*;
use fieldsync_core::Result;
use fieldsync_core::doc::FieldPath;
use fieldsync_core::model::*;
use fieldsync_core::sample::{self, Rng};

/// The bench's edit: the overall score and the main issue, each to another value.
fn edit_two_answers(r: &mut Response, form: &Form) {
    if let (Some(Answer::Score(s)), Some(q)) = (r.answers.get("overall"), form.question("overall"))
    {
        let next = s.value % 10 + 1;
        r.answers
            .insert("overall".into(), Answer::Score(q.score(next)));
    }
    if let (Some(Answer::Choice(c)), Some(q)) =
        (r.answers.get("main_issue"), form.question("main_issue"))
    {
        let at = q.choices.iter().position(|x| &x.value == c).unwrap_or(0);
        let next = q.choices[(at + 1) % q.choices.len()].value.clone();
        r.answers.insert("main_issue".into(), Answer::Choice(next));
    }
}

#[test]
fn successive_edits_read_back_and_reload_equal() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = file_store(dir.path(), "edits.db", "dev-1", "alice");
    let (form_id, form) = telecom_form(&s)?;
    let mut rng = Rng::new(7);
    let resp = sample::telecom_response(&mut rng, form_id, &form, "north/county-1", "alice", 1_000);
    let id = s.create(&scope("team:north"), &resp)?;
    let mut expected = resp.clone();

    // Each step is applied to the stored record and to a plain copy.
    type Step = Box<dyn Fn(&mut Response)>;
    let f1 = form.clone();
    let steps: Vec<Step> = vec![
        Box::new(move |r| edit_two_answers(r, &f1)),
        // Text edits right after another edit: the kept value's text must be bound to
        // the document's current heads, or autosurgeon refuses the splice.
        Box::new(|r| r.note.splice(0, 0, "Met at the shop. ")),
        Box::new(|r| {
            let end = r.note.as_str().len();
            r.note.splice(end, 0, "Call back Friday.");
        }),
        Box::new(|r| r.respondent.name = Some("Wang Fang".into())),
        Box::new(|r| {
            r.location = Some(GeoPoint {
                lat: 30.5,
                lon: 114.3,
                altitude_m: None,
                accuracy_m: Some(5.0),
            })
        }),
        Box::new(|r| {
            r.answers.remove("comments");
        }),
        Box::new(|r| {
            r.answers
                .insert("comments".into(), Answer::Text("Better since May.".into()));
        }),
    ];
    for (i, step) in steps.iter().enumerate() {
        let changed = s.update::<Response>(id, |r| {
            step(r);
            Ok(())
        })?;
        assert!(changed, "step {i} changed nothing");
        step(&mut expected);
        assert_eq!(s.get::<Response>(id)?, expected, "after step {i}");
    }
    // The same value again writes nothing.
    assert!(!s.update::<Response>(id, |_| Ok(()))?);

    // From disk, in another store: the same record.
    s.close();
    let reopened = file_store(dir.path(), "edits.db", "dev-1", "alice");
    assert_eq!(reopened.get::<Response>(id)?, expected);
    assert_eq!(reopened.history(id)?.len(), 1 + steps.len());
    Ok(())
}

#[test]
fn an_edit_of_two_answers_writes_two_answers() -> Result<()> {
    let s = mem("dev-1", "alice");
    let (form_id, form) = telecom_form(&s)?;
    let mut rng = Rng::new(11);
    let resp = sample::telecom_response(&mut rng, form_id, &form, "north/county-1", "alice", 1_000);
    let id = s.create(&scope("team:north"), &resp)?;
    s.update::<Response>(id, |r| {
        edit_two_answers(r, &form);
        Ok(())
    })?;
    let history = s.history(id)?;
    let last = history.last().expect("an entry per change");
    let overall = FieldPath::parse("answers.overall")?;
    let issue = FieldPath::parse("answers.main_issue")?;
    assert!(!last.fields.is_empty());
    assert!(
        last.fields
            .iter()
            .all(|f| f.starts_with(&overall) || f.starts_with(&issue)),
        "{:?}",
        last.fields
    );
    Ok(())
}

#[test]
fn remote_changes_between_edits_are_not_lost() -> Result<()> {
    let a = mem("dev-a", "alice");
    let b = mem("dev-b", "bob");
    let (form_id, form) = telecom_form(&a)?;
    push_doc(&a, &b, form_id)?;
    let mut rng = Rng::new(3);
    let resp = sample::telecom_response(&mut rng, form_id, &form, "north/county-1", "alice", 1_000);
    let id = a.create(&scope("team:north"), &resp)?;
    a.update::<Response>(id, |r| {
        r.note.splice(0, 0, "alice: ");
        Ok(())
    })?;
    sync_doc(&a, &b, id)?;
    b.update::<Response>(id, |r| {
        let end = r.note.as_str().len();
        r.note.splice(end, 0, "bob was here");
        r.respondent.name = Some("Li Lei".into());
        Ok(())
    })?;
    sync_doc(&a, &b, id)?;
    // a edits again after bob's change arrived: it must start from the merged document.
    a.update::<Response>(id, |r| {
        edit_two_answers(r, &form);
        r.note.splice(0, 0, "[checked] ");
        Ok(())
    })?;
    sync_doc(&a, &b, id)?;
    let va = a.get::<Response>(id)?;
    assert_eq!(va, b.get::<Response>(id)?);
    assert_eq!(
        va.note.as_str(),
        format!("[checked] alice: {}bob was here", resp.note.as_str())
    );
    assert_eq!(va.respondent.name.as_deref(), Some("Li Lei"));
    Ok(())
}

#[test]
fn an_edit_of_a_conflicted_document_still_settles_its_conflicts() -> Result<()> {
    let a = mem("dev-a", "alice");
    let b = mem("dev-b", "bob");
    let (form_id, form) = telecom_form(&a)?;
    push_doc(&a, &b, form_id)?;
    let mut rng = Rng::new(5);
    let resp = sample::telecom_response(&mut rng, form_id, &form, "north/county-1", "alice", 1_000);
    let id = a.create(&scope("team:north"), &resp)?;
    sync_doc(&a, &b, id)?;
    a.update::<Response>(id, |r| {
        r.respondent.name = Some("A".into());
        Ok(())
    })?;
    b.update::<Response>(id, |r| {
        r.respondent.name = Some("B".into());
        Ok(())
    })?;
    sync_doc(&a, &b, id)?;
    assert_eq!(a.info(id)?.conflicts, 1);
    // An edit of another field rewrites the whole value, as it always has: the
    // conflicted field is written with the value shown, which settles it.
    a.update::<Response>(id, |r| {
        edit_two_answers(r, &form);
        Ok(())
    })?;
    assert!(a.conflicts(id)?.is_empty());
    assert_eq!(a.info(id)?.conflicts, 0);
    sync_doc(&a, &b, id)?;
    assert_eq!(a.get::<Response>(id)?, b.get::<Response>(id)?);
    Ok(())
}
