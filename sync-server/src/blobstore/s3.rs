//! [`S3BlobStore`]: blob bytes in an S3-compatible object store (AWS S3, MinIO, Ceph RGW,
//! s3s-fs …), for several server nodes that share no folder (docs/adr/0018). Requests are
//! signed with SigV4 by `rusty-s3` (presigned, path-style URLs) and sent by `ureq`, a
//! blocking client: the [`BlobStore`] trait is blocking and the server calls it from
//! blocking tasks.
//!
//! Layout in the bucket (hashes in lower-case hex):
//!
//! ```text
//! chunks/<chunk sha256>            one 256 KiB chunk, content-addressed (shared by every
//!                                  blob and tenant that contains it)
//! objects/<blob sha256>            a complete blob: its size (8 bytes, big-endian) and the
//!                                  SHA-256 of each of its chunks (32 bytes each)
//! uploads/<tenant tag>/<blob sha256>/manifest
//!                                  an upload in progress: size + chunk hashes
//! uploads/<tenant tag>/<blob sha256>/<index>
//!                                  a chunk that upload has stored
//! ```
//!
//! S3 has no rename, but a PUT is atomic (an object appears whole or not at all), so the
//! order of writes gives the file store's guarantees: `objects/<hash>` is written last,
//! after `finish_upload` re-read every chunk of *this tenant's upload* from `uploads/…`,
//! checked each chunk's hash and the whole SHA-256, and copied to `chunks/` the chunks not
//! already there. An object that exists is complete. Upload progress is keyed by tenant
//! (the tag is the first 8 bytes of the SHA-256 of the tenant id, as in the file store), so
//! one tenant's chunks never count as another tenant's proof of possession; a refused or
//! abandoned upload lives only under `uploads/` and is deleted (refused) or can be expired
//! by a bucket lifecycle rule on that prefix (abandoned). Chunks under `chunks/` are only
//! ever written from verified uploads.
//!
//! Errors are `std::io::Error`s naming the request, the object key (hashes only, never a
//! tenant id or a signed URL), the HTTP status and the S3 error code; a missing object is
//! `Ok(None)` where the trait allows it, but a missing *bucket* is always an error.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldsync_core::store::blobs::{chunk_count, chunk_len, sha256};
use ring::digest::{Context, SHA256};
use rusty_s3::actions::{ListObjectsV2, ObjectIdentifier};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::{BlobStore, Hash, manifest_bytes};

/// How long a signed request stays valid (it is sent at once; this only absorbs clock
/// skew between this node and the store).
const SIGNED_FOR: Duration = Duration::from_secs(300);
/// One request, connection to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response body read (a list page, a chunk list of a 256 MiB blob, a chunk).
const MAX_BODY: u64 = 16 << 20;
/// Chunks of one `finish_upload` kept in memory between verifying and copying them to
/// `chunks/` (larger uploads read them again).
const KEEP_BYTES: usize = 8 << 20;
/// Chunk lists of complete blobs kept in memory (they never change).
const LIST_CACHE: usize = 4096;

/// Where the store is and how to sign in.
#[derive(Clone)]
pub struct S3Config {
    /// The endpoint, `http(s)://host[:port][/path]`; the bucket is added to the path
    /// (path-style URLs, which every S3-compatible server accepts).
    pub endpoint: String,
    /// The bucket (created beforehand by the operator).
    pub bucket: String,
    /// The region requests are signed for (`us-east-1` where the server has none).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (never printed: `Debug` hides it).
    pub secret_key: String,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_key", &"…")
            .finish()
    }
}

/// A complete blob's size and chunk hashes (the body of `objects/<hash>`).
type ChunkList = Arc<(u64, Vec<Hash>)>;

/// Blob bytes in an S3-compatible bucket.
pub struct S3BlobStore {
    bucket: Bucket,
    creds: Credentials,
    agent: ureq::Agent,
    /// Chunk lists of complete blobs (`objects/<hash>`), by hash.
    lists: Mutex<HashMap<Hash, ChunkList>>,
}

