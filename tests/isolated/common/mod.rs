//! Shared by the tests of this binary: the heap as the counting global
//! allocator (declared in `main.rs`) sees it, and the lock that runs them
//! one at a time.

use std::sync::{Mutex, MutexGuard};

/// Taken by every test of this binary for its whole run: the heap and
/// `tracing`'s call-site cache are the process's, so a test must see its
/// own effects only.
static SERIAL: Mutex<()> = Mutex::new(());

/// Waits until no other test of this binary runs; hold the guard for the whole test.
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Heap bytes handed out and not yet freed.
pub(crate) fn live_bytes() -> usize {
    crate::ALLOCATOR.live()
}

/// The highest `live_bytes` since the last `reset_peak`.
pub(crate) fn peak_bytes() -> usize {
    crate::ALLOCATOR.peak()
}

/// Starts a new peak measurement from the current live bytes; returns them.
pub(crate) fn reset_peak() -> usize {
    crate::ALLOCATOR.reset_peak()
}
