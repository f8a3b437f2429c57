# Shared by scripts/fuzz-smoke and scripts/fuzz-extended. Sourced, not run; needs
# scripts/lib.sh sourced first. ADR 0015 says why this works on a stable compiler.

CARGO_FUZZ_VERSION=0.13.1
# Every cargo-fuzz target (fuzz/fuzz_targets/<name>.rs, fieldsync_tests::fuzz::TARGETS).
FUZZ_TARGETS=(wire sync_server sync_client doc_load xlsform expr auth)
# cargo-fuzz asks rustc for -Z flags (sanitizer-coverage, -Zsanitizer): nightly-only
# flags that a stable 1.95 accepts only with RUSTC_BOOTSTRAP=1. No nightly can be
# fetched on these machines; only the fuzz build sets it.
export RUSTC_BOOTSTRAP=1
FUZZ_TARGET_DIR=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/fuzz}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-1536}
# Optimisation of the fuzz build (fuzz/Cargo.toml says why 1 by default); the extended
# tier builds at 3. Cargo reads it over the profile in fuzz/Cargo.toml.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=${FUZZ_OPT_LEVEL:-1}

# The largest input libFuzzer generates, per target (bytes): room for a full frame
# section, an .xlsx workbook, a long expression; small for links and codes.
fuzz_max_len() {
    case $1 in
        wire|doc_load|xlsform) echo 262144 ;;
        sync_server|sync_client) echo 65536 ;;
        expr) echo 16384 ;;
        *) echo 4096 ;;
    esac
}

# fuzz_build <sanitizer>: build every target (release, debug assertions on).
fuzz_build() {
    # cargo-fuzz has no --locked: refuse a fuzz/Cargo.lock that would have to change
    # (refresh it with `cargo metadata --manifest-path fuzz/Cargo.toml`, keeping the
    # versions of the main Cargo.lock).
    cargo metadata --manifest-path fuzz/Cargo.toml --locked --format-version 1 >/dev/null
    cargo fuzz build --fuzz-dir fuzz --sanitizer "$1" --debug-assertions \
        --codegen-units 16 --target-dir "$FUZZ_TARGET_DIR"
}

# fuzz_run <sanitizer> <target> <seconds> <corpus dir> [libFuzzer args...]: fuzz one
# target from <corpus dir> (grown in place) and the checked-in seeds. A crash, a leak of
# the RSS limit, an allocation past it or an input that runs past -timeout fails, and
# leaves the input in fuzz/artifacts/<target>/.
fuzz_run() {
    local san=$1 target=$2 seconds=$3 corpus=$4
    shift 4
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    cargo fuzz run --fuzz-dir fuzz --sanitizer "$san" --debug-assertions \
        --codegen-units 16 --target-dir "$FUZZ_TARGET_DIR" "$target" \
        "$corpus" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb="$FUZZ_RSS_MB" \
        -max_len="$(fuzz_max_len "$target")" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$target/" "$@"
}
