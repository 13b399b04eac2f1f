//! The main job: a million observers ticking in a steady state.
//!
//! By default 1,000,000 observers watch 10,000 variables on behalf of 10,000
//! owners (100 observers each), all sharing a handful of callbacks registered
//! once with `register_callback`. Every tick:
//!
//! 1. **churn**: a fraction of the owners (1%) is dropped and as many new
//!    owners join with as many observers each, so the population stays put;
//! 2. **notify**: a fraction of the variables (10%) changes, reported by a
//!    few producer threads through cloned `Notifier`s;
//! 3. **tick**: the manager sweeps the dead owners' observers and delivers
//!    every change, in parallel, to every live observer of its variable.
//!
//! The callbacks do cheap work (count the call, add the new value into a
//! per-thread slot). The simulation keeps its own model of who watches what
//! and checks every `TickReport` against it; at the end it checks that the
//! callbacks saw exactly the sum of `report.notifications` calls, and exits
//! non-zero on any mismatch.
//!
//! Progress goes to stderr (a line every tenth of the run), the summary to
//! stdout: throughput, tick times, time per system, set-up time and heap bytes
//! per observer, measured by a counting global allocator defined below.
//!
//! ```text
//! cargo run --release --example simulation
//! cargo run --release --example simulation -- --observers 2000000 --ticks 50
//! cargo run --release --example simulation -- --help
//! ```
//!
//! Random choices come from a small xorshift generator seeded by `--seed`,
//! so a run is reproducible.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use observer_manager::{
    CallbackId, Config, Metadata, Notifier, NotifyOutcome, ObserverManager, Owner, SessionId,
    SystemTimings, TickReport, VariableId,
};

// ---------------------------------------------------------------------------
// Heap accounting
// ---------------------------------------------------------------------------

/// Bytes currently allocated through [`CountingAlloc`].
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
/// The most [`LIVE_BYTES`] has been.
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes (the library itself stays
/// `forbid(unsafe_code)`; this is the example's only `unsafe`).
struct CountingAlloc;

#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc;

impl CountingAlloc {
    fn grew(bytes: usize) {
        let now = LIVE_BYTES.fetch_add(bytes, Relaxed) + bytes;
        PEAK_BYTES.fetch_max(now, Relaxed);
    }

    fn shrank(bytes: usize) {
        LIVE_BYTES.fetch_sub(bytes, Relaxed);
    }
}

// SAFETY: every method hands its arguments unchanged to `System`, which
// upholds the `GlobalAlloc` contract, and returns its result unchanged. The
// counting touches only atomics: it never allocates, never panics and never
// touches the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's promises for `alloc` are passed on to `System`.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            Self::grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            Self::grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: every block comes from `System` through this type, so
        // `ptr` and `layout` are what `System` handed out.
        unsafe { System.dealloc(ptr, layout) };
        Self::shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller's promises on `new_size`
        // are passed on to `System`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            Self::shrank(layout.size());
            Self::grew(new_size);
        }
        new
    }
}

fn live_bytes() -> usize {
    LIVE_BYTES.load(Relaxed)
}

// ---------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------

const USAGE: &str = "\
usage: cargo run --release --example simulation -- [flags]

  --observers N        observers in the population      (default 1000000)
  --variables N        variables they watch             (default 10000)
  --owners N           owners; observers are split evenly (default 10000)
  --ticks N            ticks to run                     (default 100)
  --change-fraction F  share of variables changed per tick, 0..=1 (default 0.1)
  --churn-fraction F   share of owners replaced per tick, 0..=1  (default 0.01)
  --producers N        producer threads notifying each tick (default 2)
  --sweep-every N      full liveness scan every N ticks (default: the library's)
  --seed N             seed of the pseudo-random choices (default 1)
  --quiet              no progress lines on stderr
  --help               this text

Values may also be written --flag=value; digits may be grouped with '_'.";

/// The simulation's sizes and knobs, from the command line.
#[derive(Clone, Debug)]
struct Args {
    observers: u32,
    variables: u32,
    owners: u32,
    ticks: u32,
    change_fraction: f64,
    churn_fraction: f64,
    producers: u32,
    sweep_every: u32,
    seed: u64,
    quiet: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            observers: 1_000_000,
            variables: 10_000,
            owners: 10_000,
            ticks: 100,
            change_fraction: 0.1,
            churn_fraction: 0.01,
            producers: 2,
            sweep_every: Config::DEFAULT_SWEEP_EVERY as u32,
            seed: 1,
            quiet: false,
        }
    }
}

