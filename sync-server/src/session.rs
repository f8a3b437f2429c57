//! The server side of one connection, without I/O: client messages in, server messages
//! out. Authentication happens on the first message; every later message is checked
//! against the device's grants as they were when it connected. Used by the QUIC layer
//! and, directly, by in-memory protocol tests.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use automerge::sync::{Message, State as SyncState, SyncDoc};
use automerge::{AutoCommit, Change, ChangeHash};
use fieldsync_core::doc::guarded;
use fieldsync_core::sync::auth::{code_hash, verify_proof};
use fieldsync_core::sync::wire::*;
use fieldsync_core::{DocId, Kind};
use serde_bytes::ByteBuf;

use crate::quota::Quotas;
use crate::storage::{EnrolRequest, IngestDoc, IngestRequest, ParsedChange, Storage, StorageError};

/// Limits the server enforces on every session.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    /// Largest single change.
    pub max_change_bytes: usize,
    /// Largest size a compressed change may inflate to.
    pub max_change_inflated: usize,
    /// Changes per push message.
    pub max_changes_per_push: usize,
    /// Pull batch size cap (bytes of change data).
    pub max_pull_bytes: usize,
    /// Documents reconciled in one repair.
    pub max_repair_docs: usize,
    /// Sync messages per document during repair.
    pub max_repair_rounds: u32,
    /// Changes of one document loaded for repair.
    pub max_doc_changes: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_change_bytes: 1 << 20,
            max_change_inflated: 8 << 20,
            max_changes_per_push: 20_000,
            max_pull_bytes: 2 << 20,
            max_repair_docs: 100_000,
            max_repair_rounds: 64,
            max_doc_changes: 200_000,
        }
    }
}

/// Why a session ended badly. The connection is closed with this reason.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The peer broke the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The device is not allowed in.
    #[error("unauthorized")]
    Unauthorized,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Who is on the other end, once authenticated.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Tenant.
    pub tenant: String,
    /// Device id.
    pub device_id: String,
    /// User.
    pub user_id: String,
    /// Readable scopes.
    pub readable: Vec<String>,
    /// Writable scopes.
    pub writable: HashSet<String>,
}

struct DocRepair {
    doc: AutoCommit,
    state: SyncState,
    kind: Kind,
    scope: String,
    sent_empty: bool,
    recv_empty: bool,
    rounds: u32,
}

/// Server side of one connection.
pub struct ServerSession<S: Storage + ?Sized> {
    storage: Arc<S>,
    limits: SessionLimits,
    exporter: Vec<u8>,
    peer: Option<Peer>,
    repair_needed: Option<RepairReason>,
    repair_heads: Vec<DocHeads>,
    repairs: HashMap<DocId, DocRepair>,
    subscribed: bool,
    finished: bool,
    committed_scopes: Vec<String>,
    protocol: u16,
    quotas: Option<Arc<Quotas>>,
}

fn now() -> i64 {
    fieldsync_core::now_ms()
}

fn error(code: ErrorCode, message: &str) -> ServerMsg {
    ServerMsg::Error(ErrorMsg {
        code,
        message: message.to_string(),
    })
}

fn throttled(t: crate::quota::Throttle) -> ServerMsg {
    ServerMsg::Throttled(Throttled {
        limit: t.limit,
        retry_after_ms: u32::try_from(t.retry_after.as_millis())
            .unwrap_or(u32::MAX)
            .max(1),
    })
}

impl<S: Storage + ?Sized> ServerSession<S> {
    /// A session for a connection whose TLS exporter value is `exporter`.
    pub fn new(storage: Arc<S>, limits: SessionLimits, exporter: Vec<u8>) -> Self {
        ServerSession {
            storage,
            limits,
            exporter,
            peer: None,
            repair_needed: None,
            repair_heads: Vec::new(),
            repairs: HashMap::new(),
            subscribed: false,
            finished: false,
            committed_scopes: Vec::new(),
            protocol: PROTOCOL_VERSION,
            quotas: None,
        }
    }

    /// Enforce per-device quotas (shared by every connection of this node). A device
    /// over one is answered [`ServerMsg::Throttled`]; the transport then ends that
    /// exchange.
    pub fn with_quotas(mut self, quotas: Arc<Quotas>) -> Self {
        self.quotas = Some(quotas);
        self
    }

