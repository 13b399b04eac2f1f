//! `ObserverManager`: the facade most users touch.

pub(crate) mod inspect;
mod register;

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::error::ConfigError;
use crate::ids::ManagerTag;
use crate::ingest::inbox::Inbox;
use crate::ingest::names::VariableRef;
use crate::ingest::shared::Shared;
use crate::notifier::Notifier;
use crate::observers::Store;
use crate::observers::variables::Interner;
use crate::owners::OwnerRegistry;
use crate::stats::{Stats, TickReport};
use crate::systems::{self, Scratch};

/// Delivers variable changes to their observers, once per [`tick`](Self::tick).
///
/// The manager is owned by the tick thread (`&mut self`); producers on other
/// threads report through [`Notifier`] handles. Registration through the
/// manager takes effect at once; through a notifier, at the next tick.
///
/// The manager is also a [`Notifier`] (it dereferences to its own): `notify`,
/// `notify_many`, `notify_batch`, `variable`, `variable_from_bits` and
/// `owner` are the notifier's methods, called on the manager.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use observer_manager::{Metadata, ObserverManager};
///
/// let mut manager = ObserverManager::<f64>::new();
/// let owner = manager.owner();
/// let calls = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&calls);
/// let id = manager
///     .observe("temperature", &owner)
///     .callback(move |n| {
///         assert_eq!((*n.old, *n.new), (20.0, 21.5));
///         counter.fetch_add(1, Ordering::Relaxed);
///     })
///     .add()?;
///
/// manager.notify("temperature", 20.0, 21.5, Metadata::new("sensor"))?;
/// let report = manager.tick();
/// assert_eq!(report.notifications, 1);
/// assert_eq!(calls.load(Ordering::Relaxed), 1);
///
/// manager.remove_observer(id)?;
/// assert_eq!(manager.total_observers(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ObserverManager<V> {
    /// The manager's own producer handle; see the `Deref` below.
    notifier: Notifier<V>,
    store: Store<V>,
    config: Config,
    /// Lifetime counters; the live readings are filled in by `stats()`.
    totals: Stats,
    /// Ticks completed.
    tick: u64,
    created: Instant,
    scratch: Scratch<V>,
}

impl<V: PartialEq + Send + Sync + 'static> Default for ObserverManager<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: PartialEq + Send + Sync + 'static> ObserverManager<V> {
    /// A manager with the default [`Config`].
    pub fn new() -> Self {
        Self::build(Config::default())
    }

