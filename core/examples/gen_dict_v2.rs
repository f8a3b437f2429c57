//! Write the protocol v2 preset dictionary (`core/src/sync/wire/dict_v2.bin`) from its
//! generator, `fieldsync_core::sync::wire::dict::generate`. Deterministic: the same
//! bytes on every run. Run through `scripts/gen-dict-v2.sh`; the file is part of the
//! protocol (docs/protocol.md, "Dictionary") and only changes with a new version.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "core/src/sync/wire/dict_v2.bin".into());
    let d = fieldsync_core::sync::wire::dict::generate()?;
    std::fs::write(&out, &d)?;
    let h = ring::digest::digest(&ring::digest::SHA256, &d);
    let hex: String = h.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    println!("{out}: {} bytes, sha256 {hex}", d.len());
    Ok(())
}
