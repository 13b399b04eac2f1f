//! Despawning the observers of dead owners in one batch: the sweep's work.
//!
//! One observer at a time, leaving a roster costs a few cache misses at
//! random places (its slot, the roster's tail, the moved neighbour's place),
//! and a sweep of a large population is made of little else. So the batch
//! goes roster by roster instead, in two halves that touch disjoint tables
//! and run at once on rayon when the batch is large:
//!
//! - **despawn**: `World::despawn` of every leaver, straight from the dead
//!   owners' lists;
//! - **unlink**, meanwhile:
//!   1. *plan*: mark each leaver's entity id in a bitset (one bit per id, so
//!      it stays in cache), count it against its roster and release its
//!      stamp;
//!   2. *compact*: a roster that loses many observers for its length is
//!      compacted in one sequential pass that tests each slot's bit
//!      (`Variable::sweep`); when most variables have a touched roster,
//!      the variable table is walked front to back in parallel tasks. A
//!      roster that loses few among many is left for step 3, so the cost
//!      follows the leavers, not the roster;
//!   3. *clear* the bits.
//!
//! Then, on the calling thread: the callbacks of the compacted rosters'
//! leavers are released (so private closures drop there), and the leavers
//! of the rosters left alone are swap-removed one by one.

use hecs::{Entity, World};
use rayon::prelude::*;

use super::Store;
use crate::callbacks::{Callbacks, Releases};
use crate::ids::OwnerKey;
use crate::places::Places;
use crate::stamps::Stamps;
use crate::variables::{Roster, Slot, Variable, Variables};

/// A roster is compacted in one pass when fewer than this many of its
/// slots stay per leaver (a pass reads a slot in a few nanoseconds; taking
/// one leaver out alone costs a few cache misses, some hundred).
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

/// Rosters per variable (`Roster`'s variants), as laid out in
/// `Departures::touched`.
const ROSTER_KINDS: usize = 3;

/// The scratch of `Store::despawn_owners`, kept between sweeps so that its
/// buffers are reused: its capacity is that of the largest sweep so far,
/// about 12 bytes per leaver. Empty, with every bit clear, between calls.
#[derive(Debug, Default)]
pub(crate) struct Departures {
    /// One bit per entity id, set while that observer is leaving.
    leaving: Vec<u64>,
    /// Every leaving observer, in its owner's list order.
    leavers: Vec<Leaver>,
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
    /// Whether the variable table was walked front to back.
    pub(super) walked: bool,
    /// Rosters compacted in one pass.
    pub(super) passes: usize,
    /// Rosters whose leavers were taken out one by one.
    pub(super) one_by_one: usize,
}

#[derive(Clone, Copy, Debug)]
struct Leaver {
    entity: Entity,
    /// Its roster's index in `Departures::rosters`.
    roster: u32,
}

#[derive(Clone, Copy, Debug)]
struct Touched {
    variable: u32,
    roster: Roster,
    /// Leavers from this roster.
    leavers: u32,
}

/// What the compaction did: observers unlinked, the callbacks they held,
/// and the rosters it left for one-by-one removal (indices in
/// `Departures::rosters`).
#[derive(Debug, Default)]
struct Compacted {
    unlinked: usize,
    releases: Releases,
    one_by_one: Vec<u32>,
}

impl<V> Store<V> {
    /// Despawns every observer of the `owners` (each named once); returns
    /// how many. See the module docs for the phases.
    pub(crate) fn despawn_owners(
        &mut self,
        owners: &[OwnerKey],
        pool: Option<&rayon::ThreadPool>,
    ) -> usize {
        // Before the world changes: only live observers are left listed.
        let world = &self.world;
        let lists = self.owned.take_live(owners, |e| world.contains(e));
        let count: usize = lists.iter().map(Vec::len).sum();
        let parallel = count >= PARALLEL_SWEEP_MIN;
        let mut plan = std::mem::take(&mut self.departures);
        let Store {
            world,
            variables,
            places,
            stamps,
            callbacks,
            ..
        } = self;
        let mut unlink = || {
            plan.make(&lists, places, stamps);
            let compacted = plan.compact(variables.as_mut_slice(), places, parallel);
            plan.clear_bits();
            compacted
        };
        let mut despawn = || despawn(world, &lists);
        let (mut compacted, despawned) = if parallel {
            let halves = || rayon::join(unlink, despawn);
            match pool {
                Some(pool) => pool.install(halves),
                None => halves(),
            }
        } else {
            (unlink(), despawn())
        };
        callbacks.release_all(&mut compacted.releases);
        let unlinked = compacted.unlinked
            + plan.take_one_by_one(&compacted.one_by_one, variables, places, callbacks);
        #[cfg(test)]
        {
            plan.shape = Shape {
                parallel,
                walked: plan.rosters.len() * DENSE_ROSTERS >= plan.touched.len(),
                passes: plan.rosters.len() - compacted.one_by_one.len(),
                one_by_one: compacted.one_by_one.len(),
            };
        }
        debug_assert_eq!(unlinked, count, "a leaver missing from its roster");
        debug_assert_eq!(despawned, count, "a leaver missing from the world");
        plan.clear();
        self.departures = plan;
        count
    }
}

