//! Server blob bytes behind one trait, [`BlobStore`]; [`FsBlobStore`] keeps them as files
//! on disk (the default). Which tenant holds which blob is metadata in the server
//! database (`storage::blobs::BlobIndex`); this module only stores bytes.
//!
//! Layout under the folder (`<data>/blobs`):
//!
//! ```text
//! objects/ab/abcdef…            a complete blob, named by its SHA-256 (hex)
//! objects/ab/abcdef….chunks     SHA-256 of each of its 256 KiB chunks (32 bytes each)
//! partial/<hash>.<tenant tag>/  an upload in progress: `manifest` (size + chunk
//!                               hashes) and one file per stored chunk, `0`, `1`, …
//! ```
//!
//! Every file is written to a temporary name, fsynced, renamed into place and the folder
//! fsynced, so a crash leaves either the old state or the new one. An upload is keyed by
//! tenant and hash (one tenant's chunks never count as another tenant's proof of
//! possession); complete objects are shared by hash (deduplicated across tenants).
//! Finishing an upload re-reads every chunk and checks the whole SHA-256 before the
//! object appears.
//!
//! [`s3::S3BlobStore`] keeps the same bytes in an S3-compatible object store instead, for
//! several server nodes that share no folder (docs/adr/0018); [`BlobStoreConfig`] chooses
//! (`ServerConfig::blobs`) and [`open`] opens the chosen one.

pub mod s3;

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fieldsync_core::store::blobs::{CHUNK_SIZE, chunk_count, chunk_len, sha256};
use ring::digest::{Context, SHA256};

/// A blob hash.
pub type Hash = [u8; 32];

/// Blob bytes storage. Blocking; the server calls it from blocking tasks.
pub trait BlobStore: Send + Sync + 'static {
    /// The chunk hashes of a complete blob, `None` if it is not stored.
    fn chunk_hashes(&self, hash: &Hash) -> std::io::Result<Option<Vec<Hash>>>;
    /// Chunk `idx` of a complete blob of `size` bytes (an error past the last chunk).
    fn read_chunk(&self, hash: &Hash, size: u64, idx: u32) -> std::io::Result<Vec<u8>>;
    /// Start or resume `tenant`'s upload of `hash`; returns the first chunk it lacks.
    /// An upload in progress with another manifest starts over.
    fn begin_upload(
        &self,
        tenant: &str,
        hash: &Hash,
        size: u64,
        chunk_hashes: &[Hash],
    ) -> std::io::Result<u32>;
    /// Store chunk `idx` of an upload durably (already checked against its hash).
    fn put_chunk(&self, tenant: &str, hash: &Hash, idx: u32, bytes: &[u8]) -> std::io::Result<()>;
    /// Every chunk is stored: check the whole hash and make the object. `Ok(false)`: the
    /// bytes do not match `hash`; the upload is discarded.
    fn finish_upload(
        &self,
        tenant: &str,
        hash: &Hash,
        size: u64,
        chunk_hashes: &[Hash],
    ) -> std::io::Result<bool>;
}

/// Which blob store a server uses.
#[derive(Debug, Clone, Default)]
pub enum BlobStoreConfig {
    /// Files under `<data>/blobs` ([`FsBlobStore`]), the default.
    #[default]
    Files,
    /// An S3-compatible bucket ([`s3::S3BlobStore`]).
    S3(s3::S3Config),
}

/// Open the blob store `config` names (files under `data_dir/blobs` by default). The S3
/// store checks its bucket and credentials here, so a wrong setting fails at start-up.
pub fn open(config: &BlobStoreConfig, data_dir: &Path) -> std::io::Result<Arc<dyn BlobStore>> {
    Ok(match config {
        BlobStoreConfig::Files => Arc::new(FsBlobStore::open(data_dir.join("blobs"))?),
        BlobStoreConfig::S3(c) => Arc::new(s3::S3BlobStore::open(c)?),
    })
}

