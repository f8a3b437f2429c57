package org.fieldsync

import java.io.File
import java.nio.file.Files
import kotlin.system.exitProcess

// A self-contained test runner (no JUnit, no Gradle): each test is a named function; a
// test passes if it returns and fails if it throws or outlives its time limit. Prints
// PASS/FAIL per test and a closing "N passed, N failed" line; exits non-zero on any failure.

class Test(val name: String, val timeoutSeconds: Long = 120, val body: () -> Unit)

fun fail(message: String): Nothing = throw AssertionError(message)

fun assertTrue(condition: Boolean, message: () -> String = { "expected true" }) {
    if (!condition) fail(message())
}

fun <T> assertEquals(expected: T, actual: T, what: String = "value") {
    if (expected != actual) fail("$what: expected <$expected>, got <$actual>")
}

inline fun <reified T : Throwable> assertThrows(block: () -> Unit): T {
    try {
        block()
    } catch (t: Throwable) {
        if (t is T) return t
        throw AssertionError("expected ${T::class.java.name}, got ${t.javaClass.name}: ${t.message}", t)
    }
    fail("expected ${T::class.java.name}, nothing was thrown")
}

/** Poll [condition] until it holds or [timeoutMillis] pass; returns whether it held. */
fun eventually(timeoutMillis: Long = 10_000, condition: () -> Boolean): Boolean {
    val deadline = System.nanoTime() + timeoutMillis * 1_000_000
    while (System.nanoTime() < deadline) {
        if (condition()) return true
        Thread.sleep(20)
    }
    return condition()
}

/** A fresh temporary folder, deleted after [block]. */
fun <T> withTempDir(block: (File) -> T): T {
    val dir = Files.createTempDirectory("fieldsync-kt").toFile()
    try {
        return block(dir)
    } finally {
        dir.deleteRecursively()
    }
}

/** Run [tests] (those named in [only], if any), print results, and exit. */
fun runTests(tests: List<Test>, only: List<String> = emptyList()): Nothing {
    val selected = if (only.isEmpty()) tests else tests.filter { t -> only.any { t.name.contains(it) } }
    if (selected.isEmpty()) {
        println("no test matches ${only.joinToString()}")
        exitProcess(2)
    }
    var passed = 0
    var failed = 0
    for (test in selected) {
        val started = System.nanoTime()
        var error: Throwable? = null
        // Each test on its own daemon thread, so a hung native call cannot hang the run.
        val thread = Thread({
            try {
                test.body()
            } catch (t: Throwable) {
                error = t
            }
        }, "test: ${test.name}")
        thread.isDaemon = true
        thread.start()
        thread.join(test.timeoutSeconds * 1000)
        if (thread.isAlive) error = AssertionError("timed out after ${test.timeoutSeconds} s")
        val ms = (System.nanoTime() - started) / 1_000_000
        val e = error
        if (e == null) {
            passed++
            println("PASS ${test.name} (${ms} ms)")
        } else {
            failed++
            println("FAIL ${test.name} (${ms} ms): ${e.javaClass.name}: ${e.message}")
            e.printStackTrace(System.out)
        }
        System.out.flush()
    }
    println("$passed passed, $failed failed")
    System.out.flush()
    exitProcess(if (failed == 0) 0 else 1)
}
