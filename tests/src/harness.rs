//! A real server in this process and enrolled devices with real store files.

use std::net::SocketAddr;
use std::time::Duration;

use fieldsync_core::store::{Store, StoreOptions};
use fieldsync_core::sync::auth::{EnrolmentLink, ServerTrust, code_hash, new_enrolment_code};
use fieldsync_core::sync::quic::{self, WireStats};
use fieldsync_core::sync::{ClientConfig, SyncReport};
use fieldsync_core::{Result, Scope, now_ms};
use fieldsync_server::server::{RunningServer, ServerConfig, start};
use fieldsync_server::storage::{Backend, StorageConfig};

/// The key every test device store is sealed with.
pub const DEVICE_KEY: [u8; 32] = [7u8; 32];
/// The tenant tests use.
pub const TENANT: &str = "acme";

/// Install a log subscriber once (RUST_LOG controls it).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// A libpq connection string without `dbname` (`host=/tmp/pg user=postgres`) of a
/// PostgreSQL server where the tests may create databases: needed by the scale-out
/// tests, and by the suite's PostgreSQL pass. `scripts/test-all` starts one.
pub const PG_ENV: &str = "FIELDSYNC_TEST_POSTGRES";
/// `postgres` runs every test server (and storage-level test) on PostgreSQL, each on a
/// fresh database; unset or `sqlite`: SQLite. `scripts/test-all` runs the server suite
/// both ways.
pub const BACKEND_ENV: &str = "FIELDSYNC_TEST_BACKEND";

/// The backend this run tests: `sqlite` or `postgres`.
pub fn backend_under_test() -> &'static str {
    if on_postgres() { "postgres" } else { "sqlite" }
}

fn on_postgres() -> bool {
    let pg = std::env::var(BACKEND_ENV).is_ok_and(|b| b == "postgres");
    if pg {
        assert!(pg_base().is_some(), "{BACKEND_ENV}=postgres needs {PG_ENV}");
    }
    pg
}

fn pg_base() -> Option<String> {
    std::env::var(PG_ENV).ok().filter(|s| !s.trim().is_empty())
}

/// Run blocking PostgreSQL client code on its own thread (the client runs a runtime
/// of its own, which must not nest in a test's).
fn pg_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("postgres client thread"))
}

/// A fresh, empty PostgreSQL database on the test server; its connection string.
/// Panics when [`PG_ENV`] is unset.
pub fn fresh_pg_database() -> String {
    pg_thread(fresh_pg_database_here)
}

fn fresh_pg_database_here() -> String {
    let base = pg_base().expect("FIELDSYNC_TEST_POSTGRES is set");
    let mut b = [0u8; 8];
    unique_bytes(&mut b);
    let name = format!("fs_test_{}", hex(&b));
    let mut admin = postgres::Client::connect(&format!("{base} dbname=postgres"), postgres::NoTls)
        .unwrap_or_else(|e| panic!("the PostgreSQL of {PG_ENV} answers: {e}"));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    format!("{base} dbname={name}")
}

