//! The sync protocol in memory, with faults: exchanges cut at every point in either
//! direction, old pushes replayed, devices interleaved at random. At the end every
//! device has every document it may read, equal everywhere; the server holds every
//! change exactly once; nothing made on a device is lost.

use std::collections::HashSet;
use std::sync::Arc;

use fieldsync_core::model::{Account, Visit};
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::{Store, StoreOptions};
use fieldsync_core::sync::ClientConfig;
use fieldsync_core::sync::wire::ClientMsg;
use fieldsync_core::{DocId, Kind, Scope};
use fieldsync_server::session::{ServerSession, SessionLimits};
use fieldsync_server::storage::Backend;
use fieldsync_tests::memnet::*;
use proptest::prelude::*;

const KEY: [u8; 32] = [9u8; 32];

struct World {
    _dir: tempfile::TempDir,
    storage: Arc<dyn Backend>,
    devices: Vec<Store>,
    docs: Vec<(DocId, Scope)>,
    old_pushes: Vec<(usize, ClientMsg)>,
}

fn world(n_devices: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let storage = fieldsync_tests::harness::open_test_storage(dir.path());
    storage.ensure_tenant("t").unwrap();
    for s in ["s:a", "s:b"] {
        storage.create_scope("t", s).unwrap();
    }
    let mut devices = Vec::new();
    for i in 0..n_devices {
        let user = format!("u{i}");
        storage.create_user("t", &user, &user).unwrap();
        storage.set_grant("t", &user, "s:a", true, true).unwrap();
        if i % 2 == 0 {
            storage.set_grant("t", &user, "s:b", true, true).unwrap();
        }
        let mut o = StoreOptions::new(format!("dev{i}"), user.clone());
        o.durability = fieldsync_core::store::Durability::Normal;
        let st = Store::open(dir.path().join(format!("dev{i}.db")), &KEY, o).unwrap();
        enrol_direct(&*storage, &st, "t", &user).unwrap();
        devices.push(st);
    }
    World {
        _dir: dir,
        storage,
        devices,
        docs: Vec::new(),
        old_pushes: Vec::new(),
    }
}

fn can_write(dev: usize, scope: &Scope) -> bool {
    scope.as_str() == "s:a" || dev.is_multiple_of(2)
}

fn random_edit(w: &mut World, rng: &mut Rng) {
    let d = usize::try_from(rng.range(0, w.devices.len() as i64 - 1)).unwrap();
    let store = w.devices[d].clone();
    let create = w.docs.is_empty() || rng.chance(0.35);
    if create {
        let scope = Scope::new(if d % 2 == 0 && rng.chance(0.5) {
            "s:b"
        } else {
            "s:a"
        })
        .unwrap();
        let id = if rng.chance(0.5) {
            store
                .create(
                    &scope,
                    &sample::account(
                        &format!("Acct {}", rng.range(0, 999)),
                        store.user_id(),
                        "north",
                    ),
                )
                .unwrap()
        } else {
            // A visit references some account id; validation only checks its form.
            store
                .create(
                    &scope,
                    &sample::visit(
                        DocId::random().unwrap(),
                        store.user_id(),
                        rng.range(0, 1000),
                        "review",
                    ),
                )
                .unwrap()
        };
        w.docs.push((id, scope));
        return;
    }
    let (id, scope) =
        w.docs[usize::try_from(rng.range(0, w.docs.len() as i64 - 1)).unwrap()].clone();
    if !can_write(d, &scope) {
        return;
    }
    let Ok(info) = store.info(id) else { return }; // not synced to this device yet
    let v = rng.range(1, 10);
    let word = format!(" w{}", rng.range(0, 99));
    match info.kind {
        Kind::Account => {
            store
                .update::<Account>(id, |a| {
                    a.core = !a.core;
                    a.industry = Some(word.clone());
                    Ok(())
                })
                .unwrap();
        }
        Kind::Visit => {
            store
                .update::<Visit>(id, |x| {
                    x.scores.overall = Some(v);
                    let n = x.notes.as_str().len();
                    x.notes.splice(n, 0, &word);
                    Ok(())
                })
                .unwrap();
        }
        _ => {}
    }
}

