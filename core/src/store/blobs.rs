//! The device blob store: attachment bytes outside the CRDT, addressed by SHA-256
//! (ring), deduplicated (one row per hash however many documents reference it), in
//! chunks of [`CHUNK_SIZE`] sealed one by one with the store's data key (AES-256-GCM,
//! AAD = table, hash, chunk index: a chunk cannot be moved to another blob or position).
//!
//! Progress is on disk so a transfer resumes after an app restart: `have_chunks` counts
//! the chunks stored (a download stores them in order, each chunk in its own
//! transaction), `sent_chunks` the chunks the server acknowledged, `on_server` that the
//! server holds the whole blob. Storage policy: an optional quota
//! ([`Store::set_blob_quota`]); [`Store::evict_blobs`] drops the bytes of blobs the
//! server already holds, least recently used first, and never of a blob not yet
//! uploaded.

use std::io::{Read, Write};
use std::path::Path;

use ring::digest::{Context, SHA256};
use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::crypto::row_aad;
use crate::error::{Error, Result};
use crate::ids::{DocId, Scope};
use crate::model::{AttachmentRef, MAX_BLOB_BYTES};

/// Bytes per chunk (the last one may be shorter): the unit of sealing, transfer,
/// acknowledgement and resumption.
pub const CHUNK_SIZE: usize = 256 << 10;

/// A blob hash (SHA-256 of its bytes).
pub type BlobHash = [u8; 32];

/// Number of chunks of a blob of `size` bytes (0 for an empty blob).
pub fn chunk_count(size: u64) -> u32 {
    u32::try_from(size.div_ceil(CHUNK_SIZE as u64)).unwrap_or(u32::MAX)
}

