//! Wire encoding of protocols v2 and v1 (docs/protocol.md): message types, framing,
//! compression and the limits every decoder enforces before it allocates.
//!
//! A frame is `u32 big-endian length | u8 flags | payload`, where the length counts the
//! flags byte and the payload, and the payload is a postcard-encoded [`ClientMsg`] or
//! [`ServerMsg`]. Enum variants are encoded by index: new variants are only ever
//! appended. The two versions differ only in how a payload is compressed and where the
//! change bytes of `Push` and `PullBatch` go:
//!
//! - v1 ([`encode`], [`decode_body`]): raw DEFLATE when flag bit 0 is set; changes inside
//!   the message.
//! - v2 ([`encode_for`], [`decode_body_for`]): zstd with the protocol's preset dictionary
//!   when flag bit 1 is set; the changes of `Push` and `PullBatch` follow the message in
//!   a change section (`wire/pack.rs`) that groups their values by field.
//!
//! The version is negotiated by ALPN; a server serves both.

use std::io::Read;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

pub mod dict;
mod pack;

/// Newest protocol version: carried in the ALPN id and in `Hello`.
pub const PROTOCOL_VERSION: u16 = 2;
/// The first protocol version, still served.
pub const PROTOCOL_V1: u16 = 1;
/// ALPN id of protocol v2.
pub const ALPN: &[u8] = b"fieldsync/2";
/// ALPN id of protocol v1.
pub const ALPN_V1: &[u8] = b"fieldsync/1";
/// ALPN ids offered (device) and accepted (server), most preferred first.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [ALPN, ALPN_V1];

/// The protocol version an ALPN id names. A connection without ALPN is v1 (what a v1
/// server accepted).
pub fn version_for_alpn(alpn: Option<&[u8]>) -> Option<u16> {
    match alpn {
        Some(a) if a == ALPN => Some(PROTOCOL_VERSION),
        Some(a) if a == ALPN_V1 => Some(PROTOCOL_V1),
        None => Some(PROTOCOL_V1),
        Some(_) => None,
    }
}
/// The ALPN id of protocol `version`, if this build speaks it.
pub fn alpn_for_version(version: u16) -> Option<&'static [u8]> {
    match version {
        PROTOCOL_VERSION => Some(ALPN),
        PROTOCOL_V1 => Some(ALPN_V1),
        _ => None,
    }
}

/// Largest frame accepted (flags + payload as sent).
pub const MAX_FRAME: usize = 4 << 20;
/// Largest payload after decompression.
pub const MAX_INFLATED: usize = 16 << 20;
/// Payloads at least this large are offered to the compressor.
pub const COMPRESS_MIN: usize = 256;
const FLAG_DEFLATE: u8 = 1;
const FLAG_ZSTD: u8 = 2;
/// The v2 preset dictionary (raw content): the v2 payload of a push of one synthetic
/// response, account and visit (model field names, answer variants, dimensions, the
/// shape of an Automerge change). Part of the protocol: it never changes within v2
/// (`core/tests/wire_snapshots.rs` pins its hash).
pub const DICTIONARY_V2: &[u8] = include_bytes!("wire/dict_v2.bin");
/// Largest window a v2 frame may ask the decoder for (16 MiB, the payload cap).
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// Why a frame could not be decoded. The peer sent something wrong: close it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The frame is larger than [`MAX_FRAME`].
    #[error("frame of {0} bytes exceeds the limit")]
    FrameTooLarge(usize),
    /// Inflating the payload would exceed [`MAX_INFLATED`].
    #[error("compressed payload inflates past the limit")]
    InflateTooLarge,
    /// The payload is not valid DEFLATE.
    #[error("compressed payload is corrupt")]
    BadCompression,
    /// Unknown flag bits.
    #[error("unknown frame flags {0:#04x}")]
    BadFlags(u8),
    /// The payload is not a message of this protocol version.
    #[error("malformed message")]
    Malformed,
    /// The frame ended early.
    #[error("truncated frame")]
    Truncated,
}

/// A 16-byte document id on the wire.
pub type WireId = [u8; 16];
/// A 32-byte change hash on the wire.
pub type WireHash = [u8; 32];

