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

/// A record of any kind, for comparing documents without knowing their kind statically.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyRecord {
    Form(fieldsync_core::model::Form),
    Response(fieldsync_core::model::Response),
    Account(fieldsync_core::model::Account),
    Visit(fieldsync_core::model::Visit),
    Case(fieldsync_core::model::Case),
}

/// Read a document of the given kind.
pub fn get_any(s: &Store, id: DocId, kind: fieldsync_core::Kind) -> Result<AnyRecord> {
    use fieldsync_core::Kind;
    use fieldsync_core::model::{Account, Case, Response, Visit};
    Ok(match kind {
        Kind::Form => AnyRecord::Form(s.get::<Form>(id)?),
        Kind::Response => AnyRecord::Response(s.get::<Response>(id)?),
        Kind::Account => AnyRecord::Account(s.get::<Account>(id)?),
        Kind::Visit => AnyRecord::Visit(s.get::<Visit>(id)?),
        Kind::Case => AnyRecord::Case(s.get::<Case>(id)?),
    })
}

/// Every list a store serves, all pages, in the store's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Lists {
    pub forms: Vec<fieldsync_core::store::FormRow>,
    pub responses: Vec<fieldsync_core::store::ResponseRow>,
    pub accounts: Vec<fieldsync_core::store::AccountRow>,
    pub visits: Vec<fieldsync_core::store::VisitRow>,
    pub commitments: Vec<fieldsync_core::store::CommitmentRow>,
    pub cases: Vec<fieldsync_core::store::CaseRow>,
}

/// Read every list query to the end, page by page.
pub fn all_lists(s: &Store) -> Result<Lists> {
    use fieldsync_core::store::{CaseFilter, CommitmentFilter, ResponseFilter, VisitFilter};
    fn pages<T>(
        mut f: impl FnMut(Option<&str>) -> Result<fieldsync_core::store::Page<T>>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let p = f(next.as_deref())?;
            out.extend(p.items);
            match p.next {
                Some(n) => next = Some(n),
                None => return Ok(out),
            }
        }
    }
    Ok(Lists {
        forms: s.list_forms(None)?,
        responses: pages(|a| s.list_responses(&ResponseFilter::default(), 500, a))?,
        accounts: s.list_accounts(&Default::default())?,
        visits: pages(|a| s.list_visits(&VisitFilter::default(), 500, a))?,
        commitments: pages(|a| s.open_commitments(&CommitmentFilter::default(), 500, a))?,
        cases: pages(|a| s.list_cases(&CaseFilter::default(), 500, a))?,
    })
}

/// Copy a closed store file (and its WAL and shared-memory files, if any) to `to`,
/// removing stale side files at the destination.
pub fn copy_store_file(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::copy(from, to)?;
    for suffix in ["-wal", "-shm"] {
        let src = side_file(from, suffix);
        let dst = side_file(to, suffix);
        if src.exists() {
            std::fs::copy(&src, &dst)?;
        } else if dst.exists() {
            std::fs::remove_file(&dst)?;
        }
    }
    Ok(())
}

/// `<path>-wal`, `<path>-shm`.
pub fn side_file(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    std::path::PathBuf::from(s)
}
