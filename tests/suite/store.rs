//! The session store through the public API: set, get and delete; session
//! deletion; the clean-up of deleted variables' observers; primed late
//! watchers; metadata; concurrent writers; errors.

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::SystemTime;

use observer_manager::{
    Capacity, MAX_VARIABLE_NAME_LEN, Metadata, Notification, ObserverManager, Owner, Policy,
    SessionId, SessionStore, StoreError, VariableError,
};

type TestResult = Result<(), Box<dyn Error>>;
type Manager = ObserverManager<Option<i64>>;
type Store = SessionStore<i64>;

/// Writer threads in the concurrency test.
const THREADS: i64 = 4;
/// Sets each writer makes.
const SETS: i64 = if cfg!(miri) { 50 } else { 2_000 };

const ALICE: SessionId = SessionId(1);
const BOB: SessionId = SessionId(2);

/// One delivered notification: `(old, new, metadata)`.
type Seen = (Option<i64>, Option<i64>, Metadata);

/// Collects what an observer receives.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    fn callback(&self) -> impl Fn(&Notification<'_, Option<i64>>) + Send + Sync + 'static {
        let log = Arc::clone(&self.0);
        move |n| {
            let seen = (*n.old, *n.new, n.metadata.clone());
            log.lock().unwrap().push(seen);
        }
    }

    /// The `(old, new)` pairs received so far, emptying the log.
    fn take(&self) -> Vec<(Option<i64>, Option<i64>)> {
        let seen = std::mem::take(&mut *self.0.lock().unwrap());
        seen.into_iter().map(|(old, new, _)| (old, new)).collect()
    }

    fn take_all(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn setup() -> (Manager, Store, Owner) {
    let manager = Manager::new();
    let store = SessionStore::new(manager.notifier());
    let owner = manager.owner();
    (manager, store, owner)
}

/// Registers a logging observer of `var` of `session` through the store and
/// ticks once so it is in place.
fn observed(
    manager: &mut Manager,
    store: &Store,
    owner: &Owner,
    session: SessionId,
    var: &str,
) -> Log {
    let log = Log::default();
    store
        .observe(session, var, owner, Policy::new(), log.callback())
        .unwrap();
    manager.tick();
    log
}

#[test]
fn set_get_and_delete_report_each_change() -> TestResult {
    let (mut manager, store, owner) = setup();
    let log = observed(&mut manager, &store, &owner, ALICE, "hp");

    assert_eq!(store.get(ALICE, "hp"), None);
    assert_eq!(store.set(ALICE, "hp", 100)?, None);
    assert_eq!(store.set(ALICE, "hp", 80)?, Some(100));
    assert_eq!(store.get(ALICE, "hp"), Some(80));
    assert_eq!(store.delete(ALICE, "hp")?, Some(80));
    assert_eq!(store.get(ALICE, "hp"), None);
    assert_eq!(
        store.delete(ALICE, "hp")?,
        None,
        "deleting twice is harmless"
    );

    let report = manager.tick();
    assert_eq!(report.changes_delivered, 3);
    let expected = [(None, Some(100)), (Some(100), Some(80)), (Some(80), None)];
    assert_eq!(log.take(), expected);
    Ok(())
}

#[test]
fn setting_the_same_value_stores_it_and_reports_nothing() -> TestResult {
    let (mut manager, store, owner) = setup();
    let log = observed(&mut manager, &store, &owner, ALICE, "x");
    store.set(ALICE, "x", 7)?;
    manager.tick();
    assert_eq!(log.take(), [(None, Some(7))]);

    assert_eq!(store.set(ALICE, "x", 7)?, Some(7));
    let report = manager.tick();
    assert_eq!(report.changes_skipped, 1);
    assert_eq!(report.notifications, 0);
    assert!(log.take().is_empty());
    Ok(())
}

#[test]
fn metadata_carries_the_session_a_timestamp_and_the_source() -> TestResult {
    let mut manager = Manager::new();
    let store = SessionStore::with_source(manager.notifier(), "profiles");
    let owner = manager.owner();
    let log = observed(&mut manager, &store, &owner, BOB, "name");

    let before = SystemTime::now();
    store.set(BOB, "name", 1)?;
    store.delete(BOB, "name")?;
    let after = SystemTime::now();
    manager.tick();

    let seen = log.take_all();
    assert_eq!(seen.len(), 2);
    for (_, _, meta) in &seen {
        assert_eq!(meta.session, Some(BOB));
        assert_eq!(meta.source, "profiles");
        assert!(before <= meta.timestamp && meta.timestamp <= after);
    }
    assert!(seen[0].2.timestamp <= seen[1].2.timestamp);
    Ok(())
}

#[test]
fn sessions_and_variables_are_listed_in_order() -> TestResult {
    let (_manager, store, _owner) = setup();
    store.set(BOB, "b", 1)?;
    store.set(BOB, "a", 2)?;
    store.set(ALICE, "z", 3)?;
    assert_eq!(store.sessions(), [ALICE, BOB]);
    assert_eq!(store.variables(BOB), ["a", "b"]);
    assert!(store.variables(SessionId(99)).is_empty());

    store.delete(BOB, "a")?;
    assert!(store.contains_session(BOB), "one variable left");
    store.delete(BOB, "b")?;
    assert!(!store.contains_session(BOB), "its last variable went");
    assert_eq!(store.sessions(), [ALICE]);
    Ok(())
}

#[test]
fn delete_session_reports_every_variable_and_forgets_the_session() -> TestResult {
    let (mut manager, store, owner) = setup();
    let a = observed(&mut manager, &store, &owner, ALICE, "a");
    let b = observed(&mut manager, &store, &owner, ALICE, "b");
    let other = observed(&mut manager, &store, &owner, BOB, "a");
    store.set(ALICE, "a", 1)?;
    store.set(ALICE, "b", 2)?;
    store.set(BOB, "a", 3)?;

    assert_eq!(store.delete_session(ALICE)?, 2);
    assert_eq!(
        store.delete_session(ALICE)?,
        0,
        "deleting twice is harmless"
    );
    assert!(!store.contains_session(ALICE));
    assert_eq!(store.get(ALICE, "a"), None);
    assert_eq!(store.get(BOB, "a"), Some(3));

    manager.tick();
    assert_eq!(a.take(), [(None, Some(1)), (Some(1), None)]);
    assert_eq!(b.take(), [(None, Some(2)), (Some(2), None)]);
    assert_eq!(other.take(), [(None, Some(3))]);
    Ok(())
}

#[test]
fn observers_of_a_deleted_variable_see_the_deletion_then_are_removed() -> TestResult {
    let (mut manager, store, owner) = setup();
    let logs: Vec<Log> = (0..3)
        .map(|_| observed(&mut manager, &store, &owner, ALICE, "x"))
        .collect();
    // One registered on the manager directly, by the documented name.
    let direct = Log::default();
    manager
        .observe("1/x", &owner)
        .callback(direct.callback())
        .add()?;
    let bystander = observed(&mut manager, &store, &owner, ALICE, "y");
    store.set(ALICE, "x", 1)?;
    store.set(ALICE, "y", 1)?;
    manager.tick();
    assert_eq!(manager.observer_count("1/x"), 4);

    store.delete(ALICE, "x")?;
    manager.tick(); // delivers the deletion; the clean-up runs
    for log in logs.iter().chain([&direct]) {
        assert_eq!(log.take(), [(None, Some(1)), (Some(1), None)]);
    }
    manager.tick(); // applies the removal
    assert_eq!(manager.observer_count("1/x"), 0);
    assert_eq!(manager.observer_count("1/y"), 1);

    store.set(ALICE, "x", 2)?;
    store.set(ALICE, "y", 2)?;
    manager.tick();
    assert!(
        logs.iter()
            .chain([&direct])
            .all(|log| log.take().is_empty())
    );
    assert_eq!(bystander.take(), [(None, Some(1)), (Some(1), Some(2))]);
    assert_eq!(manager.total_observers(), 1, "the clean-up removed itself");
    Ok(())
}

#[test]
fn observers_are_kept_when_the_variable_is_set_again_before_the_clean_up() -> TestResult {
    let (mut manager, store, owner) = setup();
    let log = observed(&mut manager, &store, &owner, ALICE, "x");
    store.set(ALICE, "x", 1)?;
    manager.tick();

    store.delete(ALICE, "x")?;
    store.set(ALICE, "x", 5)?;
    manager.tick();
    manager.tick();
    assert_eq!(
        log.take(),
        [(None, Some(1)), (Some(1), None), (None, Some(5))]
    );
    assert_eq!(
        manager.observer_count("1/x"),
        1,
        "kept; the clean-up is gone"
    );

    store.set(ALICE, "x", 6)?;
    manager.tick();
    assert_eq!(log.take(), [(Some(5), Some(6))]);
    Ok(())
}

#[test]
fn delete_session_cleans_up_only_the_variables_not_set_again() -> TestResult {
    let (mut manager, store, owner) = setup();
    let a = observed(&mut manager, &store, &owner, ALICE, "a");
    let b = observed(&mut manager, &store, &owner, ALICE, "b");
    let c = observed(&mut manager, &store, &owner, ALICE, "c");
    let bob = observed(&mut manager, &store, &owner, BOB, "a");
    for var in ["a", "b", "c"] {
        store.set(ALICE, var, 1)?;
    }
    store.set(BOB, "a", 1)?;
    manager.tick();

    store.delete_session(ALICE)?;
    store.set(ALICE, "a", 2)?; // "a" hosts the clean-up: it must remove itself
    manager.tick();
    manager.tick();
    assert_eq!(manager.observer_count("1/a"), 1);
    assert_eq!(manager.observer_count("1/b"), 0);
    assert_eq!(manager.observer_count("1/c"), 0);
    assert_eq!(manager.observer_count("2/a"), 1);
    assert_eq!(manager.total_observers(), 2);
    assert_eq!(
        a.take(),
        [(None, Some(1)), (Some(1), None), (None, Some(2))]
    );
    assert_eq!(b.take(), [(None, Some(1)), (Some(1), None)]);
    assert_eq!(c.take(), [(None, Some(1)), (Some(1), None)]);
    assert_eq!(bob.take(), [(None, Some(1))]);
    Ok(())
}

#[test]
fn a_pending_clean_up_runs_after_the_store_is_dropped() -> TestResult {
    let (mut manager, store, owner) = setup();
    let _log = observed(&mut manager, &store, &owner, ALICE, "x");
    store.set(ALICE, "x", 1)?;
    store.delete(ALICE, "x")?;
    drop(store);
    manager.tick();
    manager.tick();
    assert_eq!(manager.total_observers(), 0);
    assert_eq!(
        manager.stats().live_owners,
        1,
        "only the test's owner lives"
    );
    Ok(())
}

#[test]
fn a_primed_late_watcher_starts_from_the_current_value() -> TestResult {
    let (mut manager, store, owner) = setup();
    store.set(ALICE, "gold", 50)?;
    manager.tick(); // delivered to nobody

    let late = Log::default();
    store.observe_primed(ALICE, "gold", &owner, Policy::new(), late.callback())?;
    let unset = Log::default();
    store.observe_primed(ALICE, "silver", &owner, Policy::new(), unset.callback())?;
    manager.tick();
    let seen = late.take_all();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].0, seen[0].1), (Some(50), Some(50)));
    assert_eq!(seen[0].2.session, Some(ALICE));
    assert_eq!(unset.take(), [(None, None)], "primed with 'not set'");

    store.set(ALICE, "gold", 60)?;
    store.set(ALICE, "silver", 1)?;
    manager.tick();
    assert_eq!(late.take(), [(Some(50), Some(60))]);
    assert_eq!(unset.take(), [(None, Some(1))]);
    Ok(())
}

