//! The basic contract, through the public API: add, notify, tick, receive;
//! unchanged values; counters that add up; per-observer order; threads;
//! shared callbacks; coalescing; configuration errors.

use std::collections::HashSet;
use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};

use observer_manager::{
    AddObserverError, Config, ConfigError, Metadata, NotifyOutcome, ObserverId, ObserverManager,
    Policy, SessionId, Stats, UnregisterCallbackError, VariableId,
};

type TestResult = Result<(), Box<dyn Error>>;

/// Producer threads in `notifier_from_four_threads_delivers_every_change_in_one_tick`.
const THREADS: usize = 4;
/// Changes per producer thread; shrinks under slow tools.
const PER_THREAD: i64 = if cfg!(miri) { 50 } else { 1_000 };
/// Observers sharing one callback.
const SHARED_OBSERVERS: usize = if cfg!(miri) { 50 } else { 1_000 };

/// Everything a callback saw of one notification, owned.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    variable: VariableId,
    name: String,
    old: i64,
    new: i64,
    source: String,
    session: Option<SessionId>,
    observer: ObserverId,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A callback that appends what it sees to `log`.
fn recorder(
    log: &Log,
) -> impl Fn(&observer_manager::Notification<'_, i64>) + Send + Sync + 'static {
    let log = Arc::clone(log);
    move |n| {
        log.lock().unwrap().push(Seen {
            variable: n.variable,
            name: n.name.to_owned(),
            old: *n.old,
            new: *n.new,
            source: n.metadata.source.to_string(),
            session: n.metadata.session,
            observer: n.observer,
        });
    }
}

fn take(log: &Log) -> Vec<Seen> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// The stats invariants documented on `Stats`.
fn assert_stats_add_up(stats: &Stats) {
    assert_eq!(
        stats.active_observers,
        stats.observers_added - stats.observers_removed,
        "active == added - removed: {stats:?}"
    );
    assert_eq!(
        stats.changes_received,
        stats.changes_delivered + stats.changes_coalesced + stats.changes_pending,
        "received == delivered + coalesced + pending: {stats:?}"
    );
}

#[test]
fn observer_receives_change_with_metadata_until_removed() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let log = Log::default();
    let id = manager
        .observe("score", &owner)
        .callback(recorder(&log))
        .add()?;
    assert!(manager.contains_observer(id));
    assert_eq!(manager.observer_count("score"), 1);

    let meta = Metadata::new("game").with_session(SessionId(7));
    let outcome = manager.notify("score", 1, 2, meta)?;
    assert_eq!(outcome, NotifyOutcome::Queued);
    assert!(
        take(&log).is_empty(),
        "nothing is delivered before the tick"
    );

    let report = manager.tick();
    assert_eq!(report.tick, 1);
    assert_eq!(report.notifications, 1);
    assert_eq!(report.changes_delivered, 1);
    assert_eq!(
        take(&log),
        vec![Seen {
            variable: manager.variable("score")?,
            name: "score".to_owned(),
            old: 1,
            new: 2,
            source: "game".to_owned(),
            session: Some(SessionId(7)),
            observer: id,
        }]
    );

    manager.remove_observer(id)?;
    assert!(!manager.contains_observer(id));
    assert_eq!(manager.observer_count("score"), 0);
    manager.notify("score", 2, 3, Metadata::new("game"))?;
    let report = manager.tick();
    assert_eq!(
        report.changes_delivered, 1,
        "the change is still dispatched"
    );
    assert_eq!(report.notifications, 0);
    assert!(take(&log).is_empty(), "a removed observer receives nothing");
    Ok(())
}

#[test]
fn notifier_registration_and_notify_reach_observer_on_next_tick() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let notifier = manager.notifier();
    let owner = notifier.owner();
    let log = Log::default();
    notifier
        .observe("speed", &owner)
        .callback(recorder(&log))
        .defer()?;
    notifier.notify("speed", 10, 20, Metadata::new("producer"))?;
    assert_eq!(manager.total_observers(), 0, "deferred until the tick");

    let report = manager.tick();
    assert_eq!(report.commands_applied, 1);
    assert_eq!(manager.total_observers(), 1);
    let seen = take(&log);
    assert_eq!(
        seen.len(),
        1,
        "a queued change reaches an observer applied in the same tick"
    );
    assert_eq!((seen[0].old, seen[0].new), (10, 20));
    assert!(manager.contains_observer(seen[0].observer));
    Ok(())
}

