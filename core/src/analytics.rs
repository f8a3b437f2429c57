//! The figures the back office is judged by, computed in one place for the server's
//! merged view and for a device's own store: satisfaction by band, dimension,
//! segment, region and period; the closed loop of complaints; early warnings.
//!
//! Definitions are in docs/analytics.md; every function here reads projection tables
//! only (never a document), in one read transaction, and filters by the reader's
//! scopes first.

use std::collections::BTreeMap;

use rusqlite::types::Value as SqlValue;

use crate::error::Result;
use crate::ids::{DocId, Timestamp};
use crate::model::{CaseStage, Dimension, SegmentKind, ValueTier};
use crate::store::Store;

/// Response statuses that count in the figures: drafts are unfinished and rejected
/// interviews invalid.
pub const COUNTED_STATUSES: [&str; 3] = ["complete", "approved", "needs_follow_up"];

/// Which responses a figure covers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseFilter {
    /// Only documents in these scopes (`None`: every scope the store holds — a device
    /// holds only what it may read; the server always passes the reader's scopes).
    pub scopes: Option<Vec<String>>,
    /// Only responses to versions of this form.
    pub form_key: Option<String>,
    /// Only this region and the regions under it (`north/county-2`).
    pub region: Option<String>,
    /// Interviews started at or after.
    pub from: Option<Timestamp>,
    /// Interviews started before.
    pub to: Option<Timestamp>,
    /// Only this segment kind.
    pub segment: Option<SegmentKind>,
    /// Only this value tier.
    pub value_tier: Option<ValueTier>,
    /// Only core (true) or ordinary (false) customers.
    pub core: Option<bool>,
}

/// Counts per band and the mean, for one group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BandFigures {
    /// Scores counted.
    pub n: u64,
    /// In the high band (8–10).
    pub high: u64,
    /// In the middle band (5–7).
    pub middle: u64,
    /// In the low band (1–4).
    pub low: u64,
    /// Mean on 1–10 (`None` without scores).
    pub mean: Option<f64>,
}

impl BandFigures {
    fn pct(part: u64, n: u64) -> Option<f64> {
        (n > 0).then(|| 100.0 * part as f64 / n as f64)
    }
    /// Share of the high band, in percent.
    pub fn high_pct(&self) -> Option<f64> {
        Self::pct(self.high, self.n)
    }
    /// Share of the middle band, in percent.
    pub fn middle_pct(&self) -> Option<f64> {
        Self::pct(self.middle, self.n)
    }
    /// Share of the low band, in percent.
    pub fn low_pct(&self) -> Option<f64> {
        Self::pct(self.low, self.n)
    }
}

/// Satisfaction overall and by dimension and segment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Satisfaction {
    /// Every counted response's overall score.
    pub overall: BandFigures,
    /// Score answers per dimension, in report order; dimensions without scores left out.
    pub by_dimension: Vec<(Dimension, BandFigures)>,
    /// Overall scores per segment kind.
    pub by_segment: Vec<(SegmentKind, BandFigures)>,
    /// Overall scores per value tier (`None`: tier unknown).
    pub by_value_tier: Vec<(Option<ValueTier>, BandFigures)>,
    /// Overall scores of core (true) and ordinary (false) customers.
    pub by_core: Vec<(bool, BandFigures)>,
}

/// Calendar buckets for [`by_period`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// `2026-03`.
    Month,
    /// `2026-Q1`.
    Quarter,
}

/// Durations over a set of cases, in hours.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Durations {
    /// Cases measured.
    pub n: u64,
    /// Median, hours.
    pub median_hours: Option<f64>,
    /// Mean, hours.
    pub mean_hours: Option<f64>,
}

/// Which cases a figure covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Only cases in these scopes (see [`ResponseFilter::scopes`]).
    pub scopes: Option<Vec<String>>,
    /// Received at or after.
    pub from: Option<Timestamp>,
    /// Received before.
    pub to: Option<Timestamp>,
}

