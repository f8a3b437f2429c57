//! [`BlobIndex`] on SQLite: the `blobs` table (server schema 3).

use rusqlite::{OptionalExtension, params};

use super::SqliteStorage;
use crate::storage::Result;
use crate::storage::blobs::BlobIndex;

/// Server schema step 3.
pub(super) const SCHEMA_3: &str = r#"
CREATE TABLE blobs (
    tenant     TEXT NOT NULL REFERENCES tenants(id),
    hash       BLOB NOT NULL,
    size       INTEGER NOT NULL,
    device     TEXT NOT NULL,
    stored_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, hash)
) WITHOUT ROWID;
"#;

impl BlobIndex for SqliteStorage {
    fn blob_held(&self, tenant: &str, hash: &[u8; 32]) -> Result<Option<u64>> {
        self.with_reader(|c| {
            let n: Option<i64> = c
                .prepare_cached("SELECT size FROM blobs WHERE tenant = ?1 AND hash = ?2")?
                .query_row(params![tenant, &hash[..]], |r| r.get(0))
                .optional()?;
            Ok(n.map(|n| u64::try_from(n).unwrap_or(0)))
        })
    }

    fn record_blob(&self, tenant: &str, hash: &[u8; 32], size: u64, device: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO blobs (tenant, hash, size, device, stored_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                tenant,
                &hash[..],
                i64::try_from(size).unwrap_or(i64::MAX),
                device,
                fieldsync_core::now_ms()
            ])?;
            Ok(())
        })
    }

    fn blob_totals(&self, tenant: &str) -> Result<(u64, u64)> {
        self.with_reader(|c| {
            let (n, b): (i64, i64) = c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs WHERE tenant = ?1",
                [tenant],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((u64::try_from(n).unwrap_or(0), u64::try_from(b).unwrap_or(0)))
        })
    }
}
