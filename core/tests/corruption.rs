//! Stored rows damaged at random: 1,200 single bit flips or truncations.
//!
//! A pristine store holds documents of every kind in every storage shape (never
//! compacted; compacted with unacknowledged change rows kept for sync; compacted with
//! acknowledged rows deleted; compacted then edited again). Each iteration copies the
//! pristine file, damages one stored value with rusqlite while the store is closed —
//! `documents.snapshot`, `documents.heads`, `documents.kind`, `documents.scope`,
//! `changes.bytes`, `changes.hash` or a projection's sealed `summary` — and reopens it:
//!
//! - reading the damaged document gives `Error::Corrupt` or `Error::Quarantined`, never
//!   data, and it is quarantined (a change row only sync reads — folded into the
//!   snapshot, not yet acknowledged — is detected by `pending_changes` instead; the
//!   document's data is intact, so reads return it exactly until then);
//! - a damaged projection summary fails no list: the row comes back with empty display
//!   fields (the document is intact and reads back exactly), and
//!   `rebuild_projections` repairs it;
//! - every other document reads back exactly, every list query works and returns what
//!   the pristine store returned, and the sync outbox still serves every other
//!   document's changes.
//!
//! Detection is asserted for every single damage.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use automerge::ChangeHash;
use common::{AnyRecord, KEY, Lists, all_lists, copy_store_file, get_any, scope, side_file};
use fieldsync_core::model::*;
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::{Durability, Store, StoreOptions};
use fieldsync_core::{DocId, Error, Kind, Result, now_ms};
use rusqlite::{Connection, params};

const ITERATIONS: usize = 1_200;

fn options() -> StoreOptions {
    let mut o = StoreOptions::new("dev-1", "alice");
    o.durability = Durability::Normal;
    o
}

/// The undamaged store and everything it must keep answering.
struct Pristine {
    path: PathBuf,
    docs: Vec<(DocId, Kind, AnyRecord)>,
    lists: Lists,
    /// (document, hash, bytes) of every unacknowledged change, in outbox order.
    pending: Vec<(DocId, ChangeHash, Vec<u8>)>,
    /// Change row seq -> hash.
    hashes: BTreeMap<i64, Vec<u8>>,
}

fn pending(s: &Store) -> Result<Vec<(DocId, ChangeHash, Vec<u8>)>> {
    Ok(s.pending_changes(0, 100_000)?
        .into_iter()
        .map(|p| (p.doc_id, p.hash, p.bytes))
        .collect())
}

