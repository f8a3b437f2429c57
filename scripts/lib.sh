# Shared helpers for scripts/*. Sourced, not run.

step() { printf '\n==> %s\n' "$*"; }

# ensure_cargo_tool <crate> <version>: install a cargo subcommand if it is missing or
# at another version (from crates.io, locked).
ensure_cargo_tool() {
    local crate=$1 version=$2 bin=${3:-$1}
    if command -v "$bin" >/dev/null 2>&1 && "$bin" --version 2>/dev/null | grep -q "$version"; then
        return 0
    fi
    step "installing $crate $version"
    cargo install "$crate" --version "$version" --locked
}
