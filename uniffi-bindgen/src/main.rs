//! `cargo run -p uniffi-bindgen -- generate <lib> --language kotlin|swift|python --out-dir …`
//! (scripts/bindings does this). Built from the workspace's pinned UniFFI.

fn main() {
    uniffi::uniffi_bindgen_main()
}
