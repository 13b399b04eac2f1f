//! The engine's first figures: fan-out of one change, and a dense tick.
//!
//! - `fan_out/{engine,naive}/N`: time of the tick that delivers one change
//!   to the N observers of one variable (N = 10k, 1M).
//! - `dense/{engine,naive}/1000000`: 1M observers over 10k variables, every
//!   variable changed once per tick; throughput is notifications per second.
//! - `report/{notify,notify_many,notify_batch}/10000`: reporting one change
//!   to each of 10k variables (no tick in the timed part), one `notify` per
//!   change against one `notify_many` for all (a metadata clone each) and
//!   one `notify_batch` (one metadata for all); throughput is changes per
//!   second.
//!
//! - `teardown/{all,all_but_one}/1000000`: the tick that sweeps every
//!   owner of 1M observers (the storage dropped whole) against every owner
//!   but one (each leaver unlinked and despawned).
//!
//! (Not `w1_fan_out` and `w2_dense`: those are the `peers` bench's groups,
//! and criterion keeps both under the one `target/criterion`.)
//!
//! `naive` is the hand-written baseline: `HashMap<String, Vec<Box<dyn Fn>>>`
//! calling every callback on one thread. Every callback body is the same: a
//! relaxed store into the calling thread's own cache-padded counter slot.
//! After each measurement the counted calls are checked against the expected
//! notifications. Run with `cargo bench --bench engine`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use observer_manager::{Config, Metadata, ObserverManager, VariableId};

mod common;

use common::Counters;

/// The engine with `per_var` observers on each of `vars` variables.
fn engine(
    vars: usize,
    per_var: usize,
    counters: &Arc<Counters>,
) -> (ObserverManager<u64>, Vec<VariableId>) {
    common::engine(Config::default(), vars, per_var, counters, None)
}

type NaiveCallback = Box<dyn Fn(&str, &u64, &u64) + Send + Sync>;

/// The baseline: callbacks by variable name, all called on one thread.
fn naive(
    vars: usize,
    per_var: usize,
    counters: &Arc<Counters>,
) -> (HashMap<String, Vec<NaiveCallback>>, Vec<String>) {
    let names: Vec<String> = (0..vars).map(|v| format!("var{v}")).collect();
    let mut map: HashMap<String, Vec<NaiveCallback>> = HashMap::new();
    for name in &names {
        let list = map.entry(name.clone()).or_default();
        for _ in 0..per_var {
            let sink = Arc::clone(counters);
            list.push(Box::new(move |_, _, _| sink.bump()));
        }
    }
    (map, names)
}

fn naive_notify(map: &HashMap<String, Vec<NaiveCallback>>, name: &str, old: u64, new: u64) {
    if let Some(list) = map.get(name) {
        for callback in list {
            callback(name, &old, &new);
        }
    }
}

fn w1_fan_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("fan_out");
    group.sample_size(10);
    for &n in &[10_000usize, 1_000_000] {
        group.throughput(Throughput::Elements(n as u64));
        let counters = Counters::new();
        let (mut manager, ids) = engine(1, n, &counters);
        let mut value = 0u64;
        group.bench_with_input(BenchmarkId::new("engine", n), &n, |b, _| {
            b.iter(|| {
                manager
                    .notify(ids[0], value, value + 1, Metadata::new("bench"))
                    .unwrap();
                value += 1;
                black_box(manager.tick())
            })
        });
        assert_eq!(counters.take(), value * n as u64, "engine missed calls");
        drop(manager);

        let (map, names) = naive(1, n, &counters);
        let mut calls = 0;
        group.bench_with_input(BenchmarkId::new("naive", n), &n, |b, _| {
            b.iter(|| {
                naive_notify(&map, &names[0], calls, calls + 1);
                calls += 1;
            })
        });
        assert_eq!(counters.take(), calls * n as u64, "naive missed calls");
    }
    group.finish();
}