/// Messages a device sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// First message of every exchange on an enrolled device: who it is and proof of
    /// its key, bound to this TLS session.
    Hello(Hello),
    /// First and only message of an enrolment exchange.
    Enrol(Enrol),
    /// Changes the server has not acknowledged.
    Push(Push),
    /// Ask for everything after the cursors.
    Pull(Pull),
    /// Repair: this device's heads for its documents.
    RepairHeads(RepairHeads),
    /// Repair: one Automerge sync message for one document.
    RepairSync(DocSync),
    /// Keep this stream open and tell me when my scopes change.
    Subscribe,
    /// The device has nothing more to send on this exchange.
    Bye,
}

/// Messages the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// Reply to `Hello`: the device's identity and grants as the server sees them.
    Welcome(Welcome),
    /// Reply to `Enrol`.
    Enrolled(Enrolled),
    /// Reply to one `Push`: what was durably committed and what was refused.
    PushAck(PushAck),
    /// Reply to `Pull`: changes in position order and the new cursors.
    PullBatch(PullBatch),
    /// The device's cursors cannot be trusted: send your heads (`RepairHeads`).
    RepairNeeded(RepairNeeded),
    /// Repair: documents to reconcile, and what the device lacks entirely.
    RepairPlan(RepairPlan),
    /// Repair: one Automerge sync message for one document.
    RepairSync(DocSync),
    /// Live: the device's readable scopes have new changes.
    ScopesChanged(ScopesChanged),
    /// A refused request; the exchange ends.
    Error(ErrorMsg),
    /// The server has nothing more to send on this exchange.
    Done,
}

/// See [`ClientMsg::Hello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`].
    pub protocol: u16,
    /// The id the server gave this device at enrolment.
    pub device_id: String,
    /// Random id of this device store file; a new one means the store was rebuilt.
    pub replica: WireId,
    /// Ed25519 signature of the auth transcript (see `sync::auth`).
    pub proof: ByteBuf,
}

/// See [`ClientMsg::Enrol`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrol {
    /// [`PROTOCOL_VERSION`].
    pub protocol: u16,
    /// The one-time enrolment code.
    pub code: String,
    /// The id the device proposes for itself (unique on the server).
    pub device_id: String,
    /// The device's Ed25519 public key (32 bytes).
    pub public_key: ByteBuf,
    /// A name for operators ("Li Wei's phone").
    pub device_name: String,
    /// Random id of the device store file.
    pub replica: WireId,
}

/// One scope and the rights this device's user holds on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeGrant {
    /// Scope name.
    pub scope: String,
    /// May read.
    pub read: bool,
    /// May write.
    pub write: bool,
}

/// See [`ServerMsg::Welcome`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// Tenant.
    pub tenant: String,
    /// The device's user.
    pub user_id: String,
    /// The server's log epoch; changes when the log is restored from a backup.
    pub epoch: WireId,
    /// Server clock (ms), for skew diagnostics.
    pub server_time: i64,
    /// The user's grants.
    pub scopes: Vec<ScopeGrant>,
}

/// See [`ServerMsg::Enrolled`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrolled {
    /// The device id to present in every `Hello`.
    pub device_id: String,
    /// Tenant.
    pub tenant: String,
    /// The user the device acts for.
    pub user_id: String,
}

/// Changes of one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocChanges {
    /// Document id.
    pub id: WireId,
    /// Kind code (`Kind::code`).
    pub kind: u8,
    /// Scope name.
    pub scope: String,
    /// Raw Automerge change chunks, in causal order.
    pub changes: Vec<ByteBuf>,
}

/// See [`ClientMsg::Push`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Push {
    /// Echoed in the ack.
    pub batch: u32,
    /// Changes grouped by document.
    pub docs: Vec<DocChanges>,
}

/// Why the server refused a change. The change stays on the device with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectReason {
    /// The user may not write this scope.
    Forbidden,
    /// The document is stored with another kind or scope.
    ScopeMismatch,
    /// Unknown scope.
    UnknownScope,
    /// Not a valid Automerge change.
    Malformed,
    /// Over the size limit.
    TooLarge,
    /// Depends on changes the server does not have (e.g. after a server restore): the
    /// device should repair this document.
    MissingDeps,
    /// The document failed to merge on the server and is quarantined there.
    Quarantined,
}

