//! `remove_observers`: many observers out at once, through the sweep's batch.

use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};

use observer_manager::{
    Config, Metadata, ObserverId, ObserverManager, Policy, RemoveObserverError,
};

type TestResult = Result<(), Box<dyn Error>>;

fn meta() -> Metadata {
    Metadata::new("test")
}

/// Records the thread that drops it.
struct DropWitness(Arc<Mutex<Vec<ThreadId>>>);

impl Drop for DropWitness {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(thread::current().id());
    }
}

#[test]
fn a_few_ids_remove_exactly_those_observers_and_skip_the_gone_and_repeated() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let calls: Vec<Arc<AtomicUsize>> = (0..10).map(|_| Arc::default()).collect();
    let mut ids = Vec::new();
    for (i, calls) in calls.iter().enumerate() {
        let calls = Arc::clone(calls);
        let var = if i % 2 == 0 { "even" } else { "odd" };
        ids.push(
            manager
                .observe(var, &owner)
                .callback(move |_| {
                    calls.fetch_add(1, Ordering::Relaxed);
                })
                .add()?,
        );
    }
    manager.remove_observer(ids[7])?;
    // 1, 3 and 4, with 3 twice and 7 gone already.
    let batch = [ids[1], ids[3], ids[4], ids[3], ids[7]];
    assert_eq!(manager.remove_observers(batch)?, 3);
    for gone in [1, 3, 4, 7] {
        assert!(!manager.contains_observer(ids[gone]));
    }
    assert_eq!(manager.total_observers(), 6);
    assert_eq!(manager.observer_count("even"), 4);
    assert_eq!(manager.observer_count("odd"), 2);
    assert_eq!(manager.stats().observers_removed, 4);
    manager.notify("even", 0, 1, meta())?;
    manager.notify("odd", 0, 1, meta())?;
    assert_eq!(manager.tick().notifications, 6);
    for (i, calls) in calls.iter().enumerate() {
        let expected = usize::from(![1, 3, 4, 7].contains(&i));
        assert_eq!(calls.load(Ordering::Relaxed), expected, "observer {i}");
    }
    // Removed ids stay removed: a second batch finds nothing.
    assert_eq!(manager.remove_observers(batch)?, 0);
    Ok(())
}

#[test]
fn an_id_of_another_manager_fails_the_batch_and_removes_nothing() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let mut other = ObserverManager::<i64>::new();
    let (owner, other_owner) = (manager.owner(), other.owner());
    let mine = manager.observe("x", &owner).callback(|_| {}).add()?;
    let theirs = other.observe("x", &other_owner).callback(|_| {}).add()?;
    assert_eq!(
        manager.remove_observers([mine, theirs]),
        Err(RemoveObserverError::ForeignManager)
    );
    assert!(manager.contains_observer(mine));
    assert!(other.contains_observer(theirs));
    Ok(())
}

#[test]
fn a_large_batch_on_a_configured_pool_removes_its_observers_and_releases_their_callbacks()
-> TestResult {
    // Enough for the batch's halves to run at once (4,096 or more).
    const OBSERVERS: usize = 12_000;
    const VARIABLES: usize = 200;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
    let config = Config::default().thread_pool(Arc::new(pool));
    let mut manager = ObserverManager::<i64>::with_config(config)?;
    let owner = manager.owner();
    let shared_calls = Arc::new(AtomicUsize::new(0));
    let shared = {
        let calls = Arc::clone(&shared_calls);
        manager.register_callback(move |_| {
            calls.fetch_add(1, Ordering::Relaxed);
        })
    };
    let drops = Arc::new(Mutex::new(Vec::new()));
    let mut ids: Vec<(ObserverId, bool)> = Vec::new();
    for i in 0..OBSERVERS {
        let var = format!("v{}", i % VARIABLES);
        let id = match i % 3 {
            0 => {
                let witness = DropWitness(Arc::clone(&drops));
                manager
                    .observe(var.as_str(), &owner)
                    .callback(move |_| {
                        let _ = &witness;
                    })
                    .add()?
            }
            1 => manager
                .observe(var.as_str(), &owner)
                .policy(Policy::new().every(1))
                .callback(|_| {})
                .add()?,
            _ => manager.observe(var.as_str(), &owner).shared(shared).add()?,
        };
        // Every observer of a shared callback leaves; two in three of the others.
        let leaves = i % 3 == 2 || i % 2 == 0;
        ids.push((id, leaves));
    }
    let leaving: Vec<ObserverId> = ids.iter().filter(|(_, l)| *l).map(|(id, _)| *id).collect();
    let private_leavers = (0..OBSERVERS).filter(|i| i % 3 == 0 && i % 2 == 0).count();
    assert!(leaving.len() >= 4_096);
    assert_eq!(
        manager.remove_observers(leaving.iter().copied())?,
        leaving.len()
    );
    assert_eq!(manager.total_observers(), OBSERVERS - leaving.len());
    for &(id, leaves) in &ids {
        assert_eq!(manager.contains_observer(id), !leaves);
    }
    // The leavers' private closures were dropped on this thread, and no
    // observer is left on the shared callback.
    let drops = drops.lock().unwrap();
    assert_eq!(drops.len(), private_leavers);
    assert!(drops.iter().all(|&t| t == thread::current().id()));
    assert_eq!(manager.unregister_callback(shared), Ok(()));
    // The survivors still hear their variables.
    for v in 0..VARIABLES {
        manager.notify(format!("v{v}").as_str(), 0, 1, meta())?;
    }
    assert_eq!(
        manager.tick().notifications,
        (OBSERVERS - leaving.len()) as u64
    );
    assert_eq!(shared_calls.load(Ordering::Relaxed), 0);
    Ok(())
}

#[test]
fn removing_every_observer_leaves_a_manager_as_good_as_new() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let ids: Vec<ObserverId> = (0..5_000)
        .map(|i| {
            manager
                .observe(format!("v{}", i % 50).as_str(), &owner)
                .callback(|_| {})
                .add()
        })
        .collect::<Result<_, _>>()?;
    assert_eq!(manager.remove_observers(ids.iter().copied())?, 5_000);
    assert_eq!(manager.total_observers(), 0);
    assert!(ids.iter().all(|&id| !manager.contains_observer(id)));
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    manager
        .observe("v0", &owner)
        .callback(move |_| {
            counted.fetch_add(1, Ordering::Relaxed);
        })
        .add()?;
    manager.notify("v0", 0, 1, meta())?;
    assert_eq!(manager.tick().notifications, 1);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(manager.remove_observers(ids)?, 0, "old ids stay stale");
    Ok(())
}
