//! The QUIC server: `start(config)` binds, loads or creates the TLS identity, and serves
//! devices until `shutdown()`. Each connection runs a [`ServerSession`]; storage calls
//! run on blocking threads. Limits are explicit (streams, windows, idle timeout,
//! incoming connections) and a misbehaving peer is closed alone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldsync_core::store::{Store, StoreOptions};
use fieldsync_core::sync::quic::{
    crypto_provider, exporter, negotiated_version, read_msg, spki_pin, write_msgs,
};
use fieldsync_core::sync::wire::{ALPN_PROTOCOLS, ClientMsg, ScopesChanged, ServerMsg};
use quinn::crypto::rustls::QuicServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::sync::broadcast;

use crate::materialize::Materializer;
use crate::session::{ServerSession, SessionError, SessionLimits};
use crate::storage::{Backend, RemoteCommit, StorageConfig};

/// Server errors.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Files.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// TLS set-up.
    #[error("tls: {0}")]
    Tls(String),
    /// Storage.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// The engine.
    #[error(transparent)]
    Core(#[from] fieldsync_core::Error),
}

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Data folder: server.db, merged.db, TLS identity, keys.
    pub data_dir: PathBuf,
    /// Where the change log and identities live: `None` is SQLite's `server.db` in the
    /// data folder; PostgreSQL lets several nodes share one database.
    pub storage: Option<StorageConfig>,
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Names and addresses the self-signed certificate is valid for.
    pub tls_names: Vec<String>,
    /// Per-session limits.
    pub limits: SessionLimits,
    /// Connections served at once; beyond this, new ones are refused.
    pub max_connections: usize,
    /// Above this many open connections, new ones must prove their address (Retry).
    pub retry_above: usize,
    /// Keep a merged view (the back office's) up to date.
    pub materialize: bool,
    /// A connection with no packet for this long is closed.
    pub idle_timeout: Duration,
    /// Serve the back-office console over HTTP (needs `materialize`).
    pub console: Option<crate::console::ConsoleConfig>,
    /// Host name devices reach this server by (enrolment links made in the console).
    pub public_host: Option<String>,
    /// Per-device quotas and rate limits (`quota.rs`).
    pub quotas: crate::quota::QuotaConfig,
    /// Where blob bytes live: files under `<data>/blobs` (default) or an S3 bucket.
    pub blobs: crate::blobstore::BlobStoreConfig,
}

impl ServerConfig {
    /// Defaults for a data folder and a listen address.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        ServerConfig {
            data_dir: data_dir.into(),
            storage: None,
            listen,
            tls_names: vec![
                "localhost".into(),
                "fieldsync.local".into(),
                "127.0.0.1".into(),
            ],
            limits: SessionLimits::default(),
            max_connections: 10_000,
            retry_above: 1_000,
            materialize: true,
            idle_timeout: Duration::from_secs(30),
            console: None,
            public_host: None,
            quotas: crate::quota::QuotaConfig::default(),
            blobs: crate::blobstore::BlobStoreConfig::default(),
        }
    }
}

/// The server's TLS identity: certificate, key, and the pin devices use.
#[derive(Clone)]
pub struct TlsIdentity {
    /// Certificate (DER).
    pub cert: CertificateDer<'static>,
    key: Vec<u8>,
    /// SHA-256 of the certificate's public key.
    pub pin: [u8; 32],
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsIdentity(pin {})", hex::encode(self.pin))
    }
}

/// Load the identity from `dir`, or make a self-signed one on first start.
pub fn tls_identity(dir: &Path, names: &[String]) -> Result<TlsIdentity, ServerError> {
    let cert_path = dir.join("tls-cert.der");
    let key_path = dir.join("tls-key.der");
    if cert_path.exists() && key_path.exists() {
        let cert = CertificateDer::from(std::fs::read(&cert_path)?);
        let key = std::fs::read(&key_path)?;
        let pin = spki_pin(&cert)?;
        return Ok(TlsIdentity { cert, key, pin });
    }
    let ck = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let cert = ck.cert.der().clone();
    let key = ck.signing_key.serialize_der();
    write_private(&key_path, &key)?;
    std::fs::write(&cert_path, cert.as_ref())?;
    let pin = spki_pin(&cert)?;
    tracing::info!(pin = %hex::encode(pin), "created a self-signed TLS certificate");
    Ok(TlsIdentity { cert, key, pin })
}

