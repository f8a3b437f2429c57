//! kill -9 of the server during pushes: after a restart the device completes; nothing
//! the server acknowledged is lost, nothing is stored twice. The server runs in a child
//! process (this test binary re-executed in server mode).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fieldsync_core::sample;
use fieldsync_core::sync::auth::{EnrolmentLink, ServerTrust};
use fieldsync_tests::harness::*;

const CHILD_ENV: &str = "FIELDSYNC_TEST_SERVER_DIR";

/// Child mode: run a server on the given data folder until killed.
#[test]
fn server_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut cfg =
            fieldsync_server::server::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
        // The child inherits FIELDSYNC_TEST_BACKEND: the same backend as the parent,
        // and (remembered in the folder) the same database after a restart.
        cfg.storage = Some(test_storage(std::path::Path::new(&dir)));
        let srv = fieldsync_server::server::start(cfg).await.unwrap();
        let st = srv.storage.clone();
        let link = if st.tenants().unwrap().is_empty() {
            st.ensure_tenant(TENANT).unwrap();
            st.create_user(TENANT, "li", "li").unwrap();
            st.create_scope(TENANT, "team:north").unwrap();
            st.set_grant(TENANT, "li", "team:north", true, true)
                .unwrap();
            fieldsync_server::admin::enrolment_link(
                &*st,
                TENANT,
                "li",
                "127.0.0.1",
                srv.local_addr.port(),
                srv.identity.pin,
                1,
            )
            .unwrap()
            .code
        } else {
            "-".into()
        };
        println!(
            "READY {} {} {}",
            srv.local_addr.port(),
            hex_pin(srv.identity.pin),
            link
        );
        tokio::time::sleep(Duration::from_secs(600)).await;
    });
}

fn hex_pin(p: [u8; 32]) -> String {
    p.iter().map(|b| format!("{b:02x}")).collect()
}

// The caller owns the child and kills and waits for it; a panic here fails the test and
// the process exits with it.
#[allow(clippy::zombie_processes)]
fn spawn_server(dir: &std::path::Path) -> (Child, u16, [u8; 32], String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "server_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    loop {
        let line = lines.next().expect("server child prints READY").unwrap();
        // The test harness may print "test server_child ... " before it on the same line.
        if let Some((_, rest)) = line.split_once("READY ") {
            let parts: Vec<&str> = rest.split(' ').collect();
            let port: u16 = parts[0].parse().unwrap();
            let mut pin = [0u8; 32];
            for (i, b) in pin.iter_mut().enumerate() {
                *b = u8::from_str_radix(&parts[1][2 * i..2 * i + 2], 16).unwrap();
            }
            std::thread::spawn(move || for _ in lines {});
            return (child, port, pin, parts[2].to_string());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_push_then_complete() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, pin, code) = spawn_server(dir.path());
    let mut dev = Device::new("crash-dev", "li");
    // A killed server sends nothing more: notice within seconds, not the default 30 s.
    dev.cfg.idle_timeout = Duration::from_secs(2);
    dev.cfg.keep_alive = Duration::from_millis(500);
    dev.enrol(&EnrolmentLink {
        host: "127.0.0.1".into(),
        port,
        server_name: "localhost".into(),
        trust: ServerTrust::PinnedKey(pin),
        code,
    })
    .await
    .unwrap();
    dev.via = Some(format!("127.0.0.1:{port}").parse().unwrap());
    let s = scope("team:north");
    let mut docs = Vec::new();
    let mut kills = 0;
    for round in 0..6u64 {
        for i in 0..1500 {
            docs.push(
                dev.store
                    .create(&s, &sample::account(&format!("r{round}-{i}"), "li", "n"))
                    .unwrap(),
            );
        }
        // Small push batches: many acks, so the kill lands between and inside commits.
        dev.cfg.push_batch_bytes = 16 << 10;
        // Kill when the server has committed part of this round's work: a fraction
        // that moves with the round, read from the server's own log.
        let data = dir.path().to_path_buf();
        let committed = move || -> i64 { log_count(&data) };
        let base = committed();
        let target = base + 1500 * (15 + 15 * i64::try_from(round).unwrap()) / 100;
        let killed = {
            let sync = dev.sync();
            tokio::pin!(sync);
            let watch = async {
                while committed() < target {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            };
            tokio::select! {
                r = &mut sync => { r.ok(); false }
                () = watch => {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    kills += 1;
                    let _ = sync.await; // fails: connection lost
                    true
                }
            }
        };
        if killed {
            // Everything the device saw acknowledged must be in the server's log.
            let pending: HashSet<_> = dev
                .store
                .pending_changes(0, 1 << 20)
                .unwrap()
                .into_iter()
                .map(|p| (p.doc_id, p.hash))
                .collect();
            let st = open_test_storage(dir.path());
            let mut acked = 0;
            for id in &docs {
                for c in dev.store.changes_since(*id, &[]).unwrap() {
                    let h = automerge::Change::from_bytes(c).unwrap().hash();
                    if !pending.contains(&(*id, h)) {
                        acked += 1;
                        let log =
                            fieldsync_server::storage::Storage::doc_log(&*st, TENANT, *id).unwrap();
                        assert!(
                            log.iter()
                                .any(|e| automerge::Change::from_bytes(e.bytes.clone())
                                    .unwrap()
                                    .hash()
                                    == h),
                            "an acknowledged change was lost"
                        );
                    }
                }
            }
            st.shutdown();
            eprintln!(
                "round {round}: killed after {acked} acknowledged changes, {} pending",
                pending.len()
            );
            let (c, p2, pin2, _) = spawn_server(dir.path());
            assert_eq!(pin2, pin, "same identity after restart");
            child = c;
            dev.via = Some(format!("127.0.0.1:{p2}").parse().unwrap());
        }
        let mut ok = false;
        for _ in 0..5 {
            if dev.sync().await.is_ok() && dev.store.unacked_count().unwrap() == 0 {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ok, "round {round}: device completes after restart");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(kills >= 3, "the server was killed mid-push ({kills} times)");
    // Inspect the server's log directly: every change once, every device change present.
    let st = open_test_storage(dir.path());
    let mut seen = HashSet::new();
    for id in &docs {
        let log = st.doc_log(TENANT, *id).unwrap();
        for e in &log {
            let h = automerge::Change::from_bytes(e.bytes.clone())
                .unwrap()
                .hash();
            assert!(seen.insert((*id, h)), "stored twice");
        }
        for c in dev.store.changes_since(*id, &[]).unwrap() {
            let h = automerge::Change::from_bytes(c).unwrap().hash();
            assert!(seen.contains(&(*id, h)), "lost");
        }
    }
    let (ndocs, nchanges) = st.counts(TENANT).unwrap();
    assert_eq!(ndocs as usize, docs.len());
    assert_eq!(nchanges as usize, docs.len());
}
