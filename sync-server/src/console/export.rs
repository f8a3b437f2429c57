//! Exports of responses — CSV (one row per response, `select_multiple` split into one
//! 0/1 column per choice, codes or labels) and XLSX (repeats as extra sheets) — and
//! the JSON API of the same data. Streamed: responses are read a page at a time and
//! written as they come, so exports work on large data. `fieldsync export` runs the
//! same code from the command line.
//!
//! Columns: fixed response columns, then every answer column of every version of the
//! form (`forms::columns::answer_columns`), so answers to questions a later version
//! removed are exported, never dropped.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use fieldsync_core::DocId;
use fieldsync_core::analytics;
use fieldsync_core::forms::columns::{AnswerColumn, answer_columns};
use fieldsync_core::model::{
    Answer, Choice, Form, QuestionKind, RepeatInstance, Response as SurveyResponse,
};
use fieldsync_core::store::{ResponseFilter, Store};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ConsoleState;
use super::auth::Signed;
use super::pages::{OverviewQuery, blocking};
use super::view;

/// Export file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated, UTF-8 with a byte-order mark (spreadsheets open it right).
    Csv,
    /// An Excel workbook, repeats as extra sheets.
    Xlsx,
}

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// The form (all its versions). Required: answer columns come from it.
    pub form_key: String,
    /// Only documents in these scopes (`None`: all).
    pub scopes: Option<Vec<String>>,
    /// Region prefix.
    pub region: Option<String>,
    /// Started at or after.
    pub from: Option<i64>,
    /// Started before.
    pub to: Option<i64>,
    /// Choice labels (and question labels in headers) instead of codes.
    pub labels: bool,
    /// Language of labels (a form language or code); the default texts otherwise.
    pub language: Option<String>,
}

/// Export errors.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The engine.
    #[error(transparent)]
    Core(#[from] fieldsync_core::Error),
    /// Writing.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// CSV.
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    /// XLSX.
    #[error("xlsx: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// No such form.
    #[error("no form with key {0}")]
    NoForm(String),
}

/// The versions of a form and what exporting them needs.
struct Plan {
    columns: Vec<AnswerColumn>,
    /// Choices of each select question (newest version that has it).
    choices: HashMap<String, Vec<Choice>>,
    /// Header label of each question.
    labels: HashMap<String, String>,
    form_ids: Vec<DocId>,
    labels_mode: bool,
    language: Option<String>,
}

/// Fixed columns, `_`-prefixed (as Kobo does) so no question name can clash.
const FIXED: [&str; 14] = [
    "_id",
    "_form_key",
    "_form_version",
    "_status",
    "_region",
    "_segment",
    "_value_tier",
    "_core",
    "_customer_id",
    "_enumerator",
    "_started_at",
    "_completed_at",
    "_overall",
    "_band",
];

/// Catalogue keys of the fixed columns' headers in labels mode (same order as `FIXED`).
const FIXED_LABELS: [&str; 14] = [
    fieldsync_i18n::k!("export-col-id"),
    fieldsync_i18n::k!("export-col-form-key"),
    fieldsync_i18n::k!("export-col-form-version"),
    fieldsync_i18n::k!("export-col-status"),
    fieldsync_i18n::k!("export-col-region"),
    fieldsync_i18n::k!("export-col-segment"),
    fieldsync_i18n::k!("export-col-value-tier"),
    fieldsync_i18n::k!("export-col-core"),
    fieldsync_i18n::k!("export-col-customer-id"),
    fieldsync_i18n::k!("export-col-enumerator"),
    fieldsync_i18n::k!("export-col-started-at"),
    fieldsync_i18n::k!("export-col-completed-at"),
    fieldsync_i18n::k!("export-col-overall"),
    fieldsync_i18n::k!("export-col-band"),
];

/// The same for a repeat sheet's first columns.
const INSTANCE_LABELS: [&str; 3] = [
    fieldsync_i18n::k!("export-col-id"),
    fieldsync_i18n::k!("export-col-instance"),
    fieldsync_i18n::k!("export-col-instance-id"),
];

