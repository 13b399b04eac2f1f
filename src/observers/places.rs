//! Where each observer sits: its registration stamp and its position in its
//! variable's roster, in a column indexed by its entity's id.
//!
//! This column lives beside the hecs world rather than in it, because it
//! changes when a *neighbour* leaves: a roster swap-removes, which moves its
//! last observer into the hole, and the moved observer's position must
//! follow. Here that is one write at `entity.id()`; as a hecs component it
//! was a look-up of the entity's location and then of its row, two
//! dependent cache misses per moved neighbour, in every sweep and removal.
//! And because the column is not the world's, the sweep can unlink dead
//! observers from their rosters here while another thread despawns them
//! from the world (see `Store::despawn_owners`).
//!
//! hecs keeps entity ids dense (a despawned id is reused by the next
//! spawn), so the column holds one entry per id ever live at once: 8 bytes
//! per observer at the peak population.

use std::sync::atomic::{AtomicU32, Ordering};

use hecs::Entity;

/// One observer's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    /// Index of its `Stamp` in `Store::stamps`, which names its variable
    /// and roster.
    pub(crate) stamp: u32,
    /// Its position in that roster. Invariant: the roster's slot at `slot`
    /// names this observer's entity.
    pub(crate) slot: u32,
}

/// What an id that no observer has held yet reads as.
const VACANT: u32 = u32::MAX;

/// Every observer's place, by entity id.
///
/// Invariant: for every live observer entity `e`, entry `e.id()` is its
/// place. The entry of a despawned id keeps whatever its last observer
/// left until a new observer takes the id, so a place read for an entity
/// not known to be alive must be checked against the roster it names
/// (`Variable::take` does), since rosters name live observers only.
#[derive(Debug, Default)]
pub(crate) struct Places {
    entries: Vec<Entry>,
}

/// One id's place, in one cache line with its neighbours'. The position is
/// an atomic so that sweep threads compacting different rosters can move
/// their observers at once (`set_slot` through `&self`); every access is
/// `Relaxed`, a plain load or store on common hardware, since the threads
/// write disjoint entries and join before anyone reads them.
#[derive(Debug)]
struct Entry {
    stamp: u32,
    slot: AtomicU32,
}

impl Places {
    /// The place recorded under `entity`'s id (see the type's invariant).
    pub(crate) fn get(&self, entity: Entity) -> Option<Place> {
        let entry = self.entries.get(entity.id() as usize)?;
        Some(Place {
            stamp: entry.stamp,
            slot: entry.slot.load(Ordering::Relaxed),
        })
    }

    /// The stamp recorded under `entity`'s id (see the type's invariant).
    pub(crate) fn stamp(&self, entity: Entity) -> Option<u32> {
        self.entries.get(entity.id() as usize).map(|e| e.stamp)
    }

    /// Records the place of `entity`, growing the column to its id.
    pub(crate) fn set(&mut self, entity: Entity, place: Place) {
        let index = entity.id() as usize;
        if index == self.entries.len() {
            // The usual new id: one past the highest so far.
            let slot = AtomicU32::new(place.slot);
            self.entries.push(Entry {
                stamp: place.stamp,
                slot,
            });
            return;
        }
        if index > self.entries.len() {
            self.grow_to(index + 1);
        }
        let entry = &mut self.entries[index];
        entry.stamp = place.stamp;
        *entry.slot.get_mut() = place.slot;
    }

    /// Grows the column to hold ids below `len` (for a batch of new
    /// observers, once rather than per observer).
    pub(crate) fn grow_to(&mut self, len: usize) {
        if len > self.entries.len() {
            self.entries.resize_with(len, || Entry {
                stamp: VACANT,
                slot: AtomicU32::new(VACANT),
            });
        }
    }

    /// Moves `entity` to position `slot` of the same roster.
    pub(crate) fn set_slot(&self, entity: Entity, slot: u32) {
        match self.entries.get(entity.id() as usize) {
            Some(entry) => entry.slot.store(slot, Ordering::Relaxed),
            None => debug_assert!(false, "moved an observer that has no place"),
        }
    }

    /// Entries held, vacant and stale ones included.
    #[cfg(test)]
    pub(crate) fn capacity_used(&self) -> usize {
        self.entries.len()
    }
}

// Every observer pays for one entry.
const _: () = assert!(std::mem::size_of::<Entry>() == 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_id_reads_the_place_of_its_new_observer() {
        let mut world = hecs::World::new();
        let mut places = Places::default();
        let first = world.spawn(());
        places.set(first, Place { stamp: 1, slot: 7 });
        world.despawn(first).unwrap();
        assert_eq!(places.get(first).map(|p| p.slot), Some(7), "stale, kept");
        let second = world.spawn(());
        assert_eq!(second.id(), first.id(), "hecs reuses the id");
        places.set(second, Place { stamp: 2, slot: 0 });
        places.set_slot(second, 3);
        assert_eq!(places.get(second), Some(Place { stamp: 2, slot: 3 }));
        assert_eq!(places.capacity_used(), 1, "dense: one entry per id");
    }
}
