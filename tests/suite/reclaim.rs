//! Variables left unused are reclaimed, so ever-new names keep the table
//! bounded; a stale id is refused, never taken for another variable, and
//! nothing observed, watched, stored or pending is ever reclaimed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use observer_manager::{
    AddObserverError, Capacity, Config, ConfigError, Metadata, NotifyError, ObserverManager,
    SessionId, SessionStore, VariableError, VariableRef,
};

const IDLE: u64 = 3;

fn manager() -> ObserverManager<u32> {
    ObserverManager::with_config(Config::default().reclaim_idle_variables(Some(IDLE))).unwrap()
}

fn ticks(manager: &mut ObserverManager<u32>, n: u64) -> u64 {
    (0..n).map(|_| manager.tick().variables_reclaimed).sum()
}

const STALE: NotifyError = NotifyError::Variable(VariableError::Reclaimed);

#[test]
fn an_unused_variable_is_reclaimed_and_its_old_id_refused_everywhere() {
    let mut manager = manager();
    let id = manager.variable("request-1").unwrap();
    manager.notify(id, 0, 1, Metadata::default()).unwrap();
    assert_eq!(
        ticks(&mut manager, IDLE),
        0,
        "idle for fewer than {IDLE} ticks"
    );
    assert_eq!(ticks(&mut manager, 1), 1);
    assert_eq!(manager.stats().variables, 0);
    assert_eq!(manager.stats().variables_reclaimed, 1);

    assert_eq!(manager.notify(id, 1, 2, Metadata::default()), Err(STALE));
    let notifier = manager.notifier();
    assert_eq!(notifier.notify(id, 1, 2, Metadata::default()), Err(STALE));
    let owner = manager.owner();
    assert_eq!(
        manager
            .observe(id, &owner)
            .callback(|_| {})
            .add()
            .unwrap_err(),
        AddObserverError::Variable(VariableError::Reclaimed)
    );
    assert!(manager.inspect_variable(id).is_err());
    let again = manager.variable("request-1").unwrap();
    assert_ne!(again, id, "the name resolves to a new id");
    manager.notify(again, 1, 2, Metadata::default()).unwrap();
}

#[test]
fn a_reused_slot_never_delivers_an_old_ids_change_to_the_new_variable() {
    let mut manager = manager();
    let old = manager.variable("a").unwrap();
    ticks(&mut manager, IDLE + 1);
    let owner = manager.owner();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    manager
        .observe("b", &owner)
        .callback(move |n| sink.lock().unwrap().push(*n.new))
        .add()
        .unwrap();
    let b = manager.variable("b").unwrap();
    assert_eq!(b.index(), old.index(), "the slot is reused");
    assert_ne!(b.generation(), old.generation());
    assert_eq!(manager.notify(old, 0, 99, Metadata::default()), Err(STALE));
    manager.notify(b, 0, 7, Metadata::default()).unwrap();
    manager.tick();
    assert_eq!(*seen.lock().unwrap(), [7]);
}

#[test]
fn variable_ids_round_trip_through_bits_checked_on_the_way_back() {
    let mut manager = manager();
    let notifier = manager.notifier();
    let old = manager.variable("a").unwrap();
    assert_eq!(manager.variable_from_bits(old.to_bits()), Ok(old));
    assert_eq!(notifier.variable_from_bits(old.to_bits()), Ok(old));
    ticks(&mut manager, IDLE + 1);
    // Reclaimed: its bits are refused as stale; the slot's next id is not
    // issued yet.
    assert_eq!(
        manager.variable_from_bits(old.to_bits()),
        Err(VariableError::Reclaimed)
    );
    let next = old.to_bits() + (1 << 32);
    assert_eq!(
        manager.variable_from_bits(next),
        Err(VariableError::NotIssued { bits: next })
    );
    let b = manager.variable("b").unwrap();
    assert_eq!(b.to_bits(), next, "the reused slot, one generation on");
    assert_eq!(notifier.variable_from_bits(next), Ok(b));
    // An index beyond the table, and another manager's id of the same bits.
    assert_eq!(
        manager.variable_from_bits(7),
        Err(VariableError::NotIssued { bits: 7 })
    );
    let other = ObserverManager::<u32>::new();
    assert_eq!(
        other.variable_from_bits(b.to_bits()),
        Err(VariableError::NotIssued { bits: next })
    );
}

