//! Suite `store` (issue 2): the device store on real SQLite files.
//!
//! - durable create of a 24-answer survey response beside the same record as JSON in a
//!   plain SQLite table (WAL, `synchronous=FULL`), interleaved so noise hits both;
//! - the cost of durability: create through the store with `FULL` vs `NORMAL`, and
//!   the store with `NORMAL` beside JSON with `NORMAL` (the store's own work, no fsync);
//! - a 2-answer edit (`Store::update`) beside rewriting the JSON row;
//! - a page of 50 responses filtered by region and band out of 100,000, and the page
//!   after it (keyset token);
//! - Rust heap held per open document, and by a list of 10,000 rows — listing loads no
//!   document.
//!
//! Every file lives in one temporary directory under the system temp dir (`/tmp`).
//! `FIELDSYNC_BENCH_N` shrinks the 100,000-response population for a quick run;
//! `FIELDSYNC_BENCH_CREATES` sets the creates per variant (default 500);
//! `FIELDSYNC_BENCH_KEEP=1` keeps the files for inspection.

use std::path::Path;
use std::time::{Duration, Instant};

use fieldsync_core::model::{Answer, Band, Form, Response, ReviewEntry};
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::{Durability, ResponseFilter, ResponseRow, Store, StoreOptions};
use fieldsync_core::{DocId, Kind, Scope};
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::{Map, Value, json};

use crate::BenchResult;
use crate::alloc::live_bytes;
use crate::report::{Goal, Reporter, Samples, env_usize, timed};

const KEY: [u8; 32] = [7u8; 32];
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
/// Iterations run before measuring (caches, prepared statements, WAL growth).
const WARMUP: usize = 30;
/// Page size of the list figures.
const PAGE: usize = 50;
/// The list-heap figure holds this many rows.
const LIST_HELD: usize = 10_000;
/// Page queries measured per filter: at least this many...
const MIN_QUERIES: usize = 100;
/// ...and more (up to `Config::queries`) while within this time.
const QUERY_BUDGET: Duration = Duration::from_secs(4);

struct Config {
    /// Responses in the list store.
    population: usize,
    /// Measured creates per variant (store and JSON, each FULL and NORMAL).
    creates: usize,
    /// Measured page queries per page.
    queries: usize,
    /// Documents loaded for the heap-per-document figure.
    heap_docs: usize,
}

impl Config {
    fn from_env() -> Self {
        let population = env_usize("FIELDSYNC_BENCH_N", 100_000);
        Config {
            population,
            creates: env_usize("FIELDSYNC_BENCH_CREATES", 500),
            queries: 300,
            heap_docs: 1_000.min(population / 2).max(1),
        }
    }
}

pub fn run() -> BenchResult<()> {
    let cfg = Config::from_env();
    let dir = tempfile::Builder::new()
        .prefix("fieldsync-bench-store-")
        .tempdir_in(std::env::temp_dir())?;
    eprintln!(
        "store: files in {} (population {}, {} creates per variant)",
        dir.path().display(),
        cfg.population,
        cfg.creates
    );
    let r = Reporter::new("store");
    create_and_edit(&r, dir.path(), &cfg)?;
    lists_and_heap(&r, dir.path(), &cfg)?;
    if std::env::var_os("FIELDSYNC_BENCH_KEEP").is_some() {
        eprintln!("store: kept {}", dir.keep().display());
    }
    Ok(())
}

fn options(durability: Durability, cache_capacity: usize) -> StoreOptions {
    let mut o = StoreOptions::new("bench-device", "bench-user");
    o.durability = durability;
    o.cache_capacity = cache_capacity;
    o
}

fn scope_of(region: &str) -> BenchResult<Scope> {
    let team = region.split('/').next().unwrap_or("north");
    Ok(Scope::new(format!("team:{team}"))?)
}

// ----- create and edit ----------------------------------------------------------------

