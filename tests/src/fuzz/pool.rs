//! Real encodings the structured harnesses build on: Automerge changes of each record
//! kind (made deterministically: fixed actors and times), their heads, and the sync
//! messages of a real repair exchange. Built once per process.

use std::sync::OnceLock;

use arbitrary::{Result, Unstructured};
use automerge::sync::{State, SyncDoc};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ROOT};
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::{DocId, Kind};

/// Scopes the harness worlds know (the fuzzer also makes up others).
pub const SCOPES: [&str; 3] = ["s:a", "s:b", "s:none"];

/// One document's changes.
#[derive(Debug, Clone)]
pub struct PoolDoc {
    /// Document id.
    pub id: [u8; 16],
    /// Kind code.
    pub kind: u8,
    /// Change chunks in causal order.
    pub changes: Vec<Vec<u8>>,
    /// Heads after all changes.
    pub heads: Vec<[u8; 32]>,
}

/// The pool.
#[derive(Debug)]
pub struct Pool {
    /// Documents of every record kind.
    pub docs: Vec<PoolDoc>,
    /// Sync messages of a repair exchange, in the order they were sent.
    pub sync_msgs: Vec<Vec<u8>>,
}

fn doc_of<T: autosurgeon::Reconcile>(seed: u8, kind: Kind, value: &T, edit: bool) -> PoolDoc {
    let actor = ActorId::from([seed; 16].as_slice());
    let mut doc = AutoCommit::new().with_actor(actor);
    let at = 1_700_000_000_000 + i64::from(seed) * 60_000;
    // Invariant: reconciling a model struct into an empty document cannot fail.
    autosurgeon::reconcile(&mut doc, value).expect("reconcile sample");
    doc.commit_with(CommitOptions::default().with_time(at));
    let mut changes = vec![
        doc.get_last_local_change()
            .expect("a change")
            .raw_bytes()
            .to_vec(),
    ];
    if edit {
        // A second change touching a scalar, a new key and a text object.
        let _ = doc.put(ROOT, "reviewed", true);
        if let Ok(t) = doc.put_object(ROOT, "note", ObjType::Text) {
            let _ = doc.splice_text(&t, 0, 0, "called back, 满意");
        }
        doc.commit_with(CommitOptions::default().with_time(at + 1));
        if let Some(c) = doc.get_last_local_change() {
            changes.push(c.raw_bytes().to_vec());
        }
    }
    let mut id = [0u8; 16];
    id[0] = seed;
    id[15] = kind.code();
    PoolDoc {
        id,
        kind: kind.code(),
        heads: doc.get_heads().iter().map(|h| h.0).collect(),
        changes,
    }
}

fn build() -> Pool {
    let form = sample::telecom_form(1);
    let form_id = DocId::from_slice(&[9; 16]).expect("16 bytes");
    let mut rng = Rng::new(7);
    let mut docs = Vec::new();
    for i in 0..2u8 {
        let r = sample::telecom_response(
            &mut rng,
            form_id,
            &form,
            "north/c/d",
            "li",
            1_700_000_000_000,
        );
        docs.push(doc_of(10 + i, Kind::Response, &r, true));
    }
    let account = sample::account("Acme Freight", "li", "north/c/d");
    docs.push(doc_of(20, Kind::Account, &account, true));
    let account_id = DocId::from_slice(&docs[2].id).expect("16 bytes");
    let visit = sample::visit(account_id, "li", 1_700_000_000_000, "renewal");
    docs.push(doc_of(30, Kind::Visit, &visit, false));
    docs.push(doc_of(40, Kind::Form, &form, false));

    // A repair exchange: a device with the account document, a server without it.
    let mut a = AutoCommit::new();
    for c in &docs[2].changes {
        let _ = a.load_incremental(c);
    }
    let mut b = AutoCommit::new();
    let (mut sa, mut sb) = (State::new(), State::new());
    let mut sync_msgs = Vec::new();
    for _ in 0..6 {
        if let Some(m) = a.sync().generate_sync_message(&mut sa) {
            let bytes = m.encode();
            if let Ok(m) = automerge::sync::Message::decode(&bytes) {
                let _ = b.sync().receive_sync_message(&mut sb, m);
            }
            sync_msgs.push(bytes);
        }
        if let Some(m) = b.sync().generate_sync_message(&mut sb) {
            let bytes = m.encode();
            if let Ok(m) = automerge::sync::Message::decode(&bytes) {
                let _ = a.sync().receive_sync_message(&mut sa, m);
            }
            sync_msgs.push(bytes);
        }
    }
    Pool { docs, sync_msgs }
}

/// The pool of this process.
pub fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(build)
}

/// A pool document.
pub fn pick_doc<'a>(u: &mut Unstructured<'_>, p: &'a Pool) -> Result<&'a PoolDoc> {
    u.choose(&p.docs)
}

/// Bytes built from `real`: as they are, with bytes overwritten, truncated, extended,
/// or replaced by raw fuzz bytes.
pub fn mutate(u: &mut Unstructured<'_>, real: &[u8]) -> Result<Vec<u8>> {
    let mut b = real.to_vec();
    match u.int_in_range(0u8..=5)? {
        0 | 1 => {}
        2 => {
            for _ in 0..u.int_in_range(1u8..=4)? {
                if b.is_empty() {
                    break;
                }
                let i = u.choose_index(b.len())?;
                b[i] = u.arbitrary()?;
            }
        }
        3 => {
            let n = u.choose_index(b.len() + 1)?;
            b.truncate(n);
        }
        4 => {
            let extra: Vec<u8> = u.arbitrary()?;
            b.extend_from_slice(&extra);
        }
        _ => b = u.arbitrary()?,
    }
    Ok(b)
}

/// A change chunk: a real one (maybe mutated) or raw bytes.
pub fn change(u: &mut Unstructured<'_>, p: &Pool) -> Result<Vec<u8>> {
    let d = pick_doc(u, p)?;
    let c = u.choose(&d.changes)?;
    mutate(u, c)
}

/// A scope name: a known one most of the time.
pub fn scope(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(7u8, 8u8)? {
        Ok((*u.choose(&SCOPES)?).to_string())
    } else {
        u.arbitrary()
    }
}

/// A 16-byte id: a pool document's or made up.
pub fn id(u: &mut Unstructured<'_>, p: &Pool) -> Result<[u8; 16]> {
    if u.ratio(3u8, 4u8)? {
        Ok(pick_doc(u, p)?.id)
    } else {
        u.arbitrary()
    }
}

/// A kind code: usually valid.
pub fn kind(u: &mut Unstructured<'_>) -> Result<u8> {
    if u.ratio(7u8, 8u8)? {
        u.int_in_range(1u8..=5)
    } else {
        u.arbitrary()
    }
}
