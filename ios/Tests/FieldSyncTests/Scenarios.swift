// The binding scenarios, shared by the XCTest cases (Xcode) and the Linux runner
// (ios/scripts/test-linux, Swift in a Debian chroot). Each throws on failure.
import Foundation
#if canImport(FieldSync)
import FieldSync
import FieldSyncFFI
#endif

struct ScenarioFailure: Error, CustomStringConvertible {
    let description: String
}

func check(_ ok: @autoclosure () throws -> Bool, _ what: String, file: String = #file, line: Int = #line) throws {
    if try !ok() {
        throw ScenarioFailure(description: "\(what) (\((file as NSString).lastPathComponent):\(line))")
    }
}

let testKey = Data(repeating: 7, count: 32)

/// A fresh folder under the temporary directory (test-linux points TMPDIR at its own
/// work folder, removed afterwards); `removeDir` it when done.
func tempDir() -> String {
    let d = NSTemporaryDirectory() + "fieldsync-swift-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func removeDir(_ d: String) { try? FileManager.default.removeItem(atPath: d) }

/// ffi/tests/golden: FIELDSYNC_GOLDEN_DIR (test-linux copies it into the chroot), else found
/// from this source file (swift test / Xcode on a Mac; the simulator sees the host's files).
func goldenDir(_ file: StaticString = #filePath) -> String {
    if let d = ProcessInfo.processInfo.environment["FIELDSYNC_GOLDEN_DIR"], !d.isEmpty { return d }
    return URL(fileURLWithPath: "\(file)").deletingLastPathComponent()
        .appendingPathComponent("../../../ffi/tests/golden").standardizedFileURL.path
}

func sampleAccount(_ name: String, owner: String) -> Account {
    Account(name: name, segment: .enterprise, region: "north/county-1", valueTier: .high, core: true, owner: owner)
}

func sampleVisit(account: String, owner: String, notes: String) -> Visit {
    Visit(accountId: account, owner: owner, purpose: "quarterly review", plannedAt: 1_700_000_000_000,
          attendees: [owner], notes: notes,
          scores: DimensionScores(service: 7, network: 4, overall: 6))
}

func survey() -> Form {
    Form(formKey: "swift-sat", version: 1, title: "Satisfaction", questions: [
        Question(id: "overall", kind: .score, label: "Overall", required: true, dimension: .overall),
        Question(id: "comment", kind: .text, label: "Why?"),
    ], published: true, publishedAt: 0)
}

func surveyResponse(form: String, overall: Int64) -> Response {
    Response(formId: form, formVersion: 1, status: .complete,
             respondent: Respondent(name: "R", customerId: "C1", segment: Segment(kind: .individual)),
             region: "north/county-1/district-2",
             answers: ["overall": .score(score: Score(value: overall, min: 1, max: 10, dimension: .overall))],
             startedAt: 1_700_000_000_000, enumerator: "swift")
}

final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ v: T) { value = v }
    func with<R>(_ f: (inout T) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return f(&value)
    }
}

func waitUntil(_ seconds: Double, _ cond: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try cond() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return try cond()
}

/// `waitUntil` for async code (does not block the calling thread).
func eventually(_ seconds: Double, _ cond: () throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try cond() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return try cond()
}

struct Scenario: Sendable {
    let name: String
    let run: @Sendable () async throws -> Void
    init(_ name: String, _ run: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.run = run
    }
}

enum Scenarios {
    /// Every scenario, in order (the Linux runner runs these; FieldSyncTests has one case each).
    static let all: [Scenario] = [
        Scenario("records, lists and change callbacks") { try recordsListsAndCallbacks() },
        Scenario("change stream, listener release and close") { try await changeStreamAndClose() },
        Scenario("typed errors") { try typedErrors() },
        Scenario("panic arrives as an error") { try panicArrivesAsError() },
        Scenario("golden store from Rust") { try goldenStore() },
        Scenario("two clients sync through a real server") { try twoClientsSync() },
    ]