/// The interface language of an export's labels: the language asked for (`zh`,
/// `zh-CN`, `中文 (zh)`, `en` …), English otherwise.
fn ui_lang(language: Option<&str>) -> fieldsync_i18n::Lang {
    let Some(l) = language else {
        return fieldsync_i18n::Lang::En;
    };
    fieldsync_i18n::Lang::parse(l)
        .or_else(|| {
            let open = l.rfind('(')?;
            let close = l[open..].find(')')? + open;
            fieldsync_i18n::Lang::parse(&l[open + 1..close])
        })
        .unwrap_or_default()
}

fn plan(merged: &Store, opts: &ExportOptions) -> Result<Plan, ExportError> {
    let rows = merged.list_forms(Some(&opts.form_key))?;
    if rows.is_empty() {
        return Err(ExportError::NoForm(opts.form_key.clone()));
    }
    let mut forms: Vec<Form> = Vec::new();
    let mut form_ids = Vec::new();
    for r in &rows {
        form_ids.push(r.id);
        forms.push(merged.get::<Form>(r.id)?);
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.version));
    let refs: Vec<&Form> = forms.iter().collect();
    let columns = answer_columns(&refs);
    let mut choices = HashMap::new();
    let mut labels = HashMap::new();
    for f in &forms {
        let lang = opts
            .language
            .as_deref()
            .and_then(|l| f.language(l))
            .map(str::to_string);
        for q in &f.questions {
            if q.kind.is_select() && !choices.contains_key(&q.id) {
                let cs: Vec<Choice> = f
                    .choices(q)
                    .iter()
                    .map(|c| {
                        let mut c = c.clone();
                        if let Some(t) = lang.as_deref().and_then(|l| c.translations.get(l)) {
                            c.label = t.clone();
                        }
                        c
                    })
                    .collect();
                choices.insert(q.id.clone(), cs);
            }
            labels
                .entry(q.id.clone())
                .or_insert_with(|| q.label_in(lang.as_deref()).to_string());
        }
    }
    Ok(Plan {
        columns,
        choices,
        labels,
        form_ids,
        labels_mode: opts.labels,
        language: opts.language.clone(),
    })
}

impl Plan {
    fn split(&self, c: &AnswerColumn) -> bool {
        c.kind == QuestionKind::SelectMultiple && self.choices.contains_key(&c.question)
    }

    fn header(&self, repeat: Option<&str>) -> Vec<String> {
        // Names mode keeps the stable `_`-prefixed names; labels mode reads them in the
        // export's language.
        let ui = ui_lang(self.language.as_deref());
        let mut h: Vec<String> = match (repeat, self.labels_mode) {
            (None, false) => FIXED.iter().map(|s| s.to_string()).collect(),
            (Some(_), false) => vec!["_id".into(), "_instance".into(), "_instance_id".into()],
            (None, true) => FIXED_LABELS
                .iter()
                .map(|k| fieldsync_i18n::tr(ui, k))
                .collect(),
            (Some(_), true) => INSTANCE_LABELS
                .iter()
                .map(|k| fieldsync_i18n::tr(ui, k))
                .collect(),
        };
        for c in self
            .columns
            .iter()
            .filter(|c| c.repeat.as_deref() == repeat)
        {
            let name = if self.labels_mode {
                self.labels
                    .get(&c.question)
                    .cloned()
                    .unwrap_or_else(|| c.question.clone())
            } else {
                c.question.clone()
            };
            h.push(name.clone());
            if self.split(c) {
                for ch in &self.choices[&c.question] {
                    h.push(format!(
                        "{name}/{}",
                        if self.labels_mode {
                            &ch.label
                        } else {
                            &ch.value
                        }
                    ));
                }
            }
        }
        h
    }

    fn label(&self, q: &str, v: &str) -> String {
        if !self.labels_mode {
            return v.to_string();
        }
        self.choices
            .get(q)
            .and_then(|cs| cs.iter().find(|c| c.value == v))
            .map_or_else(|| v.to_string(), |c| c.label.clone())
    }

