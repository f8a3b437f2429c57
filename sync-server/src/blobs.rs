//! The server side of blob streams (docs/protocol.md, "Blobs"): uploads checked chunk
//! by chunk and as a whole, resumable at the first missing chunk; downloads authorised
//! by the documents that reference the blob. A blob stream is a bidirectional stream
//! whose first message is a blob message, opened after an exchange authenticated the
//! connection; the server sends on it at a lower priority than on exchange streams, so
//! documents never wait behind a photo.
//!
//! **Fetch authorisation.** A device may fetch a blob only if its tenant holds the blob
//! and the device's user may read a document that references it: the merged view's
//! `blob_refs` projection names the candidate documents, and the log's own record of
//! each document (tenant and scope, never the document content) decides. Without a
//! merged view every fetch is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fieldsync_core::store::Store;
use fieldsync_core::store::blobs::{chunk_count, sha256};
use fieldsync_core::sync::quic::{read_msg, write_msgs};
use fieldsync_core::sync::wire::blob::{check_chunk, check_offer};
use fieldsync_core::sync::wire::{
    BlobChunk, BlobChunkAck, BlobGet, BlobInfo, BlobOffer, BlobRefusal, BlobRefused, BlobStatus,
    ChunkResult, ClientMsg, ServerMsg,
};
use serde_bytes::ByteBuf;

use crate::blobstore::{BlobStore, Hash};
use crate::session::{Peer, SessionError};
use crate::storage::Backend;

/// Priority of blob streams (exchange streams have quinn's default, 0).
pub const BLOB_PRIORITY: i32 = -1;

/// Counters of what blob streams did (operators, tests, benchmarks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobStats {
    /// Chunk frames received (upload), valid or not.
    pub chunks_received: u64,
    /// Chunks received that the server already had (sent twice).
    pub duplicate_chunks: u64,
    /// Chunks whose bytes did not match their offered hash (re-requested).
    pub corrupt_chunks: u64,
    /// Chunks refused because an earlier one was missing.
    pub out_of_order_chunks: u64,
    /// Uploads verified and stored.
    pub uploads_completed: u64,
    /// Offers answered "already held".
    pub already_held: u64,
    /// Chunks sent (download).
    pub chunks_sent: u64,
    /// Fetches refused (not readable, unknown).
    pub fetches_refused: u64,
    /// Times each (blob, chunk) arrived, for "no chunk sent twice" checks.
    pub arrivals: HashMap<(Hash, u32), u32>,
}

/// Everything a blob stream needs.
pub struct BlobService {
    storage: Arc<dyn Backend>,
    bytes: Arc<dyn BlobStore>,
    merged: Option<Store>,
    stats: Mutex<BlobStats>,
}

impl std::fmt::Debug for BlobService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobService").finish_non_exhaustive()
    }
}

/// The upload a stream is in the middle of.
struct Upload {
    offer: BlobOffer,
    next: u32,
}

fn refused(hash: Hash, reason: BlobRefusal) -> ServerMsg {
    ServerMsg::BlobRefused(BlobRefused { hash, reason })
}

fn io(e: std::io::Error) -> SessionError {
    SessionError::Storage(crate::storage::StorageError::Io(e))
}

impl BlobService {
    /// A service over the server's storage, blob bytes and merged view.
    pub fn new(
        storage: Arc<dyn Backend>,
        bytes: Arc<dyn BlobStore>,
        merged: Option<Store>,
    ) -> Self {
        BlobService {
            storage,
            bytes,
            merged,
            stats: Mutex::new(BlobStats::default()),
        }
    }

