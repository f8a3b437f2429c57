//! The store object: open with a path and the platform key, read and write records,
//! list, conflicts and history, change listeners.

use std::sync::Arc;

use fieldsync_core::doc::{FieldPath, FieldValue};
use fieldsync_core::model as m;
use fieldsync_core::store::{self as cs, Store, StoreOptions};
use fieldsync_core::{DocId, Scope, Timestamp};

use crate::error::{FieldsyncError, Result, guard};
use crate::records::*;

pub(crate) fn scope(s: &str) -> Result<Scope> {
    Scope::new(s).map_err(|_| FieldsyncError::InvalidArgument {
        message: format!("not a scope: {s:?}"),
    })
}

fn path(p: &str) -> Result<FieldPath> {
    FieldPath::parse(p).map_err(|_| FieldsyncError::InvalidArgument {
        message: format!("not a field path: {p:?}"),
    })
}

/// Told which records changed, after the change is on disk. Called on an engine thread:
/// hop to the main thread before touching UI.
#[uniffi::export(foreign)]
pub trait ChangeListener: Send + Sync {
    /// `ids` changed, made here (`Local`) or received by sync (`Remote`).
    fn on_change(&self, ids: Vec<String>, origin: ChangeOrigin);
}

struct ListenerAdapter(Arc<dyn ChangeListener>);

impl cs::ChangeListener for ListenerAdapter {
    fn on_change(&self, ids: &[DocId], origin: cs::ChangeOrigin) {
        let o = match origin {
            cs::ChangeOrigin::Local => ChangeOrigin::Local,
            cs::ChangeOrigin::Remote => ChangeOrigin::Remote,
        };
        self.0
            .on_change(ids.iter().map(ToString::to_string).collect(), o);
    }
}

/// A device store: every record of this device in one encrypted file. Safe to use from
/// any thread; every call blocks, so call it off the main thread.
#[derive(uniffi::Object)]
pub struct FieldStore {
    pub(crate) inner: Store,
}

#[uniffi::export]
impl FieldStore {
    /// Open (or create) the store at `path`, sealed under `key` — 32 bytes the app keeps
    /// in the Android Keystore or the iOS Keychain. `device_id` and `user_id` name who
    /// writes (shown in field history). A wrong key is `WrongKey`; an unreadable file is
    /// moved aside (`StoreMovedAside`), never deleted.
    #[uniffi::constructor]
    pub fn open(
        path: String,
        key: Vec<u8>,
        device_id: String,
        user_id: String,
    ) -> Result<Arc<Self>> {
        guard(|| {
            let mut opts = StoreOptions::new(device_id, user_id);
            opts.background_compaction = true;
            Ok(Arc::new(FieldStore {
                inner: Store::open(path, &key, opts)?,
            }))
        })
    }

    /// Close the store: running work is interrupted and later calls fail with `Closed`.
    /// Everything written before stays written.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Stop now (app shutdown): the same as `close`, named for the lifecycle.
    pub fn shutdown(&self) {
        self.inner.close();
    }

    // ----- accounts ------------------------------------------------------------------

    /// Create an account in `scope`; returns its id.
    pub fn create_account(&self, scope_name: String, account: Account) -> Result<String> {
        guard(|| {
            Ok(self
                .inner
                .create(&scope(&scope_name)?, &m::Account::from(account))?
                .to_string())
        })
    }

    /// Read an account.
    pub fn get_account(&self, id: String) -> Result<Account> {
        guard(|| Ok(self.inner.get::<m::Account>(parse_id(&id)?)?.into()))
    }

    /// Replace an account's fields; only the differences are recorded. Returns whether
    /// anything changed.
    pub fn update_account(&self, id: String, account: Account) -> Result<bool> {
        guard(|| {
            Ok(self.inner.update::<m::Account>(parse_id(&id)?, |a| {
                *a = account.into();
                Ok(())
            })?)
        })
    }