/// The flags that take a value.
const VALUE_FLAGS: [&str; 9] = [
    "--observers",
    "--variables",
    "--owners",
    "--ticks",
    "--producers",
    "--sweep-every",
    "--change-fraction",
    "--churn-fraction",
    "--seed",
];

/// What the command line asks for.
enum Command {
    Run(Args),
    Help,
}

/// Parses the flags (without the program name); the error is a message for the user.
fn parse_args(raw: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = Args::default();
    let mut raw = raw.into_iter();
    while let Some(arg) = raw.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        match flag {
            "--help" | "-h" => return Ok(Command::Help),
            "--quiet" | "-q" if inline.is_none() => args.quiet = true,
            "--quiet" | "-q" => return Err(format!("{flag} takes no value")),
            _ if VALUE_FLAGS.contains(&flag) => {
                let value = inline
                    .or_else(|| raw.next())
                    .ok_or_else(|| format!("{flag} needs a value"))?;
                set_flag(&mut args, flag, &value)?;
            }
            _ if flag.starts_with('-') => return Err(format!("unknown flag '{flag}'")),
            _ => return Err(format!("unexpected argument '{flag}'")),
        }
    }
    validate(&args)?;
    Ok(Command::Run(args))
}

fn set_flag(args: &mut Args, flag: &str, value: &str) -> Result<(), String> {
    match flag {
        "--observers" => args.observers = count(flag, value)?,
        "--variables" => args.variables = count(flag, value)?,
        "--owners" => args.owners = count(flag, value)?,
        "--ticks" => args.ticks = count(flag, value)?,
        "--producers" => args.producers = count(flag, value)?,
        "--sweep-every" => args.sweep_every = count(flag, value)?,
        "--change-fraction" => args.change_fraction = fraction(flag, value)?,
        "--churn-fraction" => args.churn_fraction = fraction(flag, value)?,
        "--seed" => {
            args.seed = value
                .replace('_', "")
                .parse()
                .map_err(|_| format!("{flag} expects an integer 0..=2^64-1, got '{value}'"))?;
        }
        _ => return Err(format!("unknown flag '{flag}'")),
    }
    Ok(())
}

/// A positive count that fits the library's `u32` indexes.
fn count(flag: &str, value: &str) -> Result<u32, String> {
    match value.replace('_', "").parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{flag} expects a whole number from 1 to {}, got '{value}'",
            u32::MAX
        )),
    }
}

fn fraction(flag: &str, value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!(
            "{flag} expects a number from 0 to 1, got '{value}'"
        )),
    }
}

