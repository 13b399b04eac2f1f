//! Callbacks that act on the engine while it dispatches to them: notifying,
//! registering, removing themselves, killing owners, panicking.

use std::error::Error;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use observer_manager::{Config, Metadata, Notification, ObserverId, ObserverManager, Owner};

type TestResult = Result<(), Box<dyn Error>>;

/// Per observer: the `(old, new)` pairs it received.
type Log = Arc<Mutex<Vec<(i64, i64)>>>;

fn recorder(log: &Log) -> impl Fn(&Notification<'_, i64>) + Send + Sync + 'static {
    let log = Arc::clone(log);
    move |n| log.lock().unwrap().push((*n.old, *n.new))
}

fn take(log: &Log) -> Vec<(i64, i64)> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn meta() -> Metadata {
    Metadata::new("test")
}

fn sequential() -> Config {
    Config::default()
}

fn forced_parallel() -> Config {
    Config::default().parallel_threshold(0).parallel_chunk(1)
}

/// A callback on `trigger` that, the first time it runs, notifies `echo`
/// and registers a new observer of `echo` through a notifier.
fn check_callback_notifies_and_registers(config: Config) -> TestResult {
    let mut manager = ObserverManager::<i64>::with_config(config)?;
    let owner = Arc::new(manager.owner());
    let notifier = manager.notifier();
    let early = Log::default();
    let late = Log::default();
    let fired = Arc::new(AtomicBool::new(false));
    manager
        .observe("trigger", &owner)
        .callback({
            let owner = Arc::clone(&owner);
            let late = Arc::clone(&late);
            move |n| {
                if fired.swap(true, Ordering::Relaxed) {
                    return;
                }
                let outcome = notifier.notify("echo", 0, *n.new * 10, Metadata::new("callback"));
                outcome.expect("notify from a callback");
                notifier
                    .observe("echo", &owner)
                    .callback(recorder(&late))
                    .defer()
                    .expect("register from a callback");
            }
        })
        .add()?;
    manager
        .observe("echo", &owner)
        .callback(recorder(&early))
        .add()?;
    manager.notify("trigger", 0, 1, meta())?;

    let report = manager.tick();
    assert_eq!(
        report.notifications, 1,
        "only the trigger is dispatched now"
    );
    assert!(take(&early).is_empty(), "the echo waits for the next tick");
    assert_eq!(manager.pending_changes(), 1);
    assert_eq!(manager.observer_count("echo"), 1, "registration deferred");
    assert_eq!(manager.total_observers(), 2);

    let report = manager.tick();
    assert_eq!(report.commands_applied, 1);
    assert_eq!(report.changes_delivered, 1);
    assert_eq!(report.notifications, 2, "the old and the new echo observer");
    assert_eq!(manager.observer_count("echo"), 2);
    assert_eq!(take(&early), vec![(0, 10)]);
    assert_eq!(
        take(&late),
        vec![(0, 10)],
        "applied before this tick's dispatch"
    );
    assert_eq!(manager.stats().observers_added, 3);
    Ok(())
}

#[test]
fn callback_notify_and_register_take_effect_next_tick_sequentially() -> TestResult {
    check_callback_notifies_and_registers(sequential())
}

#[test]
fn callback_notify_and_register_take_effect_next_tick_in_parallel() -> TestResult {
    check_callback_notifies_and_registers(forced_parallel())
}

#[test]
fn callback_chain_advances_one_step_per_tick() -> TestResult {
    const STEPS: i64 = 5;
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let notifier = manager.notifier();
    let log = Log::default();
    let sink = Arc::clone(&log);
    manager
        .observe("counter", &owner)
        .callback(move |n| {
            sink.lock().unwrap().push((*n.old, *n.new));
            if *n.new < STEPS {
                notifier
                    .notify("counter", *n.new, *n.new + 1, Metadata::new("chain"))
                    .unwrap();
            }
        })
        .add()?;
    manager.notify("counter", 0, 1, meta())?;
    for step in 1..=STEPS {
        let report = manager.tick();
        assert_eq!(report.notifications, 1, "tick {step}");
        assert_eq!(take(&log), vec![(step - 1, step)]);
    }
    assert_eq!(manager.pending_changes(), 0);
    assert_eq!(manager.tick().notifications, 0, "the chain has ended");
    Ok(())
}

#[test]
fn callback_removing_its_own_observer_is_delivered_once() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let notifier = manager.notifier();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let once = manager
        .observe("door", &owner)
        .callback(move |n| {
            counted.fetch_add(1, Ordering::Relaxed);
            notifier.remove_observer(n.observer).unwrap();
        })
        .add()?;
    let steady = Log::default();
    manager
        .observe("door", &owner)
        .callback(recorder(&steady))
        .add()?;

    manager.notify("door", 0, 1, meta())?;
    manager.tick();
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert!(
        manager.contains_observer(once),
        "removal waits for the next tick"
    );

    manager.notify("door", 1, 2, meta())?;
    let report = manager.tick();
    assert_eq!(report.commands_applied, 1);
    assert_eq!(report.notifications, 1, "only the steady observer");
    assert_eq!(calls.load(Ordering::Relaxed), 1, "delivered once");
    assert!(!manager.contains_observer(once));
    assert_eq!(take(&steady), vec![(0, 1), (1, 2)]);
    let stats = manager.stats();
    assert_eq!(stats.observers_removed, 1);
    assert_eq!(stats.active_observers, 1);
    // The callback (and the notifier it captured) went with the observer.
    assert_eq!(Arc::strong_count(&calls), 1);
    Ok(())
}

