//! Channel watchers through the public API: order, the sweep of dropped
//! watchers, the bounded drop policy, and consumers on other threads.

use std::error::Error;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::thread;
use std::time::Duration;

use observer_manager::{
    Capacity, Config, Metadata, ObserverManager, OwnedNotification, VariableError, WatchError,
    Watcher,
};

type TestResult = Result<(), Box<dyn Error>>;

/// Changes sent in the ordering and threading tests.
const CHANGES: i64 = if cfg!(miri) { 20 } else { 1_000 };
/// How long a test waits for another thread before it fails.
const PATIENCE: Duration = Duration::from_secs(10);

fn meta() -> Metadata {
    Metadata::new("test")
}

/// Reports `count` changes of `var`: `0 -> 1`, `1 -> 2`, …
fn notify_run(manager: &ObserverManager<i64>, var: &str, count: i64) -> TestResult {
    for value in 0..count {
        manager.notify(var, value, value + 1, meta())?;
    }
    Ok(())
}

fn news(watcher: &Watcher<i64>) -> Vec<i64> {
    watcher.try_iter().map(|n| n.new).collect()
}

#[test]
fn watcher_receives_every_change_in_submission_order() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let watcher = manager.watch("x", Capacity::Unbounded)?;
    let other = manager.watch("y", Capacity::Unbounded)?;
    notify_run(&manager, "x", CHANGES)?;
    manager.notify("y", 5, 6, meta())?;

    let report = manager.tick();
    assert_eq!(report.notifications, CHANGES as u64 + 1);
    let received: Vec<OwnedNotification<i64>> = watcher.try_iter().collect();
    assert_eq!(received.len(), CHANGES as usize);
    for (value, n) in (0..CHANGES).zip(&received) {
        assert_eq!((n.old, n.new), (value, value + 1));
        assert_eq!(&*n.name, "x");
        assert_eq!(n.variable, watcher.variable());
        assert_eq!(Some(n.observer), watcher.observer());
        assert_eq!(n.metadata.source, "test");
    }
    assert_eq!(news(&other), [6]);
    assert_eq!(watcher.dropped(), 0);
    Ok(())
}

#[test]
fn many_watchers_fed_by_parallel_dispatch_each_get_every_change_in_order() -> TestResult {
    const WATCHERS: usize = if cfg!(miri) { 4 } else { 64 };
    const PER_TICK: i64 = 50;
    let config = Config::default().parallel_threshold(1).parallel_chunk(7);
    let mut manager = ObserverManager::<i64>::with_config(config)?;
    let watchers = (0..WATCHERS)
        .map(|_| manager.watch("x", PER_TICK as usize))
        .collect::<Result<Vec<_>, _>>()?;
    notify_run(&manager, "x", PER_TICK)?;
    let report = manager.tick();
    assert_eq!(report.notifications, (WATCHERS as i64 * PER_TICK) as u64);
    let expected: Vec<i64> = (1..=PER_TICK).collect();
    for watcher in &watchers {
        assert_eq!(news(watcher), expected);
        assert_eq!(watcher.dropped(), 0);
    }
    Ok(())
}

#[test]
fn watcher_registered_through_the_manager_gets_changes_already_queued() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    manager.notify("x", 0, 1, meta())?;
    let watcher = manager.watch("x", 4)?;
    manager.tick();
    assert_eq!(news(&watcher), [1]);
    Ok(())
}

#[test]
fn dropped_watcher_is_swept_by_the_first_tick_after_the_drop() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let watcher = manager.watch("x", 8)?;
    let keeper = manager.watch("x", 8)?;
    manager.notify("x", 0, 1, meta())?;
    assert_eq!(manager.tick().notifications, 2);

    drop(watcher);
    // Its owner is dead at once; the observer waits for the next sweep.
    assert_eq!(manager.total_observers(), 2);
    manager.notify("x", 1, 2, meta())?;
    let report = manager.tick();
    assert_eq!(report.observers_swept, 1, "swept by the very next tick");
    assert_eq!(report.notifications, 1, "and sent nothing in it");
    assert_eq!(manager.total_observers(), 1);
    assert_eq!(news(&keeper), [1, 2]);
    assert_eq!(manager.tick().observers_swept, 0);
    Ok(())
}

