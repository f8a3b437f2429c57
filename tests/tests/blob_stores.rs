//! The server's blob stores (issue 8, docs/adr/0018), one behaviour suite run against
//! both: files on disk ([`FsBlobStore`]) and a real S3-compatible server (`s3s-fs` on
//! 127.0.0.1, see `fieldsync_tests::s3`) through [`S3BlobStore`]. Resume at the first
//! missing chunk, tenant isolation of upload progress, a restarted manifest, a changed
//! chunk and a mismatched blob refused at finish (and the mismatched one discarded),
//! deduplication, chunk reads with the right lengths, the empty blob. Then what only the
//! S3 store has: its start-up checks, chunk sharing, nothing left under `uploads/`, and a
//! chunk damaged inside the object store detected on read.

use std::io;

use fieldsync_core::store::blobs::{CHUNK_SIZE, chunk_count, sha256};
use fieldsync_server::blobstore::s3::S3BlobStore;
use fieldsync_server::blobstore::{BlobStore, FsBlobStore, Hash};
use fieldsync_tests::s3::S3Server;

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_mul(seed | 1) ^ seed)
        .collect()
}

fn chunk_hashes(b: &[u8]) -> Vec<Hash> {
    b.chunks(CHUNK_SIZE).map(sha256).collect()
}