/// Write a file readable by the owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// A 32-byte key kept in a file (created on first use).
pub fn file_key(path: &Path) -> Result<[u8; 32], ServerError> {
    if let Ok(b) = std::fs::read(path) {
        return <[u8; 32]>::try_from(b.as_slice())
            .map_err(|_| ServerError::Tls(format!("{} is not a 32-byte key", path.display())));
    }
    let mut k = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut k)
        .map_err(|_| ServerError::Tls("random".into()))?;
    write_private(path, &k)?;
    Ok(k)
}

fn server_transport(idle: Duration) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(4u32.into())
        .max_concurrent_uni_streams(0u32.into())
        .stream_receive_window((5u32 << 20).into())
        .receive_window((8u32 << 20).into())
        .send_window(8 << 20)
        .datagram_receive_buffer_size(None)
        .keep_alive_interval(Some(Duration::from_secs(10)))
        // No path-MTU probes: 1,452-byte datagrams after every handshake are ~45 ms
        // each on a 2G link (ADR 0019); 1,200-byte datagrams cost ~4% on bulk.
        .mtu_discovery_config(None);
    if let Ok(idle) = quinn::IdleTimeout::try_from(idle) {
        t.max_idle_timeout(Some(idle));
    }
    t
}

fn quinn_server_config(
    id: &TlsIdentity,
    idle: Duration,
) -> Result<quinn::ServerConfig, ServerError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            vec![id.cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key.clone())),
        )
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    // Both versions: an old device keeps syncing (docs/protocol.md, "Versions").
    tls.alpn_protocols = ALPN_PROTOCOLS.iter().map(|a| a.to_vec()).collect();
    // No 0-RTT: a replayed first flight would replay the device proof (see protocol.md).
    tls.max_early_data_size = 0;
    let quic = QuicServerConfig::try_from(tls).map_err(|e| ServerError::Tls(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(quic));
    cfg.transport_config(Arc::new(server_transport(idle)));
    cfg.max_incoming(4096)
        .incoming_buffer_size(64 << 10)
        .incoming_buffer_size_total(32 << 20);
    Ok(cfg)
}

/// A live notification: new changes in these scopes of this tenant.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Tenant.
    pub tenant: String,
    /// Scopes with new changes.
    pub scopes: Vec<String>,
    /// Position reached.
    pub position: u64,
    /// The device that pushed them (not notified).
    pub device: String,
}

struct Shared {
    storage: Arc<dyn Backend>,
    blobs: Arc<crate::blobs::BlobService>,
    limits: SessionLimits,
    notify: broadcast::Sender<Notification>,
    materializer: Mutex<Option<Materializer>>,
    max_connections: usize,
    retry_above: usize,
    quotas: Arc<crate::quota::Quotas>,
}

