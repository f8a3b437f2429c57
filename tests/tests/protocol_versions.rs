//! Protocol version negotiation over real QUIC (docs/protocol.md, "Versions"): a device
//! offers fieldsync/2 then fieldsync/1 and gets v2; an old device that offers only
//! fieldsync/1 keeps syncing in v1 against the same server, both ways; `Hello` must
//! name the version the connection negotiated; an unknown ALPN id fails the handshake.

use std::time::Duration;

use fieldsync_core::model::{Account, Visit};
use fieldsync_core::sample;
use fieldsync_core::store::ServerEndpoint;
use fieldsync_core::sync::ClientConfig;
use fieldsync_core::sync::quic::{self, client_transport};
use fieldsync_core::sync::wire::{
    ClientMsg, ErrorCode, Hello, PROTOCOL_V1, PROTOCOL_VERSION, ServerMsg,
};
use fieldsync_tests::harness::*;

fn endpoint_of(srv: &TestServer) -> ServerEndpoint {
    ServerEndpoint {
        host: "127.0.0.1".into(),
        port: srv.addr().port(),
        server_name: "localhost".into(),
        pin: Some(srv.server.identity.pin),
    }
}

async fn conn_offering(
    srv: &TestServer,
    versions: &[u16],
) -> Result<quinn::Connection, quinn::ConnectionError> {
    let cfg = quic::client_config_for(
        &endpoint_of(srv),
        None,
        client_transport(Duration::from_secs(10), Duration::from_secs(2)),
        versions,
    )
    .unwrap();
    quic::client_endpoint()
        .unwrap()
        .connect_with(cfg, srv.addr(), "localhost")
        .unwrap()
        .await
}