#[test]
fn ten_observers_are_each_notified_exactly_once() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let log = Log::default();
    let ids: Vec<ObserverId> = (0..10)
        .map(|_| {
            manager
                .observe("level", &owner)
                .callback(recorder(&log))
                .add()
        })
        .collect::<Result<_, _>>()?;
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        10,
        "ids are distinct"
    );

    manager.notify("level", 0, 1, Metadata::new("test"))?;
    let report = manager.tick();
    assert_eq!(report.notifications, 10);

    let seen = take(&log);
    assert_eq!(seen.len(), 10);
    let called: HashSet<ObserverId> = seen.iter().map(|s| s.observer).collect();
    assert_eq!(called, ids.iter().copied().collect(), "each observer once");
    assert!(seen.iter().all(|s| (s.old, s.new) == (0, 1)));
    Ok(())
}

#[test]
fn unchanged_value_is_skipped_and_counted() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let log = Log::default();
    manager
        .observe("hp", &owner)
        .callback(recorder(&log))
        .add()?;

    assert_eq!(
        manager.notify("hp", 5, 5, Metadata::new("test"))?,
        NotifyOutcome::Unchanged
    );
    assert_eq!(manager.pending_changes(), 0, "nothing queued");
    let report = manager.tick();
    assert_eq!(report.changes_skipped, 1);
    assert_eq!(report.changes_received, 0);
    assert_eq!(report.changes_delivered, 0);
    assert_eq!(report.notifications, 0);
    assert!(take(&log).is_empty());
    assert_eq!(manager.stats().changes_skipped, 1);
    assert_eq!(manager.stats().changes_received, 0);

    // A real change afterwards still goes through.
    manager.notify("hp", 5, 4, Metadata::new("test"))?;
    assert_eq!(manager.tick().notifications, 1);
    assert_eq!(take(&log).len(), 1);
    assert_eq!(manager.stats().changes_skipped, 1);
    Ok(())
}

