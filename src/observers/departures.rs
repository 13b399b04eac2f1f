//! Despawning the observers of dead owners in one batch: the sweep's work.
//!
//! One observer at a time, leaving a roster costs a chain of cache misses at
//! random places (its place, its slot, the roster's tail, the moved
//! neighbour's place), and a sweep of a large population is made of little
//! else. So the batch goes roster by roster instead, in two halves that
//! touch disjoint tables and run at once when the batch is large, both
//! taking the dead owners' lists in the order of their first entity id:
//!
//! - **despawn**, on the calling thread: `World::despawn` of every leaver,
//!   straight from the dead owners' lists;
//! - **unlink**, meanwhile, on the pool:
//!   1. *plan*: mark each leaver's entity id in a bitset (one bit per id, so
//!      it stays in cache), release its stamp, count the leavers of each
//!      roster, and group by roster the leavers of those rosters that will
//!      lose them one by one (step 2);
//!   2. *compact* each touched roster: if it loses many observers for its
//!      length, in one sequential pass that tests each slot's bit
//!      (`Variable::sweep`); if few among many, by swap-removing its
//!      leavers one by one, so the cost follows the leavers, not the
//!      roster. When most variables have a touched roster, the variable
//!      table is walked front to back, in parallel tasks;
//!   3. *clear* the bits.
//!
//! When the leavers are many for the slots and variables there are (see
//! `SLOTS_PER_LEAVER_FOR_EVERY_PASS`), the unlinking makes no plan: it marks
//! the leavers' bits and releases their stamps, then passes over every
//! roster, front to back (in parallel tasks when the batch is large).
//!
//! Then, on the calling thread, the leavers' callbacks are released, so
//! private closures are dropped there.
//!
//! A batch of every observer there is skips all of this: the store drops
//! its world, rosters and indexes whole, as it does whenever it empties.

use hecs::{Entity, World};
use rayon::prelude::*;

use super::{Store, take_at};
use crate::callbacks::Releases;
use crate::ids::OwnerKey;
use crate::places::Places;
use crate::stamps::Stamps;
use crate::variables::{Roster, Variable};

/// A roster is compacted in one pass when fewer than this many of its
/// slots stay per leaver. A pass reads a slot in a few nanoseconds, in
/// order; a leaver taken out alone costs a few cache misses in a row, some
/// hundreds of nanoseconds. (In the simulation, where most rosters of 100
/// lose one observer a tick, 32 gave shorter sweeps than 64 or 128.)
const SLOTS_PER_LEAVER_FOR_A_PASS: usize = 32;

/// The variable table is walked front to back, rather than the touched
/// rosters visited in arrival order, when at least one in this many of its
/// rosters (three per variable) is touched.
const DENSE_ROSTERS: usize = 16;

/// Fewest leavers for which the halves run in parallel: below it, waking a
/// rayon worker costs more than it saves.
const PARALLEL_SWEEP_MIN: usize = 4_096;

/// Variables per parallel task when the table is walked front to back.
const VARIABLES_PER_TASK: usize = 256;

/// `Departures::leaver_rosters`' mark for an entry that is not leaving.
const NOT_LEAVING: u32 = u32::MAX;

/// Rosters per variable (`Roster`'s variants), as laid out in
/// `Departures::touched`.
const ROSTER_KINDS: usize = Roster::ALL.len();

/// Every roster is compacted in one pass, with no plan, when the slots and
/// variables to pass over are at most this many per leaver. A pass reads a
/// slot in 2 to 3 ns, in order, while despawning a leaver on the other half
/// takes about 25: so passing over everything then takes no longer
/// than the despawns it runs beside, and saves planning each leaver
/// (finding its roster, counting, grouping) on the unlinking half.
const SLOTS_PER_LEAVER_FOR_EVERY_PASS: usize = 12;

/// The bits are cleared by zeroing the whole bitset, rather than one
/// leaver's word at a time, when it has at most this many words per leaver.
const WORDS_PER_LEAVER_FOR_A_FILL: usize = 4;

