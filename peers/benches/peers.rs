//! The timed workloads W1–W6, one criterion group each, every peer side by
//! side. Workloads are defined in `peers/README.md`; `cargo bench -p peers`
//! runs this and the M1 table, `cargo run --release -p peers --bin report`
//! writes `docs/peers.md` and `docs/peers.svg` from the results.
//!
//! Every peer is built outside the timed part. The tick workloads (W1–W3)
//! build once and time batches of ticks with `iter_custom`, checking after
//! each batch that the callbacks counted exactly the notifications due; the
//! one-shot workloads (W4, W6) build a fresh peer per iteration and time
//! only the kills, adds or removes.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
};
use peers::{
    Bevy, Churn, Counters, Engine, Floor, FloorPar, Naive, NaiveRayon, Owners, Peer, SplitMix64,
    TokioWatch, populate, population,
};

/// W1 fan-out sizes: observers of the one variable.
const W1_SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];
/// `tokio-watch` runs W1 up to this size: past it a tick wakes a task per
/// observer for a second or more, and the bench budget goes to one peer.
const W1_TOKIO_MAX: usize = 100_000;
/// W2: every variable changes once per tick.
const W2_VARS: usize = 10_000;
const W2_PER_VAR: usize = 100;
/// W2 for `tokio-watch`, scaled down: a tenth of the variables.
const W2_TOKIO_VARS: usize = 1_000;
/// W3: many variables, a few change per tick.
const W3_VARS: usize = 100_000;
const W3_PER_VAR: usize = 10;
const W3_CHANGED: usize = 100;
/// W4 and W6: a million observers over ten thousand variables.
const BIG_VARS: usize = 10_000;
const BIG_PER_VAR: usize = 100;
/// W4: owners, and the rounds that kill a tenth of them each.
const W4_OWNERS: usize = 10_000;
const W4_ROUNDS: usize = 10;
/// The seed of every shuffle.
const SEED: u64 = 0x0B5E_47E7;

/// With `PEERS_QUICK` set, every bench runs briefly: a smoke test of the
/// harness, not a measurement.
fn quick(group: &mut BenchmarkGroup<'_, WallTime>) -> bool {
    let quick = std::env::var_os("PEERS_QUICK").is_some();
    if quick {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(100))
            .measurement_time(Duration::from_millis(300))
            .sampling_mode(SamplingMode::Flat);
    }
    quick
}

/// Settings for workloads whose tick or set-up takes milliseconds or more.
fn heavy(group: &mut BenchmarkGroup<'_, WallTime>) {
    if quick(group) {
        return;
    }
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sampling_mode(SamplingMode::Flat);
}

/// Settings for ticks of microseconds.
fn light(group: &mut BenchmarkGroup<'_, WallTime>) {
    if quick(group) {
        return;
    }
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
}

/// Times batches of ticks of an already built peer. Before each tick,
/// `change(peer, round)` reports that tick's changes; after each batch the
/// counted calls must equal `expected` per tick.
fn bench_ticks<P: Peer>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    peer: &mut P,
    counters: &Counters,
    expected: u64,
    mut change: impl FnMut(&mut P, u64),
) {
    let mut round = 0u64;
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                change(peer, round);
                round += 1;
                peer.tick();
            }
            let elapsed = start.elapsed();
            let calls = counters.take();
            assert_eq!(calls, iters * expected, "{} missed calls", P::NAME);
            elapsed
        })
    });
}

/// A peer with `per_var` observers on each of `vars` variables, one owner.
fn built<P: Peer>(vars: usize, per_var: usize) -> (P, Arc<Counters>) {
    let counters = Counters::new();
    let mut peer = P::new(vars, 1, &counters);
    populate(&mut peer, vars, per_var, 1, drop);
    (peer, counters)
}

/// W1: one variable, `n` observers; the tick that delivers one change.
fn fan_out<P: Peer>(c: &mut Criterion, n: usize) {
    const GROUP: &str = "w1_fan_out";
    if !filter::wants(GROUP, P::NAME, n) {
        return;
    }
    let (mut peer, counters) = built::<P>(1, n);
    let mut group = c.benchmark_group(GROUP);
    if n >= 100_000 {
        heavy(&mut group)
    } else {
        light(&mut group)
    }
    group.throughput(Throughput::Elements(n as u64));
    let id = BenchmarkId::new(P::NAME, n);
    bench_ticks(&mut group, id, &mut peer, &counters, n as u64, |p, r| {
        p.notify(0, r, r + 1)
    });
    group.finish();
}

