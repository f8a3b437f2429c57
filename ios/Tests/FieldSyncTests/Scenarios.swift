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

/// The example workbook, examples/forms/telecom-satisfaction.xlsx: from
/// FIELDSYNC_EXAMPLES_DIR (test-linux copies examples/ into the chroot), else found from
/// this source file's path in the repository.
func telecomWorkbook(in dir: String, _ file: StaticString = #filePath) throws -> URL {
    let env = ProcessInfo.processInfo.environment["FIELDSYNC_EXAMPLES_DIR"] ?? ""
    let examples = env.isEmpty
        ? URL(fileURLWithPath: "\(file)").deletingLastPathComponent()
            .appendingPathComponent("../../../examples").standardizedFileURL
        : URL(fileURLWithPath: env)
    let real = examples.appendingPathComponent("forms/telecom-satisfaction.xlsx")
    try check(FileManager.default.fileExists(atPath: real.path),
              "the example workbook is not at \(real.path)")
    return real
}

/// The field and code of the `FieldsyncError.Validation` that `body` throws.
func expectValidation<T>(_ what: String, _ body: () throws -> T) throws -> (field: String, code: String) {
    do {
        _ = try body()
    } catch FieldsyncError.Validation(let field, let code, _) {
        return (field, code)
    }
    throw ScenarioFailure(description: "\(what): no Validation error")
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
        Scenario("XLSForm: skip logic, translation, repeat and completion") { try xlsFormFilledIn() },
        Scenario("XLSForm: import problems are data") { try xlsFormImportProblems() },
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
        } catch let e as FieldsyncError {
            guard case .Validation(let field, let code, _) = e else { throw e }
            try check(field == "scores.overall" && code == "score_out_of_range", "validation \(field) \(code)")
            // A stable code and parameters, and the default renderings in both languages.
            try check(e.errorCode == "validation" && e.errorParams["rule"] == "score_out_of_range", "code \(e.errorCode)")
            try check(e.message(in: .english) == "scores.overall: the score is outside the scale", e.message(in: .english))
            try check(e.message(in: .chinese) == "scores.overall：评分超出量表范围", e.message(in: .chinese))
        }
        do {
            _ = try s.visit(String(repeating: "0", count: 32))
            throw ScenarioFailure(description: "missing record found")
        } catch let e as FieldsyncError {
            guard case .NotFound(let id) = e else { throw e }
            try check(e.errorCode == "not_found", "not-found code")
            try check(e.message(inLanguage: "zh") == "找不到记录 \(id)（可能已被删除）。", e.message(inLanguage: "zh"))
        }
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

    /// The example XLSForm through the forms engine: skip logic, a translated label, a
    /// typed error, required answers, a repeat instance, completion and the calculations.
    static func xlsFormFilledIn() throws {
        let dir = tempDir()
        defer { removeDir(dir) }
        let imported = try XlsForm.import(contentsOf: try telecomWorkbook(in: dir))
        try check(imported.errors.isEmpty, "import errors: \(imported.errors)")
        guard var form = imported.form else { throw ScenarioFailure(description: "no form imported") }
        try check(form.formKey == "telecom-sat", "form key \(form.formKey)")
        form.published = true
        form.publishedAt = 1
        let s = try FieldSyncStore.open(path: dir + "/s.db", key: testKey, deviceId: "swift-dev", userId: "swift-user")
        defer { s.close() }
        let formId = try s.createForm(form, in: "team:swift")
        let rid = try s.startResponse(form: formId, in: "team:swift", region: "north/county-1",
                                      language: "en", utcOffsetMinutes: 480)
        func state(_ q: String, instance: [Int] = [], language: String = "en") throws -> NodeState {
            guard let n = try s.evaluate(response: rid, language: language, utcOffsetMinutes: 480)
                .node(q, instance: instance) else {
                throw ScenarioFailure(description: "no node \(q) \(instance)")
            }
            return n
        }
        // A score restates the scale and dimension of its question.
        let dimensions = Dictionary(form.questions.map { ($0.id, $0.dimension) }, uniquingKeysWith: { a, _ in a })
        func score(_ q: String, _ value: Int64) -> Answer {
            .score(score: Score(value: value, min: 1, max: 10, dimension: dimensions[q] ?? nil))
        }

        // Skip logic: a low network score shows why_network, with its Chinese label.
        try check(try !state("why_network").visible, "why_network visible before any score")
        try check(try s.setAnswer(score("network_coverage", 2), for: "network_coverage", in: rid), "score set")
        try check(try state("why_network").visible, "why_network shown after a low network score")
        let zh = try state("why_network", language: "zh-CN").label
        try check(zh == "网络在何时何地表现不好？", "zh-CN label: \(zh)")
        try check(try s.clearAnswer(for: "network_coverage", in: rid), "clearAnswer changed something")
        try check(try !state("why_network").visible, "why_network hidden after clearing the score")

        // An out-of-range score is refused as a typed error.
        let range = try expectValidation("an out-of-range score") {
            try s.setAnswer(.score(score: Score(value: 11, min: 1, max: 10, dimension: .overall)), for: "overall", in: rid)
        }
        try check(range.code == "score_out_of_range", "out-of-range code: \(range.code)")

        // Completion waits for the required answers.
        let before = try s.evaluate(response: rid, language: "en", utcOffsetMinutes: 480)
        try check(!before.canComplete, "can complete with nothing answered")
        try check(before.issues.contains { $0.field == "answers.segment" && $0.kind == .required },
                  "a required issue for segment: \(before.issues.map(\.field))")
        let required = try expectValidation("completing too early") {
            try s.completeResponse(rid, language: "en", utcOffsetMinutes: 480)
        }
        try check(required == ("answers.segment", "required"), "first problem: \(required)")
        for (q, v) in [("segment", "family"), ("value_tier", "middle"), ("core_customer", "no"),
                       ("region", "east"), ("contact_consent", "no")] {
            try s.setAnswer(.choice(value: v), for: q, in: rid)
        }
        try s.setAnswer(score("overall", 9), for: "overall", in: rid)

        // One complaint: the repeat expects one instance, whose category is required.
        try s.setAnswer(.integer(value: 1), for: "complaint_count", in: rid)
        try check(try state("complaints").expectedInstances == 1, "one complaint instance expected")
        let path = try s.addRepeatInstance(to: "complaints", in: rid)
        try check(path == [0], "new instance path: \(path)")
        let inRepeat = try expectValidation("an unanswered category") {
            try s.completeResponse(rid, language: "en", utcOffsetMinutes: 480)
        }
        try check(inRepeat.field == "repeats.complaints[0].answers.complaint_category", "field in the repeat: \(inRepeat)")
        let offered = try s.offeredChoices(for: "complaint_category", instance: path, in: rid,
                                           language: "zh-CN", utcOffsetMinutes: 480)
        try check(offered.map(\.label) == ["服务", "网络", "计费与收费", "营销与促销"],
                  "zh-CN choices: \(offered.map(\.label))")
        try check(try s.setAnswer(.choice(value: offered[0].value), for: "complaint_category", instance: path, in: rid),
                  "category set")
        try check(try state("complaint_category", instance: path).value == offered[0].value, "category in the instance")
        // No instance 1; a negative index never reaches the engine.
        let missing = try expectValidation("an instance that does not exist") {
            try s.setAnswer(.choice(value: "network"), for: "complaint_category", instance: [1], in: rid)
        }
        try check(missing.code == "unknown_node", "code for a missing instance: \(missing.code)")
        do {
            try s.setAnswer(.choice(value: "network"), for: "complaint_category", instance: [-1], in: rid)
            throw ScenarioFailure(description: "a negative instance index was accepted")
        } catch FieldsyncError.InvalidArgument {}

        let ready = try s.evaluate(response: rid, language: "en", utcOffsetMinutes: 480)
        try check(ready.canComplete, "cannot complete: \(ready.issues.map(\.field))")
        try check(try s.completeResponse(rid, language: "en", utcOffsetMinutes: 480), "completeResponse returned true")
        try check(try !s.completeResponse(rid, language: "en", utcOffsetMinutes: 480), "a second completeResponse is false")
        let done = try s.response(rid)
        try check(done.status == .complete, "status \(done.status)")
        let band = done.answers["overall_band"]
        try check(band == .text(value: "high"), "overall_band: \(String(describing: band))")
        try check(done.repeats.map(\.repeat) == ["complaints"], "repeat instances: \(done.repeats.map(\.repeat))")
        try check(done.repeats.first?.answers["complaint_category"] == .choice(value: offered[0].value),
                  "answer in the repeat")
    }

    /// Problems in a spreadsheet come back as data (sheet, row, column), not as errors.
    static func xlsFormImportProblems() throws {
        let bad = try XlsForm.import(Data("survey,type,name,label\n,integer,1bad,Age\n".utf8), fileName: "bad.csv")
        try check(bad.form == nil, "a broken sheet made a form")
        guard let first = bad.errors.first else { throw ScenarioFailure(description: "no import errors") }
        try check(first.sheet == "survey" && first.column == "name", "where the error is: \(first)")
        try check(first.row != nil && !first.code.isEmpty, "error without row or code: \(first)")
        do {
            _ = try XlsForm.import(Data([1, 2, 3]), fileName: "form.txt")
            throw ScenarioFailure(description: "a .txt file was imported")
        } catch FieldsyncError.InvalidArgument {}
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
        // Attachments: A attaches a photo to the visit and uploads it with progress; B
        // sees the reference, fetches the bytes when it opens the visit, exports them.
        var gen = SystemRandomNumberGenerator()
        let bytes = Data((0..<300_000).map { _ in UInt8.random(in: 0...255, using: &gen) })
        let photo = URL(fileURLWithPath: dir + "/site.jpg")
        try bytes.write(to: photo)
        let ref = try a.attach(photo, toVisit: vid, mediaType: "image/jpeg")
        try check(ref.sha256.count == 64, "hex SHA-256: \(ref.sha256)")
        try check(try a.visit(vid).attachments == [ref], "the visit holds the reference")
        let seen = Box([BlobProgress]())
        ca.onBlobProgress { p in seen.with { $0.append(p) } }
        try check(try ca.transferBlobsNow().uploaded == 1, "uploaded")
        try check(seen.with { $0.contains(BlobProgress(sha256: ref.sha256, upload: true, chunksDone: 2, chunksTotal: 2)) },
                  "progress: \(seen.with { $0 })")
        try check(try a.blobStatus(ref.sha256)?.onServer == true, "on the server")
        try cb.syncNow()
        try check(try b.missingBlobs(vid) == [ref.sha256], "b lacks the bytes")
        try check(try b.blobStatus(ref.sha256) == nil, "unknown on b")
        // The server authorises a fetch from its merged view, which follows the log.
        var report: BlobTransferReport? = nil
        try check(try waitUntil(10) {
            do { report = try cb.fetchAttachments(of: vid) } catch FieldsyncError.Unauthorized { return false }
            return true
        }, "b was allowed to fetch the photo")
        try check(report?.downloaded == 1, "downloaded: \(String(describing: report))")
        try check(try b.missingBlobs(vid).isEmpty, "nothing missing on b")
        let copy = URL(fileURLWithPath: dir + "/copy.jpg")
        try b.exportBlob(ref.sha256, to: copy)
        try check(try Data(contentsOf: copy) == bytes, "the copy is the photo")
        do { try b.exportBlob("not-a-hash", to: copy); try check(false, "a bad hash is refused") } catch FieldsyncError.InvalidArgument {}
        do { try b.exportBlob(String(repeating: "0", count: 64), to: copy); try check(false, "an unknown blob is NotFound") } catch FieldsyncError.NotFound {}
        ca.onBlobProgress(nil)
    }
}
