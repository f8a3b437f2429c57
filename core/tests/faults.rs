//! Storage faults: a full disk (a page budget), storage that turns read-only, a store
//! opened read-only, a file that is not a database, and a wrong key.
//!
//! After every failed write: a typed error, nothing of it on disk (no change row, no
//! projection row, no document), every earlier commit intact, and the store works again
//! once the fault is gone.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{AnyRecord, KEY, Lists, all_lists, get_any, scope, side_file};
use fieldsync_core::model::*;
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::{Durability, Store, StoreOptions};
use fieldsync_core::{DocId, Error, Kind, Result, Scope};
use rusqlite::{Connection, OpenFlags};

const TABLES: &[&str] = &[
    "documents",
    "changes",
    "actors",
    "meta",
    "forms",
    "responses",
    "response_scores",
    "accounts",
    "account_owners",
    "visits",
    "commitments",
    "cases",
];

/// Rows per table, read beside the store from another connection.
fn row_counts(path: &Path) -> Vec<(&'static str, i64)> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open read-only");
    TABLES
        .iter()
        .map(|t| {
            let n = c
                .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .expect("count");
            (*t, n)
        })
        .collect()
}

fn page_count(path: &Path) -> u64 {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open read-only");
    let n: i64 = c
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .expect("page_count");
    u64::try_from(n).expect("positive page count")
}

/// Everything a store shows: every document, every list, the outbox.
#[derive(Debug, PartialEq)]
struct Shown {
    docs: BTreeMap<DocId, AnyRecord>,
    lists: Lists,
    outbox: Vec<(DocId, automerge::ChangeHash)>,
}

fn shown(s: &Store) -> Result<Shown> {
    let mut docs = BTreeMap::new();
    for id in s.ids(None)? {
        docs.insert(id, get_any(s, id, s.info(id)?.kind)?);
    }
    Ok(Shown {
        docs,
        lists: all_lists(s)?,
        outbox: s
            .pending_changes(0, 100_000)?
            .into_iter()
            .map(|p| (p.doc_id, p.hash))
            .collect(),
    })
}

/// A store with one of every kind; the visit has a long history (so compacting it
/// needs room for a new snapshot).
fn seed(s: &Store) -> Result<(DocId, Form, DocId)> {
    let (form_id, form) = common::telecom_form(s)?;
    let r = sample::telecom_response(&mut Rng::new(1), form_id, &form, "north/c1", "alice", 0);
    s.create(&scope("team:north"), &r)?;
    let aid = s.create(
        &scope("accounts"),
        &sample::account("Acme", "alice", "north"),
    )?;
    let vid = s.create(
        &scope("accounts"),
        &sample::visit(aid, "alice", 0, "review"),
    )?;
    let mut rng = Rng::new(7);
    for i in 0..30 {
        // Text that does not compress, so the snapshot is large.
        let line: String = (0..40).map(|_| format!("{:x}", rng.next_u64())).collect();
        s.update::<Visit>(vid, |v| {
            v.notes.splice(0, 0, format!("line {i}: {line} "));
            Ok(())
        })?;
    }
    s.create(
        &scope("cases"),
        &Case::received("C1", CaseCategory::Billing, Severity::Low, "alice", 0, "x"),
    )?;
    Ok((form_id, form, vid))
}

/// Changes of a new account made on another replica, to apply here.
fn remote_account(name: &str) -> Result<(DocId, Vec<Vec<u8>>)> {
    let other = common::mem("dev-remote", "bob");
    let id = other.create(&scope("accounts"), &sample::account(name, "bob", "south"))?;
    other.update::<Account>(id, |a| {
        a.industry = Some("x".repeat(3_000));
        Ok(())
    })?;
    Ok((id, other.changes_since(id, &[])?))
}

/// The kinds of write the fault tests attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Write {
    Create,
    Update,
    Apply,
    Compact,
}

fn attempt(
    s: &Store,
    w: Write,
    i: usize,
    form: &(DocId, Form),
    vid: DocId,
) -> Result<Option<DocId>> {
    match w {
        Write::Create => {
            let mut r = sample::telecom_response(
                &mut Rng::new(i as u64),
                form.0,
                &form.1,
                "north/c2",
                "alice",
                i as i64,
            );
            r.note = autosurgeon::Text::with_value("n".repeat(2_000));
            Ok(Some(s.create(&scope("team:north"), &r)?))
        }
        Write::Update => {
            s.update::<Visit>(vid, |v| {
                v.notes.splice(0, 0, format!("{i}:{}", "note ".repeat(400)));
                Ok(())
            })?;
            Ok(None)
        }
        Write::Apply => {
            let (id, changes) = remote_account(&format!("Remote {i}"))?;
            s.apply_changes(id, Kind::Account, &scope("accounts"), &changes, false)?;
            Ok(Some(id))
        }
        Write::Compact => {
            // Fold the visit's changes into a new snapshot (when it has any unfolded).
            s.compact(vid)?;
            Ok(None)
        }
    }
}

