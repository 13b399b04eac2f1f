//! End-to-end delivery over TCP loopback: two or more zenoh sessions in one
//! process, exact totals, order per producer, lost producers.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{connected, free_port, listening, wait_matched, wait_until};
use observer_manager::{Config, ObserverManager};
use observer_manager_zenoh::{Layout, Publisher, PublisherConfig, Subscriber, SubscriberConfig};
use zenoh::Wait;

/// Changes in the exact-totals test (shrunk under Miri-like slow tools).
const TOTAL: u64 = if cfg!(miri) { 3_000 } else { 1_000_000 };
const PRODUCERS: u64 = 4;
const VARS_PER_PRODUCER: u64 = 64;
const BATCH: u64 = 1_000;
/// A bound on each wait, so a failure stops instead of hanging.
const LIMIT: Duration = Duration::from_secs(120);

/// Per-variable checks an observer keeps: deliveries, and deliveries whose
/// `old` was not the previous `new` (a loss, duplicate or reordering).
#[derive(Default)]
struct Chain {
    last: AtomicU64,
    delivered: AtomicU64,
    broken: AtomicU64,
}

fn watch_all(
    manager: &mut ObserverManager<u64>,
    names: &[String],
) -> (observer_manager::Owner, Vec<Arc<Chain>>) {
    let owner = manager.owner();
    let chains: Vec<Arc<Chain>> = names.iter().map(|_| Arc::default()).collect();
    for (name, chain) in names.iter().zip(&chains) {
        let chain = Arc::clone(chain);
        manager
            .observe(name.as_str(), &owner)
            .callback(move |n| {
                if chain.last.swap(*n.new, Ordering::Relaxed) != *n.old {
                    chain.broken.fetch_add(1, Ordering::Relaxed);
                }
                chain.delivered.fetch_add(1, Ordering::Relaxed);
            })
            .add()
            .expect("observer");
    }
    (owner, chains)
}

fn names_of(producer: u64) -> Vec<String> {
    (0..VARS_PER_PRODUCER)
        .map(|v| format!("p{producer}/v{v}"))
        .collect()
}

/// Sends `count` changes in batches of `BATCH`, round-robin over the
/// producer's variables; each variable's value goes 0 -> k1 -> k2 ... with
/// `k` the producer's running change number, so a consumer can check each
/// variable's chain.
fn produce(publisher: &mut Publisher<u64>, names: &[String], count: u64) {
    let mut last = vec![0u64; names.len()];
    let mut k = 0u64;
    let mut tick = 0;
    while k < count {
        let n = BATCH.min(count - k);
        let batch: Vec<(usize, u64, u64)> = (0..n)
            .map(|i| {
                let var = ((k + i) % names.len() as u64) as usize;
                let old = last[var];
                last[var] = k + i + 1;
                (var, old, k + i + 1)
            })
            .collect();
        let refs = batch
            .iter()
            .map(|(v, old, new)| (names[*v].as_str(), old, new));
        publisher.notify_batch(refs).expect("buffer");
        publisher.flush(tick).expect("flush");
        tick += 1;
        k += n;
    }
}

