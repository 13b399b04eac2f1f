//! Observer policies: deliver once, at most every N ticks, or when a filter
//! passes. A policy is a component of its observer; policed observers are
//! dispatched one by one after the parallel loop of plain observers.

use std::fmt;
use std::sync::Arc;

use crate::ingest::change::Metadata;

/// A filter on `(old, new)`: the change is delivered only if it returns `true`.
pub type Filter<V> = Arc<dyn Fn(&V, &V) -> bool + Send + Sync>;

/// What an observer lets through. Policies combine: the filter applies
/// first, then the rate limit, then `once`.
///
/// - [`Policy::once`]: deliver one change, then remove the observer (at the
///   end of that tick; counted in `observers_removed`).
/// - [`Policy::every`]: at most one delivery every `n` ticks. Changes that
///   arrive while the observer waits are merged (the first old value, the
///   latest new value and metadata: the latest change wins) and delivered as
///   one notification in the first tick the window is open, whether or not
///   the variable changes in that tick.
/// - [`Policy::filter`]: deliver only the changes for which the predicate
///   on `(old, new)` holds.
///
/// Every change a policy holds back or merges away is counted in
/// `notifications_withheld`.
///
/// Policed observers cost more than plain ones (a component read and write
/// per delivery, on the tick thread); keep them for the observers that need them.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use observer_manager::{Metadata, ObserverManager, Policy};
///
/// let mut manager = ObserverManager::<i32>::new();
/// let owner = manager.owner();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&seen);
/// let rising = Policy::new().filter(|old: &i32, new: &i32| new > old);
/// manager
///     .observe("level", &owner)
///     .policy(rising)
///     .callback(move |n| sink.lock().unwrap().push(*n.new))
///     .add()?;
/// manager.notify("level", 1, 3, Metadata::default())?;
/// manager.notify("level", 3, 2, Metadata::default())?;
/// let report = manager.tick();
/// assert_eq!(*seen.lock().unwrap(), vec![3]);
/// assert_eq!(report.notifications_withheld, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a Policy does nothing until given to `Observe::policy`"]
pub struct Policy<V> {
    pub(crate) once: bool,
    pub(crate) every: Option<u64>,
    pub(crate) filter: Option<Filter<V>>,
    /// `V::clone`, captured by `every` (merging needs owned values).
    pub(crate) clone: Option<fn(&V) -> V>,
}

impl<V> Policy<V> {
    /// A policy that lets everything through (add rules with the builders).
    pub fn new() -> Self {
        Policy {
            once: false,
            every: None,
            filter: None,
            clone: None,
        }
    }

    /// Deliver one change, then remove the observer.
    pub fn once(mut self) -> Self {
        self.once = true;
        self
    }

    /// Deliver only changes for which `filter(old, new)` is true.
    pub fn filter(mut self, filter: impl Fn(&V, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// The refusal of a policy no observer can follow.
    pub(crate) fn check(&self) -> Result<(), crate::AddObserverError> {
        match self.every {
            Some(0) => Err(crate::AddObserverError::ZeroRateLimit),
            _ => Ok(()),
        }
    }

    /// Whether this policy lets every change through unchanged.
    pub(crate) fn is_plain(&self) -> bool {
        !self.once && self.every.is_none() && self.filter.is_none()
    }
}

impl<V: Clone> Policy<V> {
    /// At most one delivery every `ticks` ticks; changes in between are
    /// merged, the latest winning. `0` is refused at registration with
    /// [`AddObserverError::ZeroRateLimit`](crate::AddObserverError::ZeroRateLimit).
    pub fn every(mut self, ticks: u64) -> Self {
        self.every = Some(ticks);
        self.clone = Some(V::clone);
        self
    }
}

impl<V> Default for Policy<V> {
    fn default() -> Self {
        Policy::new()
    }
}

impl<V> fmt::Debug for Policy<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("once", &self.once)
            .field("every", &self.every)
            .field("filter", &self.filter.is_some())
            .finish()
    }
}

/// The component of a policed observer: its policy and its own counts.
pub(crate) struct Policed<V> {
    pub(crate) policy: Policy<V>,
    pub(crate) delivered: u64,
    pub(crate) last_delivery: Option<u64>,
    /// Changes merged while the rate limit was closed, awaiting delivery.
    pub(crate) pending: Option<Pending<V>>,
}

/// A merged change: the first old value, the latest new value and metadata.
pub(crate) struct Pending<V> {
    pub(crate) old: V,
    pub(crate) new: V,
    pub(crate) metadata: Metadata,
}

impl<V> Policed<V> {
    pub(crate) fn new(policy: Policy<V>) -> Self {
        Policed {
            policy,
            delivered: 0,
            last_delivery: None,
            pending: None,
        }
    }

    /// Whether the rate limit lets a delivery through at `tick`.
    pub(crate) fn window_open(&self, tick: u64) -> bool {
        match (self.policy.every, self.last_delivery) {
            (Some(every), Some(last)) => tick - last >= every,
            _ => true,
        }
    }
}
