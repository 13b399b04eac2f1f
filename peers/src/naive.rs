//! `naive` and `naive-rayon`: what one writes first.
//!
//! Callbacks by variable name in a `HashMap<String, Vec<(u64, Box<dyn Fn>)>>`,
//! one boxed closure per observer. `naive` calls them on the tick thread;
//! `naive-rayon` adds `par_iter` over the changes and over each variable's
//! callbacks. Removal finds the id in the variable's list and swap-removes it.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;

use crate::Counters;
use crate::peer::{Churn, Owners, Peer};

type Callback = Box<dyn Fn(&str, &u64, &u64) + Send + Sync>;

/// `naive`: every callback on the tick thread.
pub struct Naive {
    map: HashMap<String, Vec<(u64, Callback)>>,
    /// Variable index to name: the benches address variables by index.
    names: Vec<String>,
    /// Per owner, its observers as (variable, id).
    owners: Vec<Vec<(u32, u64)>>,
    pending: Vec<(u32, u64, u64)>,
    counters: Arc<Counters>,
    next_id: u64,
}

impl std::fmt::Debug for Naive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Naive")
            .field("variables", &self.map.len())
            .finish_non_exhaustive()
    }
}

impl Naive {
    fn call_all(&self, var: u32, old: u64, new: u64) {
        let name = &self.names[var as usize];
        if let Some(list) = self.map.get(name) {
            for (_, callback) in list {
                callback(name, &old, &new);
            }
        }
    }

    fn remove_one(&mut self, var: u32, id: u64) {
        if let Some(list) = self.map.get_mut(&self.names[var as usize])
            && let Some(i) = list.iter().position(|(x, _)| *x == id)
        {
            drop(list.swap_remove(i));
        }
    }
}

impl Peer for Naive {
    const NAME: &'static str = "naive";
    type Handle = (u32, u64);

    fn new(vars: usize, owners: usize, counters: &Arc<Counters>) -> Self {
        let names: Vec<String> = (0..vars).map(|v| format!("var{v}")).collect();
        Naive {
            map: names.iter().map(|n| (n.clone(), Vec::new())).collect(),
            names,
            owners: vec![Vec::new(); owners],
            pending: Vec::new(),
            counters: Arc::clone(counters),
            next_id: 0,
        }
    }

    fn add(&mut self, var: usize, owner: usize) -> Self::Handle {
        let id = self.next_id;
        self.next_id += 1;
        let sink = Arc::clone(&self.counters);
        let callback: Callback = Box::new(move |_, _, _| sink.bump());
        let list = self.map.entry(self.names[var].clone()).or_default();
        list.push((id, callback));
        self.owners[owner].push((var as u32, id));
        (var as u32, id)
    }

    fn notify(&mut self, var: usize, old: u64, new: u64) {
        self.pending.push((var as u32, old, new));
    }

    fn tick(&mut self) {
        for i in 0..self.pending.len() {
            let (var, old, new) = self.pending[i];
            self.call_all(var, old, new);
        }
        self.pending.clear();
    }

    fn observers(&mut self) -> usize {
        self.map.values().map(Vec::len).sum()
    }
}

impl Churn for Naive {
    fn remove(&mut self, (var, id): Self::Handle) {
        self.remove_one(var, id);
    }
}

impl Owners for Naive {
    /// Removes the owner's observers at once (the tick has nothing left to do).
    fn kill(&mut self, owner: usize) {
        for (var, id) in std::mem::take(&mut self.owners[owner]) {
            self.remove_one(var, id);
        }
    }
}

/// `naive-rayon`: the naive map, delivered with `par_iter` over the changes
/// and, nested, over each variable's callbacks.
#[derive(Debug)]
pub struct NaiveRayon(Naive);

impl Peer for NaiveRayon {
    const NAME: &'static str = "naive-rayon";
    type Handle = (u32, u64);

    fn new(vars: usize, owners: usize, counters: &Arc<Counters>) -> Self {
        NaiveRayon(Naive::new(vars, owners, counters))
    }

    fn add(&mut self, var: usize, owner: usize) -> Self::Handle {
        self.0.add(var, owner)
    }

    fn notify(&mut self, var: usize, old: u64, new: u64) {
        self.0.notify(var, old, new);
    }

    fn tick(&mut self) {
        let naive = &self.0;
        naive.pending.par_iter().for_each(|&(var, old, new)| {
            let name = &naive.names[var as usize];
            if let Some(list) = naive.map.get(name) {
                list.par_iter()
                    .for_each(|(_, callback)| callback(name, &old, &new));
            }
        });
        self.0.pending.clear();
    }

    fn observers(&mut self) -> usize {
        self.0.observers()
    }
}
