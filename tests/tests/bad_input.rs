//! Hostile input over real QUIC: garbage frames, oversized frames, bad flags, a
//! decompression bomb, messages out of order, malformed and bomb Automerge changes,
//! too many changes. Each gets a typed refusal or closes only that connection; server
//! memory stays bounded; a well-behaved device keeps syncing throughout.

use std::io::Write;
use std::time::Duration;

use fieldsync_core::sample;
use fieldsync_core::store::ServerEndpoint;
use fieldsync_core::sync::quic::{self, client_transport, write_msgs};
use fieldsync_core::sync::wire::{self, ClientMsg, DocChanges, Push, RejectReason, ServerMsg};
use fieldsync_tests::harness::*;
use serde_bytes::ByteBuf;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn raw_conn(srv: &TestServer) -> quinn::Connection {
    raw_conn_for(srv, &[wire::PROTOCOL_VERSION, wire::PROTOCOL_V1]).await
}

/// A connection offering only `versions` by ALPN.
async fn raw_conn_for(srv: &TestServer, versions: &[u16]) -> quinn::Connection {
    let endpoint = quic::client_endpoint().unwrap();
    let server = ServerEndpoint {
        host: "127.0.0.1".into(),
        port: srv.addr().port(),
        server_name: "localhost".into(),
        pin: Some(srv.server.identity.pin),
    };
    let cfg = quic::client_config_for(
        &server,
        None,
        client_transport(Duration::from_secs(10), Duration::from_secs(2)),
        versions,
    )
    .unwrap();
    endpoint
        .connect_with(cfg, srv.addr(), "localhost")
        .unwrap()
        .await
        .unwrap()
}

/// Send raw bytes on a new stream; return how the connection ended (or the first
/// message the server sent, if it stayed up).
async fn send_raw(
    srv: &TestServer,
    version: u16,
    bytes: &[u8],
) -> Result<ServerMsg, quinn::ConnectionError> {
    let conn = raw_conn_for(srv, &[version]).await;
    assert_eq!(quic::negotiated_version(&conn).unwrap(), version);
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let _ = send.write_all(bytes).await;
    let _ = send.finish();
    match tokio::time::timeout(
        Duration::from_secs(10),
        quic::read_msg::<ServerMsg>(&mut recv, version),
    )
    .await
    {
        Ok(Ok(Some((m, _)))) => Ok(m),
        _ => Err(tokio::time::timeout(Duration::from_secs(10), conn.closed())
            .await
            .expect("server closes the connection")),
    }
}

fn closed_with_protocol_error(r: &Result<ServerMsg, quinn::ConnectionError>) -> bool {
    matches!(r, Err(quinn::ConnectionError::ApplicationClosed(c)) if c.error_code == 1u32.into())
}

