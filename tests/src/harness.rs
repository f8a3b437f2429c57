//! A real server in this process and enrolled devices with real store files.

use std::net::SocketAddr;
use std::time::Duration;

use fieldsync_core::store::{Store, StoreOptions};
use fieldsync_core::sync::auth::{EnrolmentLink, ServerTrust, code_hash, new_enrolment_code};
use fieldsync_core::sync::quic::{self, WireStats};
use fieldsync_core::sync::{ClientConfig, SyncReport};
use fieldsync_core::{Result, Scope, now_ms};
use fieldsync_server::server::{RunningServer, ServerConfig, start};
use fieldsync_server::storage::Storage;

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