/// Every behaviour the server relies on. `objects()` counts the complete blobs the store
/// holds, read from its own storage (files, or the object server's folder).
fn behaviours(s: &dyn BlobStore, objects: &dyn Fn() -> usize) -> io::Result<()> {
    // Three chunks, the last one short.
    let blob = bytes(CHUNK_SIZE * 2 + 9, 7);
    let hash = sha256(&blob);
    let size = blob.len() as u64;
    let hashes = chunk_hashes(&blob);
    let chunk = |i: usize| &blob[i * CHUNK_SIZE..((i + 1) * CHUNK_SIZE).min(blob.len())];
    assert_eq!(chunk_count(size), 3);
    assert_eq!(s.chunk_hashes(&hash)?, None, "nothing stored yet");
    assert!(
        s.read_chunk(&hash, size, 0).is_err(),
        "no chunk of a missing blob"
    );

    // Resume at the first missing chunk.
    assert_eq!(s.begin_upload("t", &hash, size, &hashes)?, 0);
    assert_eq!(s.begin_upload("t", &hash, size, &hashes)?, 0, "asked again");
    s.put_chunk("t", &hash, 0, chunk(0))?;
    assert_eq!(s.begin_upload("t", &hash, size, &hashes)?, 1);
    s.put_chunk("t", &hash, 1, chunk(1))?;
    assert_eq!(s.begin_upload("t", &hash, size, &hashes)?, 2);

    // Another tenant's progress is its own: it starts from nothing, and cannot finish on
    // the first tenant's chunks.
    assert_eq!(s.begin_upload("u", &hash, size, &hashes)?, 0);
    assert!(
        s.finish_upload("u", &hash, size, &hashes).is_err(),
        "finished without its own chunks"
    );
    assert_eq!(s.chunk_hashes(&hash)?, None);
    assert_eq!(
        s.begin_upload("t", &hash, size, &hashes)?,
        2,
        "the first tenant's progress is untouched"
    );

    // Another manifest for the same hash starts over.
    let mut other_hashes = hashes.clone();
    other_hashes[2] = [0xee; 32];
    assert_eq!(s.begin_upload("v", &hash, size, &hashes)?, 0);
    s.put_chunk("v", &hash, 0, chunk(0))?;
    assert_eq!(s.begin_upload("v", &hash, size, &hashes)?, 1);
    assert_eq!(s.begin_upload("v", &hash, size, &other_hashes)?, 0);
    assert_eq!(s.begin_upload("v", &hash, size, &hashes)?, 0);

    // A stored chunk that no longer matches its hash: finishing fails, no object.
    s.put_chunk("t", &hash, 2, &bytes(9, 99))?;
    assert!(s.finish_upload("t", &hash, size, &hashes).is_err());
    assert_eq!(s.chunk_hashes(&hash)?, None);
    assert_eq!(objects(), 0);
    // The good chunk again, and the blob is made.
    s.put_chunk("t", &hash, 2, chunk(2))?;
    assert!(s.finish_upload("t", &hash, size, &hashes)?);
    assert_eq!(s.chunk_hashes(&hash)?, Some(hashes.clone()));
    assert_eq!(objects(), 1);
    for i in 0..3u32 {
        let c = s.read_chunk(&hash, size, i)?;
        assert_eq!(c.len(), chunk(i as usize).len(), "chunk {i} length");
        assert_eq!(c, chunk(i as usize), "chunk {i} bytes");
    }
    assert_eq!(s.read_chunk(&hash, size, 2)?.len(), 9);
    assert!(s.read_chunk(&hash, size, 3).is_err(), "past the last chunk");
    // The upload is gone once finished.
    assert_eq!(s.begin_upload("t", &hash, size, &hashes)?, 0);

    // Dedupe: the second tenant proves possession by sending every chunk; stored once.
    for i in 0..3 {
        s.put_chunk("u", &hash, i as u32, chunk(i))?;
    }
    assert_eq!(s.begin_upload("u", &hash, size, &hashes)?, 3);
    assert!(s.finish_upload("u", &hash, size, &hashes)?);
    assert_eq!(objects(), 1, "one copy for two tenants");
    assert_eq!(s.read_chunk(&hash, size, 1)?, chunk(1));

    // Chunks that match their (lying) chunk hashes but not the blob hash: refused and
    // discarded.
    let lie = [9u8; 32];
    assert_eq!(s.begin_upload("t", &lie, size, &hashes)?, 0);
    for i in 0..3 {
        s.put_chunk("t", &lie, i as u32, chunk(i))?;
    }
    assert!(!s.finish_upload("t", &lie, size, &hashes)?);
    assert_eq!(s.chunk_hashes(&lie)?, None);
    assert_eq!(
        s.begin_upload("t", &lie, size, &hashes)?,
        0,
        "the refused upload was discarded"
    );
    assert_eq!(objects(), 1);

    // A blob of one full chunk exactly, and the empty blob.
    let one = bytes(CHUNK_SIZE, 3);
    let (h1, c1) = (sha256(&one), chunk_hashes(&one));
    assert_eq!(s.begin_upload("t", &h1, one.len() as u64, &c1)?, 0);
    s.put_chunk("t", &h1, 0, &one)?;
    assert!(s.finish_upload("t", &h1, one.len() as u64, &c1)?);
    assert_eq!(s.read_chunk(&h1, one.len() as u64, 0)?, one);
    let empty = sha256(b"");
    assert_eq!(s.begin_upload("t", &empty, 0, &[])?, 0);
    assert!(s.finish_upload("t", &empty, 0, &[])?);
    assert_eq!(s.chunk_hashes(&empty)?, Some(vec![]));
    assert_eq!(objects(), 3);
    Ok(())
}