/// Length of chunk `idx` of a blob of `size` bytes.
pub fn chunk_len(size: u64, idx: u32) -> usize {
    let start = u64::from(idx) * CHUNK_SIZE as u64;
    usize::try_from(size.saturating_sub(start).min(CHUNK_SIZE as u64)).unwrap_or(0)
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> BlobHash {
    let d = ring::digest::digest(&SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// What the store knows about one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobState {
    /// SHA-256.
    pub hash: BlobHash,
    /// Size in bytes.
    pub size: u64,
    /// Chunks in all.
    pub chunks: u32,
    /// Media type, when known.
    pub media_type: Option<String>,
    /// Attached on this device (not downloaded).
    pub local: bool,
    /// Chunks stored here (a prefix: chunks 0..have_chunks).
    pub have_chunks: u32,
    /// Every chunk is here and the whole hash was verified.
    pub complete: bool,
    /// Chunks the server acknowledged (upload progress).
    pub sent_chunks: u32,
    /// The server holds the whole blob.
    pub on_server: bool,
}

fn hex(h: &BlobHash) -> String {
    hex::encode(h)
}

fn chunk_aad(hash: &BlobHash, idx: u32) -> Vec<u8> {
    row_aad("blob_chunks", hash, &idx.to_be_bytes())
}

fn state_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BlobState> {
    let hash: Vec<u8> = r.get(0)?;
    let mut h = [0u8; 32];
    if hash.len() == 32 {
        h.copy_from_slice(&hash);
    }
    Ok(BlobState {
        hash: h,
        size: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        chunks: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
        media_type: r.get(3)?,
        local: r.get(4)?,
        have_chunks: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
        complete: r.get(6)?,
        sent_chunks: u32::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
        on_server: r.get(8)?,
    })
}

const STATE_COLS: &str =
    "hash, size, chunks, media_type, local, have_chunks, complete, sent_chunks, on_server";

fn check_size(size: u64) -> Result<()> {
    if size > MAX_BLOB_BYTES {
        return Err(Error::TooLarge {
            what: "blob",
            size: usize::try_from(size).unwrap_or(usize::MAX),
            limit: MAX_BLOB_BYTES as usize,
        });
    }
    Ok(())
}

impl Store {
    /// Store `bytes` as a local blob (to be uploaded). Idempotent: the same bytes are
    /// stored once. Returns the hash.
    pub fn put_blob(&self, bytes: &[u8], media_type: &str) -> Result<BlobHash> {
        check_size(bytes.len() as u64)?;
        let hash = sha256(bytes);
        self.put_chunks(hash, bytes.len() as u64, media_type, |i| {
            let start = i as usize * CHUNK_SIZE;
            let end = (start + CHUNK_SIZE).min(bytes.len());
            Ok(bytes[start..end].to_vec())
        })?;
        Ok(hash)
    }

    /// Store the file at `path` as a local blob, reading it in chunks (twice: once to
    /// hash it, once to seal it; a file that changes in between is refused).
    pub fn put_blob_file(&self, path: &Path, media_type: &str) -> Result<(BlobHash, u64)> {
        let mut f = std::fs::File::open(path)?;
        let size = f.metadata()?.len();
        check_size(size)?;
        let mut ctx = Context::new(&SHA256);
        let mut buf = vec![0u8; CHUNK_SIZE];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            ctx.update(&buf[..n]);
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(ctx.finish().as_ref());
        if self.blob_state(&hash)?.is_some_and(|b| b.complete) {
            // Deduplicated: the same bytes are here already.
            self.put_chunks(hash, size, media_type, |_| Ok(Vec::new()))?;
            return Ok((hash, size));
        }
        let mut f = std::fs::File::open(path)?;
        let mut check = Context::new(&SHA256);
        self.put_chunks(hash, size, media_type, |i| {
            let mut chunk = vec![0u8; chunk_len(size, i)];
            f.read_exact(&mut chunk)?;
            check.update(&chunk);
            Ok(chunk)
        })?;
        if check.finish().as_ref() != hash {
            self.write(|tx| {
                tx.execute("DELETE FROM blob_chunks WHERE hash = ?1", [&hash[..]])?;
                tx.execute("DELETE FROM blobs WHERE hash = ?1", [&hash[..]])?;
                Ok(())
            })?;
            return Err(Error::Malformed("file changed while it was read".into()));
        }
        Ok((hash, size))
    }

    /// Store the file at `path` and return the reference to put into a document.
    pub fn attach_file(&self, path: &Path, media_type: &str, name: &str) -> Result<AttachmentRef> {
        let (hash, size) = self.put_blob_file(path, media_type)?;
        let r = AttachmentRef::new(hash, size, media_type, name);
        r.check("attachment")?;
        Ok(r)
    }

    /// Store the file at `path` and add it to visit `id`'s attachments (one validated
    /// change). Attaching the same content twice changes nothing.
    pub fn attach_to_visit(
        &self,
        id: DocId,
        path: &Path,
        media_type: &str,
        name: &str,
    ) -> Result<AttachmentRef> {
        let r = self.attach_file(path, media_type, name)?;
        self.update::<crate::model::Visit>(id, |v| {
            if !v.attachments.iter().any(|a| a.sha256 == r.sha256) {
                v.attachments.push(r.clone());
            }
            Ok(())
        })?;
        Ok(r)
    }

    /// Store the file at `path` and make it the answer to attachment question
    /// `question_id` of response `id` (validated against the form: an image, audio,
    /// video or file question).
    pub fn attach_to_response(
        &self,
        id: DocId,
        question_id: &str,
        path: &Path,
        media_type: &str,
        name: &str,
    ) -> Result<AttachmentRef> {
        let r = self.attach_file(path, media_type, name)?;
        self.update::<crate::model::Response>(id, |resp| {
            resp.answers.insert(
                question_id.to_string(),
                crate::model::Answer::Attachment(r.clone()),
            );
            Ok(())
        })?;
        Ok(r)
    }

    /// Seal and store every chunk of a local blob in one transaction (a local blob is
    /// whole or absent).
    fn put_chunks(
        &self,
        hash: BlobHash,
        size: u64,
        media_type: &str,
        mut chunk: impl FnMut(u32) -> Result<Vec<u8>>,
    ) -> Result<()> {
        let chunks = chunk_count(size);
        let now = self.now();
        let mut sealed = Vec::with_capacity(chunks as usize);
        if let Some(s) = self.blob_state(&hash)?
            && s.complete
        {
            // Deduplicated: already here; a download becomes a local attachment too.
            self.write(|tx| {
                tx.execute(
                    "UPDATE blobs SET local = 1, last_used = ?2 WHERE hash = ?1",
                    params![&hash[..], now],
                )?;
                Ok(())
            })?;
            return Ok(());
        }
        for i in 0..chunks {
            let c = chunk(i)?;
            sealed.push(self.sealer().seal(&chunk_aad(&hash, i), &c)?);
        }
        self.write(|tx| {
            tx.execute("DELETE FROM blob_chunks WHERE hash = ?1", [&hash[..]])?;
            tx.execute(
                "INSERT INTO blobs (hash, size, chunks, media_type, local, have_chunks, complete,
                    sent_chunks, on_server, added_at, last_used)
                 VALUES (?1, ?2, ?3, ?4, 1, ?3, 1, 0, 0, ?5, ?5)
                 ON CONFLICT(hash) DO UPDATE SET local = 1, have_chunks = ?3, complete = 1,
                    media_type = ?4, last_used = ?5",
                params![&hash[..], size as i64, chunks, media_type, now],
            )?;
            let mut ins = tx.prepare_cached(
                "INSERT INTO blob_chunks (hash, idx, sealed) VALUES (?1, ?2, ?3)",
            )?;
            for (i, s) in sealed.iter().enumerate() {
                ins.execute(params![&hash[..], i as i64, s])?;
            }
            Ok(())
        })
    }

    /// What the store knows about a blob.
    pub fn blob_state(&self, hash: &BlobHash) -> Result<Option<BlobState>> {
        self.read(|c| {
            Ok(
                c.prepare_cached(&format!("SELECT {STATE_COLS} FROM blobs WHERE hash = ?1"))?
                    .query_row([&hash[..]], state_row)
                    .optional()?,
            )
        })
    }

    /// One chunk of a blob, opened and checked.
    pub fn blob_chunk(&self, hash: &BlobHash, idx: u32) -> Result<Vec<u8>> {
        let sealed: Option<Vec<u8>> = self.read(|c| {
            Ok(
                c.prepare_cached("SELECT sealed FROM blob_chunks WHERE hash = ?1 AND idx = ?2")?
                    .query_row(params![&hash[..], idx], |r| r.get(0))
                    .optional()?,
            )
        })?;
        let sealed = sealed.ok_or_else(|| Error::BlobMissing { hash: hex(hash) })?;
        self.sealer()
            .open(&chunk_aad(hash, idx), &sealed)
            .map_err(|_| Error::BlobCorrupt {
                hash: hex(hash),
                detail: "a chunk does not open under this key",
            })
    }

    /// The whole blob, verified against its hash. Marks it used (eviction order).
    pub fn read_blob(&self, hash: &BlobHash) -> Result<Vec<u8>> {
        let st = self
            .blob_state(hash)?
            .filter(|s| s.complete)
            .ok_or_else(|| Error::BlobMissing { hash: hex(hash) })?;
        let mut out = Vec::with_capacity(usize::try_from(st.size).unwrap_or(0));
        for i in 0..st.chunks {
            out.extend_from_slice(&self.blob_chunk(hash, i)?);
        }
        if sha256(&out) != *hash {
            return Err(Error::BlobCorrupt {
                hash: hex(hash),
                detail: "bytes do not match the hash",
            });
        }
        self.touch_blob(hash)?;
        Ok(out)
    }

    /// Write the whole blob to `path` (temporary file, fsync, rename), verified.
    pub fn export_blob(&self, hash: &BlobHash, path: &Path) -> Result<()> {
        let st = self
            .blob_state(hash)?
            .filter(|s| s.complete)
            .ok_or_else(|| Error::BlobMissing { hash: hex(hash) })?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".part");
        let tmp = std::path::PathBuf::from(tmp);
        let mut f = std::fs::File::create(&tmp)?;
        let mut ctx = Context::new(&SHA256);
        for i in 0..st.chunks {
            let c = self.blob_chunk(hash, i)?;
            ctx.update(&c);
            f.write_all(&c)?;
        }
        if ctx.finish().as_ref() != hash {
            drop(f);
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::BlobCorrupt {
                hash: hex(hash),
                detail: "bytes do not match the hash",
            });
        }
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        self.touch_blob(hash)?;
        Ok(())
    }

    fn touch_blob(&self, hash: &BlobHash) -> Result<()> {
        if self.inner.opts.read_only {
            return Ok(());
        }
        let now = self.now();
        self.write(|tx| {
            tx.prepare_cached("UPDATE blobs SET last_used = ?2 WHERE hash = ?1")?
                .execute(params![&hash[..], now])?;
            Ok(())
        })
    }

    /// SHA-256 of every chunk of a complete blob (sent with an upload so the server can
    /// check each chunk as it arrives).
    pub fn blob_chunk_hashes(&self, hash: &BlobHash) -> Result<Vec<BlobHash>> {
        let st = self
            .blob_state(hash)?
            .filter(|s| s.complete)
            .ok_or_else(|| Error::BlobMissing { hash: hex(hash) })?;
        let mut whole = Context::new(&SHA256);
        let mut out = Vec::with_capacity(st.chunks as usize);
        for i in 0..st.chunks {
            let c = self.blob_chunk(hash, i)?;
            whole.update(&c);
            out.push(sha256(&c));
        }
        if whole.finish().as_ref() != hash {
            return Err(Error::BlobCorrupt {
                hash: hex(hash),
                detail: "bytes do not match the hash",
            });
        }
        Ok(out)
    }

    /// Local blobs the server does not hold yet, oldest first.
    pub fn blobs_to_upload(&self) -> Result<Vec<BlobState>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {STATE_COLS} FROM blobs WHERE local = 1 AND on_server = 0
                 ORDER BY added_at, hash"
            ))?;
            let rows = st.query_map([], state_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Upload progress: the server acknowledged chunks `0..n`.
    pub fn set_blob_sent(&self, hash: &BlobHash, n: u32) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("UPDATE blobs SET sent_chunks = ?2 WHERE hash = ?1")?
                .execute(params![&hash[..], n])?;
            Ok(())
        })
    }

    /// The server holds the whole blob (uploaded, or it already had it).
    pub fn set_blob_on_server(&self, hash: &BlobHash) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE blobs SET on_server = 1, sent_chunks = chunks WHERE hash = ?1",
            )?
            .execute(params![&hash[..]])?;
            Ok(())
        })
    }

    /// Start (or resume) downloading a blob of `size` bytes. Returns its state; a
    /// resumed download continues at chunk `have_chunks`.
    pub fn begin_download(&self, hash: &BlobHash, size: u64) -> Result<BlobState> {
        check_size(size)?;
        let now = self.now();
        let chunks = chunk_count(size);
        self.write(|tx| {
            let found: Option<i64> = tx
                .prepare_cached("SELECT size FROM blobs WHERE hash = ?1")?
                .query_row([&hash[..]], |r| r.get(0))
                .optional()?;
            match found {
                Some(s) if s == size as i64 => {}
                Some(_) => {
                    // Another size for the same hash: what was stored cannot be this blob.
                    tx.execute("DELETE FROM blob_chunks WHERE hash = ?1", [&hash[..]])?;
                    tx.execute(
                        "UPDATE blobs SET size = ?2, chunks = ?3, have_chunks = 0, complete = 0
                         WHERE hash = ?1",
                        params![&hash[..], size as i64, chunks],
                    )?;
                }
                None => {
                    tx.execute(
                        "INSERT INTO blobs (hash, size, chunks, local, have_chunks, complete,
                            sent_chunks, on_server, added_at, last_used)
                         VALUES (?1, ?2, ?3, 0, 0, 0, 0, 1, ?4, ?4)",
                        params![&hash[..], size as i64, chunks, now],
                    )?;
                }
            }
            Ok(())
        })?;
        self.blob_state(hash)?
            .ok_or_else(|| Error::BlobMissing { hash: hex(hash) })
    }

    /// Store downloaded chunk `idx` (must be the next one, `have_chunks`) after checking
    /// it against `expected` (its SHA-256 as the server announced it).
    pub fn put_downloaded_chunk(
        &self,
        hash: &BlobHash,
        idx: u32,
        bytes: &[u8],
        expected: &BlobHash,
    ) -> Result<()> {
        let st = self
            .blob_state(hash)?
            .ok_or_else(|| Error::BlobMissing { hash: hex(hash) })?;
        if idx != st.have_chunks || idx >= st.chunks || bytes.len() != chunk_len(st.size, idx) {
            return Err(Error::Malformed(format!("blob chunk {idx} out of order")));
        }
        if sha256(bytes) != *expected {
            return Err(Error::BlobCorrupt {
                hash: hex(hash),
                detail: "a chunk does not match its hash",
            });
        }
        let sealed = self.sealer().seal(&chunk_aad(hash, idx), bytes)?;
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO blob_chunks (hash, idx, sealed) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![&hash[..], idx, sealed])?;
            tx.prepare_cached("UPDATE blobs SET have_chunks = ?2 WHERE hash = ?1")?
                .execute(params![&hash[..], idx + 1])?;
            Ok(())
        })
    }

    /// Every chunk arrived: verify the whole hash and mark the blob complete. On a
    /// mismatch the chunks are dropped (the download starts over) and the error says so.
    pub fn finish_download(&self, hash: &BlobHash) -> Result<()> {
        let st = self
            .blob_state(hash)?
            .ok_or_else(|| Error::BlobMissing { hash: hex(hash) })?;
        if st.have_chunks != st.chunks {
            return Err(Error::BlobMissing { hash: hex(hash) });
        }
        let mut ctx = Context::new(&SHA256);
        for i in 0..st.chunks {
            ctx.update(&self.blob_chunk(hash, i)?);
        }
        let ok = ctx.finish().as_ref() == hash;
        self.write(|tx| {
            if ok {
                tx.execute("UPDATE blobs SET complete = 1 WHERE hash = ?1", [&hash[..]])?;
            } else {
                tx.execute("DELETE FROM blob_chunks WHERE hash = ?1", [&hash[..]])?;
                tx.execute(
                    "UPDATE blobs SET have_chunks = 0, complete = 0 WHERE hash = ?1",
                    [&hash[..]],
                )?;
            }
            Ok(())
        })?;
        if !ok {
            return Err(Error::BlobCorrupt {
                hash: hex(hash),
                detail: "downloaded bytes do not match the hash",
            });
        }
        self.evict_blobs()?;
        Ok(())
    }

    /// Blobs a document references that are not complete here: what opening it should
    /// fetch. `(hash, size)`.
    pub fn missing_blobs(&self, doc: DocId) -> Result<Vec<(BlobHash, u64)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT r.hash, r.size FROM blob_refs r LEFT JOIN blobs b ON b.hash = r.hash
                 WHERE r.doc_id = ?1 AND (b.complete IS NULL OR b.complete = 0)
                 ORDER BY r.hash",
            )?;
            let rows = st.query_map([&doc.as_bytes()[..]], hash_size)?;
            Ok(rows.filter_map(|r| r.ok().flatten()).collect())
        })
    }

    /// Blobs referenced by documents in `scope` that are not complete here (eager
    /// download of a scope).
    pub fn missing_blobs_in_scope(&self, scope: &Scope) -> Result<Vec<(BlobHash, u64)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT DISTINCT r.hash, r.size FROM blob_refs r
                 JOIN documents d ON d.id = r.doc_id
                 LEFT JOIN blobs b ON b.hash = r.hash
                 WHERE d.scope = ?1 AND (b.complete IS NULL OR b.complete = 0)
                 ORDER BY r.hash",
            )?;
            let rows = st.query_map([scope.as_str()], hash_size)?;
            Ok(rows.filter_map(|r| r.ok().flatten()).collect())
        })
    }

    /// Documents that reference a blob, with their scopes (server authorisation reads
    /// this on the merged view).
    pub fn blob_referrers(&self, hash: &BlobHash) -> Result<Vec<(DocId, String)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT d.id, d.scope FROM blob_refs r JOIN documents d ON d.id = r.doc_id
                 WHERE r.hash = ?1",
            )?;
            let rows = st.query_map([&hash[..]], |r| {
                let id: Vec<u8> = r.get(0)?;
                let scope: String = r.get(1)?;
                Ok((id, scope))
            })?;
            let mut out = Vec::new();
            for r in rows {
                let (id, scope) = r?;
                if let Ok(a) = <[u8; 16]>::try_from(id.as_slice()) {
                    out.push((DocId::from_bytes(a), scope));
                }
            }
            Ok(out)
        })
    }

    /// Keep downloaded blob bytes within `quota` bytes (`None`: no limit). Stored in the
    /// file, so it holds after a restart.
    pub fn set_blob_quota(&self, quota: Option<u64>) -> Result<()> {
        self.write(|tx| {
            match quota {
                Some(q) => tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('blob_quota', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = ?1",
                    [&q.to_be_bytes()[..]],
                )?,
                None => tx.execute("DELETE FROM meta WHERE key = 'blob_quota'", [])?,
            };
            Ok(())
        })?;
        self.evict_blobs().map(|_| ())
    }

    /// The blob quota, if one is set.
    pub fn blob_quota(&self) -> Result<Option<u64>> {
        let v: Option<Vec<u8>> = self.read(|c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = 'blob_quota'", [], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })?;
        Ok(v.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(u64::from_be_bytes))
    }

    /// Bytes of blob content stored here (chunks present).
    pub fn blob_bytes_stored(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row(
                "SELECT COALESCE(SUM(CASE WHEN have_chunks = chunks THEN size
                    ELSE have_chunks * ?1 END), 0) FROM blobs",
                [CHUNK_SIZE as i64],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// Enforce the quota: drop the bytes of blobs the server holds, least recently used
    /// first, until the store is within it. Blobs not yet uploaded are never dropped
    /// (the store may then stay above its quota). Returns the bytes freed.
    pub fn evict_blobs(&self) -> Result<u64> {
        let Some(quota) = self.blob_quota()? else {
            return Ok(0);
        };
        let mut stored = self.blob_bytes_stored()?;
        if stored <= quota {
            return Ok(0);
        }
        let candidates: Vec<(Vec<u8>, i64)> = self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT hash, size FROM blobs WHERE on_server = 1 AND have_chunks > 0
                 ORDER BY last_used, hash",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        let mut freed = 0u64;
        for (h, size) in candidates {
            if stored <= quota {
                break;
            }
            self.write(|tx| {
                tx.execute("DELETE FROM blob_chunks WHERE hash = ?1", [&h])?;
                tx.execute(
                    "UPDATE blobs SET have_chunks = 0, complete = 0 WHERE hash = ?1 AND on_server = 1",
                    [&h],
                )?;
                Ok(())
            })?;
            let s = u64::try_from(size).unwrap_or(0);
            stored = stored.saturating_sub(s);
            freed += s;
        }
        Ok(freed)
    }
}

