//! Fuzz harnesses: one function per cargo-fuzz target. `fuzz/fuzz_targets/*.rs` are
//! one-line wrappers around these, and `tests/tests/fuzz_regressions.rs` replays every
//! checked-in seed (`fuzz/corpus/<target>/`) and every input that once crashed
//! (`fuzz/regressions/<target>/`) through the same functions in the ordinary test suite,
//! without cargo-fuzz. See docs/reliability.md ("Fuzzing") and ADR 0015.
//!
//! A harness panics only on a bug: a decoder or state machine panicking on its input, or
//! a checked property failing (a decoded frame that does not re-encode to the same
//! message, an encoder output its own decoder refuses). Errors are the expected answer
//! to hostile input and are ignored.
//!
//! Structure-aware inputs (`arbitrary::Unstructured`) build messages out of real
//! Automerge changes and sync messages ([`pool`]), whole or mutated, so the fuzzer
//! reaches the server's ingest, the device's apply and repair paths instead of stopping
//! at the first checksum.

pub mod auth;
pub mod doc;
pub mod forms;
pub mod msgs;
pub mod pool;
pub mod sync;
pub mod wire;

/// A harness: consumes one fuzz input.
pub type Harness = fn(&[u8]);

/// Every target: its name (the cargo-fuzz target and corpus folder) and its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("wire", wire::wire),
    ("sync_server", sync::server),
    ("sync_client", sync::client),
    ("doc_load", doc::doc_load),
    ("xlsform", forms::xlsform),
    ("expr", forms::expr),
    ("auth", auth::auth),
];

/// The harness of target `name`.
pub fn harness(name: &str) -> Option<Harness> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}

/// Called once by each fuzz target before the first input: panics raised inside
/// Automerge unwind to the `guarded` boundary that contains them in production
/// (`fieldsync_core::doc::guarded`: the caller gets a typed `Malformed` error), instead
/// of aborting the process as libFuzzer's hook does for every panic. Every other panic
/// still goes to libFuzzer's hook and is reported as a crash; an Automerge panic that
/// escapes a `guarded` call aborts too (libfuzzer-sys aborts on any panic that reaches
/// the target).
pub fn init() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_automerge = info
            .location()
            .is_some_and(|l| l.file().contains("/automerge-"));
        if !in_automerge {
            previous(info);
        }
    }));
}
