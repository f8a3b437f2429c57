//! Every kind, validation rule, query, conflict and history path of the device store.

mod common;

use autosurgeon::Text;
use common::*;
use fieldsync_core::doc::{FieldPath, FieldValue};
use fieldsync_core::model::*;
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::*;
use fieldsync_core::{DocId, Error, Kind, Result};

const H: i64 = 3_600_000;

fn validation_code(r: Result<impl std::fmt::Debug>) -> (String, &'static str) {
    match r {
        Err(Error::Validation(v)) => (v.field, v.code),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn change_rows(s: &Store) -> u64 {
    s.unacked_count().unwrap()
}

#[test]
fn every_kind_round_trips() -> Result<()> {
    let s = mem("dev-1", "alice");
    let (form_id, form) = telecom_form(&s)?;
    assert_eq!(s.get::<Form>(form_id)?, form);

    let mut rng = Rng::new(1);
    let resp = sample::telecom_response(
        &mut rng,
        form_id,
        &form,
        "north/county-1/district-1",
        "alice",
        1_000,
    );
    let rid = s.create(&scope("team:north"), &resp)?;
    assert_eq!(s.get::<Response>(rid)?, resp);

    let acc = sample::account("Acme Logistics", "alice", "north/county-1");
    let aid = s.create(&scope("account:acme"), &acc)?;
    assert_eq!(s.get::<Account>(aid)?, acc);

    let mut v = sample::visit(aid, "alice", 10 * H, "quarterly review");
    v.commitments
        .push(sample::commitment("c1", "alice", 20 * H, "fix the APN"));
    let vid = s.create(&scope("account:acme"), &v)?;
    assert_eq!(s.get::<Visit>(vid)?, v);

    let c = Case::received(
        "C1",
        CaseCategory::Network,
        Severity::High,
        "alice",
        5 * H,
        "no signal",
    );
    let cid = s.create(&scope("account:acme"), &c)?;
    assert_eq!(s.get::<Case>(cid)?, c);

    assert_eq!(s.info(rid)?.kind, Kind::Response);
    assert_eq!(s.info(aid)?.scope.as_str(), "account:acme");
    // The wrong kind is a typed error, not garbage.
    assert!(matches!(
        s.get::<Visit>(rid),
        Err(Error::WrongKind {
            expected: Kind::Visit,
            found: Kind::Response,
            ..
        })
    ));
    assert!(matches!(
        s.get::<Visit>(DocId::random()?),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(s.ids(Some(Kind::Response))?, vec![rid]);
    assert_eq!(s.ids(None)?.len(), 5);
    Ok(())
}

#[test]
fn response_validation_rules_and_nothing_written() -> Result<()> {
    let s = mem("dev-1", "alice");
    let (form_id, form) = telecom_form(&s)?;
    let mut rng = Rng::new(2);
    let good = sample::telecom_response(&mut rng, form_id, &form, "north/c/d", "alice", 0);
    let before = change_rows(&s);

    let mut r = good.clone();
    r.answers.insert(
        "overall".into(),
        Answer::Score(form.question("overall").unwrap().score(11)),
    );
    assert_eq!(
        validation_code(s.create(&scope("t"), &r)),
        ("answers.overall".into(), "score_out_of_range")
    );

    let mut r = good.clone();
    r.answers.insert(
        "overall".into(),
        Answer::Score(form.question("overall").unwrap().score(0)),
    );
    assert_eq!(
        validation_code(s.create(&scope("t"), &r)).1,
        "score_out_of_range"
    );

    let mut r = good.clone();
    r.answers.insert(
        "overall".into(),
        Answer::Score(Score {
            value: 4,
            min: 1,
            max: 5,
            dimension: Some(Dimension::Overall),
        }),
    );
    assert_eq!(validation_code(s.create(&scope("t"), &r)).1, "wrong_scale");

    let mut r = good.clone();
    r.answers.remove("overall");
    assert_eq!(
        validation_code(s.create(&scope("t"), &r)),
        ("answers.overall".into(), "required")
    );
    // ...but a draft may be incomplete.
    r.status = ResponseStatus::Draft;
    let draft = s.create(&scope("t"), &r)?;

    let mut r = good.clone();
    r.answers.insert("nope".into(), Answer::Integer(1));
    assert_eq!(
        validation_code(s.create(&scope("t"), &r)).1,
        "unknown_question"
    );

    let mut r = good.clone();
    r.answers
        .insert("tenure_years".into(), Answer::Text("x".into()));
    assert_eq!(validation_code(s.create(&scope("t"), &r)).1, "wrong_type");

    let mut r = good.clone();
    r.answers
        .insert("main_issue".into(), Answer::Choice("aliens".into()));
    assert_eq!(
        validation_code(s.create(&scope("t"), &r)).1,
        "unknown_choice"
    );

    let mut r = good.clone();
    r.answers.insert(
        "services_used".into(),
        Answer::Choices(vec!["tv".into(), "tv".into()]),
    );
    assert_eq!(validation_code(s.create(&scope("t"), &r)).1, "duplicate");

    let mut r = good.clone();
    r.answers
        .insert("interview_date".into(), Answer::Date("2026-02-30".into()));
    assert_eq!(validation_code(s.create(&scope("t"), &r)).1, "invalid_date");

    let mut r = good.clone();
    r.form_id = DocId::random()?.to_string();
    assert_eq!(validation_code(s.create(&scope("t"), &r)).1, "unknown_form");

    let mut r = good.clone();
    r.completed_at = Some(-5);
    assert_eq!(validation_code(s.create(&scope("t"), &r)).1, "before_start");

    // Only the draft was written.
    assert_eq!(change_rows(&s), before + 1);

    // Completing the draft without the required answer fails and leaves it unchanged.
    let r = s.update::<Response>(draft, |r| {
        r.status = ResponseStatus::Complete;
        Ok(())
    });
    assert_eq!(validation_code(r).1, "required");
    assert_eq!(s.get::<Response>(draft)?.status, ResponseStatus::Draft);
    assert_eq!(change_rows(&s), before + 1);
    // A response cannot move to another form.
    let r = s.update::<Response>(draft, |r| {
        r.form_version = 2;
        Ok(())
    });
    assert_eq!(validation_code(r).1, "immutable");
    Ok(())
}

#[test]
fn forms_publish_then_freeze() -> Result<()> {
    let s = mem("dev-1", "admin");
    let mut f = sample::telecom_form(1);
    f.published = false;
    let id = s.create(&scope("t"), &f)?;
    assert!(s.update::<Form>(id, |f| {
        f.title = "Renamed".into();
        Ok(())
    })?);
    s.update::<Form>(id, |f| {
        f.published = true;
        Ok(())
    })?;
    assert!(matches!(
        s.update::<Form>(id, |f| {
            f.title = "Again".into();
            Ok(())
        }),
        Err(Error::Immutable { .. })
    ));
    let mut bad = sample::telecom_form(1);
    bad.questions.push(bad.questions[0].clone());
    assert_eq!(validation_code(s.create(&scope("t"), &bad)).1, "duplicate");
    let mut bad = sample::telecom_form(1);
    bad.questions[0].scale = Some(Scale { min: 5, max: 5 });
    assert_eq!(
        validation_code(s.create(&scope("t"), &bad)).1,
        "invalid_scale"
    );
    let mut bad = sample::telecom_form(0);
    bad.version = 0;
    assert_eq!(
        validation_code(s.create(&scope("t"), &bad)).1,
        "invalid_version"
    );
    // A response to an unpublished form is refused.
    let mut draft = sample::telecom_form(2);
    draft.published = false;
    let did = s.create(&scope("t"), &draft)?;
    let r = sample::telecom_response(&mut Rng::new(1), did, &draft, "r", "u", 0);
    assert_eq!(
        validation_code(s.create(&scope("t"), &r)).1,
        "unpublished_form"
    );
    let rows = s.list_forms(Some("telecom-sat"))?;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].version, 2);
    assert_eq!(rows[1].title, "Renamed");
    Ok(())
}

#[test]
fn visit_rules() -> Result<()> {
    let s = mem("dev-1", "alice");
    let aid = s.create(&scope("a"), &sample::account("Acme", "alice", "north"))?;
    let base = sample::visit(aid, "alice", 0, "review");

    let mut v = base.clone();
    v.scores.service = Some(11);
    assert_eq!(
        validation_code(s.create(&scope("a"), &v)),
        ("scores.service".into(), "score_out_of_range")
    );

    let mut v = base.clone();
    v.check_out = Some(CheckPoint {
        at: 5,
        location: None,
    });
    assert_eq!(validation_code(s.create(&scope("a"), &v)).1, "no_check_in");

    let mut v = base.clone();
    v.check_in = Some(CheckPoint {
        at: 10,
        location: None,
    });
    v.check_out = Some(CheckPoint {
        at: 5,
        location: None,
    });
    assert_eq!(
        validation_code(s.create(&scope("a"), &v)).1,
        "before_check_in"
    );

    let mut v = base.clone();
    v.commitments = vec![
        sample::commitment("c", "alice", 1, "x"),
        sample::commitment("c", "bob", 2, "y"),
    ];
    assert_eq!(validation_code(s.create(&scope("a"), &v)).1, "duplicate");

    let mut v = base.clone();
    v.commitments = vec![sample::commitment("c", "", 1, "x")];
    assert_eq!(
        validation_code(s.create(&scope("a"), &v)).0,
        "commitments[0].owner"
    );

    let mut v = base.clone();
    v.account_id = "not-an-id".into();
    assert_eq!(
        validation_code(s.create(&scope("a"), &v)).1,
        "invalid_reference"
    );

    let mut v = base.clone();
    v.check_in = Some(CheckPoint {
        at: 1,
        location: Some(GeoPoint {
            lat: 100.0,
            lon: 0.0,
            altitude_m: None,
            accuracy_m: None,
        }),
    });
    assert_eq!(
        validation_code(s.create(&scope("a"), &v)).1,
        "invalid_location"
    );

    let vid = s.create(&scope("a"), &base)?;
    let other = s.create(&scope("a"), &sample::account("Other", "alice", "north"))?;
    let r = s.update::<Visit>(vid, |v| {
        v.account_id = other.to_string();
        Ok(())
    });
    assert_eq!(validation_code(r).1, "immutable");
    let acc = s.create(
        &scope("a"),
        &Account {
            name: " ".into(),
            ..sample::account("x", "alice", "n")
        },
    );
    assert_eq!(validation_code(acc), ("name".into(), "required"));
    Ok(())
}

#[test]
fn case_stage_transitions() -> Result<()> {
    let s = mem("dev-1", "alice");
    let t0 = 100 * H;
    let c = Case::received(
        "C9",
        CaseCategory::Billing,
        Severity::Medium,
        "alice",
        t0,
        "double charge",
    );
    let mut bad = c.clone();
    bad.stage = CaseStage::Handled;
    assert_eq!(
        validation_code(s.create(&scope("t"), &bad)).1,
        "illegal_transition"
    );
    let id = s.create(&scope("t"), &c)?;

    // received -> handled skips classification: illegal.
    let r = s.update::<Case>(id, |c| {
        c.advance(CaseStage::Handled, "alice", t0 + 1);
        Ok(())
    });
    assert_eq!(validation_code(r), ("stage".into(), "illegal_transition"));
    s.update::<Case>(id, |c| {
        c.advance(CaseStage::Classified, "alice", t0 + 1);
        Ok(())
    })?;
    // dispatched needs a department
    let r = s.update::<Case>(id, |c| {
        c.advance(CaseStage::Dispatched, "alice", t0 + 2);
        Ok(())
    });
    assert_eq!(validation_code(r).0, "dispatches");
    s.update::<Case>(id, |c| {
        c.dispatches.push(Dispatch {
            id: "d1".into(),
            department: "billing".into(),
            ticket: Some("T-1".into()),
            at: t0 + 2,
            by: "alice".into(),
        });
        c.advance(CaseStage::Dispatched, "alice", t0 + 2);
        Ok(())
    })?;
    // the first-contact owner keeps the case
    let r = s.update::<Case>(id, |c| {
        c.first_contact_owner = "bob".into();
        Ok(())
    });
    assert_eq!(validation_code(r).1, "immutable");
    s.update::<Case>(id, |c| {
        c.advance(CaseStage::Handled, "billing-team", t0 + 3);
        Ok(())
    })?;
    let r = s.update::<Case>(id, |c| {
        c.advance(CaseStage::Reported, "alice", t0 + 4);
        Ok(())
    });
    assert_eq!(validation_code(r).0, "resolution");
    s.update::<Case>(id, |c| {
        c.resolution = Some("refund issued".into());
        c.advance(CaseStage::Reported, "alice", t0 + 4);
        Ok(())
    })?;
    let r = s.update::<Case>(id, |c| {
        c.follow_up_score = Some(0);
        c.advance(CaseStage::FollowedUp, "alice", t0 + 5);
        Ok(())
    });
    assert_eq!(validation_code(r).1, "score_out_of_range");
    s.update::<Case>(id, |c| {
        c.follow_up_score = Some(9);
        c.advance(CaseStage::FollowedUp, "alice", t0 + 5);
        Ok(())
    })?;
    let r = s.update::<Case>(id, |c| {
        c.advance(CaseStage::Closed, "alice", t0 + 6);
        Ok(())
    });
    assert_eq!(validation_code(r).0, "root_cause");
    s.update::<Case>(id, |c| {
        c.root_cause = Some("tariff migration bug".into());
        c.advance(CaseStage::Closed, "alice", t0 + 6);
        Ok(())
    })?;
    let r = s.update::<Case>(id, |c| {
        c.resolution = Some("changed".into());
        Ok(())
    });
    assert_eq!(validation_code(r).1, "closed");
    let c = s.get::<Case>(id)?;
    assert_eq!(c.stage_log.len(), 7);
    assert_eq!(c.closed_at, Some(t0 + 6));
    assert!(!c.resolved_at_first_contact());
    Ok(())
}

#[test]
fn response_queries_filter_and_page() -> Result<()> {
    let s = mem("dev-1", "alice");
    let (form_id, form) = telecom_form(&s)?;
    let mut rng = Rng::new(7);
    let mut made = Vec::new();
    for i in 0..120 {
        let region = if i % 3 == 0 {
            "north/county-1/district-1"
        } else {
            "south/county-2/district-9"
        };
        let mut r = sample::telecom_response(
            &mut rng,
            form_id,
            &form,
            region,
            if i % 2 == 0 { "alice" } else { "bob" },
            i * 1000,
        );
        if i % 10 == 0 {
            r.status = ResponseStatus::Approved;
        }
        let id = s.create(&scope("team:north"), &r)?;
        made.push((id, r));
    }
    // Page through a region filter; compare with the truth computed from the values.
    let filter = ResponseFilter {
        region: Some("north".into()),
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut next = None;
    loop {
        let page = s.list_responses(&filter, 7, next.as_deref())?;
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|r| (r.id, r.started_at)));
        match page.next {
            Some(n) => next = Some(n),
            None => break,
        }
    }
    let mut want: Vec<(DocId, i64)> = made
        .iter()
        .filter(|(_, r)| r.region.starts_with("north/"))
        .map(|(id, r)| (*id, r.started_at))
        .collect();
    want.sort_by_key(|b| std::cmp::Reverse(b.1));
    assert_eq!(seen, want, "newest first, every row once");

    for band in [Band::High, Band::Middle, Band::Low] {
        let f = ResponseFilter {
            region: Some("south/county-2".into()),
            band: Some(band),
            ..Default::default()
        };
        let got = s.list_responses(&f, 500, None)?.items.len();
        let want = made
            .iter()
            .filter(|(_, r)| r.region.starts_with("south/county-2") && r.band() == Some(band))
            .count();
        assert_eq!(got, want, "{band:?}");
    }
    let f = ResponseFilter {
        status: Some(ResponseStatus::Approved),
        ..Default::default()
    };
    assert_eq!(s.list_responses(&f, 500, None)?.items.len(), 12);
    let f = ResponseFilter {
        from: Some(10_000),
        to: Some(20_000),
        enumerator: Some("alice".into()),
        ..Default::default()
    };
    assert_eq!(s.list_responses(&f, 500, None)?.items.len(), 5);
    let f = ResponseFilter {
        core: Some(true),
        segment: Some(SegmentKind::Enterprise),
        form_id: Some(form_id),
        ..Default::default()
    };
    let want = made
        .iter()
        .filter(|(_, r)| {
            r.respondent.segment.core && r.respondent.segment.kind == SegmentKind::Enterprise
        })
        .count();
    assert_eq!(s.list_responses(&f, 500, None)?.items.len(), want);
    // "north" must not match "northeast".
    let mut r = made[0].1.clone();
    r.region = "northeast/x".into();
    s.create(&scope("team:north"), &r)?;
    let f = ResponseFilter {
        region: Some("north".into()),
        ..Default::default()
    };
    assert_eq!(s.list_responses(&f, 500, None)?.items.len(), 40);
    // sealed display fields come back
    let row = &s.list_responses(&ResponseFilter::default(), 1, None)?.items[0];
    assert!(
        row.respondent_name
            .as_deref()
            .is_some_and(|n| n.starts_with("Respondent"))
    );
    assert!(
        s.list_responses(&ResponseFilter::default(), 10, Some("garbage"))
            .is_err()
    );
    // Every order pages through everything once, in order, with and without a region.
    use fieldsync_core::store::ResponseOrder;
    for order in [
        ResponseOrder::Newest,
        ResponseOrder::Oldest,
        ResponseOrder::LowestScore,
        ResponseOrder::HighestScore,
    ] {
        for region in [None, Some("south".to_string())] {
            let f = ResponseFilter {
                order,
                region: region.clone(),
                ..Default::default()
            };
            let (mut rows, mut next) = (Vec::new(), None);
            loop {
                let p = s.list_responses(&f, 13, next.as_deref())?;
                rows.extend(p.items);
                match p.next {
                    Some(n) => next = Some(n),
                    None => break,
                }
            }
            let mut ids: Vec<_> = rows.iter().map(|r| r.id).collect();
            let n = ids.len();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), n, "{order:?}: no row twice");
            assert_eq!(
                n,
                if region.is_some() { 80 } else { 121 },
                "{order:?} {region:?}"
            );
            let ordered = rows.windows(2).all(|w| match order {
                ResponseOrder::Newest => w[0].started_at >= w[1].started_at,
                ResponseOrder::Oldest => w[0].started_at <= w[1].started_at,
                ResponseOrder::LowestScore => {
                    w[0].overall.unwrap_or(f64::MAX) <= w[1].overall.unwrap_or(f64::MAX)
                }
                ResponseOrder::HighestScore => {
                    w[0].overall.unwrap_or(f64::MIN) >= w[1].overall.unwrap_or(f64::MIN)
                }
            });
            assert!(ordered, "{order:?} {region:?}");
        }
    }
    Ok(())
}

