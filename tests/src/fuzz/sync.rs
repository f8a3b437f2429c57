//! Targets `sync_server` and `sync_client`: the two sans-I/O state machines of the
//! protocol driven by structured message sequences.
//!
//! - `sync_server`: a fresh server session over real SQLite storage (a tenant, two
//!   scopes, one enrolled device whose key signs a valid `Hello`) handles a sequence of
//!   client messages, mostly built from real changes and sync messages; every reply
//!   must encode and decode. A session error ends the input (the connection would
//!   close).
//! - `sync_client`: a fresh, enrolled device store with a few documents of its own runs
//!   a session against a sequence of server messages (welcome, acks for its batches,
//!   pull batches of real and mutated changes, repair plans and sync messages).
//!
//! Each input builds its world from nothing, so a crash replays from its input alone.

use std::sync::Arc;

use arbitrary::Unstructured;
use fieldsync_core::store::{ServerEndpoint, Store, StoreOptions, SyncIdentity};
use fieldsync_core::sync::wire::*;
use fieldsync_core::sync::{ClientConfig, ClientSession};
use fieldsync_core::{Kind, Scope};
use fieldsync_server::session::{ServerSession, SessionLimits};
use fieldsync_server::storage::{self, Backend, StorageConfig};
use serde_bytes::ByteBuf;

use super::msgs;
use super::pool::{SCOPES, pool};
use crate::memnet::{EXPORTER, enrol_direct};

const KEY: [u8; 32] = [3u8; 32];
/// Messages per input: enough for a whole exchange with repair.
const MAX_MSGS: usize = 24;

fn roundtrip<T: WireMsg + PartialEq + std::fmt::Debug>(version: u16, m: &T) -> T {
    let f = encode_for(version, m);
    match decode_frame_for::<T>(version, &f) {
        Ok(Some((back, _))) => {
            assert_eq!(&back, m, "v{version}: message changed on the wire");
            back
        }
        other => panic!("v{version}: own frame refused: {other:?}"),
    }
}

/// A scratch folder on tmpfs when there is one (the server storage fsyncs).
fn scratch() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().expect("temporary folder")
}

struct ServerWorld {
    _dir: tempfile::TempDir,
    storage: Arc<dyn Backend>,
    hello: Hello,
}

fn server_world(protocol: u16) -> ServerWorld {
    let dir = scratch();
    // Invariant (harness set-up, not fuzz input): a fresh SQLite file opens and takes
    // a tenant, scopes, a user and a device.
    let storage =
        storage::open(&StorageConfig::Sqlite(dir.path().join("server.db"))).expect("storage");
    storage.ensure_tenant("t").expect("tenant");
    for s in ["s:a", "s:b"] {
        storage.create_scope("t", s).expect("scope");
    }
    storage.create_user("t", "u", "u").expect("user");
    storage
        .set_grant("t", "u", "s:a", true, true)
        .expect("grant");
    storage
        .set_grant("t", "u", "s:b", true, false)
        .expect("grant");
    let device = Store::open_in_memory(&KEY, StoreOptions::new("dev1", "u")).expect("device store");
    enrol_direct(&*storage, &device, "t", "u").expect("enrol");
    let key = device.device_key().expect("device key");
    let hello = Hello {
        protocol,
        device_id: "dev1".into(),
        replica: device.replica_id().expect("replica"),
        proof: ByteBuf::from(key.prove("dev1", &EXPORTER)),
    };
    ServerWorld {
        _dir: dir,
        storage,
        hello,
    }
}

