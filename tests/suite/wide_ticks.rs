//! Ticks that change thousands of variables at once, whose jobs are
//! planned in parallel tasks over ranges of the variable table: every
//! observer still gets each of its variable's changes once, in order, with
//! panics isolated and counted and the variables' counters exact, whichever
//! way the tick then delivers.

use std::collections::HashMap;
use std::error::Error;
use std::sync::{Arc, Mutex, Once};

use observer_manager::{Config, Metadata, ObserverId, ObserverManager, Owner, VariableId};

type TestResult = Result<(), Box<dyn Error>>;

/// Per observer, the `(old, new)` pairs it received.
type Received = Arc<Mutex<HashMap<ObserverId, Vec<(i64, i64)>>>>;

/// Variables with a few observers each: more than a tick plans on its own
/// thread.
const SMALL_VARIABLES: usize = 3_000;
const OBSERVERS_PER_SMALL: usize = 3;
/// One variable with many observers among them, so its job is split.
const BIG_OBSERVERS: usize = 5_000;
/// Every this-many-th observer of a small variable panics on every call.
const PANIC_EVERY: usize = 7;
/// What those observers panic with.
const PANIC_MARK: &str = "observer fails on purpose";

/// Keeps the panic hook from printing the panics these tests provoke by
/// the thousand; any other panic is reported as usual.
fn quiet_expected_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&PANIC_MARK) {
                previous(info);
            }
        }));
    });
}

struct Wide {
    manager: ObserverManager<i64>,
    /// Owns every observer for the whole test.
    _owner: Owner,
    variables: Vec<VariableId>,
    received: Received,
    /// Observers that record, and how many changes each saw so far.
    recording: Vec<ObserverId>,
    panicking: usize,
}

fn wide(config: Config) -> Result<Wide, Box<dyn Error>> {
    let mut manager = ObserverManager::<i64>::with_config(config)?;
    let owner = manager.owner();
    let received = Received::default();
    let record = manager.register_callback({
        let received = Arc::clone(&received);
        move |n| {
            let mut received = received.lock().unwrap();
            received
                .entry(n.observer)
                .or_default()
                .push((*n.old, *n.new));
        }
    });
    let fail = manager.register_callback(|_| std::panic::panic_any(PANIC_MARK));
    let mut variables = Vec::new();
    let mut recording = Vec::new();
    let mut panicking = 0;
    // The big variable sits in the middle of the table.
    for v in 0..=SMALL_VARIABLES {
        let var = manager.variable(&format!("v{v}"))?;
        variables.push(var);
        let observers = if v == SMALL_VARIABLES / 2 {
            BIG_OBSERVERS
        } else {
            OBSERVERS_PER_SMALL
        };
        for o in 0..observers {
            let fails = observers == OBSERVERS_PER_SMALL && (v * observers + o) % PANIC_EVERY == 0;
            let callback = if fails { fail } else { record };
            let id = manager.observe(var, &owner).shared(callback).add()?;
            if fails {
                panicking += 1;
            } else {
                recording.push(id);
            }
        }
    }
    Ok(Wide {
        manager,
        _owner: owner,
        variables,
        received,
        recording,
        panicking,
    })
}

/// Reports two changes of every variable, the variables in reverse order
/// (so collect has to sort), and ticks once.
fn step(wide: &mut Wide, round: i64) -> TestResult {
    for &var in wide.variables.iter().rev() {
        let meta = Metadata::new("wide");
        wide.manager
            .notify(var, 2 * round, 2 * round + 1, meta.clone())?;
        wide.manager
            .notify(var, 2 * round + 1, 2 * round + 2, meta)?;
    }
    let report = wide.manager.tick();
    let calls = 2 * (wide.recording.len() + wide.panicking) as u64;
    assert_eq!(report.notifications, calls);
    assert_eq!(report.callback_panics, 2 * wide.panicking as u64);
    Ok(())
}

fn check(config: Config) -> TestResult {
    quiet_expected_panics();
    let mut wide = wide(config)?;
    for round in 0..2 {
        step(&mut wide, round)?;
    }
    let expected: Vec<(i64, i64)> = (0..4).map(|k| (k, k + 1)).collect();
    let received = wide.received.lock().unwrap();
    assert_eq!(received.len(), wide.recording.len());
    for id in &wide.recording {
        assert_eq!(received.get(id), Some(&expected), "{id:?}");
    }
    for (v, &var) in wide.variables.iter().enumerate() {
        let report = wide.manager.inspect_variable(var)?;
        let observers = report.observers.len() as u64;
        assert_eq!(report.changes_dispatched, 4, "v{v}");
        assert_eq!(report.notifications, 4 * observers, "v{v}");
        assert_eq!(report.last_dispatch_tick, Some(2), "v{v}");
        assert!(report.observers.iter().all(|o| o.deliveries == 4), "v{v}");
    }
    Ok(())
}

#[test]
fn wide_ticks_deliver_in_parallel() -> TestResult {
    check(Config::default().parallel_threshold(0).parallel_chunk(64))
}

#[test]
fn wide_ticks_deliver_with_the_default_config() -> TestResult {
    check(Config::default())
}

#[test]
fn wide_ticks_deliver_on_the_tick_thread_when_told_to() -> TestResult {
    check(Config::default().parallel_threshold(usize::MAX))
}

#[test]
fn wide_ticks_deliver_deterministically() -> TestResult {
    check(Config::default().deterministic(true))
}