#[test]
fn stats_add_up_over_adds_removals_sweeps_and_panics() -> TestResult {
    let config = Config::default().sweep_every(3);
    let mut manager = ObserverManager::<i64>::with_config(config)?;
    let calls = Arc::new(AtomicUsize::new(0));
    let counting = |calls: &Arc<AtomicUsize>| {
        let calls = Arc::clone(calls);
        move |_: &observer_manager::Notification<'_, i64>| {
            calls.fetch_add(1, Ordering::Relaxed);
        }
    };
    let alice = manager.owner();
    let bob = manager.owner();
    let mut alice_ids = Vec::new();
    for _ in 0..3 {
        alice_ids.push(
            manager
                .observe("x", &alice)
                .callback(counting(&calls))
                .add()?,
        );
    }
    for _ in 0..2 {
        manager
            .observe("y", &bob)
            .callback(counting(&calls))
            .add()?;
    }
    manager
        .observe("boom", &alice)
        .callback(|_| panic!("observer failure (expected by test)"))
        .add()?;
    manager.remove_observer(alice_ids[0])?;
    let stats = manager.stats();
    assert_eq!(stats.observers_added, 6);
    assert_eq!(stats.observers_removed, 1);
    assert_eq!(stats.active_observers, 5);
    assert_eq!(stats.live_owners, 2);
    assert_stats_add_up(&stats);

    // Tick 1: x (2 observers) + y (2) + boom (1, panics) + z (none); one skipped.
    for var in ["x", "y", "z", "boom"] {
        manager.notify(var, 0, 1, Metadata::new("test"))?;
    }
    manager.notify("x", 1, 1, Metadata::new("test"))?;
    let report = manager.tick();
    assert_eq!(report.changes_received, 4);
    assert_eq!(report.changes_skipped, 1);
    assert_eq!(report.changes_delivered, 4);
    assert_eq!(report.variables_changed, 4);
    assert_eq!(report.notifications, 5);
    assert_eq!(report.callback_panics, 1);
    assert!(!report.full_sweep);
    assert_eq!(calls.load(Ordering::Relaxed), 4);
    assert_stats_add_up(&manager.stats());

    // Tick 2: bob dies; his two observers are swept.
    drop(bob);
    assert_eq!(manager.stats().live_owners, 1);
    let report = manager.tick();
    assert_eq!(report.observers_swept, 2);
    assert_stats_add_up(&manager.stats());

    // Ticks 3..=7: full sweeps at 3 and 6.
    let mut full_sweeps = Vec::new();
    for _ in 3..=7 {
        let report = manager.tick();
        if report.full_sweep {
            full_sweeps.push(report.tick);
        }
    }
    assert_eq!(full_sweeps, vec![3, 6]);

    let stats = manager.stats();
    assert_stats_add_up(&stats);
    assert_eq!(stats.ticks, 7);
    assert_eq!(manager.ticks(), 7);
    assert_eq!(stats.cleanup_runs, 2);
    assert_eq!(stats.observers_added, 6);
    assert_eq!(stats.observers_removed, 3, "one removed by id, two swept");
    assert_eq!(stats.observers_swept, 2);
    assert_eq!(stats.active_observers, 3);
    assert_eq!(stats.live_owners, 1);
    assert_eq!(stats.notifications_sent, 5);
    assert_eq!(stats.changes_received, 4);
    assert_eq!(stats.changes_skipped, 1);
    assert_eq!(stats.changes_delivered, 4);
    assert_eq!(stats.changes_coalesced, 0);
    assert_eq!(stats.changes_pending, 0);
    assert_eq!(stats.callback_panics, 1);
    assert_eq!(stats.variables, 4);
    drop(alice);
    Ok(())
}

/// Runs five observers of `v` through `ROUNDS` changes in one tick,
/// interleaved with changes of `w`, and checks each saw them in order.
/// Returns the threads the callbacks ran on.
fn check_order_per_observer(config: Config) -> Result<HashSet<ThreadId>, Box<dyn Error>> {
    const ROUNDS: i64 = 20;
    const OBSERVERS: usize = 5;
    let mut manager = ObserverManager::<i64>::with_config(config)?;
    let owner = manager.owner();
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let mut logs = Vec::new();
    for var in ["v", "w"] {
        for _ in 0..OBSERVERS {
            let log = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&log);
            let threads = Arc::clone(&threads);
            manager
                .observe(var, &owner)
                .callback(move |n| {
                    threads.lock().unwrap().insert(thread::current().id());
                    sink.lock().unwrap().push((*n.old, *n.new));
                })
                .add()?;
            logs.push((var, log));
        }
    }
    for round in 1..=ROUNDS {
        manager.notify("v", round - 1, round, Metadata::new("test"))?;
        manager.notify("w", -(round - 1), -round, Metadata::new("test"))?;
    }
    let report = manager.tick();
    assert_eq!(report.notifications, 2 * OBSERVERS as u64 * ROUNDS as u64);
    for (var, log) in &logs {
        let sign = if *var == "v" { 1 } else { -1 };
        let expected: Vec<(i64, i64)> = (1..=ROUNDS).map(|r| (sign * (r - 1), sign * r)).collect();
        assert_eq!(*log.lock().unwrap(), expected, "observer of {var}");
    }
    let threads = threads.lock().unwrap().clone();
    Ok(threads)
}

#[test]
fn changes_of_one_variable_arrive_in_submission_order_sequentially() -> TestResult {
    let threads = check_order_per_observer(Config::default())?;
    assert_eq!(
        threads,
        HashSet::from([thread::current().id()]),
        "below the threshold, dispatch runs on the tick thread"
    );
    Ok(())
}

