//! The callback table: registration, uses, generations and release.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::error::AddObserverError;
use crate::{Metadata, ObserverManager};

/// A callback that counts its calls in `calls`.
fn counting(calls: &Arc<AtomicU32>) -> impl Fn(&Notification<'_, u32>) + Send + Sync + 'static {
    let calls = Arc::clone(calls);
    move |_| {
        calls.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn stale_key_is_rejected_after_its_index_is_reused() {
    let mut callbacks = Callbacks::<u32>::new();
    let stale = callbacks.register(plain(|_| {}));
    assert_eq!(callbacks.unregister(stale), Ok(()));
    let fresh = callbacks.register(plain(|_| {}));
    assert_eq!(fresh.index, stale.index, "the index is reused");
    assert_ne!(fresh.generation, stale.generation);

    assert!(!callbacks.acquire(stale));
    assert!(!callbacks.acquire_many(stale, 0));
    assert_eq!(
        callbacks.unregister(stale),
        Err(UnregisterCallbackError::NotFound)
    );
    assert_eq!(callbacks.unregister(fresh), Ok(()), "no user was counted");
    assert_eq!(callbacks.len(), 0);
}

#[test]
fn stale_callback_id_is_rejected_and_never_calls_the_new_callback() {
    let mut manager = ObserverManager::<u32>::new();
    let owner = manager.owner();
    let old_calls = Arc::new(AtomicU32::new(0));
    let new_calls = Arc::new(AtomicU32::new(0));
    let stale = manager.register_callback(counting(&old_calls));
    assert_eq!(manager.unregister_callback(stale), Ok(()));
    let fresh = manager.register_callback(counting(&new_calls));
    assert_eq!(fresh.key.index, stale.key.index, "the index is reused");
    assert_ne!(fresh, stale);

    let unknown = AddObserverError::UnknownCallback;
    let added = manager.observe("x", &owner).shared(stale).add();
    assert_eq!(added.unwrap_err(), unknown);
    let added = manager.add_observers(stale, [("x", &owner)]);
    assert_eq!(added.unwrap_err(), unknown);
    let notifier = manager.notifier();
    assert_eq!(notifier.observe("x", &owner).shared(stale).defer(), Ok(()));
    let report = manager.tick();
    assert_eq!((report.commands_skipped, manager.total_observers()), (1, 0));
    assert_eq!(
        manager.unregister_callback(stale),
        Err(UnregisterCallbackError::NotFound)
    );

    manager.observe("x", &owner).shared(fresh).add().unwrap();
    manager.notify("x", 0, 1, Metadata::default()).unwrap();
    manager.tick();
    assert_eq!(old_calls.load(Ordering::Relaxed), 0);
    assert_eq!(new_calls.load(Ordering::Relaxed), 1);
    let in_use = Err(UnregisterCallbackError::InUse { observers: 1 });
    assert_eq!(manager.unregister_callback(fresh), in_use);
}

#[test]
fn index_whose_generation_is_exhausted_is_retired() {
    let mut callbacks = Callbacks::<u32>::new();
    let key = callbacks.register(plain(|_| {}));
    callbacks.shared[key.index as usize].generation = NonZeroU32::MAX;
    let key = CallbackKey {
        generation: NonZeroU32::MAX,
        ..key
    };
    assert_eq!(callbacks.unregister(key), Ok(()));
    let next = callbacks.register(plain(|_| {}));
    assert_ne!(next.index, key.index, "a retired index is never reused");
    assert!(!callbacks.acquire(key));
    assert_eq!(callbacks.len(), 1);
}

#[test]
fn private_indices_are_reused_after_release() {
    let mut callbacks = Callbacks::<u32>::new();
    let first = callbacks.insert_private(plain(|_| {}));
    let second = callbacks.insert_private(plain(|_| {}));
    assert_ne!(first, second);
    callbacks.release(first);
    assert!(callbacks.get(first).is_none());
    let third = callbacks.insert_private(plain(|_| {}));
    assert_eq!(third, first, "the released index is reused");
    assert_eq!(callbacks.private.len(), 2, "the table did not grow");
    assert_eq!(callbacks.len(), 2);

    callbacks.release(second);
    callbacks.release(third);
    assert_eq!(callbacks.len(), 0);
    callbacks.release_private_storage();
    assert_eq!(callbacks.private.capacity(), 0);
    assert_eq!(callbacks.private_free.capacity(), 0);
}

#[test]
fn shared_and_private_refs_of_one_index_name_different_callbacks() {
    let mut callbacks = Callbacks::<u32>::new();
    let key = callbacks.register(plain(|_| {}));
    let shared = CallbackRef::shared(key);
    let private = callbacks.insert_private(plain(|_| {}));
    assert_eq!(shared.index(), private.index());
    assert_ne!(shared, private);
    let stored_shared = callbacks.shared[0].entry.as_ref().map(|e| &e.call);
    let stored_private = callbacks.private[0].as_ref();
    assert!(std::ptr::eq(
        callbacks.get(shared).unwrap(),
        stored_shared.unwrap()
    ));
    assert!(std::ptr::eq(
        callbacks.get(private).unwrap(),
        stored_private.unwrap()
    ));
    assert_eq!(format!("{private:?}"), "CallbackRef(private 0)");
}

#[test]
fn table_entries_are_as_small_as_documented() {
    assert_eq!(size_of::<SharedSlot<u32>>(), 32);
    assert_eq!(size_of::<Option<Callback<u32>>>(), 16);
    assert_eq!(size_of::<CallbackRef>(), 4);
}
