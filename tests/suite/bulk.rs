//! `ObserverManager::add_observers`: a batch of observers behaves exactly
//! like the same observers added one at a time, and a failing batch adds
//! nothing.

use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::sync::{Arc, Mutex};

use observer_manager::{
    AddObserverError, CallbackId, Metadata, ObserverId, ObserverManager, UnregisterCallbackError,
    VariableError,
};

type TestResult = Result<(), Box<dyn Error>>;

/// Deliveries per observer, as seen by the shared callback.
type Seen = Arc<Mutex<HashMap<ObserverId, Vec<(String, i64)>>>>;

fn recording_callback(manager: &mut ObserverManager<i64>) -> (CallbackId, Seen) {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let callback = manager.register_callback(move |n| {
        sink.lock()
            .unwrap()
            .entry(n.observer)
            .or_default()
            .push((n.name.to_owned(), *n.new));
    });
    (callback, seen)
}

#[test]
fn bulk_added_observers_receive_like_single_ones() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let (callback, seen) = recording_callback(&mut manager);
    let owners = [manager.owner(), manager.owner()];
    // One observer added alone first, so the batch lands behind it.
    let single = manager.observe("v0", &owners[0]).shared(callback).add()?;
    let pairs: Vec<(String, usize)> = (0..30).map(|i| (format!("v{}", i % 3), i % 2)).collect();
    let ids = manager.add_observers(callback, pairs.iter().map(|(v, o)| (v, &owners[*o])))?;

    assert_eq!(ids.len(), 30);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        30,
        "ids are distinct"
    );
    assert!(!ids.contains(&single));
    assert_eq!(manager.total_observers(), 31);
    assert_eq!(manager.observer_count("v0"), 11);
    assert_eq!(manager.stats().observers_added, 31);

    for v in 0..3 {
        manager.notify(format!("v{v}").as_str(), 0, v + 1, Metadata::new("test"))?;
    }
    manager.tick();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.len(), 31, "every observer received once");
    assert_eq!(seen[&single], vec![("v0".to_owned(), 1)]);
    for (id, (var, _)) in ids.iter().zip(&pairs) {
        let v: i64 = var[1..].parse()?;
        assert_eq!(seen[id], vec![(var.clone(), v + 1)], "{id:?} on {var}");
    }
    let report = manager.inspect_variable("v1")?;
    assert_eq!(report.observers.len(), 10);
    assert!(report.observers.iter().all(|o| o.deliveries == 1));
    Ok(())
}

#[test]
fn bulk_added_observers_are_removed_and_swept_like_single_ones() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let (callback, seen) = recording_callback(&mut manager);
    let keep = manager.owner();
    let doomed = manager.owner();
    let pairs: Vec<(&str, bool)> = (0..40).map(|i| (["a", "b"][i % 2], i % 4 == 0)).collect();
    let ids = manager.add_observers(
        callback,
        pairs
            .iter()
            .map(|&(v, dies)| (v, if dies { &doomed } else { &keep })),
    )?;
    // Remove every third observer by id, then let one owner die.
    let removed: HashSet<ObserverId> = ids.iter().copied().step_by(3).collect();
    for &id in &removed {
        manager.remove_observer(id)?;
    }
    drop(doomed);
    manager.notify("a", 0, 1, Metadata::new("test"))?;
    manager.notify("b", 0, 2, Metadata::new("test"))?;
    manager.tick();

    let expected: HashSet<ObserverId> = ids
        .iter()
        .zip(&pairs)
        .filter(|(id, (_, dies))| !dies && !removed.contains(id))
        .map(|(id, _)| *id)
        .collect();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.keys().copied().collect::<HashSet<_>>(), expected);
    assert_eq!(manager.total_observers(), expected.len());
    for id in &ids {
        assert_eq!(manager.contains_observer(*id), expected.contains(id));
    }
    drop(keep);
    manager.tick();
    assert_eq!(manager.total_observers(), 0);
    manager.unregister_callback(callback)?;
    Ok(())
}