#[test]
fn visit_commitment_case_queries() -> Result<()> {
    let s = mem("dev-1", "alice");
    let a1 = s.create(&scope("a"), &sample::account("Acme", "alice", "north/c1"))?;
    let mut acc2 = sample::account("Beta", "bob", "south/c2");
    acc2.co_owners.push("alice".into());
    let a2 = s.create(&scope("a"), &acc2)?;
    for i in 0..5 {
        let mut v = sample::visit(
            if i < 3 { a1 } else { a2 },
            if i % 2 == 0 { "alice" } else { "bob" },
            i * H,
            "review",
        );
        v.commitments.push(sample::commitment(
            &format!("c{i}"),
            "alice",
            (10 + i) * H,
            "send quote",
        ));
        if i == 1 {
            v.commitments[0].done_at = Some(2 * H);
        }
        if i == 4 {
            v.commitments.push(Commitment {
                refund: true,
                ..sample::commitment("r", "bob", 3 * H, "credit 100")
            });
        }
        s.create(&scope("a"), &v)?;
    }
    assert_eq!(
        s.list_visits(
            &VisitFilter {
                account_id: Some(a1),
                ..Default::default()
            },
            50,
            None
        )?
        .items
        .len(),
        3
    );
    let p = s.list_visits(
        &VisitFilter {
            owner: Some("alice".into()),
            ..Default::default()
        },
        2,
        None,
    )?;
    assert_eq!(p.items.len(), 2);
    assert_eq!(p.items[0].planned_at, 4 * H);
    let p2 = s.list_visits(
        &VisitFilter {
            owner: Some("alice".into()),
            ..Default::default()
        },
        2,
        p.next.as_deref(),
    )?;
    assert_eq!(p2.items.len(), 1);
    assert_eq!(p2.next, None);

    let open = s.open_commitments(
        &CommitmentFilter {
            owner: Some("alice".into()),
            ..Default::default()
        },
        50,
        None,
    )?;
    let dues: Vec<i64> = open.items.iter().map(|c| c.due_at / H).collect();
    assert_eq!(
        dues,
        vec![10, 12, 13, 14],
        "done ones excluded, soonest first"
    );
    assert_eq!(open.items[0].description, "send quote");
    let page1 = s.open_commitments(&CommitmentFilter::default(), 3, None)?;
    let page2 = s.open_commitments(&CommitmentFilter::default(), 3, page1.next.as_deref())?;
    assert_eq!(page1.items.len() + page2.items.len(), 5);
    assert_eq!(page1.items[0].commitment_id, "r");
    let refunds = s.open_commitments(
        &CommitmentFilter {
            refund_only: true,
            ..Default::default()
        },
        50,
        None,
    )?;
    assert_eq!(refunds.items.len(), 1);
    let due_soon = s.open_commitments(
        &CommitmentFilter {
            due_before: Some(12 * H),
            ..Default::default()
        },
        50,
        None,
    )?;
    assert_eq!(due_soon.items.len(), 2);

    let accs = s.list_accounts(&AccountFilter {
        owner: Some("alice".into()),
        ..Default::default()
    })?;
    assert_eq!(
        accs.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        vec!["Acme", "Beta"],
        "co-owned included"
    );
    assert_eq!(
        s.list_accounts(&AccountFilter {
            region: Some("south".into()),
            ..Default::default()
        })?
        .len(),
        1
    );

    let t0 = 1000 * H;
    let c1 = s.create(
        &scope("a"),
        &Case::received(
            "C1",
            CaseCategory::Network,
            Severity::Critical,
            "alice",
            t0,
            "x",
        ),
    )?;
    s.create(
        &scope("a"),
        &Case::received("C2", CaseCategory::Service, Severity::Low, "bob", t0, "y"),
    )?;
    let overdue = s.list_cases(
        &CaseFilter {
            overdue_at: Some(t0 + 3 * H),
            ..Default::default()
        },
        50,
        None,
    )?;
    assert_eq!(
        overdue.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![c1],
        "critical received overdue after 2 h; low not yet"
    );
    s.update::<Case>(c1, |c| {
        c.advance(CaseStage::Classified, "alice", t0 + 3 * H);
        Ok(())
    })?;
    assert!(
        s.list_cases(
            &CaseFilter {
                overdue_at: Some(t0 + 3 * H),
                ..Default::default()
            },
            50,
            None
        )?
        .items
        .is_empty()
    );
    let mine = s.list_cases(
        &CaseFilter {
            owner: Some("alice".into()),
            stage: Some(CaseStage::Classified),
            ..Default::default()
        },
        50,
        None,
    )?;
    assert_eq!(mine.items.len(), 1);
    assert_eq!(
        s.list_cases(
            &CaseFilter {
                open_only: true,
                customer_id: Some("C2".into()),
                ..Default::default()
            },
            50,
            None
        )?
        .items
        .len(),
        1
    );
    Ok(())
}

