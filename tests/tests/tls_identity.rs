//! Server identity both ways: a CA-issued certificate (the device verifies the chain and
//! the name), and a pinned key (self-signed; only the pinned key is accepted).

use std::time::Duration;

use fieldsync_core::sample;
use fieldsync_core::store::ServerEndpoint;
use fieldsync_core::sync::ClientConfig;
use fieldsync_core::sync::auth::{EnrolmentLink, ServerTrust};
use fieldsync_core::sync::quic;
use fieldsync_tests::harness::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

fn ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

fn roots(ca: &CertifiedIssuer<'static, KeyPair>) -> rustls::RootCertStore {
    let mut r = rustls::RootCertStore::empty();
    r.add(ca.der().clone()).unwrap();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_issued_certificate_and_pinned_key() {
    let authority = ca();
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["fieldsync.test".into()])
        .unwrap()
        .signed_by(&key, &authority)
        .unwrap();
    std::fs::write(dir.path().join("tls-cert.der"), cert.der()).unwrap();
    std::fs::write(dir.path().join("tls-key.der"), key.serialize_der()).unwrap();
    let srv = TestServer::start_in(dir).await;
    srv.user("li", &[("team:north", true, true)]);
    let dev = Device::new("ca-dev", "li");
    let mut link = srv.enrolment_link("li");
    link.trust = ServerTrust::CaIssued;
    link.server_name = "fieldsync.test".into();
    // Without the CA in the roots the device refuses the server.
    assert!(
        quic::enrol(
            &dev.endpoint,
            &dev.store,
            &link,
            "ca-dev",
            "d",
            Some(roots(&ca()))
        )
        .await
        .is_err()
    );
    quic::enrol(
        &dev.endpoint,
        &dev.store,
        &link,
        "ca-dev",
        "d",
        Some(roots(&authority)),
    )
    .await
    .unwrap();
    dev.store
        .create(&scope("team:north"), &sample::account("x", "li", "n"))
        .unwrap();
    let (r, _) = quic::sync_once(
        &dev.endpoint,
        &dev.store,
        ClientConfig::default(),
        Some(roots(&authority)),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.accepted, 1);
    // The wrong name is refused even with the right CA.
    let wrong_name = ServerEndpoint {
        host: "127.0.0.1".into(),
        port: srv.addr().port(),
        server_name: "other.test".into(),
        pin: None,
    };
    let e = quic::connect(
        &dev.endpoint,
        &wrong_name,
        Some(roots(&authority)),
        Duration::from_secs(5),
        &ClientConfig::default(),
    )
    .await;
    assert!(e.is_err());
    // Pinning: the server's own key works, any other pin is refused.
    let good_pin = ServerEndpoint {
        host: "127.0.0.1".into(),
        port: srv.addr().port(),
        server_name: "localhost".into(),
        pin: Some(srv.server.identity.pin),
    };
    assert!(
        quic::connect(
            &dev.endpoint,
            &good_pin,
            None,
            Duration::from_secs(5),
            &ClientConfig::default()
        )
        .await
        .is_ok()
    );
    let mut bad = good_pin.clone();
    bad.pin = Some([0xAB; 32]);
    assert!(
        quic::connect(
            &dev.endpoint,
            &bad,
            None,
            Duration::from_secs(5),
            &ClientConfig::default()
        )
        .await
        .is_err()
    );
    let _ = EnrolmentLink::parse(&link.to_uri()).unwrap();
    srv.server.shutdown().await;
}
