//! The state a [`TickDriver`](crate::TickDriver) shares with its thread:
//! the stop flag, the queued `with_manager` jobs and the last report, under
//! one lock, with a condition variable to wake the thread.

use std::mem;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::DriverError;
use crate::manager::ObserverManager;
use crate::stats::TickReport;

/// A closure queued by `with_manager`, run on the driver thread.
pub(super) type Job<V> = Box<dyn FnOnce(&mut ObserverManager<V>) + Send>;

/// What the driver and its thread share.
pub(super) struct Control<V> {
    state: Mutex<ControlState<V>>,
    /// Signalled when `stop` is set or a job is queued.
    wake: Condvar,
}

pub(super) struct ControlState<V> {
    /// Set by the driver to stop the thread.
    stop: bool,
    /// Set when the thread exits, normally or by panic. Invariant: once
    /// set, `jobs` stays empty (no job is accepted).
    pub(super) finished: bool,
    pub(super) jobs: Vec<Job<V>>,
    pub(super) last_report: Option<TickReport>,
}

impl<V> Control<V> {
    pub(super) fn new() -> Self {
        Control {
            state: Mutex::new(ControlState {
                stop: false,
                finished: false,
                jobs: Vec::new(),
                last_report: None,
            }),
            wake: Condvar::new(),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, ControlState<V>> {
        // No user code runs under this lock (jobs run and drop outside it),
        // so poisoning cannot leave it half-updated; recover the guard.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn submit(&self, job: Job<V>) -> Result<(), DriverError> {
        let mut state = self.lock();
        if state.finished {
            drop(state);
            drop(job); // outside the lock: it owns the caller's closure
            return Err(DriverError::Stopped);
        }
        state.jobs.push(job);
        drop(state);
        self.wake.notify_one();
        Ok(())
    }

    pub(super) fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_one();
    }

    pub(super) fn record(&self, report: TickReport) {
        self.lock().last_report = Some(report);
    }

    /// Sleeps until `deadline`, a stop or a job; returns whether to stop
    /// and the jobs to run.
    pub(super) fn wait_until(&self, deadline: Instant) -> (bool, Vec<Job<V>>) {
        let mut state = self.lock();
        while !state.stop && state.jobs.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = match self.wake.wait_timeout(state, deadline - now) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        (state.stop, mem::take(&mut state.jobs))
    }
}
