//! Channel watchers: observe a variable through a channel instead of a callback.
//!
//! A watcher is an ordinary observer whose callback clones each change into
//! an [`OwnedNotification`] and sends it down a `std::sync::mpsc` channel.
//! The receiving end, [`Watcher`], holds the observer's own [`Owner`], so
//! dropping the watcher kills that owner and the next tick sweeps the
//! observer, exactly like any other dead owner's.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{
    self, Receiver, RecvError, RecvTimeoutError, SyncSender, TryRecvError, TrySendError,
};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::change::{Metadata, Notification};
use crate::error::{AddObserverError, VariableError};
use crate::ids::{ObserverId, OwnerId, VariableId};
use crate::manager::ObserverManager;
use crate::notifier::{Notifier, Shared};
use crate::owners::Owner;
use crate::variables::VariableRef;

/// An owned copy of a [`Notification`]: what a [`Watcher`] receives.
///
/// Building one clones `old`, `new` and the metadata; the name is shared
/// (`Arc<str>`), not copied, when a watcher builds it.
///
/// # Examples
///
/// ```
/// use observer_manager::{Metadata, ObserverManager, OwnedNotification};
///
/// let mut manager = ObserverManager::<i32>::new();
/// let watcher = manager.watch_unbounded("hp")?;
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
    /// `watch_unbounded` for no bound.
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

/// The receiving end of a channel watcher: the notifications of one
/// variable, as owned values, in delivery order.
///
/// Open one with [`ObserverManager::watch`] (bounded) or
/// [`ObserverManager::watch_unbounded`], or from any thread with
/// [`Notifier::watch`] and [`Notifier::watch_unbounded`]. It is `Send`, so
/// it can be moved to the thread that consumes it.
///
/// # Delivery
///
/// - **When**: a watcher opened through the manager receives every change
///   dispatched from the next tick on, including changes already queued.
///   One opened through a notifier is registered at the start of the next
///   tick and receives that tick's changes, including those queued before it.
/// - **Order**: one [`OwnedNotification`] per change, in submission order,
///   as the callback of any observer would see them.
/// - **Bounded and full**: a tick never blocks on a watcher. When a bounded
///   watcher's channel is full, the notification is dropped and counted in
///   [`dropped`](Self::dropped); the ones after it are delivered as room
///   frees up, so the stream has a gap but stays in order.
/// - **End of stream**: [`recv`](Self::recv) fails, and iteration ends, once
///   the observer is gone and everything sent is read: after
///   [`ObserverManager::remove_observer`] with [`observer`](Self::observer),
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
/// | | `watch(var, capacity)` | `watch_unbounded(var)` |
/// |---|---|---|
/// | memory | at most `capacity` notifications | grows while the reader lags |
/// | reader too slow | notifications dropped and counted | nothing lost |
/// | tick cost per delivery | clone + `try_send` | clone + `send` (may allocate) |
///
/// ```
/// use observer_manager::{Metadata, ObserverManager};
///
/// let mut manager = ObserverManager::<u32>::new();
/// let bounded = manager.watch("level", 2)?;
/// let unbounded = manager.watch_unbounded("level")?;
/// for level in 1..=5 {
///     manager.notify("level", level - 1, level, Metadata::new("doc"))?;
/// }
/// manager.tick(); // never blocks, even though `bounded` is full
///
/// let firsts: Vec<u32> = bounded.try_iter().map(|n| n.new).collect();
/// assert_eq!(firsts, [1, 2]);
/// assert_eq!(bounded.dropped(), 3);
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
/// Each delivery clones `old`, `new` and the metadata and sends one
/// message; the variable's name is shared per watcher. A watcher is one
/// observer, one owner and one channel: a few hundred bytes plus, when
/// bounded, room for `capacity` notifications allocated up front.
pub struct Watcher<V> {
    /// The observer's owner. Declared first, so it is dropped (killed)
    /// before the receiver: the observer is dead by the time its channel
    /// closes, and the next tick sweeps it.
    owner: Owner,
    receiver: Receiver<OwnedNotification<V>>,
    state: Arc<WatchState>,
    variable: VariableId,
    /// `None` when unbounded.
    capacity: Option<usize>,
}

