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
            // Retryable like a network failure; the wait is in the message.
            e @ CoreError::Throttled { .. } => F::Network {
                message: e.to_string(),
            },
            CoreError::Malformed(m) => F::InvalidArgument { message: m },
            CoreError::Crypto(m) => F::Internal {
                message: m.to_string(),
            },
            e @ (CoreError::Sqlite(_) | CoreError::Io(_)) => F::Storage {
                message: e.to_string(),
            },
            CoreError::BlobMissing { hash } => F::NotFound { id: hash },
            CoreError::BlobCorrupt { hash, detail } => F::Corrupt {
                id: hash,
                detail: detail.to_string(),
            },
            CoreError::BlobRefused { hash, reason } => F::Unauthorized {
                message: format!("blob {hash}: {reason}"),
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

/// One parameter of an error: a name and its value (ids, field paths, rule codes —
/// never survey content).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ErrorParam {
    /// Parameter name, e.g. `id`, `field`, `rule`.
    pub name: String,
    /// Its value.
    pub value: String,
}

impl FieldsyncError {
    /// The stable code of this error (`not_found`, `validation`, …): the same in every
    /// language and release, for apps that render errors themselves.
    pub fn code(&self) -> &'static str {
        use FieldsyncError as F;
        match self {
            F::NotFound { .. } => "not_found",
            F::Validation { .. } => "validation",
            F::Immutable { .. } => "immutable",
            F::WrongKey => "wrong_key",
            F::Corrupt { .. } => "corrupt",
            F::StoreMovedAside { .. } => "store_moved_aside",
            F::StorageFull => "storage_full",
            F::ReadOnly => "read_only",
            F::Storage { .. } => "storage",
            F::Unauthorized { .. } => "unauthorized",
            F::Network { .. } => "network",
            F::Conflict { .. } => "conflict",
            F::InvalidArgument { .. } => "invalid_argument",
            F::Closed => "closed",
            F::Internal { .. } => "internal",
        }
    }

    /// The parameters of this error, by name (a validation error's rule code is `rule`).
    pub fn params(&self) -> Vec<ErrorParam> {
        use FieldsyncError as F;
        let p = |name: &str, value: &str| ErrorParam {
            name: name.to_string(),
            value: value.to_string(),
        };
        match self {
            F::NotFound { id } | F::Immutable { id } => vec![p("id", id)],
            F::Validation {
                field,
                code,
                message,
            } => vec![p("field", field), p("rule", code), p("message", message)],
            F::Corrupt { id, detail } => vec![p("id", id), p("detail", detail)],
            F::StoreMovedAside { moved_to } => vec![p("moved_to", moved_to)],
            F::Storage { message }
            | F::Unauthorized { message }
            | F::Network { message }
            | F::Conflict { message }
            | F::InvalidArgument { message }
            | F::Internal { message } => vec![p("message", message)],
            F::WrongKey | F::StorageFull | F::ReadOnly | F::Closed => Vec::new(),
        }
    }

    /// The default text of this error in `language` (`en`, `zh-CN`, `zh`, …; others
    /// get English).
    pub fn message_in(&self, language: &str) -> String {
        error_message(self.code().to_string(), self.params(), language.to_string())
    }
}

/// The default text of an error from its stable `code` and `params` in `language`
/// (`en`, `zh-CN`, `zh`…; any other gets English), from the same catalogue as the
/// server's console and CLI. The Kotlin and Swift facades call this for their
/// English and Chinese renderings; apps may render codes in their own words instead.
#[uniffi::export]
pub fn error_message(code: String, params: Vec<ErrorParam>, language: String) -> String {
    let lang = fieldsync_i18n::Lang::parse(&language).unwrap_or_default();
    let params: Vec<(String, String)> = params.into_iter().map(|p| (p.name, p.value)).collect();
    fieldsync_i18n::errors::render(lang, &code, &params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_rendering_in_both_languages() {
        let all = [
            FieldsyncError::NotFound { id: "a1".into() },
            FieldsyncError::Validation {
                field: "answers.q3".into(),
                code: "required".into(),
                message: "this field is required".into(),
            },
            FieldsyncError::Immutable { id: "a1".into() },
            FieldsyncError::WrongKey,
            FieldsyncError::Corrupt {
                id: "a1".into(),
                detail: "mac".into(),
            },
            FieldsyncError::StoreMovedAside {
                moved_to: "/x".into(),
            },
            FieldsyncError::StorageFull,
            FieldsyncError::ReadOnly,
            FieldsyncError::Storage {
                message: "m".into(),
            },
            FieldsyncError::Unauthorized {
                message: "m".into(),
            },
            FieldsyncError::Network {
                message: "m".into(),
            },
            FieldsyncError::Conflict {
                message: "m".into(),
            },
            FieldsyncError::InvalidArgument {
                message: "m".into(),
            },
            FieldsyncError::Closed,
            FieldsyncError::Internal {
                message: "m".into(),
            },
        ];
        let codes: Vec<&str> = fieldsync_i18n::errors::CODES
            .iter()
            .map(|(c, _)| *c)
            .collect();
        assert_eq!(all.len(), codes.len());
        for e in &all {
            assert!(
                codes.contains(&e.code()),
                "{} has a catalogue entry",
                e.code()
            );
            let en = e.message_in("en");
            let zh = e.message_in("zh-CN");
            assert_ne!(en, zh, "{}", e.code());
            assert!(!en.starts_with(e.code()), "{en}");
            for p in e.params() {
                if p.name != "rule" && p.name != "message" || e.code() != "validation" {
                    assert!(
                        en.contains(&p.value) || p.name == "detail",
                        "{en} shows {}",
                        p.name
                    );
                }
            }
        }
        assert_eq!(all[1].message_in("zh"), "answers.q3：此项为必填");
        assert_eq!(all[0].message_in("fr"), all[0].message_in("en"));
    }
}
