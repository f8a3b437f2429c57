//! The device's sync agent: what an app holds. Blocking calls (apps call them off the
//! main thread) over its own small tokio runtime: enrol, sync now, and background sync
//! that stays connected, listens for "your scopes changed", syncs after local writes,
//! and retries with backoff when the network goes away.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

mod blobs;

use super::client::{ClientConfig, SyncReport};
use super::quic::{self, WireStats};
use super::wire::{ClientMsg, ServerMsg};
use crate::error::{Error, Result};
use crate::ids::{DocId, Timestamp, now_ms};
use crate::store::{ChangeListener, ChangeOrigin, Store, SyncIdentity};
use crate::sync::auth::EnrolmentLink;

/// What the agent is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    /// Background sync is running.
    pub background: bool,
    /// Connected to the server right now (background mode).
    pub connected: bool,
    /// Last successful exchange (ms).
    pub last_sync_at: Option<Timestamp>,
    /// Last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Changes not yet acknowledged by the server.
    pub pending_changes: u64,
    /// Exchanges completed by this agent.
    pub exchanges: u64,
}

/// Told how a sync went.
pub trait SyncObserver: Send + Sync {
    /// An exchange finished (successfully or not).
    fn on_sync(&self, result: std::result::Result<&SyncReport, &Error>);
}

struct Shared {
    store: Store,
    cfg: Mutex<ClientConfig>,
    endpoint: quinn::Endpoint,
    address_override: Mutex<Option<SocketAddr>>,
    wake: Notify,
    stop: AtomicBool,
    background: AtomicBool,
    connected: AtomicBool,
    exchanges: AtomicU64,
    last_sync_at: Mutex<Option<Timestamp>>,
    last_error: Mutex<Option<String>>,
    observer: Mutex<Option<Arc<dyn SyncObserver>>>,
    /// Blob transfers: progress observer, scopes downloaded eagerly, and whether a
    /// background transfer task runs on the current connection.
    blob_observer: Mutex<Option<Arc<dyn super::blobs::BlobObserver>>>,
    eager_scopes: Mutex<Vec<crate::ids::Scope>>,
    blob_task: AtomicBool,
}

/// The sync agent of one device store.
pub struct SyncAgent {
    shared: Arc<Shared>,
    rt: tokio::runtime::Runtime,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    listener: Mutex<Option<u64>>,
}

impl std::fmt::Debug for SyncAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncAgent").finish_non_exhaustive()
    }
}

struct WakeOnLocal(Arc<Shared>);
impl ChangeListener for WakeOnLocal {
    fn on_change(&self, _ids: &[DocId], origin: ChangeOrigin) {
        if origin == ChangeOrigin::Local {
            self.0.wake.notify_one();
        }
    }
}

impl SyncAgent {
    /// An agent for `store`.
    pub fn new(store: Store, cfg: ClientConfig) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fieldsync-sync")
            .enable_all()
            .build()?;
        let endpoint = rt.block_on(async { quic::client_endpoint() })?;
        Ok(SyncAgent {
            shared: Arc::new(Shared {
                store,
                cfg: Mutex::new(cfg),
                endpoint,
                address_override: Mutex::new(None),
                wake: Notify::new(),
                stop: AtomicBool::new(false),
                background: AtomicBool::new(false),
                connected: AtomicBool::new(false),
                exchanges: AtomicU64::new(0),
                last_sync_at: Mutex::new(None),
                last_error: Mutex::new(None),
                observer: Mutex::new(None),
                blob_observer: Mutex::new(None),
                eager_scopes: Mutex::new(Vec::new()),
                blob_task: AtomicBool::new(false),
            }),
            rt,
            task: Mutex::new(None),
            listener: Mutex::new(None),
        })
    }

    /// Connect to this address instead of the enrolled host (tests, proxies).
    pub fn set_address_override(&self, addr: Option<SocketAddr>) {
        *lock(&self.shared.address_override) = addr;
    }

    /// Be told about every exchange.
    pub fn set_observer(&self, o: Option<Arc<dyn SyncObserver>>) {
        *lock(&self.shared.observer) = o;
    }

    /// Enrol with an enrolment link (text of the QR code).
    pub fn enrol(&self, link: &str, device_name: &str) -> Result<SyncIdentity> {
        let link = EnrolmentLink::parse(link)?;
        let s = &self.shared;
        let device_id = s.store.device_id().to_string();
        self.rt.block_on(quic::enrol(
            &s.endpoint,
            &s.store,
            &link,
            &device_id,
            device_name,
            None,
        ))
    }

    /// Run one exchange now.
    pub fn sync_now(&self) -> Result<(SyncReport, WireStats)> {
        let s = self.shared.clone();
        self.rt.block_on(async move { exchange_once(&s).await })
    }

    /// Start background sync: stay connected, sync on notifications, after local writes
    /// (debounced), and every `interval`; reconnect with backoff.
    pub fn start_background(&self, interval: Duration) {
        if self.shared.background.swap(true, Ordering::AcqRel) {
            return;
        }
        self.shared.stop.store(false, Ordering::Release);
        let id = self
            .shared
            .store
            .add_listener(Arc::new(WakeOnLocal(self.shared.clone())));
        *lock(&self.listener) = Some(id);
        let s = self.shared.clone();
        let task = self.rt.spawn(async move { background(s, interval).await });
        *lock(&self.task) = Some(task);
    }

    /// Stop background sync (waits for a running exchange to end, at most a few seconds).
    pub fn stop_background(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        if let Some(id) = lock(&self.listener).take() {
            self.shared.store.remove_listener(id);
        }
        if let Some(t) = lock(&self.task).take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), t).await });
        }
        self.shared.background.store(false, Ordering::Release);
        self.shared.connected.store(false, Ordering::Release);
    }

    /// Current status.
    pub fn status(&self) -> Result<SyncStatus> {
        let s = &self.shared;
        Ok(SyncStatus {
            background: s.background.load(Ordering::Acquire),
            connected: s.connected.load(Ordering::Acquire),
            last_sync_at: *lock(&s.last_sync_at),
            last_error: lock(&s.last_error).clone(),
            pending_changes: s.store.unacked_count()?,
            exchanges: s.exchanges.load(Ordering::Acquire),
        })
    }
}

