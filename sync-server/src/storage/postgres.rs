//! PostgreSQL storage: the authoritative store when several stateless server nodes
//! share one database (docs/operations.md, ADR 0011).
//!
//! - **Positions.** Each tenant's row in `tenants` carries the next log position. A
//!   committing transaction takes that row `FOR UPDATE` first and holds it until it
//!   commits, so the commits of one tenant are serialised across every node and their
//!   positions become visible in position order: once any reader sees position `p`,
//!   nothing below `p` can still commit. A cursor can therefore never skip a change,
//!   whichever node a device pulls from (`tests/tests/pg_cluster.rs` interleaves two
//!   nodes' commits deliberately to check it).
//! - **Group commit.** As on SQLite, one ingest thread per node commits every queued
//!   push in one transaction, with a handful of set-based statements (`unnest` arrays)
//!   whatever the number of changes, and answers each push after the commit.
//! - **Wake-ups.** The committing transaction sends `NOTIFY fieldsync_commits` (delivered
//!   at commit); every node listens and tells its live devices and its merged view.
//!   After a lost listener connection a node wakes everything once (a missed
//!   notification only delays; the log is the truth).
//! - **Migrations** run under an advisory lock, so nodes starting together migrate once.

mod blobs;
mod console;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ::postgres as pg;
use automerge::ChangeHash;
use fieldsync_core::sync::wire::{RejectReason, Rejected, ScopeGrant};
use fieldsync_core::{DocId, Kind, Timestamp};
use pg::fallible_iterator::FallibleIterator;
use pg::{Client, IsolationLevel, NoTls, Row, Statement};

use super::*;

/// The channel commits are announced on.
const CHANNEL: &str = "fieldsync_commits";
/// `pg_advisory_xact_lock` key held while migrating.
const MIGRATION_LOCK: i64 = 0x6669_656c_6473_796e; // "fieldsyn"
/// Largest `NOTIFY` payload sent (PostgreSQL's limit is 8000 bytes).
const MAX_PAYLOAD: usize = 7_000;
/// Connections kept for reads and admin writes.
const POOL: usize = 8;

const SCHEMA: &[&str] = &[
    r#"
CREATE TABLE tenants (
    id            TEXT PRIMARY KEY,
    epoch         BYTEA NOT NULL,
    next_position BIGINT NOT NULL DEFAULT 1,
    created_at    BIGINT NOT NULL
);

CREATE TABLE users (
    tenant       TEXT NOT NULL REFERENCES tenants(id),
    id           TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE scopes (
    tenant     TEXT NOT NULL REFERENCES tenants(id),
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE grants (
    tenant    TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    scope     TEXT NOT NULL,
    can_read  BOOLEAN NOT NULL,
    can_write BOOLEAN NOT NULL,
    PRIMARY KEY (tenant, user_id, scope),
    FOREIGN KEY (tenant, user_id) REFERENCES users(tenant, id),
    FOREIGN KEY (tenant, scope) REFERENCES scopes(tenant, name)
);

CREATE TABLE enrolments (
    code_hash  BYTEA PRIMARY KEY,
    tenant     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    device_id  TEXT
);

CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    public_key   BYTEA NOT NULL,
    name         TEXT NOT NULL,
    replica      BYTEA,
    enrolled_at  BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_seen_at BIGINT
);

CREATE TABLE documents (
    id            BYTEA PRIMARY KEY,
    tenant        TEXT NOT NULL,
    kind          SMALLINT NOT NULL,
    scope         TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    heads         BYTEA NOT NULL,
    last_position BIGINT NOT NULL
);
CREATE INDEX documents_scope ON documents(tenant, scope);

CREATE TABLE changes (
    tenant      TEXT NOT NULL,
    position    BIGINT NOT NULL,
    doc_id      BYTEA NOT NULL,
    hash        BYTEA NOT NULL,
    kind        SMALLINT NOT NULL,
    scope       TEXT NOT NULL,
    device      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    actor       BYTEA NOT NULL,
    received_at BIGINT NOT NULL,
    bytes       BYTEA NOT NULL,
    PRIMARY KEY (tenant, position)
);
CREATE UNIQUE INDEX changes_doc_hash ON changes(doc_id, hash);
CREATE INDEX changes_scope ON changes(tenant, scope, position);
CREATE INDEX changes_doc ON changes(doc_id, position);

CREATE TABLE actors (
    tenant    TEXT NOT NULL,
    actor     BYTEA NOT NULL,
    device_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (tenant, actor)
);
"#,
    console::SCHEMA_2,
    // 3: blob holdings per tenant (storage/postgres/blobs.rs).
    blobs::SCHEMA_3,
];

fn migrate(client: &mut Client) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS fieldsync_schema (version INTEGER NOT NULL)")?;
    let v: i32 = match tx.query_opt("SELECT version FROM fieldsync_schema", &[])? {
        Some(r) => r.get(0),
        None => {
            tx.execute("INSERT INTO fieldsync_schema (version) VALUES (0)", &[])?;
            0
        }
    };
    let max = i32::try_from(SCHEMA.len()).unwrap_or(i32::MAX);
    if v > max {
        return Err(StorageError::Invalid(format!(
            "server database schema {v} is newer than this build ({max})"
        )));
    }
    for step in v..max {
        tx.batch_execute(SCHEMA[usize::try_from(step).unwrap_or(0)])?;
    }
    tx.execute("UPDATE fieldsync_schema SET version = $1", &[&max])?;
    tx.commit()?;
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

fn pos_i64(p: u64) -> i64 {
    i64::try_from(p).unwrap_or(i64::MAX)
}

fn pos_u64(p: i64) -> u64 {
    u64::try_from(p).unwrap_or(0)
}

fn kind_of(k: i16) -> Kind {
    u8::try_from(k)
        .ok()
        .and_then(Kind::from_code)
        .unwrap_or(Kind::Form)
}

type Reply = mpsc::SyncSender<Result<IngestOutcome>>;

/// A pause inside the ingest transaction, after positions are assigned and before the
/// commit (tests interleave two nodes' commits with it).
pub type CommitPause = Arc<dyn Fn(&str) + Send + Sync>;

/// PostgreSQL storage.
pub struct PgStorage {
    config: pg::Config,
    /// This node (in its notifications, to skip its own).
    node: String,
    pool: Mutex<Vec<Client>>,
    ingest_tx: Mutex<Option<mpsc::Sender<(IngestRequest, Reply)>>>,
    ingest_thread: Mutex<Option<JoinHandle<()>>>,
    listener: Mutex<Option<JoinHandle<()>>>,
    stop: Arc<AtomicBool>,
    pause: Arc<Mutex<Option<CommitPause>>>,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// A PostgreSQL error with the server's message and SQLSTATE (the client's own
/// `Display` says only "db error").
pub fn describe(e: &pg::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        },
    }
}

