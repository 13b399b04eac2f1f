//! Overload: a burst far beyond the inbox capacity keeps memory bounded,
//! is counted exactly (`received == delivered + coalesced`) and still
//! delivers every variable's final value; a slow callback never stalls
//! producers.
//!
//! The heap is measured with the counting global allocator of this test
//! binary. Tests of one binary run on parallel threads, so every test here
//! takes `common::serial()` first: nothing else allocates while the burst is
//! measured.
//!
//! `BURST` changes by default; set `OBSERVER_MANAGER_OVERLOAD_FULL=1` for
//! `FULL_BURST` (a hundred million):
//!
//! ```sh
//! OBSERVER_MANAGER_OVERLOAD_FULL=1 cargo test --test isolated overload -- --nocapture
//! ```

use std::mem::size_of;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use observer_manager::{Config, Metadata, NotifyOutcome, ObserverManager, VariableId};

use crate::common;

/// Changes in the burst by default.
const BURST: u64 = if cfg!(miri) { 20_000 } else { 20_000_000 };
/// Changes in the burst with `OBSERVER_MANAGER_OVERLOAD_FULL=1`.
const FULL_BURST: u64 = 100_000_000;
/// Variables the burst is spread over.
const VARIABLES: usize = if cfg!(miri) { 100 } else { 10_000 };
/// The inbox capacity under test.
const CAPACITY: usize = if cfg!(miri) { 1_000 } else { 100_000 };
/// Producer threads in the burst; each writes its own variables.
const PRODUCERS: usize = 2;
/// Heap the burst may use besides the queue and the overflow table: the
/// producer threads' own small allocations and the tick's bookkeeping.
const OTHER_BYTES: usize = 1 << 20;
/// Notifications a producer sends while the slow callback runs.
const DURING_DISPATCH: u64 = if cfg!(miri) { 100 } else { 100_000 };
/// How long the slow callback waits for the producer before giving up.
const SLOW_CALLBACK_LIMIT: Duration = Duration::from_secs(20);

fn burst_size() -> u64 {
    match std::env::var("OBSERVER_MANAGER_OVERLOAD_FULL") {
        Ok(v) if v == "1" => FULL_BURST,
        _ => BURST,
    }
}

/// The most the inbox's queue holds per change: its entry (variable index,
/// two values, metadata index), rounded up to whole words, and a metadata
/// entry (kept only when its metadata differs from the change before it).
fn bytes_per_change() -> usize {
    (size_of::<u32>() + 2 * size_of::<u64>() + size_of::<usize>()).next_multiple_of(8)
        + size_of::<Metadata>()
}

/// The bytes of an overflow slot: a whole change (variable index, two
/// values, metadata), rounded up to whole words.
fn bytes_per_overflow() -> usize {
    (size_of::<u32>() + 2 * size_of::<u64>() + size_of::<Metadata>()).next_multiple_of(8)
}

/// What one burst producer sent.
#[derive(Default)]
struct Sent {
    queued: u64,
    coalesced: u64,
}