fn create_and_edit(r: &Reporter, dir: &Path, cfg: &Config) -> BenchResult<()> {
    let n = WARMUP + cfg.creates;
    let full = Store::open(
        dir.join("create-full.db"),
        &KEY,
        options(Durability::Full, n + 64),
    )?;
    let normal = Store::open(
        dir.join("create-normal.db"),
        &KEY,
        options(Durability::Normal, n + 64),
    )?;
    let mut json = JsonTable::open(&dir.join("json-full.db"), "FULL")?;
    let mut json_normal = JsonTable::open(&dir.join("json-normal.db"), "NORMAL")?;
    let form = sample::telecom_form(1);
    let form_scope = Scope::new("team:north")?;
    let form_full = full.create(&form_scope, &form)?;
    let form_normal = normal.create(&form_scope, &form)?;

    eprintln!(
        "store: {n} creates each of store FULL, JSON FULL, store NORMAL, JSON NORMAL, interleaved"
    );
    let mut rng = Rng::new(0x5EED_0001);
    // Store FULL, JSON FULL, store NORMAL, JSON NORMAL.
    let mut s: [Samples; 4] = std::array::from_fn(|_| Samples::with_capacity(n));
    let mut edited: Vec<(DocId, DocId, Response)> = Vec::with_capacity(n);
    for i in 0..n {
        let region = sample::region(&mut rng);
        let scope = scope_of(&region)?;
        let at = T0 + i64::try_from(i)? * 60_000;
        let resp = sample::telecom_response(&mut rng, form_full, &form, &region, "alice", at);
        let mut resp_normal = resp.clone();
        resp_normal.form_id = form_normal.to_string();
        let (mut store_id, mut json_id) = (None, None);
        // Rotate the order so no variant always runs first (or right after an fsync).
        for k in 0..4 {
            let v = (i + k) % 4;
            let d = match v {
                0 => {
                    let (id, d) = timed(|| full.create(&scope, &resp));
                    store_id = Some(id?);
                    d
                }
                1 => {
                    let (id, d) = timed(|| json.insert(&resp));
                    json_id = Some(id?);
                    d
                }
                2 => {
                    let (id, d) = timed(|| normal.create(&scope, &resp_normal));
                    id?;
                    d
                }
                _ => {
                    let (id, d) = timed(|| json_normal.insert(&resp_normal));
                    id?;
                    d
                }
            };
            if i >= WARMUP {
                s[v].push(d);
            }
        }
        if let (Some(s), Some(j)) = (store_id, json_id) {
            edited.push((s, j, resp));
        }
    }
    let [s_full, s_json, s_normal, s_json_normal] = &s;
    r.emit(
        "create_p50_full",
        s_full.p50(),
        "ms",
        Some(s_json.p50()),
        Goal::None,
    );
    r.emit(
        "create_p99_full",
        s_full.p99(),
        "ms",
        Some(s_json.p99()),
        Goal::None,
    );
    r.emit(
        "create_p50_ratio_vs_json",
        s_full.p50() / s_json.p50(),
        "x",
        None,
        Goal::Text("<= 1.5x"),
    );
    r.emit(
        "create_p50_full_vs_normal",
        s_full.p50(),
        "ms",
        Some(s_normal.p50()),
        Goal::None,
    );
    // Without the fsync: what the store itself adds (validation, Automerge, sealing,
    // projection rows) beside serialising JSON and one INSERT.
    r.emit(
        "create_p50_normal",
        s_normal.p50(),
        "ms",
        Some(s_json_normal.p50()),
        Goal::None,
    );
    eprintln!(
        "store: create mean ms: store FULL {:.3}, JSON FULL {:.3}, store NORMAL {:.3}, JSON NORMAL {:.3}",
        s_full.mean(),
        s_json.mean(),
        s_normal.mean(),
        s_json_normal.mean()
    );

    // Edits: two answers of a document the user has open (cached), each document once,
    // beside rewriting its JSON row; alternating which goes first.
    eprintln!(
        "store: {} edits of two answers, store FULL / JSON FULL",
        edited.len()
    );
    let (mut e_store, mut e_json) = (Samples::with_capacity(n), Samples::with_capacity(n));
    for (i, (sid, jid, resp)) in edited.iter_mut().enumerate() {
        for k in 0..2 {
            if (i + k) % 2 == 0 {
                let (changed, d) = timed(|| {
                    full.update::<Response>(*sid, |v| {
                        edit_two_answers(v, &form);
                        Ok(())
                    })
                });
                if !changed? {
                    return Err("an edit changed nothing".into());
                }
                if i >= WARMUP {
                    e_store.push(d);
                }
            } else {
                let (res, d) = timed(|| {
                    edit_two_answers(resp, &form);
                    json.update(*jid, resp)
                });
                res?;
                if i >= WARMUP {
                    e_json.push(d);
                }
            }
        }
    }
    r.emit(
        "edit_p50_full",
        e_store.p50(),
        "ms",
        Some(e_json.p50()),
        Goal::None,
    );
    r.emit(
        "edit_p99_full",
        e_store.p99(),
        "ms",
        Some(e_json.p99()),
        Goal::None,
    );
    full.close();
    normal.close();
    Ok(())
}