impl RejectReason {
    /// Stable name stored on the device.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Forbidden => "forbidden",
            RejectReason::ScopeMismatch => "scope_mismatch",
            RejectReason::UnknownScope => "unknown_scope",
            RejectReason::Malformed => "malformed",
            RejectReason::TooLarge => "too_large",
            RejectReason::MissingDeps => "missing_deps",
            RejectReason::Quarantined => "quarantined",
        }
    }
}

/// One refused change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// Document.
    pub doc: WireId,
    /// Change hash (all zeros when the bytes did not even parse: then `index` names it).
    pub hash: WireHash,
    /// Index of the change within the push (over all documents, in order).
    pub index: u32,
    /// Why.
    pub reason: RejectReason,
}

/// See [`ServerMsg::PushAck`]: every change of the batch not listed in `rejected` is
/// durably committed (or was already held: duplicates are accepted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushAck {
    /// The batch acknowledged.
    pub batch: u32,
    /// Changes new to the server.
    pub accepted: u32,
    /// Changes the server already held.
    pub duplicates: u32,
    /// Refused changes.
    pub rejected: Vec<Rejected>,
}

/// A cursor: everything in `scope` up to `position` has been delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Scope name.
    pub scope: String,
    /// Log position.
    pub position: u64,
}

/// See [`ClientMsg::Pull`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pull {
    /// The epoch the cursors were issued in (all zeros on a fresh device).
    pub epoch: WireId,
    /// Cursors per scope; scopes without one start from the beginning.
    pub cursors: Vec<Cursor>,
    /// Largest batch the device wants (bytes of change data).
    pub max_bytes: u32,
}

/// Which device and user an Automerge actor belongs to (for field history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorInfo {
    /// Actor id bytes.
    pub actor: ByteBuf,
    /// Device id.
    pub device: String,
    /// User id.
    pub user: String,
}

/// See [`ServerMsg::PullBatch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullBatch {
    /// Changes grouped by document, documents in order of first change position.
    pub docs: Vec<DocChanges>,
    /// Actors of those changes not sent to this device before (may repeat).
    pub actors: Vec<ActorInfo>,
    /// The new cursors (only scopes that moved).
    pub cursors: Vec<Cursor>,
    /// More is waiting: pull again with the new cursors.
    pub more: bool,
}

/// Why repair is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RepairReason {
    /// The server's log was restored: the device's cursors refer to another epoch.
    EpochChanged,
    /// The device store is new or was rebuilt.
    NewReplica,
    /// The device asked (e.g. after `MissingDeps`).
    Requested,
}

/// See [`ServerMsg::RepairNeeded`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepairNeeded {
    /// Why.
    pub reason: RepairReason,
}

/// Heads of one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocHeads {
    /// Document.
    pub id: WireId,
    /// Kind code.
    pub kind: u8,
    /// Scope.
    pub scope: String,
    /// Heads.
    pub heads: Vec<WireHash>,
}

/// See [`ClientMsg::RepairHeads`]; sent in pages, the last with `last = true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepairHeads {
    /// Documents of this page.
    pub docs: Vec<DocHeads>,
    /// Last page.
    pub last: bool,
}

/// See [`ServerMsg::RepairPlan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepairPlan {
    /// Documents whose heads differ: both sides run Automerge sync on each.
    pub reconcile: Vec<WireId>,
    /// Cursors to adopt once repair completes (the log position the plan was made at).
    pub cursors: Vec<Cursor>,
    /// The epoch to store with them.
    pub epoch: WireId,
}

/// One Automerge sync message for one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocSync {
    /// Document.
    pub id: WireId,
    /// Kind code.
    pub kind: u8,
    /// Scope.
    pub scope: String,
    /// Encoded `automerge::sync::Message`; empty when the sender has nothing more.
    pub message: ByteBuf,
}

