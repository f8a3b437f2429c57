//! kill -9 at hundreds of points of a write loop, on one store file.
//!
//! The test binary runs itself as a child (`crash_child`, active only when
//! `FIELDSYNC_CRASH_STORE` is set): the child opens the store with `Durability::Full`
//! and loops creating and updating responses, visits and cases, compacting and
//! acknowledging changes now and then. Before each write it prints `TRY`, after the call
//! returned `ACK` with the document id, the value it wrote and the document's change
//! count, flushing every line. The parent kills it with SIGKILL after a swept number of
//! acknowledged writes plus a random sub-millisecond delay (or at a random moment of its
//! start-up), then reopens the same file and checks: `PRAGMA integrity_check` is ok;
//! every acknowledged write is there with the acknowledged value (or, for the one write
//! in flight, the value it was writing); each document's projection rows agree with the
//! document; no change row lacks its document and no document lacks its projection
//! rows or the reverse; every document loads. The file is reused across all kills, so
//! damage would accumulate.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{KEY, all_lists, scope};
use fieldsync_core::model::*;
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::{Durability, Store, StoreOptions};
use fieldsync_core::{DocId, Kind, Result, now_ms};
use rusqlite::OptionalExtension;

const ENV_STORE: &str = "FIELDSYNC_CRASH_STORE";
const ENV_RUN: &str = "FIELDSYNC_CRASH_RUN";
const DEVICE: &str = "crash-device";
const USER: &str = "crash-user";
/// Kills in the main loop.
const KILLS: u64 = 250;
/// Safety cap: a child nobody kills stops after this many writes.
const CHILD_MAX_WRITES: u64 = 2_000;

fn options() -> StoreOptions {
    let mut o = StoreOptions::new(DEVICE, USER);
    o.durability = Durability::Full;
    o.compact_after = 4;
    o.readers = 1;
    o
}

// ----- the child ---------------------------------------------------------------------

/// The writer that gets killed. A no-op unless the parent test started this process.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(ENV_STORE) else {
        return;
    };
    let run: u64 = std::env::var(ENV_RUN)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if let Err(e) = child_loop(Path::new(&path), run) {
        eprintln!("crash child failed: {e:?}");
        std::process::exit(3);
    }
    // Nobody killed us: the parent sees a normal exit and fails.
    std::process::exit(0);
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A write error means the parent is gone: stop.
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(4);
    }
}

fn child_loop(path: &Path, run: u64) -> Result<()> {
    let s = Store::open(path, &KEY, options())?;
    // On a line of its own: the test harness has printed "test crash_child ... ".
    say("\nREADY");
    let mut rng = Rng::new(run.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xC0FFEE);
    let form_id = match s.ids(Some(Kind::Form))?.first() {
        Some(id) => *id,
        None => {
            say("TRY create form - -");
            let id = s.create(&scope("team:north"), &sample::telecom_form(1))?;
            say(&format!("ACK form {id} - 1"));
            id
        }
    };
    let form = s.get::<Form>(form_id)?;
    let mut docs: Vec<(DocId, Kind)> = Vec::new();
    for k in [Kind::Response, Kind::Visit, Kind::Case] {
        docs.extend(s.ids(Some(k))?.into_iter().map(|id| (id, k)));
    }
    let account = DocId::random()?;
    for n in 0..CHILD_MAX_WRITES {
        let marker = format!("r{run}n{n}");
        let step = rng.range(0, 99);
        if step < 8 {
            say("TRY compact - -");
            let rep = s.compact_due(4)?;
            say(&format!("DONE compact {}", rep.documents));
            continue;
        }
        if step < 14 {
            say("TRY ack - -");
            let p = s.pending_changes(0, 40)?;
            let acks: Vec<_> = p.iter().take(25).map(|c| (c.doc_id, c.hash)).collect();
            s.mark_acked(&acks)?;
            say(&format!("DONE ack {}", acks.len()));
            continue;
        }
        if step < 55 || docs.is_empty() {
            let kind = *rng.pick(&[Kind::Response, Kind::Visit, Kind::Case]);
            say(&format!("TRY create - {marker}"));
            let now = now_ms();
            let id = match kind {
                Kind::Response => {
                    let mut r = sample::telecom_response(
                        &mut rng,
                        form_id,
                        &form,
                        "north/c1/d1",
                        USER,
                        now,
                    );
                    r.respondent.name = Some(marker.clone());
                    s.create(&scope("team:north"), &r)?
                }
                Kind::Visit => {
                    let v = sample::visit(account, USER, now, &marker);
                    s.create(&scope("accounts"), &v)?
                }
                _ => {
                    let c = Case::received(
                        marker.clone(),
                        CaseCategory::Network,
                        Severity::High,
                        USER,
                        now,
                        "No signal at the depot.",
                    );
                    s.create(&scope("cases"), &c)?
                }
            };
            docs.push((id, kind));
            say(&format!("ACK {} {id} {marker} 1", kind.as_str()));
            continue;
        }
        let (id, kind) = *rng.pick(&docs);
        say(&format!("TRY update {id} {marker}"));
        let now = now_ms();
        match kind {
            Kind::Response => s.update::<Response>(id, |r| {
                r.respondent.name = Some(marker.clone());
                r.answers
                    .insert("tenure_years".into(), Answer::Integer(now % 20));
                Ok(())
            })?,
            Kind::Visit => s.update::<Visit>(id, |v| {
                v.purpose = marker.clone();
                v.notes.splice(0, 0, format!("{marker}. "));
                Ok(())
            })?,
            _ => s.update::<Case>(id, |c| {
                c.customer_id = marker.clone();
                if c.stage == CaseStage::Received {
                    c.advance(CaseStage::Classified, USER, now);
                }
                Ok(())
            })?,
        };
        let changes = s.changes_since(id, &[])?.len();
        say(&format!("ACK {} {id} {marker} {changes}", kind.as_str()));
    }
    Ok(())
}

