//! A counting global allocator: the bytes the Rust heap holds right now.
//!
//! Wraps the system allocator and keeps one relaxed atomic counter of live bytes
//! (requested sizes, not the allocator's own overhead). SQLite's bundled C code
//! allocates with libc `malloc` directly, so its page cache is *not* counted: the
//! figures are the Rust-side cost (Automerge documents, rows, strings).
//!
//! This is the only module with `unsafe` (implementing `GlobalAlloc` requires it); it
//! is allowed on the `mod` line in main.rs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The system allocator with a live-bytes counter.
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and
// only adds bookkeeping on an atomic counter; pointer validity is `System`'s contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator (i.e. by `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr`/`layout` come from this allocator; forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes currently allocated on the Rust heap (all threads).
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}