/// Change the overall score and the main issue (a different value for each).
pub(crate) fn edit_two_answers(r: &mut Response, form: &Form) {
    if let (Some(Answer::Score(s)), Some(q)) = (r.answers.get("overall"), form.question("overall"))
    {
        let next = s.value % 10 + 1;
        r.answers
            .insert("overall".into(), Answer::Score(q.score(next)));
    }
    if let (Some(Answer::Choice(c)), Some(q)) =
        (r.answers.get("main_issue"), form.question("main_issue"))
        && !q.choices.is_empty()
    {
        let at = q.choices.iter().position(|x| &x.value == c).unwrap_or(0);
        let next = q.choices[(at + 1) % q.choices.len()].value.clone();
        r.answers.insert("main_issue".into(), Answer::Choice(next));
    }
}

/// The baseline: the same record as one JSON object in a plain SQLite table, with the
/// store's durability (WAL, one immediate transaction per write).
struct JsonTable {
    conn: Connection,
}

impl JsonTable {
    fn open(path: &Path, synchronous: &str) -> BenchResult<Self> {
        let conn = Connection::open(path)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("baseline journal mode {mode}").into());
        }
        conn.pragma_update(None, "synchronous", synchronous)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS responses (id BLOB PRIMARY KEY, body TEXT NOT NULL)",
        )?;
        Ok(JsonTable { conn })
    }

    fn insert(&mut self, r: &Response) -> BenchResult<DocId> {
        let id = DocId::random()?;
        let body = serde_json::to_string(&response_json(r))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("INSERT INTO responses (id, body) VALUES (?1, ?2)")?
            .execute(params![&id.as_bytes()[..], body])?;
        tx.commit()?;
        Ok(id)
    }

    fn update(&mut self, id: DocId, r: &Response) -> BenchResult<()> {
        let body = serde_json::to_string(&response_json(r))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx
            .prepare_cached("UPDATE responses SET body = ?2 WHERE id = ?1")?
            .execute(params![&id.as_bytes()[..], body])?;
        tx.commit()?;
        if n == 1 {
            Ok(())
        } else {
            Err("baseline row missing".into())
        }
    }
}

/// Everything a response holds, as JSON: answers, GPS, note, respondent, review trail.
fn response_json(r: &Response) -> Value {
    let answers: Map<String, Value> = r
        .answers
        .iter()
        .map(|(k, a)| (k.clone(), answer_json(a)))
        .collect();
    let review: Vec<Value> = r.review.iter().map(review_json).collect();
    let follow_ups: Vec<Value> = r
        .follow_ups
        .iter()
        .map(|f| {
            json!({
                "id": f.id, "by": f.by, "at": f.at, "channel": f.channel, "score": f.score,
                "outcome": f.outcome, "explain_only": f.explain_only,
            })
        })
        .collect();
    json!({
        "form_id": r.form_id,
        "form_version": r.form_version,
        "status": r.status.as_str(),
        "respondent": {
            "name": r.respondent.name,
            "phone": r.respondent.phone,
            "customer_id": r.respondent.customer_id,
            "segment": r.respondent.segment,
        },
        "region": r.region,
        "answers": answers,
        "location": r.location,
        "started_at": r.started_at,
        "completed_at": r.completed_at,
        "enumerator": r.enumerator,
        "note": r.note.as_str(),
        "review": review,
        "follow_ups": follow_ups,
    })
}

fn answer_json(a: &Answer) -> Value {
    match a {
        Answer::Text(s) => json!({ "text": s }),
        Answer::Integer(i) => json!({ "integer": i }),
        Answer::Decimal(d) => json!({ "decimal": d }),
        Answer::Score(s) => json!({ "score": s }),
        Answer::Choice(c) => json!({ "choice": c }),
        Answer::Choices(cs) => json!({ "choices": cs }),
        Answer::Date(d) => json!({ "date": d }),
        Answer::Geo(g) => json!({ "geo": g }),
        Answer::Time(t) => json!({ "time": t }),
        Answer::DateTime(t) => json!({ "date_time": t }),
        Answer::GeoTrace(ps) => json!({ "geotrace": ps }),
        Answer::GeoShape(ps) => json!({ "geoshape": ps }),
        Answer::Attachment(a) => json!({ "attachment": a }),
        Answer::Acknowledged(b) => json!({ "acknowledged": b }),
    }
}

fn review_json(e: &ReviewEntry) -> Value {
    json!({
        "id": e.id, "decision": e.decision.map(|d| d.as_str()), "comment": e.comment,
        "by": e.by, "at": e.at,
    })
}

