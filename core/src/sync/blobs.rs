//! The device side of blob streams (docs/protocol.md, "Blobs"): upload of local blobs
//! the server does not hold, download of referenced blobs, each on its own QUIC stream
//! at a lower priority than document exchanges, in 256 KiB chunks, each acknowledged.
//!
//! Resumption needs no extra state: an upload asks the server where it stands
//! (`BlobOffer` -> `BlobStatus { next_chunk }`) and sends from the first chunk it
//! lacks; a download asks from the first chunk the device store lacks
//! (`BlobState::have_chunks`, on disk). So an interrupted transfer continues on a new
//! connection, after an app restart, without re-sending what arrived. Store work runs on
//! blocking threads; the runtime's workers keep driving QUIC.

use std::sync::Arc;

use serde_bytes::ByteBuf;

use super::quic::{negotiated_version, read_msg, write_msgs};
use super::wire::blob::check_info;
use super::wire::{BlobChunk, BlobGet, BlobOffer, BlobRefused, ChunkResult, ClientMsg, ServerMsg};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::blobs::{BlobHash, chunk_count};

/// Priority of blob streams: below exchange streams (quinn's default, 0), so a document
/// exchange's data goes out before any queued chunk.
pub const BLOB_PRIORITY: i32 = -1;

/// Chunks an upload keeps in flight (sent, not yet acknowledged). Two keep the link busy
/// while an acknowledgement travels back; at most these are re-sent after a kill.
pub const UPLOAD_WINDOW: usize = 2;

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Device to server.
    Upload,
    /// Server to device.
    Download,
}

/// Progress of one transfer, reported after every chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobProgress {
    /// The blob.
    pub hash: BlobHash,
    /// Which way.
    pub direction: Direction,
    /// Chunks done (acknowledged by the server, or stored here).
    pub chunks_done: u32,
    /// Chunks in all.
    pub chunks_total: u32,
    /// Size of the blob.
    pub size: u64,
}

/// Told about transfer progress (called on a runtime thread: return quickly).
pub trait BlobObserver: Send + Sync {
    /// One more chunk moved.
    fn on_progress(&self, p: &BlobProgress);
}

/// What a run of transfers did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferReport {
    /// Blobs the server now holds because of this run.
    pub uploaded: u32,
    /// Blobs the server already held (nothing sent).
    pub already_held: u32,
    /// Blobs downloaded and verified.
    pub downloaded: u32,
    /// Chunk frames written (upload), re-sends included.
    pub chunks_sent: u64,
    /// Chunk bytes written (upload), re-sends included.
    pub chunk_bytes_sent: u64,
    /// Chunks the server reported corrupt and that were sent again.
    pub chunks_resent: u64,
    /// Chunks received (download).
    pub chunks_received: u64,
}

fn refused(r: BlobRefused) -> Error {
    Error::BlobRefused {
        hash: hex::encode(r.hash),
        reason: r.reason.as_str().to_string(),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Network(format!("blob task failed: {e}")))?
}

/// A blob stream on `conn`: a new bidirectional stream at [`BLOB_PRIORITY`]. The
/// connection must already be authenticated by an exchange (`Hello`).
pub struct BlobStream {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    version: u16,
}

impl BlobStream {
    /// Open a blob stream.
    pub async fn open(conn: &quinn::Connection) -> Result<Self> {
        let version = negotiated_version(conn)?;
        let (send, recv) = conn
            .open_bi()
            .await
            .map_err(|e| Error::Network(e.to_string()))?;
        send.set_priority(BLOB_PRIORITY)
            .map_err(|e| Error::Network(e.to_string()))?;
        Ok(BlobStream {
            send,
            recv,
            version,
        })
    }

    async fn send(&mut self, m: ClientMsg) -> Result<()> {
        write_msgs(&mut self.send, self.version, &[m])
            .await
            .map(|_| ())
    }

    async fn recv(&mut self) -> Result<ServerMsg> {
        match read_msg::<ServerMsg>(&mut self.recv, self.version).await? {
            Some((m, _)) => Ok(m),
            None => Err(Error::Network("server closed the blob stream".into())),
        }
    }

