//! Blob transfers of the sync agent: fetch one blob (lazily, when the app opens a
//! document that references it), transfer everything now, and in background mode a
//! transfer task per connection that uploads local blobs the server lacks and downloads
//! the blobs of the scopes configured for eager download — on its own low-priority
//! stream, so exchanges never wait for it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Shared, SyncAgent, connect, lock};
use crate::error::Result;
use crate::ids::{DocId, Scope};
use crate::store::blobs::BlobHash;
use crate::sync::blobs::{self as transfer, BlobObserver, TransferReport};
use crate::sync::quic;

impl SyncAgent {
    /// Be told about the progress of every blob transfer.
    pub fn set_blob_observer(&self, o: Option<Arc<dyn BlobObserver>>) {
        *lock(&self.shared.blob_observer) = o;
    }

    /// Scopes whose referenced blobs are downloaded as soon as they are known (background
    /// mode and [`SyncAgent::transfer_blobs_now`]); other blobs are fetched on demand.
    pub fn set_eager_blob_scopes(&self, scopes: Vec<Scope>) {
        *lock(&self.shared.eager_scopes) = scopes;
    }

    /// Fetch one blob now (connect, authenticate with an exchange, download), resuming
    /// a download an earlier attempt left unfinished. Already here: returns at once.
    pub fn fetch_blob(&self, hash: BlobHash) -> Result<TransferReport> {
        if self
            .shared
            .store
            .blob_state(&hash)?
            .is_some_and(|b| b.complete)
        {
            return Ok(TransferReport::default());
        }
        let s = self.shared.clone();
        self.rt
            .block_on(async move { with_connection(&s, |c, s| fetch(c, s, vec![hash])).await })
    }

    /// Fetch every blob document `id` references that is not here yet (what opening
    /// the document in the app calls).
    pub fn fetch_document_blobs(&self, id: DocId) -> Result<TransferReport> {
        let missing: Vec<BlobHash> = self
            .shared
            .store
            .missing_blobs(id)?
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        if missing.is_empty() {
            return Ok(TransferReport::default());
        }
        let s = self.shared.clone();
        self.rt
            .block_on(async move { with_connection(&s, |c, s| fetch(c, s, missing)).await })
    }

    /// Upload every local blob the server lacks and download the eager scopes' blobs,
    /// now.
    pub fn transfer_blobs_now(&self) -> Result<TransferReport> {
        let s = self.shared.clone();
        self.rt
            .block_on(async move { with_connection(&s, transfers).await })
    }
}

/// Connect, authenticate the connection with one exchange, run `f`, close.
async fn with_connection<F, Fut>(s: &Arc<Shared>, f: F) -> Result<TransferReport>
where
    F: FnOnce(quinn::Connection, Arc<Shared>) -> Fut,
    Fut: std::future::Future<Output = Result<TransferReport>>,
{
    let cfg = lock(&s.cfg).clone();
    let addr = *lock(&s.address_override);
    let conn = connect(s, &cfg, addr).await?;
    let r = quic::run_exchange(&conn, &s.store, cfg).await;
    super::record(s, &r);
    if let Err(e) = r {
        conn.close(0u32.into(), b"done");
        return Err(e);
    }
    let out = f(conn.clone(), s.clone()).await;
    conn.close(0u32.into(), b"done");
    out
}

async fn fetch(
    conn: quinn::Connection,
    s: Arc<Shared>,
    hashes: Vec<BlobHash>,
) -> Result<TransferReport> {
    let obs = lock(&s.blob_observer).clone();
    transfer::download_blobs(&conn, &s.store, &hashes, obs).await
}

async fn transfers(conn: quinn::Connection, s: Arc<Shared>) -> Result<TransferReport> {
    let obs = lock(&s.blob_observer).clone();
    let mut report = transfer::upload_pending(&conn, &s.store, obs.clone()).await?;
    let scopes = lock(&s.eager_scopes).clone();
    let mut wanted = Vec::new();
    for sc in &scopes {
        wanted.extend(
            s.store
                .missing_blobs_in_scope(sc)?
                .into_iter()
                .map(|(h, _)| h),
        );
    }
    if !wanted.is_empty() {
        let d = transfer::download_blobs(&conn, &s.store, &wanted, obs).await?;
        report.downloaded += d.downloaded;
        report.chunks_received += d.chunks_received;
    }
    Ok(report)
}

/// Background mode: after an exchange, start a transfer task on this connection unless
/// one runs. Its errors are recorded; the next exchange starts another.
pub(super) fn spawn_transfers(s: &Arc<Shared>, conn: &quinn::Connection) {
    if s.blob_task.swap(true, Ordering::AcqRel) {
        return;
    }
    let (s, conn) = (s.clone(), conn.clone());
    tokio::spawn(async move {
        if let Err(e) = transfers(conn, s.clone()).await {
            *lock(&s.last_error) = Some(e.to_string());
        }
        s.blob_task.store(false, Ordering::Release);
    });
}