#[test]
fn a_primed_watcher_misses_nothing_set_after_it() -> TestResult {
    let (mut manager, store, owner) = setup();
    store.set(ALICE, "x", 1)?;
    let log = Log::default();
    store.observe_primed(ALICE, "x", &owner, Policy::new(), log.callback())?;
    store.set(ALICE, "x", 2)?;
    manager.tick();
    // The change queued before the registration follows the primed value.
    assert_eq!(
        log.take(),
        [(Some(1), Some(1)), (None, Some(1)), (Some(1), Some(2))]
    );
    Ok(())
}

#[test]
fn observe_follows_its_policy() -> TestResult {
    let (mut manager, store, owner) = setup();
    let log = Log::default();
    let rising = Policy::new().filter(|old: &Option<i64>, new: &Option<i64>| new > old);
    store.observe(ALICE, "x", &owner, rising, log.callback())?;
    manager.tick();
    store.set(ALICE, "x", 5)?;
    store.set(ALICE, "x", 3)?;
    store.set(ALICE, "x", 4)?;
    manager.tick();
    assert_eq!(log.take(), [(None, Some(5)), (Some(3), Some(4))]);
    Ok(())
}

#[test]
fn variable_ids_and_names_are_the_managers() -> TestResult {
    let (mut manager, store, _owner) = setup();
    assert_eq!(store.variable_name(SessionId(7), "hp"), "7/hp");
    let id = store.variable(SessionId(7), "hp")?;
    assert_eq!(manager.variable("7/hp")?, id);
    store.set(SessionId(7), "hp", 3)?;
    assert_eq!(store.variable(SessionId(7), "hp")?, id, "cached on set");
    manager.tick();

    let watcher = manager.watch(id, Capacity::Unbounded)?;
    store.set(SessionId(7), "hp", 4)?;
    manager.tick();
    let n = watcher.try_recv()?;
    assert_eq!((&*n.name, n.old, n.new), ("7/hp", Some(3), Some(4)));
    Ok(())
}

