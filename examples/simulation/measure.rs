//! Measurements: sums over a stretch of ticks, heap readings, and the
//! outcome of a run.

use std::time::Duration;

use observer_manager::{SystemTimings, TickReport};

/// Sums over a stretch of ticks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Totals {
    pub(crate) ticks: u64,
    pub(crate) notifications: u64,
    pub(crate) swept: u64,
    pub(crate) panics: u64,
    pub(crate) tick_time: Duration,
    pub(crate) max_tick: Duration,
    pub(crate) systems: SystemTimings,
    pub(crate) churn: Duration,
    pub(crate) notify: Duration,
}

impl Totals {
    pub(crate) fn add(&mut self, report: &TickReport, took: Duration) {
        self.ticks += 1;
        self.notifications += report.notifications;
        self.swept += report.observers_swept;
        self.panics += report.callback_panics;
        self.tick_time += took;
        self.max_tick = self.max_tick.max(took);
        let (sum, t) = (&mut self.systems, &report.timings);
        sum.apply += t.apply;
        sum.sweep += t.sweep;
        sum.collect += t.collect;
        sum.dispatch += t.dispatch;
        sum.account += t.account;
    }

    pub(crate) fn per_tick(&self, total: Duration) -> Duration {
        total / self.ticks.max(1) as u32
    }
}

/// Heap readings taken while the population is built.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Memory {
    pub(crate) empty_manager: usize,
    pub(crate) with_variables: usize,
    pub(crate) populated: usize,
    pub(crate) at_end: usize,
}

/// Everything the summary prints.
pub(crate) struct Outcome {
    pub(crate) totals: Totals,
    pub(crate) memory: Memory,
    pub(crate) setup: Duration,
    pub(crate) run: Duration,
    pub(crate) teardown: Duration,
    pub(crate) cleanup_runs: u64,
    pub(crate) observers_at_end: usize,
    pub(crate) check: Result<String, String>,
}
