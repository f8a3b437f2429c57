//! fieldsync-core: the engine of an offline-first survey and field-visit app.
//!
//! - [`model`]: forms, responses, accounts, visits and cases as typed records, each one
//!   Automerge document, with the domain rules checked at the API;
//! - [`store`]: the device store — Automerge documents in one SQLite file, sealed at
//!   rest, with projections for lists and a change log ready for sync;
//! - [`doc`]: generic document operations (conflicts, history, values at a path);
//! - [`crypto`]: sealing of rows under the app's key.
//!
//! Nothing here knows about HTTP, PostgreSQL or UniFFI.

pub mod analytics;
pub mod crypto;
pub mod doc;
pub mod edit;
pub mod error;
pub mod forms;
pub mod ids;
pub mod model;
pub mod sample;
pub mod store;
pub mod sync;

pub use error::{Error, Result, ValidationError};
pub use ids::{DocId, Kind, Scope, Timestamp, now_ms};
pub use store::{Store, StoreOptions};
