//! Owners: the lifetimes observers hang on (the twin of a monitored process).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use slotmap::SlotMap;

use crate::ids::{ManagerTag, OwnerId, OwnerKey};

/// The owner table shared by a manager, its notifiers and every [`Owner`].
pub(crate) struct OwnerRegistry {
    pub(crate) manager: ManagerTag,
    state: Mutex<OwnerTable>,
}

#[derive(Default)]
struct OwnerTable {
    /// Every owner not yet swept. Invariant: a key is in `deaths` iff its
    /// slot is `false` (dead, awaiting sweep).
    alive: SlotMap<OwnerKey, bool>,
    /// Owners that died since the last sweep, in order of death.
    deaths: Vec<OwnerKey>,
    live: usize,
}

impl OwnerRegistry {
    pub(crate) fn new(manager: ManagerTag) -> Self {
        OwnerRegistry {
            manager,
            state: Mutex::new(OwnerTable::default()),
        }
    }

    fn table(&self) -> MutexGuard<'_, OwnerTable> {
        // No user code runs under this lock, so poisoning cannot leave the
        // table half-updated; recover the guard.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new live owner.
    pub(crate) fn spawn(self: &Arc<Self>) -> Owner {
        let mut table = self.table();
        table.live += 1;
        let key = table.alive.insert(true);
        Owner {
            key,
            registry: Arc::clone(self),
        }
    }

    fn kill(&self, key: OwnerKey) {
        let mut table = self.table();
        if let Some(slot) = table.alive.get_mut(key)
            && *slot
        {
            *slot = false;
            table.live -= 1;
            table.deaths.push(key);
        }
    }

    /// Whether `key` names an owner that has not died.
    pub(crate) fn is_alive(&self, key: OwnerKey) -> bool {
        self.table().alive.get(key).copied().unwrap_or(false)
    }

    /// Owners alive now (a reading that other threads may change at once).
    pub(crate) fn live_count(&self) -> usize {
        self.table().live
    }

    /// Whether owners died since the last sweep (stale at once).
    pub(crate) fn has_deaths(&self) -> bool {
        !self.table().deaths.is_empty()
    }

    /// Moves the owners that died since the last call into `out` and forgets them.
    pub(crate) fn take_deaths(&self, out: &mut Vec<OwnerKey>) {
        let mut table = self.table();
        let table = &mut *table;
        for key in table.deaths.drain(..) {
            table.alive.remove(key);
            out.push(key);
        }
    }

    /// Runs `f` with a liveness test that takes the lock once, for scans.
    pub(crate) fn with_liveness<R>(&self, f: impl FnOnce(&dyn Fn(OwnerKey) -> bool) -> R) -> R {
        let table = self.table();
        f(&|key| table.alive.get(key).copied().unwrap_or(false))
    }
}

/// A watcher's lifetime: observers added for an owner live as long as it.
///
/// Dropping the `Owner` (or calling [`Owner::kill`]) marks it dead at once:
/// from the next tick on its observers receive nothing, and that tick
/// despawns them in time proportional to their number. `Owner` is `Send` and
/// `Sync`, so it can be held, and dropped, on any thread.
///
/// # Examples
///
/// ```
/// use observer_manager::{Metadata, ObserverManager};
///
/// let mut manager = ObserverManager::<i32>::new();
/// let owner = manager.owner();
/// manager.observe("hp", &owner).callback(|_| {}).add()?;
/// owner.kill();
/// let report = manager.tick();
/// assert_eq!(report.observers_swept, 1);
/// assert_eq!(manager.total_observers(), 0);
/// # Ok::<(), observer_manager::AddObserverError>(())
/// ```
pub struct Owner {
    pub(crate) key: OwnerKey,
    pub(crate) registry: Arc<OwnerRegistry>,
}

impl Owner {
    /// This owner's id, as [`inspect_variable`](crate::ObserverManager::inspect_variable) shows it.
    pub fn id(&self) -> OwnerId {
        OwnerId(self.key)
    }

    /// Ends the owner's life now; the same as dropping it.
    pub fn kill(self) {
        drop(self);
    }

    pub(crate) fn belongs_to(&self, manager: ManagerTag) -> bool {
        self.registry.manager == manager
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.registry.kill(self.key);
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Owner").field(&self.id()).finish()
    }
}

impl fmt::Debug for OwnerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerRegistry")
            .field("live", &self.live_count())
            .finish_non_exhaustive()
    }
}
