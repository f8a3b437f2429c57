//! The bad-link proxy lives in `fieldsync-linkem` (shared with the benchmarks); this
//! re-export keeps the tests' imports short.

pub use fieldsync_linkem::*;