fn w1_fan_out(c: &mut Criterion) {
    for n in W1_SIZES {
        fan_out::<Floor>(c, n);
        fan_out::<FloorPar>(c, n);
        fan_out::<Naive>(c, n);
        fan_out::<NaiveRayon>(c, n);
        if n <= W1_TOKIO_MAX {
            fan_out::<TokioWatch>(c, n);
        }
        fan_out::<Bevy>(c, n);
        fan_out::<Engine>(c, n);
    }
}

/// W2: `vars` variables with `per_var` observers each, every variable
/// changed once per tick.
fn dense<P: Peer>(c: &mut Criterion, vars: usize, per_var: usize) {
    const GROUP: &str = "w2_dense";
    let total = vars * per_var;
    if !filter::wants(GROUP, P::NAME, total) {
        return;
    }
    let (mut peer, counters) = built::<P>(vars, per_var);
    let mut group = c.benchmark_group(GROUP);
    heavy(&mut group);
    group.throughput(Throughput::Elements(total as u64));
    let id = BenchmarkId::new(P::NAME, total);
    bench_ticks(
        &mut group,
        id,
        &mut peer,
        &counters,
        total as u64,
        |p, r| {
            p.notify_all((0..vars).map(|var| (var, r, r + 1)));
        },
    );
    group.finish();
}

fn w2_dense(c: &mut Criterion) {
    dense::<Floor>(c, W2_VARS, W2_PER_VAR);
    dense::<FloorPar>(c, W2_VARS, W2_PER_VAR);
    dense::<Naive>(c, W2_VARS, W2_PER_VAR);
    dense::<NaiveRayon>(c, W2_VARS, W2_PER_VAR);
    dense::<TokioWatch>(c, W2_TOKIO_VARS, W2_PER_VAR);
    dense::<Bevy>(c, W2_VARS, W2_PER_VAR);
    dense::<Engine>(c, W2_VARS, W2_PER_VAR);
}

/// W3: 100k variables with 10 observers each; a tick where `W3_CHANGED`
/// variables change (spread over the range, different ones each tick), and
/// an idle tick (the same peer, nothing changed).
fn sparse<P: Peer>(c: &mut Criterion) {
    const SPARSE: &str = "w3_sparse_tick";
    const IDLE: &str = "w3_idle_tick";
    let total = W3_VARS * W3_PER_VAR;
    let (wants_sparse, wants_idle) = (
        filter::wants(SPARSE, P::NAME, W3_CHANGED),
        filter::wants(IDLE, P::NAME, total),
    );
    if !wants_sparse && !wants_idle {
        return;
    }
    let (mut peer, counters) = built::<P>(W3_VARS, W3_PER_VAR);
    if wants_sparse {
        let mut group = c.benchmark_group(SPARSE);
        light(&mut group);
        let expected = (W3_CHANGED * W3_PER_VAR) as u64;
        group.throughput(Throughput::Elements(expected));
        let id = BenchmarkId::new(P::NAME, W3_CHANGED);
        let stride = W3_VARS / W3_CHANGED;
        bench_ticks(&mut group, id, &mut peer, &counters, expected, |p, r| {
            let changed = (0..W3_CHANGED).map(|k| (k * stride + (r as usize % stride), r, r + 1));
            p.notify_all(changed);
        });
        group.finish();
    }
    if wants_idle {
        let mut group = c.benchmark_group(IDLE);
        light(&mut group);
        let id = BenchmarkId::new(P::NAME, total);
        bench_ticks(&mut group, id, &mut peer, &counters, 0, |_, _| {});
        group.finish();
    }
}

fn w3_sparse_tick(c: &mut Criterion) {
    sparse::<Floor>(c);
    sparse::<FloorPar>(c);
    sparse::<Naive>(c);
    sparse::<NaiveRayon>(c);
    sparse::<Bevy>(c);
    sparse::<Engine>(c);
}