/// Checks that the flags make sense together.
fn validate(args: &Args) -> Result<(), String> {
    if args.observers < args.owners {
        return Err(format!(
            "--observers ({}) must be at least --owners ({}), so that every owner has an observer",
            args.observers, args.owners
        ));
    }
    if args.producers > 64 {
        return Err(format!(
            "--producers expects at most 64 threads, got {}",
            args.producers
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------

/// xorshift64* (Vigna, "An experiment with xorshift generators", 2016).
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    /// A generator for `seed`; any seed works, 0 included (it is scrambled
    /// by one splitmix64 step, and the state is never zero).
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (multiply-shift; the bias is negligible here).
    fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
}

/// Moves `k` distinct random entries of `order` to its front (a partial
/// Fisher–Yates shuffle), in time proportional to `k`.
fn shuffle_prefix(order: &mut [u32], k: usize, rng: &mut Rng) {
    for i in 0..k {
        let j = i + rng.below((order.len() - i) as u32) as usize;
        order.swap(i, j);
    }
}

// ---------------------------------------------------------------------------
// Callbacks
// ---------------------------------------------------------------------------

/// Shared callbacks registered once; each observer picks one of them.
const SHARED_CALLBACKS: u32 = 8;
/// Counter slots; threads spread over them so dispatch threads do not share a line.
const TALLY_SLOTS: usize = 16;

/// What the callbacks saw: calls and the wrapping sum of the new values.
#[derive(Default)]
struct Tally {
    slots: [TallySlot; TALLY_SLOTS],
}

/// One thread's counters, on a cache line of its own.
#[derive(Default)]
#[repr(align(128))]
struct TallySlot {
    calls: AtomicU64,
    sum: AtomicU64,
}

impl Tally {
    fn record(&self, value: u64) {
        let slot = &self.slots[thread_slot()];
        slot.calls.fetch_add(1, Relaxed);
        slot.sum.fetch_add(value, Relaxed);
    }

    /// Calls and value sum over all slots; exact once the ticks have returned.
    fn totals(&self) -> (u64, u64) {
        self.slots.iter().fold((0, 0), |(calls, sum), slot| {
            let calls = calls + slot.calls.load(Relaxed);
            (calls, sum.wrapping_add(slot.sum.load(Relaxed)))
        })
    }
}

/// This thread's tally slot, handed out round-robin on first use.
fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Relaxed) % TALLY_SLOTS;
    }
    SLOT.with(|slot| *slot)
}

// ---------------------------------------------------------------------------
// The model the reports are checked against
// ---------------------------------------------------------------------------

/// What the simulation expects the manager to do, tracked independently.
struct Model {
    /// Live observers of each variable.
    watchers: Vec<u64>,
    /// Current value of each variable.
    values: Vec<u64>,
    /// Notifications the next tick must make.
    due_calls: u64,
    /// Observers the next tick must sweep (those of owners dropped since the last one).
    due_sweep: u64,
    /// Wrapping sum of `new` over every notification so far.
    value_sum: u64,
}

impl Model {
    fn new(variables: usize) -> Self {
        Model {
            watchers: vec![0; variables],
            values: vec![0; variables],
            due_calls: 0,
            due_sweep: 0,
            value_sum: 0,
        }
    }

    /// Records that `var` changes to `new` before the next tick.
    fn change(&mut self, var: usize, new: u64) {
        let watchers = self.watchers[var];
        self.values[var] = new;
        self.due_calls += watchers;
        self.value_sum = self.value_sum.wrapping_add(new.wrapping_mul(watchers));
    }

