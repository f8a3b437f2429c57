package org.fieldsync

import java.io.Closeable
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicBoolean
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import org.fieldsync.ffi.Account
import org.fieldsync.ffi.AccountSummary
import org.fieldsync.ffi.Answer
import org.fieldsync.ffi.Case
import org.fieldsync.ffi.CaseStage
import org.fieldsync.ffi.CaseSummary
import org.fieldsync.ffi.ChangeListener
import org.fieldsync.ffi.ChangeOrigin
import org.fieldsync.ffi.Choice
import org.fieldsync.ffi.Conflict
import org.fieldsync.ffi.FieldStore
import org.fieldsync.ffi.FieldsyncException
import org.fieldsync.ffi.Form
import org.fieldsync.ffi.FormEvaluation
import org.fieldsync.ffi.FormLocale
import org.fieldsync.ffi.FormSummary
import org.fieldsync.ffi.HistoryEntry
import org.fieldsync.ffi.NewCase
import org.fieldsync.ffi.OpenCommitment
import org.fieldsync.ffi.Response
import org.fieldsync.ffi.ResponseFilter
import org.fieldsync.ffi.ResponsePage
import org.fieldsync.ffi.Visit
import org.fieldsync.ffi.VisitPage

/** Records [ids] changed, made here ([ChangeOrigin.LOCAL]) or received by sync ([ChangeOrigin.REMOTE]). */
data class Change(val ids: List<String>, val origin: ChangeOrigin) {
    val isRemote: Boolean get() = origin == ChangeOrigin.REMOTE
}

/**
 * An open device store (see [FieldSync.open]). Safe to use from any thread; every call
 * blocks. [close] it when done — `FieldSync.open(...).use { store -> ... }` — after which
 * calls fail with [FieldsyncException.Closed]. Scopes are names like `team:default` or
 * `account:acme`.
 */
class FieldSyncStore internal constructor(private val store: FieldStore) : Closeable {
    private val closed = AtomicBoolean(false)
    private val registrations = ConcurrentHashMap.newKeySet<Registration>()

    /** The generated object, for anything this adapter does not wrap. */
    val ffi: FieldStore
        get() {
            if (closed.get()) throw FieldsyncException.Closed()
            return store
        }

    /** Whether [close] was called. */
    val isClosed: Boolean get() = closed.get()

    // ----- accounts ------------------------------------------------------------------

    /** Create an account in [scope]; returns its id. */
    @Throws(FieldsyncException::class)
    fun createAccount(scope: String, account: Account): String = ffi.createAccount(scope, account)

    /** Read an account. */
    @Throws(FieldsyncException::class)
    fun account(id: String): Account = ffi.getAccount(id)

    /** Replace an account's fields; returns whether anything changed. */
    @Throws(FieldsyncException::class)
    fun updateAccount(id: String, account: Account): Boolean = ffi.updateAccount(id, account)

    /** Accounts owned or co-owned by [owner] (all when null), by name. */
    @Throws(FieldsyncException::class)
    fun accounts(owner: String? = null, region: String? = null): List<AccountSummary> =
        ffi.listAccounts(owner, region)

    // ----- visits --------------------------------------------------------------------

    /** Record a visit in [scope]; returns its id. */
    @Throws(FieldsyncException::class)
    fun createVisit(scope: String, visit: Visit): String = ffi.createVisit(scope, visit)

    /** Read a visit. */
    @Throws(FieldsyncException::class)
    fun visit(id: String): Visit = ffi.getVisit(id)

    /** Replace a visit's fields; notes are diffed into edits, so concurrent note edits merge. */
    @Throws(FieldsyncException::class)
    fun updateVisit(id: String, visit: Visit): Boolean = ffi.updateVisit(id, visit)

    /** Insert [text] into a visit's notes at character [position] (clamped to the end). */
    @Throws(FieldsyncException::class)
    fun insertVisitNote(id: String, position: Int, text: String) =
        ffi.insertVisitNote(id, position.toUIntArg("position"), text)

