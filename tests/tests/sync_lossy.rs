//! Bad links through a userspace UDP proxy: 100 sync sessions at 10% loss, 2%
//! duplication, 20% reordering with delay and jitter; a blackout longer than the idle
//! timeout; the device's source port rebinding mid-session. 0 lost, 0 duplicated.

use std::collections::HashSet;
use std::time::Duration;

use fieldsync_core::model::Visit;
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::{DocId, Scope};
use fieldsync_tests::harness::*;
use fieldsync_tests::proxy::{Faults, Proxy};

fn bad_link() -> Faults {
    Faults {
        loss: 0.10,
        duplicate: 0.02,
        reorder: 0.20,
        delay: Duration::from_millis(5),
        jitter: Duration::from_millis(10),
        ..Faults::default()
    }
}

/// Sync until an exchange completes; a dead connection is retried on a new one.
async fn sync_until_done(d: &Device) -> usize {
    for attempt in 1..=20 {
        match d.sync().await {
            Ok(_) if d.store.unacked_count().unwrap() == 0 => return attempt,
            Ok(_) => {}
            Err(e) => tracing::info!(device = %d.id, error = %e, "sync failed; retrying"),
        }
    }
    panic!("device {} could not complete a sync in 20 attempts", d.id);
}

fn check_server_holds_everything_once(srv: &TestServer, devices: &[&Device], docs: &[DocId]) {
    let mut seen = HashSet::new();
    for id in docs {
        for e in srv.server.storage.doc_log(TENANT, *id).unwrap() {
            let h = automerge::Change::from_bytes(e.bytes).unwrap().hash();
            assert!(seen.insert((*id, h)), "change stored twice");
        }
    }
    for d in devices {
        for id in docs {
            for c in d.store.changes_since(*id, &[]).unwrap() {
                let h = automerge::Change::from_bytes(c).unwrap().hash();
                assert!(seen.contains(&(*id, h)), "change lost");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_sessions_over_a_lossy_link() {
    let srv = TestServer::start().await;
    srv.user("li", &[("team:north", true, true)]);
    srv.user("wang", &[("team:north", true, true)]);
    let mut a = Device::enrolled(&srv, "lossy-a", "li").await;
    let mut b = Device::enrolled(&srv, "lossy-b", "wang").await;
    let pa = Proxy::start(srv.addr(), bad_link(), 11).await.unwrap();
    let pb = Proxy::start(srv.addr(), bad_link(), 12).await.unwrap();
    a.via = Some(pa.addr);
    b.via = Some(pb.addr);
    let s = Scope::new("team:north").unwrap();
    let mut rng = Rng::new(99);
    let mut docs: Vec<DocId> = Vec::new();
    let mut attempts = 0;
    for session in 0..100 {
        let d = if session % 2 == 0 { &a } else { &b };
        for _ in 0..rng.range(1, 3) {
            if docs.is_empty() || rng.chance(0.5) {
                docs.push(
                    d.store
                        .create(
                            &s,
                            &sample::visit(
                                DocId::random().unwrap(),
                                d.store.user_id(),
                                session,
                                "visit",
                            ),
                        )
                        .unwrap(),
                );
            } else {
                let id = docs[usize::try_from(rng.range(0, docs.len() as i64 - 1)).unwrap()];
                if d.store.info(id).is_ok() {
                    d.store
                        .update::<Visit>(id, |v| {
                            v.notes.splice(0, 0, "x");
                            v.scores.overall = Some(session % 10 + 1);
                            Ok(())
                        })
                        .unwrap();
                }
            }
        }
        attempts += sync_until_done(d).await;
    }
    for d in [&a, &b, &a, &b] {
        sync_until_done(d).await;
    }
    let (sa, sb) = (pa.stats(), pb.stats());
    assert!(
        sa.dropped > 0 && sa.duplicated > 0 && sa.reordered > 0,
        "faults were injected: {sa:?}"
    );
    check_server_holds_everything_once(&srv, &[&a, &b], &docs);
    for id in &docs {
        assert_eq!(
            a.store.get::<Visit>(*id).unwrap(),
            b.store.get::<Visit>(*id).unwrap()
        );
    }
    eprintln!("100 sessions, {attempts} connection attempts; proxy a {sa:?}; proxy b {sb:?}");
    a.via = None;
    b.via = None;
    srv.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackout_longer_than_idle_timeout_and_port_rebinding() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with(dir, |c| c.idle_timeout = Duration::from_secs(2)).await;
    srv.user("li", &[("team:north", true, true)]);
    let mut a = Device::enrolled(&srv, "flap-a", "li").await;
    a.cfg.idle_timeout = Duration::from_secs(2);
    a.cfg.keep_alive = Duration::from_millis(500);
    let proxy = Proxy::start(
        srv.addr(),
        Faults {
            delay: Duration::from_millis(20),
            ..Faults::default()
        },
        5,
    )
    .await
    .unwrap();
    a.via = Some(proxy.addr);
    let s = Scope::new("team:north").unwrap();
    let mut docs = Vec::new();
    for i in 0..300 {
        docs.push(
            a.store
                .create(&s, &sample::account(&format!("A{i}"), "li", "n"))
                .unwrap(),
        );
    }
    // A blackout starts as the sync does and outlasts the idle timeout: the connection
    // dies; the retry on a new connection completes.
    proxy.blackout(Duration::from_secs(3));
    let first = a.sync().await;
    assert!(first.is_err() || a.store.unacked_count().unwrap() == 0);
    sync_until_done(&a).await;
    check_server_holds_everything_once(&srv, &[&a], &docs);

    // Rebinding: the device's source port changes in the middle of a session (connection
    // migration); the session continues.
    for i in 0..300 {
        docs.push(
            a.store
                .create(&s, &sample::account(&format!("B{i}"), "li", "n"))
                .unwrap(),
        );
    }
    let sync = a.sync();
    let rebind = async {
        tokio::time::sleep(Duration::from_millis(60)).await;
        proxy.rebind().await.unwrap();
    };
    let (r, ()) = tokio::join!(sync, rebind);
    assert!(proxy.stats().rebinds == 1);
    match r {
        Ok(_) => {}
        Err(e) => {
            tracing::info!(error = %e, "session failed after rebinding; retrying");
            sync_until_done(&a).await;
        }
    }
    sync_until_done(&a).await;
    check_server_holds_everything_once(&srv, &[&a], &docs);
    let (ndocs, _) = srv.server.storage.counts(TENANT).unwrap();
    assert_eq!(ndocs, 600);
    srv.server.shutdown().await;
}
