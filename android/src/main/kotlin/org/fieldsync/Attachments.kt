package org.fieldsync

import java.io.File
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import org.fieldsync.ffi.AttachmentRef
import org.fieldsync.ffi.BlobProgressListener
import org.fieldsync.ffi.BlobStatus
import org.fieldsync.ffi.BlobTransferReport
import org.fieldsync.ffi.FieldsyncException

// Attachments (photos, signatures, voice notes): stored sealed on the device by SHA-256,
// uploaded and fetched by the sync client in resumable 256 KiB chunks on their own
// streams, below document sync. Downscaling images is the app's job.

/** Progress of one attachment transfer, after each acknowledged chunk. */
data class BlobProgress(val sha256: String, val upload: Boolean, val chunksDone: Int, val chunksTotal: Int) {
    /** 0.0 .. 1.0. */
    val fraction: Double get() = if (chunksTotal == 0) 1.0 else chunksDone.toDouble() / chunksTotal
}

/** Attach [file] to visit [visitId]; returns the reference now in the visit's attachments. */
@Throws(FieldsyncException::class)
fun FieldSyncStore.attachToVisit(visitId: String, file: File, mediaType: String, name: String = file.name): AttachmentRef =
    ffi.attachToVisit(visitId, file.path, mediaType, name)

/** Attach [file] as the answer to attachment question [questionId] of response [responseId]. */
@Throws(FieldsyncException::class)
fun FieldSyncStore.attachToResponse(
    responseId: String,
    questionId: String,
    file: File,
    mediaType: String,
    name: String = file.name,
): AttachmentRef = ffi.attachToResponse(responseId, questionId, file.path, mediaType, name)

/** Where blob [sha256] stands on this device; null if this device has never seen it. */
@Throws(FieldsyncException::class)
fun FieldSyncStore.blobStatus(sha256: String): BlobStatus? = ffi.blobStatus(sha256)

/** Blobs document [id] references that are not on this device yet (fetch them when it is opened). */
@Throws(FieldsyncException::class)
fun FieldSyncStore.missingBlobs(id: String): List<String> = ffi.missingBlobs(id)

/** Write blob [sha256] to [to], verified; [FieldsyncException.NotFound] if it is not here yet. */
@Throws(FieldsyncException::class)
fun FieldSyncStore.exportBlob(sha256: String, to: File) = ffi.exportBlob(sha256, to.path)

/** Keep downloaded attachments within [bytes] (null: no limit); un-uploaded ones are never evicted. */
@Throws(FieldsyncException::class)
fun FieldSyncStore.setBlobQuota(bytes: Long?) {
    require(bytes == null || bytes >= 0) { "a quota is at least 0 bytes" }
    ffi.setBlobQuota(bytes?.toULong())
}

/** Upload what the server lacks (and download the eager scopes' attachments), now (blocking). */
@Throws(FieldsyncException::class)
fun Sync.transferBlobsNow(): BlobTransferReport = ffi.transferBlobsNow()

/** [transferBlobsNow] on [Dispatchers.IO]. */
@Throws(FieldsyncException::class)
suspend fun Sync.transferBlobs(): BlobTransferReport = withContext(Dispatchers.IO) { transferBlobsNow() }

/** Fetch every attachment of document [id] not here yet (blocking; call when the app opens it). */
@Throws(FieldsyncException::class)
fun Sync.fetchDocumentBlobs(id: String): BlobTransferReport = ffi.fetchDocumentBlobs(id)

/** [fetchDocumentBlobs] on [Dispatchers.IO]. */
@Throws(FieldsyncException::class)
suspend fun Sync.fetchAttachments(id: String): BlobTransferReport = withContext(Dispatchers.IO) { fetchDocumentBlobs(id) }

/** Fetch blob [sha256] (resuming an interrupted download). */
@Throws(FieldsyncException::class)
fun Sync.fetchBlob(sha256: String): BlobTransferReport = ffi.fetchBlob(sha256)

/** Download the attachments of these scopes as soon as their documents arrive. */
@Throws(FieldsyncException::class)
fun Sync.setEagerBlobScopes(scopes: List<String>) = ffi.setEagerBlobScopes(scopes)

/**
 * Call [listener] after each acknowledged chunk, on an engine thread (null stops). A
 * listener that throws is reported to [FieldSync.onListenerError], never to the engine.
 */
fun Sync.setBlobProgressListener(listener: ((BlobProgress) -> Unit)?) {
    ffi.setBlobProgressListener(
        listener?.let { l ->
            object : BlobProgressListener {
                override fun onProgress(sha256: String, upload: Boolean, chunksDone: UInt, chunksTotal: UInt) {
                    try {
                        l(BlobProgress(sha256, upload, chunksDone.toInt(), chunksTotal.toInt()))
                    } catch (t: Throwable) {
                        FieldSync.reportListenerError(t)
                    }
                }
            }
        },
    )
}