/// See [`ServerMsg::ScopesChanged`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopesChanged {
    /// Scopes with new changes.
    pub scopes: Vec<String>,
    /// The server's log position when this was sent.
    pub position: u64,
}

/// Error codes a server returns; the app can act on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The device is unknown, revoked, or its proof failed.
    Unauthorized,
    /// The enrolment code is unknown, used or expired.
    BadEnrolmentCode,
    /// The device spoke another protocol version.
    UnsupportedVersion,
    /// A message was malformed or out of order.
    Protocol,
    /// The server is overloaded; retry later.
    Busy,
    /// The server failed.
    Internal,
}

/// See [`ServerMsg::Error`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMsg {
    /// Code.
    pub code: ErrorCode,
    /// Short English text without user content.
    pub message: String,
}

/// Encode a message as one frame of protocol v1.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // postcard only fails on writers that run out of space; a Vec grows.
    let payload = postcard::to_allocvec(msg).unwrap_or_default();
    let (flags, body) = if payload.len() >= COMPRESS_MIN {
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        let compressed = std::io::Write::write_all(&mut enc, &payload)
            .and_then(|()| enc.finish())
            .ok();
        match compressed {
            Some(c) if c.len() < payload.len() => (FLAG_DEFLATE, c),
            _ => (0, payload),
        }
    } else {
        (0, payload)
    };
    let len = u32::try_from(body.len() + 1).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(body.len() + 5);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&body);
    out
}

/// Read the length of the frame starting at `header` (4 bytes), checking the limit.
pub fn frame_len(header: [u8; 4]) -> Result<usize, WireError> {
    let n = u32::from_be_bytes(header) as usize;
    if n == 0 {
        return Err(WireError::Truncated);
    }
    if n > MAX_FRAME {
        return Err(WireError::FrameTooLarge(n));
    }
    Ok(n)
}

/// Decode the body of one frame of protocol v1 (flags byte + payload, without the
/// length prefix).
pub fn decode_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, WireError> {
    if body.len() > MAX_FRAME {
        return Err(WireError::FrameTooLarge(body.len()));
    }
    let (&flags, payload) = body.split_first().ok_or(WireError::Truncated)?;
    match flags {
        0 => postcard::from_bytes(payload).map_err(|_| WireError::Malformed),
        FLAG_DEFLATE => {
            let inflated = inflate_capped(payload, MAX_INFLATED)?;
            postcard::from_bytes(&inflated).map_err(|_| WireError::Malformed)
        }
        f => Err(WireError::BadFlags(f)),
    }
}

/// Decode one whole frame (length prefix included) from `buf`; returns the message and
/// the bytes consumed, or `Ok(None)` if `buf` does not hold a whole frame yet.
pub fn decode_frame<T: for<'de> Deserialize<'de>>(
    buf: &[u8],
) -> Result<Option<(T, usize)>, WireError> {
    let Some(header) = buf.get(..4) else {
        return Ok(None);
    };
    let mut h = [0u8; 4];
    h.copy_from_slice(header);
    let n = frame_len(h)?;
    let Some(body) = buf.get(4..4 + n) else {
        return Ok(None);
    };
    Ok(Some((decode_body(body)?, 4 + n)))
}

/// Inflate raw DEFLATE, refusing output beyond `cap` bytes (decompression bombs).
pub fn inflate_capped(input: &[u8], cap: usize) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    let mut dec = flate2::read::DeflateDecoder::new(input).take(cap as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|_| WireError::BadCompression)?;
    if out.len() > cap {
        return Err(WireError::InflateTooLarge);
    }
    Ok(out)
}

/// A message that may carry change bytes: in v2 they travel in the change section after
/// the message (`Push` from a device, `PullBatch` from the server).
pub trait WireMsg: Serialize + DeserializeOwned {
    /// Whether this message carries changes (then a change section follows it in v2).
    fn carries_changes(&self) -> bool;
    /// The change bytes carried, in order.
    fn change_bytes(&self) -> Vec<&[u8]>;
    /// A copy with every change replaced by an empty placeholder.
    fn placeholders(&self) -> Self;
    /// Put `changes` into the placeholders, in order.
    fn fill(&mut self, changes: Vec<Vec<u8>>) -> Result<(), WireError>;
}

