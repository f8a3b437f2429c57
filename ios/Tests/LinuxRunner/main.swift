// Runs the binding scenarios without XCTest (Linux, in a Debian chroot): PASS/FAIL per
// scenario, non-zero exit on any failure.
import Foundation

var failed = 0
for (name, run) in Scenarios.all {
    let t0 = Date()
    do {
        try run()
        print("PASS \(name) (\(Int(Date().timeIntervalSince(t0) * 1000)) ms)")
    } catch {
        failed += 1
        print("FAIL \(name): \(error)")
    }
}
print("\(Scenarios.all.count - failed) passed, \(failed) failed")
exit(failed == 0 ? 0 : 1)
