// Runs the binding scenarios (Tests/FieldSyncTests/Scenarios.swift, the bodies of the
// XCTest cases) without an XCTest harness: PASS/FAIL per scenario, exit 1 on any failure.
// Built and run by ios/scripts/test-linux in a Debian trixie chroot.
import Foundation

var failed = 0
for scenario in Scenarios.all {
    let t0 = Date()
    do {
        try await scenario.run()
        print("PASS \(scenario.name) (\(Int(Date().timeIntervalSince(t0) * 1000)) ms)")
    } catch {
        failed += 1
        print("FAIL \(scenario.name): \(error)")
    }
}
print("\(Scenarios.all.count - failed) passed, \(failed) failed")
exit(failed == 0 ? 0 : 1)
