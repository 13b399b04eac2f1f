//! `store_set/{0,100000}`: one `SessionStore::set` of a variable that 0 or
//! 100 000 observers watch. `set` only enqueues, so the two should cost the
//! same: the target is a ratio of at most 1.05.
//!
//! Timing model (`iter_custom`): the sets are timed in chunks of
//! [`CHUNK`], and after each chunk the manager ticks, outside the timed
//! part, so the inbox never reaches its capacity and every timed `set`
//! takes the ordinary queueing path, never the coalescing one. Each tick
//! delivers every set to every observer, so with 100 000 observers the
//! ticks take nearly all the wall time; criterion budgets by wall time
//! with `iter_custom`, so that case runs fewer, equally long samples.
//!
//! Both cases run the same ticks: the 100 000 observers exist in both, on
//! `VAR` in one case and on another variable in the other, and in the
//! latter that variable changes as often as `VAR` (untimed). So the caches
//! and the allocator see the same work between chunks, and the only
//! difference left is how many observers watch the variable being `set`.
//!
//! Dispatch runs on the tick thread (`parallel_threshold(usize::MAX)`):
//! rayon's workers spin for a while after a parallel tick, on the same two
//! cores the timed loop needs, which would charge the tick to the sets.
//! After the measurement, the callback calls are checked against
//! `sets * observers`. Run with `cargo bench --bench store`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use observer_manager::{Config, Metadata, ObserverManager, SessionId, SessionStore};

/// Sets timed between two draining ticks; well under the inbox capacity.
const CHUNK: u64 = 1_024;
const SESSION: SessionId = SessionId(1);
const VAR: &str = "score";

/// Observers in both cases; `on_var` of them watch `SESSION/VAR`.
const OBSERVERS: usize = 100_000;
/// The variable the other observers watch.
const ELSEWHERE: &str = "elsewhere";

/// A manager with `OBSERVERS` observers that count their calls, `on_var` of
/// them on `SESSION/VAR` and the rest on `ELSEWHERE`, and the store that
/// writes `VAR` (already set once).
fn world(
    on_var: usize,
    calls: &Arc<AtomicU64>,
) -> (ObserverManager<Option<u64>>, SessionStore<u64>) {
    let config = Config::default().parallel_threshold(usize::MAX);
    assert!(CHUNK as usize <= config.capacity());
    let mut manager = ObserverManager::with_config(config).unwrap();
    let store = SessionStore::new(manager.notifier());
    let owner = manager.owner();
    let sink = Arc::clone(calls);
    let callback = manager.register_callback(move |_| {
        sink.fetch_add(1, Ordering::Relaxed);
    });
    let id = store.variable(SESSION, VAR).unwrap();
    for n in 0..OBSERVERS {
        let var = if n < on_var {
            id
        } else {
            manager.variable(ELSEWHERE).unwrap()
        };
        manager.observe(var, &owner).shared(callback).add().unwrap();
    }
    std::mem::forget(owner); // keep the observers alive for the whole bench
    store.set(SESSION, VAR, 0).unwrap(); // interned and inserted: `set` takes the fast path
    manager.tick();
    calls.store(0, Ordering::Relaxed);
    (manager, store)
}

fn store_set(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_set");
    group.sample_size(30);
    group.throughput(Throughput::Elements(1));
    for observers in [0usize, 100_000] {
        let calls = Arc::new(AtomicU64::new(0));
        let (mut manager, store) = world(observers, &calls);
        let mut value = 0u64;
        let mut elsewhere = 0u64;
        group.bench_with_input(
            BenchmarkId::from_parameter(observers),
            &observers,
            |b, _| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let chunk = left.min(CHUNK);
                        let start = Instant::now();
                        for _ in 0..chunk {
                            value += 1; // always a change
                            black_box(store.set(SESSION, VAR, value).unwrap());
                        }
                        timed += start.elapsed();
                        left -= chunk;
                        // Untimed: the same dispatch work in both cases.
                        for _ in 0..chunk * (OBSERVERS - observers) as u64 / OBSERVERS as u64 {
                            elsewhere += 1;
                            let meta = Metadata::new("bench");
                            manager
                                .notify(ELSEWHERE, Some(elsewhere - 1), Some(elsewhere), meta)
                                .unwrap();
                        }
                        black_box(manager.tick()); // drains the inbox
                    }
                    timed
                })
            },
        );
        let expected = (value * observers as u64) + elsewhere * (OBSERVERS - observers) as u64;
        assert_eq!(calls.load(Ordering::Relaxed), expected, "missed calls");
        assert_eq!(manager.stats().changes_coalesced, 0, "the inbox filled up");
    }
    group.finish();
}

criterion_group!(benches, store_set);
criterion_main!(benches);
