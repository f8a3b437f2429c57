//! Per-device quotas over real QUIC: a device far over its quota receives the typed
//! throttling error with a retry-after, loses nothing it had stored, and converges once
//! it backs off; the other devices are never throttled. The background agent honours
//! the retry-after instead of hammering. (How much the others' latency moves is measured
//! by `fieldsync-bench quota`, not asserted here.)

use std::collections::HashSet;
use std::time::Duration;

use fieldsync_core::model::Account;
use fieldsync_core::sample;
use fieldsync_core::sync::{ClientConfig, SyncAgent};
use fieldsync_core::{DocId, Error};
use fieldsync_server::quota::QuotaConfig;
use fieldsync_tests::harness::*;

/// Sync until nothing is pending, waiting as long as the server says when throttled.
async fn sync_honouring(d: &Device) -> u32 {
    let mut throttled = 0;
    for _ in 0..200 {
        match d.sync().await {
            Ok(_) if d.store.unacked_count().unwrap() == 0 => return throttled,
            Ok(_) => {}
            Err(Error::Throttled { retry_after_ms, .. }) => {
                throttled += 1;
                tokio::time::sleep(Duration::from_millis(retry_after_ms)).await;
            }
            Err(e) => panic!("{}: {e}", d.id),
        }
    }
    panic!("{} did not get everything acknowledged", d.id);
}

fn heads_on_server(srv: &TestServer, id: DocId) -> Vec<[u8; 32]> {
    let mut h: Vec<[u8; 32]> = srv
        .server
        .storage
        .doc_meta(TENANT, id)
        .unwrap()
        .map(|m| m.heads.iter().map(|h| h.0).collect())
        .unwrap_or_default();
    h.sort_unstable();
    h
}

