//! The server's storage, behind one trait: identity and access (tenants, users, scopes,
//! grants, enrolment codes, devices), the per-tenant change log devices pull from, and
//! per-document metadata. SQLite ([`sqlite::SqliteStorage`]) is the zero-configuration
//! default; PostgreSQL ([`postgres::PgStorage`]) lets several stateless nodes share one
//! database (docs/operations.md). [`open`] picks one from a [`StorageConfig`].
//!
//! The change log is the source of truth. Positions are per tenant, assigned inside the
//! committing transaction from a per-tenant counter, so they become visible in position
//! order: once a reader sees position `p`, no change with a smaller position can commit
//! later. That is what makes a cursor safe (docs/protocol.md, "Cursors").

pub mod blobs;
pub mod console;
pub mod postgres;
pub mod sqlite;

use std::collections::HashSet;

use automerge::ChangeHash;
use fieldsync_core::sync::wire::{Rejected, ScopeGrant};
use fieldsync_core::{DocId, Kind, Timestamp};

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (connection, statement, or a transaction conflict).
    #[error("postgres: {}", postgres::describe(.0))]
    Postgres(#[from] ::postgres::Error),
    /// Not found.
    #[error("{0} not found")]
    NotFound(String),
    /// Already exists.
    #[error("{0} already exists")]
    Exists(String),
    /// A rule was broken (bad name, expired code...).
    #[error("{0}")]
    Invalid(String),
    /// The engine failed.
    #[error(transparent)]
    Core(#[from] fieldsync_core::Error),
    /// The storage worker is gone (shutting down).
    #[error("storage is shutting down")]
    Closed,
    /// Files.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Storage result.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// An enrolled device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Device id (unique on the server).
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// The user it acts for.
    pub user_id: String,
    /// Ed25519 public key.
    pub public_key: Vec<u8>,
    /// Operator-facing name.
    pub name: String,
    /// Last store replica id seen.
    pub replica: Option<[u8; 16]>,
    /// Enrolled at.
    pub enrolled_at: Timestamp,
    /// Revoked at.
    pub revoked_at: Option<Timestamp>,
    /// Last connection.
    pub last_seen_at: Option<Timestamp>,
}

/// An enrolment request after its code was checked for shape.
#[derive(Debug, Clone)]
pub struct EnrolRequest {
    /// SHA-256 of the normalised code.
    pub code_hash: [u8; 32],
    /// Proposed device id.
    pub device_id: String,
    /// Ed25519 public key.
    pub public_key: Vec<u8>,
    /// Name.
    pub name: String,
    /// Replica id.
    pub replica: [u8; 16],
}

/// One change, parsed and checked by the caller (off the writer thread).
#[derive(Debug, Clone)]
pub struct ParsedChange {
    /// Index within the push (for rejections).
    pub index: u32,
    /// Hash.
    pub hash: ChangeHash,
    /// Dependencies.
    pub deps: Vec<ChangeHash>,
    /// Actor bytes.
    pub actor: Vec<u8>,
    /// Raw bytes.
    pub bytes: Vec<u8>,
}

/// Changes of one document in a push.
#[derive(Debug, Clone)]
pub struct IngestDoc {
    /// Document.
    pub id: DocId,
    /// Kind declared by the device (checked against the stored one).
    pub kind: Kind,
    /// Scope declared by the device (checked against the stored one).
    pub scope: String,
    /// Changes in causal order.
    pub changes: Vec<ParsedChange>,
}

/// A push, ready to commit.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// Tenant.
    pub tenant: String,
    /// Pushing device.
    pub device_id: String,
    /// Its user.
    pub user_id: String,
    /// Scopes the user may write.
    pub writable: HashSet<String>,
    /// Documents.
    pub docs: Vec<IngestDoc>,
    /// Changes refused before storage (did not parse, too large).
    pub pre_rejected: Vec<Rejected>,
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestOutcome {
    /// New changes committed.
    pub accepted: u32,
    /// Changes already held.
    pub duplicates: u32,
    /// Refused changes.
    pub rejected: Vec<Rejected>,
    /// Highest position written (0 if none).
    pub last_position: u64,
    /// Scopes that received changes.
    pub scopes: Vec<String>,
}

/// One change row as pulled.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Position.
    pub position: u64,
    /// Document.
    pub doc_id: DocId,
    /// Kind.
    pub kind: Kind,
    /// Scope.
    pub scope: String,
    /// Bytes.
    pub bytes: Vec<u8>,
    /// Actor.
    pub actor: Vec<u8>,
    /// Device that pushed it.
    pub device: String,
    /// Its user.
    pub user: String,
}

