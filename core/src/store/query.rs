//! Lists and filters over the projection tables. No document is loaded: each row comes
//! from plaintext columns plus a sealed summary opened on the way out. Pages use keyset
//! pagination (an opaque `next` token), so page 1,000 costs what page 1 costs.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row};
use serde::de::DeserializeOwned;

use super::Store;
use super::projection::{
    AccountSummary, CaseSummary, CommitmentSummary, FormSummary, ResponseSummary, VisitSummary,
    summary_aad,
};
use crate::error::{Error, Result};
use crate::ids::{DocId, Timestamp};
use crate::model::{Band, CaseStage, ResponseStatus, SegmentKind};

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` at the end.
    pub next: Option<String>,
}

/// Largest page served.
pub const MAX_PAGE: usize = 500;

/// Filters for responses. Unset fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct ResponseFilter {
    /// Answers to this form version.
    pub form_id: Option<DocId>,
    /// In this status.
    pub status: Option<ResponseStatus>,
    /// In this region or under it (`north` matches `north/county-3`).
    pub region: Option<String>,
    /// Respondent segment.
    pub segment: Option<SegmentKind>,
    /// Core customers only (`true`) or ordinary only (`false`).
    pub core: Option<bool>,
    /// Overall band.
    pub band: Option<Band>,
    /// Started at or after.
    pub from: Option<Timestamp>,
    /// Started before.
    pub to: Option<Timestamp>,
    /// By this enumerator.
    pub enumerator: Option<String>,
    /// Only documents in these scopes (`None`: all the store holds). The server's
    /// console passes the reader's readable scopes; an empty list matches nothing.
    pub scopes: Option<Vec<String>>,
    /// Order of the list.
    pub order: ResponseOrder,
}

/// How a response list is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResponseOrder {
    /// Latest interview first (the default).
    #[default]
    Newest,
    /// Earliest interview first.
    Oldest,
    /// Lowest overall score first (responses without a score last).
    LowestScore,
    /// Highest overall score first (responses without a score last).
    HighestScore,
}

impl ResponseOrder {
    /// Parse `newest`, `oldest`, `lowest`, `highest`.
    pub fn parse(s: &str) -> Option<ResponseOrder> {
        match s {
            "newest" => Some(ResponseOrder::Newest),
            "oldest" => Some(ResponseOrder::Oldest),
            "lowest" => Some(ResponseOrder::LowestScore),
            "highest" => Some(ResponseOrder::HighestScore),
            _ => None,
        }
    }
}

/// The sort key of a score order: the overall score in ten-thousandths; responses
/// without a score sort after every scored one in both directions.
fn score_key(overall: Option<f64>, lowest_first: bool) -> i64 {
    match overall {
        Some(v) => (v * 10_000.0).round() as i64,
        None if lowest_first => i64::MAX,
        None => i64::MIN,
    }
}

/// A response in a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseRow {
    /// Id.
    pub id: DocId,
    /// Form version answered.
    pub form_id: Option<DocId>,
    /// Its number.
    pub form_version: i64,
    /// Status name.
    pub status: String,
    /// Region path.
    pub region: String,
    /// Segment name.
    pub segment: String,
    /// Value tier name.
    pub value_tier: Option<String>,
    /// Core customer.
    pub core: bool,
    /// Overall satisfaction on 1–10.
    pub overall: Option<f64>,
    /// Its band name.
    pub band: Option<String>,
    /// Started.
    pub started_at: Timestamp,
    /// Completed.
    pub completed_at: Option<Timestamp>,
    /// Enumerator.
    pub enumerator: String,
    /// Respondent display name.
    pub respondent_name: Option<String>,
    /// Conflicted fields.
    pub conflicts: u32,
    /// Quarantined after corruption.
    pub quarantined: bool,
}

/// Filters for visits.
#[derive(Debug, Clone, Default)]
pub struct VisitFilter {
    /// Visits to this account.
    pub account_id: Option<DocId>,
    /// By this account manager.
    pub owner: Option<String>,
    /// Planned at or after.
    pub from: Option<Timestamp>,
    /// Planned before.
    pub to: Option<Timestamp>,
    /// Only documents in these scopes (`None`: all the store holds). The server's
    /// console passes the reader's readable scopes; an empty list matches nothing.
    pub scopes: Option<Vec<String>>,
}

/// A visit in a list.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitRow {
    /// Id.
    pub id: DocId,
    /// Account.
    pub account_id: Option<DocId>,
    /// Owner.
    pub owner: String,
    /// Planned.
    pub planned_at: Timestamp,
    /// Checked in.
    pub checked_in_at: Option<Timestamp>,
    /// Checked out.
    pub checked_out_at: Option<Timestamp>,
    /// Cancelled.
    pub cancelled: bool,
    /// Purpose.
    pub purpose: String,
    /// Commitments not done.
    pub open_commitments: usize,
    /// Conflicted fields.
    pub conflicts: u32,
}

/// Filters for commitments.
#[derive(Debug, Clone, Default)]
pub struct CommitmentFilter {
    /// Owned by.
    pub owner: Option<String>,
    /// For this account.
    pub account_id: Option<DocId>,
    /// Due before.
    pub due_before: Option<Timestamp>,
    /// Refunds/credits promised only.
    pub refund_only: bool,
    /// Only documents in these scopes (`None`: all the store holds). The server's
    /// console passes the reader's readable scopes; an empty list matches nothing.
    pub scopes: Option<Vec<String>>,
}

/// An open commitment.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitmentRow {
    /// The visit it was made in.
    pub visit_id: DocId,
    /// Its id within the visit.
    pub commitment_id: String,
    /// Account.
    pub account_id: Option<DocId>,
    /// Owner.
    pub owner: String,
    /// Due.
    pub due_at: Timestamp,
    /// A refund or credit.
    pub refund: bool,
    /// What was promised.
    pub description: String,
}

/// Filters for cases.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// In this stage.
    pub stage: Option<CaseStage>,
    /// Owned (first contact) by.
    pub owner: Option<String>,
    /// Only cases open past their stage deadline at this time.
    pub overdue_at: Option<Timestamp>,
    /// Only open cases.
    pub open_only: bool,
    /// For this customer.
    pub customer_id: Option<String>,
    /// Only documents in these scopes (`None`: all the store holds). The server's
    /// console passes the reader's readable scopes; an empty list matches nothing.
    pub scopes: Option<Vec<String>>,
}

/// A case in a list.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRow {
    /// Id.
    pub id: DocId,
    /// Customer.
    pub customer_id: String,
    /// Category name.
    pub category: String,
    /// Severity name.
    pub severity: String,
    /// Stage name.
    pub stage: String,
    /// First-contact owner.
    pub owner: String,
    /// Received.
    pub received_at: Timestamp,
    /// Current stage deadline.
    pub stage_deadline: Option<Timestamp>,
    /// Closed.
    pub closed_at: Option<Timestamp>,
    /// Dispatches so far.
    pub dispatches: usize,
}

/// Filters for accounts.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Owned or co-owned by.
    pub owner: Option<String>,
    /// In this region or under it.
    pub region: Option<String>,
    /// Only documents in these scopes (`None`: all the store holds). The server's
    /// console passes the reader's readable scopes; an empty list matches nothing.
    pub scopes: Option<Vec<String>>,
}

/// An account in a list.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRow {
    /// Id.
    pub id: DocId,
    /// Name.
    pub name: String,
    /// Region.
    pub region: String,
    /// Segment name.
    pub segment: String,
    /// Core customer.
    pub core: bool,
    /// Owner.
    pub owner: String,
}

/// A form version in a list.
#[derive(Debug, Clone, PartialEq)]
pub struct FormRow {
    /// Id (of this version).
    pub id: DocId,
    /// Stable key.
    pub form_key: String,
    /// Version.
    pub version: i64,
    /// Published.
    pub published: bool,
    /// Title.
    pub title: String,
}

/// Builds a WHERE clause with positional parameters.
struct Sql {
    clauses: Vec<String>,
    params: Vec<SqlValue>,
}

impl Sql {
    fn new() -> Self {
        Sql {
            clauses: Vec::new(),
            params: Vec::new(),
        }
    }
    fn p(&mut self, v: impl Into<SqlValue>) -> String {
        self.params.push(v.into());
        format!("?{}", self.params.len())
    }
    fn and(&mut self, clause: String) {
        self.clauses.push(clause);
    }
    fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }
    fn region(&mut self, col: &str, region: &str) {
        let exact = self.p(region.to_string());
        let lo = self.p(format!("{region}/"));
        let hi = self.p(format!("{region}0"));
        self.and(format!(
            "({col} = {exact} OR ({col} >= {lo} AND {col} < {hi}))"
        ));
    }
    /// `col IN (scopes)`; an empty list matches nothing.
    fn scopes(&mut self, col: &str, scopes: &Option<Vec<String>>) {
        let Some(list) = scopes else { return };
        if list.is_empty() {
            self.and("0".into());
            return;
        }
        let marks: Vec<String> = list.iter().map(|s| self.p(s.clone())).collect();
        self.and(format!("{col} IN ({})", marks.join(", ")));
    }
    /// Keyset condition for `ORDER BY col DESC, id DESC` (or ASC).
    fn after(&mut self, col: &str, id_col: &str, token: Option<&str>, desc: bool) -> Result<()> {
        let Some(t) = token else { return Ok(()) };
        let (k, id) = parse_token(t)?;
        let (kp, ip) = (self.p(k), self.p(id.as_bytes().to_vec()));
        let op = if desc { "<" } else { ">" };
        self.and(format!(
            "({col} {op} {kp} OR ({col} = {kp} AND {id_col} {op} {ip}))"
        ));
        Ok(())
    }
}

fn token(k: i64, id: DocId) -> String {
    format!("{k}:{id}")
}

fn parse_token(t: &str) -> Result<(i64, DocId)> {
    let bad = || Error::Malformed("page token".into());
    let (k, id) = t.split_once(':').ok_or_else(bad)?;
    Ok((
        k.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

fn limit_of(n: usize) -> i64 {
    i64::try_from(n.clamp(1, MAX_PAGE)).unwrap_or(50)
}

fn id_of(r: &Row<'_>, i: usize) -> rusqlite::Result<DocId> {
    let b: Vec<u8> = r.get(i)?;
    DocId::from_slice(&b).ok_or_else(|| {
        rusqlite::Error::InvalidColumnType(i, "id".into(), rusqlite::types::Type::Blob)
    })
}

fn opt_id_of(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<DocId>> {
    let b: Option<Vec<u8>> = r.get(i)?;
    Ok(b.and_then(|b| DocId::from_slice(&b)))
}

impl Store {
    /// Open a row's sealed display fields. A damaged summary does not fail the list:
    /// the row comes back with empty display fields (the document itself is intact and
    /// `rebuild_projections` rewrites the row).
    fn open_summary<T: DeserializeOwned + Default>(
        &self,
        table: &'static str,
        id: DocId,
        row: &[u8],
        sealed: &[u8],
    ) -> T {
        let opened = self
            .sealer()
            .open(&summary_aad(table, id, row), sealed)
            .ok()
            .and_then(|plain| serde_json::from_slice(&plain).ok());
        opened.unwrap_or_else(|| {
            tracing::warn!(doc = %id, table, "projection summary failed verification");
            T::default()
        })
    }

    fn page_query<T, F>(&self, sql: &str, params: &[SqlValue], mut f: F) -> Result<Vec<T>>
    where
        F: FnMut(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.read(|c: &Connection| {
            let mut st = c.prepare_cached(sql)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(params.iter()), |r| f(r))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Responses matching `filter`, newest first, `limit` per page (max 500).
    pub fn list_responses(
        &self,
        filter: &ResponseFilter,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<ResponseRow>> {
        let mut q = Sql::new();
        q.scopes("d.scope", &filter.scopes);
        // With a region, drive the query from the region-prefix index: equality on the
        // prefix (and band), already in page order.
        let by_region = filter.region.is_some();
        let t = if by_region { "rr" } else { "r" };
        if let Some(region) = &filter.region {
            let p = q.p(region.clone());
            q.and(format!("rr.prefix = {p}"));
        }
        if let Some(f) = filter.form_id {
            let p = q.p(f.as_bytes().to_vec());
            q.and(format!("r.form_id = {p}"));
        }
        if let Some(s) = filter.status {
            let p = q.p(s.as_str().to_string());
            q.and(format!("r.status = {p}"));
        }
        if let Some(s) = filter.segment {
            let p = q.p(s.as_str().to_string());
            q.and(format!("r.segment = {p}"));
        }
        if let Some(c) = filter.core {
            let p = q.p(c);
            q.and(format!("r.core = {p}"));
        }
        if let Some(b) = filter.band {
            let p = q.p(b.as_str().to_string());
            q.and(format!("{t}.band = {p}"));
        }
        if let Some(ts) = filter.from {
            let p = q.p(ts);
            q.and(format!("{t}.started_at >= {p}"));
        }
        if let Some(ts) = filter.to {
            let p = q.p(ts);
            q.and(format!("{t}.started_at < {p}"));
        }
        if let Some(e) = &filter.enumerator {
            let p = q.p(e.clone());
            q.and(format!("r.enumerator = {p}"));
        }
        let (key, desc) = match filter.order {
            ResponseOrder::Newest => (format!("{t}.started_at"), true),
            ResponseOrder::Oldest => (format!("{t}.started_at"), false),
            ResponseOrder::LowestScore => (
                "COALESCE(CAST(ROUND(r.overall * 10000) AS INTEGER), 9223372036854775807)"
                    .to_string(),
                false,
            ),
            ResponseOrder::HighestScore => (
                "COALESCE(CAST(ROUND(r.overall * 10000) AS INTEGER), -9223372036854775808)"
                    .to_string(),
                true,
            ),
        };
        q.after(&key, &format!("{t}.doc_id"), after, desc)?;
        let dir = if desc { "DESC" } else { "ASC" };
        let lim = q.p(limit_of(limit) + 1);
        let from = if by_region {
            "response_regions rr CROSS JOIN responses r ON r.doc_id = rr.doc_id"
        } else {
            "responses r"
        };
        let sql = format!(
            "SELECT r.doc_id, r.form_id, r.form_version, r.status, r.region, r.segment, r.value_tier,
                    r.core, r.overall, r.band, r.started_at, r.completed_at, r.enumerator, r.summary,
                    d.conflicts, d.quarantine IS NOT NULL
             FROM {from} JOIN documents d ON d.id = r.doc_id
             {} ORDER BY {key} {dir}, {t}.doc_id {dir} LIMIT {lim}",
            q.where_clause()
        );
        let raw = self.page_query(&sql, &q.params, |r| {
            Ok((
                ResponseRow {
                    id: id_of(r, 0)?,
                    form_id: opt_id_of(r, 1)?,
                    form_version: r.get(2)?,
                    status: r.get(3)?,
                    region: r.get(4)?,
                    segment: r.get(5)?,
                    value_tier: r.get(6)?,
                    core: r.get(7)?,
                    overall: r.get(8)?,
                    band: r.get(9)?,
                    started_at: r.get(10)?,
                    completed_at: r.get(11)?,
                    enumerator: r.get(12)?,
                    respondent_name: None,
                    conflicts: r.get(14)?,
                    quarantined: r.get(15)?,
                },
                r.get::<_, Vec<u8>>(13)?,
            ))
        })?;
        let mut items = Vec::with_capacity(raw.len());
        for (mut row, sealed) in raw {
            let s: ResponseSummary = self.open_summary("responses", row.id, b"", &sealed);
            row.respondent_name = s.respondent_name;
            items.push(row);
        }
        let order = filter.order;
        Ok(paginate(items, limit, |r| match order {
            ResponseOrder::Newest | ResponseOrder::Oldest => token(r.started_at, r.id),
            ResponseOrder::LowestScore => token(score_key(r.overall, true), r.id),
            ResponseOrder::HighestScore => token(score_key(r.overall, false), r.id),
        }))
    }

    /// Visits matching `filter`, latest planned first.
    pub fn list_visits(
        &self,
        filter: &VisitFilter,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<VisitRow>> {
        let mut q = Sql::new();
        q.scopes("d.scope", &filter.scopes);
        if let Some(a) = filter.account_id {
            let p = q.p(a.as_bytes().to_vec());
            q.and(format!("v.account_id = {p}"));
        }
        if let Some(o) = &filter.owner {
            let p = q.p(o.clone());
            q.and(format!("v.owner = {p}"));
        }
        if let Some(t) = filter.from {
            let p = q.p(t);
            q.and(format!("v.planned_at >= {p}"));
        }
        if let Some(t) = filter.to {
            let p = q.p(t);
            q.and(format!("v.planned_at < {p}"));
        }
        q.after("v.planned_at", "v.doc_id", after, true)?;
        let lim = q.p(limit_of(limit) + 1);
        let sql = format!(
            "SELECT v.doc_id, v.account_id, v.owner, v.planned_at, v.checked_in_at, v.checked_out_at,
                    v.cancelled, v.summary, d.conflicts
             FROM visits v JOIN documents d ON d.id = v.doc_id
             {} ORDER BY v.planned_at DESC, v.doc_id DESC LIMIT {lim}",
            q.where_clause()
        );
        let raw = self.page_query(&sql, &q.params, |r| {
            Ok((
                VisitRow {
                    id: id_of(r, 0)?,
                    account_id: opt_id_of(r, 1)?,
                    owner: r.get(2)?,
                    planned_at: r.get(3)?,
                    checked_in_at: r.get(4)?,
                    checked_out_at: r.get(5)?,
                    cancelled: r.get(6)?,
                    purpose: String::new(),
                    open_commitments: 0,
                    conflicts: r.get(8)?,
                },
                r.get::<_, Vec<u8>>(7)?,
            ))
        })?;
        let mut items = Vec::with_capacity(raw.len());
        for (mut row, sealed) in raw {
            let s: VisitSummary = self.open_summary("visits", row.id, b"", &sealed);
            row.purpose = s.purpose;
            row.open_commitments = s.open_commitments;
            items.push(row);
        }
        Ok(paginate(items, limit, |r| token(r.planned_at, r.id)))
    }

    /// Open commitments, soonest due first.
    pub fn open_commitments(
        &self,
        filter: &CommitmentFilter,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<CommitmentRow>> {
        let mut q = Sql::new();
        q.scopes(
            "(SELECT scope FROM documents WHERE id = c.visit_id)",
            &filter.scopes,
        );
        q.and("c.done_at IS NULL".into());
        if let Some(o) = &filter.owner {
            let p = q.p(o.clone());
            q.and(format!("c.owner = {p}"));
        }
        if let Some(a) = filter.account_id {
            let p = q.p(a.as_bytes().to_vec());
            q.and(format!("c.account_id = {p}"));
        }
        if let Some(t) = filter.due_before {
            let p = q.p(t);
            q.and(format!("c.due_at < {p}"));
        }
        if filter.refund_only {
            q.and("c.refund = 1".into());
        }
        // Keyset on (due_at, visit_id, commitment_id): the token carries due_at and the
        // visit; commitment ids break ties within a visit.
        if let Some(t) = after {
            let (due, rest) = t
                .split_once(':')
                .ok_or_else(|| Error::Malformed("page token".into()))?;
            let (visit, cid) = rest
                .split_once(':')
                .ok_or_else(|| Error::Malformed("page token".into()))?;
            let due: i64 = due
                .parse()
                .map_err(|_| Error::Malformed("page token".into()))?;
            let visit: DocId = visit.parse()?;
            let (dp, vp, cp) = (
                q.p(due),
                q.p(visit.as_bytes().to_vec()),
                q.p(cid.to_string()),
            );
            q.and(format!(
                "(c.due_at > {dp} OR (c.due_at = {dp} AND (c.visit_id > {vp} OR (c.visit_id = {vp} AND c.commitment_id > {cp}))))"
            ));
        }
        let lim = q.p(limit_of(limit) + 1);
        let sql = format!(
            "SELECT c.visit_id, c.commitment_id, c.account_id, c.owner, c.due_at, c.refund, c.summary
             FROM commitments c {} ORDER BY c.due_at, c.visit_id, c.commitment_id LIMIT {lim}",
            q.where_clause()
        );
        let raw = self.page_query(&sql, &q.params, |r| {
            Ok((
                CommitmentRow {
                    visit_id: id_of(r, 0)?,
                    commitment_id: r.get(1)?,
                    account_id: opt_id_of(r, 2)?,
                    owner: r.get(3)?,
                    due_at: r.get(4)?,
                    refund: r.get(5)?,
                    description: String::new(),
                },
                r.get::<_, Vec<u8>>(6)?,
            ))
        })?;
        let mut items = Vec::with_capacity(raw.len());
        for (mut row, sealed) in raw {
            let s: CommitmentSummary = self.open_summary(
                "commitments",
                row.visit_id,
                row.commitment_id.as_bytes(),
                &sealed,
            );
            row.description = s.description;
            items.push(row);
        }
        Ok(paginate(items, limit, |r| {
            format!("{}:{}:{}", r.due_at, r.visit_id, r.commitment_id)
        }))
    }

    /// Cases matching `filter`, most recently received first.
    pub fn list_cases(
        &self,
        filter: &CaseFilter,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<CaseRow>> {
        let mut q = Sql::new();
        q.scopes(
            "(SELECT scope FROM documents WHERE id = c.doc_id)",
            &filter.scopes,
        );
        if let Some(s) = filter.stage {
            let p = q.p(s.as_str().to_string());
            q.and(format!("c.stage = {p}"));
        }
        if let Some(o) = &filter.owner {
            let p = q.p(o.clone());
            q.and(format!("c.owner = {p}"));
        }
        if let Some(cu) = &filter.customer_id {
            let p = q.p(cu.clone());
            q.and(format!("c.customer_id = {p}"));
        }
        if filter.open_only {
            q.and("c.closed_at IS NULL".into());
        }
        if let Some(t) = filter.overdue_at {
            let p = q.p(t);
            q.and(format!("c.closed_at IS NULL AND c.stage_deadline < {p}"));
        }
        q.after("c.received_at", "c.doc_id", after, true)?;
        let lim = q.p(limit_of(limit) + 1);
        let sql = format!(
            "SELECT c.doc_id, c.customer_id, c.category, c.severity, c.stage, c.owner, c.received_at,
                    c.stage_deadline, c.closed_at, c.summary
             FROM cases c {} ORDER BY c.received_at DESC, c.doc_id DESC LIMIT {lim}",
            q.where_clause()
        );
        let raw = self.page_query(&sql, &q.params, |r| {
            Ok((
                CaseRow {
                    id: id_of(r, 0)?,
                    customer_id: r.get(1)?,
                    category: r.get(2)?,
                    severity: r.get(3)?,
                    stage: r.get(4)?,
                    owner: r.get(5)?,
                    received_at: r.get(6)?,
                    stage_deadline: r.get(7)?,
                    closed_at: r.get(8)?,
                    dispatches: 0,
                },
                r.get::<_, Vec<u8>>(9)?,
            ))
        })?;
        let mut items = Vec::with_capacity(raw.len());
        for (mut row, sealed) in raw {
            let s: CaseSummary = self.open_summary("cases", row.id, b"", &sealed);
            row.dispatches = s.dispatches;
            items.push(row);
        }
        Ok(paginate(items, limit, |r| token(r.received_at, r.id)))
    }

    /// Accounts matching `filter`, by name.
    pub fn list_accounts(&self, filter: &AccountFilter) -> Result<Vec<AccountRow>> {
        let mut q = Sql::new();
        q.scopes(
            "(SELECT scope FROM documents WHERE id = a.doc_id)",
            &filter.scopes,
        );
        if let Some(o) = &filter.owner {
            let p = q.p(o.clone());
            q.and(format!(
                "a.doc_id IN (SELECT doc_id FROM account_owners WHERE user_id = {p})"
            ));
        }
        if let Some(r) = &filter.region {
            q.region("a.region", r);
        }
        let sql = format!(
            "SELECT a.doc_id, a.region, a.segment, a.core, a.owner, a.summary FROM accounts a {}",
            q.where_clause()
        );
        let raw = self.page_query(&sql, &q.params, |r| {
            Ok((
                AccountRow {
                    id: id_of(r, 0)?,
                    name: String::new(),
                    region: r.get(1)?,
                    segment: r.get(2)?,
                    core: r.get(3)?,
                    owner: r.get(4)?,
                },
                r.get::<_, Vec<u8>>(5)?,
            ))
        })?;
        let mut items = Vec::with_capacity(raw.len());
        for (mut row, sealed) in raw {
            let s: AccountSummary = self.open_summary("accounts", row.id, b"", &sealed);
            row.name = s.name;
            items.push(row);
        }
        items.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(items)
    }

    /// Form versions, optionally of one key, newest version first.
    pub fn list_forms(&self, form_key: Option<&str>) -> Result<Vec<FormRow>> {
        let mut q = Sql::new();
        if let Some(k) = form_key {
            let p = q.p(k.to_string());
            q.and(format!("f.form_key = {p}"));
        }
        let sql = format!(
            "SELECT f.doc_id, f.form_key, f.version, f.published, f.summary FROM forms f {}
             ORDER BY f.form_key, f.version DESC",
            q.where_clause()
        );
        let raw = self.page_query(&sql, &q.params, |r| {
            Ok((
                FormRow {
                    id: id_of(r, 0)?,
                    form_key: r.get(1)?,
                    version: r.get(2)?,
                    published: r.get(3)?,
                    title: String::new(),
                },
                r.get::<_, Vec<u8>>(4)?,
            ))
        })?;
        let mut items = Vec::with_capacity(raw.len());
        for (mut row, sealed) in raw {
            let s: FormSummary = self.open_summary("forms", row.id, b"", &sealed);
            row.title = s.title;
            items.push(row);
        }
        Ok(items)
    }
}

fn paginate<T>(mut items: Vec<T>, limit: usize, tok: impl Fn(&T) -> String) -> Page<T> {
    let lim = limit.clamp(1, MAX_PAGE);
    let next = if items.len() > lim {
        items.truncate(lim);
        items.last().map(tok)
    } else {
        None
    };
    Page { items, next }
}
