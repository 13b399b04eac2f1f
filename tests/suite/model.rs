//! Model-based property test: random sequences of operations drive both the
//! manager and a small, obviously-correct reference model, and after every
//! operation the two must agree on everything the public API shows: the
//! exact changes each observer received (in order), every `TickReport`
//! counter, `stats()`, observer counts, `contains_observer` and
//! `inspect_variable` (deliveries, panics, ages, owner liveness).
//!
//! The universe is tiny on purpose (three variables, a handful of owners,
//! values in `0..3`), so operations collide: unchanged values, several
//! observers per variable and owner, removals of removed observers,
//! registrations for owners that die before the tick, coalescing in an
//! inbox of capacity one.
//!
//! # Running it longer
//!
//! `DEFAULT_CASES` cases run by default (a few seconds). proptest reads
//! `PROPTEST_CASES`, and `PROPTEST_RNG_SEED` picks another fixed seed:
//!
//! ```sh
//! PROPTEST_CASES=1000000 cargo test --test suite model::
//! PROPTEST_CASES=1000000 PROPTEST_RNG_SEED=7 cargo test --test suite model::
//! ```
//!
//! The seed is fixed (`SEED`) unless `PROPTEST_RNG_SEED` says otherwise, so
//! every failure reproduces on rerun. Failure persistence is off for the
//! same reason: with a fixed seed the run itself is the regression record,
//! and proptest would otherwise write `*.proptest-regressions` files into the
//! source tree. A failure prints the shrunk operation list: turn it into a
//! named regression test.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};

use observer_manager::{
    CallbackId, Config, Metadata, Notification, Notifier, NotifyOutcome, ObserverId,
    ObserverManager, Owner, OwnerId, RemoveObserverError, Stats, TickReport, VariableError,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};

/// The variables operations pick from.
const VARS: [&str; 3] = ["a", "b", "c"];
/// Owner indices are drawn below this and taken modulo the owners made so far.
const OWNER_PICKS: usize = 8;
/// Owners each case starts with.
const INITIAL_OWNERS: usize = 2;
/// Values are drawn below this, so `old == new` happens often.
const VALUES: i64 = 3;
/// Longest operation sequence per case.
const MAX_OPS: usize = 64;
/// Cases per run unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 4_000;
/// The proptest seed unless `PROPTEST_RNG_SEED` says otherwise.
const SEED: u64 = 0x0B5E_2FE2_2024_0001;
/// Panic message of the panicking observers; the panic hook keeps them quiet.
const PANIC_MARK: &str = "observer panic expected by the model test";

/// One step of a case.
#[derive(Clone, Debug)]
enum Op {
    /// `ObserverManager::observe(..).add()`, effective at once.
    AddObserver {
        var: usize,
        owner: usize,
        panics: bool,
    },
    /// `Notifier::observe(..).defer()`, applied at the next tick.
    AddObserverViaNotifier {
        var: usize,
        owner: usize,
        panics: bool,
    },
    /// `observe(..).shared(..).add()` on one of two shared callbacks.
    AddSharedObserver {
        var: usize,
        owner: usize,
        panics: bool,
    },
    /// `ObserverManager::add_observers`: a batch on one shared callback
    /// (pairs whose owner is dead are left out).
    AddSharedObservers {
        pairs: Vec<(usize, usize)>,
        panics: bool,
    },
    /// `ObserverManager::remove_observer` of an observer whose id is known.
    RemoveObserver {
        index: usize,
    },
    /// `Notifier::remove_observer`, applied at the next tick.
    RemoveViaNotifier {
        index: usize,
    },
    Notify {
        var: usize,
        old: i64,
        new: i64,
    },
    NotifyViaNotifier {
        var: usize,
        old: i64,
        new: i64,
    },
    /// Drops the owner (a no-op if it is dead already).
    KillOwner {
        owner: usize,
    },
    NewOwner {
        via_notifier: bool,
    },
    Tick,
}

/// The manager's configuration for one case.
#[derive(Clone, Debug)]
struct Setup {
    inbox_capacity: usize,
    sweep_every: u64,
    parallel: bool,
    deterministic: bool,
    quarantine_after: Option<u32>,
}

