//! Opening a watcher, on the manager (at once) or a notifier (next tick),
//! and the feed its observer's callback pushes into.

use super::ring::{Pushed, Ring};
use super::{Capacity, OwnedNotification, WatchError, WatchState, Watcher};
use crate::error::AddObserverError;
use crate::ingest::change::Notification;
use crate::ingest::names::VariableRef;
use crate::ingest::shared::Shared;
use crate::manager::ObserverManager;
use crate::notifier::Notifier;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

impl<V: Clone + PartialEq + Send + Sync + 'static> ObserverManager<V> {
    /// Opens a channel watcher of `var`, registered at once: it receives
    /// every change dispatched from the next tick on, including changes
    /// already queued. See [`Watcher`] for the delivery rules.
    ///
    /// `capacity` bounds what waits unread ([`Capacity::Bounded`], or a
    /// plain `usize`): when full, a tick evicts the oldest waiting
    /// notification for the new one instead of blocking, and counts it.
    /// [`Capacity::Unbounded`] never evicts and grows while the reader lags.
    ///
    /// # Errors
    ///
    /// [`WatchError::ZeroCapacity`] for `Capacity::Bounded(0)`,
    /// [`WatchError::Variable`] for an invalid name or a foreign id; nothing
    /// is registered then.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{Metadata, ObserverManager};
    ///
    /// let mut manager = ObserverManager::<f64>::new();
    /// let watcher = manager.watch("temperature", 16)?;
    /// manager.notify("temperature", 20.0, 21.5, Metadata::new("sensor"))?;
    /// manager.tick();
    /// assert_eq!(watcher.recv()?.new, 21.5);
    ///
    /// drop(watcher); // swept by the next tick, like a dropped owner
    /// assert_eq!(manager.tick().observers_swept, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn watch<'a>(
        &mut self,
        var: impl Into<VariableRef<'a>>,
        capacity: impl Into<Capacity>,
    ) -> Result<Watcher<V>, WatchError> {
        let (watcher, feed) = open(&self.shared, var.into(), capacity.into())?;
        let observer = self
            .observe(watcher.variable, &watcher.owner)
            .callback(move |n| {
                feed.deliver(n);
            })
            .add()
            .map_err(refused)?;
        // Freshly made and not yet shared with a delivery: the cell is empty.
        let _ = watcher.state.observer.set(observer);
        Ok(watcher)
    }
}

impl<V: Clone + PartialEq + Send + Sync + 'static> Notifier<V> {
    /// Opens a channel watcher of `var` from any thread; its registration
    /// is queued and applied at the start of the next tick, which delivers
    /// to it the changes queued before it. Otherwise as
    /// [`ObserverManager::watch`]; [`Watcher::observer`] is `None` until the
    /// first delivery.
    ///
    /// # Errors
    ///
    /// [`WatchError::ZeroCapacity`], [`WatchError::Variable`], or
    /// [`WatchError::ManagerDropped`] if the manager is gone; nothing is
    /// queued then.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{Metadata, ObserverManager};
    ///
    /// let mut manager = ObserverManager::<u8>::new();
    /// let notifier = manager.notifier();
    /// let watcher = std::thread::spawn(move || notifier.watch("door", 4))
    ///     .join()
    ///     .unwrap()?;
    /// assert_eq!(watcher.observer(), None); // registered by the next tick
    ///
    /// manager.notify("door", 0, 1, Metadata::new("sensor"))?;
    /// manager.tick();
    /// assert_eq!(watcher.try_recv()?.new, 1);
    /// assert!(watcher.observer().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn watch<'a>(
        &self,
        var: impl Into<VariableRef<'a>>,
        capacity: impl Into<Capacity>,
    ) -> Result<Watcher<V>, WatchError> {
        let (watcher, feed) = open(&self.shared, var.into(), capacity.into())?;
        self.observe(watcher.variable, &watcher.owner)
            .callback(move |n| feed.deliver(n))
            .defer()
            .map_err(refused)?;
        Ok(watcher)
    }
}

/// The reasons a watcher's registration can meet; a watcher brings its own
/// owner and its own callback, so the other two cannot arise.
fn refused(e: AddObserverError) -> WatchError {
    match e {
        AddObserverError::Variable(e) => WatchError::Variable(e),
        AddObserverError::ManagerDropped => WatchError::ManagerDropped,
        AddObserverError::ForeignOwner
        | AddObserverError::UnknownCallback
        | AddObserverError::ZeroRateLimit => {
            debug_assert!(false, "a watcher's own owner and callback were refused");
            WatchError::ManagerDropped
        }
    }
}

/// Makes a watcher (with a fresh owner and queue) and the feed that fills
/// it; the caller registers a callback that calls the feed, for the
/// watcher's owner.
fn open<V>(
    shared: &Arc<Shared<V>>,
    var: VariableRef<'_>,
    capacity: Capacity,
) -> Result<(Watcher<V>, Feed<V>), WatchError> {
    let bound = capacity.checked()?;
    let variable = shared.interner.intern(var.as_var())?;
    let queue = Arc::new(Ring::new(bound));
    let state = Arc::new(WatchState::default());
    let feed = Feed {
        queue: Arc::clone(&queue),
        state: Arc::clone(&state),
        evictions: Arc::clone(&shared.watcher_evictions),
        // A copy per watcher, so clones on dispatch threads never share a count.
        name: Arc::from(shared.interner.name(variable).as_deref().unwrap_or("")),
    };
    let watcher = Watcher {
        owner: shared.owners.spawn(),
        queue,
        state,
        variable,
        capacity,
        _not_sync: std::marker::PhantomData,
    };
    Ok((watcher, feed))
}

/// The sending side of a watcher, called by its observer's callback.
/// Dropping it (the observer is gone) ends the watcher's stream.
struct Feed<V> {
    queue: Arc<Ring<OwnedNotification<V>>>,
    state: Arc<WatchState>,
    /// The manager's count of evictions, taken by each tick's report.
    evictions: Arc<AtomicU64>,
    name: Arc<str>,
}

impl<V: Clone> Feed<V> {
    /// Pushes an owned copy of `n` without blocking. A full bounded queue
    /// evicts its oldest item and counts it. A reader that is gone means the
    /// watcher is being dropped: its owner is dead already and the next tick
    /// sweeps this observer, so there is nothing to do.
    fn deliver(&self, n: &Notification<'_, V>) {
        let _ = self.state.observer.get_or_init(|| n.observer);
        let item = OwnedNotification {
            variable: n.variable,
            name: Arc::clone(&self.name),
            old: n.old.clone(),
            new: n.new.clone(),
            metadata: n.metadata.clone(),
            observer: n.observer,
        };
        if self.queue.push(item) == Pushed::EvictedOldest {
            self.state.dropped.fetch_add(1, Ordering::Relaxed);
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<V> Drop for Feed<V> {
    fn drop(&mut self) {
        self.queue.close_sending();
    }
}
