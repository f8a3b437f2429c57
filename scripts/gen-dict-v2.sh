#!/usr/bin/env bash
# Regenerate the protocol v2 preset dictionary from its generator
# (core/src/sync/wire/dict.rs). Deterministic. The dictionary is part of protocol v2:
# a different file is a different protocol (update the SHA-256 pinned in
# core/tests/wire_snapshots.rs only together with a new protocol version).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --locked --quiet -p fieldsync-core --example gen_dict_v2 -- core/src/sync/wire/dict_v2.bin