/// The scratch of `Store::despawn_owners`, kept between sweeps so that its
/// buffers are reused: its capacity is that of the largest sweep so far,
/// 4 bytes per leaver (12 for the leavers of rosters taken one by one).
/// Empty, with every bit clear, between calls.
#[derive(Debug, Default)]
pub(crate) struct Departures {
    /// One bit per entity id, set while that observer is leaving.
    leaving: Vec<u64>,
    /// The index in `rosters` of each leaver's roster, in the order of the
    /// owners' lists (`NOT_LEAVING` for an entry that had no place).
    leaver_rosters: Vec<u32>,
    /// The leavers of the rosters taken one by one, grouped by roster:
    /// such a `rosters[i]`'s are
    /// `grouped[rosters[i].start..][..rosters[i].leavers]`. (Rosters
    /// compacted in a pass find theirs by the bits.)
    grouped: Vec<Entity>,
    /// The rosters they leave.
    rosters: Vec<Touched>,
    /// Per roster (`ROSTER_KINDS * variable + kind`): one plus the index of
    /// its entry in `rosters`, or 0 if untouched.
    touched: Vec<u32>,
    /// Which paths the last call took, for tests to check they met each.
    #[cfg(test)]
    pub(super) shape: Shape,
}

/// Which paths one `despawn_owners` call took.
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Shape {
    pub(super) parallel: bool,
    /// Whether every roster was passed over, with no plan.
    pub(super) every_roster: bool,
    /// Whether the variable table was walked front to back.
    pub(super) walked: bool,
    /// Rosters compacted in one pass.
    pub(super) passes: usize,
    /// Rosters whose leavers were taken out one by one.
    pub(super) one_by_one: usize,
}

#[derive(Clone, Copy, Debug)]
struct Touched {
    variable: u32,
    roster: Roster,
    /// Leavers from this roster.
    leavers: u32,
    /// Whether its leavers are taken out one by one rather than in a pass.
    one_by_one: bool,
    /// Where its leavers start in `Departures::grouped`, if `one_by_one`.
    start: u32,
}

/// What the compaction did: observers unlinked, the callbacks they held,
/// and how many rosters lost theirs one by one.
#[derive(Debug, Default)]
struct Compacted {
    unlinked: usize,
    releases: Releases,
    one_by_one: usize,
}

impl<V> Store<V> {
    /// Despawns every observer of the `owners` (each named once); returns
    /// how many. See the module docs for the phases.
    pub(crate) fn despawn_owners(
        &mut self,
        owners: &[OwnerKey],
        pool: Option<&rayon::ThreadPool>,
    ) -> usize {
        if owners.is_empty() {
            return 0; // most ticks
        }
        // Before the world changes: only live observers are left listed.
        let world = &self.world;
        let lists = self.owned.take_live(owners, |e| world.contains(e));
        self.despawn_batch(lists, pool)
    }

    /// Despawns the observers the `entities` name that are alive (each
    /// once, however often named), in one batch as for dead owners; their
    /// owners' lists keep stale entries. Returns how many.
    pub(crate) fn despawn_many(
        &mut self,
        mut entities: Vec<Entity>,
        pool: Option<&rayon::ThreadPool>,
    ) -> usize {
        entities.retain(|&entity| self.world.contains(entity));
        entities.sort_unstable_by_key(|entity| entity.id());
        entities.dedup();
        let despawned = self.despawn_batch(vec![entities], pool);
        let world = &self.world;
        self.owned
            .note_removed_many(despawned, world.len() as usize, |e| world.contains(e));
        despawned
    }

