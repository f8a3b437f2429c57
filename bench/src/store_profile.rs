//! Suite `store-profile`: where the time of one durable create (and one edit) goes.
//!
//! Re-runs, step by step and from outside the store, what `Store::create` and
//! `Store::update` do for a survey response (see docs/architecture.md, "The path of
//! one write"), each step timed on its own, interleaved with real `Store::create` and
//! `Store::update` calls on a file store so the sum can be checked against the whole:
//!
//! - `form_lookup`: validation looks the compiled form up (`Store::compiled_form`,
//!   cached per published version);
//! - `validate`: the domain rules and the forms engine's checks, given that form;
//! - `reconcile_new` / `commit`: autosurgeon into a fresh Automerge doc, one change;
//! - `last_change_heads`: `get_last_local_change` + `get_heads`;
//! - `conflicts_walk`: `doc::conflicts` (the store counts conflicts on every write);
//! - `seal`: AES-GCM of the change bytes and of the JSON summary (ring);
//! - `sql_full` / `sql_normal`: the same statements in one transaction on a database
//!   with the store's schema (documents, changes, responses, region prefixes, 14 score
//!   rows), committed
//!   with `synchronous=FULL` / `NORMAL`;
//! - edit: `kept_value_edit` (the store starts from the value it last wrote: a heads
//!   check and a copy), `reconcile_edit` (only the changed fields), `commit`, then the
//!   same conflicts walk, sealing and SQL; beside them, not in the sum,
//!   `hydrate_response` (the `before` copy when no value is kept) and
//!   `reconcile_edit_full` (reconciling the whole value, as with conflicts).
//!
//! Figures are p50 in ms, printed with suite `store-profile`.

use std::path::Path;

use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit};
use autosurgeon::{hydrate, reconcile};
use fieldsync_core::crypto::{Sealer, row_aad};
use std::sync::Arc;

use fieldsync_core::forms::CompiledForm;
use fieldsync_core::model::{Form, Record, RecordContext, Response};
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::{Durability, Store, StoreOptions, schema};
use fieldsync_core::{DocId, Kind, Scope, Timestamp};
use rusqlite::{Connection, TransactionBehavior, params};

use crate::BenchResult;
use crate::alloc::live_bytes;
use crate::report::{Goal, Reporter, Samples, env_usize, timed};

const KEY: [u8; 32] = [9u8; 32];
const T0: i64 = 1_767_225_600_000;
const WARMUP: usize = 20;

/// Hands validation the compiled form the store caches, so `validate` is timed
/// without the lookup.
struct FixedForm<'a>(&'a Arc<CompiledForm>, Timestamp);

impl RecordContext for FixedForm<'_> {
    fn form(&self, _id: &DocId) -> fieldsync_core::Result<Form> {
        Ok(self.0.form().clone())
    }
    fn compiled_form(&self, _id: &DocId) -> fieldsync_core::Result<Arc<CompiledForm>> {
        Ok(self.0.clone())
    }
    fn now(&self) -> Timestamp {
        self.1
    }
}

#[derive(Default)]
struct Steps {
    names: Vec<&'static str>,
    samples: Vec<Samples>,
}

impl Steps {
    fn add(&mut self, name: &'static str, d: std::time::Duration, record: bool) {
        if !record {
            return;
        }
        match self.names.iter().position(|n| *n == name) {
            Some(i) => self.samples[i].push(d),
            None => {
                self.names.push(name);
                let mut s = Samples::default();
                s.push(d);
                self.samples.push(s);
            }
        }
    }

    fn p50(&self, name: &str) -> f64 {
        self.names
            .iter()
            .position(|n| *n == name)
            .map_or(f64::NAN, |i| self.samples[i].p50())
    }
}

