# Shared helpers for scripts/*. Sourced, not run.

step() { printf '\n==> %s  [%s]\n' "$*" "$(date -u +%H:%M:%S)"; }

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

# s3s-fs, a local S3-compatible server (crates.io), for the S3 blob store's tests
# (tests/tests/blob_stores.rs, tests/tests/blobs.rs; they fail without it). 0.15 and later
# need Rust 1.96. A debug build without debug info, fast enough for tests: ~95 s of CPU
# (a release build: ~230 s), once per machine.
S3S_FS_VERSION=0.14.1
ensure_s3s_fs() {
    if command -v s3s-fs >/dev/null 2>&1 && s3s-fs --version 2>/dev/null | grep -qx "s3s-fs $S3S_FS_VERSION"; then
        return 0
    fi
    step "installing s3s-fs $S3S_FS_VERSION (cargo install, for the S3 blob store tests)"
    CARGO_PROFILE_DEV_DEBUG=0 cargo install s3s-fs --version "$S3S_FS_VERSION" --locked --features binary --debug
}

# Where tools that a fresh machine lacks are kept (outside git).
TOOLS_DIR=${FIELDSYNC_TOOLS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools}
KOTLIN_VERSION=2.4.20
KOTLINC="$TOOLS_DIR/kotlin-$KOTLIN_VERSION/bin/kotlinc-jvm"
KOTLIN_LIB="$TOOLS_DIR/kotlin-$KOTLIN_VERSION/lib"
JNA_JAR=/usr/share/java/jna.jar
SWIFT_ROOT=${FIELDSYNC_SWIFT_ROOT:-/var/cache/fieldsync/swift-trixie}

apt_install() {
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null \
            || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null; }
    else
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null
    fi
}

# pyxform, the XLSForm reference implementation, and openpyxl: core/tests/xlsform_pyxform.rs
# checks our importer against them, examples/forms/make_telecom_xlsx.py writes the example
# workbook with openpyxl. Installed into $TOOLS_DIR/python, which the test puts on
# PYTHONPATH itself (so a plain `cargo test` works after one install).
PYXFORM_VERSION=4.5.0
OPENPYXL_VERSION=3.1.5
PYTHON=${FIELDSYNC_PYTHON:-python3}

ensure_pyxform() {
    if PYTHONPATH="$TOOLS_DIR/python${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -c \
        "import sys, pyxform, openpyxl; sys.exit(pyxform.__version__ != '$PYXFORM_VERSION')" \
        >/dev/null 2>&1; then
        return 0
    fi
    step "installing pyxform $PYXFORM_VERSION and openpyxl $OPENPYXL_VERSION into $TOOLS_DIR/python"
    if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
        # Debian's python3 ships without pip.
        apt_install python3-pip
    fi
    mkdir -p "$TOOLS_DIR/python"
    # --target installs beside the system packages (PEP 668 does not apply to it).
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-input --upgrade \
        --target "$TOOLS_DIR/python" "pyxform==$PYXFORM_VERSION" "openpyxl==$OPENPYXL_VERSION"
}

ensure_jna() {
    [ -f "$JNA_JAR" ] || { step "installing JNA (apt libjna-java)"; apt_install libjna-java; }
}

ensure_kotlinc() {
    [ -x "$KOTLINC" ] && return 0
    step "installing the Kotlin compiler $KOTLIN_VERSION (npm kotlin-compiler)"
    mkdir -p "$TOOLS_DIR"
    local try log="$TOOLS_DIR/npm-pack-kotlin.log"
    for try in 1 2 3; do
        # npm's own log is kept: an exit such as 228 (-ENOSPC) says little on its own.
        if (cd "$TOOLS_DIR" && npm pack "kotlin-compiler@$KOTLIN_VERSION" >"$log" 2>&1); then
            break
        fi
        echo "npm pack kotlin-compiler@$KOTLIN_VERSION failed (try $try of 3):" >&2
        tail -5 "$log" >&2
        df -h "$TOOLS_DIR" >&2 || true
        [ "$try" = 3 ] && return 1
        sleep 5
    done
    (cd "$TOOLS_DIR" && rm -rf package "kotlin-$KOTLIN_VERSION" \
        && tar xzf "kotlin-compiler-$KOTLIN_VERSION.tgz" && mv package "kotlin-$KOTLIN_VERSION" \
        && rm -f "kotlin-compiler-$KOTLIN_VERSION.tgz")
    chmod +x "$TOOLS_DIR/kotlin-$KOTLIN_VERSION/bin/"*
}