#[test]
fn disk_full_fails_cleanly_then_recovers() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("full.db");
    let mut opts = StoreOptions::new("dev-1", "alice");
    opts.durability = Durability::Normal;
    let s = Store::open(&path, &KEY, opts.clone())?;
    let (form_id, form, vid) = seed(&s)?;
    let form = (form_id, form);
    // Room for a few more pages only.
    s.set_max_pages(Some(page_count(&path) + 6))?;
    let mut full: BTreeMap<Write, usize> = BTreeMap::new();
    let mut ok: BTreeMap<Write, usize> = BTreeMap::new();
    let kinds = [Write::Create, Write::Update, Write::Apply];
    for i in 0..400 {
        let w = kinds[i % kinds.len()];
        let before = shown(&s)?;
        let rows = row_counts(&path);
        match attempt(&s, w, i, &form, vid) {
            Ok(_) => *ok.entry(w).or_default() += 1,
            Err(Error::StorageFull) => {
                *full.entry(w).or_default() += 1;
                // Nothing of the failed write is on disk or in memory.
                assert_eq!(row_counts(&path), rows, "{w:?} {i}: rows left behind");
                assert_eq!(shown(&s)?, before, "{w:?} {i}: visible state changed");
            }
            Err(e) => panic!("{w:?} {i}: expected StorageFull, got {e:?}"),
        }
        if full.len() == kinds.len() && full.values().all(|n| *n >= 2) {
            break;
        }
    }
    assert_eq!(
        full.keys().copied().collect::<Vec<_>>(),
        kinds.to_vec(),
        "every kind of write hit the budget ({full:?}, succeeded: {ok:?})"
    );
    assert!(ok.values().sum::<usize>() > 0, "some writes fit: {ok:?}");
    // Compaction needs room for the new snapshot: refused the same way, nothing changed.
    let before = shown(&s)?;
    let rows = row_counts(&path);
    let r = s.compact(vid);
    assert!(matches!(r, Err(Error::StorageFull)), "compaction: {r:?}");
    assert_eq!(row_counts(&path), rows, "compaction left rows behind");
    assert_eq!(shown(&s)?, before);
    assert_eq!(s.integrity_check()?, Ok(()));
    let at_full = shown(&s)?;

    // Space is back: every kind of write works again and nothing was lost.
    s.set_max_pages(None)?;
    let mut made = Vec::new();
    for (i, w) in kinds.iter().chain([&Write::Compact]).enumerate() {
        made.extend(attempt(&s, *w, 1_000 + i, &form, vid)?);
    }
    let after = shown(&s)?;
    for (id, v) in &at_full.docs {
        if *id != vid {
            assert_eq!(after.docs.get(id), Some(v), "{id} changed");
        }
    }
    assert!(
        after.docs[&vid] != at_full.docs[&vid],
        "the visit update went through"
    );
    for id in &made {
        assert!(after.docs.contains_key(id));
    }
    s.close();
    drop(s);

    // Everything survives a reopen; a budget given at open works the same way.
    let mut limited = opts.clone();
    limited.max_pages = Some(page_count(&path));
    let s = Store::open(&path, &KEY, limited)?;
    assert_eq!(shown(&s)?, after);
    let mut hit = false;
    for i in 0..200 {
        let rows = row_counts(&path);
        match attempt(&s, Write::Create, 2_000 + i, &form, vid) {
            Ok(_) => {}
            Err(Error::StorageFull) => {
                assert_eq!(row_counts(&path), rows);
                hit = true;
                break;
            }
            Err(e) => panic!("expected StorageFull, got {e:?}"),
        }
    }
    assert!(hit, "the budget given at open was never reached");
    s.close();
    drop(s);
    let s = Store::open(&path, &KEY, opts)?;
    attempt(&s, Write::Create, 3_000, &form, vid)?;
    assert_eq!(s.integrity_check()?, Ok(()));
    Ok(())
}

