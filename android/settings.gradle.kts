// The fieldsync Android library (Kotlin facade + UniFFI bindings + native libraries).
// Before building: android/scripts/build-android.sh (needs the NDK) — see README.md here.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "fieldsync-android"