#[test]
fn self_removal_lets_changes_of_the_same_tick_through() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let notifier = manager.notifier();
    let seen: Arc<Mutex<Vec<(ObserverId, i64)>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let id = manager
        .observe("door", &owner)
        .callback(move |n| {
            sink.lock().unwrap().push((n.observer, *n.new));
            notifier.remove_observer(n.observer).unwrap();
        })
        .add()?;
    manager.notify("door", 0, 1, meta())?;
    manager.notify("door", 1, 2, meta())?;
    let report = manager.tick();
    assert_eq!(
        report.notifications, 2,
        "removal is deferred to the next tick"
    );
    assert_eq!(*seen.lock().unwrap(), vec![(id, 1), (id, 2)]);

    let report = manager.tick();
    assert_eq!(report.commands_applied, 1);
    assert_eq!(
        report.commands_skipped, 1,
        "the second removal finds it gone"
    );
    assert!(!manager.contains_observer(id));
    Ok(())
}

#[test]
fn callback_killing_an_owner_does_not_deadlock() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let victim: Arc<Mutex<Option<Owner>>> = Arc::new(Mutex::new(Some(manager.owner())));
    let victim_log = Log::default();
    for _ in 0..2 {
        let guard = victim.lock().unwrap();
        manager
            .observe("x", guard.as_ref().unwrap())
            .callback(recorder(&victim_log))
            .add()?;
    }
    let slot = Arc::clone(&victim);
    manager
        .observe("kill", &owner)
        .callback(move |_| {
            drop(slot.lock().unwrap().take());
        })
        .add()?;
    assert_eq!(manager.stats().live_owners, 2);

    manager.notify("kill", 0, 1, meta())?;
    manager.tick();
    assert!(victim.lock().unwrap().is_none());
    assert_eq!(manager.stats().live_owners, 1);

    manager.notify("x", 0, 1, meta())?;
    let report = manager.tick();
    assert_eq!(report.observers_swept, 2);
    assert_eq!(report.notifications, 0);
    assert!(take(&victim_log).is_empty());
    Ok(())
}

/// Three observers of `v` (the middle one panics) and one of `w`: the
/// panic is caught, counted and affects no other call.
fn check_panic_isolation(config: Config) -> TestResult {
    let mut manager = ObserverManager::<i64>::with_config(config)?;
    let owner = manager.owner();
    let before = Log::default();
    let after = Log::default();
    let other = Log::default();
    let first = manager
        .observe("v", &owner)
        .callback(recorder(&before))
        .add()?;
    let panicker = manager
        .observe("v", &owner)
        .callback(|n| panic!("observer failure on {} (expected by test)", n.new))
        .add()?;
    let last = manager
        .observe("v", &owner)
        .callback(recorder(&after))
        .add()?;
    manager
        .observe("w", &owner)
        .callback(recorder(&other))
        .add()?;

    manager.notify("v", 0, 1, meta())?;
    manager.notify("w", 0, 1, meta())?;
    let report = manager.tick();
    assert_eq!(report.callback_panics, 1);
    assert_eq!(report.notifications, 4, "a panicking call still counts");
    assert_eq!(take(&before), vec![(0, 1)]);
    assert_eq!(take(&after), vec![(0, 1)]);
    assert_eq!(take(&other), vec![(0, 1)]);
    assert_eq!(manager.stats().callback_panics, 1);

    let report = manager.inspect_variable("v")?;
    let panics_of = |id: ObserverId| {
        let observer = report.observers.iter().find(|o| o.id == id).unwrap();
        (observer.panics, observer.deliveries)
    };
    assert_eq!(panics_of(panicker), (1, 1));
    assert_eq!(panics_of(first), (0, 1));
    assert_eq!(panics_of(last), (0, 1));

    // The panicking observer stays registered and keeps being called.
    manager.notify("v", 1, 2, meta())?;
    let report = manager.tick();
    assert_eq!(report.callback_panics, 1);
    assert_eq!(take(&before), vec![(1, 2)]);
    assert_eq!(take(&after), vec![(1, 2)]);
    assert!(manager.contains_observer(panicker));
    let stats = manager.stats();
    assert_eq!(stats.callback_panics, 2);
    assert_eq!(stats.notifications_sent, 7);
    let report = manager.inspect_variable("v")?;
    let observer = report.observers.iter().find(|o| o.id == panicker).unwrap();
    assert_eq!((observer.panics, observer.deliveries), (2, 2));
    Ok(())
}