#[test]
fn changes_of_one_variable_arrive_in_submission_order_in_parallel() -> TestResult {
    let config = Config::default().parallel_threshold(0).parallel_chunk(1);
    let threads = check_order_per_observer(config)?;
    assert!(
        !threads.contains(&thread::current().id()),
        "forced parallel dispatch runs on the pool, not the tick thread"
    );
    Ok(())
}

#[test]
fn notifier_from_four_threads_delivers_every_change_in_one_tick() -> TestResult {
    const OBSERVERS_PER_VAR: usize = 2;
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    // One slot per (thread, observer): the values it received, in order.
    let mut slots = Vec::new();
    for t in 0..THREADS {
        for _ in 0..OBSERVERS_PER_VAR {
            let log = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&log);
            manager
                .observe(format!("thread{t}"), &owner)
                .callback(move |n| {
                    assert_eq!(*n.new, *n.old + 1);
                    sink.lock().unwrap().push(*n.new);
                })
                .add()?;
            slots.push((t, log));
        }
    }
    let notifier = manager.notifier();
    thread::scope(|scope| {
        for t in 0..THREADS {
            let notifier = notifier.clone();
            scope.spawn(move || {
                let name = format!("thread{t}");
                let meta = Metadata::new(format!("producer{t}"));
                for i in 0..PER_THREAD {
                    let outcome = notifier.notify(&name, i, i + 1, meta.clone()).unwrap();
                    assert_eq!(outcome, NotifyOutcome::Queued);
                }
            });
        }
    });
    let total = THREADS as u64 * PER_THREAD as u64;
    assert_eq!(manager.pending_changes() as u64, total);

    let report = manager.tick();
    assert_eq!(report.changes_received, total);
    assert_eq!(report.changes_delivered, total);
    assert_eq!(report.changes_coalesced, 0);
    assert_eq!(report.variables_changed, THREADS as u64);
    assert_eq!(report.notifications, total * OBSERVERS_PER_VAR as u64);
    let expected: Vec<i64> = (1..=PER_THREAD).collect();
    for (t, log) in &slots {
        assert_eq!(*log.lock().unwrap(), expected, "observer of thread{t}");
    }
    assert_eq!(manager.pending_changes(), 0);
    let stats = manager.stats();
    assert_eq!(stats.notifications_sent, total * OBSERVERS_PER_VAR as u64);
    assert_stats_add_up(&stats);
    Ok(())
}

#[test]
fn shared_callback_serves_a_thousand_observers() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let called = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&called);
    let shared = manager.register_callback(move |n| sink.lock().unwrap().push(n.observer));
    let ids: Vec<ObserverId> = (0..SHARED_OBSERVERS)
        .map(|_| manager.observe("tick", &owner).shared(shared).add())
        .collect::<Result<_, _>>()?;
    assert_eq!(manager.observer_count("tick"), SHARED_OBSERVERS);

    manager.notify("tick", 0, 1, Metadata::new("clock"))?;
    let report = manager.tick();
    assert_eq!(report.notifications, SHARED_OBSERVERS as u64);
    let mut got = called.lock().unwrap().clone();
    let mut want = ids.clone();
    got.sort_by_key(|id| id.to_bits());
    want.sort_by_key(|id| id.to_bits());
    assert_eq!(got, want, "each observer called once, with its own id");

    assert_eq!(
        manager.unregister_callback(shared),
        Err(UnregisterCallbackError::InUse {
            observers: SHARED_OBSERVERS as u32
        })
    );
    for id in ids {
        manager.remove_observer(id)?;
    }
    // With no users left, the shared callback is still registered...
    let extra = manager.observe("tick", &owner).shared(shared).add()?;
    manager.remove_observer(extra)?;
    // ...until unregistered, which drops it.
    assert_eq!(
        Arc::strong_count(&called),
        2,
        "the callback holds one reference"
    );
    manager.unregister_callback(shared)?;
    assert_eq!(
        Arc::strong_count(&called),
        1,
        "unregistering drops the callback"
    );
    assert_eq!(
        manager.unregister_callback(shared),
        Err(UnregisterCallbackError::NotFound)
    );
    Ok(())
}