fn setup_strategy() -> impl Strategy<Value = Setup> {
    let capacity = prop_oneof![
        Just(1),
        Just(2),
        Just(4),
        Just(Config::DEFAULT_INBOX_CAPACITY)
    ];
    let quarantine = prop_oneof![Just(None), Just(Some(1)), Just(Some(2))];
    (
        capacity,
        1..=4_u64,
        any::<bool>(),
        any::<bool>(),
        quarantine,
    )
        .prop_map(
            |(inbox_capacity, sweep_every, parallel, deterministic, quarantine_after)| Setup {
                inbox_capacity,
                sweep_every,
                parallel,
                deterministic,
                quarantine_after,
            },
        )
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let var = 0..VARS.len();
    let owner = 0..OWNER_PICKS;
    let value = 0..VALUES;
    prop_oneof![
        3 => (var.clone(), owner.clone(), any::<bool>())
            .prop_map(|(var, owner, panics)| Op::AddObserver { var, owner, panics }),
        2 => (var.clone(), owner.clone(), any::<bool>())
            .prop_map(|(var, owner, panics)| Op::AddObserverViaNotifier { var, owner, panics }),
        1 => (var.clone(), owner.clone(), any::<bool>())
            .prop_map(|(var, owner, panics)| Op::AddSharedObserver { var, owner, panics }),
        1 => (proptest::collection::vec((var.clone(), owner.clone()), 0..6), any::<bool>())
            .prop_map(|(pairs, panics)| Op::AddSharedObservers { pairs, panics }),
        1 => any::<usize>().prop_map(|index| Op::RemoveObserver { index }),
        1 => any::<usize>().prop_map(|index| Op::RemoveViaNotifier { index }),
        4 => (var.clone(), value.clone(), value.clone())
            .prop_map(|(var, old, new)| Op::Notify { var, old, new }),
        3 => (var, value.clone(), value)
            .prop_map(|(var, old, new)| Op::NotifyViaNotifier { var, old, new }),
        1 => owner.prop_map(|owner| Op::KillOwner { owner }),
        1 => any::<bool>().prop_map(|via_notifier| Op::NewOwner { via_notifier }),
        3 => Just(Op::Tick),
    ]
}

fn proptest_config() -> ProptestConfig {
    // `default()` applies the PROPTEST_* environment variables; keep theirs.
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(SEED);
    }
    config.failure_persistence = None;
    config
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn manager_agrees_with_the_reference_model(
        setup in setup_strategy(),
        ops in vec(op_strategy(), 1..MAX_OPS),
    ) {
        quiet_expected_panics();
        run_case(&setup, &ops)?;
    }
}