fn v1_only() -> ClientConfig {
    ClientConfig {
        protocols: vec![PROTOCOL_V1],
        ..ClientConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_picks_v2_and_still_serves_v1() {
    let srv = TestServer::start().await;
    let both = conn_offering(&srv, &[PROTOCOL_VERSION, PROTOCOL_V1])
        .await
        .unwrap();
    assert_eq!(quic::negotiated_version(&both).unwrap(), PROTOCOL_VERSION);
    let old = conn_offering(&srv, &[PROTOCOL_V1]).await.unwrap();
    assert_eq!(quic::negotiated_version(&old).unwrap(), PROTOCOL_V1);
    // The server picks by its own order: the newest version both speak.
    let any_order = conn_offering(&srv, &[PROTOCOL_V1, PROTOCOL_VERSION])
        .await
        .unwrap();
    assert_eq!(
        quic::negotiated_version(&any_order).unwrap(),
        PROTOCOL_VERSION
    );
    srv.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_version_fails_the_handshake() {
    let srv = TestServer::start().await;
    let mut tls = rustls::ClientConfig::builder_with_provider(quic::crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"fieldsync/9".to_vec()];
    let q = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let r = quic::client_endpoint()
        .unwrap()
        .connect_with(
            quinn::ClientConfig::new(std::sync::Arc::new(q)),
            srv.addr(),
            "localhost",
        )
        .unwrap()
        .await;
    assert!(r.is_err(), "handshake with an unknown ALPN id must fail");
    assert!(
        quic::client_config_for(
            &endpoint_of(&srv),
            None,
            client_transport(Duration::from_secs(1), Duration::from_secs(1)),
            &[9],
        )
        .is_err()
    );
    srv.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_v1_device_and_new_device_sync_both_ways() {
    let srv = TestServer::start().await;
    srv.user("li", &[("team:north", true, true)]);
    srv.user("wang", &[("team:north", true, true)]);
    let mut old = Device::enrolled(&srv, "old-phone", "li").await;
    old.cfg = v1_only();
    let new = Device::enrolled(&srv, "new-phone", "wang").await;
    let s = scope("team:north");

    // The old device pushes (v1 frames) a batch big enough to be compressed.
    let mut accounts = Vec::new();
    for i in 0..30 {
        let name = format!("Account {i}");
        accounts.push(
            old.store
                .create(&s, &sample::account(&name, "li", "north"))
                .unwrap(),
        );
    }
    let (r, w) = old.sync().await.unwrap();
    assert_eq!(r.accepted, 30, "{r:?}");
    assert!(w.bytes_sent > 0);
    // The new device pulls them (v2 frames, change section) ...
    let (r, _) = new.sync().await.unwrap();
    assert_eq!(r.pulled, 30, "{r:?}");
    for id in &accounts {
        let a: Account = new.store.get(*id).unwrap();
        assert_eq!(a.owner, "li");
    }
    // ... edits one and creates a visit; the old device pulls both in v1.
    new.store
        .update::<Account>(accounts[0], |a| {
            a.industry = Some("ports".into());
            Ok(())
        })
        .unwrap();
    let vid = new
        .store
        .create(&s, &sample::visit(accounts[0], "wang", 0, "review"))
        .unwrap();
    let (r, _) = new.sync().await.unwrap();
    assert_eq!(r.accepted, 2, "{r:?}");
    old.sync().await.unwrap();
    let a: Account = old.store.get(accounts[0]).unwrap();
    assert_eq!(a.industry.as_deref(), Some("ports"));
    assert!(old.store.get::<Visit>(vid).is_ok());
    // Both hold the same change hashes for every document (v2 preserved the bytes).
    for id in accounts.iter().chain([&vid]) {
        assert_eq!(
            old.store.changes_since(*id, &[]).unwrap(),
            new.store.changes_since(*id, &[]).unwrap()
        );
    }
    assert_eq!(old.store.unacked_count().unwrap(), 0);
    assert_eq!(new.store.unacked_count().unwrap(), 0);
    srv.server.shutdown().await;
}

/// `Hello` names a version; on a connection that negotiated another one the server
/// answers `UnsupportedVersion` (a confused peer is not served in the wrong framing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_must_name_the_negotiated_version() {
    let srv = TestServer::start().await;
    srv.user("li", &[("team:north", true, true)]);
    let dev = Device::enrolled(&srv, "phone", "li").await;
    for (alpn, hello) in [
        (PROTOCOL_VERSION, PROTOCOL_V1),
        (PROTOCOL_V1, PROTOCOL_VERSION),
    ] {
        let conn = conn_offering(&srv, &[alpn]).await.unwrap();
        let exp = quic::exporter(&conn).unwrap();
        let mut session =
            fieldsync_core::sync::ClientSession::new(dev.store.clone(), ClientConfig::default())
                .with_protocol(hello);
        let first = session.start(&exp).unwrap();
        assert!(
            matches!(&first[0], ClientMsg::Hello(Hello { protocol, .. }) if *protocol == hello)
        );
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        quic::write_msgs(&mut send, alpn, &first[..1])
            .await
            .unwrap();
        let reply = quic::read_msg::<ServerMsg>(&mut recv, alpn).await.unwrap();
        assert!(
            matches!(&reply, Some((ServerMsg::Error(e), _)) if e.code == ErrorCode::UnsupportedVersion),
            "ALPN v{alpn}, Hello v{hello}: {reply:?}"
        );
    }
    // The matching pair is served.
    let conn = conn_offering(&srv, &[PROTOCOL_V1]).await.unwrap();
    let exp = quic::exporter(&conn).unwrap();
    let mut session =
        fieldsync_core::sync::ClientSession::new(dev.store.clone(), ClientConfig::default())
            .with_protocol(PROTOCOL_V1);
    let first = session.start(&exp).unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    quic::write_msgs(&mut send, PROTOCOL_V1, &first[..1])
        .await
        .unwrap();
    let reply = quic::read_msg::<ServerMsg>(&mut recv, PROTOCOL_V1)
        .await
        .unwrap();
    assert!(
        matches!(reply, Some((ServerMsg::Welcome(_), _))),
        "{reply:?}"
    );
    srv.server.shutdown().await;
}

/// An old device enrols over fieldsync/1 (its `Enrol` in v1 framing, naming v1), then
/// syncs in v1; an `Enrol` that names another version than the connection's is
/// refused and consumes nothing: the same code still enrols afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_device_enrols_over_v1() {
    use fieldsync_core::store::SyncIdentity;
    use fieldsync_core::sync::wire::Enrol;

    let srv = TestServer::start().await;
    srv.user("li", &[("team:north", true, true)]);
    let mut old = Device::new("old-phone", "li");
    old.cfg = v1_only();
    let link = srv.enrolment_link("li");
    let enrol = |protocol: u16| {
        ClientMsg::Enrol(Enrol {
            protocol,
            code: link.code.clone(),
            device_id: old.id.clone(),
            public_key: serde_bytes::ByteBuf::from(
                old.store.device_key().unwrap().public_key().to_vec(),
            ),
            device_name: "old phone (test)".into(),
            replica: old.store.replica_id().unwrap(),
        })
    };
    let exchange = |msg: ClientMsg| async {
        let conn = conn_offering(&srv, &[PROTOCOL_V1]).await.unwrap();
        assert_eq!(quic::negotiated_version(&conn).unwrap(), PROTOCOL_V1);
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        quic::write_msgs(&mut send, PROTOCOL_V1, &[msg])
            .await
            .unwrap();
        let _ = send.finish();
        quic::read_msg::<ServerMsg>(&mut recv, PROTOCOL_V1)
            .await
            .unwrap()
    };
    // Naming v2 on a v1 connection: refused, the code is not used up.
    let refused = exchange(enrol(PROTOCOL_VERSION)).await;
    assert!(
        matches!(&refused, Some((ServerMsg::Error(e), _)) if e.code == ErrorCode::UnsupportedVersion),
        "{refused:?}"
    );
    let reply = exchange(enrol(PROTOCOL_V1)).await;
    let Some((ServerMsg::Enrolled(e), _)) = reply else {
        panic!("v1 enrolment refused: {reply:?}");
    };
    assert_eq!((e.tenant.as_str(), e.user_id.as_str()), (TENANT, "li"));
    old.store
        .set_sync_identity(&SyncIdentity {
            device_id: e.device_id,
            tenant: e.tenant,
            user_id: e.user_id,
            server: endpoint_of(&srv),
        })
        .unwrap();
    // It syncs in v1 with its new identity, and the server knows the device.
    let s = scope("team:north");
    let id = old
        .store
        .create(&s, &sample::account("Harbour Co", "li", "north"))
        .unwrap();
    let (r, _) = old.sync().await.unwrap();
    assert_eq!(r.accepted, 1, "{r:?}");
    assert_eq!(srv.server.storage.doc_log(TENANT, id).unwrap().len(), 1);
    assert!(
        srv.server
            .storage
            .list_devices(TENANT)
            .unwrap()
            .iter()
            .any(|d| d.id == "old-phone")
    );
    srv.server.shutdown().await;
}
