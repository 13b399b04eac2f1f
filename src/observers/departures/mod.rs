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

mod plan;

use hecs::{Entity, World};

use super::Store;
use crate::ids::OwnerKey;
use crate::observers::callbacks::Releases;
use crate::observers::variables::Roster;

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