    /// Compares a tick's report with the expectation, then starts the next one.
    fn verify(&mut self, report: &TickReport) -> Result<(), String> {
        let checks = [
            ("notifications", report.notifications, self.due_calls),
            ("observers swept", report.observers_swept, self.due_sweep),
            ("changes coalesced", report.changes_coalesced, 0),
        ];
        for (what, got, want) in checks {
            if got != want {
                return Err(format!(
                    "tick {}: {what} was {got}, the model expects {want}",
                    report.tick
                ));
            }
        }
        self.due_calls = 0;
        self.due_sweep = 0;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The population
// ---------------------------------------------------------------------------

/// How an owner's observers are drawn: replayable, so that when the owner
/// dies the model can take exactly its observers back out.
#[derive(Clone, Copy, Debug)]
struct Plan {
    seed: u64,
    observers: u32,
}

impl Plan {
    /// `(variable index, callback index)` of each observer.
    fn picks(self, variables: u32) -> impl Iterator<Item = (usize, usize)> {
        let mut rng = Rng::new(self.seed);
        (0..self.observers).map(move |_| {
            let var = rng.below(variables) as usize;
            (var, rng.below(SHARED_CALLBACKS) as usize)
        })
    }
}

/// One owner of the population.
struct Member {
    owner: Owner,
    plan: Plan,
}

/// The manager, the population and the bookkeeping around them.
struct Sim {
    manager: ObserverManager<u64>,
    notifiers: Vec<Notifier<u64>>,
    variables: Vec<VariableId>,
    callbacks: Vec<CallbackId>,
    members: Vec<Member>,
    model: Model,
    rng: Rng,
    /// Variable indexes, shuffled in part each tick to pick the changes.
    var_order: Vec<u32>,
    /// Member indexes, shuffled in part each tick to pick the owners that die.
    member_order: Vec<u32>,
    /// This tick's changes: `(variable, old, new)`.
    changes: Vec<(VariableId, u64, u64)>,
    changes_per_tick: usize,
    churn_per_tick: usize,
}

impl Sim {
    /// An empty manager with its callbacks, and all bookkeeping allocated.
    fn new(args: &Args, tally: &Arc<Tally>) -> Result<Sim, String> {
        let changes_per_tick = share(args.variables, args.change_fraction);
        let config = Config::default()
            .sweep_every(u64::from(args.sweep_every))
            .inbox_capacity(changes_per_tick.max(Config::DEFAULT_INBOX_CAPACITY));
        let mut manager = ObserverManager::with_config(config).map_err(|e| e.to_string())?;
        let callbacks = (0..SHARED_CALLBACKS)
            .map(|_| {
                let tally = Arc::clone(tally);
                manager.register_callback(move |n| tally.record(*n.new))
            })
            .collect();
        let notifiers = (0..args.producers).map(|_| manager.notifier()).collect();
        Ok(Sim {
            manager,
            notifiers,
            variables: Vec::with_capacity(args.variables as usize),
            callbacks,
            members: Vec::with_capacity(args.owners as usize),
            model: Model::new(args.variables as usize),
            rng: Rng::new(args.seed),
            var_order: (0..args.variables).collect(),
            member_order: (0..args.owners).collect(),
            changes: Vec::with_capacity(changes_per_tick),
            changes_per_tick,
            churn_per_tick: share(args.owners, args.churn_fraction),
        })
    }

    fn intern_variables(&mut self, count: u32) -> Result<(), String> {
        for i in 0..count {
            let id = self.manager.variable(&format!("var-{i}"));
            self.variables.push(id.map_err(|e| e.to_string())?);
        }
        Ok(())
    }

    /// Spawns `owners` owners sharing `observers` observers as evenly as possible.
    fn populate(&mut self, observers: u32, owners: u32) -> Result<(), String> {
        let (base, extra) = (observers / owners, observers % owners);
        for i in 0..owners {
            let member = self.join(base + u32::from(i < extra))?;
            self.members.push(member);
        }
        Ok(())
    }

    /// A new owner with `observers` fresh observers.
    fn join(&mut self, observers: u32) -> Result<Member, String> {
        let plan = Plan {
            seed: self.rng.next_u64(),
            observers,
        };
        let owner = self.manager.owner();
        for (var, callback) in plan.picks(self.variables.len() as u32) {
            self.manager
                .add_observer_with(self.variables[var], &owner, self.callbacks[callback])
                .map_err(|e| e.to_string())?;
            self.model.watchers[var] += 1;
        }
        Ok(Member { owner, plan })
    }

    /// Drops an owner: its observers hear nothing more and go at the next tick.
    fn leave(&mut self, member: Member) {
        for (var, _) in member.plan.picks(self.variables.len() as u32) {
            self.model.watchers[var] -= 1;
        }
        self.model.due_sweep += u64::from(member.plan.observers);
        member.owner.kill();
    }

    /// Replaces `churn_per_tick` distinct owners with new ones of the same size.
    fn churn(&mut self) -> Result<(), String> {
        let k = self.churn_per_tick;
        shuffle_prefix(&mut self.member_order, k, &mut self.rng);
        for i in 0..k {
            let slot = self.member_order[i] as usize;
            let fresh = self.join(self.members[slot].plan.observers)?;
            let gone = std::mem::replace(&mut self.members[slot], fresh);
            self.leave(gone);
        }
        Ok(())
    }

    /// Picks this tick's changes (distinct variables) and updates the model.
    fn plan_changes(&mut self) {
        let k = self.changes_per_tick;
        shuffle_prefix(&mut self.var_order, k, &mut self.rng);
        self.changes.clear();
        for &var in &self.var_order[..k] {
            let var = var as usize;
            let old = self.model.values[var];
            let new = old + 1 + u64::from(self.rng.below(1_000));
            self.model.change(var, new);
            self.changes.push((self.variables[var], old, new));
        }
    }

    /// Reports this tick's changes from the producer threads, a share each.
    fn produce(&self) -> Result<(), String> {
        let share = self.changes.len().div_ceil(self.notifiers.len()).max(1);
        let queued: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (self.notifiers.iter().zip(self.changes.chunks(share)))
                .enumerate()
                .map(|(p, (notifier, chunk))| scope.spawn(move || notify_all(notifier, chunk, p)))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
        });
        if queued != self.changes.len() {
            return Err(format!(
                "producers queued {queued} of {} changes",
                self.changes.len()
            ));
        }
        Ok(())
    }

