//! The store's invariants, checked whole, and the batch sweep against a
//! model of who should be left.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hecs::Entity;

use super::departures::Shape;
use super::{Spawn, Store};
use crate::ids::{CallbackKey, ManagerTag, OwnerKey};
use crate::ingest::names::Var;
use crate::observers::components::Liveness;
use crate::observers::variables::{Interner, Roster};
use crate::owners::{Owner, OwnerRegistry};
use crate::policy::Policy;

impl<V> Store<V> {
    /// Panics unless every index agrees with the world: each roster slot
    /// names a live observer whose place is that slot and whose stamp names
    /// that variable and roster; every live observer sits in one slot and in
    /// its owner's list; each stamp counts the observers naming it.
    pub(crate) fn assert_consistent(&self) {
        let mut slots = 0;
        let mut stamp_users: HashMap<u32, u32> = HashMap::new();
        for index in 0..self.variables.len() as u32 {
            let var = self.variables.get(index).expect("in range");
            for roster in Roster::ALL {
                for (i, slot) in var.roster(roster).iter().enumerate() {
                    assert!(
                        self.world.contains(slot.entity),
                        "a roster names a dead entity"
                    );
                    let place = self.places.get(slot.entity).expect("a place");
                    assert_eq!(place.slot, i as u32, "a place disagrees with its roster");
                    let stamp = self.stamps.get(place.stamp).expect("a stamp");
                    assert_eq!((stamp.variable, stamp.roster), (index, roster));
                    *stamp_users.entry(place.stamp).or_default() += 1;
                    slots += 1;
                }
            }
        }
        assert_eq!(
            slots,
            self.world.len() as usize,
            "observers outside the rosters"
        );
        for (&stamp, &users) in &stamp_users {
            assert_eq!(
                self.stamps.users(stamp),
                Some(users),
                "stamp {stamp} miscounted"
            );
        }
        let mut listed = 0;
        for (owner, list) in self.owned.iter() {
            for &entity in list {
                if let Ok(liveness) = self.world.get::<&Liveness>(entity) {
                    assert_eq!(liveness.owner, owner, "listed under another owner");
                    listed += 1;
                }
            }
        }
        assert_eq!(listed, slots, "observers missing from their owners' lists");
    }
}

/// A fixed-seed generator (SplitMix64), so every failure reproduces.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// A store with observers spread so that one sweep meets every path: a
/// huge roster that loses few (one by one), small rosters that lose many
/// (one pass), policed and quarantined rosters, observers removed on their
/// own before their owner dies (stale list entries), and private callbacks
/// whose drops are counted.
struct Rig {
    store: Store<u32>,
    registry: Arc<OwnerRegistry>,
    owners: Vec<Option<Owner>>,
    /// The live observers of each owner, by the rig's own bookkeeping.
    model: Vec<HashSet<Entity>>,
    /// Private callbacks dropped so far.
    dropped: Arc<AtomicUsize>,
    /// The observers made with a private callback, gone ones included.
    privates: HashSet<Entity>,
    /// The shared callback the other observers call.
    shared: CallbackKey,
}

/// Drops count into the shared counter.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Rig {
    /// `small` variables of `per_small` observers after one variable of
    /// `huge` observers, spread over `owners` owners at random.
    fn new(seed: u64, owners: usize, huge: usize, small: usize, per_small: usize) -> Rig {
        let tag = ManagerTag::fresh();
        let interner = Interner::new(tag);
        let registry = Arc::new(OwnerRegistry::new(tag));
        let mut store = Store::new();
        let key = store
            .callbacks
            .register(crate::observers::callbacks::plain(|_| {}));
        let mut rig = Rig {
            store,
            owners: (0..owners).map(|_| Some(registry.spawn())).collect(),
            registry,
            model: vec![HashSet::new(); owners],
            dropped: Arc::new(AtomicUsize::new(0)),
            privates: HashSet::new(),
            shared: key,
        };
        let mut rng = Rng(seed);
        let variables: Vec<u32> = (0..=small)
            .map(|v| interner.intern(Var::Name(&format!("v{v}"))).unwrap().index)
            .collect();
        let sizes = std::iter::once(huge).chain(std::iter::repeat_n(per_small, small));
        for (&variable, size) in variables.iter().zip(sizes) {
            for _ in 0..size {
                let o = rng.below(owners);
                let owner = rig.owners[o].as_ref().unwrap().key;
                let private = rng.below(4) == 0;
                let callback = if private {
                    let guard = DropCount(Arc::clone(&rig.dropped));
                    rig.store
                        .callbacks
                        .insert_private(crate::observers::callbacks::plain(move |_| {
                            let _ = &guard;
                        }))
                } else {
                    assert!(rig.store.callbacks.acquire(key));
                    crate::observers::callbacks::CallbackRef::shared(key)
                };
                let policy = (rng.below(10) == 0).then(|| Policy::new().once());
                let spawn = Spawn {
                    variable,
                    owner,
                    callback,
                    policy,
                    tick: rng.below(3) as u64,
                };
                let entity = rig.store.spawn(&interner, spawn).unwrap();
                rig.model[o].insert(entity);
                if private {
                    rig.privates.insert(entity);
                }
                if rng.below(50) == 0 {
                    assert!(rig.store.quarantine(entity));
                }
            }
        }
        rig.store.assert_consistent();
        rig
    }

    /// Removes one observer in `n` on its own, leaving stale list entries.
    fn remove_some(&mut self, rng: &mut Rng, n: usize) {
        for set in &mut self.model {
            let gone: Vec<Entity> = set.iter().copied().filter(|_| rng.below(n) == 0).collect();
            for entity in gone {
                assert!(self.store.despawn(entity));
                set.remove(&entity);
            }
        }
        self.check();
    }

    /// Kills the `owners` and sweeps them; checks the count, the indexes,
    /// and that each survivor is exactly the model's. Returns the paths the
    /// sweep took.
    fn kill_and_sweep(&mut self, owners: &[usize]) -> Shape {
        let mut keys: Vec<OwnerKey> = Vec::new();
        let mut expected = 0;
        for &o in owners {
            keys.push(self.owners[o].take().unwrap().key);
            expected += std::mem::take(&mut self.model[o]).len();
        }
        let mut deaths = Vec::new();
        self.registry.take_deaths(&mut deaths);
        assert_eq!(deaths.len(), keys.len());
        assert_eq!(self.store.despawn_owners(&deaths, None), expected);
        self.check();
        self.store.departures.shape
    }

    /// The store holds exactly the model's observers, consistently, and
    /// exactly their private callbacks.
    fn check(&self) {
        self.store.assert_consistent();
        let live: usize = self.model.iter().map(HashSet::len).sum();
        assert_eq!(self.store.len(), live);
        let mut private = 0;
        for &entity in self.model.iter().flatten() {
            assert!(self.store.world.contains(entity));
            private += usize::from(self.privates.contains(&entity));
        }
        let dropped = self.dropped.load(Ordering::Relaxed);
        assert_eq!(self.privates.len() - dropped, private, "private callbacks");
    }
}

