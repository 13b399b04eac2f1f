//! `TickDriver`: a background thread that owns a manager and ticks it, for
//! programs without a loop of their own (the twin of the original supervisor).
//!
//! The driver thread sleeps on a condition variable. It wakes for three
//! reasons: its schedule is due, a [`TickDriver::with_manager`] closure is
//! queued, or the driver is stopping. On demand, it polls the inbox every
//! [`ON_DEMAND_POLL_INTERVAL`] (the inbox has no wake-up hook yet).
//!
//! This file holds the facade and its constants; `schedule.rs` the
//! [`Schedule`] and how the thread applies it; `control.rs` the state the
//! driver shares with its thread; `thread.rs` the thread's loop;
//! `error.rs` the error types.

// The submodules are private; whatever they share is `pub(super)`, and the
// public names are re-exported below, as `lib.rs` expects.
mod control;
mod error;
mod schedule;
mod thread;

pub use self::error::{DriverError, SpawnDriverError, SpawnFailure};
pub use self::schedule::Schedule;

use std::fmt;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use self::control::{Control, Job};
use self::error::panic_message;
use self::thread::drive;
use crate::TRACE_TARGET;
use crate::manager::ObserverManager;
use crate::notifier::Notifier;
use crate::stats::{Stats, TickReport};

/// How often a [`Schedule::OnDemand`] driver looks for pending changes: the
/// most a change waits before its tick starts (plus scheduling noise).
pub const ON_DEMAND_POLL_INTERVAL: Duration = Duration::from_millis(1);

/// The most ticks [`TickDriver::shutdown`] runs to empty the inbox before it
/// gives up; bounds shutdown when producers or callbacks keep notifying.
pub const DRAIN_TICK_LIMIT: u32 = 16;

/// The name of the driver thread, as panics and debuggers show it.
const THREAD_NAME: &str = "observer-manager-driver";

/// Runs an [`ObserverManager`] on a background thread that ticks it on a
/// [`Schedule`].
///
/// Producers report through [`notifier`](Self::notifier) handles; while the
/// driver runs, the manager itself is reached only through
/// [`with_manager`](Self::with_manager), which runs a closure on the driver
/// thread between ticks. The last tick's report is always at hand through
/// [`last_report`](Self::last_report), without waiting.
///
/// # Stopping
///
/// [`shutdown`](Self::shutdown) stops the schedule, runs final ticks until
/// the inbox is empty (at most [`DRAIN_TICK_LIMIT`]), joins the thread and
/// returns the final [`Stats`]; [`into_manager`](Self::into_manager) does
/// the same but hands the manager back. Dropping the driver does what
/// `shutdown` does and ignores the result (a panic on the driver thread is
/// then only reported as a `tracing` warning): it blocks until the final
/// ticks are done and the thread is joined. Either way, notifiers that
/// outlive the manager are refused from then on.
///
/// # Panics on the driver thread
///
/// Panicking callbacks are caught by the tick as usual. A panic that
/// escapes a tick (from a value's `Drop`, say) ends the driver thread and
/// the manager with it: [`shutdown`](Self::shutdown) then returns
/// [`DriverError::Panicked`] with the panic's message, and
/// [`with_manager`](Self::with_manager) returns [`DriverError::Stopped`].
///
/// A `TickDriver` is `Send` and `Sync` when the values are, so it can be
/// shared (`with_manager` takes `&self`):
///
/// ```
/// fn assert_shared<T: Send + Sync>() {}
/// assert_shared::<observer_manager::TickDriver<String>>();
/// ```
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use observer_manager::{Metadata, ObserverManager, Schedule, TickDriver};
///
/// let mut manager = ObserverManager::<u64>::new();
/// let owner = manager.owner();
/// let total = Arc::new(AtomicU64::new(0));
/// let sink = Arc::clone(&total);
/// manager
///     .observe("bytes", &owner)
///     .callback(move |n| {
///         sink.fetch_add(n.new - n.old, Ordering::Relaxed);
///     })
///     .add()?;
///
/// let driver = TickDriver::spawn(manager, Schedule::FixedRate(Duration::from_millis(5)))?;
/// let notifier = driver.notifier();
/// notifier.notify("bytes", 0, 512, Metadata::new("net"))?;
///
/// // Shutdown delivers what is still pending, then reports.
/// let stats = driver.shutdown()?;
/// assert_eq!(total.load(Ordering::Relaxed), 512);
/// assert_eq!(stats.changes_delivered, 1);
/// assert_eq!(stats.changes_pending, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TickDriver<V> {
    control: Arc<Control<V>>,
    /// The driver thread; `None` once joined. It returns the manager, or
    /// `None` if it never received it.
    thread: Option<JoinHandle<Option<ObserverManager<V>>>>,
    notifier: Notifier<V>,
    schedule: Schedule,
}