// ----- the parent --------------------------------------------------------------------

/// What the parent knows a document must hold.
#[derive(Debug, Clone)]
struct Acked {
    kind: Kind,
    marker: String,
    changes: usize,
}

/// A write that started (TRY) and was not acknowledged before the kill.
#[derive(Debug, Clone, Default)]
struct InFlight {
    op: String,
    id: Option<DocId>,
    marker: String,
}

#[derive(Default)]
struct Ledger {
    acked: BTreeMap<DocId, Acked>,
    form: Option<DocId>,
    /// Ids acknowledged (created or updated) in the current run.
    touched: BTreeSet<DocId>,
    in_flight: Option<InFlight>,
    acks: u64,
}

impl Ledger {
    fn take_line(&mut self, line: &str) {
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            ["TRY", op, id, marker] => {
                self.in_flight = Some(InFlight {
                    op: (*op).to_string(),
                    id: id.parse().ok(),
                    marker: (*marker).to_string(),
                });
            }
            ["DONE", ..] => self.in_flight = None,
            ["ACK", kind, id, marker, changes] => {
                let kind: Kind = kind.parse().expect("kind in ACK");
                let id: DocId = id.parse().expect("id in ACK");
                let changes: usize = changes.parse().expect("change count in ACK");
                if kind == Kind::Form {
                    self.form = Some(id);
                } else {
                    self.acked.insert(
                        id,
                        Acked {
                            kind,
                            marker: (*marker).to_string(),
                            changes,
                        },
                    );
                }
                self.touched.insert(id);
                self.in_flight = None;
                self.acks += 1;
            }
            _ => {} // test-harness chatter, READY
        }
    }
}

