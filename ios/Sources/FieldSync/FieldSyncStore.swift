// The Swift face of a device store: Swift names, `Data` keys, change streams.
// A thin adapter over the generated `FieldStore`: every rule lives in the Rust core.
import Foundation
#if canImport(FieldSyncFFI)
import FieldSyncFFI
#endif

/// Records that changed, made here (`.local`) or received by sync (`.remote`).
public struct StoreChange: Sendable, Equatable {
    /// The record ids.
    public let ids: [String]
    /// Where the change came from.
    public let origin: ChangeOrigin
    /// True for changes received from the server.
    public var isRemote: Bool { origin == .remote }
}

/// Keeps a change listener registered until `cancel()` or deinit.
public final class ListenerToken: @unchecked Sendable {
    private let cancelAction: () -> Void
    private var cancelled = false
    private let lock = NSLock()

    init(_ cancel: @escaping () -> Void) { cancelAction = cancel }

    /// Stop listening.
    public func cancel() {
        lock.lock()
        defer { lock.unlock() }
        if !cancelled {
            cancelled = true
            cancelAction()
        }
    }

    deinit { cancel() }
}

final class ClosureListener: ChangeListener, @unchecked Sendable {
    private let handler: @Sendable (StoreChange) -> Void
    init(_ handler: @escaping @Sendable (StoreChange) -> Void) { self.handler = handler }
    func onChange(ids: [String], origin: ChangeOrigin) {
        handler(StoreChange(ids: ids, origin: origin))
    }
}

/// An open device store. Calls block: use them off the main thread. Close it when done;
/// later calls throw `FieldsyncError.Closed`.
public final class FieldSyncStore: @unchecked Sendable {
    /// The generated object, for anything this adapter does not wrap.
    public let ffi: FieldStore

    /// Open (or create) the store at `path`, sealed under `key` (32 bytes from the
    /// Keychain). `deviceId` and `userId` name who writes (shown in field history).
    public static func open(path: String, key: Data, deviceId: String, userId: String) throws -> FieldSyncStore {
        FieldSyncStore(try FieldStore.open(path: path, key: key, deviceId: deviceId, userId: userId))
    }

    init(_ ffi: FieldStore) { self.ffi = ffi }

    /// Close: running work is interrupted, everything written stays written.
    public func close() { ffi.close() }

    // MARK: accounts

    /// Create an account in `scope`; returns its id.
    public func createAccount(_ account: Account, in scope: String) throws -> String {
        try ffi.createAccount(scopeName: scope, account: account)
    }

    /// Read an account.
    public func account(_ id: String) throws -> Account { try ffi.getAccount(id: id) }

    /// Replace an account's fields; returns whether anything changed.
    @discardableResult
    public func updateAccount(_ id: String, _ account: Account) throws -> Bool {
        try ffi.updateAccount(id: id, account: account)
    }

    /// Accounts owned or co-owned by `owner` (all when nil), by name.
    public func accounts(owner: String? = nil, region: String? = nil) throws -> [AccountSummary] {
        try ffi.listAccounts(owner: owner, region: region)
    }

    // MARK: visits

    /// Record a visit in `scope`; returns its id.
    public func createVisit(_ visit: Visit, in scope: String) throws -> String {
        try ffi.createVisit(scopeName: scope, visit: visit)
    }

    /// Read a visit.
    public func visit(_ id: String) throws -> Visit { try ffi.getVisit(id: id) }

    /// Replace a visit's fields; notes are diffed into edits so a colleague's concurrent
    /// note edits survive.
    @discardableResult
    public func updateVisit(_ id: String, _ visit: Visit) throws -> Bool {
        try ffi.updateVisit(id: id, visit: visit)
    }

    /// Insert `text` into a visit's notes at character `position` (clamped to the end).
    public func insertNote(visit id: String, at position: Int, _ text: String) throws {
        try ffi.insertVisitNote(id: id, position: UInt32(clamping: position), text: text)
    }

    /// Visits to `account` and/or by `owner`, latest first.
    public func visits(account: String? = nil, owner: String? = nil, limit: Int = 50, after: String? = nil) throws -> VisitPage {
        try ffi.listVisits(accountId: account, owner: owner, limit: UInt32(clamping: limit), after: after)
    }

    /// Open commitments, soonest due first.
    public func openCommitments(owner: String? = nil, dueBefore: Int64? = nil, limit: Int = 50) throws -> [OpenCommitment] {
        try ffi.openCommitments(owner: owner, dueBefore: dueBefore, limit: UInt32(clamping: limit))
    }

    // MARK: forms and responses

    /// Store a form version in `scope`; returns its id.
    public func createForm(_ form: Form, in scope: String) throws -> String {
        try ffi.createForm(scopeName: scope, form: form)
    }

    /// Save a response in `scope` (validated against its form); returns its id.
    public func createResponse(_ response: Response, in scope: String) throws -> String {
        try ffi.createResponse(scopeName: scope, response: response)
    }

    /// Read a response.
    public func response(_ id: String) throws -> Response { try ffi.getResponse(id: id) }

    /// Set one answer (validated against the form).
    public func setAnswer(response id: String, question: String, _ answer: Answer) throws {
        try ffi.setAnswer(id: id, questionId: question, answer: answer)
    }

    /// Responses matching `filter`, newest first; pass `next` back for more.
    public func responses(_ filter: ResponseFilter = ResponseFilter(), limit: Int = 50, after: String? = nil) throws -> ResponsePage {
        try ffi.listResponses(filter: filter, limit: UInt32(clamping: limit), after: after)
    }

    // MARK: any record

    /// Fields two people changed at once.
    public func conflicts(_ id: String) throws -> [Conflict] { try ffi.conflicts(id: id) }

    /// Who changed `path` (or anything under it), on which device, when.
    public func history(_ id: String, field path: String) throws -> [HistoryEntry] {
        try ffi.fieldHistory(id: id, fieldPath: path)
    }

    /// Changes not yet acknowledged by the server.
    public var pendingChanges: UInt64 { (try? ffi.pendingChanges()) ?? 0 }

    // MARK: change notifications

    /// Call `handler` (on an engine thread) after every committed change, until the
    /// token is cancelled or released.
    public func onChange(_ handler: @escaping @Sendable (StoreChange) -> Void) -> ListenerToken {
        let handle = ffi.addChangeListener(listener: ClosureListener(handler))
        let store = ffi
        return ListenerToken { store.removeChangeListener(handle: handle) }
    }

    /// Every committed change, as an async stream; stops listening when the stream ends.
    public func changes() -> AsyncStream<StoreChange> {
        AsyncStream { continuation in
            let token = onChange { continuation.yield($0) }
            continuation.onTermination = { _ in token.cancel() }
        }
    }
}