    /// A copy of the counters.
    pub fn stats(&self) -> BlobStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn count(&self, f: impl FnOnce(&mut BlobStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn on_offer(
        &self,
        peer: &Peer,
        o: BlobOffer,
        upload: &mut Option<Upload>,
    ) -> Result<ServerMsg, SessionError> {
        if let Err(r) = check_offer(&o) {
            return Ok(refused(o.hash, r));
        }
        if self.storage.blob_held(&peer.tenant, &o.hash)?.is_some() {
            self.count(|s| s.already_held += 1);
            *upload = None;
            return Ok(ServerMsg::BlobStatus(BlobStatus {
                hash: o.hash,
                held: true,
                next_chunk: chunk_count(o.size),
            }));
        }
        let next = self
            .bytes
            .begin_upload(&peer.tenant, &o.hash, o.size, &o.chunk_hashes)
            .map_err(io)?;
        if next == chunk_count(o.size) {
            // Every chunk is here (an empty blob, or an upload whose last ack was lost).
            return self.finish(peer, o, upload).map(|m| match m {
                ServerMsg::BlobChunkAck(a) => ServerMsg::BlobStatus(BlobStatus {
                    hash: a.hash,
                    held: true,
                    next_chunk: next,
                }),
                other => other,
            });
        }
        let hash = o.hash;
        *upload = Some(Upload { offer: o, next });
        Ok(ServerMsg::BlobStatus(BlobStatus {
            hash,
            held: false,
            next_chunk: next,
        }))
    }

    fn finish(
        &self,
        peer: &Peer,
        o: BlobOffer,
        upload: &mut Option<Upload>,
    ) -> Result<ServerMsg, SessionError> {
        *upload = None;
        let ok = self
            .bytes
            .finish_upload(&peer.tenant, &o.hash, o.size, &o.chunk_hashes)
            .map_err(io)?;
        if !ok {
            return Ok(refused(o.hash, BlobRefusal::HashMismatch));
        }
        self.storage
            .record_blob(&peer.tenant, &o.hash, o.size, &peer.device_id)?;
        self.count(|s| s.uploads_completed += 1);
        let last = chunk_count(o.size).saturating_sub(1);
        Ok(ServerMsg::BlobChunkAck(BlobChunkAck {
            hash: o.hash,
            index: last,
            result: ChunkResult::Complete,
        }))
    }

    fn on_chunk(
        &self,
        peer: &Peer,
        c: BlobChunk,
        upload: &mut Option<Upload>,
    ) -> Result<ServerMsg, SessionError> {
        self.count(|s| {
            s.chunks_received += 1;
            *s.arrivals.entry((c.hash, c.index)).or_default() += 1;
        });
        let Some(u) = upload.as_mut().filter(|u| u.offer.hash == c.hash) else {
            return Ok(refused(c.hash, BlobRefusal::Malformed));
        };
        if let Err(r) = check_chunk(u.offer.size, &c) {
            return Ok(refused(c.hash, r));
        }
        let ack = |result| {
            Ok(ServerMsg::BlobChunkAck(BlobChunkAck {
                hash: c.hash,
                index: c.index,
                result,
            }))
        };
        if c.index < u.next {
            self.count(|s| s.duplicate_chunks += 1);
            return ack(ChunkResult::Stored);
        }
        if c.index > u.next {
            self.count(|s| s.out_of_order_chunks += 1);
            return ack(ChunkResult::OutOfOrder);
        }
        if sha256(&c.bytes) != u.offer.chunk_hashes[c.index as usize] {
            self.count(|s| s.corrupt_chunks += 1);
            return ack(ChunkResult::Corrupt);
        }
        self.bytes
            .put_chunk(&peer.tenant, &c.hash, c.index, &c.bytes)
            .map_err(io)?;
        u.next += 1;
        if u.next == chunk_count(u.offer.size) {
            let offer = u.offer.clone();
            return self.finish(peer, offer, upload);
        }
        ack(ChunkResult::Stored)
    }

    /// May `peer` read a document that references `hash`?
    fn may_fetch(&self, peer: &Peer, hash: &Hash) -> Result<bool, SessionError> {
        let Some(merged) = &self.merged else {
            return Ok(false);
        };
        let referrers = merged
            .blob_referrers(hash)
            .map_err(|e| SessionError::Storage(crate::storage::StorageError::Core(e)))?;
        for (doc, _) in referrers {
            // The log's record of the document (its tenant and scope) decides, not
            // the merged view's copy.
            if let Some(meta) = self.storage.doc_meta(&peer.tenant, doc)?
                && peer.readable.contains(&meta.scope)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn on_get(
        &self,
        peer: &Peer,
        g: &BlobGet,
    ) -> Result<Result<BlobInfo, ServerMsg>, SessionError> {
        let refuse = |r| {
            self.count(|s| s.fetches_refused += 1);
            Ok(Err(refused(g.hash, r)))
        };
        let Some(size) = self.storage.blob_held(&peer.tenant, &g.hash)? else {
            return refuse(BlobRefusal::NotFound);
        };
        if !self.may_fetch(peer, &g.hash)? {
            return refuse(BlobRefusal::Forbidden);
        }
        let Some(chunk_hashes) = self.bytes.chunk_hashes(&g.hash).map_err(io)? else {
            return refuse(BlobRefusal::NotFound);
        };
        if g.from_chunk > chunk_count(size) {
            return refuse(BlobRefusal::Malformed);
        }
        Ok(Ok(BlobInfo {
            hash: g.hash,
            size,
            chunk_hashes,
        }))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SessionError> + Send + 'static,
) -> Result<T, SessionError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| SessionError::Protocol("blob task failed".into()))?
}

/// Serve a blob stream whose first message is `first`, for an authenticated `peer`.
/// Requests are handled one after the other until the device finishes the stream.
pub async fn serve(
    svc: Arc<BlobService>,
    peer: Peer,
    first: ClientMsg,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    version: u16,
) -> Result<(), SessionError> {
    let _ = send.set_priority(BLOB_PRIORITY);
    let peer = Arc::new(peer);
    let mut upload: Option<Upload> = None;
    let mut next = Some(first);
    loop {
        let msg = match next.take() {
            Some(m) => m,
            None => match read_msg::<ClientMsg>(&mut recv, version).await {
                Ok(Some((m, _))) => m,
                Ok(None) => break,
                Err(e) => return Err(SessionError::Protocol(e.to_string())),
            },
        };
        let (s, p) = (svc.clone(), peer.clone());
        match msg {
            ClientMsg::BlobOffer(o) => {
                let mut u = upload.take();
                let (reply, u) = blocking(move || {
                    let r = s.on_offer(&p, o, &mut u)?;
                    Ok((r, u))
                })
                .await?;
                upload = u;
                write(&mut send, version, reply).await?;
            }
            ClientMsg::BlobChunk(c) => {
                let mut u = upload.take();
                let (reply, u) = blocking(move || {
                    let r = s.on_chunk(&p, c, &mut u)?;
                    Ok((r, u))
                })
                .await?;
                upload = u;
                write(&mut send, version, reply).await?;
            }
            ClientMsg::BlobGet(g) => {
                let g2 = g.clone();
                let info = blocking(move || s.on_get(&p, &g2)).await?;
                let info = match info {
                    Ok(i) => i,
                    Err(refusal) => {
                        write(&mut send, version, refusal).await?;
                        continue;
                    }
                };
                let (size, total) = (info.size, chunk_count(info.size));
                write(&mut send, version, ServerMsg::BlobInfo(info)).await?;
                for index in g.from_chunk..total {
                    let s = svc.clone();
                    let hash = g.hash;
                    let bytes =
                        blocking(move || s.bytes.read_chunk(&hash, size, index).map_err(io))
                            .await?;
                    write(
                        &mut send,
                        version,
                        ServerMsg::BlobData(BlobChunk {
                            hash,
                            index,
                            bytes: ByteBuf::from(bytes),
                        }),
                    )
                    .await?;
                    svc.count(|s| s.chunks_sent += 1);
                }
            }
            _ => {
                return Err(SessionError::Protocol(
                    "only blob messages on a blob stream".into(),
                ));
            }
        }
    }
    let _ = send.finish();
    Ok(())
}

async fn write(
    send: &mut quinn::SendStream,
    version: u16,
    msg: ServerMsg,
) -> Result<(), SessionError> {
    write_msgs(send, version, &[msg])
        .await
        .map(|_| ())
        .map_err(|e| SessionError::Protocol(e.to_string()))
}
