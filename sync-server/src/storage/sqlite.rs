//! SQLite storage: one file, zero set-up. One writer connection (WAL,
//! `synchronous=FULL`) shared by a group-commit ingest thread and the admin operations;
//! read-only connections for pulls.
//!
//! Group commit: pushes from many devices queue for the ingest thread, which commits
//! every queued push in one transaction (one fsync) and then answers each. A push is
//! acknowledged only after its transaction committed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use automerge::ChangeHash;
use fieldsync_core::store::{Checkpointer, Nudger};
use fieldsync_core::sync::wire::{RejectReason, Rejected, ScopeGrant};
use fieldsync_core::{DocId, Kind, Timestamp};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::*;

mod blobs;
mod console;

const SCHEMA: &[&str] = &[
    r#"
CREATE TABLE tenants (
    id            TEXT PRIMARY KEY,
    epoch         BLOB NOT NULL,
    next_position INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    tenant       TEXT NOT NULL REFERENCES tenants(id),
    id           TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

CREATE TABLE scopes (
    tenant     TEXT NOT NULL REFERENCES tenants(id),
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
) WITHOUT ROWID;

CREATE TABLE grants (
    tenant    TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    scope     TEXT NOT NULL,
    can_read  INTEGER NOT NULL,
    can_write INTEGER NOT NULL,
    PRIMARY KEY (tenant, user_id, scope),
    FOREIGN KEY (tenant, user_id) REFERENCES users(tenant, id),
    FOREIGN KEY (tenant, scope) REFERENCES scopes(tenant, name)
) WITHOUT ROWID;

CREATE TABLE enrolments (
    code_hash  BLOB PRIMARY KEY,
    tenant     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    device_id  TEXT
) WITHOUT ROWID;

CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    public_key   BLOB NOT NULL,
    name         TEXT NOT NULL,
    replica      BLOB,
    enrolled_at  INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_seen_at INTEGER
) WITHOUT ROWID;

CREATE TABLE documents (
    id            BLOB PRIMARY KEY,
    tenant        TEXT NOT NULL,
    kind          INTEGER NOT NULL,
    scope         TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    heads         BLOB NOT NULL,
    last_position INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX documents_scope ON documents(tenant, scope);

CREATE TABLE changes (
    tenant      TEXT NOT NULL,
    position    INTEGER NOT NULL,
    doc_id      BLOB NOT NULL,
    hash        BLOB NOT NULL,
    kind        INTEGER NOT NULL,
    scope       TEXT NOT NULL,
    device      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    actor       BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    bytes       BLOB NOT NULL,
    PRIMARY KEY (tenant, position)
) WITHOUT ROWID;
CREATE UNIQUE INDEX changes_doc_hash ON changes(doc_id, hash);
CREATE INDEX changes_scope ON changes(tenant, scope, position);
CREATE INDEX changes_doc ON changes(doc_id, position);

-- Automerge actor -> device and user, for field history on other devices.
CREATE TABLE actors (
    tenant    TEXT NOT NULL,
    actor     BLOB NOT NULL,
    device_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (tenant, actor)
) WITHOUT ROWID;
"#,
    // 2: back-office sign-in (storage/sqlite/console.rs).
    console::SCHEMA_2,
    // 3: blob holdings per tenant (storage/sqlite/blobs.rs).
    blobs::SCHEMA_3,
];

fn migrate(conn: &mut Connection) -> Result<()> {
    let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let max = i64::try_from(SCHEMA.len()).unwrap_or(i64::MAX);
    if v > max {
        return Err(StorageError::Invalid(format!(
            "server database schema {v} is newer than this build ({max})"
        )));
    }
    for step in v..max {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA[usize::try_from(step).unwrap_or(0)])?;
        tx.pragma_update(None, "user_version", step + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn random16() -> Result<[u8; 16]> {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| StorageError::Invalid("system random failed".into()))?;
    Ok(b)
}

fn now() -> Timestamp {
    fieldsync_core::now_ms()
}

type Reply = mpsc::SyncSender<Result<IngestOutcome>>;

/// SQLite storage.
pub struct SqliteStorage {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Mutex<Vec<Connection>>,
    ingest_tx: Mutex<Option<mpsc::Sender<(IngestRequest, Reply)>>>,
    ingest_thread: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Mutex<Option<Checkpointer>>,
    max_group: usize,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStorage {
    /// Open (or create) the server database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Arc<Self>> {
        let path = path.as_ref().to_path_buf();
        let mut w = Connection::open(&path)?;
        w.busy_timeout(std::time::Duration::from_secs(10))?;
        w.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
        w.pragma_update(None, "synchronous", "FULL")?;
        w.pragma_update(None, "foreign_keys", "ON")?;
        // Group commits touch index pages all over the log: a 64 MiB page cache keeps
        // them in memory (the default 2 MiB spills dirty pages mid-transaction).
        w.pragma_update(None, "cache_size", -65536)?;
        // Checkpoints run on their own thread (core::store::Checkpointer), not inside
        // the ingest thread's commits.
        w.pragma_update(None, "wal_autocheckpoint", 0)?;
        migrate(&mut w)?;
        let checkpointer = Checkpointer::start(
            &path,
            "fieldsync-ckpt",
            std::time::Duration::from_millis(250),
            CHECKPOINT_RESTART_FRAMES,
        )?;
        let nudger = checkpointer.nudger();
        let writer = Arc::new(Mutex::new(w));
        let (tx, rx) = mpsc::channel::<(IngestRequest, Reply)>();
        let wclone = writer.clone();
        let max_group = 256;
        let handle = std::thread::Builder::new()
            .name("fieldsync-ingest".into())
            .spawn(move || ingest_loop(&wclone, &rx, max_group, &nudger))?;
        Ok(Arc::new(SqliteStorage {
            path,
            writer,
            readers: Mutex::new(Vec::new()),
            ingest_tx: Mutex::new(Some(tx)),
            ingest_thread: Mutex::new(Some(handle)),
            checkpointer: Mutex::new(Some(checkpointer)),
            max_group,
        }))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stop the ingest thread after it drains its queue.
    pub fn shutdown(&self) {
        self.ingest_tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = self
            .ingest_thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = h.join();
        }
        if let Some(mut c) = self
            .checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            c.stop();
        }
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                c
            }
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }

    fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut w = self.writer();
        let tx = w.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Largest number of pushes committed together.
    pub fn max_group(&self) -> usize {
        self.max_group
    }
}

