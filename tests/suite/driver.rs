//! The tick driver through the public API: both schedules, shutdown and its
//! final stats, drop without shutdown, and panics on the driver thread.

use std::error::Error;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use observer_manager::{
    Capacity, DriverError, Metadata, NotifyError, ObserverManager, Owner, Schedule, SpawnFailure,
    TickDriver,
};

type TestResult = Result<(), Box<dyn Error>>;

/// How long a test waits for the driver before it fails.
const PATIENCE: Duration = Duration::from_secs(10);
/// Changes reported in the shutdown test.
const CHANGES: u64 = if cfg!(miri) { 10 } else { 500 };
/// Observers of the variable in the shutdown test.
const OBSERVERS: u64 = 4;

fn meta() -> Metadata {
    Metadata::new("test")
}

/// Polls `done` until it holds or `PATIENCE` runs out; returns the wait.
fn wait_for(done: impl Fn() -> bool) -> Result<Duration, Box<dyn Error>> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > PATIENCE {
            return Err("timed out waiting for the driver".into());
        }
        thread::sleep(Duration::from_micros(200));
    }
    Ok(start.elapsed())
}

/// A manager with one observer of `var`, alive while the returned owner is,
/// that adds each delivered `new` to `sum`.
fn summing_manager(
    var: &str,
    sum: &Arc<AtomicU64>,
) -> Result<(ObserverManager<u64>, Owner), Box<dyn Error>> {
    let mut manager = ObserverManager::<u64>::new();
    let owner = manager.owner();
    let sink = Arc::clone(sum);
    manager
        .observe(var, &owner)
        .callback(move |n| {
            sink.fetch_add(*n.new, Ordering::Relaxed);
        })
        .add()?;
    Ok((manager, owner))
}

#[test]
fn fixed_rate_driver_ticks_and_delivers_without_being_asked() -> TestResult {
    let sum = Arc::new(AtomicU64::new(0));
    let (manager, _owner) = summing_manager("x", &sum)?;
    let driver = TickDriver::spawn(manager, Schedule::FixedRate(Duration::from_millis(2)))?;
    assert_eq!(
        driver.schedule(),
        Schedule::FixedRate(Duration::from_millis(2))
    );

    // Ticks run with nothing to deliver.
    wait_for(|| driver.last_report().is_some_and(|r| r.tick >= 3))?;
    driver.notifier().notify("x", 0, 7, meta())?;
    wait_for(|| sum.load(Ordering::Relaxed) == 7)?;
    assert!(driver.is_running());

    let stats = driver.shutdown()?;
    assert!(stats.ticks >= 4);
    assert_eq!(stats.changes_delivered, 1);
    Ok(())
}

#[test]
fn on_demand_driver_delivers_promptly_and_rests_when_idle() -> TestResult {
    let sum = Arc::new(AtomicU64::new(0));
    let (manager, _owner) = summing_manager("x", &sum)?;
    let driver = TickDriver::spawn(manager, Schedule::OnDemand)?;
    let notifier = driver.notifier();

    let mut worst = Duration::ZERO;
    for round in 1..=5 {
        notifier.notify("x", 0, 1, meta())?;
        worst = worst.max(wait_for(|| sum.load(Ordering::Relaxed) == round)?);
    }
    // A poll interval plus a tiny tick; generous for a loaded machine.
    assert!(
        worst < Duration::from_millis(500),
        "worst latency {worst:?}"
    );

    // The callback ran inside the tick; the report is recorded after it.
    // A round trip through the driver thread waits for that.
    driver.stats()?;
    let ticks = driver.last_report().ok_or("it ticked")?.tick;
    thread::sleep(Duration::from_millis(30));
    assert_eq!(
        driver.last_report().ok_or("it ticked")?.tick,
        ticks,
        "no tick while idle"
    );
    assert!(driver.shutdown()?.ticks >= 5);
    Ok(())
}

