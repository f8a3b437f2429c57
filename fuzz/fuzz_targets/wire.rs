//! Fuzz target `wire`: see `fieldsync_tests::fuzz` for what it drives.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: fieldsync_tests::fuzz::init(),
    |data: &[u8]| fieldsync_tests::fuzz::harness("wire").expect("known target")(data)
);