    fn cell(&self, q: &str, a: &Answer) -> String {
        match a {
            Answer::Text(s) | Answer::Date(s) | Answer::Time(s) | Answer::DateTime(s) => s.clone(),
            Answer::Integer(i) => i.to_string(),
            Answer::Decimal(d) => d.to_string(),
            Answer::Score(s) => s.value.to_string(),
            Answer::Choice(c) => self.label(q, c),
            Answer::Choices(cs) => cs
                .iter()
                .map(|c| self.label(q, c))
                .collect::<Vec<_>>()
                .join(" "),
            Answer::Geo(g) => format!(
                "{} {} {} {}",
                g.lat,
                g.lon,
                g.altitude_m.unwrap_or(0.0),
                g.accuracy_m.unwrap_or(0.0)
            ),
            Answer::GeoTrace(ps) | Answer::GeoShape(ps) => ps
                .iter()
                .map(|g| format!("{} {}", g.lat, g.lon))
                .collect::<Vec<_>>()
                .join(";"),
            Answer::Attachment(r) => format!("{} sha256:{}", r.name, r.sha256),
            Answer::Acknowledged(b) => {
                if *b {
                    "OK".into()
                } else {
                    String::new()
                }
            }
        }
    }

    fn answers_row(
        &self,
        answers: &BTreeMap<String, Answer>,
        repeat: Option<&str>,
        out: &mut Vec<String>,
    ) {
        for c in self
            .columns
            .iter()
            .filter(|c| c.repeat.as_deref() == repeat)
        {
            let a = answers.get(&c.question);
            out.push(a.map(|a| self.cell(&c.question, a)).unwrap_or_default());
            if self.split(c) {
                let picked: Vec<&str> = match a {
                    Some(Answer::Choices(cs)) => cs.iter().map(String::as_str).collect(),
                    _ => Vec::new(),
                };
                for ch in &self.choices[&c.question] {
                    out.push(if a.is_none() {
                        String::new()
                    } else if picked.contains(&ch.value.as_str()) {
                        "1".into()
                    } else {
                        "0".into()
                    });
                }
            }
        }
    }

    fn repeats(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .columns
            .iter()
            .filter_map(|c| c.repeat.clone())
            .collect();
        v.dedup();
        v.sort();
        v.dedup();
        v
    }
}

/// A cell that is a plain decimal number (no leading zero, so phone numbers and codes
/// like `0138…` stay text) is written as a number.
fn as_number(v: &str) -> Option<f64> {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|b| *b == b'.').count() <= 1
        && !digits.starts_with('.')
        && !digits.ends_with('.')
        && !(digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0."))
        && digits.len() <= 15;
    if plain { v.parse::<f64>().ok() } else { None }
}

fn fixed_row(form_key: &str, id: DocId, r: &SurveyResponse) -> Vec<String> {
    vec![
        id.to_string(),
        form_key.to_string(),
        r.form_version.to_string(),
        r.status.as_str().to_string(),
        r.region.clone(),
        r.respondent.segment.kind.as_str().to_string(),
        r.respondent
            .segment
            .value_tier
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        if r.respondent.segment.core {
            "1".into()
        } else {
            "0".into()
        },
        r.respondent.customer_id.clone().unwrap_or_default(),
        r.enumerator.clone(),
        view::datetime(Some(r.started_at)),
        r.completed_at
            .map(|t| view::datetime(Some(t)))
            .unwrap_or_default(),
        r.overall().map(|v| format!("{v:.2}")).unwrap_or_default(),
        r.band().map(|b| b.as_str().to_string()).unwrap_or_default(),
    ]
}

/// Visit every response of the plan's forms (in the options' filter), page by page.
fn each_response(
    merged: &Store,
    plan: &Plan,
    opts: &ExportOptions,
    mut f: impl FnMut(DocId, &SurveyResponse) -> Result<(), ExportError>,
) -> Result<usize, ExportError> {
    let mut n = 0;
    for form_id in &plan.form_ids {
        let filter = ResponseFilter {
            form_id: Some(*form_id),
            region: opts.region.clone(),
            from: opts.from,
            to: opts.to,
            scopes: opts.scopes.clone(),
            ..ResponseFilter::default()
        };
        let mut after: Option<String> = None;
        loop {
            let page = merged.list_responses(&filter, 500, after.as_deref())?;
            for row in &page.items {
                if row.quarantined {
                    continue;
                }
                let r: SurveyResponse = merged.get(row.id)?;
                f(row.id, &r)?;
                n += 1;
            }
            match page.next {
                Some(t) => after = Some(t),
                None => break,
            }
        }
    }
    Ok(n)
}

