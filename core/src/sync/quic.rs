//! The QUIC transport: TLS 1.3 configuration (ring only), server identity by a pinned
//! key or CA roots, transport limits, framing over streams, and the device's driver of
//! an exchange. A thin layer: every decision is in the sans-I/O session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::auth::{EXPORTER_LABEL, EXPORTER_LEN};
use super::client::{ClientConfig, ClientSession, Congestion, SyncReport};
use super::wire::{self, ClientMsg, Enrol, PROTOCOL_VERSION, ServerMsg, WireError, WireMsg};
use crate::error::{Error, Result};
use crate::store::{ServerEndpoint, Store, SyncIdentity};
use crate::sync::auth::EnrolmentLink;

/// The ring crypto provider, used everywhere (rustls would otherwise pick aws-lc-rs).
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo: the value a pin holds.
pub fn spki_pin(cert: &CertificateDer<'_>) -> Result<[u8; 32]> {
    let ee = webpki::EndEntityCert::try_from(cert)
        .map_err(|_| Error::Malformed("certificate".into()))?;
    let spki = ee.subject_public_key_info();
    let d = ring::digest::digest(&ring::digest::SHA256, spki.as_ref());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Ok(out)
}

/// Accepts exactly the server whose certificate carries the pinned key (self-hosted
/// servers with a self-signed certificate). Handshake signatures are still verified.
#[derive(Debug)]
struct PinnedKey {
    pin: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match spki_pin(end_entity) {
            // The pin is public (not a secret): a plain comparison is fine.
            Ok(p) if p == self.pin => Ok(ServerCertVerified::assertion()),
            _ => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        // TLS 1.2 is never negotiated (TLS 1.3 only).
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A device connection's first congestion window: a push of 100 survey responses
/// (~14 KB on the wire) and the exchange around it leave in one flight, and it stays
/// below the 1-second queue of a 256 kbit/s link (32 KB). quinn's default is 14,720 B.
pub const DEVICE_INITIAL_WINDOW: u64 = 30_000;

/// Transport limits for a device connection (BBR, ADR 0019).
pub fn client_transport(idle: Duration, keep_alive: Duration) -> quinn::TransportConfig {
    client_transport_with(idle, keep_alive, Congestion::Bbr)
}

/// The transport of [`ClientConfig`]: its timeouts and congestion control.
pub fn transport_for(cfg: &ClientConfig) -> quinn::TransportConfig {
    client_transport_with(cfg.idle_timeout, cfg.keep_alive, cfg.congestion)
}

fn client_transport_with(
    idle: Duration,
    keep_alive: Duration,
    congestion: Congestion,
) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(8u32.into())
        .max_concurrent_uni_streams(0u32.into())
        .stream_receive_window((4u32 << 20).into())
        .receive_window((8u32 << 20).into())
        .send_window(8 << 20)
        .keep_alive_interval(Some(keep_alive))
        .datagram_receive_buffer_size(None)
        // Path-MTU probes are datagrams of up to 1,452 bytes after every handshake:
        // ~45 ms each on a 256 kbit/s link, for a 4% saving on bulk transfers.
        .mtu_discovery_config(None);
    match congestion {
        Congestion::Bbr => {
            let mut c = quinn::congestion::BbrConfig::default();
            c.initial_window(DEVICE_INITIAL_WINDOW);
            t.congestion_controller_factory(Arc::new(c));
        }
        Congestion::Cubic => {
            let mut c = quinn::congestion::CubicConfig::default();
            c.initial_window(DEVICE_INITIAL_WINDOW);
            t.congestion_controller_factory(Arc::new(c));
        }
    }
    if let Ok(idle) = quinn::IdleTimeout::try_from(idle) {
        t.max_idle_timeout(Some(idle));
    }
    t
}

/// A QUIC client configuration trusting `server` (pinned key, or CA `roots`), offering
/// every protocol version this build speaks (newest first).
pub fn client_config(
    server: &ServerEndpoint,
    roots: Option<rustls::RootCertStore>,
    transport: quinn::TransportConfig,
) -> Result<quinn::ClientConfig> {
    client_config_for(
        server,
        roots,
        transport,
        &[PROTOCOL_VERSION, wire::PROTOCOL_V1],
    )
}

/// [`client_config`] offering only `versions` by ALPN, in order of preference.
pub fn client_config_for(
    server: &ServerEndpoint,
    roots: Option<rustls::RootCertStore>,
    transport: quinn::TransportConfig,
    versions: &[u16],
) -> Result<quinn::ClientConfig> {
    let provider = crypto_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Malformed(format!("tls: {e}")))?;
    let mut tls = match server.pin {
        Some(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedKey { pin, provider }))
            .with_no_client_auth(),
        None => builder
            .with_root_certificates(
                roots
                    .ok_or_else(|| Error::Malformed("no CA roots for a CA-issued server".into()))?,
            )
            .with_no_client_auth(),
    };
    tls.alpn_protocols = versions
        .iter()
        .filter_map(|v| wire::alpn_for_version(*v))
        .map(<[u8]>::to_vec)
        .collect();
    if tls.alpn_protocols.is_empty() {
        return Err(Error::Malformed("no protocol version to offer".into()));
    }
    let quic =
        QuicClientConfig::try_from(tls).map_err(|e| Error::Malformed(format!("quic tls: {e}")))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(quic));
    cfg.transport_config(Arc::new(transport));
    Ok(cfg)
}