/// Runs `ops`, then a final tick, comparing after every step; then drops
/// the manager and checks every callback was released.
fn run_case(setup: &Setup, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut real = Real::new(setup);
    let mut model = Model::new(setup);
    for op in ops.iter().chain([&Op::Tick]) {
        step(&mut real, &mut model, op)?;
        check(&mut real, &model)?;
    }
    let logs: Vec<OwnLog> = real
        .observers
        .iter()
        .filter_map(|o| o.own_log.clone())
        .collect();
    drop(real);
    for log in &logs {
        prop_assert_eq!(Arc::strong_count(log), 1, "a callback outlived its manager");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The system under test and what its callbacks record.

/// One call as a callback saw it: variable index, old, new, observer.
type Seen = (usize, i64, i64, ObserverId);
type OwnLog = Arc<Mutex<Vec<Seen>>>;
type SharedLog = Arc<Mutex<HashMap<ObserverId, Vec<Seen>>>>;

struct RealObserver {
    /// `None` for observers of a shared callback (their calls go to `shared_log`).
    own_log: Option<OwnLog>,
    /// Known at once for direct registrations; learnt from the first call or
    /// from `inspect_variable` for deferred ones.
    id: Option<ObserverId>,
}

struct Real {
    manager: ObserverManager<i64>,
    notifier: Notifier<i64>,
    owners: Vec<Option<Owner>>,
    owner_ids: Vec<OwnerId>,
    /// Shared callbacks: `[quiet, panicking]`.
    shared: [CallbackId; 2],
    shared_log: SharedLog,
    /// Indexed like `Model::observers`.
    observers: Vec<RealObserver>,
}

impl Real {
    fn new(setup: &Setup) -> Self {
        let mut config = Config::default()
            .inbox_capacity(setup.inbox_capacity)
            .sweep_every(setup.sweep_every)
            .deterministic(setup.deterministic)
            .quarantine_after(setup.quarantine_after);
        if setup.parallel {
            config = config.parallel_threshold(0).parallel_chunk(1);
        }
        let mut manager = ObserverManager::with_config(config).expect("valid config");
        let shared_log = SharedLog::default();
        let shared = [false, true].map(|panics| {
            let log = Arc::clone(&shared_log);
            manager.register_callback(move |n| {
                let seen = (var_index(n.name), *n.old, *n.new, n.observer);
                log.lock()
                    .unwrap()
                    .entry(n.observer)
                    .or_default()
                    .push(seen);
                if panics {
                    panic!("{PANIC_MARK}");
                }
            })
        });
        let owners: Vec<Option<Owner>> =
            (0..INITIAL_OWNERS).map(|_| Some(manager.owner())).collect();
        Real {
            notifier: manager.notifier(),
            owner_ids: owners.iter().flatten().map(Owner::id).collect(),
            owners,
            shared,
            shared_log,
            observers: Vec::new(),
            manager,
        }
    }

    /// What `observer` received so far, without the observer ids.
    fn received(&self, observer: usize) -> Vec<(usize, i64, i64)> {
        let strip = |log: &[Seen]| log.iter().map(|&(v, o, n, _)| (v, o, n)).collect();
        let real = &self.observers[observer];
        match (&real.own_log, real.id) {
            (Some(log), _) => strip(&log.lock().unwrap()),
            (None, Some(id)) => self
                .shared_log
                .lock()
                .unwrap()
                .get(&id)
                .map_or_else(Vec::new, |log| strip(log)),
            (None, None) => unreachable!("shared observers are added directly"),
        }
    }

    fn owner_index(&self, id: OwnerId) -> usize {
        self.owner_ids
            .iter()
            .position(|&o| o == id)
            .expect("an owner of this case")
    }
}

fn var_index(name: &str) -> usize {
    VARS.iter()
        .position(|v| *v == name)
        .expect("a variable of the universe")
}

fn own_callback(
    log: &OwnLog,
    panics: bool,
) -> impl Fn(&Notification<'_, i64>) + Send + Sync + 'static {
    let log = Arc::clone(log);
    move |n| {
        log.lock()
            .unwrap()
            .push((var_index(n.name), *n.old, *n.new, n.observer));
        if panics {
            panic!("{PANIC_MARK}");
        }
    }
}

/// Keeps the panic hook from printing the panics this test provokes by the
/// thousand; any other panic is reported as usual.
fn quiet_expected_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let expected = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|m| m == PANIC_MARK);
            if !expected {
                previous(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------
// The reference model: plain vectors, everything done the naive way.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Registered through a notifier; waits for the next tick.
    Pending,
    /// In the store (its owner may have died since; the next tick sweeps it).
    Live,
    /// Removed, swept, or a deferred registration that was skipped.
    Gone,
}

struct ModelObserver {
    var: usize,
    owner: usize,
    panics: bool,
    state: State,
    /// The tick count when it entered the store.
    registered: u64,
    received: Vec<(usize, i64, i64)>,
    panic_count: u32,
    last_delivery: Option<u64>,
    /// Panicked `quarantine_after` times: listed, never called again.
    quarantined: bool,
}

enum Deferred {
    Add(usize),
    Remove(usize),
}

#[derive(Clone, Copy, Default)]
struct ModelVariable {
    interned: bool,
    changes_dispatched: u64,
    notifications: u64,
    last_dispatch_tick: Option<u64>,
}

/// Counters compared field by field with `Stats` and `TickReport`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Counters {
    tick: u64,
    observers_added: u64,
    observers_removed: u64,
    observers_swept: u64,
    observers_quarantined: u64,
    active_observers: u64,
    live_owners: u64,
    notifications: u64,
    cleanup_runs: u64,
    changes_received: u64,
    changes_skipped: u64,
    changes_coalesced: u64,
    changes_delivered: u64,
    changes_pending: u64,
    variables_changed: u64,
    callback_panics: u64,
    commands_applied: u64,
    commands_skipped: u64,
    variables: u64,
    full_sweep: bool,
}

impl Counters {
    fn from_stats(s: &Stats) -> Self {
        Counters {
            tick: s.ticks,
            observers_added: s.observers_added,
            observers_removed: s.observers_removed,
            observers_swept: s.observers_swept,
            observers_quarantined: s.observers_quarantined,
            active_observers: s.active_observers,
            live_owners: s.live_owners,
            notifications: s.notifications_sent,
            cleanup_runs: s.cleanup_runs,
            changes_received: s.changes_received,
            changes_skipped: s.changes_skipped,
            changes_coalesced: s.changes_coalesced,
            changes_delivered: s.changes_delivered,
            changes_pending: s.changes_pending,
            callback_panics: s.callback_panics,
            commands_applied: s.commands_applied,
            commands_skipped: s.commands_skipped,
            variables: s.variables,
            ..Counters::default()
        }
    }

    fn from_report(r: &TickReport) -> Self {
        Counters {
            tick: r.tick,
            observers_swept: r.observers_swept,
            observers_quarantined: r.observers_quarantined,
            notifications: r.notifications,
            changes_received: r.changes_received,
            changes_skipped: r.changes_skipped,
            changes_coalesced: r.changes_coalesced,
            changes_delivered: r.changes_delivered,
            variables_changed: r.variables_changed,
            callback_panics: r.callback_panics,
            commands_applied: r.commands_applied,
            commands_skipped: r.commands_skipped,
            full_sweep: r.full_sweep,
            ..Counters::default()
        }
    }
}

/// Changes accepted since the last tick, per variable.
#[derive(Default)]
struct ModelInbox {
    /// Queued changes per variable, in submission order.
    queued: [Vec<(i64, i64)>; VARS.len()],
    /// Queued changes in all (at most the capacity).
    len: usize,
    /// The change each variable keeps once the queue is full: first old,
    /// last new.
    overflow: [Option<(i64, i64)>; VARS.len()],
    received: u64,
    skipped: u64,
    coalesced: u64,
}

struct Model {
    capacity: usize,
    quarantine_after: Option<u32>,
    sweep_every: u64,
    tick: u64,
    owners_alive: Vec<bool>,
    /// Owners killed since the last tick's sweep.
    deaths: Vec<usize>,
    observers: Vec<ModelObserver>,
    deferred: Vec<Deferred>,
    variables: [ModelVariable; VARS.len()],
    inbox: ModelInbox,
    /// Lifetime totals of the counters a tick reports.
    totals: Counters,
}

impl Model {
    fn new(setup: &Setup) -> Self {
        Model {
            capacity: setup.inbox_capacity,
            quarantine_after: setup.quarantine_after,
            sweep_every: setup.sweep_every,
            tick: 0,
            owners_alive: vec![true; INITIAL_OWNERS],
            deaths: Vec::new(),
            observers: Vec::new(),
            deferred: Vec::new(),
            variables: [ModelVariable::default(); VARS.len()],
            inbox: ModelInbox::default(),
            totals: Counters::default(),
        }
    }

    fn add(&mut self, var: usize, owner: usize, panics: bool, state: State) -> usize {
        self.variables[var].interned = true;
        self.observers.push(ModelObserver {
            var,
            owner,
            panics,
            state,
            registered: self.tick,
            received: Vec::new(),
            panic_count: 0,
            last_delivery: None,
            quarantined: false,
        });
        if state == State::Live {
            self.totals.observers_added += 1;
        }
        self.observers.len() - 1
    }

    /// A direct removal: `Ok` iff the observer is in the store.
    fn remove(&mut self, observer: usize) -> Result<(), RemoveObserverError> {
        let o = &mut self.observers[observer];
        if o.state != State::Live {
            return Err(RemoveObserverError::NotFound);
        }
        o.state = State::Gone;
        self.totals.observers_removed += 1;
        Ok(())
    }

    fn notify(&mut self, var: usize, old: i64, new: i64) -> NotifyOutcome {
        self.variables[var].interned = true;
        let inbox = &mut self.inbox;
        if old == new {
            inbox.skipped += 1;
            return NotifyOutcome::Unchanged;
        }
        inbox.received += 1;
        if inbox.overflow[var].is_none() && inbox.len < self.capacity {
            inbox.queued[var].push((old, new));
            inbox.len += 1;
            return NotifyOutcome::Queued;
        }
        match &mut inbox.overflow[var] {
            Some(pending) => {
                pending.1 = new;
                inbox.coalesced += 1;
            }
            slot @ None => *slot = Some((old, new)),
        }
        NotifyOutcome::Coalesced
    }

    fn kill(&mut self, owner: usize) {
        self.owners_alive[owner] = false;
        self.deaths.push(owner);
    }

    fn tick(&mut self) -> Counters {
        self.tick += 1;
        let tick = self.tick;
        let mut r = Counters {
            tick,
            full_sweep: tick.is_multiple_of(self.sweep_every),
            ..Counters::default()
        };
        self.apply(&mut r);
        self.sweep(&mut r);
        let changes = self.collect(&mut r);
        self.dispatch(&changes, &mut r);
        let t = &mut self.totals;
        t.tick = tick;
        t.observers_swept += r.observers_swept;
        t.observers_quarantined += r.observers_quarantined;
        t.observers_removed += r.observers_swept;
        t.notifications += r.notifications;
        t.cleanup_runs += u64::from(r.full_sweep);
        t.changes_received += r.changes_received;
        t.changes_skipped += r.changes_skipped;
        t.changes_coalesced += r.changes_coalesced;
        t.changes_delivered += r.changes_delivered;
        t.callback_panics += r.callback_panics;
        t.commands_applied += r.commands_applied;
        t.commands_skipped += r.commands_skipped;
        r
    }

    fn apply(&mut self, r: &mut Counters) {
        for command in std::mem::take(&mut self.deferred) {
            match command {
                Deferred::Add(k) => {
                    let o = &mut self.observers[k];
                    if self.owners_alive[o.owner] {
                        o.state = State::Live;
                        o.registered = self.tick;
                        r.commands_applied += 1;
                        self.totals.observers_added += 1;
                    } else {
                        o.state = State::Gone;
                        r.commands_skipped += 1;
                    }
                }
                Deferred::Remove(k) => {
                    let o = &mut self.observers[k];
                    if o.state == State::Live {
                        o.state = State::Gone;
                        r.commands_applied += 1;
                        self.totals.observers_removed += 1;
                    } else {
                        r.commands_skipped += 1;
                    }
                }
            }
        }
    }

    fn sweep(&mut self, r: &mut Counters) {
        for owner in std::mem::take(&mut self.deaths) {
            for o in &mut self.observers {
                if o.owner == owner && o.state == State::Live {
                    o.state = State::Gone;
                    r.observers_swept += 1;
                }
            }
        }
    }

    /// Each variable's changes for this tick: the queued ones, then the
    /// coalesced one unless it came back to its start.
    fn collect(&mut self, r: &mut Counters) -> Vec<Vec<(i64, i64)>> {
        let inbox = std::mem::take(&mut self.inbox);
        r.changes_received = inbox.received;
        r.changes_skipped = inbox.skipped;
        r.changes_coalesced = inbox.coalesced;
        let mut all = Vec::new();
        for (mut changes, overflow) in inbox.queued.into_iter().zip(inbox.overflow) {
            match overflow {
                Some((old, new)) if old == new => r.changes_coalesced += 1,
                Some(change) => changes.push(change),
                None => {}
            }
            r.changes_delivered += changes.len() as u64;
            r.variables_changed += u64::from(!changes.is_empty());
            all.push(changes);
        }
        all
    }

    fn dispatch(&mut self, changes: &[Vec<(i64, i64)>], r: &mut Counters) {
        for (var, changes) in changes.iter().enumerate() {
            if changes.is_empty() {
                continue;
            }
            let mut observers = 0;
            for o in &mut self.observers {
                if o.var != var || o.state != State::Live || o.quarantined {
                    continue;
                }
                observers += 1;
                for &(old, new) in changes {
                    o.received.push((var, old, new));
                    if o.panics {
                        o.panic_count += 1;
                        r.callback_panics += 1;
                    }
                }
                o.last_delivery = Some(self.tick);
            }
            let v = &mut self.variables[var];
            v.changes_dispatched += changes.len() as u64;
            v.notifications += observers * changes.len() as u64;
            v.last_dispatch_tick = Some(self.tick);
            r.notifications += observers * changes.len() as u64;
        }
        // Accounting, after the whole dispatch: quarantine the observers
        // that reached the limit (they were called for all this tick's changes).
        if let Some(limit) = self.quarantine_after {
            for o in &mut self.observers {
                if o.state == State::Live && !o.quarantined && o.panic_count >= limit {
                    o.quarantined = true;
                    r.observers_quarantined += 1;
                }
            }
        }
    }

    /// The lifetime counters as `stats()` shows them, live readings included.
    fn stats(&self) -> Counters {
        let inbox = &self.inbox;
        let live = |s: State| self.observers.iter().filter(|o| o.state == s).count() as u64;
        let overflowing = inbox.overflow.iter().flatten().count();
        Counters {
            active_observers: live(State::Live),
            live_owners: self.owners_alive.iter().filter(|&&a| a).count() as u64,
            changes_pending: (inbox.len + overflowing) as u64,
            changes_received: self.totals.changes_received + inbox.received,
            changes_skipped: self.totals.changes_skipped + inbox.skipped,
            changes_coalesced: self.totals.changes_coalesced + inbox.coalesced,
            variables: self.variables.iter().filter(|v| v.interned).count() as u64,
            ..self.totals.clone()
        }
    }

    fn observer_count(&self, var: usize) -> usize {
        self.observers
            .iter()
            .filter(|o| o.var == var && o.state == State::Live)
            .count()
    }
}

// ---------------------------------------------------------------------------
// Driving both sides.

/// Applies `op` to the manager and the model, comparing immediate results.
fn step(real: &mut Real, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    let meta = || Metadata::new("model");
    match *op {
        Op::AddObserver { var, owner, panics } => {
            let owner = owner % real.owners.len();
            let Some(handle) = &real.owners[owner] else {
                return Ok(());
            };
            let log = OwnLog::default();
            let id = real
                .manager
                .observe(VARS[var], handle)
                .callback(own_callback(&log, panics))
                .add();
            prop_assert!(id.is_ok(), "{id:?}");
            real.observers.push(RealObserver {
                own_log: Some(log),
                id: id.ok(),
            });
            model.add(var, owner, panics, State::Live);
        }
        Op::AddObserverViaNotifier { var, owner, panics } => {
            let owner = owner % real.owners.len();
            let Some(handle) = &real.owners[owner] else {
                return Ok(());
            };
            let log = OwnLog::default();
            let queued = real
                .notifier
                .observe(VARS[var], handle)
                .callback(own_callback(&log, panics))
                .defer();
            prop_assert_eq!(queued, Ok(()));
            real.observers.push(RealObserver {
                own_log: Some(log),
                id: None,
            });
            let k = model.add(var, owner, panics, State::Pending);
            model.deferred.push(Deferred::Add(k));
        }
        Op::AddSharedObserver { var, owner, panics } => {
            let owner = owner % real.owners.len();
            let Some(handle) = &real.owners[owner] else {
                return Ok(());
            };
            let callback = real.shared[usize::from(panics)];
            let id = real
                .manager
                .observe(VARS[var], handle)
                .shared(callback)
                .add();
            prop_assert!(id.is_ok(), "{id:?}");
            real.observers.push(RealObserver {
                own_log: None,
                id: id.ok(),
            });
            model.add(var, owner, panics, State::Live);
        }
        Op::AddSharedObservers { ref pairs, panics } => {
            let live: Vec<(usize, usize)> = pairs
                .iter()
                .map(|&(var, owner)| (var, owner % real.owners.len()))
                .filter(|&(_, owner)| real.owners[owner].is_some())
                .collect();
            let batch = live.iter().filter_map(|&(var, owner)| {
                real.owners[owner]
                    .as_ref()
                    .map(|handle| (VARS[var], handle))
            });
            let callback = real.shared[usize::from(panics)];
            let ids = real.manager.add_observers(callback, batch);
            prop_assert!(ids.is_ok(), "{ids:?}");
            let ids = ids.unwrap_or_default();
            prop_assert_eq!(ids.len(), live.len());
            for (id, &(var, owner)) in ids.into_iter().zip(&live) {
                real.observers.push(RealObserver {
                    own_log: None,
                    id: Some(id),
                });
                model.add(var, owner, panics, State::Live);
            }
        }
        Op::RemoveObserver { index } => {
            if let Some((k, id)) = pick_known(real, index) {
                let removed = real.manager.remove_observer(id);
                prop_assert_eq!(removed, model.remove(k), "direct removal of #{}", k);
            }
        }
        Op::RemoveViaNotifier { index } => {
            if let Some((k, id)) = pick_known(real, index) {
                prop_assert_eq!(real.notifier.remove_observer(id), Ok(()));
                model.deferred.push(Deferred::Remove(k));
            }
        }
        Op::Notify { var, old, new } => {
            let outcome = real.manager.notify(VARS[var], old, new, meta());
            prop_assert_eq!(outcome, Ok(model.notify(var, old, new)));
        }
        Op::NotifyViaNotifier { var, old, new } => {
            let outcome = real.notifier.notify(VARS[var], old, new, meta());
            prop_assert_eq!(outcome, Ok(model.notify(var, old, new)));
        }
        Op::KillOwner { owner } => {
            let owner = owner % real.owners.len();
            if let Some(handle) = real.owners[owner].take() {
                handle.kill();
                model.kill(owner);
            }
        }
        Op::NewOwner { via_notifier } => {
            let handle = if via_notifier {
                real.notifier.owner()
            } else {
                real.manager.owner()
            };
            real.owner_ids.push(handle.id());
            real.owners.push(Some(handle));
            model.owners_alive.push(true);
        }
        Op::Tick => {
            let report = real.manager.tick();
            prop_assert_eq!(Counters::from_report(&report), model.tick(), "tick report");
        }
    }
    Ok(())
}

/// The `index`-th (cyclically) observer whose id is known, removed or not.
fn pick_known(real: &Real, index: usize) -> Option<(usize, ObserverId)> {
    let known: Vec<(usize, ObserverId)> = real
        .observers
        .iter()
        .enumerate()
        .filter_map(|(k, o)| Some((k, o.id?)))
        .collect();
    (!known.is_empty()).then(|| known[index % known.len()])
}

/// Compares everything observable.
fn check(real: &mut Real, model: &Model) -> Result<(), TestCaseError> {
    learn_ids_from_calls(real)?;
    for var in 0..VARS.len() {
        learn_ids_from_inspection(real, model, var);
    }
    let mut by_id = HashMap::new();
    for (k, o) in real.observers.iter().enumerate() {
        if let Some(id) = o.id {
            prop_assert!(by_id.insert(id, k).is_none(), "{id:?} names two observers");
            let live = model.observers[k].state == State::Live;
            prop_assert_eq!(real.manager.contains_observer(id), live, "contains #{}", k);
        }
    }
    for (k, o) in model.observers.iter().enumerate() {
        prop_assert_eq!(&real.received(k), &o.received, "deliveries to #{}", k);
    }
    let stats = real.manager.stats();
    prop_assert_eq!(Counters::from_stats(&stats), model.stats(), "stats");
    prop_assert_eq!(real.manager.total_observers(), model.observer_count_all());
    prop_assert_eq!(
        real.manager.pending_changes() as u64,
        model.stats().changes_pending
    );
    for (var, name) in VARS.iter().enumerate() {
        prop_assert_eq!(
            real.manager.observer_count(*name),
            model.observer_count(var)
        );
        check_inspection(real, model, var, &by_id)?;
    }
    Ok(())
}

/// Deferred observers learn their id from `Notification::observer`; every
/// call of one observer must carry the same id.
fn learn_ids_from_calls(real: &mut Real) -> Result<(), TestCaseError> {
    for (k, o) in real.observers.iter_mut().enumerate() {
        let Some(log) = &o.own_log else { continue };
        let log = log.lock().unwrap();
        for &(_, _, _, id) in log.iter() {
            prop_assert_eq!(
                *o.id.get_or_insert(id),
                id,
                "calls of #{} disagree on its id",
                k
            );
        }
    }
    Ok(())
}

/// A deferred observer not yet called is matched to its `inspect_variable`
/// row when it is the only unknown one of its variable and owner.
fn learn_ids_from_inspection(real: &mut Real, model: &Model, var: usize) {
    let Ok(report) = real.manager.inspect_variable(VARS[var]) else {
        return;
    };
    let known: Vec<ObserverId> = real.observers.iter().filter_map(|o| o.id).collect();
    let unknown_rows: Vec<_> = report
        .observers
        .iter()
        .filter(|row| !known.contains(&row.id))
        .map(|row| (real.owner_index(row.owner), row.id))
        .collect();
    for &(owner, id) in &unknown_rows {
        let candidates: Vec<usize> = model
            .observers
            .iter()
            .enumerate()
            .filter(|(k, o)| {
                o.var == var
                    && o.owner == owner
                    && o.state == State::Live
                    && real.observers[*k].id.is_none()
            })
            .map(|(k, _)| k)
            .collect();
        let rows_of_owner = unknown_rows.iter().filter(|(o, _)| *o == owner).count();
        if let ([k], 1) = (candidates.as_slice(), rows_of_owner) {
            real.observers[*k].id = Some(id);
        }
    }
}

/// One `inspect_variable` row, as the model predicts it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    owner: usize,
    owner_alive: bool,
    age_ticks: u64,
    deliveries: u64,
    panics: u32,
    last_delivery_tick: Option<u64>,
    quarantined: bool,
    policed: bool,
}

impl Model {
    fn row(&self, k: usize) -> Row {
        let o = &self.observers[k];
        Row {
            owner: o.owner,
            owner_alive: self.owners_alive[o.owner],
            age_ticks: self.tick - o.registered,
            deliveries: o.received.len() as u64,
            panics: o.panic_count,
            last_delivery_tick: o.last_delivery,
            quarantined: o.quarantined,
            policed: false,
        }
    }

    fn observer_count_all(&self) -> usize {
        (0..VARS.len()).map(|v| self.observer_count(v)).sum()
    }
}

fn check_inspection(
    real: &Real,
    model: &Model,
    var: usize,
    by_id: &HashMap<ObserverId, usize>,
) -> Result<(), TestCaseError> {
    let report = real.manager.inspect_variable(VARS[var]);
    let v = &model.variables[var];
    if !v.interned {
        prop_assert_eq!(
            report,
            Err(VariableError::Unknown {
                name: VARS[var].into()
            })
        );
        return Ok(());
    }
    let report = report.map_err(|e| TestCaseError::fail(format!("inspect {var}: {e}")))?;
    prop_assert_eq!(report.name.as_str(), VARS[var]);
    prop_assert_eq!(report.changes_dispatched, v.changes_dispatched);
    prop_assert_eq!(report.notifications, v.notifications);
    prop_assert_eq!(report.last_dispatch_tick, v.last_dispatch_tick);
    let mut unknown_rows = Vec::new();
    for row in &report.observers {
        let actual = Row {
            owner: real.owner_index(row.owner),
            owner_alive: row.owner_alive,
            age_ticks: row.age_ticks,
            deliveries: row.deliveries,
            panics: row.panics,
            last_delivery_tick: row.last_delivery_tick,
            quarantined: row.quarantined,
            policed: row.policed,
        };
        match by_id.get(&row.id) {
            Some(&k) => {
                let o = &model.observers[k];
                prop_assert!(o.var == var && o.state == State::Live, "row of #{}", k);
                let expected = model.row(k);
                prop_assert_eq!(actual, expected, "row of #{}", k);
            }
            None => unknown_rows.push(actual),
        }
    }
    // Deferred observers not yet told apart: compare as a multiset.
    let mut expected: Vec<Row> = (0..model.observers.len())
        .filter(|&k| {
            let o = &model.observers[k];
            o.var == var && o.state == State::Live && real.observers[k].id.is_none()
        })
        .map(|k| model.row(k))
        .collect();
    unknown_rows.sort();
    expected.sort();
    prop_assert_eq!(
        unknown_rows,
        expected,
        "rows of unnamed observers of {}",
        VARS[var]
    );
    Ok(())
}

#[test]
fn quarantined_observer_reports_its_own_last_delivery_tick() {
    quiet_expected_panics();
    let config = Config::default().quarantine_after(Some(1));
    let mut manager = ObserverManager::<i64>::with_config(config).unwrap();
    let owner = manager.owner();
    manager
        .observe("v", &owner)
        .callback(|_| panic!("{PANIC_MARK}"))
        .add()
        .unwrap();
    manager.notify("v", 0, 1, Metadata::new("model")).unwrap();
    assert_eq!(manager.tick().observers_quarantined, 1);
    manager.notify("v", 1, 2, Metadata::new("model")).unwrap();
    assert_eq!(manager.tick().notifications, 0, "quarantined: not called");
    let report = manager.inspect_variable("v").unwrap();
    let row = &report.observers[0];
    assert!(row.quarantined);
    assert_eq!((row.deliveries, row.panics), (1, 1));
    assert_eq!(row.last_delivery_tick, Some(1), "called in tick 1 only");
}