#[test]
fn a_failing_batch_adds_nothing_and_counts_no_callback_use() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let mut other = ObserverManager::<i64>::new();
    let (callback, _seen) = recording_callback(&mut manager);
    let owner = manager.owner();
    let foreign = other.owner();

    let err = manager
        .add_observers(callback, [("a", &owner), ("b", &foreign)])
        .unwrap_err();
    assert_eq!(err, AddObserverError::ForeignOwner);
    let err = manager
        .add_observers(callback, [("a", &owner), ("", &owner)])
        .unwrap_err();
    assert_eq!(err, AddObserverError::Variable(VariableError::EmptyName));
    let theirs = other.register_callback(|_| {});
    let err = manager.add_observers(theirs, [("a", &owner)]).unwrap_err();
    assert_eq!(err, AddObserverError::UnknownCallback);

    assert_eq!(manager.total_observers(), 0);
    assert_eq!(manager.stats().observers_added, 0);
    // No use of the callback was counted, so it can go.
    manager.unregister_callback(callback)?;
    let err = manager
        .add_observers(callback, [("a", &owner)])
        .unwrap_err();
    assert_eq!(err, AddObserverError::UnknownCallback);
    Ok(())
}

#[test]
fn a_batch_counts_every_use_of_its_callback() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let (callback, _seen) = recording_callback(&mut manager);
    let owner = manager.owner();
    assert!(
        manager
            .add_observers(callback, std::iter::empty::<(&str, _)>())?
            .is_empty()
    );
    let ids = manager.add_observers(callback, (0..5).map(|_| ("x", &owner)))?;
    assert_eq!(
        manager.unregister_callback(callback),
        Err(UnregisterCallbackError::InUse { observers: 5 })
    );
    for id in ids {
        manager.remove_observer(id)?;
    }
    manager.unregister_callback(callback)?;
    Ok(())
}

#[test]
fn a_batch_larger_than_the_store_writes_at_once_keeps_every_id_on_its_pair() -> TestResult {
    // The store spawns large batches in parts of 65,536; this one spans
    // three, so ids from every part must land on their own pairs.
    const OBSERVERS: usize = 2 * 65_536 + 1_000;
    const VARIABLES: usize = 97;
    let mut manager = ObserverManager::<i64>::new();
    let (callback, seen) = recording_callback(&mut manager);
    let owners = [manager.owner(), manager.owner(), manager.owner()];
    let names: Vec<String> = (0..VARIABLES).map(|v| format!("v{v}")).collect();
    let pairs: Vec<(usize, usize)> = (0..OBSERVERS).map(|i| (i % VARIABLES, i % 3)).collect();
    let ids = manager.add_observers(
        callback,
        pairs.iter().map(|&(v, o)| (names[v].as_str(), &owners[o])),
    )?;

    assert_eq!(ids.len(), OBSERVERS);
    assert_eq!(manager.total_observers(), OBSERVERS);
    assert_eq!(manager.observer_count("v0"), OBSERVERS.div_ceil(VARIABLES));
    for (v, name) in names.iter().enumerate() {
        manager.notify(name.as_str(), 0, v as i64 + 1, Metadata::new("test"))?;
    }
    manager.tick();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.len(), OBSERVERS, "every observer received once");
    for (id, &(v, _)) in ids.iter().zip(&pairs) {
        assert_eq!(seen[id], vec![(names[v].clone(), v as i64 + 1)], "{id:?}");
    }

    // Each owner's observers are swept with it, wherever their part was.
    drop(owners);
    manager.tick();
    assert_eq!(manager.total_observers(), 0);
    Ok(())
}

#[test]
fn a_batch_failing_after_its_first_parts_undoes_them() -> TestResult {
    // The store spawns a batch in parts of 65,536; the bad pair sits in
    // the third, after two parts were spawned.
    const GOOD: usize = 2 * 65_536 + 10;
    let mut manager = ObserverManager::<i64>::new();
    let other = ObserverManager::<i64>::new();
    let (callback, seen) = recording_callback(&mut manager);
    let owner = manager.owner();
    let foreign = other.owner();
    let kept = manager.observe("a", &owner).shared(callback).add()?;

    let good = (0..GOOD).map(|i| (["a", "b", "c"][i % 3], &owner));
    let err = manager
        .add_observers(callback, good.chain([("b", &foreign), ("c", &owner)]))
        .unwrap_err();
    assert_eq!(err, AddObserverError::ForeignOwner);
    assert_eq!(manager.total_observers(), 1);
    assert_eq!(manager.observer_count("a"), 1);
    assert_eq!(manager.observer_count("b"), 0);
    assert_eq!(manager.stats().observers_added, 1);
    assert_eq!(
        manager.unregister_callback(callback),
        Err(UnregisterCallbackError::InUse { observers: 1 }),
        "the undone parts' uses of the callback were released"
    );

    manager.notify("a", 0, 1, Metadata::new("test"))?;
    manager.notify("b", 0, 2, Metadata::new("test"))?;
    manager.tick();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), vec![kept]);
    manager.remove_observer(kept)?;
    manager.unregister_callback(callback)?;
    Ok(())
}