    /// The connection negotiated protocol `version` (by ALPN): `Hello` and `Enrol` must
    /// name it. Default: [`PROTOCOL_VERSION`].
    pub fn with_protocol(mut self, version: u16) -> Self {
        self.protocol = version;
        self
    }

    /// The authenticated device, if any.
    pub fn peer(&self) -> Option<&Peer> {
        self.peer.as_ref()
    }

    /// Scopes that received changes since the last call (for live notifications).
    pub fn take_committed_scopes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.committed_scopes)
    }

    /// The device asked for live notifications.
    pub fn subscribed(&self) -> bool {
        self.subscribed
    }

    /// The connection has nothing more to do (enrolment done, or the device refused).
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Handle one message. `Err` means: send nothing more, close the connection.
    pub fn handle(&mut self, msg: ClientMsg) -> Result<Vec<ServerMsg>, SessionError> {
        if self.finished {
            return Err(SessionError::Protocol("message after Bye".into()));
        }
        let Some(peer) = self.peer.clone() else {
            return match msg {
                ClientMsg::Hello(h) => self.on_hello(h),
                ClientMsg::Enrol(e) => self.on_enrol(e),
                _ => Err(SessionError::Protocol(
                    "first message must be Hello or Enrol".into(),
                )),
            };
        };
        match msg {
            // A connection carries several exchanges (streams); each starts with Hello,
            // which re-checks the device and refreshes its grants.
            ClientMsg::Hello(h) => self.on_hello(h),
            ClientMsg::Enrol(_) => Err(SessionError::Protocol("already authenticated".into())),
            ClientMsg::Push(p) => Ok(vec![self.on_push(&peer, p)?]),
            ClientMsg::Pull(p) => self.on_pull(&peer, p),
            ClientMsg::RepairHeads(h) => self.on_repair_heads(&peer, h),
            ClientMsg::RepairSync(s) => self.on_repair_sync(&peer, s),
            ClientMsg::Subscribe => {
                self.subscribed = true;
                Ok(Vec::new())
            }
            ClientMsg::Bye => Ok(vec![ServerMsg::Done]),
            ClientMsg::BlobOffer(_) | ClientMsg::BlobChunk(_) | ClientMsg::BlobGet(_) => Err(
                SessionError::Protocol("blob messages belong on a blob stream".into()),
            ),
        }
    }

    fn on_enrol(&mut self, e: Enrol) -> Result<Vec<ServerMsg>, SessionError> {
        self.finished = true;
        if e.protocol != self.protocol {
            return Ok(vec![error(
                ErrorCode::UnsupportedVersion,
                "unsupported protocol version",
            )]);
        }
        let Some(hash) = code_hash(&e.code) else {
            return Ok(vec![error(
                ErrorCode::BadEnrolmentCode,
                "malformed enrolment code",
            )]);
        };
        let req = EnrolRequest {
            code_hash: hash,
            device_id: e.device_id.clone(),
            public_key: e.public_key.into_vec(),
            name: e.device_name,
            replica: e.replica,
        };
        match self.storage.enrol(&req, now()) {
            Ok(d) => {
                tracing::info!(device = %d.id, tenant = %d.tenant, "device enrolled");
                Ok(vec![
                    ServerMsg::Enrolled(Enrolled {
                        device_id: d.id,
                        tenant: d.tenant,
                        user_id: d.user_id,
                    }),
                    ServerMsg::Done,
                ])
            }
            Err(StorageError::Invalid(m)) => Ok(vec![error(ErrorCode::BadEnrolmentCode, &m)]),
            Err(StorageError::Exists(m)) => Ok(vec![error(
                ErrorCode::BadEnrolmentCode,
                &format!("{m}: choose another device id"),
            )]),
            Err(e) => Err(e.into()),
        }
    }

    fn on_hello(&mut self, h: Hello) -> Result<Vec<ServerMsg>, SessionError> {
        if h.protocol != self.protocol {
            self.finished = true;
            return Ok(vec![error(
                ErrorCode::UnsupportedVersion,
                "unsupported protocol version",
            )]);
        }
        let dev = self.storage.device(&h.device_id)?;
        let Some(dev) = dev.filter(|d| d.revoked_at.is_none()) else {
            self.finished = true;
            tracing::warn!(device = %h.device_id, "refused: unknown or revoked device");
            return Ok(vec![error(
                ErrorCode::Unauthorized,
                "unknown or revoked device",
            )]);
        };
        if !verify_proof(&dev.public_key, &dev.id, &self.exporter, &h.proof) {
            self.finished = true;
            tracing::warn!(device = %h.device_id, "refused: bad proof");
            return Ok(vec![error(ErrorCode::Unauthorized, "device proof failed")]);
        }
        if let Some(q) = &self.quotas
            && let Err(t) = q.exchange(&dev.tenant, &dev.id)
        {
            tracing::debug!(device = %dev.id, limit = t.limit.as_str(), "throttled");
            return Ok(vec![throttled(t)]);
        }
        let previous = self.storage.touch_device(&dev.id, h.replica, now())?;
        if previous.is_some_and(|p| p != h.replica) {
            self.repair_needed = Some(RepairReason::NewReplica);
        }
        let grants = self.storage.grants(&dev.tenant, &dev.user_id)?;
        let peer = Peer {
            tenant: dev.tenant.clone(),
            device_id: dev.id.clone(),
            user_id: dev.user_id.clone(),
            readable: grants
                .iter()
                .filter(|g| g.read)
                .map(|g| g.scope.clone())
                .collect(),
            writable: grants
                .iter()
                .filter(|g| g.write)
                .map(|g| g.scope.clone())
                .collect(),
        };
        let welcome = Welcome {
            tenant: dev.tenant.clone(),
            user_id: dev.user_id.clone(),
            epoch: self.storage.epoch(&dev.tenant)?,
            server_time: now(),
            scopes: grants,
        };
        self.peer = Some(peer);
        Ok(vec![ServerMsg::Welcome(welcome)])
    }

    /// Parse and size-check every change (here, on the connection's thread), then hand
    /// the push to storage, which authorises and commits it.
    fn on_push(&mut self, peer: &Peer, p: Push) -> Result<ServerMsg, SessionError> {
        let total: usize = p.docs.iter().map(|d| d.changes.len()).sum();
        if total > self.limits.max_changes_per_push {
            return Err(SessionError::Protocol(
                "too many changes in one push".into(),
            ));
        }
        if let Some(q) = &self.quotas {
            let bytes: usize = p
                .docs
                .iter()
                .flat_map(|d| d.changes.iter().map(|c| c.len()))
                .sum();
            if let Err(t) = q.push(&peer.tenant, &peer.device_id, bytes as u64) {
                tracing::debug!(device = %peer.device_id, limit = t.limit.as_str(), "throttled");
                return Ok(throttled(t));
            }
        }
        let mut pre_rejected = Vec::new();
        let mut docs = Vec::with_capacity(p.docs.len());
        let mut index = 0u32;
        for d in p.docs {
            let id = DocId::from_bytes(d.id);
            let kind = Kind::from_code(d.kind);
            let mut changes = Vec::with_capacity(d.changes.len());
            for raw in d.changes {
                let i = index;
                index += 1;
                let reject = |reason| Rejected {
                    doc: d.id,
                    hash: [0; 32],
                    index: i,
                    reason,
                };
                if kind.is_none() {
                    pre_rejected.push(reject(RejectReason::Malformed));
                    continue;
                }
                if raw.len() > self.limits.max_change_bytes {
                    pre_rejected.push(reject(RejectReason::TooLarge));
                    continue;
                }
                match parse_change(&raw, self.limits.max_change_inflated) {
                    Ok(c) => changes.push(ParsedChange {
                        index: i,
                        hash: c.hash(),
                        deps: c.deps().to_vec(),
                        actor: c.actor_id().to_bytes().to_vec(),
                        bytes: raw.into_vec(),
                    }),
                    Err(reason) => pre_rejected.push(reject(reason)),
                }
            }
            if let Some(kind) = kind {
                docs.push(IngestDoc {
                    id,
                    kind,
                    scope: d.scope,
                    changes,
                });
            }
        }
        let out = self.storage.ingest(IngestRequest {
            tenant: peer.tenant.clone(),
            device_id: peer.device_id.clone(),
            user_id: peer.user_id.clone(),
            writable: peer.writable.clone(),
            docs,
            pre_rejected,
        })?;
        if !out.rejected.is_empty() {
            tracing::info!(device = %peer.device_id, rejected = out.rejected.len(), "push partly refused");
        }
        for sc in out.scopes {
            if !self.committed_scopes.contains(&sc) {
                self.committed_scopes.push(sc);
            }
        }
        Ok(ServerMsg::PushAck(PushAck {
            batch: p.batch,
            accepted: out.accepted,
            duplicates: out.duplicates,
            rejected: out.rejected,
        }))
    }

    fn on_pull(&mut self, peer: &Peer, p: Pull) -> Result<Vec<ServerMsg>, SessionError> {
        let epoch = self.storage.epoch(&peer.tenant)?;
        let watermark = self.storage.watermark(&peer.tenant)?;
        let cursor_of: HashMap<&str, u64> = p
            .cursors
            .iter()
            .map(|c| (c.scope.as_str(), c.position))
            .collect();
        let beyond = p.cursors.iter().any(|c| c.position > watermark);
        // A device that never pulled has the zero epoch and no cursors; cursors from
        // any other epoch (or beyond the log's end) cannot be trusted.
        let fresh = p.epoch == [0; 16] && p.cursors.is_empty();
        if self.repair_needed.is_none() && ((!fresh && p.epoch != epoch) || beyond) {
            self.repair_needed = Some(RepairReason::EpochChanged);
        }
        if let Some(reason) = self.repair_needed {
            return Ok(vec![ServerMsg::RepairNeeded(RepairNeeded { reason })]);
        }
        let cursors: Vec<(String, u64)> = peer
            .readable
            .iter()
            .map(|s| (s.clone(), cursor_of.get(s.as_str()).copied().unwrap_or(0)))
            .collect();
        let max = (p.max_bytes as usize).clamp(1024, self.limits.max_pull_bytes);
        let r = self
            .storage
            .pull(&peer.tenant, &cursors, Some(&peer.device_id), max)?;
        let moved: Vec<Cursor> = cursors
            .iter()
            .filter(|(_, c)| r.upto > *c)
            .map(|(s, _)| Cursor {
                scope: s.clone(),
                position: r.upto,
            })
            .collect();
        let (docs, actors) = group_entries(r.entries);
        Ok(vec![ServerMsg::PullBatch(PullBatch {
            docs,
            actors,
            cursors: moved,
            more: r.more,
        })])
    }

    fn on_repair_heads(
        &mut self,
        peer: &Peer,
        h: RepairHeads,
    ) -> Result<Vec<ServerMsg>, SessionError> {
        self.repair_heads.extend(h.docs);
        if self.repair_heads.len() > self.limits.max_repair_docs {
            return Err(SessionError::Protocol(
                "too many documents in repair".into(),
            ));
        }
        if !h.last {
            return Ok(Vec::new());
        }
        // The plan's cursors are the watermark read *before* comparing: anything that
        // commits later is pulled afterwards (duplicates are harmless).
        let watermark = self.storage.watermark(&peer.tenant)?;
        let epoch = self.storage.epoch(&peer.tenant)?;
        let server_docs = self.storage.docs_in_scopes(&peer.tenant, &peer.readable)?;
        let client: HashMap<DocId, DocHeads> = self
            .repair_heads
            .drain(..)
            .map(|d| (DocId::from_bytes(d.id), d))
            .collect();
        let mut reconcile: Vec<DocId> = Vec::new();
        let mut missing: Vec<DocId> = Vec::new();
        let mut seen = HashSet::new();
        for m in &server_docs {
            seen.insert(m.id);
            match client.get(&m.id) {
                None => missing.push(m.id),
                Some(c) => {
                    let mut a: Vec<[u8; 32]> = c.heads.clone();
                    let mut b: Vec<[u8; 32]> = m.heads.iter().map(|h| h.0).collect();
                    a.sort_unstable();
                    b.sort_unstable();
                    if a != b {
                        reconcile.push(m.id);
                    }
                }
            }
        }
        // Documents only the device has: reconcile if it may write them (the server may
        // have lost them in a restore).
        for (id, c) in &client {
            if !seen.contains(id) && peer.writable.contains(&c.scope) {
                let meta = self.storage.doc_meta(&peer.tenant, *id)?;
                if meta.as_ref().is_none_or(|m| m.scope == c.scope) {
                    reconcile.push(*id);
                }
            }
        }
        let mut out = Vec::new();
        let cursors: Vec<Cursor> = peer
            .readable
            .iter()
            .map(|s| Cursor {
                scope: s.clone(),
                position: watermark,
            })
            .collect();
        out.push(ServerMsg::RepairPlan(RepairPlan {
            reconcile: reconcile.iter().map(|d| *d.as_bytes()).collect(),
            cursors,
            epoch,
        }));
        // Documents the device lacks entirely: send their whole log, like a pull.
        let mut batch = Vec::new();
        let mut bytes = 0usize;
        for id in missing {
            let log = self.storage.doc_log(&peer.tenant, id)?;
            bytes += log.iter().map(|e| e.bytes.len()).sum::<usize>();
            batch.extend(log);
            if bytes > self.limits.max_pull_bytes {
                let (docs, actors) = group_entries(std::mem::take(&mut batch));
                out.push(ServerMsg::PullBatch(PullBatch {
                    docs,
                    actors,
                    cursors: Vec::new(),
                    more: false,
                }));
                bytes = 0;
            }
        }
        if !batch.is_empty() {
            let (docs, actors) = group_entries(batch);
            out.push(ServerMsg::PullBatch(PullBatch {
                docs,
                actors,
                cursors: Vec::new(),
                more: false,
            }));
        }
        // Start Automerge sync on each document to reconcile.
        for id in reconcile {
            let (doc, kind, scope) = self.load_doc(peer, id, client.get(&id))?;
            let mut r = DocRepair {
                doc,
                state: SyncState::new(),
                kind,
                scope,
                sent_empty: false,
                recv_empty: false,
                rounds: 1,
            };
            let first = r
                .doc
                .sync()
                .generate_sync_message(&mut r.state)
                .map(Message::encode)
                .unwrap_or_default();
            out.push(ServerMsg::RepairSync(DocSync {
                id: *id.as_bytes(),
                kind: kind.code(),
                scope: r.scope.clone(),
                message: ByteBuf::from(first),
            }));
            self.repairs.insert(id, r);
        }
        self.repair_needed = None;
        tracing::info!(device = %peer.device_id, docs = self.repairs.len(), "repair planned");
        Ok(out)
    }

    fn load_doc(
        &self,
        peer: &Peer,
        id: DocId,
        client: Option<&DocHeads>,
    ) -> Result<(AutoCommit, Kind, String), SessionError> {
        let meta = self.storage.doc_meta(&peer.tenant, id)?;
        let (kind, scope) = match (&meta, client) {
            (Some(m), _) => (m.kind, m.scope.clone()),
            (None, Some(c)) => (
                Kind::from_code(c.kind).ok_or_else(|| SessionError::Protocol("kind".into()))?,
                c.scope.clone(),
            ),
            (None, None) => return Err(SessionError::Protocol("unknown document".into())),
        };
        let log = self.storage.doc_log(&peer.tenant, id)?;
        if log.len() > self.limits.max_doc_changes {
            return Err(SessionError::Protocol(
                "document too large to repair".into(),
            ));
        }
        let mut doc = AutoCommit::new();
        let changes: Vec<Change> = log
            .into_iter()
            .filter_map(|e| Change::from_bytes(e.bytes).ok())
            .collect();
        guarded("load for repair", || Ok(doc.apply_changes(changes)?))
            .map_err(|e| SessionError::Protocol(e.to_string()))?;
        Ok((doc, kind, scope))
    }

    fn on_repair_sync(&mut self, peer: &Peer, s: DocSync) -> Result<Vec<ServerMsg>, SessionError> {
        let id = DocId::from_bytes(s.id);
        let limits = self.limits.clone();
        let Some(r) = self.repairs.get_mut(&id) else {
            return Err(SessionError::Protocol(
                "sync message for a document not under repair".into(),
            ));
        };
        r.rounds += 1;
        if r.rounds > limits.max_repair_rounds {
            return Err(SessionError::Protocol("repair did not converge".into()));
        }
        if s.message.is_empty() {
            r.recv_empty = true;
        } else {
            r.recv_empty = false;
            if s.message.len() > MAX_FRAME {
                return Err(SessionError::Protocol("sync message too large".into()));
            }
            let mut msg = guarded("decode sync message", || {
                Message::decode(&s.message)
                    .map_err(|e| fieldsync_core::Error::Malformed(e.to_string()))
            })
            .map_err(|e| SessionError::Protocol(e.to_string()))?;
            // Changes the device sends go through ingest like a push: authorised,
            // dependency-checked, logged. Only accepted ones reach the repair copy.
            let mut parsed = Vec::new();
            for (i, raw) in msg.changes.iter().enumerate() {
                match parse_change(raw, limits.max_change_inflated) {
                    Ok(c) => parsed.push((c, raw.to_vec(), u32::try_from(i).unwrap_or(u32::MAX))),
                    Err(_) => {
                        return Err(SessionError::Protocol(
                            "malformed change in sync message".into(),
                        ));
                    }
                }
            }
            if !parsed.is_empty() {
                let changes = parsed
                    .iter()
                    .map(|(c, raw, i)| ParsedChange {
                        index: *i,
                        hash: c.hash(),
                        deps: c.deps().to_vec(),
                        actor: c.actor_id().to_bytes().to_vec(),
                        bytes: raw.clone(),
                    })
                    .collect();
                let out = self.storage.ingest(IngestRequest {
                    tenant: peer.tenant.clone(),
                    device_id: peer.device_id.clone(),
                    user_id: peer.user_id.clone(),
                    writable: peer.writable.clone(),
                    docs: vec![IngestDoc {
                        id,
                        kind: r.kind,
                        scope: r.scope.clone(),
                        changes,
                    }],
                    pre_rejected: Vec::new(),
                })?;
                let refused: HashSet<ChangeHash> =
                    out.rejected.iter().map(|x| ChangeHash(x.hash)).collect();
                let ok: Vec<Change> = parsed
                    .into_iter()
                    .filter(|(c, ..)| !refused.contains(&c.hash()))
                    .map(|(c, ..)| c)
                    .collect();
                guarded("apply repair changes", || Ok(r.doc.apply_changes(ok)?))
                    .map_err(|e| SessionError::Protocol(e.to_string()))?;
            }
            msg.changes = automerge::sync::ChunkList::empty();
            guarded("receive sync", || {
                Ok(r.doc.sync().receive_sync_message(&mut r.state, msg)?)
            })
            .map_err(|e| SessionError::Protocol(e.to_string()))?;
            r.state.their_capabilities = None;
        }
        r.state.their_capabilities = None;
        let next = r
            .doc
            .sync()
            .generate_sync_message(&mut r.state)
            .map(Message::encode);
        let reply = match next {
            Some(m) => {
                r.sent_empty = false;
                Some(m)
            }
            None if !r.sent_empty => {
                r.sent_empty = true;
                Some(Vec::new())
            }
            None => None,
        };
        let mut out = Vec::new();
        if let Some(m) = reply {
            out.push(ServerMsg::RepairSync(DocSync {
                id: s.id,
                kind: r.kind.code(),
                scope: r.scope.clone(),
                message: ByteBuf::from(m),
            }));
        }
        if r.sent_empty && r.recv_empty {
            self.repairs.remove(&id);
        }
        Ok(out)
    }
}