fn flatten_instances<'a>(
    repeats: &'a BTreeMap<String, Vec<RepeatInstance>>,
    out: &mut Vec<(&'a str, usize, &'a RepeatInstance)>,
) {
    for (name, list) in repeats {
        for (i, inst) in list.iter().enumerate() {
            out.push((name.as_str(), i + 1, inst));
            flatten_instances(&inst.repeats, out);
        }
    }
}

/// Write the export of `opts` to `out`; returns the number of responses.
pub fn export_responses(
    merged: &Store,
    opts: &ExportOptions,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<usize, ExportError> {
    let plan = plan(merged, opts)?;
    match format {
        ExportFormat::Csv => {
            out.write_all(b"\xEF\xBB\xBF")?;
            let mut w = csv::Writer::from_writer(out);
            w.write_record(plan.header(None))?;
            let n = each_response(merged, &plan, opts, |id, r| {
                let mut row = fixed_row(&opts.form_key, id, r);
                plan.answers_row(&r.answers, None, &mut row);
                w.write_record(&row)?;
                Ok(())
            })?;
            w.flush()?;
            Ok(n)
        }
        ExportFormat::Xlsx => {
            let mut book = rust_xlsxwriter::Workbook::new();
            let repeats = plan.repeats();
            let mut sheets = Vec::new();
            {
                book.add_worksheet_with_constant_memory()?
                    .set_name("responses")?;
                sheets.push(("responses".to_string(), 1u32));
            }
            for r in &repeats {
                // Sheet names are at most 31 characters.
                let name: String = r.chars().take(31).collect();
                book.add_worksheet_with_constant_memory()?.set_name(&name)?;
                sheets.push((r.clone(), 1));
            }
            let write_row = |book: &mut rust_xlsxwriter::Workbook,
                             sheet: usize,
                             row: u32,
                             cells: &[String]|
             -> Result<(), ExportError> {
                let s = book.worksheet_from_index(sheet)?;
                for (c, v) in cells.iter().enumerate() {
                    let c = u16::try_from(c).unwrap_or(u16::MAX);
                    match as_number(v) {
                        Some(n) => s.write_number(row, c, n)?,
                        None => s.write_string(row, c, v)?,
                    };
                }
                Ok(())
            };
            write_row(&mut book, 0, 0, &plan.header(None))?;
            for (i, r) in repeats.iter().enumerate() {
                write_row(&mut book, i + 1, 0, &plan.header(Some(r)))?;
            }
            let n = each_response(merged, &plan, opts, |id, r| {
                let mut row = fixed_row(&opts.form_key, id, r);
                plan.answers_row(&r.answers, None, &mut row);
                let at = sheets[0].1;
                write_row(&mut book, 0, at, &row)?;
                sheets[0].1 += 1;
                let mut flat = Vec::new();
                flatten_instances(&r.repeats, &mut flat);
                for (name, idx, inst) in flat {
                    if let Some(k) = repeats.iter().position(|x| x == name) {
                        let mut row = vec![id.to_string(), idx.to_string(), inst.id.clone()];
                        plan.answers_row(&inst.answers, Some(name), &mut row);
                        let at = sheets[k + 1].1;
                        write_row(&mut book, k + 1, at, &row)?;
                        sheets[k + 1].1 += 1;
                    }
                }
                Ok(())
            })?;
            let bytes = book.save_to_buffer()?;
            out.write_all(&bytes)?;
            Ok(n)
        }
    }
}

/// Export query: the overview filters plus form, labels and language.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExportQuery {
    #[serde(flatten)]
    filters: OverviewQuery,
    #[serde(default)]
    labels: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

fn options_of(q: &ExportQuery, signed: &Signed) -> Option<ExportOptions> {
    let f = q.filters.filter(signed);
    Some(ExportOptions {
        form_key: f.form_key.clone()?,
        scopes: f.scopes,
        region: f.region,
        from: f.from,
        to: f.to,
        labels: q.labels.as_deref().is_some_and(|l| l == "1" || l == "true"),
        language: q.lang.clone().filter(|l| !l.is_empty()),
    })
}

/// A channel writer: what the export writes becomes the HTTP body as it is written.
struct ChannelWriter(tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(buf.to_vec()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn streamed(st: &ConsoleState, opts: ExportOptions, format: ExportFormat) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(16);
    let merged = st.inner.merged.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, ChannelWriter(tx.clone()));
        if let Err(e) = export_responses(&merged, &opts, format, &mut w).and_then(|n| {
            w.flush()?;
            Ok(n)
        }) {
            tracing::error!(error = %e, "export failed");
            let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
        }
    });
    let (ctype, ext) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Xlsx => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    (
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"responses.{ext}\""),
            ),
        ],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response()
}