#[test]
fn dropped_watcher_is_swept_even_without_changes() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    drop(manager.watch("quiet", Capacity::Unbounded)?);
    assert_eq!(manager.tick().observers_swept, 1);
    assert_eq!(manager.stats().active_observers, 0);
    assert_eq!(manager.stats().live_owners, 0);
    Ok(())
}

#[test]
fn full_bounded_watcher_evicts_the_oldest_and_counts_without_blocking_the_tick() -> TestResult {
    const CAPACITY: usize = 4;
    let mut manager = ObserverManager::<i64>::new();
    let watcher = manager.watch("x", CAPACITY)?;
    assert_eq!(watcher.capacity(), Capacity::Bounded(CAPACITY));
    notify_run(&manager, "x", 10)?;

    // Nobody reads: were the tick to block on the full queue, this would hang.
    let report = manager.tick();
    assert_eq!(report.notifications, 10, "every call is made and counted");
    assert_eq!(report.watcher_notifications_dropped, 6);
    assert_eq!(watcher.dropped(), 6);
    assert_eq!(news(&watcher), [7, 8, 9, 10], "the latest ones, in order");

    // With room again, later changes arrive; the evictions stay counted.
    manager.notify("x", 10, 11, meta())?;
    let report = manager.tick();
    assert_eq!(report.watcher_notifications_dropped, 0);
    assert_eq!(news(&watcher), [11]);
    assert_eq!(watcher.dropped(), 6);
    assert_eq!(manager.stats().watcher_notifications_dropped, 6);
    Ok(())
}

#[test]
fn a_lagging_reader_ends_on_the_latest_value() -> TestResult {
    const CHANGES: i64 = 2_000;
    let mut manager = ObserverManager::<i64>::new();
    let watcher = manager.watch("x", 16)?;
    let mut read = Vec::new();
    // One change per tick; the reader takes one notification every 7 ticks.
    for step in 0..CHANGES {
        manager.notify("x", step, step + 1, meta())?;
        manager.tick();
        if step % 7 == 0 {
            read.extend(watcher.try_recv().ok().map(|n| n.new));
        }
    }
    read.extend(watcher.try_iter().map(|n| n.new));
    assert_eq!(
        read.last(),
        Some(&CHANGES),
        "the reader ends on the last change"
    );
    assert!(read.windows(2).all(|w| w[0] < w[1]), "in order, no repeats");
    let dropped = CHANGES as u64 - read.len() as u64;
    assert!(dropped > 0, "the reader lagged");
    assert_eq!(
        watcher.dropped(),
        dropped,
        "every missing change is counted"
    );
    assert_eq!(manager.stats().watcher_notifications_dropped, dropped);
    Ok(())
}

#[test]
fn an_unbounded_watcher_never_evicts() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let watcher = manager.watch("x", Capacity::Unbounded)?;
    notify_run(&manager, "x", 1_000)?;
    assert_eq!(manager.tick().watcher_notifications_dropped, 0);
    assert_eq!(watcher.len(), 1_000);
    assert_eq!(watcher.try_iter().count(), 1_000);
    assert!(watcher.is_empty());
    assert_eq!(watcher.dropped(), 0);
    Ok(())
}

#[test]
fn watcher_consumed_on_another_thread_ends_when_the_manager_drops() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let watcher = manager.watch("x", CHANGES as usize)?;
    let consumer = thread::spawn(move || watcher.iter().map(|n| n.new).collect::<Vec<_>>());

    let producer = manager.notifier();
    thread::scope(|scope| {
        scope.spawn(|| {
            for value in 0..CHANGES {
                producer.notify("x", value, value + 1, meta()).unwrap();
            }
        });
    });
    manager.tick();
    // The observer's callback, and with it the sender, goes with the manager.
    drop(manager);

    let received = consumer.join().map_err(|_| "consumer panicked")?;
    assert_eq!(received, (1..=CHANGES).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn notifier_watch_is_registered_at_the_next_tick() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let notifier = manager.notifier();
    let watcher = thread::spawn(move || notifier.watch("x", 16))
        .join()
        .map_err(|_| "watching thread panicked")??;
    assert_eq!(watcher.observer(), None);
    assert_eq!(manager.total_observers(), 0);

    manager.notify("x", 0, 1, meta())?;
    let report = manager.tick();
    assert_eq!(report.commands_applied, 1);
    assert_eq!(
        news(&watcher),
        [1],
        "the change queued before it is delivered"
    );
    let observer = watcher.observer().ok_or("observer id learnt on delivery")?;
    assert!(manager.contains_observer(observer));
    Ok(())
}

