//! Each owner's observers, as the sweep needs them: all of them, in time
//! proportional to their number, when the owner dies.

use hecs::Entity;
use slotmap::SecondaryMap;

use crate::ids::OwnerKey;

/// The observers of each owner that has any, as lists of entities.
///
/// An observer removed on its own leaves a stale entry in its owner's list
/// instead of being searched for, so a removal need not know the owner: a
/// stale entry names a despawned entity, which no later entity equals (hecs
/// bumps the generation on despawn). Stale entries are counted across all
/// lists; once they outnumber the live observers, every list is compacted,
/// so a removal costs O(1) amortised and the lists never hold more than
/// twice the live observers (plus one).
#[derive(Debug, Default)]
pub(crate) struct OwnedLists {
    lists: SecondaryMap<OwnerKey, Vec<Entity>>,
    /// Entries naming removed observers, across all lists. Invariant: at
    /// most the live observers plus one.
    stale: usize,
}

impl OwnedLists {
    /// The list of `owner`, made empty if it has none; `None` if the key is
    /// stale (that owner was swept).
    pub(crate) fn list(&mut self, owner: OwnerKey) -> Option<&mut Vec<Entity>> {
        self.lists.entry(owner).map(|e| e.or_default())
    }

    /// Adds `entity` to the list of `owner`, which must have one (made by
    /// `list`); false if it has none.
    pub(crate) fn push(&mut self, owner: OwnerKey, entity: Entity) -> bool {
        let list = self.lists.get_mut(owner);
        list.map(|list| list.push(entity)).is_some()
    }

    /// Owners that have a list.
    pub(crate) fn owners(&self) -> impl Iterator<Item = OwnerKey> + '_ {
        self.lists.keys()
    }

    /// Counts one listed observer removed on its own; `live` observers
    /// remain, as `alive` tells. Compacts every list when stale entries
    /// outnumber them.
    pub(crate) fn note_removed(&mut self, live: usize, alive: impl Fn(Entity) -> bool) {
        self.note_removed_many(1, live, alive);
    }

    /// Counts `removed` listed observers removed on their own, as
    /// `note_removed` does one.
    pub(crate) fn note_removed_many(
        &mut self,
        removed: usize,
        live: usize,
        alive: impl Fn(Entity) -> bool,
    ) {
        self.stale += removed;
        if self.stale <= live {
            return;
        }
        for list in self.lists.values_mut() {
            list.retain(|&e| alive(e));
            if list.len() < list.capacity() / 4 {
                list.shrink_to_fit();
            }
        }
        self.lists.retain(|_, list| !list.is_empty());
        self.stale = 0;
    }

    /// Takes the lists of the `owners` (each named once), keeping only the
    /// entries `alive` accepts, so every entry names a live observer.
    pub(crate) fn take_live(
        &mut self,
        owners: &[OwnerKey],
        alive: impl Fn(Entity) -> bool,
    ) -> Vec<Vec<Entity>> {
        let mut lists: Vec<Vec<Entity>> = owners
            .iter()
            .filter_map(|&o| self.lists.remove(o))
            .collect();
        if self.stale > 0 {
            for list in &mut lists {
                let before = list.len();
                list.retain(|&e| alive(e));
                let dropped = before - list.len();
                debug_assert!(dropped <= self.stale, "stale entries miscounted");
                self.stale = self.stale.saturating_sub(dropped);
            }
        }
        lists
    }

    /// Every entry of every list, stale ones included.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (OwnerKey, &Vec<Entity>)> {
        self.lists.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use slotmap::SlotMap;

    use super::*;

    #[test]
    fn stale_entries_never_outnumber_live_ones_and_taken_lists_hold_only_the_live() {
        let mut world = hecs::World::new();
        let mut keys = SlotMap::<OwnerKey, ()>::with_key();
        let owners: Vec<OwnerKey> = (0..4).map(|_| keys.insert(())).collect();
        let mut lists = OwnedLists::default();
        let mut live: HashSet<Entity> = HashSet::new();
        for i in 0..400 {
            let entity = world.spawn((i,));
            lists.list(owners[i % 4]).unwrap().push(entity);
            live.insert(entity);
        }
        let listed = |lists: &OwnedLists| lists.iter().map(|(_, l)| l.len()).sum::<usize>();
        let entities: Vec<Entity> = live.iter().copied().collect();
        for &e in &entities[..300] {
            world.despawn(e).unwrap();
            live.remove(&e);
            lists.note_removed(live.len(), |e| world.contains(e));
            assert!(listed(&lists) <= 2 * live.len() + 1);
        }
        let taken = lists.take_live(&owners[..2], |e| world.contains(e));
        assert!(taken.iter().flatten().all(|e| live.contains(e)));
        assert_eq!(lists.owners().count(), 2);
        let rest = lists.take_live(&owners[2..], |e| world.contains(e));
        let kept = taken.iter().chain(&rest).map(Vec::len).sum::<usize>();
        assert_eq!(kept, live.len(), "every live observer listed once");
        assert_eq!(lists.stale, 0, "every stale entry accounted for");
    }
}
