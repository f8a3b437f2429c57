//! The device store's schema and its migrations.
//!
//! `PRAGMA user_version` holds the schema version. Each migration is one step from
//! version N-1 to N, applied in its own transaction. A database newer than this build
//! is refused. `tests/migrations.rs` upgrades every earlier version and compares
//! the result with a fresh database.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// One migration step: the SQL that brings version `index + 1` from `index`.
pub const MIGRATIONS: &[&str] = &[
    // 1: documents, change log, actors, projections.
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- Automerge actors: one per (device, user) writing on this store, plus the remote ones
-- learned through sync. Field history maps a change's actor to a device and user here.
CREATE TABLE actors (
    actor      BLOB PRIMARY KEY,
    device_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    local      INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX actors_local ON actors(device_id, user_id) WHERE local = 1;

-- One row per document. kind and scope are fixed at creation (access control reads them,
-- never the CRDT content). snapshot is the sealed, compacted Automerge save; the changes
-- not yet folded into it are in `changes` with in_snapshot = 0.
CREATE TABLE documents (
    id          BLOB PRIMARY KEY,
    kind        INTEGER NOT NULL,
    scope       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    heads       BLOB NOT NULL,
    snapshot    BLOB,
    pending     INTEGER NOT NULL DEFAULT 0,
    conflicts   INTEGER NOT NULL DEFAULT 0,
    quarantine  TEXT,
    shape_error TEXT
) WITHOUT ROWID;
CREATE INDEX documents_kind ON documents(kind, updated_at);
CREATE INDEX documents_compact ON documents(pending) WHERE pending > 0;

-- The per-document change log. seq is the local arrival order. acked: the server holds
-- the change (only then may compaction delete the row). rejected: the server refused it,
-- with the reason; the row stays.
CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY,
    doc_id      BLOB NOT NULL REFERENCES documents(id),
    hash        BLOB NOT NULL,
    bytes       BLOB NOT NULL,
    local       INTEGER NOT NULL,
    acked       INTEGER NOT NULL DEFAULT 0,
    in_snapshot INTEGER NOT NULL DEFAULT 0,
    rejected    TEXT,
    UNIQUE (doc_id, hash)
);
CREATE INDEX changes_unacked ON changes(seq) WHERE acked = 0 AND rejected IS NULL;
CREATE INDEX changes_doc ON changes(doc_id, in_snapshot, seq);

-- Projections: plaintext columns hold only what queries filter and sort on; display
-- fields are in `summary`, sealed like document content.
CREATE TABLE forms (
    doc_id    BLOB PRIMARY KEY REFERENCES documents(id),
    form_key  TEXT NOT NULL,
    version   INTEGER NOT NULL,
    published INTEGER NOT NULL,
    summary   BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX forms_key ON forms(form_key, version);

CREATE TABLE responses (
    doc_id       BLOB PRIMARY KEY REFERENCES documents(id),
    form_id      BLOB NOT NULL,
    form_version INTEGER NOT NULL,
    status       TEXT NOT NULL,
    region       TEXT NOT NULL,
    segment      TEXT NOT NULL,
    value_tier   TEXT,
    core         INTEGER NOT NULL,
    overall      REAL,
    band         TEXT,
    started_at   INTEGER NOT NULL,
    completed_at INTEGER,
    enumerator   TEXT NOT NULL,
    summary      BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX responses_region_band ON responses(region, band, started_at DESC, doc_id);
CREATE INDEX responses_form ON responses(form_id, status, started_at DESC, doc_id);
CREATE INDEX responses_started ON responses(started_at DESC, doc_id);

CREATE TABLE response_scores (
    doc_id      BLOB NOT NULL REFERENCES documents(id),
    question_id TEXT NOT NULL,
    dimension   TEXT,
    value       INTEGER NOT NULL,
    normalized  REAL NOT NULL,
    band        TEXT NOT NULL,
    PRIMARY KEY (doc_id, question_id)
) WITHOUT ROWID;

CREATE TABLE accounts (
    doc_id     BLOB PRIMARY KEY REFERENCES documents(id),
    region     TEXT NOT NULL,
    segment    TEXT NOT NULL,
    value_tier TEXT,
    core       INTEGER NOT NULL,
    owner      TEXT NOT NULL,
    summary    BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE account_owners (
    user_id TEXT NOT NULL,
    doc_id  BLOB NOT NULL REFERENCES documents(id),
    PRIMARY KEY (user_id, doc_id)
) WITHOUT ROWID;

CREATE TABLE visits (
    doc_id         BLOB PRIMARY KEY REFERENCES documents(id),
    account_id     BLOB NOT NULL,
    owner          TEXT NOT NULL,
    planned_at     INTEGER NOT NULL,
    checked_in_at  INTEGER,
    checked_out_at INTEGER,
    cancelled      INTEGER NOT NULL,
    summary        BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX visits_account ON visits(account_id, planned_at DESC, doc_id);
CREATE INDEX visits_owner ON visits(owner, planned_at DESC, doc_id);

CREATE TABLE commitments (
    visit_id      BLOB NOT NULL REFERENCES documents(id),
    commitment_id TEXT NOT NULL,
    account_id    BLOB NOT NULL,
    owner         TEXT NOT NULL,
    due_at        INTEGER NOT NULL,
    done_at       INTEGER,
    refund        INTEGER NOT NULL,
    summary       BLOB NOT NULL,
    PRIMARY KEY (visit_id, commitment_id)
) WITHOUT ROWID;
CREATE INDEX commitments_open ON commitments(owner, due_at) WHERE done_at IS NULL;

CREATE TABLE cases (
    doc_id         BLOB PRIMARY KEY REFERENCES documents(id),
    account_id     BLOB,
    customer_id    TEXT NOT NULL,
    category       TEXT NOT NULL,
    severity       TEXT NOT NULL,
    stage          TEXT NOT NULL,
    owner          TEXT NOT NULL,
    received_at    INTEGER NOT NULL,
    stage_deadline INTEGER,
    closed_at      INTEGER,
    summary        BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX cases_owner ON cases(owner, stage, stage_deadline);
CREATE INDEX cases_open_deadline ON cases(stage_deadline) WHERE closed_at IS NULL;
CREATE INDEX cases_customer ON cases(customer_id, received_at);
"#,
    // 2: sync state — enrolment identity, sealed device key, epoch, cursors per scope,
    // and a random id of this store file (a rebuilt store gets a new one).
    r#"
CREATE TABLE sync_state (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE sync_cursors (
    scope    TEXT PRIMARY KEY,
    position INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('replica_id', randomblob(16))
    ON CONFLICT(key) DO NOTHING;
"#,
    // 3: every region prefix of a response (north, north/county-2, north/county-2/d-3), so
    // a page filtered by region (and band) is an index range, not a scan and a sort.
    r#"
CREATE TABLE response_regions (
    prefix     TEXT NOT NULL,
    doc_id     BLOB NOT NULL REFERENCES documents(id),
    band       TEXT,
    started_at INTEGER NOT NULL,
    PRIMARY KEY (prefix, doc_id)
) WITHOUT ROWID;
CREATE INDEX response_regions_band ON response_regions(prefix, band, started_at DESC, doc_id DESC);
CREATE INDEX response_regions_time ON response_regions(prefix, started_at DESC, doc_id DESC);
CREATE INDEX response_regions_doc ON response_regions(doc_id);

WITH RECURSIVE parts(doc_id, band, started_at, prefix, rest) AS (
    SELECT doc_id, band, started_at, NULL, region || '/' FROM responses
    UNION ALL
    SELECT doc_id, band, started_at,
           CASE WHEN prefix IS NULL THEN substr(rest, 1, instr(rest, '/') - 1)
                ELSE prefix || '/' || substr(rest, 1, instr(rest, '/') - 1) END,
           substr(rest, instr(rest, '/') + 1)
    FROM parts WHERE rest <> ''
)
INSERT OR IGNORE INTO response_regions (prefix, doc_id, band, started_at)
SELECT prefix, doc_id, band, started_at FROM parts WHERE prefix IS NOT NULL;
"#,
    // 4: what the analytics need beyond lists (docs/analytics.md): the respondent's
    // customer id on responses (score drops between two surveys), and on cases the first
    // response, the number of dispatches (first-contact resolution) and the follow-up
    // score. The values live in the sealed documents, so the store rebuilds every
    // projection once on open (`projections_stale`).
    r#"
ALTER TABLE responses ADD COLUMN customer_id TEXT;
CREATE INDEX responses_customer ON responses(customer_id, started_at)
    WHERE customer_id IS NOT NULL;
ALTER TABLE cases ADD COLUMN first_response_at INTEGER;
ALTER TABLE cases ADD COLUMN dispatches INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN follow_up_score INTEGER;
INSERT INTO meta (key, value) VALUES ('projections_stale', X'01')
    ON CONFLICT(key) DO UPDATE SET value = X'01';
"#,
    // 5: attachments (store/blobs.rs). Blobs live outside the CRDT, addressed by
    // SHA-256; their bytes are sealed chunk by chunk (AAD: hash and chunk index).
    // `blob_refs` is a projection (which documents reference which blob), rebuilt once
    // on open because older responses may hold attachment answers already.
    r#"
CREATE TABLE blobs (
    hash          BLOB PRIMARY KEY,
    size          INTEGER NOT NULL,
    chunks        INTEGER NOT NULL,
    media_type    TEXT,
    local         INTEGER NOT NULL,
    have_chunks   INTEGER NOT NULL DEFAULT 0,
    complete      INTEGER NOT NULL DEFAULT 0,
    sent_chunks   INTEGER NOT NULL DEFAULT 0,
    on_server     INTEGER NOT NULL DEFAULT 0,
    added_at      INTEGER NOT NULL,
    last_used     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX blobs_upload ON blobs(added_at) WHERE local = 1 AND on_server = 0;
CREATE INDEX blobs_evict ON blobs(last_used) WHERE on_server = 1 AND have_chunks > 0;

CREATE TABLE blob_chunks (
    hash   BLOB NOT NULL,
    idx    INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (hash, idx)
);

CREATE TABLE blob_refs (
    hash   BLOB NOT NULL,
    doc_id BLOB NOT NULL REFERENCES documents(id),
    size   INTEGER NOT NULL,
    PRIMARY KEY (hash, doc_id)
) WITHOUT ROWID;
CREATE INDEX blob_refs_doc ON blob_refs(doc_id);

INSERT INTO meta (key, value) VALUES ('projections_stale', X'01')
    ON CONFLICT(key) DO UPDATE SET value = X'01';
"#,
];

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// The schema version stored in the file.
pub fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Bring the database up to [`CURRENT_VERSION`], one step per transaction. Refuses a
/// database newer than this build.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, CURRENT_VERSION)
}

/// Bring the database up to `target` (tests build every earlier version with this).
pub fn migrate_to(conn: &mut Connection, target: i64) -> Result<()> {
    let found = version(conn)?;
    if found > CURRENT_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: CURRENT_VERSION,
        });
    }
    for v in found..target.min(CURRENT_VERSION) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-read inside the write lock: another process may have migrated meanwhile.
        let now = version(&tx)?;
        if now > v {
            tx.commit()?;
            continue;
        }
        let idx = usize::try_from(v).map_err(|_| Error::Malformed("schema version".into()))?;
        tx.execute_batch(MIGRATIONS[idx])?;
        tx.pragma_update(None, "user_version", v + 1)?;
        tx.commit()?;
    }
    Ok(())
}
