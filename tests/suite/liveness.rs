//! Lifetimes through the public API: dead owners and their sweep, stale and
//! foreign ids, and a thousand variables under mixed owners.

use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use observer_manager::{
    AddObserverError, Metadata, Notification, NotifyError, ObserverId, ObserverManager, Owner,
    RemoveObserverError, UnregisterCallbackError, VariableError,
};
use observer_manager_support::SplitMix64;

type TestResult = Result<(), Box<dyn Error>>;

/// Variables in `thousand_variables_with_mixed_owners_deliver_only_to_survivors`.
const VARIABLES: usize = if cfg!(miri) { 40 } else { 1_000 };
/// Owners the observers are spread over.
const OWNERS: usize = if cfg!(miri) { 6 } else { 50 };
/// Observers spread over the variables and owners.
const OBSERVERS: usize = if cfg!(miri) { 120 } else { 3_000 };
/// Fixed seed, so a failure reproduces.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// A callback that counts its calls in `calls`.
fn counter(calls: &Arc<AtomicUsize>) -> impl Fn(&Notification<'_, i64>) + Send + Sync + 'static {
    let calls = Arc::clone(calls);
    move |_| {
        calls.fetch_add(1, Ordering::Relaxed);
    }
}

fn meta() -> Metadata {
    Metadata::new("test")
}

/// Adds `n` counting observers of `var` for `owner`.
fn add_counted(
    manager: &mut ObserverManager<i64>,
    var: &str,
    owner: &Owner,
    n: usize,
    calls: &Arc<AtomicUsize>,
) -> Result<Vec<ObserverId>, AddObserverError> {
    (0..n)
        .map(|_| manager.observe(var, owner).callback(counter(calls)).add())
        .collect()
}

#[test]
fn owner_killed_between_notify_and_tick_receives_nothing_and_is_swept() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let doomed = manager.owner();
    let survivor = manager.owner();
    let doomed_calls = Arc::new(AtomicUsize::new(0));
    let survivor_calls = Arc::new(AtomicUsize::new(0));
    let doomed_ids = add_counted(&mut manager, "hp", &doomed, 5, &doomed_calls)?;
    add_counted(&mut manager, "hp", &survivor, 1, &survivor_calls)?;
    assert_eq!(manager.observer_count("hp"), 6);

    manager.notify("hp", 100, 90, meta())?;
    doomed.kill();
    assert_eq!(manager.stats().live_owners, 1);
    // Until the tick, the dead owner's observers still exist.
    assert_eq!(manager.total_observers(), 6);
    assert!(manager.contains_observer(doomed_ids[0]));

    let report = manager.tick();
    assert_eq!(report.observers_swept, 5);
    assert_eq!(report.notifications, 1, "only the survivor is called");
    assert_eq!(doomed_calls.load(Ordering::Relaxed), 0);
    assert_eq!(survivor_calls.load(Ordering::Relaxed), 1);
    assert_eq!(manager.observer_count("hp"), 1);
    assert_eq!(manager.total_observers(), 1);
    assert!(doomed_ids.iter().all(|&id| !manager.contains_observer(id)));
    let stats = manager.stats();
    assert_eq!(stats.observers_swept, 5);
    assert_eq!(stats.observers_removed, 5);
    assert_eq!(stats.active_observers, 1);

    // Swept ids are stale; the next tick sweeps nothing more.
    assert_eq!(
        manager.remove_observer(doomed_ids[0]),
        Err(RemoveObserverError::NotFound)
    );
    assert_eq!(manager.tick().observers_swept, 0);
    drop(survivor);
    Ok(())
}