/// Build the pristine store: documents of every kind in every storage shape.
fn build(path: &Path) -> Result<Pristine> {
    let s = Store::open(path, &KEY, options())?;
    let mut rng = Rng::new(11);
    let sc = scope("team:north");
    let form = sample::telecom_form(1);
    let form_id = s.create(&sc, &form)?;
    let mut draft = sample::telecom_form(2);
    draft.published = false;
    let draft_id = s.create(&sc, &draft)?;
    s.update::<Form>(draft_id, |f| {
        f.title = "Satisfaction survey, v2".into();
        Ok(())
    })?;
    let mut ids = vec![form_id, draft_id];
    for i in 0..4 {
        let r = sample::telecom_response(&mut rng, form_id, &form, "north/c1/d1", "alice", i);
        let id = s.create(&sc, &r)?;
        for k in 0..i + 1 {
            s.update::<Response>(id, |r| {
                r.answers.insert("tenure_years".into(), Answer::Integer(k));
                r.note.splice(0, 0, format!("visit {k}. "));
                Ok(())
            })?;
        }
        ids.push(id);
    }
    let mut accounts = Vec::new();
    for name in ["Acme Logistics", "Beta Retail", "Gamma Mining"] {
        let id = s.create(
            &scope("accounts"),
            &sample::account(name, "alice", "north/c1"),
        )?;
        s.update::<Account>(id, |a| {
            a.contacts.push(Contact {
                id: format!("{name}-cfo"),
                name: "Li Wei".into(),
                role: Some("CFO".into()),
                phone: Some("+86 139 0000 0000".into()),
                email: None,
            });
            a.co_owners.push("bob".into());
            Ok(())
        })?;
        accounts.push(id);
        ids.push(id);
    }
    for (i, a) in accounts.iter().enumerate() {
        let mut v = sample::visit(*a, "alice", 1_000 + i as i64, "quarterly review");
        v.commitments.push(sample::commitment(
            &format!("c{i}"),
            "alice",
            5_000,
            "send the quote",
        ));
        let id = s.create(&scope("accounts"), &v)?;
        s.update::<Visit>(id, |v| {
            v.notes.splice(0, 0, "CFO attended. ");
            v.scores.overall = Some(8);
            v.commitments.push(sample::commitment(
                &format!("d{i}"),
                "bob",
                6_000,
                "fix the APN",
            ));
            Ok(())
        })?;
        ids.push(id);
    }
    for i in 0..3 {
        let c = Case::received(
            format!("C{i}"),
            CaseCategory::Network,
            Severity::High,
            "alice",
            2_000 + i,
            "No signal at the depot.",
        );
        let id = s.create(&scope("cases"), &c)?;
        s.update::<Case>(id, |c| {
            c.advance(CaseStage::Classified, "alice", 2_100);
            c.description.splice(0, 0, "Urgent: ");
            Ok(())
        })?;
        ids.push(id);
    }
    // Storage shapes, by position: never compacted; compacted with unacknowledged rows
    // kept; acknowledged then compacted (rows deleted, snapshot only); compacted then
    // edited (snapshot plus newer rows).
    for (i, id) in ids.iter().enumerate() {
        let kind = s.info(*id)?.kind;
        match i % 4 {
            0 => {}
            1 => {
                s.compact(*id)?;
            }
            2 => {
                let hashes: Vec<_> = s
                    .pending_changes(0, 100_000)?
                    .into_iter()
                    .filter(|p| p.doc_id == *id)
                    .map(|p| (p.doc_id, p.hash))
                    .collect();
                s.mark_acked(&hashes)?;
                s.compact(*id)?;
            }
            _ => {
                s.compact(*id)?;
                touch(&s, *id, kind)?;
            }
        }
    }
    let mut docs = Vec::new();
    for id in &ids {
        let kind = s.info(*id)?.kind;
        docs.push((*id, kind, get_any(&s, *id, kind)?));
    }
    let p = Pristine {
        path: path.to_path_buf(),
        docs,
        lists: all_lists(&s)?,
        pending: pending(&s)?,
        hashes: BTreeMap::new(),
    };
    s.close();
    // Fold the WAL into the file, so that one file is the whole store.
    let c = Connection::open(path).map_err(Error::from)?;
    let hashes = c
        .prepare("SELECT seq, hash FROM changes")
        .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(Error::from)?;
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .map_err(Error::from)?;
    drop(c);
    Ok(Pristine { hashes, ..p })
}