impl Backend for SqliteStorage {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    fn shutdown(&self) {
        SqliteStorage::shutdown(self);
    }
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// WAL frames (4 KiB pages) past which the checkpointer restarts the log even if that
/// makes the writer wait briefly: ~400 MiB.
const CHECKPOINT_RESTART_FRAMES: i64 = 100_000;

fn ingest_loop(
    writer: &Mutex<Connection>,
    rx: &mpsc::Receiver<(IngestRequest, Reply)>,
    max_group: usize,
    checkpoint: &Nudger,
) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < max_group {
            match rx.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        // The requests move into the transaction (their change bytes are not copied);
        // the replies wait for its outcome.
        let (reqs, replies): (Vec<IngestRequest>, Vec<Reply>) = group.into_iter().unzip();
        let result = {
            let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
            commit_group(&mut w, reqs)
        };
        checkpoint.nudge();
        match result {
            Ok(outcomes) => {
                for (reply, o) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(o));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::error!(error = %msg, "ingest transaction failed; pushes not acknowledged");
                for reply in replies {
                    let _ = reply.send(Err(StorageError::Invalid(format!("commit failed: {msg}"))));
                }
            }
        }
    }
}

struct DocState {
    tenant: String,
    created_by: String,
    kind: Kind,
    scope: String,
    heads: Vec<ChangeHash>,
    known: HashSet<ChangeHash>,
    created: bool,
    last_position: u64,
}

fn encode_heads(h: &[ChangeHash]) -> Vec<u8> {
    fieldsync_core::doc::encode_heads(h)
}