    /// Accounts owned or co-owned by `owner` (all when `None`), by name.
    pub fn list_accounts(
        &self,
        owner: Option<String>,
        region: Option<String>,
    ) -> Result<Vec<AccountSummary>> {
        guard(|| {
            Ok(self
                .inner
                .list_accounts(&cs::AccountFilter {
                    owner,
                    region,
                    scopes: None,
                })?
                .into_iter()
                .map(|a| AccountSummary {
                    id: a.id.to_string(),
                    name: a.name,
                    region: a.region,
                    core: a.core,
                    owner: a.owner,
                })
                .collect())
        })
    }

    // ----- visits --------------------------------------------------------------------

    /// Record a visit in `scope`; returns its id.
    pub fn create_visit(&self, scope_name: String, visit: Visit) -> Result<String> {
        guard(|| {
            Ok(self
                .inner
                .create(&scope(&scope_name)?, &new_visit(visit))?
                .to_string())
        })
    }

    /// Read a visit.
    pub fn get_visit(&self, id: String) -> Result<Visit> {
        guard(|| Ok(self.inner.get::<m::Visit>(parse_id(&id)?)?.into()))
    }

    /// Replace a visit's fields. Notes are diffed into edits, so a colleague's concurrent
    /// note edits survive.
    pub fn update_visit(&self, id: String, visit: Visit) -> Result<bool> {
        guard(|| {
            Ok(self.inner.update::<m::Visit>(parse_id(&id)?, |v| {
                apply_visit(v, visit);
                Ok(())
            })?)
        })
    }

    /// Insert `text` into a visit's notes at character `position` (clamped to the end).
    pub fn insert_visit_note(&self, id: String, position: u32, text: String) -> Result<()> {
        guard(|| {
            self.inner.update::<m::Visit>(parse_id(&id)?, |v| {
                // Characters (Unicode scalar values) to the byte offset Text works in.
                let notes = v.notes.as_str();
                let pos = notes
                    .char_indices()
                    .nth(position as usize)
                    .map_or(notes.len(), |(i, _)| i);
                v.notes.splice(pos, 0, text);
                Ok(())
            })?;
            Ok(())
        })
    }

    /// Visits to `account_id` and/or by `owner`, latest planned first.
    pub fn list_visits(
        &self,
        account_id: Option<String>,
        owner: Option<String>,
        limit: u32,
        after: Option<String>,
    ) -> Result<VisitPage> {
        guard(|| {
            let f = cs::VisitFilter {
                account_id: parse_opt_id(&account_id)?,
                owner,
                from: None,
                to: None,
                scopes: None,
            };
            let p = self
                .inner
                .list_visits(&f, limit as usize, after.as_deref())?;
            Ok(VisitPage {
                items: p
                    .items
                    .into_iter()
                    .map(|v| VisitSummary {
                        id: v.id.to_string(),
                        account_id: v.account_id.map(|a| a.to_string()),
                        owner: v.owner,
                        planned_at: v.planned_at,
                        purpose: v.purpose,
                        open_commitments: u32::try_from(v.open_commitments).unwrap_or(u32::MAX),
                        conflicts: v.conflicts,
                    })
                    .collect(),
                next: p.next,
            })
        })
    }