# A Debian trixie chroot with Swift (bookworm has none). Cached outside the clone.
ensure_swift_chroot() {
    if [ -x "$SWIFT_ROOT/usr/bin/swiftc" ]; then
        return 0
    fi
    step "creating a Debian trixie chroot with Swift in $SWIFT_ROOT (once, a few minutes)"
    command -v debootstrap >/dev/null || apt_install debootstrap
    # The mirror apt already uses (the URIs: line of deb822 sources, or sources.list).
    local mirror
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/\{0,1\}$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
    [ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(http[^ ]*\/debian\)\/\{0,1\} .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1)
    mirror=${mirror:-http://deb.debian.org/debian}
    mkdir -p "$(dirname "$SWIFT_ROOT")"
    rm -rf "$SWIFT_ROOT.partial"
    debootstrap --variant=minbase trixie "$SWIFT_ROOT.partial" "$mirror" >"$SWIFT_ROOT.log" 2>&1 \
        || { tail -20 "$SWIFT_ROOT.log"; echo "debootstrap failed"; return 1; }
    cp /etc/resolv.conf "$SWIFT_ROOT.partial/etc/resolv.conf" 2>/dev/null || true
    chroot "$SWIFT_ROOT.partial" apt-get install -y --no-install-recommends swiftlang libc6-dev >>"$SWIFT_ROOT.log" 2>&1 \
        || { tail -20 "$SWIFT_ROOT.log"; echo "installing swiftlang in the chroot failed"; return 1; }
    mv "$SWIFT_ROOT.partial" "$SWIFT_ROOT"
}

# The console's real-browser test (tests/tests/browser.rs): Debian's Chromium at
# /usr/bin/chromium, driven by playwright-core from tests/browser (pinned in its
# package-lock.json; playwright-core downloads no browser of its own).
ensure_browser() {
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    if [ ! -x /usr/bin/chromium ]; then
        step "installing Chromium (apt chromium)"
        apt_install chromium
    fi
    # A CJK font, or the console's Chinese pages render as boxes in the screenshots.
    if ! fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk"; then
        step "installing a Chinese font (apt fonts-wqy-microhei)"
        apt_install fonts-wqy-microhei fontconfig
    fi
    # The machine image carries Node.js 20 and npm; playwright-core needs Node.js >= 20
    # (Debian 12's own nodejs is 18, so it is no fallback).
    if ! command -v npm >/dev/null 2>&1 || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
        echo "ensure_browser: Node.js >= 20 with npm is needed for tests/browser" >&2
        return 1
    fi
    if [ ! -f "$root/tests/browser/node_modules/playwright-core/package.json" ]; then
        step "installing tests/browser (npm ci: playwright-core)"
        npm ci --prefix "$root/tests/browser" --no-audit --no-fund --loglevel=error
    fi
}

# PostgreSQL for the server suite's second backend (FIELDSYNC_TEST_POSTGRES, see
# tests/src/harness.rs) and the scale-out tests: Debian's postgresql (15 on bookworm),
# a throw-away cluster under $PG_ROOT listening only on a Unix socket, fsync on
# (the durability the tests rely on). start_postgres exports FIELDSYNC_TEST_POSTGRES;
# stop_postgres stops and removes the cluster.
PG_ROOT=${FIELDSYNC_PG_ROOT:-/tmp/fieldsync-pg}
pg_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    done
    return 1
}

