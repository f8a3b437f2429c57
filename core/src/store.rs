//! The device store: Automerge documents in one SQLite file, sealed at rest.
//!
//! One writer connection and a few readers (WAL). A user action is one Automerge
//! change whose bytes and projection rows are written in one SQLite transaction with
//! `synchronous=FULL`: when a write returns, it is on disk. Per document the file holds
//! a compacted snapshot plus the changes made since; compaction folds changes into the
//! snapshot off the write path. Projection tables per kind answer lists and filters
//! without loading any document. See docs/architecture.md for the path of one write.

pub mod blobs;
mod cache;
mod changelog;
mod checkpoint;
mod compact;
mod forms;
mod projection;
mod query;
pub mod schema;
mod sync_state;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use automerge::{ActorId, AutoCommit, Change, ChangeHash, transaction::CommitOptions};
use autosurgeon::{hydrate, reconcile};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

pub use changelog::{ApplyOutcome, Incoming, PendingChange};
pub use checkpoint::{Checkpointer, Nudger};
pub use compact::CompactReport;
pub use forms::Locale;
pub use projection::Projectable;
pub use query::{
    AccountFilter, AccountRow, CaseFilter, CaseRow, CommitmentFilter, CommitmentRow, FormRow, Page,
    ResponseFilter, ResponseOrder, ResponseRow, VisitFilter, VisitRow,
};
pub use sync_state::{ServerEndpoint, SyncIdentity};

use crate::crypto::{Sealer, row_aad};
use crate::doc::{self, Conflict, FieldPath, FieldValue};
use crate::error::{Error, Result, ValidationError};
use crate::ids::{DocId, Kind, Scope, Timestamp, now_ms, random_bytes};
use crate::model::{Account, Case, Form, Record, RecordContext, Response, Visit};
use cache::{DocCache, Loaded, Slot};

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: the WAL is synced at every commit. A write that returned
    /// survives power loss. The default.
    Full,
    /// `synchronous=NORMAL`: consistent after power loss but the last commits may be
    /// lost. Only for benchmarks and bulk imports that can be redone.
    Normal,
}

/// A clock returning milliseconds since the epoch.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// How to open a store.
#[derive(Clone)]
pub struct StoreOptions {
    /// This device's id (recorded beside every change this store makes).
    pub device_id: String,
    /// The signed-in user's id.
    pub user_id: String,
    /// Open without writing anything (no migration either).
    pub read_only: bool,
    /// Reader connections beside the writer.
    pub readers: usize,
    /// Documents kept loaded in memory.
    pub cache_capacity: usize,
    /// Commit durability.
    pub durability: Durability,
    /// A document becomes due for compaction after this many changes.
    pub compact_after: u32,
    /// Run compaction on a background thread after writes.
    pub background_compaction: bool,
    /// Storage budget in database pages (4 KiB), `None` for no budget.
    pub max_pages: Option<u64>,
    /// Source of the time stamped on changes and rows.
    pub clock: Option<Clock>,
}

impl StoreOptions {
    /// Options for a device and user, with defaults for everything else.
    pub fn new(device_id: impl Into<String>, user_id: impl Into<String>) -> Self {
        StoreOptions {
            device_id: device_id.into(),
            user_id: user_id.into(),
            read_only: false,
            readers: 2,
            cache_capacity: 256,
            durability: Durability::Full,
            compact_after: 32,
            background_compaction: false,
            max_pages: None,
            clock: None,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("device_id", &self.device_id)
            .field("user_id", &self.user_id)
            .field("read_only", &self.read_only)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

/// Where a change notified to listeners came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOrigin {
    /// Written through this store's API.
    Local,
    /// Received from another replica (sync).
    Remote,
}

/// Told which documents changed, after the change is durable.
pub trait ChangeListener: Send + Sync {
    /// `ids` changed; called outside every store lock.
    fn on_change(&self, ids: &[DocId], origin: ChangeOrigin);
}

/// One edit of a document in its history: which user on which device, when, and the
/// fields it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Hex change hash.
    pub change: String,
    /// Hex Automerge actor id.
    pub actor: String,
    /// Device that made the change, if the actor is known here.
    pub device_id: Option<String>,
    /// User that made the change, if the actor is known here.
    pub user_id: Option<String>,
    /// When, by the writer's clock (ms).
    pub time: Timestamp,
    /// Fields written.
    pub fields: Vec<FieldPath>,
}

/// Basic facts about a stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocInfo {
    /// Id.
    pub id: DocId,
    /// Kind.
    pub kind: Kind,
    /// Scope.
    pub scope: Scope,
    /// Created (ms).
    pub created_at: Timestamp,
    /// Last change stored (ms).
    pub updated_at: Timestamp,
    /// Current heads.
    pub heads: Vec<ChangeHash>,
    /// Number of conflicted fields.
    pub conflicts: u32,
    /// Why it is quarantined, if it is.
    pub quarantine: Option<String>,
}

