//! Fuzz target `xlsform`: see `fieldsync_tests::fuzz` for what it drives.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: fieldsync_tests::fuzz::init(),
    |data: &[u8]| fieldsync_tests::fuzz::harness("xlsform").expect("known target")(data)
);
