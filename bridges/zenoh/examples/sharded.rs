//! A simulation sharded over three processes on one machine: two producers
//! and one consumer, over zenoh on TCP loopback.
//!
//! ```text
//! cargo run --release -p observer-manager-zenoh --example sharded [-- --changes N] [--pause-us U]
//! ```
//!
//! `--changes N`: changes per producer (default 1,000,000). `--pause-us U`:
//! each producer sleeps `U` microseconds after each batch (default 0: as
//! fast as it can, which measures latency under saturation; a pause
//! measures it on a link with room to spare).
//!
//! The parent is the consumer: it listens on a free loopback port, spawns
//! two children of this same program with `--role producer`, and delivers
//! their changes to one observer per variable. Each change carries the
//! wall-clock time of its `notify`, so the consumer measures notify-to-
//! callback latency (the batch wait, the wire, and the wait for the next
//! tick, all included). It prints per-process and total throughput,
//! latency percentiles and gaps, and exits non-zero if a check fails: a
//! change lost, duplicated or out of order, a gap, a decode error.
//! Everything is bounded in time: a stuck run stops after `DEADLINE`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use observer_manager::{Config, ObserverManager, Owner};
use observer_manager_zenoh::{
    Layout, Publisher, PublisherConfig, Subscriber, SubscriberConfig, loopback_config,
};
use serde::{Deserialize, Serialize};
use zenoh::Wait;

const PRODUCERS: u64 = 2;
const VARS_PER_PRODUCER: u64 = 256;
const BATCH: u64 = 1_000;
const SHARDS: u32 = 16;
const NAMESPACE: &str = "sharded";
/// The longest a run may take before it is stopped as failed.
const DEADLINE: Duration = Duration::from_secs(120);

/// A value that carries when it was reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Stamped {
    /// The producer's running change number (1, 2, ...).
    seq: u64,
    /// Wall clock at `notify`, in ns since the Unix epoch.
    sent_ns: u64,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn layout() -> Layout {
    Layout::new(NAMESPACE, SHARDS).expect("valid layout")
}