fn w2_dense(c: &mut Criterion) {
    const VARS: usize = 10_000;
    const PER_VAR: usize = 100;
    let total = (VARS * PER_VAR) as u64;
    let mut group = c.benchmark_group("dense");
    group.sample_size(10);
    group.throughput(Throughput::Elements(total));

    let counters = Counters::new();
    let (mut manager, ids) = engine(VARS, PER_VAR, &counters);
    let mut round = 0u64;
    group.bench_with_input(BenchmarkId::new("engine", total), &total, |b, _| {
        b.iter(|| {
            for &id in &ids {
                manager
                    .notify(id, round, round + 1, Metadata::new("bench"))
                    .unwrap();
            }
            round += 1;
            black_box(manager.tick())
        })
    });
    assert_eq!(counters.take(), round * total, "engine missed calls");
    drop(manager);

    let (map, names) = naive(VARS, PER_VAR, &counters);
    let mut round = 0u64;
    group.bench_with_input(BenchmarkId::new("naive", total), &total, |b, _| {
        b.iter(|| {
            for name in &names {
                naive_notify(&map, name, round, round + 1);
            }
            round += 1;
        })
    });
    assert_eq!(counters.take(), round * total, "naive missed calls");
    group.finish();
}

/// `report`: the cost of handing a step's changes to the inbox. Each
/// iteration reports 10k changes; the tick that drains them runs outside
/// the timed part.
fn report(c: &mut Criterion) {
    const VARS: usize = 10_000;
    let mut group = c.benchmark_group("report");
    group.throughput(Throughput::Elements(VARS as u64));
    let manager = ObserverManager::<u64>::new();
    let ids: Vec<VariableId> = (0..VARS)
        .map(|v| manager.variable(&format!("var{v}")).unwrap())
        .collect();
    let mut manager = manager;
    let meta = Metadata::new("bench");
    let mut round = 0u64;
    let mut received = 0u64;
    let mut timed = |manager: &mut ObserverManager<u64>,
                     report: &dyn Fn(&ObserverManager<u64>, u64)| {
        let start = Instant::now();
        report(manager, round);
        let elapsed = start.elapsed();
        round += 1;
        received += manager.tick().changes_received;
        elapsed
    };
    group.bench_function(BenchmarkId::new("notify", VARS), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    timed(&mut manager, &|m, r| {
                        for &id in &ids {
                            m.notify(id, r, r + 1, meta.clone()).unwrap();
                        }
                    })
                })
                .sum::<Duration>()
        })
    });
    group.bench_function(BenchmarkId::new("notify_many", VARS), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    timed(&mut manager, &|m, r| {
                        let changes = ids.iter().map(|&id| (id, r, r + 1, meta.clone()));
                        black_box(m.notify_many(changes).unwrap());
                    })
                })
                .sum::<Duration>()
        })
    });
    group.bench_function(BenchmarkId::new("notify_batch", VARS), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    timed(&mut manager, &|m, r| {
                        let changes = ids.iter().map(|&id| (id, r, r + 1));
                        black_box(m.notify_batch(&meta, changes).unwrap());
                    })
                })
                .sum::<Duration>()
        })
    });
    group.finish();
    assert_eq!(received, round * VARS as u64, "a reported change was lost");
}

/// `teardown`: the tick that sweeps the owners of 1M observers (100 each,
/// over 10k variables), built by one bulk add outside the timed part:
/// `all` owners dead (the storage goes whole) against `all_but_one` (every
/// leaver unlinked from its roster and despawned, one owner's 100 staying).
fn teardown(c: &mut Criterion) {
    const VARS: usize = 10_000;
    const OWNERS: usize = 10_000;
    const TOTAL: usize = 1_000_000;
    let mut group = c.benchmark_group("teardown");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sampling_mode(criterion::SamplingMode::Flat)
        .throughput(Throughput::Elements(TOTAL as u64));
    for (name, kept) in [("all", 0), ("all_but_one", 1)] {
        group.bench_function(BenchmarkId::new(name, TOTAL), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let mut manager = ObserverManager::<u64>::new();
                    let callback = manager.register_callback(|_| {});
                    let ids: Vec<VariableId> = (0..VARS)
                        .map(|v| manager.variable(&format!("var{v}")).unwrap())
                        .collect();
                    let mut owners: Vec<_> = (0..OWNERS).map(|_| manager.owner()).collect();
                    let pairs = (0..TOTAL).map(|j| (ids[j % VARS], &owners[j * OWNERS / TOTAL]));
                    manager.add_observers(callback, pairs).unwrap();
                    let survivors: Vec<_> = owners.drain(..kept).collect();
                    drop(owners);
                    let start = Instant::now();
                    let report = black_box(manager.tick());
                    timed += start.elapsed();
                    assert_eq!(
                        report.observers_swept as usize,
                        TOTAL - kept * TOTAL / OWNERS
                    );
                    drop(survivors);
                }
                timed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, w1_fan_out, w2_dense, report, teardown);
criterion_main!(benches);