/// A pull result before encoding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullResult {
    /// Entries in position order.
    pub entries: Vec<LogEntry>,
    /// Every change up to here has been considered (new cursor for every scope asked).
    pub upto: u64,
    /// More entries wait beyond `upto`.
    pub more: bool,
}

/// Metadata of a stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocMeta {
    /// Id.
    pub id: DocId,
    /// Kind.
    pub kind: Kind,
    /// Scope.
    pub scope: String,
    /// Heads per the log.
    pub heads: Vec<ChangeHash>,
}

/// The server's storage. Every method is blocking; the async server calls them from
/// blocking tasks.
pub trait Storage: Send + Sync + 'static {
    // --- identity and access -----------------------------------------------------
    /// Create a tenant (idempotent).
    fn ensure_tenant(&self, tenant: &str) -> Result<()>;
    /// Create a user.
    fn create_user(&self, tenant: &str, user_id: &str, display_name: &str) -> Result<()>;
    /// Users of a tenant: (id, display name).
    fn list_users(&self, tenant: &str) -> Result<Vec<(String, String)>>;
    /// Create a scope.
    fn create_scope(&self, tenant: &str, scope: &str) -> Result<()>;
    /// Scopes of a tenant.
    fn list_scopes(&self, tenant: &str) -> Result<Vec<String>>;
    /// Set a user's rights on a scope (both false removes the grant).
    fn set_grant(
        &self,
        tenant: &str,
        user_id: &str,
        scope: &str,
        read: bool,
        write: bool,
    ) -> Result<()>;
    /// A user's grants.
    fn grants(&self, tenant: &str, user_id: &str) -> Result<Vec<ScopeGrant>>;
    /// Store a new enrolment code (by hash) for a user, valid until `expires_at`.
    fn create_enrolment(
        &self,
        tenant: &str,
        user_id: &str,
        code_hash: [u8; 32],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()>;
    /// Use a code: registers the device, marks the code used. One use only.
    fn enrol(&self, req: &EnrolRequest, now: Timestamp) -> Result<DeviceRecord>;
    /// A device.
    fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>>;
    /// Devices of a tenant.
    fn list_devices(&self, tenant: &str) -> Result<Vec<DeviceRecord>>;
    /// Revoke a device: its next connection is refused.
    fn revoke_device(&self, device_id: &str, now: Timestamp) -> Result<()>;
    /// Record a connection; returns the previously seen replica id.
    fn touch_device(
        &self,
        device_id: &str,
        replica: [u8; 16],
        now: Timestamp,
    ) -> Result<Option<[u8; 16]>>;

    // --- the log -----------------------------------------------------------------
    /// The tenant's log epoch (changes when the log is restored from a backup).
    fn epoch(&self, tenant: &str) -> Result<[u8; 16]>;
    /// Give the tenant a new epoch (after restoring a backup): every device repairs.
    fn new_epoch(&self, tenant: &str) -> Result<[u8; 16]>;
    /// The highest committed position.
    fn watermark(&self, tenant: &str) -> Result<u64>;
    /// Commit a push durably: authorise per scope, check dependencies, assign positions.
    fn ingest(&self, req: IngestRequest) -> Result<IngestOutcome>;
    /// Changes after the cursors in the given readable scopes, not pushed by
    /// `exclude_device`, up to `max_bytes`, in position order.
    fn pull(
        &self,
        tenant: &str,
        cursors: &[(String, u64)],
        exclude_device: Option<&str>,
        max_bytes: usize,
    ) -> Result<PullResult>;
    /// Metadata of documents in the given scopes.
    fn docs_in_scopes(&self, tenant: &str, scopes: &[String]) -> Result<Vec<DocMeta>>;
    /// Metadata of one document.
    fn doc_meta(&self, tenant: &str, id: DocId) -> Result<Option<DocMeta>>;
    /// Every change of a document in log order (repair, materialisation).
    fn doc_log(&self, tenant: &str, id: DocId) -> Result<Vec<LogEntry>>;
    /// Log entries after `position` (materialisation), up to `limit`.
    fn log_after(&self, tenant: &str, position: u64, limit: usize) -> Result<Vec<LogEntry>>;
    /// Tenants.
    fn tenants(&self) -> Result<Vec<String>>;
    /// Counts for operators: (documents, changes).
    fn counts(&self, tenant: &str) -> Result<(u64, u64)>;
}