#[test]
fn a_large_sweep_meets_every_path_and_leaves_the_indexes_consistent() {
    // Above `PARALLEL_SWEEP_MIN` leavers, so the halves run in parallel, and
    // few enough for the observers to be planned.
    let mut rig = Rig::new(1, 400, 80_000, 800, 50);
    let mut rng = Rng(2);
    rig.remove_some(&mut rng, 7);
    // A twentieth of the owners: the small rosters lose one (one by one) or
    // more (in one pass), the huge one its twentieth (in one pass).
    let round: Vec<usize> = (0..400).filter(|o| o % 20 == 3).collect();
    let shape = rig.kill_and_sweep(&round);
    assert!(
        shape.parallel && shape.walked && !shape.every_roster,
        "{shape:?}"
    );
    assert!(shape.passes > 0 && shape.one_by_one > 0, "{shape:?}");
    // Then everyone but one owner: every roster passed over, unplanned.
    let rest: Vec<usize> = (0..400).filter(|o| o % 20 != 3 && *o != 5).collect();
    let shape = rig.kill_and_sweep(&rest);
    assert!(shape.parallel && shape.every_roster, "{shape:?}");
    assert_eq!((shape.passes, shape.one_by_one), (0, 0), "{shape:?}");
    assert!(!rig.model[5].is_empty());
    let shape = rig.kill_and_sweep(&[5]);
    assert!(!shape.parallel, "{shape:?}");
    assert_eq!(rig.store.len(), 0);
}

#[test]
fn a_small_sweep_among_many_variables_visits_only_its_rosters() {
    // Few leavers among many variables: below `PARALLEL_SWEEP_MIN`, and the
    // touched rosters are visited in arrival order, not by a table walk.
    let mut rig = Rig::new(3, 2_000, 0, 3_000, 4);
    let mut rng = Rng(4);
    rig.remove_some(&mut rng, 5);
    let shape = rig.kill_and_sweep(&[0, 17, 1_999]);
    assert!(
        !shape.parallel && !shape.walked && shape.passes > 0,
        "{shape:?}"
    );
    // Everyone else but one owner with observers.
    let gone = [0, 17, 1_999];
    let keep = (1..2_000)
        .find(|o| !gone.contains(o) && !rig.model[*o].is_empty())
        .unwrap();
    let all: Vec<usize> = (0..2_000)
        .filter(|o| !gone.contains(o) && *o != keep)
        .collect();
    let epoch = rig.store.epoch;
    let shape = rig.kill_and_sweep(&all);
    assert!(shape.parallel && shape.every_roster, "{shape:?}");
    assert_eq!(rig.store.epoch, epoch, "observers remain: no new epoch");
    assert!(rig.store.len() > 0);
}

#[test]
fn a_sweep_of_many_for_the_slots_passes_over_every_roster() {
    let mut rig = Rig::new(7, 100, 20_000, 300, 40);
    let mut rng = Rng(8);
    rig.remove_some(&mut rng, 9);
    // A tenth of the owners: below `PARALLEL_SWEEP_MIN` leavers, one
    // observer in ten leaving.
    let round: Vec<usize> = (0..100).filter(|o| o % 10 == 1).collect();
    let shape = rig.kill_and_sweep(&round);
    assert!(!shape.parallel && shape.every_roster, "{shape:?}");
    // Then a third of the owners left: above it.
    let round: Vec<usize> = (0..100).filter(|o| o % 3 == 0 && o % 10 != 1).collect();
    let shape = rig.kill_and_sweep(&round);
    assert!(shape.parallel && shape.every_roster, "{shape:?}");
    assert!(rig.store.len() > 0);
}

#[test]
fn a_sweep_of_every_observer_drops_the_storage_whole() {
    let mut rig = Rig::new(5, 300, 20_000, 500, 10);
    let mut rng = Rng(6);
    rig.remove_some(&mut rng, 9);
    let epoch = rig.store.epoch;
    let everyone: Vec<usize> = (0..300).collect();
    // Checks the count, the private callbacks dropped and the indexes.
    rig.kill_and_sweep(&everyone);
    assert_ne!(rig.store.epoch, epoch, "the storage went whole");
    assert_eq!((rig.store.len(), rig.store.world.len()), (0, 0));
    // No use of the shared callback is left counted.
    assert!(rig.store.callbacks.unregister(rig.shared).is_ok());
}
