//! The observer store: every per-observer structure, and the only code that
//! spawns or despawns an observer, so the invariants below hold whenever
//! control leaves this module.
//!
//! One observer (entity `e`) lives in five places:
//!
//! | structure | file | holds for `e` |
//! |---|---|---|
//! | the hecs `World` | `components.rs` | its row: `Liveness` (owner), and only if needed `Tally`, `Frozen`, `Policed` |
//! | `Places` | `places.rs` | `Place { stamp, slot }`, by `e.id()` |
//! | `Stamps` | `stamps.rs` | the `Stamp` it shares with observers registered with it: variable, roster, tick, baseline |
//! | `Variables` | `variables.rs` | its `Slot { entity, callback }` in one roster of its variable |
//! | `OwnedLists` | `owned.rs` | an entry in its owner's list |
//!
//! plus one use of its callback in `Callbacks` (`callbacks/`).
//!
//! Invariants, for every live observer `e`:
//!
//! 1. `places[e.id()] = Place { stamp: s, slot: i }`, and
//!    `stamps[s] = Stamp { variable: v, roster: r, .. }`, which counts `e`
//!    among its live observers. [`locate`] reads this chain; only the
//!    despawns (`despawn`, the sweep's `departures/plan.rs`) read it apart,
//!    as they release the stamp they find.
//! 2. `variables[v].roster(r)[i].entity == e`: a roster names live
//!    observers only, each once, and a roster's position is its place's.
//! 3. The owner in `e`'s `Liveness` lists `e` in `OwnedLists`. (A removed
//!    observer leaves a stale entry there, never a live one elsewhere: stale
//!    entries name despawned entities, at most the live observers plus one.)
//! 4. `e`'s slot's `CallbackRef` holds one use of its callback: a shared
//!    callback's count, or the private closure itself.
//!
//! A despawned id's place is stale until the id is reused, so a place is
//! read only for an entity known to be alive (one in a roster, or one whose
//! row was just found). A stamp is free iff no observer names it and it is
//! not its variable's open stamp. An emptied store drops and rebuilds its
//! world and tables (`release_storage_if_empty`), bumping `epoch` so that
//! ids from before stay stale.

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use hecs::{ColumnBatch, ColumnBatchType, Entity, QueryOneError, World};

use crate::ids::OwnerKey;
use crate::observers::callbacks::{CallbackRef, Callbacks};
use crate::observers::components::{Delivery, Frozen, Liveness, Tally};
use crate::observers::owned::OwnedLists;
use crate::observers::places::{Place, Places};
use crate::observers::stamps::{Registration, Stamp, Stamps};
use crate::observers::variables::{Interner, Roster, Slot, Variable, Variables};
use crate::policy::{Policed, Policy};
use crate::systems::Primed;

pub(crate) mod callbacks;
pub(crate) mod components;
mod departures;
pub(crate) mod owned;
pub(crate) mod places;
pub(crate) mod stamps;
#[cfg(test)]
mod test;
pub(crate) mod variables;

pub(crate) use departures::Departures;

pub(crate) struct Store<V> {
    pub(crate) world: World,
    pub(crate) variables: Variables,
    /// Each observer's stamp and roster position, by entity id.
    pub(crate) places: Places,
    /// The registration stamps observers name (`Place::stamp`).
    pub(crate) stamps: Stamps,
    /// Observers of each owner that has any.
    owned: OwnedLists,
    /// Scratch of `despawn_owners`, kept so its buffers are reused.
    departures: Departures,
    pub(crate) callbacks: Callbacks<V>,
    /// When the store was made; registration times count from here.
    born: Instant,
    /// Advances each time the world is rebuilt; part of every `ObserverId`,
    /// so ids from before a rebuild (whose entity generations restart) stay stale.
    pub(crate) epoch: u32,
    /// Whether anything was spawned since the last rebuild.
    grown: bool,
    /// Primed values awaiting their observer's first tick.
    pub(crate) primed: Vec<Primed<V>>,
    /// Policed observers holding a merged change for a later tick; may name
    /// observers gone since (checked when read).
    pub(crate) waiting: Vec<Entity>,
}

/// [`Store::locate`], for a caller that holds the world mutably.
#[inline]
pub(crate) fn locate(places: &Places, stamps: &Stamps, entity: Entity) -> Option<(Place, Stamp)> {
    let place = places.get(entity)?;
    let stamp = *stamps.get(place.stamp)?;
    Some((place, stamp))
}

/// What a new observer is made of.
pub(crate) struct Spawn<V> {
    pub(crate) variable: u32,
    pub(crate) owner: OwnerKey,
    /// Its use already counted by the caller.
    pub(crate) callback: CallbackRef,
    pub(crate) policy: Option<Policy<V>>,
    pub(crate) tick: u64,
}

