//! Failures as values: fallible callbacks' errors are counted like panics,
//! reach the configured handler, and feed the quarantine rule; callback
//! panics can be routed to `tracing` instead of the panic hook.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use observer_manager::{
    CallbackError, Config, Metadata, ObserverManager, route_callback_panics_to_tracing,
};

#[test]
fn errors_are_counted_per_observer_handled_and_quarantined_like_panics() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let config = Config::default()
        .quarantine_after(Some(2))
        .on_callback_error(move |e: &CallbackError<'_>| {
            log.lock()
                .unwrap()
                .push((e.variable.to_owned(), e.error.to_string()));
        });
    let mut manager = ObserverManager::<u64>::with_config(config).unwrap();
    let calls = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&calls);
    // Observers tagged by variable: "odd" observers fail on every change.
    let check = manager.register_fallible_callback(move |n| {
        counted.fetch_add(1, Ordering::Relaxed);
        if n.name.starts_with("odd") {
            Err(format!("refused {}", n.new))
        } else {
            Ok(())
        }
    });
    let owner = manager.owner();
    let vars: Vec<String> = (0..10)
        .map(|i| {
            if i % 2 == 1 {
                format!("odd{i}")
            } else {
                format!("even{i}")
            }
        })
        .collect();
    manager
        .add_observers(check, vars.iter().map(|v| (v.as_str(), &owner)))
        .unwrap();

    for tick in 1..=3u64 {
        for v in &vars {
            manager
                .notify(v.as_str(), tick - 1, tick, Metadata::default())
                .unwrap();
        }
        let report = manager.tick();
        assert_eq!(report.callback_panics, 0);
        match tick {
            1 => assert_eq!((report.notifications, report.callback_errors), (10, 5)),
            // The second failure quarantines the five failing observers.
            2 => assert_eq!(
                (report.callback_errors, report.observers_quarantined),
                (5, 5)
            ),
            _ => assert_eq!((report.notifications, report.callback_errors), (5, 0)),
        }
    }
    assert_eq!(calls.load(Ordering::Relaxed), 10 + 10 + 5);
    let stats = manager.stats();
    assert_eq!(
        (stats.callback_errors, stats.observers_quarantined),
        (10, 5)
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 10);
    assert_eq!(seen[0].1, "refused 1");
    assert!(seen.iter().all(|(var, _)| var.starts_with("odd")));

    let report = manager.inspect_variable("odd1").unwrap();
    let observer = &report.observers[0];
    assert_eq!((observer.errors, observer.panics), (2, 0));
    assert!(observer.quarantined);
    let report = manager.inspect_variable("even0").unwrap();
    assert_eq!(report.observers[0].errors, 0);
    assert_eq!(report.observers[0].deliveries, 3);
}

#[test]
fn routed_panics_are_still_counted_and_other_panics_still_reach_the_previous_hook() {
    // The hook is the process's, shared with the suite's other tests: count
    // only this test's own panics, known by their messages.
    const IN_CALLBACK: &str = "routed callback panic";
    const OUTSIDE: &str = "panic outside any callback";
    let routed = Arc::new(AtomicU64::new(0));
    let outside = Arc::new(AtomicU64::new(0));
    let (routed_hits, outside_hits) = (Arc::clone(&routed), Arc::clone(&outside));
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        match info.payload().downcast_ref::<&str>() {
            Some(&IN_CALLBACK) => {
                routed_hits.fetch_add(1, Ordering::Relaxed);
            }
            Some(&OUTSIDE) => {
                outside_hits.fetch_add(1, Ordering::Relaxed);
            }
            _ => previous(info),
        }
    }));
    route_callback_panics_to_tracing();

    let mut manager = ObserverManager::<u8>::new();
    let owner = manager.owner();
    for i in 0..100 {
        manager
            .observe(format!("v{i}").as_str(), &owner)
            .callback(|_| std::panic::panic_any(IN_CALLBACK))
            .add()
            .unwrap();
        manager
            .notify(format!("v{i}").as_str(), 0, 1, Metadata::default())
            .unwrap();
    }
    let report = manager.tick();
    assert_eq!(report.callback_panics, 100);
    assert_eq!(
        routed.load(Ordering::Relaxed),
        0,
        "callback panics reached the hook"
    );

    // A panic outside any callback still reaches the previous hook.
    let result = std::thread::spawn(|| std::panic::panic_any(OUTSIDE)).join();
    assert!(result.is_err());
    assert_eq!(outside.load(Ordering::Relaxed), 1);
}