impl<V: PartialEq + Send + Sync + 'static> TickDriver<V> {
    /// Moves `manager` onto a new background thread that ticks it on `schedule`.
    ///
    /// # Errors
    ///
    /// [`SpawnDriverError`], which gives the manager back, if the schedule
    /// is `FixedRate` with a zero period or the thread cannot be spawned.
    pub fn spawn(
        manager: ObserverManager<V>,
        schedule: Schedule,
    ) -> Result<Self, SpawnDriverError<V>> {
        if schedule == Schedule::FixedRate(Duration::ZERO) {
            return Err(SpawnDriverError::new(manager, SpawnFailure::ZeroPeriod));
        }
        let control = Arc::new(Control::new());
        let thread_control = Arc::clone(&control);
        // The manager is handed over after the spawn succeeds, so that a
        // failed spawn can give it back.
        let (hand_over, receive) = mpsc::sync_channel::<ObserverManager<V>>(1);
        let spawned = std::thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || drive(&thread_control, &receive, schedule));
        let thread = match spawned {
            Ok(thread) => thread,
            Err(e) => return Err(SpawnDriverError::new(manager, SpawnFailure::Thread(e))),
        };
        let notifier = manager.notifier();
        if let Err(mpsc::SendError(manager)) = hand_over.send(manager) {
            // The thread is waiting for it; it cannot have dropped the receiver.
            let error = io::Error::other("driver thread exited before start");
            return Err(SpawnDriverError::new(manager, SpawnFailure::Thread(error)));
        }
        Ok(TickDriver {
            control,
            thread: Some(thread),
            notifier,
            schedule,
        })
    }

    /// A handle for reporting changes and deferred registrations; see [`Notifier`].
    pub fn notifier(&self) -> Notifier<V> {
        self.notifier.clone()
    }

    /// The schedule the driver ticks on.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// The report of the latest tick, `None` before the first one. A reading
    /// that the driver thread may replace at once.
    pub fn last_report(&self) -> Option<TickReport> {
        self.control.lock().last_report.clone()
    }

    /// Whether the driver thread is still running (false after a panic).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Runs `f` on the driver thread between two ticks and returns its result.
    ///
    /// This blocks until the driver thread gets to it: at once when idle, or
    /// after the tick in progress. Registrations made here take effect at
    /// once, as on an owned manager. `f` must not block on anything the
    /// driver thread does (a tick, another `with_manager`).
    ///
    /// Do not call this from a callback of the driven manager: the tick waits
    /// for the callback and the callback would wait for the tick. On the
    /// driver thread itself this is detected ([`DriverError::Reentrant`]);
    /// on a `rayon` worker dispatching in parallel it deadlocks.
    ///
    /// # Errors
    ///
    /// [`DriverError::ClosurePanicked`] if `f` panicked (the driver runs on,
    /// with whatever `f` left behind); [`DriverError::Stopped`] if the driver
    /// thread has stopped; [`DriverError::Reentrant`] on the driver thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, Schedule, TickDriver};
    ///
    /// let driver = TickDriver::spawn(ObserverManager::<i32>::new(), Schedule::OnDemand)?;
    /// let owner = driver.notifier().owner();
    /// let observers = driver.with_manager(move |manager| {
    ///     manager.observe("hp", &owner).callback(|_| {}).add()?;
    ///     manager.observe("hp", &owner).callback(|_| {}).add()?;
    ///     Ok::<_, observer_manager::AddObserverError>(manager.observer_count("hp"))
    /// })??;
    /// assert_eq!(observers, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_manager<R, F>(&self, f: F) -> Result<R, DriverError>
    where
        F: FnOnce(&mut ObserverManager<V>) -> R + Send + 'static,
        R: Send + 'static,
    {
        if self.on_driver_thread() {
            return Err(DriverError::Reentrant);
        }
        let (reply, result) = mpsc::sync_channel(1);
        let job: Job<V> = Box::new(move |manager| {
            let outcome = catch_unwind(AssertUnwindSafe(|| f(manager)));
            let outcome = outcome.map_err(|payload| DriverError::ClosurePanicked {
                message: panic_message(payload.as_ref()),
            });
            // The caller waits for it; if it gave up there is nobody to tell.
            let _ = reply.send(outcome);
        });
        self.control.submit(job)?;
        // The job is dropped unrun only if the thread stops first.
        result.recv().unwrap_or(Err(DriverError::Stopped))
    }

    /// The manager's [`Stats`], read on the driver thread between ticks.
    ///
    /// # Errors
    ///
    /// As [`with_manager`](Self::with_manager).
    pub fn stats(&self) -> Result<Stats, DriverError> {
        self.with_manager(|manager| manager.stats())
    }

    /// Stops the driver: no further scheduled tick; final ticks until the
    /// inbox is empty and the last tick called no callback (at most
    /// [`DRAIN_TICK_LIMIT`]); then joins the thread and returns the final
    /// stats. The manager is dropped: notifiers are refused from then on.
    ///
    /// Changes still pending after the limit are dropped with the manager
    /// and show in the returned [`Stats::changes_pending`].
    ///
    /// # Errors
    ///
    /// [`DriverError::Panicked`] if the driver thread panicked (the manager
    /// and what it held are lost); [`DriverError::Reentrant`] on the driver
    /// thread itself, where the thread is told to stop but cannot be joined.
    pub fn shutdown(self) -> Result<Stats, DriverError> {
        self.into_manager().map(|manager| manager.stats())
    }

    /// Stops the driver as [`shutdown`](Self::shutdown) does, and gives the
    /// manager back instead of dropping it.
    ///
    /// # Errors
    ///
    /// As [`shutdown`](Self::shutdown).
    pub fn into_manager(mut self) -> Result<ObserverManager<V>, DriverError> {
        self.stop_and_join()
    }
}