    static func recordsListsAndCallbacks() throws {
        let dir = tempDir()
        defer { removeDir(dir) }
        let s = try FieldSyncStore.open(path: dir + "/s.db", key: testKey, deviceId: "swift-dev", userId: "swift-user")
        defer { s.close() }
        let events = Box<[StoreChange]>([])
        let token = s.onChange { c in events.with { $0.append(c) } }
        let acc = try s.createAccount(sampleAccount("Acme", owner: "swift-user"), in: "account:acme")
        let vid = try s.createVisit(sampleVisit(account: acc, owner: "swift-user", notes: "CFO attended."), in: "account:acme")
        try s.insertNote(visit: vid, at: 0, "[Swift] ")
        let v = try s.visit(vid)
        try check(v.notes == "[Swift] CFO attended.", "note edited: \(v.notes)")
        try check(v.scores.overall == 6, "scores kept")
        let formId = try s.createForm(survey(), in: "team:a")
        let low = try s.createResponse(surveyResponse(form: formId, overall: 3), in: "team:a")
        _ = try s.createResponse(surveyResponse(form: formId, overall: 9), in: "team:a")
        let page = try s.responses(ResponseFilter(formId: formId, region: "north", band: .low))
        try check(page.items.map(\.id) == [low], "low-band filter: \(page.items.map(\.id))")
        try check(try s.visits(account: acc).items.count == 1, "visits by account")
        try check(waitUntil(5) { events.with { $0.count } >= 5 }, "change callbacks arrived")
        try check(events.with { $0.contains { $0.ids.contains(vid) && $0.origin == .local } }, "local change of the visit")
        token.cancel()
        let before = events.with { $0.count }
        _ = try s.createAccount(sampleAccount("After", owner: "swift-user"), in: "account:acme")
        Thread.sleep(forTimeInterval: 0.1)
        try check(events.with { $0.count } == before, "a cancelled listener hears nothing")
    }

    /// The AsyncStream adapter, a token released without cancel(), and close() ending
    /// every listener and stream.
    static func changeStreamAndClose() async throws {
        let dir = tempDir()
        defer { removeDir(dir) }
        let s = try FieldSyncStore.open(path: dir + "/s.db", key: testKey, deviceId: "swift-dev", userId: "swift-user")
        defer { s.close() }
        let received = Box<[StoreChange]>([])
        let ended = Box(false)
        let consumer = Task {
            for await c in s.changes() { received.with { $0.append(c) } }
            ended.with { $0 = true }
        }
        // A stream whose consuming task is cancelled stops listening.
        let cancelled = Task { for await _ in s.changes() {} }
        cancelled.cancel()
        _ = await cancelled.value
        // A token released without cancel() unregisters its listener.
        let heard = Box(0)
        let acc: String
        do {
            let token = s.onChange { _ in heard.with { $0 += 1 } }
            acc = try s.createAccount(sampleAccount("One", owner: "swift-user"), in: "account:acme")
            let ok = await eventually(5) { heard.with { $0 } >= 1 }
            try check(ok, "the closure listener heard the change")
            withExtendedLifetime(token) {}
        }
        let streamed = await eventually(5) { received.with { $0.contains { $0.ids.contains(acc) } } }
        try check(streamed, "the stream delivered the change")
        let heardBefore = heard.with { $0 }
        let vid = try s.createVisit(sampleVisit(account: acc, owner: "swift-user", notes: "x"), in: "account:acme")
        let local = await eventually(5) { received.with { $0.contains { $0.ids.contains(vid) && $0.origin == .local } } }
        try check(local, "the stream delivered the visit as a local change")
        try check(heard.with { $0 } == heardBefore, "a released token hears nothing")
        // close() cancels live tokens and finishes streams.
        let live = s.onChange { _ in }
        s.close()
        let finished = await eventually(5) { ended.with { $0 } }
        try check(finished, "close() finished the stream")
        try check(live.isCancelled, "close() cancelled the live token")
        try check(s.onChange { _ in }.isCancelled, "no listener is registered after close()")
        var afterClose = s.changes().makeAsyncIterator()
        let next = await afterClose.next()
        try check(next == nil, "a stream made after close() is already finished")
        _ = await consumer.value
    }

    static func typedErrors() throws {
        let dir = tempDir()
        defer { removeDir(dir) }
        let path = dir + "/s.db"
        let s = try FieldSyncStore.open(path: path, key: testKey, deviceId: "swift-dev", userId: "swift-user")
        let acc = try s.createAccount(sampleAccount("Acme", owner: "swift-user"), in: "account:acme")
        var bad = sampleVisit(account: acc, owner: "swift-user", notes: "")
        bad.scores.overall = 11
        do {
            _ = try s.createVisit(bad, in: "account:acme")
            throw ScenarioFailure(description: "an out-of-range score was accepted")
        } catch FieldsyncError.Validation(let field, let code, _) {
            try check(field == "scores.overall" && code == "score_out_of_range", "validation \(field) \(code)")
        }
        do {
            _ = try s.visit(String(repeating: "0", count: 32))
            throw ScenarioFailure(description: "missing record found")
        } catch FieldsyncError.NotFound {}
        do {
            _ = try s.visit("not-an-id")
            throw ScenarioFailure(description: "bad id accepted")
        } catch FieldsyncError.InvalidArgument {}
        s.close()
        do {
            _ = try s.account(acc)
            throw ScenarioFailure(description: "a closed store answered")
        } catch FieldsyncError.Closed {}
        do {
            _ = try FieldSyncStore.open(path: path, key: Data(repeating: 8, count: 32), deviceId: "d", userId: "u")
            throw ScenarioFailure(description: "a wrong key opened the store")
        } catch FieldsyncError.WrongKey {}
    }

