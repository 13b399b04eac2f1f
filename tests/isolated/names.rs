//! A stream of ever-new, unobserved variable names keeps the heap flat:
//! variables unused for `Config::reclaim_idle_variables` ticks are
//! reclaimed, so the table holds the names of the last few ticks only.

use std::fmt::Write;

use observer_manager::{Config, Metadata, ObserverManager};

use crate::common::{self, live_bytes};

/// Distinct names notified per tick.
const PER_TICK: usize = 2_000;
/// Ticks of the stream: two million names in all.
const TICKS: usize = 1_000;
/// Ticks that fill the default idle window: from then on as many names are
/// reclaimed per tick as are added.
const WINDOW_FULL: usize = Config::DEFAULT_RECLAIM_IDLE_TICKS as usize + 1;
/// The tick the heap is first read at.
const SETTLED: usize = 300;
/// How far the heap may end above its reading at `SETTLED`: 25%. The name
/// map (a `HashMap`) doubles once, some hundreds of ticks after the window
/// fills, when the tombstones that removals leave first use up its room
/// (here +6.5 MB, 20%); from then on it rehashes in place. Were names
/// leaked, the remaining 1.4 million would hold over 400 MB (the test below
/// measures over 300 B per kept name), 13 times the whole heap.
const SLACK_PERCENT: usize = 25;

/// Notifies `PER_TICK` new names (`name-<n>`) and ticks, `ticks` times,
/// starting from name `*next`.
fn stream(manager: &mut ObserverManager<u32>, name: &mut String, next: &mut usize, ticks: usize) {
    for _ in 0..ticks {
        for _ in 0..PER_TICK {
            name.clear();
            write!(name, "name-{next}").unwrap();
            *next += 1;
            manager
                .notify(name.as_str(), 0, 1, Metadata::default())
                .unwrap();
        }
        manager.tick();
    }
}

#[test]
fn millions_of_unique_unobserved_names_leave_the_heap_flat() {
    let _serial = common::serial();
    let mut manager = ObserverManager::<u32>::new();
    let mut name = String::with_capacity(32);
    let mut next = 0;
    let mut readings = Vec::new();
    for ticks in [WINDOW_FULL, SETTLED - WINDOW_FULL] {
        stream(&mut manager, &mut name, &mut next, ticks);
        readings.push(live_bytes());
    }
    let at_window = readings[1];
    while readings.len() < 2 + (TICKS - SETTLED) / 100 {
        stream(&mut manager, &mut name, &mut next, 100);
        readings.push(live_bytes());
    }
    let at_end = live_bytes();
    let stats = manager.stats();
    println!(
        "{next} names over {TICKS} ticks: heap {} B at tick {WINDOW_FULL}, {at_window} B at \
         tick {SETTLED}, then every 100 ticks {:?} B; {} variables live, {} reclaimed",
        readings[0],
        &readings[2..],
        stats.variables,
        stats.variables_reclaimed
    );
    assert_eq!(next, PER_TICK * TICKS);
    assert!(
        at_end <= at_window + at_window * SLACK_PERCENT / 100,
        "the heap grew from {at_window} to {at_end} bytes after tick {SETTLED}"
    );
    let last_300 = readings[readings.len() - 4];
    assert!(
        at_end <= last_300 + last_300 / 100,
        "the heap grew over the last 300 ticks, from {last_300} to {at_end} bytes"
    );
    let window = Config::DEFAULT_RECLAIM_IDLE_TICKS as usize + 1;
    assert!(stats.variables as usize <= PER_TICK * window);
    assert_eq!(
        stats.variables + stats.variables_reclaimed,
        next as u64,
        "every name is either live or reclaimed"
    );
}

#[test]
fn without_reclaiming_the_same_stream_grows_the_heap_per_name() {
    let _serial = common::serial();
    let config = Config::default().reclaim_idle_variables(None);
    let mut manager = ObserverManager::<u32>::with_config(config).unwrap();
    let mut name = String::with_capacity(32);
    let mut next = 0;
    stream(&mut manager, &mut name, &mut next, WINDOW_FULL);
    let at_window = live_bytes();
    let before = next;
    stream(&mut manager, &mut name, &mut next, 100);
    let per_name = (live_bytes() - at_window) / (next - before);
    println!("without reclaiming: {per_name} B more heap per new name");
    // What the test above would catch: every name kept costs this much.
    assert!(per_name >= 50, "{per_name} B per name");
}