#[test]
fn owner_dropped_on_another_thread_is_swept_to_zero() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let calls = Arc::new(AtomicUsize::new(0));
    add_counted(&mut manager, "a", &owner, 3, &calls)?;
    add_counted(&mut manager, "b", &owner, 4, &calls)?;
    std::thread::spawn(move || drop(owner)).join().unwrap();
    manager.notify("a", 0, 1, meta())?;
    manager.notify("b", 0, 1, meta())?;

    let report = manager.tick();
    assert_eq!(report.observers_swept, 7);
    assert_eq!(report.notifications, 0);
    assert_eq!(report.changes_delivered, 2);
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    assert_eq!(manager.total_observers(), 0);
    assert_eq!(manager.observer_count("a"), 0);
    assert_eq!(manager.observer_count("b"), 0);
    let stats = manager.stats();
    assert_eq!(stats.observers_swept, 7);
    assert_eq!(stats.live_owners, 0);
    assert_eq!(stats.active_observers, 0);
    Ok(())
}

#[test]
fn deferred_registration_for_owner_dead_by_tick_is_skipped() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let notifier = manager.notifier();
    let owner = notifier.owner();
    let calls = Arc::new(AtomicUsize::new(0));
    notifier
        .observe("x", &owner)
        .callback(counter(&calls))
        .defer()?;
    drop(owner);
    notifier.notify("x", 0, 1, meta())?;

    let report = manager.tick();
    assert_eq!(report.commands_applied, 0);
    assert_eq!(report.commands_skipped, 1);
    assert_eq!(report.notifications, 0);
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    assert_eq!(manager.total_observers(), 0);
    assert_eq!(manager.stats().observers_added, 0);
    // The skipped registration's callback is dropped, not leaked.
    assert_eq!(Arc::strong_count(&calls), 1);
    Ok(())
}

#[test]
fn removing_twice_reports_not_found() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let id = manager.observe("x", &owner).callback(|_| {}).add()?;
    assert_eq!(manager.remove_observer(id), Ok(()));
    assert_eq!(
        manager.remove_observer(id),
        Err(RemoveObserverError::NotFound)
    );
    assert_eq!(
        manager.stats().observers_removed,
        1,
        "the second call changed nothing"
    );

    // Through a notifier the stale removal is skipped and counted.
    manager.notifier().remove_observer(id)?;
    let report = manager.tick();
    assert_eq!(report.commands_skipped, 1);
    assert_eq!(report.commands_applied, 0);
    Ok(())
}

#[test]
fn removed_observer_id_never_names_a_new_observer() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let calls = Arc::new(AtomicUsize::new(0));
    let old = manager.observe("x", &owner).callback(|_| {}).add()?;
    manager.remove_observer(old)?;
    let new = manager
        .observe("x", &owner)
        .callback(counter(&calls))
        .add()?;
    assert_ne!(old, new);
    assert_ne!(old.to_bits(), new.to_bits());
    assert!(!manager.contains_observer(old));

    assert_eq!(
        manager.remove_observer(old),
        Err(RemoveObserverError::NotFound)
    );
    manager.notifier().remove_observer(old)?;
    let report = manager.tick();
    assert_eq!(report.commands_skipped, 1, "the stale id removes nothing");
    assert!(manager.contains_observer(new));
    assert_eq!(manager.observer_count("x"), 1);

    manager.notify("x", 0, 1, meta())?;
    manager.tick();
    assert_eq!(
        calls.load(Ordering::Relaxed),
        1,
        "the new observer still receives"
    );
    Ok(())
}

#[test]
fn ids_from_another_manager_are_rejected() -> TestResult {
    let mut mine = ObserverManager::<i64>::new();
    let mut theirs = ObserverManager::<i64>::new();
    let my_owner = mine.owner();
    let their_owner = theirs.owner();
    let mine_id = mine.observe("x", &my_owner).callback(|_| {}).add()?;
    let their_id = theirs.observe("x", &their_owner).callback(|_| {}).add()?;

    assert_eq!(
        mine.remove_observer(their_id),
        Err(RemoveObserverError::ForeignManager)
    );
    assert_eq!(
        mine.notifier().remove_observer(their_id),
        Err(RemoveObserverError::ForeignManager)
    );
    assert!(!mine.contains_observer(their_id));
    assert!(
        theirs.contains_observer(their_id),
        "untouched by the failed removal"
    );
    assert!(mine.contains_observer(mine_id));

    let their_var = theirs.variable("x")?;
    assert_eq!(
        mine.notify(their_var, 0, 1, meta()),
        Err(NotifyError::Variable(VariableError::ForeignManager))
    );
    assert_eq!(
        mine.observe(their_var, &my_owner).callback(|_| {}).add(),
        Err(AddObserverError::Variable(VariableError::ForeignManager))
    );
    assert_eq!(mine.observer_count(their_var), 0);
    assert_eq!(mine.pending_changes(), 0);
    Ok(())
}