/// Commit every request of a group in one transaction.
fn commit_group(conn: &mut Connection, reqs: Vec<IngestRequest>) -> Result<Vec<IngestOutcome>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = now();
    let mut next_pos: HashMap<String, u64> = HashMap::new();
    let mut docs: HashMap<DocId, DocState> = HashMap::new();
    let mut scope_exists: HashMap<(String, String), bool> = HashMap::new();
    let mut outcomes = Vec::with_capacity(reqs.len());
    let mut seen_actors: HashMap<String, HashSet<Vec<u8>>> = HashMap::new();
    {
        let mut get_doc = tx.prepare_cached(
            "SELECT tenant, kind, scope, heads, last_position FROM documents WHERE id = ?1",
        )?;
        let mut has_change =
            tx.prepare_cached("SELECT 1 FROM changes WHERE doc_id = ?1 AND hash = ?2")?;
        let mut get_scope =
            tx.prepare_cached("SELECT 1 FROM scopes WHERE tenant = ?1 AND name = ?2")?;
        let mut get_pos = tx.prepare_cached("SELECT next_position FROM tenants WHERE id = ?1")?;
        let mut ins = tx.prepare_cached(
            "INSERT INTO changes (tenant, position, doc_id, hash, kind, scope, device, user_id, actor, received_at, bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let mut ins_actor = tx.prepare_cached(
            "INSERT INTO actors (tenant, actor, device_id, user_id) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )?;
        for mut req in reqs {
            let mut out = IngestOutcome {
                rejected: std::mem::take(&mut req.pre_rejected),
                ..Default::default()
            };
            let mut scopes: HashSet<String> = HashSet::new();
            if !next_pos.contains_key(&req.tenant) {
                let p: Option<i64> = get_pos.query_row([&req.tenant], |r| r.get(0)).optional()?;
                let Some(p) = p else {
                    for d in &req.docs {
                        for c in &d.changes {
                            out.rejected
                                .push(reject(d.id, c, RejectReason::UnknownScope));
                        }
                    }
                    outcomes.push(out);
                    continue;
                };
                next_pos.insert(req.tenant.clone(), u64::try_from(p).unwrap_or(1));
            }
            for d in &req.docs {
                // Load (or start) the document's state.
                if let std::collections::hash_map::Entry::Vacant(e) = docs.entry(d.id) {
                    let row: Option<(String, i64, String, Vec<u8>, i64)> = get_doc
                        .query_row([&d.id.as_bytes()[..]], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                        })
                        .optional()?;
                    if let Some((tenant, kind, scope, heads, last)) = row {
                        let kind = u8::try_from(kind)
                            .ok()
                            .and_then(Kind::from_code)
                            .unwrap_or(Kind::Form);
                        e.insert(DocState {
                            tenant,
                            created_by: String::new(),
                            kind,
                            scope,
                            heads: fieldsync_core::doc::decode_heads(&heads).unwrap_or_default(),
                            known: HashSet::new(),
                            created: false,
                            last_position: u64::try_from(last).unwrap_or(0),
                        });
                    }
                }
                let reason = match docs.get(&d.id) {
                    Some(s) if s.tenant != req.tenant || s.kind != d.kind || s.scope != d.scope => {
                        Some(RejectReason::ScopeMismatch)
                    }
                    Some(_) => None,
                    None => {
                        let key = (req.tenant.clone(), d.scope.clone());
                        let exists = match scope_exists.get(&key) {
                            Some(e) => *e,
                            None => {
                                let e = get_scope
                                    .query_row(params![req.tenant, d.scope], |_| Ok(()))
                                    .optional()?
                                    .is_some();
                                scope_exists.insert(key, e);
                                e
                            }
                        };
                        (!exists).then_some(RejectReason::UnknownScope)
                    }
                };
                let reason = reason.or_else(|| {
                    (!req.writable.contains(&d.scope)).then_some(RejectReason::Forbidden)
                });
                if let Some(r) = reason {
                    for c in &d.changes {
                        out.rejected.push(reject(d.id, c, r));
                    }
                    continue;
                }
                let state = docs.entry(d.id).or_insert_with(|| DocState {
                    tenant: req.tenant.clone(),
                    created_by: req.device_id.clone(),
                    kind: d.kind,
                    scope: d.scope.clone(),
                    heads: Vec::new(),
                    known: HashSet::new(),
                    created: true,
                    last_position: 0,
                });
                // A document first seen in this group has nothing in the log yet: its
                // duplicates and dependencies are all in `known`, no lookup needed.
                let fresh_doc = state.created;
                for c in &d.changes {
                    let dup = state.known.contains(&c.hash)
                        || (!fresh_doc
                            && has_change
                                .query_row(params![&d.id.as_bytes()[..], &c.hash.0[..]], |_| Ok(()))
                                .optional()?
                                .is_some());
                    if dup {
                        out.duplicates += 1;
                        continue;
                    }
                    let mut missing = false;
                    for dep in &c.deps {
                        if !state.known.contains(dep)
                            && !fresh_doc
                            && has_change
                                .query_row(params![&d.id.as_bytes()[..], &dep.0[..]], |_| Ok(()))
                                .optional()?
                                .is_none()
                        {
                            missing = true;
                            break;
                        }
                    }
                    if missing || (fresh_doc && c.deps.iter().any(|d| !state.known.contains(d))) {
                        out.rejected
                            .push(reject(d.id, c, RejectReason::MissingDeps));
                        continue;
                    }
                    let pos = next_pos
                        .get_mut(&req.tenant)
                        .ok_or_else(|| StorageError::Invalid("tenant".into()))?;
                    let position = *pos;
                    *pos += 1;
                    ins.execute(params![
                        req.tenant,
                        i64::try_from(position).unwrap_or(i64::MAX),
                        &d.id.as_bytes()[..],
                        &c.hash.0[..],
                        d.kind.code(),
                        d.scope,
                        req.device_id,
                        req.user_id,
                        c.actor,
                        now,
                        c.bytes
                    ])?;
                    let known_actor = seen_actors
                        .get(&req.tenant)
                        .is_some_and(|a| a.contains(&c.actor));
                    if !known_actor {
                        seen_actors
                            .entry(req.tenant.clone())
                            .or_default()
                            .insert(c.actor.clone());
                        ins_actor.execute(params![
                            req.tenant,
                            c.actor,
                            req.device_id,
                            req.user_id
                        ])?;
                    }
                    state.known.insert(c.hash);
                    state.heads.retain(|h| !c.deps.contains(h));
                    state.heads.push(c.hash);
                    state.last_position = position;
                    out.accepted += 1;
                    out.last_position = position;
                    if !scopes.contains(&d.scope) {
                        scopes.insert(d.scope.clone());
                    }
                }
            }
            out.scopes = scopes.into_iter().collect();
            out.scopes.sort();
            outcomes.push(out);
        }
    }
    write_doc_states(&tx, &docs, now)?;
    {
        let mut set_pos =
            tx.prepare_cached("UPDATE tenants SET next_position = ?2 WHERE id = ?1")?;
        for (tenant, p) in &next_pos {
            set_pos.execute(params![tenant, i64::try_from(*p).unwrap_or(i64::MAX)])?;
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

/// Insert or update the `documents` row of every document that received changes, with
/// cached statements (one parse per connection, not one per document) and in id order
/// (neighbouring keys land on the same B-tree pages).
fn write_doc_states(
    tx: &rusqlite::Transaction<'_>,
    docs: &HashMap<DocId, DocState>,
    now: Timestamp,
) -> Result<()> {
    let mut ins = tx.prepare_cached(
        "INSERT INTO documents (id, tenant, kind, scope, created_by, created_at, updated_at, heads, last_position)
         VALUES (?1, ?2, ?3, ?4, ?8, ?5, ?5, ?6, ?7)",
    )?;
    let mut upd = tx.prepare_cached(
        "UPDATE documents SET updated_at = ?2, heads = ?3, last_position = ?4 WHERE id = ?1",
    )?;
    let mut touched: Vec<(&DocId, &DocState)> =
        docs.iter().filter(|(_, s)| !s.known.is_empty()).collect();
    touched.sort_unstable_by_key(|(id, _)| **id);
    for (id, s) in touched {
        let last = i64::try_from(s.last_position).unwrap_or(0);
        if s.created {
            ins.execute(params![
                &id.as_bytes()[..],
                s.tenant,
                s.kind.code(),
                s.scope,
                now,
                encode_heads(&s.heads),
                last,
                s.created_by
            ])?;
        } else {
            upd.execute(params![
                &id.as_bytes()[..],
                now,
                encode_heads(&s.heads),
                last
            ])?;
        }
    }
    Ok(())
}

fn reject(doc: DocId, c: &ParsedChange, reason: RejectReason) -> Rejected {
    Rejected {
        doc: *doc.as_bytes(),
        hash: c.hash.0,
        index: c.index,
        reason,
    }
}

fn row_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<LogEntry> {
    let id: Vec<u8> = r.get(1)?;
    let kind: i64 = r.get(2)?;
    Ok(LogEntry {
        position: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
        doc_id: DocId::from_slice(&id).unwrap_or(DocId::from_bytes([0; 16])),
        kind: u8::try_from(kind)
            .ok()
            .and_then(Kind::from_code)
            .unwrap_or(Kind::Form),
        scope: r.get(3)?,
        bytes: r.get(4)?,
        actor: r.get(5)?,
        device: r.get(6)?,
        user: r.get(7)?,
    })
}

const ENTRY_COLS: &str = "position, doc_id, kind, scope, bytes, actor, device, user_id";

impl Storage for SqliteStorage {
    fn ensure_tenant(&self, tenant: &str) -> Result<()> {
        fieldsync_core::Scope::new(tenant)
            .map_err(|_| StorageError::Invalid("tenant names are a-z 0-9 : _ - . /".into()))?;
        let epoch = random16()?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO tenants (id, epoch, next_position, created_at) VALUES (?1, ?2, 1, ?3) ON CONFLICT(id) DO NOTHING",
                params![tenant, &epoch[..], now()],
            )?;
            Ok(())
        })
    }

    fn create_user(&self, tenant: &str, user_id: &str, display_name: &str) -> Result<()> {
        if user_id.is_empty() || user_id.len() > 128 {
            return Err(StorageError::Invalid(
                "user ids are 1-128 characters".into(),
            ));
        }
        self.write(|tx| {
            let n = tx.execute(
                "INSERT INTO users (tenant, id, display_name, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![tenant, user_id, display_name, now()],
            )?;
            if n == 0 {
                return Err(StorageError::Exists(format!("user {user_id}")));
            }
            Ok(())
        })
    }

    fn list_users(&self, tenant: &str) -> Result<Vec<(String, String)>> {
        self.with_reader(|c| {
            let mut st =
                c.prepare("SELECT id, display_name FROM users WHERE tenant = ?1 ORDER BY id")?;
            let rows = st
                .query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn create_scope(&self, tenant: &str, scope: &str) -> Result<()> {
        fieldsync_core::Scope::new(scope).map_err(|e| StorageError::Invalid(e.to_string()))?;
        self.write(|tx| {
            let n = tx.execute(
                "INSERT INTO scopes (tenant, name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![tenant, scope, now()],
            )?;
            if n == 0 {
                return Err(StorageError::Exists(format!("scope {scope}")));
            }
            Ok(())
        })
    }

    fn list_scopes(&self, tenant: &str) -> Result<Vec<String>> {
        self.with_reader(|c| {
            let mut st = c.prepare("SELECT name FROM scopes WHERE tenant = ?1 ORDER BY name")?;
            let rows = st
                .query_map([tenant], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn set_grant(
        &self,
        tenant: &str,
        user_id: &str,
        scope: &str,
        read: bool,
        write: bool,
    ) -> Result<()> {
        self.write(|tx| {
            if !read && !write {
                tx.execute("DELETE FROM grants WHERE tenant = ?1 AND user_id = ?2 AND scope = ?3", params![tenant, user_id, scope])?;
                return Ok(());
            }
            let user: Option<i64> = tx.query_row("SELECT 1 FROM users WHERE tenant = ?1 AND id = ?2", params![tenant, user_id], |r| r.get(0)).optional()?;
            if user.is_none() {
                return Err(StorageError::NotFound(format!("user {user_id}")));
            }
            let sc: Option<i64> = tx.query_row("SELECT 1 FROM scopes WHERE tenant = ?1 AND name = ?2", params![tenant, scope], |r| r.get(0)).optional()?;
            if sc.is_none() {
                return Err(StorageError::NotFound(format!("scope {scope}")));
            }
            tx.execute(
                "INSERT INTO grants (tenant, user_id, scope, can_read, can_write) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(tenant, user_id, scope) DO UPDATE SET can_read = excluded.can_read, can_write = excluded.can_write",
                params![tenant, user_id, scope, read, write],
            )?;
            Ok(())
        })
    }

    fn grants(&self, tenant: &str, user_id: &str) -> Result<Vec<ScopeGrant>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT scope, can_read, can_write FROM grants WHERE tenant = ?1 AND user_id = ?2 ORDER BY scope",
            )?;
            let rows = st
                .query_map(params![tenant, user_id], |r| Ok(ScopeGrant { scope: r.get(0)?, read: r.get(1)?, write: r.get(2)? }))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn create_enrolment(
        &self,
        tenant: &str,
        user_id: &str,
        code_hash: [u8; 32],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        self.write(|tx| {
            let user: Option<i64> = tx.query_row("SELECT 1 FROM users WHERE tenant = ?1 AND id = ?2", params![tenant, user_id], |r| r.get(0)).optional()?;
            if user.is_none() {
                return Err(StorageError::NotFound(format!("user {user_id}")));
            }
            tx.execute(
                "INSERT INTO enrolments (code_hash, tenant, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&code_hash[..], tenant, user_id, now, expires_at],
            )?;
            Ok(())
        })
    }

    fn enrol(&self, req: &EnrolRequest, now: Timestamp) -> Result<DeviceRecord> {
        if req.device_id.is_empty() || req.device_id.len() > 128 || req.public_key.len() != 32 {
            return Err(StorageError::Invalid("bad device id or key".into()));
        }
        self.write(|tx| {
            let row: Option<(String, String, i64, Option<i64>)> = tx
                .query_row(
                    "SELECT tenant, user_id, expires_at, used_at FROM enrolments WHERE code_hash = ?1",
                    [&req.code_hash[..]],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((tenant, user_id, expires_at, used_at)) = row else {
                return Err(StorageError::Invalid("unknown enrolment code".into()));
            };
            if used_at.is_some() {
                return Err(StorageError::Invalid("enrolment code already used".into()));
            }
            if expires_at < now {
                return Err(StorageError::Invalid("enrolment code expired".into()));
            }
            let exists: Option<i64> = tx.query_row("SELECT 1 FROM devices WHERE id = ?1", [&req.device_id], |r| r.get(0)).optional()?;
            if exists.is_some() {
                return Err(StorageError::Exists(format!("device {}", req.device_id)));
            }
            tx.execute(
                "INSERT INTO devices (id, tenant, user_id, public_key, name, replica, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![req.device_id, tenant, user_id, req.public_key, req.name, &req.replica[..], now],
            )?;
            tx.execute("UPDATE enrolments SET used_at = ?2, device_id = ?3 WHERE code_hash = ?1", params![&req.code_hash[..], now, req.device_id])?;
            Ok(DeviceRecord {
                id: req.device_id.clone(),
                tenant,
                user_id,
                public_key: req.public_key.clone(),
                name: req.name.clone(),
                replica: Some(req.replica),
                enrolled_at: now,
                revoked_at: None,
                last_seen_at: None,
            })
        })
    }

    fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>> {
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT id, tenant, user_id, public_key, name, replica, enrolled_at, revoked_at, last_seen_at FROM devices WHERE id = ?1",
                [device_id],
                device_row,
            )
            .optional()?)
        })
    }

    fn list_devices(&self, tenant: &str) -> Result<Vec<DeviceRecord>> {
        self.with_reader(|c| {
            let mut st = c.prepare(
                "SELECT id, tenant, user_id, public_key, name, replica, enrolled_at, revoked_at, last_seen_at FROM devices
                 WHERE tenant = ?1 ORDER BY id",
            )?;
            let rows = st.query_map([tenant], device_row)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn revoke_device(&self, device_id: &str, now: Timestamp) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                params![device_id, now],
            )?;
            if n == 0 {
                return Err(StorageError::NotFound(format!("device {device_id}")));
            }
            Ok(())
        })
    }

    fn touch_device(
        &self,
        device_id: &str,
        replica: [u8; 16],
        now: Timestamp,
    ) -> Result<Option<[u8; 16]>> {
        self.write(|tx| {
            let old: Option<Option<Vec<u8>>> = tx
                .query_row(
                    "SELECT replica FROM devices WHERE id = ?1",
                    [device_id],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "UPDATE devices SET replica = ?2, last_seen_at = ?3 WHERE id = ?1",
                params![device_id, &replica[..], now],
            )?;
            Ok(old
                .flatten()
                .and_then(|v| <[u8; 16]>::try_from(v.as_slice()).ok()))
        })
    }

    fn epoch(&self, tenant: &str) -> Result<[u8; 16]> {
        self.with_reader(|c| {
            let v: Option<Vec<u8>> = c
                .query_row("SELECT epoch FROM tenants WHERE id = ?1", [tenant], |r| {
                    r.get(0)
                })
                .optional()?;
            let v = v.ok_or_else(|| StorageError::NotFound(format!("tenant {tenant}")))?;
            <[u8; 16]>::try_from(v.as_slice()).map_err(|_| StorageError::Invalid("epoch".into()))
        })
    }

    fn new_epoch(&self, tenant: &str) -> Result<[u8; 16]> {
        let e = random16()?;
        self.write(|tx| {
            tx.execute(
                "UPDATE tenants SET epoch = ?2 WHERE id = ?1",
                params![tenant, &e[..]],
            )?;
            Ok(e)
        })
    }

    fn watermark(&self, tenant: &str) -> Result<u64> {
        self.with_reader(|c| {
            let p: Option<i64> = c
                .query_row(
                    "SELECT next_position FROM tenants WHERE id = ?1",
                    [tenant],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(u64::try_from(p.unwrap_or(1) - 1).unwrap_or(0))
        })
    }

    fn ingest(&self, req: IngestRequest) -> Result<IngestOutcome> {
        let (tx, rx) = mpsc::sync_channel(1);
        {
            let g = self.ingest_tx.lock().unwrap_or_else(|p| p.into_inner());
            let sender = g.as_ref().ok_or(StorageError::Closed)?;
            sender.send((req, tx)).map_err(|_| StorageError::Closed)?;
        }
        rx.recv().map_err(|_| StorageError::Closed)?
    }

    fn pull(
        &self,
        tenant: &str,
        cursors: &[(String, u64)],
        exclude_device: Option<&str>,
        max_bytes: usize,
    ) -> Result<PullResult> {
        const PER_SCOPE: i64 = 4096;
        self.with_reader(|c| {
            let tx = c.unchecked_transaction()?;
            let wm: Option<i64> = tx.query_row("SELECT next_position - 1 FROM tenants WHERE id = ?1", [tenant], |r| r.get(0)).optional()?;
            let watermark = u64::try_from(wm.unwrap_or(0)).unwrap_or(0);
            let mut entries: Vec<LogEntry> = Vec::new();
            let mut horizon = watermark;
            {
                let mut st = tx.prepare_cached(&format!(
                    "SELECT {ENTRY_COLS} FROM changes WHERE tenant = ?1 AND scope = ?2 AND position > ?3 AND position <= ?4
                     AND device != ?5 ORDER BY position LIMIT ?6"
                ))?;
                for (scope, cur) in cursors {
                    let rows: Vec<LogEntry> = st
                        .query_map(
                            params![tenant, scope, i64::try_from(*cur).unwrap_or(i64::MAX), i64::try_from(watermark).unwrap_or(i64::MAX), exclude_device.unwrap_or(""), PER_SCOPE],
                            row_entry,
                        )?
                        .collect::<Result<_, _>>()?;
                    if rows.len() as i64 == PER_SCOPE
                        && let Some(last) = rows.last() {
                            horizon = horizon.min(last.position);
                        }
                    entries.extend(rows);
                }
            }
            tx.finish()?;
            entries.retain(|e| e.position <= horizon);
            entries.sort_by_key(|e| e.position);
            let mut out = Vec::new();
            let mut bytes = 0usize;
            let mut cut = None;
            for e in entries {
                if !out.is_empty() && bytes + e.bytes.len() > max_bytes {
                    cut = out.last().map(|l: &LogEntry| l.position);
                    break;
                }
                bytes += e.bytes.len();
                out.push(e);
            }
            Ok(match cut {
                Some(p) => PullResult { entries: out, upto: p, more: true },
                None => PullResult { entries: out, upto: horizon, more: horizon < watermark },
            })
        })
    }

    fn docs_in_scopes(&self, tenant: &str, scopes: &[String]) -> Result<Vec<DocMeta>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, kind, scope, heads FROM documents WHERE tenant = ?1 AND scope = ?2",
            )?;
            let mut out = Vec::new();
            for s in scopes {
                let rows: Vec<DocMeta> = st
                    .query_map(params![tenant, s], meta_row)?
                    .collect::<Result<_, _>>()?;
                out.extend(rows);
            }
            Ok(out)
        })
    }

    fn doc_meta(&self, tenant: &str, id: DocId) -> Result<Option<DocMeta>> {
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT id, kind, scope, heads FROM documents WHERE tenant = ?1 AND id = ?2",
                params![tenant, &id.as_bytes()[..]],
                meta_row,
            )
            .optional()?)
        })
    }

    fn doc_log(&self, tenant: &str, id: DocId) -> Result<Vec<LogEntry>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {ENTRY_COLS} FROM changes WHERE doc_id = ?1 AND tenant = ?2 ORDER BY position"
            ))?;
            let rows = st.query_map(params![&id.as_bytes()[..], tenant], row_entry)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn log_after(&self, tenant: &str, position: u64, limit: usize) -> Result<Vec<LogEntry>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {ENTRY_COLS} FROM changes WHERE tenant = ?1 AND position > ?2 ORDER BY position LIMIT ?3"
            ))?;
            let rows = st
                .query_map(params![tenant, i64::try_from(position).unwrap_or(i64::MAX), i64::try_from(limit).unwrap_or(1000)], row_entry)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn tenants(&self) -> Result<Vec<String>> {
        self.with_reader(|c| {
            let mut st = c.prepare("SELECT id FROM tenants ORDER BY id")?;
            let rows = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn counts(&self, tenant: &str) -> Result<(u64, u64)> {
        self.with_reader(|c| {
            let d: i64 = c.query_row(
                "SELECT count(*) FROM documents WHERE tenant = ?1",
                [tenant],
                |r| r.get(0),
            )?;
            let ch: i64 = c.query_row(
                "SELECT count(*) FROM changes WHERE tenant = ?1",
                [tenant],
                |r| r.get(0),
            )?;
            Ok((
                u64::try_from(d).unwrap_or(0),
                u64::try_from(ch).unwrap_or(0),
            ))
        })
    }
}

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRecord> {
    let replica: Option<Vec<u8>> = r.get(5)?;
    Ok(DeviceRecord {
        id: r.get(0)?,
        tenant: r.get(1)?,
        user_id: r.get(2)?,
        public_key: r.get(3)?,
        name: r.get(4)?,
        replica: replica.and_then(|v| <[u8; 16]>::try_from(v.as_slice()).ok()),
        enrolled_at: r.get(6)?,
        revoked_at: r.get(7)?,
        last_seen_at: r.get(8)?,
    })
}

fn meta_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DocMeta> {
    let id: Vec<u8> = r.get(0)?;
    let kind: i64 = r.get(1)?;
    let heads: Vec<u8> = r.get(3)?;
    Ok(DocMeta {
        id: DocId::from_slice(&id).unwrap_or(DocId::from_bytes([0; 16])),
        kind: u8::try_from(kind)
            .ok()
            .and_then(Kind::from_code)
            .unwrap_or(Kind::Form),
        scope: r.get(2)?,
        heads: fieldsync_core::doc::decode_heads(&heads).unwrap_or_default(),
    })
}