fn doc_bytes(docs: &[DocChanges]) -> Vec<&[u8]> {
    docs.iter()
        .flat_map(|d| d.changes.iter().map(|c| c.as_slice()))
        .collect()
}

fn doc_placeholders(docs: &[DocChanges]) -> Vec<DocChanges> {
    docs.iter()
        .map(|d| DocChanges {
            id: d.id,
            kind: d.kind,
            scope: d.scope.clone(),
            changes: vec![ByteBuf::new(); d.changes.len()],
        })
        .collect()
}

fn fill_docs(docs: &mut [DocChanges], changes: Vec<Vec<u8>>) -> Result<(), WireError> {
    let mut it = changes.into_iter();
    for c in docs.iter_mut().flat_map(|d| d.changes.iter_mut()) {
        *c = ByteBuf::from(it.next().ok_or(WireError::Malformed)?);
    }
    match it.next() {
        Some(_) => Err(WireError::Malformed),
        None => Ok(()),
    }
}

impl WireMsg for ClientMsg {
    fn carries_changes(&self) -> bool {
        matches!(self, ClientMsg::Push(_))
    }
    fn change_bytes(&self) -> Vec<&[u8]> {
        match self {
            ClientMsg::Push(p) => doc_bytes(&p.docs),
            _ => Vec::new(),
        }
    }
    fn placeholders(&self) -> Self {
        match self {
            ClientMsg::Push(p) => ClientMsg::Push(Push {
                batch: p.batch,
                docs: doc_placeholders(&p.docs),
            }),
            m => m.clone(),
        }
    }
    fn fill(&mut self, changes: Vec<Vec<u8>>) -> Result<(), WireError> {
        match self {
            ClientMsg::Push(p) => fill_docs(&mut p.docs, changes),
            _ if changes.is_empty() => Ok(()),
            _ => Err(WireError::Malformed),
        }
    }
}

impl WireMsg for ServerMsg {
    fn carries_changes(&self) -> bool {
        matches!(self, ServerMsg::PullBatch(_))
    }
    fn change_bytes(&self) -> Vec<&[u8]> {
        match self {
            ServerMsg::PullBatch(b) => doc_bytes(&b.docs),
            _ => Vec::new(),
        }
    }
    fn placeholders(&self) -> Self {
        match self {
            ServerMsg::PullBatch(b) => ServerMsg::PullBatch(PullBatch {
                docs: doc_placeholders(&b.docs),
                actors: b.actors.clone(),
                cursors: b.cursors.clone(),
                more: b.more,
            }),
            m => m.clone(),
        }
    }
    fn fill(&mut self, changes: Vec<Vec<u8>>) -> Result<(), WireError> {
        match self {
            ServerMsg::PullBatch(b) => fill_docs(&mut b.docs, changes),
            _ if changes.is_empty() => Ok(()),
            _ => Err(WireError::Malformed),
        }
    }
}

/// The payload of `msg` in `version`, before compression: the postcard message, and in
/// v2 the change section after it.
pub fn encode_payload<T: WireMsg>(version: u16, msg: &T) -> Vec<u8> {
    // postcard only fails on writers that run out of space; a Vec grows.
    if version == PROTOCOL_V1 || !msg.carries_changes() {
        return postcard::to_allocvec(msg).unwrap_or_default();
    }
    let mut out = postcard::to_allocvec(&msg.placeholders()).unwrap_or_default();
    out.extend_from_slice(&pack::pack(&msg.change_bytes()));
    out
}

/// zstd level for a v2 payload of `len` bytes: thorough for the small batches of
/// everyday sync (a few milliseconds on a phone), fast for bulk.
fn zstd_level(len: usize) -> usize {
    if len <= 64 << 10 {
        0
    } else if len <= 1 << 20 {
        1
    } else {
        2
    }
}
const ZSTD_LEVELS: [i32; 3] = [19, 6, 3];

