//! Every notification carries the metadata of its own change, however
//! producers share metadata between changes: runs of equal metadata (which
//! the queue keeps once), equal metadata apart, runs across `notify_many`'s
//! internal chunks and across calls, coalesced changes (the latest
//! metadata) and policed observers, in every way a tick can deliver.

use std::collections::HashMap;
use std::error::Error;
use std::sync::{Arc, Mutex};

use observer_manager::{Config, Metadata, ObserverManager, Policy, SessionId, VariableId};

type TestResult = Result<(), Box<dyn Error>>;

/// Enough variables that a tick changing all of them plans in parallel.
const VARIABLES: usize = 3_000;
/// Changes per variable per tick.
const ROUNDS: usize = 3;

/// Per delivery: (variable, new value, source, session).
type Log = Arc<Mutex<Vec<(usize, i64, String, Option<SessionId>)>>>;

/// A run of changes with equal metadata, for one `notify_batch`.
type SharedRun = (Metadata, Vec<(VariableId, i64, i64)>);

/// Per change sent, by (variable, new value): its source and session.
type Sent = HashMap<(usize, i64), (String, Option<SessionId>)>;

/// The metadata of the `k`-th change sent in a tick: runs of varied length
/// (1 to 70) cycling through four sources, so equal metadata recurs both
/// next to itself and apart, and some runs straddle 64-change chunks. The
/// session tells apart metadata with an equal source.
fn metadata_for(k: usize, stamp: &Metadata) -> Metadata {
    let run = (k / 37) ^ (k / 70);
    Metadata {
        source: format!("s{}", run % 4).into(),
        session: run.is_multiple_of(3).then_some(SessionId(run as u64 % 2)),
        timestamp: stamp.timestamp,
    }
}

struct Setup {
    manager: ObserverManager<i64>,
    ids: Vec<VariableId>,
    log: Log,
    _owner: observer_manager::Owner,
}

/// Two plain observers per variable, and on every tenth variable a policed
/// one (a filter on even new values, or a rate limit of every 2 ticks).
fn setup(config: Config) -> Result<Setup, Box<dyn Error>> {
    let mut manager = ObserverManager::<i64>::with_config(config)?;
    let owner = manager.owner();
    let log = Log::default();
    let mut ids = Vec::new();
    for v in 0..VARIABLES {
        let id = manager.variable(&format!("v{v}"))?;
        let logger = |log: &Log| {
            let log = Arc::clone(log);
            move |n: &observer_manager::Notification<'_, i64>| {
                let seen = (v, *n.new, n.metadata.source.to_string(), n.metadata.session);
                log.lock().unwrap().push(seen);
            }
        };
        for _ in 0..2 {
            manager.observe(id, &owner).callback(logger(&log)).add()?;
        }
        if v % 10 == 0 {
            let policy = if v % 20 == 0 {
                Policy::new().filter(|_, new: &i64| new % 2 == 0)
            } else {
                Policy::new().every(2)
            };
            manager
                .observe(id, &owner)
                .policy(policy)
                .callback(logger(&log))
                .add()?;
        }
        ids.push(id);
    }
    Ok(Setup {
        manager,
        ids,
        log,
        _owner: owner,
    })
}

/// Sends `ROUNDS` changes to every variable (round-major, so a variable's
/// changes are far apart), a third each through `notify`, `notify_many` in
/// batches of 100 and `notify_batch` over each run of equal metadata;
/// records each change's metadata in `sent` by (variable, new value),
/// which no two changes share.
fn send(setup: &Setup, tick: usize, stamp: &Metadata, sent: &mut Sent) -> TestResult {
    let manager = &setup.manager;
    let mut many = Vec::new();
    let mut shared: Option<SharedRun> = None;
    let flush_shared = |shared: &mut Option<SharedRun>| -> TestResult {
        if let Some((meta, batch)) = shared.take() {
            manager.notify_batch(&meta, batch)?;
        }
        Ok(())
    };
    for round in 0..ROUNDS {
        for v in 0..VARIABLES {
            let k = round * VARIABLES + v;
            let old = (tick * ROUNDS + round) as i64;
            let change = (setup.ids[v], old, old + 1);
            let meta = metadata_for(k, stamp);
            sent.insert((v, old + 1), (meta.source.to_string(), meta.session));
            match (k / 500) % 3 {
                0 => {
                    manager.notify(setup.ids[v], old, old + 1, meta)?;
                }
                1 => {
                    many.push((setup.ids[v], old, old + 1, meta));
                    if many.len() == 100 {
                        manager.notify_many(many.drain(..))?;
                    }
                }
                _ => match &mut shared {
                    Some((current, batch)) if *current == meta => batch.push(change),
                    _ => {
                        flush_shared(&mut shared)?;
                        shared = Some((meta, vec![change]));
                    }
                },
            }
        }
    }
    manager.notify_many(many.drain(..))?;
    flush_shared(&mut shared)?;
    Ok(())
}

fn check(config: Config) -> TestResult {
    let stamp = Metadata::new("stamp");
    let mut setup = setup(config)?;
    let mut delivered = 0;
    // Across ticks: a rate-limited observer receives a merged change later.
    let mut sent = Sent::new();
    for tick in 0..4 {
        send(&setup, tick, &stamp, &mut sent)?;
        let report = setup.manager.tick();
        let seen = std::mem::take(&mut *setup.log.lock().unwrap());
        assert!(!seen.is_empty(), "tick {tick} delivered nothing");
        for (v, new, source, session) in seen {
            let expected = sent.get(&(v, new));
            assert_eq!(
                expected,
                Some(&(source.clone(), session)),
                "tick {tick}: v{v} = {new} came with ({source}, {session:?})"
            );
            delivered += 1;
        }
        assert!(report.notifications > 0);
    }
    assert!(delivered > 4 * VARIABLES * 2);
    Ok(())
}

#[test]
fn metadata_follows_its_change_with_the_default_config() -> TestResult {
    check(Config::default())
}

#[test]
fn metadata_follows_its_change_delivered_in_small_parallel_jobs() -> TestResult {
    check(Config::default().parallel_threshold(0).parallel_chunk(1))
}

#[test]
fn metadata_follows_its_change_deterministically() -> TestResult {
    check(Config::default().deterministic(true))
}

/// A small inbox coalesces most changes: each delivered change carries the
/// metadata of the latest change merged into it.
#[test]
fn coalesced_changes_carry_their_latest_metadata() -> TestResult {
    check(Config::default().inbox_capacity(1_000))
}
