// Attachments (photos, signatures, voice notes): stored sealed on the device by SHA-256,
// uploaded and fetched by the sync client in resumable 256 KiB chunks on their own
// streams, below document sync. Downscaling images is the app's job.
import Foundation
#if canImport(FieldSyncFFI)
import FieldSyncFFI
#endif

/// Progress of one attachment transfer, after each acknowledged chunk.
public struct BlobProgress: Sendable, Equatable {
    public let sha256: String
    public let upload: Bool
    public let chunksDone: Int
    public let chunksTotal: Int
    public init(sha256: String, upload: Bool, chunksDone: Int, chunksTotal: Int) {
        self.sha256 = sha256
        self.upload = upload
        self.chunksDone = chunksDone
        self.chunksTotal = chunksTotal
    }
    /// 0.0 ... 1.0.
    public var fraction: Double { chunksTotal == 0 ? 1 : Double(chunksDone) / Double(chunksTotal) }
}

final class BlobProgressAdapter: BlobProgressListener, @unchecked Sendable {
    private let handler: @Sendable (BlobProgress) -> Void
    init(_ handler: @escaping @Sendable (BlobProgress) -> Void) { self.handler = handler }
    func onProgress(sha256: String, upload: Bool, chunksDone: UInt32, chunksTotal: UInt32) {
        handler(BlobProgress(sha256: sha256, upload: upload, chunksDone: Int(chunksDone), chunksTotal: Int(chunksTotal)))
    }
}

extension FieldSyncStore {
    /// Attach the file at `url` to visit `id`; returns the reference now in the visit.
    @discardableResult
    public func attach(_ url: URL, toVisit id: String, mediaType: String, name: String? = nil) throws -> AttachmentRef {
        try ffi.attachToVisit(id: id, path: url.path, mediaType: mediaType, name: name ?? url.lastPathComponent)
    }

    /// Attach the file at `url` as the answer to attachment question `question` of response `id`.
    @discardableResult
    public func attach(_ url: URL, toResponse id: String, question: String, mediaType: String, name: String? = nil) throws -> AttachmentRef {
        try ffi.attachToResponse(id: id, questionId: question, path: url.path, mediaType: mediaType, name: name ?? url.lastPathComponent)
    }

    /// Where blob `sha256` stands on this device; nil if this device has never seen it.
    public func blobStatus(_ sha256: String) throws -> BlobStatus? { try ffi.blobStatus(sha256: sha256) }

    /// Blobs document `id` references that are not on this device yet.
    public func missingBlobs(_ id: String) throws -> [String] { try ffi.missingBlobs(id: id) }

    /// Write blob `sha256` to `url`, verified; `.NotFound` if it is not here yet.
    public func exportBlob(_ sha256: String, to url: URL) throws { try ffi.exportBlob(sha256: sha256, path: url.path) }

    /// Keep downloaded attachments within `bytes` (nil: no limit); un-uploaded ones are never evicted.
    public func setBlobQuota(_ bytes: UInt64?) throws { try ffi.setBlobQuota(bytes: bytes) }
}

extension Sync {
    /// Upload what the server lacks (and download the eager scopes' attachments), now.
    @discardableResult
    public func transferBlobsNow() throws -> BlobTransferReport { try ffi.transferBlobsNow() }

    /// Fetch every attachment of document `id` not here yet (call when the app opens it).
    @discardableResult
    public func fetchAttachments(of id: String) throws -> BlobTransferReport { try ffi.fetchDocumentBlobs(id: id) }

    /// Fetch blob `sha256` (resuming an interrupted download).
    @discardableResult
    public func fetchBlob(_ sha256: String) throws -> BlobTransferReport { try ffi.fetchBlob(sha256: sha256) }

    /// Download the attachments of these scopes as soon as their documents arrive.
    public func setEagerBlobScopes(_ scopes: [String]) throws { try ffi.setEagerBlobScopes(scopes: scopes) }

    /// Call `handler` after each acknowledged chunk, on an engine thread (nil stops).
    public func onBlobProgress(_ handler: (@Sendable (BlobProgress) -> Void)?) {
        ffi.setBlobProgressListener(listener: handler.map { BlobProgressAdapter($0) })
    }
}