fn frame(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = u32::try_from(payload.len() + 1)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    f.push(flags);
    f.extend_from_slice(payload);
    f
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_close_only_their_connection() {
    let srv = TestServer::start().await;
    srv.user("li", &[("team:north", true, true)]);
    let good = Device::enrolled(&srv, "good", "li").await;
    let s = scope("team:north");
    let rss0 = rss_kib();

    let garbage: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", garbage),
        ("oversized length", {
            let mut f = (100u32 << 20).to_be_bytes().to_vec();
            f.extend_from_slice(&[0; 64]);
            f
        }),
        ("zero length", vec![0, 0, 0, 0]),
        ("bad flags", frame(0x80, b"x")),
        ("undecodable payload", frame(0, &[0xff; 40])),
        (
            "decompression bomb",
            frame(1, &deflate(&vec![0u8; 64 << 20])),
        ),
        (
            "zstd bomb",
            frame(2, &zstd::bulk::compress(&vec![0u8; 64 << 20], 3).unwrap()),
        ),
        (
            "zstd with a 2 GiB window",
            frame(2, &[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8, 0, 0, 0, 0]),
        ),
        ("v2 push without its change section", {
            let mut p = postcard::to_allocvec(&ClientMsg::Push(Push {
                batch: 1,
                docs: vec![DocChanges {
                    id: [1; 16],
                    kind: 3,
                    scope: "team:north".into(),
                    changes: vec![ByteBuf::new()],
                }],
            }))
            .unwrap();
            p.push(0x81);
            frame(0, &p)
        }),
        ("push before hello", {
            let push = ClientMsg::Push(Push {
                batch: 1,
                docs: Vec::new(),
            });
            wire::encode_for(wire::PROTOCOL_VERSION, &push)
        }),
    ];
    // Every case on both protocol versions (the v1 decoder refuses the v2 flags and the
    // v2 decoder the DEFLATE flag just the same).
    for version in [wire::PROTOCOL_VERSION, wire::PROTOCOL_V1] {
        for (name, bytes) in &cases {
            let r = send_raw(&srv, version, bytes).await;
            assert!(closed_with_protocol_error(&r), "v{version} {name}: {r:?}");
            // Everyone else keeps syncing.
            good.store
                .create(&s, &sample::account(name, "li", "n"))
                .unwrap();
            good.sync().await.unwrap();
            assert_eq!(good.store.unacked_count().unwrap(), 0, "{name}");
        }
    }
    let grown = rss_kib().saturating_sub(rss0);
    assert!(grown < 256 * 1024, "server memory grew by {grown} KiB");
    srv.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_changes_are_refused_with_reasons() {
    let srv = TestServer::start().await;
    srv.user("li", &[("team:north", true, true)]);
    let bad = Device::enrolled(&srv, "bad", "li").await;
    let good = Device::enrolled(&srv, "good2", "li").await;
    let conn = raw_conn(&srv).await;
    let exp = quic::exporter(&conn).unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let mut session =
        fieldsync_core::sync::ClientSession::new(bad.store.clone(), Default::default());
    let hello = session.start(&exp).unwrap().remove(0);
    // A compressed change chunk that inflates to 64 MiB.
    let body = deflate(&vec![0u8; 64 << 20]);
    let mut bomb = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut n = body.len();
    loop {
        let b = u8::try_from(n & 0x7f).unwrap();
        n >>= 7;
        if n == 0 {
            bomb.push(b);
            break;
        }
        bomb.push(b | 0x80);
    }
    bomb.extend_from_slice(&body);
    let valid = {
        let id = bad
            .store
            .create(&scope("team:north"), &sample::account("ok", "li", "n"))
            .unwrap();
        (id, bad.store.changes_since(id, &[]).unwrap().remove(0))
    };
    let push = ClientMsg::Push(Push {
        batch: 1,
        docs: vec![
            DocChanges {
                id: [1; 16],
                kind: 3,
                scope: "team:north".into(),
                changes: vec![ByteBuf::from(vec![1, 2, 3]), ByteBuf::from(bomb)],
            },
            DocChanges {
                id: [2; 16],
                kind: 99,
                scope: "team:north".into(),
                changes: vec![ByteBuf::from(vec![9])],
            },
            DocChanges {
                id: *valid.0.as_bytes(),
                kind: 3,
                scope: "team:north".into(),
                changes: vec![ByteBuf::from(valid.1.clone())],
            },
            DocChanges {
                id: [3; 16],
                kind: 3,
                scope: "team:south".into(),
                changes: vec![ByteBuf::from(valid.1)],
            },
        ],
    });
    write_msgs(&mut send, wire::PROTOCOL_VERSION, &[hello, push])
        .await
        .unwrap();
    let mut ack = None;
    while let Ok(Some((m, _))) =
        quic::read_msg::<ServerMsg>(&mut recv, wire::PROTOCOL_VERSION).await
    {
        if let ServerMsg::PushAck(a) = m {
            ack = Some(a);
            break;
        }
    }
    let ack = ack.expect("a push ack");
    let reasons: Vec<RejectReason> = ack.rejected.iter().map(|r| r.reason).collect();
    assert_eq!(ack.accepted, 1, "the valid change is committed: {ack:?}");
    assert!(reasons.contains(&RejectReason::Malformed), "{reasons:?}");
    assert!(reasons.contains(&RejectReason::TooLarge), "{reasons:?}");
    assert!(reasons.contains(&RejectReason::UnknownScope), "{reasons:?}");
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    // The good device is unaffected and receives the one valid document.
    good.sync().await.unwrap();
    assert!(good.store.info(valid.0).is_ok());
    srv.server.shutdown().await;
}