#[test]
fn a_callback_may_write_to_the_store() -> TestResult {
    let (mut manager, store, owner) = setup();
    let echo = store.clone();
    store.observe(ALICE, "ping", &owner, Policy::new(), move |n| {
        if let Some(value) = *n.new {
            echo.set(ALICE, "pong", value * 10).unwrap();
        }
    })?;
    let pong = observed(&mut manager, &store, &owner, ALICE, "pong");
    store.set(ALICE, "ping", 1)?;
    manager.tick();
    assert_eq!(store.get(ALICE, "pong"), Some(10));
    assert!(
        pong.take().is_empty(),
        "reported during a tick: the next one delivers"
    );
    manager.tick();
    assert_eq!(pong.take(), [(None, Some(10))]);
    Ok(())
}

#[test]
fn concurrent_sets_form_one_unbroken_chain_per_variable() -> TestResult {
    let (mut manager, store, owner) = setup();
    let shared = observed(&mut manager, &store, &owner, ALICE, "counter");
    let own: Vec<Log> = (0..THREADS)
        .map(|t| {
            observed(
                &mut manager,
                &store,
                &owner,
                SessionId(100 + t as u64),
                "mine",
            )
        })
        .collect();

    thread::scope(|scope| {
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = store.clone();
                scope.spawn(move || {
                    for i in 0..SETS {
                        // Unique across threads: every set is a change.
                        store.set(ALICE, "counter", t * SETS + i).unwrap();
                        store.set(SessionId(100 + t as u64), "mine", i).unwrap();
                    }
                })
            })
            .collect();
        while writers.iter().any(|w| !w.is_finished()) {
            manager.tick();
        }
    });
    manager.tick();

    let chain = shared.take();
    assert_eq!(chain.len() as i64, THREADS * SETS);
    assert_eq!(chain[0].0, None);
    for pair in chain.windows(2) {
        assert_eq!(pair[1].0, pair[0].1, "each old is the previous new");
    }
    assert_eq!(chain.last().unwrap().1, store.get(ALICE, "counter"));
    for (t, log) in own.iter().enumerate() {
        let expected: Vec<_> = (0..SETS)
            .map(|i| (if i == 0 { None } else { Some(i - 1) }, Some(i)))
            .collect();
        assert_eq!(log.take(), expected, "thread {t}");
    }
    assert_eq!(manager.stats().changes_coalesced, 0);
    Ok(())
}

