//! The plan of a sweep's unlinking half: which rosters its leavers leave,
//! and how each is compacted.

use hecs::Entity;
use rayon::prelude::*;

use super::{
    Compacted, DENSE_ROSTERS, Departures, NOT_LEAVING, ROSTER_KINDS, SLOTS_PER_LEAVER_FOR_A_PASS,
    Touched, VARIABLES_PER_TASK, WORDS_PER_LEAVER_FOR_A_FILL, roster_key,
};
use crate::observers::places::Places;
use crate::observers::stamps::Stamps;
use crate::observers::take_at;
use crate::observers::variables::{Roster, Variable};

impl Departures {
    /// Records every observer the `lists` name (all alive) and releases
    /// their stamps; decides how each roster of `variables` they leave is
    /// compacted, and groups the leavers of those taken one by one.
    pub(super) fn make(
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
    pub(super) fn mark(&mut self, lists: &[Vec<Entity>], places: &Places, stamps: &mut Stamps) {
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
    pub(super) fn walks(&self) -> bool {
        self.rosters.len() * DENSE_ROSTERS >= self.touched.len()
    }

    /// Compacts every touched roster (see the module docs); `parallel`
    /// splits a front-to-back walk into tasks.
    pub(super) fn compact(
        &self,
        variables: &mut [Variable],
        places: &Places,
        parallel: bool,
    ) -> Compacted {
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
    pub(super) fn compact_every_roster(
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
    pub(super) fn clear_bits(&mut self, lists: &[Vec<Entity>], count: usize) {
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
    pub(super) fn clear(&mut self) {
        self.leaver_rosters.clear();
        self.grouped.clear();
        for touched in self.rosters.drain(..) {
            self.touched[roster_key(touched.variable, touched.roster)] = 0;
        }
    }
}