impl std::fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("bucket", &self.bucket.name())
            .field("endpoint", &self.bucket.base_url().as_str())
            .finish_non_exhaustive()
    }
}

/// The `<Code>` (and `<Message>`) of an S3 error body, if any.
fn s3_error(body: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(body);
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        text.find(&open)
            .and_then(|a| {
                let rest = &text[a + open.len()..];
                rest.find(&close).map(|b| rest[..b].trim().to_string())
            })
            .unwrap_or_default()
    };
    (tag("Code"), tag("Message"))
}

/// An `io::Error` for a refused request: what, which key, the HTTP status, the S3 code.
fn refused(method: &str, key: &str, status: u16, body: &[u8]) -> io::Error {
    let (code, message) = s3_error(body);
    let kind = match status {
        401 | 403 => io::ErrorKind::PermissionDenied,
        404 => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    let mut text = format!("S3 {method} {key}: HTTP {status}");
    if !code.is_empty() {
        text.push(' ');
        text.push_str(&code);
    }
    if !message.is_empty() {
        text.push_str(&format!(" ({message})"));
    }
    io::Error::new(kind, text)
}

fn hash_hex(h: &Hash) -> String {
    hex::encode(h)
}

fn parse_list(b: &[u8]) -> io::Result<(u64, Vec<Hash>)> {
    if b.len() < 8 || !(b.len() - 8).is_multiple_of(32) {
        return Err(io::Error::other("chunk list is damaged"));
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&b[..8]);
    let size = u64::from_be_bytes(size);
    let hashes: Vec<Hash> = b[8..]
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect();
    if hashes.len() as u64 != u64::from(chunk_count(size)) {
        return Err(io::Error::other("chunk list is damaged"));
    }
    Ok((size, hashes))
}

enum Body<'b> {
    None,
    Bytes(&'b [u8]),
}

impl S3BlobStore {
    /// A store on `config`'s bucket. Checks that the bucket exists and the credentials
    /// are accepted (one HEAD request), so a wrong setting fails at start-up.
    pub fn open(config: &S3Config) -> io::Result<Self> {
        let store = Self::new(config)?;
        let url = store
            .bucket
            .head_bucket(Some(&store.creds))
            .sign(SIGNED_FOR);
        let (status, body) = store.send("HEAD", "bucket", url.as_str(), &[], Body::None)?;
        if status != 200 {
            let mut e = refused("HEAD", &format!("bucket {}", config.bucket), status, &body);
            if status == 404 {
                e = io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{e}: the bucket does not exist (create it first)"),
                );
            }
            return Err(e);
        }
        Ok(store)
    }

    fn new(config: &S3Config) -> io::Result<Self> {
        let endpoint: url::Url = config.endpoint.parse().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("S3 endpoint is not a URL: {e}"),
            )
        })?;
        let bucket = Bucket::new(
            endpoint,
            UrlStyle::Path,
            config.bucket.clone(),
            config.region.clone(),
        )
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("S3 endpoint or bucket refused: {e:?}"),
            )
        })?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .max_redirects(0)
            .build()
            .into();
        Ok(S3BlobStore {
            bucket,
            creds: Credentials::new(config.access_key_id.clone(), config.secret_key.clone()),
            agent,
            lists: Mutex::new(HashMap::new()),
        })
    }

    /// Create the bucket (tests, first set-up); one that already exists is fine.
    pub fn create_bucket(config: &S3Config) -> io::Result<()> {
        let store = Self::new(config)?;
        let url = store.bucket.create_bucket(&store.creds).sign(SIGNED_FOR);
        let (status, body) = store.send("PUT", "bucket", url.as_str(), &[], Body::Bytes(&[]))?;
        match status {
            200 => Ok(()),
            // Already there: fine if it is ours (we may use it), whatever the code says
            // (AWS answers BucketAlreadyOwnedByYou, others BucketAlreadyExists).
            409 if Self::open(config).is_ok() => Ok(()),
            _ => Err(refused(
                "PUT",
                &format!("bucket {}", config.bucket),
                status,
                &body,
            )),
        }
    }

    /// One request; returns the status and body (any status: callers decide).
    fn send(
        &self,
        method: &str,
        key: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> io::Result<(u16, Vec<u8>)> {
        let transport = |e: ureq::Error| io::Error::other(format!("S3 {method} {key}: {e}"));
        let mut resp = match (method, body) {
            ("GET", Body::None) => {
                let mut r = self.agent.get(url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            ("HEAD", Body::None) => self.agent.head(url).call(),
            ("DELETE", Body::None) => self.agent.delete(url).call(),
            ("PUT", Body::Bytes(b)) => {
                let mut r = self.agent.put(url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.send(b)
            }
            ("POST", Body::Bytes(b)) => {
                let mut r = self.agent.post(url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.send(b)
            }
            _ => return Err(io::Error::other(format!("S3 {method}: no such request"))),
        }
        .map_err(transport)?;
        let status = resp.status().as_u16();
        let bytes = if method == "HEAD" {
            Vec::new()
        } else {
            resp.body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_vec()
                .map_err(transport)?
        };
        Ok((status, bytes))
    }

    /// GET an object; `None` if there is no such key.
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        let url = self
            .bucket
            .get_object(Some(&self.creds), key)
            .sign(SIGNED_FOR);
        let (status, body) = self.send("GET", key, url.as_str(), &[], Body::None)?;
        match status {
            200 => Ok(Some(body)),
            404 if s3_error(&body).0 == "NoSuchKey" => Ok(None),
            _ => Err(refused("GET", key, status, &body)),
        }
    }

    /// Does the object exist? (A missing bucket answers 404 too; the PUT that follows a
    /// `false` then fails with NoSuchBucket.)
    fn exists(&self, key: &str) -> io::Result<bool> {
        let url = self
            .bucket
            .head_object(Some(&self.creds), key)
            .sign(SIGNED_FOR);
        let (status, body) = self.send("HEAD", key, url.as_str(), &[], Body::None)?;
        match status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(refused("HEAD", key, status, &body)),
        }
    }

    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let url = self
            .bucket
            .put_object(Some(&self.creds), key)
            .sign(SIGNED_FOR);
        let (status, body) = self.send(
            "PUT",
            key,
            url.as_str(),
            &[("content-type", "application/octet-stream")],
            Body::Bytes(bytes),
        )?;
        if status == 200 {
            Ok(())
        } else {
            Err(refused("PUT", key, status, &body))
        }
    }

    /// Every key under `prefix` with its size.
    fn list(&self, prefix: &str) -> io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action: ListObjectsV2<'_> = self.bucket.list_objects_v2(Some(&self.creds));
            action.with_prefix(prefix);
            action.with_max_keys(1000);
            if let Some(t) = &token {
                action.with_continuation_token(t.clone());
            }
            let url = action.sign(SIGNED_FOR);
            let (status, body) = self.send("GET", prefix, url.as_str(), &[], Body::None)?;
            if status != 200 {
                return Err(refused("LIST", prefix, status, &body));
            }
            let page = ListObjectsV2::parse_response(&String::from_utf8_lossy(&body))
                .map_err(|e| io::Error::other(format!("S3 LIST {prefix}: bad answer: {e}")))?;
            out.extend(
                page.contents
                    .into_iter()
                    .map(|c| (c.key, c.size.unwrap_or(0))),
            );
            match page.next_continuation_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }

    /// Delete every key under `prefix` (none is fine).
    fn delete_prefix(&self, prefix: &str) -> io::Result<()> {
        let keys = self.list(prefix)?;
        for batch in keys.chunks(1000) {
            let ids: Vec<ObjectIdentifier> = batch
                .iter()
                .map(|(k, _)| ObjectIdentifier::new(k.clone()))
                .collect();
            let mut action = self.bucket.delete_objects(Some(&self.creds), ids.iter());
            action.set_quiet(true);
            let url = action.sign(SIGNED_FOR);
            let (body, md5) = action.body_with_md5();
            let (status, reply) = self.send(
                "POST",
                prefix,
                url.as_str(),
                &[("content-md5", &md5), ("content-type", "application/xml")],
                Body::Bytes(body.as_bytes()),
            )?;
            if status != 200 {
                return Err(refused("DELETE", prefix, status, &reply));
            }
            // A quiet answer lists only failures.
            let (code, message) = s3_error(&reply);
            if !code.is_empty() {
                return Err(io::Error::other(format!(
                    "S3 DELETE {prefix}: {code} ({message})"
                )));
            }
        }
        Ok(())
    }

    fn upload_prefix(tenant: &str, hash: &Hash) -> String {
        let tag = hex::encode(&sha256(tenant.as_bytes())[..8]);
        format!("uploads/{tag}/{}/", hash_hex(hash))
    }

    fn object_key(hash: &Hash) -> String {
        format!("objects/{}", hash_hex(hash))
    }

    fn chunk_key(chunk: &Hash) -> String {
        format!("chunks/{}", hash_hex(chunk))
    }

    /// The size and chunk list of a complete blob (cached: objects never change).
    fn object(&self, hash: &Hash) -> io::Result<Option<ChunkList>> {
        if let Some(l) = self
            .lists
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
        {
            return Ok(Some(l.clone()));
        }
        let Some(b) = self.get(&Self::object_key(hash))? else {
            return Ok(None);
        };
        let list = Arc::new(parse_list(&b)?);
        let mut cache = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= LIST_CACHE {
            cache.clear();
        }
        cache.insert(*hash, list.clone());
        Ok(Some(list))
    }

    /// Staged chunk `idx` of an upload, checked against its length and hash.
    fn staged_chunk(
        &self,
        prefix: &str,
        size: u64,
        idx: u32,
        expect: &Hash,
    ) -> io::Result<Vec<u8>> {
        let key = format!("{prefix}{idx}");
        let Some(c) = self.get(&key)? else {
            return Err(io::Error::other(format!(
                "chunk {idx} of the upload is not stored"
            )));
        };
        if c.len() != chunk_len(size, idx) || sha256(&c) != *expect {
            // Drop it so that the next begin_upload resumes at this chunk.
            let url = self
                .bucket
                .delete_object(Some(&self.creds), &key)
                .sign(SIGNED_FOR);
            let _ = self.send("DELETE", &key, url.as_str(), &[], Body::None);
            return Err(io::Error::other("a stored chunk changed"));
        }
        Ok(c)
    }
}