#[test]
fn a_batch_is_refused_at_its_first_stale_id_before_and_after_names_and_reclaims() {
    let mut manager = manager();
    let owner = manager.owner();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let kept = manager.variable("kept").unwrap();
    manager
        .observe(kept, &owner)
        .callback(move |n| sink.lock().unwrap().push(*n.new))
        .add()
        .unwrap();
    let gone = manager.variable("gone").unwrap();
    let metadata = Metadata::default();
    // Nothing reclaimed yet: every id of this manager is live.
    manager
        .notify_batch(&metadata, [(kept, 0, 1), (gone, 0, 1)])
        .unwrap();
    ticks(&mut manager, IDLE + 1);
    assert_eq!(manager.stats().variables_reclaimed, 1);

    // After a reclaim, ids alone, ids among names, one change per call.
    let notifier = manager.notifier();
    let refusal = notifier
        .notify_batch(&metadata, [(kept, 1, 2), (gone, 1, 2), (kept, 2, 3)])
        .unwrap_err();
    assert_eq!((refusal.error, refusal.accepted.queued), (STALE, 1));
    let refusal = notifier
        .notify_many([
            (VariableRef::from(kept), 3, 4, metadata.clone()),
            ("fresh".into(), 0, 1, metadata.clone()),
            (gone.into(), 1, 2, metadata.clone()),
        ])
        .unwrap_err();
    assert_eq!((refusal.error, refusal.accepted.queued), (STALE, 2));
    let refusal = notifier
        .notify_batch(&metadata, [(gone, 1, 2)])
        .unwrap_err();
    assert_eq!((refusal.error, refusal.accepted.queued), (STALE, 0));
    manager.tick();
    assert_eq!(*seen.lock().unwrap(), [1, 2, 4], "all before each refusal");
}

#[test]
fn observed_and_watched_variables_are_kept_however_long_they_are_quiet() {
    let mut manager = manager();
    let owner = manager.owner();
    let observed = manager.variable("observed").unwrap();
    manager
        .observe(observed, &owner)
        .callback(|_| {})
        .add()
        .unwrap();
    let watcher = manager.watch("watched", Capacity::Unbounded).unwrap();
    assert_eq!(ticks(&mut manager, 10 * IDLE), 0);
    manager.notify(observed, 0, 1, Metadata::default()).unwrap();
    manager
        .notify(watcher.variable(), 0, 1, Metadata::default())
        .unwrap();
    manager.tick();
    assert_eq!(watcher.try_iter().count(), 1);
}

#[test]
fn a_variable_whose_observers_left_is_reclaimed_after_the_idle_window() {
    let mut manager = manager();
    let owner = manager.owner();
    let removed = manager
        .observe("removed", &owner)
        .callback(|_| {})
        .add()
        .unwrap();
    let doomed = manager.owner();
    manager
        .observe("swept", &doomed)
        .callback(|_| {})
        .add()
        .unwrap();
    // Another observer, so the store does not empty (which lists everything).
    manager
        .observe("kept", &owner)
        .callback(|_| {})
        .add()
        .unwrap();
    assert_eq!(ticks(&mut manager, IDLE + 2), 0, "observed");
    manager.remove_observer(removed).unwrap();
    drop(doomed);
    // Each is idle from the tick its observer leaves (this one for the
    // removed, the next for the swept): both are reclaimed IDLE ticks
    // later, with no full sweep (every 1 000 ticks) in between.
    assert_eq!(ticks(&mut manager, IDLE - 1), 0);
    assert_eq!(ticks(&mut manager, 2), 2);
    assert!(manager.variable("kept").is_ok());
}

#[test]
fn a_change_or_registration_queued_during_the_reclaiming_tick_keeps_its_variable() {
    let mut manager = manager();
    let quiet = manager.variable("quiet").unwrap();
    let pending = manager.variable("pending").unwrap();
    manager.variable("control").unwrap(); // ripe on the same tick
    let owner = manager.owner();
    let notifier = manager.notifier();
    let late_owner = Arc::new(manager.owner());
    let got = Arc::new(AtomicU64::new(0));
    let fired = Arc::new(AtomicU64::new(0));
    let (sink, once, late) = (
        Arc::clone(&got),
        Arc::clone(&fired),
        Arc::clone(&late_owner),
    );
    // On the tick where both are ripe, a callback queues a change of one
    // and a registration on the other, after the tick's drain.
    manager
        .observe("trigger", &owner)
        .callback(move |n| {
            if *n.new == 1 && once.fetch_add(1, Ordering::Relaxed) == 0 {
                notifier.notify(pending, 0, 5, Metadata::default()).unwrap();
                let sink = Arc::clone(&sink);
                notifier
                    .observe(quiet, &late)
                    .callback(move |n| {
                        sink.fetch_add(u64::from(*n.new), Ordering::Relaxed);
                    })
                    .defer()
                    .unwrap();
            }
        })
        .add()
        .unwrap();
    // Named before tick 1, they have been idle for `IDLE` ticks at the end
    // of tick `IDLE`.
    assert_eq!(ticks(&mut manager, IDLE - 1), 0);
    manager
        .notify("trigger", 0, 1, Metadata::default())
        .unwrap();
    assert_eq!(
        ticks(&mut manager, 1),
        1,
        "only the control had nothing pending"
    );
    assert_eq!(manager.variable("control").unwrap().generation(), 1);
    manager.notify(pending, 5, 6, Metadata::default()).unwrap();
    manager.tick(); // applies the registration, delivers `pending`'s changes
    manager.notify(quiet, 0, 3, Metadata::default()).unwrap();
    manager.tick();
    assert_eq!(
        got.load(Ordering::Relaxed),
        3,
        "the late observer hears `quiet`"
    );
}