/// Blobs as files in a folder.
#[derive(Debug)]
pub struct FsBlobStore {
    root: PathBuf,
}

fn fsync_dir(p: &Path) -> std::io::Result<()> {
    File::open(p)?.sync_all()
}

/// Write `bytes` to `path` through a temporary file, fsync, rename, fsync the folder.
fn write_durable(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent folder"))?;
    // A unique temporary name: two connections may write the same chunk at once (a
    // killed connection's last write and its successor's).
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}-{n}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fsync_dir(dir)
}

/// Remove a folder; already gone is fine (another connection finished the same upload).
fn remove_dir(p: &Path) -> std::io::Result<()> {
    match fs::remove_dir_all(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

fn manifest_bytes(size: u64, chunk_hashes: &[Hash]) -> Vec<u8> {
    let mut m = Vec::with_capacity(8 + 32 * chunk_hashes.len());
    m.extend_from_slice(&size.to_be_bytes());
    for h in chunk_hashes {
        m.extend_from_slice(h);
    }
    m
}

impl FsBlobStore {
    /// Blobs under `root` (created if missing).
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join("objects"))?;
        fs::create_dir_all(root.join("partial"))?;
        Ok(FsBlobStore { root })
    }

    fn object(&self, hash: &Hash) -> PathBuf {
        let h = hex::encode(hash);
        self.root.join("objects").join(&h[..2]).join(h)
    }

    fn sidecar(&self, hash: &Hash) -> PathBuf {
        let mut p = self.object(hash).into_os_string();
        p.push(".chunks");
        PathBuf::from(p)
    }

    fn partial(&self, tenant: &str, hash: &Hash) -> PathBuf {
        let tag = hex::encode(&sha256(tenant.as_bytes())[..8]);
        self.root
            .join("partial")
            .join(format!("{}.{tag}", hex::encode(hash)))
    }
}

