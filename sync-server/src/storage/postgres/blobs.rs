//! [`BlobIndex`] on PostgreSQL: the `blobs` table (server schema 3), as on SQLite.

use super::PgStorage;
use crate::storage::Result;
use crate::storage::blobs::BlobIndex;

/// Server schema step 3.
pub(super) const SCHEMA_3: &str = r#"
CREATE TABLE blobs (
    tenant     TEXT NOT NULL REFERENCES tenants(id),
    hash       BYTEA NOT NULL,
    size       BIGINT NOT NULL,
    device     TEXT NOT NULL,
    stored_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, hash)
);
"#;

impl BlobIndex for PgStorage {
    fn blob_held(&self, tenant: &str, hash: &[u8; 32]) -> Result<Option<u64>> {
        let h = hash.to_vec();
        self.with_client(|c| {
            let row = c.query_opt(
                "SELECT size FROM blobs WHERE tenant = $1 AND hash = $2",
                &[&tenant, &h],
            )?;
            Ok(row.map(|r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
        })
    }

    fn record_blob(&self, tenant: &str, hash: &[u8; 32], size: u64, device: &str) -> Result<()> {
        let h = hash.to_vec();
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let now = fieldsync_core::now_ms();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO blobs (tenant, hash, size, device, stored_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
                &[&tenant, &h, &size, &device, &now],
            )?;
            Ok(())
        })
    }

    fn blob_totals(&self, tenant: &str) -> Result<(u64, u64)> {
        self.with_client(|c| {
            let r = c.query_one(
                "SELECT COUNT(*), COALESCE(SUM(size), 0)::BIGINT FROM blobs WHERE tenant = $1",
                &[&tenant],
            )?;
            Ok((
                u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
                u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
            ))
        })
    }
}