    /** Visits to [accountId] and/or by [owner], latest planned first. */
    @Throws(FieldsyncException::class)
    fun visits(
        accountId: String? = null,
        owner: String? = null,
        limit: Int = FieldSync.DEFAULT_PAGE_SIZE,
        after: String? = null,
    ): VisitPage = ffi.listVisits(accountId, owner, limit.toUIntArg("limit"), after)

    /** Open commitments (of [owner], or all), soonest due first. */
    @Throws(FieldsyncException::class)
    fun openCommitments(
        owner: String? = null,
        dueBefore: Long? = null,
        limit: Int = FieldSync.DEFAULT_PAGE_SIZE,
    ): List<OpenCommitment> = ffi.openCommitments(owner, dueBefore, limit.toUIntArg("limit"))

    // ----- forms and responses -------------------------------------------------------

    /** Store a form version in [scope]; returns its id. */
    @Throws(FieldsyncException::class)
    fun createForm(scope: String, form: Form): String = ffi.createForm(scope, form)

    /** Read a form version. */
    @Throws(FieldsyncException::class)
    fun form(id: String): Form = ffi.getForm(id)

    /** Form versions (of [formKey], or all), newest first. */
    @Throws(FieldsyncException::class)
    fun forms(formKey: String? = null): List<FormSummary> = ffi.listForms(formKey)

    /** Save a response in [scope] (validated against its form); returns its id. */
    @Throws(FieldsyncException::class)
    fun createResponse(scope: String, response: Response): String = ffi.createResponse(scope, response)

    /** Read a response. */
    @Throws(FieldsyncException::class)
    fun response(id: String): Response = ffi.getResponse(id)

    /** Replace a response's fields (validated). */
    @Throws(FieldsyncException::class)
    fun updateResponse(id: String, response: Response): Boolean = ffi.updateResponse(id, response)

    /** Responses matching [filter] (see [responseFilter]), newest first; pass `next` back as [after]. */
    @Throws(FieldsyncException::class)
    fun responses(
        filter: ResponseFilter = responseFilter(),
        limit: Int = FieldSync.DEFAULT_PAGE_SIZE,
        after: String? = null,
    ): ResponsePage = ffi.listResponses(filter, limit.toUIntArg("limit"), after)

    // ----- filling in a form (the forms engine) --------------------------------------
    //
    // [language] is `en`, `zh-CN` or one of the form's language names (`English (en)`);
    // null means the form's default texts. [utcOffsetMinutes] is the device's offset from
    // UTC, for `today()`, `now()` and the start and end times. Instance paths are 0-based
    // indexes in each enclosing repeat, outermost first; empty outside repeats.

    /**
     * Start a draft response to form version [formId] (published, e.g. imported with
     * [FieldSync.XlsForm]) in [scope]: the form's defaults and metadata (start time,
     * day, device, user) are filled in.
     *
     * @return the response id.
     */
    @Throws(FieldsyncException::class)
    fun startResponse(
        scope: String,
        formId: String,
        region: String,
        language: String? = null,
        utcOffsetMinutes: Int = FieldSync.deviceUtcOffsetMinutes(),
    ): String = ffi.startResponse(scope, formId, region, FormLocale(language, utcOffsetMinutes))

    /**
     * Evaluate response [responseId] against its form: which questions are shown,
     * required, read-only, their values (calculations included), labels in [language],
     * and every problem that stops completion. Call it after each answer to refresh the
     * screen; find a node with [FormEvaluation.node].
     */
    @Throws(FieldsyncException::class)
    fun evaluate(
        responseId: String,
        language: String? = null,
        utcOffsetMinutes: Int = FieldSync.deviceUtcOffsetMinutes(),
    ): FormEvaluation = ffi.evaluateResponse(responseId, FormLocale(language, utcOffsetMinutes))

