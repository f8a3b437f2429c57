//! Scale-out: several stateless server nodes on one PostgreSQL database.
//!
//! - three nodes, thirty devices spread over them, concurrent pushes to shared
//!   documents: every device converges, nothing lost, nothing stored twice, no cursor
//!   gap, and the three merged views agree;
//! - a cursor never skips a change that commits later with a smaller position: node A
//!   is held inside its commit while node B pushes, and a reader on a third node must
//!   not see B's change before A's (positions commit in order);
//! - a push on one node wakes a live device connected to another (NOTIFY).
//!
//! These need PostgreSQL: `scripts/test-all` starts one and sets
//! `FIELDSYNC_TEST_POSTGRES`; without it they fail and say so. (Test names start with
//! `cluster_`: the suite's PostgreSQL pass skips them, they already ran.)

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ROOT};
use fieldsync_core::model::{Account, Contact};
use fieldsync_core::sample;
use fieldsync_core::sync::ClientConfig;
use fieldsync_core::sync::SyncAgent;
use fieldsync_core::{DocId, Kind};
use fieldsync_server::storage::postgres::PgStorage;
use fieldsync_server::storage::{
    Backend, IngestDoc, IngestRequest, ParsedChange, Storage, StorageConfig,
};
use fieldsync_tests::harness::*;

fn pg_url() -> String {
    assert!(
        std::env::var(PG_ENV).is_ok_and(|v| !v.trim().is_empty()),
        "the scale-out tests need PostgreSQL: set {PG_ENV} (scripts/test-all starts one)"
    );
    fresh_pg_database()
}

