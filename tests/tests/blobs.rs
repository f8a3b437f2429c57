//! Attachments over real QUIC on loopback (issue 8): 20 MB of photos uploaded over a
//! lossy proxy with the connection killed every two seconds (and the app restarted
//! after every kill) completes with no chunk received twice beyond one in flight per
//! kill, hashes checked on the server and again by a second device downloading them; a
//! document exchange started during a large upload completes while the upload is
//! provably unfinished; an unauthorised fetch is refused; a corrupted chunk is detected
//! and re-requested.

use std::time::Duration;

use fieldsync_core::model::{AttachmentRef, Visit};
use fieldsync_core::sample;
use fieldsync_core::store::blobs::{BlobHash, CHUNK_SIZE, chunk_count, sha256};
use fieldsync_core::sync::blobs::{self as transfer, BlobStream, TransferReport};
use fieldsync_core::sync::quic;
use fieldsync_core::sync::wire::{BlobChunk, BlobOffer, ChunkResult, ClientMsg, ServerMsg};
use fieldsync_core::{DocId, Error};
use fieldsync_tests::harness::*;
use fieldsync_tests::proxy::{Faults, Proxy};
use serde_bytes::ByteBuf;

/// Incompressible bytes, like a JPEG.
fn photo(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = sample::Rng::new(seed);
    (0..len).map(|_| (rng.next_u64() >> 24) as u8).collect()
}

async fn connect(
    d: &Device,
    via: Option<std::net::SocketAddr>,
) -> fieldsync_core::Result<quinn::Connection> {
    let ident = d.store.sync_identity()?.expect("enrolled");
    let addr = via.unwrap_or_else(|| {
        format!("{}:{}", ident.server.host, ident.server.port)
            .parse()
            .expect("addr")
    });
    quic::connect_to(
        &d.endpoint,
        &ident.server,
        addr,
        None,
        Duration::from_secs(10),
        &d.cfg,
    )
    .await
}

/// Connect and authenticate the connection with one exchange.
async fn authenticated(
    d: &Device,
    via: Option<std::net::SocketAddr>,
) -> fieldsync_core::Result<quinn::Connection> {
    let conn = connect(d, via).await?;
    match tokio::time::timeout(
        Duration::from_secs(30),
        quic::run_exchange(&conn, &d.store, d.cfg.clone()),
    )
    .await
    {
        Ok(Ok(_)) => Ok(conn),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Network("exchange timed out".into())),
    }
}

/// A visit in `scope` referencing `refs`, synced to the server and materialised.
async fn visit_with(
    srv: &TestServer,
    d: &Device,
    scope_name: &str,
    refs: Vec<AttachmentRef>,
) -> DocId {
    let acct = d
        .store
        .create(&scope(scope_name), &sample::account("Acme", "li", "north"))
        .expect("account");
    let mut v: Visit = sample::visit(acct, "li", 1_700_000_000_000, "site survey");
    v.attachments = refs;
    let id = d.store.create(&scope(scope_name), &v).expect("visit");
    d.sync().await.expect("sync");
    assert!(srv.server.wait_materialized(Duration::from_secs(30)).await);
    id
}

fn server_object(srv: &TestServer, hash: &BlobHash) -> Vec<u8> {
    let h = hex_of(hash);
    std::fs::read(srv.dir.path().join("blobs/objects").join(&h[..2]).join(&h)).expect("object file")
}

