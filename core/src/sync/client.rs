//! The device side of a sync exchange, sans I/O: messages in, messages out.
//!
//! One exchange: the device sends `Hello`, its unacknowledged changes in `Push` batches
//! and a `Pull` in its first flight; the server answers each. Everything the device needs
//! is in that first flight, so a reconnect costs one round trip after the handshake. The
//! session marks changes acknowledged only from a `PushAck`, applies pulled changes
//! before moving its cursors, and keeps refused changes on the device with their reason.
//! When the server says the cursors cannot be trusted, the session switches to repair:
//! heads per document, then Automerge's sync protocol for those that differ.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use automerge::ChangeHash;
use automerge::sync::State as SyncState;
use serde_bytes::ByteBuf;

use super::wire::*;
use crate::error::{Error, Result};
use crate::ids::{DocId, Kind, Scope};
use crate::store::Store;

/// Tuning of a session.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Target size of one push batch (change bytes).
    pub push_batch_bytes: usize,
    /// Push batches sent before the first ack arrives.
    pub push_window: usize,
    /// Largest pull batch asked for.
    pub pull_max_bytes: u32,
    /// Sync messages allowed per document during repair (Bloom-filter poisoning cap).
    pub repair_rounds: u32,
    /// Transport: a connection with no packet for this long is dead.
    pub idle_timeout: std::time::Duration,
    /// Transport: keep-alive interval while connected.
    pub keep_alive: std::time::Duration,
    /// Protocol versions offered by ALPN, most preferred first (docs/protocol.md,
    /// "Versions"); the server picks one.
    pub protocols: Vec<u16>,
    /// Transport: congestion control of the device's sending side (ADR 0019).
    pub congestion: Congestion,
}

/// Congestion control for what a device sends (pushes, blob uploads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Congestion {
    /// BBR (quinn's): paces to the measured bottleneck rate and does not halve its
    /// window on each random loss, which keeps a lossy 2G link full. The default.
    #[default]
    Bbr,
    /// CUBIC (RFC 9438), quinn's default: halves on loss; on 5% random loss it uses
    /// about half of a 256 kbit/s link.
    Cubic,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            push_batch_bytes: 256 << 10,
            push_window: 8,
            pull_max_bytes: 1 << 20,
            repair_rounds: 64,
            idle_timeout: std::time::Duration::from_secs(30),
            keep_alive: std::time::Duration::from_secs(5),
            protocols: vec![PROTOCOL_VERSION, PROTOCOL_V1],
            congestion: Congestion::Bbr,
        }
    }
}

/// What one exchange did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Changes sent.
    pub pushed: u64,
    /// Changes the server committed as new.
    pub accepted: u64,
    /// Changes the server already held.
    pub duplicates: u64,
    /// Changes refused, with the reason.
    pub rejected: Vec<(DocId, RejectReason)>,
    /// Changes received and new here.
    pub pulled: u64,
    /// Documents that received changes.
    pub docs_changed: Vec<DocId>,
    /// Documents reconciled by repair.
    pub repaired: u64,
    /// Documents whose pulled changes could not be applied (kept for repair).
    pub failed_docs: Vec<DocId>,
    /// The server said the device's scopes changed while connected (live).
    pub live_changed: bool,
}

#[derive(Debug, Default)]
struct DocRepair {
    state: SyncState,
    kind: u8,
    scope: String,
    sent_empty: bool,
    recv_empty: bool,
    rounds: u32,
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    Start,
    Running,
    Repairing,
    Finished,
}

