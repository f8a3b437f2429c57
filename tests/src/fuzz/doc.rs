//! Target `doc_load`: document bytes from outside on their way into a store.
//!
//! The first byte picks: raw bytes loaded as a whole document (Automerge's loader
//! behind `guarded`) and, when that succeeds, hydrated as every record kind; a list
//! of change chunks (real, mutated or raw) rebuilt with `edit::load`; the same chunks
//! checked and parsed as the server parses a pushed change (`parse_change`: chunk
//! header, inflate cap) with `decode_heads` and `FieldPath::parse` on the rest; or a
//! pull batch applied to a fresh device store (`Store::apply_batch`: size caps, kind
//! and scope checks, sealing, projections), then every stored document read back as its
//! kind, with its conflicts and history.

use arbitrary::Unstructured;
use automerge::AutoCommit;
use fieldsync_core::doc::{self, FieldPath, guarded};
use fieldsync_core::model::*;
use fieldsync_core::store::{Incoming, Store, StoreOptions};
use fieldsync_core::{DocId, Kind, Scope};

use super::msgs;
use super::pool::{self, pool};
use super::sync::read_as;

fn hydrate_all(doc: &AutoCommit) {
    let _ = autosurgeon::hydrate::<_, Account>(doc);
    let _ = autosurgeon::hydrate::<_, Visit>(doc);
    let _ = autosurgeon::hydrate::<_, Response>(doc);
    let _ = autosurgeon::hydrate::<_, Case>(doc);
    let _ = autosurgeon::hydrate::<_, Form>(doc);
    let _ = doc::conflicts(doc);
    for p in [
        "name",
        "answers.q1.Score.value",
        "commitments[0].done_at",
        "notes",
    ] {
        if let Ok(path) = FieldPath::parse(p) {
            let _ = doc::value_at(doc, &path);
        }
    }
}

/// The harness.
pub fn doc_load(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut u = Unstructured::new(rest);
    let p = pool();
    match mode % 4 {
        0 => {
            if let Ok(d) = guarded("load", || Ok(AutoCommit::load(rest)?)) {
                hydrate_all(&d);
            }
        }
        1 | 2 => {
            let mut chunks = Vec::new();
            while chunks.len() < 8 {
                match pool::change(&mut u, p) {
                    Ok(c) => chunks.push(c),
                    Err(_) => break,
                }
            }
            if mode % 4 == 1 {
                if let Ok(d) = fieldsync_core::edit::load(&chunks) {
                    hydrate_all(&d);
                }
            } else {
                for c in &chunks {
                    let _ = fieldsync_server::session::parse_change(c, 1 << 20);
                    let _ = doc::decode_heads(c);
                    let _ = FieldPath::parse(&String::from_utf8_lossy(c));
                }
            }
        }
        _ => {
            // Invariant (harness set-up): an in-memory store opens.
            let store = Store::open_in_memory(&[4u8; 32], StoreOptions::new("dev1", "u"))
                .expect("device store");
            for _ in 0..3 {
                let Ok(docs) = msgs::doc_changes(&mut u, p) else {
                    break;
                };
                let batch: Vec<Incoming> = docs
                    .into_iter()
                    .filter_map(|d| {
                        Some(Incoming {
                            id: DocId::from_slice(&d.id)?,
                            kind: Kind::from_code(d.kind)?,
                            scope: Scope::new(&d.scope).ok()?,
                            changes: d.changes.into_iter().map(|c| c.into_vec()).collect(),
                        })
                    })
                    .collect();
                let acked = u.arbitrary().unwrap_or(true);
                let _ = store.apply_batch(batch, acked);
            }
            if let Ok(ids) = store.ids(None) {
                for id in ids {
                    if let Ok(info) = store.info(id) {
                        read_as(&store, id, info.kind);
                        let _ = store.conflicts(id);
                        let _ = store.history(id);
                    }
                }
            }
        }
    }
}