#[test]
fn notifier_watch_dropped_before_the_tick_is_skipped() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    drop(manager.notifier().watch("x", Capacity::Unbounded)?);
    let report = manager.tick();
    assert_eq!(report.commands_skipped, 1);
    assert_eq!(manager.total_observers(), 0);
    Ok(())
}

#[test]
fn removing_the_observer_ends_the_stream_after_what_was_sent() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let watcher = manager.watch("x", 4)?;
    manager.notify("x", 0, 1, meta())?;
    manager.tick();
    manager.remove_observer(watcher.observer().ok_or("known at once")?)?;

    assert_eq!(watcher.try_recv()?.new, 1);
    assert_eq!(watcher.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(
        watcher.recv_timeout(Duration::from_millis(1)),
        Err(RecvTimeoutError::Disconnected)
    );
    Ok(())
}

#[test]
fn receiver_waits_with_a_timeout_until_a_tick_delivers() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let watcher = manager.watch("x", 1)?;
    assert_eq!(
        watcher.recv_timeout(Duration::from_millis(1)),
        Err(RecvTimeoutError::Timeout)
    );
    let notifier = manager.notifier();
    let consumer = thread::spawn(move || watcher.recv_timeout(PATIENCE).map(|n| n.new));
    notifier.notify("x", 3, 4, meta())?;
    manager.tick();
    assert_eq!(consumer.join().map_err(|_| "consumer panicked")?, Ok(4));
    Ok(())
}

#[test]
fn watch_refuses_bad_requests_and_registers_nothing() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    assert_eq!(manager.watch("x", 0).unwrap_err(), WatchError::ZeroCapacity);
    assert_eq!(
        manager.watch("", Capacity::Unbounded).unwrap_err(),
        WatchError::Variable(VariableError::EmptyName)
    );
    let foreign = ObserverManager::<i64>::new().variable("x")?;
    assert_eq!(
        manager.watch(foreign, 1).unwrap_err(),
        WatchError::Variable(VariableError::ForeignManager)
    );
    assert_eq!(manager.total_observers(), 0);
    assert_eq!(manager.stats().live_owners, 0);

    let notifier = manager.notifier();
    drop(manager);
    assert_eq!(
        notifier.watch("x", 1).unwrap_err(),
        WatchError::ManagerDropped
    );
    Ok(())
}

#[test]
fn owned_notification_from_a_callback_matches_the_watchers() -> TestResult {
    use std::sync::{Arc, Mutex};
    let mut manager = ObserverManager::<String>::new();
    let owner = manager.owner();
    let copies = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&copies);
    manager
        .observe("s", &owner)
        .callback(move |n| {
            sink.lock().unwrap().push(OwnedNotification::from(n));
        })
        .add()?;
    let watcher = manager.watch("s", Capacity::Unbounded)?;
    manager.notify("s", "a".to_owned(), "b".to_owned(), meta())?;
    manager.tick();

    let from_callback = copies.lock().unwrap().pop().ok_or("callback ran")?;
    let from_watcher = watcher.try_recv()?;
    assert_eq!(from_callback.name, from_watcher.name);
    assert_eq!(
        (from_callback.old, from_callback.new),
        ("a".into(), "b".into())
    );
    assert_eq!(from_callback.metadata, from_watcher.metadata);
    assert_ne!(from_callback.observer, from_watcher.observer);
    Ok(())
}
