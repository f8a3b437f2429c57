//! A lost reply at each protocol step (Welcome, each PushAck, PullBatch, Done, and every
//! step of a repair), then a retry: exactly one stored change per hash, nothing lost,
//! the device ends with everything acknowledged.

use std::collections::HashSet;
use std::sync::Arc;

use fieldsync_core::model::Visit;
use fieldsync_core::sample;
use fieldsync_core::store::{Store, StoreOptions};
use fieldsync_core::sync::ClientConfig;
use fieldsync_core::{DocId, Scope};
use fieldsync_server::storage::Backend;
use fieldsync_tests::memnet::*;

const KEY: [u8; 32] = [3u8; 32];

fn setup(dir: &std::path::Path) -> (Arc<dyn Backend>, Store, Store) {
    let storage = fieldsync_tests::harness::open_test_storage(dir);
    storage.ensure_tenant("t").unwrap();
    storage.create_scope("t", "acc").unwrap();
    for u in ["a", "b"] {
        storage.create_user("t", u, u).unwrap();
        storage.set_grant("t", u, "acc", true, true).unwrap();
    }
    let open = |name: &str, user: &str| {
        let s = Store::open(
            dir.join(format!("{name}.db")),
            &KEY,
            StoreOptions::new(name, user),
        )
        .unwrap();
        enrol_direct(&*storage, &s, "t", user).unwrap();
        s
    };
    let a = open("dev-a", "a");
    let b = open("dev-b", "b");
    (storage, a, b)
}

fn log_hashes(storage: &dyn Backend, ids: &[DocId]) -> Vec<[u8; 32]> {
    let mut out = Vec::new();
    for id in ids {
        for e in storage.doc_log("t", *id).unwrap() {
            out.push(automerge::Change::from_bytes(e.bytes).unwrap().hash().0);
        }
    }
    out
}

fn make_work(a: &Store, n: usize) -> Vec<DocId> {
    let scope = Scope::new("acc").unwrap();
    let acc = a
        .create(&scope, &sample::account("Acme", "a", "n"))
        .unwrap();
    let mut ids = vec![acc];
    for i in 0..n {
        let v = a
            .create(
                &scope,
                &sample::visit(acc, "a", i64::try_from(i).unwrap(), "review"),
            )
            .unwrap();
        a.update::<Visit>(v, |x| {
            x.notes.splice(0, 0, "note");
            Ok(())
        })
        .unwrap();
        ids.push(v);
    }
    ids
}

fn check_exactly_once(storage: &dyn Backend, devices: &[&Store], ids: &[DocId]) {
    let hashes = log_hashes(storage, ids);
    let unique: HashSet<_> = hashes.iter().collect();
    assert_eq!(unique.len(), hashes.len(), "a change was stored twice");
    for d in devices {
        for id in ids {
            if let Ok(chs) = d.changes_since(*id, &[]) {
                for c in chs {
                    let h = automerge::Change::from_bytes(c).unwrap().hash().0;
                    assert!(unique.contains(&h), "a change never reached the server");
                }
            }
        }
        assert_eq!(d.unacked_count().unwrap(), 0);
    }
}

#[test]
fn lost_reply_at_every_step_then_retry() {
    // Small batches: the exchange has several PushAcks to lose.
    let cfg = || ClientConfig {
        push_batch_bytes: 700,
        push_window: 3,
        ..ClientConfig::default()
    };
    for k in 0..12 {
        for cut in [Cut::ServerRepliesFrom(k), Cut::AfterServerHandled(k + 1)] {
            let dir = tempfile::tempdir().unwrap();
            let (storage, a, b) = setup(dir.path());
            let ids = make_work(&a, 4);
            // b has something to pull too
            exchange(&storage, &b, Cut::Never, cfg()).unwrap();
            let first = exchange(&storage, &a, cut, cfg()).unwrap();
            let lost_something = !first.completed;
            // retry until done
            let mut tries = 0;
            loop {
                let ex = exchange(&storage, &a, Cut::Never, cfg()).unwrap();
                tries += 1;
                if ex.completed && a.unacked_count().unwrap() == 0 {
                    break;
                }
                assert!(tries < 5, "retries do not converge ({cut:?})");
            }
            exchange(&storage, &b, Cut::Never, cfg()).unwrap();
            check_exactly_once(&*storage, &[&a, &b], &ids);
            for id in &ids {
                assert_eq!(a.heads(*id).unwrap(), b.heads(*id).unwrap(), "{cut:?}");
            }
            if k == 0 {
                assert!(lost_something, "cut {cut:?} must interrupt the exchange");
            }
        }
    }
}

#[test]
fn lost_reply_during_repair_then_retry() {
    for k in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let (storage, a, b) = setup(dir.path());
        let ids = make_work(&a, 3);
        exchange(&storage, &a, Cut::Never, ClientConfig::default()).unwrap();
        exchange(&storage, &b, Cut::Never, ClientConfig::default()).unwrap();
        // The server's log is "restored": new epoch. Both devices edit meanwhile.
        storage.new_epoch("t").unwrap();
        a.update::<Visit>(ids[1], |v| {
            v.purpose = "after restore".into();
            Ok(())
        })
        .unwrap();
        b.update::<Visit>(ids[2], |v| {
            v.scores.overall = Some(8);
            Ok(())
        })
        .unwrap();
        let ex = exchange(
            &storage,
            &b,
            Cut::ServerRepliesFrom(k),
            ClientConfig::default(),
        )
        .unwrap();
        let _ = ex;
        let mut repaired = 0;
        for _ in 0..3 {
            for d in [&a, &b] {
                let ex = exchange(&storage, d, Cut::Never, ClientConfig::default()).unwrap();
                repaired += ex.report.map_or(0, |r| r.repaired);
            }
        }
        assert!(
            repaired > 0,
            "the epoch change must send devices through repair"
        );
        check_exactly_once(&*storage, &[&a, &b], &ids);
        for id in &ids {
            assert_eq!(a.heads(*id).unwrap(), b.heads(*id).unwrap(), "cut at {k}");
        }
        assert_eq!(b.get::<Visit>(ids[1]).unwrap().purpose, "after restore");
        assert_eq!(a.get::<Visit>(ids[2]).unwrap().scores.overall, Some(8));
        let (epoch, _) = a.sync_cursors().unwrap();
        assert_eq!(
            epoch,
            storage.epoch("t").unwrap(),
            "devices adopt the new epoch"
        );
    }
}
