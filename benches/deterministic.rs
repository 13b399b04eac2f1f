//! What deterministic mode costs: the dense workload (1M observers over 10k
//! variables, every variable changed each tick) dispatched in parallel and
//! in deterministic mode. Run with `cargo bench --bench deterministic`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use observer_manager::{Config, Metadata};

mod common;

use common::Counters;

const VARS: usize = 10_000;
const PER_VAR: usize = 100;

fn deterministic(c: &mut Criterion) {
    let total = (VARS * PER_VAR) as u64;
    let mut group = c.benchmark_group("deterministic");
    group.sample_size(10);
    group.throughput(Throughput::Elements(total));
    for (name, on) in [("parallel", false), ("deterministic", true)] {
        let counters = Counters::new();
        let config = Config::default().deterministic(on);
        let (mut manager, ids) = common::engine(config, VARS, PER_VAR, &counters, None);
        let meta = Metadata::new("bench");
        let mut round = 0u64;
        group.bench_with_input(BenchmarkId::new(name, total), &total, |b, _| {
            b.iter(|| {
                for &id in &ids {
                    manager.notify(id, round, round + 1, meta.clone()).unwrap();
                }
                round += 1;
                black_box(manager.tick())
            })
        });
        assert_eq!(counters.take(), round * total, "{name}: lost calls");
    }
    group.finish();
}

criterion_group!(benches, deterministic);
criterion_main!(benches);
