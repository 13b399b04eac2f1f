//! Each owner's observers, as the sweep needs them: all of them, in time
//! proportional to their number, when the owner dies.

use hecs::Entity;

/// The observers of one owner.
///
/// An observer removed on its own leaves a stale entry behind instead of
/// being searched for: the list is compacted once stale entries are the
/// majority, so removal costs O(1) amortised and the list never holds more
/// than twice its live observers. A stale entry names a despawned entity,
/// which no later entity equals (hecs bumps the generation on despawn).
#[derive(Debug, Default)]
pub(crate) struct OwnedList {
    entities: Vec<Entity>,
    /// Entries naming removed observers. Invariant: `2 * stale <=
    /// entities.len()` whenever the list is not empty.
    stale: usize,
}

impl OwnedList {
    pub(crate) fn push(&mut self, entity: Entity) {
        self.entities.push(entity);
    }

    /// Every entry, stale ones included.
    pub(crate) fn entries(&self) -> &[Entity] {
        &self.entities
    }

    /// Drops the entries `alive` refuses, so every entry names a live
    /// observer.
    pub(crate) fn drop_stale(&mut self, alive: impl Fn(Entity) -> bool) {
        if self.stale > 0 {
            self.entities.retain(|&e| alive(e));
            self.stale = 0;
        }
    }

    /// Counts one of its observers removed; compacts, keeping the entries
    /// `alive` accepts, when stale entries become the majority. Returns
    /// whether the list is now empty (its owner has no observer left).
    pub(crate) fn note_removed(&mut self, alive: impl Fn(Entity) -> bool) -> bool {
        self.stale += 1;
        if 2 * self.stale > self.entities.len() {
            self.entities.retain(|&e| alive(e));
            self.stale = 0;
            if self.entities.len() < self.entities.capacity() / 4 {
                self.entities.shrink_to_fit();
            }
        }
        self.entities.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn stale_entries_never_outnumber_live_ones_and_the_last_removal_empties_the_list() {
        let mut world = hecs::World::new();
        let mut list = OwnedList::default();
        let entities: Vec<Entity> = (0..100).map(|i| world.spawn((i,))).collect();
        entities.iter().for_each(|&e| list.push(e));
        let mut live: HashSet<Entity> = entities.iter().copied().collect();
        for (n, &e) in entities.iter().enumerate() {
            world.despawn(e).unwrap();
            live.remove(&e);
            let empty = list.note_removed(|e| world.contains(e));
            assert_eq!(empty, n == entities.len() - 1);
            assert!(list.entries().len() <= 2 * live.len().max(1));
            assert!(live.iter().all(|e| list.entries().contains(e)));
        }
        assert!(list.entries().is_empty());
    }
}