/// A record type the store can hold: domain rules plus projection rows.
pub trait StoredRecord: Record + Projectable {}
impl<T: Record + Projectable> StoredRecord for T {}

struct Inner {
    path: Option<PathBuf>,
    sealer: Sealer,
    writer: Mutex<Option<Connection>>,
    readers: Vec<Mutex<Option<Connection>>>,
    next_reader: AtomicUsize,
    interrupts: Vec<rusqlite::InterruptHandle>,
    cache: DocCache,
    actor: ActorId,
    opts: StoreOptions,
    closed: AtomicBool,
    listeners: RwLock<Vec<(u64, Arc<dyn ChangeListener>)>>,
    next_listener: AtomicU64,
    compaction_signal: Mutex<Option<std::sync::mpsc::Sender<()>>>,
    /// Published forms, hydrated once (they cannot change locally; a remote change to a
    /// form drops its entry).
    /// Published forms, compiled once per version (published versions never change).
    published_forms: Mutex<std::collections::HashMap<DocId, Arc<crate::forms::CompiledForm>>>,
}

/// An open device store. Cheap to clone; safe to use from any thread.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

const META_SALT: &str = "salt";
const META_KEY_CHECK: &str = "key_check";
const KEY_CHECK_PLAIN: &[u8] = b"fieldsync key check v1";

fn sqlite_error_is_corruption(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt))
}

impl Store {
    /// Open (or create) the store at `path`, sealed under `key` (32 bytes).
    ///
    /// A file that is not a readable database is moved aside (never deleted) and
    /// [`Error::StoreCorrupt`] names where it went; opening again creates a fresh store.
    pub fn open(path: impl AsRef<Path>, key: &[u8], opts: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        match Self::open_inner(Some(path.clone()), key, opts) {
            Err(Error::Sqlite(e)) if sqlite_error_is_corruption(&e) => Err(Error::StoreCorrupt {
                moved_to: move_aside(&path)?,
            }),
            other => other,
        }
    }

    /// A store in memory (tests, scratch work). Nothing survives the process.
    pub fn open_in_memory(key: &[u8], mut opts: StoreOptions) -> Result<Store> {
        opts.readers = 0;
        Self::open_inner(None, key, opts)
    }