/// W4: 1M observers of 10k owners; kill a tenth of the owners (a fixed
/// shuffled order), tick, and repeat until none is left. Timed: the kills
/// and the ticks; the build and the final drop are not.
fn owner_sweep<P: Owners>(c: &mut Criterion) {
    let order = kill_order();
    time_once(
        c,
        W4_GROUP,
        P::NAME,
        || {
            let counters = Counters::new();
            let mut peer = P::new(BIG_VARS, W4_OWNERS, &counters);
            populate(&mut peer, BIG_VARS, BIG_PER_VAR, W4_OWNERS, drop);
            peer
        },
        |peer| {
            for round in order.chunks(W4_OWNERS / W4_ROUNDS) {
                for &owner in round {
                    peer.kill(owner);
                }
                peer.tick();
            }
        },
        |peer| assert_eq!(peer.observers(), 0, "{} kept observers", P::NAME),
    );
}

/// W4's references, `hecs-despawn`: one hecs entity per observer with a
/// row the size of the engine's (`Liveness`, 8 bytes), each owner's list of
/// entities, and per dead owner nothing but `World::despawn` of each; no
/// rosters to leave and nothing to deliver, so not a peer (it has no column
/// in the report). It is the share of the engine's sweep that observers
/// being hecs entities fixes; the rest is leaving the rosters.
///
/// `hecs-despawn-grown` is the same with hecs's free list grown in advance
/// (as many entities spawned and despawned before the population is), so
/// that its despawns touch no memory the world has not touched before: the
/// difference is what the free list's growth costs, page faults included.
fn owner_sweep_hecs_despawn(c: &mut Criterion, name: &str, grow_free_list: bool) {
    let pairs = population(BIG_VARS, BIG_PER_VAR, W4_OWNERS);
    let order = kill_order();
    time_once(
        c,
        W4_GROUP,
        name,
        || {
            let mut world = hecs::World::new();
            if grow_free_list {
                let spares: Vec<_> = (0..pairs.len()).map(|_| world.spawn((0u64,))).collect();
                // In reverse, so the population takes the ids in order.
                for entity in spares.into_iter().rev() {
                    world.despawn(entity).expect("spawned above");
                }
            }
            let mut owned = vec![Vec::new(); W4_OWNERS];
            for &(var, owner) in &pairs {
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
        |(world, _)| assert!(world.is_empty(), "{name} kept entities"),
    );
}

/// W4's group.
const W4_GROUP: &str = "w4_owner_sweep";

/// The owners in the order W4 kills them: a fixed shuffle.
fn kill_order() -> Vec<usize> {
    let mut order: Vec<usize> = (0..W4_OWNERS).collect();
    SplitMix64::new(SEED).shuffle(&mut order);
    order
}

/// A one-shot workload (W4, W6) as `group/name/1000000`: per iteration,
/// `build` a subject (untimed), `run` it (timed), `check` it (untimed)
/// and drop it (untimed).
fn time_once<S>(
    c: &mut Criterion,
    group: &str,
    name: &str,
    build: impl Fn() -> S,
    run: impl Fn(&mut S),
    check: impl Fn(&mut S),
) {
    let total = BIG_VARS * BIG_PER_VAR;
    if !filter::wants(group, name, total) {
        return;
    }
    let mut group = c.benchmark_group(group);
    heavy(&mut group);
    group.throughput(Throughput::Elements(total as u64));
    group.bench_function(BenchmarkId::new(name, total), |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let mut subject = build();
                let start = Instant::now();
                run(&mut subject);
                timed += start.elapsed();
                check(&mut subject);
                drop(subject);
            }
            timed
        })
    });
    group.finish();
}

fn w4_owner_sweep(c: &mut Criterion) {
    owner_sweep::<Floor>(c);
    owner_sweep_hecs_despawn(c, "hecs-despawn", false);
    owner_sweep_hecs_despawn(c, "hecs-despawn-grown", true);
    owner_sweep::<Naive>(c);
    owner_sweep::<Bevy>(c);
    owner_sweep::<Engine>(c);
}

/// W6: add 1M observers over 10k variables one call at a time into an
/// empty peer (`w6_add`) or in one call (`w6_add_bulk`; peers without a
/// batch API loop), then remove them in a fixed shuffled order, one call
/// at a time (`w6_remove`) or in one call (`w6_remove_bulk`; peers without
/// a batch API loop). Timed: the adds, or the removes.
fn churn<P: Churn>(c: &mut Criterion) {
    time_adds::<P>(c, "w6_add", |peer| {
        populate(peer, BIG_VARS, BIG_PER_VAR, 1, |h| {
            black_box(h);
        });
    });
    let pairs = population(BIG_VARS, BIG_PER_VAR, 1);
    time_adds::<P>(c, "w6_add_bulk", |peer| {
        black_box(peer.add_bulk(&pairs));
    });
    time_removes::<P>(c, "w6_remove", |peer, handles| {
        for handle in handles {
            peer.remove(handle);
        }
    });
    time_removes::<P>(c, "w6_remove_bulk", |peer, handles| {
        peer.remove_bulk(handles)
    });
}