/// `n` nodes on database `url`, sharing one TLS identity (as behind a load balancer).
async fn nodes(url: &str, n: usize) -> Vec<TestServer> {
    let mut out: Vec<TestServer> = Vec::new();
    for i in 0..n {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(first) = out.first() {
            for f in ["tls-cert.der", "tls-key.der"] {
                std::fs::copy(first.dir.path().join(f), dir.path().join(f)).expect("identity");
            }
        }
        let url = url.to_string();
        let srv = TestServer::start_with(dir, move |cfg| {
            cfg.storage = Some(StorageConfig::Postgres(url));
        })
        .await;
        assert_eq!(srv.server.storage.backend_name(), "postgres");
        if let Some(first) = out.first() {
            assert_eq!(srv.server.identity.pin, first.server.identity.pin);
        }
        eprintln!("node {i} on {}", srv.addr());
        out.push(srv);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_three_nodes_thirty_devices_converge() {
    const DEVICES: usize = 30;
    const SHARED: usize = 4;
    const ROUNDS: usize = 3;
    let url = pg_url();
    let cluster = nodes(&url, 3).await;
    // Users and grants are in the shared database: made once, seen by every node.
    for u in 0..DEVICES {
        cluster[0].user(&format!("u{u}"), &[("account:acme", true, true)]);
    }
    let mut devices = Vec::new();
    for i in 0..DEVICES {
        let node = &cluster[i % 3];
        devices.push(Device::enrolled(node, &format!("dev-{i}"), &format!("u{i}")).await);
    }
    let sc = scope("account:acme");
    let mut shared = Vec::new();
    for s in 0..SHARED {
        shared.push(
            devices[0]
                .store
                .create(&sc, &sample::account(&format!("Acme {s}"), "u0", "north"))
                .expect("shared account"),
        );
    }
    devices[0].sync().await.expect("first push");
    for d in &devices {
        d.sync().await.expect("everyone pulls the shared accounts");
    }

    let mut own: Vec<DocId> = Vec::new();
    for round in 0..ROUNDS {
        // Offline: every device adds a contact to every shared account and records an
        // account of its own...
        for (i, d) in devices.iter().enumerate() {
            for id in &shared {
                d.store
                    .update::<Account>(*id, |a| {
                        a.contacts.push(Contact {
                            id: format!("c-{i}-{round}"),
                            name: format!("Contact {i}/{round}"),
                            role: None,
                            phone: None,
                            email: None,
                        });
                        a.industry = Some(format!("set by {i} in round {round}"));
                        Ok(())
                    })
                    .expect("edit offline");
            }
            own.push(
                d.store
                    .create(
                        &sc,
                        &sample::account(&format!("Own {i}/{round}"), &format!("u{i}"), "south"),
                    )
                    .expect("own account"),
            );
        }
        // ...then all thirty push and pull at the same moment, through three nodes.
        let results = futures_join(devices.iter().map(|d| d.sync())).await;
        for r in results {
            r.expect("concurrent sync");
        }
    }
    // Quiesce: two more rounds of exchanges carry everyone's changes to everyone.
    for _ in 0..2 {
        for d in &devices {
            d.sync().await.expect("sync");
        }
    }

    // Every device holds the same heads for every document, and the log's.
    let st = cluster[0].server.storage.clone();
    let all: Vec<DocId> = shared.iter().chain(own.iter()).copied().collect();
    for id in &all {
        let mut log_heads = st
            .doc_meta(TENANT, *id)
            .expect("meta")
            .expect("in the log")
            .heads;
        log_heads.sort();
        for d in &devices {
            let mut h = d.store.heads(*id).expect("on every device");
            h.sort();
            assert_eq!(h, log_heads, "{} converged on {id}", d.id);
        }
    }
    // Every contact of every device on every shared account, on every device.
    for id in &shared {
        let a: Account = devices[DEVICES - 1].store.get(*id).expect("account");
        let ids: HashSet<&str> = a.contacts.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), DEVICES * ROUNDS, "no edit lost on {id}");
        assert_eq!(
            a.contacts.len(),
            DEVICES * ROUNDS,
            "no edit doubled on {id}"
        );
    }
    // The log: each change exactly once, and every device change in it.
    let mut in_log: HashSet<(DocId, ChangeHash)> = HashSet::new();
    let mut positions: Vec<u64> = Vec::new();
    for id in &all {
        for e in st.doc_log(TENANT, *id).expect("log") {
            let h = automerge::Change::from_bytes(e.bytes.clone())
                .expect("change")
                .hash();
            assert!(in_log.insert((*id, h)), "stored twice");
            positions.push(e.position);
        }
    }
    for d in &devices {
        for id in &all {
            for c in d.store.changes_since(*id, &[]).expect("changes") {
                let h = automerge::Change::from_bytes(c).expect("change").hash();
                assert!(
                    in_log.contains(&(*id, h)),
                    "a change of {} is not in the log",
                    d.id
                );
            }
        }
        assert_eq!(
            d.store.unacked_count().expect("unacked"),
            0,
            "{} is acknowledged",
            d.id
        );
    }
    // Positions: 1..=N without a gap (no position lost to a rolled-back commit).
    positions.sort_unstable();
    let n = positions.len() as u64;
    assert_eq!(positions.first(), Some(&1));
    assert_eq!(positions.last(), Some(&n), "no gap in positions");
    assert_eq!(st.watermark(TENANT).expect("watermark"), n);
    eprintln!(
        "{DEVICES} devices on 3 nodes: {} documents, {n} changes, converged",
        all.len()
    );

    // The three merged views (each node's own, built from the shared log) agree.
    for node in &cluster {
        assert!(node.server.wait_materialized(Duration::from_secs(60)).await);
        let m = node.server.merged.as_ref().expect("merged view");
        for id in &all {
            let mut h = m.heads(*id).expect("merged");
            h.sort();
            let mut want = devices[0].store.heads(*id).expect("heads");
            want.sort();
            assert_eq!(h, want, "the merged view of {} agrees on {id}", node.addr());
        }
    }
    for node in cluster {
        node.stop().await;
    }
}

/// Run futures concurrently on this task (the tests crate has no `futures`).
async fn futures_join<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut futs: Vec<std::pin::Pin<Box<F>>> = fs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *o = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// One new Automerge change for document `id` (a fresh document each time).
fn push_of(id: DocId, device: &str, user: &str) -> IngestRequest {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "device", device).expect("put");
    let change = doc.get_last_local_change().expect("a change");
    IngestRequest {
        tenant: TENANT.into(),
        device_id: device.into(),
        user_id: user.into(),
        writable: ["s:a".to_string()].into_iter().collect(),
        docs: vec![IngestDoc {
            id,
            kind: Kind::Account,
            scope: "s:a".into(),
            changes: vec![ParsedChange {
                index: 0,
                hash: change.hash(),
                deps: change.deps().to_vec(),
                actor: change.actor_id().to_bytes().to_vec(),
                bytes: change.raw_bytes().to_vec(),
            }],
        }],
        pre_rejected: Vec::new(),
    }
}

/// A gate the paused commit waits at: `Held` once it waits, `Open` to let it go.
#[derive(Default)]
struct Gate {
    state: Mutex<(bool, bool)>, // (held, open)
    cv: Condvar,
}

