//! Heap accounting: the system allocator, counting live and peak bytes, so
//! the summary can give the heap bytes per observer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Bytes currently allocated through [`CountingAlloc`].
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
/// The most [`LIVE_BYTES`] has been.
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes (the library itself stays
/// `forbid(unsafe_code)`; this is the example's only `unsafe`).
struct CountingAlloc;

#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc;

impl CountingAlloc {
    fn grew(bytes: usize) {
        let now = LIVE_BYTES.fetch_add(bytes, Relaxed) + bytes;
        PEAK_BYTES.fetch_max(now, Relaxed);
    }

    fn shrank(bytes: usize) {
        LIVE_BYTES.fetch_sub(bytes, Relaxed);
    }
}

// SAFETY: every method hands its arguments unchanged to `System`, which
// upholds the `GlobalAlloc` contract, and returns its result unchanged. The
// counting touches only atomics: it never allocates, never panics and never
// touches the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's promises for `alloc` are passed on to `System`.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            Self::grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            Self::grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: every block comes from `System` through this type, so
        // `ptr` and `layout` are what `System` handed out.
        unsafe { System.dealloc(ptr, layout) };
        Self::shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller's promises on `new_size`
        // are passed on to `System`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            Self::shrank(layout.size());
            Self::grew(new_size);
        }
        new
    }
}

/// The bytes allocated now.
pub(crate) fn live_bytes() -> usize {
    LIVE_BYTES.load(Relaxed)
}

/// The most bytes allocated at once so far.
pub(crate) fn peak_bytes() -> usize {
    PEAK_BYTES.load(Relaxed)
}
