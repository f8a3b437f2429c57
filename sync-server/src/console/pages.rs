//! The reading pages and the review action: sign-in, overview, responses (list,
//! detail with field history and conflicts, review), accounts and visits,
//! commitments, cases, early warnings.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use fieldsync_core::analytics::{self, BandFigures, Period};
use fieldsync_core::doc::{FieldPath, FieldValue};
use fieldsync_core::model::{
    Answer, Band, Dimension, Response as SurveyResponse, ResponseStatus, ReviewEntry, SegmentKind,
};
use fieldsync_core::store::{
    AccountFilter, CaseFilter as ListCaseFilter, CommitmentFilter, ResponseFilter, VisitFilter,
};
use fieldsync_core::{DocId, Kind};
use serde::Deserialize;

use fieldsync_i18n::labels::{self, Domain};
use fieldsync_i18n::{format as lf, t};

use super::ConsoleState;
use super::auth::{self, Refusal, Signed};
use super::i18n::{Notice, Switch, Tr, lang};
use super::view::{self, BandRow, Frame, page};
use super::writer::{self, Author};
use crate::storage::console::Role;

/// Run blocking storage work for a page.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "console request failed");
            Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                t!(lang(), "console-request-failed"),
            )
                .into_response())
        }
        Err(_) => Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            t!(lang(), "console-request-failed"),
        )
            .into_response()),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, t!(lang(), "console-not-found")).into_response()
}

// ----- sign-in ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    token: String,
    error: Option<String>,
    tr: Tr,
    langs: Vec<Switch>,
}

/// The sign-in form, bound to a fresh pre-session cookie.
pub async fn login_form(State(st): State<ConsoleState>) -> Response {
    login_page(&st, None)
}

fn login_page(st: &ConsoleState, error: Option<String>) -> Response {
    let Ok(token) = super::password::random_token(24) else {
        return Refusal::Unavailable.into_response();
    };
    let mut res = page(&LoginPage {
        token: token.clone(),
        error,
        tr: Tr::current(),
        langs: super::i18n::switcher(),
    });
    if let Ok(v) = auth::set_cookie(
        auth::LOGIN_COOKIE,
        &token,
        600,
        st.inner.config.secure_cookies,
    )
    .parse()
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// Sign-in form fields.
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    token: String,
}