pub fn run() -> BenchResult<()> {
    let n = env_usize("FIELDSYNC_BENCH_CREATES", 300);
    let dir = tempfile::Builder::new()
        .prefix("fieldsync-bench-profile-")
        .tempdir_in(std::env::temp_dir())?;
    let r = Reporter::new("store-profile");
    let mut opts = StoreOptions::new("bench-device", "bench-user");
    opts.cache_capacity = n + WARMUP + 64;
    let store = Store::open(dir.path().join("store.db"), &KEY, opts)?;
    let mut full = SqlPath::open(&dir.path().join("sql-full.db"), Durability::Full)?;
    let mut normal = SqlPath::open(&dir.path().join("sql-normal.db"), Durability::Normal)?;
    let scope = Scope::new("team:north")?;
    let form = sample::telecom_form(1);
    let form_id = store.create(&scope, &form)?;
    let actor = ActorId::random();
    let mut rng = Rng::new(0xB0B);
    let mut steps = Steps::default();
    let mut ids = Vec::new();
    eprintln!("store-profile: {n} creates, then {n} edits");

    for i in 0..WARMUP + n {
        let rec = i >= WARMUP;
        let now = T0 + i64::try_from(i)? * 60_000;
        let region = sample::region(&mut rng);
        let resp = sample::telecom_response(&mut rng, form_id, &form, &region, "alice", now);

        let (id, d) = timed(|| store.create(&scope, &resp));
        ids.push((id?, resp.clone()));
        steps.add("store_create_full", d, rec);

        let (f, d) = timed(|| store.compiled_form(form_id));
        let f = f?;
        steps.add("form_lookup", d, rec);
        let (v, d) = timed(|| resp.validate(None, &FixedForm(&f, now)));
        v?;
        steps.add("validate", d, rec);

        let (doc, d) = timed(|| -> BenchResult<AutoCommit> {
            let mut doc = AutoCommit::new().with_actor(actor.clone());
            reconcile(&mut doc, &resp)?;
            Ok(doc)
        });
        let mut doc = doc?;
        steps.add("reconcile_new", d, rec);
        persist_steps(
            &mut steps,
            rec,
            &mut doc,
            now,
            &resp,
            &mut full,
            &mut normal,
            true,
        )?;
    }

    for (i, (id, resp)) in ids.iter_mut().enumerate() {
        let rec = i >= WARMUP;
        let now = T0 + 86_400_000 + i64::try_from(i)? * 60_000;
        let (changed, d) = timed(|| {
            store.update::<Response>(*id, |v| {
                crate::store::edit_two_answers(v, &form);
                Ok(())
            })
        });
        if !changed? {
            return Err("an edit changed nothing".into());
        }
        steps.add("store_update_full", d, rec);

        // The same edit, step by step, on a private copy of a document like the store's.
        let mut doc = AutoCommit::new().with_actor(actor.clone());
        reconcile(&mut doc, &*resp)?;
        doc.commit_with(CommitOptions::default().with_time(now));
        let (before, d) = timed(|| hydrate::<_, Response>(&doc));
        let before = before?;
        steps.add("hydrate_response", d, rec);
        // What the store does instead when it kept the value it last wrote: check the
        // heads, and copy it for the closure.
        let (after, d) = timed(|| (doc.get_heads(), before.clone()));
        let mut after = after.1;
        steps.add("kept_value_edit", d, rec);
        crate::store::edit_two_answers(&mut after, &form);
        let (f, d) = timed(|| store.compiled_form(form_id));
        let f = f?;
        steps.add("form_lookup_edit", d, rec);
        let (v, d) = timed(|| after.validate(Some(&before), &FixedForm(&f, now)));
        v?;
        steps.add("validate_edit", d, rec);
        // The whole value (as the store did before, and still does with conflicts), on a
        // copy; then only the changed fields (`Record::reconcile_edit`) on the document.
        let mut copy = doc.fork();
        let (res, d) = timed(|| reconcile(&mut copy, &after));
        res?;
        steps.add("reconcile_edit_full", d, rec);
        drop(copy);
        let (res, d) = timed(|| after.reconcile_edit(&before, &mut doc));
        res?;
        steps.add("reconcile_edit", d, rec);
        persist_steps(
            &mut steps,
            rec,
            &mut doc,
            now,
            &after,
            &mut full,
            &mut normal,
            false,
        )?;
        *resp = after;
    }

    let create_parts = [
        "form_lookup",
        "validate",
        "reconcile_new",
        "commit_new",
        "last_change_heads_new",
        "conflicts_walk_new",
        "seal_new",
        "sql_full_new",
    ];
    let edit_parts = [
        "kept_value_edit",
        "form_lookup_edit",
        "validate_edit",
        "reconcile_edit",
        "commit_edit",
        "last_change_heads_edit",
        "conflicts_walk_edit",
        "seal_edit",
        "sql_full_edit",
    ];
    for (whole, parts) in [
        ("store_create_full", &create_parts[..]),
        ("store_update_full", &edit_parts[..]),
    ] {
        let total = steps.p50(whole);
        r.emit(&format!("{whole}_p50"), total, "ms", None, Goal::None);
        let mut sum = 0.0;
        for p in parts {
            let v = steps.p50(p);
            sum += v;
            r.emit(&format!("{p}_p50"), v, "ms", None, Goal::None);
            eprintln!("  {p:<24} {v:>8.4} ms  {:>5.1}%", 100.0 * v / total);
        }
        eprintln!(
            "  {:<24} {sum:>8.4} ms  vs whole {total:.4} ms",
            "sum of steps"
        );
    }
    for p in [
        "sql_normal_new",
        "sql_normal_edit",
        "hydrate_response",
        "reconcile_edit_full",
    ] {
        r.emit(&format!("{p}_p50"), steps.p50(p), "ms", None, Goal::None);
    }
    store.close();
    doc_memory(&r, &form, form_id)?;
    Ok(())
}