#[test]
fn a_million_changes_from_four_producers_arrive_exactly_once_in_order() {
    let port = free_port();
    let layout = Layout::new("totals", 16).unwrap();
    let consumer = listening(port);
    let config = Config::default().inbox_capacity(2 * TOTAL as usize);
    let mut manager = ObserverManager::<u64>::with_config(config).unwrap();
    let all: Vec<String> = (0..PRODUCERS).flat_map(names_of).collect();
    let (_owner, chains) = watch_all(&mut manager, &all);
    let mut subscriber =
        Subscriber::new(&consumer, &manager, SubscriberConfig::new(layout.clone())).unwrap();
    subscriber.sync(&manager).unwrap();
    let shards: Vec<u32> = subscriber.shards().collect();

    let per_producer = TOTAL / PRODUCERS;
    let started = Instant::now();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let layout = layout.clone();
            let shards = shards.clone();
            std::thread::spawn(move || {
                let session = connected(port);
                let mut publisher =
                    Publisher::<u64>::new(&session, PublisherConfig::new(layout)).unwrap();
                wait_matched(&publisher, &shards);
                produce(&mut publisher, &names_of(p), per_producer);
                publisher.stats()
            })
        })
        .collect();

    let delivered = || {
        chains
            .iter()
            .map(|c| c.delivered.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    while delivered() < TOTAL && started.elapsed() < LIMIT {
        subscriber.sync(&manager).unwrap();
        if manager.tick().notifications == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let sent: Vec<_> = producers.into_iter().map(|p| p.join().unwrap()).collect();
    manager.tick();

    let stats = subscriber.stats();
    assert_eq!(sent.iter().map(|s| s.changes_sent).sum::<u64>(), TOTAL);
    assert_eq!(delivered(), TOTAL, "bridge {stats:?}");
    assert_eq!(
        chains
            .iter()
            .map(|c| c.broken.load(Ordering::Relaxed))
            .sum::<u64>(),
        0
    );
    assert_eq!(stats.changes_received, TOTAL);
    assert_eq!(stats.changes_queued, TOTAL);
    assert_eq!(
        (stats.gaps, stats.decode_errors, stats.duplicates_dropped),
        (0, 0, 0)
    );
    assert_eq!(manager.stats().changes_coalesced, 0);
    // Each variable ends at its producer's last change number for it.
    for p in 0..PRODUCERS {
        for (v, chain) in chains[(p * VARS_PER_PRODUCER) as usize..][..VARS_PER_PRODUCER as usize]
            .iter()
            .enumerate()
        {
            let last = (0..per_producer)
                .filter(|k| k % VARS_PER_PRODUCER == v as u64)
                .max()
                .unwrap()
                + 1;
            assert_eq!(chain.last.load(Ordering::Relaxed), last, "p{p}/v{v}");
        }
    }
    eprintln!(
        "{TOTAL} changes from {PRODUCERS} producers in {:?} ({:.1} M changes/s, test profile)",
        started.elapsed(),
        TOTAL as f64 / started.elapsed().as_secs_f64() / 1e6
    );
}

#[test]
fn a_producer_whose_session_closes_is_reported_lost_after_all_its_changes() {
    let port = free_port();
    let layout = Layout::new("closing", 8).unwrap();
    let consumer = listening(port);
    let mut manager = ObserverManager::<u64>::new();
    let names = names_of(0);
    let (_owner, chains) = watch_all(&mut manager, &names);
    let mut subscriber =
        Subscriber::new(&consumer, &manager, SubscriberConfig::new(layout.clone())).unwrap();
    subscriber.sync(&manager).unwrap();
    let shards: Vec<u32> = subscriber.shards().collect();

    let session = connected(port);
    let mut publisher = Publisher::<u64>::new(&session, PublisherConfig::new(layout)).unwrap();
    wait_matched(&publisher, &shards);
    assert!(wait_until(LIMIT, || subscriber.stats().producers_seen == 1));
    const SENT: u64 = 20_000;
    produce(&mut publisher, &names, SENT);
    session.close().wait().unwrap();

    let delivered = || {
        chains
            .iter()
            .map(|c| c.delivered.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let start = Instant::now();
    while (delivered() < SENT || subscriber.stats().producers_lost == 0) && start.elapsed() < LIMIT
    {
        manager.tick();
        std::thread::sleep(Duration::from_millis(1));
    }
    manager.tick();
    let stats = subscriber.stats();
    assert_eq!(stats.producers_lost, 1, "{stats:?}");
    assert_eq!(stats.producers_alive, 0);
    assert_eq!(delivered(), SENT);
    assert_eq!(stats.gaps, 0);
    assert_eq!(
        chains
            .iter()
            .map(|c| c.broken.load(Ordering::Relaxed))
            .sum::<u64>(),
        0
    );
}

#[test]
fn subscriptions_follow_registrations_and_unwatched_names_are_filtered() {
    let port = free_port();
    let layout = Layout::new("follow", 64).unwrap();
    let consumer = listening(port);
    let mut manager = ObserverManager::<u64>::new();
    let owner = manager.owner();
    // Two names on one shard, one on another.
    let watched = "w0".to_owned();
    let home = layout.shard_of(&watched);
    let neighbour = (1..)
        .map(|i| format!("w{i}"))
        .find(|n| layout.shard_of(n) == home)
        .unwrap();
    let elsewhere = (1..)
        .map(|i| format!("e{i}"))
        .find(|n| layout.shard_of(n) != home)
        .unwrap();
    let got = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&got);
    manager
        .observe(watched.as_str(), &owner)
        .callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .add()
        .unwrap();
    let mut subscriber =
        Subscriber::new(&consumer, &manager, SubscriberConfig::new(layout.clone())).unwrap();
    let report = subscriber.sync(&manager).unwrap();
    assert_eq!((report.declared, report.subscribed), (1, 1));
    assert!(
        !subscriber.sync(&manager).unwrap().rescanned,
        "nothing changed"
    );
    assert_eq!(
        subscriber.shards().collect::<BTreeSet<_>>(),
        BTreeSet::from([home])
    );

    let session = connected(port);
    let mut publisher =
        Publisher::<u64>::new(&session, PublisherConfig::new(layout.clone())).unwrap();
    wait_matched(&publisher, &[home]);
    publisher.notify(&watched, &0, &1).unwrap();
    publisher.notify(&neighbour, &0, &1).unwrap();
    publisher.notify(&elsewhere, &0, &1).unwrap();
    publisher.flush(0).unwrap();
    assert!(wait_until(LIMIT, || subscriber.stats().messages_received == 1));
    manager.tick();
    let stats = subscriber.stats();
    assert_eq!(got.load(Ordering::Relaxed), 1);
    assert_eq!(
        (
            stats.changes_received,
            stats.changes_queued,
            stats.changes_filtered
        ),
        (2, 1, 1)
    );

    // Watching `elsewhere` subscribes to its shard; dropping the owner of
    // every observer unsubscribes from all.
    let other = manager.owner();
    manager
        .observe(elsewhere.as_str(), &other)
        .callback(|_| {})
        .add()
        .unwrap();
    let report = subscriber.sync(&manager).unwrap();
    assert_eq!((report.declared, report.subscribed), (1, 2));
    drop((owner, other));
    manager.tick();
    let report = subscriber.sync(&manager).unwrap();
    assert_eq!((report.undeclared, report.subscribed), (2, 0));
    assert!(wait_until(LIMIT, || publisher
        .matched_shards()
        .unwrap()
        .is_empty()));
}

#[test]
fn a_stalled_consumer_stays_bounded_by_coalescing_counted_by_the_manager() {
    const CAPACITY: usize = 1_000;
    const SENT: u64 = 50_000;
    let port = free_port();
    let layout = Layout::new("stalled", 4).unwrap();
    let consumer = listening(port);
    let config = Config::default().inbox_capacity(CAPACITY);
    let mut manager = ObserverManager::<u64>::with_config(config).unwrap();
    let names = names_of(0);
    let (_owner, chains) = watch_all(&mut manager, &names);
    let mut subscriber =
        Subscriber::new(&consumer, &manager, SubscriberConfig::new(layout.clone())).unwrap();
    subscriber.sync(&manager).unwrap();
    let shards: Vec<u32> = subscriber.shards().collect();

    let session = connected(port);
    let mut publisher = Publisher::<u64>::new(&session, PublisherConfig::new(layout)).unwrap();
    wait_matched(&publisher, &shards);
    produce(&mut publisher, &names, SENT);
    // No tick while the changes arrive.
    assert!(wait_until(LIMIT, || subscriber.stats().changes_received == SENT));
    // The core's rule: the inbox holds at most its capacity plus one
    // coalesced change per variable.
    let bound = CAPACITY + VARS_PER_PRODUCER as usize;
    assert!(
        manager.pending_changes() <= bound,
        "{}",
        manager.pending_changes()
    );
    let stats = subscriber.stats();
    assert_eq!(stats.changes_queued + stats.changes_coalesced, SENT);
    assert!(stats.changes_coalesced > 0);
    // The outcome `Coalesced` also counts the change that opens a
    // variable's merged slot; the manager counts only those merged away.
    let merged = manager.stats().changes_coalesced;
    assert!(merged <= stats.changes_coalesced);
    assert!(stats.changes_coalesced - merged <= VARS_PER_PRODUCER);
    manager.tick();
    let after = manager.stats();
    assert_eq!(after.changes_delivered + after.changes_coalesced, SENT);
    // Coalescing keeps the latest value of every variable.
    for (v, chain) in chains.iter().enumerate() {
        let last = (0..SENT)
            .filter(|k| k % VARS_PER_PRODUCER == v as u64)
            .max()
            .unwrap()
            + 1;
        assert_eq!(chain.last.load(Ordering::Relaxed), last);
        assert_eq!(chain.broken.load(Ordering::Relaxed), 0);
    }
}
