//! One workload on one peer, without criterion, for a profiler:
//!
//! ```sh
//! cargo build --profile bench -p peers --example profile
//! valgrind --tool=callgrind --dump-instr=yes \
//!     target/release/examples/profile w2 engine
//! ```
//!
//! Workloads: `w1 N`, `w2`, `w3`, `idle`, `w4` (`w4build`: its set-up
//! alone), `w6add`, `w6bulk`, `w6remove` (the
//! README's, with sizes scaled by an optional last argument `/k`); peers:
//! `floor`, `naive`, `engine`, and `floor-par` for the tick workloads
//! (`w1`, `w2`, `w3`). Each builds, runs a few iterations, and prints the
//! time of the part the bench would time. `PROFILE_TICKS=n` sets the tick
//! workloads' tick count: the difference of two runs' instruction counts
//! over the difference of their ticks is the cost of one tick alone.

use std::time::Instant;

use peers::{
    Churn, Counters, Engine, Floor, FloorPar, Naive, Owners, Peer, SplitMix64, populate, population,
};

/// What the profile run does, after parsing.
#[derive(Debug, Clone, Copy)]
struct Run {
    vars: usize,
    per_var: usize,
    owners: usize,
}

fn ticks<P: Peer>(run: Run, reps: usize, changed: usize) {
    let reps = std::env::var("PROFILE_TICKS")
        .ok()
        .and_then(|ticks| ticks.parse().ok())
        .unwrap_or(reps);
    let counters = Counters::new();
    let mut peer = P::new(run.vars, run.owners, &counters);
    populate(&mut peer, run.vars, run.per_var, run.owners, drop);
    let stride = (run.vars / changed.max(1)).max(1);
    let start = Instant::now();
    for r in 0..reps as u64 {
        peer.notify_all((0..changed).map(|k| (k * stride + r as usize % stride, r, r + 1)));
        peer.tick();
    }
    let calls = counters.take();
    println!("{} ticks: {:?}, {calls} calls", P::NAME, start.elapsed());
}

/// W4's kills and ticks, after building its population; `sweep` false
/// builds only (to subtract the build from an instruction count).
fn sweep<P: Owners>(run: Run, sweep: bool) {
    let counters = Counters::new();
    let mut peer = P::new(run.vars, run.owners, &counters);
    populate(&mut peer, run.vars, run.per_var, run.owners, drop);
    if !sweep {
        println!("{} built {} observers", P::NAME, peer.observers());
        return;
    }
    let mut order: Vec<usize> = (0..run.owners).collect();
    SplitMix64::new(1).shuffle(&mut order);
    let start = Instant::now();
    for round in order.chunks(run.owners.div_ceil(10)) {
        round.iter().for_each(|&o| peer.kill(o));
        peer.tick();
    }
    println!("{} sweep: {:?}", P::NAME, start.elapsed());
}

fn churn<P: Churn>(run: Run, remove: bool) {
    let counters = Counters::new();
    let mut peer = P::new(run.vars, 1, &counters);
    let mut handles = Vec::new();
    let start = Instant::now();
    populate(&mut peer, run.vars, run.per_var, 1, |h| handles.push(h));
    println!("{} adds: {:?}", P::NAME, start.elapsed());
    if remove {
        SplitMix64::new(1).shuffle(&mut handles);
        let start = Instant::now();
        handles.into_iter().for_each(|h| peer.remove(h));
        println!("{} removes: {:?}", P::NAME, start.elapsed());
    }
}

fn bulk_add<P: Churn>(run: Run) {
    let counters = Counters::new();
    let mut peer = P::new(run.vars, 1, &counters);
    let pairs = population(run.vars, run.per_var, 1);
    let start = Instant::now();
    let handles = peer.add_bulk(&pairs);
    println!("{} bulk adds: {:?}", P::NAME, start.elapsed());
    drop(handles);
}

