//! `notify_many`: the same outcome as `notify` one change at a time, counted,
//! with a typed error that says where a batch stopped.

use std::error::Error;
use std::sync::{Arc, Mutex};

use observer_manager::{
    Config, Metadata, NotifyCounts, NotifyError, NotifyManyError, NotifyOutcome, ObserverManager,
    Owner, Stats, VariableError, VariableId,
};

type TestResult = Result<(), Box<dyn Error>>;

/// What one observer saw: (variable index, old, new, metadata source).
type Log = Arc<Mutex<Vec<(usize, i64, i64, String)>>>;

const VARS: usize = 5;

/// A manager with two observers of each of `VARS` variables (owned by the
/// returned owner), all logging into one shared log, and the variables' ids.
type Watched = (ObserverManager<i64>, Vec<VariableId>, Log, Owner);

fn watched(capacity: usize) -> Result<Watched, Box<dyn Error>> {
    let mut manager =
        ObserverManager::<i64>::with_config(Config::default().inbox_capacity(capacity))?;
    let owner = manager.owner();
    let log = Log::default();
    let mut ids = Vec::new();
    for index in 0..VARS {
        let id = manager.variable(&format!("v{index}"))?;
        for _ in 0..2 {
            let log = Arc::clone(&log);
            manager
                .observe(id, &owner)
                .callback(move |n| {
                    let seen = (index, *n.old, *n.new, n.metadata.source.to_string());
                    log.lock().unwrap().push(seen);
                })
                .add()?;
        }
        ids.push(id);
    }
    Ok((manager, ids, log, owner))
}

/// A seeded sequence of changes `(variable, old, new)`, a quarter of them
/// unchanged.
fn changes(seed: u64, len: usize) -> Vec<(usize, i64, i64)> {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    (0..len)
        .map(|_| {
            let var = (next() % VARS as u64) as usize;
            let old = (next() % 4) as i64;
            let new = if next() % 4 == 0 { old } else { old + 1 };
            (var, old, new)
        })
        .collect()
}

fn stats_totals(stats: &Stats) -> (u64, u64, u64, u64) {
    (
        stats.changes_received,
        stats.changes_delivered,
        stats.changes_coalesced,
        stats.changes_pending,
    )
}

/// Batches of every size, small and large inboxes (so batches cross the
/// capacity and coalesce): the deliveries, the counts and the stats are
/// those of the same changes sent one `notify` at a time.
#[test]
fn batches_deliver_and_count_as_one_by_one_notifies() -> TestResult {
    for capacity in [1, 7, 64, 1000] {
        for (seed, batch) in [
            (1, 1),
            (2, 3),
            (3, 63),
            (4, 64),
            (5, 65),
            (6, 200),
            (7, 500),
        ] {
            let (mut single, single_ids, single_log, _owner) = watched(capacity)?;
            let (mut many, many_ids, many_log, _owner) = watched(capacity)?;
            for tick in 0..3 {
                let round = changes(seed * 10 + tick, 500);
                let mut expected = NotifyCounts::default();
                for &(var, old, new) in &round {
                    let meta = Metadata::new(format!("{tick}:{var}:{new}"));
                    match single.notify(single_ids[var], old, new, meta)? {
                        NotifyOutcome::Queued => expected.queued += 1,
                        NotifyOutcome::Unchanged => expected.unchanged += 1,
                        NotifyOutcome::Coalesced => expected.coalesced += 1,
                    }
                }
                let mut counted = NotifyCounts::default();
                for part in round.chunks(batch) {
                    let part = part.iter().map(|&(var, old, new)| {
                        let meta = Metadata::new(format!("{tick}:{var}:{new}"));
                        (many_ids[var], old, new, meta)
                    });
                    let counts = many.notify_many(part)?;
                    counted.queued += counts.queued;
                    counted.unchanged += counts.unchanged;
                    counted.coalesced += counts.coalesced;
                }
                let context = format!("capacity {capacity}, batch {batch}, tick {tick}");
                assert_eq!(counted, expected, "{context}");
                assert_eq!(
                    many.pending_changes(),
                    single.pending_changes(),
                    "{context}"
                );
                let (a, b) = (single.tick(), many.tick());
                assert_eq!(
                    (a.changes_received, a.changes_delivered, a.changes_coalesced),
                    (b.changes_received, b.changes_delivered, b.changes_coalesced),
                    "{context}"
                );
                assert_eq!(a.notifications, b.notifications, "{context}");
                let seen_single = std::mem::take(&mut *single_log.lock().unwrap());
                let seen_many = std::mem::take(&mut *many_log.lock().unwrap());
                assert_eq!(seen_many, seen_single, "{context}");
            }
            assert_eq!(stats_totals(&many.stats()), stats_totals(&single.stats()));
            assert_eq!(many.stats().changes_skipped, single.stats().changes_skipped);
        }
    }
    Ok(())
}