#[test]
fn panicking_callback_is_isolated_sequentially() -> TestResult {
    check_panic_isolation(sequential())
}

#[test]
fn panicking_callback_is_isolated_in_parallel() -> TestResult {
    check_panic_isolation(forced_parallel())
}

/// Observers of one variable where the ones marked `true` panic, some
/// adjacent and at both ends, half of them (or, with `all_shared`, all of
/// them) through one shared callback: every call happens exactly once, in
/// order, and every panic is counted.
fn check_many_panics(config: Config, all_shared: bool) -> TestResult {
    const PATTERN: [bool; 8] = [true, false, true, true, false, false, true, true];
    const CHANGES: i64 = 3;
    let mut manager = ObserverManager::<i64>::with_config(config)?;
    let owner = manager.owner();
    let calls: Arc<Mutex<Vec<(ObserverId, i64)>>> = Arc::default();
    let panicking: Arc<Mutex<Vec<ObserverId>>> = Arc::default();
    let shared = {
        let calls = Arc::clone(&calls);
        let panicking = Arc::clone(&panicking);
        manager.register_callback(move |n| {
            calls.lock().unwrap().push((n.observer, *n.new));
            if panicking.lock().unwrap().contains(&n.observer) {
                panic!("shared observer failure (expected by test)");
            }
        })
    };
    let mut ids = Vec::new();
    for (i, &panics) in PATTERN.iter().enumerate() {
        let id = if i % 2 == 0 || all_shared {
            manager.observe("v", &owner).shared(shared).add()?
        } else {
            let calls = Arc::clone(&calls);
            manager
                .observe("v", &owner)
                .callback(move |n| {
                    calls.lock().unwrap().push((n.observer, *n.new));
                    if panics {
                        panic!("private observer failure (expected by test)");
                    }
                })
                .add()?
        };
        if panics {
            panicking.lock().unwrap().push(id);
        }
        ids.push(id);
    }
    for new in 1..=CHANGES {
        manager.notify("v", new - 1, new, meta())?;
    }
    let report = manager.tick();
    let panickers = PATTERN.iter().filter(|&&p| p).count() as u64;
    assert_eq!(report.callback_panics, panickers * CHANGES as u64);
    assert_eq!(report.notifications, PATTERN.len() as u64 * CHANGES as u64);

    let calls = calls.lock().unwrap();
    for &id in &ids {
        let got: Vec<i64> = calls
            .iter()
            .filter(|(o, _)| *o == id)
            .map(|&(_, v)| v)
            .collect();
        assert_eq!(
            got,
            (1..=CHANGES).collect::<Vec<_>>(),
            "{id:?}: once each, in order"
        );
    }
    let inspected = manager.inspect_variable("v")?;
    for (&id, &panics) in ids.iter().zip(&PATTERN) {
        let o = inspected.observers.iter().find(|o| o.id == id).unwrap();
        let expected = if panics { CHANGES as u32 } else { 0 };
        assert_eq!(o.panics, expected, "{id:?}");
        assert_eq!(o.deliveries, CHANGES as u64, "{id:?}");
    }
    Ok(())
}

#[test]
fn several_panicking_callbacks_never_cause_double_delivery_sequentially() -> TestResult {
    check_many_panics(sequential(), false)?;
    check_many_panics(sequential(), true)
}

#[test]
fn several_panicking_callbacks_never_cause_double_delivery_in_parallel() -> TestResult {
    for all_shared in [false, true] {
        check_many_panics(forced_parallel(), all_shared)?;
        check_many_panics(
            Config::default().parallel_threshold(0).parallel_chunk(9),
            all_shared,
        )?;
    }
    Ok(())
}
