//! Heap accounting: the system allocator, counting live and peak bytes, so
//! the summary can give the heap bytes per observer.

use observer_manager_support::CountingAlloc;

#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc::new();

/// The bytes allocated now.
pub(crate) fn live_bytes() -> usize {
    HEAP.live()
}

/// The most bytes allocated at once so far.
pub(crate) fn peak_bytes() -> usize {
    HEAP.peak()
}
