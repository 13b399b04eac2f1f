//! Observer policies (once, every N ticks, filter), primed registrations,
//! quarantine of observers that keep panicking, and removal by variable.

use std::sync::{Arc, Mutex};

use observer_manager::{Config, Metadata, ObserverManager, Policy};

type Seen = Arc<Mutex<Vec<(i64, i64)>>>;

fn recorder() -> (
    Seen,
    impl Fn(&observer_manager::Notification<'_, i64>) + Send + Sync,
) {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    (seen, move |n| sink.lock().unwrap().push((*n.old, *n.new)))
}

fn meta() -> Metadata {
    Metadata::new("test")
}

#[test]
fn once_delivers_the_first_change_then_removes_the_observer() {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let (seen, callback) = recorder();
    let id = manager
        .observe("x", &owner)
        .policy(Policy::new().once())
        .callback(callback)
        .add()
        .unwrap();
    manager.notify("x", 0, 1, meta()).unwrap();
    manager.notify("x", 1, 2, meta()).unwrap();
    let report = manager.tick();
    assert_eq!(*seen.lock().unwrap(), vec![(0, 1)]);
    assert_eq!(report.notifications, 1);
    assert_eq!(report.notifications_withheld, 1);
    assert_eq!(report.observers_finished, 1);
    assert!(!manager.contains_observer(id));
    assert_eq!(manager.stats().observers_removed, 1);
    assert_eq!(manager.stats().active_observers, 0);
}

#[test]
fn filter_delivers_only_matching_changes_and_counts_the_rest() {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let (seen, callback) = recorder();
    let rising = Policy::new().filter(|old: &i64, new: &i64| new > old);
    manager
        .observe("x", &owner)
        .policy(rising)
        .callback(callback)
        .add()
        .unwrap();
    for (old, new) in [(0, 5), (5, 3), (3, 4)] {
        manager.notify("x", old, new, meta()).unwrap();
    }
    let report = manager.tick();
    assert_eq!(*seen.lock().unwrap(), vec![(0, 5), (3, 4)]);
    assert_eq!(report.notifications_withheld, 1);
    let view = manager.inspect_variable("x").unwrap();
    assert_eq!(view.observers[0].deliveries, 2);
    assert!(view.observers[0].policed);
}

#[test]
fn every_n_ticks_merges_changes_and_the_latest_wins() {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let (seen, callback) = recorder();
    manager
        .observe("x", &owner)
        .policy(Policy::new().every(3))
        .callback(callback)
        .add()
        .unwrap();
    // tick 1: window open, the tick's changes merge into one delivery.
    manager.notify("x", 0, 1, meta()).unwrap();
    manager.notify("x", 1, 2, meta()).unwrap();
    assert_eq!(manager.tick().notifications, 1);
    // ticks 2 and 3: window closed, changes wait.
    manager.notify("x", 2, 3, meta()).unwrap();
    assert_eq!(manager.tick().notifications, 0);
    manager.notify("x", 3, 4, meta()).unwrap();
    assert_eq!(manager.tick().notifications, 0);
    // tick 4: window open; no new change, the merged one is delivered.
    let report = manager.tick();
    assert_eq!(report.notifications, 1);
    assert_eq!(*seen.lock().unwrap(), vec![(0, 2), (2, 4)]);
    // nothing left over
    assert_eq!(manager.tick().notifications, 0);
    let view = manager.inspect_variable("x").unwrap();
    assert_eq!(view.observers[0].deliveries, 2);
    assert_eq!(view.observers[0].last_delivery_tick, Some(4));
}

#[test]
fn plain_and_policed_observers_of_one_variable_both_receive() {
    let mut manager =
        ObserverManager::<i64>::with_config(Config::default().parallel_threshold(0)).unwrap();
    let owner = manager.owner();
    let (plain, plain_cb) = recorder();
    let (policed, policed_cb) = recorder();
    manager
        .observe("x", &owner)
        .callback(plain_cb)
        .add()
        .unwrap();
    let even = Policy::new().filter(|_: &i64, new: &i64| new % 2 == 0);
    manager
        .observe("x", &owner)
        .policy(even)
        .callback(policed_cb)
        .add()
        .unwrap();
    manager.notify("x", 0, 1, meta()).unwrap();
    manager.notify("x", 1, 2, meta()).unwrap();
    let report = manager.tick();
    assert_eq!(report.notifications, 3);
    assert_eq!(*plain.lock().unwrap(), vec![(0, 1), (1, 2)]);
    assert_eq!(*policed.lock().unwrap(), vec![(1, 2)]);
    assert_eq!(manager.stats().notifications_sent, 3);
}

#[test]
fn primed_observer_gets_the_current_value_before_any_change() {
    let mut manager = ObserverManager::<i64>::new();
    let notifier = manager.notifier();
    let owner = manager.owner();
    let (seen, callback) = recorder();
    manager
        .observe("x", &owner)
        .primed(7, meta())
        .callback(callback)
        .add()
        .unwrap();
    manager.notify("x", 7, 8, meta()).unwrap();
    let report = manager.tick();
    assert_eq!(report.notifications, 2);
    assert_eq!(*seen.lock().unwrap(), vec![(7, 7), (7, 8)]);
    let view = manager.inspect_variable("x").unwrap();
    assert_eq!(view.observers[0].deliveries, 2);

    // Through a notifier: primed in the tick that applies it.
    let (late, late_cb) = recorder();
    notifier
        .observe("x", &owner)
        .primed(8, meta())
        .callback(late_cb)
        .defer()
        .unwrap();
    assert_eq!(manager.tick().notifications, 1);
    assert_eq!(*late.lock().unwrap(), vec![(8, 8)]);
}

#[test]
fn observer_that_keeps_panicking_is_quarantined_and_still_listed() {
    let config = Config::default().quarantine_after(Some(2));
    let mut manager = ObserverManager::<i64>::with_config(config).unwrap();
    let owner = manager.owner();
    let (seen, good) = recorder();
    manager.observe("x", &owner).callback(good).add().unwrap();
    let bad = manager
        .observe("x", &owner)
        .callback(|_| panic!("always fails"))
        .add()
        .unwrap();
    let mut quarantined = 0;
    for value in 0..4 {
        manager.notify("x", value, value + 1, meta()).unwrap();
        quarantined += manager.tick().observers_quarantined;
    }
    assert_eq!(quarantined, 1);
    assert_eq!(seen.lock().unwrap().len(), 4, "the good observer got all");
    let stats = manager.stats();
    assert_eq!(stats.callback_panics, 2, "no calls after quarantine");
    assert_eq!(stats.observers_quarantined, 1);
    let view = manager.inspect_variable("x").unwrap();
    let report = view.observers.iter().find(|o| o.id == bad).unwrap();
    assert!(report.quarantined);
    assert_eq!(report.panics, 2);
    assert_eq!(report.deliveries, 2);
    assert_eq!(manager.observer_count("x"), 2);
    manager.remove_observer(bad).unwrap();
    assert_eq!(manager.observer_count("x"), 1);
}

#[test]
fn removing_a_variables_observers_removes_every_roster() {
    let config = Config::default().quarantine_after(Some(1));
    let mut manager = ObserverManager::<i64>::with_config(config).unwrap();
    let notifier = manager.notifier();
    let owner = manager.owner();
    for _ in 0..3 {
        manager.observe("x", &owner).callback(|_| {}).add().unwrap();
    }
    manager
        .observe("x", &owner)
        .policy(Policy::new().once())
        .callback(|_| {})
        .add()
        .unwrap();
    manager
        .observe("x", &owner)
        .callback(|_| panic!("boom"))
        .add()
        .unwrap();
    manager.observe("y", &owner).callback(|_| {}).add().unwrap();
    manager.notify("y", 0, 1, meta()).unwrap();
    manager.notify("x", 0, 1, meta()).unwrap();
    manager.tick(); // quarantines one, the `once` observer finishes
    assert_eq!(manager.observer_count("x"), 4);
    assert_eq!(manager.remove_observers_of("x"), Ok(4));
    assert_eq!(manager.observer_count("x"), 0);
    assert_eq!(manager.observer_count("y"), 1);
    assert_eq!(manager.remove_observers_of("never-named"), Ok(0));

    notifier.remove_observers_of("y").unwrap();
    manager.tick();
    assert_eq!(manager.total_observers(), 0);
    let stats = manager.stats();
    assert_eq!(stats.observers_added - stats.observers_removed, 0);
}

#[test]
fn deterministic_mode_calls_in_the_same_order_on_every_run() {
    fn run(threads: usize) -> Vec<(u64, i64)> {
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap(),
        );
        let config = Config::default()
            .deterministic(true)
            .parallel_threshold(0)
            .thread_pool(pool);
        let mut manager = ObserverManager::<i64>::with_config(config).unwrap();
        let owner = manager.owner();
        let order = Arc::new(Mutex::new(Vec::new()));
        for v in 0..20 {
            for _ in 0..50 {
                let order = Arc::clone(&order);
                manager
                    .observe(format!("v{v}").as_str(), &owner)
                    .callback(move |n| {
                        order.lock().unwrap().push((n.observer.to_bits(), *n.new));
                    })
                    .add()
                    .unwrap();
            }
        }
        for v in (0..20).rev() {
            manager
                .notify(format!("v{v}").as_str(), 0, v, meta())
                .unwrap();
        }
        manager.tick();
        drop(manager);
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    }
    let first = run(1);
    assert_eq!(first.len(), 19 * 50, "v0's change 0 -> 0 is skipped");
    assert_eq!(first, run(2));
    assert_eq!(first, run(4));
}
