#!/usr/bin/env bash
# Build FieldSyncFFI.xcframework (device + simulator static libraries) and the Swift
# bindings for the Swift package. macOS with Xcode only.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(uname)" != Darwin ] || ! command -v xcodebuild >/dev/null; then
    echo "build-xcframework.sh needs macOS with Xcode (xcodebuild). On Linux, ios/scripts/test-linux"
    echo "compiles and runs the Swift layer against the host library instead."
    exit 1
fi
targets="aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios"
for t in $targets; do
    rustup target add "$t" >/dev/null
    cargo build --locked --release -p fieldsync-ffi --target "$t"
done
# Generate from a host build (library mode reads the metadata from the library).
cargo build --locked --release -p fieldsync-ffi
cargo build --locked -p uniffi-bindgen
gen=target/bindings/swift-release
rm -rf "$gen" && mkdir -p "$gen"
target/debug/uniffi-bindgen generate target/release/libfieldsync_ffi.dylib --language swift --out-dir "$gen"
cp "$gen/FieldSyncFFI.swift" ios/Sources/FieldSyncFFI/
headers=target/bindings/swift-headers
rm -rf "$headers" && mkdir -p "$headers"
cp "$gen/FieldSyncFFIC.h" "$headers/"
cp "$gen/FieldSyncFFIC.modulemap" "$headers/module.modulemap"
# The simulator slice is one fat library for both simulator architectures.
mkdir -p target/ios-sim
lipo -create target/aarch64-apple-ios-sim/release/libfieldsync_ffi.a target/x86_64-apple-ios/release/libfieldsync_ffi.a \
    -output target/ios-sim/libfieldsync_ffi.a
rm -rf ios/FieldSyncFFI.xcframework
xcodebuild -create-xcframework \
    -library target/aarch64-apple-ios/release/libfieldsync_ffi.a -headers "$headers" \
    -library target/ios-sim/libfieldsync_ffi.a -headers "$headers" \
    -output ios/FieldSyncFFI.xcframework
echo "ios/FieldSyncFFI.xcframework and ios/Sources/FieldSyncFFI/FieldSyncFFI.swift are ready"
