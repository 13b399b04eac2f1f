//! The observer store: the ECS world plus the indexes that must stay in step
//! with it. Every spawn and despawn goes through here, so the invariants
//! stated on `Watches::slot`, `OwnedBy::slot` and `Slot::callback` hold
//! whenever control leaves this module.

use std::time::Instant;

use hecs::{Entity, World};
use slotmap::SecondaryMap;

use crate::callbacks::{CallbackRef, Callbacks};
use crate::components::{Calls, Delivery, OwnedBy, Registered, Watches};
use crate::ids::OwnerKey;
use crate::variables::{Interner, Slot, Variables};

pub(crate) struct Store<V> {
    pub(crate) world: World,
    pub(crate) variables: Variables,
    /// Observers of each owner that has any.
    owned: SecondaryMap<OwnerKey, Vec<Entity>>,
    pub(crate) callbacks: Callbacks<V>,
    /// Advances each time the world is rebuilt; part of every `ObserverId`,
    /// so ids from before a rebuild (whose entity generations restart) stay stale.
    pub(crate) epoch: u32,
    /// Whether anything was spawned since the last rebuild.
    grown: bool,
}

/// Whether a despawn must also unlink the observer from its owner's list
/// (not when that whole list is being dropped).
#[derive(Clone, Copy, PartialEq, Eq)]
enum OwnerLink {
    Unlink,
    AlreadyDropped,
}

impl<V> Store<V> {
    pub(crate) fn new() -> Self {
        Store {
            world: World::new(),
            variables: Variables::default(),
            owned: SecondaryMap::new(),
            callbacks: Callbacks::new(),
            epoch: 0,
            grown: false,
        }
    }

    /// With no observer left, frees the storage a past population grew (the
    /// world's columns, the indexes, the private callbacks), so memory
    /// returns to that of an empty manager. True if it did.
    pub(crate) fn release_storage_if_empty(&mut self) -> bool {
        if !self.grown || !self.world.is_empty() {
            return false;
        }
        self.world = World::new();
        self.epoch = self.epoch.wrapping_add(1);
        self.owned = SecondaryMap::new();
        self.variables.release_observer_storage();
        self.callbacks.release_private_storage();
        self.grown = false;
        true
    }

    /// Spawns an observer of `variable` for `owner` calling `callback`, whose
    /// user count the caller has already raised. `None` if the owner key is
    /// stale (the owner was swept); the callback is released then.
    pub(crate) fn spawn(
        &mut self,
        interner: &Interner,
        variable: u32,
        owner: OwnerKey,
        callback: CallbackRef,
        tick: u64,
    ) -> Option<Entity> {
        let Some(owned) = self.owned.entry(owner).map(|e| e.or_default()) else {
            self.callbacks.release(callback);
            return None;
        };
        let owner_slot = owned.len() as u32;
        let var = self.variables.get_or_sync(variable, interner);
        let entity = self.world.spawn((
            Watches {
                variable,
                slot: var.observers.len() as u32,
            },
            OwnedBy {
                owner,
                slot: owner_slot,
            },
            Calls(callback),
            Registered {
                tick,
                at: Instant::now(),
            },
            Delivery {
                baseline: var.changes_dispatched,
                panics: 0,
            },
        ));
        var.observers.push(Slot { entity, callback });
        owned.push(entity);
        self.grown = true;
        Some(entity)
    }

    /// Despawns one observer; false if it does not exist.
    pub(crate) fn despawn(&mut self, entity: Entity) -> bool {
        self.despawn_linked(entity, OwnerLink::Unlink)
    }

    /// Despawns every observer of `owner`; returns how many.
    pub(crate) fn despawn_owned(&mut self, owner: OwnerKey) -> usize {
        let Some(list) = self.owned.remove(owner) else {
            return 0;
        };
        for &entity in &list {
            let despawned = self.despawn_linked(entity, OwnerLink::AlreadyDropped);
            debug_assert!(despawned, "owner list named a missing observer");
        }
        list.len()
    }

    /// Observers currently alive in the world.
    pub(crate) fn len(&self) -> usize {
        self.world.len() as usize
    }

    fn despawn_linked(&mut self, entity: Entity, link: OwnerLink) -> bool {
        let Ok((watches, owned_by, calls)) = self
            .world
            .query_one_mut::<(&Watches, &OwnedBy, &Calls)>(entity)
            .map(|(w, o, c)| (*w, *o, *c))
        else {
            return false;
        };
        // Unlink first, then despawn: the moved neighbours are fixed up while
        // this entity's slot is still valid.
        self.unlink_variable(watches);
        if link == OwnerLink::Unlink {
            self.unlink_owner(owned_by);
        }
        self.callbacks.release(calls.0);
        let despawned = self.world.despawn(entity).is_ok();
        debug_assert!(despawned);
        true
    }

    fn unlink_variable(&mut self, watches: Watches) {
        let Some(var) = self.variables.get_mut(watches.variable) else {
            debug_assert!(false, "observer of a variable not in the table");
            return;
        };
        let slot = watches.slot as usize;
        var.observers.swap_remove(slot);
        if let Some(moved) = var.observers.get(slot)
            && let Ok(w) = self.world.query_one_mut::<&mut Watches>(moved.entity)
        {
            w.slot = watches.slot;
        }
    }

    fn unlink_owner(&mut self, owned_by: OwnedBy) {
        let Some(list) = self.owned.get_mut(owned_by.owner) else {
            debug_assert!(false, "observer of an owner without a list");
            return;
        };
        let slot = owned_by.slot as usize;
        list.swap_remove(slot);
        if let Some(&moved) = list.get(slot)
            && let Ok(o) = self.world.query_one_mut::<&mut OwnedBy>(moved)
        {
            o.slot = owned_by.slot;
        }
        if list.is_empty() {
            self.owned.remove(owned_by.owner);
        }
    }
}