/// Swap-removes `entity` from position `slot` of `roster` in `var`, and
/// records the new position of the neighbour moved into the hole; returns
/// the removed slot. `None` if that position holds another observer (a
/// stale place removes nothing).
fn take_at(
    var: &mut Variable,
    roster: Roster,
    slot: u32,
    entity: Entity,
    places: &Places,
) -> Option<Slot> {
    let (taken, moved) = var.take(roster, slot as usize, entity)?;
    if let Some(moved) = moved {
        places.set_slot(moved.entity, slot);
    }
    Some(taken)
}

/// The stamp of one more observer of `var` (index `variable`) in `roster`,
/// registered at `tick`: `var`'s open stamp if alike, else a new one.
fn join_stamp(
    stamps: &mut Stamps,
    var: &mut Variable,
    variable: u32,
    roster: Roster,
    tick: u64,
    born: Instant,
) -> u32 {
    let registration = Registration {
        variable,
        roster,
        tick,
        baseline: var.changes_dispatched,
    };
    stamps.join(registration, &mut var.stamp, || nanos_since(born))
}

/// Nanoseconds from `born` to now (saturating: 584 years).
fn nanos_since(born: Instant) -> u64 {
    u64::try_from(born.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Most observers per `Store::spawn_many` call, the part of a bulk add
/// spawned at once: its temporary lists (the checked pairs, the column of
/// rows and the new entities, about 32 bytes per observer) stay small
/// enough that the allocator hands the same memory back part
/// after part, rather than fresh pages for the whole batch.
pub(crate) const SPAWN_BATCH: usize = 1 << 16;

/// The rows of plain observers of `owners`, as a batch of hecs columns.
/// `None` if the column came out short, which the writer below rules out.
fn column_batch(owners: impl ExactSizeIterator<Item = OwnerKey>) -> Option<ColumnBatch> {
    let mut columns = ColumnBatchType::new();
    columns.add::<Liveness>();
    let builder = columns.into_batch(u32::try_from(owners.len()).ok()?);
    {
        let mut writer = builder.writer::<Liveness>()?;
        for owner in owners {
            writer.push(Liveness { owner }).ok()?;
        }
    }
    builder.build().ok()
}

impl<V> Store<V> {
    pub(crate) fn new() -> Self {
        Store {
            world: World::new(),
            variables: Variables::default(),
            places: Places::default(),
            stamps: Stamps::default(),
            owned: OwnedLists::default(),
            departures: Departures::default(),
            callbacks: Callbacks::new(),
            born: Instant::now(),
            epoch: 0,
            grown: false,
            primed: Vec::new(),
            waiting: Vec::new(),
        }
    }

    /// With no observer left, frees the storage a past population grew (the
    /// world's columns, the indexes, the private callbacks), so memory
    /// returns to that of an empty manager. True if it did.
    pub(crate) fn release_storage_if_empty(&mut self) -> bool {
        if !self.grown || !self.world.is_empty() {
            return false;
        }
        debug_assert!(self.variables.as_mut_slice().iter().all(|v| v.len() == 0));
        self.drop_observer_storage();
        self.grown = false;
        true
    }

    /// Replaces the world, its indexes and the private callbacks with empty
    /// ones, and starts a new epoch, so that no id from before names
    /// anything. Every observer there was is gone; the caller has released
    /// their callback uses.
    fn drop_observer_storage(&mut self) {
        self.world = World::new();
        self.epoch = self.epoch.wrapping_add(1);
        self.owned = OwnedLists::default();
        self.departures = Departures::default();
        self.variables.release_observer_storage();
        self.places = Places::default();
        self.stamps = Stamps::default();
        self.callbacks.release_private_storage();
        self.primed = Vec::new();
        self.waiting = Vec::new();
    }

    /// Spawns an observer. `None` if the owner key is stale (the owner was
    /// swept); the callback is released then.
    pub(crate) fn spawn(&mut self, interner: &Interner, spawn: Spawn<V>) -> Option<Entity>
    where
        V: Send + Sync + 'static,
    {
        let Spawn {
            variable,
            owner,
            callback,
            policy,
            tick,
        } = spawn;
        let Some(owned) = self.owned.list(owner) else {
            self.callbacks.release(callback);
            return None;
        };
        let var = self.variables.get_or_sync(variable, interner);
        let policy = policy.filter(|p| !p.is_plain());
        let roster = match policy {
            Some(_) => Roster::Policed,
            None => Roster::Plain,
        };
        let stamp = join_stamp(&mut self.stamps, var, variable, roster, tick, self.born);
        let liveness = Liveness { owner };
        let entity = match policy {
            Some(policy) => self.world.spawn((liveness, Policed::new(policy))),
            None => self.world.spawn((liveness,)),
        };
        let slot = var.push(roster, Slot { entity, callback });
        self.places.set(entity, Place { stamp, slot });
        owned.push(entity);
        self.grown = true;
        Some(entity)
    }

    /// Spawns one plain observer per `(variable, owner)` pair (at most
    /// `SPAWN_BATCH`), all calling `callback` (whose uses the caller has
    /// counted), as one batch written column by column: the world grows at
    /// most once and copies each column whole. Then links each in one pass
    /// (its roster slot, place, stamp and owner list), so each roster is
    /// reached once per observer. Every variable must be interned and every
    /// owner key live (the caller checked both and holds the owners'
    /// guards); pushes `id` of each entity onto `ids`, in the order of
    /// `observers`.
    pub(crate) fn spawn_many<T>(
        &mut self,
        interner: &Interner,
        observers: &[(u32, OwnerKey)],
        callback: CallbackRef,
        tick: u64,
        ids: &mut Vec<T>,
        id: impl Fn(Entity) -> T,
    ) {
        debug_assert!(observers.len() <= SPAWN_BATCH, "spawn_many takes one part");
        self.variables.sync(interner);
        self.reserve_plain(observers.len());
        let Some(batch) = column_batch(observers.iter().map(|&(_, owner)| owner)) else {
            debug_assert!(false, "column batch left incomplete");
            return;
        };
        let entities: Vec<Entity> = self.world.spawn_column_batch(batch).collect();
        let ends = entities.iter().map(|e| e.id() as usize + 1);
        self.places.grow_to(ends.max().unwrap_or(0));
        ids.reserve(entities.len());
        // Bulk adds mostly come owner by owner: make each owner's list once
        // per run.
        let mut listed = None;
        for (&(variable, owner), &entity) in observers.iter().zip(&entities) {
            if listed != Some(owner) {
                if self.owned.list(owner).is_none() {
                    self.unspawn_unlinked(entity, callback);
                    continue;
                }
                listed = Some(owner);
            }
            let Some(var) = self.variables.get_mut(variable) else {
                self.unspawn_unlinked(entity, callback);
                continue;
            };
            let stamp = join_stamp(
                &mut self.stamps,
                var,
                variable,
                Roster::Plain,
                tick,
                self.born,
            );
            let slot = var.push(Roster::Plain, Slot { entity, callback });
            self.places.set(entity, Place { stamp, slot });
            let listed = self.owned.push(owner, entity);
            debug_assert!(listed, "the owner's list was made above");
            ids.push(id(entity));
        }
        self.grown |= !entities.is_empty();
    }

    /// Takes back an entity of `spawn_many` whose pair its caller should
    /// have refused (an unknown variable or a swept owner): despawned, its
    /// callback use released, so nothing of it remains.
    fn unspawn_unlinked(&mut self, entity: Entity, callback: CallbackRef) {
        debug_assert!(false, "spawn_many given a pair its caller should refuse");
        let _ = self.world.despawn(entity);
        self.callbacks.release(callback);
    }

    /// Makes room in the world for `additional` plain observers at once,
    /// so that a bulk add grows it once rather than doubling it part by
    /// part. (More than `u32::MAX` observers cannot fit its ids anyway.)
    pub(crate) fn reserve_plain(&mut self, additional: usize) {
        if let Ok(additional) = u32::try_from(additional) {
            self.world.reserve::<(Liveness,)>(additional);
        }
    }

    /// Where a live observer is: its place (its stamp's index and its
    /// position in the roster) and its stamp (variable, roster, baseline).
    /// The one lookup of this chain. Only for an entity known to be alive:
    /// a despawned id's place is stale (see `Places`).
    #[inline]
    pub(crate) fn locate(&self, entity: Entity) -> Option<(Place, Stamp)> {
        locate(&self.places, &self.stamps, entity)
    }

    /// Moves an observer to the quarantine: it stays listed but is never
    /// called again. False if it is gone or already quarantined.
    pub(crate) fn quarantine(&mut self, entity: Entity) -> bool {
        let Ok(tally) = self.world.query_one_mut::<Option<&Tally>>(entity) else {
            return false;
        };
        let extra = tally.map_or(0, |t| t.extra);
        // Alive (it has a row), so its place is its own.
        let Some((place, stamp)) = self.locate(entity) else {
            return false;
        };
        if stamp.roster == Roster::Quarantined {
            return false;
        }
        let Some(var) = self.variables.get(stamp.variable) else {
            return false;
        };
        let delivery = Delivery {
            baseline: stamp.baseline,
            extra,
        };
        let frozen = Frozen {
            changes_dispatched: var.changes_dispatched,
            last_delivery_tick: delivery.last_delivery_tick(
                var.changes_dispatched,
                var.last_dispatch_tick.map(NonZeroU64::get),
                None,
            ),
        };
        let Some(slot) = self.unlink_variable(entity, place) else {
            return false;
        };
        let Some(var) = self.variables.get_mut(stamp.variable) else {
            return false;
        };
        let slot = var.push(Roster::Quarantined, slot);
        if let Some(restamped) = self.stamps.restamp(place.stamp, Roster::Quarantined) {
            let place = Place {
                stamp: restamped,
                slot,
            };
            self.places.set(entity, place);
        }
        let inserted = self.world.insert_one(entity, frozen).is_ok();
        debug_assert!(inserted, "the entity was read above");
        true
    }

    /// Despawns every observer of `variable`; returns how many.
    pub(crate) fn despawn_variable(&mut self, variable: u32) -> usize {
        let mut despawned = 0;
        for roster in Roster::ALL {
            while let Some(last) = self
                .variables
                .get(variable)
                .and_then(|v| v.roster(roster).last().copied())
            {
                if !self.despawn(last.entity) {
                    debug_assert!(false, "variable index named a missing observer");
                    break;
                }
                despawned += 1;
            }
        }
        despawned
    }

    /// Despawns one observer, unlinking it from its variable's roster (its
    /// owner's list keeps a stale entry); false if it does not exist.
    pub(crate) fn despawn(&mut self, entity: Entity) -> bool {
        // Read before the despawn, which proves the entity was alive (so
        // the place is its own), and used after it: the world's cache misses
        // and the roster's overlap.
        let place = self.places.get(entity);
        if self.world.despawn(entity).is_err() {
            return false;
        }
        match place.and_then(|place| Some((place, self.unlink_variable(entity, place)?))) {
            Some((place, slot)) => {
                self.callbacks.release(slot.callback);
                if let Some(stamp) = self.stamps.get(place.stamp) {
                    self.variables.enlist(stamp.variable);
                }
                self.stamps.release(place.stamp);
            }
            None => debug_assert!(false, "observer missing from its variable's roster"),
        }
        let world = &self.world;
        self.owned
            .note_removed(world.len() as usize, |e| world.contains(e));
        true
    }

    /// Runs `f` on the observer's `Tally`, adding one (zeroed) first if it
    /// has none; `None` if the observer is gone. One look-up when it has one.
    pub(crate) fn with_tally<R>(
        &mut self,
        entity: Entity,
        f: impl FnOnce(&mut Tally) -> R,
    ) -> Option<R> {
        match self.world.query_one_mut::<&mut Tally>(entity) {
            Ok(tally) => return Some(f(tally)),
            Err(QueryOneError::NoSuchEntity) => return None,
            Err(QueryOneError::Unsatisfied) => {}
        }
        let mut tally = Tally::default();
        let result = f(&mut tally);
        self.world.insert_one(entity, tally).ok()?;
        Some(result)
    }

    /// Whether any observer has a policy, so that some variable may have a
    /// policed roster: one check per archetype (a handful).
    pub(crate) fn has_policed(&self) -> bool
    where
        V: Send + Sync + 'static,
    {
        let mut archetypes = self.world.archetypes();
        archetypes.any(|a| !a.is_empty() && a.has::<Policed<V>>())
    }

    /// Owners that have a list: at least one observer, or stale entries
    /// not yet compacted.
    pub(crate) fn owners(&self) -> impl Iterator<Item = OwnerKey> + '_ {
        self.owned.owners()
    }

    /// How long ago observers stamped with `stamp` registered, at `now`.
    pub(crate) fn age(&self, stamp: &Stamp, now: Instant) -> Duration {
        now.saturating_duration_since(self.born)
            .saturating_sub(Duration::from_nanos(stamp.nanos))
    }

    /// Observers currently alive in the world.
    pub(crate) fn len(&self) -> usize {
        self.world.len() as usize
    }

    /// Takes `entity`, found at `place`, out of its variable's roster (see
    /// `take_at`); returns its slot.
    fn unlink_variable(&mut self, entity: Entity, place: Place) -> Option<Slot> {
        let stamp = self.stamps.get(place.stamp)?;
        let var = self.variables.get_mut(stamp.variable)?;
        take_at(var, stamp.roster, place.slot, entity, &self.places)
    }
}