/// One sync exchange of a device store with a server.
pub struct ClientSession {
    store: Store,
    cfg: ClientConfig,
    phase: Phase,
    next_batch: u32,
    last_seq: i64,
    pending_exhausted: bool,
    inflight: BTreeMap<u32, Vec<(DocId, ChangeHash)>>,
    pull_inflight: bool,
    pull_done: bool,
    epoch: WireId,
    welcome: Option<Welcome>,
    repairs: HashMap<DocId, DocRepair>,
    plan: Option<RepairPlan>,
    repair_for_docs: HashSet<DocId>,
    out: VecDeque<ClientMsg>,
    protocol: u16,
    bye_sent: bool,
    report: SyncReport,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    /// A session over `store` (which must be enrolled).
    pub fn new(store: Store, cfg: ClientConfig) -> Self {
        ClientSession {
            store,
            cfg,
            phase: Phase::Start,
            next_batch: 1,
            last_seq: 0,
            pending_exhausted: false,
            inflight: BTreeMap::new(),
            pull_inflight: false,
            pull_done: false,
            epoch: [0; 16],
            welcome: None,
            repairs: HashMap::new(),
            plan: None,
            repair_for_docs: HashSet::new(),
            out: VecDeque::new(),
            protocol: PROTOCOL_VERSION,
            bye_sent: false,
            report: SyncReport::default(),
        }
    }

    /// The session speaks protocol `version` (the one the connection negotiated; it
    /// goes into `Hello`). Default: [`PROTOCOL_VERSION`].
    pub fn with_protocol(mut self, version: u16) -> Self {
        self.protocol = version;
        self
    }

    /// The first flight: `Hello`, push batches up to the window, and a `Pull`.
    /// `exporter` is the TLS exporter value of this connection (see `sync::auth`).
    pub fn start(&mut self, exporter: &[u8]) -> Result<Vec<ClientMsg>> {
        if self.phase != Phase::Start {
            return Err(Error::Malformed("session already started".into()));
        }
        let ident = self
            .store
            .sync_identity()?
            .ok_or_else(|| Error::Malformed("device is not enrolled".into()))?;
        let key = self.store.device_key()?;
        self.out.push_back(ClientMsg::Hello(Hello {
            protocol: self.protocol,
            device_id: ident.device_id.clone(),
            replica: self.store.replica_id()?,
            proof: ByteBuf::from(key.prove(&ident.device_id, exporter)),
        }));
        self.phase = Phase::Running;
        self.fill_push_window()?;
        self.send_pull()?;
        Ok(self.drain())
    }

    /// Handle one server message; returns what to send next.
    pub fn handle(&mut self, msg: ServerMsg) -> Result<Vec<ClientMsg>> {
        match msg {
            ServerMsg::Welcome(w) => self.welcome = Some(w),
            ServerMsg::PushAck(a) => self.on_push_ack(a)?,
            ServerMsg::PullBatch(b) => self.on_pull_batch(b)?,
            ServerMsg::RepairNeeded(_) => self.start_repair(None)?,
            ServerMsg::RepairPlan(p) => self.on_repair_plan(p)?,
            ServerMsg::RepairSync(s) => self.on_repair_sync(s)?,
            ServerMsg::ScopesChanged(_) => self.report.live_changed = true,
            ServerMsg::Error(e) => {
                self.phase = Phase::Finished;
                return Err(match e.code {
                    ErrorCode::Unauthorized | ErrorCode::BadEnrolmentCode => {
                        Error::Unauthorized(e.message)
                    }
                    _ => Error::Remote(e.message),
                });
            }
            ServerMsg::Throttled(t) => {
                // Everything acknowledged so far is marked; the rest stays pending.
                self.phase = Phase::Finished;
                return Err(Error::Throttled {
                    limit: t.limit.as_str(),
                    retry_after_ms: u64::from(t.retry_after_ms),
                });
            }
            // The device does not wait for Done (docs/protocol.md, "One exchange").
            ServerMsg::Done => {}
            ServerMsg::Enrolled(_) => return Err(Error::Malformed("unexpected Enrolled".into())),
            ServerMsg::BlobStatus(_)
            | ServerMsg::BlobChunkAck(_)
            | ServerMsg::BlobInfo(_)
            | ServerMsg::BlobData(_)
            | ServerMsg::BlobRefused(_) => {
                return Err(Error::Malformed(
                    "blob message on an exchange stream".into(),
                ));
            }
        }
        self.maybe_finish();
        Ok(self.drain())
    }

