//! W4 repeated in one process, as criterion runs it: per iteration, the
//! sweep's time and the minor page faults it took (Linux, from
//! `/proc/self/stat`), for `engine`, `floor` or `hecs` (the `hecs-despawn`
//! reference: nothing but hecs despawns).
//!
//! ```sh
//! cargo run --profile bench -p peers --example w4_faults -- engine
//! ```

use std::time::Instant;

use peers::{Counters, Engine, Floor, Owners, SplitMix64, populate, population};

const VARS: usize = 10_000;
const PER_VAR: usize = 100;
const OWNERS: usize = 10_000;
const ROUNDS: usize = 10;
const ITERATIONS: usize = 6;

/// Minor page faults of this process so far.
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux /proc");
    // The command name, in parentheses, may hold spaces: count from after it.
    let fields = stat.rsplit_once(')').expect("stat format").1;
    let minflt = fields.split_whitespace().nth(7).expect("minflt field");
    minflt.parse().expect("a count")
}

fn kill_order() -> Vec<usize> {
    let mut order: Vec<usize> = (0..OWNERS).collect();
    SplitMix64::new(1).shuffle(&mut order);
    order
}

/// Times `sweep` after `build`, returning milliseconds and page faults.
fn measure<S>(build: impl FnOnce() -> S, sweep: impl FnOnce(&mut S)) -> (f64, u64) {
    let mut subject = build();
    let faults = minor_faults();
    let start = Instant::now();
    sweep(&mut subject);
    let ms = start.elapsed().as_secs_f64() * 1e3;
    (ms, minor_faults() - faults)
}

fn peer<P: Owners>() -> (f64, u64) {
    let counters = Counters::new();
    let order = kill_order();
    measure(
        || {
            let mut peer = P::new(VARS, OWNERS, &counters);
            populate(&mut peer, VARS, PER_VAR, OWNERS, drop);
            peer
        },
        |peer| {
            for round in order.chunks(OWNERS / ROUNDS) {
                round.iter().for_each(|&owner| peer.kill(owner));
                peer.tick();
            }
        },
    )
}

fn hecs_despawn() -> (f64, u64) {
    let order = kill_order();
    measure(
        || {
            let mut world = hecs::World::new();
            let mut owned = vec![Vec::new(); OWNERS];
            for (var, owner) in population(VARS, PER_VAR, OWNERS) {
                owned[owner].push(world.spawn((var as u64,)));
            }
            (world, owned)
        },
        |(world, owned)| {
            for &owner in &order {
                for entity in std::mem::take(&mut owned[owner]) {
                    world.despawn(entity).expect("despawned once");
                }
            }
        },
    )
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "engine".into());
    let run: fn() -> (f64, u64) = match which.as_str() {
        "engine" => peer::<Engine>,
        "floor" => peer::<Floor>,
        "hecs" => hecs_despawn,
        other => panic!("unknown subject {other}: engine, floor or hecs"),
    };
    print!("{which}:");
    for _ in 0..ITERATIONS {
        let (ms, faults) = run();
        print!(" {ms:.1} ms ({faults} faults)");
    }
    println!();
}
