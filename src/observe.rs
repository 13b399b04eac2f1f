//! [`Observe`]: the one way to add an observer, started by
//! [`ObserverManager::observe`] or [`Notifier::observe`].

use std::fmt;

use crate::error::AddObserverError;
use crate::ids::{CallbackId, ObserverId};
use crate::ingest::change::{Change, Metadata, Notification};
use crate::ingest::names::VariableRef;
use crate::ingest::registration::{CallbackChoice, Registration};
use crate::manager::ObserverManager;
use crate::notifier::Notifier;
use crate::observers::callbacks::{self};
use crate::owners::Owner;
use crate::policy::Policy;

/// An observer being described: its variable and owner, then optionally a
/// [`policy`](Self::policy) and a [`primed`](Self::primed) first value, then
/// its callback ([`callback`](Self::callback) or [`shared`](Self::shared)),
/// and last where it goes:
///
/// - [`add`](Self::add) (manager only): effective at once; it receives
///   every change dispatched from the next tick on, changes already queued
///   included. Returns its [`ObserverId`].
/// - [`defer`](Self::defer) (manager and [`Notifier`]): queued, and applied
///   at the start of the next tick if its owner is still alive then
///   (otherwise skipped and counted in
///   [`TickReport::commands_skipped`](crate::TickReport::commands_skipped)).
///   The observer learns its id from [`Notification::observer`].
///
/// Nothing is checked or registered before that last call; a builder
/// dropped unfinished does nothing.
///
/// # Examples
///
/// ```
/// use observer_manager::{Metadata, ObserverManager, Policy};
///
/// let mut manager = ObserverManager::<i32>::new();
/// let owner = manager.owner();
///
/// // At once, with a private closure.
/// let id = manager.observe("door", &owner).callback(|n| println!("{}", n.new)).add()?;
///
/// // Once, with the current value first.
/// manager
///     .observe(String::from("door"), &owner)
///     .policy(Policy::new().once())
///     .primed(0, Metadata::new("initial"))
///     .callback(|_| {})
///     .add()?;
///
/// // From another thread, at the next tick, sharing one callback.
/// let shared = manager.register_callback(|_| {});
/// let notifier = manager.notifier();
/// notifier.observe("window", &owner).shared(shared).defer()?;
///
/// manager.tick();
/// assert_eq!(manager.total_observers(), 3);
/// assert!(manager.contains_observer(id));
/// # Ok::<(), observer_manager::AddObserverError>(())
/// ```
#[must_use = "an observer is added only by `add` or `defer`"]
pub struct Observe<'a, V, T, C = NoCallback> {
    target: T,
    var: VariableRef<'a>,
    owner: &'a Owner,
    policy: Option<Policy<V>>,
    prime: Option<Change<V>>,
    callback: C,
}

/// The state of an [`Observe`] whose callback is not chosen yet.
#[derive(Clone, Copy, Debug)]
pub struct NoCallback;

/// The state of an [`Observe`] with its callback chosen: it can be added.
pub struct WithCallback<V>(pub(crate) CallbackChoice<V>);

impl<'a, V, T> Observe<'a, V, T> {
    #[inline]
    pub(crate) fn new(target: T, var: VariableRef<'a>, owner: &'a Owner) -> Self {
        Observe {
            target,
            var,
            owner,
            policy: None,
            prime: None,
            callback: NoCallback,
        }
    }

    /// Calls `callback`, owned by this observer alone, with each change.
    #[inline]
    pub fn callback<F>(self, callback: F) -> Observe<'a, V, T, WithCallback<V>>
    where
        F: Fn(&Notification<'_, V>) + Send + Sync + 'static,
    {
        self.choose(CallbackChoice::Private(callbacks::plain(callback)))
    }

    /// Calls a callback from
    /// [`register_callback`](ObserverManager::register_callback) or
    /// [`register_fallible_callback`](ObserverManager::register_fallible_callback),
    /// shared with other observers (one allocation for all of them).
    ///
    /// Adding fails with [`AddObserverError::UnknownCallback`] if it is not
    /// registered on this manager; a deferred add whose callback is
    /// unregistered before the tick is skipped and counted.
    #[inline]
    pub fn shared(self, callback: CallbackId) -> Observe<'a, V, T, WithCallback<V>> {
        self.choose(CallbackChoice::Shared(callback))
    }

    #[inline]
    fn choose(self, callback: CallbackChoice<V>) -> Observe<'a, V, T, WithCallback<V>> {
        Observe {
            target: self.target,
            var: self.var,
            owner: self.owner,
            policy: self.policy,
            prime: self.prime,
            callback: WithCallback(callback),
        }
    }
}