/// The closed loop of complaints.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseFigures {
    /// Cases counted.
    pub total: u64,
    /// Per current stage, in loop order (stages without cases included, as 0).
    pub by_stage: Vec<(CaseStage, u64)>,
    /// Not closed.
    pub open: u64,
    /// Open and past their stage deadline.
    pub overdue: u64,
    /// Closed.
    pub closed: u64,
    /// Closed without a dispatch / closed, percent.
    pub first_contact_resolution_pct: Option<f64>,
    /// From receipt to the first response to the customer.
    pub time_to_first_response: Durations,
    /// From receipt to closing.
    pub time_to_close: Durations,
    /// Customers with two or more cases in the window: (customer id, cases), most first.
    pub repeat_customers: Vec<(String, u64)>,
    /// Follow-up scores of closed cases.
    pub after_resolution: BandFigures,
}

/// Kinds of early warning (docs/analytics.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WarningKind {
    /// A customer with two or more cases in the last 90 days.
    RepeatedComplaints,
    /// A later survey of the same customer scored at least 2 points lower.
    ScoreDrop,
    /// A core customer in the low band.
    LowScoreCoreCustomer,
    /// An open commitment past its due date.
    CommitmentPastDue,
    /// A promised refund or credit not yet confirmed.
    RefundUnconfirmed,
    /// An open case past its stage deadline.
    CaseOverdue,
}

impl WarningKind {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::RepeatedComplaints => "repeated_complaints",
            WarningKind::ScoreDrop => "score_drop",
            WarningKind::LowScoreCoreCustomer => "low_score_core_customer",
            WarningKind::CommitmentPastDue => "commitment_past_due",
            WarningKind::RefundUnconfirmed => "refund_unconfirmed",
            WarningKind::CaseOverdue => "case_overdue",
        }
    }
}

/// One thing to act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    /// What.
    pub kind: WarningKind,
    /// Who should act (user id).
    pub owner: String,
    /// The record to open: a response, visit or case.
    pub doc_id: DocId,
    /// The commitment, for commitment warnings.
    pub item: Option<String>,
    /// The customer, where known.
    pub customer_id: Option<String>,
    /// When it happened (response start, due date, case receipt).
    pub at: Timestamp,
    /// A figure: the score drop, the overall score, the number of cases.
    pub value: Option<f64>,
}

const DAY: i64 = 86_400_000;

/// SQL `AND ...` for a scope list on alias `d` (documents), with parameters.
fn scope_clause(scopes: &Option<Vec<String>>, params: &mut Vec<SqlValue>) -> String {
    match scopes {
        None => String::new(),
        Some(list) => {
            if list.is_empty() {
                return " AND 0".into();
            }
            let marks: Vec<String> = list
                .iter()
                .map(|s| {
                    params.push(SqlValue::Text(s.clone()));
                    format!("?{}", params.len())
                })
                .collect();
            format!(" AND d.scope IN ({})", marks.join(", "))
        }
    }
}

/// `FROM responses r JOIN documents d ... WHERE <filter>`, with parameters.
fn response_from(f: &ResponseFilter, params: &mut Vec<SqlValue>) -> String {
    let mut sql = String::from(
        " FROM responses r JOIN documents d ON d.id = r.doc_id \
         WHERE d.quarantine IS NULL AND r.status IN ('complete', 'approved', 'needs_follow_up')",
    );
    sql.push_str(&scope_clause(&f.scopes, params));
    let mut push = |cond: &str, v: SqlValue, params: &mut Vec<SqlValue>| {
        params.push(v);
        sql.push_str(&cond.replace('#', &format!("?{}", params.len())));
    };
    if let Some(k) = &f.form_key {
        push(
            " AND r.form_id IN (SELECT doc_id FROM forms WHERE form_key = #)",
            SqlValue::Text(k.clone()),
            params,
        );
    }
    if let Some(reg) = &f.region {
        push(
            " AND r.doc_id IN (SELECT doc_id FROM response_regions WHERE prefix = #)",
            SqlValue::Text(reg.clone()),
            params,
        );
    }
    if let Some(t) = f.from {
        push(" AND r.started_at >= #", SqlValue::Integer(t), params);
    }
    if let Some(t) = f.to {
        push(" AND r.started_at < #", SqlValue::Integer(t), params);
    }
    if let Some(s) = f.segment {
        push(
            " AND r.segment = #",
            SqlValue::Text(s.as_str().into()),
            params,
        );
    }
    if let Some(t) = f.value_tier {
        push(
            " AND r.value_tier = #",
            SqlValue::Text(t.as_str().into()),
            params,
        );
    }
    if let Some(c) = f.core {
        push(" AND r.core = #", SqlValue::Integer(i64::from(c)), params);
    }
    sql
}

