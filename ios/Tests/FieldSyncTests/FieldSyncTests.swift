// XCTest cases over the shared scenarios (Scenarios.swift). On a Mac: `swift test` in ios/
// or Xcode (the sync case needs FIELDSYNC_TEST_LINKS, see ios/README.md). On Linux
// ios/scripts/test-linux compiles this file too (the chroot's swiftlang has XCTest) but
// runs the same scenarios through Tests/LinuxRunner/main.swift.
#if canImport(XCTest)
import XCTest

final class FieldSyncTests: XCTestCase {
    func testRecordsListsAndCallbacks() throws { try Scenarios.recordsListsAndCallbacks() }
    func testChangeStreamAndClose() async throws { try await Scenarios.changeStreamAndClose() }
    func testTypedErrors() throws { try Scenarios.typedErrors() }
    func testPanicArrivesAsError() throws { try Scenarios.panicArrivesAsError() }
    func testGoldenStore() throws { try Scenarios.goldenStore() }
    func testXlsFormFilledIn() throws { try Scenarios.xlsFormFilledIn() }
    func testXlsFormImportProblems() throws { try Scenarios.xlsFormImportProblems() }
    func testTwoClientsSync() throws { try Scenarios.twoClientsSync() }
}
#endif
