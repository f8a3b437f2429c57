//! Live sync: a device in background mode stays connected; when another device commits
//! in its scopes the server tells it, and it pulls without waiting for its timer. Local
//! writes are pushed shortly after they are made.

use std::time::{Duration, Instant};

use fieldsync_core::model::Account;
use fieldsync_core::sample;
use fieldsync_core::sync::{ClientConfig, SyncAgent};
use fieldsync_tests::harness::*;

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    t0.elapsed()
}

#[test]
fn scopes_changed_wakes_a_connected_device() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let srv = rt.block_on(TestServer::start());
    srv.user("li", &[("team:north", true, true)]);
    srv.user(
        "wang",
        &[("team:north", true, true), ("team:south", true, true)],
    );
    let a = {
        let _g = rt.enter();
        Device::new("live-a", "li")
    };
    let agent = SyncAgent::new(a.store.clone(), ClientConfig::default()).unwrap();
    agent
        .enrol(&srv.enrolment_link("li").to_uri(), "Li's phone")
        .unwrap();
    let b = rt.block_on(Device::enrolled(&srv, "live-b", "wang"));
    // A long timer: only the live notification (or a local write) can wake the agent.
    agent.start_background(Duration::from_secs(3600));
    wait_for("agent connected", Duration::from_secs(10), || {
        agent.status().unwrap().connected && agent.status().unwrap().exchanges >= 1
    });

    let id = b
        .store
        .create(
            &scope("team:north"),
            &sample::account("From B", "wang", "n"),
        )
        .unwrap();
    rt.block_on(b.sync()).unwrap();
    let took = wait_for("live pull", Duration::from_secs(10), || {
        a.store.get::<Account>(id).is_ok()
    });
    eprintln!("a change reached the connected device {took:?} after the other device's push");
    assert!(took < Duration::from_secs(5));

    // A change in a scope A cannot read does not wake it. (Let the exchange that pulled
    // the change finish and be counted first.)
    // Wait until the agent is quiet (no exchange for 1.5 s: the subscription's own
    // acknowledgement and the first push's wake-up may each still run an exchange, late
    // on a loaded machine) before counting.
    let mut last = agent.status().unwrap().exchanges;
    loop {
        std::thread::sleep(Duration::from_millis(1500));
        let now = agent.status().unwrap().exchanges;
        if now == last {
            break;
        }
        last = now;
    }
    let before = agent.status().unwrap().exchanges;
    b.store
        .create(&scope("team:south"), &sample::account("South", "wang", "s"))
        .unwrap();
    rt.block_on(b.sync()).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        agent.status().unwrap().exchanges,
        before,
        "no wake-up for unreadable scopes"
    );

    // A local write on A is pushed without a timer.
    let mine = a
        .store
        .create(&scope("team:north"), &sample::account("From A", "li", "n"))
        .unwrap();
    wait_for("local write pushed", Duration::from_secs(10), || {
        agent.status().unwrap().pending_changes == 0
    });
    rt.block_on(b.sync()).unwrap();
    assert!(b.store.get::<Account>(mine).is_ok());
    let st = agent.status().unwrap();
    assert!(st.background && st.last_error.is_none(), "{st:?}");
    agent.stop_background();
    assert!(!agent.status().unwrap().background);
    rt.block_on(srv.server.shutdown());
}
