//! Millions of observers registered and killed in waves (a million a wave;
//! ten million in CI) leave the heap as they found it, and no observer of a
//! dead owner ever reaches its callback.
//!
//! The heap is measured with the counting global allocator of this test
//! binary (the library stays `forbid(unsafe_code)`). Its tests run on
//! parallel threads, so the test takes `common::serial()` first: nothing
//! else allocates while it measures.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use observer_manager::{CallbackId, Metadata, Notification, ObserverManager, Owner, VariableId};

use crate::common::{self, live_bytes};

/// Waves of registrations; each wave kills all its owners.
/// Waves by default: a newcomer's `cargo test` stays short. CI sets
/// `OBSERVER_MANAGER_LEAK_WAVES=10` (ten million observers); any count works.
const WAVES: usize = if cfg!(miri) { 2 } else { 3 };

/// `WAVES`, or `OBSERVER_MANAGER_LEAK_WAVES` when set to a positive count.
fn waves() -> usize {
    std::env::var("OBSERVER_MANAGER_LEAK_WAVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(WAVES)
}
/// Observers per wave (half with their own closure, half on a shared callback).
const PER_WAVE: usize = if cfg!(miri) { 2_000 } else { 1_000_000 };
/// Variables the observers of a wave spread over.
const VARIABLES: usize = if cfg!(miri) { 100 } else { 10_000 };
/// Owners per wave; even-numbered ones die first.
const OWNERS: usize = if cfg!(miri) { 20 } else { 1_000 };
/// Observers in the warm-up wave, run before the baseline is taken: enough
/// to go parallel, so rayon's pool and the tables are already set up.
const WARM_UP: usize = if cfg!(miri) { 2_000 } else { 100_000 };
/// How far the heap may end above the baseline. Allocator-level noise only:
/// rayon workers and crossbeam-epoch keep per-thread job and garbage
/// buffers whose size depends on how work was stolen, not on how many
/// observers came and went. A leak of one byte per observer would be ten
/// megabytes, three orders of magnitude above this.
const SLACK_BYTES: usize = 16 * 1024;

/// Callback-call counters: observers of surviving owners and of doomed ones.
struct Calls {
    live: Arc<AtomicU64>,
    dead: Arc<AtomicU64>,
}

fn counter(calls: &Arc<AtomicU64>) -> impl Fn(&Notification<'_, u32>) + Send + Sync + 'static {
    let calls = Arc::clone(calls);
    move |_| {
        calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// Registers `observers` over `vars` and `owners` fresh owners, delivers to
/// them, kills the even owners and checks only the rest are called, kills
/// the rest and checks the store is empty again. Returns the live heap with
/// every observer registered (the wave's high point).
fn wave(
    manager: &mut ObserverManager<u32>,
    vars: &[VariableId],
    shared: [CallbackId; 2],
    calls: &Calls,
    observers: usize,
    owners: usize,
) -> usize {
    let mut all: Vec<Option<Owner>> = (0..owners).map(|_| Some(manager.owner())).collect();
    let doomed = |owner: usize| owner.is_multiple_of(2);
    let mut doomed_observers = 0;
    for i in 0..observers {
        let var = vars[i % vars.len()];
        let owner_index = (i / 2) % owners;
        let owner = all[owner_index].as_ref().unwrap();
        let dies = doomed(owner_index);
        doomed_observers += usize::from(dies);
        if i.is_multiple_of(2) {
            let sink = if dies { &calls.dead } else { &calls.live };
            manager
                .observe(var, owner)
                .callback(counter(sink))
                .add()
                .unwrap();
        } else {
            manager
                .observe(var, owner)
                .shared(shared[usize::from(dies)])
                .add()
                .unwrap();
        }
    }
    assert_eq!(manager.total_observers(), observers);
    let high = live_bytes();

    let before = (
        calls.live.load(Ordering::Relaxed),
        calls.dead.load(Ordering::Relaxed),
    );
    notify_all(manager, vars);
    assert_eq!(manager.tick().notifications, observers as u64);
    let delivered = calls.live.load(Ordering::Relaxed) + calls.dead.load(Ordering::Relaxed);
    assert_eq!(delivered - before.0 - before.1, observers as u64);

    // Half the owners die; the next tick sweeps their observers before it
    // dispatches, so none of them is called.
    let dead_calls = calls.dead.load(Ordering::Relaxed);
    for (index, owner) in all.iter_mut().enumerate() {
        if doomed(index) {
            owner.take().unwrap().kill();
        }
    }
    notify_all(manager, vars);
    let report = manager.tick();
    assert_eq!(report.observers_swept, doomed_observers as u64);
    assert_eq!(report.notifications, (observers - doomed_observers) as u64);
    assert_eq!(
        calls.dead.load(Ordering::Relaxed),
        dead_calls,
        "an observer of a dead owner reached its callback"
    );

    drop(all);
    let report = manager.tick();
    assert_eq!(
        report.observers_swept,
        (observers - doomed_observers) as u64
    );
    assert_eq!(manager.total_observers(), 0);
    high
}

fn notify_all(manager: &ObserverManager<u32>, vars: &[VariableId]) {
    for &var in vars {
        manager.notify(var, 0, 1, Metadata::new("wave")).unwrap();
    }
}

#[test]
fn millions_of_observers_in_waves_leave_no_heap_behind() {
    let _serial = common::serial();
    let started = Instant::now();
    let mut manager = ObserverManager::<u32>::new();
    let vars: Vec<VariableId> = (0..VARIABLES)
        .map(|v| manager.variable(&format!("var{v}")).unwrap())
        .collect();
    let calls = Calls {
        live: Arc::new(AtomicU64::new(0)),
        dead: Arc::new(AtomicU64::new(0)),
    };
    let shared = [
        manager.register_callback(counter(&calls.live)),
        manager.register_callback(counter(&calls.dead)),
    ];
    let _ = wave(&mut manager, &vars, shared, &calls, WARM_UP, OWNERS);
    let baseline = live_bytes();

    let waves = waves();
    let mut highs = Vec::with_capacity(waves);
    for _ in 0..waves {
        highs.push(wave(&mut manager, &vars, shared, &calls, PER_WAVE, OWNERS));
    }
    let after = live_bytes();
    let stats = manager.stats();

    let total = (WARM_UP + waves * PER_WAVE) as u64;
    assert_eq!(stats.observers_added, total);
    assert_eq!(stats.observers_removed, total);
    assert_eq!(stats.observers_swept, total);
    assert_eq!(stats.active_observers, 0);
    assert_eq!(stats.live_owners, 0);
    assert_eq!(manager.total_observers(), 0);
    assert_eq!(stats.variables, VARIABLES as u64, "names stay interned");
    assert!(
        after <= baseline + SLACK_BYTES,
        "heap grew by {} bytes over {total} observers (baseline {baseline}, after {after})",
        after - baseline
    );
    // Printed only now: captured output allocates.
    println!(
        "leaks: {total} observers in {waves} waves of {PER_WAVE} over {VARIABLES} variables; \
         baseline {baseline} B, after {after} B ({:+} B), {} B with a wave registered, {:?}",
        after as i64 - baseline as i64,
        highs.iter().max().copied().unwrap_or(0),
        started.elapsed(),
    );
    // The callbacks go with the manager.
    drop(manager);
    assert_eq!(Arc::strong_count(&calls.live), 1);
    assert_eq!(Arc::strong_count(&calls.dead), 1);
}