/// Heap held by one response document: built by reconcile (as `create` leaves it in the
/// cache), rebuilt from its change bytes (as a load from disk before compaction does)
/// and loaded from a saved snapshot (after compaction), beside the hydrated `Response`
/// value and the change's size.
fn doc_memory(r: &Reporter, form: &Form, form_id: DocId) -> BenchResult<()> {
    const K: usize = 200;
    let mut rng = Rng::new(0xD0C);
    let resps: Vec<Response> = (0..K)
        .map(|i| {
            let region = sample::region(&mut rng);
            let at = T0 + i as i64 * 60_000;
            sample::telecom_response(&mut rng, form_id, form, &region, "alice", at)
        })
        .collect();
    let live0 = live_bytes();
    let mut built = Vec::with_capacity(K);
    for resp in &resps {
        let mut doc = AutoCommit::new().with_actor(ActorId::random());
        reconcile(&mut doc, resp)?;
        doc.commit_with(CommitOptions::default().with_time(T0));
        built.push(doc);
    }
    let live1 = live_bytes();
    let mut changes = Vec::with_capacity(K);
    for doc in &mut built {
        changes.push(
            doc.get_last_local_change()
                .ok_or("no change")?
                .raw_bytes()
                .to_vec(),
        );
    }
    drop(built);
    let change_bytes = changes.iter().map(Vec::len).sum::<usize>() as f64 / K as f64;
    let live2 = live_bytes();
    let mut loaded = Vec::with_capacity(K);
    for bytes in &changes {
        let mut doc = AutoCommit::new();
        doc.apply_changes([automerge::Change::from_bytes(bytes.clone())?])?;
        loaded.push(doc);
    }
    let live3 = live_bytes();
    // The same documents from a compacted snapshot (`AutoCommit::load` of a save).
    let saved: Vec<Vec<u8>> = loaded.iter_mut().map(AutoCommit::save).collect();
    drop(loaded);
    let live_s0 = live_bytes();
    let mut from_snapshot = Vec::with_capacity(K);
    for bytes in &saved {
        from_snapshot.push(AutoCommit::load(bytes)?);
    }
    let live_s1 = live_bytes();
    drop(from_snapshot);
    // The change bytes handed to `AutoCommit::load` (which takes change chunks too).
    let live_c0 = live_bytes();
    let mut from_chunks = Vec::with_capacity(K);
    for bytes in &changes {
        from_chunks.push(AutoCommit::load(bytes)?);
    }
    let live_c1 = live_bytes();
    drop(from_chunks);
    drop(saved);
    let live4 = live_bytes();
    let values: Vec<Response> = resps.clone();
    let live5 = live_bytes();
    drop(values);
    let per = |a: usize, b: usize| (b.saturating_sub(a) as f64 / K as f64).round();
    r.emit(
        "doc_heap_created",
        per(live0, live1),
        "bytes",
        None,
        Goal::None,
    );
    r.emit(
        "doc_heap_loaded",
        per(live2, live3),
        "bytes",
        None,
        Goal::None,
    );
    r.emit(
        "doc_heap_loaded_snapshot",
        per(live_s0, live_s1),
        "bytes",
        None,
        Goal::None,
    );
    r.emit(
        "doc_heap_loaded_chunks",
        per(live_c0, live_c1),
        "bytes",
        None,
        Goal::None,
    );
    r.emit(
        "response_value_heap",
        per(live4, live5),
        "bytes",
        None,
        Goal::None,
    );
    r.emit(
        "change_bytes",
        change_bytes.round(),
        "bytes",
        None,
        Goal::None,
    );
    Ok(())
}