    /// Despawns every observer the `lists` name (all alive, each named
    /// once); returns how many.
    fn despawn_batch(
        &mut self,
        mut lists: Vec<Vec<Entity>>,
        pool: Option<&rayon::ThreadPool>,
    ) -> usize {
        let count: usize = lists.iter().map(Vec::len).sum();
        if count == 0 {
            return 0; // dead owners whose observers were all removed before
        }
        if count == self.world.len() as usize {
            // Every observer is leaving: no roster keeps anyone, so the
            // storage goes whole, in time proportional to the variables.
            // (`grown` stays set, so the tick's end still releases its
            // scratch, redoing this on empty tables.)
            self.callbacks.release_every_use();
            self.drop_observer_storage();
            return count;
        }
        // Owners' lists in the order of their first entity id: an owner's
        // observers often have ids close together (registered together),
        // so both halves then walk the id-indexed tables (hecs's entity
        // metadata, the places) forward rather than jumping between owners
        // that died in any order.
        lists.sort_unstable_by_key(|list| list.first().map(|entity| entity.id()));
        let parallel = count >= PARALLEL_SWEEP_MIN;
        let walk = self.world.len() as usize + self.variables.len();
        let every_roster = count * SLOTS_PER_LEAVER_FOR_EVERY_PASS >= walk;
        let mut plan = std::mem::take(&mut self.departures);
        let Store {
            world,
            variables,
            places,
            stamps,
            callbacks,
            ..
        } = self;
        let places = &*places;
        let mut unlink = || {
            let variables = variables.as_mut_slice();
            let compacted = if every_roster {
                plan.mark(&lists, places, stamps);
                plan.compact_every_roster(variables, places, parallel)
            } else {
                plan.make(&lists, variables, places, stamps);
                plan.compact(variables, places, parallel)
            };
            plan.clear_bits(&lists, count);
            compacted
        };
        let mut despawn = || despawn(world, &lists);
        let (mut compacted, despawned) = if parallel {
            // The despawns stay on this thread, which owns the world, and
            // the unlinking goes to the pool: a `join` from outside the pool
            // would hand both to pool threads while this one waits, which
            // made W4's sweep slower (see `peers/analysis.md`).
            let mut compacted = Compacted::default();
            let unlinked = &mut compacted;
            let despawned = side_by_side(pool, move || *unlinked = unlink(), despawn);
            (compacted, despawned)
        } else {
            (unlink(), despawn())
        };
        callbacks.release_all(&mut compacted.releases);
        #[cfg(test)]
        {
            plan.shape = Shape {
                parallel,
                every_roster,
                walked: !every_roster && plan.walks(),
                passes: plan.rosters.len() - compacted.one_by_one,
                one_by_one: compacted.one_by_one,
            };
        }
        debug_assert_eq!(
            compacted.unlinked, count,
            "a leaver missing from its roster"
        );
        debug_assert_eq!(despawned, count, "a leaver missing from the world");
        // The rosters emptied become candidates for reclaiming.
        if every_roster {
            variables.enlist_empty();
        } else {
            for touched in &plan.rosters {
                variables.enlist(touched.variable);
            }
        }
        plan.clear();
        self.departures = plan;
        count
    }
}

impl Departures {
    /// Records every observer the `lists` name (all alive) and releases
    /// their stamps; decides how each roster of `variables` they leave is
    /// compacted, and groups the leavers of those taken one by one.
    fn make(
        &mut self,
        lists: &[Vec<Entity>],
        variables: &[Variable],
        places: &Places,
        stamps: &mut Stamps,
    ) {
        self.leaver_rosters
            .reserve(lists.iter().map(Vec::len).sum());
        for &entity in lists.iter().flatten() {
            // Alive, so its place is its own.
            let Some(index) = places.stamp(entity) else {
                debug_assert!(false, "a live observer without a place");
                self.leaver_rosters.push(NOT_LEAVING);
                continue;
            };
            let Some(stamp) = stamps.get(index) else {
                debug_assert!(false, "a live observer's stamp is gone");
                self.leaver_rosters.push(NOT_LEAVING);
                continue;
            };
            self.add(entity, stamp.variable, stamp.roster);
            stamps.release(index);
        }
        let mut grouping = false;
        for touched in &mut self.rosters {
            let len = variables
                .get(touched.variable as usize)
                .map_or(0, |var| var.roster(touched.roster).len());
            touched.one_by_one = len >= SLOTS_PER_LEAVER_FOR_A_PASS * touched.leavers as usize;
            grouping |= touched.one_by_one;
        }
        if grouping {
            self.group(lists);
        }
    }

    /// Sets the bit of every observer the `lists` name (all alive) and
    /// releases their stamps, for a pass over every roster (no plan).
    fn mark(&mut self, lists: &[Vec<Entity>], places: &Places, stamps: &mut Stamps) {
        for &entity in lists.iter().flatten() {
            self.mark_leaving(entity);
            match places.stamp(entity) {
                Some(index) => stamps.release(index),
                None => debug_assert!(false, "a live observer without a place"),
            }
        }
    }