    /// Runs one tick and checks its report against the model.
    fn tick(&mut self) -> Result<(TickReport, Duration), String> {
        let start = Instant::now();
        let report = self.manager.tick();
        let took = start.elapsed();
        self.model.verify(&report)?;
        Ok((report, took))
    }
}

/// `fraction` of `n`, rounded, and at least one when `fraction` is above zero.
fn share(n: u32, fraction: f64) -> usize {
    let rounded = (f64::from(n) * fraction).round() as usize;
    if fraction > 0.0 {
        rounded.max(1)
    } else {
        rounded
    }
}

/// One producer's work: notifies every change of `chunk`; returns how many were queued.
fn notify_all(
    notifier: &Notifier<u64>,
    chunk: &[(VariableId, u64, u64)],
    producer: usize,
) -> usize {
    let session = SessionId(producer as u64);
    chunk
        .iter()
        .filter(|&&(var, old, new)| {
            let meta = Metadata::new("producer").with_session(session);
            notifier.notify(var, old, new, meta) == Ok(NotifyOutcome::Queued)
        })
        .count()
}

// ---------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------

/// Sums over a stretch of ticks.
#[derive(Clone, Debug, Default)]
struct Totals {
    ticks: u64,
    notifications: u64,
    swept: u64,
    panics: u64,
    tick_time: Duration,
    max_tick: Duration,
    systems: SystemTimings,
    churn: Duration,
    notify: Duration,
}

impl Totals {
    fn add(&mut self, report: &TickReport, took: Duration) {
        self.ticks += 1;
        self.notifications += report.notifications;
        self.swept += report.observers_swept;
        self.panics += report.callback_panics;
        self.tick_time += took;
        self.max_tick = self.max_tick.max(took);
        let (sum, t) = (&mut self.systems, &report.timings);
        sum.apply += t.apply;
        sum.sweep += t.sweep;
        sum.collect += t.collect;
        sum.dispatch += t.dispatch;
        sum.account += t.account;
    }

    fn per_tick(&self, total: Duration) -> Duration {
        total / self.ticks.max(1) as u32
    }
}

/// Heap readings taken while the population is built.
#[derive(Clone, Copy, Debug)]
struct Memory {
    empty_manager: usize,
    with_variables: usize,
    populated: usize,
    at_end: usize,
}