    fn open_inner(path: Option<PathBuf>, key: &[u8], opts: StoreOptions) -> Result<Store> {
        if key.len() != crate::crypto::KEY_LEN {
            return Err(Error::WrongKey);
        }
        let mut writer = match &path {
            Some(p) if opts.read_only => Connection::open_with_flags(
                p,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
            Some(p) => Connection::open(p)?,
            None => Connection::open_in_memory()?,
        };
        writer.busy_timeout(std::time::Duration::from_secs(5))?;
        // Every statement of the write path is prepared once (`prepare_cached`); room for
        // all of them across kinds, sync and compaction, so none is re-parsed per write.
        writer.set_prepared_statement_cache_capacity(128);
        // Until the open succeeds, closing the writer must leave the files as they are:
        // SQLite's checkpoint on close would delete the WAL beside a file it cannot read
        // (or fold it into a file about to be refused).
        writer.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        // Touch the file header first: a non-database fails here, before anything writes.
        writer.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        // A newer schema is refused before anything is written (even the journal mode).
        let found = schema::version(&writer)?;
        if found > schema::CURRENT_VERSION {
            return Err(Error::SchemaTooNew {
                found,
                supported: schema::CURRENT_VERSION,
            });
        }
        if !opts.read_only {
            let mode: String = writer.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
            if path.is_some() && !mode.eq_ignore_ascii_case("wal") {
                return Err(Error::Malformed(format!(
                    "journal mode {mode} instead of wal"
                )));
            }
            let sync = match opts.durability {
                Durability::Full => "FULL",
                Durability::Normal => "NORMAL",
            };
            writer.pragma_update(None, "synchronous", sync)?;
            schema::migrate(&mut writer)?;
        } else if schema::version(&writer)? != schema::CURRENT_VERSION {
            let found = schema::version(&writer)?;
            if found > schema::CURRENT_VERSION {
                return Err(Error::SchemaTooNew {
                    found,
                    supported: schema::CURRENT_VERSION,
                });
            }
            return Err(Error::ReadOnly);
        }
        writer.pragma_update(None, "foreign_keys", "ON")?;
        writer.pragma_update(None, "trusted_schema", "OFF")?;
        if let Some(p) = opts.max_pages {
            writer.pragma_update(None, "max_page_count", i64::try_from(p).unwrap_or(i64::MAX))?;
        }
        let sealer = Self::init_keys(&mut writer, key, opts.read_only)?;
        let actor = Self::local_actor(&mut writer, &opts)?;
        writer.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)?;

        let mut readers = Vec::new();
        let mut interrupts = vec![writer.get_interrupt_handle()];
        if let Some(p) = &path {
            for _ in 0..opts.readers {
                let r = Connection::open_with_flags(
                    p,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                r.busy_timeout(std::time::Duration::from_secs(5))?;
                r.pragma_update(None, "trusted_schema", "OFF")?;
                interrupts.push(r.get_interrupt_handle());
                readers.push(Mutex::new(Some(r)));
            }
        }
        let store = Store {
            inner: Arc::new(Inner {
                path,
                sealer,
                writer: Mutex::new(Some(writer)),
                readers,
                next_reader: AtomicUsize::new(0),
                interrupts,
                cache: DocCache::new(opts.cache_capacity),
                actor,
                opts,
                closed: AtomicBool::new(false),
                listeners: RwLock::new(Vec::new()),
                next_listener: AtomicU64::new(1),
                compaction_signal: Mutex::new(None),
                published_forms: Mutex::new(std::collections::HashMap::new()),
            }),
        };
        if !store.inner.opts.read_only {
            store.rebuild_stale_projections()?;
        }
        if store.inner.opts.background_compaction && !store.inner.opts.read_only {
            compact::start_worker(&store);
        }
        Ok(store)
    }

    /// A migration that adds projection columns marks the projections stale (their
    /// values live in the sealed documents): rebuild them once, then clear the mark.
    fn rebuild_stale_projections(&self) -> Result<()> {
        let stale = self.read(|c| {
            Ok(c.query_row(
                "SELECT 1 FROM meta WHERE key = 'projections_stale'",
                [],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })?;
        if stale {
            let n = self.rebuild_projections()?;
            tracing::info!(documents = n, "projections rebuilt after a schema upgrade");
            self.write(|tx| {
                tx.execute("DELETE FROM meta WHERE key = 'projections_stale'", [])?;
                Ok(())
            })?;
        }
        Ok(())
    }

    fn init_keys(conn: &mut Connection, key: &[u8], read_only: bool) -> Result<Sealer> {
        let get = |c: &Connection, k: &str| -> Result<Option<Vec<u8>>> {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
                    .optional()?,
            )
        };
        if let (Some(salt), Some(check)) = (get(conn, META_SALT)?, get(conn, META_KEY_CHECK)?) {
            let sealer = Sealer::derive(key, &salt)?;
            return match sealer.open(&row_aad("meta", b"", META_KEY_CHECK.as_bytes()), &check) {
                Ok(p) if p == KEY_CHECK_PLAIN => Ok(sealer),
                _ => Err(Error::WrongKey),
            };
        }
        if read_only {
            return Err(Error::ReadOnly);
        }
        let mut salt = [0u8; 32];
        random_bytes(&mut salt)?;
        let sealer = Sealer::derive(key, &salt)?;
        let check = sealer.seal(
            &row_aad("meta", b"", META_KEY_CHECK.as_bytes()),
            KEY_CHECK_PLAIN,
        )?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![META_SALT, &salt[..]],
        )?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![META_KEY_CHECK, check],
        )?;
        tx.commit()?;
        Ok(sealer)
    }

    fn local_actor(conn: &mut Connection, opts: &StoreOptions) -> Result<ActorId> {
        let found: Option<Vec<u8>> = conn
            .query_row(
                "SELECT actor FROM actors WHERE device_id = ?1 AND user_id = ?2 AND local = 1",
                params![opts.device_id, opts.user_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(a) = found {
            return Ok(ActorId::from(a));
        }
        if opts.read_only {
            // A read-only store never writes, so any actor will do.
            return Ok(ActorId::random());
        }
        let mut a = [0u8; 16];
        random_bytes(&mut a)?;
        let now = opts.clock.as_ref().map_or_else(now_ms, |c| c());
        conn.execute(
            "INSERT INTO actors (actor, device_id, user_id, local, created_at) VALUES (?1, ?2, ?3, 1, ?4)",
            params![&a[..], opts.device_id, opts.user_id, now],
        )?;
        Ok(ActorId::from(a))
    }

    // ----- plumbing -------------------------------------------------------------------

    pub(crate) fn now(&self) -> Timestamp {
        self.inner.opts.clock.as_ref().map_or_else(now_ms, |c| c())
    }

    pub(crate) fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    fn lock_conn(m: &Mutex<Option<Connection>>) -> MutexGuard<'_, Option<Connection>> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on a reader connection (the writer when the store has no readers).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.check_open()?;
        let n = self.inner.readers.len();
        if n == 0 {
            let g = Self::lock_conn(&self.inner.writer);
            return f(g.as_ref().ok_or(Error::Closed)?);
        }
        let start = self.inner.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(g) = self.inner.readers[(start + i) % n].try_lock() {
                return f(g.as_ref().ok_or(Error::Closed)?);
            }
        }
        let g = Self::lock_conn(&self.inner.readers[start % n]);
        f(g.as_ref().ok_or(Error::Closed)?)
    }