#[test]
fn concurrent_note_inserts_both_survive() -> Result<()> {
    let a = mem("dev-a", "alice");
    let b = mem("dev-b", "bob");
    let aid = a.create(&scope("acc"), &sample::account("Acme", "alice", "n"))?;
    let mut v = sample::visit(aid, "alice", 0, "review");
    v.notes = Text::with_value("Agenda: renewal.");
    let vid = a.create(&scope("acc"), &v)?;
    sync_doc(&a, &b, vid)?;
    a.update::<Visit>(vid, |v| {
        v.notes.splice(0, 0, "[Alice] CFO attended. ");
        Ok(())
    })?;
    b.update::<Visit>(vid, |v| {
        let end = v.notes.as_str().len();
        v.notes.splice(end, 0, " [Bob] Asked for 5G pilot.");
        Ok(())
    })?;
    sync_doc(&a, &b, vid)?;
    let na = a.get::<Visit>(vid)?.notes.as_str().to_string();
    let nb = b.get::<Visit>(vid)?.notes.as_str().to_string();
    assert_eq!(na, nb);
    assert_eq!(
        na,
        "[Alice] CFO attended. Agenda: renewal. [Bob] Asked for 5G pilot."
    );
    // Whole-text updates also merge as edits, not replacements.
    a.update::<Visit>(vid, |v| {
        v.notes
            .update("[Alice] CFO attended. Agenda: renewal and pricing. [Bob] Asked for 5G pilot.");
        Ok(())
    })?;
    b.update::<Visit>(vid, |v| {
        let end = v.notes.as_str().len();
        v.notes.splice(end, 0, " Follow-up in May.");
        Ok(())
    })?;
    sync_doc(&a, &b, vid)?;
    assert_eq!(
        a.get::<Visit>(vid)?.notes.as_str(),
        "[Alice] CFO attended. Agenda: renewal and pricing. [Bob] Asked for 5G pilot. Follow-up in May."
    );
    assert!(a.conflicts(vid)?.is_empty());
    Ok(())
}