/// A running server.
pub struct RunningServer {
    /// Where it listens.
    pub local_addr: SocketAddr,
    /// Its TLS identity (the pin goes into enrolment links).
    pub identity: TlsIdentity,
    /// Its storage.
    pub storage: Arc<dyn Backend>,
    /// The merged view (when materializing).
    pub merged: Option<Store>,
    /// The back-office console, when configured.
    pub console: Option<crate::console::RunningConsole>,
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Start a server: storage, TLS identity, merged view, QUIC endpoint. Returns once it
/// listens. Must be called inside a tokio runtime.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let storage_config = config
        .storage
        .clone()
        .unwrap_or_else(|| StorageConfig::Sqlite(config.data_dir.join("server.db")));
    let storage = crate::storage::open(&storage_config)?;
    let identity = tls_identity(&config.data_dir, &config.tls_names)?;
    let merged = if config.materialize {
        let key = file_key(&config.data_dir.join("merged.key"))?;
        let mut opts = StoreOptions::new("server", "server");
        opts.durability = fieldsync_core::store::Durability::Normal;
        opts.background_compaction = true;
        opts.cache_capacity = 1024;
        Some(Store::open(config.data_dir.join("merged.db"), &key, opts)?)
    } else {
        None
    };
    let materializer = match &merged {
        Some(m) => Some(Materializer::start(storage.clone(), m.clone())?),
        None => None,
    };
    let (notify, _) = broadcast::channel(1024);
    let blob_bytes = {
        // Blocking (the S3 store checks its bucket over HTTP).
        let (c, d) = (config.blobs.clone(), config.data_dir.clone());
        tokio::task::spawn_blocking(move || crate::blobstore::open(&c, &d))
            .await
            .map_err(std::io::Error::other)??
    };
    let shared = Arc::new(Shared {
        blobs: Arc::new(crate::blobs::BlobService::new(
            storage.clone(),
            blob_bytes,
            merged.clone(),
        )),
        storage: storage.clone(),
        limits: config.limits.clone(),
        notify,
        materializer: Mutex::new(materializer),
        max_connections: config.max_connections,
        retry_above: config.retry_above,
        quotas: Arc::new(crate::quota::Quotas::new(config.quotas.clone())),
    });
    {
        // Commits made through other nodes on the same database (PostgreSQL NOTIFY).
        let weak = Arc::downgrade(&shared);
        storage.watch_commits(Arc::new(move |c: RemoteCommit| {
            if let Some(sh) = weak.upgrade() {
                remote_commit(&sh, c);
            }
        }))?;
    }
    let endpoint = quinn::Endpoint::server(
        quinn_server_config(&identity, config.idle_timeout)?,
        config.listen,
    )?;
    let local_addr = endpoint.local_addr()?;
    let ep = endpoint.clone();
    let sh = shared.clone();
    let accept = tokio::spawn(async move { accept_loop(ep, sh).await });
    tracing::info!(%local_addr, "fieldsync server listening");
    let console = match (&config.console, &merged) {
        (Some(cc), Some(m)) => {
            let sh = shared.clone();
            let hook: crate::console::CommitHook = Arc::new(move |tenant: &str, scopes| {
                committed(&sh, tenant, scopes, crate::console::writer::CONSOLE_DEVICE);
            });
            let link = config
                .public_host
                .clone()
                .map(|host| crate::console::EnrolLink {
                    host,
                    port: local_addr.port(),
                    pin: identity.pin,
                });
            let state = crate::console::ConsoleState::new(
                storage.clone(),
                m.clone(),
                cc.clone(),
                hook,
                link,
            )
            .map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?;
            Some(crate::console::start(state).await?)
        }
        _ => None,
    };
    Ok(RunningServer {
        local_addr,
        identity,
        storage,
        merged,
        console,
        endpoint,
        shared,
        accept,
    })
}

