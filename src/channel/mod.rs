//! Channel watchers: observe a variable through a channel instead of a callback.
//!
//! A watcher is an ordinary observer whose callback clones each change into
//! an [`OwnedNotification`] and pushes it into a queue ([`ring`]) that, when
//! bounded and full, evicts its oldest item: the newest change always gets
//! in. The receiving end, [`Watcher`], holds the observer's own [`Owner`],
//! so dropping the watcher kills that owner and the next tick sweeps the
//! observer, exactly like any other dead owner's.

mod ring;
mod watch;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ring::Ring;

use crate::error::VariableError;
use crate::ids::{ObserverId, OwnerId, VariableId};
use crate::ingest::change::{Metadata, Notification};
use crate::owners::Owner;

/// An owned copy of a [`Notification`]: what a [`Watcher`] receives.
///
/// Building one clones `old`, `new` and the metadata; the name is shared
/// (`Arc<str>`), not copied, when a watcher builds it.
///
/// # Examples
///
/// ```
/// use observer_manager::{Capacity, Metadata, ObserverManager, OwnedNotification};
///
/// let mut manager = ObserverManager::<i32>::new();
/// let watcher = manager.watch("hp", Capacity::Unbounded)?;
/// manager.notify("hp", 10, 7, Metadata::new("combat"))?;
/// manager.tick();
///
/// let n: OwnedNotification<i32> = watcher.try_recv()?;
/// assert_eq!((&*n.name, n.old, n.new), ("hp", 10, 7));
/// assert_eq!(n.metadata.source, "combat");
/// assert_eq!(Some(n.observer), watcher.observer());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedNotification<V> {
    /// The variable that changed.
    pub variable: VariableId,
    /// The variable's name.
    pub name: Arc<str>,
    /// The value before the change.
    pub old: V,
    /// The value after the change.
    pub new: V,
    /// Session, timestamp and source of the change.
    pub metadata: Metadata,
    /// The observer that received it (for a watcher: its own observer).
    pub observer: ObserverId,
}

impl<V: Clone> From<&Notification<'_, V>> for OwnedNotification<V> {
    /// Clones the values and metadata and copies the name into a new `Arc<str>`.
    fn from(n: &Notification<'_, V>) -> Self {
        OwnedNotification {
            variable: n.variable,
            name: Arc::from(n.name),
            old: n.old.clone(),
            new: n.new.clone(),
            metadata: n.metadata.clone(),
            observer: n.observer,
        }
    }
}

/// Why a watcher could not be opened. Nothing is registered then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchError {
    /// The variable was rejected.
    Variable(VariableError),
    /// A bounded watcher needs room for at least one notification; use
    /// [`Capacity::Unbounded`] for no bound.
    ZeroCapacity,
    /// The manager was dropped (deferred registration through a `Notifier`).
    ManagerDropped,
}

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchError::Variable(e) => write!(f, "cannot watch: {e}"),
            WatchError::ZeroCapacity => f.write_str("watcher capacity must be at least 1"),
            WatchError::ManagerDropped => f.write_str("the manager was dropped"),
        }
    }
}

impl std::error::Error for WatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WatchError::Variable(e) => Some(e),
            _ => None,
        }
    }
}

impl From<VariableError> for WatchError {
    fn from(e: VariableError) -> Self {
        WatchError::Variable(e)
    }
}

/// How many notifications a [`Watcher`] holds while its reader lags.
///
/// A `usize` converts to [`Capacity::Bounded`], so `watch(var, 16)` opens a
/// bounded watcher.
///
/// | | `Bounded(n)` | `Unbounded` |
/// |---|---|---|
/// | memory | at most `n` notifications, allocated up front | grows while the reader lags |
/// | reader too slow | the oldest waiting notification is evicted and counted; the newest always arrives | nothing lost |
/// | tick cost per delivery | clone + push | clone + push (may allocate) |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capacity {
    /// At most this many waiting notifications (at least 1); when full, the
    /// oldest is evicted for the newest.
    Bounded(usize),
    /// No bound: nothing is ever evicted.
    Unbounded,
}

impl From<usize> for Capacity {
    fn from(bound: usize) -> Self {
        Capacity::Bounded(bound)
    }
}

