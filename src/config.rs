//! Configuration with documented defaults.

use std::fmt;
use std::sync::Arc;

use crate::error::ConfigError;
use crate::failure::{CallbackError, ErrorHandler};

/// How a manager behaves; every knob has a documented default.
///
/// # Examples
///
/// ```
/// use observer_manager::{Config, ObserverManager};
///
/// let config = Config::default().sweep_every(60).inbox_capacity(10_000);
/// let manager = ObserverManager::<i64>::with_config(config)?;
/// assert_eq!(manager.config().sweep_interval(), 60);
/// # Ok::<(), observer_manager::ConfigError>(())
/// ```
#[derive(Clone)]
#[must_use = "a Config does nothing until passed to ObserverManager::with_config"]
pub struct Config {
    pub(crate) sweep_every: u64,
    pub(crate) inbox_capacity: usize,
    pub(crate) parallel_threshold: usize,
    pub(crate) parallel_chunk: usize,
    pub(crate) thread_pool: Option<Arc<rayon::ThreadPool>>,
    pub(crate) quarantine_after: Option<u32>,
    pub(crate) deterministic: bool,
    pub(crate) on_callback_error: Option<ErrorHandler>,
    pub(crate) reclaim_idle: Option<u64>,
}

impl Config {
    /// Default for [`Config::sweep_every`].
    pub const DEFAULT_SWEEP_EVERY: u64 = 1_000;
    /// Default for [`Config::inbox_capacity`].
    pub const DEFAULT_INBOX_CAPACITY: usize = 1 << 20;
    /// Default for [`Config::parallel_threshold`].
    pub const DEFAULT_PARALLEL_THRESHOLD: usize = 32_768;
    /// Default for [`Config::parallel_chunk`].
    pub const DEFAULT_PARALLEL_CHUNK: usize = 8_192;
    /// Default for [`Config::reclaim_idle_variables`].
    pub const DEFAULT_RECLAIM_IDLE_TICKS: u64 = 64;

    /// Run the full liveness scan (the safety net behind the per-owner
    /// sweep) every `ticks` ticks. Each scan checks every owner that has
    /// observers, in time proportional to those owners (not to observers),
    /// and counts as one `cleanup_runs`.
    /// Default [`Config::DEFAULT_SWEEP_EVERY`]; must be at least 1.
    pub fn sweep_every(mut self, ticks: u64) -> Self {
        self.sweep_every = ticks;
        self
    }

    /// How many changes the inbox queues between ticks before it coalesces:
    /// past this, each variable keeps one pending change (first old value,
    /// last new value) and every merged change is counted in
    /// `changes_coalesced`. Memory stays near `capacity` changes plus one per
    /// variable. Default [`Config::DEFAULT_INBOX_CAPACITY`]; must be at least 1.
    pub fn inbox_capacity(mut self, changes: usize) -> Self {
        self.inbox_capacity = changes;
        self
    }

    /// Below this many notifications in a tick, dispatch calls the
    /// callbacks on the tick thread: parallelism does not pay for small
    /// ticks. (Counting them takes a look at each changed variable, which a
    /// tick changing thousands of variables does in parallel tasks whatever
    /// the threshold; only [`Config::deterministic`] keeps all of dispatch
    /// on the tick thread.)
    /// Default [`Config::DEFAULT_PARALLEL_THRESHOLD`]; `0` always calls in
    /// parallel, `usize::MAX` never does.
    pub fn parallel_threshold(mut self, notifications: usize) -> Self {
        self.parallel_threshold = notifications;
        self
    }

    /// Roughly how many notifications one parallel job delivers: a variable
    /// with many observers is split into jobs of about this size.
    /// Default [`Config::DEFAULT_PARALLEL_CHUNK`]; must be at least 1.
    pub fn parallel_chunk(mut self, notifications: usize) -> Self {
        self.parallel_chunk = notifications;
        self
    }

    /// Dispatch on `pool` instead of rayon's global pool.
    pub fn thread_pool(mut self, pool: Arc<rayon::ThreadPool>) -> Self {
        self.thread_pool = Some(pool);
        self
    }

    /// Quarantine an observer once its callback has failed `failures` times
    /// (panics and returned errors together): it is never called again,
    /// stays listed by `inspect_variable` (marked quarantined) until removed
    /// or swept, and is counted in `observers_quarantined`. Default: never
    /// (`None`); `Some(0)` is refused by
    /// [`ObserverManager::with_config`](crate::ObserverManager::with_config)
    /// with [`ConfigError::ZeroQuarantineAfter`], as every zero setting is.
    pub fn quarantine_after(mut self, failures: Option<u32>) -> Self {
        self.quarantine_after = failures;
        self
    }