/// `/export/responses.csv?form=KEY[&labels=1&lang=zh]` plus the overview filters.
pub async fn csv(
    State(st): State<ConsoleState>,
    signed: Signed,
    Query(q): Query<ExportQuery>,
) -> Response {
    match options_of(&q, &signed) {
        Some(o) => streamed(&st, o, ExportFormat::Csv),
        None => (
            StatusCode::BAD_REQUEST,
            "Choose a form to export (form=KEY).",
        )
            .into_response(),
    }
}

/// `/export/responses.xlsx?...`: the same as a workbook, repeats as extra sheets.
pub async fn xlsx(
    State(st): State<ConsoleState>,
    signed: Signed,
    Query(q): Query<ExportQuery>,
) -> Response {
    match options_of(&q, &signed) {
        Some(o) => streamed(&st, o, ExportFormat::Xlsx),
        None => (
            StatusCode::BAD_REQUEST,
            "Choose a form to export (form=KEY).",
        )
            .into_response(),
    }
}

/// JSON API query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApiQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

fn answer_json(a: &Answer) -> Value {
    match a {
        Answer::Text(s)
        | Answer::Choice(s)
        | Answer::Date(s)
        | Answer::Time(s)
        | Answer::DateTime(s) => json!(s),
        Answer::Integer(i) => json!(i),
        Answer::Decimal(d) => json!(d),
        Answer::Score(s) => {
            json!({"value": s.value, "min": s.min, "max": s.max, "dimension": s.dimension.map(|d| d.as_str())})
        }
        Answer::Choices(c) => json!(c),
        Answer::Geo(g) => {
            json!({"lat": g.lat, "lon": g.lon, "altitude_m": g.altitude_m, "accuracy_m": g.accuracy_m})
        }
        Answer::GeoTrace(ps) | Answer::GeoShape(ps) => {
            json!(ps.iter().map(|g| [g.lat, g.lon]).collect::<Vec<_>>())
        }
        Answer::Attachment(r) => {
            json!({"sha256": r.sha256, "size": r.size, "media_type": r.media_type, "name": r.name})
        }
        Answer::Acknowledged(b) => json!(b),
    }
}

fn instances_json(repeats: &BTreeMap<String, Vec<RepeatInstance>>) -> Value {
    let mut m = serde_json::Map::new();
    for (k, list) in repeats {
        m.insert(
            k.clone(),
            Value::Array(
                list.iter()
                    .map(|i| {
                        json!({
                            "id": i.id,
                            "answers": i.answers.iter().map(|(k, a)| (k.clone(), answer_json(a))).collect::<serde_json::Map<_, _>>(),
                            "repeats": instances_json(&i.repeats),
                        })
                    })
                    .collect(),
            ),
        );
    }
    Value::Object(m)
}

