//! Channel watchers: observe a variable through a channel instead of a callback.
//!
//! A consumer thread reads a bounded watcher of `price` while producer
//! threads report changes and the main thread ticks. A second, tiny watcher
//! is never read, to show the eviction policy: a full watcher never blocks
//! the tick; it evicts its oldest notification for the newest, so the latest
//! value always arrives, and counts what it evicted. Dropping a watcher ends its
//! observer: the next tick sweeps it.
//!
//! ```text
//! cargo run --example channel_watcher
//! ```

use std::error::Error;
use std::thread;

use observer_manager::{Metadata, ObserverManager};

/// Producer threads.
const PRODUCERS: u64 = 4;
/// Changes each producer reports.
const CHANGES_EACH: u64 = 250;

fn main() -> Result<(), Box<dyn Error>> {
    let mut manager = ObserverManager::<u64>::new();

    // Room for every change: the reader sees all of them.
    let watcher = manager.watch("price", (PRODUCERS * CHANGES_EACH) as usize)?;
    // Room for 8: the oldest of each burst are evicted and counted.
    let laggard = manager.watch("price", 8)?;

    let consumer = thread::spawn(move || {
        let mut count = 0u64;
        let mut last = None;
        // Ends when the observer goes: here, when the manager is dropped.
        for n in &watcher {
            count += 1;
            last = Some((n.metadata.source.clone(), n.old, n.new));
        }
        (count, last)
    });

    thread::scope(|scope| {
        for producer in 0..PRODUCERS {
            let notifier = manager.notifier();
            scope.spawn(move || {
                let source = format!("producer-{producer}");
                for step in 0..CHANGES_EACH {
                    let old = producer * 1_000_000 + step;
                    let meta = Metadata::new(source.clone());
                    notifier.notify("price", old, old + 1, meta).unwrap();
                }
            });
        }
    });

    let report = manager.tick();
    println!(
        "tick {}: {} changes delivered, {} notifications",
        report.tick, report.changes_delivered, report.notifications
    );
    let waiting: Vec<u64> = laggard.try_iter().map(|n| n.new).collect();
    println!(
        "laggard (capacity 8): {} waiting, the last {:?}; {} evicted (tick report: {})",
        waiting.len(),
        waiting.last(),
        laggard.dropped(),
        report.watcher_notifications_dropped
    );

    drop(laggard);
    let report = manager.tick();
    println!(
        "tick {}: laggard dropped, {} observer swept",
        report.tick, report.observers_swept
    );

    drop(manager); // closes the consumer's stream
    let (count, last) = consumer.join().map_err(|_| "consumer panicked")?;
    println!("consumer received {count} notifications; the last: {last:?}");
    Ok(())
}