impl BlobStore for S3BlobStore {
    fn chunk_hashes(&self, hash: &Hash) -> io::Result<Option<Vec<Hash>>> {
        Ok(self.object(hash)?.map(|l| l.1.clone()))
    }

    fn read_chunk(&self, hash: &Hash, size: u64, idx: u32) -> io::Result<Vec<u8>> {
        let Some(list) = self.object(hash)? else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("blob {} is not stored", hash_hex(hash)),
            ));
        };
        let (stored_size, chunks) = &*list;
        if *stored_size != size {
            return Err(io::Error::other(format!(
                "blob {} has {stored_size} bytes, not {size}",
                hash_hex(hash)
            )));
        }
        let Some(chunk) = chunks.get(idx as usize) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("blob {} has no chunk {idx}", hash_hex(hash)),
            ));
        };
        let key = Self::chunk_key(chunk);
        let Some(bytes) = self.get(&key)? else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("S3 GET {key}: the chunk of a complete blob is missing"),
            ));
        };
        if bytes.len() != chunk_len(size, idx) || sha256(&bytes) != *chunk {
            return Err(io::Error::other(format!("S3 GET {key}: chunk is damaged")));
        }
        Ok(bytes)
    }

    fn begin_upload(
        &self,
        tenant: &str,
        hash: &Hash,
        size: u64,
        chunk_hashes: &[Hash],
    ) -> io::Result<u32> {
        let prefix = Self::upload_prefix(tenant, hash);
        let manifest_key = format!("{prefix}manifest");
        let manifest = manifest_bytes(size, chunk_hashes);
        if self.get(&manifest_key)?.as_deref() != Some(&manifest[..]) {
            // New, or another manifest: start over.
            self.delete_prefix(&prefix)?;
            self.put(&manifest_key, &manifest)?;
            return Ok(0);
        }
        // Resume at the first chunk not stored whole.
        let stored: HashMap<u32, u64> = self
            .list(&prefix)?
            .into_iter()
            .filter_map(|(k, len)| Some((k.strip_prefix(&prefix)?.parse::<u32>().ok()?, len)))
            .collect();
        let mut next = 0u32;
        while next < chunk_count(size) && stored.get(&next) == Some(&(chunk_len(size, next) as u64))
        {
            next += 1;
        }
        Ok(next)
    }

    fn put_chunk(&self, tenant: &str, hash: &Hash, idx: u32, bytes: &[u8]) -> io::Result<()> {
        self.put(
            &format!("{}{idx}", Self::upload_prefix(tenant, hash)),
            bytes,
        )
    }

    fn finish_upload(
        &self,
        tenant: &str,
        hash: &Hash,
        size: u64,
        chunk_hashes: &[Hash],
    ) -> io::Result<bool> {
        let prefix = Self::upload_prefix(tenant, hash);
        let manifest = manifest_bytes(size, chunk_hashes);
        if self.get(&format!("{prefix}manifest"))?.as_deref() != Some(&manifest[..]) {
            return Err(io::Error::other(
                "the upload was started again with another manifest",
            ));
        }
        let n = chunk_count(size);
        if chunk_hashes.len() != n as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "chunk list does not match the size",
            ));
        }
        // This tenant's chunks, each checked, and the whole hash.
        let mut ctx = Context::new(&SHA256);
        let mut kept: Vec<Option<Vec<u8>>> = Vec::with_capacity(n as usize);
        let mut kept_bytes = 0usize;
        for i in 0..n {
            let c = self.staged_chunk(&prefix, size, i, &chunk_hashes[i as usize])?;
            ctx.update(&c);
            if kept_bytes + c.len() <= KEEP_BYTES {
                kept_bytes += c.len();
                kept.push(Some(c));
            } else {
                kept.push(None);
            }
        }
        if ctx.finish().as_ref() != hash {
            self.delete_prefix(&prefix)?;
            return Ok(false);
        }
        let object_key = Self::object_key(hash);
        if !self.exists(&object_key)? {
            for (i, c) in kept.into_iter().enumerate() {
                let ch = &chunk_hashes[i];
                let key = Self::chunk_key(ch);
                if self.exists(&key)? {
                    continue;
                }
                let c = match c {
                    Some(c) => c,
                    None => self.staged_chunk(&prefix, size, i as u32, ch)?,
                };
                self.put(&key, &c)?;
            }
            // Last: the object appears only once every chunk it names is stored.
            self.put(&object_key, &manifest)?;
        }
        self.delete_prefix(&prefix)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_error_bodies_are_read() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code>\
            <Message>The specified bucket does not exist</Message></Error>";
        let e = refused("GET", "objects/ab", 404, body);
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "S3 GET objects/ab: HTTP 404 NoSuchBucket (The specified bucket does not exist)"
        );
        assert_eq!(
            refused("PUT", "chunks/cd", 503, b"").to_string(),
            "S3 PUT chunks/cd: HTTP 503"
        );
    }

    #[test]
    fn chunk_lists_are_checked() -> io::Result<()> {
        let hashes = vec![[1u8; 32], [2u8; 32]];
        let size = fieldsync_core::store::blobs::CHUNK_SIZE as u64 + 5;
        assert_eq!(
            parse_list(&manifest_bytes(size, &hashes))?,
            (size, hashes.clone())
        );
        // A list that does not match its size, or is cut short: damaged, not garbage.
        assert!(parse_list(&manifest_bytes(size + (1 << 20), &hashes)).is_err());
        assert!(parse_list(&manifest_bytes(size, &hashes)[..40]).is_err());
        assert!(parse_list(&[0u8; 3]).is_err());
        Ok(())
    }

    #[test]
    fn the_secret_is_not_printed() {
        let c = S3Config {
            endpoint: "http://127.0.0.1:9000".into(),
            bucket: "b".into(),
            region: "us-east-1".into(),
            access_key_id: "AKID".into(),
            secret_key: "very-secret".into(),
        };
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
