// Android library module: the Kotlin facade (src/main/kotlin/org/fieldsync) over the
// UniFFI-generated bindings (package org.fieldsync.ffi) and the Rust library
// libfieldsync_ffi.so for arm64-v8a, armeabi-v7a and x86_64.
//
// Neither the generated Kotlin nor the .so files are committed. Produce both first with
//     android/scripts/build-android.sh        (needs the Android NDK: ANDROID_NDK_HOME)
// which writes the .so files to src/main/jniLibs/<abi>/ and the generated Kotlin to
// ../target/bindings/kotlin, added below as a Kotlin source folder. Another folder can be
// given with -Pfieldsync.bindingsDir=/path/to/kotlin.
//
// The JVM tests in src/test/kotlin run on a desktop JVM against the host library through
// android/scripts/test-jvm (called by scripts/test-bindings); they use no JUnit, so
// `gradle test` compiles them but finds nothing to run.

plugins {
    id("com.android.library") version "8.7.3"
    // Kotlin 2.2: android/scripts/test-jvm compiles with -language-version/-api-version 2.2 to match.
    id("org.jetbrains.kotlin.android") version "2.2.20"
}

val bindingsDir: File = providers.gradleProperty("fieldsync.bindingsDir")
    .map { file(it) }
    .getOrElse(rootDir.parentFile.resolve("target/bindings/kotlin"))

android {
    namespace = "org.fieldsync"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    sourceSets {
        getByName("main") {
            // The generated org/fieldsync/ffi/fieldsync_ffi.kt.
            kotlin.srcDir(bindingsDir)
            // jniLibs default to src/main/jniLibs, where build-android.sh puts the .so files.
        }
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17)
    }
}

dependencies {
    // JNA with its Android natives (libjnidispatch.so per ABI): the aar, not the jar.
    // `api`: the generated classes expose JNA types (RustBuffer is a JNA Structure).
    api("net.java.dev.jna:jna:5.15.0@aar")
    // Flow adapters (FieldSyncStore.changes(), Sync.progress()) and Sync.sync().
    api("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
}

// Fail early, with the fix, when the generated bindings are missing.
val checkBindings by tasks.registering {
    val generated = bindingsDir.resolve("org/fieldsync/ffi/fieldsync_ffi.kt")
    doLast {
        if (!generated.isFile) {
            throw GradleException(
                "No generated bindings at $generated: run android/scripts/build-android.sh first.",
            )
        }
    }
}
tasks.named("preBuild") { dependsOn(checkBindings) }
