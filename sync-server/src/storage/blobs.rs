//! Blob metadata in the server database: which tenant holds which blob (verified
//! against its SHA-256 when its upload completed). The bytes live in a
//! [`crate::blobstore::BlobStore`] (files on disk by default), shared by every tenant
//! (deduplicated by hash); this table is what makes a tenant's "already held" answer
//! and a fetch possible. Both backends implement it (server schema 3), so several
//! nodes on one PostgreSQL database agree on it.

use super::Result;

/// Blob holdings per tenant.
pub trait BlobIndex: Send + Sync {
    /// The size of `hash` if `tenant` holds it.
    fn blob_held(&self, tenant: &str, hash: &[u8; 32]) -> Result<Option<u64>>;
    /// Record that `tenant` holds `hash` (verified), first uploaded by `device`.
    /// Idempotent.
    fn record_blob(&self, tenant: &str, hash: &[u8; 32], size: u64, device: &str) -> Result<()>;
    /// Blobs a tenant holds: (count, bytes).
    fn blob_totals(&self, tenant: &str) -> Result<(u64, u64)>;
}