fn hex_of(h: &BlobHash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_megabytes_over_a_lossy_link_killed_every_two_seconds() {
    let srv = TestServer::start().await;
    srv.user("li", &[("team:north", true, true)]);
    srv.user("wang", &[("team:north", true, false)]);
    let mut a = Device::enrolled(&srv, "photo-a", "li").await;
    let proxy = Proxy::start(
        srv.addr(),
        Faults {
            loss: 0.005,
            delay: Duration::from_millis(5),
            rate_bps: Some(40_000_000),
            ..Faults::default()
        },
        8,
    )
    .await
    .expect("proxy");

    // Eight photos of 2.5 MB: 20 MB, 80 chunks.
    let photos: Vec<Vec<u8>> = (0..8).map(|i| photo(2_500_000, 100 + i)).collect();
    let mut refs = Vec::new();
    for (i, p) in photos.iter().enumerate() {
        let path = a.dir.path().join(format!("p{i}.jpg"));
        std::fs::write(&path, p).unwrap();
        refs.push(
            a.store
                .attach_file(&path, "image/jpeg", &format!("p{i}.jpg"))
                .unwrap(),
        );
    }
    let total_chunks: u32 = photos.iter().map(|p| chunk_count(p.len() as u64)).sum();

    let mut kills = 0u32;
    let mut rounds = 0u32;
    let mut report = TransferReport::default();
    loop {
        rounds += 1;
        assert!(rounds <= 60, "upload did not complete in 60 connections");
        if a.store.blobs_to_upload().unwrap().is_empty() {
            break;
        }
        let Ok(conn) = authenticated(&a, Some(proxy.addr)).await else {
            continue;
        };
        let (store, c2) = (a.store.clone(), conn.clone());
        let task = tokio::spawn(async move { transfer::upload_pending(&c2, &store, None).await });
        tokio::select! {
            r = task => {
                match r.expect("task") {
                    Ok(r) => {
                        report.uploaded += r.uploaded;
                        report.chunks_sent += r.chunks_sent;
                    }
                    Err(e) => tracing::info!(error = %e, "upload interrupted"),
                }
                conn.close(0u32.into(), b"done");
            }
            () = tokio::time::sleep(Duration::from_secs(2)) => {
                // Kill the connection mid-transfer, then "restart the app".
                conn.close(0u32.into(), b"killed");
                kills += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                a.reopen();
            }
        }
    }
    assert!(
        kills >= 2,
        "the transfer was interrupted (killed {kills} times)"
    );
    let stats = srv.server.blob_stats();
    eprintln!(
        "20 MB: {rounds} connections, {kills} kills, {} chunk frames received for {total_chunks} chunks ({} sent on connections that completed), proxy {:?}",
        stats.chunks_received,
        report.chunks_sent,
        proxy.stats()
    );
    assert_eq!(stats.uploads_completed, 8);
    let distinct = stats.arrivals.len() as u64;
    assert_eq!(distinct, u64::from(total_chunks), "every chunk arrived");
    let extra: u64 = stats.arrivals.values().map(|n| u64::from(n - 1)).sum();
    assert!(
        extra <= u64::from(kills),
        "{extra} chunks arrived twice with {kills} kills: only the one in flight may repeat"
    );
    // The server verified each blob (uploads_completed) and holds exactly the bytes.
    for (p, r) in photos.iter().zip(&refs) {
        let h = r.hash().unwrap();
        assert_eq!(sha256(p), h);
        assert_eq!(server_object(&srv, &h), *p, "server copy");
    }
    // A second device reads them back, checked chunk by chunk and whole.
    let id = visit_with(&srv, &a, "team:north", refs.clone()).await;
    let b = Device::enrolled(&srv, "photo-b", "wang").await;
    b.sync().await.unwrap();
    let missing = b.store.missing_blobs(id).unwrap();
    assert_eq!(missing.len(), 8);
    let conn = authenticated(&b, None).await.unwrap();
    let hashes: Vec<BlobHash> = missing.iter().map(|(h, _)| *h).collect();
    let got = transfer::download_blobs(&conn, &b.store, &hashes, None)
        .await
        .unwrap();
    assert_eq!(got.downloaded, 8);
    for (p, r) in photos.iter().zip(&refs) {
        assert_eq!(b.store.read_blob(&r.hash().unwrap()).unwrap(), *p);
    }
    assert!(b.store.missing_blobs(id).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_exchange_does_not_wait_for_a_large_upload() {
    let srv = TestServer::start().await;
    srv.user("li", &[("team:north", true, true)]);
    srv.user("wang", &[("team:north", true, true)]);
    let a = Device::enrolled(&srv, "big-a", "li").await;
    let b = Device::enrolled(&srv, "big-b", "wang").await;
    // 2 Mbit/s: 4 MB take at least 16 s; an exchange takes a few round trips.
    let proxy = Proxy::start(
        srv.addr(),
        Faults {
            delay: Duration::from_millis(20),
            rate_bps: Some(2_000_000),
            ..Faults::default()
        },
        9,
    )
    .await
    .expect("proxy");
    let big = photo(4 << 20, 7);
    let hash = a.store.put_blob(&big, "video/mp4").unwrap();
    let conn = authenticated(&a, Some(proxy.addr)).await.unwrap();
    let (store, c2) = (a.store.clone(), conn.clone());
    let upload = tokio::spawn(async move { transfer::upload_pending(&c2, &store, None).await });
    // The upload is running: the server has received chunks of it.
    for _ in 0..600 {
        if srv.server.blob_stats().chunks_received >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        srv.server.blob_stats().chunks_received >= 1,
        "upload started"
    );
    // Now a document sync on the same connection.
    let acct = a
        .store
        .create(
            &scope("team:north"),
            &sample::account("Zhang Mills", "li", "north"),
        )
        .unwrap();
    let (rep, _) = quic::run_exchange(&conn, &a.store, a.cfg.clone())
        .await
        .unwrap();
    // It completed while the upload is provably unfinished.
    let stats = srv.server.blob_stats();
    assert_eq!(stats.uploads_completed, 0, "upload still running");
    assert!(!upload.is_finished(), "upload task still running");
    assert!(
        stats.chunks_received < u64::from(chunk_count(big.len() as u64)),
        "not every chunk has arrived"
    );
    assert!(rep.pushed >= 1, "the exchange pushed the new document");
    assert_eq!(a.store.unacked_count().unwrap(), 0);
    b.sync().await.unwrap();
    assert_eq!(
        b.store
            .get::<fieldsync_core::model::Account>(acct)
            .unwrap()
            .name,
        "Zhang Mills"
    );
    upload.abort();
    conn.close(0u32.into(), b"done");
    let st = a.store.blob_state(&hash).unwrap().unwrap();
    assert!(!st.on_server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthorised_fetch_is_refused() {
    let srv = TestServer::start().await;
    srv.user("li", &[("team:north", true, true)]);
    srv.user("wang", &[("team:north", true, false)]);
    srv.user("zhao", &[("team:south", true, true)]);
    let a = Device::enrolled(&srv, "auth-a", "li").await;
    let sig = photo(300_000, 3);
    let hash = a.store.put_blob(&sig, "image/png").unwrap();
    let conn = authenticated(&a, None).await.unwrap();
    let up = transfer::upload_pending(&conn, &a.store, None)
        .await
        .unwrap();
    assert_eq!(up.uploaded, 1);
    conn.close(0u32.into(), b"done");

    // Held but not referenced by any document: nobody may fetch it yet.
    let b = Device::enrolled(&srv, "auth-b", "wang").await;
    let conn = authenticated(&b, None).await.unwrap();
    let r = transfer::download_blobs(&conn, &b.store, &[hash], None).await;
    assert!(
        matches!(&r, Err(Error::BlobRefused { reason, .. }) if reason == "forbidden"),
        "{r:?}"
    );

    let refs = vec![AttachmentRef::new(
        hash,
        sig.len() as u64,
        "image/png",
        "signature.png",
    )];
    visit_with(&srv, &a, "team:north", refs).await;

    // A reader of team:north may.
    let conn = authenticated(&b, None).await.unwrap();
    let r = transfer::download_blobs(&conn, &b.store, &[hash], None)
        .await
        .unwrap();
    assert_eq!(r.downloaded, 1);
    assert_eq!(b.store.read_blob(&hash).unwrap(), sig);

    // Someone who reads only team:south may not, even knowing the hash.
    let c = Device::enrolled(&srv, "auth-c", "zhao").await;
    let conn = authenticated(&c, None).await.unwrap();
    let r = transfer::download_blobs(&conn, &c.store, &[hash], None).await;
    assert!(
        matches!(&r, Err(Error::BlobRefused { reason, .. }) if reason == "forbidden"),
        "{r:?}"
    );
    assert!(
        c.store
            .blob_state(&hash)
            .unwrap()
            .is_none_or(|s| !s.complete)
    );
    // An unknown hash is not found.
    let r = transfer::download_blobs(&conn, &c.store, &[[1u8; 32]], None).await;
    assert!(
        matches!(&r, Err(Error::BlobRefused { reason, .. }) if reason == "not_found"),
        "{r:?}"
    );
    // A blob stream before any exchange authenticated the connection is refused.
    let raw = connect(&c, None).await.unwrap();
    let mut s = BlobStream::open(&raw).await.unwrap();
    let mut rep = TransferReport::default();
    assert!(s.download(&c.store, hash, None, &mut rep).await.is_err());
    assert!(srv.server.blob_stats().fetches_refused >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_chunk_is_detected_and_re_requested() {
    let srv = TestServer::start().await;
    srv.user("li", &[("team:north", true, true)]);
    let a = Device::enrolled(&srv, "corrupt-a", "li").await;
    let bytes = photo(CHUNK_SIZE + 1000, 5);
    let hash = sha256(&bytes);
    let chunk_hashes: Vec<BlobHash> = bytes.chunks(CHUNK_SIZE).map(sha256).collect();
    let conn = authenticated(&a, None).await.unwrap();
    let version = quic::negotiated_version(&conn).unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let mut ask = async |m: ClientMsg| -> ServerMsg {
        quic::write_msgs(&mut send, version, &[m]).await.unwrap();
        quic::read_msg::<ServerMsg>(&mut recv, version)
            .await
            .unwrap()
            .unwrap()
            .0
    };
    let status = ask(ClientMsg::BlobOffer(BlobOffer {
        hash,
        size: bytes.len() as u64,
        chunk_hashes: chunk_hashes.clone(),
    }))
    .await;
    assert!(matches!(status, ServerMsg::BlobStatus(s) if !s.held && s.next_chunk == 0));
    let chunk = |i: usize, flip: bool| {
        let mut b = bytes.chunks(CHUNK_SIZE).nth(i).unwrap().to_vec();
        if flip {
            b[100] ^= 0x40;
        }
        ClientMsg::BlobChunk(BlobChunk {
            hash,
            index: i as u32,
            bytes: ByteBuf::from(b),
        })
    };
    // A flipped bit in chunk 0: detected, and chunk 0 is asked for again.
    let r = ask(chunk(0, true)).await;
    assert!(
        matches!(&r, ServerMsg::BlobChunkAck(a) if a.index == 0 && a.result == ChunkResult::Corrupt),
        "{r:?}"
    );
    // Chunk 1 before chunk 0 is stored: not accepted.
    let r = ask(chunk(1, false)).await;
    assert!(
        matches!(&r, ServerMsg::BlobChunkAck(a) if a.index == 1 && a.result == ChunkResult::OutOfOrder),
        "{r:?}"
    );
    let r = ask(chunk(0, false)).await;
    assert!(
        matches!(&r, ServerMsg::BlobChunkAck(a) if a.index == 0 && a.result == ChunkResult::Stored),
        "{r:?}"
    );
    let r = ask(chunk(1, false)).await;
    assert!(
        matches!(&r, ServerMsg::BlobChunkAck(a) if a.index == 1 && a.result == ChunkResult::Complete),
        "{r:?}"
    );
    // Held now, once: an offer of the same hash sends nothing.
    let r = ask(ClientMsg::BlobOffer(BlobOffer {
        hash,
        size: bytes.len() as u64,
        chunk_hashes,
    }))
    .await;
    assert!(matches!(&r, ServerMsg::BlobStatus(s) if s.held), "{r:?}");
    let stats = srv.server.blob_stats();
    assert_eq!(stats.corrupt_chunks, 1);
    assert_eq!(stats.uploads_completed, 1);
    assert_eq!(server_object(&srv, &hash), bytes);

    // The device side: a chunk the server reports corrupt is sent again. A second blob
    // through the agent's code path, with the device store holding the true bytes.
    let other = photo(3 * CHUNK_SIZE, 6);
    let h2 = a.store.put_blob(&other, "image/jpeg").unwrap();
    let r = transfer::upload_pending(&conn, &a.store, None)
        .await
        .unwrap();
    assert_eq!((r.uploaded, r.chunks_resent), (1, 0));
    assert!(a.store.blob_state(&h2).unwrap().unwrap().on_server);
    // Lying chunk hashes (each chunk matches, the whole does not): refused, not stored.
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let fake = [9u8; 32];
    let small = photo(1000, 8);
    quic::write_msgs(
        &mut send,
        version,
        &[
            ClientMsg::BlobOffer(BlobOffer {
                hash: fake,
                size: 1000,
                chunk_hashes: vec![sha256(&small)],
            }),
            ClientMsg::BlobChunk(BlobChunk {
                hash: fake,
                index: 0,
                bytes: ByteBuf::from(small),
            }),
        ],
    )
    .await
    .unwrap();
    let _status = quic::read_msg::<ServerMsg>(&mut recv, version)
        .await
        .unwrap();
    let r = quic::read_msg::<ServerMsg>(&mut recv, version)
        .await
        .unwrap()
        .unwrap()
        .0;
    assert!(
        matches!(&r, ServerMsg::BlobRefused(x) if x.reason == fieldsync_core::sync::wire::BlobRefusal::HashMismatch),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_resumes_after_an_app_restart() {
    let srv = TestServer::start().await;
    srv.user("li", &[("team:north", true, true)]);
    let a = Device::enrolled(&srv, "resume-a", "li").await;
    let mut b = Device::enrolled(&srv, "resume-b", "li").await;
    let bytes = photo(6 * CHUNK_SIZE, 11);
    let hash = a.store.put_blob(&bytes, "audio/ogg").unwrap();
    let conn = authenticated(&a, None).await.unwrap();
    transfer::upload_pending(&conn, &a.store, None)
        .await
        .unwrap();
    visit_with(
        &srv,
        &a,
        "team:north",
        vec![AttachmentRef::new(
            hash,
            bytes.len() as u64,
            "audio/ogg",
            "note.ogg",
        )],
    )
    .await;
    b.sync().await.unwrap();
    // Store the first two chunks as an interrupted download would have.
    let hashes = a.store.blob_chunk_hashes(&hash).unwrap();
    b.store.begin_download(&hash, bytes.len() as u64).unwrap();
    for i in 0..2u32 {
        b.store
            .put_downloaded_chunk(
                &hash,
                i,
                &a.store.blob_chunk(&hash, i).unwrap(),
                &hashes[i as usize],
            )
            .unwrap();
    }
    b.reopen();
    let before = srv.server.blob_stats().chunks_sent;
    let conn = authenticated(&b, None).await.unwrap();
    let r = transfer::download_blobs(&conn, &b.store, &[hash], None)
        .await
        .unwrap();
    assert_eq!(r.chunks_received, 4, "resumed at the first missing chunk");
    assert_eq!(srv.server.blob_stats().chunks_sent - before, 4);
    assert_eq!(b.store.read_blob(&hash).unwrap(), bytes);
}

/// The same path on a server whose blob bytes live in an S3-compatible store (a real
/// s3s-fs on loopback, `fieldsync_tests::s3`): an upload interrupted after two chunks
/// resumes on a new connection at the third, the server verifies it into the bucket, and
/// a second device downloads and verifies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_the_s3_store_resumes_stores_and_serves_a_blob() {
    let s3 = fieldsync_tests::s3::S3Server::start();
    let s3cfg = s3.bucket("fieldsync-blobs");
    let cfg2 = s3cfg.clone();
    let srv = TestServer::start_with(tempfile::tempdir().unwrap(), move |c| {
        c.blobs = fieldsync_server::blobstore::BlobStoreConfig::S3(cfg2);
    })
    .await;
    srv.user("li", &[("team:north", true, true)]);
    srv.user("wang", &[("team:north", true, false)]);
    let a = Device::enrolled(&srv, "s3-a", "li").await;
    let bytes = photo(5 * CHUNK_SIZE + 4321, 21);
    let hash = a.store.put_blob(&bytes, "image/jpeg").unwrap();
    let chunk_hashes: Vec<BlobHash> = bytes.chunks(CHUNK_SIZE).map(sha256).collect();
    let n = chunk_count(bytes.len() as u64);
    assert_eq!(n, 6);

    // Two chunks by hand, then the connection is gone.
    let conn = authenticated(&a, None).await.unwrap();
    let version = quic::negotiated_version(&conn).unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let mut msgs = vec![ClientMsg::BlobOffer(BlobOffer {
        hash,
        size: bytes.len() as u64,
        chunk_hashes: chunk_hashes.clone(),
    })];
    for (i, c) in bytes.chunks(CHUNK_SIZE).take(2).enumerate() {
        msgs.push(ClientMsg::BlobChunk(BlobChunk {
            hash,
            index: i as u32,
            bytes: ByteBuf::from(c.to_vec()),
        }));
    }
    quic::write_msgs(&mut send, version, &msgs).await.unwrap();
    let mut replies = Vec::new();
    for _ in 0..3 {
        replies.push(
            quic::read_msg::<ServerMsg>(&mut recv, version)
                .await
                .unwrap()
                .unwrap()
                .0,
        );
    }
    assert!(
        matches!(&replies[0], ServerMsg::BlobStatus(s) if !s.held && s.next_chunk == 0),
        "{replies:?}"
    );
    assert!(
        matches!(&replies[2], ServerMsg::BlobChunkAck(x) if x.index == 1 && x.result == ChunkResult::Stored),
        "{replies:?}"
    );
    conn.close(0u32.into(), b"killed");
    assert_eq!(
        s3.keys("fieldsync-blobs", "uploads").len(),
        3,
        "the manifest and two chunks are in the bucket"
    );

    // The device's own agent on a new connection: the server resumes at chunk 2.
    let conn = authenticated(&a, None).await.unwrap();
    let up = transfer::upload_pending(&conn, &a.store, None)
        .await
        .unwrap();
    conn.close(0u32.into(), b"done");
    assert_eq!(
        (up.uploaded, up.chunks_sent),
        (1, u64::from(n) - 2),
        "{up:?}"
    );
    let stats = srv.server.blob_stats();
    assert_eq!(stats.uploads_completed, 1);
    assert_eq!(stats.arrivals.len(), n as usize, "every chunk arrived");
    assert!(
        stats.arrivals.values().all(|k| *k == 1),
        "no chunk arrived twice: {:?}",
        stats.arrivals
    );
    // In the bucket: the object and its chunks, no upload left; nothing on disk.
    assert_eq!(
        s3.keys("fieldsync-blobs", "objects"),
        vec![format!("objects/{}", hex_of(&hash))]
    );
    assert_eq!(s3.keys("fieldsync-blobs", "chunks").len(), n as usize);
    assert!(s3.keys("fieldsync-blobs", "uploads").is_empty());
    assert!(!srv.dir.path().join("blobs").exists(), "no file store");
    // An independent store on the bucket reads the bytes back.
    {
        use fieldsync_server::blobstore::BlobStore;
        let st = fieldsync_server::blobstore::s3::S3BlobStore::open(&s3cfg).unwrap();
        assert_eq!(st.chunk_hashes(&hash).unwrap(), Some(chunk_hashes.clone()));
        let mut all = Vec::new();
        for i in 0..n {
            all.extend(st.read_chunk(&hash, bytes.len() as u64, i).unwrap());
        }
        assert_eq!(all, bytes);
    }

    // A second device downloads it, checked chunk by chunk and whole.
    let refs = vec![AttachmentRef::new(
        hash,
        bytes.len() as u64,
        "image/jpeg",
        "meter.jpg",
    )];
    let id = visit_with(&srv, &a, "team:north", refs).await;
    let b = Device::enrolled(&srv, "s3-b", "wang").await;
    b.sync().await.unwrap();
    assert_eq!(b.store.missing_blobs(id).unwrap().len(), 1);
    let conn = authenticated(&b, None).await.unwrap();
    let got = transfer::download_blobs(&conn, &b.store, &[hash], None)
        .await
        .unwrap();
    assert_eq!((got.downloaded, got.chunks_received), (1, u64::from(n)));
    assert_eq!(b.store.read_blob(&hash).unwrap(), bytes);
    assert!(b.store.missing_blobs(id).unwrap().is_empty());
}
