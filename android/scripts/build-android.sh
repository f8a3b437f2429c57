#!/usr/bin/env bash
# Build everything the Gradle module in android/ needs, on a developer machine with the
# Android NDK:
#   1. libfieldsync_ffi.so for arm64-v8a, armeabi-v7a and x86_64 (cargo-ndk) into
#      android/src/main/jniLibs/<abi>/;
#   2. the Kotlin bindings (package org.fieldsync.ffi) into target/bindings/kotlin, which
#      android/build.gradle.kts adds as a source folder (scripts/bindings generates them
#      from the host library: same source, same metadata).
# Then: cd android && gradle assembleRelease (AGP 8.7: Gradle 8.9 or newer, JDK 17).
#
# Needs ANDROID_NDK_HOME (an NDK, r27 or newer recommended). Installs the Rust Android
# targets (rustup) and cargo-ndk (crates.io) when missing.
# ANDROID_PROFILE=debug for a debug native build (default release).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh

if [ -z "${ANDROID_NDK_HOME:-}" ] || [ ! -d "${ANDROID_NDK_HOME:-}" ]; then
    cat >&2 <<'EOF'
build-android.sh: ANDROID_NDK_HOME is not set (or is not a folder), so the Android
libraries cannot be built here. This step needs the Android NDK, which this machine
does not have. On a developer machine:
    sdkmanager "ndk;27.2.12479018"          # or Android Studio > SDK Manager > NDK
    export ANDROID_NDK_HOME="$ANDROID_HOME/ndk/27.2.12479018"
    android/scripts/build-android.sh
The JVM tests of the Kotlin layer need no NDK: LANGS=kotlin scripts/test-bindings.
EOF
    exit 1
fi

# Keep in step with minSdk in android/build.gradle.kts.
api_level=24
abis=(arm64-v8a armeabi-v7a x86_64)
triples=(aarch64-linux-android armv7-linux-androideabi x86_64-linux-android)
profile=${ANDROID_PROFILE:-release}
jni_libs=android/src/main/jniLibs

step "Rust targets (${triples[*]})"
installed=$(rustup target list --installed)
for t in "${triples[@]}"; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
# (Not ensure_cargo_tool: cargo-ndk answers --version only when run as `cargo ndk`.)
cargo_ndk_version=4.1.2
if ! cargo ndk --version 2>/dev/null | grep -q "$cargo_ndk_version"; then
    step "installing cargo-ndk $cargo_ndk_version"
    cargo install cargo-ndk --version "$cargo_ndk_version" --locked
fi

step "building libfieldsync_ffi.so ($profile) for ${abis[*]} (NDK $ANDROID_NDK_HOME, API $api_level)"
# 16 KB pages (required by Google Play for Android 15+ devices); NDK r28+ does this by
# default, r27 needs the flag. Per target, so host build scripts are unaffected.
page=(-C link-arg=-Wl,-z,max-page-size=16384)
export CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS="${CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS:-} ${page[*]}"
export CARGO_TARGET_X86_64_LINUX_ANDROID_RUSTFLAGS="${CARGO_TARGET_X86_64_LINUX_ANDROID_RUSTFLAGS:-} ${page[*]}"
flag=()
[ "$profile" = release ] && flag=(--release)
targets=()
for a in "${abis[@]}"; do targets+=(-t "$a"); done
rm -rf "$jni_libs"
cargo ndk "${targets[@]}" -P "$api_level" -o "$jni_libs" build --locked -p fieldsync-ffi "${flag[@]}"
for a in "${abis[@]}"; do
    [ -f "$jni_libs/$a/libfieldsync_ffi.so" ] || { echo "missing $jni_libs/$a/libfieldsync_ffi.so" >&2; exit 1; }
done
# (AGP strips debug info from the .so files when it packages an APK or AAB.)

step "generating the Kotlin bindings"
PROFILE=debug scripts/bindings

step "done"
ls -l "$jni_libs"/*/libfieldsync_ffi.so
echo "Kotlin bindings: target/bindings/kotlin (android/build.gradle.kts reads them from there)"
echo "next: cd android && gradle assembleRelease"