    /// Everything sent was answered and the device said `Bye`.
    pub fn is_finished(&self) -> bool {
        self.bye_sent
    }

    /// The server's view of this device (after `Welcome`).
    pub fn welcome(&self) -> Option<&Welcome> {
        self.welcome.as_ref()
    }

    /// What the exchange did so far.
    pub fn report(&self) -> &SyncReport {
        &self.report
    }

    fn drain(&mut self) -> Vec<ClientMsg> {
        self.out.drain(..).collect()
    }

    fn fill_push_window(&mut self) -> Result<()> {
        while !self.pending_exhausted && self.inflight.len() < self.cfg.push_window {
            let pending = self.store.pending_changes(self.last_seq, 4096)?;
            if pending.is_empty() {
                self.pending_exhausted = true;
                break;
            }
            let mut docs: Vec<DocChanges> = Vec::new();
            let mut index: Vec<(DocId, ChangeHash)> = Vec::new();
            let mut bytes = 0usize;
            for p in pending {
                if bytes > 0 && bytes + p.bytes.len() > self.cfg.push_batch_bytes {
                    break;
                }
                if self.repair_for_docs.contains(&p.doc_id) {
                    // Waiting for repair of this document; offered again afterwards.
                    self.last_seq = p.seq;
                    continue;
                }
                bytes += p.bytes.len();
                self.last_seq = p.seq;
                index.push((p.doc_id, p.hash));
                match docs.last_mut() {
                    Some(d) if d.id == *p.doc_id.as_bytes() => {
                        d.changes.push(ByteBuf::from(p.bytes))
                    }
                    _ => docs.push(DocChanges {
                        id: *p.doc_id.as_bytes(),
                        kind: p.kind.code(),
                        scope: p.scope.as_str().to_string(),
                        changes: vec![ByteBuf::from(p.bytes)],
                    }),
                }
            }
            if index.is_empty() {
                continue;
            }
            let batch = self.next_batch;
            self.next_batch += 1;
            self.report.pushed += index.len() as u64;
            self.inflight.insert(batch, index);
            self.out.push_back(ClientMsg::Push(Push { batch, docs }));
        }
        Ok(())
    }

    fn send_pull(&mut self) -> Result<()> {
        let (epoch, cursors) = self.store.sync_cursors()?;
        self.epoch = epoch;
        self.pull_inflight = true;
        self.out.push_back(ClientMsg::Pull(Pull {
            epoch,
            cursors: cursors
                .into_iter()
                .map(|(scope, position)| Cursor {
                    scope: scope.as_str().to_string(),
                    position,
                })
                .collect(),
            max_bytes: self.cfg.pull_max_bytes,
        }));
        Ok(())
    }

    fn on_push_ack(&mut self, a: PushAck) -> Result<()> {
        let Some(index) = self.inflight.remove(&a.batch) else {
            return Err(Error::Malformed(format!(
                "ack of unknown batch {}",
                a.batch
            )));
        };
        let mut refused: HashSet<usize> = HashSet::new();
        for r in &a.rejected {
            let i = r.index as usize;
            let Some((doc, hash)) = index.get(i) else {
                return Err(Error::Malformed("rejection index out of range".into()));
            };
            refused.insert(i);
            self.report.rejected.push((*doc, r.reason));
            if r.reason == RejectReason::MissingDeps {
                // Not a refusal of the content: the server lacks history. Repair it.
                self.repair_for_docs.insert(*doc);
            } else {
                self.store.mark_rejected(*doc, hash, r.reason.as_str())?;
            }
        }
        let acked: Vec<(DocId, ChangeHash)> = index
            .iter()
            .enumerate()
            .filter(|(i, _)| !refused.contains(i))
            .map(|(_, c)| *c)
            .collect();
        self.store.mark_acked(&acked)?;
        self.report.accepted += u64::from(a.accepted);
        self.report.duplicates += u64::from(a.duplicates);
        if self.phase == Phase::Running {
            self.fill_push_window()?;
        }
        if self.inflight.is_empty()
            && self.pending_exhausted
            && !self.repair_for_docs.is_empty()
            && self.phase == Phase::Running
        {
            let docs: Vec<DocId> = self.repair_for_docs.iter().copied().collect();
            self.start_repair(Some(docs))?;
        }
        Ok(())
    }

