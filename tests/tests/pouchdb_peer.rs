//! The peers of the `field` benchmark, checked for what they do, not how fast: PouchDB
//! really replicates over HTTP across the TCP link emulator (the server counts the
//! requests, the proxy carries exactly the bytes the server saw, the documents arrive
//! on the server and on a second device), and a fieldsync device syncs a few survey
//! responses over the 2G/EDGE profile through the UDP proxy with nothing lost.
//!
//! Node.js and `bench/pouchdb/node_modules` come from `scripts/test-all`
//! (`ensure_pouchdb`); without them the PouchDB test fails rather than skips.

use std::time::Duration;

use fieldsync_core::model::{Answer, Form, Response};
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::{DocId, Scope};
use fieldsync_linkem::{Profile, Proxy, TcpProxy};
use fieldsync_tests::harness::*;
use fieldsync_tests::pouchdb::{PouchDevice, PouchServer};
use serde_json::json;

/// A survey response as a PouchDB document.
fn doc(i: usize, r: &Response) -> serde_json::Value {
    let answers: serde_json::Map<String, serde_json::Value> = r
        .answers
        .iter()
        .filter_map(|(k, a)| match a {
            Answer::Score(s) => Some((k.clone(), json!(s.value))),
            Answer::Choice(c) | Answer::Text(c) | Answer::Date(c) => Some((k.clone(), json!(c))),
            Answer::Integer(n) => Some((k.clone(), json!(n))),
            _ => None,
        })
        .collect();
    json!({"_id": format!("response-{i:04}"), "form_id": r.form_id, "region": r.region,
           "enumerator": r.enumerator, "started_at": r.started_at, "answers": answers})
}

#[test]
fn pouchdb_replicates_across_the_tcp_link() {
    const N: usize = 20;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = PouchServer::start().expect("the PouchDB server starts (scripts/install-pouchdb)");
    let proxy = rt
        .block_on(TcpProxy::with_profile(server.addr(), &Profile::edge(), 3))
        .unwrap();
    let direct = format!("http://127.0.0.1:{}", server.port);
    let via = format!("http://{}/survey", proxy.addr);
    let form: Form = sample::telecom_form(1);
    let mut rng = Rng::new(5);
    let docs: Vec<_> = (0..N)
        .map(|i| {
            let r = sample::telecom_response(
                &mut rng,
                DocId::random().unwrap(),
                &form,
                "north/county-1/district-2",
                "e1",
                i as i64,
            );
            doc(i, &r)
        })
        .collect();

    let mut a = PouchDevice::start().unwrap();
    a.load(&docs).unwrap();
    a.reset_server_counts(&direct).unwrap();
    let mut pushed = None;
    for _ in 0..5 {
        let r = a.push(&via, 60_000).unwrap();
        if r.ok {
            pushed = Some(r);
            break;
        }
    }
    let pushed = pushed.expect("the push completes within 5 attempts");
    assert_eq!(pushed.docs_written, N as u64);
    let srv = a.server_counts(&direct).unwrap();
    let link = proxy.stats();
    // Every request crossed the proxy: the server saw what the link carried.
    assert!(srv.requests >= 5, "{srv:?}");
    assert!(
        link.connections >= 1 && link.requests >= srv.requests,
        "{link:?} {srv:?}"
    );
    assert_eq!(
        link.bytes_up, srv.bytes_in,
        "request bytes: link {link:?}, server {srv:?}"
    );
    assert!(link.bytes_down >= srv.bytes_out, "{link:?} {srv:?}");
    assert_eq!(
        a.remote_doc_count(&format!("{direct}/survey")).unwrap(),
        N as u64
    );

    // One field of five documents changes; the push carries only those five.
    let ids: Vec<String> = (0..5).map(|i| format!("response-{i:04}")).collect();
    a.edit(&ids, &["answers", "overall"], &json!(2)).unwrap();
    let edited = a.push(&via, 60_000).unwrap();
    assert!(edited.ok && edited.docs_written == 5, "{edited:?}");

    // A second device pulls everything through the link.
    let mut b = PouchDevice::start().unwrap();
    let pulled = b.pull(&via, 60_000).unwrap();
    assert!(pulled.ok && pulled.docs_written == N as u64, "{pulled:?}");
    assert_eq!(b.local_doc_count().unwrap(), N as u64);
    drop(proxy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fieldsync_syncs_responses_over_edge_with_nothing_lost() {
    const N: usize = 12;
    let srv = TestServer::start().await;
    srv.user("e1", &[("team:field", true, true)]);
    let mut dev = Device::enrolled(&srv, "edge-phone", "e1").await;
    let proxy = Proxy::with_profile(srv.addr(), &Profile::edge(), 17)
        .await
        .unwrap();
    dev.via = Some(proxy.addr);
    let s = Scope::new("team:field").unwrap();
    let form = sample::telecom_form(1);
    let form_id = dev.store.create(&s, &form).unwrap();
    let mut rng = Rng::new(8);
    let mut ids = vec![form_id];
    for i in 0..N {
        let r = sample::telecom_response(
            &mut rng,
            form_id,
            &form,
            "north/county-1/district-2",
            "e1",
            i as i64,
        );
        ids.push(dev.store.create(&s, &r).unwrap());
    }
    let mut attempts = 0;
    while dev.store.unacked_count().unwrap() > 0 {
        attempts += 1;
        assert!(attempts <= 10, "no complete sync over edge in 10 attempts");
        if let Err(e) = dev.sync().await {
            tracing::info!(error = %e, "sync over edge failed; retrying");
        }
    }
    let st = proxy.stats();
    assert!(st.datagrams_up > 0 && st.datagrams_down > 0, "{st:?}");
    // Nothing lost: every change of every document the device holds is on the server.
    for id in &ids {
        let on_server: std::collections::HashSet<_> = srv
            .server
            .storage
            .doc_log(TENANT, *id)
            .unwrap()
            .into_iter()
            .map(|e| automerge::Change::from_bytes(e.bytes).unwrap().hash())
            .collect();
        for c in dev.store.changes_since(*id, &[]).unwrap() {
            let h = automerge::Change::from_bytes(c).unwrap().hash();
            assert!(
                on_server.contains(&h),
                "a change of {id} is missing on the server"
            );
        }
    }
    assert_eq!(srv.server.storage.counts(TENANT).unwrap().0, (N + 1) as u64);
    dev.via = None;
    drop(proxy);
    tokio::time::sleep(Duration::from_millis(10)).await;
    srv.server.shutdown().await;
}