    /// Open commitments (of `owner`, or all), soonest due first.
    pub fn open_commitments(
        &self,
        owner: Option<String>,
        due_before: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<OpenCommitment>> {
        guard(|| {
            let f = cs::CommitmentFilter {
                owner,
                account_id: None,
                due_before,
                refund_only: false,
                scopes: None,
            };
            Ok(self
                .inner
                .open_commitments(&f, limit as usize, None)?
                .items
                .into_iter()
                .map(|c| OpenCommitment {
                    visit_id: c.visit_id.to_string(),
                    commitment_id: c.commitment_id,
                    owner: c.owner,
                    due_at: c.due_at,
                    refund: c.refund,
                    description: c.description,
                })
                .collect())
        })
    }

    // ----- forms and responses ---------------------------------------------------------

    /// Store a form version in `scope`; returns its id.
    pub fn create_form(&self, scope_name: String, form: Form) -> Result<String> {
        guard(|| {
            Ok(self
                .inner
                .create(&scope(&scope_name)?, &m::Form::from(form))?
                .to_string())
        })
    }

    /// Read a form version.
    pub fn get_form(&self, id: String) -> Result<Form> {
        guard(|| Ok(self.inner.get::<m::Form>(parse_id(&id)?)?.into()))
    }

    /// Form versions (of `form_key`, or all), newest version first.
    pub fn list_forms(&self, form_key: Option<String>) -> Result<Vec<FormSummary>> {
        guard(|| {
            Ok(self
                .inner
                .list_forms(form_key.as_deref())?
                .into_iter()
                .map(|f| FormSummary {
                    id: f.id.to_string(),
                    form_key: f.form_key,
                    version: f.version,
                    published: f.published,
                    title: f.title,
                })
                .collect())
        })
    }

    /// Save a response in `scope`; returns its id. Validated against its form.
    pub fn create_response(&self, scope_name: String, response: Response) -> Result<String> {
        guard(|| {
            Ok(self
                .inner
                .create(&scope(&scope_name)?, &new_response(response)?)?
                .to_string())
        })
    }

    /// Read a response.
    pub fn get_response(&self, id: String) -> Result<Response> {
        guard(|| Ok(self.inner.get::<m::Response>(parse_id(&id)?)?.into()))
    }

    /// Replace a response's fields (validated).
    pub fn update_response(&self, id: String, response: Response) -> Result<bool> {
        guard(|| {
            let repeats = nest_repeats(response.repeats.clone())?;
            Ok(self.inner.update::<m::Response>(parse_id(&id)?, |r| {
                apply_response(r, response, repeats);
                Ok(())
            })?)
        })
    }

    /// Set one answer (validated against the form).
    pub fn set_answer(&self, id: String, question_id: String, answer: Answer) -> Result<()> {
        guard(|| {
            self.inner.update::<m::Response>(parse_id(&id)?, |r| {
                r.answers.insert(question_id, answer.into());
                Ok(())
            })?;
            Ok(())
        })
    }

    /// Responses matching `filter`, newest first; pass `next` back for more.
    pub fn list_responses(
        &self,
        filter: ResponseFilter,
        limit: u32,
        after: Option<String>,
    ) -> Result<ResponsePage> {
        guard(|| {
            Ok(self
                .inner
                .list_responses(&response_filter(filter)?, limit as usize, after.as_deref())?
                .into())
        })
    }

    // ----- cases -----------------------------------------------------------------------

    /// Open a complaint; it starts as `Received` with its first deadline. Returns its id.
    pub fn create_case(&self, scope_name: String, new_case: NewCase) -> Result<String> {
        guard(|| {
            let mut c = m::Case::received(
                new_case.customer_id,
                new_case.category.into(),
                new_case.severity.into(),
                new_case.owner,
                new_case.received_at,
                &new_case.description,
            );
            c.account_id = new_case.account_id;
            c.source_id = new_case.source_id;
            Ok(self.inner.create(&scope(&scope_name)?, &c)?.to_string())
        })
    }

    /// Read a case.
    pub fn get_case(&self, id: String) -> Result<Case> {
        guard(|| Ok(self.inner.get::<m::Case>(parse_id(&id)?)?.into()))
    }

    /// Edit a case's fields (not its stage).
    pub fn update_case(&self, id: String, value: Case) -> Result<bool> {
        guard(|| {
            Ok(self.inner.update::<m::Case>(parse_id(&id)?, |c| {
                apply_case(c, value);
                Ok(())
            })?)
        })
    }

    /// Move a case to `stage` (legal steps only: `Validation` with code
    /// `illegal_transition` otherwise). Sets the deadline and the stage log.
    pub fn advance_case(
        &self,
        id: String,
        stage: CaseStage,
        by: String,
        at: Timestamp,
    ) -> Result<()> {
        guard(|| {
            self.inner.update::<m::Case>(parse_id(&id)?, |c| {
                c.advance(stage.into(), &by, at);
                Ok(())
            })?;
            Ok(())
        })
    }

    /// Cases (of `owner`; only open; only overdue at `overdue_at`).
    pub fn list_cases(
        &self,
        owner: Option<String>,
        open_only: bool,
        overdue_at: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<CaseSummary>> {
        guard(|| {
            let f = cs::CaseFilter {
                stage: None,
                owner,
                overdue_at,
                open_only,
                customer_id: None,
                scopes: None,
            };
            Ok(self
                .inner
                .list_cases(&f, limit as usize, None)?
                .items
                .into_iter()
                .map(|c| CaseSummary {
                    id: c.id.to_string(),
                    customer_id: c.customer_id,
                    stage: c.stage,
                    owner: c.owner,
                    received_at: c.received_at,
                    stage_deadline: c.stage_deadline,
                })
                .collect())
        })
    }

    // ----- any record ------------------------------------------------------------------

    /// The kind of a record: `form`, `response`, `account`, `visit` or `case`.
    pub fn kind_of(&self, id: String) -> Result<String> {
        guard(|| Ok(self.inner.info(parse_id(&id)?)?.kind.as_str().to_string()))
    }

    /// Fields that two people changed at once: the value shown and the values that lost.
    pub fn conflicts(&self, id: String) -> Result<Vec<Conflict>> {
        guard(|| {
            let cs = self.inner.conflicts(parse_id(&id)?)?;
            cs.into_iter()
                .map(|c| {
                    Ok(Conflict {
                        path: c.path.to_string(),
                        winner_json: to_json(&c.winner)?,
                        others_json: c.others.iter().map(to_json).collect::<Result<_>>()?,
                    })
                })
                .collect()
        })
    }

    /// Resolve the conflict at `path` with `value_json` (one of the values offered, or
    /// another). The resolution is validated and syncs like any edit.
    pub fn resolve_conflict(
        &self,
        id: String,
        field_path: String,
        value_json: String,
    ) -> Result<()> {
        guard(|| {
            let v: FieldValue =
                serde_json::from_str(&value_json).map_err(|_| FieldsyncError::InvalidArgument {
                    message: "value is not a field value in JSON".into(),
                })?;
            Ok(self
                .inner
                .resolve_conflict(parse_id(&id)?, &path(&field_path)?, &v)?)
        })
    }

    /// Who changed `field_path` (or anything under it), on which device, when.
    pub fn field_history(&self, id: String, field_path: String) -> Result<Vec<HistoryEntry>> {
        guard(|| {
            Ok(self
                .inner
                .field_history(parse_id(&id)?, &path(&field_path)?)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Every change of a record.
    pub fn history(&self, id: String) -> Result<Vec<HistoryEntry>> {
        guard(|| {
            Ok(self
                .inner
                .history(parse_id(&id)?)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Changes not yet acknowledged by the server.
    pub fn pending_changes(&self) -> Result<u64> {
        guard(|| Ok(self.inner.unacked_count()?))
    }

    /// Be told about every committed change. Returns a handle for `remove_change_listener`.
    pub fn add_change_listener(&self, listener: Arc<dyn ChangeListener>) -> u64 {
        self.inner.add_listener(Arc::new(ListenerAdapter(listener)))
    }

    /// Stop telling a listener.
    pub fn remove_change_listener(&self, handle: u64) {
        self.inner.remove_listener(handle);
    }

    /// Test hook: make the engine panic, to check the app receives an `Internal` error
    /// rather than crashing.
    pub fn debug_induce_panic(&self) -> Result<()> {
        guard(|| {
            self.inner.debug_induce_panic();
            Ok(())
        })
    }
}

fn to_json(v: &FieldValue) -> Result<String> {
    serde_json::to_string(v).map_err(|e| FieldsyncError::Internal {
        message: e.to_string(),
    })
}