    fn apply_docs(&mut self, docs: Vec<DocChanges>, actors: Vec<ActorInfo>) -> Result<()> {
        let actors: Vec<(automerge::ActorId, String, String)> = actors
            .into_iter()
            .map(|a| {
                (
                    automerge::ActorId::from(a.actor.as_slice()),
                    a.device,
                    a.user,
                )
            })
            .collect();
        self.store.record_actors(&actors)?;
        let mut batch = Vec::with_capacity(docs.len());
        for d in docs {
            batch.push(crate::store::Incoming {
                id: DocId::from_bytes(d.id),
                kind: Kind::from_code(d.kind).ok_or_else(|| Error::Malformed("kind".into()))?,
                scope: Scope::new(d.scope)?,
                changes: d.changes.into_iter().map(ByteBuf::into_vec).collect(),
            });
        }
        let ids: Vec<DocId> = batch.iter().map(|d| d.id).collect();
        // One transaction for the batch; a storage failure fails the exchange (the
        // cursors do not move, the batch is pulled again), a bad document is recorded.
        for (id, r) in ids.into_iter().zip(self.store.apply_batch(batch, true)?) {
            match r {
                Ok(o) => {
                    self.report.pulled += o.new_changes as u64;
                    if o.new_changes > 0 {
                        self.report.docs_changed.push(id);
                    }
                }
                Err(e) => {
                    tracing::warn!(doc = %id, error = %e, "pulled changes could not be applied");
                    self.report.failed_docs.push(id);
                }
            }
        }
        Ok(())
    }

    fn on_pull_batch(&mut self, b: PullBatch) -> Result<()> {
        self.apply_docs(b.docs, b.actors)?;
        // Cursors belong to the epoch the server is in now (from Welcome).
        let epoch = self.welcome.as_ref().map_or(self.epoch, |w| w.epoch);
        let cursors: Vec<(Scope, u64)> = b
            .cursors
            .into_iter()
            .map(|c| Ok((Scope::new(c.scope)?, c.position)))
            .collect::<Result<_>>()?;
        self.store.set_sync_cursors(epoch, &cursors)?;
        self.epoch = epoch;
        self.pull_inflight = false;
        if b.more {
            self.send_pull()?;
        } else {
            self.pull_done = true;
        }
        Ok(())
    }

    /// Switch to repair: send heads of `only` (or of every document), in pages.
    fn start_repair(&mut self, only: Option<Vec<DocId>>) -> Result<()> {
        self.phase = Phase::Repairing;
        let heads = self.store.all_heads()?;
        let docs: Vec<DocHeads> = heads
            .into_iter()
            .filter(|(id, ..)| only.as_ref().is_none_or(|o| o.contains(id)))
            .map(|(id, kind, scope, heads)| DocHeads {
                id: *id.as_bytes(),
                kind: kind.code(),
                scope: scope.as_str().to_string(),
                heads: heads.iter().map(|h| h.0).collect(),
            })
            .collect();
        let pages: Vec<Vec<DocHeads>> = docs.chunks(2048).map(<[DocHeads]>::to_vec).collect();
        if pages.is_empty() {
            self.out.push_back(ClientMsg::RepairHeads(RepairHeads {
                docs: Vec::new(),
                last: true,
            }));
        }
        let n = pages.len();
        for (i, page) in pages.into_iter().enumerate() {
            self.out.push_back(ClientMsg::RepairHeads(RepairHeads {
                docs: page,
                last: i + 1 == n,
            }));
        }
        Ok(())
    }