/// Sends `count` chained changes round-robin over `vars` (`old` = the
/// previous `new`, from 0), so variable `k` of `vars` ends on its number
/// of changes.
fn burst(manager: &ObserverManager<u64>, vars: &[VariableId], count: u64) -> Sent {
    let notifier = manager.notifier();
    let mut values = vec![0_u64; vars.len()];
    let mut sent = Sent::default();
    let meta = Metadata::new("burst");
    for step in 0..count {
        let k = (step % vars.len() as u64) as usize;
        let old = values[k];
        values[k] += 1;
        match notifier.notify(vars[k], old, old + 1, meta.clone()) {
            Ok(NotifyOutcome::Queued) => sent.queued += 1,
            Ok(NotifyOutcome::Coalesced) => sent.coalesced += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    sent
}

#[test]
fn burst_far_over_capacity_stays_bounded_counts_and_delivers_final_values() {
    let _serial = common::serial();
    let burst_len = burst_size();
    let config = Config::default().inbox_capacity(CAPACITY);
    let mut manager = ObserverManager::<u64>::with_config(config).unwrap();
    let owner = manager.owner();
    // One observer per variable: checks the chain stays unbroken and keeps
    // the last value it saw.
    let lasts: Arc<Vec<AtomicU64>> = Arc::new((0..VARIABLES).map(|_| AtomicU64::new(0)).collect());
    let broken = Arc::new(AtomicU64::new(0));
    let vars: Vec<VariableId> = (0..VARIABLES)
        .map(|v| {
            let id = manager.variable(&format!("v{v}")).unwrap();
            let (lasts, broken) = (Arc::clone(&lasts), Arc::clone(&broken));
            manager
                .observe(id, &owner)
                .callback(move |n| {
                    let previous = lasts[v].swap(*n.new, Ordering::Relaxed);
                    if previous != *n.old {
                        broken.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .add()
                .unwrap();
            id
        })
        .collect();
    manager.tick(); // the variables table is built before the baseline

    let baseline = common::reset_peak();
    let started = Instant::now();
    let per_producer = burst_len / PRODUCERS as u64;
    let chunk = VARIABLES / PRODUCERS;
    let sent: Vec<Sent> = thread::scope(|s| {
        let handles: Vec<_> = vars
            .chunks(chunk)
            .map(|mine| {
                let manager = &manager;
                s.spawn(move || burst(manager, mine, per_producer))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let burst_time = started.elapsed();
    let burst_peak = common::peak_bytes() - baseline;
    let pending = manager.pending_changes();
    let report = manager.tick();
    let total_time = started.elapsed();
    let tick_peak = common::peak_bytes() - baseline;

    // Bounded: the queue (a Vec grown by doubling, so up to twice the
    // capacity while it reallocates) and one overflow slot per variable
    // (also grown by doubling), plus the tick's copy of the queue and its
    // sort buffer, each at most the queue's size. Unbounded, the burst
    // would hold `burst_len * bytes_per_change()` bytes.
    let change = bytes_per_change();
    let queue = 2 * CAPACITY * change;
    let overflow = 2 * VARIABLES * (bytes_per_overflow() + size_of::<u32>());
    let burst_bound = queue + overflow + OTHER_BYTES;
    let tick_bound = 3 * queue + overflow + OTHER_BYTES;
    assert!(
        burst_peak <= burst_bound,
        "burst peak {burst_peak} B over the bound {burst_bound} B"
    );
    assert!(
        tick_peak <= tick_bound,
        "tick peak {tick_peak} B over the bound {tick_bound} B"
    );

    // Counted: every change accepted is delivered or merged away.
    let queued: u64 = sent.iter().map(|s| s.queued).sum();
    let coalesced: u64 = sent.iter().map(|s| s.coalesced).sum();
    let sent_total = per_producer * PRODUCERS as u64;
    assert_eq!(queued + coalesced, sent_total);
    assert_eq!(
        queued, CAPACITY as u64,
        "the queue fills, then everything coalesces"
    );
    assert_eq!(
        pending,
        CAPACITY + VARIABLES,
        "the queue plus one change per variable"
    );
    assert_eq!(report.changes_received, sent_total);
    assert_eq!(
        report.changes_received,
        report.changes_delivered + report.changes_coalesced
    );
    assert_eq!(report.changes_delivered, (CAPACITY + VARIABLES) as u64);
    assert_eq!(report.notifications, report.changes_delivered);
    let stats = manager.stats();
    assert_eq!(stats.changes_received, sent_total);
    assert_eq!(stats.changes_coalesced, report.changes_coalesced);
    assert_eq!(stats.changes_delivered, report.changes_delivered);
    assert_eq!(stats.changes_pending, 0);

    // Delivered: every variable's final value, through an unbroken chain.
    assert_eq!(broken.load(Ordering::Relaxed), 0, "a chain broke");
    for (v, last) in lasts.iter().enumerate() {
        let expected = per_producer / chunk as u64
            + u64::from(((v % chunk) as u64) < per_producer % chunk as u64);
        assert_eq!(
            last.load(Ordering::Relaxed),
            expected,
            "final value of v{v}"
        );
    }
    println!(
        "overload: {sent_total} changes over {VARIABLES} variables, capacity {CAPACITY}: \
         burst {burst_time:?} ({:.1} M/s), tick {:?}; peak over baseline {burst_peak} B \
         during the burst (bound {burst_bound} B), {tick_peak} B with the tick \
         (bound {tick_bound} B); unbounded it would be {} B",
        sent_total as f64 / burst_time.as_secs_f64() / 1e6,
        total_time - burst_time,
        sent_total * change as u64,
    );
}

/// A callback that blocks until the producer has sent `DURING_DISPATCH`
/// changes (or `SLOW_CALLBACK_LIMIT` passes): the producer can only finish
/// while the tick is still dispatching if `notify` does not wait for it.
fn check_slow_callback_does_not_stall_producers(config: Config) {
    let _serial = common::serial();
    let mut manager = ObserverManager::<u64>::with_config(config).unwrap();
    let owner = manager.owner();
    let dispatching = Arc::new(AtomicBool::new(false));
    let producer_done = Arc::new(AtomicBool::new(false));
    let saw_producer_done = Arc::new(AtomicBool::new(false));
    {
        let (dispatching, producer_done, saw) = (
            Arc::clone(&dispatching),
            Arc::clone(&producer_done),
            Arc::clone(&saw_producer_done),
        );
        manager
            .observe("slow", &owner)
            .callback(move |_| {
                dispatching.store(true, Ordering::SeqCst);
                let start = Instant::now();
                while start.elapsed() < SLOW_CALLBACK_LIMIT {
                    if producer_done.load(Ordering::SeqCst) {
                        saw.store(true, Ordering::SeqCst);
                        return;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
            })
            .add()
            .unwrap();
    }
    let busy = manager.variable("busy").unwrap();
    manager.notify("slow", 0, 1, Metadata::new("test")).unwrap();
    let notifier = manager.notifier();

    let (slow_tick, worst_notify, producer_time) = thread::scope(|s| {
        let producer = s.spawn(|| {
            while !dispatching.load(Ordering::SeqCst) {
                thread::yield_now();
            }
            let started = Instant::now();
            let mut worst = Duration::ZERO;
            for i in 0..DURING_DISPATCH {
                let call = Instant::now();
                let outcome = notifier.notify(busy, i, i + 1, Metadata::new("producer"));
                worst = worst.max(call.elapsed());
                assert_eq!(outcome, Ok(NotifyOutcome::Queued));
            }
            producer_done.store(true, Ordering::SeqCst);
            (worst, started.elapsed())
        });
        let report = manager.tick();
        let (worst, elapsed) = producer.join().unwrap();
        (report, worst, elapsed)
    });
    assert!(
        saw_producer_done.load(Ordering::SeqCst),
        "the producer did not finish {DURING_DISPATCH} notifies while the tick dispatched"
    );
    assert_eq!(slow_tick.notifications, 1);
    let next = manager.tick();
    assert_eq!(
        next.changes_received, DURING_DISPATCH,
        "nothing sent meanwhile was lost"
    );
    assert_eq!(next.changes_delivered, DURING_DISPATCH);
    println!(
        "slow callback: {DURING_DISPATCH} notifies in {producer_time:?} while the tick \
         dispatched (slowest {worst_notify:?}); the tick took {:?}",
        slow_tick.timings.dispatch
    );
}

#[test]
fn slow_callback_does_not_stall_producers_sequentially() {
    check_slow_callback_does_not_stall_producers(Config::default());
}

#[test]
fn slow_callback_does_not_stall_producers_in_parallel() {
    check_slow_callback_does_not_stall_producers(
        Config::default().parallel_threshold(0).parallel_chunk(1),
    );
}