#[test]
fn scalar_conflict_is_exposed_and_resolution_syncs() -> Result<()> {
    let a = mem("dev-a", "alice");
    let b = mem("dev-b", "bob");
    let c = mem("dev-c", "carol");
    let aid = a.create(&scope("acc"), &sample::account("Acme", "alice", "n"))?;
    let vid = a.create(&scope("acc"), &sample::visit(aid, "alice", 0, "review"))?;
    sync_doc(&a, &b, vid)?;
    sync_doc(&a, &c, vid)?;
    a.update::<Visit>(vid, |v| {
        v.scores.overall = Some(6);
        v.purpose = "renewal".into();
        Ok(())
    })?;
    b.update::<Visit>(vid, |v| {
        v.scores.overall = Some(9);
        v.attendees.push("bob".into());
        Ok(())
    })?;
    for (x, y) in [(&a, &b), (&b, &c), (&a, &c)] {
        sync_doc(x, y, vid)?;
    }
    let va = a.get::<Visit>(vid)?;
    assert_eq!(va, b.get::<Visit>(vid)?);
    assert_eq!(va, c.get::<Visit>(vid)?);
    // Different fields both survive.
    assert_eq!(va.purpose, "renewal");
    assert!(va.attendees.contains(&"bob".to_string()));
    // The same scalar: one deterministic winner everywhere, the other exposed.
    let ca = a.conflicts(vid)?;
    assert_eq!(ca.len(), 1, "{ca:?}");
    assert_eq!(ca, b.conflicts(vid)?);
    assert_eq!(ca, c.conflicts(vid)?);
    assert_eq!(ca[0].path.to_string(), "scores.overall");
    let mut vals = vec![ca[0].winner.clone()];
    vals.extend(ca[0].others.clone());
    assert!(vals.contains(&FieldValue::Int(6)) && vals.contains(&FieldValue::Int(9)));
    assert_eq!(
        Some(ca[0].winner.clone()),
        va.scores.overall.map(FieldValue::Int)
    );
    assert_eq!(a.info(vid)?.conflicts, 1);
    assert_eq!(
        c.list_visits(&VisitFilter::default(), 10, None)?.items[0].conflicts,
        1
    );

    // Carol resolves (choosing the losing value); the resolution syncs and clears it.
    let loser = ca[0].others[0].clone();
    let bad = c.resolve_conflict(vid, &ca[0].path, &FieldValue::Int(42));
    assert_eq!(
        validation_code(bad).1,
        "score_out_of_range",
        "a resolution is validated too"
    );
    let bad = c.resolve_conflict(vid, &ca[0].path, &FieldValue::Str("x".into()));
    assert_eq!(validation_code(bad).1, "wrong_type");
    c.resolve_conflict(vid, &ca[0].path, &loser)?;
    sync_doc(&c, &a, vid)?;
    sync_doc(&c, &b, vid)?;
    for s in [&a, &b, &c] {
        assert!(s.conflicts(vid)?.is_empty());
        assert_eq!(
            s.get::<Visit>(vid)?.scores.overall.map(FieldValue::Int),
            Some(loser.clone())
        );
        assert_eq!(s.info(vid)?.conflicts, 0);
    }
    Ok(())
}