fn names_of(producer: u64) -> Vec<String> {
    (0..VARS_PER_PRODUCER)
        .map(|v| format!("p{producer}/v{v}"))
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let changes = flag("--changes").map_or(Ok(1_000_000), |s| s.parse::<u64>());
    let Ok(changes) = changes else {
        eprintln!("--changes takes a number");
        return ExitCode::FAILURE;
    };
    let Ok(pause) = flag("--pause-us").map_or(Ok(0), |s| s.parse::<u64>()) else {
        eprintln!("--pause-us takes a number");
        return ExitCode::FAILURE;
    };
    let outcome = match flag("--role").as_deref() {
        None | Some("consumer") => consumer(changes, pause),
        Some("producer") => producer(flag("--id"), flag("--port"), changes, pause),
        Some(other) => Err(format!("unknown role {other:?}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A producer child: connect, wait for the consumer's subscriptions, send
/// `changes` changes in batches of `BATCH`, report its throughput on one
/// stdout line, close.
fn producer(
    id: Option<String>,
    port: Option<String>,
    changes: u64,
    pause_us: u64,
) -> Result<(), String> {
    let id: u64 = id
        .and_then(|s| s.parse().ok())
        .ok_or("--id takes a number")?;
    let port: u16 = port
        .and_then(|s| s.parse().ok())
        .ok_or("--port takes a port")?;
    let config = loopback_config(None, &[port]).map_err(|e| e.to_string())?;
    let session = zenoh::open(config).wait().map_err(|e| e.to_string())?;
    let config = PublisherConfig::new(layout()).source(format!("producer {id}"));
    let mut publisher = Publisher::<Stamped>::new(&session, config).map_err(|e| e.to_string())?;
    let names = names_of(id);
    let shards: std::collections::BTreeSet<u32> =
        names.iter().map(|n| layout().shard_of(n)).collect();
    let waited = Instant::now();
    while publisher.matched_shards().map_err(|e| e.to_string())?.len() < shards.len() {
        if waited.elapsed() > Duration::from_secs(20) {
            return Err("the consumer never subscribed".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut last = vec![Stamped::default(); names.len()];
    let start = Instant::now();
    let mut k = 0;
    let mut batch = Vec::with_capacity(BATCH as usize);
    while k < changes {
        batch.clear();
        for _ in 0..BATCH.min(changes - k) {
            let var = (k % VARS_PER_PRODUCER) as usize;
            k += 1;
            let new = Stamped {
                seq: k,
                sent_ns: now_ns(),
            };
            batch.push((var, std::mem::replace(&mut last[var], new), new));
        }
        let refs = batch
            .iter()
            .map(|(v, old, new)| (names[*v].as_str(), old, new));
        publisher.notify_batch(refs).map_err(|e| e.to_string())?;
        publisher.flush(k / BATCH).map_err(|e| e.to_string())?;
        if pause_us > 0 {
            std::thread::sleep(Duration::from_micros(pause_us));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let stats = publisher.stats();
    println!(
        "producer {id}: {} changes in {} messages, {:.1} MB, {secs:.3} s, {:.2} M changes/s",
        stats.changes_sent,
        stats.messages_sent,
        stats.bytes_sent as f64 / 1e6,
        stats.changes_sent as f64 / secs / 1e6
    );
    drop(publisher);
    session.close().wait().map_err(|e| e.to_string())
}

/// Latencies in microseconds: one counter per microsecond up to
/// `Latencies::SPAN`, and the overflow counted in the last bucket.
struct Latencies {
    buckets: Vec<AtomicU64>,
    max_us: AtomicU64,
}

impl Latencies {
    const SPAN: usize = 1_000_000;

    fn new() -> Self {
        Latencies {
            buckets: (0..=Self::SPAN).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicU64::new(0),
        }
    }

    fn record(&self, us: u64) {
        self.buckets[(us as usize).min(Self::SPAN)].fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    fn percentile(&self, p: f64) -> u64 {
        let total: u64 = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum();
        let target = ((total as f64) * p).ceil() as u64;
        let mut seen = 0;
        for (us, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= target.max(1) {
                return us as u64;
            }
        }
        Self::SPAN as u64
    }
}

/// Per-variable checks: deliveries, and deliveries whose `old` was not the
/// previous `new` (a loss, duplicate or reordering).
#[derive(Default)]
struct Chain {
    last_seq: AtomicU64,
    delivered: AtomicU64,
    broken: AtomicU64,
}

fn watch(
    manager: &mut ObserverManager<Stamped>,
    latencies: &Arc<Latencies>,
) -> Result<(Owner, Vec<Arc<Chain>>), String> {
    let owner = manager.owner();
    let mut chains = Vec::new();
    for name in (0..PRODUCERS).flat_map(names_of) {
        let chain = Arc::new(Chain::default());
        let (c, lat) = (Arc::clone(&chain), Arc::clone(latencies));
        manager
            .observe(name.as_str(), &owner)
            .callback(move |n| {
                lat.record(now_ns().saturating_sub(n.new.sent_ns) / 1_000);
                if c.last_seq.swap(n.new.seq, Ordering::Relaxed) != n.old.seq {
                    c.broken.fetch_add(1, Ordering::Relaxed);
                }
                c.delivered.fetch_add(1, Ordering::Relaxed);
            })
            .add()
            .map_err(|e| e.to_string())?;
        chains.push(chain);
    }
    Ok((owner, chains))
}

fn spawn_producers(port: u16, changes: u64, pause_us: u64) -> Result<Vec<Child>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    (0..PRODUCERS)
        .map(|id| {
            Command::new(&exe)
                .args(["--role", "producer", "--id", &id.to_string()])
                .args([
                    "--port",
                    &port.to_string(),
                    "--changes",
                    &changes.to_string(),
                ])
                .args(["--pause-us", &pause_us.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("spawn producer {id}: {e}"))
        })
        .collect()
}

/// The parent: consume, then report and check.
fn consumer(changes: u64, pause_us: u64) -> Result<(), String> {
    let expected = changes * PRODUCERS;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let config = loopback_config(Some(port), &[]).map_err(|e| e.to_string())?;
    let session = zenoh::open(config).wait().map_err(|e| e.to_string())?;
    let config = Config::default().inbox_capacity(2 * expected as usize);
    let mut manager = ObserverManager::<Stamped>::with_config(config).map_err(|e| e.to_string())?;
    let latencies = Arc::new(Latencies::new());
    let (_owner, chains) = watch(&mut manager, &latencies)?;
    let mut subscriber = Subscriber::new(&session, &manager, SubscriberConfig::new(layout()))
        .map_err(|e| e.to_string())?;
    subscriber.sync(&manager).map_err(|e| e.to_string())?;
    let mut children = spawn_producers(port, changes, pause_us)?;

    let delivered = || {
        chains
            .iter()
            .map(|c| c.delivered.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let start = Instant::now();
    let mut first = None;
    let mut ticks = 0u64;
    while delivered() < expected && start.elapsed() < DEADLINE {
        subscriber.sync(&manager).map_err(|e| e.to_string())?;
        let report = manager.tick();
        ticks += 1;
        if report.notifications > 0 {
            first.get_or_insert_with(Instant::now);
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let busy = first.map_or(Duration::ZERO, |f| f.elapsed());
    let lines = reap(&mut children, start);
    // Children close their sessions when done: wait (bounded) to see it.
    let wait = Instant::now();
    while subscriber.stats().producers_lost < PRODUCERS && wait.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    for line in &lines {
        println!("{line}");
    }
    report(
        &subscriber,
        &manager,
        &chains,
        &latencies,
        expected,
        busy,
        ticks,
    )
}

/// Waits for the children (killing any still running at the deadline) and
/// returns their report lines.
fn reap(children: &mut [Child], start: Instant) -> Vec<String> {
    let mut lines = Vec::new();
    for child in children.iter_mut() {
        while matches!(child.try_wait(), Ok(None)) && start.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(5));
        }
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(out) = child.stdout.take() {
            lines.extend(BufReader::new(out).lines().map_while(Result::ok));
        }
    }
    lines
}

fn report(
    subscriber: &Subscriber<Stamped>,
    manager: &ObserverManager<Stamped>,
    chains: &[Arc<Chain>],
    latencies: &Latencies,
    expected: u64,
    busy: Duration,
    ticks: u64,
) -> Result<(), String> {
    let stats = subscriber.stats();
    let delivered: u64 = chains
        .iter()
        .map(|c| c.delivered.load(Ordering::Relaxed))
        .sum();
    let broken: u64 = chains
        .iter()
        .map(|c| c.broken.load(Ordering::Relaxed))
        .sum();
    let coalesced = manager.stats().changes_coalesced;
    println!(
        "consumer: {delivered} changes delivered in {:.3} s over {ticks} ticks, {:.2} M changes/s ({} messages)",
        busy.as_secs_f64(),
        delivered as f64 / busy.as_secs_f64().max(1e-9) / 1e6,
        stats.messages_received
    );
    println!(
        "latency notify -> callback: p50 {} us, p99 {} us, max {} us",
        latencies.percentile(0.50),
        latencies.percentile(0.99),
        latencies.max_us.load(Ordering::Relaxed)
    );
    println!(
        "gaps {}, duplicates {}, decode errors {}, coalesced {coalesced}, producers seen {} lost {}",
        stats.gaps,
        stats.duplicates_dropped,
        stats.decode_errors,
        stats.producers_seen,
        stats.producers_lost
    );
    let checks = [
        (
            delivered + coalesced == expected,
            "every change delivered or coalesced",
        ),
        (
            broken == 0,
            "each variable's changes in order, none lost or repeated",
        ),
        (stats.gaps == 0, "no gaps"),
        (stats.decode_errors == 0, "no decode errors"),
        (
            stats.producers_lost == PRODUCERS,
            "both producers seen to end",
        ),
    ];
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, what)| *what)
        .collect();
    if failed.is_empty() {
        println!("check: ok ({expected} changes)");
        Ok(())
    } else {
        Err(format!(
            "{} (delivered {delivered} of {expected})",
            failed.join(", ")
        ))
    }
}
