//! System 2: despawn the observers of owners that died.

use hecs::Entity;

use crate::components::Links;
use crate::ids::OwnerKey;
use crate::observers::Store;
use crate::owners::OwnerRegistry;

/// Despawns the observers of every owner that died since the last sweep, in
/// time proportional to those observers. With `full`, also scans every
/// observer for a dead owner (the safety net); returns how many were swept.
pub(crate) fn sweep<V>(
    store: &mut Store<V>,
    owners: &OwnerRegistry,
    deaths: &mut Vec<OwnerKey>,
    full: bool,
) -> u64 {
    owners.take_deaths(deaths);
    let mut swept = 0;
    for owner in deaths.drain(..) {
        swept += store.despawn_owned(owner) as u64;
    }
    if full {
        for entity in orphans(store, owners) {
            if store.despawn(entity) {
                swept += 1;
            }
        }
    }
    swept
}

/// Observers whose owner is not alive: none, unless an index went wrong.
fn orphans<V>(store: &Store<V>, owners: &OwnerRegistry) -> Vec<Entity> {
    owners.with_liveness(|alive| {
        store
            .world
            .query::<(Entity, &Links)>()
            .iter()
            .filter(|(_, links)| !alive(links.owner))
            .map(|(entity, _)| entity)
            .collect()
    })
}
