#!/usr/bin/env bash
# Build everything the Swift package in ios/ needs, on a Mac with Xcode:
#   1. libfieldsync_ffi.a (Rust static library) for iOS devices (aarch64-apple-ios), the
#      iOS simulator (aarch64-apple-ios-sim + x86_64-apple-ios, one fat library) and
#      macOS (aarch64-apple-darwin + x86_64-apple-darwin, for `swift test` on the Mac);
#   2. the Swift bindings (UniFFI library mode, from the host macOS library: same source,
#      same metadata): FieldSyncFFI.swift is copied to ios/Sources/FieldSyncFFI/, and
#      FieldSyncFFIC.h + module.modulemap become the XCFramework's headers;
#   3. ios/FieldSyncFFI.xcframework (xcodebuild -create-xcframework).
# Both outputs are build products (ios/.gitignore). Then: cd ios && swift build / swift test,
# or add the package to an Xcode project.
#
# IOS_PROFILE=debug for a debug native build (default release).
# FIELDSYNC_XCFRAMEWORK_MACOS=0 leaves out the macOS slice (iOS only; no `swift test`).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh

if [ "$(uname -s)" != Darwin ] || ! command -v xcodebuild >/dev/null 2>&1 || ! xcodebuild -version >/dev/null 2>&1; then
    cat >&2 <<'EOF'
build-xcframework.sh needs macOS with Xcode (xcodebuild, lipo and the iOS SDKs), so the
XCFramework cannot be built here. On a Mac:
    # Xcode (the Command Line Tools alone lack the iOS SDKs), then once:
    sudo xcode-select -s /Applications/Xcode.app
    ios/scripts/build-xcframework.sh
On Linux the Swift layer (generated bindings, facade, scenarios) is compiled and run
against the host library in a Debian chroot instead: LANGS=swift scripts/test-bindings.
EOF
    exit 1
fi

# Keep in step with `platforms:` in ios/Package.swift.
export IPHONEOS_DEPLOYMENT_TARGET=15.0
export MACOSX_DEPLOYMENT_TARGET=12.0

profile=${IOS_PROFILE:-release}
flag=""
[ "$profile" = release ] && flag="--release"
host=$(rustc -vV | sed -n 's/^host: //p')
case $host in
    *-apple-darwin) ;;
    *) echo "unexpected Rust host $host (want *-apple-darwin)" >&2; exit 1 ;;
esac
ios_triples=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
mac_triples=()
[ "${FIELDSYNC_XCFRAMEWORK_MACOS:-1}" = 0 ] || mac_triples=(aarch64-apple-darwin x86_64-apple-darwin)
# The host library is needed for the bindings either way.
all_triples=("${ios_triples[@]}" "${mac_triples[@]}")
[[ " ${all_triples[*]} " == *" $host "* ]] || all_triples+=("$host")

step "Rust targets (${all_triples[*]})"
installed=$(rustup target list --installed)
for t in "${all_triples[@]}"; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

step "building libfieldsync_ffi ($profile) for ${all_triples[*]}"
for t in "${all_triples[@]}"; do
    cargo build --locked -p fieldsync-ffi $flag --target "$t"
done
lib() { echo "target/$1/$profile/libfieldsync_ffi.$2"; }

step "generating the Swift bindings from $(lib "$host" dylib)"
cargo build --locked -p uniffi-bindgen
gen=target/bindings/swift-apple
rm -rf "$gen"
target/debug/uniffi-bindgen generate "$(lib "$host" dylib)" --language swift --out-dir "$gen" >/dev/null
cp "$gen/FieldSyncFFI.swift" ios/Sources/FieldSyncFFI/FieldSyncFFI.swift
headers=target/xcframework/headers
rm -rf "$headers" && mkdir -p "$headers"
cp "$gen/FieldSyncFFIC.h" "$headers/"
# Inside an XCFramework the module map must be called module.modulemap.
cp "$gen/FieldSyncFFIC.modulemap" "$headers/module.modulemap"

step "fat libraries (lipo)"
mkdir -p target/xcframework/ios-simulator target/xcframework/macos
lipo -create "$(lib aarch64-apple-ios-sim a)" "$(lib x86_64-apple-ios a)" \
    -output target/xcframework/ios-simulator/libfieldsync_ffi.a
libraries=(-library "$(lib aarch64-apple-ios a)" -headers "$headers"
    -library target/xcframework/ios-simulator/libfieldsync_ffi.a -headers "$headers")
if [ ${#mac_triples[@]} -gt 0 ]; then
    lipo -create "$(lib aarch64-apple-darwin a)" "$(lib x86_64-apple-darwin a)" \
        -output target/xcframework/macos/libfieldsync_ffi.a
    libraries+=(-library target/xcframework/macos/libfieldsync_ffi.a -headers "$headers")
fi

step "creating ios/FieldSyncFFI.xcframework"
rm -rf ios/FieldSyncFFI.xcframework
xcodebuild -create-xcframework "${libraries[@]}" -output ios/FieldSyncFFI.xcframework
echo "ready: ios/FieldSyncFFI.xcframework and ios/Sources/FieldSyncFFI/FieldSyncFFI.swift"
echo "next:  cd ios && swift build   (tests: see ios/README.md)"