    /// Finish the stream.
    pub fn finish(mut self) {
        let _ = self.send.finish();
    }

    /// Upload one local blob (or learn that the server holds it). Resumes where the
    /// server stands.
    pub async fn upload(
        &mut self,
        store: &Store,
        hash: BlobHash,
        observer: Option<&Arc<dyn BlobObserver>>,
        report: &mut TransferReport,
    ) -> Result<()> {
        let (st, chunk_hashes) = {
            let s = store.clone();
            blocking(move || {
                let st = s.blob_state(&hash)?.ok_or_else(|| Error::BlobMissing {
                    hash: hex::encode(hash),
                })?;
                Ok((st, s.blob_chunk_hashes(&hash)?))
            })
            .await?
        };
        let total = chunk_count(st.size);
        self.send(ClientMsg::BlobOffer(BlobOffer {
            hash,
            size: st.size,
            chunk_hashes,
        }))
        .await?;
        let status = match self.recv().await? {
            ServerMsg::BlobStatus(s) if s.hash == hash => s,
            ServerMsg::BlobRefused(r) => return Err(refused(r)),
            _ => return Err(Error::Malformed("unexpected reply to a blob offer".into())),
        };
        let progress = |done: u32| {
            if let Some(o) = observer {
                o.on_progress(&BlobProgress {
                    hash,
                    direction: Direction::Upload,
                    chunks_done: done,
                    chunks_total: total,
                    size: st.size,
                });
            }
        };
        if status.held {
            let s = store.clone();
            blocking(move || s.set_blob_on_server(&hash)).await?;
            report.already_held += 1;
            progress(total);
            return Ok(());
        }
        let mut next_send = status.next_chunk.min(total);
        let mut acked = next_send;
        let mut inflight = 0usize;
        loop {
            while inflight < UPLOAD_WINDOW && next_send < total {
                let s = store.clone();
                let idx = next_send;
                let bytes = blocking(move || s.blob_chunk(&hash, idx)).await?;
                report.chunks_sent += 1;
                report.chunk_bytes_sent += bytes.len() as u64;
                self.send(ClientMsg::BlobChunk(BlobChunk {
                    hash,
                    index: idx,
                    bytes: ByteBuf::from(bytes),
                }))
                .await?;
                next_send += 1;
                inflight += 1;
            }
            let ack = match self.recv().await? {
                ServerMsg::BlobChunkAck(a) if a.hash == hash => a,
                ServerMsg::BlobRefused(r) => return Err(refused(r)),
                _ => return Err(Error::Malformed("unexpected reply to a blob chunk".into())),
            };
            inflight = inflight.saturating_sub(1);
            match ack.result {
                ChunkResult::Stored => {
                    if ack.index + 1 > acked {
                        acked = ack.index + 1;
                        let s = store.clone();
                        blocking(move || s.set_blob_sent(&hash, acked)).await?;
                        progress(acked);
                    }
                }
                ChunkResult::Corrupt => {
                    // The server re-requests this chunk: send it (and what follows) again.
                    report.chunks_resent += 1;
                    next_send = next_send.min(ack.index);
                }
                ChunkResult::OutOfOrder => next_send = next_send.min(ack.index),
                ChunkResult::Complete => {
                    let s = store.clone();
                    blocking(move || s.set_blob_on_server(&hash)).await?;
                    report.uploaded += 1;
                    progress(total);
                    return Ok(());
                }
            }
            if inflight == 0 && next_send >= total && acked >= total {
                return Err(Error::Malformed("upload ended without completion".into()));
            }
        }
    }