#[test]
fn a_session_store_entry_pins_its_variable_until_deleted() {
    let mut manager = ObserverManager::<Option<u32>>::with_config(
        Config::default().reclaim_idle_variables(Some(IDLE)),
    )
    .unwrap();
    let store = SessionStore::new(manager.notifier());
    let session = SessionId(1);
    store.set(session, "hp", 10).unwrap();
    for _ in 0..10 * IDLE {
        assert_eq!(manager.tick().variables_reclaimed, 0);
    }
    assert_eq!(
        store.set(session, "hp", 11).unwrap(),
        Some(10),
        "still stored and reported"
    );
    store.delete(session, "hp").unwrap();
    let reclaimed: u64 = (0..IDLE + 2)
        .map(|_| manager.tick().variables_reclaimed)
        .sum();
    assert_eq!(reclaimed, 1);
    assert_eq!(manager.stats().variables, 0);
}

#[test]
fn reclaiming_can_be_switched_off_and_zero_is_refused() {
    let config = Config::default().reclaim_idle_variables(None);
    let mut manager = ObserverManager::<u32>::with_config(config).unwrap();
    let id = manager.variable("kept").unwrap();
    for _ in 0..200 {
        manager.tick();
    }
    manager.notify(id, 0, 1, Metadata::default()).unwrap();
    assert_eq!(manager.stats().variables, 1);
    let zero = Config::default().reclaim_idle_variables(Some(0));
    assert_eq!(
        ObserverManager::<u32>::with_config(zero).unwrap_err(),
        ConfigError::ZeroReclaimIdle
    );
}

#[test]
fn producers_streaming_new_names_lose_nothing_observed_while_the_tick_reclaims() {
    let mut manager =
        ObserverManager::<u32>::with_config(Config::default().reclaim_idle_variables(Some(1)))
            .unwrap();
    let owner = manager.owner();
    let delivered = Arc::new(AtomicU64::new(0));
    let sink = Arc::clone(&delivered);
    let watched = manager
        .observe("watched", &owner)
        .callback(move |_| {
            sink.fetch_add(1, Ordering::Relaxed);
        })
        .add()
        .map(|_| manager.variable("watched").unwrap())
        .unwrap();
    const PRODUCERS: u32 = 2;
    const PER_PRODUCER: u32 = 20_000;
    let done = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let notifier = manager.notifier();
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    let name = format!("record-{p}-{i}");
                    notifier.notify(&name, 0, 1, Metadata::default()).unwrap();
                    notifier
                        .notify(watched, i, i + 1, Metadata::default())
                        .unwrap();
                }
                done.fetch_add(1, Ordering::Release);
            })
        })
        .collect();
    let mut reclaimed = 0;
    // Bounded: the producers finish in well under this many ticks.
    for _ in 0..1_000_000 {
        reclaimed += manager.tick().variables_reclaimed;
        if done.load(Ordering::Acquire) == u64::from(PRODUCERS) {
            break;
        }
    }
    threads.into_iter().for_each(|t| t.join().unwrap());
    for _ in 0..4 {
        reclaimed += manager.tick().variables_reclaimed;
    }
    let stats = manager.stats();
    assert_eq!(
        delivered.load(Ordering::Relaxed),
        u64::from(PRODUCERS * PER_PRODUCER)
    );
    assert_eq!(stats.changes_coalesced, 0);
    assert_eq!(reclaimed, u64::from(PRODUCERS * PER_PRODUCER));
    assert_eq!(stats.variables, 1, "only the watched variable is left");
}
