//! The CLI's error line in the operator's language. Errors the operator causes (a user,
//! scope or device that does not exist or already exists; the storage shutting down)
//! read in the chosen language; failures of the machinery (SQLite, PostgreSQL, files,
//! TLS) get a translated category, and keep the underlying system's detail as it is
//! (an operator pastes that into a search engine or a bug report).

use fieldsync_i18n::{Lang, k, t, tr};
use fieldsync_server::server::ServerError;
use fieldsync_server::storage::StorageError;

/// Entities storage names in `NotFound`/`Exists` (`"device abc"`), longest first.
const ENTITIES: [(&str, &str); 6] = [
    ("console user ", k!("cli-entity-console-user")),
    ("enrolment code ", k!("cli-entity-enrolment-code")),
    ("tenant ", k!("cli-entity-tenant")),
    ("device ", k!("cli-entity-device")),
    ("scope ", k!("cli-entity-scope")),
    ("user ", k!("cli-entity-user")),
];

fn entity(ui: Lang, what: &str) -> (String, String) {
    for (prefix, key) in ENTITIES {
        if let Some(id) = what.strip_prefix(prefix) {
            return (tr(ui, key), id.to_string());
        }
    }
    (String::new(), what.to_string())
}

fn storage(ui: Lang, e: &StorageError) -> String {
    match e {
        StorageError::NotFound(what) => {
            let (kind, id) = entity(ui, what);
            t!(ui, "cli-err-not-found", kind = kind, id = id)
                .trim()
                .to_string()
        }
        StorageError::Exists(what) => {
            let (kind, id) = entity(ui, what);
            t!(ui, "cli-err-exists", kind = kind, id = id)
                .trim()
                .to_string()
        }
        StorageError::Closed => t!(ui, "cli-err-closed"),
        StorageError::Sqlite(_) | StorageError::Postgres(_) => {
            t!(ui, "cli-err-database", detail = e.to_string())
        }
        StorageError::Io(_) => t!(ui, "cli-err-files", detail = e.to_string()),
        StorageError::Invalid(_) | StorageError::Core(_) => {
            t!(ui, "cli-err-invalid", detail = e.to_string())
        }
    }
}

/// The text of `e` for the `cli-error` line.
pub fn render(ui: Lang, e: &(dyn std::error::Error + 'static)) -> String {
    if let Some(s) = e.downcast_ref::<StorageError>() {
        return storage(ui, s);
    }
    if let Some(s) = e.downcast_ref::<ServerError>() {
        return match s {
            ServerError::Storage(st) => storage(ui, st),
            ServerError::Io(_) => t!(ui, "cli-err-files", detail = s.to_string()),
            ServerError::Tls(_) => t!(ui, "cli-err-tls", detail = s.to_string()),
            ServerError::Core(_) => t!(ui, "cli-err-invalid", detail = s.to_string()),
        };
    }
    if e.downcast_ref::<std::io::Error>().is_some() {
        return t!(ui, "cli-err-files", detail = e.to_string());
    }
    // Messages the CLI made itself are already in `ui` (t! at the call site).
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_read_in_both_languages() {
        let e = StorageError::NotFound("device phone-9".into());
        assert_eq!(render(Lang::En, &e), "device phone-9 not found");
        assert_eq!(render(Lang::ZhCn, &e), "找不到设备 phone-9");
        let e = StorageError::Exists("console user wang".into());
        assert_eq!(render(Lang::ZhCn, &e), "控制台用户 wang 已存在");
        let e = StorageError::Io(std::io::Error::other("disk full"));
        assert!(render(Lang::ZhCn, &e).contains("disk full"), "detail kept");
        assert!(render(Lang::ZhCn, &e).starts_with("文件错误"));
    }
}