/// Group rows `(key, n, high, middle, low, mean)` into band figures.
fn grouped(
    c: &rusqlite::Connection,
    sql: &str,
    params: &[SqlValue],
) -> Result<Vec<(Option<String>, BandFigures)>> {
    let mut st = c.prepare(sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(params.iter()), |r| {
        Ok((
            r.get::<_, Option<String>>(0)?,
            BandFigures {
                n: r.get::<_, i64>(1)?.max(0) as u64,
                high: r.get::<_, Option<i64>>(2)?.unwrap_or(0).max(0) as u64,
                middle: r.get::<_, Option<i64>>(3)?.unwrap_or(0).max(0) as u64,
                low: r.get::<_, Option<i64>>(4)?.unwrap_or(0).max(0) as u64,
                mean: r.get(5)?,
            },
        ))
    })?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

/// Aggregates over a subquery aliased `x` with columns `band` and `v`.
const BAND_COLUMNS: &str =
    "COUNT(*), SUM(x.band = 'high'), SUM(x.band = 'middle'), SUM(x.band = 'low'), AVG(x.v)";

/// Satisfaction over the responses `filter` selects.
pub fn satisfaction(store: &Store, filter: &ResponseFilter) -> Result<Satisfaction> {
    store.read(|c| {
        let mut p = Vec::new();
        let from = response_from(filter, &mut p);
        let base = format!(
            "SELECT x.key, {BAND_COLUMNS} FROM (SELECT {{key}} AS key, r.band AS band, r.overall AS v {from} AND r.overall IS NOT NULL) x GROUP BY x.key ORDER BY x.key"
        );
        let overall = grouped(c, &base.replace("{key}", "NULL"), &p)?
            .into_iter()
            .next()
            .map(|(_, b)| b)
            .unwrap_or_default();
        let by_segment = grouped(c, &base.replace("{key}", "r.segment"), &p)?
            .into_iter()
            .filter_map(|(k, b)| Some((k.as_deref().and_then(SegmentKind::parse)?, b)))
            .collect::<Vec<_>>();
        let by_value_tier = grouped(c, &base.replace("{key}", "r.value_tier"), &p)?
            .into_iter()
            .map(|(k, b)| (k.as_deref().and_then(ValueTier::parse), b))
            .collect();
        let by_core = grouped(c, &base.replace("{key}", "CAST(r.core AS TEXT)"), &p)?
            .into_iter()
            .map(|(k, b)| (k.as_deref() == Some("1"), b))
            .collect();
        let dims = format!(
            "SELECT x.key, {BAND_COLUMNS} FROM (SELECT s.dimension AS key, s.band AS band, s.normalized AS v \
             FROM response_scores s WHERE s.dimension IS NOT NULL AND s.doc_id IN (SELECT r.doc_id {from})) x \
             GROUP BY x.key"
        );
        let mut by_dim: BTreeMap<Dimension, BandFigures> = BTreeMap::new();
        for (k, b) in grouped(c, &dims, &p)? {
            if let Some(d) = k.as_deref().and_then(Dimension::parse) {
                by_dim.insert(d, b);
            }
        }
        let mut by_segment = by_segment;
        by_segment.sort_by_key(|(k, _)| SegmentKind::ALL.iter().position(|x| x == k));
        Ok(Satisfaction {
            overall,
            by_dimension: Dimension::ALL
                .iter()
                .filter_map(|d| by_dim.get(d).map(|b| (*d, *b)))
                .collect(),
            by_segment,
            by_value_tier,
            by_core,
        })
    })
}

/// Overall satisfaction per region at `depth` (1: `north`, 2: `north/county-2`, ...),
/// regions in name order.
pub fn by_region(
    store: &Store,
    filter: &ResponseFilter,
    depth: usize,
) -> Result<Vec<(String, BandFigures)>> {
    let depth = i64::try_from(depth.clamp(1, 16)).unwrap_or(1);
    store.read(|c| {
        let mut p = Vec::new();
        let from = response_from(filter, &mut p);
        p.push(SqlValue::Integer(depth - 1));
        let sql = format!(
            "SELECT g.prefix, {BAND_COLUMNS} FROM (SELECT r.doc_id AS doc_id, r.band AS band, \
             r.overall AS v {from} AND r.overall IS NOT NULL) x \
             JOIN response_regions g ON g.doc_id = x.doc_id \
             WHERE length(g.prefix) - length(replace(g.prefix, '/', '')) = ?{} \
             GROUP BY g.prefix ORDER BY g.prefix",
            p.len()
        );
        Ok(grouped(c, &sql, &p)?
            .into_iter()
            .filter_map(|(k, b)| Some((k?, b)))
            .collect())
    })
}

/// Overall satisfaction per calendar month or quarter of the interview's start, at
/// `utc_offset_minutes`, in time order.
pub fn by_period(
    store: &Store,
    filter: &ResponseFilter,
    period: Period,
    utc_offset_minutes: i32,
) -> Result<Vec<(String, BandFigures)>> {
    store.read(|c| {
        let mut p = Vec::new();
        let from = response_from(filter, &mut p);
        p.push(SqlValue::Integer(i64::from(utc_offset_minutes) * 60));
        let off = p.len();
        let key = match period {
            Period::Month => format!("strftime('%Y-%m', r.started_at / 1000 + ?{off}, 'unixepoch')"),
            Period::Quarter => format!(
                "strftime('%Y', r.started_at / 1000 + ?{off}, 'unixepoch') || '-Q' || \
                 ((CAST(strftime('%m', r.started_at / 1000 + ?{off}, 'unixepoch') AS INTEGER) + 2) / 3)"
            ),
        };
        let sql = format!(
            "SELECT x.key, {BAND_COLUMNS} FROM (SELECT {key} AS key, r.band AS band, r.overall AS v {from} \
             AND r.overall IS NOT NULL) x GROUP BY x.key ORDER BY x.key"
        );
        Ok(grouped(c, &sql, &p)?
            .into_iter()
            .filter_map(|(k, b)| Some((k?, b)))
            .collect())
    })
}

fn durations(mut hours: Vec<f64>) -> Durations {
    hours.retain(|h| h.is_finite());
    if hours.is_empty() {
        return Durations::default();
    }
    hours.sort_by(f64::total_cmp);
    let n = hours.len();
    let median = if n % 2 == 1 {
        hours[n / 2]
    } else {
        (hours[n / 2 - 1] + hours[n / 2]) / 2.0
    };
    Durations {
        n: n as u64,
        median_hours: Some(median),
        mean_hours: Some(hours.iter().sum::<f64>() / n as f64),
    }
}

/// The closed loop over the cases `filter` selects, at time `now`.
pub fn cases(store: &Store, filter: &CaseFilter, now: Timestamp) -> Result<CaseFigures> {
    store.read(|c| {
        let mut p = Vec::new();
        let mut sql = String::from(
            "SELECT c.customer_id, c.stage, c.received_at, c.stage_deadline, c.closed_at, \
             c.first_response_at, c.dispatches, c.follow_up_score \
             FROM cases c JOIN documents d ON d.id = c.doc_id WHERE d.quarantine IS NULL",
        );
        sql.push_str(&scope_clause(&filter.scopes, &mut p));
        if let Some(t) = filter.from {
            p.push(SqlValue::Integer(t));
            sql.push_str(&format!(" AND c.received_at >= ?{}", p.len()));
        }
        if let Some(t) = filter.to {
            p.push(SqlValue::Integer(t));
            sql.push_str(&format!(" AND c.received_at < ?{}", p.len()));
        }
        let mut st = c.prepare(&sql)?;
        type Row = (
            String,
            String,
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            i64,
            Option<i64>,
        );
        let rows: Vec<Row> = st
            .query_map(rusqlite::params_from_iter(p.iter()), |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })?
            .collect::<std::result::Result<_, _>>()?;
        let mut f = CaseFigures {
            total: rows.len() as u64,
            ..CaseFigures::default()
        };
        let mut stages: BTreeMap<CaseStage, u64> = CaseStage::ALL.iter().map(|s| (*s, 0)).collect();
        let mut per_customer: BTreeMap<&str, u64> = BTreeMap::new();
        let (mut first, mut close) = (Vec::new(), Vec::new());
        let mut fcr = 0u64;
        let mut scores: Vec<i64> = Vec::new();
        for (cust, stage, received, deadline, closed, first_resp, dispatches, fu) in &rows {
            if let Some(s) = CaseStage::parse(stage) {
                *stages.entry(s).or_default() += 1;
            }
            *per_customer.entry(cust.as_str()).or_default() += 1;
            if let Some(t) = first_resp {
                first.push((t - received) as f64 / 3_600_000.0);
            }
            match closed {
                Some(t) => {
                    f.closed += 1;
                    close.push((t - received) as f64 / 3_600_000.0);
                    if *dispatches == 0 {
                        fcr += 1;
                    }
                    if let Some(s) = fu {
                        scores.push(*s);
                    }
                }
                None => {
                    f.open += 1;
                    if deadline.is_some_and(|d| d < now) {
                        f.overdue += 1;
                    }
                }
            }
        }
        f.by_stage = stages.into_iter().collect();
        f.first_contact_resolution_pct =
            (f.closed > 0).then(|| 100.0 * fcr as f64 / f.closed as f64);
        f.time_to_first_response = durations(first);
        f.time_to_close = durations(close);
        let mut repeat: Vec<(String, u64)> = per_customer
            .into_iter()
            .filter(|(_, n)| *n >= 2)
            .map(|(c, n)| (c.to_string(), n))
            .collect();
        repeat.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        f.repeat_customers = repeat;
        f.after_resolution = band_figures_of(&scores);
        Ok(f)
    })
}