fn heads_on(d: &Device, id: DocId) -> Vec<[u8; 32]> {
    let mut h: Vec<[u8; 32]> = d.store.heads(id).unwrap().iter().map(|h| h.0).collect();
    h.sort_unstable();
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abusive_device_is_throttled_loses_nothing_and_converges_others_never_throttled() {
    // 12 exchanges a minute sustained (one per 5 s), bursts of 4; the abuser tries one
    // every 50 ms: far beyond 10x its quota.
    let srv = TestServer::start_with(tempfile::tempdir().unwrap(), |c| {
        c.quotas = QuotaConfig {
            exchanges_per_minute: Some(12),
            exchange_burst: 4,
            push_bytes_per_s: Some(1 << 20),
            push_burst_bytes: 32 << 20,
        };
    })
    .await;
    srv.user("abuser", &[("team:q", true, true)]);
    srv.user("field", &[("team:q", true, true)]);
    let abuser = Device::enrolled(&srv, "d-abuser", "abuser").await;
    let mut others = Vec::new();
    for i in 0..3 {
        others.push(Device::enrolled(&srv, &format!("d-other-{i}"), "field").await);
    }
    let s = scope("team:q");
    let mut made: Vec<DocId> = Vec::new();
    let mut acked_before_throttle: HashSet<DocId> = HashSet::new();
    let mut throttles = Vec::new();
    let mut other_syncs = 0;
    for round in 0..40 {
        let id = abuser
            .store
            .create(
                &s,
                &sample::account(&format!("A{round}"), "abuser", "north"),
            )
            .unwrap();
        made.push(id);
        match abuser.sync().await {
            Ok(_) => {
                if abuser.store.unacked_count().unwrap() == 0 {
                    acked_before_throttle.extend(made.iter().copied());
                }
            }
            Err(Error::Throttled {
                limit,
                retry_after_ms,
            }) => throttles.push((limit, retry_after_ms)),
            Err(e) => panic!("abuser: unexpected error {e}"),
        }
        // The others sync within their quota (3 exchanges each over the run) and are
        // never throttled, whatever the abuser does.
        if round % 13 == 6 {
            for o in &others {
                o.store
                    .create(&s, &sample::account(&format!("O{round}"), "field", "south"))
                    .unwrap();
                o.sync().await.unwrap_or_else(|e| panic!("{}: {e}", o.id));
                other_syncs += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(other_syncs, 9);
    assert!(
        throttles.len() >= 20,
        "the abuser was throttled only {} times",
        throttles.len()
    );
    for (limit, wait) in &throttles {
        assert_eq!(*limit, "exchanges");
        assert!(*wait > 0 && *wait <= 5_001, "retry after {wait} ms");
    }
    let stats = srv.server.quota_stats();
    assert_eq!(stats.exchanges_throttled as usize, throttles.len());
    assert_eq!(stats.pushes_throttled, 0);
    // Nothing the abuser saw acknowledged is missing on the server.
    for id in &acked_before_throttle {
        assert_eq!(heads_on_server(&srv, *id), heads_on(&abuser, *id), "{id}");
    }
    // Its unacknowledged writes are still on the device, queued.
    assert!(abuser.store.unacked_count().unwrap() > 0);
    for id in &made {
        assert!(abuser.store.info(*id).is_ok());
    }
    // Backing off as told, it gets everything through; everyone converges.
    sync_honouring(&abuser).await;
    for o in &others {
        assert_eq!(sync_honouring(o).await, 0, "{} was throttled", o.id);
    }
    for id in &made {
        let want = heads_on(&abuser, *id);
        assert_eq!(heads_on_server(&srv, *id), want);
        for o in &others {
            assert_eq!(heads_on(o, *id), want, "{} lacks {id}", o.id);
            assert!(o.store.get::<Account>(*id).is_ok());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_over_the_byte_quota_keeps_the_rest_queued_and_acked_changes_are_stored() {
    let srv = TestServer::start_with(tempfile::tempdir().unwrap(), |c| {
        c.quotas = QuotaConfig {
            exchanges_per_minute: None,
            exchange_burst: 0,
            push_bytes_per_s: Some(4 << 10),
            push_burst_bytes: 4 << 10,
        };
    })
    .await;
    srv.user("w", &[("team:b", true, true)]);
    srv.user("r", &[("team:b", true, false)]);
    let mut writer = Device::enrolled(&srv, "d-w", "w").await;
    // Small batches: the first is admitted, the next finds the bucket in debt.
    writer.cfg = ClientConfig {
        push_batch_bytes: 2 << 10,
        ..ClientConfig::default()
    };
    let reader = Device::enrolled(&srv, "d-r", "r").await;
    let s = scope("team:b");
    let mut made = Vec::new();
    for i in 0..40 {
        made.push(
            writer
                .store
                .create(&s, &sample::account(&format!("B{i}"), "w", "north"))
                .unwrap(),
        );
    }
    let total = writer.store.unacked_count().unwrap();
    let err = writer.sync().await.unwrap_err();
    let Error::Throttled {
        limit,
        retry_after_ms,
    } = err
    else {
        panic!("expected throttling, got {err}");
    };
    assert_eq!(limit, "push_bytes");
    assert!(retry_after_ms > 0);
    let pending = writer.store.unacked_count().unwrap();
    assert!(
        pending > 0 && pending < total,
        "{pending} of {total} pending"
    );
    // Every change the device saw acknowledged is in the server's log.
    let (_, logged) = srv.server.storage.counts(TENANT).unwrap();
    assert_eq!(logged, total - pending);
    assert!(srv.server.quota_stats().pushes_throttled >= 1);
    sync_honouring(&writer).await;
    assert_eq!(srv.server.storage.counts(TENANT).unwrap().1, total);
    sync_honouring(&reader).await;
    for id in &made {
        assert_eq!(heads_on(&reader, *id), heads_on(&writer, *id));
    }
}

#[test]
fn the_background_agent_waits_out_the_retry_after() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let srv = rt.block_on(TestServer::start_with(tempfile::tempdir().unwrap(), |c| {
        c.quotas = QuotaConfig {
            exchanges_per_minute: Some(30),
            exchange_burst: 2,
            push_bytes_per_s: None,
            push_burst_bytes: 0,
        };
    }));
    srv.user("bg", &[("team:bg", true, true)]);
    let dev = {
        let _g = rt.enter();
        Device::new("d-bg", "bg")
    };
    let agent = SyncAgent::new(dev.store.clone(), ClientConfig::default()).unwrap();
    agent
        .enrol(&srv.enrolment_link("bg").to_uri(), "bg")
        .unwrap();
    agent.start_background(Duration::from_secs(3600));
    let s = scope("team:bg");
    // A write every 300 ms wakes the agent each time: more exchanges than the quota.
    for i in 0..20 {
        dev.store
            .create(&s, &sample::account(&format!("G{i}"), "bg", "north"))
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut waited = 0;
    while dev.store.unacked_count().unwrap() > 0 {
        assert!(waited < 600, "the agent never got its writes through");
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
    }
    agent.stop_background();
    let throttled = srv.server.quota_stats().exchanges_throttled;
    assert!(throttled >= 1, "the quota was never reached");
    // An agent that retried at once would be refused hundreds of times; one that waits
    // is refused about once per wait.
    assert!(
        throttled <= 20,
        "refused {throttled} times: not honouring retry-after"
    );
    assert_eq!(srv.server.storage.counts(TENANT).unwrap().1, 20);
    rt.block_on(srv.stop());
}