impl Capacity {
    /// The bound, checked: `None` when unbounded.
    fn checked(self) -> Result<Option<usize>, WatchError> {
        match self {
            Capacity::Bounded(0) => Err(WatchError::ZeroCapacity),
            Capacity::Bounded(bound) => Ok(Some(bound)),
            Capacity::Unbounded => Ok(None),
        }
    }
}

/// The receiving end of a channel watcher: the notifications of one
/// variable, as owned values, in delivery order.
///
/// Open one with [`ObserverManager::watch`](crate::ObserverManager::watch), or from any thread with
/// [`Notifier::watch`](crate::Notifier::watch). It is `Send`, so it can be moved to the thread that
/// consumes it.
///
/// # Delivery
///
/// - **When**: a watcher opened through the manager receives every change
///   dispatched from the next tick on, including changes already queued.
///   One opened through a notifier is registered at the start of the next
///   tick and receives that tick's changes, including those queued before it.
/// - **Order**: one [`OwnedNotification`] per change, in submission order,
///   as the callback of any observer would see them.
/// - **Bounded and full: the latest value always arrives.** A tick never
///   blocks on a watcher. When a [`Capacity::Bounded`] watcher is full, the
///   oldest waiting notification is evicted to make room for the new one,
///   and counted in [`dropped`](Self::dropped) and in the manager's
///   [`TickReport::watcher_notifications_dropped`](crate::TickReport::watcher_notifications_dropped)
///   and [`Stats::watcher_notifications_dropped`](crate::Stats::watcher_notifications_dropped).
///   What the reader gets stays in order and always ends with the last
///   change delivered.
/// - **End of stream**: [`recv`](Self::recv) fails, and iteration ends, once
///   the observer is gone and everything sent is read: after
///   [`ObserverManager::remove_observer`](crate::ObserverManager::remove_observer) with [`observer`](Self::observer),
///   or when the manager is dropped.
///
/// # Lifetime
///
/// The watcher holds its observer's [`Owner`]. Dropping the watcher kills
/// that owner at once, so the observer is swept by the first tick that
/// starts after the drop: that tick sends it nothing and counts it in
/// [`TickReport::observers_swept`](crate::TickReport::observers_swept).
/// A watcher dropped before its deferred registration is applied is never
/// registered (the registration is skipped and counted in
/// `commands_skipped`).
///
/// # Bounded or unbounded
///
/// ```
/// use observer_manager::{Capacity, Metadata, ObserverManager};
///
/// let mut manager = ObserverManager::<u32>::new();
/// let bounded = manager.watch("level", 2)?;
/// let unbounded = manager.watch("level", Capacity::Unbounded)?;
/// for level in 1..=5 {
///     manager.notify("level", level - 1, level, Metadata::new("doc"))?;
/// }
/// let report = manager.tick(); // never blocks, even though `bounded` is full
///
/// let latest: Vec<u32> = bounded.try_iter().map(|n| n.new).collect();
/// assert_eq!(latest, [4, 5]); // the oldest were evicted, the newest kept
/// assert_eq!(bounded.dropped(), 3);
/// assert_eq!(report.watcher_notifications_dropped, 3);
/// assert_eq!(unbounded.try_iter().count(), 5);
/// assert_eq!(unbounded.dropped(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A `Watcher` is `Send`, so it can be moved to its consumer, but not
/// `Sync`: one thread reads it.
///
/// ```
/// fn assert_send<T: Send>() {}
/// assert_send::<observer_manager::Watcher<String>>();
/// ```
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<observer_manager::Watcher<String>>();
/// ```
///
/// # Costs
///
/// Each delivery clones `old`, `new` and the metadata and takes one
/// uncontended lock; the variable's name is shared per watcher. A watcher
/// is one observer, one owner and one queue: a few hundred bytes plus, when
/// bounded, room for `capacity` notifications allocated up front.
pub struct Watcher<V> {
    /// The observer's owner. Declared first, so it is dropped (killed)
    /// right after the queue stops reading: the observer is dead by then,
    /// and the next tick sweeps it.
    owner: Owner,
    queue: Arc<Ring<OwnedNotification<V>>>,
    state: Arc<WatchState>,
    variable: VariableId,
    capacity: Capacity,
    /// The queue is read by one thread: a `Watcher` is `Send` but not `Sync`.
    _not_sync: std::marker::PhantomData<std::cell::Cell<()>>,
}

