//! Attachments through the bindings: attach a file to a visit or a response, fetch a
//! blob (lazily when a document is opened, or every blob of a document), export it to a
//! file, transfer progress. Conversions only; the work is in fieldsync-core
//! (`store/blobs.rs`, `sync/blobs.rs`).

use std::path::Path;
use std::sync::Arc;

use fieldsync_core::model::attachment::parse_hash;
use fieldsync_core::sync::blobs::{BlobObserver, BlobProgress, Direction, TransferReport};

use crate::error::{FieldsyncError, Result, guard};
use crate::records::{AttachmentRef, parse_id};
use crate::store::{FieldStore, scope};
use crate::sync::SyncClient;

/// Told how a blob transfer progresses (after every 256 KiB chunk). Called on an
/// engine thread: return quickly.
#[uniffi::export(foreign)]
pub trait BlobProgressListener: Send + Sync {
    /// `chunks_done` of `chunks_total` chunks of blob `sha256` moved (`upload`: to the
    /// server, else to this device).
    fn on_progress(&self, sha256: String, upload: bool, chunks_done: u32, chunks_total: u32);
}

struct Adapter(Arc<dyn BlobProgressListener>);

impl BlobObserver for Adapter {
    fn on_progress(&self, p: &BlobProgress) {
        self.0.on_progress(
            hex::encode(p.hash),
            p.direction == Direction::Upload,
            p.chunks_done,
            p.chunks_total,
        );
    }
}

/// Where one blob stands on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BlobStatus {
    /// SHA-256 (hex).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Every byte is here (verified): it can be opened offline.
    pub complete: bool,
    /// The server holds it.
    pub on_server: bool,
    /// Chunks stored here.
    pub chunks_here: u32,
    /// Chunks in all.
    pub chunks_total: u32,
}

/// What a blob transfer call did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BlobTransferReport {
    /// Blobs uploaded.
    pub uploaded: u32,
    /// Blobs the server already held.
    pub already_held: u32,
    /// Blobs downloaded.
    pub downloaded: u32,
}

impl From<TransferReport> for BlobTransferReport {
    fn from(r: TransferReport) -> Self {
        BlobTransferReport {
            uploaded: r.uploaded,
            already_held: r.already_held,
            downloaded: r.downloaded,
        }
    }
}

fn hash(s: &str) -> Result<[u8; 32]> {
    parse_hash(s).ok_or_else(|| FieldsyncError::InvalidArgument {
        message: "not a lowercase hex SHA-256".into(),
    })
}

#[uniffi::export]
impl FieldStore {
    /// Attach the file at `path` to visit `id` (stored sealed on this device, uploaded by
    /// the sync client). Returns the reference now in the visit.
    pub fn attach_to_visit(
        &self,
        id: String,
        path: String,
        media_type: String,
        name: String,
    ) -> Result<AttachmentRef> {
        guard(|| {
            Ok(self
                .inner
                .attach_to_visit(parse_id(&id)?, Path::new(&path), &media_type, &name)?
                .into())
        })
    }

    /// Attach the file at `path` as the answer to attachment question `question_id` of
    /// response `id`.
    pub fn attach_to_response(
        &self,
        id: String,
        question_id: String,
        path: String,
        media_type: String,
        name: String,
    ) -> Result<AttachmentRef> {
        guard(|| {
            Ok(self
                .inner
                .attach_to_response(
                    parse_id(&id)?,
                    &question_id,
                    Path::new(&path),
                    &media_type,
                    &name,
                )?
                .into())
        })
    }

    /// Where blob `sha256` stands here (`None`: unknown on this device).
    pub fn blob_status(&self, sha256: String) -> Result<Option<BlobStatus>> {
        guard(|| {
            Ok(self.inner.blob_state(&hash(&sha256)?)?.map(|b| BlobStatus {
                sha256: hex::encode(b.hash),
                size: b.size,
                complete: b.complete,
                on_server: b.on_server,
                chunks_here: b.have_chunks,
                chunks_total: b.chunks,
            }))
        })
    }

    /// Write blob `sha256` to the file `path` (verified). `NotFound` if it is not here:
    /// fetch it first.
    pub fn export_blob(&self, sha256: String, path: String) -> Result<()> {
        guard(|| Ok(self.inner.export_blob(&hash(&sha256)?, Path::new(&path))?))
    }

    /// Blobs document `id` references that are not on this device yet (hex SHA-256).
    pub fn missing_blobs(&self, id: String) -> Result<Vec<String>> {
        guard(|| {
            Ok(self
                .inner
                .missing_blobs(parse_id(&id)?)?
                .into_iter()
                .map(|(h, _)| hex::encode(h))
                .collect())
        })
    }

    /// Keep downloaded attachments within `bytes` (`None`: no limit). Only blobs the
    /// server holds are ever evicted.
    pub fn set_blob_quota(&self, bytes: Option<u64>) -> Result<()> {
        guard(|| Ok(self.inner.set_blob_quota(bytes)?))
    }
}

#[uniffi::export]
impl SyncClient {
    /// Fetch blob `sha256` from the server now (resuming an interrupted download).
    /// Allowed only if this device may read a document that references it.
    pub fn fetch_blob(&self, sha256: String) -> Result<BlobTransferReport> {
        guard(|| Ok(self.agent().fetch_blob(hash(&sha256)?)?.into()))
    }

    /// Fetch every blob document `id` references that is not here yet (call when the
    /// app opens the document).
    pub fn fetch_document_blobs(&self, id: String) -> Result<BlobTransferReport> {
        guard(|| Ok(self.agent().fetch_document_blobs(parse_id(&id)?)?.into()))
    }

    /// Upload every attachment the server lacks and download those of the eager scopes,
    /// now.
    pub fn transfer_blobs_now(&self) -> Result<BlobTransferReport> {
        guard(|| Ok(self.agent().transfer_blobs_now()?.into()))
    }

    /// Download the attachments of documents in these scopes as soon as they are known.
    pub fn set_eager_blob_scopes(&self, scopes: Vec<String>) -> Result<()> {
        guard(|| {
            let s = scopes
                .iter()
                .map(|x| scope(x))
                .collect::<Result<Vec<_>>>()?;
            self.agent().set_eager_blob_scopes(s);
            Ok(())
        })
    }

    /// Be told about blob transfer progress (`None` stops).
    pub fn set_blob_progress_listener(&self, listener: Option<Arc<dyn BlobProgressListener>>) {
        self.agent()
            .set_blob_observer(listener.map(|l| Arc::new(Adapter(l)) as Arc<dyn BlobObserver>));
    }
}
