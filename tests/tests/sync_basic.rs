//! Devices and the server over real QUIC on loopback: enrolment, push, pull, the same
//! visit edited offline on three devices, reconnects in every order.

use fieldsync_core::doc::FieldValue;
use fieldsync_core::model::Visit;
use fieldsync_core::sample;
use fieldsync_tests::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_push_pull_converge() {
    let srv = TestServer::start().await;
    srv.user(
        "li",
        &[("account:acme", true, true), ("team:north", true, true)],
    );
    srv.user("wang", &[("account:acme", true, true)]);
    let a = Device::enrolled(&srv, "phone-li", "li").await;
    let b = Device::enrolled(&srv, "phone-wang", "wang").await;
    let c = Device::enrolled(&srv, "tablet-li", "li").await;

    let acc = a
        .store
        .create(
            &scope("account:acme"),
            &sample::account("Acme", "li", "north"),
        )
        .unwrap();
    let vid = a
        .store
        .create(
            &scope("account:acme"),
            &sample::visit(acc, "li", 0, "review"),
        )
        .unwrap();
    let (r, w) = a.sync().await.unwrap();
    assert_eq!(r.accepted, 2, "{r:?}");
    assert_eq!(w.round_trips, 1, "push and pull in one round trip: {w:?}");
    b.sync().await.unwrap();
    c.sync().await.unwrap();
    assert!(b.store.get::<Visit>(vid).is_ok());

    // All three edit the same visit offline: the same note, the same scalar.
    a.store
        .update::<Visit>(vid, |v| {
            v.notes.splice(0, 0, "Li: CFO present. ");
            v.scores.overall = Some(6);
            Ok(())
        })
        .unwrap();
    b.store
        .update::<Visit>(vid, |v| {
            let n = v.notes.as_str().len();
            v.notes.splice(n, 0, "Wang: wants 5G.");
            v.scores.overall = Some(9);
            Ok(())
        })
        .unwrap();
    c.store
        .update::<Visit>(vid, |v| {
            v.purpose = "renewal".into();
            Ok(())
        })
        .unwrap();

    for d in [&c, &b, &a, &c, &b] {
        d.sync().await.unwrap();
    }
    let va = a.store.get::<Visit>(vid).unwrap();
    for d in [&b, &c] {
        assert_eq!(d.store.get::<Visit>(vid).unwrap(), va);
        assert_eq!(
            d.store.heads(vid).unwrap().len(),
            a.store.heads(vid).unwrap().len()
        );
    }
    assert!(
        va.notes.as_str().contains("Li: CFO present.")
            && va.notes.as_str().contains("Wang: wants 5G.")
    );
    assert_eq!(va.purpose, "renewal");
    let conflicts = a.store.conflicts(vid).unwrap();
    assert_eq!(conflicts.len(), 1);
    for d in [&b, &c] {
        assert_eq!(d.store.conflicts(vid).unwrap(), conflicts);
    }
    let mut vals = conflicts[0].others.clone();
    vals.push(conflicts[0].winner.clone());
    assert!(vals.contains(&FieldValue::Int(6)) && vals.contains(&FieldValue::Int(9)));
    // History on another device names who wrote the scalar.
    let h = c
        .store
        .field_history(
            vid,
            &fieldsync_core::doc::FieldPath::parse("scores.overall").unwrap(),
        )
        .unwrap();
    let users: Vec<_> = h.iter().filter_map(|e| e.user_id.clone()).collect();
    assert!(
        users.contains(&"li".to_string()) && users.contains(&"wang".to_string()),
        "{h:?}"
    );
    assert_eq!(a.store.unacked_count().unwrap(), 0);
    srv.server.shutdown().await;
}