/// `/api/v1/responses`: the reader's responses, newest first, paginated (`next`).
pub async fn api_responses(
    State(st): State<ConsoleState>,
    signed: Signed,
    Query(q): Query<ApiQuery>,
) -> Response {
    let merged = st.inner.merged.clone();
    let scopes = signed.readable.clone();
    let got = blocking(move || {
        let filter = ResponseFilter {
            scopes,
            region: q.region.clone().filter(|r| !r.is_empty()),
            status: q.status.as_deref().and_then(|s| {
                [
                    fieldsync_core::model::ResponseStatus::Draft,
                    fieldsync_core::model::ResponseStatus::Complete,
                    fieldsync_core::model::ResponseStatus::Approved,
                    fieldsync_core::model::ResponseStatus::Rejected,
                    fieldsync_core::model::ResponseStatus::NeedsFollowUp,
                ]
                .into_iter()
                .find(|x| x.as_str() == s)
            }),
            ..ResponseFilter::default()
        };
        let page = merged
            .list_responses(&filter, q.limit.unwrap_or(100).clamp(1, 500), q.after.as_deref())
            .map_err(|e| e.to_string())?;
        let mut items = Vec::with_capacity(page.items.len());
        for row in &page.items {
            if row.quarantined {
                continue;
            }
            let r: SurveyResponse = merged.get(row.id).map_err(|e| e.to_string())?;
            items.push(json!({
                "id": row.id.to_string(),
                "form_id": r.form_id,
                "form_version": r.form_version,
                "status": r.status.as_str(),
                "region": r.region,
                "segment": r.respondent.segment.kind.as_str(),
                "value_tier": r.respondent.segment.value_tier.map(|t| t.as_str()),
                "core": r.respondent.segment.core,
                "enumerator": r.enumerator,
                "started_at": r.started_at,
                "completed_at": r.completed_at,
                "overall": r.overall(),
                "band": r.band().map(|b| b.as_str()),
                "answers": r.answers.iter().map(|(k, a)| (k.clone(), answer_json(a))).collect::<serde_json::Map<_, _>>(),
                "repeats": instances_json(&r.repeats),
                "review": r.review.iter().map(|e| json!({"decision": e.decision.map(|d| d.as_str()), "comment": e.comment, "by": e.by, "at": e.at})).collect::<Vec<_>>(),
            }));
        }
        Ok(json!({"items": items, "next": page.next}))
    })
    .await;
    match got {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => r,
    }
}

fn bands_json(b: &analytics::BandFigures) -> Value {
    json!({"n": b.n, "high": b.high, "middle": b.middle, "low": b.low,
           "high_pct": b.high_pct(), "middle_pct": b.middle_pct(), "low_pct": b.low_pct(), "mean": b.mean})
}

/// `/api/v1/overview`: the overview's figures as JSON (same filters).
pub async fn api_overview(
    State(st): State<ConsoleState>,
    signed: Signed,
    Query(q): Query<OverviewQuery>,
) -> Response {
    let filter = q.filter(&signed);
    let merged = st.inner.merged.clone();
    let got = blocking(move || {
        let s = analytics::satisfaction(&merged, &filter).map_err(|e| e.to_string())?;
        Ok(json!({
            "overall": bands_json(&s.overall),
            "by_dimension": s.by_dimension.iter().map(|(d, b)| json!({"dimension": d.as_str(), "figures": bands_json(b)})).collect::<Vec<_>>(),
            "by_segment": s.by_segment.iter().map(|(k, b)| json!({"segment": k.as_str(), "figures": bands_json(b)})).collect::<Vec<_>>(),
            "by_core": s.by_core.iter().map(|(k, b)| json!({"core": k, "figures": bands_json(b)})).collect::<Vec<_>>(),
            "by_value_tier": s.by_value_tier.iter().map(|(k, b)| json!({"value_tier": k.map(|t| t.as_str()), "figures": bands_json(b)})).collect::<Vec<_>>(),
        }))
    })
    .await;
    match got {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => r,
    }
}

/// Export straight from the change log (the `fieldsync export` command): the log is
/// merged into a temporary in-memory store first, so the command never opens the
/// running server's merged view.
pub fn export_from_log(
    storage: &dyn crate::storage::Storage,
    tenant: &str,
    opts: &ExportOptions,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<usize, Box<dyn std::error::Error>> {
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
        .map_err(|_| "no randomness")?;
    let store = Store::open_in_memory(
        &key,
        fieldsync_core::store::StoreOptions::new("export", "export"),
    )?;
    loop {
        let n = crate::materialize::catch_up_tenant(storage, &store, tenant, 5000)?;
        if n == 0 {
            break;
        }
    }
    Ok(export_responses(&store, opts, format, out)?)
}
