//! The back-office console: server-rendered pages (askama templates in
//! `sync-server/templates/`), a JSON API and exports, on their own HTTP port beside the
//! QUIC endpoint.
//!
//! It reads the merged view (every device's data, merged: a core `Store`) through
//! core's queries and `fieldsync_core::analytics`, always limited to the signed-in
//! user's readable scopes; it writes by pushing changes into the log like a device
//! (`writer`), so review decisions reach the collectors' devices.
//!
//! - `auth`: sign-in, sessions, roles, CSRF;
//! - `password`: PBKDF2 password hashes;
//! - `pages`: overview, responses and review, accounts and visits, cases, warnings;
//! - `ops`: devices and enrolment codes (QR), forms (XLSForm upload and publishing),
//!   users, grants and console accounts;
//! - `export`: CSV, XLSX and the JSON API;
//! - `view`: formatting and the SVG charts;
//! - `i18n`: the request's language (setting, then `Accept-Language`) and the switcher;
//! - `writer`: console changes into the log.

pub mod auth;
mod export;
mod i18n;
mod ops;
mod pages;
pub mod password;
mod view;
pub mod writer;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use fieldsync_core::store::Store;

use crate::storage::Backend;

pub use export::{ExportFormat, ExportOptions, export_from_log, export_responses};

/// How the console runs.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// TCP address to listen on.
    pub listen: SocketAddr,
    /// The tenant it serves.
    pub tenant: String,
    /// Mark cookies `Secure` (when served over TLS or behind a TLS proxy).
    pub secure_cookies: bool,
    /// Sessions end after this long without use, in milliseconds.
    pub session_ms: i64,
}

impl ConsoleConfig {
    /// Defaults: tenant `default`, 8-hour sessions, cookies not `Secure` (plain HTTP).
    pub fn new(listen: SocketAddr) -> Self {
        ConsoleConfig {
            listen,
            tenant: "default".into(),
            secure_cookies: false,
            session_ms: 8 * 3_600_000,
        }
    }
}

/// Called after the console committed changes: wake the merged view and tell the
/// devices of those scopes (live sync).
pub type CommitHook = Arc<dyn Fn(&str, Vec<String>) + Send + Sync>;

pub(crate) struct Inner {
    pub(crate) storage: Arc<dyn Backend>,
    pub(crate) merged: Store,
    pub(crate) config: ConsoleConfig,
    pub(crate) on_commit: CommitHook,
    /// A hash no password matches, checked when the name is unknown (equal timing).
    pub(crate) dummy_hash: String,
    /// The server's enrolment-link details (host, port, key pin) for QR codes.
    pub(crate) link: Option<EnrolLink>,
}

/// What an enrolment link needs besides the code.
#[derive(Debug, Clone)]
pub struct EnrolLink {
    /// Host devices connect to.
    pub host: String,
    /// UDP port.
    pub port: u16,
    /// SHA-256 of the server's public key.
    pub pin: [u8; 32],
}

/// Shared by every request.
#[derive(Clone)]
pub struct ConsoleState {
    pub(crate) inner: Arc<Inner>,
}

impl ConsoleState {
    /// State over the server's storage and merged view.
    pub fn new(
        storage: Arc<dyn Backend>,
        merged: Store,
        config: ConsoleConfig,
        on_commit: CommitHook,
        link: Option<EnrolLink>,
    ) -> Result<Self, password::PasswordError> {
        Ok(ConsoleState {
            inner: Arc::new(Inner {
                storage,
                merged,
                config,
                on_commit,
                dummy_hash: password::hash(&password::random_token(16)?)?,
                link,
            }),
        })
    }
}

impl Inner {
    /// After a console write: tell the merged view and the devices, then wait (at most
    /// `SETTLE_MS`) until the merged view has applied the tenant's log, so the page the
    /// browser is redirected to already shows the change. Blocking: call it from
    /// `spawn_blocking`. A merged view that falls behind only delays the page; the
    /// change itself is committed.
    pub(crate) fn committed(&self, tenant: &str, scopes: Vec<String>) {
        (self.on_commit)(tenant, scopes);
        let Ok(target) = self.storage.watermark(tenant) else {
            return;
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(SETTLE_MS);
        while crate::materialize::position(&self.merged, tenant).is_ok_and(|p| p < target)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// How long a console write waits for the merged view before redirecting.
const SETTLE_MS: u64 = 3_000;

const STYLE: &str = include_str!("../templates/style.css");

async fn style() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=3600"),
            ),
        ],
        STYLE,
    )
}

/// Every route of the console.
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/", get(pages::overview))
        .route("/responses", get(pages::responses))
        .route("/responses/{id}", get(pages::response))
        .route("/responses/{id}/review", post(pages::review))
        .route("/accounts", get(pages::accounts))
        .route("/accounts/{id}", get(pages::account))
        .route("/commitments", get(pages::commitments))
        .route("/cases", get(pages::cases))
        .route("/warnings", get(pages::warnings))
        .route("/ops/devices", get(ops::devices))
        .route("/ops/devices/{id}/revoke", post(ops::revoke))
        .route("/ops/enrol", post(ops::enrol))
        .route("/ops/forms", get(ops::forms).post(ops::upload_form))
        .route("/ops/forms/publish", post(ops::publish_form))
        .route("/ops/users", get(ops::users).post(ops::add_user))
        .route("/ops/grants", post(ops::grant))
        .route("/ops/console-users", post(ops::add_console_user))
        .route("/export/responses.csv", get(export::csv))
        .route("/export/responses.xlsx", get(export::xlsx))
        .route("/api/v1/responses", get(export::api_responses))
        .route("/api/v1/overview", get(export::api_overview))
        .route("/static/style.css", get(style))
        .route("/lang", get(i18n::switch))
        .layer(axum::middleware::from_fn(i18n::language))
        .layer(axum::middleware::from_fn(view::security_headers))
        .with_state(state)
}

/// A running console.
pub struct RunningConsole {
    /// Where it listens.
    pub local_addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl std::fmt::Debug for RunningConsole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningConsole")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Bind and serve the console until [`RunningConsole::shutdown`].
pub async fn start(state: ConsoleState) -> std::io::Result<RunningConsole> {
    let listener = tokio::net::TcpListener::bind(state.inner.config.listen).await?;
    let local_addr = listener.local_addr()?;
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(state);
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "console stopped");
        }
    });
    tracing::info!(%local_addr, "fieldsync console listening");
    Ok(RunningConsole {
        local_addr,
        task,
        stop,
    })
}

impl RunningConsole {
    /// Stop serving (requests in flight finish).
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}
