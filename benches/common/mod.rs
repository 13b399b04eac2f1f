//! Shared by the benches: the callback body (a per-thread counter) and the
//! standard populations. Included with `mod common;` by each bench.

#![allow(dead_code)] // each bench uses its own subset

use std::sync::Arc;

use observer_manager::{Config, Notification, ObserverManager, VariableId};

/// Per-thread call counters: the callback body of every bench.
pub(crate) use observer_manager_support::Counters;

/// A manager with `per_var` observers on each of `vars` variables, all
/// calling `callback(counters, n)` through shared callbacks; every
/// `panic_every`-th observer (if any) calls a callback that panics instead.
pub(crate) fn engine(
    config: Config,
    vars: usize,
    per_var: usize,
    counters: &Arc<Counters>,
    panic_every: Option<usize>,
) -> (ObserverManager<u64>, Vec<VariableId>) {
    engine_with_faults(config, vars, per_var, counters, panic_every, Fault::Panic)
}

/// How the faulty observers of `engine_with_faults` fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // each bench binary uses its own kinds
pub(crate) enum Fault {
    /// The callback panics.
    Panic,
    /// The callback is fallible and returns `Err`.
    Error,
    /// The callback is fallible and returns `Ok`: the layout of `Error`
    /// (two callbacks interleaved in every roster) without the failures.
    Ok,
}

/// As `engine`, with every `fault_every`-th observer failing as `fault`.
pub(crate) fn engine_with_faults(
    config: Config,
    vars: usize,
    per_var: usize,
    counters: &Arc<Counters>,
    fault_every: Option<usize>,
    fault: Fault,
) -> (ObserverManager<u64>, Vec<VariableId>) {
    let mut manager = ObserverManager::<u64>::with_config(config).unwrap();
    let owner = manager.owner();
    let sink = Arc::clone(counters);
    let counting = manager.register_callback(move |_: &Notification<'_, u64>| sink.bump());
    let failing = match fault {
        Fault::Panic => {
            manager.register_callback(|_: &Notification<'_, u64>| panic!("bench fault"))
        }
        Fault::Error => manager
            .register_fallible_callback(|_: &Notification<'_, u64>| Err::<(), _>("bench fault")),
        Fault::Ok => {
            let sink = Arc::clone(counters);
            manager.register_fallible_callback(move |_: &Notification<'_, u64>| {
                sink.bump();
                Ok::<(), &str>(())
            })
        }
    };
    let ids: Vec<VariableId> = (0..vars)
        .map(|v| manager.variable(&format!("var{v}")).unwrap())
        .collect();
    let mut n = 0;
    for &id in &ids {
        for _ in 0..per_var {
            let faulty = fault_every.is_some_and(|every| n % every == 0);
            let callback = if faulty { failing } else { counting };
            manager.observe(id, &owner).shared(callback).add().unwrap();
            n += 1;
        }
    }
    std::mem::forget(owner); // keep the observers alive for the whole bench
    (manager, ids)
}
