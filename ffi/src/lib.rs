//! fieldsync-ffi: the UniFFI layer the Kotlin, Swift and Python bindings call.
//!
//! An adapter only: each exported method converts its arguments, calls fieldsync-core,
//! and converts the result. No SQL, no CRDT edits, no business rules here; a missing
//! feature goes into core first. Every call catches panics: a bug in the engine reaches
//! the app as `FieldsyncError.Internal`, never as an aborted process.

uniffi::setup_scaffolding!();

pub mod analytics;
pub mod blobs;
pub mod error;
pub mod forms;
pub mod records;
pub mod store;
pub mod sync;

pub use error::FieldsyncError;
pub use store::{ChangeListener, FieldStore};
pub use sync::{SyncClient, SyncProgressListener};

/// The engine's version.
#[uniffi::export]
pub fn fieldsync_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
