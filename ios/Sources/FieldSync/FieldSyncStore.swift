// The Swift face of a device store: Swift names, `Data` keys, change listeners and streams.
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

final class ClosureListener: ChangeListener, @unchecked Sendable {
    private let handler: @Sendable (StoreChange) -> Void
    init(_ handler: @escaping @Sendable (StoreChange) -> Void) { self.handler = handler }
    func onChange(ids: [String], origin: ChangeOrigin) {
        handler(StoreChange(ids: ids, origin: origin))
    }
}

/// An open device store. Calls block: use them off the main thread. `close()` when done:
/// later calls throw `FieldsyncError.Closed`, listeners are removed and streams finish.
public final class FieldSyncStore: @unchecked Sendable {
    /// The generated object, for anything this adapter does not wrap.
    public let ffi: FieldStore
    private let listeners = ListenerRegistry()

    /// Open (or create) the store at `path`, sealed under `key` (32 bytes from the
    /// Keychain). `deviceId` and `userId` name who writes (shown in field history).
    /// Throws `FieldsyncError.WrongKey` for another key, `.StoreMovedAside` for a damaged file.
    public static func open(path: String, key: Data, deviceId: String, userId: String) throws -> FieldSyncStore {
        FieldSyncStore(try FieldStore.open(path: path, key: key, deviceId: deviceId, userId: userId))
    }

    init(_ ffi: FieldStore) { self.ffi = ffi }

    /// Close: listeners are removed, change streams finish, running work is interrupted;
    /// everything written stays written.
    public func close() {
        listeners.closeAll()
        ffi.close()
    }

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

    /// Read a form version.
    public func form(_ id: String) throws -> Form { try ffi.getForm(id: id) }

    /// Form versions (of `formKey`, or all), newest version first.
    public func forms(key formKey: String? = nil) throws -> [FormSummary] {
        try ffi.listForms(formKey: formKey)
    }

    /// Save a response in `scope` (validated against its form); returns its id.
    public func createResponse(_ response: Response, in scope: String) throws -> String {
        try ffi.createResponse(scopeName: scope, response: response)
    }

    /// Read a response.
    public func response(_ id: String) throws -> Response { try ffi.getResponse(id: id) }

    /// Replace a response's fields (validated); returns whether anything changed.
    @discardableResult
    public func updateResponse(_ id: String, _ response: Response) throws -> Bool {
        try ffi.updateResponse(id: id, response: response)
    }

    /// Set one top-level answer (validated against the form); returns whether anything
    /// changed. `setAnswer(_:for:instance:in:)` (Forms.swift) also reaches into repeats.
    @discardableResult
    public func setAnswer(response id: String, question: String, _ answer: Answer) throws -> Bool {
        try setAnswer(answer, for: question, in: id)
    }

    /// Responses matching `filter`, newest first; pass `next` back as `after` for more.
    public func responses(_ filter: ResponseFilter = ResponseFilter(), limit: Int = 50, after: String? = nil) throws -> ResponsePage {
        try ffi.listResponses(filter: filter, limit: UInt32(clamping: limit), after: after)
    }

    // MARK: cases

    /// Open a complaint (stage `.received`); returns its id.
    public func createCase(_ newCase: NewCase, in scope: String) throws -> String {
        try ffi.createCase(scopeName: scope, newCase: newCase)
    }

    /// Read a case.
    public func complaintCase(_ id: String) throws -> Case { try ffi.getCase(id: id) }

    /// Edit a case's fields (not its stage); returns whether anything changed.
    @discardableResult
    public func updateCase(_ id: String, _ value: Case) throws -> Bool {
        try ffi.updateCase(id: id, value: value)
    }

    /// Move a case to `stage` (legal steps only; otherwise `Validation` `illegal_transition`).
    public func advanceCase(_ id: String, to stage: CaseStage, by: String, at: Int64) throws {
        try ffi.advanceCase(id: id, stage: stage, by: by, at: at)
    }

    /// Cases (of `owner`; only open; only overdue at `overdueAt`).
    public func cases(owner: String? = nil, openOnly: Bool = false, overdueAt: Int64? = nil, limit: Int = 50) throws -> [CaseSummary] {
        try ffi.listCases(owner: owner, openOnly: openOnly, overdueAt: overdueAt, limit: UInt32(clamping: limit))
    }

    // MARK: any record

    /// The kind of a record: `form`, `response`, `account`, `visit` or `case`.
    public func kind(of id: String) throws -> String { try ffi.kindOf(id: id) }

    /// Fields two people changed at once.
    public func conflicts(_ id: String) throws -> [Conflict] { try ffi.conflicts(id: id) }

    /// Resolve the conflict at `path` with `valueJSON` (one of the values offered, or another).
    public func resolveConflict(_ id: String, field path: String, valueJSON: String) throws {
        try ffi.resolveConflict(id: id, fieldPath: path, valueJson: valueJSON)
    }

    /// Who changed `path` (or anything under it), on which device, when.
    public func history(_ id: String, field path: String) throws -> [HistoryEntry] {
        try ffi.fieldHistory(id: id, fieldPath: path)
    }

    /// Every change of a record.
    public func history(_ id: String) throws -> [HistoryEntry] { try ffi.history(id: id) }

    /// Changes not yet acknowledged by the server.
    public var pendingChanges: UInt64 {
        get throws { try ffi.pendingChanges() }
    }

    // MARK: change notifications

    /// Call `handler` (on an engine thread) after every committed change, until the token
    /// is cancelled or released, or the store is closed.
    public func onChange(_ handler: @escaping @Sendable (StoreChange) -> Void) -> ListenerToken {
        listen(handler, onCancel: {})
    }

    /// Every committed change, as an async stream. Listening stops when the consuming
    /// task is cancelled or the stream is released; the stream finishes on `close()`.
    public func changes() -> AsyncStream<StoreChange> {
        AsyncStream { continuation in
            let token = listen({ continuation.yield($0) }, onCancel: { continuation.finish() })
            continuation.onTermination = { _ in token.cancel() }
        }
    }

    private func listen(_ handler: @escaping @Sendable (StoreChange) -> Void,
                        onCancel: @escaping () -> Void) -> ListenerToken {
        let store = ffi
        let registry = listeners
        let token = listeners.add { key in
            let handle = store.addChangeListener(listener: ClosureListener(handler))
            return ListenerToken {
                store.removeChangeListener(handle: handle)
                registry.remove(key)
                onCancel()
            }
        }
        return token ?? .cancelled(onCancel)
    }
}