/// Commit, read back the change, count conflicts, seal and write: the tail of
/// `Store::create` / `Store::update` (`persist_local`).
#[allow(clippy::too_many_arguments)]
fn persist_steps(
    steps: &mut Steps,
    rec: bool,
    doc: &mut AutoCommit,
    now: Timestamp,
    resp: &Response,
    full: &mut SqlPath,
    normal: &mut SqlPath,
    created: bool,
) -> BenchResult<()> {
    let tag = |a: &'static str, b: &'static str| if created { a } else { b };
    let (_, d) = timed(|| doc.commit_with(CommitOptions::default().with_time(now)));
    steps.add(tag("commit_new", "commit_edit"), d, rec);
    let (ch, d) = timed(|| (doc.get_last_local_change(), doc.get_heads()));
    steps.add(
        tag("last_change_heads_new", "last_change_heads_edit"),
        d,
        rec,
    );
    let (change, heads) = ch;
    let change = change.ok_or("no local change")?;
    let (c, d) = timed(|| fieldsync_core::doc::conflicts(&*doc));
    let conflicts = c?.len();
    steps.add(tag("conflicts_walk_new", "conflicts_walk_edit"), d, rec);
    let id = DocId::random()?;
    let (sealed, d) = timed(|| full.seal(id, change.hash().0, change.raw_bytes(), resp));
    let sealed = sealed?;
    steps.add(tag("seal_new", "seal_edit"), d, rec);
    let heads = fieldsync_core::doc::encode_heads(&heads);
    let (res, d) = timed(|| full.write(id, now, &heads, conflicts, &sealed, resp, created));
    res?;
    steps.add(tag("sql_full_new", "sql_full_edit"), d, rec);
    let (res, d) = timed(|| normal.write(id, now, &heads, conflicts, &sealed, resp, created));
    res?;
    steps.add(tag("sql_normal_new", "sql_normal_edit"), d, rec);
    Ok(())
}

struct Sealed {
    hash: [u8; 32],
    change: Vec<u8>,
    summary: Vec<u8>,
}

/// The store's statements for one response write, on a database with its schema.
struct SqlPath {
    conn: Connection,
    sealer: Sealer,
}

