//! `TickDriver`: a background thread that owns a manager and ticks it, for
//! programs without a loop of their own (the twin of the original supervisor).
//!
//! The driver thread sleeps on a condition variable. It wakes for three
//! reasons: its schedule is due, a [`TickDriver::with_manager`] closure is
//! queued, or the driver is stopping. On demand, it polls the inbox every
//! [`ON_DEMAND_POLL_INTERVAL`] (the inbox has no wake-up hook yet).

use std::any::Any;
use std::fmt;
use std::io;
use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

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

/// When a [`TickDriver`] ticks.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use observer_manager::Schedule;
///
/// let sixty_hertz = Schedule::FixedRate(Duration::from_micros(16_667));
/// let reactive = Schedule::OnDemand;
/// assert_ne!(sixty_hertz, reactive);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Schedule {
    /// One tick per period, whether or not anything changed; the first one
    /// period after the driver starts. A tick that overruns its slot pushes
    /// the schedule back: the next tick starts one period after it ends, and
    /// missed ticks are not made up. The period must not be zero.
    FixedRate(Duration),
    /// A tick whenever changes are pending, and none while idle. A change
    /// waits at most [`ON_DEMAND_POLL_INTERVAL`] before its tick starts;
    /// changes reported during a tick get the next one at once. Deferred
    /// registrations, removals and the sweep of dead owners wait for the
    /// next change (until then they have nothing to deliver).
    OnDemand,
}

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
/// manager.add_observer("bytes", &owner, move |n| {
///     sink.fetch_add(n.new - n.old, Ordering::Relaxed);
/// })?;
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

/// A closure queued by `with_manager`, run on the driver thread.
type Job<V> = Box<dyn FnOnce(&mut ObserverManager<V>) + Send>;

/// What the driver and its thread share.
struct Control<V> {
    state: Mutex<ControlState<V>>,
    /// Signalled when `stop` is set or a job is queued.
    wake: Condvar,
}

struct ControlState<V> {
    /// Set by the driver to stop the thread.
    stop: bool,
    /// Set when the thread exits, normally or by panic. Invariant: once
    /// set, `jobs` stays empty (no job is accepted).
    finished: bool,
    jobs: Vec<Job<V>>,
    last_report: Option<TickReport>,
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
        let spawned = thread::Builder::new()
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
    ///     manager.add_observer("hp", &owner, |_| {})?;
    ///     manager.add_observer("hp", &owner, |_| {})?;
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
            .is_some_and(|t| t.thread().id() == thread::current().id())
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

impl<V> Control<V> {
    fn new() -> Self {
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

    fn lock(&self) -> MutexGuard<'_, ControlState<V>> {
        // No user code runs under this lock (jobs run and drop outside it),
        // so poisoning cannot leave it half-updated; recover the guard.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn submit(&self, job: Job<V>) -> Result<(), DriverError> {
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

    fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_one();
    }

    fn record(&self, report: TickReport) {
        self.lock().last_report = Some(report);
    }

    /// Sleeps until `deadline`, a stop or a job; returns whether to stop
    /// and the jobs to run.
    fn wait_until(&self, deadline: Instant) -> (bool, Vec<Job<V>>) {
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
fn drive<V: PartialEq + Send + Sync + 'static>(
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

/// Ticks if `schedule` says so at `due`; returns when to look again.
fn tick_if_due<V: PartialEq + Send + Sync + 'static>(
    manager: &mut ObserverManager<V>,
    control: &Control<V>,
    schedule: Schedule,
    due: Instant,
) -> Instant {
    match schedule {
        Schedule::FixedRate(period) => {
            if Instant::now() < due {
                return due; // woken for a job
            }
            control.record(manager.tick());
            // The next slot, unless this tick overran it: then one period from now.
            let (slot, now) = (later(due, period), Instant::now());
            if slot > now { slot } else { later(now, period) }
        }
        Schedule::OnDemand => {
            if manager.pending_changes() > 0 {
                control.record(manager.tick());
            }
            if manager.pending_changes() > 0 {
                Instant::now() // reported during the tick: go again at once
            } else {
                Instant::now() + ON_DEMAND_POLL_INTERVAL
            }
        }
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

/// `from + by`, or a date too far to matter if that overflows (a huge
/// period means "practically never", not a panic).
fn later(from: Instant, by: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    from.checked_add(by)
        .or_else(|| from.checked_add(FAR))
        .unwrap_or(from)
}

/// The message of a panic payload (`panic!` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Why a [`TickDriver`] operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriverError {
    /// The driver thread panicked outside the callbacks (which are caught);
    /// the manager and what it held are lost.
    Panicked {
        /// The panic's message.
        message: String,
    },
    /// The driver thread has stopped (after a panic), so nothing can run on it.
    Stopped,
    /// The closure given to [`TickDriver::with_manager`] panicked; the
    /// driver runs on.
    ClosurePanicked {
        /// The panic's message.
        message: String,
    },
    /// Called on the driver thread itself (from a callback or a
    /// `with_manager` closure), where waiting for the driver would deadlock.
    Reentrant,
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::Panicked { message } => {
                write!(f, "the tick driver thread panicked: {message}")
            }
            DriverError::Stopped => f.write_str("the tick driver has stopped"),
            DriverError::ClosurePanicked { message } => {
                write!(f, "the closure run on the tick driver panicked: {message}")
            }
            DriverError::Reentrant => f.write_str("called on the tick driver's own thread"),
        }
    }
}

impl std::error::Error for DriverError {}

/// Why [`TickDriver::spawn`] could not start the driver.
#[derive(Debug)]
#[non_exhaustive]
pub enum SpawnFailure {
    /// [`Schedule::FixedRate`] with a zero period would tick without rest.
    ZeroPeriod,
    /// The operating system refused the thread.
    Thread(io::Error),
}

impl fmt::Display for SpawnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnFailure::ZeroPeriod => f.write_str("fixed-rate period is zero"),
            SpawnFailure::Thread(_) => f.write_str("cannot spawn the driver thread"),
        }
    }
}

impl std::error::Error for SpawnFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpawnFailure::ZeroPeriod => None,
            SpawnFailure::Thread(e) => Some(e),
        }
    }
}

/// [`TickDriver::spawn`] failed; the manager is given back, unchanged.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use observer_manager::{ObserverManager, Schedule, SpawnFailure, TickDriver};
///
/// let manager = ObserverManager::<u8>::new();
/// let error = TickDriver::spawn(manager, Schedule::FixedRate(Duration::ZERO)).unwrap_err();
/// assert!(matches!(error.reason(), SpawnFailure::ZeroPeriod));
/// let mut manager = error.into_manager();
/// manager.tick(); // still usable
/// ```
pub struct SpawnDriverError<V> {
    /// Boxed, so that `spawn`'s result stays small.
    manager: Box<ObserverManager<V>>,
    reason: SpawnFailure,
}

impl<V> SpawnDriverError<V> {
    fn new(manager: ObserverManager<V>, reason: SpawnFailure) -> Self {
        SpawnDriverError {
            manager: Box::new(manager),
            reason,
        }
    }

    /// Why the driver did not start.
    pub fn reason(&self) -> &SpawnFailure {
        &self.reason
    }

    /// The manager that was to be driven.
    pub fn into_manager(self) -> ObserverManager<V> {
        *self.manager
    }
}

impl<V> fmt::Debug for SpawnDriverError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnDriverError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<V> fmt::Display for SpawnDriverError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot start the tick driver")
    }
}

impl<V> std::error::Error for SpawnDriverError<V> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.reason)
    }
}