#[test]
fn coalescing_under_tiny_inbox_delivers_final_values() -> TestResult {
    const VARS: [&str; 3] = ["a", "b", "c"];
    const ROUNDS: i64 = 10;
    const OBSERVERS_PER_VAR: usize = 3;
    let config = Config::default().inbox_capacity(2);
    let mut manager = ObserverManager::<i64>::with_config(config)?;
    assert_eq!(manager.config().capacity(), 2);
    let owner = manager.owner();
    let mut logs = Vec::new();
    for var in VARS {
        for _ in 0..OBSERVERS_PER_VAR {
            let log = Log::default();
            manager
                .observe(var, &owner)
                .callback(recorder(&log))
                .add()?;
            logs.push((var, log));
        }
    }

    let mut coalesced = 0;
    for round in 1..=ROUNDS {
        for var in VARS {
            let meta = Metadata::new(format!("round{round}"));
            match manager.notify(var, round - 1, round, meta)? {
                NotifyOutcome::Queued => {}
                NotifyOutcome::Coalesced => coalesced += 1,
                NotifyOutcome::Unchanged => panic!("every change changes"),
            }
        }
    }
    let received = ROUNDS as u64 * VARS.len() as u64;
    assert_eq!(coalesced, received - 2, "all but the first two coalesce");
    assert_eq!(
        manager.pending_changes(),
        2 + VARS.len(),
        "queue plus one per variable"
    );

    let report = manager.tick();
    assert_eq!(report.changes_received, received);
    assert!(report.changes_coalesced > 0);
    assert_eq!(
        report.changes_coalesced + report.changes_delivered,
        report.changes_received
    );
    for (var, log) in &logs {
        let seen = take(log);
        let last = seen.last().expect("every observer receives something");
        assert_eq!(
            last.new, ROUNDS,
            "observer of {var} ends at the final value"
        );
        assert_eq!(
            last.source,
            format!("round{ROUNDS}"),
            "latest metadata kept"
        );
        // Deliveries chain: first old value 0, each old is the previous new.
        let mut value = 0;
        for s in &seen {
            assert_eq!(s.old, value, "observer of {var}: {seen:?}");
            value = s.new;
        }
    }
    let stats = manager.stats();
    assert_eq!(stats.changes_coalesced, report.changes_coalesced);
    assert_stats_add_up(&stats);

    // The next tick starts with an empty inbox again.
    assert_eq!(
        manager.notify("a", ROUNDS, ROUNDS + 1, Metadata::new("after"))?,
        NotifyOutcome::Queued
    );
    Ok(())
}

#[test]
fn change_coalesced_back_to_its_start_is_not_delivered() -> TestResult {
    let mut manager = ObserverManager::<i64>::with_config(Config::default().inbox_capacity(1))?;
    let owner = manager.owner();
    let log = Log::default();
    manager
        .observe("b", &owner)
        .callback(recorder(&log))
        .add()?;
    let meta = || Metadata::new("test");
    assert_eq!(manager.notify("a", 0, 1, meta())?, NotifyOutcome::Queued);
    assert_eq!(manager.notify("b", 0, 1, meta())?, NotifyOutcome::Coalesced);
    assert_eq!(manager.notify("b", 1, 0, meta())?, NotifyOutcome::Coalesced);

    let report = manager.tick();
    assert_eq!(report.changes_received, 3);
    assert_eq!(report.changes_delivered, 1, "only a's change");
    assert_eq!(report.changes_coalesced, 2);
    assert!(
        take(&log).is_empty(),
        "b went 0 -> 1 -> 0: nothing to report"
    );
    assert_stats_add_up(&manager.stats());
    Ok(())
}