impl Departures {
    /// Records every observer the `lists` name (all alive) and releases
    /// their stamps.
    fn make(&mut self, lists: &[Vec<Entity>], places: &Places, stamps: &mut Stamps) {
        self.leavers.reserve(lists.iter().map(Vec::len).sum());
        for &entity in lists.iter().flatten() {
            // Alive, so its place is its own.
            let Some(index) = places.stamp(entity) else {
                debug_assert!(false, "a live observer without a place");
                continue;
            };
            let Some(stamp) = stamps.get(index) else {
                debug_assert!(false, "a live observer's stamp is gone");
                continue;
            };
            self.add(entity, stamp.variable, stamp.roster);
            stamps.release(index);
        }
    }

    fn add(&mut self, entity: Entity, variable: u32, roster: Roster) {
        let word = entity.id() as usize / 64;
        if word >= self.leaving.len() {
            self.leaving.resize(word + 1, 0);
        }
        self.leaving[word] |= 1 << (entity.id() % 64);
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
                });
                self.touched[key] = self.rosters.len() as u32;
                self.rosters.len() - 1
            }
            n => n as usize - 1,
        };
        self.rosters[index].leavers += 1;
        let roster = index as u32;
        self.leavers.push(Leaver { entity, roster });
    }

    fn is_leaving(&self, entity: Entity) -> bool {
        let bits = self.leaving.get(entity.id() as usize / 64).copied();
        bits.is_some_and(|bits| bits & (1 << (entity.id() % 64)) != 0)
    }

    /// Compacts every touched roster that loses many for its length (see
    /// the module docs); `parallel` splits a front-to-back walk into tasks.
    fn compact(&self, variables: &mut [Variable], places: &Places, parallel: bool) -> Compacted {
        let mut out = Compacted::default();
        if self.rosters.len() * DENSE_ROSTERS < self.touched.len() {
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

    /// Compacts roster `index` of `var` in one pass, or leaves it for
    /// one-by-one removal if it loses few for its length.
    fn compact_roster(
        &self,
        var: &mut Variable,
        index: usize,
        places: &Places,
        out: &mut Compacted,
    ) {
        let touched = self.rosters[index];
        let len = var.roster(touched.roster).len();
        if len >= SLOTS_PER_LEAVER_FOR_A_PASS * touched.leavers as usize {
            out.one_by_one.push(index as u32);
            return;
        }
        var.sweep(
            touched.roster,
            |entity| self.is_leaving(entity),
            |slot| {
                out.releases.push(slot.callback);
                out.unlinked += 1;
            },
            |entity, slot| places.set_slot(entity, slot),
        );
    }

    /// Swap-removes, one at a time, the leavers of the rosters `one_by_one`
    /// names; returns how many.
    fn take_one_by_one<V>(
        &self,
        one_by_one: &[u32],
        variables: &mut Variables,
        places: &Places,
        callbacks: &mut Callbacks<V>,
    ) -> usize {
        if one_by_one.is_empty() {
            return 0;
        }
        let mut chosen = vec![false; self.rosters.len()];
        for &index in one_by_one {
            chosen[index as usize] = true;
        }
        let mut taken = 0;
        for leaver in &self.leavers {
            if !chosen[leaver.roster as usize] {
                continue;
            }
            let touched = self.rosters[leaver.roster as usize];
            if let Some(slot) = take(variables, places, leaver.entity, touched) {
                callbacks.release(slot.callback);
                taken += 1;
            }
        }
        taken
    }

    fn clear_bits(&mut self) {
        for leaver in &self.leavers {
            if let Some(bits) = self.leaving.get_mut(leaver.entity.id() as usize / 64) {
                *bits = 0;
            }
        }
    }

    /// Empties the plan (its bits are clear already), in time proportional
    /// to its leavers and rosters.
    fn clear(&mut self) {
        self.leavers.clear();
        for touched in self.rosters.drain(..) {
            self.touched[roster_key(touched.variable, touched.roster)] = 0;
        }
    }
}

impl Compacted {
    fn merge(mut self, mut other: Compacted) -> Compacted {
        self.unlinked += other.unlinked;
        self.releases.append(&mut other.releases);
        self.one_by_one.append(&mut other.one_by_one);
        self
    }
}

/// The index of a variable's roster in `Departures::touched`.
fn roster_key(variable: u32, roster: Roster) -> usize {
    ROSTER_KINDS * variable as usize + roster as usize
}

/// Swap-removes one leaver from the roster `touched` names.
fn take(
    variables: &mut Variables,
    places: &Places,
    entity: Entity,
    touched: Touched,
) -> Option<Slot> {
    // Read now, not when planned: an earlier take may have moved it.
    let slot = places.get(entity)?.slot;
    let var = variables.get_mut(touched.variable)?;
    let (taken, moved) = var.take(touched.roster, slot as usize, entity)?;
    if let Some(moved) = moved {
        places.set_slot(moved.entity, slot);
    }
    Some(taken)
}

/// Despawns every observer the `lists` name; returns how many.
fn despawn(world: &mut World, lists: &[Vec<Entity>]) -> usize {
    let entities = lists.iter().flatten();
    entities.filter(|&&e| world.despawn(e).is_ok()).count()
}
