//! Adding and removing observers and shared callbacks, at once.

use std::fmt;

use hecs::Entity;

use super::ObserverManager;
use crate::error::{
    AddObserverError, NotifyError, RemoveObserverError, UnregisterCallbackError, VariableError,
};
use crate::ids::{CallbackId, IdScope, ObserverId};
use crate::ingest::change::Notification;
use crate::ingest::names::VariableRef;
use crate::ingest::registration::{CallbackChoice, Registration};
use crate::observers::callbacks::{self, CallbackRef};
use crate::observers::{SPAWN_BATCH, Spawn};
use crate::owners::Owner;
use crate::policy::Policy;
use crate::systems::Primed;

impl<V: PartialEq + Send + Sync + 'static> ObserverManager<V> {
    /// Registers `callback` once so that many observers can share it through
    /// [`Observe::shared`](crate::Observe::shared) and [`add_observers`](Self::add_observers). It stays registered,
    /// even with no observers, until [`unregister_callback`](Self::unregister_callback).
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{Metadata, ObserverManager};
    ///
    /// let mut manager = ObserverManager::<u32>::new();
    /// let owner = manager.owner();
    /// let shared = manager.register_callback(|_| {});
    /// for _ in 0..1000 {
    ///     manager.observe("tick", &owner).shared(shared).add()?;
    /// }
    /// assert_eq!(manager.observer_count("tick"), 1000);
    /// # Ok::<(), observer_manager::AddObserverError>(())
    /// ```
    pub fn register_callback<F>(&mut self, callback: F) -> CallbackId
    where
        F: Fn(&Notification<'_, V>) + Send + Sync + 'static,
    {
        let key = self.store.callbacks.register(callbacks::plain(callback));
        CallbackId {
            key,
            manager: self.notifier.shared.manager,
        }
    }

    /// Registers a shared callback that may fail: it returns `Err` instead
    /// of panicking, and costs no unwinding. Use its id like any
    /// [`CallbackId`] ([`Observe::shared`](crate::Observe::shared), `add_observers`, the notifier's
    /// forms).
    ///
    /// An `Err` is handed to the [`Config::on_callback_error`](crate::Config::on_callback_error) handler (or a
    /// `tracing` debug event), counted on its observer like a panic
    /// ([`ObserverReport::errors`](crate::ObserverReport::errors), the
    /// [`Config::quarantine_after`](crate::Config::quarantine_after) rule) and in
    /// [`TickReport::callback_errors`](crate::TickReport::callback_errors); the call still counts as a delivery.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{Metadata, ObserverManager};
    ///
    /// let mut manager = ObserverManager::<i32>::new();
    /// let even = manager.register_fallible_callback(|n| {
    ///     if n.new % 2 == 0 { Ok(()) } else { Err("odd") }
    /// });
    /// let owner = manager.owner();
    /// manager.add_observers(even, [("a", &owner), ("b", &owner)])?;
    /// manager.notify("a", 0, 2, Metadata::default())?;
    /// manager.notify("b", 0, 3, Metadata::default())?;
    /// let report = manager.tick();
    /// assert_eq!((report.notifications, report.callback_errors), (2, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register_fallible_callback<F, E>(&mut self, callback: F) -> CallbackId
    where
        F: Fn(&Notification<'_, V>) -> Result<(), E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        let handler = self.config.on_callback_error.clone();
        let key = self
            .store
            .callbacks
            .register(callbacks::fallible(callback, handler));
        CallbackId {
            key,
            manager: self.notifier.shared.manager,
        }
    }

    /// Unregisters a shared callback.
    ///
    /// # Errors
    ///
    /// [`UnregisterCallbackError::InUse`] while observers use it (nothing
    /// changes); [`UnregisterCallbackError::NotFound`] if it is gone already.
    pub fn unregister_callback(
        &mut self,
        callback: CallbackId,
    ) -> Result<(), UnregisterCallbackError> {
        if callback.manager != self.notifier.shared.manager {
            return Err(UnregisterCallbackError::NotFound);
        }
        self.store.callbacks.unregister(callback.key)
    }

    /// Adds what an `Observe` builder was given, at once.
    #[inline]
    pub(crate) fn add_registration(
        &mut self,
        registration: Registration<'_, V>,
    ) -> Result<ObserverId, AddObserverError> {
        let Registration {
            var,
            owner,
            policy,
            prime,
            callback,
        } = registration;
        if let Some(policy) = &policy {
            policy.check()?;
        }
        let variable = self.check_add(var, owner)?;
        let callback = match callback {
            CallbackChoice::Private(call) => self.store.callbacks.insert_private(call),
            CallbackChoice::Shared(id) => {
                if id.manager != self.notifier.shared.manager
                    || !self.store.callbacks.acquire(id.key)
                {
                    return Err(AddObserverError::UnknownCallback);
                }
                CallbackRef::shared(id.key)
            }
        };
        let id = self.spawn(variable, owner, callback, policy);
        if let Some(mut change) = prime {
            change.variable = variable;
            self.store.primed.push(Primed {
                entity: id.entity,
                change,
            });
        }
        Ok(id)
    }

    /// Removes every observer of `var` at once; returns how many.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Variable`] for a bad name or a stale or foreign id,
    /// as from the notifier's form (which alone can also meet
    /// [`NotifyError::ManagerDropped`]). An unknown name has no observers:
    /// `Ok(0)`.
    pub fn remove_observers_of<'a>(
        &mut self,
        var: impl Into<VariableRef<'a>>,
    ) -> Result<usize, NotifyError> {
        let id = match self.notifier.shared.interner.find(var.into().as_var()) {
            Err(VariableError::Unknown { .. }) => return Ok(0),
            other => other?,
        };
        let removed = self.store.despawn_variable(id.index);
        self.totals.observers_removed += removed as u64;
        Ok(removed)
    }

    /// Adds one observer per `(variable, owner)` pair, all calling the shared
    /// `callback`, in one batch: the bulk form of
    /// `observe(var, owner).shared(callback).add()`, several times faster
    /// per observer for large batches (the storage grows once and is written
    /// in order). Returns the ids in the order of `observers`.
    ///
    /// The pairs are checked and spawned in parts of 65,536, so a batch
    /// needs no temporary list as long as itself; an exact
    /// [`size_hint`](Iterator::size_hint) lets the world grow once for the
    /// whole batch.
    ///
    /// # Errors
    ///
    /// As [`Observe::add`](crate::Observe::add), for the first pair
    /// that fails; nothing is added then: the parts before it are despawned
    /// again (names of the pairs before it may have been interned).
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::ObserverManager;
    ///
    /// let mut manager = ObserverManager::<u64>::new();
    /// let owner = manager.owner();
    /// let callback = manager.register_callback(|_| {});
    /// let names = ["a", "b", "c"];
    /// let ids = manager.add_observers(callback, names.iter().map(|&n| (n, &owner)))?;
    /// assert_eq!(ids.len(), 3);
    /// assert_eq!(manager.total_observers(), 3);
    /// # Ok::<(), observer_manager::AddObserverError>(())
    /// ```
    pub fn add_observers<'a, 'o, R, I>(
        &mut self,
        callback: CallbackId,
        observers: I,
    ) -> Result<Vec<ObserverId>, AddObserverError>
    where
        R: Into<VariableRef<'a>>,
        I: IntoIterator<Item = (R, &'o Owner)>,
    {
        // Counting no user checks that the callback exists.
        if callback.manager != self.notifier.shared.manager
            || !self.store.callbacks.acquire_many(callback.key, 0)
        {
            return Err(AddObserverError::UnknownCallback);
        }
        let mut observers = observers.into_iter().fuse();
        let expected = observers.size_hint().0;
        self.store.reserve_plain(expected);
        let mut ids = Vec::with_capacity(expected);
        let mut part = Vec::with_capacity(expected.clamp(1, SPAWN_BATCH));
        let shared = CallbackRef::shared(callback.key);
        let IdScope { manager, epoch } = self.id_scope();
        let make_id = |entity| ObserverId::new(entity, manager, epoch);
        // Part by part, so that the checked pairs need no list as long as
        // the batch; a failing pair undoes the parts already spawned.
        loop {
            part.clear();
            for (var, owner) in observers.by_ref().take(SPAWN_BATCH) {
                match self.check_add(var.into(), owner) {
                    Ok(variable) => part.push((variable, owner.key)),
                    Err(error) => {
                        self.unspawn(&ids);
                        return Err(error);
                    }
                }
            }
            if part.is_empty() {
                break;
            }
            let counted = self
                .store
                .callbacks
                .acquire_many(callback.key, part.len() as u64);
            debug_assert!(counted, "checked above, and nothing unregistered it since");
            let (interner, tick) = (&self.notifier.shared.interner, self.tick);
            self.store
                .spawn_many(interner, &part, shared, tick, &mut ids, make_id);
        }
        self.totals.observers_added += ids.len() as u64;
        Ok(ids)
    }

    /// Despawns the observers of a bulk add that failed part way, releasing
    /// their callback uses: the batch adds nothing.
    fn unspawn(&mut self, ids: &[ObserverId]) {
        for id in ids {
            let despawned = self.store.despawn(id.entity);
            debug_assert!(despawned, "a just-spawned observer is alive");
        }
    }

    #[inline]
    fn check_add(&self, var: VariableRef<'_>, owner: &Owner) -> Result<u32, AddObserverError> {
        if !owner.belongs_to(self.notifier.shared.manager) {
            return Err(AddObserverError::ForeignOwner);
        }
        Ok(self.notifier.shared.interner.intern(var.as_var())?.index)
    }

    /// Spawns the observer, whose callback use the caller has counted; the
    /// owner is alive (the caller holds its guard).
    fn spawn(
        &mut self,
        variable: u32,
        owner: &Owner,
        callback: CallbackRef,
        policy: Option<Policy<V>>,
    ) -> ObserverId {
        let spawn = Spawn {
            variable,
            owner: owner.key,
            callback,
            policy,
            tick: self.tick,
        };
        let entity = self.store.spawn(&self.notifier.shared.interner, spawn);
        debug_assert!(entity.is_some(), "a held owner is never swept");
        self.totals.observers_added += u64::from(entity.is_some());
        // A held owner's key is live, so `spawn` succeeded; the fallback id
        // is never handed out in practice and names no entity.
        self.observer_id(entity.unwrap_or(Entity::DANGLING))
    }

    pub(crate) fn observer_id(&self, entity: Entity) -> ObserverId {
        ObserverId::new(entity, self.notifier.shared.manager, self.store.epoch)
    }

    pub(crate) fn id_scope(&self) -> IdScope {
        IdScope {
            manager: self.notifier.shared.manager,
            epoch: self.store.epoch,
        }
    }

    /// Removes an observer at once; it receives nothing more.
    ///
    /// # Errors
    ///
    /// [`RemoveObserverError::NotFound`] if it is gone already (removed
    /// before, or swept with its owner): removing twice is harmless.
    /// [`RemoveObserverError::ForeignManager`] for another manager's id.
    pub fn remove_observer(&mut self, observer: ObserverId) -> Result<(), RemoveObserverError> {
        if observer.manager != self.notifier.shared.manager {
            return Err(RemoveObserverError::ForeignManager);
        }
        if observer.epoch == self.store.epoch && self.store.despawn(observer.entity) {
            self.totals.observers_removed += 1;
            Ok(())
        } else {
            Err(RemoveObserverError::NotFound)
        }
    }

    /// Removes many observers at once; they receive nothing more. Returns
    /// how many were removed: ids of observers gone already (removed
    /// before, swept with their owner, stale) are skipped, as are repeats.
    ///
    /// The batch is taken out the way the sweep takes out a dead owner's
    /// observers: from a few thousand on, their rosters are compacted on the
    /// thread pool while this thread despawns them, so a large batch costs
    /// far less per observer than `remove_observer` in a loop.
    ///
    /// # Errors
    ///
    /// [`RemoveObserverError::ForeignManager`] if any id was issued by
    /// another manager; nothing is removed then.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::ObserverManager;
    ///
    /// let mut manager = ObserverManager::<i64>::new();
    /// let owner = manager.owner();
    /// let ids: Vec<_> = (0..3)
    ///     .map(|_| manager.observe("x", &owner).callback(|_| {}).add())
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(manager.remove_observers(ids.iter().copied())?, 3);
    /// assert_eq!(manager.remove_observers(ids)?, 0); // gone already
    /// assert_eq!(manager.observer_count("x"), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove_observers(
        &mut self,
        observers: impl IntoIterator<Item = ObserverId>,
    ) -> Result<usize, RemoveObserverError> {
        let mut entities = Vec::new();
        for observer in observers {
            if observer.manager != self.notifier.shared.manager {
                return Err(RemoveObserverError::ForeignManager);
            }
            if observer.epoch == self.store.epoch {
                entities.push(observer.entity);
            }
        }
        let pool = self.config.thread_pool.as_deref();
        let removed = self.store.despawn_many(entities, pool);
        self.totals.observers_removed += removed as u64;
        Ok(removed)
    }

    /// Whether `observer` exists here (a dead owner's observers exist until swept).
    pub fn contains_observer(&self, observer: ObserverId) -> bool {
        observer.manager == self.notifier.shared.manager
            && observer.epoch == self.store.epoch
            && self.store.world.contains(observer.entity)
    }
}