/// The TLS exporter value of a connection, for the device proof.
pub fn exporter(conn: &quinn::Connection) -> Result<[u8; EXPORTER_LEN]> {
    let mut out = [0u8; EXPORTER_LEN];
    conn.export_keying_material(&mut out, EXPORTER_LABEL, b"")
        .map_err(|_| Error::Network("tls exporter unavailable".into()))?;
    Ok(out)
}

/// The protocol version a connection negotiated by ALPN.
pub fn negotiated_version(conn: &quinn::Connection) -> Result<u16> {
    let alpn = conn
        .handshake_data()
        .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|h| h.protocol);
    wire::version_for_alpn(alpn.as_deref())
        .ok_or_else(|| Error::Malformed("unknown ALPN protocol".into()))
}

/// Write messages as frames of protocol `version`. Large payloads are compressed on a
/// blocking thread (zstd at a thorough level takes milliseconds): the runtime's workers
/// keep driving QUIC meanwhile.
pub async fn write_msgs<T: WireMsg + Clone + Send + 'static>(
    send: &mut quinn::SendStream,
    version: u16,
    msgs: &[T],
) -> Result<usize> {
    let encode = move |msgs: &[T]| -> Vec<u8> {
        msgs.iter()
            .flat_map(|m| wire::encode_for(version, m))
            .collect()
    };
    let buf = if msgs.iter().any(WireMsg::carries_changes) {
        let owned = msgs.to_vec();
        tokio::task::spawn_blocking(move || encode(&owned))
            .await
            .map_err(|e| Error::Network(format!("encode task failed: {e}")))?
    } else {
        encode(msgs)
    };
    send.write_all(&buf)
        .await
        .map_err(|e| Error::Network(e.to_string()))?;
    Ok(buf.len())
}

/// Read one frame of protocol `version`; `Ok(None)` at a clean end of stream.
pub async fn read_msg<T: WireMsg>(
    recv: &mut quinn::RecvStream,
    version: u16,
) -> Result<Option<(T, usize)>> {
    let mut header = [0u8; 4];
    match recv.read_exact(&mut header).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(Error::Network(e.to_string())),
    }
    let n = wire::frame_len(header).map_err(wire_err)?;
    let mut body = vec![0u8; n];
    recv.read_exact(&mut body)
        .await
        .map_err(|e| Error::Network(e.to_string()))?;
    Ok(Some((
        wire::decode_body_for(version, &body).map_err(wire_err)?,
        n + 4,
    )))
}