/// Parse a change from a device: size caps, inflate cap, panic containment.
pub fn parse_change(raw: &[u8], max_inflated: usize) -> Result<Change, RejectReason> {
    fieldsync_core::doc::check_change_chunk(raw, max_inflated).map_err(|e| match e {
        fieldsync_core::Error::TooLarge { .. } => RejectReason::TooLarge,
        _ => RejectReason::Malformed,
    })?;
    // `try_from` copies the bytes once into the parsed change (`from_bytes` wants an
    // owned vector and then copies it again).
    guarded("parse change", || {
        Change::try_from(raw).map_err(|e| fieldsync_core::Error::Malformed(e.to_string()))
    })
    .map_err(|_| RejectReason::Malformed)
}

/// Group log entries by document (in order of first appearance) and collect actors.
pub fn group_entries(entries: Vec<crate::storage::LogEntry>) -> (Vec<DocChanges>, Vec<ActorInfo>) {
    let mut docs: Vec<DocChanges> = Vec::new();
    let mut at: HashMap<DocId, usize> = HashMap::new();
    let mut actors: Vec<ActorInfo> = Vec::new();
    let mut seen_actor: HashSet<Vec<u8>> = HashSet::new();
    for e in entries {
        if seen_actor.insert(e.actor.clone()) {
            actors.push(ActorInfo {
                actor: ByteBuf::from(e.actor.clone()),
                device: e.device.clone(),
                user: e.user.clone(),
            });
        }
        match at.get(&e.doc_id) {
            Some(&i) => docs[i].changes.push(ByteBuf::from(e.bytes)),
            None => {
                at.insert(e.doc_id, docs.len());
                docs.push(DocChanges {
                    id: *e.doc_id.as_bytes(),
                    kind: e.kind.code(),
                    scope: e.scope,
                    changes: vec![ByteBuf::from(e.bytes)],
                });
            }
        }
    }
    (docs, actors)
}
