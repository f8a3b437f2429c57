package org.fieldsync

import org.fieldsync.ffi.ErrorParam
import org.fieldsync.ffi.FieldsyncException
import org.fieldsync.ffi.errorMessage

/**
 * Errors in the user's language. Every [FieldsyncException] has a stable [errorCode]
 * (`not_found`, `validation`, …) and [errorParams] (ids, field paths, rule codes — never
 * survey content): an app may render them in its own words. [messageIn] gives the
 * engine's default rendering in English or Chinese, from the same catalogue the server's
 * console and CLI use.
 */
object ErrorLanguage {
    /** English. */
    const val ENGLISH: String = "en"

    /** Simplified Chinese. */
    const val CHINESE: String = "zh-CN"
}

/** The stable code of this error, the same in every language and release. */
val FieldsyncException.errorCode: String
    get() = when (this) {
        is FieldsyncException.NotFound -> "not_found"
        is FieldsyncException.Validation -> "validation"
        is FieldsyncException.Immutable -> "immutable"
        is FieldsyncException.WrongKey -> "wrong_key"
        is FieldsyncException.Corrupt -> "corrupt"
        is FieldsyncException.StoreMovedAside -> "store_moved_aside"
        is FieldsyncException.StorageFull -> "storage_full"
        is FieldsyncException.ReadOnly -> "read_only"
        is FieldsyncException.Storage -> "storage"
        is FieldsyncException.Unauthorized -> "unauthorized"
        is FieldsyncException.Network -> "network"
        is FieldsyncException.Conflict -> "conflict"
        is FieldsyncException.InvalidArgument -> "invalid_argument"
        is FieldsyncException.Closed -> "closed"
        is FieldsyncException.Internal -> "internal"
    }

/** The parameters of this error by name (a validation error's rule code is `rule`). */
val FieldsyncException.errorParams: Map<String, String>
    get() = when (this) {
        is FieldsyncException.NotFound -> mapOf("id" to id)
        is FieldsyncException.Validation -> mapOf("field" to field, "rule" to code, "message" to reason)
        is FieldsyncException.Immutable -> mapOf("id" to id)
        is FieldsyncException.Corrupt -> mapOf("id" to id, "detail" to detail)
        is FieldsyncException.StoreMovedAside -> mapOf("moved_to" to movedTo)
        is FieldsyncException.Storage -> mapOf("message" to reason)
        is FieldsyncException.Unauthorized -> mapOf("message" to reason)
        is FieldsyncException.Network -> mapOf("message" to reason)
        is FieldsyncException.Conflict -> mapOf("message" to reason)
        is FieldsyncException.InvalidArgument -> mapOf("message" to reason)
        is FieldsyncException.Internal -> mapOf("message" to reason)
        is FieldsyncException.WrongKey, is FieldsyncException.StorageFull,
        is FieldsyncException.ReadOnly, is FieldsyncException.Closed -> emptyMap()
    }

/**
 * The default text of this error in [language] ([ErrorLanguage.ENGLISH],
 * [ErrorLanguage.CHINESE], or a tag like `zh` or `en-GB`; any other gets English).
 */
fun FieldsyncException.messageIn(language: String): String =
    errorMessage(errorCode, errorParams.map { (k, v) -> ErrorParam(k, v) }, language)
