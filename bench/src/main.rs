//! fieldsync-bench: `cargo run --release -p fieldsync-bench -- <suite>`.
fn main() {
    eprintln!("usage: fieldsync-bench <suite>");
    std::process::exit(2);
}
