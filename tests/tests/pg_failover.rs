//! A node killed mid-push: two server nodes (child processes: this test binary re-run
//! in node mode) on one PostgreSQL database; a device pushes through node A, node A is
//! killed with SIGKILL while it commits, and the device completes through node B.
//! Nothing acknowledged is lost, nothing is stored twice.
//!
//! Needs PostgreSQL (`FIELDSYNC_TEST_POSTGRES`, started by `scripts/test-all`). The test
//! name starts with `cluster_` (the suite's PostgreSQL pass skips it: it ran already).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fieldsync_core::sample;
use fieldsync_core::sync::auth::{EnrolmentLink, ServerTrust};
use fieldsync_server::storage::StorageConfig;
use fieldsync_tests::harness::*;

const NODE_DIR: &str = "FIELDSYNC_TEST_NODE_DIR";
const NODE_DB: &str = "FIELDSYNC_TEST_NODE_DB";

/// Node mode: run a server on the given folder and database until killed.
#[test]
fn cluster_node_child() {
    let (Ok(dir), Ok(db)) = (std::env::var(NODE_DIR), std::env::var(NODE_DB)) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut cfg =
            fieldsync_server::server::ServerConfig::new(&dir, "127.0.0.1:0".parse().expect("addr"));
        cfg.storage = Some(StorageConfig::Postgres(db));
        let srv = fieldsync_server::server::start(cfg)
            .await
            .expect("node starts");
        let pin: String = srv
            .identity
            .pin
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!("READY {} {pin}", srv.local_addr.port());
        tokio::time::sleep(Duration::from_secs(600)).await;
    });
}

// The child is returned to the caller, which kills and reaps it; a panic here fails the
// test and the child's own 600 s sleep ends it.
#[allow(clippy::zombie_processes)]
fn spawn_node(dir: &Path, db: &str) -> (Child, u16, [u8; 32]) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "cluster_node_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NODE_DIR, dir)
        .env(NODE_DB, db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn a node");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    loop {
        let line = lines
            .next()
            .expect("the node prints READY")
            .expect("a line");
        if let Some((_, rest)) = line.split_once("READY ") {
            let mut parts = rest.split(' ');
            let port: u16 = parts.next().and_then(|p| p.parse().ok()).expect("port");
            let hex = parts.next().expect("pin");
            let mut pin = [0u8; 32];
            for (i, b) in pin.iter_mut().enumerate() {
                *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
            }
            std::thread::spawn(move || for _ in lines {});
            return (child, port, pin);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_node_killed_mid_push_device_completes_on_another() {
    if std::env::var(NODE_DIR).is_ok() {
        return;
    }
    assert!(
        std::env::var(PG_ENV).is_ok_and(|v| !v.trim().is_empty()),
        "needs PostgreSQL: set {PG_ENV} (scripts/test-all starts one)"
    );
    let db = fresh_pg_database();
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (mut node_a, port_a, pin) = spawn_node(dir_a.path(), &db);
    // Node B shares node A's identity, as nodes behind one load balancer do.
    for f in ["tls-cert.der", "tls-key.der"] {
        std::fs::copy(dir_a.path().join(f), dir_b.path().join(f)).expect("identity");
    }
    let (mut node_b, port_b, pin_b) = spawn_node(dir_b.path(), &db);
    assert_eq!(pin_b, pin);

    // Set up through the database directly (every node sees it).
    let st = fieldsync_server::storage::open(&StorageConfig::Postgres(db.clone())).expect("db");
    st.ensure_tenant(TENANT).expect("tenant");
    st.create_user(TENANT, "li", "li").expect("user");
    st.create_scope(TENANT, "team:north").expect("scope");
    st.set_grant(TENANT, "li", "team:north", true, true)
        .expect("grant");
    let link =
        fieldsync_server::admin::enrolment_link(&*st, TENANT, "li", "127.0.0.1", port_a, pin, 1)
            .expect("link");
    let mut dev = Device::new("failover-dev", "li");
    dev.cfg.idle_timeout = Duration::from_secs(2);
    dev.cfg.keep_alive = Duration::from_millis(500);
    dev.enrol(&EnrolmentLink {
        host: "127.0.0.1".into(),
        port: port_a,
        server_name: "localhost".into(),
        trust: ServerTrust::PinnedKey(pin),
        code: link.code,
    })
    .await
    .expect("enrol on node A");
    dev.via = Some(format!("127.0.0.1:{port_a}").parse().expect("addr"));
    let s = scope("team:north");
    let mut docs = Vec::new();
    for i in 0..3000 {
        docs.push(
            dev.store
                .create(&s, &sample::account(&format!("a{i}"), "li", "n"))
                .expect("create"),
        );
    }
    // Small push batches: many commits, so the kill lands between and inside them.
    dev.cfg.push_batch_bytes = 16 << 10;
    let counted = db.clone();
    let committed = move || -> i64 {
        let url = counted.clone();
        std::thread::spawn(move || {
            postgres::Client::connect(&url, postgres::NoTls)
                .and_then(|mut c| c.query_one("SELECT count(*) FROM changes", &[]))
                .map_or(0, |r| r.get::<_, i64>(0))
        })
        .join()
        .unwrap_or(0)
    };
    let killed = {
        let sync = dev.sync();
        tokio::pin!(sync);
        let watch = async {
            while committed() < 900 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        tokio::select! {
            r = &mut sync => { r.ok(); false }
            () = watch => {
                node_a.kill().expect("kill node A");
                node_a.wait().expect("reap node A");
                let _ = sync.await; // fails: the node is gone
                true
            }
        }
    };
    assert!(killed, "node A was killed mid-push");
    let before = committed();
    assert!(
        before < 3000,
        "the kill landed before the push completed ({before} committed)"
    );
    // Everything the device saw acknowledged is in the log.
    let pending: HashSet<_> = dev
        .store
        .pending_changes(0, 1 << 20)
        .expect("pending")
        .into_iter()
        .map(|p| (p.doc_id, p.hash))
        .collect();
    eprintln!(
        "node A killed after {before} committed changes; {} pending on the device",
        pending.len()
    );
    // The device goes on through node B (a load balancer would route it there).
    dev.via = Some(format!("127.0.0.1:{port_b}").parse().expect("addr"));
    let mut ok = false;
    for _ in 0..5 {
        if dev.sync().await.is_ok() && dev.store.unacked_count().expect("unacked") == 0 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ok, "the device completes through node B");
    node_b.kill().expect("kill node B");
    node_b.wait().expect("reap node B");

    let mut seen = HashSet::new();
    for id in &docs {
        let log = st.doc_log(TENANT, *id).expect("log");
        for e in &log {
            let h = automerge::Change::from_bytes(e.bytes.clone())
                .expect("change")
                .hash();
            assert!(seen.insert((*id, h)), "stored twice");
        }
        for c in dev.store.changes_since(*id, &[]).expect("changes") {
            let h = automerge::Change::from_bytes(c).expect("change").hash();
            assert!(seen.contains(&(*id, h)), "lost");
        }
    }
    let (ndocs, nchanges) = st.counts(TENANT).expect("counts");
    assert_eq!(ndocs, 3000);
    assert_eq!(nchanges, 3000);
    st.shutdown();
}