impl BlobStore for FsBlobStore {
    fn chunk_hashes(&self, hash: &Hash) -> std::io::Result<Option<Vec<Hash>>> {
        if !self.object(hash).exists() {
            return Ok(None);
        }
        let b = match fs::read(self.sidecar(hash)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if b.len() % 32 != 0 {
            return Err(std::io::Error::other("chunk list is damaged"));
        }
        Ok(Some(
            b.chunks_exact(32)
                .map(|c| {
                    let mut h = [0u8; 32];
                    h.copy_from_slice(c);
                    h
                })
                .collect(),
        ))
    }

    fn read_chunk(&self, hash: &Hash, size: u64, idx: u32) -> std::io::Result<Vec<u8>> {
        if idx >= chunk_count(size) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("blob {} has no chunk {idx}", hex::encode(hash)),
            ));
        }
        let mut f = File::open(self.object(hash))?;
        f.seek(SeekFrom::Start(u64::from(idx) * CHUNK_SIZE as u64))?;
        let mut buf = vec![0u8; chunk_len(size, idx)];
        f.read_exact(&mut buf)?;
        Ok(buf)
    }

    fn begin_upload(
        &self,
        tenant: &str,
        hash: &Hash,
        size: u64,
        chunk_hashes: &[Hash],
    ) -> std::io::Result<u32> {
        let dir = self.partial(tenant, hash);
        let manifest = manifest_bytes(size, chunk_hashes);
        match fs::read(dir.join("manifest")) {
            Ok(m) if m == manifest => {}
            Ok(_) | Err(_) => {
                if dir.exists() {
                    fs::remove_dir_all(&dir)?;
                }
                fs::create_dir_all(&dir)?;
                write_durable(&dir.join("manifest"), &manifest)?;
                return Ok(0);
            }
        }
        // Resume at the first chunk not stored whole.
        let mut next = 0u32;
        while next < chunk_count(size) {
            match fs::metadata(dir.join(next.to_string())) {
                Ok(m) if m.len() == chunk_len(size, next) as u64 => next += 1,
                _ => break,
            }
        }
        Ok(next)
    }

    fn put_chunk(&self, tenant: &str, hash: &Hash, idx: u32, bytes: &[u8]) -> std::io::Result<()> {
        write_durable(&self.partial(tenant, hash).join(idx.to_string()), bytes)
    }

    fn finish_upload(
        &self,
        tenant: &str,
        hash: &Hash,
        size: u64,
        chunk_hashes: &[Hash],
    ) -> std::io::Result<bool> {
        let dir = self.partial(tenant, hash);
        let obj = self.object(hash);
        let exists = obj.exists() && self.sidecar(hash).exists();
        let parent = obj
            .parent()
            .ok_or_else(|| std::io::Error::other("no parent folder"))?
            .to_path_buf();
        fs::create_dir_all(&parent)?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut tmp = obj.as_os_str().to_owned();
        tmp.push(format!(".{}-{n}.tmp", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let mut out = if exists {
            None
        } else {
            Some(File::create(&tmp)?)
        };
        let mut ctx = Context::new(&SHA256);
        for i in 0..chunk_count(size) {
            let c = fs::read(dir.join(i.to_string()))?;
            if c.len() != chunk_len(size, i) || sha256(&c) != chunk_hashes[i as usize] {
                return Err(std::io::Error::other("a stored chunk changed"));
            }
            ctx.update(&c);
            if let Some(f) = out.as_mut() {
                f.write_all(&c)?;
            }
        }
        if ctx.finish().as_ref() != hash {
            drop(out);
            let _ = fs::remove_file(&tmp);
            remove_dir(&dir)?;
            return Ok(false);
        }
        if let Some(f) = out {
            f.sync_all()?;
            drop(f);
            write_durable(&self.sidecar(hash), &manifest_bytes(0, chunk_hashes)[8..])?;
            fs::rename(&tmp, &obj)?;
            fsync_dir(&parent)?;
        }
        remove_dir(&dir)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_resume_finish_and_dedup() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = FsBlobStore::open(dir.path())?;
        let bytes: Vec<u8> = (0..CHUNK_SIZE * 2 + 9).map(|i| (i % 251) as u8).collect();
        let hash = sha256(&bytes);
        let size = bytes.len() as u64;
        let hashes: Vec<Hash> = bytes.chunks(CHUNK_SIZE).map(sha256).collect();
        assert_eq!(s.begin_upload("t", &hash, size, &hashes)?, 0);
        s.put_chunk("t", &hash, 0, &bytes[..CHUNK_SIZE])?;
        // Resumes after chunk 0; another tenant starts from nothing.
        assert_eq!(s.begin_upload("t", &hash, size, &hashes)?, 1);
        assert_eq!(s.begin_upload("u", &hash, size, &hashes)?, 0);
        for (i, c) in bytes.chunks(CHUNK_SIZE).enumerate().skip(1) {
            s.put_chunk("t", &hash, i as u32, c)?;
        }
        assert!(s.finish_upload("t", &hash, size, &hashes)?);
        assert_eq!(s.chunk_hashes(&hash)?, Some(hashes.clone()));
        assert_eq!(
            s.read_chunk(&hash, size, 2)?,
            bytes[CHUNK_SIZE * 2..].to_vec()
        );
        // The second tenant proves possession by uploading everything; stored once.
        for (i, c) in bytes.chunks(CHUNK_SIZE).enumerate() {
            s.put_chunk("u", &hash, i as u32, c)?;
        }
        assert!(s.finish_upload("u", &hash, size, &hashes)?);
        // Chunks that match their (lying) chunk hashes but not the blob hash: refused.
        let other = [9u8; 32];
        s.begin_upload("t", &other, size, &hashes)?;
        for (i, c) in bytes.chunks(CHUNK_SIZE).enumerate() {
            s.put_chunk("t", &other, i as u32, c)?;
        }
        assert!(!s.finish_upload("t", &other, size, &hashes)?);
        assert_eq!(s.chunk_hashes(&other)?, None);
        Ok(())
    }
}