fn encoder_dictionary(i: usize) -> &'static zstd::dict::EncoderDictionary<'static> {
    static DICTS: [OnceLock<zstd::dict::EncoderDictionary<'static>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    DICTS[i].get_or_init(|| zstd::dict::EncoderDictionary::copy(DICTIONARY_V2, ZSTD_LEVELS[i]))
}

fn decoder_dictionary() -> &'static zstd::dict::DecoderDictionary<'static> {
    static DICT: OnceLock<zstd::dict::DecoderDictionary<'static>> = OnceLock::new();
    DICT.get_or_init(|| zstd::dict::DecoderDictionary::copy(DICTIONARY_V2))
}

fn zstd_compress(payload: &[u8]) -> Option<Vec<u8>> {
    let dict = encoder_dictionary(zstd_level(payload.len()));
    zstd::bulk::Compressor::with_prepared_dictionary(dict)
        .and_then(|mut c| c.compress(payload))
        .ok()
}

/// Inflate a v2 zstd payload, refusing output beyond `cap` bytes and windows beyond
/// 16 MiB (decompression bombs).
pub fn zstd_decompress_capped(input: &[u8], cap: usize) -> Result<Vec<u8>, WireError> {
    let mut dec =
        zstd::stream::read::Decoder::with_prepared_dictionary(input, decoder_dictionary())
            .map_err(|_| WireError::BadCompression)?;
    dec.window_log_max(ZSTD_WINDOW_LOG_MAX)
        .map_err(|_| WireError::BadCompression)?;
    let mut out = Vec::new();
    dec.take(cap as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| WireError::BadCompression)?;
    if out.len() > cap {
        return Err(WireError::InflateTooLarge);
    }
    Ok(out)
}

fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len() + 1).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(body.len() + 5);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(body);
    out
}

/// Encode a message as one frame of protocol `version`.
pub fn encode_for<T: WireMsg>(version: u16, msg: &T) -> Vec<u8> {
    if version == PROTOCOL_V1 {
        return encode(msg);
    }
    let payload = encode_payload(version, msg);
    if payload.len() >= COMPRESS_MIN
        && let Some(c) = zstd_compress(&payload)
        && c.len() < payload.len()
    {
        return frame(FLAG_ZSTD, &c);
    }
    frame(0, &payload)
}

/// Decode the body of one frame (flags byte + payload) of protocol `version`.
pub fn decode_body_for<T: WireMsg>(version: u16, body: &[u8]) -> Result<T, WireError> {
    if version == PROTOCOL_V1 {
        return decode_body(body);
    }
    if body.len() > MAX_FRAME {
        return Err(WireError::FrameTooLarge(body.len()));
    }
    let (&flags, payload) = body.split_first().ok_or(WireError::Truncated)?;
    match flags {
        0 => decode_payload_v2(payload),
        FLAG_ZSTD => decode_payload_v2(&zstd_decompress_capped(payload, MAX_INFLATED)?),
        f => Err(WireError::BadFlags(f)),
    }
}

fn decode_payload_v2<T: WireMsg>(payload: &[u8]) -> Result<T, WireError> {
    let (mut msg, rest) =
        postcard::take_from_bytes::<T>(payload).map_err(|_| WireError::Malformed)?;
    if !msg.carries_changes() {
        return if rest.is_empty() {
            Ok(msg)
        } else {
            Err(WireError::Malformed)
        };
    }
    let slots = msg.change_bytes();
    if slots.iter().any(|c| !c.is_empty()) {
        return Err(WireError::Malformed);
    }
    let changes = pack::unpack(rest, slots.len(), MAX_INFLATED)?;
    msg.fill(changes)?;
    Ok(msg)
}

/// [`decode_frame`] for protocol `version`.
pub fn decode_frame_for<T: WireMsg>(
    version: u16,
    buf: &[u8],
) -> Result<Option<(T, usize)>, WireError> {
    let Some(header) = buf.get(..4) else {
        return Ok(None);
    };
    let mut h = [0u8; 4];
    h.copy_from_slice(header);
    let n = frame_len(h)?;
    let Some(body) = buf.get(4..4 + n) else {
        return Ok(None);
    };
    Ok(Some((decode_body_for(version, body)?, 4 + n)))
}
