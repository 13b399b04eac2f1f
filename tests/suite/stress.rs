//! Concurrency stress: eight producer threads notify through cloned
//! notifiers while the tick thread ticks, owners are born and die on a
//! churn thread and on the tick thread, and callbacks notify in turn (a relay
//! chain of bounded length). Nothing may be lost, duplicated, reordered or
//! delivered outside an observer's life, and every counter must add up
//! exactly.
//!
//! How exactness is checked without knowing which tick a change lands in:
//!
//! - Each producer owns its variables and sends a chain of values
//!   (`old` = the previous `new`), so every observer of a producer variable
//!   must see exactly that chain, link by link, and end on the final value.
//!   Per-observer counters ("slots") must equal what the producer had
//!   accepted.
//! - A reference observer per variable, alive from before the first tick,
//!   records per tick how many changes it got and a checksum of them. A
//!   churned observer must, in every tick it was called, get exactly the
//!   reference's changes (never part of a tick), and the ticks it got must
//!   be one unbroken run that starts in its registration window and ends in
//!   its death window. Those windows are bracketed by reading the tick clock
//!   before and after registering or killing.
//!
//! `DEFAULT_SECS` per test by default; set `OBSERVER_MANAGER_STRESS_SECS`
//! (seconds, fractions allowed) for a longer run:
//!
//! ```sh
//! OBSERVER_MANAGER_STRESS_SECS=300 cargo test --test suite stress:: -- --nocapture
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use observer_manager::{
    Config, Metadata, Notification, Notifier, NotifyOutcome, ObserverManager, Owner, VariableId,
};
use observer_manager_support::SplitMix64;

/// Producer threads.
const PRODUCERS: usize = 8;
/// Variables each producer owns (and alone writes).
const VARS_PER_PRODUCER: usize = 8;
/// Variables written by producers.
const PRODUCER_VARS: usize = PRODUCERS * VARS_PER_PRODUCER;
/// Relay variables: a callback on `relay{h}` forwards each change to
/// `relay{h+1}`, so each change a producer sends to `relay0` makes
/// `RELAY_VARS - 1` more, one per tick.
const RELAY_VARS: usize = 4;
/// All variables.
const ALL_VARS: usize = PRODUCER_VARS + RELAY_VARS;
/// Permanent observers with their own closure per producer variable.
const PERMANENT_PER_VAR: usize = 3;
/// Permanent observers per producer variable sharing one registered callback.
const SHARED_PER_VAR: usize = 2;
/// Changes a producer may send per tick, so the inbox stays bounded however
/// fast producers run relative to the tick thread.
const PER_TICK_BUDGET: u64 = 100;
/// Every this many steps a producer sends an unchanged value (refused).
const UNCHANGED_EVERY: u64 = 31;
/// Every this many steps a producer also starts a relay chain.
const RELAY_EVERY: u64 = 50;
/// Owners the churn thread keeps alive at most.
const CHURN_OWNERS: usize = 24;
/// Births and deaths the churn thread performs per tick at most.
const CHURN_PER_TICK: u32 = 3;
/// Owners the tick thread keeps alive at most.
const TICK_SIDE_OWNERS: usize = 8;
/// Inbox capacity of the coalescing stress.
const COALESCE_CAPACITY: usize = 64;
/// Seconds each test runs unless `OBSERVER_MANAGER_STRESS_SECS` says otherwise.
const DEFAULT_SECS: f64 = if cfg!(miri) { 0.05 } else { 1.5 };
/// Fixed seed of the churn decisions, so a run's shape reproduces.
const SEED: u64 = 0x5EED_0F57_E550_0000;

fn run_time() -> Duration {
    let secs = std::env::var("OBSERVER_MANAGER_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(DEFAULT_SECS);
    Duration::from_secs_f64(secs)
}

fn var_name(var: usize) -> String {
    if var < PRODUCER_VARS {
        format!("p{}v{}", var / VARS_PER_PRODUCER, var % VARS_PER_PRODUCER)
    } else {
        format!("relay{}", var - PRODUCER_VARS)
    }
}

/// How many changes and a checksum of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    count: u64,
    sum: u64,
}

