//! Three devices edit offline — different documents, and the same visit (the same note,
//! the same scalar) — then reconnect in every order. Real server, real QUIC.

use fieldsync_core::doc::FieldValue;
use fieldsync_core::model::{Account, Visit};
use fieldsync_core::sample;
use fieldsync_tests::harness::*;

async fn scenario(order: [usize; 3]) {
    let srv = TestServer::start().await;
    srv.user("li", &[("account:acme", true, true)]);
    srv.user("wang", &[("account:acme", true, true)]);
    srv.user("chen", &[("account:acme", true, true)]);
    let devs = [
        Device::enrolled(&srv, "d-li", "li").await,
        Device::enrolled(&srv, "d-wang", "wang").await,
        Device::enrolled(&srv, "d-chen", "chen").await,
    ];
    let s = scope("account:acme");
    let acc = devs[0]
        .store
        .create(&s, &sample::account("Acme", "li", "north"))
        .unwrap();
    let vid = devs[0]
        .store
        .create(&s, &sample::visit(acc, "li", 0, "review"))
        .unwrap();
    devs[0].sync().await.unwrap();
    for d in &devs[1..] {
        d.sync().await.unwrap();
    }
    // Offline: each creates its own document and edits the shared visit.
    let mut own = Vec::new();
    for (i, d) in devs.iter().enumerate() {
        own.push(
            d.store
                .create(
                    &s,
                    &sample::account(&format!("Own {i}"), d.store.user_id(), "south"),
                )
                .unwrap(),
        );
        d.store
            .update::<Visit>(vid, |v| {
                v.notes.splice(0, 0, format!("[{}] ", d.id));
                v.scores.overall = Some(5 + i64::try_from(i).unwrap());
                Ok(())
            })
            .unwrap();
    }
    for &i in &order {
        devs[i].sync().await.unwrap();
    }
    for &i in &order {
        devs[i].sync().await.unwrap();
    }
    let v0 = devs[0].store.get::<Visit>(vid).unwrap();
    let c0 = devs[0].store.conflicts(vid).unwrap();
    for d in &devs {
        assert_eq!(d.store.get::<Visit>(vid).unwrap(), v0, "order {order:?}");
        assert_eq!(d.store.conflicts(vid).unwrap(), c0, "order {order:?}");
        for (i, id) in own.iter().enumerate() {
            assert_eq!(
                d.store.get::<Account>(*id).unwrap().name,
                format!("Own {i}")
            );
        }
        assert_eq!(d.store.unacked_count().unwrap(), 0);
    }
    for d in &devs {
        assert!(
            v0.notes.as_str().contains(&format!("[{}]", d.id)),
            "every note edit survives: {}",
            v0.notes.as_str()
        );
    }
    assert_eq!(c0.len(), 1, "the scalar conflict is exposed");
    let mut vals = c0[0].others.clone();
    vals.push(c0[0].winner.clone());
    vals.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(
        vals,
        vec![FieldValue::Int(5), FieldValue::Int(6), FieldValue::Int(7)]
    );
    // The server's merged view agrees.
    assert!(
        srv.server
            .wait_materialized(std::time::Duration::from_secs(10))
            .await
    );
    let merged = srv.server.merged.clone().unwrap();
    assert_eq!(merged.get::<Visit>(vid).unwrap(), v0);
    assert_eq!(merged.conflicts(vid).unwrap(), c0);
    srv.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reconnect_order_converges() {
    for order in [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ] {
        scenario(order).await;
    }
}