/// Spawn the child, kill it per `plan`, and return every complete line it wrote.
fn run_child(path: &Path, run: u64, err_path: &Path, plan: Plan) -> Vec<String> {
    let exe = std::env::current_exe().expect("test binary path");
    let stderr = std::fs::File::create(err_path).expect("stderr file");
    let mut child = Command::new(exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(ENV_STORE, path)
        .env(ENV_RUN, run.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("spawn the crash child");
    let mut out = BufReader::new(child.stdout.take().expect("child stdout"));
    let mut lines = Vec::new();
    let mut buf = String::new();
    match plan {
        Plan::AfterAcks { acks, delay_us } => {
            let mut seen = 0;
            let mut ready = false;
            // Read until the child has acknowledged `acks` writes (or just started).
            while !(ready && seen >= acks) {
                buf.clear();
                if out.read_line(&mut buf).expect("read child stdout") == 0 {
                    break; // the child died by itself: reported below
                }
                let line = buf.trim_end_matches('\n').to_string();
                ready |= line == "READY";
                seen += u64::from(line.starts_with("ACK "));
                lines.push(line);
            }
            std::thread::sleep(Duration::from_micros(delay_us));
        }
        Plan::AfterDelay { delay_us } => std::thread::sleep(Duration::from_micros(delay_us)),
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    loop {
        buf.clear();
        if out.read_line(&mut buf).expect("read child stdout") == 0 {
            break;
        }
        // A line cut short by the kill was never fully printed: not acknowledged.
        if let Some(line) = buf.strip_suffix('\n') {
            lines.push(line.to_string());
        }
    }
    if status.signal() != Some(9) {
        let err = std::fs::read_to_string(err_path).unwrap_or_default();
        panic!("run {run}: the child was not killed but exited with {status}: {err}");
    }
    lines
}

#[derive(Debug, Clone, Copy)]
enum Plan {
    AfterAcks { acks: u64, delay_us: u64 },
    AfterDelay { delay_us: u64 },
}

/// The marker a document shows: from its projection row (lists) and from the document.
fn marker_of(s: &Store, id: DocId, kind: Kind) -> Result<String> {
    Ok(match kind {
        Kind::Response => s.get::<Response>(id)?.respondent.name.unwrap_or_default(),
        Kind::Visit => s.get::<Visit>(id)?.purpose,
        Kind::Case => s.get::<Case>(id)?.customer_id,
        other => panic!("unexpected kind {other}"),
    })
}

fn projected_markers(s: &Store) -> Result<BTreeMap<DocId, (Kind, String)>> {
    let l = all_lists(s)?;
    let mut m = BTreeMap::new();
    for r in l.responses {
        assert!(!r.quarantined);
        m.insert(
            r.id,
            (Kind::Response, r.respondent_name.unwrap_or_default()),
        );
    }
    for v in l.visits {
        m.insert(v.id, (Kind::Visit, v.purpose));
    }
    for c in l.cases {
        m.insert(c.id, (Kind::Case, c.customer_id));
    }
    Ok(m)
}

/// Values a document may show: the acknowledged one, or the one in flight at the kill.
fn allowed(ledger: &Ledger, id: DocId) -> Vec<(String, usize)> {
    let mut v = Vec::new();
    if let Some(a) = ledger.acked.get(&id) {
        v.push((a.marker.clone(), a.changes));
        if let Some(f) = &ledger.in_flight
            && f.op == "update"
            && f.id == Some(id)
        {
            v.push((f.marker.clone(), a.changes + 1));
        }
    }
    v
}

/// A document's stored rows in brief: updated_at, pending, snapshot length, heads,
/// change rows, acknowledged change rows.
type Fingerprint = (i64, i64, Option<i64>, Vec<u8>, i64, i64);

fn fingerprints(path: &Path) -> BTreeMap<DocId, Fingerprint> {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the store file");
    let mut st = c
        .prepare(
            "SELECT d.id, d.updated_at, d.pending, length(d.snapshot), d.heads,
                    (SELECT count(*) FROM changes c WHERE c.doc_id = d.id),
                    (SELECT count(*) FROM changes c WHERE c.doc_id = d.id AND c.acked = 1)
             FROM documents d",
        )
        .expect("prepare");
    st.query_map([], |r| {
        Ok((
            DocId::from_slice(&r.get::<_, Vec<u8>>(0)?).expect("16-byte id"),
            (
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ),
        ))
    })
    .expect("query")
    .collect::<rusqlite::Result<_>>()
    .expect("rows")
}

/// What a loaded document holds: kind, marker, change count.
type Observed = BTreeMap<DocId, (Kind, String, usize)>;

/// Check the reopened store through its API; returns what the documents it loaded hold.
fn check_store(
    path: &Path,
    ledger: &Ledger,
    before: &mut BTreeMap<DocId, Fingerprint>,
    load_all: bool,
) -> Result<Observed> {
    let s = Store::open(path, &KEY, options())?;
    assert_eq!(s.integrity_check()?, Ok(()), "integrity_check");
    let projected = projected_markers(&s)?;
    // Projection rows and documents: one of each per document, of the same kind.
    let mut stored = BTreeMap::new();
    for k in [Kind::Response, Kind::Visit, Kind::Case] {
        for id in s.ids(Some(k))? {
            stored.insert(id, k);
        }
    }
    let listed: BTreeMap<DocId, Kind> = projected.iter().map(|(id, (k, _))| (*id, *k)).collect();
    assert_eq!(listed, stored, "documents and projection rows differ");
    // The survey: acknowledged, or created by a run killed before it could say so.
    let forms = s.ids(Some(Kind::Form))?;
    assert!(forms.len() <= 1, "one survey at most: {forms:?}");
    if let Some(f) = ledger.form {
        assert_eq!(forms, vec![f]);
    }
    for f in forms {
        assert_eq!(s.get::<Form>(f)?, sample::telecom_form(1));
    }
    // Every acknowledged write, with its value, in the projection.
    for (id, a) in &ledger.acked {
        let Some((kind, shown)) = projected.get(id) else {
            panic!("acknowledged {} {id} ({}) is missing", a.kind, a.marker);
        };
        assert_eq!(*kind, a.kind);
        let ok = allowed(ledger, *id);
        assert!(
            ok.iter().any(|(m, _)| m == shown),
            "{id}: projection shows {shown}, acknowledged {ok:?}"
        );
    }
    // Documents whose rows changed since the last check (written, compacted,
    // acknowledged: the kill may have hit any of that), and everything now and then,
    // load, agree with their projection rows, and hold the acknowledged value and
    // change count.
    let now = fingerprints(path);
    let changed: BTreeSet<DocId> = now
        .iter()
        .filter(|(id, f)| before.get(id) != Some(f))
        .map(|(id, _)| *id)
        .collect();
    *before = now;
    let mut observed = Observed::new();
    for (id, kind) in &stored {
        if !(load_all || changed.contains(id) || ledger.touched.contains(id)) {
            continue;
        }
        let m = marker_of(&s, *id, *kind)?;
        assert_eq!(m, projected[id].1, "{id}: document and projection disagree");
        let changes = s.changes_since(*id, &[])?.len();
        assert_eq!(s.info(*id)?.quarantine, None);
        observed.insert(*id, (*kind, m.clone(), changes));
        let ok = allowed(ledger, *id);
        if ok.is_empty() {
            // Never acknowledged: the create in flight at a kill, committed or not.
            continue;
        }
        assert!(
            ok.contains(&(m.clone(), changes)),
            "{id}: holds {m} with {changes} changes, acknowledged {ok:?}"
        );
    }
    s.close();
    Ok(observed)
}

fn count(c: &rusqlite::Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Check the file directly: no change without its document, no document without its
/// projection rows or the reverse, consistent bookkeeping.
fn check_rows(path: &Path) {
    let c = rusqlite::Connection::open(path).expect("open the store file");
    let per_kind = [
        (Kind::Form, "forms"),
        (Kind::Response, "responses"),
        (Kind::Account, "accounts"),
        (Kind::Visit, "visits"),
        (Kind::Case, "cases"),
    ];
    for (kind, table) in per_kind {
        let k = kind.code();
        assert_eq!(
            count(
                &c,
                &format!(
                    "SELECT count(*) FROM documents d WHERE d.kind = {k}
                     AND NOT EXISTS (SELECT 1 FROM {table} p WHERE p.doc_id = d.id)"
                )
            ),
            0,
            "{kind} documents without a {table} row"
        );
        assert_eq!(
            count(
                &c,
                &format!(
                    "SELECT count(*) FROM {table} p WHERE NOT EXISTS
                     (SELECT 1 FROM documents d WHERE d.id = p.doc_id AND d.kind = {k})"
                )
            ),
            0,
            "{table} rows without a {kind} document"
        );
    }
    for (sql, what) in [
        (
            "SELECT count(*) FROM changes c WHERE NOT EXISTS
             (SELECT 1 FROM documents d WHERE d.id = c.doc_id)",
            "changes without a document",
        ),
        (
            "SELECT count(*) FROM documents d WHERE d.snapshot IS NULL AND NOT EXISTS
             (SELECT 1 FROM changes c WHERE c.doc_id = d.id)",
            "documents with neither snapshot nor changes",
        ),
        (
            "SELECT count(*) FROM documents d WHERE d.pending !=
             (SELECT count(*) FROM changes c WHERE c.doc_id = d.id AND c.in_snapshot = 0)",
            "documents whose pending count disagrees with their change rows",
        ),
        (
            "SELECT count(*) FROM changes c JOIN documents d ON d.id = c.doc_id
             WHERE c.in_snapshot = 1 AND d.snapshot IS NULL",
            "changes marked folded into a snapshot that does not exist",
        ),
        (
            "SELECT count(*) FROM documents WHERE quarantine IS NOT NULL OR shape_error IS NOT NULL",
            "quarantined or misshapen documents",
        ),
        (
            "SELECT count(*) FROM response_scores s WHERE NOT EXISTS
             (SELECT 1 FROM responses r WHERE r.doc_id = s.doc_id)",
            "scores without a response",
        ),
        (
            "SELECT count(*) FROM commitments m WHERE NOT EXISTS
             (SELECT 1 FROM visits v WHERE v.doc_id = m.visit_id)",
            "commitments without a visit",
        ),
    ] {
        assert_eq!(count(&c, sql), 0, "{what}");
    }
    let fk: Option<String> = c
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()
        .expect("foreign_key_check");
    assert_eq!(fk, None, "foreign key violations");
}

#[test]
fn kill_9_during_writes_loses_nothing_acknowledged() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path: PathBuf = dir.path().join("crash.db");
    let err_path = dir.path().join("child.stderr");
    let mut ledger = Ledger::default();
    let seed = std::env::var("FIELDSYNC_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| now_ms().unsigned_abs());
    eprintln!("crash: seed {seed} (FIELDSYNC_CRASH_SEED={seed} repeats the kill delays)");
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut killed_before_ready = 0;
    // Where each kill landed: acknowledged writes in that run, and the call in flight.
    let mut points = BTreeSet::new();
    let mut checking = Duration::ZERO;
    let mut prints = BTreeMap::new();
    for run in 0..KILLS {
        let plan = if run % 10 == 0 {
            // Anywhere in start-up: exec, open, migration (the first time), first writes.
            let max = if run % 20 == 0 { 1_000 } else { 8_000 };
            Plan::AfterDelay {
                delay_us: u64::try_from(rng.range(0, max)).unwrap_or(0),
            }
        } else {
            // After 0..52 acknowledged writes (swept), plus 0..1 ms.
            Plan::AfterAcks {
                acks: run % 53,
                delay_us: u64::try_from(rng.range(0, 999)).unwrap_or(0),
            }
        };
        ledger.touched.clear();
        let lines = run_child(&path, run, &err_path, plan);
        if !lines.iter().any(|l| l == "READY") {
            killed_before_ready += 1;
        }
        let acks_before = ledger.acks;
        for l in &lines {
            ledger.take_line(l);
        }
        points.insert((
            ledger.acks - acks_before,
            ledger.in_flight.as_ref().map(|f| f.op.clone()),
        ));
        if !path.exists() {
            ledger.in_flight = None;
            continue; // killed before SQLite created the file
        }
        let t0 = Instant::now();
        let observed = check_store(&path, &ledger, &mut prints, run % 100 == 99)?;
        check_rows(&path);
        checking += t0.elapsed();
        // What the write in flight left (it committed or it did not) and creates never
        // acknowledged are now facts on disk: later runs must keep them.
        let in_flight = ledger.in_flight.take().and_then(|f| f.id);
        for (id, (kind, marker, changes)) in observed {
            if in_flight == Some(id) || !ledger.acked.contains_key(&id) {
                ledger.acked.insert(
                    id,
                    Acked {
                        kind,
                        marker,
                        changes,
                    },
                );
            }
        }
    }
    // One last full pass: every document loads and holds what was acknowledged.
    check_store(&path, &ledger, &mut prints, true)?;
    check_rows(&path);
    eprintln!(
        "crash: {KILLS} kills ({killed_before_ready} before the store was ready), {} \
         acknowledged writes, {} documents, {} distinct (acks in run, call in flight) \
         points, {:?} ({:?} checking)",
        ledger.acks,
        ledger.acked.len(),
        points.len(),
        started.elapsed(),
        checking
    );
    assert!(ledger.acked.len() > 100, "the children wrote too little");
    assert!(killed_before_ready > 0, "no kill landed in start-up");
    assert!(
        points.len() >= 80,
        "kills landed at too few distinct points"
    );
    for op in ["create", "update"] {
        assert!(
            points.iter().any(|(_, f)| f.as_deref() == Some(op)),
            "no kill landed during a {op}"
        );
    }
    Ok(())
}