/// What a watcher and its callback share.
#[derive(Default)]
struct WatchState {
    /// Notifications dropped because the bounded channel was full.
    dropped: AtomicU64,
    /// Set at registration (through the manager) or first delivery (through
    /// a notifier); never changes after.
    observer: OnceLock<ObserverId>,
}

/// The sending end, held by the observer's callback.
enum Sender<V> {
    Bounded(SyncSender<OwnedNotification<V>>),
    Unbounded(mpsc::Sender<OwnedNotification<V>>),
}

impl<V> Watcher<V> {
    /// Waits for the next notification.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the observer is gone (removed, or the manager
    /// dropped) and every notification sent before is read.
    pub fn recv(&self) -> Result<OwnedNotification<V>, RecvError> {
        self.receiver.recv()
    }

    /// The next notification, if one is waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if none is waiting;
    /// [`TryRecvError::Disconnected`] as [`recv`](Self::recv) fails.
    pub fn try_recv(&self) -> Result<OwnedNotification<V>, TryRecvError> {
        self.receiver.try_recv()
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
        self.receiver.recv_timeout(timeout)
    }

    /// A blocking iterator that ends when the observer is gone.
    pub fn iter(&self) -> mpsc::Iter<'_, OwnedNotification<V>> {
        self.receiver.iter()
    }

    /// An iterator over the notifications waiting now; it never blocks.
    pub fn try_iter(&self) -> mpsc::TryIter<'_, OwnedNotification<V>> {
        self.receiver.try_iter()
    }

    /// Notifications dropped because this bounded watcher was full when a
    /// tick delivered them; always zero when unbounded. A reading that a
    /// tick running on another thread may raise at once.
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
    /// [`inspect_variable`](ObserverManager::inspect_variable) shows it.
    pub fn owner_id(&self) -> OwnerId {
        self.owner.id()
    }

    /// The channel's capacity; `None` when unbounded.
    pub fn capacity(&self) -> Option<usize> {
        self.capacity
    }
}

impl<'a, V> IntoIterator for &'a Watcher<V> {
    type Item = OwnedNotification<V>;
    type IntoIter = mpsc::Iter<'a, OwnedNotification<V>>;

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

impl<V: Clone + PartialEq + Send + Sync + 'static> ObserverManager<V> {
    /// Opens a bounded channel watcher of `var`, registered at once: it
    /// receives every change dispatched from the next tick on, including
    /// changes already queued. See [`Watcher`] for the delivery rules.
    ///
    /// At most `capacity` notifications wait in the channel; when it is
    /// full, a tick drops the notification and counts it in
    /// [`Watcher::dropped`] instead of blocking.
    ///
    /// # Errors
    ///
    /// [`WatchError::ZeroCapacity`] if `capacity` is zero,
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
        capacity: usize,
    ) -> Result<Watcher<V>, WatchError> {
        let capacity = nonzero(capacity)?;
        let (watcher, feed) = open(&self.shared, var.into(), Some(capacity))?;
        let observer = self
            .add_observer(watcher.variable, &watcher.owner, move |n| {
                feed.deliver(n);
            })
            .map_err(refused)?;
        // Freshly made and not yet shared with a delivery: the cell is empty.
        let _ = watcher.state.observer.set(observer);
        Ok(watcher)
    }

    /// Opens an unbounded channel watcher of `var`, registered at once: as
    /// [`watch`](Self::watch), but nothing is ever dropped; the channel
    /// grows while the reader lags.
    ///
    /// # Errors
    ///
    /// [`WatchError::Variable`] for an invalid name or a foreign id; nothing
    /// is registered then.
    pub fn watch_unbounded<'a>(
        &mut self,
        var: impl Into<VariableRef<'a>>,
    ) -> Result<Watcher<V>, WatchError> {
        let (watcher, feed) = open(&self.shared, var.into(), None)?;
        let observer = self
            .add_observer(watcher.variable, &watcher.owner, move |n| {
                feed.deliver(n);
            })
            .map_err(refused)?;
        let _ = watcher.state.observer.set(observer);
        Ok(watcher)
    }
}