    /// Download one blob into the store, resuming at the first chunk it lacks; checks
    /// every chunk against the server's chunk hashes and the whole against the hash.
    pub async fn download(
        &mut self,
        store: &Store,
        hash: BlobHash,
        observer: Option<&Arc<dyn BlobObserver>>,
        report: &mut TransferReport,
    ) -> Result<()> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let from = {
                let s = store.clone();
                blocking(move || Ok(s.blob_state(&hash)?.map_or(0, |b| b.have_chunks))).await?
            };
            self.send(ClientMsg::BlobGet(BlobGet {
                hash,
                from_chunk: from,
            }))
            .await?;
            let info = match self.recv().await? {
                ServerMsg::BlobInfo(i) if i.hash == hash => i,
                ServerMsg::BlobRefused(r) => return Err(refused(r)),
                _ => {
                    return Err(Error::Malformed(
                        "unexpected reply to a blob request".into(),
                    ));
                }
            };
            if check_info(&info).is_err() {
                return Err(Error::Malformed("blob announcement does not add up".into()));
            }
            let total = chunk_count(info.size);
            let st = {
                let (s, size) = (store.clone(), info.size);
                blocking(move || s.begin_download(&hash, size)).await?
            };
            let mut corrupt = false;
            let mut have = st.have_chunks;
            let mut index = from;
            while index < total {
                let c = match self.recv().await? {
                    ServerMsg::BlobData(c) if c.hash == hash && c.index == index => c,
                    _ => return Err(Error::Malformed("unexpected blob data".into())),
                };
                index += 1;
                report.chunks_received += 1;
                if corrupt || c.index != have {
                    continue;
                }
                let s = store.clone();
                let expected = info.chunk_hashes[c.index as usize];
                let r =
                    blocking(move || s.put_downloaded_chunk(&hash, c.index, &c.bytes, &expected))
                        .await;
                match r {
                    Ok(()) => {
                        have += 1;
                        if let Some(o) = observer {
                            o.on_progress(&BlobProgress {
                                hash,
                                direction: Direction::Download,
                                chunks_done: have,
                                chunks_total: total,
                                size: info.size,
                            });
                        }
                    }
                    Err(Error::BlobCorrupt { .. }) => corrupt = true,
                    Err(e) => return Err(e),
                }
            }
            if !corrupt && have == total {
                let s = store.clone();
                match blocking(move || s.finish_download(&hash)).await {
                    Ok(()) => {
                        report.downloaded += 1;
                        return Ok(());
                    }
                    Err(e @ Error::BlobCorrupt { .. }) if attempts >= 3 => return Err(e),
                    Err(Error::BlobCorrupt { .. }) => {}
                    Err(e) => return Err(e),
                }
            } else if attempts >= 3 {
                return Err(Error::BlobCorrupt {
                    hash: hex::encode(hash),
                    detail: "chunks kept arriving damaged",
                });
            }
            // Re-request from the first chunk the store lacks.
        }
    }
}

/// Upload every local blob the server does not hold yet, oldest first, on one blob
/// stream. A refused blob stops the run with its error; what was acknowledged stays.
pub async fn upload_pending(
    conn: &quinn::Connection,
    store: &Store,
    observer: Option<Arc<dyn BlobObserver>>,
) -> Result<TransferReport> {
    let pending = {
        let s = store.clone();
        blocking(move || s.blobs_to_upload()).await?
    };
    let mut report = TransferReport::default();
    if pending.is_empty() {
        return Ok(report);
    }
    let mut stream = BlobStream::open(conn).await?;
    for b in pending {
        stream
            .upload(store, b.hash, observer.as_ref(), &mut report)
            .await?;
    }
    stream.finish();
    Ok(report)
}

/// Download `hashes` (those not complete here) on one blob stream.
pub async fn download_blobs(
    conn: &quinn::Connection,
    store: &Store,
    hashes: &[BlobHash],
    observer: Option<Arc<dyn BlobObserver>>,
) -> Result<TransferReport> {
    let mut report = TransferReport::default();
    let mut stream: Option<BlobStream> = None;
    for h in hashes {
        let done = {
            let (s, h) = (store.clone(), *h);
            blocking(move || Ok(s.blob_state(&h)?.is_some_and(|b| b.complete))).await?
        };
        if done {
            continue;
        }
        if stream.is_none() {
            stream = Some(BlobStream::open(conn).await?);
        }
        if let Some(st) = stream.as_mut() {
            st.download(store, *h, observer.as_ref(), &mut report)
                .await?;
        }
    }
    if let Some(s) = stream {
        s.finish();
    }
    Ok(report)
}