// ----- lists and heap -----------------------------------------------------------------

fn lists_and_heap(r: &Reporter, dir: &Path, cfg: &Config) -> BenchResult<()> {
    let path = dir.join("list.db");
    populate(&path, cfg.population)?;
    let store = Store::open(&path, &KEY, options(Durability::Full, cfg.heap_docs + 64))?;

    heap_per_document(r, &store, cfg)?;

    let cached_before = store.cached_documents();
    let filter = ResponseFilter {
        region: Some("north/county-2".into()),
        band: Some(Band::Middle),
        ..ResponseFilter::default()
    };
    let matched = count_matching(&store, &filter)?;
    eprintln!(
        "store: filter region=north/county-2 band=middle matches {matched} of {}",
        cfg.population
    );
    r.emit(
        "list_population",
        cfg.population as f64,
        "rows",
        None,
        Goal::None,
    );
    r.emit(
        "list_filter_matched_rows",
        matched as f64,
        "rows",
        None,
        Goal::None,
    );
    let (p1, p2) = page_latencies(&store, &filter, cfg.queries)?;
    r.emit("list_page1_p50", p1.p50(), "ms", None, Goal::AtMost(5.0));
    r.emit("list_page1_p99", p1.p99(), "ms", None, Goal::None);
    r.emit("list_page2_p50", p2.p50(), "ms", None, Goal::AtMost(5.0));

    // A narrower filter: one district (an equality on the index's leading column).
    let district = ResponseFilter {
        region: Some("north/county-2/district-3".into()),
        band: Some(Band::Middle),
        ..ResponseFilter::default()
    };
    let matched_d = count_matching(&store, &district)?;
    eprintln!("store: filter region=north/county-2/district-3 band=middle matches {matched_d}");
    let (d1, _) = page_latencies(&store, &district, cfg.queries)?;
    r.emit(
        "list_page1_district_p50",
        d1.p50(),
        "ms",
        None,
        Goal::AtMost(5.0),
    );

    let held = list_heap(r, &store)?;
    let cached_after = store.cached_documents();
    eprintln!(
        "store: cached documents before lists {cached_before}, after {cached_after} ({held} rows held)"
    );
    r.emit(
        "list_documents_loaded",
        cached_after as f64 - cached_before as f64,
        "documents",
        None,
        Goal::AtMost(0.0),
    );
    store.close();
    Ok(())
}

