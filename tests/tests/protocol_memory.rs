//! The sync protocol in memory, with faults: exchanges cut at every point in either
//! direction, old pushes replayed, devices interleaved at random, network partitions
//! (a random set of devices cut off for a while, editing offline), device crashes (the
//! app killed, possibly mid-exchange: store handles dropped without closing, reopened
//! from the file) and server crashes (storage dropped between commits and reopened from
//! its files). At the end every device has every document it may read, equal
//! everywhere; the server holds every change exactly once; nothing made on a device is
//! lost; and — checked after every server crash and at the end — every change a device
//! saw acknowledged is in the server's log (Jepsen's "no lost acknowledged writes").
//!
//! 48 schedules by default; `PROPTEST_CASES` overrides (the extended tier,
//! `scripts/extended-convergence`, runs 10,000).

use std::collections::HashSet;
use std::path::PathBuf;
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
    dir: tempfile::TempDir,
    storage: Arc<dyn Backend>,
    devices: Vec<Store>,
    paths: Vec<PathBuf>,
    docs: Vec<(DocId, Scope)>,
    old_pushes: Vec<(usize, ClientMsg)>,
    /// Every change made on each device: (document, hash).
    made: Vec<HashSet<(DocId, [u8; 32])>>,
    /// Every change some device saw acknowledged.
    acked: HashSet<(DocId, [u8; 32])>,
    /// Step until which each device is cut off (a partition).
    offline_until: Vec<usize>,
}

fn options(i: usize) -> StoreOptions {
    let mut o = StoreOptions::new(format!("dev{i}"), format!("u{i}"));
    o.durability = fieldsync_core::store::Durability::Normal;
    o
}

fn world(n_devices: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let storage = fieldsync_tests::harness::open_test_storage(dir.path());
    storage.ensure_tenant("t").unwrap();
    for s in ["s:a", "s:b"] {
        storage.create_scope("t", s).unwrap();
    }
    let mut devices = Vec::new();
    let mut paths = Vec::new();
    for i in 0..n_devices {
        let user = format!("u{i}");
        storage.create_user("t", &user, &user).unwrap();
        storage.set_grant("t", &user, "s:a", true, true).unwrap();
        if i % 2 == 0 {
            storage.set_grant("t", &user, "s:b", true, true).unwrap();
        }
        let path = dir.path().join(format!("dev{i}.db"));
        let st = Store::open(&path, &KEY, options(i)).unwrap();
        enrol_direct(&*storage, &st, "t", &user).unwrap();
        devices.push(st);
        paths.push(path);
    }
    World {
        dir,
        storage,
        devices,
        paths,
        docs: Vec::new(),
        old_pushes: Vec::new(),
        made: vec![HashSet::new(); n_devices],
        acked: HashSet::new(),
        offline_until: vec![0; n_devices],
    }
}

impl World {
    /// Device `d` wrote document `id`: its single head is the new change.
    fn made_on(&mut self, d: usize, id: DocId) {
        let heads = self.devices[d].heads(id).unwrap();
        assert_eq!(heads.len(), 1, "a local write leaves one head");
        self.made[d].insert((id, heads[0].0));
    }

    /// After an exchange of device `d` (complete or cut): what it no longer has
    /// pending is acknowledged.
    fn note_acks(&mut self, d: usize) {
        let pending: HashSet<(DocId, [u8; 32])> = self.devices[d]
            .pending_changes(0, usize::MAX >> 1)
            .unwrap()
            .into_iter()
            .map(|p| (p.doc_id, p.hash.0))
            .collect();
        for c in &self.made[d] {
            if !pending.contains(c) {
                self.acked.insert(*c);
            }
        }
    }

    /// The app is killed: the store is dropped without closing and reopened from its
    /// file.
    fn crash_device(&mut self, d: usize) {
        let fresh = {
            let old = std::mem::replace(
                &mut self.devices[d],
                Store::open_in_memory(&KEY, options(d)).unwrap(),
            );
            drop(old);
            Store::open(&self.paths[d], &KEY, options(d)).unwrap()
        };
        self.devices[d] = fresh;
    }

    /// The server dies between commits and restarts on its files; every acknowledged
    /// change must still be in its log.
    fn crash_server(&mut self) {
        let old = std::mem::replace(
            &mut self.storage,
            fieldsync_tests::harness::open_test_storage(self.dir.path()),
        );
        drop(old);
        self.assert_acked_in_log();
    }

    fn assert_acked_in_log(&self) {
        let mut logged: HashSet<(DocId, [u8; 32])> = HashSet::new();
        for (id, _) in &self.docs {
            for e in self.storage.doc_log("t", *id).unwrap() {
                let c = automerge::Change::from_bytes(e.bytes).unwrap();
                logged.insert((*id, c.hash().0));
            }
        }
        for a in &self.acked {
            assert!(logged.contains(a), "acknowledged change lost: {:?}", a.0);
        }
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
        w.made_on(d, id);
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
        _ => return,
    }
    w.made_on(d, id);
}

fn run_case(seed: u64, steps: usize) {
    let mut rng = Rng::new(seed);
    let mut w = world(3);
    for step in 0..steps {
        let roll = rng.range(0, 12);
        if roll < 5 {
            random_edit(&mut w, &mut rng);
            continue;
        }
        let d = usize::try_from(rng.range(0, w.devices.len() as i64 - 1)).unwrap();
        if roll == 10 {
            // A partition: each device cut off with probability 1/2 for a while.
            for u in &mut w.offline_until {
                if rng.chance(0.5) {
                    *u = step + usize::try_from(rng.range(3, 15)).unwrap();
                }
            }
            continue;
        }
        if roll == 11 {
            if rng.chance(0.3) {
                w.crash_server();
            } else {
                w.crash_device(d);
            }
            continue;
        }
        if w.offline_until[d] > step {
            // Partitioned: the device can only work offline.
            random_edit(&mut w, &mut rng);
            continue;
        }
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
        w.note_acks(d);
        for m in ex.client_msgs {
            if matches!(m, ClientMsg::Push(_)) {
                w.old_pushes.push((d, m));
            }
        }
        if cut != Cut::Never && rng.chance(0.25) {
            // The app is killed in the middle of that exchange.
            w.crash_device(d);
        }
    }
    // The partitions heal. Quiesce: clean exchanges until nothing moves.
    for _ in 0..3 {
        for i in 0..w.devices.len() {
            let ex = exchange(
                &w.storage,
                &w.devices[i],
                Cut::Never,
                ClientConfig::default(),
            )
            .unwrap();
            assert!(ex.completed);
            w.note_acks(i);
        }
    }
    w.assert_acked_in_log();
    let made_anywhere: usize = w.made.iter().map(HashSet::len).sum();
    assert_eq!(
        w.acked.len(),
        made_anywhere,
        "every change made was acknowledged"
    );
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

/// 48 in CI; `PROPTEST_CASES` for the extended tier.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, .. ProptestConfig::default() })]
    #[test]
    fn protocol_survives_cuts_and_replays(seed in any::<u64>()) {
        run_case(seed, 60);
    }
}