    /// Hand every error a fallible callback returns to `handler`, on the
    /// dispatch thread that made the call, as it happens (so it must be
    /// quick and must not block). Without a handler each error is a
    /// `tracing` debug event. Either way the error is counted on its
    /// observer like a panic, and the observer's first failure is also a
    /// `tracing` warning. Applies to the fallible callbacks registered
    /// after the manager is built with this config (all of them).
    /// See [`CallbackError`] for an example. Default: none.
    pub fn on_callback_error(
        mut self,
        handler: impl Fn(&CallbackError<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.on_callback_error = Some(Arc::new(handler));
        self
    }

    /// Deterministic mode: callbacks are called in the same order on every
    /// run for the same inputs (the same registrations, removals and
    /// notifications in the same order), whatever the thread count. Each
    /// tick dispatches on the tick thread, in this order:
    ///
    /// 1. primed observers' current values, in registration order;
    /// 2. variable by variable, in id order: each change, in submission
    ///    order, goes to every observer of its variable (in index order)
    ///    before the next change goes to any;
    /// 3. observers with a [`Policy`](crate::Policy) other than every change,
    ///    variable by variable in id order, observer by observer, each
    ///    observer's changes in submission order.
    ///
    /// The cost is the parallel speed-up (see `docs/performance.md`).
    /// Default `false`.
    pub fn deterministic(mut self, on: bool) -> Self {
        self.deterministic = on;
        self
    }

    /// Reclaim a variable once it has been unused for `ticks` ticks: no
    /// observer or watcher, no [`SessionStore`](crate::SessionStore) entry,
    /// no change dispatched, no change or registration pending. Its name and
    /// entry are freed and its [`VariableId`](crate::VariableId) turns stale
    /// (refused with [`VariableError::Reclaimed`](crate::VariableError::Reclaimed),
    /// never taken for another variable); naming it again makes a new one.
    /// So a stream of ever-new names holds at most the names of the last
    /// `ticks` ticks. A variable named but never observed counts from the
    /// tick it is named; one whose last observer leaves, from the tick it
    /// leaves (removed, or swept with its owner). `None` keeps every variable for the
    /// manager's lifetime. Default
    /// `Some(`[`Config::DEFAULT_RECLAIM_IDLE_TICKS`]`)`; `Some(0)` is refused
    /// with [`ConfigError::ZeroReclaimIdle`].
    ///
    /// ```
    /// use observer_manager::{Config, Metadata, ObserverManager, VariableError};
    ///
    /// let config = Config::default().reclaim_idle_variables(Some(2));
    /// let mut manager = ObserverManager::<u32>::with_config(config)?;
    /// let id = manager.variable("request-17")?;
    /// manager.notify(id, 0, 1, Metadata::new("web"))?; // nobody observes it
    /// for _ in 0..4 {
    ///     manager.tick();
    /// }
    /// let error = manager.notify(id, 1, 2, Metadata::new("web")).unwrap_err();
    /// assert_eq!(error, VariableError::Reclaimed.into());
    /// assert_eq!(manager.stats().variables, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reclaim_idle_variables(mut self, ticks: Option<u64>) -> Self {
        self.reclaim_idle = ticks;
        self
    }

    /// The configured full-sweep interval, in ticks.
    pub fn sweep_interval(&self) -> u64 {
        self.sweep_every
    }

    /// The configured inbox capacity, in changes.
    pub fn capacity(&self) -> usize {
        self.inbox_capacity
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.sweep_every == 0 {
            return Err(ConfigError::ZeroSweepEvery);
        }
        if self.inbox_capacity == 0 {
            return Err(ConfigError::ZeroInboxCapacity);
        }
        if self.parallel_chunk == 0 {
            return Err(ConfigError::ZeroParallelChunk);
        }
        if self.quarantine_after == Some(0) {
            return Err(ConfigError::ZeroQuarantineAfter);
        }
        if self.reclaim_idle == Some(0) {
            return Err(ConfigError::ZeroReclaimIdle);
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sweep_every: Self::DEFAULT_SWEEP_EVERY,
            inbox_capacity: Self::DEFAULT_INBOX_CAPACITY,
            parallel_threshold: Self::DEFAULT_PARALLEL_THRESHOLD,
            parallel_chunk: Self::DEFAULT_PARALLEL_CHUNK,
            thread_pool: None,
            quarantine_after: None,
            deterministic: false,
            on_callback_error: None,
            reclaim_idle: Some(Self::DEFAULT_RECLAIM_IDLE_TICKS),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("sweep_every", &self.sweep_every)
            .field("inbox_capacity", &self.inbox_capacity)
            .field("parallel_threshold", &self.parallel_threshold)
            .field("parallel_chunk", &self.parallel_chunk)
            .field("quarantine_after", &self.quarantine_after)
            .field("deterministic", &self.deterministic)
            .field("on_callback_error", &self.on_callback_error.is_some())
            .field("reclaim_idle", &self.reclaim_idle)
            .field(
                "thread_pool",
                &self.thread_pool.as_ref().map(|p| p.current_num_threads()),
            )
            .finish()
    }
}
