//! The figures of docs/analytics.md on a seeded data set, each expected value worked
//! out by hand in the comments beside it.

use fieldsync_core::analytics::{
    self, BandFigures, CaseFilter, Period, ResponseFilter, WarningKind,
};
use fieldsync_core::model::{
    Answer, Case, CaseCategory, CaseStage, Dimension, Dispatch, Form, Question, QuestionKind,
    Response, ResponseStatus, Segment, SegmentKind, Severity, ValueTier,
};
use fieldsync_core::sample;
use fieldsync_core::{DocId, Scope, Store, StoreOptions};

type R = Result<(), Box<dyn std::error::Error>>;

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// 2026-01-01T00:00:00Z.
const JAN1: i64 = 1_767_225_600_000;

fn form() -> Form {
    let score = |id: &str, d: Dimension| Question {
        dimension: Some(d),
        ..Question::new(id, QuestionKind::Score, id)
    };
    Form {
        form_key: "sat".into(),
        version: 1,
        title: "Satisfaction".into(),
        questions: vec![
            score("svc", Dimension::Service),
            score("net", Dimension::Network),
            Question {
                required: true,
                ..score("overall", Dimension::Overall)
            },
        ],
        published: true,
        published_at: Some(0),
        ..Form::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn response(
    form_id: DocId,
    f: &Form,
    status: ResponseStatus,
    kind: SegmentKind,
    core: bool,
    tier: Option<ValueTier>,
    region: &str,
    customer: &str,
    day: i64,
    overall: i64,
    svc: Option<i64>,
    net: Option<i64>,
) -> Response {
    let mut r = Response::draft(form_id.to_string(), 1, "enum-1", region, JAN1 + day * DAY);
    r.status = status;
    r.respondent.customer_id = Some(customer.into());
    r.respondent.segment = Segment {
        kind,
        value_tier: tier,
        core,
    };
    let q = |id: &str| f.question(id).expect("question");
    r.answers
        .insert("overall".into(), Answer::Score(q("overall").score(overall)));
    if let Some(v) = svc {
        r.answers
            .insert("svc".into(), Answer::Score(q("svc").score(v)));
    }
    if let Some(v) = net {
        r.answers
            .insert("net".into(), Answer::Score(q("net").score(v)));
    }
    if status != ResponseStatus::Draft {
        r.completed_at = Some(r.started_at + 600_000);
    }
    r
}

fn bands(n: u64, high: u64, middle: u64, low: u64, mean: f64) -> BandFigures {
    BandFigures {
        n,
        high,
        middle,
        low,
        mean: Some(mean),
    }
}

fn close(a: &BandFigures, b: &BandFigures) -> bool {
    a.n == b.n
        && a.high == b.high
        && a.middle == b.middle
        && a.low == b.low
        && match (a.mean, b.mean) {
            (Some(x), Some(y)) => (x - y).abs() < 1e-9,
            (None, None) => true,
            _ => false,
        }
}

fn assert_bands(got: &BandFigures, want: BandFigures, what: &str) {
    assert!(close(got, &want), "{what}: got {got:?}, want {want:?}");
}

struct Seeded {
    store: Store,
}

fn seed() -> Result<Seeded, Box<dyn std::error::Error>> {
    let store = Store::open_in_memory(&[3u8; 32], StoreOptions::new("server", "server"))?;
    let north = Scope::new("team:north")?;
    let south = Scope::new("team:south")?;
    let f = form();
    let form_id = store.create(&north, &f)?;
    use ResponseStatus::*;
    use SegmentKind::*;
    let rows = [
        // R1 .. R5 count; R6 is a draft and R7 rejected: neither counts.
        (
            &north,
            Complete,
            Individual,
            false,
            Some(ValueTier::High),
            "north/c1/d1",
            "C1",
            9,
            9,
            Some(8),
            Some(6),
        ),
        (
            &north,
            Approved,
            Individual,
            true,
            Some(ValueTier::High),
            "north/c1/d2",
            "C2",
            19,
            4,
            Some(3),
            Some(2),
        ),
        (
            &north,
            Complete,
            Family,
            false,
            Some(ValueTier::Middle),
            "north/c2/d1",
            "C1",
            35,
            6,
            Some(7),
            None,
        ),
        (
            &north,
            NeedsFollowUp,
            Enterprise,
            true,
            Some(ValueTier::Low),
            "south/c1/d1",
            "C3",
            45,
            2,
            Some(5),
            Some(1),
        ),
        (
            &south,
            Complete,
            Enterprise,
            false,
            None,
            "south/c1/d1",
            "C4",
            90,
            10,
            Some(9),
            Some(9),
        ),
        (
            &north,
            Draft,
            Individual,
            false,
            None,
            "north/c1/d1",
            "C6",
            10,
            1,
            None,
            None,
        ),
        (
            &north,
            Rejected,
            Family,
            false,
            None,
            "north/c1/d1",
            "C7",
            11,
            3,
            Some(3),
            Some(3),
        ),
    ];
    for (sc, status, kind, core, tier, region, cust, day, overall, svc, net) in rows {
        let r = response(
            form_id, &f, status, kind, core, tier, region, cust, day, overall, svc, net,
        );
        store.create(sc, &r)?;
    }

    // Cases, all received in January-February 2026; "now" is 2026-03-01.
    let case = |cust: &str, day: i64| {
        Case::received(
            cust,
            CaseCategory::Network,
            Severity::Critical,
            "li",
            JAN1 + day * DAY,
            "x",
        )
    };
    // Each stage is its own edit: the store checks one legal step at a time.
    let step = |id: DocId, f: &dyn Fn(&mut Case)| -> Result<(), fieldsync_core::Error> {
        store.update::<Case>(id, |c| {
            f(c);
            Ok(())
        })?;
        Ok(())
    };
    // c1: C1, closed at first contact: first response +2 h, closed +10 h, follow-up 8.
    let t = JAN1 + 4 * DAY;
    let c1 = store.create(&north, &case("C1", 4))?;
    step(c1, &|c| {
        c.advance(CaseStage::Classified, "li", t + 2 * HOUR)
    })?;
    step(c1, &|c| c.advance(CaseStage::Handled, "li", t + 3 * HOUR))?;
    step(c1, &|c| {
        c.resolution = Some("fixed".into());
        c.advance(CaseStage::Reported, "li", t + 4 * HOUR);
    })?;
    step(c1, &|c| {
        c.follow_up_score = Some(8);
        c.advance(CaseStage::FollowedUp, "li", t + 5 * HOUR);
    })?;
    step(c1, &|c| {
        c.root_cause = Some("antenna".into());
        c.advance(CaseStage::Closed, "li", t + 10 * HOUR);
    })?;
    // c2: C1 again, dispatched once: first response +4 h, closed +30 h, follow-up 5.
    let t = JAN1 + 40 * DAY;
    let c2 = store.create(&north, &case("C1", 40))?;
    step(c2, &|c| {
        c.advance(CaseStage::Classified, "li", t + 4 * HOUR)
    })?;
    step(c2, &|c| {
        c.dispatches.push(Dispatch {
            id: "d1".into(),
            department: "technical".into(),
            ticket: None,
            at: t + 5 * HOUR,
            by: "li".into(),
        });
        c.advance(CaseStage::Dispatched, "li", t + 5 * HOUR);
    })?;
    step(c2, &|c| c.advance(CaseStage::Handled, "li", t + 20 * HOUR))?;
    step(c2, &|c| {
        c.resolution = Some("fixed".into());
        c.advance(CaseStage::Reported, "li", t + 21 * HOUR);
    })?;
    step(c2, &|c| {
        c.follow_up_score = Some(5);
        c.advance(CaseStage::FollowedUp, "li", t + 22 * HOUR);
    })?;
    step(c2, &|c| {
        c.root_cause = Some("billing".into());
        c.advance(CaseStage::Closed, "li", t + 30 * HOUR);
    })?;
    // c3: C3, classified +1 h and stuck: overdue by March. First-contact owner li.
    let t = JAN1 + 42 * DAY;
    let c3 = store.create(&north, &case("C3", 42))?;
    step(c3, &|c| c.advance(CaseStage::Classified, "wang", t + HOUR))?;
    // c4: C5, just received on 2026-02-28 23:00, its 2-hour limit not yet over at
    // 2026-03-01 00:00; no response yet.
    store.create(
        &north,
        &Case::received(
            "C5",
            CaseCategory::Billing,
            Severity::Critical,
            "wang",
            JAN1 + 58 * DAY + 23 * HOUR,
            "y",
        ),
    )?;

    // A visit with one commitment past due and one refund promised (due later).
    let acc = store.create(&north, &sample::account("Acme", "li", "north"))?;
    let mut v = sample::visit(acc, "li", JAN1, "review");
    v.commitments.push(sample::commitment(
        "k1",
        "li",
        JAN1 + 20 * DAY,
        "send offer",
    ));
    let mut refund = sample::commitment("k2", "zhao", JAN1 + 80 * DAY, "credit note");
    refund.refund = true;
    v.commitments.push(refund);
    store.create(&north, &v)?;
    Ok(Seeded { store })
}

#[test]
fn satisfaction_by_band_dimension_segment() -> R {
    let s = seed()?;
    let all = analytics::satisfaction(&s.store, &ResponseFilter::default())?;
    // Counted overall scores: 9, 4, 6, 2, 10 -> high {9, 10}, middle {6}, low {4, 2};
    // mean 31 / 5.
    assert_bands(&all.overall, bands(5, 2, 1, 2, 6.2), "overall");
    assert_eq!(all.overall.high_pct(), Some(40.0));
    assert_eq!(all.overall.middle_pct(), Some(20.0));
    let dim = |d: Dimension| {
        all.by_dimension
            .iter()
            .find(|(x, _)| *x == d)
            .map(|(_, b)| *b)
    };
    // Service 8, 3, 7, 5, 9 -> high {8, 9}, middle {7, 5}, low {3}; mean 32 / 5.
    assert_bands(
        &dim(Dimension::Service).ok_or("service")?,
        bands(5, 2, 2, 1, 6.4),
        "service",
    );
    // Network 6, 2, 1, 9 -> high {9}, middle {6}, low {2, 1}; mean 18 / 4.
    assert_bands(
        &dim(Dimension::Network).ok_or("network")?,
        bands(4, 1, 1, 2, 4.5),
        "network",
    );
    assert_bands(
        &dim(Dimension::Overall).ok_or("overall dim")?,
        bands(5, 2, 1, 2, 6.2),
        "overall dimension",
    );
    assert!(dim(Dimension::Price).is_none(), "no price scores: left out");
    let seg = |k: SegmentKind| {
        all.by_segment
            .iter()
            .find(|(x, _)| *x == k)
            .map(|(_, b)| *b)
    };
    // Individual: 9, 4. Family: 6. Enterprise: 2, 10.
    assert_bands(
        &seg(SegmentKind::Individual).ok_or("ind")?,
        bands(2, 1, 0, 1, 6.5),
        "individual",
    );
    assert_bands(
        &seg(SegmentKind::Family).ok_or("fam")?,
        bands(1, 0, 1, 0, 6.0),
        "family",
    );
    assert_bands(
        &seg(SegmentKind::Enterprise).ok_or("ent")?,
        bands(2, 1, 0, 1, 6.0),
        "enterprise",
    );
    // Core: 4, 2 (both low); ordinary: 9, 6, 10.
    let core = |c: bool| all.by_core.iter().find(|(x, _)| *x == c).map(|(_, b)| *b);
    assert_bands(&core(true).ok_or("core")?, bands(2, 0, 0, 2, 3.0), "core");
    assert_bands(
        &core(false).ok_or("ordinary")?,
        bands(3, 2, 1, 0, 25.0 / 3.0),
        "ordinary",
    );
    // Tiers: high 9, 4; middle 6; low 2; unknown 10.
    let tier = |t: Option<ValueTier>| {
        all.by_value_tier
            .iter()
            .find(|(x, _)| *x == t)
            .map(|(_, b)| *b)
    };
    assert_bands(
        &tier(Some(ValueTier::High)).ok_or("high")?,
        bands(2, 1, 0, 1, 6.5),
        "tier high",
    );
    assert_bands(
        &tier(None).ok_or("unknown")?,
        bands(1, 1, 0, 0, 10.0),
        "tier unknown",
    );
    Ok(())
}

#[test]
fn filters_by_scope_region_window_and_segment() -> R {
    let s = seed()?;
    // team:north only: R5 (10) is in team:south -> 9, 4, 6, 2; mean 21 / 4.
    let north = analytics::satisfaction(
        &s.store,
        &ResponseFilter {
            scopes: Some(vec!["team:north".into()]),
            ..ResponseFilter::default()
        },
    )?;
    assert_bands(&north.overall, bands(4, 1, 1, 2, 5.25), "scope team:north");
    let none = analytics::satisfaction(
        &s.store,
        &ResponseFilter {
            scopes: Some(Vec::new()),
            ..ResponseFilter::default()
        },
    )?;
    assert_eq!(none.overall.n, 0, "no scope, no figures");
    // Region north/c1: R1 (9), R2 (4).
    let c1 = analytics::satisfaction(
        &s.store,
        &ResponseFilter {
            region: Some("north/c1".into()),
            ..ResponseFilter::default()
        },
    )?;
    assert_bands(&c1.overall, bands(2, 1, 0, 1, 6.5), "region north/c1");
    // February (day 31..59): R3 (6, day 35) and R4 (2, day 45).
    let feb = analytics::satisfaction(
        &s.store,
        &ResponseFilter {
            from: Some(JAN1 + 31 * DAY),
            to: Some(JAN1 + 59 * DAY),
            ..ResponseFilter::default()
        },
    )?;
    assert_bands(&feb.overall, bands(2, 0, 1, 1, 4.0), "February");
    // Core enterprise: R4 only.
    let ce = analytics::satisfaction(
        &s.store,
        &ResponseFilter {
            segment: Some(SegmentKind::Enterprise),
            core: Some(true),
            ..ResponseFilter::default()
        },
    )?;
    assert_bands(&ce.overall, bands(1, 0, 0, 1, 2.0), "core enterprise");
    // Form key: all five; another key: none.
    let sat = analytics::satisfaction(
        &s.store,
        &ResponseFilter {
            form_key: Some("other".into()),
            ..ResponseFilter::default()
        },
    )?;
    assert_eq!(sat.overall.n, 0);
    Ok(())
}

#[test]
fn regions_and_periods() -> R {
    let s = seed()?;
    let f = ResponseFilter::default();
    let d1 = analytics::by_region(&s.store, &f, 1)?;
    let names: Vec<&str> = d1.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(names, ["north", "south"]);
    // north: 9, 4, 6 -> mean 19 / 3; south: 2, 10.
    assert_bands(&d1[0].1, bands(3, 1, 1, 1, 19.0 / 3.0), "north");
    assert_bands(&d1[1].1, bands(2, 1, 0, 1, 6.0), "south");
    let d2 = analytics::by_region(&s.store, &f, 2)?;
    let names: Vec<&str> = d2.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(names, ["north/c1", "north/c2", "south/c1"]);
    let months = analytics::by_period(&s.store, &f, Period::Month, 0)?;
    let keys: Vec<&str> = months.iter().map(|(k, _)| k.as_str()).collect();
    // Days 9, 19 -> January; 35, 45 -> February; 90 -> April 1st.
    assert_eq!(keys, ["2026-01", "2026-02", "2026-04"]);
    assert_bands(&months[0].1, bands(2, 1, 0, 1, 6.5), "January");
    assert_bands(&months[1].1, bands(2, 0, 1, 1, 4.0), "February");
    let quarters = analytics::by_period(&s.store, &f, Period::Quarter, 0)?;
    let keys: Vec<&str> = quarters.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["2026-Q1", "2026-Q2"]);
    // Q1: 9, 4, 6, 2 -> mean 5.25.
    assert_bands(&quarters[0].1, bands(4, 1, 1, 2, 5.25), "Q1");
    // At UTC-10 hours, R5 (2026-04-01T00:00Z) falls on March 31st: Q1 has all five.
    let west = analytics::by_period(&s.store, &f, Period::Quarter, -600)?;
    assert_eq!(west.len(), 1);
    assert_eq!(west[0].1.n, 5);
    Ok(())
}

#[test]
fn the_closed_loop() -> R {
    let s = seed()?;
    let now = JAN1 + 59 * DAY; // 2026-03-01
    let f = analytics::cases(&s.store, &CaseFilter::default(), now)?;
    assert_eq!(f.total, 4);
    let stage = |st: CaseStage| f.by_stage.iter().find(|(x, _)| *x == st).map(|(_, n)| *n);
    assert_eq!(stage(CaseStage::Closed), Some(2));
    assert_eq!(stage(CaseStage::Classified), Some(1));
    assert_eq!(stage(CaseStage::Received), Some(1));
    assert_eq!(
        stage(CaseStage::Dispatched),
        Some(0),
        "every stage is listed"
    );
    assert_eq!((f.open, f.closed), (2, 2));
    // c3 is past its 4-hour classification limit; c4's 2-hour limit ends at 01:00.
    assert_eq!(f.overdue, 1);
    // Closed without dispatch: c1 of {c1, c2}.
    assert_eq!(f.first_contact_resolution_pct, Some(50.0));
    // First responses after 2 h (c1), 4 h (c2), 1 h (c3): median 2, mean 7 / 3.
    assert_eq!(f.time_to_first_response.n, 3);
    assert_eq!(f.time_to_first_response.median_hours, Some(2.0));
    assert!((f.time_to_first_response.mean_hours.unwrap_or(0.0) - 7.0 / 3.0).abs() < 1e-9);
    // Closed after 10 h and 30 h.
    assert_eq!(f.time_to_close.median_hours, Some(20.0));
    // C1 complained twice.
    assert_eq!(f.repeat_customers, vec![("C1".to_string(), 2)]);
    // Follow-up scores 8 and 5: one high, one middle, mean 6.5.
    assert_bands(
        &f.after_resolution,
        bands(2, 1, 1, 0, 6.5),
        "after resolution",
    );
    // A window: February only (c2, c3, c4).
    let feb = analytics::cases(
        &s.store,
        &CaseFilter {
            from: Some(JAN1 + 31 * DAY),
            to: Some(JAN1 + 59 * DAY),
            ..CaseFilter::default()
        },
        now,
    )?;
    assert_eq!(feb.total, 3);
    assert!(
        feb.repeat_customers.is_empty(),
        "C1's second case alone is no repeat"
    );
    Ok(())
}

#[test]
fn early_warnings_per_owner() -> R {
    let s = seed()?;
    let now = JAN1 + 59 * DAY;
    let ws = analytics::early_warnings(&s.store, &None, now)?;
    let got: Vec<(String, WarningKind, Option<String>)> = ws
        .iter()
        .map(|w| {
            (
                w.owner.clone(),
                w.kind,
                w.customer_id.clone().or(w.item.clone()),
            )
        })
        .collect();
    let has = |owner: &str, kind: WarningKind, key: &str| {
        got.iter()
            .any(|(o, k, c)| o == owner && *k == kind && c.as_deref() == Some(key))
    };
    // C1: two cases within 90 days of now (days 4 and 40): to li, owner of the latest.
    assert!(has("li", WarningKind::RepeatedComplaints, "C1"), "{got:?}");
    // C1 scored 9 (day 9) then 6 (day 35): a drop of 3, to the later enumerator.
    assert!(has("enum-1", WarningKind::ScoreDrop, "C1"), "{got:?}");
    // Core customers in the low band: C2 (4) and C3 (2).
    assert!(has("enum-1", WarningKind::LowScoreCoreCustomer, "C2"));
    assert!(has("enum-1", WarningKind::LowScoreCoreCustomer, "C3"));
    // c3 is overdue: to its first-contact owner li (wang only classified it).
    assert!(has("li", WarningKind::CaseOverdue, "C3"));
    // k1 was due on day 20; k2 is a refund (due later, still to confirm).
    assert!(has("li", WarningKind::CommitmentPastDue, "k1"));
    assert!(has("zhao", WarningKind::RefundUnconfirmed, "k2"));
    assert!(
        !has("zhao", WarningKind::CommitmentPastDue, "k2"),
        "not yet due"
    );
    assert_eq!(ws.len(), 7, "{got:?}");
    // Owners in name order, newest first within an owner.
    let owners: Vec<&str> = ws.iter().map(|w| w.owner.as_str()).collect();
    let mut sorted = owners.clone();
    sorted.sort();
    assert_eq!(owners, sorted);
    // Scopes apply: a reader of team:south only sees nothing of team:north.
    let south = analytics::early_warnings(&s.store, &Some(vec!["team:south".into()]), now)?;
    assert!(south.is_empty(), "{south:?}");
    Ok(())
}