impl<V, T, C> Observe<'_, V, T, C> {
    /// Delivers according to `policy` (once, at most every N ticks, a
    /// filter); see [`Policy`]. Adding fails with
    /// [`AddObserverError::ZeroRateLimit`] for `Policy::every(0)`.
    #[inline]
    pub fn policy(mut self, policy: Policy<V>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Receives `current` as its first notification (old and new both
    /// `current`, with `metadata`) in the tick that first runs it, before
    /// any change: a late watcher never misses the state. The primed
    /// delivery bypasses the policy and is counted like any other.
    #[inline]
    pub fn primed(mut self, current: V, metadata: Metadata) -> Self
    where
        V: Clone,
    {
        self.prime = Some(Change {
            variable: 0,
            old: current.clone(),
            new: current,
            metadata,
        });
        self
    }
}

impl<'a, V, T> Observe<'a, V, T, WithCallback<V>> {
    #[inline]
    fn into_parts(self) -> (T, Registration<'a, V>) {
        let registration = Registration {
            var: self.var,
            owner: self.owner,
            policy: self.policy,
            prime: self.prime,
            callback: self.callback.0,
        };
        (self.target, registration)
    }
}

impl<'a, V: PartialEq + Send + Sync + 'static>
    Observe<'a, V, &'a mut ObserverManager<V>, WithCallback<V>>
{
    /// Adds the observer at once and returns its id.
    ///
    /// # Errors
    ///
    /// [`AddObserverError`] if the variable is invalid, stale or foreign,
    /// the owner is foreign, the policy is invalid or the shared callback
    /// unknown; nothing is added then.
    #[inline]
    pub fn add(self) -> Result<ObserverId, AddObserverError> {
        let (manager, registration) = self.into_parts();
        manager.add_registration(registration)
    }

    /// Queues the observer for the next tick, as [`Notifier`]s do.
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add), for what can be checked now; nothing is
    /// queued then.
    #[inline]
    pub fn defer(self) -> Result<(), AddObserverError> {
        let (manager, registration) = self.into_parts();
        manager.shared.defer_registration(registration)
    }
}

impl<'a, V: PartialEq + Send + Sync + 'static> Observe<'a, V, &'a Notifier<V>, WithCallback<V>> {
    /// Queues the observer for the next tick.
    ///
    /// # Errors
    ///
    /// [`AddObserverError`] for what can be checked now (the variable, the
    /// owner, the policy, a foreign callback), or
    /// [`AddObserverError::ManagerDropped`]; nothing is queued then.
    #[inline]
    pub fn defer(self) -> Result<(), AddObserverError> {
        let (notifier, registration) = self.into_parts();
        notifier.shared.defer_registration(registration)
    }
}

impl<V, T, C> fmt::Debug for Observe<'_, V, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observe")
            .field("var", &self.var)
            .field("policy", &self.policy.is_some())
            .field("primed", &self.prime.is_some())
            .finish_non_exhaustive()
    }
}

impl<V> fmt::Debug for WithCallback<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            CallbackChoice::Private(_) => f.write_str("WithCallback(private)"),
            CallbackChoice::Shared(id) => write!(f, "WithCallback({id})"),
        }
    }
}

impl<V: PartialEq + Send + Sync + 'static> ObserverManager<V> {
    /// Starts describing an observer of `var` for `owner`; see
    /// [`Observe`] for the policy, priming and callback, and for
    /// [`add`](Observe::add) (at once) and [`defer`](Observe::defer) (at
    /// the next tick).
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{Metadata, ObserverManager};
    ///
    /// let mut manager = ObserverManager::<u8>::new();
    /// let owner = manager.owner();
    /// let id = manager.observe("door", &owner).callback(|n| assert_eq!(*n.new, 1)).add()?;
    /// manager.notify("door", 0, 1, Metadata::default())?;
    /// assert_eq!(manager.tick().notifications, 1);
    /// manager.remove_observer(id)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn observe<'a>(
        &'a mut self,
        var: impl Into<VariableRef<'a>>,
        owner: &'a Owner,
    ) -> Observe<'a, V, &'a mut Self> {
        Observe::new(self, var.into(), owner)
    }
}

impl<V: PartialEq + Send + Sync + 'static> Notifier<V> {
    /// Starts describing an observer of `var` for `owner`, to be queued
    /// by [`defer`](Observe::defer) and applied at the start of the next
    /// tick; see [`Observe`].
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::ObserverManager;
    ///
    /// let mut manager = ObserverManager::<u8>::new();
    /// let notifier = manager.notifier();
    /// let owner = manager.owner();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| notifier.observe("door", &owner).callback(|_| {}).defer())
    ///         .join()
    ///         .unwrap()
    /// })?;
    /// assert_eq!(manager.total_observers(), 0); // queued
    /// manager.tick();
    /// assert_eq!(manager.total_observers(), 1);
    /// # Ok::<(), observer_manager::AddObserverError>(())
    /// ```
    pub fn observe<'a>(
        &'a self,
        var: impl Into<VariableRef<'a>>,
        owner: &'a Owner,
    ) -> Observe<'a, V, &'a Self> {
        Observe::new(self, var.into(), owner)
    }
}
