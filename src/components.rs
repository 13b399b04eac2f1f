//! The components of an observer entity: plain data, no behaviour.
//!
//! Delivery counts and the last delivery tick are not stored per observer:
//! they are derived from the variable's counters and the observer's
//! `Delivery::baseline`, so dispatch writes nothing per observer.

use std::time::Instant;

use crate::callbacks::CallbackRef;
use crate::ids::OwnerKey;

/// The variable watched, and where the observer sits in its index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Watches {
    pub(crate) variable: u32,
    /// Invariant: `variables[variable].observers[slot].entity` is this entity.
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

/// Delivery bookkeeping.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delivery {
    /// The variable's `changes_dispatched` at registration: deliveries so far
    /// are `changes_dispatched - baseline`.
    pub(crate) baseline: u64,
    /// Calls of this observer's callback that panicked.
    pub(crate) panics: u32,
}