/// Fill a store with `n` responses through the public API (NORMAL durability: a
/// redoable bulk load), two writer threads so Automerge work overlaps the SQL.
fn populate(path: &Path, n: usize) -> BenchResult<()> {
    let store = Store::open(path, &KEY, options(Durability::Normal, 256))?;
    // Two writer threads: validation and Automerge work (most of a create) overlap, and
    // SQLite commits are serialised by the store's writer lock anyway. Each thread's
    // responses answer their own version of the survey (two published versions, as in
    // the field): validation hydrates the form under its document's lock, so one shared
    // form would serialise the threads there.
    let threads = 2usize;
    let mut forms = Vec::with_capacity(threads);
    for v in 1..=threads {
        let form = sample::telecom_form(i64::try_from(v)?);
        let id = store.create(&Scope::new("team:north")?, &form)?;
        forms.push((id, form));
    }
    let t = Instant::now();
    eprintln!("store: populating {n} responses through Store::create ({threads} threads, NORMAL)");
    let enumerators: Vec<String> = (1..=24).map(|i| format!("enum-{i:02}")).collect();
    std::thread::scope(|sc| -> BenchResult<()> {
        let mut handles = Vec::new();
        for (th, (form_id, form)) in forms.iter().enumerate() {
            let (store, form_id, enumerators) = (store.clone(), *form_id, &enumerators);
            handles.push(sc.spawn(move || -> BenchResult<()> {
                let mut rng = Rng::new(0xF1E1_D000 + th as u64);
                let mut i = th;
                while i < n {
                    let region = sample::region(&mut rng);
                    let at = T0 + i64::try_from(i)? * 30_000 + rng.range(0, 29_999);
                    let who = rng.pick(enumerators);
                    let resp = sample::telecom_response(&mut rng, form_id, form, &region, who, at);
                    store.create(&scope_of(&region)?, &resp)?;
                    if th == 0 && i % 20_000 == 0 && i > 0 {
                        eprintln!("store:   {i} ({:.1} s)", t.elapsed().as_secs_f64());
                    }
                    i += threads;
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join().map_err(|_| "populate thread panicked")??;
        }
        Ok(())
    })?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "store: populated {n} responses in {secs:.1} s ({:.0} creates/s, {:.3} ms each)",
        n as f64 / secs,
        secs * 1e3 / n as f64
    );
    store.close();
    Ok(())
}

fn count_matching(store: &Store, filter: &ResponseFilter) -> BenchResult<usize> {
    let mut n = 0;
    let mut next: Option<String> = None;
    loop {
        let page = store.list_responses(filter, 500, next.as_deref())?;
        n += page.items.len();
        match page.next {
            Some(t) => next = Some(t),
            None => return Ok(n),
        }
    }
}

/// Latency of the first page and of the page after it, alternating.
fn page_latencies(
    store: &Store,
    filter: &ResponseFilter,
    queries: usize,
) -> BenchResult<(Samples, Samples)> {
    let first = store.list_responses(filter, PAGE, None)?;
    let token = first.next.clone();
    for _ in 0..10 {
        store.list_responses(filter, PAGE, None)?;
        store.list_responses(filter, PAGE, token.as_deref())?;
    }
    let (mut p1, mut p2) = (
        Samples::with_capacity(queries),
        Samples::with_capacity(queries),
    );
    // Up to `queries` of each, but no more than a few seconds when pages are slow.
    let t = Instant::now();
    for i in 0..queries {
        if i >= MIN_QUERIES && t.elapsed() > QUERY_BUDGET {
            break;
        }
        for k in 0..2 {
            if (i + k) % 2 == 0 {
                let (page, d) = timed(|| store.list_responses(filter, PAGE, None));
                if page?.items.len() != first.items.len() {
                    return Err("page 1 changed size".into());
                }
                p1.push(d);
            } else if token.is_some() {
                let (page, d) = timed(|| store.list_responses(filter, PAGE, token.as_deref()));
                page?;
                p2.push(d);
            }
        }
    }
    Ok((p1, p2))
}

/// Rust heap held per loaded document: `Store::get` on K distinct responses that stay
/// in the store's cache.
fn heap_per_document(r: &Reporter, store: &Store, cfg: &Config) -> BenchResult<()> {
    let ids = store.ids(Some(Kind::Response))?;
    if ids.len() < 2 {
        return Err("no responses to load".into());
    }
    let k = cfg.heap_docs.min(ids.len() - 1);
    let step = (ids.len() - 1) / k;
    let chosen: Vec<DocId> = (0..k).map(|i| ids[1 + i * step]).collect();
    drop(ids);
    // Warm the read path (statements, reader connection) on a document not measured.
    let warm: Response = store.get(chosen[0])?;
    drop(warm);
    let mut lat = Samples::with_capacity(k);
    let cached0 = store.cached_documents();
    let live0 = live_bytes();
    for id in &chosen[1..] {
        let (v, d) = timed(|| store.get::<Response>(*id));
        drop(v?);
        lat.push(d);
    }
    let live1 = live_bytes();
    let loaded = store.cached_documents() - cached0;
    let per_doc = live1.saturating_sub(live0) as f64 / loaded.max(1) as f64;
    eprintln!(
        "store: {loaded} documents loaded, heap {} -> {} bytes",
        live0, live1
    );
    r.emit("get_cold_p50", lat.p50(), "ms", None, Goal::None);
    r.emit(
        "heap_per_open_document",
        per_doc.round(),
        "bytes",
        None,
        Goal::None,
    );
    Ok(())
}

/// Rust heap held by a list of 10,000 response rows, fetched in pages of 500.
fn list_heap(r: &Reporter, store: &Store) -> BenchResult<usize> {
    let all = ResponseFilter::default();
    // Warm the statement for the unfiltered list.
    store.list_responses(&all, 500, None)?;
    let live0 = live_bytes();
    let mut rows: Vec<ResponseRow> = Vec::with_capacity(LIST_HELD);
    let mut next: Option<String> = None;
    while rows.len() < LIST_HELD {
        let page = store.list_responses(&all, 500.min(LIST_HELD - rows.len()), next.as_deref())?;
        rows.extend(page.items);
        match page.next {
            Some(t) => next = Some(t),
            None => break,
        }
    }
    drop(next);
    let live1 = live_bytes();
    let bytes = live1.saturating_sub(live0) as f64;
    let held = rows.len();
    r.emit("list_10k_heap", bytes, "bytes", None, Goal::None);
    r.emit(
        "list_heap_per_row",
        (bytes / held.max(1) as f64).round(),
        "bytes",
        None,
        Goal::None,
    );
    drop(rows);
    Ok(held)
}