fn wire_err(e: WireError) -> Error {
    Error::Malformed(format!("wire: {e}"))
}

/// Bytes and messages an exchange moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Bytes written by the device (frames).
    pub bytes_sent: u64,
    /// Bytes read by the device (frames).
    pub bytes_received: u64,
    /// Messages written.
    pub messages_sent: u64,
    /// Messages read.
    pub messages_received: u64,
    /// Times the device waited for the server with nothing left to send: round trips.
    pub round_trips: u64,
}

/// Run one exchange on an open connection: push everything unacknowledged, pull
/// everything new, repair if the server asks.
pub async fn run_exchange(
    conn: &quinn::Connection,
    store: &Store,
    cfg: ClientConfig,
) -> Result<(SyncReport, WireStats)> {
    let exp = exporter(conn)?;
    let version = negotiated_version(conn)?;
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| Error::Network(e.to_string()))?;
    // The session reads and writes the store (SQLite, fsync): it runs on a blocking
    // thread so the runtime's workers keep driving QUIC for every other connection.
    let mut session = ClientSession::new(store.clone(), cfg).with_protocol(version);
    let mut stats = WireStats::default();
    let (s, first) = blocking(session, move |s| s.start(&exp)).await?;
    session = s;
    stats.messages_sent += first.len() as u64;
    stats.bytes_sent += write_msgs(&mut send, version, &first).await? as u64;
    // Every flight that needs an answer costs a round trip; the first one carries
    // Hello, the pushes and the pull. The trailing Bye needs no answer: the exchange
    // ends when it is written (the server's Done carries nothing; waiting for it cost a
    // whole round trip per sync).
    stats.round_trips = 1;
    while !session.is_finished() {
        let Some((msg, n)) = read_msg::<ServerMsg>(&mut recv, version).await? else {
            return Err(Error::Network("server closed the exchange early".into()));
        };
        stats.messages_received += 1;
        stats.bytes_received += n as u64;
        let (s, replies) = blocking(session, move |s| s.handle(msg)).await?;
        session = s;
        if !replies.is_empty() {
            stats.messages_sent += replies.len() as u64;
            stats.bytes_sent += write_msgs(&mut send, version, &replies).await? as u64;
            if replies.iter().any(|m| !matches!(m, ClientMsg::Bye)) {
                stats.round_trips += 1;
            }
        }
    }
    let _ = send.finish();
    Ok((session.report().clone(), stats))
}

/// Run `f` on the session on a blocking thread and hand the session back.
async fn blocking<T: Send + 'static>(
    mut session: ClientSession,
    f: impl FnOnce(&mut ClientSession) -> Result<T> + Send + 'static,
) -> Result<(ClientSession, T)> {
    tokio::task::spawn_blocking(move || {
        let r = f(&mut session);
        r.map(|t| (session, t))
    })
    .await
    .map_err(|e| Error::Network(format!("sync task failed: {e}")))?
}

/// A device endpoint bound to an ephemeral local port.
pub fn client_endpoint() -> Result<quinn::Endpoint> {
    let bind: SocketAddr = "0.0.0.0:0"
        .parse()
        .map_err(|_| Error::Network("bind address".into()))?;
    quinn::Endpoint::client(bind).map_err(|e| Error::Network(e.to_string()))
}

/// Resolve and connect to the device's server.
pub async fn connect(
    endpoint: &quinn::Endpoint,
    server: &ServerEndpoint,
    roots: Option<rustls::RootCertStore>,
    timeout: Duration,
    cfg: &ClientConfig,
) -> Result<quinn::Connection> {
    let addr = tokio::net::lookup_host((server.host.as_str(), server.port))
        .await
        .map_err(|e| Error::Network(format!("resolve: {e}")))?
        .next()
        .ok_or_else(|| Error::Network("no address for server".into()))?;
    connect_to(endpoint, server, addr, roots, timeout, cfg).await
}