/// A refused change stops the batch there: what came before is accepted
/// and counted, it and what follows are not.
#[test]
fn refused_change_stops_the_batch_and_says_where() -> TestResult {
    let (mut manager, ids, log, _owner) = watched(1000)?;
    let other = ObserverManager::<i64>::new();
    let foreign = other.variable("v0")?;
    let meta = || Metadata::new("batch");
    let mut batch: Vec<_> = (0..100)
        .map(|k| (ids[k % VARS], 0, k as i64 + 1, meta()))
        .collect();
    batch[70].1 = batch[70].2; // unchanged
    batch.insert(90, (foreign, 0, 1, meta()));
    let err = manager.notify_many(batch).unwrap_err();
    assert_eq!(
        err,
        NotifyManyError {
            error: NotifyError::Variable(VariableError::ForeignManager),
            accepted: NotifyCounts {
                queued: 89,
                unchanged: 1,
                coalesced: 0
            },
        }
    );
    assert_eq!(err.accepted.total(), 90, "the refused change's position");
    assert!(err.to_string().contains("change 90"), "{err}");
    assert!(err.source().is_some());
    assert_eq!(manager.pending_changes(), 89);
    let report = manager.tick();
    assert_eq!(report.changes_delivered, 89);
    assert_eq!(
        log.lock().unwrap().len(),
        2 * 89,
        "two observers per change"
    );

    // Names are interned as `notify` would; an invalid one is refused.
    let err = manager
        .notify_many([("fresh", 0, 1, meta()), ("", 0, 1, meta())])
        .unwrap_err();
    assert_eq!(err.error, NotifyError::Variable(VariableError::EmptyName));
    assert_eq!(err.accepted.queued, 1);
    assert_eq!(manager.pending_changes(), 1);
    Ok(())
}

#[test]
fn empty_batch_counts_nothing() -> TestResult {
    let manager = ObserverManager::<i64>::new();
    let none: [(VariableId, i64, i64, Metadata); 0] = [];
    assert_eq!(manager.notify_many(none)?, NotifyCounts::default());
    assert_eq!(manager.pending_changes(), 0);
    Ok(())
}

#[test]
fn batch_after_the_manager_is_dropped_is_refused() -> TestResult {
    let manager = ObserverManager::<i64>::new();
    let notifier = manager.notifier();
    let id = manager.variable("v")?;
    drop(manager);
    let batch = (0..10).map(|k| (id, k, k + 1, Metadata::new("late")));
    let err = notifier.notify_many(batch).unwrap_err();
    assert_eq!(err.error, NotifyError::ManagerDropped);
    assert_eq!(err.accepted, NotifyCounts::default());
    let empty: [(VariableId, i64, i64); 0] = [];
    let err = notifier
        .notify_batch(&Metadata::new("late"), empty)
        .unwrap_err();
    assert_eq!(err.error, NotifyError::ManagerDropped, "an empty batch too");
    Ok(())
}

/// `notify_batch` (one metadata for the batch) delivers and counts exactly
/// as `notify_many` with a clone of that metadata for each change, through
/// inboxes small enough to coalesce; a refused change stops it the same way.
#[test]
fn shared_metadata_batches_match_notify_many_with_clones() -> TestResult {
    for capacity in [1, 7, 64, 1000] {
        for (seed, batch) in [(1, 1), (2, 63), (3, 64), (4, 65), (5, 500)] {
            let (mut cloned, cloned_ids, cloned_log, _owner) = watched(capacity)?;
            let (mut shared, shared_ids, shared_log, _owner) = watched(capacity)?;
            for tick in 0..3 {
                let round = changes(seed * 10 + tick, 500);
                for (p, part) in round.chunks(batch).enumerate() {
                    let meta = Metadata::new(format!("{tick}:{p}"));
                    let many = part
                        .iter()
                        .map(|&(var, old, new)| (cloned_ids[var], old, new, meta.clone()));
                    let one = part
                        .iter()
                        .map(|&(var, old, new)| (shared_ids[var], old, new));
                    assert_eq!(shared.notify_batch(&meta, one)?, cloned.notify_many(many)?);
                }
                let context = format!("capacity {capacity}, batch {batch}, tick {tick}");
                let (a, b) = (cloned.tick(), shared.tick());
                assert_eq!(
                    (a.changes_received, a.changes_delivered, a.changes_coalesced),
                    (b.changes_received, b.changes_delivered, b.changes_coalesced),
                    "{context}"
                );
                let seen_cloned = std::mem::take(&mut *cloned_log.lock().unwrap());
                let seen_shared = std::mem::take(&mut *shared_log.lock().unwrap());
                assert!(!seen_shared.is_empty(), "{context}");
                assert_eq!(seen_shared, seen_cloned, "{context}");
            }
            assert_eq!(stats_totals(&shared.stats()), stats_totals(&cloned.stats()));
        }
    }
    let (manager, ids, _log, _owner) = watched(1000)?;
    let meta = Metadata::new("refused");
    let err = manager
        .notify_batch(&meta, [(ids[0], 0, 1), (ids[1], 1, 1), (ids[2], 0, 1)])
        .map(|_| ())
        .and_then(|()| manager.notify_batch(&meta, [("ok", 0, 1), ("", 0, 1), ("no", 0, 1)]))
        .unwrap_err();
    assert_eq!(err.error, NotifyError::Variable(VariableError::EmptyName));
    assert_eq!(err.accepted.queued, 1);
    assert_eq!(manager.pending_changes(), 3);
    Ok(())
}
