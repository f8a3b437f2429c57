package org.fieldsync

import java.io.Closeable
import java.util.concurrent.CopyOnWriteArraySet
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.time.Duration
import kotlin.time.Duration.Companion.minutes
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.withContext
import org.fieldsync.ffi.Enrolment
import org.fieldsync.ffi.FieldsyncException
import org.fieldsync.ffi.SyncClient
import org.fieldsync.ffi.SyncProgressListener
import org.fieldsync.ffi.SyncReport
import org.fieldsync.ffi.SyncStatus

/** How one sync went (background or [Sync.syncNow]). */
sealed interface SyncEvent {
    /** The sync succeeded. */
    data class Synced(val report: SyncReport) : SyncEvent

    /** The sync failed; background sync retries with backoff. */
    data class Failed(val error: FieldsyncException) : SyncEvent
}

/**
 * Syncs one store with its server. Calls block (use them off the main thread, or the
 * suspending [sync]). [close] stops background sync and frees the native client; the
 * store stays open.
 */
class Sync @Throws(FieldsyncException::class) constructor(store: FieldSyncStore) : Closeable {
    private val client = SyncClient(store.ffi)
    private val closed = AtomicBoolean(false)
    private val listeners = CopyOnWriteArraySet<Entry>()
    private val observerInstalled = AtomicBoolean(false)

    /** The generated object, for anything this adapter does not wrap. */
    val ffi: SyncClient
        get() {
            if (closed.get()) throw FieldsyncException.Closed()
            return client
        }

    /** Enrol this device with the link from an enrolment QR code (works once). */
    @Throws(FieldsyncException::class)
    fun enrol(link: String, deviceName: String): Enrolment = ffi.enrol(link, deviceName)

    /** Connect to `host:port` instead of the enrolled address (emulators, test servers); null resets. */
    @Throws(FieldsyncException::class)
    fun setServerAddress(address: String?) = ffi.setServerAddress(address)

    /** Push what the server lacks and pull what is new, now (blocking). */
    @Throws(FieldsyncException::class)
    fun syncNow(): SyncReport = ffi.syncNow()

    /** [syncNow] on [Dispatchers.IO]. */
    @Throws(FieldsyncException::class)
    suspend fun sync(): SyncReport = withContext(Dispatchers.IO) { syncNow() }

    /**
     * Keep syncing in the background: stay connected, sync when the server announces
     * changes, shortly after local writes, and every [interval] (at least one second).
     */
    @Throws(FieldsyncException::class)
    fun startBackground(interval: Duration = 15.minutes) {
        val seconds = interval.inWholeSeconds.coerceIn(1L, UInt.MAX_VALUE.toLong())
        ffi.startBackground(seconds.toUInt())
    }

    /** Stop background sync (waits a few seconds at most for a running exchange). */
    @Throws(FieldsyncException::class)
    fun stopBackground() = ffi.stopBackground()

    /** What the client is doing. */
    @Throws(FieldsyncException::class)
    fun status(): SyncStatus = ffi.status()

    /** Call [listener] after every sync, on an engine thread. Close the handle to stop. */
    @Throws(FieldsyncException::class)
    fun addProgressListener(listener: (SyncEvent) -> Unit): Closeable = register(listener) {}

    /**
     * Every sync's outcome as a cold [Flow]: cancelling the collector unregisters it, and
     * the flow completes when this client is closed.
     */
    fun progress(): Flow<SyncEvent> = callbackFlow {
        val registration = register({ trySend(it) }) { channel.close() }
        awaitClose { registration.close() }
    }.buffer(Channel.UNLIMITED)

    private fun register(listener: (SyncEvent) -> Unit, onClientClosed: () -> Unit): Closeable {
        val c = ffi
        val entry = Entry(listener, onClientClosed)
        listeners.add(entry)
        if (closed.get() && listeners.remove(entry)) entry.onClientClosed() // closed meanwhile
        if (observerInstalled.compareAndSet(false, true)) c.setProgressListener(Dispatcher())
        return Closeable { listeners.remove(entry) }
    }

    /** Stop background sync and free the native client. Idempotent. */
    override fun close() {
        if (!closed.compareAndSet(false, true)) return
        listeners.toList().forEach { if (listeners.remove(it)) it.onClientClosed() }
        try {
            client.stopBackground()
            client.setProgressListener(null)
        } finally {
            client.destroy()
        }
    }

    /** One registration (identity, so the same lambda can be added twice). */
    private class Entry(val listener: (SyncEvent) -> Unit, val onClientClosed: () -> Unit)

    /** The one native listener; fans each outcome out to the Kotlin listeners. */
    private inner class Dispatcher : SyncProgressListener {
        override fun onSync(report: SyncReport?, error: FieldsyncException?) {
            val event = when {
                report != null -> SyncEvent.Synced(report)
                else -> SyncEvent.Failed(error ?: FieldsyncException.Internal("sync ended without a report"))
            }
            for (entry in listeners) {
                try {
                    entry.listener(event)
                } catch (t: Throwable) {
                    FieldSync.reportListenerError(t)
                }
            }
        }
    }
}