impl Tally {
    fn add(&mut self, n: &Notification<'_, u64>) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(mix(*n.old, *n.new));
    }
}

fn mix(old: u64, new: u64) -> u64 {
    new.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ old.rotate_left(17)
}

/// The ticks in which an observer must, may and must not be called.
#[derive(Clone, Copy, Debug)]
struct Window {
    /// No call before this tick.
    enter_from: u64,
    /// Called in every tick from this one (while alive).
    enter_by: u64,
    /// Called in every tick up to this one (once alive).
    leave_from: u64,
    /// No call after this tick.
    leave_by: u64,
}

/// What one churned observer received, per tick.
struct Probe {
    var: usize,
    window: Mutex<Window>,
    seen: Mutex<ProbeLog>,
}

#[derive(Default)]
struct ProbeLog {
    ticks: Vec<(u64, Tally)>,
    /// Verified: any later call is an error.
    closed: bool,
}

/// State shared by the test's threads and callbacks.
struct Rig {
    /// The number of the tick running or last run; set before each tick.
    clock: AtomicU64,
    /// Every callback call.
    calls: AtomicU64,
    errors: Mutex<Vec<String>>,
    /// Per variable, per tick: what its reference observer got.
    reference: Vec<Mutex<BTreeMap<u64, Tally>>>,
    /// Per variable: everything its reference observer got.
    reference_total: Vec<Mutex<Tally>>,
    /// Churned observers not verified yet.
    probes: Mutex<Vec<Arc<Probe>>>,
    probes_verified: AtomicU64,
}

impl Rig {
    fn new() -> Self {
        Rig {
            clock: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            errors: Mutex::default(),
            reference: (0..ALL_VARS).map(|_| Mutex::default()).collect(),
            reference_total: (0..ALL_VARS).map(|_| Mutex::default()).collect(),
            probes: Mutex::default(),
            probes_verified: AtomicU64::new(0),
        }
    }

    fn error(&self, message: String) {
        self.errors.lock().unwrap().push(message);
    }

    /// A probe of `var`, published before it is registered so that the
    /// reference ticks it needs are not pruned.
    fn new_probe(&self, var: usize, enter_from: Option<u64>) -> Arc<Probe> {
        let mut probes = self.probes.lock().unwrap();
        let from = enter_from.unwrap_or_else(|| self.clock.load(SeqCst));
        let probe = Arc::new(Probe {
            var,
            window: Mutex::new(Window {
                enter_from: from,
                enter_by: from,
                leave_from: u64::MAX,
                leave_by: u64::MAX,
            }),
            seen: Mutex::default(),
        });
        probes.push(Arc::clone(&probe));
        probe
    }

    /// Verifies every probe whose death window closed by tick `done`, then
    /// drops reference ticks no remaining probe can need.
    fn verify_finished(&self, done: u64) {
        let mut probes = self.probes.lock().unwrap();
        probes.retain(|probe| {
            let window = *probe.window.lock().unwrap();
            if window.leave_by > done {
                return true;
            }
            if let Err(e) = self.verify(probe, window) {
                self.error(e);
            }
            self.probes_verified.fetch_add(1, Relaxed);
            false
        });
        let oldest = probes
            .iter()
            .map(|p| p.window.lock().unwrap().enter_from)
            .min()
            .unwrap_or(u64::MAX)
            .min(self.clock.load(SeqCst));
        for reference in &self.reference {
            let mut reference = reference.lock().unwrap();
            *reference = reference.split_off(&oldest);
        }
    }

