// Listener plumbing shared by the store and the sync facade: tokens that unregister on
// cancel/deinit, and a registry that cancels them all when the store closes.
import Foundation
#if canImport(FieldSyncFFI)
// Apps `import FieldSync` only: the generated records, enums and errors come along.
@_exported import FieldSyncFFI
#endif

/// Keeps a listener registered until `cancel()`, its release, or the store's `close()`.
public final class ListenerToken: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelAction: (() -> Void)?

    init(_ cancel: @escaping () -> Void) { cancelAction = cancel }

    /// A token that was never registered (the store was already closed).
    static func cancelled(_ finish: () -> Void = {}) -> ListenerToken {
        finish()
        let t = ListenerToken {}
        t.cancel()
        return t
    }

    /// Stop listening. Idempotent; safe from any thread and from inside the listener.
    public func cancel() {
        lock.lock()
        let action = cancelAction
        cancelAction = nil
        lock.unlock()
        // Outside the lock: the action may finish a stream whose termination handler
        // calls `cancel()` again.
        action?()
    }

    /// Whether the listener is gone.
    public var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelAction == nil
    }

    deinit { cancel() }
}

/// The tokens of one store, weakly held, so `close()` can cancel those still alive.
final class ListenerRegistry: @unchecked Sendable {
    private final class Weak { weak var token: ListenerToken? }
    private let lock = NSLock()
    private var tokens: [UInt64: Weak] = [:]
    private var nextKey: UInt64 = 0
    private(set) var closed = false

    /// Register a token built by `make` (given the key to pass to `remove`); nil once closed.
    func add(_ make: (UInt64) -> ListenerToken) -> ListenerToken? {
        lock.lock()
        defer { lock.unlock() }
        if closed { return nil }
        nextKey += 1
        let token = make(nextKey)
        let w = Weak()
        w.token = token
        tokens[nextKey] = w
        return token
    }

    func remove(_ key: UInt64) {
        lock.lock()
        tokens[key] = nil
        lock.unlock()
    }

    /// Refuse new tokens and cancel the live ones.
    func closeAll() {
        lock.lock()
        closed = true
        let live = tokens.values.compactMap(\.token)
        tokens = [:]
        lock.unlock()
        for t in live { t.cancel() }
    }
}
