//! A producer child process killed mid-stream (SIGKILL on Unix): the
//! consumer reports it lost, does not hang, and what it delivered is an
//! exact, in-order prefix of what the producer sent, covering everything
//! seen flushed before the kill.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{connected, free_port, listening, wait_matched};
use observer_manager::ObserverManager;
use observer_manager_zenoh::{Layout, Publisher, PublisherConfig, Subscriber, SubscriberConfig};

const PORT_VAR: &str = "OM_ZENOH_KILLED_TEST_PORT";
const VARS: u64 = 32;
const BATCH: u64 = 500;
/// Batches the parent waits to see delivered before it kills the child.
const BEFORE_KILL: u64 = 40;
/// The child stops by itself after this many batches or `CHILD_LIMIT`.
const CHILD_BATCHES: u64 = 1_000_000;
const CHILD_LIMIT: Duration = Duration::from_secs(60);
const LIMIT: Duration = Duration::from_secs(60);

fn layout() -> Layout {
    Layout::new("killed", 8).unwrap()
}

fn names() -> Vec<String> {
    (0..VARS).map(|v| format!("k/v{v}")).collect()
}

/// The child's body, run by the parent as a separate process through the
/// test harness (`--ignored --exact`); it does nothing useful alone.
#[test]
#[ignore = "entry point of the child process of a_killed_producer_child_is_reported_lost_and_its_delivered_changes_are_a_prefix"]
fn killed_producer_child_entry() {
    let port: u16 = std::env::var(PORT_VAR)
        .expect("run by the parent test only")
        .parse()
        .unwrap();
    let session = connected(port);
    let mut publisher = Publisher::<u64>::new(&session, PublisherConfig::new(layout())).unwrap();
    let names = names();
    let shards: Vec<u32> = {
        let mut s: Vec<u32> = names.iter().map(|n| layout().shard_of(n)).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    wait_matched(&publisher, &shards);
    let start = Instant::now();
    let mut last = vec![0u64; names.len()];
    let mut k = 0u64;
    for tick in 0..CHILD_BATCHES {
        if start.elapsed() > CHILD_LIMIT {
            break;
        }
        let batch: Vec<(usize, u64, u64)> = (0..BATCH)
            .map(|_| {
                let var = (k % VARS) as usize;
                k += 1;
                (var, std::mem::replace(&mut last[var], k), k)
            })
            .collect();
        let refs = batch
            .iter()
            .map(|(v, old, new)| (names[*v].as_str(), old, new));
        publisher.notify_batch(refs).unwrap();
        publisher.flush(tick).unwrap();
        println!("flushed {k}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_killed_producer_child_is_reported_lost_and_its_delivered_changes_are_a_prefix() {
    let port = free_port();
    let consumer = listening(port);
    let mut manager = ObserverManager::<u64>::new();
    let owner = manager.owner();
    let delivered = Arc::new(AtomicU64::new(0));
    let broken = Arc::new(AtomicU64::new(0));
    let lasts: Vec<Arc<AtomicU64>> = (0..VARS).map(|_| Arc::default()).collect();
    for (name, last) in names().iter().zip(&lasts) {
        let (last, delivered, broken) = (
            Arc::clone(last),
            Arc::clone(&delivered),
            Arc::clone(&broken),
        );
        manager
            .observe(name.as_str(), &owner)
            .callback(move |n| {
                if last.swap(*n.new, Ordering::Relaxed) != *n.old {
                    broken.fetch_add(1, Ordering::Relaxed);
                }
                delivered.fetch_add(1, Ordering::Relaxed);
            })
            .add()
            .unwrap();
    }
    let mut subscriber =
        Subscriber::new(&consumer, &manager, SubscriberConfig::new(layout())).unwrap();
    subscriber.sync(&manager).unwrap();

    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "killed_producer_child_entry",
            "--nocapture",
        ])
        .env(PORT_VAR, port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    // A thread reads the child's progress so the pipe never fills.
    let flushed = Arc::new(AtomicU64::new(0));
    let progress = Arc::clone(&flushed);
    let reader = std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(k) = line.strip_prefix("flushed ").and_then(|k| k.parse().ok()) {
                progress.store(k, Ordering::Relaxed);
            }
        }
    });

    let tick_until = |manager: &mut ObserverManager<u64>, done: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !done() && start.elapsed() < LIMIT {
            manager.tick();
            std::thread::sleep(Duration::from_millis(1));
        }
        done()
    };
    let enough = BEFORE_KILL * BATCH;
    assert!(
        tick_until(&mut manager, &|| delivered.load(Ordering::Relaxed)
            >= enough),
        "the child's changes never arrived"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let flushed_at_kill = flushed.load(Ordering::Relaxed);
    assert!(
        tick_until(&mut manager, &|| subscriber.stats().producers_lost == 1),
        "the killed producer was never reported lost: {:?}",
        subscriber.stats()
    );
    reader.join().unwrap();
    // Let anything still in flight land, then check.
    std::thread::sleep(Duration::from_millis(200));
    manager.tick();
    let stats = subscriber.stats();
    let got = delivered.load(Ordering::Relaxed);
    assert_eq!(
        broken.load(Ordering::Relaxed),
        0,
        "a change lost, repeated or reordered mid-stream"
    );
    assert_eq!(stats.gaps, 0, "{stats:?}");
    assert_eq!(stats.changes_queued, got);
    assert!(got >= enough);
    // The link delivers a prefix of the child's messages: every batch but
    // possibly the last (cut between its shards' messages) is complete.
    let highest = lasts
        .iter()
        .map(|l| l.load(Ordering::Relaxed))
        .max()
        .unwrap();
    assert!(
        got <= highest && highest - got < BATCH,
        "{got} delivered, highest {highest}"
    );
    eprintln!("child flushed {flushed_at_kill} before the kill was seen; {got} delivered");
}
