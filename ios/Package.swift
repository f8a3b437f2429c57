// swift-tools-version:5.9
// The fieldsync Swift package:
// - FieldSyncFFIC: the Rust library (libfieldsync_ffi.a for iOS devices, the iOS simulator
//   and macOS) with its C header and module map, as FieldSyncFFI.xcframework;
// - FieldSyncFFI: the Swift bindings UniFFI generates (Sources/FieldSyncFFI/FieldSyncFFI.swift);
// - FieldSync: the Swift facade apps import (FieldSyncStore, Sync).
// The XCFramework and the generated FieldSyncFFI.swift are build outputs, not committed:
// ios/scripts/build-xcframework.sh (macOS with Xcode) builds the libraries, generates the
// bindings from the host library with uniffi-bindgen, copies FieldSyncFFI.swift into
// Sources/FieldSyncFFI/ and creates the XCFramework. Run it before `swift build`.
import PackageDescription

let package = Package(
    name: "FieldSync",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "FieldSync", targets: ["FieldSync"]),
    ],
    targets: [
        .binaryTarget(name: "FieldSyncFFIC", path: "FieldSyncFFI.xcframework"),
        .target(
            name: "FieldSyncFFI",
            dependencies: ["FieldSyncFFIC"],
            path: "Sources/FieldSyncFFI",
            exclude: ["README.md"]
        ),
        .target(name: "FieldSync", dependencies: ["FieldSyncFFI"], path: "Sources/FieldSync"),
        // The scenarios find ffi/tests/golden from their source path (or FIELDSYNC_GOLDEN_DIR)
        // and the sync server from FIELDSYNC_TEST_LINKS; see ios/README.md.
        .testTarget(
            name: "FieldSyncTests",
            dependencies: ["FieldSync", "FieldSyncFFI"],
            path: "Tests/FieldSyncTests"
        ),
    ]
)
