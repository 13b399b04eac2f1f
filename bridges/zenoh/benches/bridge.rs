//! Criterion benches of the bridge, by changes per message (1, 64, 1k, 10k).
//!
//! - `b1_wire`: encode and decode one message (no network), the bridge's
//!   own per-change cost.
//! - `b2_loopback`: a `Publisher` and a `Subscriber` attached to a manager,
//!   two zenoh sessions in one process over TCP loopback: one batch
//!   notified, flushed, received, pushed into the inbox and delivered by a
//!   tick, encoding included.
//!
//! Traffic goes to 127.0.0.1 only (multicast and gossip scouting off).
//! Every wait is bounded: a batch that does not arrive within `LIMIT`
//! panics the bench rather than hang it.

use std::hint::black_box;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use observer_manager::ObserverManager;
use observer_manager_zenoh::wire::{self, Header, MessageKind};
use observer_manager_zenoh::{
    Layout, Limits, ProducerId, Publisher, PublisherConfig, Subscriber, SubscriberConfig,
    loopback_config,
};
use zenoh::Wait;

const SIZES: [usize; 4] = [1, 64, 1_000, 10_000];
const LIMIT: Duration = Duration::from_secs(10);

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("cell/{i}")).collect()
}

fn b1_wire(c: &mut Criterion) {
    let mut group = c.benchmark_group("b1_wire");
    let limits = Limits::default();
    let header = Header {
        kind: MessageKind::Changes,
        producer: ProducerId(1),
        tick: 0,
        seq: 0,
        timestamp: SystemTime::now(),
        session: None,
    };
    for size in SIZES {
        let names = names(size);
        let changes: Vec<(&str, u64, u64)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i as u64, i as u64 + 1))
            .collect();
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(
            BenchmarkId::new("encode_decode", size),
            &changes,
            |b, changes| {
                b.iter(|| {
                    let bytes = wire::encode(&header, "bench", changes, &limits).unwrap();
                    black_box(wire::decode::<u64>(&bytes, &limits).unwrap())
                });
            },
        );
    }
    group.finish();
}

fn b2_loopback(c: &mut Criterion) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let consumer = zenoh::open(loopback_config(Some(port), &[]).unwrap())
        .wait()
        .unwrap();
    let producer = zenoh::open(loopback_config(None, &[port]).unwrap())
        .wait()
        .unwrap();
    let layout = Layout::new("bench", 16).unwrap();
    let all = names(*SIZES.iter().max().unwrap());
    let mut manager = ObserverManager::<u64>::new();
    let owner = manager.owner();
    let delivered = Arc::new(AtomicU64::new(0));
    for name in &all {
        let delivered = Arc::clone(&delivered);
        manager
            .observe(name.as_str(), &owner)
            .callback(move |_| {
                delivered.fetch_add(1, Ordering::Relaxed);
            })
            .add()
            .unwrap();
    }
    let mut subscriber =
        Subscriber::new(&consumer, &manager, SubscriberConfig::new(layout.clone())).unwrap();
    subscriber.sync(&manager).unwrap();
    let mut publisher = Publisher::<u64>::new(&producer, PublisherConfig::new(layout)).unwrap();
    let start = Instant::now();
    while publisher.matched_shards().unwrap().len() < 16 {
        assert!(start.elapsed() < LIMIT, "subscribers never matched");
        std::thread::sleep(Duration::from_millis(1));
    }

    let mut group = c.benchmark_group("b2_loopback");
    let mut value = 0u64;
    let mut tick = 0u64;
    for size in SIZES {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(BenchmarkId::new("notify_flush_deliver", size), |b| {
            b.iter(|| {
                let target = delivered.load(Ordering::Relaxed) + size as u64;
                let batch: Vec<(&str, u64, u64)> = all[..size]
                    .iter()
                    .map(|n| (n.as_str(), value, value + 1))
                    .collect();
                value += 1;
                publisher
                    .notify_batch(batch.iter().map(|(n, o, v)| (*n, o, v)))
                    .unwrap();
                publisher.flush(tick).unwrap();
                tick += 1;
                let waited = Instant::now();
                while delivered.load(Ordering::Relaxed) < target {
                    assert!(
                        waited.elapsed() < LIMIT,
                        "batch lost: {:?}",
                        subscriber.stats()
                    );
                    manager.tick();
                }
            });
        });
    }
    group.finish();
    assert_eq!(subscriber.stats().gaps, 0);
}

criterion_group!(benches, b1_wire, b2_loopback);
criterion_main!(benches);