    fn verify(&self, probe: &Probe, w: Window) -> Result<(), String> {
        let mut seen = probe.seen.lock().unwrap();
        seen.closed = true;
        let own: BTreeMap<u64, Tally> = seen.ticks.iter().copied().collect();
        let reference = self.reference[probe.var].lock().unwrap();
        let name = var_name(probe.var);
        for (tick, tally) in &own {
            if *tick < w.enter_from || *tick > w.leave_by {
                return Err(format!("{name}: call in tick {tick} outside {w:?}"));
            }
            if reference.get(tick) != Some(tally) {
                let expected = reference.get(tick);
                return Err(format!(
                    "{name}: tick {tick} gave {tally:?}, the reference {expected:?}"
                ));
            }
        }
        // Before, during, after the observer's life: 0 = not yet called.
        let mut phase = 0;
        for tick in reference.range(w.enter_from..=w.leave_by).map(|(t, _)| *t) {
            let got = own.contains_key(&tick);
            if !got && tick >= w.enter_by && tick <= w.leave_from {
                return Err(format!("{name}: tick {tick} missed, inside {w:?}"));
            }
            phase = match (phase, got) {
                (0, true) => 1,
                (1, false) => 2,
                (2, true) => return Err(format!("{name}: tick {tick} after a gap, {w:?}")),
                (p, _) => p,
            };
        }
        Ok(())
    }
}