/// Connect to `server` at an explicit address (e.g. through a proxy).
pub async fn connect_to(
    endpoint: &quinn::Endpoint,
    server: &ServerEndpoint,
    addr: SocketAddr,
    roots: Option<rustls::RootCertStore>,
    timeout: Duration,
    sync_cfg: &ClientConfig,
) -> Result<quinn::Connection> {
    let cfg = client_config_for(server, roots, transport_for(sync_cfg), &sync_cfg.protocols)?;
    let connecting = endpoint
        .connect_with(cfg, addr, &server.server_name)
        .map_err(|e| Error::Network(e.to_string()))?;
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(Error::Network(e.to_string())),
        Err(_) => Err(Error::Network("connect timed out".into())),
    }
}

/// Enrol `store` with the server named in `link`, as `device_id`. Stores the identity
/// and the device key; the device can sync afterwards.
pub async fn enrol(
    endpoint: &quinn::Endpoint,
    store: &Store,
    link: &EnrolmentLink,
    device_id: &str,
    device_name: &str,
    roots: Option<rustls::RootCertStore>,
) -> Result<SyncIdentity> {
    let server = ServerEndpoint {
        host: link.host.clone(),
        port: link.port,
        server_name: link.server_name.clone(),
        pin: match link.trust {
            super::auth::ServerTrust::PinnedKey(p) => Some(p),
            super::auth::ServerTrust::CaIssued => None,
        },
    };
    let conn = connect(
        endpoint,
        &server,
        roots,
        Duration::from_secs(20),
        &ClientConfig::default(),
    )
    .await?;
    let key = store.device_key()?;
    let version = negotiated_version(&conn)?;
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| Error::Network(e.to_string()))?;
    write_msgs(
        &mut send,
        version,
        &[ClientMsg::Enrol(Enrol {
            protocol: version,
            code: link.code.clone(),
            device_id: device_id.to_string(),
            public_key: serde_bytes::ByteBuf::from(key.public_key().to_vec()),
            device_name: device_name.to_string(),
            replica: store.replica_id()?,
        })],
    )
    .await?;
    let _ = send.finish();
    let reply = read_msg::<ServerMsg>(&mut recv, version).await?;
    conn.close(0u32.into(), b"enrolled");
    match reply {
        Some((ServerMsg::Enrolled(e), _)) => {
            let ident = SyncIdentity {
                device_id: e.device_id,
                tenant: e.tenant,
                user_id: e.user_id,
                server,
            };
            store.set_sync_identity(&ident)?;
            Ok(ident)
        }
        Some((ServerMsg::Error(e), _)) => Err(Error::Unauthorized(e.message)),
        Some(_) => Err(Error::Malformed("unexpected reply to enrolment".into())),
        None => Err(Error::Network("server closed during enrolment".into())),
    }
}

/// Connect to the store's server (or `addr` instead of its address) and run one
/// exchange.
pub async fn sync_once(
    endpoint: &quinn::Endpoint,
    store: &Store,
    cfg: ClientConfig,
    roots: Option<rustls::RootCertStore>,
    addr: Option<SocketAddr>,
) -> Result<(SyncReport, WireStats)> {
    let ident = store
        .sync_identity()?
        .ok_or_else(|| Error::Malformed("device is not enrolled".into()))?;
    let conn = match addr {
        Some(a) => {
            connect_to(
                endpoint,
                &ident.server,
                a,
                roots,
                Duration::from_secs(20),
                &cfg,
            )
            .await?
        }
        None => {
            connect(
                endpoint,
                &ident.server,
                roots,
                Duration::from_secs(20),
                &cfg,
            )
            .await?
        }
    };
    let r = run_exchange(&conn, store, cfg).await;
    conn.close(0u32.into(), b"done");
    r
}