    static func panicArrivesAsError() throws {
        let dir = tempDir()
        defer { removeDir(dir) }
        let s = try FieldSyncStore.open(path: dir + "/s.db", key: testKey, deviceId: "swift-dev", userId: "swift-user")
        defer { s.close() }
        do {
            try s.ffi.debugInducePanic()
            throw ScenarioFailure(description: "no error from an induced panic")
        } catch FieldsyncError.Internal(let message) {
            try check(message.contains("induced panic"), "the panic message arrives: \(message)")
        }
        // The store still works.
        let acc = try s.createAccount(sampleAccount("After", owner: "swift-user"), in: "account:acme")
        try check(try s.account(acc).name == "After", "the store works after a panic")
    }

    static func goldenStore() throws {
        let dir = goldenDir()
        let manifestData = try Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json"))
        guard let m = try JSONSerialization.jsonObject(with: manifestData) as? [String: Any],
              let keyHex = m["key_hex"] as? String, let accountId = m["account_id"] as? String,
              let visitId = m["visit_id"] as? String else {
            throw ScenarioFailure(description: "manifest unreadable")
        }
        var key = Data()
        var i = keyHex.startIndex
        while i < keyHex.endIndex, let j = keyHex.index(i, offsetBy: 2, limitedBy: keyHex.endIndex) {
            guard let byte = UInt8(keyHex[i..<j], radix: 16) else { throw ScenarioFailure(description: "key_hex is not hex") }
            key.append(byte)
            i = j
        }
        try check(key.count == 32, "the golden key is 32 bytes")
        let tmp = tempDir()
        defer { removeDir(tmp) }
        let copy = tmp + "/golden.db"
        try FileManager.default.copyItem(atPath: dir + "/golden.db", toPath: copy)
        let s = try FieldSyncStore.open(path: copy, key: key, deviceId: "swift-reader", userId: "swift-reader")
        defer { s.close() }
        try check(try s.account(accountId).name == m["account_name"] as? String, "golden account")
        let v = try s.visit(visitId)
        try check(v.notes == m["visit_notes"] as? String, "golden notes")
        try check(v.scores.overall == (m["visit_overall"] as? NSNumber)?.int64Value, "golden score")
        try check(try s.openCommitments().first?.description == m["commitment"] as? String, "golden commitment")
    }

    static func twoClientsSync() throws {
        let links = (ProcessInfo.processInfo.environment["FIELDSYNC_TEST_LINKS"] ?? "").split(separator: " ").map(String.init)
        try check(links.count >= 2, "FIELDSYNC_TEST_LINKS holds two enrolment links (scripts/test-bindings sets it)")
        let dir = tempDir()
        defer { removeDir(dir) }
        let pid = ProcessInfo.processInfo.processIdentifier
        let a = try FieldSyncStore.open(path: dir + "/a.db", key: testKey, deviceId: "swift-a-\(pid)", userId: "field-1")
        let b = try FieldSyncStore.open(path: dir + "/b.db", key: testKey, deviceId: "swift-b-\(pid)", userId: "field-1")
        defer { a.close(); b.close() }
        let ca = try Sync(a), cb = try Sync(b)
        try ca.enrol(link: links[0], deviceName: "Swift A")
        try cb.enrol(link: links[1], deviceName: "Swift B")
        let acc = try a.createAccount(sampleAccount("Synced", owner: "field-1"), in: "team:default")
        let vid = try a.createVisit(sampleVisit(account: acc, owner: "field-1", notes: "Agenda."), in: "team:default")
        let r = try ca.syncNow()
        try check(r.accepted == 2 && r.roundTrips == 1, "push in one round trip: \(r)")
        try cb.syncNow()
        try check(try b.visit(vid).notes == "Agenda.", "b received the visit")
        // Both edit the same note offline; both edits survive.
        try a.insertNote(visit: vid, at: 0, "[A] ")
        var vb = try b.visit(vid)
        vb.notes += " [B]"
        try b.updateVisit(vid, vb)
        try ca.syncNow()
        try cb.syncNow()
        try ca.syncNow()
        try check(try a.visit(vid).notes == "[A] Agenda. [B]", "merged note: \(try a.visit(vid).notes)")
        try check(try b.visit(vid).notes == (try a.visit(vid).notes), "both converge")
        // Background sync with progress events.
        let synced = Box(false)
        let token = cb.onSync { if case .synced = $0 { synced.with { $0 = true } } }
        cb.startBackground(interval: 3600)
        try check(waitUntil(10) { synced.with { $0 } }, "background sync ran")
        try a.updateAccount(acc, sampleAccount("Synced and renamed", owner: "field-1"))
        try ca.syncNow()
        try check(waitUntil(10) { (try? b.account(acc).name) == "Synced and renamed" }, "live change reached b")
        cb.stopBackground()
        try check(try !cb.status().background, "background stopped")
        token.cancel()
    }
}
