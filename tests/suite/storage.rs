//! The store gives back what a past population grew, without ever letting
//! an old id name a new observer; a dropped manager refuses new work.

use observer_manager::{
    AddObserverError, Metadata, NotifyError, ObserverManager, RemoveObserverError,
};

#[test]
fn ids_stay_stale_after_the_emptied_store_is_rebuilt() {
    let mut manager = ObserverManager::<u32>::new();
    let owner = manager.owner();
    let old = manager.observe("x", &owner).callback(|_| {}).add().unwrap();
    manager.remove_observer(old).unwrap();
    manager.tick(); // empty: the store is rebuilt here

    let new = manager.observe("x", &owner).callback(|_| {}).add().unwrap();
    assert_ne!(old, new, "a rebuilt store must not reissue an id");
    assert!(!manager.contains_observer(old));
    assert!(manager.contains_observer(new));
    assert_eq!(
        manager.remove_observer(old),
        Err(RemoveObserverError::NotFound)
    );
    assert!(manager.contains_observer(new), "the stale removal left it");
}

#[test]
fn deferred_removal_of_an_id_from_before_the_rebuild_is_skipped() {
    let mut manager = ObserverManager::<u32>::new();
    let notifier = manager.notifier();
    let owner = manager.owner();
    let old = manager.observe("x", &owner).callback(|_| {}).add().unwrap();
    manager.remove_observer(old).unwrap();
    manager.tick();
    let new = manager.observe("x", &owner).callback(|_| {}).add().unwrap();

    notifier.remove_observer(old).unwrap();
    let report = manager.tick();
    assert_eq!(report.commands_skipped, 1);
    assert!(manager.contains_observer(new));
}

#[test]
fn a_dropped_manager_refuses_notifications_and_registrations() {
    let manager = ObserverManager::<u32>::new();
    let notifier = manager.notifier();
    let owner = notifier.owner();
    drop(manager);
    assert_eq!(
        notifier.notify("x", 0, 1, Metadata::default()),
        Err(NotifyError::ManagerDropped)
    );
    assert_eq!(
        notifier.observe("x", &owner).callback(|_| {}).defer(),
        Err(AddObserverError::ManagerDropped)
    );
}