    /**
     * The choices select question [question] (in [instance]) offers now, its choice
     * filter applied, labelled in [language].
     */
    @Throws(FieldsyncException::class)
    fun offeredChoices(
        responseId: String,
        question: String,
        instance: List<Int> = emptyList(),
        language: String? = null,
        utcOffsetMinutes: Int = FieldSync.deviceUtcOffsetMinutes(),
    ): List<Choice> =
        ffi.offeredChoices(responseId, formNode(question, instance), FormLocale(language, utcOffsetMinutes))

    /**
     * Set the answer to [question] in repeat instance [instance] (top level when empty),
     * checked against the question's type, choices and scale.
     *
     * @return whether anything changed.
     * @throws FieldsyncException.Validation e.g. `score_out_of_range`, `unknown_choice`,
     *   or `unknown_node` for a question or instance the response does not have.
     */
    @Throws(FieldsyncException::class)
    fun setAnswer(responseId: String, question: String, instance: List<Int> = emptyList(), answer: Answer): Boolean =
        ffi.setFormAnswer(responseId, formNode(question, instance), answer)

    /** Set the answer to top-level [question] (see the overload with an instance path). */
    @Throws(FieldsyncException::class)
    fun setAnswer(responseId: String, question: String, answer: Answer): Boolean =
        setAnswer(responseId, question, emptyList(), answer)

    /** Remove the answer to [question] (in [instance]); returns whether there was one. */
    @Throws(FieldsyncException::class)
    fun clearAnswer(responseId: String, question: String, instance: List<Int> = emptyList()): Boolean =
        ffi.setFormAnswer(responseId, formNode(question, instance), null)

    /**
     * Add an instance to [repeat] (inside the instances [parent] of its enclosing repeats;
     * empty for a top-level repeat).
     *
     * @return the new instance's path, for [setAnswer] and [evaluate]'s nodes.
     */
    @Throws(FieldsyncException::class)
    fun addRepeatInstance(responseId: String, repeatId: String, parent: List<Int> = emptyList()): List<Int> =
        ffi.addRepeatInstance(responseId, repeatId, parent.toUIntArgs("parent")).toInts()

    /**
     * Mark the response complete: calculations and the end time are written after every
     * required answer and constraint is checked.
     *
     * @return false if it was already complete.
     * @throws FieldsyncException.Validation for the first problem (e.g. `answers.segment`,
     *   `required`); nothing is written then. [evaluate] lists them all.
     */
    @Throws(FieldsyncException::class)
    fun completeResponse(
        responseId: String,
        language: String? = null,
        utcOffsetMinutes: Int = FieldSync.deviceUtcOffsetMinutes(),
    ): Boolean = ffi.completeResponse(responseId, FormLocale(language, utcOffsetMinutes))

    // ----- cases ---------------------------------------------------------------------

    /** Open a complaint (starts as `RECEIVED`); returns its id. */
    @Throws(FieldsyncException::class)
    fun createCase(scope: String, case: NewCase): String = ffi.createCase(scope, case)

    /** Read a case. */
    @Throws(FieldsyncException::class)
    fun case(id: String): Case = ffi.getCase(id)

    /** Edit a case's fields (not its stage: see [advanceCase]). */
    @Throws(FieldsyncException::class)
    fun updateCase(id: String, case: Case): Boolean = ffi.updateCase(id, case)

    /** Move a case to [stage] (legal steps only). */
    @Throws(FieldsyncException::class)
    fun advanceCase(id: String, stage: CaseStage, by: String, at: Long = System.currentTimeMillis()) =
        ffi.advanceCase(id, stage, by, at)

    /** Cases (of [owner]; only open; only overdue at [overdueAt]). */
    @Throws(FieldsyncException::class)
    fun cases(
        owner: String? = null,
        openOnly: Boolean = false,
        overdueAt: Long? = null,
        limit: Int = FieldSync.DEFAULT_PAGE_SIZE,
    ): List<CaseSummary> = ffi.listCases(owner, openOnly, overdueAt, limit.toUIntArg("limit"))