    fn mark_leaving(&mut self, entity: Entity) {
        let word = entity.id() as usize / 64;
        if word >= self.leaving.len() {
            self.leaving.resize(word + 1, 0);
        }
        self.leaving[word] |= 1 << (entity.id() % 64);
    }

    fn add(&mut self, entity: Entity, variable: u32, roster: Roster) {
        self.mark_leaving(entity);
        let key = roster_key(variable, roster);
        if key >= self.touched.len() {
            self.touched.resize(key + 1, 0);
        }
        let index = match self.touched[key] {
            0 => {
                self.rosters.push(Touched {
                    variable,
                    roster,
                    leavers: 0,
                    one_by_one: false,
                    start: 0,
                });
                self.touched[key] = self.rosters.len() as u32;
                self.rosters.len() - 1
            }
            n => n as usize - 1,
        };
        self.rosters[index].leavers += 1;
        self.leaver_rosters.push(index as u32);
    }

    /// Fills `grouped` from the `lists` and `leaver_rosters` (a counting
    /// sort by roster), for the rosters taken one by one.
    fn group(&mut self, lists: &[Vec<Entity>]) {
        // Each roster's `start` first marks the end of its group; placing a
        // leaver moves it down one, so it ends at the group's start.
        let mut end = 0;
        for touched in self.rosters.iter_mut().filter(|t| t.one_by_one) {
            end += touched.leavers;
            touched.start = end;
        }
        self.grouped.clear();
        self.grouped.resize(end as usize, Entity::DANGLING);
        let leavers = lists.iter().flatten().zip(&self.leaver_rosters);
        for (&entity, &roster) in leavers {
            let Some(touched) = self.rosters.get_mut(roster as usize) else {
                continue; // NOT_LEAVING
            };
            if touched.one_by_one {
                touched.start -= 1;
                self.grouped[touched.start as usize] = entity;
            }
        }
    }

    fn is_leaving(&self, entity: Entity) -> bool {
        let bits = self.leaving.get(entity.id() as usize / 64).copied();
        bits.is_some_and(|bits| bits & (1 << (entity.id() % 64)) != 0)
    }

    /// Whether the compaction walks the variable table front to back.
    fn walks(&self) -> bool {
        self.rosters.len() * DENSE_ROSTERS >= self.touched.len()
    }

    /// Compacts every touched roster (see the module docs); `parallel`
    /// splits a front-to-back walk into tasks.
    fn compact(&self, variables: &mut [Variable], places: &Places, parallel: bool) -> Compacted {
        let mut out = Compacted::default();
        if !self.walks() {
            for index in 0..self.rosters.len() {
                let variable = self.rosters[index].variable as usize;
                if let Some(var) = variables.get_mut(variable) {
                    self.compact_roster(var, index, places, &mut out);
                }
            }
            return out;
        }
        let (vars, keys) = (VARIABLES_PER_TASK, ROSTER_KINDS * VARIABLES_PER_TASK);
        if parallel {
            let tasks = variables
                .par_chunks_mut(vars)
                .zip(self.touched.par_chunks(keys));
            tasks
                .map(|(variables, keys)| {
                    let mut out = Compacted::default();
                    self.compact_variables(variables, keys, places, &mut out);
                    out
                })
                .reduce(Compacted::default, Compacted::merge)
        } else {
            let tasks = variables.chunks_mut(vars).zip(self.touched.chunks(keys));
            for (variables, keys) in tasks {
                self.compact_variables(variables, keys, places, &mut out);
            }
            out
        }
    }

    /// Passes over every roster of `variables`, taking out the observers
    /// whose bits are set; `parallel` splits the table into tasks.
    fn compact_every_roster(
        &self,
        variables: &mut [Variable],
        places: &Places,
        parallel: bool,
    ) -> Compacted {
        let pass_all = |variables: &mut [Variable]| {
            let mut out = Compacted::default();
            for var in variables {
                for roster in Roster::ALL {
                    if !var.roster(roster).is_empty() {
                        self.pass(var, roster, places, &mut out);
                    }
                }
            }
            out
        };
        if parallel {
            let tasks = variables.par_chunks_mut(VARIABLES_PER_TASK);
            tasks
                .map(pass_all)
                .reduce(Compacted::default, Compacted::merge)
        } else {
            pass_all(variables)
        }
    }

