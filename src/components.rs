//! The components of an observer entity: plain data, no behaviour.
//!
//! Delivery counts and the last delivery tick are not stored per observer:
//! they are derived from the variable's counters and the observer's
//! `Delivery::baseline`, so dispatch writes nothing per observer.

use std::time::Instant;

use crate::callbacks::CallbackRef;
use crate::ids::OwnerKey;
use crate::variables::Roster;

/// The variable watched, and where the observer sits in its index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Watches {
    pub(crate) variable: u32,
    /// Which of the variable's lists holds this observer.
    pub(crate) roster: Roster,
    /// Invariant: `variables[variable].roster(roster)[slot].entity` is this entity.
    pub(crate) slot: u32,
}

/// The owner whose death ends this observer, and where it sits in the
/// owner's list.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OwnedBy {
    pub(crate) owner: OwnerKey,
    /// Invariant: `owned[owner][slot]` is this entity.
    pub(crate) slot: u32,
}

/// The callback this observer calls (a key into the callback registry).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Calls(pub(crate) CallbackRef);

/// When the observer was registered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Registered {
    pub(crate) tick: u64,
    pub(crate) at: Instant,
}

/// Delivery bookkeeping of a plain observer (policed ones count in `Policed`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delivery {
    /// The variable's `changes_dispatched` at registration: deliveries so far
    /// are `changes_dispatched - baseline + extra`.
    pub(crate) baseline: u64,
    /// Deliveries outside the variable's batches (a primed current value).
    pub(crate) extra: u64,
    /// The variable's `changes_dispatched` when the observer was quarantined:
    /// it receives nothing after that.
    pub(crate) frozen_at: Option<u64>,
    /// Calls of this observer's callback that panicked.
    pub(crate) panics: u32,
}

impl Delivery {
    /// Changes delivered, given the variable's `changes_dispatched`.
    pub(crate) fn deliveries(&self, changes_dispatched: u64) -> u64 {
        self.frozen_at.unwrap_or(changes_dispatched) - self.baseline + self.extra
    }
}
