//! The per-variable debug view.

use std::time::Duration;

use crate::ids::{ObserverId, OwnerId, VariableId};

/// One variable and its observers, as returned by
/// [`ObserverManager::inspect_variable`](crate::ObserverManager::inspect_variable).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VariableReport {
    /// The variable's id.
    pub id: VariableId,
    /// The variable's name.
    pub name: String,
    /// Changes of this variable dispatched so far.
    pub changes_dispatched: u64,
    /// Callback calls made for this variable so far.
    pub notifications: u64,
    /// The last tick that dispatched a change of this variable.
    pub last_dispatch_tick: Option<u64>,
    /// Each observer, in dispatch order.
    pub observers: Vec<ObserverReport>,
}

/// One observer in a [`VariableReport`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObserverReport {
    /// The observer's id.
    pub id: ObserverId,
    /// Its owner.
    pub owner: OwnerId,
    /// Whether the owner is alive now. A dead owner's observers are still
    /// listed until the next tick sweeps them; they receive nothing more.
    pub owner_alive: bool,
    /// Ticks since registration.
    pub age_ticks: u64,
    /// Time since registration.
    pub age: Duration,
    /// Changes delivered to it (calls of its callback, panicking ones included).
    pub deliveries: u64,
    /// Calls of its callback that panicked.
    pub panics: u32,
    /// The last tick that delivered to it.
    pub last_delivery_tick: Option<u64>,
}

impl VariableReport {
    pub(crate) fn empty(id: VariableId, name: String) -> Self {
        VariableReport {
            id,
            name,
            changes_dispatched: 0,
            notifications: 0,
            last_dispatch_tick: None,
            observers: Vec::new(),
        }
    }
}
