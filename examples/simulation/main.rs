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
//! per observer, measured by a counting global allocator (`alloc.rs`).
//!
//! ```text
//! cargo run --release --example simulation
//! cargo run --release --example simulation -- --observers 2000000 --ticks 50
//! cargo run --release --example simulation -- --help
//! ```
//!
//! Random choices come from a small xorshift generator seeded by `--seed`,
//! so a run is reproducible.
//!
//! The parts: `args.rs` (flags), `alloc.rs` (the counting allocator),
//! `rng.rs` (randomness), `tally.rs` (the callbacks' counters), `model.rs`
//! (what the reports are checked against), `sim.rs` (the population and the
//! work of a tick), `measure.rs` (sums over ticks), `report.rs` (output).

// The parts are private modules; what they share is `pub(crate)`.
mod alloc;
mod args;
mod measure;
mod model;
mod report;
mod rng;
mod sim;
mod tally;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use crate::alloc::live_bytes;
use crate::args::{Args, Command, USAGE, parse_args};
use crate::measure::{Memory, Outcome, Totals};
use crate::report::{grouped, print_summary, progress_header, progress_line};
use crate::sim::Sim;
use crate::tally::Tally;

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