/// A W6 remove group: `remove` empties a peer of the 1M observers, given
/// their handles in a fixed shuffled order; timed.
fn time_removes<P: Churn>(c: &mut Criterion, name: &str, remove: impl Fn(&mut P, Vec<P::Handle>)) {
    let total = BIG_VARS * BIG_PER_VAR;
    time_once(
        c,
        name,
        P::NAME,
        || {
            let counters = Counters::new();
            let mut peer = P::new(BIG_VARS, 1, &counters);
            let mut handles = Vec::with_capacity(total);
            populate(&mut peer, BIG_VARS, BIG_PER_VAR, 1, |h| handles.push(h));
            SplitMix64::new(SEED).shuffle(&mut handles);
            (peer, handles)
        },
        |(peer, handles)| remove(peer, std::mem::take(handles)),
        |(peer, _)| assert_eq!(peer.observers(), 0, "{} kept observers", P::NAME),
    );
}

/// A W6 add group: `add` fills an empty peer with the 1M observers; timed.
fn time_adds<P: Churn>(c: &mut Criterion, name: &str, add: impl Fn(&mut P)) {
    let total = BIG_VARS * BIG_PER_VAR;
    time_once(
        c,
        name,
        P::NAME,
        || P::new(BIG_VARS, 1, &Counters::new()),
        add,
        |peer| assert_eq!(peer.observers(), total, "{} lost adds", P::NAME),
    );
}

fn w6_churn(c: &mut Criterion) {
    churn::<Floor>(c);
    churn::<Naive>(c);
    churn::<Bevy>(c);
    churn::<Engine>(c);
}

/// Skips building peers whose benchmarks the command line filters out
/// (building a million observers costs seconds even when nothing runs).
mod filter {
    use std::sync::OnceLock;

    /// Criterion options that take a value (so that value is no filter).
    const VALUED: [&str; 16] = [
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--measurement-time",
        "--warm-up-time",
        "--sample-size",
        "--profile-time",
        "--output-format",
        "--color",
        "--plotting-backend",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--nresamples",
        "--format",
    ];

    /// The filter argument, if any.
    fn filter() -> Option<&'static str> {
        static FILTER: OnceLock<Option<String>> = OnceLock::new();
        FILTER
            .get_or_init(|| {
                let mut args = std::env::args().skip(1);
                while let Some(arg) = args.next() {
                    if VALUED.contains(&arg.as_str()) {
                        args.next();
                    } else if !arg.starts_with('-') {
                        return Some(arg);
                    }
                }
                None
            })
            .as_deref()
    }

    /// Whether `group/peer/size` may run. A filter with regex syntax is
    /// not interpreted here: everything is built and criterion decides.
    pub(crate) fn wants(group: &str, peer: &str, size: usize) -> bool {
        match filter() {
            None => true,
            Some(f) if f.contains(|c: char| "^$.*+?()[]{}|\\".contains(c)) => true,
            Some(f) => format!("{group}/{peer}/{size}").contains(f),
        }
    }
}

/// Appends `/proc/loadavg` to `target/peers/load.txt` (a fresh file at
/// `start`): the machine is shared, and the report says how busy it was.
fn record_load(when: &str) {
    let path = peers::target_dir().join("peers").join("load.txt");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let previous = match when {
        "start" => String::new(),
        _ => std::fs::read_to_string(&path).unwrap_or_default(),
    };
    let _ = std::fs::create_dir_all(path.parent().expect("has a parent"));
    let _ = std::fs::write(&path, format!("{previous}{when}\t{}\n", load.trim()));
}

/// Writes which engine this run built to `peers::source_path()`, or removes
/// a stale record when that cannot be told (the report then asks git).
fn record_source() {
    let path = peers::source_path();
    let _ = match peers::engine_source() {
        Some(source) => std::fs::write(&path, source),
        None => std::fs::remove_file(&path),
    };
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = w1_fan_out, w2_dense, w3_sparse_tick, w4_owner_sweep, w6_churn
}

// `criterion_main!`, with the load recorded before and after.
fn main() {
    record_load("start");
    record_source();
    benches();
    Criterion::default().configure_from_args().final_summary();
    record_load("end");
}