#[test]
fn shutdown_delivers_pending_changes_and_returns_stats_that_add_up() -> TestResult {
    let calls = Arc::new(AtomicU64::new(0));
    let mut manager = ObserverManager::<u64>::new();
    let owner = manager.owner();
    for _ in 0..OBSERVERS {
        let calls = Arc::clone(&calls);
        manager
            .observe("x", &owner)
            .callback(move |_| {
                calls.fetch_add(1, Ordering::Relaxed);
            })
            .add()?;
    }
    // A period no test outlives: only shutdown ticks.
    let driver = TickDriver::spawn(manager, Schedule::FixedRate(Duration::from_secs(3_600)))?;
    let notifier = driver.notifier();
    thread::scope(|scope| {
        for producer in 0..2 {
            let notifier = &notifier;
            scope.spawn(move || {
                for value in 0..CHANGES / 2 {
                    let base = producer * CHANGES;
                    notifier
                        .notify("x", base + value, base + value + 1, meta())
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(driver.last_report(), None, "nothing ticked yet");

    let stats = driver.shutdown()?;
    assert_eq!(stats.changes_received, CHANGES);
    assert_eq!(stats.changes_delivered, CHANGES);
    assert_eq!(stats.changes_pending, 0);
    assert_eq!(
        stats.changes_received,
        stats.changes_delivered + stats.changes_coalesced + stats.changes_pending
    );
    assert_eq!(stats.notifications_sent, CHANGES * OBSERVERS);
    assert_eq!(calls.load(Ordering::Relaxed), CHANGES * OBSERVERS);
    assert_eq!(
        stats.active_observers,
        stats.observers_added - stats.observers_removed
    );
    assert_eq!(stats.ticks, 2, "a delivering tick, then a quiet one");
    assert_eq!(
        notifier.notify("x", 0, 1, meta()),
        Err(NotifyError::ManagerDropped),
        "the manager is gone"
    );
    drop(owner);
    Ok(())
}

#[test]
fn shutdown_applies_deferred_registrations_and_watchers() -> TestResult {
    let driver = TickDriver::spawn(
        ObserverManager::<u64>::new(),
        Schedule::FixedRate(Duration::from_secs(3_600)),
    )?;
    let notifier = driver.notifier();
    let watcher = notifier.watch("x", Capacity::Unbounded)?;
    notifier.notify("x", 1, 2, meta())?;
    let stats = driver.shutdown()?;
    assert_eq!(stats.commands_applied, 1);
    assert_eq!(stats.notifications_sent, 1);
    assert_eq!(watcher.iter().map(|n| n.new).collect::<Vec<_>>(), [2]);
    Ok(())
}

#[test]
fn dropping_the_driver_delivers_pending_changes_and_joins() -> TestResult {
    let sum = Arc::new(AtomicU64::new(0));
    let (manager, _owner) = summing_manager("x", &sum)?;
    let driver = TickDriver::spawn(manager, Schedule::FixedRate(Duration::from_secs(3_600)))?;
    let notifier = driver.notifier();
    notifier.notify("x", 0, 9, meta())?;

    drop(driver);
    // Joined: the final tick ran and the manager (with its callback) is gone.
    assert_eq!(sum.load(Ordering::Relaxed), 9);
    assert_eq!(Arc::strong_count(&sum), 1, "the callback was dropped");
    assert_eq!(
        notifier.notify("x", 9, 10, meta()),
        Err(NotifyError::ManagerDropped)
    );
    Ok(())
}

#[test]
fn with_manager_runs_between_ticks_and_registers_at_once() -> TestResult {
    let driver = TickDriver::spawn(ObserverManager::<u64>::new(), Schedule::OnDemand)?;
    let owner = driver.notifier().owner();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    // The owner travels to the driver thread and back, alive all along.
    let (_owner, thread_name) = driver.with_manager(move |manager| {
        manager
            .observe("x", &owner)
            .callback(move |n| sink.lock().unwrap().push(*n.new))
            .add()?;
        let name = thread::current().name().map(str::to_owned);
        Ok::<_, observer_manager::AddObserverError>((owner, name))
    })??;
    assert_eq!(thread_name.as_deref(), Some("observer-manager-driver"));

    driver.notifier().notify("x", 0, 3, meta())?;
    wait_for(|| seen.lock().unwrap().as_slice() == [3])?;
    let stats = driver.stats()?;
    assert_eq!(stats.active_observers, 1);
    assert_eq!(stats.notifications_sent, 1);
    driver.shutdown()?;
    Ok(())
}

#[test]
fn with_manager_closure_panic_is_an_error_and_the_driver_runs_on() -> TestResult {
    let driver = TickDriver::spawn(ObserverManager::<u64>::new(), Schedule::OnDemand)?;
    let outcome = driver.with_manager(|_| -> u8 { panic!("closure bug") });
    assert_eq!(
        outcome,
        Err(DriverError::ClosurePanicked {
            message: "closure bug".to_owned()
        })
    );
    assert!(driver.is_running());
    assert_eq!(driver.with_manager(|m| m.ticks())?, 0);
    driver.shutdown()?;
    Ok(())
}

#[test]
fn with_manager_on_the_driver_thread_is_refused_not_deadlocked() -> TestResult {
    let driver = Arc::new(TickDriver::spawn(
        ObserverManager::<u64>::new(),
        Schedule::OnDemand,
    )?);
    let inner = Arc::clone(&driver);
    let nested = driver.with_manager(move |_| inner.with_manager(|_| ()))?;
    assert_eq!(nested, Err(DriverError::Reentrant));
    let driver = Arc::into_inner(driver).ok_or("the closure released its handle")?;
    driver.shutdown()?;
    Ok(())
}

/// A value whose drop panics once armed: a panic that escapes the tick.
struct Fragile {
    value: u8,
    armed: Arc<AtomicBool>,
}

impl PartialEq for Fragile {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Drop for Fragile {
    fn drop(&mut self) {
        if self.value == 13 && self.armed.swap(false, Ordering::SeqCst) {
            panic!("unlucky value dropped");
        }
    }
}

#[test]
fn panic_on_the_driver_thread_is_a_typed_error_from_shutdown() -> TestResult {
    let armed = Arc::new(AtomicBool::new(true));
    let driver = TickDriver::spawn(ObserverManager::<Fragile>::new(), Schedule::OnDemand)?;
    let fragile = |value| Fragile {
        value,
        armed: Arc::clone(&armed),
    };
    driver
        .notifier()
        .notify("x", fragile(1), fragile(13), meta())?;
    wait_for(|| !driver.is_running())?;

    assert_eq!(
        driver.with_manager(|m| m.ticks()),
        Err(DriverError::Stopped)
    );
    match driver.shutdown() {
        Err(DriverError::Panicked { message }) => {
            assert_eq!(message, "unlucky value dropped");
        }
        other => return Err(format!("expected a panic error, got {other:?}").into()),
    }
    Ok(())
}

#[test]
fn zero_period_is_refused_and_the_manager_given_back() -> TestResult {
    let manager = ObserverManager::<u64>::new();
    manager.notify("x", 0, 1, meta())?;
    let error = TickDriver::spawn(manager, Schedule::FixedRate(Duration::ZERO)).unwrap_err();
    assert!(matches!(error.reason(), SpawnFailure::ZeroPeriod));
    assert_eq!(
        error.to_string(),
        "cannot start the tick driver: fixed-rate period is zero"
    );
    assert!(
        std::error::Error::source(&error).is_none(),
        "the reason is in the message"
    );
    let mut manager = error.into_manager();
    assert_eq!(manager.tick().changes_delivered, 1, "nothing was lost");
    Ok(())
}

#[test]
fn huge_period_means_never_not_a_panic() -> TestResult {
    let driver = TickDriver::spawn(
        ObserverManager::<u64>::new(),
        Schedule::FixedRate(Duration::MAX),
    )?;
    assert_eq!(driver.with_manager(|m| m.ticks())?, 0);
    assert!(driver.is_running());
    assert_eq!(driver.shutdown()?.ticks, 1, "only the final tick");
    Ok(())
}

#[test]
fn into_manager_hands_back_a_usable_manager() -> TestResult {
    let sum = Arc::new(AtomicU64::new(0));
    let (manager, _owner) = summing_manager("x", &sum)?;
    let driver = TickDriver::spawn(manager, Schedule::OnDemand)?;
    driver.notifier().notify("x", 0, 2, meta())?;
    let mut manager = driver.into_manager()?;
    assert_eq!(
        sum.load(Ordering::Relaxed),
        2,
        "drained before the hand-back"
    );
    manager.notify("x", 2, 5, meta())?;
    manager.tick();
    assert_eq!(sum.load(Ordering::Relaxed), 7);
    Ok(())
}

#[test]
fn on_demand_sweeps_dead_owners_and_applies_registrations_without_a_change() -> TestResult {
    let sum = Arc::new(AtomicU64::new(0));
    let (manager, owner) = summing_manager("x", &sum)?;
    let driver = TickDriver::spawn(manager, Schedule::OnDemand)?;
    drop(owner); // a death to sweep, and no change to deliver
    wait_for(|| driver.stats().is_ok_and(|s| s.observers_swept == 1))?;

    let late = driver.notifier().owner();
    driver
        .notifier()
        .observe("y", &late)
        .callback(|_| {})
        .defer()?;
    wait_for(|| driver.stats().is_ok_and(|s| s.active_observers == 1))?;
    let stats = driver.shutdown()?;
    assert_eq!(stats.notifications_sent, 0, "no change was ever reported");
    Ok(())
}
