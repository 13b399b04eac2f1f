//! The callback body of the benches and peers: bump the calling thread's
//! own counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Slots in a [`Counters`]; a power of two, so indexing masks instead of checking.
const SLOTS: usize = 64;

/// One counter, alone on its cache line (128 bytes covers adjacent-line prefetch).
#[repr(align(128))]
#[derive(Debug, Default)]
struct Slot(AtomicU64);

/// Per-thread call counters: rayon worker `i` uses slot `i`, every other
/// thread (the tick thread, tokio workers) a slot of its own above rayon's,
/// so no two live threads share a line and the bump is uncontended.
#[derive(Debug)]
pub struct Counters(Box<[Slot]>);

thread_local! {
    /// This (non-rayon) thread's slot, taken on first use.
    static OWN_SLOT: usize = next_own_slot();
}

/// Hands out slots above rayon's workers, wrapping within that range.
fn next_own_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let rayon = rayon::current_num_threads().min(SLOTS / 2);
    rayon + NEXT.fetch_add(1, Ordering::Relaxed) % (SLOTS - rayon)
}

impl Counters {
    /// Zeroed counters, shared by every callback of a peer.
    pub fn new() -> Arc<Self> {
        Arc::new(Counters((0..SLOTS).map(|_| Slot::default()).collect()))
    }

    /// The callback body: a plain (not locked) increment of this thread's slot.
    #[inline]
    pub fn bump(&self) {
        let index = match rayon::current_thread_index() {
            Some(i) => i,
            None => OWN_SLOT.with(|s| *s),
        };
        let slot = &self.0[index & (SLOTS - 1)].0;
        slot.store(slot.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// The calls counted since the last `take`, resetting every slot.
    pub fn take(&self) -> u64 {
        self.0.iter().map(|s| s.0.swap(0, Ordering::Relaxed)).sum()
    }
}
