//! The core error type.
//!
//! Errors carry ids, field names and rule codes, never survey content: answers, notes,
//! names and phone numbers stay out of error text and logs.

use std::path::PathBuf;

use crate::ids::{DocId, Kind};

/// Result alias for the core crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A domain rule a write broke. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The field (path) at fault, e.g. `answers.q3` or `stage`.
    pub field: String,
    /// A stable machine code for the rule, e.g. `score_out_of_range`.
    pub code: &'static str,
    /// A short English explanation, free of user content.
    pub message: String,
}

impl ValidationError {
    /// Build a validation error.
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.code)
    }
}

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No document with this id (or not of the expected kind) is stored here.
    #[error("document {id} not found")]
    NotFound {
        /// The id asked for.
        id: DocId,
    },
    /// The document exists but is another kind.
    #[error("document {id} is a {found}, not a {expected}")]
    WrongKind {
        /// The id asked for.
        id: DocId,
        /// The kind the caller expected.
        expected: Kind,
        /// The kind stored.
        found: Kind,
    },
    /// A domain rule was broken; nothing was written.
    #[error("validation failed: {0}")]
    Validation(ValidationError),
    /// The document may not change (a published form version).
    #[error("document {id} is immutable")]
    Immutable {
        /// The immutable document.
        id: DocId,
    },
    /// The key given to open the store is not the one the store was created with.
    #[error("wrong key for this store")]
    WrongKey,
    /// A stored row failed authentication or decoding. The document was quarantined;
    /// every other document stays readable.
    #[error("document {id} is corrupt ({detail}); it has been quarantined")]
    Corrupt {
        /// The damaged document.
        id: DocId,
        /// What failed (no content).
        detail: &'static str,
    },
    /// The document was quarantined earlier after corruption was detected.
    #[error("document {id} is quarantined: {reason}")]
    Quarantined {
        /// The quarantined document.
        id: DocId,
        /// Why, as recorded when it was quarantined.
        reason: String,
    },
    /// The database file was not a readable database. It was moved aside, not deleted.
    #[error("store file was corrupt and has been moved to {moved_to}")]
    StoreCorrupt {
        /// Where the damaged file now lives.
        moved_to: PathBuf,
    },
    /// The database was written by a newer version of fieldsync.
    #[error("store schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// The version found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The disk (or the store's page budget) is full. Earlier commits are intact.
    #[error("storage is full")]
    StorageFull,
    /// The store is read-only (opened so, or the file or disk became read-only).
    #[error("storage is read-only")]
    ReadOnly,
    /// The store was shut down; no more calls are accepted.
    #[error("store is closed")]
    Closed,
    /// Input bytes exceed a size limit.
    #[error("{what} is too large ({size} > {limit} bytes)")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The server refused this device (unknown, revoked, bad proof or code).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The server reported an error.
    #[error("server error: {0}")]
    Remote(String),
    /// The server throttled this device (a per-device quota): retryable; nothing stored
    /// was lost and unacknowledged changes stay queued. Try again after the wait.
    #[error("throttled by the server ({limit}); retry after {retry_after_ms} ms")]
    Throttled {
        /// Which limit (`exchanges`, `push_bytes`).
        limit: &'static str,
        /// Milliseconds to wait before the next exchange.
        retry_after_ms: u64,
    },
    /// The network failed (connection lost, timed out, unreachable).
    #[error("network: {0}")]
    Network(String),
    /// A cryptographic primitive failed (not an authentication failure).
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
    /// A malformed value came from outside (wire, file): the reason, without content.
    #[error("malformed input: {0}")]
    Malformed(String),
    /// SQLite failed in a way not covered above.
    #[error("storage error: {0}")]
    Sqlite(rusqlite::Error),
    /// Automerge refused an operation or bytes.
    #[error("document engine error: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// The typed mapping could not read the document.
    #[error("document does not match its kind's shape: {0}")]
    Hydrate(#[from] autosurgeon::HydrateError),
    /// The typed mapping could not write the document.
    #[error("document mapping error: {0}")]
    Reconcile(#[from] autosurgeon::ReconcileError),
    /// File system error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The blob is not (completely) stored on this device: fetch it first.
    #[error("blob {hash} is not stored here")]
    BlobMissing {
        /// Hex SHA-256.
        hash: String,
    },
    /// Stored or received blob bytes do not match their hash (or a sealed chunk does not
    /// open): nothing of it was used.
    #[error("blob {hash} is corrupt: {detail}")]
    BlobCorrupt {
        /// Hex SHA-256.
        hash: String,
        /// What failed.
        detail: &'static str,
    },
    /// The server refused a blob transfer (not allowed, unknown, too large...).
    #[error("blob {hash} refused by the server: {reason}")]
    BlobRefused {
        /// Hex SHA-256.
        hash: String,
        /// The server's reason code (`forbidden`, `not_found`, ...).
        reason: String,
    },
}

impl From<ValidationError> for Error {
    fn from(v: ValidationError) -> Self {
        Error::Validation(v)
    }
}

impl From<rusqlite::Error> for Error {
    /// SQLite's "full" and "read-only" results get their own variants.
    fn from(e: rusqlite::Error) -> Error {
        use rusqlite::ErrorCode;
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            match f.code {
                ErrorCode::DiskFull => return Error::StorageFull,
                ErrorCode::ReadOnly => return Error::ReadOnly,
                _ => {}
            }
        }
        Error::Sqlite(e)
    }
}
