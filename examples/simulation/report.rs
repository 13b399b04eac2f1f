//! Output: progress lines on stderr, the summary on stdout, and the
//! formatting of counts, rates, durations and sizes.

use std::time::Duration;

use crate::alloc::peak_bytes;
use crate::args::Args;
use crate::measure::{Memory, Outcome, Totals};
use crate::sim::Sim;
use crate::tally::SHARED_CALLBACKS;

pub(crate) fn progress_header(args: &Args, sim: &Sim, setup: Duration) {
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

pub(crate) fn progress_line(tick: u32, ticks: u32, observers: usize, window: &Totals) {
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

pub(crate) fn print_summary(args: &Args, outcome: &Outcome, wall: Duration) {
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
        bytes(peak_bytes()),
    );
}

/// `1234567` as `1,234,567`.
pub(crate) fn grouped(n: u64) -> String {
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
