//! The components of an observer entity: plain data, no behaviour.
//!
//! A plain observer's row is one `Liveness` (8 bytes): the owner whose
//! death ends it. Where it sits (its registration stamp and roster
//! position) is its `Place`, in a column beside the world (see
//! `places.rs`). What observers registered together share (registration
//! tick and instant, the baseline of their delivery count, their variable
//! and roster) sits in their `Stamp`; delivery counts and the last delivery
//! tick are derived from it and the variable's counters, so dispatch writes
//! nothing per observer. Rarer state gets a component of its own, so only
//! the observers that have it pay for it: `Tally` (failures, primed
//! deliveries), `Frozen` (quarantine) and `Policed` (policies).

use crate::ids::OwnerKey;

/// The owner whose death ends the observer, and whose list in `OwnedLists`
/// names it. (The callback it calls is its roster slot's, `Slot::callback`,
/// kept once, where the dispatch loop reads it.)
#[derive(Clone, Copy, Debug)]
pub(crate) struct Liveness {
    pub(crate) owner: OwnerKey,
}

/// Present once an observer has failed or received a primed value: the
/// counts that its stamp cannot derive.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tally {
    /// Deliveries outside the variable's batches (primed current values).
    pub(crate) extra: u32,
    /// Calls of this observer's callback that panicked.
    pub(crate) panics: u32,
    /// Calls of this observer's (fallible) callback that returned an error.
    pub(crate) errors: u32,
}

impl Tally {
    /// Failed calls of either kind: what the quarantine rule counts.
    pub(crate) fn failures(&self) -> u32 {
        self.panics.saturating_add(self.errors)
    }
}

/// Present on a quarantined observer only: its delivery state, fixed at
/// quarantine (it receives nothing after that).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frozen {
    /// The variable's `changes_dispatched` at quarantine.
    pub(crate) changes_dispatched: u64,
    /// The last tick that delivered to it.
    pub(crate) last_delivery_tick: Option<u64>,
}

/// A plain observer's delivery bookkeeping, read from its stamp and tally.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delivery {
    /// The variable's `changes_dispatched` at registration: deliveries so far
    /// are `changes_dispatched - baseline + extra`.
    pub(crate) baseline: u64,
    /// `Tally::extra`.
    pub(crate) extra: u32,
}

impl Delivery {
    /// Changes delivered, given the variable's `changes_dispatched` and the
    /// observer's `Frozen` component, if quarantined.
    pub(crate) fn deliveries(&self, changes_dispatched: u64, frozen: Option<&Frozen>) -> u64 {
        let upto = frozen.map_or(changes_dispatched, |f| f.changes_dispatched);
        upto - self.baseline + u64::from(self.extra)
    }

    /// The last tick that delivered to it, given its variable's last dispatch.
    pub(crate) fn last_delivery_tick(
        &self,
        changes_dispatched: u64,
        last_dispatch: Option<u64>,
        frozen: Option<&Frozen>,
    ) -> Option<u64> {
        match frozen {
            Some(frozen) => frozen.last_delivery_tick,
            None => last_dispatch
                .filter(|_| self.deliveries(changes_dispatched, None) > u64::from(self.extra)),
        }
    }
}

// The row every observer pays for (see docs/architecture.md).
const _: () = assert!(std::mem::size_of::<Liveness>() == 8);
