//! `floor` and `floor-par`: the least a notification engine can do.
//!
//! Each variable keeps a contiguous `Vec` of `(fn pointer, data)` slots,
//! called in a tight loop. Owners and ids live in side vectors kept in step
//! with the slots, so the dispatch loop touches 16 bytes per observer and
//! nothing else. No coalescing, no panics caught, no liveness: a floor.

use std::sync::Arc;

use rayon::prelude::*;

use crate::Counters;
use crate::peer::{Churn, Owners, Peer};

/// The callback type: context, observer data, old and new value.
type Call = fn(&Counters, u64, &u64, &u64);

/// What the dispatch loop walks: 16 bytes.
#[derive(Clone, Copy, Debug)]
struct Slot {
    call: Call,
    data: u64,
}

fn bump(counters: &Counters, _data: u64, _old: &u64, _new: &u64) {
    counters.bump();
}

/// One variable's observers. Invariant: the three vectors have equal length,
/// and index `i` of each describes the same observer.
#[derive(Debug, Default)]
struct Observers {
    slots: Vec<Slot>,
    ids: Vec<u32>,
    owners: Vec<u32>,
}

impl Observers {
    fn swap_remove(&mut self, i: usize) {
        self.slots.swap_remove(i);
        self.ids.swap_remove(i);
        self.owners.swap_remove(i);
    }

    /// Keeps the observers whose owner is alive, in one pass over all three vectors.
    fn retain_alive(&mut self, dead: &[bool]) {
        let mut kept = 0;
        for i in 0..self.slots.len() {
            if !dead[self.owners[i] as usize] {
                self.slots[kept] = self.slots[i];
                self.ids[kept] = self.ids[i];
                self.owners[kept] = self.owners[i];
                kept += 1;
            }
        }
        self.slots.truncate(kept);
        self.ids.truncate(kept);
        self.owners.truncate(kept);
    }
}

/// A change waiting for the tick.
#[derive(Clone, Copy, Debug)]
struct Change {
    var: u32,
    old: u64,
    new: u64,
}

/// `floor`: every call on the tick thread.
#[derive(Debug)]
pub struct Floor {
    vars: Vec<Observers>,
    pending: Vec<Change>,
    counters: Arc<Counters>,
    next_id: u32,
    /// Per owner, the variables it has observers on.
    owner_vars: Vec<Vec<u32>>,
    /// Owners killed so far (never reborn in a bench).
    dead: Vec<bool>,
    /// Owners killed since the last tick.
    deaths: Vec<u32>,
    /// Scratch: which variables this tick's deaths touch, as flags and as a list.
    touched: Vec<bool>,
    touched_list: Vec<u32>,
}

impl Floor {
    fn deliver(&self, change: Change) {
        for slot in &self.vars[change.var as usize].slots {
            (slot.call)(&self.counters, slot.data, &change.old, &change.new);
        }
    }

    /// Drops the observers of owners killed since the last tick, visiting
    /// only the variables those owners had observers on.
    fn sweep(&mut self) {
        let mut vars = std::mem::take(&mut self.touched_list);
        for &owner in &self.deaths {
            for &var in &self.owner_vars[owner as usize] {
                if !std::mem::replace(&mut self.touched[var as usize], true) {
                    vars.push(var);
                }
            }
            self.owner_vars[owner as usize] = Vec::new();
        }
        self.deaths.clear();
        for &var in &vars {
            self.touched[var as usize] = false;
            self.vars[var as usize].retain_alive(&self.dead);
        }
        vars.clear();
        self.touched_list = vars;
    }
}

impl Peer for Floor {
    const NAME: &'static str = "floor";
    /// Variable and id: removal scans that variable's ids.
    type Handle = (u32, u32);

    fn new(vars: usize, owners: usize, counters: &Arc<Counters>) -> Self {
        Floor {
            vars: (0..vars).map(|_| Observers::default()).collect(),
            pending: Vec::new(),
            counters: Arc::clone(counters),
            next_id: 0,
            owner_vars: vec![Vec::new(); owners],
            dead: vec![false; owners],
            deaths: Vec::new(),
            touched: vec![false; vars],
            touched_list: Vec::new(),
        }
    }

    fn add(&mut self, var: usize, owner: usize) -> Self::Handle {
        let id = self.next_id;
        self.next_id += 1;
        let observers = &mut self.vars[var];
        observers.slots.push(Slot {
            call: bump,
            data: u64::from(id),
        });
        observers.ids.push(id);
        observers.owners.push(owner as u32);
        let owned = &mut self.owner_vars[owner];
        if owned.last() != Some(&(var as u32)) {
            owned.push(var as u32);
        }
        (var as u32, id)
    }

    fn notify(&mut self, var: usize, old: u64, new: u64) {
        self.pending.push(Change {
            var: var as u32,
            old,
            new,
        });
    }

    fn tick(&mut self) {
        if !self.deaths.is_empty() {
            self.sweep();
        }
        for i in 0..self.pending.len() {
            self.deliver(self.pending[i]);
        }
        self.pending.clear();
    }

    fn observers(&mut self) -> usize {
        self.vars.iter().map(|v| v.slots.len()).sum()
    }
}

impl Churn for Floor {
    fn remove(&mut self, (var, id): Self::Handle) {
        let observers = &mut self.vars[var as usize];
        if let Some(i) = observers.ids.iter().position(|&x| x == id) {
            observers.swap_remove(i);
        }
    }
}

impl Owners for Floor {
    fn kill(&mut self, owner: usize) {
        if !std::mem::replace(&mut self.dead[owner], true) {
            self.deaths.push(owner as u32);
        }
    }
}

/// `floor-par`: the floor's storage, dispatched with rayon: changes in
/// parallel, and each variable's slots in parallel chunks of [`FloorPar::CHUNK`].
#[derive(Debug)]
pub struct FloorPar(Floor);

impl FloorPar {
    /// Observers per parallel job (the engine's default `parallel_chunk`).
    pub const CHUNK: usize = 8_192;
}

impl Peer for FloorPar {
    const NAME: &'static str = "floor-par";
    type Handle = (u32, u32);

    fn new(vars: usize, owners: usize, counters: &Arc<Counters>) -> Self {
        FloorPar(Floor::new(vars, owners, counters))
    }

    fn add(&mut self, var: usize, owner: usize) -> Self::Handle {
        self.0.add(var, owner)
    }

    fn notify(&mut self, var: usize, old: u64, new: u64) {
        self.0.notify(var, old, new);
    }

    fn tick(&mut self) {
        let floor = &self.0;
        floor.pending.par_iter().for_each(|change| {
            let slots = &floor.vars[change.var as usize].slots;
            slots.par_chunks(Self::CHUNK).for_each(|chunk| {
                for slot in chunk {
                    (slot.call)(&floor.counters, slot.data, &change.old, &change.new);
                }
            });
        });
        self.0.pending.clear();
    }

    fn observers(&mut self) -> usize {
        self.0.observers()
    }
}
