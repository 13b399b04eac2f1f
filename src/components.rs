//! The components of an observer entity: plain data, no behaviour.
//!
//! Delivery counts and the last delivery tick are not stored per observer:
//! they are derived from the variable's counters and the observer's
//! `Delivery::baseline`, so dispatch writes nothing per observer.

use crate::ids::OwnerKey;
use crate::variables::Roster;

/// The observer's links into the side tables: the variable it watches and
/// where it sits in that variable's lists, and the owner whose death ends
/// it (whose `OwnedList` names it). The callback it calls is its variable slot's
/// (`Slot::callback`), kept once, where the dispatch loop reads it.
///
/// One component rather than several: every spawn and despawn reads and
/// writes all of them together, and hecs pays per column (a type lookup, a
/// cache line, a swap-remove), so one column halves the cost of churn.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Links {
    pub(crate) variable: u32,
    /// Which of the variable's lists holds this observer.
    pub(crate) roster: Roster,
    /// Invariant: `variables[variable].roster(roster)[slot].entity` is this entity.
    pub(crate) slot: u32,
    pub(crate) owner: OwnerKey,
}

/// When the observer was registered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Registered {
    pub(crate) tick: u64,
    /// Nanoseconds from the store's `born` to the registration: 8 bytes
    /// where an `Instant` takes 16.
    pub(crate) nanos: u64,
}

/// Delivery bookkeeping of a plain observer (policed ones count in `Policed`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delivery {
    /// The variable's `changes_dispatched` at registration: deliveries so far
    /// are `changes_dispatched - baseline + extra`.
    pub(crate) baseline: u64,
    /// Deliveries outside the variable's batches (primed current values).
    pub(crate) extra: u32,
    /// Calls of this observer's callback that panicked.
    pub(crate) panics: u32,
}

/// Present on a quarantined observer only: its delivery state, fixed at
/// quarantine (it receives nothing after that). A component of its own so
/// that every other observer's row stays small.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frozen {
    /// The variable's `changes_dispatched` at quarantine.
    pub(crate) changes_dispatched: u64,
    /// The last tick that delivered to it.
    pub(crate) last_delivery_tick: Option<u64>,
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

// The row every observer pays for (see docs/architecture.md): 52 bytes.
const _: () = assert!(std::mem::size_of::<Links>() == 20);
const _: () = assert!(std::mem::size_of::<Registered>() == 16);
const _: () = assert!(std::mem::size_of::<Delivery>() == 16);