    /// Run `f` in one immediate write transaction; commit on `Ok`.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.check_open()?;
        if self.inner.opts.read_only {
            return Err(Error::ReadOnly);
        }
        let mut g = Self::lock_conn(&self.inner.writer);
        let conn = g.as_mut().ok_or(Error::Closed)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    fn notify(&self, ids: &[DocId], origin: ChangeOrigin) {
        if ids.is_empty() {
            return;
        }
        let ls: Vec<Arc<dyn ChangeListener>> = self
            .inner
            .listeners
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        for l in ls {
            // A listener that panics must not take the store (or the app) with it.
            let _ =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l.on_change(ids, origin)));
        }
        if origin == ChangeOrigin::Local || origin == ChangeOrigin::Remote {
            compact::signal(self);
        }
    }

    /// Drop a form from the published-form cache (its document changed from outside).
    pub(crate) fn forget_form(&self, id: DocId) {
        self.inner
            .published_forms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    // ----- identity and lifecycle -----------------------------------------------------

    /// The file this store lives in (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The device id given at open.
    pub fn device_id(&self) -> &str {
        &self.inner.opts.device_id
    }

    /// The user id given at open.
    pub fn user_id(&self) -> &str {
        &self.inner.opts.user_id
    }

    /// This store's Automerge actor for the current device and user.
    pub fn actor(&self) -> &ActorId {
        &self.inner.actor
    }

    /// Register a listener told about every committed change.
    pub fn add_listener(&self, l: Arc<dyn ChangeListener>) -> u64 {
        let id = self.inner.next_listener.fetch_add(1, Ordering::Relaxed);
        self.inner
            .listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, l));
        id
    }

    /// Remove a listener.
    pub fn remove_listener(&self, id: u64) {
        self.inner
            .listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(i, _)| *i != id);
    }

    /// Stop accepting calls, interrupt running statements and close the connections.
    /// Everything committed stays committed; a write interrupted mid-way is rolled back.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        *self
            .inner
            .compaction_signal
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        for h in &self.inner.interrupts {
            h.interrupt();
        }
        for r in &self.inner.readers {
            Self::lock_conn(r).take();
        }
        if let Some(w) = Self::lock_conn(&self.inner.writer).take() {
            // The interrupt may cancel the next statement: retry once, so the WAL is
            // folded into the main file and a copy of the file alone is complete.
            for _ in 0..2 {
                if w.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").is_ok() {
                    break;
                }
            }
        }
        self.inner.cache.clear();
    }

    /// Documents currently held in the in-memory cache.
    pub fn cached_documents(&self) -> usize {
        self.inner.cache.len()
    }

    /// Change the storage budget (pages of 4 KiB); `None` lifts it.
    pub fn set_max_pages(&self, pages: Option<u64>) -> Result<()> {
        let g = Self::lock_conn(&self.inner.writer);
        let c = g.as_ref().ok_or(Error::Closed)?;
        // SQLite has no "unlimited" value; its maximum stands in for it.
        c.pragma_update(
            None,
            "max_page_count",
            i64::try_from(pages.unwrap_or(4_294_967_294)).unwrap_or(i64::MAX),
        )?;
        Ok(())
    }

    /// Make the writer refuse writes (`true`) or accept them again: what a device sees
    /// when its storage turns read-only under it. For fault tests.
    #[doc(hidden)]
    pub fn debug_set_query_only(&self, on: bool) -> Result<()> {
        let g = Self::lock_conn(&self.inner.writer);
        let c = g.as_ref().ok_or(Error::Closed)?;
        c.pragma_update(None, "query_only", on)?;
        Ok(())
    }

    /// Test hook for the bindings: panics inside the engine, so tests can check that a
    /// panic reaches the app as an error instead of aborting it.
    #[doc(hidden)]
    pub fn debug_induce_panic(&self) {
        panic!("induced panic (test hook)");
    }

    /// `PRAGMA integrity_check`: `Ok` when the file is sound, else SQLite's findings.
    pub fn integrity_check(&self) -> Result<std::result::Result<(), Vec<String>>> {
        self.read(|c| {
            let mut st = c.prepare("PRAGMA integrity_check")?;
            let rows: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(if rows == ["ok"] { Ok(()) } else { Err(rows) })
        })
    }

    // ----- typed records --------------------------------------------------------------

    /// Create a record in `scope`. Validated first; nothing is written on a violation.
    pub fn create<R: StoredRecord>(&self, scope: &Scope, value: &R) -> Result<DocId> {
        self.check_open()?;
        let now = self.now();
        value.validate(None, &Ctx { store: self, now })?;
        let id = DocId::random()?;
        let mut doc = AutoCommit::new().with_actor(self.inner.actor.clone());
        reconcile(&mut doc, value)?;
        doc.commit_with(CommitOptions::default().with_time(now));
        let slot = self.inner.cache.slot(id);
        let mut g = slot.lock();
        let mut loaded = Loaded::new(doc, R::KIND, scope.clone(), 0);
        self.persist_local(id, &mut loaded, true, now, |p| value.project(p))?;
        // A record is usually edited right after it is created (a form being filled in).
        loaded.keep(value.clone());
        *g = Some(loaded);
        drop(g);
        self.notify(&[id], ChangeOrigin::Local);
        Ok(id)
    }

    /// Read a record.
    pub fn get<R: StoredRecord>(&self, id: DocId) -> Result<R> {
        let slot = self.inner.cache.slot(id);
        let mut g = slot.lock();
        let l = self.ensure_loaded(id, &slot, &mut g)?;
        check_kind::<R>(id, l.kind)?;
        Ok(hydrate(&l.doc)?)
    }

    /// Edit a record: `f` changes a copy; the difference is validated, written as one
    /// Automerge change and committed durably with its projection rows. Returns whether
    /// anything changed. On any error nothing is written.
    pub fn update<R: StoredRecord>(
        &self,
        id: DocId,
        f: impl FnOnce(&mut R) -> Result<()>,
    ) -> Result<bool> {
        let now = self.now();
        let slot = self.inner.cache.slot(id);
        let mut g = slot.lock();
        let l = self.ensure_loaded(id, &slot, &mut g)?;
        check_kind::<R>(id, l.kind)?;
        // The value this store last wrote, while the document is still at those heads;
        // else hydrated.
        let before: R = match l.take_cached::<R>() {
            Some(v) => v,
            None => hydrate(&l.doc)?,
        };
        if R::is_immutable(&before) {
            return Err(Error::Immutable { id });
        }
        let mut after = before.clone();
        f(&mut after)?;
        after.validate(Some(&before), &Ctx { store: self, now })?;
        // Without conflicts, only the fields that changed are reconciled; with some, the
        // whole value (rewriting an unchanged but conflicted field resolves it, as before).
        let reconciled = if l.conflicts == 0 {
            after.reconcile_edit(&before, &mut l.doc)
        } else {
            reconcile(&mut l.doc, &after)
        };
        if let Err(e) = reconciled {
            l.doc.rollback();
            return Err(e.into());
        }
        if l.doc
            .commit_with(CommitOptions::default().with_time(now))
            .is_none()
        {
            // Nothing written: the document still holds `before`.
            l.keep(before);
            return Ok(false);
        }
        let change = match l.doc.get_last_local_change() {
            Some(c) if !c.is_empty() => c,
            _ => {
                // Nothing but an empty change: drop the in-memory copy rather than store it.
                *g = None;
                return Ok(false);
            }
        };
        match self.persist_change(id, l, change, false, now, |p| after.project(p)) {
            Ok(()) => {
                l.keep(after);
                drop(g);
                self.notify(&[id], ChangeOrigin::Local);
                Ok(true)
            }
            Err(e) => {
                *g = None;
                Err(e)
            }
        }
    }

    fn ensure_loaded<'g>(
        &self,
        id: DocId,
        _slot: &Slot,
        g: &'g mut MutexGuard<'_, Option<Loaded>>,
    ) -> Result<&'g mut Loaded> {
        self.check_open()?;
        if g.is_none() {
            **g = Some(self.load_from_disk(id)?);
        }
        // The branch above guarantees Some.
        g.as_mut().ok_or(Error::NotFound { id })
    }

    /// Write the last local change of `l` with its projection, in one transaction.
    fn persist_local(
        &self,
        id: DocId,
        l: &mut Loaded,
        created: bool,
        now: Timestamp,
        project: impl FnOnce(&mut projection::Projector<'_>) -> Result<()>,
    ) -> Result<()> {
        let change = l
            .doc
            .get_last_local_change()
            .ok_or_else(|| Error::Malformed("no local change to persist".into()))?;
        self.persist_change(id, l, change, created, now, project)
    }

    /// Write `change` (the last local change of `l`, read once by the caller: Automerge
    /// rebuilds it from the op set on every call) with its projection, in one
    /// transaction. A created document's row is inserted in its final state; an edited
    /// one's is updated. Every statement is prepared once per connection.
    fn persist_change(
        &self,
        id: DocId,
        l: &mut Loaded,
        change: Change,
        created: bool,
        now: Timestamp,
        project: impl FnOnce(&mut projection::Projector<'_>) -> Result<()>,
    ) -> Result<()> {
        let heads = doc::encode_heads(&l.doc.get_heads());
        // A local change can resolve conflicts but never create one: walk the document
        // only when it had conflicts before.
        if l.conflicts > 0 {
            l.conflicts = i64::try_from(doc::conflicts(&l.doc)?.len()).unwrap_or(i64::MAX);
        }
        let conflicts = l.conflicts;
        let kind = l.kind;
        let idb = &id.as_bytes()[..];
        // Sealed before the write lock is taken: the lock is held only for the SQL.
        let sealed = changelog::seal_change(self.sealer(), id, kind, &l.scope, &change)?;
        self.write(|tx| {
            if created {
                tx.prepare_cached(
                    "INSERT INTO documents (id, kind, scope, created_at, updated_at, heads, pending, conflicts)
                     VALUES (?1, ?2, ?3, ?4, ?4, ?5, 1, ?6)",
                )?
                .execute(params![idb, kind.code(), l.scope.as_str(), now, heads, conflicts])?;
            }
            changelog::insert_sealed_change(tx, id, &sealed, true, false)?;
            if !created {
                tx.prepare_cached(
                    "UPDATE documents SET updated_at = ?2, heads = ?3, pending = pending + 1, conflicts = ?4
                     WHERE id = ?1",
                )?
                .execute(params![idb, now, heads, conflicts])?;
            }
            let mut p = if created {
                projection::Projector::new_document(tx, self.sealer(), id)
            } else {
                projection::Projector::new(tx, self.sealer(), id)
            };
            project(&mut p)
        })
    }

    // ----- loading and quarantine -----------------------------------------------------

    fn load_from_disk(&self, id: DocId) -> Result<Loaded> {
        let raw = match self.read(|c| changelog::read_raw(c, id)) {
            Ok(raw) => raw,
            Err(Error::Corrupt { id, detail }) => {
                self.quarantine(id, detail)?;
                return Err(Error::Corrupt { id, detail });
            }
            Err(e) => return Err(e),
        };
        if let Some(reason) = &raw.quarantine {
            return Err(Error::Quarantined {
                id,
                reason: reason.clone(),
            });
        }
        match changelog::decode_raw(self.sealer(), id, &raw) {
            Ok(mut doc) => {
                doc.set_actor(self.inner.actor.clone());
                Ok(Loaded::new(doc, raw.kind, raw.scope, raw.conflicts))
            }
            Err(detail) => {
                self.quarantine(id, detail)?;
                Err(Error::Corrupt { id, detail })
            }
        }
    }

    /// Mark a document as quarantined: reads return [`Error::Quarantined`] until it is
    /// repaired (e.g. re-fetched by sync). Nothing is deleted.
    pub(crate) fn quarantine(&self, id: DocId, detail: &'static str) -> Result<()> {
        self.inner.cache.remove(&id);
        tracing::warn!(doc = %id, detail, "document failed verification; quarantined");
        match self.write(|tx| {
            tx.execute(
                "UPDATE documents SET quarantine = ?2 WHERE id = ?1",
                params![&id.as_bytes()[..], detail],
            )?;
            Ok(())
        }) {
            // A read-only store still reports the corruption; it just cannot record it.
            Ok(()) | Err(Error::ReadOnly) => Ok(()),
            Err(e) => Err(e),
        }
    }

    // ----- documents, generically -----------------------------------------------------

    /// Facts about a document without loading it.
    pub fn info(&self, id: DocId) -> Result<DocInfo> {
        self.read(|c| {
            c.query_row(
                "SELECT kind, scope, created_at, updated_at, heads, conflicts, quarantine
                 FROM documents WHERE id = ?1",
                [&id.as_bytes()[..]],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        changelog::text_bytes(r, 1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get::<_, Vec<u8>>(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .optional()?
            .ok_or(Error::NotFound { id })
            .and_then(
                |(k, s, created_at, updated_at, heads, conflicts, quarantine)| {
                    Ok(DocInfo {
                        id,
                        kind: u8::try_from(k)
                            .ok()
                            .and_then(Kind::from_code)
                            .ok_or(Error::Corrupt { id, detail: "kind" })?,
                        scope: changelog::stored_scope(s).ok_or(Error::Corrupt {
                            id,
                            detail: "scope",
                        })?,
                        created_at,
                        updated_at,
                        heads: doc::decode_heads(&heads).map_err(|_| Error::Corrupt {
                            id,
                            detail: "heads",
                        })?,
                        conflicts,
                        quarantine,
                    })
                },
            )
        })
    }

    /// Ids of every document of `kind` (all kinds when `None`), oldest first.
    pub fn ids(&self, kind: Option<Kind>) -> Result<Vec<DocId>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT id FROM documents WHERE (?1 IS NULL OR kind = ?1) ORDER BY created_at, id",
            )?;
            let rows = st.query_map([kind.map(Kind::code)], |r| r.get::<_, Vec<u8>>(0))?;
            let mut out = Vec::new();
            for r in rows {
                out.push(DocId::from_slice(&r?).ok_or(Error::Malformed("stored id".into()))?);
            }
            Ok(out)
        })
    }

    /// The document's current value, of any shape (for inspection and exports).
    pub fn value(&self, id: DocId, path: &FieldPath) -> Result<Option<FieldValue>> {
        self.with_doc(id, |l| doc::value_at(&l.doc, path))
    }

    /// Run `f` on the loaded document.
    pub(crate) fn with_doc<T>(
        &self,
        id: DocId,
        f: impl FnOnce(&mut Loaded) -> Result<T>,
    ) -> Result<T> {
        let slot = self.inner.cache.slot(id);
        let mut g = slot.lock();
        let l = self.ensure_loaded(id, &slot, &mut g)?;
        f(l)
    }

    /// Every conflicted field of the document.
    pub fn conflicts(&self, id: DocId) -> Result<Vec<Conflict>> {
        self.with_doc(id, |l| doc::conflicts(&l.doc))
    }

    /// Resolve the conflict at `path` by writing `value` there. The resolution is an
    /// ordinary change: validated like any edit, and it syncs.
    pub fn resolve_conflict(&self, id: DocId, path: &FieldPath, value: &FieldValue) -> Result<()> {
        let kind = self.info(id)?.kind;
        match kind {
            Kind::Form => self.resolve_typed::<Form>(id, path, value),
            Kind::Response => self.resolve_typed::<Response>(id, path, value),
            Kind::Account => self.resolve_typed::<Account>(id, path, value),
            Kind::Visit => self.resolve_typed::<Visit>(id, path, value),
            Kind::Case => self.resolve_typed::<Case>(id, path, value),
        }
    }

    fn resolve_typed<R: StoredRecord>(
        &self,
        id: DocId,
        path: &FieldPath,
        value: &FieldValue,
    ) -> Result<()> {
        let now = self.now();
        let slot = self.inner.cache.slot(id);
        let mut g = slot.lock();
        let l = self.ensure_loaded(id, &slot, &mut g)?;
        check_kind::<R>(id, l.kind)?;
        let before: R = hydrate(&l.doc)?;
        if R::is_immutable(&before) {
            return Err(Error::Immutable { id });
        }
        let checked = doc::put_value(&mut l.doc, path, value).and_then(|()| {
            let after: R = hydrate(&l.doc).map_err(|_| {
                Error::Validation(ValidationError::new(
                    path.to_string(),
                    "wrong_type",
                    "the value does not fit this field",
                ))
            })?;
            after.validate(Some(&before), &Ctx { store: self, now })?;
            Ok(after)
        });
        let after = match checked {
            Ok(a) => a,
            Err(e) => {
                l.doc.rollback();
                return Err(e);
            }
        };
        l.doc.commit_with(CommitOptions::default().with_time(now));
        match self.persist_local(id, l, false, now, |p| after.project(p)) {
            Ok(()) => {
                drop(g);
                self.notify(&[id], ChangeOrigin::Local);
                Ok(())
            }
            Err(e) => {
                *g = None;
                Err(e)
            }
        }
    }

    /// Every change of the document, oldest first, with who made it, on which device,
    /// when, and which fields it wrote.
    pub fn history(&self, id: DocId) -> Result<Vec<HistoryEntry>> {
        let summaries = self.with_doc(id, |l| doc::change_summaries(&mut l.doc))?;
        let actors = self.actor_table()?;
        Ok(summaries
            .into_iter()
            .map(|s| {
                let who = actors.get(s.actor.to_bytes());
                HistoryEntry {
                    change: s.hash.to_string(),
                    actor: s.actor.to_hex_string(),
                    device_id: who.map(|w| w.0.clone()),
                    user_id: who.map(|w| w.1.clone()),
                    time: s.time,
                    fields: s.fields,
                }
            })
            .collect())
    }

    /// The edits that wrote `path` or anything under it, oldest first.
    pub fn field_history(&self, id: DocId, path: &FieldPath) -> Result<Vec<HistoryEntry>> {
        Ok(self
            .history(id)?
            .into_iter()
            .filter_map(|mut h| {
                h.fields.retain(|f| f.starts_with(path));
                (!h.fields.is_empty()).then_some(h)
            })
            .collect())
    }

    fn actor_table(&self) -> Result<std::collections::HashMap<Vec<u8>, (String, String)>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT actor, device_id, user_id FROM actors")?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, (r.get(1)?, r.get(2)?)))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Record many actors at once (one transaction).
    pub fn record_actors(&self, actors: &[(ActorId, String, String)]) -> Result<()> {
        if actors.is_empty() {
            return Ok(());
        }
        let now = self.now();
        self.write(|tx| {
            let mut st = tx.prepare_cached(
                "INSERT INTO actors (actor, device_id, user_id, local, created_at) VALUES (?1, ?2, ?3, 0, ?4)
                 ON CONFLICT(actor) DO NOTHING",
            )?;
            for (a, d, u) in actors {
                st.execute(params![a.to_bytes(), d, u, now])?;
            }
            Ok(())
        })
    }

    /// Record which device and user an Automerge actor belongs to (learned from sync).
    pub fn record_actor(&self, actor: &ActorId, device_id: &str, user_id: &str) -> Result<()> {
        let now = self.now();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO actors (actor, device_id, user_id, local, created_at) VALUES (?1, ?2, ?3, 0, ?4)
                 ON CONFLICT(actor) DO NOTHING",
                params![actor.to_bytes(), device_id, user_id, now],
            )?;
            Ok(())
        })
    }

    /// Rebuild every projection row from the documents (after a projection schema
    /// change, or to repair a damaged projection). Returns the documents projected.
    pub fn rebuild_projections(&self) -> Result<usize> {
        let ids = self.ids(None)?;
        let mut n = 0;
        for id in ids {
            let r = self.with_doc(id, |l| {
                let (kind, doc) = (l.kind, &l.doc);
                self.write(|tx| projection::project_doc(tx, self.sealer(), id, kind, doc))
            });
            match r {
                Ok(()) => n += 1,
                Err(Error::Corrupt { .. } | Error::Quarantined { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
    }
}

fn check_kind<R: Record>(id: DocId, found: Kind) -> Result<()> {
    if found == R::KIND {
        Ok(())
    } else {
        Err(Error::WrongKind {
            id,
            expected: R::KIND,
            found,
        })
    }
}

struct Ctx<'a> {
    store: &'a Store,
    now: Timestamp,
}

impl RecordContext for Ctx<'_> {
    fn form(&self, id: &DocId) -> Result<Form> {
        Ok(self.compiled_form(id)?.form().clone())
    }
    fn compiled_form(&self, id: &DocId) -> Result<Arc<crate::forms::CompiledForm>> {
        if let Some(f) = self
            .store
            .inner
            .published_forms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            return Ok(f.clone());
        }
        let f = match self.store.get::<Form>(*id) {
            Ok(f) => f,
            Err(Error::NotFound { .. } | Error::WrongKind { .. }) => {
                return Err(Error::Validation(ValidationError::new(
                    "form_id",
                    "unknown_form",
                    "no such form on this device",
                )));
            }
            Err(e) => return Err(e),
        };
        let compiled = Arc::new(crate::forms::CompiledForm::compile(&f).map_err(|e| {
            // A form synced from elsewhere that this engine cannot run.
            Error::Validation(ValidationError::new("form_id", e.code, e.message))
        })?);
        if f.published {
            self.store
                .inner
                .published_forms
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(*id, compiled.clone());
        }
        Ok(compiled)
    }
    fn now(&self) -> Timestamp {
        self.now
    }
}

