//! Faults at scale: 1M observers over 10k variables, every variable changed
//! each tick, with 10% of the observers panicking on every call.
//!
//! - `w5_panics/none`: no observer panics (the baseline);
//! - `w5_panics/ten_percent`: every tenth observer panics on every call
//!   (the panic hook is silenced so stderr is not the bottleneck);
//! - `w5_panics/ten_percent_quarantined`: the same observers, with
//!   `quarantine_after(Some(1))`; measured after the first tick has
//!   quarantined them, so this is the steady state;
//! - `w5_panics/ten_percent_errors`: every tenth observer's fallible
//!   callback returns `Err` on every call (no unwinding): read against
//!   `none` for the failures-as-values target (within 1.2x);
//! - `w5_panics/ten_percent_ok`: the same observers and callbacks, the
//!   fallible one returning `Ok`: what the two-callback layout costs
//!   before any failure, to read `ten_percent_errors` against;
//! - `w5_panics/unwind_floor`: no engine at all, only the 100k
//!   `catch_unwind(|| panic!(..))` the `ten_percent` tick contains, spread
//!   over rayon's threads: what any Rust engine pays for that many panics,
//!   to read `ten_percent` against.
//!
//! After each measurement the counting callbacks' calls are checked: the
//! other 90% all receive. Run with `cargo bench --bench faults`.

use std::hint::black_box;
use std::panic::catch_unwind;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use observer_manager::{Config, Metadata};
use rayon::prelude::*;

mod common;

use common::{Counters, Fault};

const VARS: usize = 10_000;
const PER_VAR: usize = 100;
const PANIC_EVERY: usize = 10;

/// Panics like the bench's faulty callbacks do; not inlined, so the unwind
/// crosses a real frame as it does out of a callback.
#[inline(never)]
fn fault(i: u64) {
    if black_box(i) != u64::MAX {
        panic!("bench fault");
    }
}

fn w5_panics(c: &mut Criterion) {
    std::panic::set_hook(Box::new(|_| {}));
    let total = (VARS * PER_VAR) as u64;
    let healthy = total - total / PANIC_EVERY as u64;
    let mut group = c.benchmark_group("w5_panics");
    group.sample_size(10);
    group.throughput(Throughput::Elements(total));
    let cases = [
        ("none", None, Fault::Panic, Config::default(), total),
        (
            "ten_percent_ok",
            Some(PANIC_EVERY),
            Fault::Ok,
            Config::default(),
            total,
        ),
        (
            "ten_percent_errors",
            Some(PANIC_EVERY),
            Fault::Error,
            Config::default(),
            healthy,
        ),
        (
            "ten_percent",
            Some(PANIC_EVERY),
            Fault::Panic,
            Config::default(),
            healthy,
        ),
        (
            "ten_percent_quarantined",
            Some(PANIC_EVERY),
            Fault::Panic,
            Config::default().quarantine_after(Some(1)),
            healthy,
        ),
    ];
    for (name, fault_every, fault, config, expected_calls) in cases {
        let counters = Counters::new();
        let (mut manager, ids) =
            common::engine_with_faults(config, VARS, PER_VAR, &counters, fault_every, fault);
        let meta = Metadata::new("bench");
        let mut round = 0u64;
        let mut tick = |round: &mut u64| {
            for &id in &ids {
                manager
                    .notify(id, *round, *round + 1, meta.clone())
                    .unwrap();
            }
            *round += 1;
            manager.tick()
        };
        let first = tick(&mut round); // quarantines the faulty observers where configured
        if fault == Fault::Error {
            assert_eq!(first.callback_errors, total / PANIC_EVERY as u64);
        }
        counters.take();
        let ticks_before = round;
        group.bench_with_input(BenchmarkId::new(name, total), &total, |b, _| {
            b.iter(|| black_box(tick(&mut round)))
        });
        let measured = round - ticks_before;
        assert_eq!(
            counters.take(),
            measured * expected_calls,
            "{name}: lost calls"
        );
    }
    let panics = total / PANIC_EVERY as u64;
    group.bench_with_input(
        BenchmarkId::new("unwind_floor", total),
        &panics,
        |b, &panics| {
            b.iter(|| {
                let caught = (0..panics)
                    .into_par_iter()
                    .filter(|&i| catch_unwind(|| fault(i)).is_err())
                    .count();
                assert_eq!(caught as u64, panics);
            })
        },
    );
    group.finish();
    let _ = std::panic::take_hook();
}

criterion_group!(benches, w5_panics);
criterion_main!(benches);
