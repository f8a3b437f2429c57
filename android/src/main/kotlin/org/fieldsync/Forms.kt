package org.fieldsync

import org.fieldsync.ffi.FormEvaluation
import org.fieldsync.ffi.FormNode
import org.fieldsync.ffi.NodeState

// Small helpers over the generated form-engine records (the calls are on FieldSyncStore:
// startResponse, evaluate, offeredChoices, setAnswer, clearAnswer, addRepeatInstance,
// completeResponse). Instance paths are List<Int> here, List<UInt> in the generated API.

/**
 * The node [question] in the repeat instance [instance] (0-based index in each enclosing
 * repeat, outermost first; empty outside repeats).
 */
fun formNode(question: String, instance: List<Int> = emptyList()): FormNode =
    FormNode(question, instance.toUIntArgs("instance"))

/** [FormNode.instance] as `Int`s: the path [FieldSyncStore.addRepeatInstance] returns. */
val FormNode.path: List<Int> get() = instance.toInts()

/** The state of [question] (in [instance]), or null if the form has no such node. */
fun FormEvaluation.node(question: String, instance: List<Int> = emptyList()): NodeState? {
    val at = formNode(question, instance)
    return nodes.firstOrNull { it.node == at }
}