impl SqlPath {
    fn open(path: &Path, durability: Durability) -> BenchResult<Self> {
        let mut conn = Connection::open(path)?;
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        schema::migrate(&mut conn)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(SqlPath {
            conn,
            sealer: Sealer::derive(&KEY, &[1u8; 32])?,
        })
    }

    fn seal(&self, id: DocId, hash: [u8; 32], change: &[u8], r: &Response) -> BenchResult<Sealed> {
        let mut binding = id.as_bytes().to_vec();
        binding.push(Kind::Response.code());
        binding.extend_from_slice(b"team:north");
        let change = self
            .sealer
            .seal(&row_aad("change", &binding, &hash), change)?;
        let json = serde_json::to_vec(&serde_json::json!({
            "respondent_name": r.respondent.name,
            "customer_id": r.respondent.customer_id,
        }))?;
        let summary = self
            .sealer
            .seal(&row_aad("responses", id.as_bytes(), b""), &json)?;
        Ok(Sealed {
            hash,
            change,
            summary,
        })
    }

    /// The store's statements for a create, or for an edit (`created` false): always on
    /// a fresh document id (so both write the same rows), an edit adding what the store
    /// does to an existing document (documents update, projection child rows replaced).
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        id: DocId,
        now: Timestamp,
        heads: &[u8],
        conflicts: usize,
        s: &Sealed,
        r: &Response,
        created: bool,
    ) -> BenchResult<()> {
        let idb = &id.as_bytes()[..];
        let conflicts = i64::try_from(conflicts)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(
            "INSERT INTO documents (id, kind, scope, created_at, updated_at, heads, pending, conflicts)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, 1, ?6)",
        )?
        .execute(params![idb, Kind::Response.code(), "team:north", now, heads, conflicts])?;
        tx.prepare_cached(
            "INSERT INTO changes (doc_id, hash, bytes, local, acked) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(doc_id, hash) DO NOTHING",
        )?
        .execute(params![idb, &s.hash[..], s.change, true, false])?;
        if !created {
            tx.prepare_cached(
                "UPDATE documents SET updated_at = ?2, heads = ?3, pending = pending + 1, conflicts = ?4
                 WHERE id = ?1",
            )?
            .execute(params![idb, now, heads, conflicts])?;
        }
        let form_id = r
            .form_id
            .parse::<DocId>()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        let seg = &r.respondent.segment;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO responses (doc_id, form_id, form_version, status, region, segment,
                value_tier, core, overall, band, started_at, completed_at, enumerator, summary,
                customer_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?
        .execute(params![
            idb,
            form_id,
            r.form_version,
            r.status.as_str(),
            r.region,
            seg.kind.as_str(),
            seg.value_tier.map(|v| v.as_str()),
            seg.core,
            r.overall(),
            r.band().map(|b| b.as_str()),
            r.started_at,
            r.completed_at,
            r.enumerator,
            s.summary,
            r.respondent.customer_id
        ])?;
        if !created {
            tx.prepare_cached("DELETE FROM response_regions WHERE doc_id = ?1")?
                .execute([idb])?;
        }
        {
            let mut reg = tx.prepare_cached(
                "INSERT OR IGNORE INTO response_regions (prefix, doc_id, band, started_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let band = r.band().map(|b| b.as_str());
            let mut prefix = String::new();
            for (i, part) in r.region.split('/').enumerate() {
                if i > 0 {
                    prefix.push('/');
                }
                prefix.push_str(part);
                reg.execute(params![prefix, idb, band, r.started_at])?;
            }
        }
        if !created {
            tx.prepare_cached("DELETE FROM response_scores WHERE doc_id = ?1")?
                .execute([idb])?;
        }
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO response_scores (doc_id, question_id, dimension, value, normalized, band)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (qid, sc) in r.scores() {
                ins.execute(params![
                    idb,
                    qid,
                    sc.dimension.map(|d| d.as_str()),
                    sc.value,
                    sc.normalized(),
                    sc.band().as_str()
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