fn dispatch<P: Owners + Churn>(workload: &str, n: usize, scale: usize) {
    let big = Run {
        vars: 10_000 / scale,
        per_var: 100,
        owners: 10_000 / scale,
    };
    match workload {
        "w1" => ticks::<P>(
            Run {
                vars: 1,
                per_var: n,
                owners: 1,
            },
            200,
            1,
        ),
        "w2" => ticks::<P>(big, 20, big.vars),
        "w3" => ticks::<P>(
            Run {
                vars: 100_000 / scale,
                per_var: 10,
                owners: 1,
            },
            2_000,
            100,
        ),
        "idle" => ticks::<P>(
            Run {
                vars: 100_000 / scale,
                per_var: 10,
                owners: 1,
            },
            20_000,
            0,
        ),
        "w4" => sweep::<P>(big, true),
        "w4build" => sweep::<P>(big, false),
        "w6add" => churn::<P>(big, false),
        "w6remove" => churn::<P>(big, true),
        "w6bulk" => bulk_add::<P>(big),
        "systems" => systems(big),
        "idle-each" => idle_each::<P>(Run {
            vars: 100_000 / scale,
            per_var: 10,
            owners: 1,
        }),
        other => panic!("unknown workload {other}"),
    }
}

/// The tick workloads alone, for peers that cannot sweep or churn.
fn tick_only<P: Peer>(workload: &str, n: usize, scale: usize) {
    let big = Run {
        vars: 10_000 / scale,
        per_var: 100,
        owners: 10_000 / scale,
    };
    let w3 = Run {
        vars: 100_000 / scale,
        per_var: 10,
        owners: 1,
    };
    let w1 = Run {
        vars: 1,
        per_var: n,
        owners: 1,
    };
    match workload {
        "w1" => ticks::<P>(w1, 200, 1),
        "w2" => ticks::<P>(big, 20, big.vars),
        "w3" => ticks::<P>(w3, 2_000, 100),
        other => panic!("{other} needs a peer that sweeps and churns"),
    }
}

/// W3's idle tick, each of 5,000 timed alone: the median shows the plain
/// tick, the mean adds whatever runs every so many ticks.
fn idle_each<P: Peer>(run: Run) {
    let counters = Counters::new();
    let mut peer = P::new(run.vars, run.owners, &counters);
    populate(&mut peer, run.vars, run.per_var, run.owners, drop);
    let mut times: Vec<std::time::Duration> = (0..5_000)
        .map(|_| {
            let start = Instant::now();
            peer.tick();
            start.elapsed()
        })
        .collect();
    let mean = times.iter().sum::<std::time::Duration>() / times.len() as u32;
    times.sort();
    let (median, max) = (times[times.len() / 2], times[times.len() - 1]);
    println!(
        "{} idle ticks: median {median:?}, mean {mean:?}, max {max:?}",
        P::NAME
    );
}

/// W2 on the engine, with the tick's own per-system timings.
fn systems(run: Run) {
    let counters = Counters::new();
    let mut engine = Engine::new(run.vars, 1, &counters);
    populate(&mut engine, run.vars, run.per_var, 1, drop);
    for r in 0..10u64 {
        let start = Instant::now();
        engine.notify_all((0..run.vars).map(|var| (var, r, r + 1)));
        let notified = start.elapsed();
        let report = engine.tick_report();
        println!("notify {notified:?}, tick {:?}", report.timings);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workload = args.first().map_or("w2", String::as_str);
    let peer = args.get(1).map_or("engine", String::as_str);
    let number =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (n, scale) = if workload == "w1" {
        (number(2, 10_000), 1)
    } else {
        (0, number(2, 1))
    };
    match peer {
        "floor" => dispatch::<Floor>(workload, n, scale),
        "naive" => dispatch::<Naive>(workload, n, scale),
        "engine" => dispatch::<Engine>(workload, n, scale),
        "floor-par" => tick_only::<FloorPar>(workload, n, scale),
        other => panic!("unknown peer {other}"),
    }
}
