//! The protocol in memory: device sessions and server sessions exchanging messages
//! through encode/decode (the real frames), with faults injected between them — a
//! connection cut at any message, messages of a cut exchange lost in either direction,
//! old pushes replayed. No sockets: thousands of exchanges per second.

use std::sync::Arc;

use fieldsync_core::store::Store;
use fieldsync_core::sync::wire::{self, ClientMsg, ServerMsg};
use fieldsync_core::sync::{ClientConfig, ClientSession, SyncReport};
use fieldsync_core::{Error, Result};
use fieldsync_server::session::{ServerSession, SessionLimits};
use fieldsync_server::storage::Storage;

/// The exporter both ends of an in-memory "connection" share.
pub const EXPORTER: [u8; 32] = [5u8; 32];

/// Where to cut an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Run to completion.
    Never,
    /// Lose everything after the server handled this many client messages (its replies
    /// to the last one are lost too).
    AfterServerHandled(usize),
    /// Lose the server's replies from this one on (the server did the work).
    ServerRepliesFrom(usize),
}

/// What an in-memory exchange did.
#[derive(Debug, Default)]
pub struct MemExchange {
    /// The device's report (None if cut).
    pub report: Option<SyncReport>,
    /// Client messages the server saw.
    pub client_msgs: Vec<ClientMsg>,
    /// Frames in both directions (bytes).
    pub bytes_up: usize,
    /// Frames down.
    pub bytes_down: usize,
    /// Whether the exchange completed.
    pub completed: bool,
}

fn roundtrip_client(m: &ClientMsg) -> (ClientMsg, usize) {
    let f = wire::encode_for(wire::PROTOCOL_VERSION, m);
    let (back, n) = wire::decode_frame_for::<ClientMsg>(wire::PROTOCOL_VERSION, &f)
        .expect("decodes")
        .expect("whole frame");
    (back, n)
}

fn roundtrip_server(m: &ServerMsg) -> (ServerMsg, usize) {
    let f = wire::encode_for(wire::PROTOCOL_VERSION, m);
    let (back, n) = wire::decode_frame_for::<ServerMsg>(wire::PROTOCOL_VERSION, &f)
        .expect("decodes")
        .expect("whole frame");
    (back, n)
}

/// Run one exchange of `device` with a server over `storage`, cut as asked.
pub fn exchange<S: Storage + ?Sized>(
    storage: &Arc<S>,
    device: &Store,
    cut: Cut,
    cfg: ClientConfig,
) -> Result<MemExchange> {
    let mut server =
        ServerSession::new(storage.clone(), SessionLimits::default(), EXPORTER.to_vec());
    let mut client = ClientSession::new(device.clone(), cfg);
    let mut out = MemExchange::default();
    let mut to_server: std::collections::VecDeque<ClientMsg> = client.start(&EXPORTER)?.into();
    let mut handled = 0usize;
    let mut replies_sent = 0usize;
    while let Some(m) = to_server.pop_front() {
        let (m, n) = roundtrip_client(&m);
        out.bytes_up += n;
        out.client_msgs.push(m.clone());
        let replies = server.handle(m).map_err(|e| Error::Remote(e.to_string()))?;
        handled += 1;
        if let Cut::AfterServerHandled(k) = cut
            && handled >= k
        {
            return Ok(out);
        }
        for r in replies {
            if let Cut::ServerRepliesFrom(k) = cut
                && replies_sent >= k
            {
                return Ok(out);
            }
            replies_sent += 1;
            let (r, n) = roundtrip_server(&r);
            out.bytes_down += n;
            let done = matches!(r, ServerMsg::Done);
            to_server.extend(client.handle(r)?);
            if done && client.is_finished() {
                out.completed = true;
                out.report = Some(client.report().clone());
                return Ok(out);
            }
        }
    }
    out.completed = client.is_finished();
    out.report = Some(client.report().clone());
    Ok(out)
}

/// Enrol a device store directly in storage (no network): registers its key.
pub fn enrol_direct<S: Storage + ?Sized>(
    storage: &S,
    device: &Store,
    tenant: &str,
    user: &str,
) -> Result<()> {
    use fieldsync_core::store::{ServerEndpoint, SyncIdentity};
    use fieldsync_core::sync::auth::{code_hash, new_enrolment_code};
    let code = new_enrolment_code()?;
    let h = code_hash(&code).ok_or_else(|| Error::Malformed("code".into()))?;
    let now = fieldsync_core::now_ms();
    storage
        .create_enrolment(tenant, user, h, now, now + 60_000)
        .map_err(|e| Error::Remote(e.to_string()))?;
    let key = device.device_key()?;
    storage
        .enrol(
            &fieldsync_server::storage::EnrolRequest {
                code_hash: h,
                device_id: device.device_id().to_string(),
                public_key: key.public_key().to_vec(),
                name: device.device_id().to_string(),
                replica: device.replica_id()?,
            },
            now,
        )
        .map_err(|e| Error::Remote(e.to_string()))?;
    device.set_sync_identity(&SyncIdentity {
        device_id: device.device_id().to_string(),
        tenant: tenant.to_string(),
        user_id: user.to_string(),
        server: ServerEndpoint {
            host: "mem".into(),
            port: 1,
            server_name: "mem".into(),
            pin: Some([0; 32]),
        },
    })
}