#[test]
fn field_history_names_user_device_and_time() -> Result<()> {
    let mut oa = StoreOptions::new("phone-a", "alice");
    let t = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(1_000));
    let t2 = t.clone();
    oa.clock = Some(std::sync::Arc::new(move || {
        t2.load(std::sync::atomic::Ordering::SeqCst)
    }));
    let a = fieldsync_core::Store::open_in_memory(&KEY, oa)?;
    let b = mem("tablet-b", "bob");
    let aid = a.create(&scope("acc"), &sample::account("Acme", "alice", "n"))?;
    let vid = a.create(&scope("acc"), &sample::visit(aid, "alice", 0, "review"))?;
    t.store(5_000, std::sync::atomic::Ordering::SeqCst);
    a.update::<Visit>(vid, |v| {
        v.scores.service = Some(7);
        Ok(())
    })?;
    sync_doc(&a, &b, vid)?;
    b.update::<Visit>(vid, |v| {
        v.scores.service = Some(8);
        v.notes.splice(0, 0, "hello");
        Ok(())
    })?;
    sync_doc(&a, &b, vid)?;
    // b's actor is unknown to a until sync tells it; record it as sync will.
    a.record_actor(b.actor(), "tablet-b", "bob")?;
    let h = a.field_history(vid, &FieldPath::parse("scores.service")?)?;
    assert_eq!(h.len(), 3, "{h:#?}"); // created (null), alice's 7, bob's 8
    assert_eq!(h[1].user_id.as_deref(), Some("alice"));
    assert_eq!(h[1].device_id.as_deref(), Some("phone-a"));
    assert_eq!(h[1].time, 5_000);
    assert_eq!(h[2].user_id.as_deref(), Some("bob"));
    assert_eq!(h[2].device_id.as_deref(), Some("tablet-b"));
    let notes = a.field_history(vid, &FieldPath::parse("notes")?)?;
    assert_eq!(notes.last().and_then(|e| e.user_id.as_deref()), Some("bob"));
    // b never learnt alice's actor: the entry is still there, without names.
    let hb = b.field_history(vid, &FieldPath::parse("scores.service")?)?;
    assert_eq!(hb[1].user_id, None);
    assert_eq!(hb.len(), 3);
    assert_eq!(a.history(vid)?.len(), 3);
    Ok(())
}

