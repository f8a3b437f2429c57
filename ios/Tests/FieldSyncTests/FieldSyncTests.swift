// XCTest cases over the shared scenarios (Xcode / swift test on macOS).
#if canImport(XCTest)
import XCTest

final class FieldSyncTests: XCTestCase {
    func testRecordsListsAndCallbacks() throws { try Scenarios.recordsListsAndCallbacks() }
    func testTypedErrors() throws { try Scenarios.typedErrors() }
    func testPanicArrivesAsError() throws { try Scenarios.panicArrivesAsError() }
    func testGoldenStore() throws { try Scenarios.goldenStore() }
    func testTwoClientsSync() throws { try Scenarios.twoClientsSync() }
}
#endif