/// A commit made through another server node on the same database (PostgreSQL
/// `NOTIFY`): live devices connected here are told, and the merged view catches up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCommit {
    /// Tenant.
    pub tenant: String,
    /// Scopes that received changes; `None` when they are not known (too many for one
    /// notification, or notifications were missed while reconnecting): every scope.
    pub scopes: Option<Vec<String>>,
    /// Highest position committed.
    pub position: u64,
    /// The pushing device (not told about its own changes).
    pub device: String,
}

/// Called for every [`RemoteCommit`].
pub type CommitWatcher = std::sync::Arc<dyn Fn(RemoteCommit) + Send + Sync>;

/// A complete server storage: the sync log, identity and the console's sign-in. The
/// server holds one as `Arc<dyn Backend>`.
pub trait Backend: Storage + console::ConsoleStore + blobs::BlobIndex {
    /// `sqlite` or `postgres` (logs, `fieldsync admin info`).
    fn backend_name(&self) -> &'static str;
    /// Finish queued commits and stop background threads.
    fn shutdown(&self);
    /// Deliver commits made by *other* nodes sharing this storage to `watcher`, from a
    /// background thread, until [`Backend::shutdown`]. A single-node storage has none.
    fn watch_commits(&self, watcher: CommitWatcher) -> Result<()> {
        let _ = watcher;
        Ok(())
    }
}

/// Where the server keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// One SQLite file (the default: `server.db` in the data folder).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL database, by connection URL (`postgres://user@host/db`,
    /// `host=/run/postgresql dbname=fieldsync`...).
    Postgres(String),
}

impl std::fmt::Debug for StorageConfig {
    // The URL may carry a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageConfig::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            StorageConfig::Postgres(_) => write!(f, "Postgres(..)"),
        }
    }
}

impl StorageConfig {
    /// From a `--database` value: a `postgres://` / `postgresql://` URL or a libpq
    /// key=value string selects PostgreSQL, `sqlite:PATH` or a plain path SQLite.
    pub fn parse(s: &str) -> StorageConfig {
        let t = s.trim();
        if t.starts_with("postgres://") || t.starts_with("postgresql://") || t.contains('=') {
            StorageConfig::Postgres(t.to_string())
        } else {
            StorageConfig::Sqlite(t.strip_prefix("sqlite:").unwrap_or(t).into())
        }
    }
}

/// Open the storage `config` names (migrating its schema).
pub fn open(config: &StorageConfig) -> Result<std::sync::Arc<dyn Backend>> {
    Ok(match config {
        StorageConfig::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            sqlite::SqliteStorage::open(path)?
        }
        StorageConfig::Postgres(url) => postgres::PgStorage::open(url)?,
    })
}
