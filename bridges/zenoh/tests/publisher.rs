//! The publisher's buffer bound, overflow policies and refusals, on an
//! isolated session (no listener, no peer: puts go nowhere).

use observer_manager_zenoh::{
    EncodeError, Layout, Limits, Overflow, PublishCounts, PublishError, Publisher, PublisherConfig,
    loopback_config,
};
use zenoh::{Session, Wait};

fn isolated() -> Session {
    zenoh::open(loopback_config(None, &[]).unwrap())
        .wait()
        .unwrap()
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("v{i}")).collect()
}

#[test]
fn drop_batch_drops_whole_batches_past_the_bound_and_counts_them() {
    let session = isolated();
    let config = PublisherConfig::new(Layout::new("bound", 4).unwrap())
        .max_buffered_changes(10)
        .overflow(Overflow::DropBatch);
    let mut publisher = Publisher::<u32>::new(&session, config).unwrap();
    let names = names(20);
    let batch = |range: std::ops::Range<usize>| -> Vec<(&str, u32, u32)> {
        range.map(|i| (names[i].as_str(), 0, 1)).collect()
    };
    let first = batch(0..8);
    let counts = publisher
        .notify_batch(first.iter().map(|(n, o, v)| (*n, o, v)))
        .unwrap();
    assert_eq!(
        counts,
        PublishCounts {
            buffered: 8,
            unchanged: 0,
            dropped: 0
        }
    );
    let second = batch(8..13);
    let counts = publisher
        .notify_batch(second.iter().map(|(n, o, v)| (*n, o, v)))
        .unwrap();
    assert_eq!(
        counts,
        PublishCounts {
            buffered: 0,
            unchanged: 0,
            dropped: 5
        }
    );
    let stats = publisher.stats();
    assert_eq!(
        (
            stats.batches_dropped,
            stats.changes_dropped,
            stats.changes_pending
        ),
        (1, 5, 8)
    );
    assert_eq!(stats.messages_sent, 0, "dropping never sends");
    let report = publisher.flush(1).unwrap();
    assert_eq!(report.changes, 8);
    assert!(report.messages >= 1 && report.messages <= 4);
    assert_eq!(publisher.stats().changes_pending, 0);
}

#[test]
fn flush_early_sends_when_the_bound_is_reached_and_loses_nothing() {
    let session = isolated();
    let config = PublisherConfig::new(Layout::new("early", 4).unwrap()).max_buffered_changes(10);
    let mut publisher = Publisher::<u32>::new(&session, config).unwrap();
    for (i, name) in names(25).iter().enumerate() {
        publisher
            .notify(name, &(i as u32), &(i as u32 + 1))
            .unwrap();
    }
    let stats = publisher.stats();
    assert_eq!(stats.early_sends, 2);
    assert_eq!(stats.changes_sent, 20);
    assert_eq!(stats.changes_pending, 5);
    publisher.flush(0).unwrap();
    let stats = publisher.stats();
    assert_eq!((stats.changes_sent, stats.changes_dropped), (25, 0));
    assert_eq!(
        stats.changes_offered,
        stats.changes_buffered + stats.changes_unchanged + stats.changes_dropped
    );
}

#[test]
fn messages_split_at_the_per_message_limits() {
    let session = isolated();
    let limits = Limits::default().max_changes(3);
    let config = PublisherConfig::new(Layout::new("split", 1).unwrap()).limits(limits);
    let mut publisher = Publisher::<u32>::new(&session, config).unwrap();
    for name in names(7) {
        publisher.notify(&name, &0, &1).unwrap();
    }
    assert_eq!(publisher.stats().messages_sent, 2, "two full messages of 3");
    assert_eq!(publisher.flush(0).unwrap().changes, 1);

    let limits = Limits::default().max_message_bytes(200);
    let config = PublisherConfig::new(Layout::new("bytes", 1).unwrap()).limits(limits);
    let mut publisher = Publisher::<Vec<u8>>::new(&session, config).unwrap();
    let value = vec![7u8; 40];
    for name in names(6) {
        publisher.notify(&name, &Vec::new(), &value).unwrap();
    }
    let stats = publisher.stats();
    assert!(stats.messages_sent >= 1);
    assert!(stats.bytes_sent <= 200 * stats.messages_sent);
    let too_big = vec![0u8; 300];
    let refused = publisher.notify("big", &Vec::new(), &too_big).unwrap_err();
    assert!(matches!(
        refused,
        PublishError::Encode(EncodeError::TooLarge)
    ));
}

#[test]
fn unchanged_and_invalid_changes_are_counted_or_refused() {
    let session = isolated();
    let config = PublisherConfig::new(Layout::new("refuse", 2).unwrap());
    let mut publisher = Publisher::<u8>::new(&session, config).unwrap();
    assert_eq!(publisher.notify("a", &1, &1).unwrap().unchanged, 1);
    assert!(matches!(
        publisher.notify("", &1, &2),
        Err(PublishError::Encode(EncodeError::EmptyName))
    ));
    let long = "n".repeat(Limits::default().max_name_bytes() + 1);
    assert!(matches!(
        publisher.notify(&long, &1, &2),
        Err(PublishError::Encode(EncodeError::NameTooLong))
    ));
    assert_eq!(publisher.stats().changes_pending, 0);
    assert_eq!(publisher.flush(0).unwrap().messages, 0);
}