/// Band figures of 1–10 scores.
pub fn band_figures_of(scores: &[i64]) -> BandFigures {
    let mut b = BandFigures::default();
    for &s in scores {
        b.n += 1;
        match crate::model::Band::of_ten(s as f64) {
            crate::model::Band::High => b.high += 1,
            crate::model::Band::Middle => b.middle += 1,
            crate::model::Band::Low => b.low += 1,
        }
    }
    b.mean = (b.n > 0).then(|| scores.iter().sum::<i64>() as f64 / b.n as f64);
    b
}

/// Everything to act on in `scopes` at `now` (docs/analytics.md, "Early warning"),
/// grouped by owner (name order), newest first within an owner.
pub fn early_warnings(
    store: &Store,
    scopes: &Option<Vec<String>>,
    now: Timestamp,
) -> Result<Vec<Warning>> {
    store.read(|c| {
        let mut out: Vec<Warning> = Vec::new();
        let id_of = |b: Vec<u8>| DocId::from_slice(&b);

        // Repeated complaints: two or more cases of one customer in the last 90 days;
        // the warning goes to the owner of the latest.
        let mut p = Vec::new();
        let sc = scope_clause(scopes, &mut p);
        p.push(SqlValue::Integer(now - 90 * DAY));
        let sql = format!(
            "SELECT c.customer_id, c.doc_id, c.owner, c.received_at FROM cases c \
             JOIN documents d ON d.id = c.doc_id WHERE d.quarantine IS NULL {sc} \
             AND c.received_at >= ?{} ORDER BY c.customer_id, c.received_at, c.doc_id",
            p.len()
        );
        let mut st = c.prepare(&sql)?;
        let rows: Vec<(String, Vec<u8>, String, i64)> = st
            .query_map(rusqlite::params_from_iter(p.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<std::result::Result<_, _>>()?;
        for group in rows.chunk_by(|a, b| a.0 == b.0) {
            if let (true, Some((cust, id, owner, at))) = (group.len() >= 2, group.last())
                && let Some(doc_id) = id_of(id.clone())
            {
                out.push(Warning {
                    kind: WarningKind::RepeatedComplaints,
                    owner: owner.clone(),
                    doc_id,
                    item: None,
                    customer_id: Some(cust.clone()),
                    at: *at,
                    value: Some(group.len() as f64),
                });
            }
        }

        // Overdue cases.
        let mut p = Vec::new();
        let sc = scope_clause(scopes, &mut p);
        p.push(SqlValue::Integer(now));
        let sql = format!(
            "SELECT c.doc_id, c.owner, c.customer_id, c.stage_deadline FROM cases c \
             JOIN documents d ON d.id = c.doc_id WHERE d.quarantine IS NULL {sc} \
             AND c.closed_at IS NULL AND c.stage_deadline < ?{}",
            p.len()
        );
        let mut st = c.prepare(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(p.iter()), |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (id, owner, cust, at) = row?;
            if let Some(doc_id) = id_of(id) {
                out.push(Warning {
                    kind: WarningKind::CaseOverdue,
                    owner,
                    doc_id,
                    item: None,
                    customer_id: Some(cust),
                    at,
                    value: None,
                });
            }
        }

        // Commitments past due, and refunds or credits not confirmed.
        let mut p = Vec::new();
        let sc = scope_clause(scopes, &mut p);
        let sql = format!(
            "SELECT m.visit_id, m.commitment_id, m.owner, m.due_at, m.refund FROM commitments m \
             JOIN documents d ON d.id = m.visit_id WHERE d.quarantine IS NULL {sc} \
             AND m.done_at IS NULL"
        );
        let mut st = c.prepare(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(p.iter()), |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })?;
        for row in rows {
            let (id, item, owner, due, refund) = row?;
            let Some(doc_id) = id_of(id) else { continue };
            if due < now {
                out.push(Warning {
                    kind: WarningKind::CommitmentPastDue,
                    owner: owner.clone(),
                    doc_id,
                    item: Some(item.clone()),
                    customer_id: None,
                    at: due,
                    value: None,
                });
            }
            if refund {
                out.push(Warning {
                    kind: WarningKind::RefundUnconfirmed,
                    owner,
                    doc_id,
                    item: Some(item),
                    customer_id: None,
                    at: due,
                    value: None,
                });
            }
        }

        // Counted responses: low scores from core customers, and score drops between
        // two surveys of one customer.
        let mut p = Vec::new();
        let from = response_from(
            &ResponseFilter {
                scopes: scopes.clone(),
                ..ResponseFilter::default()
            },
            &mut p,
        );
        let sql = format!(
            "SELECT r.doc_id, r.enumerator, r.customer_id, r.started_at, r.overall, r.band, r.core \
             {from} AND r.overall IS NOT NULL ORDER BY r.customer_id, r.started_at, r.doc_id"
        );
        let mut st = c.prepare(&sql)?;
        type R = (
            Vec<u8>,
            String,
            Option<String>,
            i64,
            f64,
            Option<String>,
            bool,
        );
        let rows: Vec<R> = st
            .query_map(rusqlite::params_from_iter(p.iter()), |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?
            .collect::<std::result::Result<_, _>>()?;
        let mut prev: Option<&R> = None;
        for row in &rows {
            let (id, enumerator, cust, at, overall, band, core) = row;
            let Some(doc_id) = id_of(id.clone()) else {
                continue;
            };
            if *core && band.as_deref() == Some("low") {
                out.push(Warning {
                    kind: WarningKind::LowScoreCoreCustomer,
                    owner: enumerator.clone(),
                    doc_id,
                    item: None,
                    customer_id: cust.clone(),
                    at: *at,
                    value: Some(*overall),
                });
            }
            if let (Some(pr), Some(c_id)) = (prev, cust)
                && pr.2.as_ref() == Some(c_id)
                && pr.4 - overall >= 2.0
            {
                out.push(Warning {
                    kind: WarningKind::ScoreDrop,
                    owner: enumerator.clone(),
                    doc_id,
                    item: None,
                    customer_id: Some(c_id.clone()),
                    at: *at,
                    value: Some(pr.4 - overall),
                });
            }
            prev = Some(row);
        }
        out.sort_by(|a, b| {
            a.owner
                .cmp(&b.owner)
                .then_with(|| b.at.cmp(&a.at))
                .then_with(|| a.kind.cmp(&b.kind))
        });
        Ok(out)
    })
}