/// Run until `shutdown` completes.
pub async fn run(
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServerError> {
    let server = start(config).await?;
    shutdown.await;
    server.shutdown().await;
    Ok(())
}

impl RunningServer {
    /// Quota refusals so far (tests, benchmarks).
    pub fn quota_stats(&self) -> crate::quota::QuotaStats {
        self.shared.quotas.stats()
    }

    /// What blob streams did so far (tests, benchmarks, operators).
    pub fn blob_stats(&self) -> crate::blobs::BlobStats {
        self.shared.blobs.stats()
    }

    /// Subscribe to commit notifications (tests, the back office).
    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.shared.notify.subscribe()
    }

    /// Stop accepting, close connections, let the storage drain, stop the materializer.
    pub async fn shutdown(self) {
        if let Some(c) = self.console {
            c.shutdown().await;
        }
        self.endpoint.close(0u32.into(), b"server shutting down");
        self.accept.abort();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.endpoint.wait_idle()).await;
        let materializer = self
            .shared
            .materializer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut m) = materializer {
            tokio::task::spawn_blocking(move || m.stop()).await.ok();
        }
        let st = self.storage.clone();
        tokio::task::spawn_blocking(move || st.shutdown())
            .await
            .ok();
        if let Some(m) = self.merged {
            m.close();
        }
    }

    /// Wait until the merged view has applied every committed change (tests, demo).
    pub async fn wait_materialized(&self, timeout: Duration) -> bool {
        let Some(m) = self.merged.clone() else {
            return true;
        };
        let storage = self.storage.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (s, m2) = (storage.clone(), m.clone());
            let done = tokio::task::spawn_blocking(move || -> bool {
                s.tenants()
                    .unwrap_or_default()
                    .iter()
                    .all(|t| s.watermark(t).ok() == crate::materialize::position(&m2, t).ok())
            })
            .await
            .unwrap_or(false);
            if done {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            if let Some(mz) = self
                .shared
                .materializer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
            {
                mz.notify();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn accept_loop(endpoint: quinn::Endpoint, shared: Arc<Shared>) {
    while let Some(incoming) = endpoint.accept().await {
        let open = endpoint.open_connections();
        if open >= shared.max_connections {
            incoming.refuse();
            continue;
        }
        if open >= shared.retry_above && !incoming.remote_address_validated() {
            let _ = incoming.retry();
            continue;
        }
        let sh = shared.clone();
        tokio::spawn(async move {
            match incoming.await {
                Ok(conn) => handle_connection(conn, sh).await,
                Err(e) => tracing::debug!(error = %e, "handshake failed"),
            }
        });
    }
}

const CLOSE_PROTOCOL: u32 = 1;
const CLOSE_UNAUTHORIZED: u32 = 2;

async fn handle_connection(conn: quinn::Connection, shared: Arc<Shared>) {
    let Ok(exp) = exporter(&conn) else {
        conn.close(CLOSE_PROTOCOL.into(), b"no exporter");
        return;
    };
    let Ok(version) = negotiated_version(&conn) else {
        conn.close(CLOSE_PROTOCOL.into(), b"unknown protocol");
        return;
    };
    let session = Arc::new(Mutex::new(
        ServerSession::new(shared.storage.clone(), shared.limits.clone(), exp.to_vec())
            .with_protocol(version)
            .with_quotas(shared.quotas.clone()),
    ));
    loop {
        let (send, recv) = match conn.accept_bi().await {
            Ok(s) => s,
            Err(_) => return,
        };
        let (s, sh, c) = (session.clone(), shared.clone(), conn.clone());
        tokio::spawn(async move {
            if let Err(e) = handle_stream(send, recv, s, sh, &c, version).await {
                let code = match e {
                    SessionError::Unauthorized => CLOSE_UNAUTHORIZED,
                    _ => CLOSE_PROTOCOL,
                };
                tracing::info!(remote = %c.remote_address(), error = %e, "closing connection");
                c.close(code.into(), b"protocol error");
            }
        });
    }
}

async fn handle_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    session: Arc<Mutex<ServerSession<dyn Backend>>>,
    shared: Arc<Shared>,
    conn: &quinn::Connection,
    version: u16,
) -> Result<(), SessionError> {
    loop {
        let msg = match read_msg::<ClientMsg>(&mut recv, version).await {
            Ok(Some((m, _))) => m,
            Ok(None) => break,
            // A device ends its exchange when its Bye is written and may close the
            // connection at once (docs/protocol.md, "One exchange"): a normal end.
            Err(_) if closed_by_device(conn) => return Ok(()),
            Err(e) => return Err(SessionError::Protocol(e.to_string())),
        };
        if matches!(
            msg,
            ClientMsg::BlobOffer(_) | ClientMsg::BlobChunk(_) | ClientMsg::BlobGet(_)
        ) {
            // A blob stream (own module): only on a connection an exchange authenticated.
            let peer = session
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .peer()
                .cloned();
            let Some(peer) = peer else {
                return Err(SessionError::Protocol("blob stream before Hello".into()));
            };
            return crate::blobs::serve(shared.blobs.clone(), peer, msg, send, recv, version).await;
        }
        let is_push = matches!(msg, ClientMsg::Push(_));
        let is_subscribe = matches!(msg, ClientMsg::Subscribe);
        let is_bye = matches!(msg, ClientMsg::Bye);
        let s = session.clone();
        let replies = tokio::task::spawn_blocking(move || {
            let mut g = s.lock().unwrap_or_else(|p| p.into_inner());
            let r = g.handle(msg);
            (
                r,
                g.peer().cloned(),
                g.subscribed(),
                g.finished(),
                g.take_committed_scopes(),
            )
        })
        .await
        .map_err(|_| SessionError::Protocol("session task failed".into()))?;
        let (replies, peer, subscribed, finished, committed) = replies;
        let replies = replies?;
        if is_push
            && !committed.is_empty()
            && let Some(p) = &peer
        {
            notify_commit(&shared, p, committed);
        }
        if replies.iter().any(|m| matches!(m, ServerMsg::Error(e) if e.code == fieldsync_core::sync::wire::ErrorCode::Unauthorized)) {
            let _ = write_msgs(&mut send, version, &replies).await;
            let _ = send.finish();
            // Let the refusal reach the device before the connection goes.
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
            return Err(SessionError::Unauthorized);
        }
        if !replies.is_empty() {
            let written = write_msgs(&mut send, version, &replies).await;
            // The Done after a Bye is a courtesy: the device does not wait for it and
            // may have stopped reading or closed the connection.
            if is_bye {
                break;
            }
            written.map_err(|e| SessionError::Protocol(e.to_string()))?;
        }
        // Over a quota: this exchange ends here; what the device sent after the
        // throttled message is read and dropped unseen (it stays on the device), so the
        // device is not interrupted while it still writes its first flight.
        if replies.iter().any(|m| matches!(m, ServerMsg::Throttled(_))) {
            let _ = send.finish();
            let drain = async { while let Ok(Some(_)) = recv.read_chunk(64 << 10, true).await {} };
            let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
            return Ok(());
        }
        // Live mode is per stream: the stream that said Subscribe.
        if is_subscribe
            && subscribed
            && let Some(p) = peer
        {
            return live(send, recv, p, shared, version).await;
        }
        if finished || is_bye {
            break;
        }
    }
    let _ = send.finish();
    Ok(())
}

/// The device closed the connection itself (application close, code 0).
fn closed_by_device(conn: &quinn::Connection) -> bool {
    matches!(
        conn.close_reason(),
        Some(quinn::ConnectionError::ApplicationClosed(c)) if c.error_code == 0u32.into()
    )
}

/// Tell live devices of `n.scopes` (each keeps those it may read) and wake the merged
/// view: after a device's push, a console write, or another node's commit.
fn announce(shared: &Shared, n: Notification) {
    let _ = shared.notify.send(n);
    if let Some(m) = shared
        .materializer
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        m.notify();
    }
}

/// Changes were committed outside a device session (the console).
fn committed(shared: &Shared, tenant: &str, scopes: Vec<String>, device: &str) {
    let position = shared.storage.watermark(tenant).unwrap_or(0);
    announce(
        shared,
        Notification {
            tenant: tenant.to_string(),
            scopes,
            position,
            device: device.to_string(),
        },
    );
}

/// A commit another node made (its scopes unknown: every scope of the tenant).
fn remote_commit(shared: &Shared, c: RemoteCommit) {
    let scopes = match c.scopes {
        Some(s) => s,
        None => shared.storage.list_scopes(&c.tenant).unwrap_or_default(),
    };
    announce(
        shared,
        Notification {
            tenant: c.tenant,
            scopes,
            position: c.position,
            device: c.device,
        },
    );
}

/// A device's push committed changes in `scopes`.
fn notify_commit(shared: &Shared, peer: &crate::session::Peer, scopes: Vec<String>) {
    committed(shared, &peer.tenant, scopes, &peer.device_id);
}

/// Live mode: forward notifications for the device's readable scopes until it leaves.
async fn live(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    peer: crate::session::Peer,
    shared: Arc<Shared>,
    version: u16,
) -> Result<(), SessionError> {
    let mut rx = shared.notify.subscribe();
    let readable: std::collections::HashSet<String> = peer.readable.iter().cloned().collect();
    // Acknowledge the subscription once listening: the device syncs once more on it, so
    // a commit that landed between its last exchange and this point is not missed.
    let storage = shared.storage.clone();
    let tenant = peer.tenant.clone();
    let position = tokio::task::spawn_blocking(move || storage.watermark(&tenant))
        .await
        .map_err(|_| SessionError::Protocol("watermark task failed".into()))??;
    let ack = ServerMsg::ScopesChanged(ScopesChanged {
        scopes: peer.readable.clone(),
        position,
    });
    write_msgs(&mut send, version, &[ack])
        .await
        .map_err(|e| SessionError::Protocol(e.to_string()))?;
    let mut closed = Box::pin(async move {
        let mut buf = [0u8; 64];
        while let Ok(Some(_)) = recv.read(&mut buf).await {}
    });
    loop {
        tokio::select! {
            _ = &mut closed => break,
            n = rx.recv() => match n {
                Ok(n) if n.tenant == peer.tenant && n.device != peer.device_id => {
                    let scopes: Vec<String> = n.scopes.into_iter().filter(|s| readable.contains(s)).collect();
                    if scopes.is_empty() { continue; }
                    let msg = ServerMsg::ScopesChanged(ScopesChanged { scopes, position: n.position });
                    if write_msgs(&mut send, version, &[msg]).await.is_err() { break; }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let msg = ServerMsg::ScopesChanged(ScopesChanged { scopes: peer.readable.clone(), position: 0 });
                    if write_msgs(&mut send, version, &[msg]).await.is_err() { break; }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }
    let _ = send.finish();
    Ok(())
}
