//! The per-variable debug view.

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use crate::error::VariableError;
use crate::ids::{ObserverId, OwnerId, VariableId};
use crate::ingest::names::VariableRef;
use crate::manager::ObserverManager;
use crate::observers::components::{Delivery, Frozen, Liveness, Tally};
use crate::observers::variables::{Roster, Slot, Variable};
use crate::policy::Policed;

/// One variable and its observers, as returned by
/// [`ObserverManager::inspect_variable`].
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
    /// Each observer: plain ones in dispatch order, then policed, then quarantined.
    pub observers: Vec<ObserverReport>,
}

/// One observer in a [`VariableReport`].
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
    /// Time since registration, exact to within a tick: observers of one
    /// variable registered in the same tick share the instant of the first.
    pub age: Duration,
    /// Changes delivered to it (calls of its callback, failing ones included).
    pub deliveries: u64,
    /// Calls of its callback that panicked.
    pub panics: u32,
    /// Calls of its (fallible) callback that returned an error.
    pub errors: u32,
    /// The last tick that delivered to it.
    pub last_delivery_tick: Option<u64>,
    /// Whether it has a [`Policy`](crate::Policy).
    pub policed: bool,
    /// Whether it is quarantined (never called again; see
    /// [`Config::quarantine_after`](crate::Config::quarantine_after)).
    pub quarantined: bool,
}

impl VariableReport {
    fn empty(id: VariableId, name: String) -> Self {
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

impl<V: PartialEq + Send + Sync + 'static> ObserverManager<V> {
    /// Every observer of `var` with its owner, liveness, age and deliveries:
    /// the per-variable debug view.
    ///
    /// # Errors
    ///
    /// [`VariableError::Unknown`] if no variable has that name (lookups never
    /// intern), or another [`VariableError`] for a bad name or foreign id.
    pub fn inspect_variable<'a>(
        &self,
        var: impl Into<VariableRef<'a>>,
    ) -> Result<VariableReport, VariableError> {
        let id = self.notifier.shared.interner.find(var.into().as_var())?;
        let name = self
            .notifier
            .shared
            .interner
            .name(id)
            .as_deref()
            .unwrap_or("")
            .to_owned();
        let Some(variable) = self.store.variables.get(id.index) else {
            // Interned by a notifier but not yet seen by a tick: no observers.
            return Ok(VariableReport::empty(id, name));
        };
        let now = Instant::now();
        let observers = variable
            .all()
            .filter_map(|slot| self.observer_report(variable, slot, now))
            .collect();
        Ok(VariableReport {
            id,
            name,
            changes_dispatched: variable.changes_dispatched,
            notifications: variable.notifications,
            last_dispatch_tick: variable.last_dispatch_tick.map(NonZeroU64::get),
            observers,
        })
    }

    fn observer_report(
        &self,
        variable: &Variable,
        slot: &Slot,
        now: Instant,
    ) -> Option<ObserverReport> {
        let world = &self.store.world;
        let mut query =
            world.query_one::<(&Liveness, Option<&Tally>, Option<&Frozen>)>(slot.entity);
        let (&Liveness { owner }, tally, frozen) = query.get().ok()?;
        // Alive, so its place is its own.
        let (_, stamp) = self.store.locate(slot.entity)?;
        let tally = tally.copied().unwrap_or_default();
        let delivery = Delivery {
            baseline: stamp.baseline,
            extra: tally.extra,
        };
        let mut policed = world.query_one::<&Policed<V>>(slot.entity);
        let (deliveries, last_delivery_tick) = match policed.get() {
            Ok(p) => (p.delivered, p.last_delivery),
            Err(_) => {
                let dispatched = variable.changes_dispatched;
                let last = delivery.last_delivery_tick(
                    dispatched,
                    variable.last_dispatch_tick.map(NonZeroU64::get),
                    frozen,
                );
                (delivery.deliveries(dispatched, frozen), last)
            }
        };
        Some(ObserverReport {
            id: self.observer_id(slot.entity),
            owner: OwnerId(owner),
            owner_alive: self.notifier.shared.owners.is_alive(owner),
            age_ticks: self.tick - stamp.tick,
            age: self.store.age(&stamp, now),
            deliveries,
            panics: tally.panics,
            errors: tally.errors,
            last_delivery_tick,
            policed: stamp.roster == Roster::Policed,
            quarantined: stamp.roster == Roster::Quarantined,
        })
    }
}
