// swift-tools-version:5.9
// The fieldsync Swift package: the generated UniFFI bindings (FieldSyncFFI), the Rust
// library as an XCFramework (FieldSyncFFIC), and an idiomatic facade (FieldSync).
// scripts/build-xcframework.sh builds FieldSyncFFI.xcframework and copies the generated
// Swift into Sources/FieldSyncFFI/ (both build outputs, not committed).
import PackageDescription

let package = Package(
    name: "FieldSync",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "FieldSync", targets: ["FieldSync"]),
    ],
    targets: [
        .binaryTarget(name: "FieldSyncFFIC", path: "FieldSyncFFI.xcframework"),
        .target(name: "FieldSyncFFI", dependencies: ["FieldSyncFFIC"], path: "Sources/FieldSyncFFI"),
        .target(name: "FieldSync", dependencies: ["FieldSyncFFI"], path: "Sources/FieldSync"),
        .testTarget(
            name: "FieldSyncTests",
            dependencies: ["FieldSync", "FieldSyncFFI"],
            path: "Tests/FieldSyncTests",
            resources: [.copy("../../../ffi/tests/golden")]
        ),
    ]
)