    /// Compacts the touched rosters of `variables`, whose rosters' entries
    /// in `touched` are `keys`.
    fn compact_variables(
        &self,
        variables: &mut [Variable],
        keys: &[u32],
        places: &Places,
        out: &mut Compacted,
    ) {
        for (var, keys) in variables.iter_mut().zip(keys.chunks(ROSTER_KINDS)) {
            for &n in keys.iter().filter(|&&n| n > 0) {
                self.compact_roster(var, n as usize - 1, places, out);
            }
        }
    }

    /// Takes the leavers of roster `index` out of `var`: in one pass, or one
    /// by one if it loses few for its length.
    fn compact_roster(
        &self,
        var: &mut Variable,
        index: usize,
        places: &Places,
        out: &mut Compacted,
    ) {
        let touched = self.rosters[index];
        if !touched.one_by_one {
            self.pass(var, touched.roster, places, out);
            return;
        }
        out.one_by_one += 1;
        let leavers = &self.grouped[touched.start as usize..][..touched.leavers as usize];
        for &entity in leavers {
            // Read now, not when planned: an earlier take may have moved it.
            let place = places.get(entity);
            let taken = place.and_then(|p| take_at(var, touched.roster, p.slot, entity, places));
            if let Some(slot) = taken {
                out.releases.push(slot.callback);
                out.unlinked += 1;
            }
        }
    }

    /// Takes the observers whose bits are set out of `var`'s `roster`, in
    /// one pass.
    fn pass(&self, var: &mut Variable, roster: Roster, places: &Places, out: &mut Compacted) {
        var.sweep(
            roster,
            |entity| self.is_leaving(entity),
            |slot| {
                out.releases.push(slot.callback);
                out.unlinked += 1;
            },
            |entity, slot| places.set_slot(entity, slot),
        );
    }

    /// Clears the bits of the `count` leavers, which the `lists` name.
    fn clear_bits(&mut self, lists: &[Vec<Entity>], count: usize) {
        if self.leaving.len() <= WORDS_PER_LEAVER_FOR_A_FILL * count {
            self.leaving.fill(0);
            return;
        }
        for entity in lists.iter().flatten() {
            if let Some(bits) = self.leaving.get_mut(entity.id() as usize / 64) {
                *bits = 0;
            }
        }
    }

    /// Empties the plan (its bits are clear already), in time proportional
    /// to its leavers and rosters.
    fn clear(&mut self) {
        self.leaver_rosters.clear();
        self.grouped.clear();
        for touched in self.rosters.drain(..) {
            self.touched[roster_key(touched.variable, touched.roster)] = 0;
        }
    }
}

/// Runs `spawned` on `pool` (rayon's global pool if `None`) while `here`
/// runs on this thread; returns `here`'s result once both are done.
fn side_by_side<'a, R>(
    pool: Option<&rayon::ThreadPool>,
    spawned: impl FnOnce() + Send + 'a,
    here: impl FnOnce() -> R,
) -> R {
    let halves = |scope: &rayon::Scope<'a>| {
        scope.spawn(|_| spawned());
        here()
    };
    match pool {
        Some(pool) => pool.in_place_scope(halves),
        None => rayon::in_place_scope(halves),
    }
}

impl Compacted {
    fn merge(mut self, mut other: Compacted) -> Compacted {
        self.unlinked += other.unlinked;
        self.releases.append(&mut other.releases);
        self.one_by_one += other.one_by_one;
        self
    }
}

/// The index of a variable's roster in `Departures::touched`.
fn roster_key(variable: u32, roster: Roster) -> usize {
    ROSTER_KINDS * variable as usize + roster as usize
}

/// Despawns every observer the `lists` name; returns how many.
fn despawn(world: &mut World, lists: &[Vec<Entity>]) -> usize {
    let entities = lists.iter().flatten();
    entities.filter(|&&e| world.despawn(e).is_ok()).count()
}