#[test]
fn owner_from_another_manager_is_rejected() -> TestResult {
    let mut mine = ObserverManager::<i64>::new();
    let theirs = ObserverManager::<i64>::new();
    let their_owner = theirs.owner();
    assert_eq!(
        mine.observe("x", &their_owner).callback(|_| {}).add(),
        Err(AddObserverError::ForeignOwner)
    );
    let shared = mine.register_callback(|_| {});
    assert_eq!(
        mine.observe("x", &their_owner).shared(shared).add(),
        Err(AddObserverError::ForeignOwner)
    );
    assert_eq!(
        mine.notifier()
            .observe("x", &their_owner)
            .callback(|_| {})
            .defer(),
        Err(AddObserverError::ForeignOwner)
    );
    assert_eq!(mine.total_observers(), 0);
    assert_eq!(mine.tick().commands_applied, 0, "nothing was queued");
    assert_eq!(mine.stats().observers_added, 0);
    Ok(())
}

#[test]
fn unknown_callback_ids_are_rejected() -> TestResult {
    let mut mine = ObserverManager::<i64>::new();
    let mut theirs = ObserverManager::<i64>::new();
    let owner = mine.owner();
    let foreign = theirs.register_callback(|_| {});
    assert_eq!(
        mine.observe("x", &owner).shared(foreign).add(),
        Err(AddObserverError::UnknownCallback)
    );
    assert_eq!(
        mine.notifier().observe("x", &owner).shared(foreign).defer(),
        Err(AddObserverError::UnknownCallback)
    );
    assert_eq!(
        mine.unregister_callback(foreign),
        Err(UnregisterCallbackError::NotFound)
    );

    let gone = mine.register_callback(|_| {});
    mine.unregister_callback(gone)?;
    assert_eq!(
        mine.observe("x", &owner).shared(gone).add(),
        Err(AddObserverError::UnknownCallback)
    );
    assert_eq!(mine.total_observers(), 0);
    Ok(())
}

#[test]
fn deferred_registration_with_callback_unregistered_before_tick_is_skipped() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let shared = manager.register_callback(|_| {});
    manager
        .notifier()
        .observe("x", &owner)
        .shared(shared)
        .defer()?;
    manager.unregister_callback(shared)?;
    let report = manager.tick();
    assert_eq!(report.commands_skipped, 1);
    assert_eq!(manager.total_observers(), 0);
    Ok(())
}

#[test]
fn unregistering_callback_in_use_is_refused() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let shared = manager.register_callback(|_| {});
    let a = manager.observe("x", &owner).shared(shared).add()?;
    let b = manager.observe("y", &owner).shared(shared).add()?;
    assert_eq!(
        manager.unregister_callback(shared),
        Err(UnregisterCallbackError::InUse { observers: 2 })
    );
    manager.remove_observer(a)?;
    assert_eq!(
        manager.unregister_callback(shared),
        Err(UnregisterCallbackError::InUse { observers: 1 })
    );
    assert!(
        manager.contains_observer(b),
        "a refused unregister changes nothing"
    );
    manager.remove_observer(b)?;
    assert_eq!(manager.unregister_callback(shared), Ok(()));
    assert_eq!(
        manager.unregister_callback(shared),
        Err(UnregisterCallbackError::NotFound)
    );
    Ok(())
}

#[test]
fn swept_shared_callback_users_release_it() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let shared = manager.register_callback(|_| {});
    for _ in 0..3 {
        manager.observe("x", &owner).shared(shared).add()?;
    }
    drop(owner);
    assert_eq!(manager.tick().observers_swept, 3);
    assert_eq!(manager.unregister_callback(shared), Ok(()));
    Ok(())
}