fn probe_callback(
    rig: &Arc<Rig>,
    probe: &Arc<Probe>,
) -> impl Fn(&Notification<'_, u64>) + Send + Sync + 'static {
    let (rig, probe) = (Arc::clone(rig), Arc::clone(probe));
    move |n| {
        rig.calls.fetch_add(1, Relaxed);
        let tick = rig.clock.load(SeqCst);
        let mut seen = probe.seen.lock().unwrap();
        if seen.closed {
            rig.error(format!(
                "{}: call in tick {tick} after verification",
                n.name
            ));
        }
        match seen.ticks.last_mut() {
            Some((t, tally)) if *t == tick => tally.add(n),
            _ => {
                let mut tally = Tally::default();
                tally.add(n);
                seen.ticks.push((tick, tally));
            }
        }
    }
}

fn reference_callback(
    rig: &Arc<Rig>,
    var: usize,
) -> impl Fn(&Notification<'_, u64>) + Send + Sync + 'static {
    let rig = Arc::clone(rig);
    move |n| {
        rig.calls.fetch_add(1, Relaxed);
        let tick = rig.clock.load(SeqCst);
        rig.reference[var]
            .lock()
            .unwrap()
            .entry(tick)
            .or_default()
            .add(n);
        rig.reference_total[var].lock().unwrap().add(n);
    }
}

/// A permanent observer: counts its calls in its slot and checks that the
/// values form one unbroken chain from 0.
fn chain_callback(
    rig: &Arc<Rig>,
    count: &Arc<AtomicU64>,
    last: &Arc<AtomicU64>,
) -> impl Fn(&Notification<'_, u64>) + Send + Sync + 'static {
    let (rig, count, last) = (Arc::clone(rig), Arc::clone(count), Arc::clone(last));
    move |n| {
        rig.calls.fetch_add(1, Relaxed);
        count.fetch_add(1, Relaxed);
        let previous = last.swap(*n.new, Relaxed);
        if *n.old != previous {
            rig.error(format!(
                "{}: chain broken: {previous} then {} -> {}",
                n.name, n.old, n.new
            ));
        }
    }
}

/// What one producer sent and how `notify` answered.
#[derive(Debug, Default)]
struct Sent {
    /// Per owned variable: changes accepted, and the last value.
    accepted: [u64; VARS_PER_PRODUCER],
    last: [u64; VARS_PER_PRODUCER],
    queued: u64,
    coalesced: u64,
    unchanged: u64,
    relays: u64,
    relay_sum: u64,
}

/// How a producer paces itself.
#[derive(Clone, Copy)]
struct Pace {
    /// Changes per tick at most.
    budget: u64,
    /// Whether to start relay chains (only where nothing coalesces: a relay
    /// token must arrive intact).
    relays: bool,
}

/// Sends chained values to producer `p`'s variables until `stop`, as `pace`
/// allows. Half the producers name variables by id, half by name.
fn produce(p: usize, notifier: &Notifier<u64>, rig: &Rig, stop: &AtomicBool, pace: Pace) -> Sent {
    let vars: Vec<(String, VariableId)> = (0..VARS_PER_PRODUCER)
        .map(|i| {
            let name = var_name(p * VARS_PER_PRODUCER + i);
            let id = notifier.variable(&name).expect("valid name");
            (name, id)
        })
        .collect();
    let relay0 = var_name(PRODUCER_VARS);
    let mut sent = Sent::default();
    let (mut tick, mut used, mut step) = (rig.clock.load(SeqCst), 0, 0_u64);
    let meta = || Metadata::new("producer");
    while !stop.load(Relaxed) {
        if used >= pace.budget {
            let now = rig.clock.load(SeqCst);
            if now == tick {
                thread::sleep(Duration::from_micros(20));
                continue;
            }
            (tick, used) = (now, 0);
        }
        step += 1;
        used += 1;
        let i = (step % VARS_PER_PRODUCER as u64) as usize;
        let cur = sent.last[i];
        let outcome = if p.is_multiple_of(2) {
            let id = vars[i].1;
            if step.is_multiple_of(UNCHANGED_EVERY) {
                notifier.notify(id, cur, cur, meta())
            } else {
                notifier.notify(id, cur, cur + 1, meta())
            }
        } else if step.is_multiple_of(UNCHANGED_EVERY) {
            notifier.notify(&vars[i].0, cur, cur, meta())
        } else {
            notifier.notify(&vars[i].0, cur, cur + 1, meta())
        };
        match outcome {
            Ok(NotifyOutcome::Unchanged) => sent.unchanged += 1,
            Ok(accepted) => {
                if accepted == NotifyOutcome::Queued {
                    sent.queued += 1;
                } else {
                    sent.coalesced += 1;
                }
                sent.accepted[i] += 1;
                sent.last[i] = cur + 1;
            }
            Err(e) => rig.error(format!("producer {p}: {e}")),
        }
        if pace.relays && step.is_multiple_of(RELAY_EVERY) {
            let token = ((p as u64 + 1) << 40) | step;
            match notifier.notify(&relay0, 0, token, meta()) {
                Ok(NotifyOutcome::Queued) => {
                    sent.relays += 1;
                    sent.relay_sum = sent.relay_sum.wrapping_add(mix(0, token));
                }
                other => rig.error(format!("producer {p} relay: {other:?}")),
            }
        }
    }
    sent
}

/// Registers and kills owners through a notifier until `stop`, bracketing
/// each registration and death with clock readings. Returns the owners
/// still alive, which must stay alive until the end.
fn churn(notifier: &Notifier<u64>, rig: &Arc<Rig>, stop: &AtomicBool) -> Vec<Owner> {
    let mut rng = SplitMix64::new(SEED);
    let mut live: Vec<(Owner, Vec<Arc<Probe>>)> = Vec::new();
    let (mut tick, mut used) = (rig.clock.load(SeqCst), 0);
    while !stop.load(Relaxed) {
        if used >= CHURN_PER_TICK {
            let now = rig.clock.load(SeqCst);
            if now == tick {
                thread::sleep(Duration::from_micros(50));
                continue;
            }
            (tick, used) = (now, 0);
        }
        used += 1;
        if live.len() < CHURN_OWNERS / 2 || (live.len() < CHURN_OWNERS && rng.below(2) == 0) {
            let owner = notifier.owner();
            let probes = (0..1 + rng.below(4))
                .map(|_| {
                    let var = rng.below(ALL_VARS);
                    let probe = rig.new_probe(var, None);
                    let added = notifier
                        .observe(var_name(var), &owner)
                        .callback(probe_callback(rig, &probe))
                        .defer();
                    if let Err(e) = added {
                        rig.error(format!("churn add: {e}"));
                    }
                    probe.window.lock().unwrap().enter_by = rig.clock.load(SeqCst) + 1;
                    probe
                })
                .collect();
            live.push((owner, probes));
        } else {
            let (owner, probes) = live.swap_remove(rng.below(live.len()));
            let before = rig.clock.load(SeqCst);
            drop(owner);
            let after = rig.clock.load(SeqCst);
            for probe in probes {
                let mut window = probe.window.lock().unwrap();
                window.leave_from = before.saturating_sub(1);
                window.leave_by = after;
            }
        }
    }
    live.into_iter().map(|(owner, _)| owner).collect()
}

/// Permanent observers and their counters.
struct Permanent {
    /// Per producer variable and slot: calls.
    counts: Vec<Arc<AtomicU64>>,
    /// Per producer variable and slot: the last new value seen.
    lasts: Vec<Arc<AtomicU64>>,
    /// Per variable: calls of the shared counting callback.
    shared_counts: Arc<Vec<AtomicU64>>,
}

/// Interns every variable in order (so `VariableId::index` is the variable
/// number) and registers the permanent observers, the reference observers
/// and the relay forwarders.
fn install(manager: &mut ObserverManager<u64>, rig: &Arc<Rig>, owner: &Owner) -> Permanent {
    for var in 0..ALL_VARS {
        let id = manager.variable(&var_name(var)).unwrap();
        assert_eq!(id.index() as usize, var);
    }
    let slots = PRODUCER_VARS * PERMANENT_PER_VAR;
    let counts: Vec<_> = (0..slots).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let lasts: Vec<_> = (0..slots).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let shared_counts: Arc<Vec<AtomicU64>> =
        Arc::new((0..ALL_VARS).map(|_| AtomicU64::new(0)).collect());
    let shared = manager.register_callback({
        let (rig, shared_counts) = (Arc::clone(rig), Arc::clone(&shared_counts));
        move |n| {
            rig.calls.fetch_add(1, Relaxed);
            shared_counts[n.variable.index() as usize].fetch_add(1, Relaxed);
        }
    });
    for var in 0..ALL_VARS {
        let name = var_name(var);
        manager
            .observe(&name, owner)
            .callback(reference_callback(rig, var))
            .add()
            .unwrap();
        if var < PRODUCER_VARS {
            for j in 0..PERMANENT_PER_VAR {
                let slot = var * PERMANENT_PER_VAR + j;
                let call = chain_callback(rig, &counts[slot], &lasts[slot]);
                manager.observe(&name, owner).callback(call).add().unwrap();
            }
            for _ in 0..SHARED_PER_VAR {
                manager.observe(&name, owner).shared(shared).add().unwrap();
            }
        } else if var + 1 < ALL_VARS {
            let next = var_name(var + 1);
            let (rig, notifier) = (Arc::clone(rig), manager.notifier());
            manager
                .observe(&name, owner)
                .callback(move |n| {
                    rig.calls.fetch_add(1, Relaxed);
                    let outcome = notifier.notify(&next, 0, *n.new, Metadata::new("relay"));
                    if outcome != Ok(NotifyOutcome::Queued) {
                        rig.error(format!("relay to {next}: {outcome:?}"));
                    }
                })
                .add()
                .unwrap();
        }
    }
    Permanent {
        counts,
        lasts,
        shared_counts,
    }
}

/// Owners and probes made on the tick thread, between ticks: their windows
/// are exact.
struct TickSideChurn {
    rng: SplitMix64,
    live: Vec<(Owner, Vec<Arc<Probe>>)>,
}

impl TickSideChurn {
    /// After tick `done`: maybe registers an owner's observers (called from
    /// tick `done + 1`) or kills one (last called in tick `done`).
    fn step(&mut self, manager: &mut ObserverManager<u64>, rig: &Arc<Rig>, done: u64) {
        match self.rng.below(4) {
            0 if self.live.len() < TICK_SIDE_OWNERS => {
                let owner = manager.owner();
                let probes = (0..1 + self.rng.below(3))
                    .map(|_| {
                        let var = self.rng.below(ALL_VARS);
                        let probe = rig.new_probe(var, Some(done + 1));
                        let call = probe_callback(rig, &probe);
                        manager
                            .observe(var_name(var), &owner)
                            .callback(call)
                            .add()
                            .unwrap();
                        probe
                    })
                    .collect();
                self.live.push((owner, probes));
            }
            1 if !self.live.is_empty() => {
                let (owner, probes) = self.live.swap_remove(self.rng.below(self.live.len()));
                owner.kill();
                for probe in probes {
                    let mut window = probe.window.lock().unwrap();
                    (window.leave_from, window.leave_by) = (done, done);
                }
            }
            _ => {}
        }
    }
}

/// Ticks until every producer and the churn thread have finished and a tick
/// delivers nothing (the relay chains have run out); returns the ticks run.
fn tick_until_quiet(
    manager: &mut ObserverManager<u64>,
    rig: &Arc<Rig>,
    running: &AtomicUsize,
    stop: &AtomicBool,
    run_for: Duration,
    mut side: Option<&mut TickSideChurn>,
) -> u64 {
    let started = Instant::now();
    loop {
        let finished = running.load(SeqCst) == 0;
        let n = manager.ticks() + 1;
        rig.clock.store(n, SeqCst);
        let report = manager.tick();
        assert_eq!(report.tick, n);
        if report.callback_panics > 0 {
            rig.error(format!(
                "tick {n}: {} callback panics",
                report.callback_panics
            ));
        }
        if let Some(side) = side.as_deref_mut()
            && !finished
        {
            side.step(manager, rig, n);
        }
        if n.is_multiple_of(64) {
            rig.verify_finished(n);
        }
        if started.elapsed() >= run_for {
            stop.store(true, Relaxed);
        }
        if finished && report.changes_delivered == 0 && manager.pending_changes() == 0 {
            return n;
        }
    }
}

fn assert_no_errors(rig: &Rig) {
    let errors = rig.errors.lock().unwrap();
    assert!(
        errors.is_empty(),
        "{} errors, first ones: {:#?}",
        errors.len(),
        &errors[..errors.len().min(20)]
    );
}

#[test]
fn eight_producers_churn_and_relays_lose_and_duplicate_nothing() {
    let config = Config::default()
        .inbox_capacity(usize::MAX)
        .parallel_threshold(256)
        .parallel_chunk(64)
        .sweep_every(16);
    let mut manager = ObserverManager::<u64>::with_config(config).unwrap();
    let rig = Arc::new(Rig::new());
    let permanent_owner = manager.owner();
    let permanent = install(&mut manager, &rig, &permanent_owner);
    let notifier = manager.notifier();
    let stop = AtomicBool::new(false);
    let running = AtomicUsize::new(PRODUCERS + 1);
    let mut side = TickSideChurn {
        rng: SplitMix64::new(SEED ^ 0xFFFF),
        live: Vec::new(),
    };
    let run_for = run_time();
    let clock = Instant::now();

    let (sent, churn_survivors, ticks) = thread::scope(|s| {
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (notifier, rig, stop, running) = (notifier.clone(), &rig, &stop, &running);
                s.spawn(move || {
                    let pace = Pace {
                        budget: PER_TICK_BUDGET,
                        relays: true,
                    };
                    let sent = produce(p, &notifier, rig, stop, pace);
                    running.fetch_sub(1, SeqCst);
                    sent
                })
            })
            .collect();
        let churner = s.spawn(|| {
            let survivors = churn(&notifier, &rig, &stop);
            running.fetch_sub(1, SeqCst);
            survivors
        });
        let ticks = tick_until_quiet(
            &mut manager,
            &rig,
            &running,
            &stop,
            run_for,
            Some(&mut side),
        );
        let sent: Vec<Sent> = producers.into_iter().map(|h| h.join().unwrap()).collect();
        (sent, churner.join().unwrap(), ticks)
    });
    let elapsed = clock.elapsed();

    // Every probe still alive was alive to the end.
    let last = manager.ticks();
    for probe in rig.probes.lock().unwrap().iter() {
        let mut window = probe.window.lock().unwrap();
        if window.leave_by == u64::MAX {
            (window.leave_from, window.leave_by) = (last, last);
        }
    }
    rig.verify_finished(last);
    assert!(rig.probes.lock().unwrap().is_empty());
    assert_no_errors(&rig);

    // Per variable and slot: exactly the producer's chain.
    for (p, sent) in sent.iter().enumerate() {
        assert_eq!(sent.coalesced, 0, "producer {p}: nothing coalesces here");
        for i in 0..VARS_PER_PRODUCER {
            let var = p * VARS_PER_PRODUCER + i;
            for j in 0..PERMANENT_PER_VAR {
                let slot = var * PERMANENT_PER_VAR + j;
                assert_eq!(
                    permanent.counts[slot].load(Relaxed),
                    sent.accepted[i],
                    "slot {slot}"
                );
                assert_eq!(
                    permanent.lasts[slot].load(Relaxed),
                    sent.last[i],
                    "slot {slot}"
                );
            }
            let shared = permanent.shared_counts[var].load(Relaxed);
            assert_eq!(shared, sent.accepted[i] * SHARED_PER_VAR as u64, "{var}");
            let reference = *rig.reference_total[var].lock().unwrap();
            assert_eq!(reference.count, sent.accepted[i], "reference of {var}");
            let report = manager.inspect_variable(var_name(var)).unwrap();
            assert_eq!(report.changes_dispatched, sent.accepted[i]);
            for row in report
                .observers
                .iter()
                .filter(|r| r.owner == permanent_owner.id())
            {
                assert_eq!(row.deliveries, sent.accepted[i]);
                assert_eq!(row.panics, 0);
            }
        }
    }
    // Each relay hop forwarded every token exactly once.
    let relays: u64 = sent.iter().map(|s| s.relays).sum();
    let relay_sum = sent.iter().fold(0_u64, |a, s| a.wrapping_add(s.relay_sum));
    for hop in 0..RELAY_VARS {
        let tally = *rig.reference_total[PRODUCER_VARS + hop].lock().unwrap();
        assert_eq!(
            tally,
            Tally {
                count: relays,
                sum: relay_sum
            },
            "relay{hop}"
        );
    }

    let queued: u64 = sent.iter().map(|s| s.queued).sum();
    let unchanged: u64 = sent.iter().map(|s| s.unchanged).sum();
    let forwarded = relays * (RELAY_VARS as u64 - 1);
    let stats = manager.stats();
    assert_eq!(stats.changes_received, queued + relays + forwarded);
    assert_eq!(stats.changes_skipped, unchanged);
    assert_eq!(stats.changes_coalesced, 0);
    assert_eq!(stats.changes_delivered, stats.changes_received);
    assert_eq!(stats.changes_pending, 0);
    assert_eq!(stats.callback_panics, 0);
    assert_eq!(stats.notifications_sent, rig.calls.load(Relaxed));
    assert_eq!(
        stats.active_observers,
        stats.observers_added - stats.observers_removed
    );
    assert_eq!(stats.ticks, ticks);
    drop(churn_survivors);
    drop(side);
    println!(
        "stress: {PRODUCERS} producers, {} changes accepted ({unchanged} unchanged refused), \
         {} relay hops, {ticks} ticks, {} notifications, {} churned observers verified, \
         {} observers added in all, {elapsed:?}",
        queued,
        relays + forwarded,
        stats.notifications_sent,
        rig.probes_verified.load(Relaxed),
        stats.observers_added,
    );
}

#[test]
fn eight_producers_under_coalescing_keep_value_chains_and_counts() {
    let config = Config::default()
        .inbox_capacity(COALESCE_CAPACITY)
        .parallel_threshold(256)
        .parallel_chunk(64);
    let mut manager = ObserverManager::<u64>::with_config(config).unwrap();
    let rig = Arc::new(Rig::new());
    let owner = manager.owner();
    let permanent = install(&mut manager, &rig, &owner);
    let notifier = manager.notifier();
    let stop = AtomicBool::new(false);
    let running = AtomicUsize::new(PRODUCERS);
    let run_for = run_time();
    let clock = Instant::now();

    let (sent, ticks) = thread::scope(|s| {
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (notifier, rig, stop, running) = (notifier.clone(), &rig, &stop, &running);
                s.spawn(move || {
                    // No budget: producers outrun the tick, so the inbox overflows.
                    let pace = Pace {
                        budget: u64::MAX,
                        relays: false,
                    };
                    let sent = produce(p, &notifier, rig, stop, pace);
                    running.fetch_sub(1, SeqCst);
                    sent
                })
            })
            .collect();
        let ticks = tick_until_quiet(&mut manager, &rig, &running, &stop, run_for, None);
        let sent: Vec<Sent> = producers.into_iter().map(|h| h.join().unwrap()).collect();
        (sent, ticks)
    });
    let elapsed = clock.elapsed();
    assert_no_errors(&rig); // every chain unbroken, despite coalescing

    let mut delivered_to_first_slots = 0;
    for (p, sent) in sent.iter().enumerate() {
        for i in 0..VARS_PER_PRODUCER {
            let var = p * VARS_PER_PRODUCER + i;
            let first = permanent.counts[var * PERMANENT_PER_VAR].load(Relaxed);
            assert!(first <= sent.accepted[i]);
            delivered_to_first_slots += first;
            for j in 0..PERMANENT_PER_VAR {
                let slot = var * PERMANENT_PER_VAR + j;
                assert_eq!(permanent.counts[slot].load(Relaxed), first, "slot {slot}");
                assert_eq!(
                    permanent.lasts[slot].load(Relaxed),
                    sent.last[i],
                    "slot {slot} ends on the final value"
                );
            }
        }
    }
    let queued: u64 = sent.iter().map(|s| s.queued).sum();
    let coalesced: u64 = sent.iter().map(|s| s.coalesced).sum();
    let unchanged: u64 = sent.iter().map(|s| s.unchanged).sum();
    let stats = manager.stats();
    assert!(
        coalesced > 0,
        "the inbox never overflowed: the test proves nothing"
    );
    assert_eq!(stats.changes_pending, 0);
    assert_eq!(stats.changes_received, queued + coalesced);
    assert_eq!(stats.changes_skipped, unchanged);
    assert_eq!(
        stats.changes_received,
        stats.changes_delivered + stats.changes_coalesced,
        "received == delivered + coalesced"
    );
    assert_eq!(stats.changes_delivered, delivered_to_first_slots);
    // Every queued change is delivered, and so is each variable's one
    // overflow change per tick; the other `Coalesced` answers were merged.
    assert_eq!(
        stats.changes_delivered - queued,
        coalesced - stats.changes_coalesced,
        "overflow changes delivered, counted two ways"
    );
    assert_eq!(stats.callback_panics, 0);
    assert_eq!(stats.notifications_sent, rig.calls.load(Relaxed));
    println!(
        "coalescing stress: {PRODUCERS} producers, {} changes accepted ({queued} queued, \
         {coalesced} coalesced on arrival, {unchanged} unchanged refused), {} delivered, \
         {} merged away, {ticks} ticks, {elapsed:?}",
        queued + coalesced,
        stats.changes_delivered,
        stats.changes_coalesced,
    );
}
