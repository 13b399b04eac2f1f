//! What the shared callbacks count: calls and the sum of the new values,
//! in per-thread slots.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Shared callbacks registered once; each observer picks one of them.
pub(crate) const SHARED_CALLBACKS: u32 = 8;
/// Counter slots; threads spread over them so dispatch threads do not share a line.
const TALLY_SLOTS: usize = 16;

/// What the callbacks saw: calls and the wrapping sum of the new values.
#[derive(Default)]
pub(crate) struct Tally {
    slots: [TallySlot; TALLY_SLOTS],
}

/// One thread's counters, on a cache line of its own.
#[derive(Default)]
#[repr(align(128))]
struct TallySlot {
    calls: AtomicU64,
    sum: AtomicU64,
}

impl Tally {
    pub(crate) fn record(&self, value: u64) {
        let slot = &self.slots[thread_slot()];
        slot.calls.fetch_add(1, Relaxed);
        slot.sum.fetch_add(value, Relaxed);
    }

    /// Calls and value sum over all slots; exact once the ticks have returned.
    pub(crate) fn totals(&self) -> (u64, u64) {
        self.slots.iter().fold((0, 0), |(calls, sum), slot| {
            let calls = calls + slot.calls.load(Relaxed);
            (calls, sum.wrapping_add(slot.sum.load(Relaxed)))
        })
    }
}

/// This thread's tally slot, handed out round-robin on first use.
fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Relaxed) % TALLY_SLOTS;
    }
    SLOT.with(|slot| *slot)
}