    fn on_repair_plan(&mut self, p: RepairPlan) -> Result<()> {
        self.phase = Phase::Repairing;
        let known: HashMap<DocId, (Kind, Scope)> = self
            .store
            .all_heads()?
            .into_iter()
            .map(|(id, k, s, _)| (id, (k, s)))
            .collect();
        for raw in &p.reconcile {
            let id = DocId::from_bytes(*raw);
            let mut r = DocRepair::default();
            if let Some((k, s)) = known.get(&id) {
                r.kind = k.code();
                r.scope = s.as_str().to_string();
            }
            let first = self.store.sync_generate(id, &mut r.state)?;
            r.rounds = 1;
            self.out.push_back(ClientMsg::RepairSync(DocSync {
                id: *raw,
                kind: r.kind,
                scope: r.scope.clone(),
                message: ByteBuf::from(first.unwrap_or_default()),
            }));
            self.repairs.insert(id, r);
        }
        self.plan = Some(p);
        self.maybe_end_repair()
    }

    fn on_repair_sync(&mut self, s: DocSync) -> Result<()> {
        let id = DocId::from_bytes(s.id);
        let rounds_cap = self.cfg.repair_rounds;
        let r = self.repairs.get_mut(&id).ok_or_else(|| {
            Error::Malformed("sync message for a document not under repair".into())
        })?;
        if r.kind == 0 {
            r.kind = s.kind;
            r.scope = s.scope.clone();
        }
        if s.message.is_empty() {
            r.recv_empty = true;
        } else {
            r.recv_empty = false;
            let kind = Kind::from_code(s.kind).ok_or_else(|| Error::Malformed("kind".into()))?;
            let scope = Scope::new(s.scope)?;
            self.store
                .sync_receive(id, kind, &scope, &mut r.state, &s.message, true)?;
        }
        r.rounds += 1;
        if r.rounds > rounds_cap {
            return Err(Error::Malformed(format!("repair of {id} did not converge")));
        }
        let next = if self.store.info(id).is_ok() || r.state.their_heads.is_some() {
            self.store.sync_generate(id, &mut r.state)?
        } else {
            None
        };
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
        if let Some(m) = reply {
            self.out.push_back(ClientMsg::RepairSync(DocSync {
                id: s.id,
                kind: r.kind,
                scope: r.scope.clone(),
                message: ByteBuf::from(m),
            }));
        }
        self.maybe_end_repair()
    }

    fn maybe_end_repair(&mut self) -> Result<()> {
        if self.phase != Phase::Repairing || self.plan.is_none() {
            return Ok(());
        }
        if self
            .repairs
            .values()
            .any(|r| !(r.sent_empty && r.recv_empty))
        {
            return Ok(());
        }
        let Some(plan) = self.plan.take() else {
            return Ok(());
        };
        self.report.repaired += self.repairs.len() as u64;
        self.repairs.clear();
        let cursors: Vec<(Scope, u64)> = plan
            .cursors
            .into_iter()
            .map(|c| Ok((Scope::new(c.scope)?, c.position)))
            .collect::<Result<_>>()?;
        if !cursors.is_empty() || plan.epoch != [0; 16] {
            self.store.reset_sync_cursors(plan.epoch, &cursors)?;
        }
        // Changes held back for repair are offered again.
        self.repair_for_docs.clear();
        self.pending_exhausted = false;
        self.last_seq = 0;
        self.phase = Phase::Running;
        self.fill_push_window()?;
        self.pull_done = false;
        self.send_pull()
    }

    fn maybe_finish(&mut self) {
        if self.phase == Phase::Running
            && !self.bye_sent
            && self.inflight.is_empty()
            && self.pending_exhausted
            && self.pull_done
            && !self.pull_inflight
            && self.repair_for_docs.is_empty()
        {
            self.out.push_back(ClientMsg::Bye);
            self.bye_sent = true;
            self.phase = Phase::Finished;
        }
    }
}