/// Per observer: the `(variable name, old, new)` it received.
type Received = Arc<Vec<Mutex<Vec<(String, i64, i64)>>>>;

#[test]
fn thousand_variables_with_mixed_owners_deliver_only_to_survivors() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let names: Vec<String> = (0..VARIABLES).map(|v| format!("var{v}")).collect();
    let mut owners: Vec<Option<Owner>> = (0..OWNERS).map(|_| Some(manager.owner())).collect();
    let received: Received = Arc::new((0..OBSERVERS).map(|_| Mutex::new(Vec::new())).collect());

    // Observer i watches variable `plan[i].0` for owner `plan[i].1`.
    let mut rng = SplitMix64::new(SEED);
    let plan: Vec<(usize, usize)> = (0..OBSERVERS)
        .map(|_| (rng.below(VARIABLES), rng.below(OWNERS)))
        .collect();
    let mut ids = Vec::with_capacity(OBSERVERS);
    for (i, &(var, owner)) in plan.iter().enumerate() {
        let received = Arc::clone(&received);
        let owner = owners[owner].as_ref().unwrap();
        ids.push(
            manager
                .observe(&names[var], owner)
                .callback(move |n| {
                    received[i]
                        .lock()
                        .unwrap()
                        .push((n.name.to_owned(), *n.old, *n.new));
                })
                .add()?,
        );
    }
    let mut per_var = vec![0; VARIABLES];
    for &(var, _) in &plan {
        per_var[var] += 1;
    }
    for (name, &count) in names.iter().zip(&per_var) {
        assert_eq!(manager.observer_count(name), count, "{name}");
    }

    // Round 1: every variable changes; every observer gets its own change.
    let first = |v: usize| (0, v as i64 + 1);
    for (v, name) in names.iter().enumerate() {
        let (old, new) = first(v);
        manager.notify(name, old, new, meta())?;
    }
    let report = manager.tick();
    assert_eq!(report.changes_delivered, VARIABLES as u64);
    assert_eq!(report.notifications, OBSERVERS as u64);
    for (i, &(var, _)) in plan.iter().enumerate() {
        let (old, new) = first(var);
        let got = std::mem::take(&mut *received[i].lock().unwrap());
        assert_eq!(got, vec![(names[var].clone(), old, new)], "observer {i}");
    }

    // Round 2: kill every even owner; only the others' observers receive.
    for slot in owners.iter_mut().step_by(2) {
        slot.take().unwrap().kill();
    }
    let alive = |owner: usize| owner % 2 == 1;
    let survivors = plan.iter().filter(|&&(_, o)| alive(o)).count();
    let second = |v: usize| (v as i64 + 1, v as i64 + 1_001);
    for (v, name) in names.iter().enumerate() {
        let (old, new) = second(v);
        manager.notify(name, old, new, meta())?;
    }
    let report = manager.tick();
    assert_eq!(report.observers_swept, (OBSERVERS - survivors) as u64);
    assert_eq!(report.notifications, survivors as u64);
    assert_eq!(manager.total_observers(), survivors);
    for (i, &(var, owner)) in plan.iter().enumerate() {
        let got = std::mem::take(&mut *received[i].lock().unwrap());
        if alive(owner) {
            let (old, new) = second(var);
            assert_eq!(got, vec![(names[var].clone(), old, new)], "observer {i}");
            assert!(manager.contains_observer(ids[i]));
        } else {
            assert!(
                got.is_empty(),
                "observer {i} of a dead owner received {got:?}"
            );
            assert!(!manager.contains_observer(ids[i]));
        }
    }
    for (v, name) in names.iter().enumerate() {
        let expected = plan
            .iter()
            .filter(|&&(var, o)| var == v && alive(o))
            .count();
        assert_eq!(manager.observer_count(name), expected, "{name}");
    }
    let stats = manager.stats();
    assert_eq!(stats.live_owners, (OWNERS / 2) as u64);
    assert_eq!(stats.active_observers, survivors as u64);
    assert_eq!(stats.observers_swept, (OBSERVERS - survivors) as u64);
    assert_eq!(stats.notifications_sent, (OBSERVERS + survivors) as u64);
    Ok(())
}