    // ----- any record ----------------------------------------------------------------

    /** `form`, `response`, `account`, `visit` or `case`. */
    @Throws(FieldsyncException::class)
    fun kindOf(id: String): String = ffi.kindOf(id)

    /** Fields two people changed at once: the value shown and the values that lost (JSON). */
    @Throws(FieldsyncException::class)
    fun conflicts(id: String): List<Conflict> = ffi.conflicts(id)

    /** Resolve the conflict at [fieldPath] with [valueJson]. */
    @Throws(FieldsyncException::class)
    fun resolveConflict(id: String, fieldPath: String, valueJson: String) =
        ffi.resolveConflict(id, fieldPath, valueJson)

    /** Who changed [fieldPath] (or anything under it), on which device, when. */
    @Throws(FieldsyncException::class)
    fun fieldHistory(id: String, fieldPath: String): List<HistoryEntry> = ffi.fieldHistory(id, fieldPath)

    /** Every change of a record. */
    @Throws(FieldsyncException::class)
    fun history(id: String): List<HistoryEntry> = ffi.history(id)

    /** Changes not yet acknowledged by the server. */
    @Throws(FieldsyncException::class)
    fun pendingChanges(): Long = ffi.pendingChanges().toLong()

    /** Test hook: make the engine panic; arrives as [FieldsyncException.Internal]. */
    @Throws(FieldsyncException::class)
    fun debugInducePanic() = ffi.debugInducePanic()

    // ----- change notifications -------------------------------------------------------

    /**
     * Call [listener] after every committed change, on an engine thread (hop to the main
     * thread before touching UI). Close the returned handle to stop.
     */
    @Throws(FieldsyncException::class)
    fun addChangeListener(listener: (Change) -> Unit): Closeable = register(listener) {}

    /**
     * Committed changes as a cold [Flow]: collecting registers a listener, cancelling the
     * collector unregisters it, and the flow completes when the store is closed.
     * Buffered without limit, so the engine thread never waits for the collector.
     */
    fun changes(): Flow<Change> = callbackFlow {
        val registration = register({ trySend(it) }) { channel.close() }
        awaitClose { registration.close() }
    }.buffer(Channel.UNLIMITED)

    private fun register(listener: (Change) -> Unit, onStoreClosed: () -> Unit): Registration {
        val callback = object : ChangeListener {
            override fun onChange(ids: List<String>, origin: ChangeOrigin) {
                try {
                    listener(Change(ids, origin))
                } catch (t: Throwable) {
                    FieldSync.reportListenerError(t)
                }
            }
        }
        val r = Registration(ffi.addChangeListener(callback), onStoreClosed)
        registrations.add(r)
        if (closed.get()) r.storeClosed() // closed while registering
        return r
    }

    private inner class Registration(
        private val handle: ULong,
        private val onStoreClosed: () -> Unit,
    ) : Closeable {
        private val done = AtomicBoolean(false)

        override fun close() {
            if (!done.compareAndSet(false, true)) return
            registrations.remove(this)
            if (!closed.get()) {
                // Only fails if the store is being closed right now; then nothing is left to remove.
                runCatching { store.removeChangeListener(handle) }
            }
        }

        fun storeClosed() {
            if (done.compareAndSet(false, true)) {
                registrations.remove(this)
                onStoreClosed()
            }
        }
    }

    // ----- lifecycle -------------------------------------------------------------------

    /**
     * Close the store: running work is interrupted, later calls fail with
     * [FieldsyncException.Closed], change flows complete, and the native handle is freed.
     * Everything written stays written. Idempotent.
     */
    override fun close() {
        if (!closed.compareAndSet(false, true)) return
        registrations.toList().forEach { it.storeClosed() }
        try {
            store.closeStore()
        } finally {
            store.destroy()
        }
    }
}