#[test]
fn invalid_names_are_refused_and_leave_nothing_behind() -> TestResult {
    let (manager, store, owner) = setup();
    let empty = StoreError::Variable(VariableError::EmptyName);
    assert_eq!(store.set(ALICE, "", 1), Err(empty.clone()));
    assert_eq!(store.variable(ALICE, ""), Err(empty.clone()));
    let log = Log::default();
    assert_eq!(
        store.observe(ALICE, "", &owner, Policy::new(), log.callback()),
        Err(empty.clone())
    );
    assert_eq!(
        store.observe_primed(ALICE, "", &owner, Policy::new(), log.callback()),
        Err(empty)
    );

    // "1/" plus the name: one byte over the limit.
    let long = "v".repeat(MAX_VARIABLE_NAME_LEN - 1);
    let too_long = StoreError::Variable(VariableError::NameTooLong {
        len: MAX_VARIABLE_NAME_LEN + 1,
    });
    assert_eq!(store.set(ALICE, &long, 1), Err(too_long));
    assert!(
        store.set(ALICE, &long[1..], 1).is_ok(),
        "exactly at the limit"
    );

    assert_eq!(store.sessions(), [ALICE]);
    assert_eq!(store.variables(ALICE).len(), 1);
    assert_eq!(store.delete(ALICE, "")?, None);
    assert_eq!(manager.pending_changes(), 1);
    Ok(())
}