impl<V: Clone + PartialEq + Send + Sync + 'static> Notifier<V> {
    /// Opens a bounded channel watcher of `var` from any thread; its
    /// registration is queued and applied at the start of the next tick,
    /// which delivers to it the changes queued before it. Otherwise as
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
        capacity: usize,
    ) -> Result<Watcher<V>, WatchError> {
        let capacity = nonzero(capacity)?;
        let (watcher, feed) = open(&self.shared, var.into(), Some(capacity))?;
        self.add_observer(watcher.variable, &watcher.owner, move |n| feed.deliver(n))
            .map_err(refused)?;
        Ok(watcher)
    }

    /// Opens an unbounded channel watcher of `var` from any thread, applied
    /// at the next tick; see [`Notifier::watch`] and
    /// [`ObserverManager::watch_unbounded`].
    ///
    /// # Errors
    ///
    /// [`WatchError::Variable`], or [`WatchError::ManagerDropped`] if the
    /// manager is gone; nothing is queued then.
    pub fn watch_unbounded<'a>(
        &self,
        var: impl Into<VariableRef<'a>>,
    ) -> Result<Watcher<V>, WatchError> {
        let (watcher, feed) = open(&self.shared, var.into(), None)?;
        self.add_observer(watcher.variable, &watcher.owner, move |n| feed.deliver(n))
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

fn nonzero(capacity: usize) -> Result<usize, WatchError> {
    if capacity == 0 {
        Err(WatchError::ZeroCapacity)
    } else {
        Ok(capacity)
    }
}

/// Makes a watcher (with a fresh owner and channel) and the feed that fills
/// it; the caller registers a callback that calls the feed, for the
/// watcher's owner.
fn open<V>(
    shared: &Arc<Shared<V>>,
    var: VariableRef<'_>,
    capacity: Option<usize>,
) -> Result<(Watcher<V>, Feed<V>), WatchError> {
    let variable = shared.interner.intern(var)?;
    let (sender, receiver) = match capacity {
        Some(bound) => {
            let (tx, rx) = mpsc::sync_channel(bound);
            (Sender::Bounded(tx), rx)
        }
        None => {
            let (tx, rx) = mpsc::channel();
            (Sender::Unbounded(tx), rx)
        }
    };
    let state = Arc::new(WatchState::default());
    let feed = Feed {
        sender,
        state: Arc::clone(&state),
        // A copy per watcher, so clones on dispatch threads never share a count.
        name: Arc::from(shared.interner.name(variable.index)),
    };
    let watcher = Watcher {
        owner: shared.owners.spawn(),
        receiver,
        state,
        variable,
        capacity,
    };
    Ok((watcher, feed))
}

/// The sending side of a watcher, called by its observer's callback.
struct Feed<V> {
    sender: Sender<V>,
    state: Arc<WatchState>,
    name: Arc<str>,
}

impl<V: Clone> Feed<V> {
    /// Sends an owned copy of `n` without blocking. A full bounded channel
    /// drops it and counts it. A closed channel means the watcher is being
    /// dropped: its owner is dead already and the next tick sweeps this
    /// observer, so there is nothing to do.
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
        match &self.sender {
            Sender::Bounded(tx) => {
                if let Err(TrySendError::Full(_)) = tx.try_send(item) {
                    self.state.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Sender::Unbounded(tx) => {
                let _ = tx.send(item);
            }
        }
    }
}
