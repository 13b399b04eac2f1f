//! Untrusted input published raw on the bridge's keys: counted, warned
//! about and dropped, never a panic; sequence gaps and duplicates counted.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use common::{connected, free_port, listening, wait_until};
use observer_manager::ObserverManager;
use observer_manager_zenoh::wire::{self, Header, MessageKind};
use observer_manager_zenoh::{
    Layout, Limits, ProducerId, Subscriber, SubscriberConfig, TRACE_TARGET,
};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use zenoh::Wait;

const LIMIT: Duration = Duration::from_secs(30);

/// Counts `warn` events of the bridge's target (they come from zenoh's
/// threads, so the subscriber is the global one).
struct WarnCounter(Arc<AtomicU64>);

impl<S: tracing::Subscriber> Layer<S> for WarnCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() == tracing::Level::WARN && meta.target() == TRACE_TARGET {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn header(producer: u64, seq: u64) -> Header {
    Header {
        kind: MessageKind::Changes,
        producer: ProducerId(producer),
        tick: seq,
        seq,
        timestamp: SystemTime::now(),
        session: None,
    }
}

#[test]
fn bad_messages_are_counted_warned_and_dropped_and_sequences_checked() {
    let warnings = Arc::new(AtomicU64::new(0));
    let registry = tracing_subscriber::registry().with(WarnCounter(Arc::clone(&warnings)));
    tracing::subscriber::set_global_default(registry).unwrap();

    let port = free_port();
    let layout = Layout::new("untrusted", 4).unwrap();
    let limits = Limits::default()
        .max_changes(100)
        .max_message_bytes(64 * 1024);
    let consumer = listening(port);
    let mut manager = ObserverManager::<u64>::new();
    let owner = manager.owner();
    let name = "x";
    let key = layout.shard_key(layout.shard_of(name));
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    manager
        .observe(name, &owner)
        .callback(move |n| {
            counter.store(*n.new, Ordering::Relaxed);
        })
        .add()
        .unwrap();
    let config = SubscriberConfig::new(layout.clone()).limits(limits);
    let mut subscriber = Subscriber::new(&consumer, &manager, config).unwrap();
    subscriber.sync(&manager).unwrap();

    let attacker = connected(port);
    let raw = attacker.declare_publisher(key.clone()).wait().unwrap();
    assert!(wait_until(LIMIT, || raw
        .matching_status()
        .wait()
        .unwrap()
        .matching()));
    let valid = |seq: u64, value: u64| {
        wire::encode(&header(7, seq), "a", &[(name, value - 1, value)], &limits).unwrap()
    };

    let mut foreign = valid(0, 1);
    foreign[4] = wire::VERSION + 1;
    let message = valid(0, 1);
    let truncated = message[..message.len() - 3].to_vec();
    let garbage: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut huge_count = wire::encode::<u64>(&header(7, 0), "", &[], &limits).unwrap();
    let at = huge_count.len() - 4;
    huge_count[at..].copy_from_slice(&u32::MAX.to_le_bytes());
    let oversized = vec![0u8; 64 * 1024 + 1];
    let bad = [
        foreign,
        truncated,
        garbage,
        huge_count,
        oversized,
        Vec::new(),
    ];
    for payload in &bad {
        raw.put(payload.clone()).wait().unwrap();
    }
    // Valid messages with a gap of two (seq 1 and 2 never sent) and a
    // duplicate: 0, 3, 3, 4.
    for (seq, value) in [(0, 1), (3, 2), (3, 9), (4, 3)] {
        raw.put(valid(seq, value)).wait().unwrap();
    }
    assert!(wait_until(LIMIT, || {
        let s = subscriber.stats();
        s.messages_received + s.duplicates_dropped == 4
    }));
    manager.tick();
    let stats = subscriber.stats();
    assert_eq!(stats.decode_errors, bad.len() as u64, "{stats:?}");
    assert_eq!(stats.messages_received, 3);
    assert_eq!(stats.gaps, 2);
    assert_eq!(stats.duplicates_dropped, 1);
    assert_eq!(stats.changes_queued, 3);
    assert_eq!(
        seen.load(Ordering::Relaxed),
        3,
        "the duplicate's value 9 was not delivered"
    );
    assert!(warnings.load(Ordering::Relaxed) >= bad.len() as u64);
}

#[test]
fn a_layout_mismatch_is_counted_as_misrouted_not_delivered() {
    let port = free_port();
    let layout = Layout::new("mismatch", 4).unwrap();
    let consumer = listening(port);
    let mut manager = ObserverManager::<u64>::new();
    let owner = manager.owner();
    let name = "y";
    manager
        .observe(name, &owner)
        .callback(|_| {})
        .add()
        .unwrap();
    let mut subscriber =
        Subscriber::new(&consumer, &manager, SubscriberConfig::new(layout.clone())).unwrap();
    subscriber.sync(&manager).unwrap();
    let wrong = (layout.shard_of(name) + 1) % layout.shards();
    let wrong_key = layout.shard_key(wrong);
    // Subscribe to the wrong shard too, by watching a name that lives there.
    let there = (0..)
        .map(|i| format!("z{i}"))
        .find(|n| layout.shard_of(n) == wrong)
        .unwrap();
    manager
        .observe(there.as_str(), &owner)
        .callback(|_| {})
        .add()
        .unwrap();
    subscriber.sync(&manager).unwrap();

    let sender = connected(port);
    let raw = sender.declare_publisher(wrong_key).wait().unwrap();
    assert!(wait_until(LIMIT, || raw
        .matching_status()
        .wait()
        .unwrap()
        .matching()));
    let bytes = wire::encode(&header(1, 0), "", &[(name, 0u64, 1u64)], &Limits::default()).unwrap();
    raw.put(bytes).wait().unwrap();
    assert!(wait_until(LIMIT, || subscriber.stats().messages_received == 1));
    let stats = subscriber.stats();
    assert_eq!((stats.changes_misrouted, stats.changes_queued), (1, 0));
}
