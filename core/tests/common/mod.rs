//! Helpers shared by the core integration tests.
#![allow(dead_code)]

use fieldsync_core::model::Form;
use fieldsync_core::sample;
use fieldsync_core::store::{Store, StoreOptions};
use fieldsync_core::{DocId, Result, Scope};

pub const KEY: [u8; 32] = [42u8; 32];

pub fn scope(s: &str) -> Scope {
    Scope::new(s).expect("valid scope")
}

pub fn mem(device: &str, user: &str) -> Store {
    Store::open_in_memory(&KEY, StoreOptions::new(device, user)).expect("open in memory")
}

pub fn file_store(dir: &std::path::Path, name: &str, device: &str, user: &str) -> Store {
    Store::open(dir.join(name), &KEY, StoreOptions::new(device, user)).expect("open file store")
}

/// Publish the telecom survey in `store`; returns its id and value.
pub fn telecom_form(store: &Store) -> Result<(DocId, Form)> {
    let form = sample::telecom_form(1);
    let id = store.create(&scope("team:north"), &form)?;
    Ok((id, form))
}

/// Copy every change of `id` from `from` to `to` (a one-way sync of one document).
pub fn push_doc(from: &Store, to: &Store, id: DocId) -> Result<()> {
    let info = from.info(id)?;
    let changes = from.changes_since(id, &[])?;
    to.apply_changes(id, info.kind, &info.scope, &changes, false)?;
    Ok(())
}

/// Both directions.
pub fn sync_doc(a: &Store, b: &Store, id: DocId) -> Result<()> {
    push_doc(a, b, id)?;
    push_doc(b, a, id)
}
