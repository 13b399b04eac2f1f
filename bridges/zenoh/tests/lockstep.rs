//! Lockstep delivery: two producers, one consumer; two runs with different
//! timing give identical callback sequences; an incomplete tick times out.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{connected, free_port, listening, wait_matched, wait_until};
use observer_manager::{Config, ObserverManager};
use observer_manager_zenoh::{
    Layout, LockstepError, ProducerId, Publisher, PublisherConfig, Subscriber, SubscriberConfig,
};

const TICKS: u64 = 30;
const VARS: u64 = 12;
const LIMIT: Duration = Duration::from_secs(30);

fn layout() -> Layout {
    Layout::new("lockstep", 4).unwrap()
}

/// Every variable, of both producers; both write to the shared `s*`.
fn names() -> Vec<String> {
    let mut names: Vec<String> = (0..VARS).map(|v| format!("s{v}")).collect();
    names.extend((1..=2).flat_map(|p| (0..VARS).map(move |v| format!("p{p}/v{v}"))));
    names
}

/// A fixed-seed generator (xorshift64).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Producer `p` (1 or 2): `TICKS` ticks of seeded changes, each flushed;
/// `jitter` sleeps between ticks to vary the timing between runs.
fn produce(port: u16, p: u64, shards: Vec<u32>, jitter: u64, done: Arc<AtomicBool>) {
    let session = connected(port);
    let config = PublisherConfig::new(layout())
        .lockstep(true)
        .producer(ProducerId(p))
        .source(format!("p{p}"));
    let mut publisher = Publisher::<u64>::new(&session, config).unwrap();
    wait_matched(&publisher, &shards);
    let mut seed = 0x5eed_0000 + p;
    let mut values = std::collections::HashMap::<String, u64>::new();
    for tick in 0..TICKS {
        for _ in 0..1 + next(&mut seed) % 8 {
            let v = next(&mut seed) % VARS;
            let name = if next(&mut seed).is_multiple_of(2) {
                format!("s{v}")
            } else {
                format!("p{p}/v{v}")
            };
            let old = values.get(&name).copied().unwrap_or(0);
            let new = old + 1 + next(&mut seed) % 100;
            values.insert(name.clone(), new);
            publisher.notify(&name, &old, &new).unwrap();
        }
        publisher.flush(tick).unwrap();
        std::thread::sleep(Duration::from_micros(jitter * (next(&mut seed) % 500)));
    }
    // Stay alive until the consumer has everything: a lost producer is no
    // longer waited for, which this test does not exercise.
    wait_until(LIMIT, || done.load(Ordering::Relaxed));
}

/// One run; returns the callback sequence `(observer, name, old, new, source)`.
fn run(jitter: [u64; 2]) -> Vec<(usize, String, u64, u64, String)> {
    let port = free_port();
    let consumer = listening(port);
    let mut manager =
        ObserverManager::<u64>::with_config(Config::default().deterministic(true)).unwrap();
    let owner = manager.owner();
    let calls = Arc::new(Mutex::new(Vec::new()));
    for (i, name) in names().iter().enumerate() {
        for o in 0..2 {
            let calls = Arc::clone(&calls);
            manager
                .observe(name.as_str(), &owner)
                .callback(move |n| {
                    let call = (
                        2 * i + o,
                        n.name.to_owned(),
                        *n.old,
                        *n.new,
                        n.metadata.source.to_string(),
                    );
                    calls.lock().unwrap().push(call);
                })
                .add()
                .unwrap();
        }
    }
    let config = SubscriberConfig::new(layout()).lockstep(true);
    let mut subscriber = Subscriber::new(&consumer, &manager, config).unwrap();
    subscriber.sync(&manager).unwrap();
    let shards: Vec<u32> = subscriber.shards().collect();
    let done = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (1..=2)
        .map(|p| {
            let shards = shards.clone();
            let done = Arc::clone(&done);
            let jitter = jitter[p as usize - 1];
            std::thread::spawn(move || produce(port, p, shards, jitter, done))
        })
        .collect();
    assert!(wait_until(LIMIT, || subscriber.stats().producers_alive == 2));
    for tick in 0..TICKS {
        let report = subscriber.deliver_tick(tick, LIMIT).unwrap();
        assert_eq!(report.producers, 2);
        manager.tick();
    }
    done.store(true, Ordering::Relaxed);
    for p in producers {
        p.join().unwrap();
    }
    let stats = subscriber.stats();
    assert_eq!(
        (stats.gaps, stats.decode_errors, stats.lockstep_dropped),
        (0, 0, 0)
    );
    calls.lock().unwrap().clone()
}

#[test]
fn two_runs_with_different_timing_call_back_in_the_same_order() {
    let first = run([1, 0]);
    let second = run([0, 1]);
    assert!(first.len() > 2 * TICKS as usize, "{} calls", first.len());
    assert!(first.iter().any(|c| c.4 == "p1") && first.iter().any(|c| c.4 == "p2"));
    assert_eq!(first, second);
}

#[test]
fn an_incomplete_tick_times_out_and_keeps_what_is_held() {
    let port = free_port();
    let consumer = listening(port);
    let mut manager = ObserverManager::<u64>::new();
    let owner = manager.owner();
    manager
        .observe("s0", &owner)
        .callback(|_| {})
        .add()
        .unwrap();
    let config = SubscriberConfig::new(layout()).lockstep(true);
    let mut subscriber = Subscriber::new(&consumer, &manager, config).unwrap();
    subscriber.sync(&manager).unwrap();
    let shards: Vec<u32> = subscriber.shards().collect();

    let session = connected(port);
    let config = PublisherConfig::new(layout()).lockstep(true);
    let mut publisher = Publisher::<u64>::new(&session, config).unwrap();
    wait_matched(&publisher, &shards);
    assert!(wait_until(LIMIT, || subscriber.stats().producers_alive == 1));
    publisher.notify("s0", &0, &1).unwrap();
    publisher.flush(0).unwrap();
    let report = subscriber.deliver_tick(0, LIMIT).unwrap();
    assert_eq!((report.messages, report.changes.queued), (1, 1));
    // Tick 1: a change sent, but the tick not flushed yet: only the
    // early-sent message is there, so the tick is incomplete.
    let config = PublisherConfig::new(layout())
        .lockstep(true)
        .max_buffered_changes(1);
    let mut early = Publisher::<u64>::new(&session, config).unwrap();
    early.notify("s0", &1, &2).unwrap(); // sent at once by the bound
    assert!(wait_until(LIMIT, || subscriber.stats().producers_alive == 2));
    let err = subscriber
        .deliver_tick(1, Duration::from_millis(50))
        .unwrap_err();
    let LockstepError::Timeout {
        tick, waiting_for, ..
    } = err
    else {
        panic!("expected a timeout, got {err:?}");
    };
    assert_eq!(tick, 1);
    assert_eq!(waiting_for.len(), 2, "neither producer finished tick 1");
    publisher.flush(1).unwrap();
    early.flush(1).unwrap();
    let report = subscriber.deliver_tick(1, LIMIT).unwrap();
    assert_eq!(
        report.changes.queued, 1,
        "the held change was kept for this call"
    );
    assert_eq!(manager.tick().notifications, 2);

    let plain = Subscriber::new(&consumer, &manager, SubscriberConfig::new(layout())).unwrap();
    assert!(matches!(
        plain.deliver_tick(0, LIMIT),
        Err(LockstepError::NotEnabled)
    ));
}