/// Check the credentials; on success set the session cookie and go to the overview.
pub async fn login(
    State(st): State<ConsoleState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let bound = auth::cookie(&headers, auth::LOGIN_COOKIE);
    if !bound.is_some_and(|b| auth::constant_time_eq(b.as_bytes(), f.token.as_bytes())) {
        return (StatusCode::FORBIDDEN, Refusal::Csrf).into_response();
    }
    let st2 = st.clone();
    let (u, p) = (f.username.trim().to_string(), f.password);
    let result = tokio::task::spawn_blocking(move || auth::sign_in(&st2, &u, &p)).await;
    match result {
        Ok(Ok((token, _, language))) => {
            let secure = st.inner.config.secure_cookies;
            let max_age = st.inner.config.session_ms / 1000;
            let mut res = Redirect::to("/").into_response();
            let mut cookies = vec![
                auth::set_cookie(auth::SESSION_COOKIE, &token, max_age, secure),
                auth::set_cookie(auth::LOGIN_COOKIE, "", 0, secure),
            ];
            // The account's own choice of language follows it to a new browser.
            if let Some(l) = language.as_deref().and_then(fieldsync_i18n::Lang::parse) {
                cookies.push(auth::set_cookie(
                    super::i18n::LANG_COOKIE,
                    l.tag(),
                    365 * 86_400,
                    secure,
                ));
            }
            for c in cookies {
                if let Ok(v) = c.parse() {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            res
        }
        Ok(Err(auth::SignInError::Locked)) => {
            login_page(&st, Some(t!(lang(), "console-login-locked")))
        }
        Ok(Err(auth::SignInError::Refused)) => {
            login_page(&st, Some(t!(lang(), "console-login-refused")))
        }
        _ => Refusal::Unavailable.into_response(),
    }
}

/// A form that carries only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// End the session.
pub async fn logout(
    State(st): State<ConsoleState>,
    signed: Signed,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Refusal> {
    signed.check_csrf(&f.csrf)?;
    let h = signed.session.token_hash;
    let storage = st.inner.storage.clone();
    let _ = tokio::task::spawn_blocking(move || storage.delete_session(&h)).await;
    let mut res = Redirect::to("/login").into_response();
    if let Ok(v) =
        auth::set_cookie(auth::SESSION_COOKIE, "", 0, st.inner.config.secure_cookies).parse()
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

// ----- overview --------------------------------------------------------------------

/// Filters of the overview and the exports.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OverviewQuery {
    /// `YYYY-MM-DD`, interviews started on or after.
    #[serde(default)]
    pub from: Option<String>,
    /// `YYYY-MM-DD`, started before.
    #[serde(default)]
    pub to: Option<String>,
    /// Region prefix.
    #[serde(default)]
    pub region: Option<String>,
    /// Form key.
    #[serde(default)]
    pub form: Option<String>,
    /// Segment kind.
    #[serde(default)]
    pub segment: Option<String>,
    /// `core` or `ordinary`.
    #[serde(default)]
    pub core: Option<String>,
    /// Region depth for the region table (1–3).
    #[serde(default)]
    pub depth: Option<usize>,
    /// `month` or `quarter`.
    #[serde(default)]
    pub period: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
}

impl OverviewQuery {
    /// The analytics filter for `signed`'s scopes.
    pub fn filter(&self, signed: &Signed) -> analytics::ResponseFilter {
        analytics::ResponseFilter {
            scopes: signed.readable.clone(),
            form_key: nonempty(&self.form),
            region: nonempty(&self.region),
            from: nonempty(&self.from).and_then(|d| view::parse_date(&d)),
            to: nonempty(&self.to).and_then(|d| view::parse_date(&d)),
            segment: nonempty(&self.segment).and_then(|s| SegmentKind::parse(&s)),
            value_tier: None,
            core: match nonempty(&self.core).as_deref() {
                Some("core") => Some(true),
                Some("ordinary") => Some(false),
                _ => None,
            },
        }
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    frame: Frame,
    q: OverviewQuery,
    overall: BandRow,
    dimensions: Vec<BandRow>,
    segments: Vec<BandRow>,
    core: Vec<BandRow>,
    tiers: Vec<BandRow>,
    regions: Vec<BandRow>,
    periods: Vec<BandRow>,
    chart_dimensions: String,
    chart_segments: String,
    chart_regions: String,
    chart_periods: String,
    export_query: String,
}

fn rows_of<K>(
    items: &[(K, BandFigures)],
    label: impl Fn(&K) -> String,
) -> Vec<(String, BandFigures)> {
    items.iter().map(|(k, b)| (label(k), *b)).collect()
}

fn band_rows(rows: &[(String, BandFigures)]) -> Vec<BandRow> {
    rows.iter()
        .map(|(l, b)| BandRow::new(l.clone(), b))
        .collect()
}

fn segment_label(s: &SegmentKind) -> String {
    labels::label(lang(), Domain::Segment, s.as_str())
}

fn dimension_label(d: &Dimension) -> String {
    labels::label(lang(), Domain::Dimension, d.as_str())
}

/// The query string of `q` (links to exports keep the filters).
pub fn query_string(q: &OverviewQuery) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("from", &q.from),
        ("to", &q.to),
        ("region", &q.region),
        ("form", &q.form),
        ("segment", &q.segment),
        ("core", &q.core),
    ] {
        if let Some(v) = nonempty(v) {
            parts.push(format!("{k}={}", urlencode(&v)));
        }
    }
    parts.join("&")
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Satisfaction by band, dimension, segment, region and period.
pub async fn overview(
    State(st): State<ConsoleState>,
    signed: Signed,
    Query(q): Query<OverviewQuery>,
) -> Response {
    let filter = q.filter(&signed);
    let depth = q.depth.unwrap_or(1).clamp(1, 3);
    let period = match q.period.as_deref() {
        Some("quarter") => Period::Quarter,
        _ => Period::Month,
    };
    let merged = st.inner.merged.clone();
    let got = blocking(move || {
        let sat = analytics::satisfaction(&merged, &filter).map_err(|e| e.to_string())?;
        let regions = analytics::by_region(&merged, &filter, depth).map_err(|e| e.to_string())?;
        let periods =
            analytics::by_period(&merged, &filter, period, 0).map_err(|e| e.to_string())?;
        Ok((sat, regions, periods))
    })
    .await;
    let (sat, regions, periods) = match got {
        Ok(v) => v,
        Err(r) => return r,
    };
    let dims = rows_of(&sat.by_dimension, dimension_label);
    let segs = rows_of(&sat.by_segment, segment_label);
    let l = lang();
    let core = rows_of(&sat.by_core, |c| {
        if *c {
            t!(l, "console-core-customers")
        } else {
            t!(l, "console-ordinary-customers")
        }
    });
    let tiers = rows_of(&sat.by_value_tier, |t| {
        labels::label(l, Domain::Tier, t.map_or("", |t| t.as_str()))
    });
    let periods: Vec<(String, BandFigures)> = periods
        .into_iter()
        .map(|(k, b)| (lf::period(l, &k), b))
        .collect();
    let export_query = query_string(&q);
    page(&OverviewPage {
        frame: Frame::new(&signed, "overview", t!(l, "console-overview-title")),
        overall: BandRow::new(t!(l, "console-all-responses"), &sat.overall),
        chart_dimensions: view::band_chart(&t!(l, "console-chart-by-dimension"), &dims),
        chart_segments: view::band_chart(&t!(l, "console-chart-by-segment"), &segs),
        chart_regions: view::band_chart(&t!(l, "console-chart-by-region"), &regions),
        chart_periods: view::band_chart(&t!(l, "console-chart-by-period"), &periods),
        dimensions: band_rows(&dims),
        segments: band_rows(&segs),
        core: band_rows(&core),
        tiers: band_rows(&tiers),
        regions: band_rows(&regions),
        periods: band_rows(&periods),
        export_query,
        q,
    })
}

// ----- responses -------------------------------------------------------------------

/// Filters of the response list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResponsesQuery {
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    band: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    segment: Option<String>,
    #[serde(default)]
    core: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    enumerator: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

fn status_of(s: &str) -> Option<ResponseStatus> {
    [
        ResponseStatus::Draft,
        ResponseStatus::Complete,
        ResponseStatus::Approved,
        ResponseStatus::Rejected,
        ResponseStatus::NeedsFollowUp,
    ]
    .into_iter()
    .find(|x| x.as_str() == s)
}

impl ResponsesQuery {
    fn filter(&self, signed: &Signed) -> ResponseFilter {
        ResponseFilter {
            region: nonempty(&self.region),
            band: nonempty(&self.band).and_then(|b| Band::parse(&b)),
            status: nonempty(&self.status).and_then(|s| status_of(&s)),
            segment: nonempty(&self.segment).and_then(|s| SegmentKind::parse(&s)),
            core: match nonempty(&self.core).as_deref() {
                Some("core") => Some(true),
                Some("ordinary") => Some(false),
                _ => None,
            },
            from: nonempty(&self.from).and_then(|d| view::parse_date(&d)),
            to: nonempty(&self.to).and_then(|d| view::parse_date(&d)),
            enumerator: nonempty(&self.enumerator),
            scopes: signed.readable.clone(),
            order: nonempty(&self.sort)
                .and_then(|s| fieldsync_core::store::ResponseOrder::parse(&s))
                .unwrap_or_default(),
            ..ResponseFilter::default()
        }
    }

    fn keep(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("region", &self.region),
            ("band", &self.band),
            ("status", &self.status),
            ("segment", &self.segment),
            ("core", &self.core),
            ("from", &self.from),
            ("to", &self.to),
            ("enumerator", &self.enumerator),
            ("sort", &self.sort),
        ] {
            if let Some(v) = nonempty(v) {
                parts.push(format!("{k}={}", urlencode(&v)));
            }
        }
        parts.join("&")
    }
}

struct ResponseLine {
    id: String,
    started: String,
    status: String,
    region: String,
    segment: String,
    core: bool,
    overall: String,
    band: String,
    enumerator: String,
    conflicts: u32,
}

#[derive(Template)]
#[template(path = "responses.html")]
struct ResponsesPage {
    frame: Frame,
    q: ResponsesQuery,
    rows: Vec<ResponseLine>,
    next: Option<String>,
    keep: String,
    sorts: Vec<(&'static str, String)>,
}

/// Responses: filter, newest first, page by page.
pub async fn responses(
    State(st): State<ConsoleState>,
    signed: Signed,
    Query(q): Query<ResponsesQuery>,
) -> Response {
    let filter = q.filter(&signed);
    let after = nonempty(&q.after);
    let merged = st.inner.merged.clone();
    let got = blocking(move || {
        merged
            .list_responses(&filter, 50, after.as_deref())
            .map_err(|e| e.to_string())
    })
    .await;
    let page_ = match got {
        Ok(p) => p,
        Err(r) => return r,
    };
    let rows = page_
        .items
        .into_iter()
        .map(|r| ResponseLine {
            id: r.id.to_string(),
            started: view::when(Some(r.started_at)),
            status: r.status,
            region: r.region,
            segment: r.segment,
            core: r.core,
            overall: view::mean(r.overall),
            band: r.band.unwrap_or_default(),
            enumerator: r.enumerator,
            conflicts: r.conflicts,
        })
        .collect();
    let keep = q.keep();
    page(&ResponsesPage {
        frame: Frame::new(&signed, "responses", t!(lang(), "console-responses-title")),
        sorts: vec![
            ("newest", t!(lang(), "console-sort-newest")),
            ("oldest", t!(lang(), "console-sort-oldest")),
            ("lowest", t!(lang(), "console-sort-lowest")),
            ("highest", t!(lang(), "console-sort-highest")),
        ],
        rows,
        next: page_.next,
        keep,
        q,
    })
}

struct AnswerLine {
    question: String,
    label: String,
    value: String,
    history: Vec<String>,
}

struct ConflictLine {
    field: String,
    winner: String,
    others: Vec<String>,
}

struct ReviewLine {
    at: String,
    by: String,
    decision: String,
    comment: String,
}

#[derive(Template)]
#[template(path = "response.html")]
struct ResponsePage {
    frame: Frame,
    id: String,
    status: String,
    scope: String,
    region: String,
    enumerator: String,
    started: String,
    completed: String,
    segment: String,
    core: bool,
    answers: Vec<AnswerLine>,
    repeats: Vec<String>,
    conflicts: Vec<ConflictLine>,
    reviews: Vec<ReviewLine>,
    can_review: bool,
    message: Option<Notice>,
}

fn answer_text(
    l: fieldsync_i18n::Lang,
    a: &Answer,
    labels: &dyn Fn(&str) -> Option<String>,
) -> String {
    match a {
        Answer::Text(s) | Answer::Date(s) | Answer::Time(s) | Answer::DateTime(s) => s.clone(),
        Answer::Integer(i) => lf::integer(l, *i),
        Answer::Decimal(d) => format!("{d}"),
        Answer::Score(s) => format!("{} / {}", s.value, s.max),
        Answer::Choice(c) => labels(c).map_or_else(|| c.clone(), |l| format!("{l} ({c})")),
        Answer::Choices(cs) => cs
            .iter()
            .map(|c| labels(c).unwrap_or_else(|| c.clone()))
            .collect::<Vec<_>>()
            .join(", "),
        Answer::Geo(g) => format!("{:.5}, {:.5}", g.lat, g.lon),
        Answer::GeoTrace(ps) | Answer::GeoShape(ps) => t!(l, "console-points", n = ps.len()),
        Answer::Attachment(r) => format!("{} ({})", r.name, t!(l, "console-bytes", n = r.size)),
        Answer::Acknowledged(b) => {
            if *b {
                "OK".into()
            } else {
                String::new()
            }
        }
    }
}

fn field_value_text(lang: fieldsync_i18n::Lang, v: &FieldValue) -> String {
    let l = lang;
    match v {
        FieldValue::Null => "–".into(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Int(i) | FieldValue::Counter(i) | FieldValue::Timestamp(i) => i.to_string(),
        FieldValue::Uint(u) => u.to_string(),
        FieldValue::F64(f) => format!("{f}"),
        FieldValue::Str(s) | FieldValue::Text(s) => s.clone(),
        FieldValue::Bytes(b) => t!(l, "console-bytes", n = b.len()),
        FieldValue::Map(m) => m
            .iter()
            .map(|(k, v)| format!("{k}: {}", field_value_text(l, v)))
            .collect::<Vec<_>>()
            .join(", "),
        FieldValue::List(items) => items
            .iter()
            .map(|v| field_value_text(lang, v))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Load a response the reader may see: `(response, scope)`.
pub(crate) fn readable_response(
    st: &ConsoleState,
    signed: &Signed,
    id: DocId,
) -> Result<Option<(SurveyResponse, String)>, String> {
    let merged = &st.inner.merged;
    let info = match merged.info(id) {
        Ok(i) => i,
        Err(fieldsync_core::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if info.kind != Kind::Response || !signed.can_read(info.scope.as_str()) {
        return Ok(None);
    }
    let r: SurveyResponse = merged.get(id).map_err(|e| e.to_string())?;
    Ok(Some((r, info.scope.as_str().to_string())))
}

/// One response: answers with their history, conflicts, reviews, and the review form.
pub async fn response(
    State(st): State<ConsoleState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(m): Query<MessageQuery>,
) -> Response {
    let Ok(id) = id.parse::<DocId>() else {
        return not_found();
    };
    let (st2, signed2) = (st.clone(), signed.clone());
    // Blocking work runs outside the request's task: it gets the language as a value.
    let l = lang();
    let got = blocking(move || {
        let Some((r, scope)) = readable_response(&st2, &signed2, id)? else {
            return Ok(None);
        };
        let merged = &st2.inner.merged;
        let form = r
            .form_id
            .parse::<DocId>()
            .ok()
            .and_then(|f| merged.compiled_form(f).ok());
        let mut answers = Vec::new();
        for (qid, a) in &r.answers {
            // Question and choice labels in the form language nearest the reader's
            // (zh-CN, then zh), else the form's default texts.
            let (label, choices, form_lang) = match &form {
                Some(f) => {
                    let fm = f.form();
                    let fl = fm.language(l.tag()).map(str::to_string);
                    let q = fm.question(qid);
                    (
                        q.map_or_else(|| qid.clone(), |q| q.label_in(fl.as_deref()).to_string()),
                        q.map(|q| fm.choices(q).to_vec()).unwrap_or_default(),
                        fl,
                    )
                }
                None => (qid.clone(), Vec::new(), None),
            };
            let labels = |c: &str| {
                choices.iter().find(|x| x.value == c).map(|x| {
                    form_lang
                        .as_deref()
                        .and_then(|fl| x.translations.get(fl))
                        .unwrap_or(&x.label)
                        .clone()
                })
            };
            let path = FieldPath::parse(&format!("answers.{qid}")).map_err(|e| e.to_string())?;
            let history = merged
                .field_history(id, &path)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|h| {
                    t!(
                        l,
                        "console-history-entry",
                        time = lf::datetime(l, h.time),
                        user = h.user_id.unwrap_or_else(|| t!(l, "console-unknown-user")),
                        device = h
                            .device_id
                            .unwrap_or_else(|| t!(l, "console-unknown-device"))
                    )
                })
                .collect();
            answers.push(AnswerLine {
                question: qid.clone(),
                label,
                value: answer_text(l, a, &labels),
                history,
            });
        }
        let conflicts = merged
            .conflicts(id)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|c| ConflictLine {
                field: c.path.to_string(),
                winner: field_value_text(l, &c.winner),
                others: c.others.iter().map(|v| field_value_text(l, v)).collect(),
            })
            .collect();
        let reviews = r
            .review
            .iter()
            .map(|e| ReviewLine {
                at: lf::datetime(l, e.at),
                by: e.by.clone(),
                decision: e
                    .decision
                    .map(|d| d.as_str().to_string())
                    .unwrap_or_else(|| "comment".into()),
                comment: e.comment.clone().unwrap_or_default(),
            })
            .collect();
        Ok(Some((r, scope, answers, conflicts, reviews)))
    })
    .await;
    let (r, scope, answers, conflicts, reviews) = match got {
        Ok(Some(v)) => v,
        Ok(None) => return not_found(),
        Err(resp) => return resp,
    };
    let can_review = signed.account.role >= Role::Reviewer && signed.writable.contains(&scope)
        || signed.account.role == Role::Admin;
    page(&ResponsePage {
        frame: Frame::new(&signed, "responses", t!(l, "console-response-title")),
        id: id.to_string(),
        status: r.status.as_str().into(),
        scope,
        region: r.region.clone(),
        enumerator: r.enumerator.clone(),
        started: view::when(Some(r.started_at)),
        completed: view::when(r.completed_at),
        segment: r.respondent.segment.kind.as_str().into(),
        core: r.respondent.segment.core,
        answers,
        repeats: r
            .repeats
            .iter()
            .map(|(k, v)| t!(l, "console-repeat-instances", name = k, n = v.len()))
            .collect(),
        conflicts,
        reviews,
        can_review,
        message: Notice::of(m.message),
    })
}

/// `?message=...` shown after an action.
#[derive(Debug, Default, Deserialize)]
pub struct MessageQuery {
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// Review form fields.
#[derive(Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    csrf: String,
    decision: String,
    #[serde(default)]
    comment: String,
}

/// The tenant scopes an admin may write (all of them); others their grants.
pub(crate) fn author_of(st: &ConsoleState, signed: &Signed) -> Result<Author, String> {
    let mut writable = signed.writable.clone();
    if signed.account.role == Role::Admin {
        writable.extend(
            st.inner
                .storage
                .list_scopes(&signed.account.tenant)
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(Author {
        tenant: signed.account.tenant.clone(),
        user_id: signed.account.user_id.clone(),
        writable,
    })
}

/// Approve, reject, ask for a follow-up, or comment: a change to the response
/// document, pushed into the log so it reaches the collector's device.
pub async fn review(
    State(st): State<ConsoleState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(f): Form<ReviewForm>,
) -> Result<Response, Refusal> {
    signed.check_csrf(&f.csrf)?;
    signed.require(Role::Reviewer)?;
    let Ok(id) = id.parse::<DocId>() else {
        return Ok(not_found());
    };
    let decision = match f.decision.as_str() {
        "approve" => Some(ResponseStatus::Approved),
        "reject" => Some(ResponseStatus::Rejected),
        "needs_follow_up" => Some(ResponseStatus::NeedsFollowUp),
        "comment" => None,
        _ => {
            return Ok((
                StatusCode::BAD_REQUEST,
                t!(lang(), "console-unknown-decision"),
            )
                .into_response());
        }
    };
    let comment = f.comment.trim().to_string();
    if decision.is_none() && comment.is_empty() {
        return Ok(Redirect::to(&format!("/responses/{id}?message=empty_comment")).into_response());
    }
    if comment.chars().count() > 2000 {
        return Ok((
            StatusCode::BAD_REQUEST,
            t!(lang(), "console-comment-too-long"),
        )
            .into_response());
    }
    let st2 = st.clone();
    let signed2 = signed.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<Option<String>, String> {
        if readable_response(&st2, &signed2, id)?.is_none() {
            return Ok(None);
        }
        let author = author_of(&st2, &signed2)?;
        let entry_id = DocId::random().map_err(|e| e.to_string())?.to_string();
        let now = fieldsync_core::now_ms();
        let by = signed2.account.user_id.clone();
        let r = writer::edit_record::<SurveyResponse>(
            &*st2.inner.storage,
            &st2.inner.merged,
            &author,
            id,
            |r| {
                if let Some(d) = decision {
                    r.status = d;
                }
                r.review.push(ReviewEntry {
                    id: entry_id,
                    decision,
                    comment: (!comment.is_empty()).then_some(comment),
                    by,
                    at: now,
                });
                Ok(())
            },
        );
        match r {
            Ok(_) => {
                if let Ok(Some(meta)) = st2.inner.storage.doc_meta(&author.tenant, id) {
                    st2.inner.committed(&author.tenant, vec![meta.scope]);
                }
                Ok(Some("reviewed".into()))
            }
            Err(writer::WriteError::Rule(fieldsync_core::Error::Validation(v))) => {
                Ok(Some(format!("refused_{}", v.code)))
            }
            Err(writer::WriteError::Refused(reason)) => Ok(Some(format!("refused_{reason}"))),
            Err(writer::WriteError::NotFound) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .map_err(|_| Refusal::Unavailable)?;
    Ok(match result {
        Ok(Some(msg)) => Redirect::to(&format!("/responses/{id}?message={msg}")).into_response(),
        Ok(None) => not_found(),
        Err(e) => {
            tracing::error!(error = %e, "review failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                t!(lang(), "console-review-failed"),
            )
                .into_response()
        }
    })
}

// ----- accounts, visits, commitments -----------------------------------------------

struct AccountLine {
    id: String,
    name: String,
    region: String,
    segment: String,
    core: bool,
    owner: String,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    frame: Frame,
    rows: Vec<AccountLine>,
}

/// Accounts in the reader's scopes, by name.
pub async fn accounts(State(st): State<ConsoleState>, signed: Signed) -> Response {
    let merged = st.inner.merged.clone();
    let scopes = signed.readable.clone();
    let got = blocking(move || {
        merged
            .list_accounts(&AccountFilter {
                scopes,
                ..AccountFilter::default()
            })
            .map_err(|e| e.to_string())
    })
    .await;
    match got {
        Ok(rows) => page(&AccountsPage {
            frame: Frame::new(&signed, "accounts", t!(lang(), "console-accounts-title")),
            rows: rows
                .into_iter()
                .map(|a| AccountLine {
                    id: a.id.to_string(),
                    name: a.name,
                    region: a.region,
                    segment: a.segment,
                    core: a.core,
                    owner: a.owner,
                })
                .collect(),
        }),
        Err(r) => r,
    }
}

struct VisitLine {
    planned: String,
    owner: String,
    purpose: String,
    checked_in: String,
    open_commitments: usize,
}

struct CommitmentLine {
    owner: String,
    due_at: i64,
    due: String,
    overdue: bool,
    refund: bool,
    description: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    frame: Frame,
    name: String,
    region: String,
    owner: String,
    visits: Vec<VisitLine>,
    commitments: Vec<CommitmentLine>,
}

fn commitment_lines(rows: Vec<fieldsync_core::store::CommitmentRow>) -> Vec<CommitmentLine> {
    let now = fieldsync_core::now_ms();
    rows.into_iter()
        .map(|c| CommitmentLine {
            owner: c.owner,
            due_at: c.due_at,
            due: view::day(c.due_at),
            overdue: c.due_at < now,
            refund: c.refund,
            description: c.description,
        })
        .collect()
}

/// One account: its visits and open commitments.
pub async fn account(
    State(st): State<ConsoleState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<DocId>() else {
        return not_found();
    };
    let merged = st.inner.merged.clone();
    let scopes = signed.readable.clone();
    let got = blocking(move || {
        let Some(acc) = merged
            .list_accounts(&AccountFilter {
                scopes: scopes.clone(),
                ..AccountFilter::default()
            })
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|a| a.id == id)
        else {
            return Ok(None);
        };
        let visits = merged
            .list_visits(
                &VisitFilter {
                    account_id: Some(id),
                    scopes: scopes.clone(),
                    ..VisitFilter::default()
                },
                200,
                None,
            )
            .map_err(|e| e.to_string())?
            .items;
        let commitments = merged
            .open_commitments(
                &CommitmentFilter {
                    account_id: Some(id),
                    scopes,
                    ..CommitmentFilter::default()
                },
                200,
                None,
            )
            .map_err(|e| e.to_string())?
            .items;
        Ok(Some((acc, visits, commitments)))
    })
    .await;
    let (acc, visits, commitments) = match got {
        Ok(Some(v)) => v,
        Ok(None) => return not_found(),
        Err(r) => return r,
    };
    page(&AccountPage {
        frame: Frame::new(&signed, "accounts", t!(lang(), "console-account-title")),
        name: acc.name,
        region: acc.region,
        owner: acc.owner,
        visits: visits
            .into_iter()
            .map(|v| VisitLine {
                planned: view::when(Some(v.planned_at)),
                owner: v.owner,
                purpose: v.purpose,
                checked_in: view::when(v.checked_in_at),
                open_commitments: v.open_commitments,
            })
            .collect(),
        commitments: commitment_lines(commitments),
    })
}

#[derive(Template)]
#[template(path = "commitments.html")]
struct CommitmentsPage {
    frame: Frame,
    rows: Vec<CommitmentLine>,
}

/// Open commitments by due date (owner first when asked).
pub async fn commitments(State(st): State<ConsoleState>, signed: Signed) -> Response {
    let merged = st.inner.merged.clone();
    let scopes = signed.readable.clone();
    let got = blocking(move || {
        merged
            .open_commitments(
                &CommitmentFilter {
                    scopes,
                    ..CommitmentFilter::default()
                },
                500,
                None,
            )
            .map_err(|e| e.to_string())
    })
    .await;
    match got {
        Ok(p) => {
            let mut rows = commitment_lines(p.items);
            rows.sort_by(|a, b| a.owner.cmp(&b.owner).then(a.due_at.cmp(&b.due_at)));
            page(&CommitmentsPage {
                frame: Frame::new(
                    &signed,
                    "commitments",
                    t!(lang(), "console-commitments-title"),
                ),
                rows,
            })
        }
        Err(r) => r,
    }
}

// ----- cases and warnings ----------------------------------------------------------

struct CaseLine {
    customer: String,
    category: String,
    stage: String,
    owner: String,
    received: String,
    deadline: String,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct CasesPage {
    frame: Frame,
    total: u64,
    open: u64,
    overdue: u64,
    closed: u64,
    fcr: String,
    first_response: String,
    close: String,
    stages: Vec<(String, u64)>,
    repeat: Vec<(String, u64)>,
    after_text: String,
    overdue_rows: Vec<CaseLine>,
}

fn hours(d: &analytics::Durations) -> String {
    let l = lang();
    match (d.median_hours, d.mean_hours) {
        (Some(m), Some(a)) => t!(
            l,
            "console-hours",
            median = lf::decimal(l, m, 1),
            mean = lf::decimal(l, a, 1),
            n = lf::integer(l, i64::try_from(d.n).unwrap_or(i64::MAX))
        ),
        _ => lf::NONE.into(),
    }
}

/// The closed loop: stages, rates, times, repeat complaints, overdue cases.
pub async fn cases(State(st): State<ConsoleState>, signed: Signed) -> Response {
    let merged = st.inner.merged.clone();
    let scopes = signed.readable.clone();
    let got = blocking(move || {
        let now = fieldsync_core::now_ms();
        let fig = analytics::cases(
            &merged,
            &analytics::CaseFilter {
                scopes: scopes.clone(),
                ..analytics::CaseFilter::default()
            },
            now,
        )
        .map_err(|e| e.to_string())?;
        let overdue = merged
            .list_cases(
                &ListCaseFilter {
                    overdue_at: Some(now),
                    scopes,
                    ..ListCaseFilter::default()
                },
                200,
                None,
            )
            .map_err(|e| e.to_string())?
            .items;
        Ok((fig, overdue))
    })
    .await;
    let (fig, overdue) = match got {
        Ok(v) => v,
        Err(r) => return r,
    };
    let l = lang();
    let after = BandRow::new("", &fig.after_resolution);
    let after_text = t!(
        l,
        "console-after-resolution-figures",
        mean = after.mean,
        n = lf::integer(l, i64::try_from(after.n).unwrap_or(i64::MAX)),
        high = after.high,
        middle = after.middle,
        low = after.low
    );
    page(&CasesPage {
        frame: Frame::new(&signed, "cases", t!(l, "console-cases-title")),
        total: fig.total,
        open: fig.open,
        overdue: fig.overdue,
        closed: fig.closed,
        fcr: view::pct(fig.first_contact_resolution_pct),
        first_response: hours(&fig.time_to_first_response),
        close: hours(&fig.time_to_close),
        stages: fig
            .by_stage
            .iter()
            .map(|(s, n)| (labels::label(l, Domain::Stage, s.as_str()), *n))
            .collect(),
        repeat: fig.repeat_customers.clone(),
        after_text,
        overdue_rows: overdue
            .into_iter()
            .map(|c| CaseLine {
                customer: c.customer_id,
                category: labels::label(l, Domain::Category, &c.category),
                stage: labels::label(l, Domain::Stage, &c.stage),
                owner: c.owner,
                received: view::when(Some(c.received_at)),
                deadline: view::when(c.stage_deadline),
            })
            .collect(),
    })
}

struct WarningLine {
    kind: String,
    link: String,
    at: String,
    customer: String,
    value: String,
}

#[derive(Template)]
#[template(path = "warnings.html")]
struct WarningsPage {
    frame: Frame,
    owners: Vec<(String, Vec<WarningLine>)>,
}

/// Early warnings, per owner, each linking to its record.
pub async fn warnings(State(st): State<ConsoleState>, signed: Signed) -> Response {
    let merged = st.inner.merged.clone();
    let scopes = signed.readable.clone();
    let got = blocking(move || {
        analytics::early_warnings(&merged, &scopes, fieldsync_core::now_ms())
            .map_err(|e| e.to_string())
    })
    .await;
    let ws = match got {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut owners: Vec<(String, Vec<WarningLine>)> = Vec::new();
    for w in ws {
        let link = match w.kind {
            analytics::WarningKind::ScoreDrop | analytics::WarningKind::LowScoreCoreCustomer => {
                format!("/responses/{}", w.doc_id)
            }
            analytics::WarningKind::CommitmentPastDue
            | analytics::WarningKind::RefundUnconfirmed => "/commitments".to_string(),
            _ => "/cases".to_string(),
        };
        let line = WarningLine {
            kind: labels::label(lang(), Domain::Warning, w.kind.as_str()),
            link,
            at: view::day(w.at),
            customer: w.customer_id.unwrap_or_default(),
            value: w
                .value
                .map(|v| lf::decimal(lang(), v, 1))
                .unwrap_or_default(),
        };
        match owners.last_mut() {
            Some((o, lines)) if *o == w.owner => lines.push(line),
            _ => owners.push((w.owner, vec![line])),
        }
    }
    page(&WarningsPage {
        frame: Frame::new(&signed, "warnings", t!(lang(), "console-warnings-title")),
        owners,
    })
}