fn unique_bytes(b: &mut [u8]) {
    use std::hash::{BuildHasher, Hasher};
    // Unique enough for test database names: random hasher keys, the time, the pid.
    for chunk in b.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The storage a server with data folder `dir` uses in this run: `server.db` there, or
/// on PostgreSQL a database made for the folder on first use and remembered in it (a
/// restarted server finds its data again).
pub fn test_storage(dir: &std::path::Path) -> StorageConfig {
    if !on_postgres() {
        return StorageConfig::Sqlite(dir.join("server.db"));
    }
    let marker = dir.join("postgres-database");
    if let Ok(url) = std::fs::read_to_string(&marker) {
        return StorageConfig::Postgres(url);
    }
    std::fs::create_dir_all(dir).expect("data folder");
    let url = fresh_pg_database();
    std::fs::write(&marker, &url).expect("remember the database");
    StorageConfig::Postgres(url)
}

/// Open the storage of data folder `dir` directly (protocol tests without a server).
pub fn open_test_storage(dir: &std::path::Path) -> std::sync::Arc<dyn Backend> {
    fieldsync_server::storage::open(&test_storage(dir)).expect("storage opens")
}

/// Changes in the log of data folder `dir`, read without opening a storage (a second
/// process may be writing it; 0 when it cannot be read yet).
pub fn log_count(dir: &std::path::Path) -> i64 {
    match test_storage(dir) {
        StorageConfig::Sqlite(db) => {
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .and_then(|c| c.query_row("SELECT count(*) FROM changes", [], |r| r.get(0)))
                .unwrap_or(0)
        }
        StorageConfig::Postgres(url) => pg_thread(|| {
            postgres::Client::connect(&url, postgres::NoTls)
                .and_then(|mut c| c.query_one("SELECT count(*) FROM changes", &[]))
                .map_or(0, |r| r.get(0))
        }),
    }
}

/// A server on 127.0.0.1:0 with its data in a temp folder.
pub struct TestServer {
    /// The server.
    pub server: RunningServer,
    /// Its data folder.
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// Start a server and create the test tenant.
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir).await
    }

    /// Start a server on an existing data folder (restart after a crash).
    pub async fn start_in(dir: tempfile::TempDir) -> TestServer {
        Self::start_with(dir, |_| {}).await
    }

    /// Start a server with its configuration adjusted by `tweak`.
    pub async fn start_with(
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        init_tracing();
        let mut cfg = ServerConfig::new(dir.path(), "127.0.0.1:0".parse().expect("addr"));
        cfg.storage = Some(test_storage(dir.path()));
        tweak(&mut cfg);
        let server = start(cfg).await.expect("server starts");
        server.storage.ensure_tenant(TENANT).expect("tenant");
        TestServer { server, dir }
    }

    /// Where devices connect.
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr
    }

    /// Create `user` (if new) and scopes (if new) with the given rights.
    pub fn user(&self, user: &str, grants: &[(&str, bool, bool)]) {
        let st = &self.server.storage;
        let _ = st.create_user(TENANT, user, user);
        for (scope, r, w) in grants {
            let _ = st.create_scope(TENANT, scope);
            st.set_grant(TENANT, user, scope, *r, *w).expect("grant");
        }
    }

    /// A fresh one-time enrolment link for `user`.
    pub fn enrolment_link(&self, user: &str) -> EnrolmentLink {
        let code = new_enrolment_code().expect("code");
        let now = now_ms();
        self.server
            .storage
            .create_enrolment(
                TENANT,
                user,
                code_hash(&code).expect("hash"),
                now,
                now + 3_600_000,
            )
            .expect("enrolment");
        EnrolmentLink {
            host: "127.0.0.1".into(),
            port: self.addr().port(),
            server_name: "localhost".into(),
            trust: ServerTrust::PinnedKey(self.server.identity.pin),
            code,
        }
    }

    /// Stop the server, keeping its data folder.
    pub async fn stop(self) -> tempfile::TempDir {
        self.server.shutdown().await;
        self.dir
    }
}

/// A device: its own store file and QUIC endpoint.
pub struct Device {
    /// The device id.
    pub id: String,
    /// Its store.
    pub store: Store,
    /// Its endpoint.
    pub endpoint: quinn::Endpoint,
    /// Its data folder.
    pub dir: tempfile::TempDir,
    /// Send through this address instead of the server's (a proxy).
    pub via: Option<SocketAddr>,
    /// Session and transport settings.
    pub cfg: ClientConfig,
}

impl Device {
    /// Open a store for `id` acting as `user` (not enrolled yet).
    pub fn new(id: &str, user: &str) -> Device {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(
            dir.path().join("device.db"),
            &DEVICE_KEY,
            StoreOptions::new(id, user),
        )
        .expect("store");
        let endpoint = quic::client_endpoint().expect("endpoint");
        Device {
            id: id.to_string(),
            store,
            endpoint,
            dir,
            via: None,
            cfg: ClientConfig::default(),
        }
    }

    /// A new device enrolled for `user` on `server`.
    pub async fn enrolled(server: &TestServer, id: &str, user: &str) -> Device {
        let d = Device::new(id, user);
        d.enrol(&server.enrolment_link(user)).await.expect("enrols");
        d
    }

    /// Enrol with a link.
    pub async fn enrol(&self, link: &EnrolmentLink) -> Result<()> {
        quic::enrol(
            &self.endpoint,
            &self.store,
            link,
            &self.id,
            &format!("{} (test)", self.id),
            None,
        )
        .await?;
        Ok(())
    }

    /// One exchange with the server.
    pub async fn sync(&self) -> Result<(SyncReport, WireStats)> {
        tokio::time::timeout(
            Duration::from_secs(60),
            quic::sync_once(
                &self.endpoint,
                &self.store,
                self.cfg.clone(),
                None,
                self.via,
            ),
        )
        .await
        .unwrap_or_else(|_| Err(fieldsync_core::Error::Network("sync timed out".into())))
    }

    /// Reopen the store from its file (an app restart).
    pub fn reopen(&mut self) {
        self.store.close();
        let (id, user) = (self.id.clone(), self.store.user_id().to_string());
        self.store = Store::open(
            self.dir.path().join("device.db"),
            &DEVICE_KEY,
            StoreOptions::new(id, user),
        )
        .expect("reopen");
    }
}

/// A scope by name.
pub fn scope(s: &str) -> Scope {
    Scope::new(s).expect("scope")
}