impl Drop for SyncAgent {
    fn drop(&mut self) {
        self.stop_background();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn exchange_once(s: &Shared) -> Result<(SyncReport, WireStats)> {
    let cfg = lock(&s.cfg).clone();
    let addr = *lock(&s.address_override);
    let r = quic::sync_once(&s.endpoint, &s.store, cfg, None, addr).await;
    record(s, &r);
    r
}

fn record(s: &Shared, r: &Result<(SyncReport, WireStats)>) {
    match r {
        Ok((rep, _)) => {
            *lock(&s.last_sync_at) = Some(now_ms());
            *lock(&s.last_error) = None;
            s.exchanges.fetch_add(1, Ordering::AcqRel);
            if let Some(o) = lock(&s.observer).clone() {
                o.on_sync(Ok(rep));
            }
        }
        Err(e) => {
            *lock(&s.last_error) = Some(e.to_string());
            if let Some(o) = lock(&s.observer).clone() {
                o.on_sync(Err(e));
            }
        }
    }
}

/// Background loop: one connection kept open with a live stream; each wake-up runs an
/// exchange on a new stream of the same connection.
async fn background(s: Arc<Shared>, interval: Duration) {
    let mut backoff = Duration::from_millis(500);
    while !s.stop.load(Ordering::Acquire) {
        let cfg = lock(&s.cfg).clone();
        let addr = *lock(&s.address_override);
        let conn = match connect(&s, &cfg, addr).await {
            Ok(c) => c,
            Err(e) => {
                *lock(&s.last_error) = Some(e.to_string());
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = s.wake.notified() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
                continue;
            }
        };
        s.connected.store(true, Ordering::Release);
        let live = Arc::new(Notify::new());
        let mut live_task = None;
        loop {
            let r = quic::run_exchange(&conn, &s.store, cfg.clone()).await;
            let failed = r.is_err();
            record(&s, &r);
            if let Err(Error::Throttled { retry_after_ms, .. }) = &r {
                // Over a quota: the connection is fine; wait as told (local writes do
                // not cut the wait short), then try again on it.
                if !wait_out(&s, &conn, Duration::from_millis(*retry_after_ms)).await {
                    break;
                }
                continue;
            }
            if failed || s.stop.load(Ordering::Acquire) {
                break;
            }
            // The first exchange authenticated the connection: now listen.
            if live_task.is_none() {
                live_task = Some(tokio::spawn(listen_live(conn.clone(), live.clone())));
            }
            // Blobs move on their own stream beside the exchanges, never before them.
            blobs::spawn_transfers(&s, &conn);
            backoff = Duration::from_millis(500);
            tokio::select! {
                () = live.notified() => {}
                () = s.wake.notified() => {
                    // Debounce a burst of local writes.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                () = tokio::time::sleep(interval) => {}
                _ = conn.closed() => break,
            }
            if s.stop.load(Ordering::Acquire) {
                break;
            }
        }
        if let Some(t) = live_task {
            t.abort();
        }
        conn.close(0u32.into(), b"bye");
        s.connected.store(false, Ordering::Release);
    }
}

/// Sleep `wait` unless the agent stops or the connection closes (then `false`).
async fn wait_out(s: &Shared, conn: &quinn::Connection, wait: Duration) -> bool {
    let until = tokio::time::Instant::now() + wait;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => return !s.stop.load(Ordering::Acquire),
            () = s.wake.notified() => {
                if s.stop.load(Ordering::Acquire) {
                    return false;
                }
            }
            _ = conn.closed() => return false,
        }
    }
}

async fn connect(
    s: &Shared,
    cfg: &ClientConfig,
    addr: Option<SocketAddr>,
) -> Result<quinn::Connection> {
    let ident = s
        .store
        .sync_identity()?
        .ok_or_else(|| Error::Malformed("device is not enrolled".into()))?;
    match addr {
        Some(a) => {
            quic::connect_to(
                &s.endpoint,
                &ident.server,
                a,
                None,
                Duration::from_secs(20),
                cfg,
            )
            .await
        }
        None => {
            quic::connect(
                &s.endpoint,
                &ident.server,
                None,
                Duration::from_secs(20),
                cfg,
            )
            .await
        }
    }
}

/// Open the live stream on an authenticated connection, subscribe, and wake the loop on
/// each `ScopesChanged`.
async fn listen_live(conn: quinn::Connection, wake: Arc<Notify>) -> Result<()> {
    let version = quic::negotiated_version(&conn)?;
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| Error::Network(e.to_string()))?;
    quic::write_msgs(&mut send, version, &[ClientMsg::Subscribe]).await?;
    while let Some((m, _)) = quic::read_msg::<ServerMsg>(&mut recv, version).await? {
        if matches!(m, ServerMsg::ScopesChanged(_)) {
            wake.notify_one();
        }
    }
    Ok(())
}