/// What a watcher and its callback share.
#[derive(Default)]
struct WatchState {
    /// Notifications evicted unread because the bounded queue was full.
    dropped: AtomicU64,
    /// Set at registration (through the manager) or first delivery (through
    /// a notifier); never changes after.
    observer: OnceLock<ObserverId>,
}

impl<V> Watcher<V> {
    /// Waits for the next notification.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the observer is gone (removed, or the manager
    /// dropped) and every notification sent before is read.
    pub fn recv(&self) -> Result<OwnedNotification<V>, RecvError> {
        self.queue.recv()
    }

    /// The next notification, if one is waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if none is waiting;
    /// [`TryRecvError::Disconnected`] as [`recv`](Self::recv) fails.
    pub fn try_recv(&self) -> Result<OwnedNotification<V>, TryRecvError> {
        self.queue.try_recv()
    }

    /// Waits at most `timeout` for the next notification.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if none came in time;
    /// [`RecvTimeoutError::Disconnected`] as [`recv`](Self::recv) fails.
    pub fn recv_timeout(
        &self,
        timeout: Duration,
    ) -> Result<OwnedNotification<V>, RecvTimeoutError> {
        self.queue.recv_timeout(timeout)
    }

    /// A blocking iterator that ends when the observer is gone.
    pub fn iter(&self) -> WatchIter<'_, V> {
        WatchIter { watcher: self }
    }

    /// An iterator over the notifications waiting now; it never blocks.
    pub fn try_iter(&self) -> WatchTryIter<'_, V> {
        WatchTryIter { watcher: self }
    }

    /// Notifications waiting to be read now.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no notification is waiting now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Notifications evicted unread because this bounded watcher was full
    /// when a newer one arrived; always zero when unbounded. A reading that
    /// a tick running on another thread may raise at once.
    pub fn dropped(&self) -> u64 {
        self.state.dropped.load(Ordering::Relaxed)
    }

    /// The watched variable.
    pub fn variable(&self) -> VariableId {
        self.variable
    }

    /// The observer behind this watcher: known at once when opened through
    /// the manager; through a notifier, from the first delivery on (`None`
    /// until then).
    pub fn observer(&self) -> Option<ObserverId> {
        self.state.observer.get().copied()
    }

    /// The id of the watcher's own owner, as
    /// [`inspect_variable`](crate::ObserverManager::inspect_variable) shows it.
    pub fn owner_id(&self) -> OwnerId {
        self.owner.id()
    }

    /// The capacity it was opened with.
    pub fn capacity(&self) -> Capacity {
        self.capacity
    }
}

impl<V> Drop for Watcher<V> {
    /// Frees what waits unread; the owner (a field) dies right after.
    fn drop(&mut self) {
        self.queue.close_reading();
    }
}

/// A blocking iterator over a [`Watcher`]'s notifications, from
/// [`Watcher::iter`]; it ends when the observer is gone and all is read.
pub struct WatchIter<'a, V> {
    watcher: &'a Watcher<V>,
}

impl<V> Iterator for WatchIter<'_, V> {
    type Item = OwnedNotification<V>;

    fn next(&mut self) -> Option<Self::Item> {
        self.watcher.recv().ok()
    }
}

/// An iterator over the notifications waiting in a [`Watcher`] now, from
/// [`Watcher::try_iter`]; it never blocks.
pub struct WatchTryIter<'a, V> {
    watcher: &'a Watcher<V>,
}

impl<V> Iterator for WatchTryIter<'_, V> {
    type Item = OwnedNotification<V>;

    fn next(&mut self) -> Option<Self::Item> {
        self.watcher.try_recv().ok()
    }
}

impl<V> fmt::Debug for WatchIter<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WatchIter").field(self.watcher).finish()
    }
}

impl<V> fmt::Debug for WatchTryIter<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WatchTryIter").field(self.watcher).finish()
    }
}

impl<'a, V> IntoIterator for &'a Watcher<V> {
    type Item = OwnedNotification<V>;
    type IntoIter = WatchIter<'a, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<V> fmt::Debug for Watcher<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("variable", &self.variable)
            .field("observer", &self.observer())
            .field("capacity", &self.capacity)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}
