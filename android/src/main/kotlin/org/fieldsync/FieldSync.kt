package org.fieldsync

import java.io.File
import java.io.IOException
import java.io.InputStream
import java.util.TimeZone
import org.fieldsync.ffi.Band
import org.fieldsync.ffi.FieldStore
import org.fieldsync.ffi.FieldsyncException
import org.fieldsync.ffi.FormImport
import org.fieldsync.ffi.ResponseFilter
import org.fieldsync.ffi.ResponseStatus
import org.fieldsync.ffi.SegmentKind
import org.fieldsync.ffi.fieldsyncVersion
import org.fieldsync.ffi.importXlsform

/**
 * Entry point of the Kotlin API: a thin adapter over the UniFFI-generated classes in
 * `org.fieldsync.ffi` (records, enums and [FieldsyncException] are used as they are).
 *
 * Every call blocks on disk or network: call it off the main thread (e.g. on
 * `Dispatchers.IO`). Errors arrive as the typed [FieldsyncException] subclasses.
 */
object FieldSync {
    /** Rows per page when a list call is not given a limit. */
    const val DEFAULT_PAGE_SIZE: Int = 50

    /** The engine's version. */
    @JvmStatic
    val version: String
        get() = fieldsyncVersion()

    /**
     * Receives exceptions thrown by the app's own change or progress listeners. They are
     * caught so that they never unwind into the engine thread that called the listener.
     */
    @Volatile
    @JvmStatic
    var onListenerError: (Throwable) -> Unit = { it.printStackTrace() }

    /**
     * Open (or create) the store at [path], sealed under [key] (32 bytes kept in the
     * Android Keystore). [deviceId] and [userId] name who writes.
     *
     * @throws FieldsyncException.WrongKey if the key does not open the store.
     * @throws FieldsyncException.StoreMovedAside if the file was unreadable (moved, never deleted).
     */
    @JvmStatic
    @Throws(FieldsyncException::class)
    fun open(path: String, key: ByteArray, deviceId: String, userId: String): FieldSyncStore =
        FieldSyncStore(FieldStore.open(path, key, deviceId, userId))

    /** [open] with a [File], e.g. `context.filesDir.resolve("fieldsync.db")`. */
    @JvmStatic
    @Throws(FieldsyncException::class)
    fun open(file: File, key: ByteArray, deviceId: String, userId: String): FieldSyncStore =
        open(file.path, key, deviceId, userId)

    /**
     * The device's current offset from UTC in minutes (480 in China), DST included: the
     * default `utcOffsetMinutes` of the form calls on [FieldSyncStore].
     */
    @JvmStatic
    fun deviceUtcOffsetMinutes(): Int = TimeZone.getDefault().getOffset(System.currentTimeMillis()) / 60_000

    /**
     * XLSForm spreadsheets into forms: `FieldSync.XlsForm.import(file)`, then
     * `store.createForm(scope, imported.form!!.copy(published = true, ...))`.
     *
     * Problems in the spreadsheet are not thrown: they are [FormImport.errors] (each names
     * its sheet, row and column), and [FormImport.form] is then null. From Java (where
     * `import` is a keyword) the calls are `FieldSync.XlsForm.importXlsForm(...)`.
     */
    object XlsForm {
        /**
         * Import the spreadsheet in [bytes]; [fileName] picks the format by its extension
         * (`.xlsx`, `.csv` or `.json`).
         *
         * @throws FieldsyncException.InvalidArgument for any other extension.
         */
        @JvmStatic
        @JvmName("importXlsForm")
        @Throws(FieldsyncException::class)
        fun import(bytes: ByteArray, fileName: String): FormImport = importXlsform(bytes, fileName)

        /** [import] the spreadsheet [file] (its name picks the format). */
        @JvmStatic
        @JvmName("importXlsForm")
        @Throws(FieldsyncException::class, IOException::class)
        fun import(file: File): FormImport = import(file.readBytes(), file.name)

        /**
         * [import] a spreadsheet from [input] (read to the end, not closed), e.g. from
         * `contentResolver.openInputStream(uri)`; [fileName] picks the format.
         */
        @JvmStatic
        @JvmName("importXlsForm")
        @Throws(FieldsyncException::class, IOException::class)
        fun import(input: InputStream, fileName: String): FormImport = import(input.readBytes(), fileName)
    }

    internal fun reportListenerError(t: Throwable) {
        try {
            onListenerError(t)
        } catch (ignored: Throwable) {
            // An error handler that throws must not reach the engine either.
        }
    }
}

/** A [ResponseFilter] with every field optional: unset fields do not filter. */
fun responseFilter(
    formId: String? = null,
    status: ResponseStatus? = null,
    region: String? = null,
    segment: SegmentKind? = null,
    core: Boolean? = null,
    band: Band? = null,
    startedFrom: Long? = null,
    startedBefore: Long? = null,
    enumerator: String? = null,
): ResponseFilter = ResponseFilter(
    formId = formId,
    status = status,
    region = region,
    segment = segment,
    core = core,
    band = band,
    startedFrom = startedFrom,
    startedBefore = startedBefore,
    enumerator = enumerator,
)

internal fun Int.toUIntArg(name: String): UInt {
    require(this >= 0) { "$name must not be negative (was $this)" }
    return toUInt()
}

internal fun List<Int>.toUIntArgs(name: String): List<UInt> = map { it.toUIntArg(name) }

/** Instance indexes and counts from the engine (small: never above [Int.MAX_VALUE]). */
internal fun List<UInt>.toInts(): List<Int> = map { it.toInt() }