ensure_postgres() {
    if ! pg_bin >/dev/null; then
        step "installing PostgreSQL (apt postgresql)"
        apt_install postgresql
    fi
    pg_bin >/dev/null || { echo "ensure_postgres: no pg_ctl after installing postgresql" >&2; return 1; }
}

# Run a PostgreSQL tool as the cluster's owner (initdb refuses root).
pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_postgres() {
    ensure_postgres
    local bin
    bin=$(pg_bin)
    stop_postgres
    mkdir -p "$PG_ROOT"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$PG_ROOT" postgres
        chown postgres "$PG_ROOT"
    fi
    step "starting PostgreSQL ($("$bin/postgres" --version | awk '{print $3}')) on a socket in $PG_ROOT"
    pg_as_owner "$bin/initdb" -D "$PG_ROOT/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PG_ROOT/initdb.log" 2>&1 \
        || { cat "$PG_ROOT/initdb.log"; return 1; }
    pg_as_owner "$bin/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/server.log" -w -t 60 \
        -o "-k $PG_ROOT -c listen_addresses='' -c max_connections=400 -c shared_buffers=128MB" start >/dev/null \
        || { cat "$PG_ROOT/server.log"; return 1; }
    export FIELDSYNC_TEST_POSTGRES="host=$PG_ROOT user=postgres"
}

stop_postgres() {
    local bin
    bin=$(pg_bin) || return 0
    if [ -f "$PG_ROOT/data/postmaster.pid" ]; then
        pg_as_owner "$bin/pg_ctl" -D "$PG_ROOT/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_ROOT"
}

# The PouchDB peer of the field benchmark and its test (tests/tests/pouchdb_peer.rs):
# express@4 + express-pouchdb + pouchdb-* from npm, pinned by bench/pouchdb/package-lock.json,
# installed with `npm ci` into bench/pouchdb/node_modules. Idempotent: a no-op when the
# installed tree matches the lock file.
ensure_pouchdb() {
    local root dir
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    dir="$root/bench/pouchdb"
    if ! command -v npm >/dev/null 2>&1 || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
        echo "ensure_pouchdb: Node.js >= 20 with npm is needed for bench/pouchdb" >&2
        return 1
    fi
    # npm ci records the tree it installed; unchanged lock file, nothing to do.
    if [ -f "$dir/node_modules/.package-lock.json" ] && [ -f "$dir/node_modules/.fieldsync-lock" ] \
        && cmp -s "$dir/package-lock.json" "$dir/node_modules/.fieldsync-lock"; then
        return 0
    fi
    step "installing bench/pouchdb (npm ci: express 4, express-pouchdb, pouchdb-*)"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
    cp "$dir/package-lock.json" "$dir/node_modules/.fieldsync-lock"
}

# run_built_tests "<package> ..." <test args...>: run the test executables that
# `cargo test --workspace` built for these packages again (unit and integration tests,
# each from its package's folder as cargo does), without rebuilding: `cargo test -p`
# would resolve features for fewer packages and compile the whole tree a second time.
run_built_tests() {
    local packages=$1
    shift
    local list
    list=$(cargo test --workspace --locked --no-run --message-format=json 2>/dev/null \
        | PACKAGES="$packages" "$PYTHON" -c '
import json, os, sys
wanted = set(os.environ["PACKAGES"].split())
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
        continue
    if not msg.get("profile", {}).get("test"):
        continue
    # path+file:///dir/tests#fieldsync-tests@0.1.0, or .../dir/name#0.1.0
    url, _, frag = msg["package_id"].partition("#")
    name = frag.split("@")[0] if "@" in frag else url.rstrip("/").split("/")[-1]
    if name not in wanted:
        continue
    print(os.path.dirname(msg["manifest_path"]) + "\t" + msg["executable"])
')
    [ -n "$list" ] || { echo "run_built_tests: no test executables for $packages" >&2; return 1; }
    local dir exe failed=0
    while IFS=$'\t' read -r dir exe; do
        echo "     Running $(basename "$exe") ($dir)"
        (cd "$dir" && "$exe" "$@") || failed=1
    done <<<"$list"
    return $failed
}
