// The Swift face of the sync client: enrol, sync now, background sync, progress.
import Foundation
#if canImport(FieldSyncFFI)
import FieldSyncFFI
#endif

/// What happened in one sync.
public enum SyncEvent: Sendable {
    /// A sync finished.
    case synced(SyncReport)
    /// A sync failed (the device keeps everything; it retries).
    case failed(FieldsyncError)
}

final class ProgressFanOut: SyncProgressListener, @unchecked Sendable {
    private var handlers: [UUID: @Sendable (SyncEvent) -> Void] = [:]
    private let lock = NSLock()

    func add(_ h: @escaping @Sendable (SyncEvent) -> Void) -> UUID {
        lock.lock()
        defer { lock.unlock() }
        let id = UUID()
        handlers[id] = h
        return id
    }

    func remove(_ id: UUID) {
        lock.lock()
        defer { lock.unlock() }
        handlers[id] = nil
    }

    func onSync(report: SyncReport?, error: FieldsyncError?) {
        lock.lock()
        let hs = Array(handlers.values)
        lock.unlock()
        let event: SyncEvent? = report.map { .synced($0) } ?? error.map { .failed($0) }
        guard let event else { return }
        for h in hs { h(event) }
    }
}

/// Syncs one store with its server. Calls block: use them off the main thread.
/// Releasing it stops background sync. Progress goes to `onSync`/`events()` (this
/// wrapper owns the client's progress listener: do not replace it through `ffi`).
public final class Sync: @unchecked Sendable {
    /// The generated object.
    public let ffi: SyncClient
    private let fanOut = ProgressFanOut()

    /// A sync client for `store`.
    public init(_ store: FieldSyncStore) throws {
        ffi = try SyncClient(store: store.ffi)
        ffi.setProgressListener(listener: fanOut)
    }

    /// Enrol this device with the link from an enrolment QR code (works once).
    @discardableResult
    public func enrol(link: String, deviceName: String) throws -> Enrolment {
        try ffi.enrol(link: link, deviceName: deviceName)
    }

    /// Push everything not yet on the server, pull everything new, now.
    @discardableResult
    public func syncNow() throws -> SyncReport { try ffi.syncNow() }

    /// Keep syncing in the background: stay connected, sync when the server says
    /// something changed, shortly after local writes, and every `interval` seconds.
    public func startBackground(interval: TimeInterval) {
        let seconds = interval.isFinite ? UInt32(clamping: Int64(max(1, min(interval.rounded(), Double(UInt32.max))))) : UInt32.max
        ffi.startBackground(intervalSeconds: seconds)
    }

    /// Stop background sync.
    public func stopBackground() { ffi.stopBackground() }

    /// What the client is doing.
    public func status() throws -> SyncStatus { try ffi.status() }

    /// Call `handler` (on an engine thread) after every sync, until the token is released.
    public func onSync(_ handler: @escaping @Sendable (SyncEvent) -> Void) -> ListenerToken {
        let id = fanOut.add(handler)
        let fan = fanOut
        return ListenerToken { fan.remove(id) }
    }

    /// Every sync, as an async stream; listening stops when the consuming task is
    /// cancelled or the stream is released.
    public func events() -> AsyncStream<SyncEvent> {
        AsyncStream { continuation in
            let token = onSync { continuation.yield($0) }
            continuation.onTermination = { _ in token.cancel() }
        }
    }

    /// Connect to `host:port` instead of the enrolled address (emulators, test servers).
    public func setServerAddress(_ address: String?) throws {
        try ffi.setServerAddress(address: address)
    }
}