fn hash_size(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<(BlobHash, u64)>> {
    let h: Vec<u8> = r.get(0)?;
    let size: i64 = r.get(1)?;
    Ok(<[u8; 32]>::try_from(h.as_slice())
        .ok()
        .map(|h| (h, u64::try_from(size).unwrap_or(0))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    fn store() -> Result<Store> {
        Store::open_in_memory(&[3u8; 32], StoreOptions::new("d", "u"))
    }

    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn put_read_dedup_and_chunks() -> Result<()> {
        let s = store()?;
        let b = bytes(CHUNK_SIZE * 2 + 17, 1);
        let h = s.put_blob(&b, "image/jpeg")?;
        assert_eq!(h, sha256(&b));
        assert_eq!(s.put_blob(&b, "image/jpeg")?, h, "same bytes, same blob");
        let st = s
            .blob_state(&h)?
            .ok_or(Error::BlobMissing { hash: hex(&h) })?;
        assert_eq!(
            (st.chunks, st.have_chunks, st.complete, st.local),
            (3, 3, true, true)
        );
        assert_eq!(s.read_blob(&h)?, b);
        assert_eq!(s.blob_chunk(&h, 2)?.len(), 17);
        assert_eq!(s.blobs_to_upload()?.len(), 1);
        s.set_blob_on_server(&h)?;
        assert!(s.blobs_to_upload()?.is_empty());
        let empty = s.put_blob(b"", "text/plain")?;
        assert_eq!(s.read_blob(&empty)?, Vec::<u8>::new());
        Ok(())
    }

    #[test]
    fn a_chunk_moved_to_another_position_does_not_open() -> Result<()> {
        let s = store()?;
        let b = bytes(CHUNK_SIZE * 2, 2);
        let h = s.put_blob(&b, "image/png")?;
        s.write(|tx| {
            tx.execute(
                "UPDATE blob_chunks SET sealed = (SELECT sealed FROM blob_chunks WHERE idx = 0)
                 WHERE idx = 1",
                [],
            )?;
            Ok(())
        })?;
        assert!(matches!(s.read_blob(&h), Err(Error::BlobCorrupt { .. })));
        Ok(())
    }

    #[test]
    fn download_resumes_and_verifies() -> Result<()> {
        let src = store()?;
        let b = bytes(CHUNK_SIZE * 3 + 5, 3);
        let h = src.put_blob(&b, "audio/ogg")?;
        let hashes = src.blob_chunk_hashes(&h)?;
        let dst = store()?;
        let st = dst.begin_download(&h, b.len() as u64)?;
        assert_eq!(st.have_chunks, 0);
        dst.put_downloaded_chunk(&h, 0, &src.blob_chunk(&h, 0)?, &hashes[0])?;
        // A corrupted chunk is refused and nothing advances.
        let mut bad = src.blob_chunk(&h, 1)?;
        bad[0] ^= 1;
        assert!(matches!(
            dst.put_downloaded_chunk(&h, 1, &bad, &hashes[1]),
            Err(Error::BlobCorrupt { .. })
        ));
        // Out of order is refused.
        assert!(
            dst.put_downloaded_chunk(&h, 2, &src.blob_chunk(&h, 2)?, &hashes[2])
                .is_err()
        );
        // "Restart": the state says where to resume.
        assert_eq!(dst.begin_download(&h, b.len() as u64)?.have_chunks, 1);
        for i in 1..4 {
            dst.put_downloaded_chunk(&h, i, &src.blob_chunk(&h, i)?, &hashes[i as usize])?;
        }
        dst.finish_download(&h)?;
        assert_eq!(dst.read_blob(&h)?, b);
        Ok(())
    }

    #[test]
    fn eviction_spares_blobs_not_uploaded() -> Result<()> {
        let s = store()?;
        let local = s.put_blob(&bytes(CHUNK_SIZE, 4), "image/jpeg")?;
        let src = store()?;
        let b = bytes(CHUNK_SIZE, 5);
        let h = src.put_blob(&b, "image/jpeg")?;
        let hashes = src.blob_chunk_hashes(&h)?;
        s.begin_download(&h, b.len() as u64)?;
        s.put_downloaded_chunk(&h, 0, &b, &hashes[0])?;
        s.finish_download(&h)?;
        s.set_blob_quota(Some(1))?;
        // The downloaded blob went; the local one, not uploaded, stays.
        assert!(!s.blob_state(&h)?.is_some_and(|x| x.complete));
        assert!(s.read_blob(&local).is_ok());
        assert_eq!(s.blob_bytes_stored()?, CHUNK_SIZE as u64);
        Ok(())
    }
}