/// Every write the store offers, on documents that exist.
fn every_write(s: &Store, form: &(DocId, Form), vid: DocId) -> Vec<(&'static str, Result<()>)> {
    let aid = s.ids(Some(Kind::Account)).expect("ids")[0];
    let p = s.pending_changes(0, 10).expect("outbox");
    let (rid, changes) = remote_account("Remote").expect("remote");
    let sc: Scope = scope("accounts");
    vec![
        (
            "create",
            attempt(s, Write::Create, 1, form, vid).map(|_| ()),
        ),
        (
            "update",
            attempt(s, Write::Update, 2, form, vid).map(|_| ()),
        ),
        (
            "update account",
            s.update::<Account>(aid, |a| {
                a.name = "Renamed".into();
                Ok(())
            })
            .map(|_| ()),
        ),
        (
            "apply_changes",
            s.apply_changes(rid, Kind::Account, &sc, &changes, false)
                .map(|_| ()),
        ),
        ("compact", s.compact(vid).map(|_| ())),
        ("mark_acked", s.mark_acked(&[(p[0].doc_id, p[0].hash)])),
        (
            "mark_rejected",
            s.mark_rejected(p[0].doc_id, &p[0].hash, "no"),
        ),
        (
            "record_actor",
            s.record_actor(&automerge::ActorId::random(), "d", "u"),
        ),
        ("rebuild_projections", s.rebuild_projections().map(|_| ())),
    ]
}

#[test]
fn storage_turning_read_only_refuses_writes_then_recovers() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ro.db");
    let s = Store::open(&path, &KEY, StoreOptions::new("dev-1", "alice"))?;
    let (form_id, form, vid) = seed(&s)?;
    let form = (form_id, form);
    let before = shown(&s)?;
    let rows = row_counts(&path);
    s.debug_set_query_only(true)?;
    for (what, r) in every_write(&s, &form, vid) {
        assert!(
            matches!(r, Err(Error::ReadOnly)),
            "{what}: expected ReadOnly, got {r:?}"
        );
    }
    // Reads work and show exactly what was committed.
    assert_eq!(shown(&s)?, before);
    assert_eq!(row_counts(&path), rows);
    assert_eq!(s.integrity_check()?, Ok(()));
    // The storage comes back.
    s.debug_set_query_only(false)?;
    for (what, r) in every_write(&s, &form, vid) {
        assert!(r.is_ok(), "{what}: {r:?}");
    }
    let after = shown(&s)?;
    assert_eq!(after.docs.len(), before.docs.len() + 2, "create + apply");
    s.close();
    drop(s);
    let s = Store::open(&path, &KEY, StoreOptions::new("dev-1", "alice"))?;
    assert_eq!(shown(&s)?.docs, after.docs);
    Ok(())
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read the file")
}

/// Fold the WAL into the main file, so the file alone is the whole store.
fn checkpoint(path: &Path) {
    let c = Connection::open(path).expect("open");
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .expect("checkpoint");
    drop(c);
    assert!(!side_file(path, "-wal").exists());
}

#[test]
fn store_opened_read_only_reads_and_refuses_writes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("readonly.db");
    let form;
    let vid;
    let before;
    {
        let s = Store::open(&path, &KEY, StoreOptions::new("dev-1", "alice"))?;
        let seeded = seed(&s)?;
        form = (seeded.0, seeded.1);
        vid = seeded.2;
        before = shown(&s)?;
        s.close();
    }
    checkpoint(&path);
    let bytes = file_bytes(&path);
    let mut opts = StoreOptions::new("dev-1", "alice");
    opts.read_only = true;
    let s = Store::open(&path, &KEY, opts)?;
    assert_eq!(shown(&s)?, before, "reads work");
    assert!(s.history(vid)?.len() == 31 && s.conflicts(vid)?.is_empty());
    for (what, r) in every_write(&s, &form, vid) {
        assert!(
            matches!(r, Err(Error::ReadOnly)),
            "{what}: expected ReadOnly, got {r:?}"
        );
    }
    assert_eq!(shown(&s)?, before);
    s.close();
    drop(s);
    assert!(
        file_bytes(&path) == bytes,
        "a read-only store changed the file"
    );
    Ok(())
}

fn sqlite_header_then(rest: &[u8]) -> Vec<u8> {
    let mut v = b"SQLite format 3\0".to_vec();
    v.extend_from_slice(rest);
    v
}