fn run_case(seed: u64, steps: usize) {
    let mut rng = Rng::new(seed);
    let mut w = world(3);
    for _ in 0..steps {
        let roll = rng.range(0, 9);
        if roll < 5 {
            random_edit(&mut w, &mut rng);
            continue;
        }
        let d = usize::try_from(rng.range(0, w.devices.len() as i64 - 1)).unwrap();
        if roll == 9 && !w.old_pushes.is_empty() {
            // Replay an old push on a new connection: a duplicate delivery.
            let (from, msg) = w.old_pushes
                [usize::try_from(rng.range(0, w.old_pushes.len() as i64 - 1)).unwrap()]
            .clone();
            let dev = &w.devices[from];
            let mut s = ServerSession::new(
                w.storage.clone(),
                SessionLimits::default(),
                EXPORTER.to_vec(),
            );
            let mut c =
                fieldsync_core::sync::ClientSession::new(dev.clone(), ClientConfig::default());
            let hello = c.start(&EXPORTER).unwrap().remove(0);
            s.handle(hello).unwrap();
            let replies = s.handle(msg).unwrap();
            assert!(
                matches!(replies[0], fieldsync_core::sync::wire::ServerMsg::PushAck(ref a) if a.accepted == 0),
                "a replay stores nothing new: {replies:?}"
            );
            continue;
        }
        let cut = match rng.range(0, 3) {
            0 => Cut::Never,
            1 => Cut::AfterServerHandled(usize::try_from(rng.range(1, 4)).unwrap()),
            _ => Cut::ServerRepliesFrom(usize::try_from(rng.range(0, 4)).unwrap()),
        };
        // Small batches so pushes span several messages and cuts land between them.
        let cfg = ClientConfig {
            push_batch_bytes: 600,
            push_window: 2,
            ..ClientConfig::default()
        };
        let ex = exchange(&w.storage, &w.devices[d], cut, cfg).unwrap();
        for m in ex.client_msgs {
            if matches!(m, ClientMsg::Push(_)) {
                w.old_pushes.push((d, m));
            }
        }
    }
    // Quiesce: clean exchanges until nothing moves.
    for _ in 0..3 {
        for d in &w.devices {
            let ex = exchange(&w.storage, d, Cut::Never, ClientConfig::default()).unwrap();
            assert!(ex.completed);
        }
    }
    // Server: each change once; every change made anywhere is there.
    let mut server_hashes: HashSet<(DocId, [u8; 32])> = HashSet::new();
    for (id, _) in &w.docs {
        for e in w.storage.doc_log("t", *id).unwrap() {
            let c = automerge::Change::from_bytes(e.bytes).unwrap();
            assert!(
                server_hashes.insert((*id, c.hash().0)),
                "change stored twice"
            );
        }
    }
    for (i, d) in w.devices.iter().enumerate() {
        assert_eq!(
            d.unacked_count().unwrap(),
            0,
            "device {i} has unacknowledged changes"
        );
        for (id, scope) in &w.docs {
            let readable = scope.as_str() == "s:a" || i % 2 == 0;
            match d.changes_since(*id, &[]) {
                Ok(chs) => {
                    assert!(readable, "device {i} holds a document it may not read");
                    for c in chs {
                        let h = automerge::Change::from_bytes(c).unwrap().hash().0;
                        assert!(server_hashes.contains(&(*id, h)), "change lost");
                    }
                }
                Err(_) => assert!(!readable, "device {i} lacks readable doc {id}"),
            }
        }
    }
    // Convergence: equal heads and values wherever readable.
    for (id, _) in &w.docs {
        let holders: Vec<&Store> = w.devices.iter().filter(|d| d.info(*id).is_ok()).collect();
        let mut heads0 = holders[0].heads(*id).unwrap();
        heads0.sort();
        for h in &holders[1..] {
            let mut hh = h.heads(*id).unwrap();
            hh.sort();
            assert_eq!(hh, heads0, "diverged on {id}");
            assert_eq!(
                h.conflicts(*id).unwrap(),
                holders[0].conflicts(*id).unwrap()
            );
        }
        let mut server_heads = w.storage.doc_meta("t", *id).unwrap().unwrap().heads;
        server_heads.sort();
        assert_eq!(server_heads, heads0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, .. ProptestConfig::default() })]
    #[test]
    fn protocol_survives_cuts_and_replays(seed in any::<u64>()) {
        run_case(seed, 60);
    }
}