#[test]
fn persistence_reopen_compaction_and_acks() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (form_id, rid);
    {
        let s = file_store(dir.path(), "s.db", "dev", "alice");
        let f = telecom_form(&s)?;
        form_id = f.0;
        let r = sample::telecom_response(&mut Rng::new(3), form_id, &f.1, "north/a", "alice", 0);
        rid = s.create(&scope("t"), &r)?;
        for i in 0..40 {
            s.update::<Response>(rid, |r| {
                r.answers.insert("tenure_years".into(), Answer::Integer(i));
                Ok(())
            })?;
        }
        s.close();
        assert!(matches!(s.get::<Response>(rid), Err(Error::Closed)));
    }
    let s = file_store(dir.path(), "s.db", "dev", "alice");
    let r = s.get::<Response>(rid)?;
    assert_eq!(r.answers.get("tenure_years"), Some(&Answer::Integer(39)));
    assert_eq!(s.unacked_count()?, 42); // form + response + 40 edits
    // compaction folds, keeps unacked rows, and the document reads the same
    let rep = s.compact_due(10)?;
    assert_eq!(rep.documents, 1);
    assert_eq!(
        rep.folded, 41,
        "the response's changes; the form is below the threshold"
    );
    assert_eq!(rep.deleted, 0, "unacknowledged changes are never deleted");
    let pending = s.pending_changes(0, 1000)?;
    assert_eq!(pending.len(), 42);
    let acks: Vec<_> = pending.iter().map(|p| (p.doc_id, p.hash)).collect();
    s.mark_acked(&acks[..20])?;
    assert_eq!(s.unacked_count()?, 22);
    s.close();
    let s = file_store(dir.path(), "s.db", "dev", "alice");
    assert_eq!(s.get::<Response>(rid)?, r);
    s.update::<Response>(rid, |r| {
        r.answers
            .insert("tenure_years".into(), Answer::Integer(100));
        Ok(())
    })?;
    s.compact(rid)?;
    s.mark_acked(&acks)?;
    let rep = s.compact(rid)?;
    assert_eq!(rep.folded, 0);
    assert_eq!(s.unacked_count()?, 1);
    s.close();
    let s = file_store(dir.path(), "s.db", "dev", "alice");
    assert_eq!(
        s.get::<Response>(rid)?.answers.get("tenure_years"),
        Some(&Answer::Integer(100))
    );
    assert_eq!(s.integrity_check()?, Ok(()));
    // the same actor is reused for the same device and user
    let actor = s.actor().clone();
    s.close();
    let s = file_store(dir.path(), "s.db", "dev", "alice");
    assert_eq!(s.actor(), &actor);
    Ok(())
}

