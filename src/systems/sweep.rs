//! System 2: despawn the observers of owners that died.

use crate::ids::OwnerKey;
use crate::observers::Store;
use crate::owners::OwnerRegistry;

/// Despawns the observers of every owner that died since the last sweep, in
/// time proportional to those observers. With `full`, also checks every
/// owner that has observers (the safety net, in time proportional to those
/// owners); returns how many observers were swept.
///
/// Large sweeps despawn on this thread while a thread of `pool` (rayon's
/// global pool if `None`) unlinks (see `Store::despawn_owners`).
pub(crate) fn sweep<V>(
    store: &mut Store<V>,
    owners: &OwnerRegistry,
    deaths: &mut Vec<OwnerKey>,
    full: bool,
    pool: Option<&rayon::ThreadPool>,
) -> u64 {
    owners.take_deaths(deaths);
    let mut swept = store.despawn_owners(deaths, pool);
    deaths.clear();
    if full {
        swept += store.despawn_owners(&orphaned_owners(store, owners), pool);
    }
    swept as u64
}

/// Owners with observers that are not alive: none, unless a death was lost.
/// Every observer sits in its owner's list (`OwnedLists`), so
/// checking the owners covers every observer.
fn orphaned_owners<V>(store: &Store<V>, owners: &OwnerRegistry) -> Vec<OwnerKey> {
    owners.with_liveness(|alive| store.owners().filter(|&owner| !alive(owner)).collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ids::ManagerTag;
    use crate::ingest::names::Var;
    use crate::observers::Spawn;
    use crate::observers::variables::Interner;

    #[test]
    fn full_sweep_catches_the_observers_of_an_owner_whose_death_was_lost() {
        let tag = ManagerTag::fresh();
        let interner = Interner::new(tag);
        let registry = Arc::new(OwnerRegistry::new(tag));
        let mut store = Store::<u32>::new();
        let variable = interner.intern(Var::Name("x")).unwrap().index;
        let owner = registry.spawn();
        for _ in 0..3 {
            let callback = store
                .callbacks
                .insert_private(crate::observers::callbacks::plain(|_| {}));
            let spawn = Spawn {
                variable,
                owner: owner.key,
                callback,
                policy: None,
                tick: 0,
            };
            assert!(store.spawn(&interner, spawn).is_some());
        }
        drop(owner);
        registry.take_deaths(&mut Vec::new()); // the death is lost here

        let mut deaths = Vec::new();
        assert_eq!(sweep(&mut store, &registry, &mut deaths, false, None), 0);
        assert_eq!(store.len(), 3, "the per-owner sweep cannot see it");
        assert_eq!(sweep(&mut store, &registry, &mut deaths, true, None), 3);
        assert_eq!(store.len(), 0);
    }
}