/// Complete blobs in a file store's folder: `objects/ab/<hash>` without the sidecars
/// and temporary files.
fn fs_objects(root: &std::path::Path) -> usize {
    let mut n = 0;
    for d in std::fs::read_dir(root.join("objects"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn file_store_behaviours() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let s = FsBlobStore::open(dir.path())?;
    behaviours(&s, &|| fs_objects(dir.path()))
}

#[test]
fn s3_store_behaviours() -> io::Result<()> {
    let srv = S3Server::start();
    let cfg = srv.bucket("blobs");
    let s = S3BlobStore::open(&cfg)?;
    let r = behaviours(&s, &|| srv.keys("blobs", "objects").len());
    if let Err(e) = &r {
        eprintln!("{e}; s3s-fs log:\n{}", srv.log_tail());
    }
    r?;
    // Every upload finished or was refused: nothing is left under uploads/ but the
    // manifests of the uploads the suite began and left (tenant v, and t's last begin).
    let left = srv.keys("blobs", "uploads");
    assert!(
        left.iter().all(|k| k.ends_with("/manifest")),
        "only manifests of abandoned uploads remain: {left:?}"
    );
    Ok(())
}

#[test]
fn s3_store_checks_its_settings_at_start() {
    let srv = S3Server::start();
    // No such bucket.
    let e = S3BlobStore::open(&srv.config("nope")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("does not exist"), "{e}");
    // A wrong secret.
    let mut cfg = srv.bucket("blobs");
    cfg.secret_key = "wrong".into();
    let e = S3BlobStore::open(&cfg).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("HTTP 403"), "{e}");
    // A broken endpoint.
    cfg.endpoint = "not a url".into();
    let e = S3BlobStore::open(&cfg).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    // Nothing listening.
    let mut cfg = srv.config("blobs");
    cfg.endpoint = "http://127.0.0.1:9".into();
    let e = S3BlobStore::open(&cfg).unwrap_err();
    assert!(e.to_string().starts_with("S3 HEAD bucket:"), "{e}");
    // Creating a bucket twice is fine.
    S3BlobStore::create_bucket(&srv.config("blobs")).expect("again");
}

#[test]
fn s3_store_shares_chunks_and_detects_damage() -> io::Result<()> {
    let srv = S3Server::start();
    let cfg = srv.bucket("blobs");
    let s = S3BlobStore::open(&cfg)?;
    let upload = |tenant: &str, b: &[u8]| -> io::Result<Hash> {
        let (h, c) = (sha256(b), chunk_hashes(b));
        let next = s.begin_upload(tenant, &h, b.len() as u64, &c)?;
        for (i, piece) in b.chunks(CHUNK_SIZE).enumerate().skip(next as usize) {
            s.put_chunk(tenant, &h, i as u32, piece)?;
        }
        assert!(s.finish_upload(tenant, &h, b.len() as u64, &c)?);
        Ok(h)
    };
    // Two blobs that share their first two chunks: four distinct chunks stored.
    let a = bytes(CHUNK_SIZE * 3, 11);
    let mut b = a[..CHUNK_SIZE * 2].to_vec();
    b.extend_from_slice(&bytes(1000, 12));
    let ha = upload("t", &a)?;
    let hb = upload("u", &b)?;
    assert_eq!(srv.keys("blobs", "chunks").len(), 4);
    assert_eq!(srv.keys("blobs", "objects").len(), 2);
    assert!(
        srv.keys("blobs", "uploads").is_empty(),
        "finished uploads leave nothing behind"
    );
    assert_eq!(s.read_chunk(&hb, b.len() as u64, 2)?, bytes(1000, 12));

    // A chunk damaged inside the object store is detected on read, never served. A
    // fresh store (no cached chunk lists) reads it the same way.
    let victim = sha256(&a[CHUNK_SIZE * 2..]);
    let path = srv.bucket_dir("blobs").join("chunks").join(hex_of(&victim));
    let mut damaged = std::fs::read(&path)?;
    damaged[10] ^= 1;
    std::fs::write(&path, &damaged)?;
    let fresh = S3BlobStore::open(&cfg)?;
    for st in [&s, &fresh] {
        let e = st.read_chunk(&ha, a.len() as u64, 2).unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");
        assert_eq!(
            st.read_chunk(&ha, a.len() as u64, 0)?,
            a[..CHUNK_SIZE].to_vec()
        );
    }
    // A damaged chunk list is an error, not a missing blob.
    let list = srv.bucket_dir("blobs").join("objects").join(hex_of(&hb));
    std::fs::write(&list, b"short")?;
    let e = fresh.chunk_hashes(&hb).unwrap_err();
    assert!(e.to_string().contains("damaged"), "{e}");
    Ok(())
}

fn hex_of(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}