/// Everything the summary prints.
struct Outcome {
    totals: Totals,
    memory: Memory,
    setup: Duration,
    run: Duration,
    teardown: Duration,
    cleanup_runs: u64,
    observers_at_end: usize,
    check: Result<String, String>,
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let started = Instant::now();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("simulation: error: {message}\nrun with --help for the flags");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(outcome) => {
            print_summary(&args, &outcome, started.elapsed());
            if outcome.check.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(message) => {
            eprintln!("simulation: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Builds the population, runs the ticks, checks the callbacks' tally.
fn run(args: &Args) -> Result<Outcome, String> {
    let tally = Arc::new(Tally::default());
    let setup_start = Instant::now();
    let mut sim = Sim::new(args, &tally)?;
    let empty_manager = live_bytes();
    sim.intern_variables(args.variables)?;
    let with_variables = live_bytes();
    sim.populate(args.observers, args.owners)?;
    let populated = live_bytes();
    let setup = setup_start.elapsed();
    progress_header(args, &sim, setup);

    let run_start = Instant::now();
    let totals = run_ticks(&mut sim, args)?;
    let run = run_start.elapsed();

    let memory = Memory {
        empty_manager,
        with_variables,
        populated,
        at_end: live_bytes(),
    };
    let cleanup_runs = sim.manager.stats().cleanup_runs;
    let observers_at_end = sim.manager.total_observers();
    let expected_sum = sim.model.value_sum;
    let teardown_start = Instant::now();
    drop(sim);
    let teardown = teardown_start.elapsed();
    let check = check_tally(&tally, &totals, expected_sum);
    Ok(Outcome {
        totals,
        memory,
        setup,
        run,
        teardown,
        cleanup_runs,
        observers_at_end,
        check,
    })
}

/// The tick loop: churn, notify, tick; a progress line every tenth of the run.
fn run_ticks(sim: &mut Sim, args: &Args) -> Result<Totals, String> {
    let every = (args.ticks / 10).max(1);
    let mut totals = Totals::default();
    let mut window = Totals::default();
    for tick in 1..=args.ticks {
        let lap = Instant::now();
        sim.churn()?;
        let churned = Instant::now();
        sim.plan_changes();
        sim.produce()?;
        let notified = Instant::now();
        let (report, took) = sim.tick()?;
        for sums in [&mut totals, &mut window] {
            sums.add(&report, took);
            sums.churn += churned - lap;
            sums.notify += notified - churned;
        }
        if !args.quiet && (tick.is_multiple_of(every) || tick == args.ticks) {
            progress_line(tick, args.ticks, sim.manager.total_observers(), &window);
            window = Totals::default();
        }
    }
    Ok(totals)
}

/// The required check: the callbacks saw exactly the calls the reports counted.
fn check_tally(tally: &Tally, totals: &Totals, expected_sum: u64) -> Result<String, String> {
    let (calls, sum) = tally.totals();
    if calls != totals.notifications {
        return Err(format!(
            "callbacks saw {} calls, the reports counted {} notifications",
            grouped(calls),
            grouped(totals.notifications)
        ));
    }
    if sum != expected_sum {
        return Err(format!(
            "callbacks summed {sum} over the new values, the model expects {expected_sum}"
        ));
    }
    Ok(format!(
        "callbacks saw {} calls = sum of report.notifications; value sums match",
        grouped(calls)
    ))
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

fn progress_header(args: &Args, sim: &Sim, setup: Duration) {
    if args.quiet {
        return;
    }
    eprintln!(
        "built {} observers over {} variables for {} owners in {}; \
         per tick: changes {}, owners replaced {}",
        grouped(u64::from(args.observers)),
        grouped(u64::from(args.variables)),
        grouped(u64::from(args.owners)),
        secs(setup),
        grouped(sim.changes_per_tick as u64),
        grouped(sim.churn_per_tick as u64),
    );
}

fn progress_line(tick: u32, ticks: u32, observers: usize, window: &Totals) {
    eprintln!(
        "tick {tick:>width$}/{ticks}  observers {}  notifications/tick {}  {} (dispatch)  \
         swept {}  dispatch {}/tick  tick {}/tick",
        grouped(observers as u64),
        grouped(window.notifications / window.ticks.max(1)),
        rate(window.notifications, window.systems.dispatch),
        grouped(window.swept),
        millis(window.per_tick(window.systems.dispatch)),
        millis(window.per_tick(window.tick_time)),
        width = ticks.to_string().len(),
    );
}

fn print_summary(args: &Args, outcome: &Outcome, wall: Duration) {
    let t = &outcome.totals;
    println!("simulation summary");
    println!(
        "  population        {} observers, {} variables, {} owners, {SHARED_CALLBACKS} shared callbacks",
        grouped(u64::from(args.observers)),
        grouped(u64::from(args.variables)),
        grouped(u64::from(args.owners)),
    );
    println!(
        "  workload          {} ticks; per tick {:.1}% of variables change, {:.1}% of owners replaced; {} producers; seed {}",
        t.ticks,
        args.change_fraction * 100.0,
        args.churn_fraction * 100.0,
        args.producers,
        args.seed,
    );
    println!(
        "  notifications     {} total, {} per tick",
        grouped(t.notifications),
        grouped(t.notifications / t.ticks.max(1))
    );
    println!(
        "  throughput        {} over dispatch time, {} over the loop's wall time",
        rate(t.notifications, t.systems.dispatch),
        rate(t.notifications, outcome.run)
    );
    println!(
        "  observers swept   {} ({} alive at the end)",
        grouped(t.swept),
        grouped(outcome.observers_at_end as u64)
    );
    println!(
        "  cleanup runs      {} (full scan every {} ticks)",
        outcome.cleanup_runs, args.sweep_every
    );
    println!("  callback panics   {}", t.panics);
    println!(
        "  tick time         avg {}, max {}",
        millis(t.per_tick(t.tick_time)),
        millis(t.max_tick)
    );
    print_breakdown(t);
    print_times(outcome, wall);
    print_memory(&outcome.memory, args.observers, args.variables);
    match &outcome.check {
        Ok(message) => println!("  check             OK: {message}"),
        Err(message) => println!("  check             FAILED: {message}"),
    }
}

/// Time per system (from `report.timings`) and outside the tick, averaged per tick.
fn print_breakdown(t: &Totals) {
    let s = &t.systems;
    println!("  per tick, by system (share of tick time):");
    let rows = [
        ("apply", s.apply),
        ("sweep", s.sweep),
        ("collect", s.collect),
        ("dispatch", s.dispatch),
        ("account", s.account),
    ];
    for (name, total) in rows {
        let share = 100.0 * total.as_secs_f64() / t.tick_time.as_secs_f64().max(f64::MIN_POSITIVE);
        println!(
            "    {name:<14}  {:>10}  {share:>5.1}%",
            millis(t.per_tick(total))
        );
    }
    println!("  per tick, outside the tick:");
    println!("    {:<14}  {:>10}", "churn", millis(t.per_tick(t.churn)));
    println!("    {:<14}  {:>10}", "notify", millis(t.per_tick(t.notify)));
}

fn print_times(outcome: &Outcome, wall: Duration) {
    println!(
        "  set-up            {} (interning the variables, adding the observers)",
        secs(outcome.setup)
    );
    println!("  tick loop         {}", secs(outcome.run));
    println!("  teardown          {}", secs(outcome.teardown));
    println!("  wall time         {} in all", secs(wall));
}

fn print_memory(m: &Memory, observers: u32, variables: u32) {
    let per_observer = m.populated.saturating_sub(m.empty_manager) as f64 / f64::from(observers);
    let variables_bytes = m.with_variables.saturating_sub(m.empty_manager);
    println!(
        "  memory            {per_observer:.1} bytes per observer \
         ((heap after building the population - heap of the empty manager) / observers)"
    );
    println!(
        "                    of which variables: {} ({:.1} bytes per variable); observers alone {:.1} bytes each",
        bytes(variables_bytes),
        variables_bytes as f64 / f64::from(variables),
        m.populated.saturating_sub(m.with_variables) as f64 / f64::from(observers),
    );
    println!(
        "                    heap: empty manager {}, populated {}, after the ticks {}, peak {}",
        bytes(m.empty_manager),
        bytes(m.populated),
        bytes(m.at_end),
        bytes(PEAK_BYTES.load(Relaxed)),
    );
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Events per second, in millions (or thousands when fewer).
fn rate(events: u64, over: Duration) -> String {
    if over.is_zero() {
        return "- /s".to_owned();
    }
    let per_sec = events as f64 / over.as_secs_f64();
    if per_sec >= 1e6 {
        format!("{:.1} M/s", per_sec / 1e6)
    } else {
        format!("{:.1} k/s", per_sec / 1e3)
    }
}

fn millis(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn bytes(n: usize) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if n as f64 >= MIB {
        format!("{:.1} MiB", n as f64 / MIB)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}