#[test]
fn rejected_changes_stay_with_their_reason() -> Result<()> {
    let s = mem("dev", "alice");
    let aid = s.create(&scope("a"), &sample::account("Acme", "alice", "n"))?;
    let p = s.pending_changes(0, 10)?;
    assert_eq!(p.len(), 1);
    s.mark_rejected(aid, &p[0].hash, "no write grant on scope a")?;
    assert!(s.pending_changes(0, 10)?.is_empty());
    assert_eq!(s.unacked_count()?, 1, "still on the device");
    assert_eq!(
        s.rejected_changes()?,
        vec![(aid, p[0].hash, "no write grant on scope a".to_string())]
    );
    assert_eq!(s.retry_rejected()?, 1);
    assert_eq!(s.pending_changes(0, 10)?.len(), 1);
    Ok(())
}

#[test]
fn remote_changes_validate_shape_and_scope() -> Result<()> {
    let a = mem("dev-a", "alice");
    let b = mem("dev-b", "bob");
    let aid = a.create(&scope("acc"), &sample::account("Acme", "alice", "n"))?;
    let ch = a.changes_since(aid, &[])?;
    // wrong scope or kind for a known document is refused
    b.apply_changes(aid, Kind::Account, &scope("acc"), &ch, true)?;
    assert!(
        b.apply_changes(aid, Kind::Account, &scope("other"), &ch, true)
            .is_err()
    );
    assert!(
        b.apply_changes(aid, Kind::Visit, &scope("acc"), &ch, true)
            .is_err()
    );
    // duplicates are counted, not stored twice
    let out = b.apply_changes(aid, Kind::Account, &scope("acc"), &ch, true)?;
    assert_eq!(out.duplicates, 1);
    assert_eq!(out.new_changes, 0);
    // garbage is a typed error and nothing is written
    let before = b.ids(None)?;
    assert!(matches!(
        b.apply_changes(
            DocId::random()?,
            Kind::Account,
            &scope("acc"),
            &[vec![1, 2, 3]],
            true
        ),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        b.apply_changes(
            DocId::random()?,
            Kind::Account,
            &scope("acc"),
            &[vec![0u8; 5 << 20]],
            true
        ),
        Err(Error::TooLarge { .. })
    ));
    assert_eq!(b.ids(None)?, before);
    // a document whose content is not an account keeps its data but no projection row
    let mut raw = automerge::AutoCommit::new();
    automerge::transaction::Transactable::put(&mut raw, automerge::ROOT, "name", 5)?;
    raw.commit();
    let bad = DocId::random()?;
    let bytes: Vec<Vec<u8>> = raw
        .get_changes(&[])
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    b.apply_changes(bad, Kind::Account, &scope("acc"), &bytes, true)?;
    assert_eq!(b.list_accounts(&AccountFilter::default())?.len(), 1);
    assert!(b.get::<Account>(bad).is_err());
    assert_eq!(b.changes_since(bad, &[])?.len(), 1, "data kept");
    Ok(())
}