fn connect(config: &pg::Config) -> Result<Client> {
    Ok(config.connect(NoTls)?)
}

/// Run `f` where the blocking client may run its own small runtime: on this thread
/// outside tokio, on a scoped helper thread when called from inside a runtime (an
/// async task or a `spawn_blocking` thread), where a nested runtime would panic.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

impl PgStorage {
    /// Connect to the database at `url` (a `postgres://` URL or libpq key=value
    /// string), migrate its schema and start the ingest thread.
    pub fn open(url: &str) -> Result<Arc<Self>> {
        off_runtime(|| Self::open_here(url))
    }

    fn open_here(url: &str) -> Result<Arc<Self>> {
        let mut config: pg::Config = url
            .parse()
            .map_err(|e: pg::Error| StorageError::Invalid(format!("database URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("fieldsync");
        let mut first = connect(&config)?;
        migrate(&mut first)?;
        let node = hex::encode(random16()?);
        let (tx, rx) = mpsc::channel::<(IngestRequest, Reply)>();
        let pause: Arc<Mutex<Option<CommitPause>>> = Arc::new(Mutex::new(None));
        let (cfg, n, p) = (config.clone(), node.clone(), pause.clone());
        let handle = std::thread::Builder::new()
            .name("fieldsync-pg-ingest".into())
            .spawn(move || ingest_loop(&cfg, &n, &rx, &p))?;
        Ok(Arc::new(PgStorage {
            config,
            node,
            pool: Mutex::new(vec![first]),
            ingest_tx: Mutex::new(Some(tx)),
            ingest_thread: Mutex::new(Some(handle)),
            listener: Mutex::new(None),
            stop: Arc::new(AtomicBool::new(false)),
            pause,
        }))
    }

    /// This node's id (random per process).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Pause every ingest transaction after it assigned positions, before it commits:
    /// `f` runs on the ingest thread with the tenant row still locked (tests).
    pub fn set_commit_pause(&self, f: Option<CommitPause>) {
        *self.pause.lock().unwrap_or_else(|p| p.into_inner()) = f;
    }

    fn client(&self) -> Result<Client> {
        let c = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match c {
            Some(c) if !c.is_closed() => Ok(c),
            _ => connect(&self.config),
        }
    }

    fn give_back(&self, c: Client) {
        if c.is_closed() {
            return;
        }
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL {
            pool.push(c);
        }
    }

    /// Run `f` on a pooled connection.
    fn with_client<T: Send>(&self, f: impl FnOnce(&mut Client) -> Result<T> + Send) -> Result<T> {
        off_runtime(|| {
            let mut c = self.client()?;
            let out = f(&mut c);
            self.give_back(c);
            out
        })
    }

    /// Run `f` in a read-write transaction and commit.
    fn write<T: Send>(
        &self,
        f: impl FnOnce(&mut pg::Transaction<'_>) -> Result<T> + Send,
    ) -> Result<T> {
        self.with_client(|c| {
            let mut tx = c.transaction()?;
            let out = f(&mut tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// Run `f` in a read-only snapshot (one consistent view for several statements).
    fn read<T: Send>(
        &self,
        f: impl FnOnce(&mut pg::Transaction<'_>) -> Result<T> + Send,
    ) -> Result<T> {
        self.with_client(|c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let out = f(&mut tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn stop_threads(&self) {
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
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = h.join();
        }
    }
}

impl Drop for PgStorage {
    fn drop(&mut self) {
        self.stop_threads();
        // A client owns a small runtime, which must not be dropped inside another.
        let pool = std::mem::take(&mut *self.pool.lock().unwrap_or_else(|p| p.into_inner()));
        off_runtime(move || drop(pool));
    }
}

/// The prepared statements of the ingest connection.
struct IngestStmts {
    lock_tenant: Statement,
    docs: Statement,
    known: Statement,
    scopes: Statement,
    ins_changes: Statement,
    ins_actors: Statement,
    upsert_docs: Statement,
    set_pos: Statement,
    notify: Statement,
}

impl IngestStmts {
    fn prepare(c: &mut Client) -> Result<Self> {
        Ok(IngestStmts {
            lock_tenant: c.prepare("SELECT next_position FROM tenants WHERE id = $1 FOR UPDATE")?,
            docs: c.prepare(
                "SELECT id, tenant, kind, scope, heads, last_position FROM documents WHERE id = ANY($1)",
            )?,
            known: c.prepare(
                "SELECT c.doc_id, c.hash FROM changes c
                 JOIN unnest($1::bytea[], $2::bytea[]) AS q(doc_id, hash)
                   ON c.doc_id = q.doc_id AND c.hash = q.hash",
            )?,
            scopes: c.prepare("SELECT tenant, name FROM scopes WHERE tenant = ANY($1)")?,
            ins_changes: c.prepare(
                "INSERT INTO changes (tenant, position, doc_id, hash, kind, scope, device, user_id, actor, received_at, bytes)
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[], $4::bytea[], $5::int2[], $6::text[],
                                      $7::text[], $8::text[], $9::bytea[], $10::int8[], $11::bytea[])",
            )?,
            ins_actors: c.prepare(
                "INSERT INTO actors (tenant, actor, device_id, user_id)
                 SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[])
                 ON CONFLICT DO NOTHING",
            )?,
            upsert_docs: c.prepare(
                "INSERT INTO documents (id, tenant, kind, scope, created_by, created_at, updated_at, heads, last_position)
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::int2[], $4::text[], $5::text[], $6::int8[],
                                      $7::int8[], $8::bytea[], $9::int8[])
                 ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, heads = excluded.heads,
                                                last_position = excluded.last_position",
            )?,
            set_pos: c.prepare("UPDATE tenants SET next_position = $2 WHERE id = $1")?,
            notify: c.prepare("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")?,
        })
    }
}

fn ingest_loop(
    config: &pg::Config,
    node: &str,
    rx: &mpsc::Receiver<(IngestRequest, Reply)>,
    pause: &Mutex<Option<CommitPause>>,
) {
    let mut conn: Option<(Client, IngestStmts)> = None;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < 256 {
            match rx.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        let (reqs, replies): (Vec<IngestRequest>, Vec<Reply>) = group.into_iter().unzip();
        let pause = pause.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let result = (|| -> Result<Vec<IngestOutcome>> {
            if conn.as_ref().is_none_or(|(c, _)| c.is_closed()) {
                let mut c = connect(config)?;
                let s = IngestStmts::prepare(&mut c)?;
                conn = Some((c, s));
            }
            let Some((c, s)) = conn.as_mut() else {
                return Err(StorageError::Closed);
            };
            commit_group(c, s, node, reqs, pause.as_ref())
        })();
        match result {
            Ok(outcomes) => {
                for (reply, o) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(o));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::error!(error = %msg, "ingest transaction failed; pushes not acknowledged");
                if conn.as_ref().is_some_and(|(c, _)| c.is_closed()) {
                    conn = None;
                }
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
    last_position: u64,
}

/// The rows a group inserts, column by column (one `unnest` insert each).
#[derive(Default)]
struct NewChanges<'a> {
    tenant: Vec<&'a str>,
    position: Vec<i64>,
    doc: Vec<&'a [u8]>,
    hash: Vec<&'a [u8]>,
    kind: Vec<i16>,
    scope: Vec<&'a str>,
    device: Vec<&'a str>,
    user: Vec<&'a str>,
    actor: Vec<&'a [u8]>,
    at: Vec<i64>,
    bytes: Vec<&'a [u8]>,
}

fn commit_group(
    client: &mut Client,
    st: &IngestStmts,
    node: &str,
    reqs: Vec<IngestRequest>,
    pause: Option<&CommitPause>,
) -> Result<Vec<IngestOutcome>> {
    let now = now();
    let mut tx = client.transaction()?;
    // Lock the tenants' position counters, in name order (no deadlock between nodes).
    let mut tenants: Vec<&str> = reqs.iter().map(|r| r.tenant.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let mut next_pos: HashMap<String, u64> = HashMap::new();
    for t in &tenants {
        if let Some(r) = tx.query_opt(&st.lock_tenant, &[t])? {
            next_pos.insert((*t).to_string(), pos_u64(r.get(0)));
        }
    }
    // Everything the group needs to know, in three queries: the documents, which of
    // the pushed hashes and dependencies the log already holds, the scopes.
    let mut ids: Vec<&[u8]> = reqs
        .iter()
        .flat_map(|r| r.docs.iter().map(|d| &d.id.as_bytes()[..]))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut docs: HashMap<DocId, DocState> = HashMap::new();
    for r in tx.query(&st.docs, &[&ids])? {
        let id: Vec<u8> = r.get(0);
        let Some(id) = DocId::from_slice(&id) else {
            continue;
        };
        let heads: Vec<u8> = r.get(4);
        docs.insert(
            id,
            DocState {
                tenant: r.get(1),
                created_by: String::new(),
                kind: kind_of(r.get(2)),
                scope: r.get(3),
                heads: fieldsync_core::doc::decode_heads(&heads).unwrap_or_default(),
                known: HashSet::new(),
                last_position: pos_u64(r.get(5)),
            },
        );
    }
    let (mut qd, mut qh): (Vec<&[u8]>, Vec<&[u8]>) = (Vec::new(), Vec::new());
    for r in &reqs {
        for d in r.docs.iter().filter(|d| docs.contains_key(&d.id)) {
            for c in &d.changes {
                qd.push(&d.id.as_bytes()[..]);
                qh.push(&c.hash.0[..]);
                for dep in &c.deps {
                    qd.push(&d.id.as_bytes()[..]);
                    qh.push(&dep.0[..]);
                }
            }
        }
    }
    let mut in_log: HashSet<(DocId, ChangeHash)> = HashSet::new();
    if !qd.is_empty() {
        for r in tx.query(&st.known, &[&qd, &qh])? {
            let (d, h): (Vec<u8>, Vec<u8>) = (r.get(0), r.get(1));
            if let (Some(d), Ok(h)) = (DocId::from_slice(&d), <[u8; 32]>::try_from(h.as_slice())) {
                in_log.insert((d, ChangeHash(h)));
            }
        }
    }
    let mut scopes_known: HashSet<(String, String)> = HashSet::new();
    for r in tx.query(&st.scopes, &[&tenants])? {
        scopes_known.insert((r.get(0), r.get(1)));
    }

    let mut outcomes = Vec::with_capacity(reqs.len());
    let mut rows = NewChanges::default();
    let mut actors: Vec<(&str, &[u8], &str, &str)> = Vec::new();
    let mut seen_actors: HashSet<(&str, &[u8])> = HashSet::new();
    let mut notes: Vec<String> = Vec::new();
    for req in &reqs {
        let mut out = IngestOutcome {
            rejected: req.pre_rejected.clone(),
            ..Default::default()
        };
        let mut scopes: HashSet<String> = HashSet::new();
        if !next_pos.contains_key(&req.tenant) {
            for d in &req.docs {
                for c in &d.changes {
                    out.rejected
                        .push(reject(d.id, c, RejectReason::UnknownScope));
                }
            }
            outcomes.push(out);
            continue;
        }
        for d in &req.docs {
            let reason = match docs.get(&d.id) {
                Some(s) if s.tenant != req.tenant || s.kind != d.kind || s.scope != d.scope => {
                    Some(RejectReason::ScopeMismatch)
                }
                Some(_) => None,
                None => (!scopes_known.contains(&(req.tenant.clone(), d.scope.clone())))
                    .then_some(RejectReason::UnknownScope),
            };
            let reason = reason
                .or_else(|| (!req.writable.contains(&d.scope)).then_some(RejectReason::Forbidden));
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
                last_position: 0,
            });
            for c in &d.changes {
                if state.known.contains(&c.hash) || in_log.contains(&(d.id, c.hash)) {
                    out.duplicates += 1;
                    continue;
                }
                if c.deps
                    .iter()
                    .any(|dep| !state.known.contains(dep) && !in_log.contains(&(d.id, *dep)))
                {
                    out.rejected
                        .push(reject(d.id, c, RejectReason::MissingDeps));
                    continue;
                }
                let pos = next_pos
                    .get_mut(&req.tenant)
                    .ok_or_else(|| StorageError::Invalid("tenant".into()))?;
                let position = *pos;
                *pos += 1;
                rows.tenant.push(&req.tenant);
                rows.position.push(pos_i64(position));
                rows.doc.push(&d.id.as_bytes()[..]);
                rows.hash.push(&c.hash.0[..]);
                rows.kind.push(i16::from(d.kind.code()));
                rows.scope.push(&d.scope);
                rows.device.push(&req.device_id);
                rows.user.push(&req.user_id);
                rows.actor.push(&c.actor);
                rows.at.push(now);
                rows.bytes.push(&c.bytes);
                if seen_actors.insert((&req.tenant, &c.actor)) {
                    actors.push((&req.tenant, &c.actor, &req.device_id, &req.user_id));
                }
                state.known.insert(c.hash);
                state.heads.retain(|h| !c.deps.contains(h));
                state.heads.push(c.hash);
                state.last_position = position;
                out.accepted += 1;
                out.last_position = position;
                scopes.insert(d.scope.clone());
            }
        }
        out.scopes = scopes.into_iter().collect();
        out.scopes.sort();
        if out.accepted > 0 {
            notes.push(notification(node, &req.tenant, &out, &req.device_id));
        }
        outcomes.push(out);
    }

    if !rows.position.is_empty() {
        tx.execute(
            &st.ins_changes,
            &[
                &rows.tenant,
                &rows.position,
                &rows.doc,
                &rows.hash,
                &rows.kind,
                &rows.scope,
                &rows.device,
                &rows.user,
                &rows.actor,
                &rows.at,
                &rows.bytes,
            ],
        )?;
    }
    if !actors.is_empty() {
        let tenant: Vec<&str> = actors.iter().map(|a| a.0).collect();
        let actor: Vec<&[u8]> = actors.iter().map(|a| a.1).collect();
        let device: Vec<&str> = actors.iter().map(|a| a.2).collect();
        let user: Vec<&str> = actors.iter().map(|a| a.3).collect();
        tx.execute(&st.ins_actors, &[&tenant, &actor, &device, &user])?;
    }
    write_doc_states(&mut tx, st, &docs, now)?;
    for (tenant, p) in &next_pos {
        tx.execute(&st.set_pos, &[tenant, &pos_i64(*p)])?;
    }
    if !notes.is_empty() {
        tx.query(&st.notify, &[&CHANNEL, &notes])?;
    }
    if let Some(p) = pause {
        for t in &tenants {
            p(t);
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

fn write_doc_states(
    tx: &mut pg::Transaction<'_>,
    st: &IngestStmts,
    docs: &HashMap<DocId, DocState>,
    now: Timestamp,
) -> Result<()> {
    let mut touched: Vec<(&DocId, &DocState)> =
        docs.iter().filter(|(_, s)| !s.known.is_empty()).collect();
    if touched.is_empty() {
        return Ok(());
    }
    touched.sort_unstable_by_key(|(id, _)| **id);
    let ids: Vec<&[u8]> = touched.iter().map(|(id, _)| &id.as_bytes()[..]).collect();
    let tenant: Vec<&str> = touched.iter().map(|(_, s)| s.tenant.as_str()).collect();
    let kind: Vec<i16> = touched
        .iter()
        .map(|(_, s)| i16::from(s.kind.code()))
        .collect();
    let scope: Vec<&str> = touched.iter().map(|(_, s)| s.scope.as_str()).collect();
    let by: Vec<&str> = touched.iter().map(|(_, s)| s.created_by.as_str()).collect();
    let at: Vec<i64> = vec![now; touched.len()];
    let heads: Vec<Vec<u8>> = touched
        .iter()
        .map(|(_, s)| fieldsync_core::doc::encode_heads(&s.heads))
        .collect();
    let last: Vec<i64> = touched
        .iter()
        .map(|(_, s)| pos_i64(s.last_position))
        .collect();
    tx.execute(
        &st.upsert_docs,
        &[&ids, &tenant, &kind, &scope, &by, &at, &at, &heads, &last],
    )?;
    Ok(())
}

/// The `NOTIFY` payload of one push: `{"node", "tenant", "position", "device", "scopes"}`
/// (scopes `null` when the list would not fit).
fn notification(node: &str, tenant: &str, out: &IngestOutcome, device: &str) -> String {
    let mut v = serde_json::json!({
        "node": node,
        "tenant": tenant,
        "position": out.last_position,
        "device": device,
        "scopes": out.scopes,
    });
    let s = v.to_string();
    if s.len() <= MAX_PAYLOAD {
        return s;
    }
    v["scopes"] = serde_json::Value::Null;
    v.to_string()
}

/// Read a notification; `None` for our own node's or a malformed one.
fn parse_notification(node: &str, payload: &str) -> Option<RemoteCommit> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    if v.get("node")?.as_str()? == node {
        return None;
    }
    Some(RemoteCommit {
        tenant: v.get("tenant")?.as_str()?.to_string(),
        scopes: v.get("scopes").and_then(|s| s.as_array()).map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        }),
        position: v.get("position")?.as_u64()?,
        device: v.get("device")?.as_str()?.to_string(),
    })
}

fn listen_loop(
    config: &pg::Config,
    node: &str,
    stop: &AtomicBool,
    watcher: &CommitWatcher,
    tenants: &dyn Fn() -> Vec<(String, u64)>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    while !stop.load(Ordering::SeqCst) {
        let mut client = match connect(config).and_then(|mut c| {
            c.batch_execute(&format!("LISTEN {CHANNEL}"))
                .map(|_| c)
                .map_err(Into::into)
        }) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "commit listener cannot connect; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        if !first {
            // Notifications may have been missed while disconnected: wake everything.
            for (tenant, position) in tenants() {
                watcher(RemoteCommit {
                    tenant,
                    scopes: None,
                    position,
                    device: String::new(),
                });
            }
        }
        first = false;
        while !stop.load(Ordering::SeqCst) && !client.is_closed() {
            let mut n = client.notifications();
            let mut it = n.timeout_iter(Duration::from_millis(250));
            match it.next() {
                Ok(Some(note)) => {
                    if let Some(c) = parse_notification(node, note.payload()) {
                        watcher(c);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "commit listener lost its connection");
                    break;
                }
                Ok(None) => {}
            }
        }
    }
}

fn reject(doc: DocId, c: &ParsedChange, reason: RejectReason) -> Rejected {
    Rejected {
        doc: *doc.as_bytes(),
        hash: c.hash.0,
        index: c.index,
        reason,
    }
}

const ENTRY_COLS: &str = "position, doc_id, kind, scope, bytes, actor, device, user_id";

fn row_entry(r: &Row) -> LogEntry {
    let id: Vec<u8> = r.get(1);
    LogEntry {
        position: pos_u64(r.get(0)),
        doc_id: DocId::from_slice(&id).unwrap_or(DocId::from_bytes([0; 16])),
        kind: kind_of(r.get(2)),
        scope: r.get(3),
        bytes: r.get(4),
        actor: r.get(5),
        device: r.get(6),
        user: r.get(7),
    }
}

fn device_row(r: &Row) -> DeviceRecord {
    let replica: Option<Vec<u8>> = r.get(5);
    DeviceRecord {
        id: r.get(0),
        tenant: r.get(1),
        user_id: r.get(2),
        public_key: r.get(3),
        name: r.get(4),
        replica: replica.and_then(|v| <[u8; 16]>::try_from(v.as_slice()).ok()),
        enrolled_at: r.get(6),
        revoked_at: r.get(7),
        last_seen_at: r.get(8),
    }
}

fn meta_row(r: &Row) -> DocMeta {
    let id: Vec<u8> = r.get(0);
    let heads: Vec<u8> = r.get(3);
    DocMeta {
        id: DocId::from_slice(&id).unwrap_or(DocId::from_bytes([0; 16])),
        kind: kind_of(r.get(1)),
        scope: r.get(2),
        heads: fieldsync_core::doc::decode_heads(&heads).unwrap_or_default(),
    }
}

const DEVICE_COLS: &str =
    "id, tenant, user_id, public_key, name, replica, enrolled_at, revoked_at, last_seen_at";

fn user_exists(tx: &mut pg::Transaction<'_>, tenant: &str, user_id: &str) -> Result<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM users WHERE tenant = $1 AND id = $2",
            &[&tenant, &user_id],
        )?
        .is_some())
}

impl Storage for PgStorage {
    fn ensure_tenant(&self, tenant: &str) -> Result<()> {
        fieldsync_core::Scope::new(tenant)
            .map_err(|_| StorageError::Invalid("tenant names are a-z 0-9 : _ - . /".into()))?;
        let epoch = random16()?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO tenants (id, epoch, next_position, created_at) VALUES ($1, $2, 1, $3)
                 ON CONFLICT (id) DO NOTHING",
                &[&tenant, &&epoch[..], &now()],
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
                "INSERT INTO users (tenant, id, display_name, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&tenant, &user_id, &display_name, &now()],
            )?;
            if n == 0 {
                return Err(StorageError::Exists(format!("user {user_id}")));
            }
            Ok(())
        })
    }

    fn list_users(&self, tenant: &str) -> Result<Vec<(String, String)>> {
        self.with_client(|c| {
            Ok(c.query(
                "SELECT id, display_name FROM users WHERE tenant = $1 ORDER BY id",
                &[&tenant],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    fn create_scope(&self, tenant: &str, scope: &str) -> Result<()> {
        fieldsync_core::Scope::new(scope).map_err(|e| StorageError::Invalid(e.to_string()))?;
        self.write(|tx| {
            let n = tx.execute(
                "INSERT INTO scopes (tenant, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&tenant, &scope, &now()],
            )?;
            if n == 0 {
                return Err(StorageError::Exists(format!("scope {scope}")));
            }
            Ok(())
        })
    }

    fn list_scopes(&self, tenant: &str) -> Result<Vec<String>> {
        self.with_client(|c| {
            Ok(c.query(
                "SELECT name FROM scopes WHERE tenant = $1 ORDER BY name",
                &[&tenant],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
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
                tx.execute(
                    "DELETE FROM grants WHERE tenant = $1 AND user_id = $2 AND scope = $3",
                    &[&tenant, &user_id, &scope],
                )?;
                return Ok(());
            }
            if !user_exists(tx, tenant, user_id)? {
                return Err(StorageError::NotFound(format!("user {user_id}")));
            }
            if tx
                .query_opt(
                    "SELECT 1 FROM scopes WHERE tenant = $1 AND name = $2",
                    &[&tenant, &scope],
                )?
                .is_none()
            {
                return Err(StorageError::NotFound(format!("scope {scope}")));
            }
            tx.execute(
                "INSERT INTO grants (tenant, user_id, scope, can_read, can_write) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant, user_id, scope) DO UPDATE SET can_read = excluded.can_read,
                                                                    can_write = excluded.can_write",
                &[&tenant, &user_id, &scope, &read, &write],
            )?;
            Ok(())
        })
    }

    fn grants(&self, tenant: &str, user_id: &str) -> Result<Vec<ScopeGrant>> {
        self.with_client(|c| {
            Ok(c.query(
                "SELECT scope, can_read, can_write FROM grants WHERE tenant = $1 AND user_id = $2 ORDER BY scope",
                &[&tenant, &user_id],
            )?
            .iter()
            .map(|r| ScopeGrant {
                scope: r.get(0),
                read: r.get(1),
                write: r.get(2),
            })
            .collect())
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
            if !user_exists(tx, tenant, user_id)? {
                return Err(StorageError::NotFound(format!("user {user_id}")));
            }
            tx.execute(
                "INSERT INTO enrolments (code_hash, tenant, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                &[&&code_hash[..], &tenant, &user_id, &now, &expires_at],
            )?;
            Ok(())
        })
    }

    fn enrol(&self, req: &EnrolRequest, now: Timestamp) -> Result<DeviceRecord> {
        if req.device_id.is_empty() || req.device_id.len() > 128 || req.public_key.len() != 32 {
            return Err(StorageError::Invalid("bad device id or key".into()));
        }
        self.write(|tx| {
            // FOR UPDATE: two nodes given the same code at once enrol one device.
            let row = tx.query_opt(
                "SELECT tenant, user_id, expires_at, used_at FROM enrolments WHERE code_hash = $1 FOR UPDATE",
                &[&&req.code_hash[..]],
            )?;
            let Some(row) = row else {
                return Err(StorageError::Invalid("unknown enrolment code".into()));
            };
            let (tenant, user_id, expires_at, used_at): (String, String, i64, Option<i64>) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            if used_at.is_some() {
                return Err(StorageError::Invalid("enrolment code already used".into()));
            }
            if expires_at < now {
                return Err(StorageError::Invalid("enrolment code expired".into()));
            }
            if tx
                .query_opt("SELECT 1 FROM devices WHERE id = $1", &[&req.device_id])?
                .is_some()
            {
                return Err(StorageError::Exists(format!("device {}", req.device_id)));
            }
            tx.execute(
                &format!("INSERT INTO devices ({DEVICE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)"),
                &[&req.device_id, &tenant, &user_id, &req.public_key, &req.name, &&req.replica[..], &now],
            )?;
            tx.execute(
                "UPDATE enrolments SET used_at = $2, device_id = $3 WHERE code_hash = $1",
                &[&&req.code_hash[..], &now, &req.device_id],
            )?;
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
        self.with_client(|c| {
            Ok(c.query_opt(
                &format!("SELECT {DEVICE_COLS} FROM devices WHERE id = $1"),
                &[&device_id],
            )?
            .as_ref()
            .map(device_row))
        })
    }

    fn list_devices(&self, tenant: &str) -> Result<Vec<DeviceRecord>> {
        self.with_client(|c| {
            Ok(c.query(
                &format!("SELECT {DEVICE_COLS} FROM devices WHERE tenant = $1 ORDER BY id"),
                &[&tenant],
            )?
            .iter()
            .map(device_row)
            .collect())
        })
    }

    fn revoke_device(&self, device_id: &str, now: Timestamp) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1",
                &[&device_id, &now],
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
                .query_opt(
                    "SELECT replica FROM devices WHERE id = $1 FOR UPDATE",
                    &[&device_id],
                )?
                .map(|r| r.get(0));
            tx.execute(
                "UPDATE devices SET replica = $2, last_seen_at = $3 WHERE id = $1",
                &[&device_id, &&replica[..], &now],
            )?;
            Ok(old
                .flatten()
                .and_then(|v| <[u8; 16]>::try_from(v.as_slice()).ok()))
        })
    }

    fn epoch(&self, tenant: &str) -> Result<[u8; 16]> {
        self.with_client(|c| {
            let r = c
                .query_opt("SELECT epoch FROM tenants WHERE id = $1", &[&tenant])?
                .ok_or_else(|| StorageError::NotFound(format!("tenant {tenant}")))?;
            let v: Vec<u8> = r.get(0);
            <[u8; 16]>::try_from(v.as_slice()).map_err(|_| StorageError::Invalid("epoch".into()))
        })
    }

    fn new_epoch(&self, tenant: &str) -> Result<[u8; 16]> {
        let e = random16()?;
        self.write(|tx| {
            tx.execute(
                "UPDATE tenants SET epoch = $2 WHERE id = $1",
                &[&tenant, &&e[..]],
            )?;
            Ok(e)
        })
    }

    fn watermark(&self, tenant: &str) -> Result<u64> {
        self.with_client(|c| {
            let p: Option<i64> = c
                .query_opt(
                    "SELECT next_position FROM tenants WHERE id = $1",
                    &[&tenant],
                )?
                .map(|r| r.get(0));
            Ok(pos_u64(p.unwrap_or(1) - 1))
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
        self.read(|tx| {
            // One snapshot: the watermark and the rows below it agree. Positions commit
            // in order (module docs), so every row up to the watermark is visible.
            let wm: Option<i64> = tx
                .query_opt(
                    "SELECT next_position - 1 FROM tenants WHERE id = $1",
                    &[&tenant],
                )?
                .map(|r| r.get(0));
            let watermark = pos_u64(wm.unwrap_or(0));
            let mut entries: Vec<LogEntry> = Vec::new();
            let mut horizon = watermark;
            let st = tx.prepare(&format!(
                "SELECT {ENTRY_COLS} FROM changes WHERE tenant = $1 AND scope = $2 AND position > $3
                 AND position <= $4 AND device <> $5 ORDER BY position LIMIT $6"
            ))?;
            for (scope, cur) in cursors {
                let rows: Vec<LogEntry> = tx
                    .query(
                        &st,
                        &[
                            &tenant,
                            scope,
                            &pos_i64(*cur),
                            &pos_i64(watermark),
                            &exclude_device.unwrap_or(""),
                            &PER_SCOPE,
                        ],
                    )?
                    .iter()
                    .map(row_entry)
                    .collect();
                if rows.len() as i64 == PER_SCOPE
                    && let Some(last) = rows.last()
                {
                    horizon = horizon.min(last.position);
                }
                entries.extend(rows);
            }
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
                Some(p) => PullResult {
                    entries: out,
                    upto: p,
                    more: true,
                },
                None => PullResult {
                    entries: out,
                    upto: horizon,
                    more: horizon < watermark,
                },
            })
        })
    }

    fn docs_in_scopes(&self, tenant: &str, scopes: &[String]) -> Result<Vec<DocMeta>> {
        self.with_client(|c| {
            Ok(c.query(
                "SELECT id, kind, scope, heads FROM documents WHERE tenant = $1 AND scope = ANY($2)",
                &[&tenant, &scopes],
            )?
            .iter()
            .map(meta_row)
            .collect())
        })
    }

    fn doc_meta(&self, tenant: &str, id: DocId) -> Result<Option<DocMeta>> {
        self.with_client(|c| {
            Ok(c.query_opt(
                "SELECT id, kind, scope, heads FROM documents WHERE tenant = $1 AND id = $2",
                &[&tenant, &&id.as_bytes()[..]],
            )?
            .as_ref()
            .map(meta_row))
        })
    }

    fn doc_log(&self, tenant: &str, id: DocId) -> Result<Vec<LogEntry>> {
        self.with_client(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {ENTRY_COLS} FROM changes WHERE doc_id = $1 AND tenant = $2 ORDER BY position"
                ),
                &[&&id.as_bytes()[..], &tenant],
            )?
            .iter()
            .map(row_entry)
            .collect())
        })
    }

    fn log_after(&self, tenant: &str, position: u64, limit: usize) -> Result<Vec<LogEntry>> {
        self.read(|tx| {
            // Below the watermark of this snapshot only: positions commit in order, so
            // nothing returned here can be followed later by a smaller one.
            let wm: Option<i64> = tx
                .query_opt(
                    "SELECT next_position - 1 FROM tenants WHERE id = $1",
                    &[&tenant],
                )?
                .map(|r| r.get(0));
            Ok(tx
                .query(
                    &format!(
                        "SELECT {ENTRY_COLS} FROM changes WHERE tenant = $1 AND position > $2 AND position <= $3
                         ORDER BY position LIMIT $4"
                    ),
                    &[
                        &tenant,
                        &pos_i64(position),
                        &wm.unwrap_or(0),
                        &i64::try_from(limit).unwrap_or(1000),
                    ],
                )?
                .iter()
                .map(row_entry)
                .collect())
        })
    }

    fn tenants(&self) -> Result<Vec<String>> {
        self.with_client(|c| {
            Ok(c.query("SELECT id FROM tenants ORDER BY id", &[])?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn counts(&self, tenant: &str) -> Result<(u64, u64)> {
        self.read(|tx| {
            let d: i64 = tx
                .query_one(
                    "SELECT count(*) FROM documents WHERE tenant = $1",
                    &[&tenant],
                )?
                .get(0);
            let ch: i64 = tx
                .query_one("SELECT count(*) FROM changes WHERE tenant = $1", &[&tenant])?
                .get(0);
            Ok((pos_u64(d), pos_u64(ch)))
        })
    }
}

impl Backend for PgStorage {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn shutdown(&self) {
        self.stop_threads();
    }

    fn watch_commits(&self, watcher: CommitWatcher) -> Result<()> {
        let mut slot = self.listener.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return Err(StorageError::Exists("commit watcher".into()));
        }
        let (config, node, stop) = (self.config.clone(), self.node.clone(), self.stop.clone());
        // For the wake-up after a reconnect: every tenant at its watermark.
        let cfg2 = self.config.clone();
        let tenants = move || -> Vec<(String, u64)> {
            connect(&cfg2)
                .and_then(|mut c| {
                    Ok(c.query("SELECT id, next_position - 1 FROM tenants", &[])?
                        .iter()
                        .map(|r| (r.get(0), pos_u64(r.get(1))))
                        .collect())
                })
                .unwrap_or_default()
        };
        *slot = Some(
            std::thread::Builder::new()
                .name("fieldsync-pg-listen".into())
                .spawn(move || listen_loop(&config, &node, &stop, &watcher, &tenants))?,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_round_trip_and_skip_our_own() {
        let out = IngestOutcome {
            accepted: 2,
            last_position: 41,
            scopes: vec!["team:a".into(), "team:b".into()],
            ..Default::default()
        };
        let p = notification("n1", "acme", &out, "phone-1");
        assert_eq!(parse_notification("n1", &p), None, "our own node's");
        assert_eq!(
            parse_notification("n2", &p),
            Some(RemoteCommit {
                tenant: "acme".into(),
                scopes: Some(vec!["team:a".into(), "team:b".into()]),
                position: 41,
                device: "phone-1".into(),
            })
        );
        assert_eq!(parse_notification("n2", "not json"), None);
        assert_eq!(parse_notification("n2", r#"{"node":"x"}"#), None);
    }

    #[test]
    fn too_many_scopes_become_every_scope() {
        let out = IngestOutcome {
            accepted: 1,
            last_position: 7,
            scopes: (0..2000).map(|i| format!("team:{i:05}")).collect(),
            ..Default::default()
        };
        let p = notification("n1", "acme", &out, "d");
        assert!(p.len() <= MAX_PAYLOAD);
        assert_eq!(parse_notification("n2", &p).and_then(|c| c.scopes), None);
    }

    #[test]
    fn database_urls_select_the_backend() {
        assert!(matches!(
            StorageConfig::parse("postgres://u@localhost/fs"),
            StorageConfig::Postgres(_)
        ));
        assert!(matches!(
            StorageConfig::parse("host=/tmp dbname=fs"),
            StorageConfig::Postgres(_)
        ));
        assert_eq!(
            StorageConfig::parse("sqlite:/var/lib/fs/server.db"),
            StorageConfig::Sqlite("/var/lib/fs/server.db".into())
        );
        assert_eq!(
            format!("{:?}", StorageConfig::parse("postgres://u:secret@h/db")),
            "Postgres(..)",
            "no password in logs"
        );
    }
}