/// Move a damaged database (and its WAL and shared-memory files) aside.
fn move_aside(path: &Path) -> Result<PathBuf> {
    let stamp = now_ms();
    let mut target = path.as_os_str().to_owned();
    target.push(format!(".corrupt-{stamp}"));
    let target = PathBuf::from(target);
    std::fs::rename(path, &target)?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists() {
            let mut t = target.as_os_str().to_owned();
            t.push(suffix);
            std::fs::rename(&side, PathBuf::from(t))?;
        }
    }
    tracing::error!(moved_to = %target.display(), "store file was not a readable database; moved aside");
    Ok(target)
}

/// Parse change bytes received from elsewhere, with a size cap and panic containment.
pub(crate) fn parse_change(bytes: &[u8]) -> Result<Change> {
    if bytes.len() > changelog::MAX_CHANGE_BYTES {
        return Err(Error::TooLarge {
            what: "change",
            size: bytes.len(),
            limit: changelog::MAX_CHANGE_BYTES,
        });
    }
    doc::check_change_chunk(bytes, changelog::MAX_CHANGE_INFLATED)?;
    doc::guarded("parse change", || {
        Change::from_bytes(bytes.to_vec()).map_err(|e| Error::Malformed(format!("change: {e}")))
    })
}

/// Whether the document holds the change.
pub(crate) fn has_change(doc: &mut AutoCommit, h: &ChangeHash) -> bool {
    doc.get_change_by_hash(h).is_some()
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Store>();
}
