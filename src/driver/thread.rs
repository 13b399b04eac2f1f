//! The driver thread: it receives the manager, ticks it on its schedule and
//! runs the queued jobs until told to stop, then drains the inbox and hands
//! the manager back.

use std::mem;
use std::sync::mpsc;
use std::time::Instant;

use super::DRAIN_TICK_LIMIT;
use super::control::Control;
use super::schedule::{Schedule, later, tick_if_due};
use crate::TRACE_TARGET;
use crate::manager::ObserverManager;

/// Marks the driver finished when the thread exits, even by panic, and
/// drops the jobs left, so that their callers stop waiting.
struct Finished<'a, V>(&'a Control<V>);

impl<V> Drop for Finished<'_, V> {
    fn drop(&mut self) {
        let jobs = {
            let mut state = self.0.lock();
            state.finished = true;
            mem::take(&mut state.jobs)
        };
        drop(jobs);
    }
}

/// The driver thread: receive the manager, tick on schedule, drain, hand it back.
pub(super) fn drive<V: PartialEq + Send + Sync + 'static>(
    control: &Control<V>,
    receive: &mpsc::Receiver<ObserverManager<V>>,
    schedule: Schedule,
) -> Option<ObserverManager<V>> {
    let _finished = Finished(control);
    let mut manager = receive.recv().ok()?;
    run(&mut manager, control, schedule);
    let drained = drain(&mut manager, control);
    tracing::debug!(
        target: TRACE_TARGET,
        ticks = manager.ticks(),
        drain_ticks = drained,
        pending = manager.pending_changes(),
        "tick driver stopped"
    );
    Some(manager)
}

/// Ticks on `schedule` and runs queued jobs until told to stop.
fn run<V: PartialEq + Send + Sync + 'static>(
    manager: &mut ObserverManager<V>,
    control: &Control<V>,
    schedule: Schedule,
) {
    let mut next = match schedule {
        Schedule::FixedRate(period) => later(Instant::now(), period),
        Schedule::OnDemand => Instant::now(),
    };
    loop {
        let (stop, jobs) = control.wait_until(next);
        for job in jobs {
            job(manager);
        }
        if stop {
            return;
        }
        next = tick_if_due(manager, control, schedule, next);
    }
}

/// Ticks until the inbox is empty and a tick called no callback (which
/// could have queued more), at most `DRAIN_TICK_LIMIT` times; returns the
/// ticks run.
fn drain<V: PartialEq + Send + Sync + 'static>(
    manager: &mut ObserverManager<V>,
    control: &Control<V>,
) -> u32 {
    for ran in 1..=DRAIN_TICK_LIMIT {
        let report = manager.tick();
        let busy = report.notifications > 0 || report.commands_applied > 0;
        control.record(report);
        if !busy && manager.pending_changes() == 0 {
            return ran;
        }
    }
    DRAIN_TICK_LIMIT
}