#[test]
fn values_and_callbacks_are_dropped_not_leaked() -> TestResult {
    let value = Arc::new(0_i64);
    let callback_guard = Arc::new(());
    {
        let mut manager = ObserverManager::<Arc<i64>>::with_config(
            observer_manager::Config::default().inbox_capacity(1),
        )?;
        let owner = manager.owner();
        let swept_owner = manager.owner();
        for owner in [&owner, &swept_owner] {
            let guard = Arc::clone(&callback_guard);
            manager
                .observe("x", owner)
                .callback(move |_| {
                    let _ = &guard;
                })
                .add()?;
        }
        assert_eq!(Arc::strong_count(&callback_guard), 3);

        // Queued, coalesced and merged-away values are all released by the tick.
        for new in 1..=3 {
            manager.notify("x", Arc::clone(&value), Arc::new(new), meta())?;
        }
        drop(swept_owner);
        let report = manager.tick();
        assert_eq!(report.observers_swept, 1);
        assert_eq!(report.changes_coalesced, 1);
        assert_eq!(Arc::strong_count(&value), 1, "change values released");
        assert_eq!(
            Arc::strong_count(&callback_guard),
            2,
            "swept callback released"
        );

        // Values still queued when the manager goes are released with it.
        manager.notify("x", Arc::clone(&value), Arc::new(9), meta())?;
        assert_eq!(Arc::strong_count(&value), 2);
    }
    assert_eq!(
        Arc::strong_count(&value),
        1,
        "queued value released on drop"
    );
    assert_eq!(
        Arc::strong_count(&callback_guard),
        1,
        "callbacks released on drop"
    );
    Ok(())
}

#[test]
fn dropping_manager_releases_queued_registration_capturing_a_notifier() -> TestResult {
    let guard = Arc::new(());
    {
        let manager = ObserverManager::<i64>::new();
        let owner = manager.owner();
        let notifier = manager.notifier();
        let captured = (Arc::clone(&guard), notifier.clone());
        notifier
            .observe("x", &owner)
            .callback(move |_| {
                let _ = &captured;
            })
            .defer()?;
        // The manager is dropped before any tick applies the registration.
    }
    assert_eq!(
        Arc::strong_count(&guard),
        1,
        "the queued callback (and the notifier it holds) should be dropped with the manager"
    );
    Ok(())
}

/// When every observer's owner dies at once (a teardown, an episode's end),
/// the sweep drops the storage whole rather than observer by observer: the
/// manager is then as good as new, with nothing of the old observers left
/// and the variables' counters kept.
#[test]
fn every_owner_dying_at_once_leaves_a_manager_as_good_as_new() -> TestResult {
    let mut manager = ObserverManager::<i64>::with_config(
        observer_manager::Config::default().quarantine_after(Some(1)),
    )?;
    let calls = Arc::new(AtomicUsize::new(0));
    let shared = manager.register_callback(counter(&calls));
    let owners: Vec<Owner> = (0..20).map(|_| manager.owner()).collect();
    let mut ids = Vec::new();
    let mut rng = SplitMix64::new(SEED);
    for i in 0..2_000 {
        let var = format!("v{}", rng.below(50));
        let owner = &owners[rng.below(owners.len())];
        let id = match i % 4 {
            0 => manager
                .observe(var.as_str(), owner)
                .callback(counter(&calls))
                .add()?,
            1 => manager
                .observe(var.as_str(), owner)
                .policy(observer_manager::Policy::new().every(2))
                .callback(counter(&calls))
                .add()?,
            2 if i % 40 == 2 => manager
                .observe(var.as_str(), owner)
                .callback(|_| panic!("quarantined"))
                .add()?,
            _ => manager.observe(var.as_str(), owner).shared(shared).add()?,
        };
        ids.push(id);
    }
    for v in 0..50 {
        manager.notify(format!("v{v}").as_str(), 0, 1, meta())?;
    }
    // (The panic hook prints each quarantined observer's panic once.)
    assert!(manager.tick().observers_quarantined > 0);
    let before = manager.inspect_variable("v0")?;

    drop(owners);
    let report = manager.tick();
    assert_eq!(report.observers_swept, 2_000);
    assert_eq!(manager.total_observers(), 0);
    assert!(ids.iter().all(|&id| !manager.contains_observer(id)));
    assert_eq!(
        manager.remove_observer(ids[0]),
        Err(RemoveObserverError::NotFound)
    );
    let after = manager.inspect_variable("v0")?;
    assert!(after.observers.is_empty());
    assert_eq!(after.changes_dispatched, before.changes_dispatched);
    assert_eq!(manager.unregister_callback(shared), Ok(()));

    // New observers work as on a fresh manager.
    let owner = manager.owner();
    let fresh = Arc::new(AtomicUsize::new(0));
    add_counted(&mut manager, "v0", &owner, 3, &fresh)?;
    manager.notify("v0", 1, 2, meta())?;
    assert_eq!(manager.tick().notifications, 3);
    assert_eq!(fresh.load(Ordering::Relaxed), 3);
    Ok(())
}