/// The `sync_server` harness.
pub fn server(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let p = pool();
    let Ok(v2) = u.arbitrary::<bool>() else {
        return;
    };
    let version = if v2 { PROTOCOL_VERSION } else { PROTOCOL_V1 };
    let w = server_world(version);
    // Several connections per input: state left by one (pushed documents, a finished
    // repair) is what the next one meets.
    for _ in 0..3 {
        let mut session = ServerSession::new(
            w.storage.clone(),
            SessionLimits::default(),
            EXPORTER.to_vec(),
        )
        .with_protocol(version);
        // Usually a valid Hello first, so the fuzzer gets past authentication.
        let mut first = match u.ratio(7u8, 8u8) {
            Ok(true) => Some(ClientMsg::Hello(w.hello.clone())),
            Ok(false) => None,
            Err(_) => return,
        };
        for _ in 0..MAX_MSGS {
            let msg = match first.take() {
                Some(m) => m,
                None => match msgs::client_msg(&mut u, p, Some(&w.hello)) {
                    Ok(m) => m,
                    Err(_) => return,
                },
            };
            let msg = roundtrip(version, &msg);
            match session.handle(msg) {
                Ok(replies) => {
                    for r in &replies {
                        roundtrip(version, r);
                    }
                }
                Err(_) => break,
            }
            if session.finished() || u.is_empty() {
                break;
            }
        }
    }
}

fn client_store(u: &mut Unstructured<'_>) -> Store {
    // Invariant (harness set-up): an in-memory store opens, takes an identity and
    // sample records.
    let store = Store::open_in_memory(&KEY, StoreOptions::new("dev1", "u")).expect("device store");
    store
        .set_sync_identity(&SyncIdentity {
            device_id: "dev1".into(),
            tenant: "t".into(),
            user_id: "u".into(),
            server: ServerEndpoint {
                host: "mem".into(),
                port: 1,
                server_name: "mem".into(),
                pin: Some([0; 32]),
            },
        })
        .expect("identity");
    let n = u.int_in_range(0u8..=3).unwrap_or(0);
    for i in 0..n {
        let scope = Scope::new(SCOPES[usize::from(i) % 2]).expect("scope");
        let a = fieldsync_core::sample::account(&format!("Acct {i}"), "u", "north/c/d");
        store.create(&scope, &a).expect("create");
    }
    store
}

/// The `sync_client` harness.
pub fn client(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let p = pool();
    let Ok(v2) = u.arbitrary::<bool>() else {
        return;
    };
    let version = if v2 { PROTOCOL_VERSION } else { PROTOCOL_V1 };
    let store = client_store(&mut u);
    for _ in 0..2 {
        let cfg = ClientConfig {
            push_batch_bytes: 512,
            push_window: 2,
            ..ClientConfig::default()
        };
        let mut session = ClientSession::new(store.clone(), cfg).with_protocol(version);
        let Ok(first) = session.start(&EXPORTER) else {
            return;
        };
        let mut sent = first.len();
        for m in &first {
            roundtrip(version, m);
        }
        for _ in 0..MAX_MSGS {
            let Ok(msg) = msgs::server_msg(&mut u, p, u32::try_from(sent).unwrap_or(u32::MAX))
            else {
                return;
            };
            let msg = roundtrip(version, &msg);
            match session.handle(msg) {
                Ok(out) => {
                    sent += out.len();
                    for m in &out {
                        roundtrip(version, m);
                    }
                }
                Err(_) => break,
            }
            if session.is_finished() || u.is_empty() {
                break;
            }
        }
    }
    // What the device stored must still read back as its kind.
    if let Ok(ids) = store.ids(None) {
        for id in ids {
            if let Ok(info) = store.info(id) {
                let _ = read_as(&store, id, info.kind);
            }
        }
    }
}

/// Read a stored document as the record of `kind` (errors are fine; panics are not).
pub fn read_as(store: &Store, id: fieldsync_core::DocId, kind: Kind) -> bool {
    use fieldsync_core::model::*;
    match kind {
        Kind::Form => store.get::<Form>(id).is_ok(),
        Kind::Response => store.get::<Response>(id).is_ok(),
        Kind::Account => store.get::<Account>(id).is_ok(),
        Kind::Visit => store.get::<Visit>(id).is_ok(),
        Kind::Case => store.get::<Case>(id).is_ok(),
    }
}