#[test]
fn config_rejects_zero_settings() {
    let reject = |config: Config| ObserverManager::<i64>::with_config(config).err();
    assert_eq!(
        reject(Config::default().sweep_every(0)),
        Some(ConfigError::ZeroSweepEvery)
    );
    assert_eq!(
        reject(Config::default().inbox_capacity(0)),
        Some(ConfigError::ZeroInboxCapacity)
    );
    assert_eq!(
        reject(Config::default().parallel_chunk(0)),
        Some(ConfigError::ZeroParallelChunk)
    );
    assert_eq!(
        reject(
            Config::default()
                .sweep_every(1)
                .inbox_capacity(1)
                .parallel_chunk(1)
        ),
        None,
        "one is the smallest valid setting"
    );
    assert_eq!(
        reject(Config::default().parallel_threshold(0)),
        None,
        "a zero threshold means always parallel"
    );
    let manager = ObserverManager::<i64>::with_config(Config::default()).unwrap();
    assert_eq!(
        manager.config().sweep_interval(),
        Config::DEFAULT_SWEEP_EVERY
    );
    assert_eq!(manager.config().capacity(), Config::DEFAULT_INBOX_CAPACITY);
    assert!(!ConfigError::ZeroSweepEvery.to_string().is_empty());
}

#[test]
fn parallel_dispatch_runs_on_the_configured_pool() -> TestResult {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .thread_name(|i| format!("observer-pool-{i}"))
        .build()?;
    let config = Config::default()
        .parallel_threshold(0)
        .parallel_chunk(1)
        .thread_pool(Arc::new(pool));
    let mut manager = ObserverManager::<i64>::with_config(config)?;
    let owner = manager.owner();
    let names = Arc::new(Mutex::new(HashSet::new()));
    for _ in 0..8 {
        let names = Arc::clone(&names);
        manager
            .observe("x", &owner)
            .callback(move |_| {
                let name = thread::current().name().map(str::to_owned);
                names.lock().unwrap().insert(name);
            })
            .add()?;
    }
    manager.notify("x", 0, 1, Metadata::new("test"))?;
    assert_eq!(manager.tick().notifications, 8);
    let names = names.lock().unwrap();
    assert!(!names.is_empty());
    for name in names.iter() {
        let name = name.as_deref().unwrap_or("<unnamed>");
        assert!(name.starts_with("observer-pool-"), "ran on {name}");
    }
    Ok(())
}

#[test]
fn zero_is_refused_with_a_typed_error_for_every_setting_that_counts_ticks_or_panics() {
    let reject = |config: Config| ObserverManager::<i64>::with_config(config).err();
    assert_eq!(
        reject(Config::default().quarantine_after(Some(0))),
        Some(ConfigError::ZeroQuarantineAfter)
    );
    assert!(reject(Config::default().quarantine_after(Some(1))).is_none());

    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let zero = Policy::new().every(0);
    let refused = manager
        .observe("x", &owner)
        .policy(zero)
        .callback(|_| {})
        .add();
    assert_eq!(refused, Err(AddObserverError::ZeroRateLimit));
    let deferred = manager
        .notifier()
        .observe("x", &owner)
        .policy(Policy::new().every(0))
        .callback(|_| {})
        .defer();
    assert_eq!(deferred, Err(AddObserverError::ZeroRateLimit));
    assert_eq!(manager.total_observers(), 0, "nothing was added");
    assert!(manager.tick().commands_applied == 0, "nothing was queued");
    assert!(
        AddObserverError::ZeroRateLimit
            .to_string()
            .contains("every(0)")
    );
}

#[test]
fn deterministic_mode_sends_each_change_to_every_observer_before_the_next() -> TestResult {
    let mut manager = ObserverManager::<i64>::with_config(Config::default().deterministic(true))?;
    let owner = manager.owner();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut observers = Vec::new();
    for _ in 0..3 {
        let calls = Arc::clone(&calls);
        observers.push(
            manager
                .observe("x", &owner)
                .callback(move |n| {
                    calls.lock().unwrap().push((*n.new, n.observer));
                })
                .add()?,
        );
    }
    for step in 0..3 {
        manager.notify("x", step, step + 1, Metadata::default())?;
    }
    manager.tick();
    let expected: Vec<(i64, ObserverId)> = (1..=3)
        .flat_map(|new| observers.iter().map(move |&o| (new, o)))
        .collect();
    assert_eq!(*calls.lock().unwrap(), expected);
    Ok(())
}