/// Records the thread that drops it.
struct DropWitness(Arc<Mutex<Vec<std::thread::ThreadId>>>);

impl Drop for DropWitness {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(std::thread::current().id());
    }
}

#[test]
fn a_large_sweep_on_a_configured_pool_keeps_exactly_the_survivors() -> TestResult {
    // Enough leavers (a third of 18k) for the sweep's halves to run at once.
    const OWNERS: usize = 90;
    const VARIABLES: usize = 300;
    const PER_OWNER: usize = 200;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
    let config = observer_manager::Config::default().thread_pool(Arc::new(pool));
    let mut manager = ObserverManager::<i64>::with_config(config)?;
    let mut owners: Vec<Option<Owner>> = (0..OWNERS).map(|_| Some(manager.owner())).collect();
    let calls: Vec<Arc<AtomicUsize>> = (0..OWNERS).map(|_| Arc::default()).collect();
    let drops = Arc::new(Mutex::new(Vec::new()));
    let names: Vec<String> = (0..VARIABLES).map(|v| format!("v{v}")).collect();
    let mut rng = SplitMix64::new(SEED);
    let mut ids = Vec::new();
    for (o, owner) in owners.iter().enumerate() {
        let owner = owner.as_ref().unwrap();
        for _ in 0..PER_OWNER {
            let var = &names[rng.below(VARIABLES)];
            let (calls, witness) = (Arc::clone(&calls[o]), DropWitness(Arc::clone(&drops)));
            let id = manager
                .observe(var.as_str(), owner)
                .callback(move |_| {
                    let _ = &witness;
                    calls.fetch_add(1, Ordering::Relaxed);
                })
                .add()?;
            ids.push((o, id));
        }
    }
    let dead = |o: usize| o.is_multiple_of(3);
    for (o, slot) in owners.iter_mut().enumerate() {
        if dead(o) {
            slot.take().unwrap().kill();
        }
    }
    for name in &names {
        manager.notify(name.as_str(), 0, 1, meta())?;
    }
    let report = manager.tick();
    let leavers = (0..OWNERS).filter(|&o| dead(o)).count() * PER_OWNER;
    assert_eq!(report.observers_swept, leavers as u64);
    assert_eq!(manager.total_observers(), OWNERS * PER_OWNER - leavers);
    assert_eq!(report.notifications, (OWNERS * PER_OWNER - leavers) as u64);
    for (o, calls) in calls.iter().enumerate() {
        let expected = if dead(o) { 0 } else { PER_OWNER };
        assert_eq!(calls.load(Ordering::Relaxed), expected, "owner {o}");
    }
    for &(o, id) in &ids {
        assert_eq!(manager.contains_observer(id), !dead(o));
    }
    let counted: usize = names.iter().map(|n| manager.observer_count(n)).sum();
    assert_eq!(counted, OWNERS * PER_OWNER - leavers);
    // The leavers' closures were dropped on the thread that ticked.
    let drops = drops.lock().unwrap();
    assert_eq!(drops.len(), leavers);
    assert!(drops.iter().all(|&t| t == std::thread::current().id()));
    Ok(())
}