    /// A manager with `config`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if a setting is out of range.
    pub fn with_config(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::build(config))
    }

    fn build(config: Config) -> Self {
        let manager = ManagerTag::fresh();
        ObserverManager {
            notifier: Notifier {
                shared: Arc::new(Shared {
                    manager,
                    inbox: Inbox::new(config.inbox_capacity),
                    interner: Interner::new(manager),
                    owners: Arc::new(OwnerRegistry::new(manager)),
                    watcher_evictions: Arc::default(),
                }),
            },
            store: Store::new(),
            config,
            totals: Stats::default(),
            tick: 0,
            created: Instant::now(),
            scratch: Scratch::new(),
        }
    }

    /// The configuration this manager runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A handle for reporting changes and deferred registrations from any thread.
    pub fn notifier(&self) -> Notifier<V> {
        self.notifier.clone()
    }

    /// Runs one tick: applies deferred commands, sweeps the observers of dead
    /// owners, collects the queued changes by variable, dispatches them and
    /// accounts the results.
    ///
    /// Every change accepted before the tick starts reaches every observer of
    /// its variable alive when dispatch starts, exactly once and in
    /// submission order per observer (or is coalesced and counted). Changes
    /// and commands issued while the tick runs (from callbacks, say) wait for
    /// the next tick. A panicking callback is caught and counted; it affects
    /// no other call.
    pub fn tick(&mut self) -> TickReport {
        systems::run_tick(systems::Parts {
            shared: &self.notifier.shared,
            store: &mut self.store,
            scratch: &mut self.scratch,
            config: &self.config,
            totals: &mut self.totals,
            tick: &mut self.tick,
        })
    }

    /// Ticks completed so far.
    pub fn ticks(&self) -> u64 {
        self.tick
    }

    /// Changes waiting for the next tick (a reading that producers may
    /// change at once).
    pub fn pending_changes(&self) -> usize {
        self.notifier.shared.inbox.pending()
    }

    /// Whether the next tick has anything to do: changes to deliver,
    /// deferred registrations or removals to apply, dead owners to sweep,
    /// or merged changes held by a rate-limiting [`Policy`](crate::Policy) (a reading that
    /// other threads may change at once).
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::ObserverManager;
    ///
    /// let mut manager = ObserverManager::<u8>::new();
    /// let owner = manager.owner();
    /// assert!(!manager.has_pending_work());
    /// drop(owner);
    /// assert!(manager.has_pending_work(), "a death to sweep");
    /// manager.tick();
    /// assert!(!manager.has_pending_work());
    /// ```
    pub fn has_pending_work(&self) -> bool {
        self.notifier.shared.inbox.pending() > 0
            || self.notifier.shared.inbox.has_commands()
            || self.notifier.shared.owners.has_deaths()
            || !self.store.primed.is_empty()
            || !self.store.waiting.is_empty()
    }

    /// Observers of `var`; zero for a variable nobody has named.
    pub fn observer_count<'a>(&self, var: impl Into<VariableRef<'a>>) -> usize {
        self.notifier
            .shared
            .interner
            .find(var.into().as_var())
            .ok()
            .and_then(|id| self.store.variables.live(id))
            .map_or(0, |v| v.len())
    }

    /// The names of the variables that have at least one observer now, in
    /// id order: what a bridge to other processes subscribes to. It costs
    /// time in proportion to the variables interned; compare
    /// [`Stats::observers_added`] and [`Stats::observers_removed`] with
    /// their last readings to call it only when the set may have changed.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::ObserverManager;
    ///
    /// let mut manager = ObserverManager::<u64>::new();
    /// let owner = manager.owner();
    /// manager.observe("fuel", &owner).callback(|_| {}).add()?;
    /// manager.variable("idle")?; // named, but nobody watches it
    /// let watched: Vec<&str> = manager.observed_variables().collect();
    /// assert_eq!(watched, ["fuel"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn observed_variables(&self) -> impl Iterator<Item = &str> + '_ {
        self.store
            .variables
            .iter()
            .filter(|v| v.len() > 0)
            .map(|v| &*v.name)
    }

    /// Observers of all variables.
    pub fn total_observers(&self) -> usize {
        self.store.len()
    }

    /// Lifetime counters and live readings, including changes reported
    /// since the last tick.
    pub fn stats(&self) -> Stats {
        let (pending, inbox) = self.notifier.shared.inbox.snapshot();
        let totals = &self.totals;
        Stats {
            active_observers: self.store.len() as u64,
            live_owners: self.notifier.shared.owners.live_count() as u64,
            changes_pending: pending as u64,
            changes_received: totals.changes_received + inbox.received,
            changes_skipped: totals.changes_skipped + inbox.skipped,
            changes_coalesced: totals.changes_coalesced + inbox.coalesced,
            variables: self.notifier.shared.interner.live() as u64,
            uptime: self.created.elapsed(),
            ..totals.clone()
        }
    }
}

/// The manager is a [`Notifier`] too: `notify`, `notify_many`,
/// `notify_batch`, `variable`, `variable_from_bits` and `owner` are the
/// notifier's, with the same arguments, errors and effects. Where both have
/// a method of one name (`observe`, `remove_observer`, `remove_observers_of`,
/// `watch`), the manager's acts at once and the notifier's at the next tick.
impl<V> Deref for ObserverManager<V> {
    type Target = Notifier<V>;

    fn deref(&self) -> &Notifier<V> {
        &self.notifier
    }
}

impl<V> Drop for ObserverManager<V> {
    /// Drops the pending changes and deferred commands (the next tick that
    /// would have delivered them will never come); notifiers that outlive
    /// the manager are refused from then on.
    fn drop(&mut self) {
        self.notifier.shared.inbox.close();
    }
}

impl<V> fmt::Debug for ObserverManager<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObserverManager")
            .field("ticks", &self.tick)
            .field("observers", &self.store.len())
            .field("variables", &self.store.variables.len())
            .field("callbacks", &self.store.callbacks.len())
            .field("owners", &self.notifier.shared.owners)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