#[test]
fn a_file_that_is_not_a_database_is_moved_aside_never_deleted() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut garbage = Vec::new();
    for _ in 0..512 {
        garbage.extend_from_slice(DocId::random()?.as_bytes());
    }
    // (file name, its bytes, a WAL beside it)
    type NotADb<'a> = (&'a str, Vec<u8>, Option<Vec<u8>>);
    let cases: Vec<NotADb<'_>> = vec![
        ("random.db", garbage.clone(), None),
        (
            "text.db",
            b"just some notes, not a database\n".repeat(100),
            None,
        ),
        (
            "with-wal.db",
            garbage[..4096].to_vec(),
            Some(garbage[4096..].to_vec()),
        ),
        // An SQLite header over garbage: SQLite itself finds it is not a database.
        ("header.db", sqlite_header_then(&garbage), None),
        (
            "header-wal.db",
            sqlite_header_then(&garbage),
            Some(garbage[..4096].to_vec()),
        ),
    ];
    for (name, bytes, wal) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes)?;
        if let Some(w) = &wal {
            std::fs::write(side_file(&path, "-wal"), w)?;
        }
        let moved_to = match Store::open(&path, &KEY, StoreOptions::new("d", "u")) {
            Err(Error::StoreCorrupt { moved_to }) => moved_to,
            other => panic!("{name}: expected StoreCorrupt, got {other:?}"),
        };
        assert_ne!(moved_to, path);
        assert!(
            file_bytes(&moved_to) == bytes,
            "{name}: original bytes kept"
        );
        if let Some(w) = &wal {
            assert!(
                file_bytes(&side_file(&moved_to, "-wal")) == *w,
                "{name}: WAL kept beside it"
            );
        }
        // Opening again starts a fresh, working store; the damaged file stays put.
        let s = Store::open(&path, &KEY, StoreOptions::new("d", "u"))?;
        assert!(s.ids(None)?.is_empty());
        let id = s.create(&scope("a"), &sample::account("Acme", "u", "n"))?;
        assert_eq!(s.get::<Account>(id)?.name, "Acme");
        s.close();
        assert!(
            file_bytes(&moved_to) == bytes,
            "{name}: original bytes kept"
        );
    }
    Ok(())
}

#[test]
fn wrong_key_leaves_the_file_untouched() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("k.db");
    let want = {
        let s = Store::open(&path, &KEY, StoreOptions::new("d", "u"))?;
        seed(&s)?;
        let w = shown(&s)?;
        s.close();
        w
    };
    checkpoint(&path);
    let bytes = file_bytes(&path);
    for key in [[1u8; 32], [0u8; 32], {
        let mut k = KEY;
        k[31] ^= 1;
        k
    }] {
        assert!(matches!(
            Store::open(&path, &key, StoreOptions::new("d", "u")),
            Err(Error::WrongKey)
        ));
        let mut ro = StoreOptions::new("d", "u");
        ro.read_only = true;
        assert!(matches!(Store::open(&path, &key, ro), Err(Error::WrongKey)));
        assert!(file_bytes(&path) == bytes, "a wrong key changed the file");
        let wal = side_file(&path, "-wal");
        assert!(
            !wal.exists() || std::fs::metadata(&wal)?.len() == 0,
            "a wrong key wrote to the WAL"
        );
    }
    // Another device or user with a wrong key changes nothing either.
    assert!(matches!(
        Store::open(&path, &[7u8; 32], StoreOptions::new("other-device", "eve")),
        Err(Error::WrongKey)
    ));
    assert!(file_bytes(&path) == bytes);
    // The right key still opens it, with everything in it.
    let s = Store::open(&path, &KEY, StoreOptions::new("d", "u"))?;
    assert_eq!(shown(&s)?, want);

    // Recent commits still in the WAL (not yet folded into the file): a wrong key
    // changes neither file.
    let hold = Connection::open(&path).map_err(Error::from)?;
    hold.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .map_err(Error::from)?;
    hold.query_row("SELECT count(*) FROM documents", [], |r| r.get::<_, i64>(0))
        .map_err(Error::from)?;
    let aid = s.create(&scope("a"), &sample::account("Recent", "u", "n"))?;
    // Dropped, not closed: close() folds the WAL into the file, which is not the case
    // this part is about (a device that died with commits still in the WAL).
    drop(s);
    // The last connection closes without folding the WAL into the file.
    drop(hold);
    let wal = side_file(&path, "-wal");
    let (main_bytes, wal_bytes) = (file_bytes(&path), file_bytes(&wal));
    assert!(!wal_bytes.is_empty());
    assert!(matches!(
        Store::open(&path, &[1u8; 32], StoreOptions::new("d", "u")),
        Err(Error::WrongKey)
    ));
    assert!(
        file_bytes(&path) == main_bytes,
        "a wrong key changed the file"
    );
    assert!(file_bytes(&wal) == wal_bytes, "a wrong key changed the WAL");
    let s = Store::open(&path, &KEY, StoreOptions::new("d", "u"))?;
    assert_eq!(s.get::<Account>(aid)?.name, "Recent");
    Ok(())
}