impl<V> TickDriver<V> {
    fn on_driver_thread(&self) -> bool {
        self.thread
            .as_ref()
            .is_some_and(|t| t.thread().id() == std::thread::current().id())
    }

    /// Tells the thread to stop and joins it; left with no thread either way.
    fn stop_and_join(&mut self) -> Result<ObserverManager<V>, DriverError> {
        let on_driver_thread = self.on_driver_thread();
        let Some(thread) = self.thread.take() else {
            return Err(DriverError::Stopped);
        };
        self.control.stop();
        if on_driver_thread {
            // Joining itself would deadlock; the thread stops after the
            // closure it is running returns, and drops the manager then.
            return Err(DriverError::Reentrant);
        }
        match thread.join() {
            Ok(Some(manager)) => Ok(manager),
            Ok(None) => Err(DriverError::Stopped),
            Err(payload) => Err(DriverError::Panicked {
                message: panic_message(payload.as_ref()),
            }),
        }
    }
}

impl<V> Drop for TickDriver<V> {
    /// Stops the driver as `shutdown` does, dropping the manager; a failure
    /// is reported as a `tracing` warning.
    fn drop(&mut self) {
        if self.thread.is_none() {
            return;
        }
        if let Err(error) = self.stop_and_join() {
            tracing::warn!(target: TRACE_TARGET, %error, "tick driver dropped");
        }
    }
}

impl<V> fmt::Debug for TickDriver<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.control.lock();
        f.debug_struct("TickDriver")
            .field("schedule", &self.schedule)
            .field("finished", &state.finished)
            .field("ticks", &state.last_report.as_ref().map_or(0, |r| r.tick))
            .finish_non_exhaustive()
    }
}