/// One more small edit of any kind (the published form stays as it is).
fn touch(s: &Store, id: DocId, kind: Kind) -> Result<()> {
    match kind {
        Kind::Form => {
            if !s.get::<Form>(id)?.published {
                s.update::<Form>(id, |f| {
                    f.title.push('!');
                    Ok(())
                })?;
            }
        }
        Kind::Response => {
            s.update::<Response>(id, |r| {
                r.note.splice(0, 0, "again. ");
                Ok(())
            })?;
        }
        Kind::Account => {
            s.update::<Account>(id, |a| {
                a.industry = Some("retail".into());
                Ok(())
            })?;
        }
        Kind::Visit => {
            s.update::<Visit>(id, |v| {
                v.attendees.push("bob".into());
                Ok(())
            })?;
        }
        Kind::Case => {
            s.update::<Case>(id, |c| {
                c.description.splice(0, 0, "Still ");
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// A stored value that can be damaged.
#[derive(Debug, Clone)]
enum Target {
    Snapshot(DocId),
    Heads(DocId),
    DocKind(DocId),
    Scope(DocId),
    /// (seq, document, in_snapshot)
    ChangeBytes(i64, DocId, bool),
    ChangeHash(i64, DocId, bool),
    /// (table, document, commitment id for `commitments`)
    Summary(&'static str, DocId, Option<String>),
}

impl Target {
    fn doc(&self) -> DocId {
        match self {
            Target::Snapshot(d)
            | Target::Heads(d)
            | Target::DocKind(d)
            | Target::Scope(d)
            | Target::ChangeBytes(_, d, _)
            | Target::ChangeHash(_, d, _)
            | Target::Summary(_, d, _) => *d,
        }
    }
}

/// How a damaged value must show up.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Detect {
    /// Loading the document fails.
    OnLoad,
    /// A change row folded into the snapshot but kept for sync: the outbox detects it.
    OnSync,
    /// A projection summary: the list row loses its display fields.
    InList,
}

impl Target {
    fn detect(&self) -> Detect {
        match self {
            Target::ChangeBytes(_, _, true) | Target::ChangeHash(_, _, true) => Detect::OnSync,
            Target::Summary(..) => Detect::InList,
            _ => Detect::OnLoad,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Flip bit `n` (modulo the value's length in bits).
    Flip(u64),
    /// Keep only the first `n` bytes (modulo the length).
    Truncate(u64),
}

fn id_blob(id: DocId) -> Vec<u8> {
    id.as_bytes().to_vec()
}

fn all_targets(path: &Path) -> rusqlite::Result<Vec<Vec<Target>>> {
    let c = Connection::open(path)?;
    let ids = |sql: &str| -> rusqlite::Result<Vec<DocId>> {
        let mut st = c.prepare(sql)?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|r| r.map(|b| DocId::from_slice(&b).expect("16-byte id")))
            .collect()
    };
    let docs = ids("SELECT id FROM documents")?;
    let snaps = ids("SELECT id FROM documents WHERE snapshot IS NOT NULL")?;
    let mut st = c.prepare("SELECT seq, doc_id, in_snapshot FROM changes")?;
    let changes: Vec<(i64, DocId, bool)> = st
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                DocId::from_slice(&r.get::<_, Vec<u8>>(1)?).expect("16-byte id"),
                r.get(2)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut summaries = Vec::new();
    for table in ["forms", "responses", "accounts", "visits", "cases"] {
        for id in ids(&format!("SELECT doc_id FROM {table}"))? {
            summaries.push(Target::Summary(table, id, None));
        }
    }
    let mut st = c.prepare("SELECT visit_id, commitment_id FROM commitments")?;
    for row in st.query_map([], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
    })? {
        let (v, cid) = row?;
        summaries.push(Target::Summary(
            "commitments",
            DocId::from_slice(&v).expect("16-byte id"),
            Some(cid),
        ));
    }
    let folded: Vec<Target> = changes
        .iter()
        .filter(|c| c.2)
        .flat_map(|&(seq, d, f)| {
            [
                Target::ChangeBytes(seq, d, f),
                Target::ChangeHash(seq, d, f),
            ]
        })
        .collect();
    Ok(vec![
        snaps.iter().map(|d| Target::Snapshot(*d)).collect(),
        docs.iter().map(|d| Target::Heads(*d)).collect(),
        docs.iter().map(|d| Target::DocKind(*d)).collect(),
        docs.iter().map(|d| Target::Scope(*d)).collect(),
        changes
            .iter()
            .filter(|c| !c.2)
            .map(|&(seq, d, f)| Target::ChangeBytes(seq, d, f))
            .collect(),
        changes
            .iter()
            .filter(|c| !c.2)
            .map(|&(seq, d, f)| Target::ChangeHash(seq, d, f))
            .collect(),
        folded,
        summaries,
    ])
}

fn damage_bytes(v: &mut Vec<u8>, d: Damage) {
    match d {
        Damage::Flip(n) => {
            let bits = (v.len() as u64 * 8).max(1);
            let bit = n % bits;
            if let Some(b) = v.get_mut(usize::try_from(bit / 8).unwrap_or(0)) {
                *b ^= 1 << (bit % 8);
            }
        }
        Damage::Truncate(n) => {
            let keep = usize::try_from(n % (v.len() as u64).max(1)).unwrap_or(0);
            v.truncate(keep);
        }
    }
}

/// Damage one stored value with plain SQL, the store closed.
fn apply(path: &Path, t: &Target, d: Damage) -> rusqlite::Result<()> {
    let c = Connection::open(path)?;
    let blob = |sql_get: &str, sql_set: &str, key: &dyn rusqlite::ToSql| -> rusqlite::Result<()> {
        let mut v: Vec<u8> = c.query_row(sql_get, [key], |r| r.get(0))?;
        let before = v.clone();
        damage_bytes(&mut v, d);
        assert_ne!(v, before, "the damage changed nothing");
        let n = c.execute(sql_set, params![v, key])?;
        assert_eq!(n, 1);
        Ok(())
    };
    match t {
        Target::Snapshot(id) => blob(
            "SELECT snapshot FROM documents WHERE id = ?1",
            "UPDATE documents SET snapshot = ?1 WHERE id = ?2",
            &id_blob(*id),
        ),
        Target::Heads(id) => blob(
            "SELECT heads FROM documents WHERE id = ?1",
            "UPDATE documents SET heads = ?1 WHERE id = ?2",
            &id_blob(*id),
        ),
        // The text's bytes, damaged as bytes and stored back as text (possibly no
        // longer UTF-8, as a flipped bit on disk would leave it).
        Target::Scope(id) => blob(
            "SELECT CAST(scope AS BLOB) FROM documents WHERE id = ?1",
            "UPDATE documents SET scope = CAST(?1 AS TEXT) WHERE id = ?2",
            &id_blob(*id),
        ),
        Target::DocKind(id) => {
            let k: i64 = c.query_row(
                "SELECT kind FROM documents WHERE id = ?1",
                [id_blob(*id)],
                |r| r.get(0),
            )?;
            let bit = match d {
                Damage::Flip(n) | Damage::Truncate(n) => n % 64,
            };
            c.execute(
                "UPDATE documents SET kind = ?1 WHERE id = ?2",
                params![k ^ (1i64 << bit), id_blob(*id)],
            )?;
            Ok(())
        }
        Target::ChangeBytes(seq, ..) => blob(
            "SELECT bytes FROM changes WHERE seq = ?1",
            "UPDATE changes SET bytes = ?1 WHERE seq = ?2",
            seq,
        ),
        Target::ChangeHash(seq, ..) => blob(
            "SELECT hash FROM changes WHERE seq = ?1",
            "UPDATE changes SET hash = ?1 WHERE seq = ?2",
            seq,
        ),
        Target::Summary(table, id, None) => blob(
            &format!("SELECT summary FROM {table} WHERE doc_id = ?1"),
            &format!("UPDATE {table} SET summary = ?1 WHERE doc_id = ?2"),
            &id_blob(*id),
        ),
        Target::Summary(table, id, Some(cid)) => {
            let mut v: Vec<u8> = c.query_row(
                &format!("SELECT summary FROM {table} WHERE visit_id = ?1 AND commitment_id = ?2"),
                params![id_blob(*id), cid],
                |r| r.get(0),
            )?;
            damage_bytes(&mut v, d);
            c.execute(
                &format!(
                    "UPDATE {table} SET summary = ?1 WHERE visit_id = ?2 AND commitment_id = ?3"
                ),
                params![v, id_blob(*id), cid],
            )?;
            Ok(())
        }
    }
}

fn is_detection(e: &Error, id: DocId) -> bool {
    matches!(e, Error::Corrupt { id: d, .. } | Error::Quarantined { id: d, .. } if *d == id)
}

/// The pristine lists without the rows of `id` (and `id`'s rows alone).
fn split_lists(l: &Lists, id: DocId) -> (Lists, Lists) {
    fn part<T: Clone>(v: &[T], f: impl Fn(&T) -> bool) -> (Vec<T>, Vec<T>) {
        (
            v.iter().filter(|x| !f(x)).cloned().collect(),
            v.iter().filter(|x| f(x)).cloned().collect(),
        )
    }
    let (fo, fd) = part(&l.forms, |r| r.id == id);
    let (ro, rd) = part(&l.responses, |r| r.id == id);
    let (ao, ad) = part(&l.accounts, |r| r.id == id);
    let (vo, vd) = part(&l.visits, |r| r.id == id);
    let (co, cd) = part(&l.commitments, |r| r.visit_id == id);
    let (ko, kd) = part(&l.cases, |r| r.id == id);
    (
        Lists {
            forms: fo,
            responses: ro,
            accounts: ao,
            visits: vo,
            commitments: co,
            cases: ko,
        },
        Lists {
            forms: fd,
            responses: rd,
            accounts: ad,
            visits: vd,
            commitments: cd,
            cases: kd,
        },
    )
}

/// The damaged document's own rows, as a store that detected a damaged summary in
/// `t` shows them: the display fields of that one row empty, everything else as it was.
fn blank_summary(mut own: Lists, t: &Target) -> Lists {
    match t {
        Target::Summary("forms", ..) => own.forms.iter_mut().for_each(|r| r.title.clear()),
        Target::Summary("responses", ..) => own
            .responses
            .iter_mut()
            .for_each(|r| r.respondent_name = None),
        Target::Summary("accounts", ..) => own.accounts.iter_mut().for_each(|r| r.name.clear()),
        Target::Summary("visits", ..) => own.visits.iter_mut().for_each(|r| {
            r.purpose.clear();
            r.open_commitments = 0;
        }),
        Target::Summary("cases", ..) => own.cases.iter_mut().for_each(|r| r.dispatches = 0),
        Target::Summary("commitments", _, Some(cid)) => own
            .commitments
            .iter_mut()
            .filter(|r| &r.commitment_id == cid)
            .for_each(|r| r.description.clear()),
        _ => {}
    }
    own
}

/// One damaged copy, reopened and checked.
fn check_one(p: &Pristine, work: &Path, t: &Target, sync_first: bool) -> Result<()> {
    let id = t.doc();
    let (kind, want) = p
        .docs
        .iter()
        .find(|d| d.0 == id)
        .map(|d| (d.1, d.2.clone()))
        .expect("target document");
    let s = Store::open(work, &KEY, options())?;
    let read = |s: &Store| get_any(s, id, kind);
    // The outbox serves every change that verifies: all but the damaged row, or none of
    // the document's when its kind or scope (bound into every row) is damaged.
    let want_out: Vec<_> = p
        .pending
        .iter()
        .filter(|c| match t {
            Target::ChangeBytes(seq, ..) | Target::ChangeHash(seq, ..) => {
                c.1.0[..] != p.hashes[seq][..]
            }
            Target::DocKind(d) | Target::Scope(d) => c.0 != *d,
            _ => true,
        })
        .cloned()
        .collect();
    let outbox_detects = want_out.len() < p.pending.len();
    let mut detected = false;
    let outbox = |s: &Store, detected: &mut bool| match pending(s) {
        Ok(v) => assert_eq!(v, want_out, "{t:?}: outbox"),
        Err(e) => {
            assert!(is_detection(&e, id), "{t:?}: outbox failed with {e:?}");
            assert!(outbox_detects, "{t:?}: outbox failed with {e:?}");
            *detected = true;
        }
    };
    if sync_first {
        outbox(&s, &mut detected);
        // Reported once; from then on the outbox serves everything else.
        assert_eq!(pending(&s)?, want_out, "{t:?}: outbox");
    }
    match (t.detect(), read(&s)) {
        (Detect::OnLoad, Ok(v)) => panic!("{t:?}: damaged document read back as {v:?}"),
        (Detect::OnLoad, Err(e)) => {
            assert!(is_detection(&e, id), "{t:?}: read failed with {e:?}");
            detected = true;
        }
        // The document's data is intact: it reads back exactly, unless the outbox
        // already found the damaged row and quarantined it.
        (Detect::OnSync, Ok(v)) => {
            assert!(!detected, "{t:?}: quarantined document read back");
            assert_eq!(v, want, "{t:?}");
        }
        (Detect::OnSync, Err(e)) => {
            assert!(
                detected && matches!(e, Error::Quarantined { .. }),
                "{t:?}: {e:?}"
            )
        }
        (Detect::InList, r) => assert_eq!(r?, want, "{t:?}: document behind a damaged summary"),
    }
    if !sync_first {
        outbox(&s, &mut detected);
    }
    assert_eq!(pending(&s)?, want_out, "{t:?}: outbox");
    let quarantined = t.detect() != Detect::InList;
    if quarantined {
        assert!(detected, "{t:?} went undetected");
        // Once detected, always reported.
        let again = read(&s);
        assert!(
            matches!(again, Err(Error::Quarantined { id: d, .. } | Error::Corrupt { id: d, .. }) if d == id),
            "{t:?}: second read gave {again:?}"
        );
        match s.info(id) {
            Ok(i) => assert!(i.quarantine.is_some(), "{t:?}: not quarantined"),
            Err(e) => assert!(is_detection(&e, id), "{t:?}: info failed with {e:?}"),
        }
        // No other way in returns its content either.
        let changes = s.changes_since(id, &[]);
        assert!(
            changes.as_ref().is_err_and(|e| is_detection(e, id)),
            "{t:?}: changes_since gave {changes:?}"
        );
        let history = s.history(id);
        assert!(
            history.as_ref().is_err_and(|e| is_detection(e, id)),
            "{t:?}: history gave {history:?}"
        );
    }
    // Every other document reads back exactly.
    for (other, k, v) in &p.docs {
        if *other == id {
            continue;
        }
        assert_eq!(
            &get_any(&s, *other, *k)?,
            v,
            "{t:?}: document {other} changed"
        );
        assert_eq!(
            s.info(*other)?.quarantine,
            None,
            "{t:?}: {other} quarantined"
        );
    }
    // Every list works and shows what it showed before; the damaged document's rows
    // are still listed (responses flagged when quarantined).
    let lists = all_lists(&s)?;
    let (others, own) = split_lists(&p.lists, id);
    let (got_others, mut got_own) = split_lists(&lists, id);
    assert_eq!(got_others, others, "{t:?}: other rows changed");
    let want_own = if t.detect() == Detect::InList {
        blank_summary(own, t)
    } else {
        for r in &mut got_own.responses {
            assert!(r.quarantined, "{t:?}: quarantined response not flagged");
            r.quarantined = false;
        }
        own
    };
    assert_eq!(got_own, want_own, "{t:?}: the damaged document's rows");
    assert_eq!(s.integrity_check()?, Ok(()));
    // A damaged summary is repaired from the document.
    if t.detect() == Detect::InList {
        s.rebuild_projections()?;
        assert_eq!(all_lists(&s)?, p.lists, "{t:?}: after rebuild_projections");
    }
    s.close();
    // Quarantine is recorded in the file, for this document only.
    let c = Connection::open(work).map_err(Error::from)?;
    let marked: Vec<Vec<u8>> = c
        .prepare("SELECT id FROM documents WHERE quarantine IS NOT NULL")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(Error::from)?;
    let want_marked = if quarantined {
        vec![id_blob(id)]
    } else {
        vec![]
    };
    assert_eq!(marked, want_marked, "{t:?}: quarantine marks");
    Ok(())
}

#[test]
fn every_damaged_row_is_detected_and_contained() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let p = build(&dir.path().join("pristine.db"))?;
    assert!(!side_file(&p.path, "-wal").exists());
    let categories = all_targets(&p.path).map_err(Error::from)?;
    for (i, c) in categories.iter().enumerate() {
        assert!(!c.is_empty(), "no targets in category {i}");
    }
    let work = dir.path().join("work.db");
    let seed = std::env::var("FIELDSYNC_CORRUPTION_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| now_ms().unsigned_abs());
    eprintln!("corruption: seed {seed} (FIELDSYNC_CORRUPTION_SEED={seed} repeats this run)");
    let mut rng = Rng::new(seed);
    let mut per_category: BTreeMap<&str, usize> = BTreeMap::new();
    for i in 0..ITERATIONS {
        let cat = &categories[i % categories.len()];
        let t = rng.pick(cat).clone();
        let n = rng.next_u64();
        let d = if rng.chance(0.5) {
            Damage::Flip(n)
        } else {
            Damage::Truncate(n)
        };
        copy_store_file(&p.path, &work)?;
        apply(&work, &t, d).map_err(Error::from)?;
        let sync_first = rng.chance(0.3);
        check_one(&p, &work, &t, sync_first)
            .unwrap_or_else(|e| panic!("seed {seed}, iteration {i}, {t:?} {d:?}: {e:?}"));
        let name = match t {
            Target::Snapshot(_) => "snapshot",
            Target::Heads(_) => "heads",
            Target::DocKind(_) => "kind",
            Target::Scope(_) => "scope",
            Target::ChangeBytes(_, _, false) => "change bytes",
            Target::ChangeHash(_, _, false) => "change hash",
            Target::ChangeBytes(..) | Target::ChangeHash(..) => "folded change row",
            Target::Summary(..) => "summary",
        };
        *per_category.entry(name).or_default() += 1;
    }
    eprintln!("corruption: {ITERATIONS} damaged copies, all detected: {per_category:?}");
    Ok(())
}