#[test]
fn listeners_hear_local_and_remote_changes() -> Result<()> {
    use std::sync::{Arc, Mutex};
    struct L(Mutex<Vec<(Vec<DocId>, ChangeOrigin)>>);
    impl ChangeListener for L {
        fn on_change(&self, ids: &[DocId], origin: ChangeOrigin) {
            self.0.lock().unwrap().push((ids.to_vec(), origin));
        }
    }
    let a = mem("a", "alice");
    let b = mem("b", "bob");
    let l = Arc::new(L(Mutex::new(Vec::new())));
    let lid = b.add_listener(l.clone());
    let aid = a.create(&scope("acc"), &sample::account("Acme", "alice", "n"))?;
    push_doc(&a, &b, aid)?;
    b.update::<Account>(aid, |x| {
        x.core = false;
        Ok(())
    })?;
    // a failed write tells nobody
    let _ = b.update::<Account>(aid, |x| {
        x.name.clear();
        Ok(())
    });
    b.remove_listener(lid);
    b.update::<Account>(aid, |x| {
        x.core = true;
        Ok(())
    })?;
    let got = l.0.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            (vec![aid], ChangeOrigin::Remote),
            (vec![aid], ChangeOrigin::Local)
        ]
    );
    Ok(())
}

#[test]
fn wrong_key_and_bad_key_length() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let p = dir.path().join("k.db");
    {
        let s = Store::open(&p, &KEY, StoreOptions::new("d", "u"))?;
        s.create(&scope("a"), &sample::account("Acme", "u", "n"))?;
    }
    assert!(matches!(
        Store::open(&p, &[1u8; 32], StoreOptions::new("d", "u")),
        Err(Error::WrongKey)
    ));
    assert!(matches!(
        Store::open(&p, &[1u8; 16], StoreOptions::new("d", "u")),
        Err(Error::WrongKey)
    ));
    let s = Store::open(&p, &KEY, StoreOptions::new("d", "u"))?;
    assert_eq!(s.list_accounts(&AccountFilter::default())?.len(), 1);
    Ok(())
}

#[test]
fn no_content_in_error_text() -> Result<()> {
    let s = mem("d", "u");
    let (fid, form) = telecom_form(&s)?;
    let mut r = sample::telecom_response(&mut Rng::new(9), fid, &form, "n", "u", 0);
    r.answers.insert("comments".into(), Answer::Integer(5));
    r.respondent.name = Some("Secret Name".into());
    let e = s.create(&scope("a"), &r).unwrap_err().to_string();
    assert!(!e.contains("Secret"), "{e}");
    assert!(e.contains("answers.comments"), "{e}");
    Ok(())
}

#[test]
fn close_folds_the_wal_so_the_file_alone_is_complete() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let s = file_store(dir.path(), "c.db", "d", "u");
    let id = s.create(&scope("a"), &sample::account("Copied", "u", "n"))?;
    s.close();
    // Copy the main file only (a backup or an export would).
    std::fs::copy(dir.path().join("c.db"), dir.path().join("copy.db"))?;
    let c = file_store(dir.path(), "copy.db", "d", "u");
    assert_eq!(c.get::<Account>(id)?.name, "Copied");
    Ok(())
}

/// Notes in Chinese (and emoji) edit and merge like ASCII ones: splices at character
/// boundaries and whole-text updates, concurrently on two replicas. (Automerge counts
/// text positions in UTF-8 bytes here, the unit autosurgeon's `Text` works in; with
/// code points, the first edit after a Chinese character failed.)
#[test]
fn chinese_notes_edit_and_merge() -> Result<()> {
    let a = mem("dev-a", "li");
    let b = mem("dev-b", "liu");
    let aid = a.create(&scope("acc"), &sample::account("艾克米物流", "li", "n"))?;
    let mut v = sample::visit(aid, "li", 0, "季度服务回顾");
    v.notes = Text::with_value("议程：续约。");
    let vid = a.create(&scope("acc"), &v)?;
    sync_doc(&a, &b, vid)?;
    a.update::<Visit>(vid, |v| {
        v.notes.splice(0, 0, "[李伟] 财务总监出席。");
        Ok(())
    })?;
    b.update::<Visit>(vid, |v| {
        let end = v.notes.as_str().len();
        v.notes.splice(end, 0, " [刘洋] B 仓库 -110 dBm 📶。");
        Ok(())
    })?;
    sync_doc(&a, &b, vid)?;
    let na = a.get::<Visit>(vid)?.notes.as_str().to_string();
    assert_eq!(na, b.get::<Visit>(vid)?.notes.as_str());
    assert_eq!(
        na,
        "[李伟] 财务总监出席。议程：续约。 [刘洋] B 仓库 -110 dBm 📶。"
    );
    // A whole-text update (what the bindings' update_visit does) after the Chinese
    // text, and a splice in the middle of it on the other replica.
    a.update::<Visit>(vid, |v| {
        v.notes.update(format!("{na} 下周回访。"));
        Ok(())
    })?;
    b.update::<Visit>(vid, |v| {
        let at = v
            .notes
            .as_str()
            .find("续约")
            .map_or(0, |i| i + "续约".len());
        v.notes.splice(at, 0, "和报价");
        Ok(())
    })?;
    sync_doc(&a, &b, vid)?;
    let merged = a.get::<Visit>(vid)?.notes.as_str().to_string();
    assert_eq!(merged, b.get::<Visit>(vid)?.notes.as_str());
    assert_eq!(
        merged,
        "[李伟] 财务总监出席。议程：续约和报价。 [刘洋] B 仓库 -110 dBm 📶。 下周回访。"
    );
    Ok(())
}