#[test]
fn cluster_cursor_never_skips_an_interleaved_commit() {
    let url = pg_url();
    let a = PgStorage::open(&url).expect("node A");
    let b = PgStorage::open(&url).expect("node B");
    let c = PgStorage::open(&url).expect("node C (the reader)");
    a.ensure_tenant(TENANT).expect("tenant");
    a.create_scope(TENANT, "s:a").expect("scope");
    // One change first, so the cursor starts mid-log.
    let first = a
        .ingest(push_of(DocId::random().expect("id"), "d0", "u"))
        .expect("first");
    assert_eq!(first.accepted, 1);
    let cursor = c.watermark(TENANT).expect("watermark");
    assert_eq!(cursor, first.last_position);

    // Hold node A inside its next commit: positions assigned, not yet committed.
    let gate = Arc::new(Gate::default());
    let g = gate.clone();
    a.set_commit_pause(Some(Arc::new(move |_tenant: &str| {
        let mut s = g.state.lock().expect("gate");
        s.0 = true;
        g.cv.notify_all();
        while !s.1 {
            s = g.cv.wait(s).expect("gate");
        }
    })));
    let (id_a, id_b) = (DocId::random().expect("id"), DocId::random().expect("id"));
    let a2 = a.clone();
    let ta = std::thread::spawn(move || a2.ingest(push_of(id_a, "da", "u")));
    {
        let mut s = gate.state.lock().expect("gate");
        while !s.0 {
            s = gate.cv.wait(s).expect("gate");
        }
    }
    // Node B pushes while A holds its positions.
    let b2 = b.clone();
    let tb = std::thread::spawn(move || b2.ingest(push_of(id_b, "db", "u")));
    // While A is held, a reader on C sees neither change: B cannot commit a position
    // above A's uncommitted one. (Checked repeatedly while B is trying.)
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(c.watermark(TENANT).expect("watermark"), cursor);
        let p = c
            .pull(TENANT, &[("s:a".into(), cursor)], None, 1 << 20)
            .expect("pull");
        assert!(p.entries.is_empty(), "nothing visible past the cursor yet");
        assert_eq!(p.upto, cursor, "the cursor does not move");
        assert!(!tb.is_finished(), "B waits for A's commit");
    }
    {
        let mut s = gate.state.lock().expect("gate");
        s.1 = true;
        gate.cv.notify_all();
    }
    let oa = ta.join().expect("A").expect("A commits");
    let ob = tb.join().expect("B").expect("B commits");
    a.set_commit_pause(None);
    assert!(
        ob.last_position > oa.last_position,
        "B's position follows A's"
    );
    // From the old cursor, the reader gets both, in order: nothing skipped.
    let p = c
        .pull(TENANT, &[("s:a".into(), cursor)], None, 1 << 20)
        .expect("pull");
    let got: Vec<(u64, DocId)> = p.entries.iter().map(|e| (e.position, e.doc_id)).collect();
    assert_eq!(
        got,
        vec![(oa.last_position, id_a), (ob.last_position, id_b)]
    );
    assert_eq!(p.upto, ob.last_position);
    for s in [a, b, c] {
        s.shutdown();
    }
}

#[test]
fn cluster_a_push_on_one_node_wakes_a_device_live_on_another() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let url = pg_url();
    let cluster = rt.block_on(nodes(&url, 2));
    cluster[0].user("li", &[("team:north", true, true)]);
    cluster[0].user("wang", &[("team:north", true, true)]);
    let a = {
        let _g = rt.enter();
        Device::new("live-a", "li")
    };
    let agent = SyncAgent::new(a.store.clone(), ClientConfig::default()).expect("agent");
    agent
        .enrol(&cluster[0].enrolment_link("li").to_uri(), "Li's phone")
        .expect("enrol on node 0");
    let b = rt.block_on(Device::enrolled(&cluster[1], "live-b", "wang"));
    // A long timer: only the live notification can wake A.
    agent.start_background(Duration::from_secs(3600));
    let t0 = std::time::Instant::now();
    while !(agent.status().expect("status").connected
        && agent.status().expect("status").exchanges >= 1)
    {
        assert!(t0.elapsed() < Duration::from_secs(20), "agent connects");
        std::thread::sleep(Duration::from_millis(20));
    }
    let id = b
        .store
        .create(
            &scope("team:north"),
            &sample::account("From B", "wang", "n"),
        )
        .expect("create");
    rt.block_on(b.sync()).expect("push through node 1");
    let t0 = std::time::Instant::now();
    while a.store.get::<Account>(id).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "a change pushed through node 1 reaches the device live on node 0"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("node 1 -> node 0 live wake-up: {:?}", t0.elapsed());
    agent.stop_background();
    rt.block_on(async move {
        for n in cluster {
            n.stop().await;
        }
    });
}