#[test]
fn a_foreign_owner_is_refused() {
    let (_manager, store, _owner) = setup();
    let other = Manager::new();
    let stranger = other.owner();
    let log = Log::default();
    let refused = store.observe(ALICE, "x", &stranger, Policy::new(), log.callback());
    assert_eq!(refused, Err(StoreError::ForeignOwner));
    let refused = store.observe_primed(ALICE, "x", &stranger, Policy::new(), log.callback());
    assert_eq!(refused, Err(StoreError::ForeignOwner));
}

#[test]
fn a_dropped_manager_refuses_every_write_and_leaves_the_store_unchanged() -> TestResult {
    let (manager, store, owner) = setup();
    store.set(ALICE, "a", 1)?;
    store.set(ALICE, "b", 2)?;
    drop(manager);

    let dropped = Err(StoreError::ManagerDropped);
    assert_eq!(store.set(ALICE, "a", 10), dropped);
    assert_eq!(store.set(ALICE, "new", 10), dropped);
    assert_eq!(store.set(BOB, "new", 10), dropped);
    assert_eq!(store.delete(ALICE, "a"), dropped);
    assert_eq!(store.delete_session(ALICE), Err(StoreError::ManagerDropped));
    let log = Log::default();
    let refused = store.observe(ALICE, "a", &owner, Policy::new(), log.callback());
    assert_eq!(refused, Err(StoreError::ManagerDropped));

    assert_eq!(store.sessions(), [ALICE], "no session left behind");
    assert_eq!(store.variables(ALICE), ["a", "b"]);
    assert_eq!(
        (store.get(ALICE, "a"), store.get(ALICE, "b")),
        (Some(1), Some(2))
    );
    Ok(())
}

#[test]
fn store_errors_display_briefly_and_chain_their_source() {
    let e = StoreError::Variable(VariableError::EmptyName);
    assert_eq!(e.to_string(), "bad store variable: variable name is empty");
    assert!(e.source().is_some());
    assert_eq!(
        StoreError::ForeignOwner.to_string(),
        "owner belongs to another manager"
    );
    assert_eq!(
        StoreError::ManagerDropped.to_string(),
        "the manager was dropped"
    );
    assert!(StoreError::ManagerDropped.source().is_none());
    assert_eq!(StoreError::from(VariableError::EmptyName), e);
}

#[test]
fn debug_shows_the_session_count_and_source() -> TestResult {
    let (_manager, store, _owner) = setup();
    store.set(ALICE, "x", 1)?;
    let shown = format!("{store:?}");
    assert!(shown.contains("sessions: 1"), "{shown}");
    assert!(shown.contains("\"store\""), "{shown}");
    Ok(())
}
