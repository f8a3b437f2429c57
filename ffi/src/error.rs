//! The one error type apps see, mapped from the core error in one place. Messages carry
//! ids, field paths and rule codes — never survey content.

use fieldsync_core::Error as CoreError;

/// Everything an app can act on.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum FieldsyncError {
    /// No such record (or it was deleted).
    #[error("not found: {id}")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// A domain rule was broken; nothing was written. Show `message` next to `field`.
    #[error("invalid {field}: {message}")]
    Validation {
        /// The field at fault, e.g. `answers.q3` or `scores.overall`.
        field: String,
        /// Stable rule code, e.g. `score_out_of_range`, `required`, `illegal_transition`.
        code: String,
        /// Short English explanation (translate by `code`).
        message: String,
    },
    /// The record may not change (a published form).
    #[error("record {id} cannot change")]
    Immutable {
        /// The record.
        id: String,
    },
    /// The key does not open this store.
    #[error("wrong key")]
    WrongKey,
    /// A stored record failed verification and was set aside; the rest of the store works.
    #[error("record {id} is damaged and set aside: {detail}")]
    Corrupt {
        /// The record.
        id: String,
        /// What failed.
        detail: String,
    },
    /// The store file itself was unreadable; it was moved to `moved_to` (never deleted).
    #[error("store file damaged; moved to {moved_to}")]
    StoreMovedAside {
        /// Where the damaged file now is.
        moved_to: String,
    },
    /// The disk (or the storage budget) is full. Nothing was lost.
    #[error("storage full")]
    StorageFull,
    /// The store is read-only.
    #[error("storage read-only")]
    ReadOnly,
    /// Another storage failure.
    #[error("storage: {message}")]
    Storage {
        /// What failed.
        message: String,
    },
    /// The server refused this device or code.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// The server's reason.
        message: String,
    },
    /// The network failed; retry later.
    #[error("network: {message}")]
    Network {
        /// What failed.
        message: String,
    },
    /// The record is of another kind than asked, or exists in another scope.
    #[error("conflict: {message}")]
    Conflict {
        /// What conflicts.
        message: String,
    },
    /// An argument was malformed (a bad id, link, path or value).
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// What was wrong.
        message: String,
    },
    /// The store was closed or shut down.
    #[error("closed")]
    Closed,
    /// A bug inside the engine (a Rust panic). The app keeps running.
    #[error("internal error: {message}")]
    Internal {
        /// What happened.
        message: String,
    },
}

impl From<CoreError> for FieldsyncError {
    fn from(e: CoreError) -> Self {
        use FieldsyncError as F;
        match e {
            CoreError::NotFound { id } => F::NotFound { id: id.to_string() },
            CoreError::WrongKind {
                id,
                expected,
                found,
            } => F::Conflict {
                message: format!("{id} is a {found}, not a {expected}"),
            },
            CoreError::Validation(v) => F::Validation {
                field: v.field,
                code: v.code.to_string(),
                message: v.message,
            },
            CoreError::Immutable { id } => F::Immutable { id: id.to_string() },
            CoreError::WrongKey => F::WrongKey,
            CoreError::Corrupt { id, detail } => F::Corrupt {
                id: id.to_string(),
                detail: detail.to_string(),
            },
            CoreError::Quarantined { id, reason } => F::Corrupt {
                id: id.to_string(),
                detail: reason,
            },
            CoreError::StoreCorrupt { moved_to } => F::StoreMovedAside {
                moved_to: moved_to.display().to_string(),
            },
            CoreError::SchemaTooNew { found, supported } => F::Storage {
                message: format!(
                    "store schema {found} is newer than this app ({supported}); update the app"
                ),
            },
            CoreError::StorageFull => F::StorageFull,
            CoreError::ReadOnly => F::ReadOnly,
            CoreError::Closed => F::Closed,
            CoreError::TooLarge { what, size, limit } => F::InvalidArgument {
                message: format!("{what} too large ({size} > {limit})"),
            },
            CoreError::Unauthorized(m) => F::Unauthorized { message: m },
            CoreError::Network(m) | CoreError::Remote(m) => F::Network { message: m },
            CoreError::Malformed(m) => F::InvalidArgument { message: m },
            CoreError::Crypto(m) => F::Internal {
                message: m.to_string(),
            },
            e @ (CoreError::Sqlite(_) | CoreError::Io(_)) => F::Storage {
                message: e.to_string(),
            },
            e @ (CoreError::Automerge(_) | CoreError::Hydrate(_) | CoreError::Reconcile(_)) => {
                F::Internal {
                    message: e.to_string(),
                }
            }
        }
    }
}

/// Result of every exported call.
pub type Result<T, E = FieldsyncError> = std::result::Result<T, E>;

/// Run `f`, turning a panic into [`FieldsyncError::Internal`]: a bug in the engine must
/// never abort the app.
pub fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let message = p
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            Err(FieldsyncError::Internal { message })
        }
    }
}
