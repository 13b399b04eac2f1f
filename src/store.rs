//! The session store: sessions of named variables whose every write is
//! reported to the manager, as the original design's `SessionStore` did.
//!
//! A [`SessionStore`] keeps, per [`SessionId`], a map of variable names to
//! values. [`set`](SessionStore::set) and the deletions compute the old and
//! new value, stamp [`Metadata`] with the session, the time and the store's
//! source, and enqueue the change through a [`Notifier`]. The store never
//! waits on a tick and never touches observers, so its cost does not depend
//! on how many watch.
//!
//! The user-facing rules (values, names, deletion, costs) are documented on
//! [`SessionStore`] itself, since this module is private.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::mem;
use std::sync::{
    Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak,
};

use crate::change::{Metadata, Notification, SessionId};
use crate::error::{AddObserverError, NotifyError, VariableError};
use crate::ids::{ObserverId, VariableId};
use crate::notifier::Notifier;
use crate::owners::Owner;
use crate::policy::Policy;
use crate::variables::MAX_VARIABLE_NAME_LEN;

/// Sessions of named variables; every write is reported to the manager
/// behind a [`Notifier`], to be delivered at its next tick.
///
/// A store keeps, per [`SessionId`], a map of variable names to values.
/// [`set`](Self::set) and the deletions compute the old and new value, stamp
/// [`Metadata`] with the session, the time and the store's source, and
/// enqueue the change through a [`Notifier`]. The store never waits on a
/// tick and never touches observers, so its cost does not depend on how
/// many watch.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use observer_manager::{ObserverManager, Policy, SessionId, SessionStore};
///
/// let mut manager = ObserverManager::<Option<i64>>::new();
/// let store = SessionStore::new(manager.notifier());
/// let owner = manager.owner();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&seen);
/// let alice = SessionId(1);
/// store.observe(alice, "hp", &owner, Policy::new(), move |n| {
///     sink.lock().unwrap().push((*n.old, *n.new));
/// })?;
///
/// store.set(alice, "hp", 100)?;
/// assert_eq!(store.set(alice, "hp", 90)?, Some(100));
/// assert_eq!(store.get(alice, "hp"), Some(90));
/// assert_eq!(store.delete(alice, "hp")?, Some(90));
/// manager.tick();
///
/// let seen = seen.lock().unwrap();
/// assert_eq!(*seen, [(None, Some(100)), (Some(100), Some(90)), (Some(90), None)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Values on the manager side: `Option<V>`
///
/// The store's manager is an `ObserverManager<Option<V>>`: `None` stands for
/// "no such variable". A variable appearing or disappearing is a change that
/// watchers need to see, and with plain `V` the first `set` would have no old
/// value and a deletion no new one (`old == new` would be skipped by the
/// engine). Requiring an initial value instead would hide creation and leave
/// deletion unreportable.
///
/// | store call | `old` | `new` |
/// |---|---|---|
/// | first [`set`](Self::set) of a variable | `None` | `Some(value)` |
/// | later `set` | `Some(previous)` | `Some(value)` |
/// | `set` to the same value | skipped by the engine (`changes_skipped`) | |
/// | [`delete`](Self::delete), [`delete_session`](Self::delete_session) | `Some(last)` | `None` |
/// | [`observe_primed`](Self::observe_primed) (to the new observer only) | current | current |
///
/// # Variable names
///
/// Variable `var` of session `SessionId(n)` is the manager variable named
/// `"{n}/{var}"` (see [`variable_name`](Self::variable_name)), so the manager's own
/// calls (`observer_count`, `watch`, `inspect_variable`) work on it too. The
/// store interns that name once, on a variable's first `set`, and keeps its
/// [`VariableId`]: later `set`s neither format nor hash the full name.
///
/// # Deleting and cleaning up
///
/// A deletion is reported like any change (`Some(last) -> None`), and the
/// variable's observers are then removed, but not before they have seen it:
/// the engine applies removals at the start of a tick, before dispatch, so
/// the store queues a one-off *clean-up* observer after the deletion. Let `T`
/// be the next tick:
///
/// 1. `T` delivers the deletion to every observer of the variable, and runs
///    the clean-up (a primed delivery to the clean-up observer alone).
/// 2. The clean-up queues the removal of the variable's observers, itself
///    included; the start of `T + 1` applies it. If the variable was set
///    again meanwhile, its observers are kept: they saw the deletion and the
///    new value, and watch the variable that exists now.
///
/// The clean-up observer is counted like any other: one `observers_added`
/// and `observers_removed`, one primed notification, and one
/// `notifications_withheld` per change of its variable in `T`. It belongs to
/// an owner the store shares with its clean-ups, so a pending clean-up still
/// runs if the store is dropped.
///
/// # Concurrency
///
/// Every method takes `&self`, and a `SessionStore` is `Clone + Send + Sync`:
/// clones share the same sessions. Writes to one session are serialised, and
/// each is enqueued while the session is locked, so the changes of a
/// variable reach the engine in the order the store applied them: each
/// change's `old` is the previous change's `new`. The contract the types
/// cannot enforce: `V`'s `Clone`, `PartialEq` and `Drop` run under the
/// store's locks and must not call the store.
///
/// # Costs
///
/// - `set` of an existing variable: a shared lock on the session table, a
///   session lock, two hash lookups of short keys (the session id, the
///   variable name), two clones of `V` (the old value for the change, the
///   new one for the store: the store is left unchanged if the manager
///   refuses), a timestamp, and the engine's `notify` (one short lock and a
///   push). No allocation besides those clones (keep the source a
///   `&'static str`); for large values use `V = Arc<T>`.
/// - First `set` of a variable: formats and interns its name, and takes the
///   session table's exclusive lock.
/// - `delete` and `delete_session` take the exclusive lock for one clone and
///   one `notify` per variable, plus one clean-up registration.
/// - Memory: a variable costs its name, its value, an id and a map entry.
///   The engine never forgets an interned name, so every `(session, var)`
///   ever set keeps a name and a variable entry in the manager: sessions
///   that come and go by the million grow the manager without bound.
///
/// # Thread safety
///
/// A `SessionStore` is a cheap, shareable handle when its values are
/// `Send + Sync`, and only then:
///
/// ```
/// fn assert_handle<T: Clone + Send + Sync>() {}
/// assert_handle::<observer_manager::SessionStore<String>>();
/// ```
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<observer_manager::SessionStore<std::rc::Rc<u8>>>();
/// ```
pub struct SessionStore<V> {
    inner: Arc<Inner<V>>,
}

/// What the clones of a store share.
struct Inner<V> {
    notifier: Notifier<Option<V>>,
    source: Cow<'static, str>,
    /// The owner of the clean-up observers, shared with each of them so a
    /// pending clean-up outlives the store.
    cleaner: Arc<Owner>,
    /// Invariant: every session in the table holds at least one variable.
    /// Lock order: this table, then a session, then the engine's locks.
    sessions: RwLock<HashMap<SessionId, Mutex<Variables<V>>>>,
}

/// One session's variables, by name.
type Variables<V> = HashMap<Box<str>, Stored<V>>;

/// A variable's value and its manager-side id.
struct Stored<V> {
    value: V,
    /// The interned `"{session}/{var}"`, cached so `set` neither formats nor
    /// hashes the full name.
    variable: VariableId,
}

impl<V> Clone for SessionStore<V> {
    fn clone(&self) -> Self {
        SessionStore {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<V: Clone + PartialEq + Send + Sync + 'static> SessionStore<V> {
    /// The source written into the metadata of every change, unless the
    /// store is made with [`with_source`](Self::with_source).
    pub const DEFAULT_SOURCE: &'static str = "store";

    /// An empty store that reports through `notifier`, with source
    /// [`DEFAULT_SOURCE`](Self::DEFAULT_SOURCE).
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionStore};
    ///
    /// let manager = ObserverManager::<Option<String>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// assert_eq!(store.source(), "store");
    /// assert!(store.sessions().is_empty());
    /// ```
    pub fn new(notifier: Notifier<Option<V>>) -> Self {
        Self::with_source(notifier, Self::DEFAULT_SOURCE)
    }

    /// An empty store whose changes carry `source` in their metadata. A
    /// borrowed `&'static str` keeps `set` free of allocation; an owned
    /// string is cloned into every change.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionStore};
    ///
    /// let manager = ObserverManager::<Option<u8>>::new();
    /// let store = SessionStore::with_source(manager.notifier(), "profile-store");
    /// assert_eq!(store.source(), "profile-store");
    /// ```
    pub fn with_source(
        notifier: Notifier<Option<V>>,
        source: impl Into<Cow<'static, str>>,
    ) -> Self {
        let cleaner = Arc::new(notifier.owner());
        SessionStore {
            inner: Arc::new(Inner {
                notifier,
                source: source.into(),
                cleaner,
                sessions: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The source written into the metadata of this store's changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionStore};
    ///
    /// let manager = ObserverManager::<Option<u8>>::new();
    /// assert_eq!(SessionStore::new(manager.notifier()).source(), "store");
    /// ```
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// The notifier this store reports through.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionId, SessionStore};
    ///
    /// let manager = ObserverManager::<Option<u8>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// let id = store.variable(SessionId(1), "x")?;
    /// assert_eq!(store.notifier().variable("1/x")?, id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn notifier(&self) -> &Notifier<Option<V>> {
        &self.inner.notifier
    }

    /// The manager-side name of variable `var` of `session`: `"{n}/{var}"`
    /// for `SessionId(n)`. The session is the digits before the first `/`,
    /// so `var` may itself contain `/`.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionId, SessionStore};
    ///
    /// let manager = ObserverManager::<Option<u8>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// assert_eq!(store.variable_name(SessionId(7), "hp"), "7/hp");
    /// assert_eq!(store.variable_name(SessionId(7), "bag/slot1"), "7/bag/slot1");
    /// ```
    pub fn variable_name(&self, session: SessionId, var: &str) -> String {
        full_name(session, var)
    }

    /// The manager-side id of variable `var` of `session`, interning its
    /// name if new; the variable need not exist in the store. Use it with
    /// the manager's own calls: `observer_count`, `watch`, `inspect_variable`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Variable`] if `var` is empty or the full name is longer
    /// than [`MAX_VARIABLE_NAME_LEN`]; nothing is interned then.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{Metadata, ObserverManager, SessionId, SessionStore};
    ///
    /// let mut manager = ObserverManager::<Option<u32>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// let watcher = manager.watch_unbounded(store.variable(SessionId(3), "level")?)?;
    /// store.set(SessionId(3), "level", 2)?;
    /// manager.tick();
    /// assert_eq!(watcher.try_recv()?.new, Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn variable(&self, session: SessionId, var: &str) -> Result<VariableId, StoreError> {
        let sessions = self.inner.read();
        let cached = sessions
            .get(&session)
            .and_then(|vars| lock(vars).get(var).map(|s| s.variable));
        match cached {
            Some(id) => Ok(id),
            None => self.inner.intern(session, var),
        }
    }

    /// Sets variable `var` of `session` to `value`, creating the session
    /// and the variable if new, and reports the change (old value `None` if
    /// the variable is new), stamped with the session, the time and the
    /// store's source. Returns the previous value, like `HashMap::insert`.
    ///
    /// Returns at once: observers receive the change at the manager's next
    /// tick. Setting the value a variable already has stores it and reports
    /// nothing (the engine skips `old == new` and counts it).
    ///
    /// # Errors
    ///
    /// [`StoreError::Variable`] if a new variable's name is invalid (see
    /// [`variable`](Self::variable)); [`StoreError::ManagerDropped`] if the
    /// manager is gone. The store is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionId, SessionStore};
    ///
    /// let mut manager = ObserverManager::<Option<&'static str>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// let watcher = manager.watch_unbounded("5/mood")?;
    /// assert_eq!(store.set(SessionId(5), "mood", "calm")?, None);
    /// assert_eq!(store.set(SessionId(5), "mood", "busy")?, Some("calm"));
    /// manager.tick();
    ///
    /// let first = watcher.try_recv()?;
    /// assert_eq!((first.old, first.new), (None, Some("calm")));
    /// assert_eq!(first.metadata.session, Some(SessionId(5)));
    /// assert_eq!(first.metadata.source, "store");
    /// assert_eq!(watcher.try_recv()?.new, Some("busy"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set(&self, session: SessionId, var: &str, value: V) -> Result<Option<V>, StoreError> {
        {
            let sessions = self.inner.read();
            if let Some(vars) = sessions.get(&session)
                && let Some(stored) = lock(vars).get_mut(var)
            {
                return self.inner.replace(session, stored, value).map(Some);
            }
        }
        // The first set of this variable: name it before taking the
        // exclusive lock, then insert (unless another thread got there first).
        let variable = self.inner.intern(session, var)?;
        self.inner.insert(session, var, variable, value)
    }

    /// The value of variable `var` of `session`, if set (a clone; a reading
    /// that other threads may change at once).
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionId, SessionStore};
    ///
    /// let manager = ObserverManager::<Option<f32>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// assert_eq!(store.get(SessionId(1), "speed"), None);
    /// store.set(SessionId(1), "speed", 2.5)?;
    /// assert_eq!(store.get(SessionId(1), "speed"), Some(2.5));
    /// # Ok::<(), observer_manager::StoreError>(())
    /// ```
    pub fn get(&self, session: SessionId, var: &str) -> Option<V> {
        let sessions = self.inner.read();
        let vars = lock(sessions.get(&session)?);
        vars.get(var).map(|s| s.value.clone())
    }

    /// Deletes variable `var` of `session` if it exists, and returns its
    /// value. The deletion is reported as `Some(last) -> None`; the
    /// variable's observers are removed after they have received it (see
    /// [clean-up rules](Self#deleting-and-cleaning-up)). Deleting
    /// the last variable of a session deletes the session.
    ///
    /// Deleting a variable that does not exist is harmless: `Ok(None)`, and
    /// nothing is reported.
    ///
    /// # Errors
    ///
    /// [`StoreError::ManagerDropped`] if the manager is gone; the store is
    /// unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, Policy, SessionId, SessionStore};
    ///
    /// let mut manager = ObserverManager::<Option<u8>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// let owner = manager.owner();
    /// let s = SessionId(2);
    /// store.set(s, "flag", 1)?;
    /// store.observe(s, "flag", &owner, Policy::new(), |_| {})?;
    /// manager.tick();
    /// assert_eq!(manager.observer_count("2/flag"), 1);
    ///
    /// assert_eq!(store.delete(s, "flag")?, Some(1));
    /// assert_eq!(store.delete(s, "flag")?, None); // twice is harmless
    /// manager.tick(); // delivers the deletion, runs the clean-up
    /// manager.tick(); // applies it
    /// assert_eq!(manager.observer_count("2/flag"), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete(&self, session: SessionId, var: &str) -> Result<Option<V>, StoreError> {
        let mut sessions = self.inner.write();
        let Some(vars) = sessions.get_mut(&session) else {
            return Ok(None);
        };
        let vars = vars.get_mut().unwrap_or_else(PoisonError::into_inner);
        let Some(stored) = vars.get(var) else {
            return Ok(None);
        };
        // Reported first: a refusal (or a panicking `V::clone`) leaves the
        // variable in place.
        self.inner.report_deletion(session, stored)?;
        let Some((name, stored)) = vars.remove_entry(var) else {
            debug_assert!(false, "found under the same lock");
            return Ok(None);
        };
        if vars.is_empty() {
            sessions.remove(&session);
        }
        self.inner.clean_up(session, vec![(name, stored.variable)]);
        Ok(Some(stored.value))
    }

    /// Deletes every variable of `session`; returns how many. Each deletion
    /// is reported as in [`delete`](Self::delete) (in name order), and the
    /// observers of every deleted variable are cleaned up the same way.
    ///
    /// Deleting an unknown session is harmless: `Ok(0)`.
    ///
    /// # Errors
    ///
    /// [`StoreError::ManagerDropped`] if the manager is gone; the session is
    /// unchanged then (changes reported before the refusal died with the
    /// manager's queue).
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionId, SessionStore};
    ///
    /// let mut manager = ObserverManager::<Option<i32>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// let watcher = manager.watch_unbounded("9/x")?;
    /// store.set(SessionId(9), "x", 1)?;
    /// store.set(SessionId(9), "y", 2)?;
    ///
    /// assert_eq!(store.delete_session(SessionId(9))?, 2);
    /// assert!(!store.contains_session(SessionId(9)));
    /// assert_eq!(store.delete_session(SessionId(9))?, 0);
    /// manager.tick();
    /// let changes: Vec<_> = watcher.try_iter().map(|n| (n.old, n.new)).collect();
    /// assert_eq!(changes, [(None, Some(1)), (Some(1), None)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_session(&self, session: SessionId) -> Result<usize, StoreError> {
        let mut sessions = self.inner.write();
        let Some(vars) = sessions.get_mut(&session) else {
            return Ok(0);
        };
        let vars = vars.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<&str> = vars.keys().map(|name| &**name).collect();
        names.sort_unstable();
        for name in names {
            self.inner.report_deletion(session, &vars[name])?;
        }
        let vars = sessions
            .remove(&session)
            .map(|vars| vars.into_inner().unwrap_or_else(PoisonError::into_inner))
            .unwrap_or_default();
        let count = vars.len();
        let mut deleted: Vec<(Box<str>, VariableId)> = vars
            .into_iter()
            .map(|(name, stored)| (name, stored.variable))
            .collect();
        deleted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.inner.clean_up(session, deleted);
        Ok(count)
    }

    /// Whether `session` holds at least one variable (a reading that other
    /// threads may change at once).
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionId, SessionStore};
    ///
    /// let manager = ObserverManager::<Option<u8>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// store.set(SessionId(4), "a", 1)?;
    /// assert!(store.contains_session(SessionId(4)));
    /// store.delete(SessionId(4), "a")?; // its last variable
    /// assert!(!store.contains_session(SessionId(4)));
    /// # Ok::<(), observer_manager::StoreError>(())
    /// ```
    pub fn contains_session(&self, session: SessionId) -> bool {
        self.inner.read().contains_key(&session)
    }

    /// The sessions that hold variables, in id order.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionId, SessionStore};
    ///
    /// let manager = ObserverManager::<Option<u8>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// store.set(SessionId(8), "a", 1)?;
    /// store.set(SessionId(3), "a", 1)?;
    /// assert_eq!(store.sessions(), [SessionId(3), SessionId(8)]);
    /// # Ok::<(), observer_manager::StoreError>(())
    /// ```
    pub fn sessions(&self) -> Vec<SessionId> {
        let mut sessions: Vec<SessionId> = self.inner.read().keys().copied().collect();
        sessions.sort_unstable();
        sessions
    }

    /// The names of the variables of `session`, in name order; empty for an
    /// unknown session.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionId, SessionStore};
    ///
    /// let manager = ObserverManager::<Option<u8>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// store.set(SessionId(1), "b", 1)?;
    /// store.set(SessionId(1), "a", 2)?;
    /// assert_eq!(store.variables(SessionId(1)), ["a", "b"]);
    /// assert!(store.variables(SessionId(2)).is_empty());
    /// # Ok::<(), observer_manager::StoreError>(())
    /// ```
    pub fn variables(&self, session: SessionId) -> Vec<String> {
        let sessions = self.inner.read();
        let mut names: Vec<String> = sessions
            .get(&session)
            .map(|vars| lock(vars).keys().map(|k| k.to_string()).collect())
            .unwrap_or_default();
        names.sort_unstable();
        names
    }

    /// Queues an observer of variable `var` of `session` for `owner`,
    /// registered at the start of the next tick; it receives the changes of
    /// that tick on, including those queued before it. The variable need not
    /// exist yet: the observer then sees its creation (`None -> Some`).
    ///
    /// # `observe` versus `observe_primed`
    ///
    /// `observe` reports changes only: a late watcher learns nothing until
    /// the variable next changes. [`observe_primed`](Self::observe_primed)
    /// first delivers the current value, so the watcher starts from the
    /// state:
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use observer_manager::{ObserverManager, Policy, SessionId, SessionStore};
    ///
    /// let mut manager = ObserverManager::<Option<u32>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// let owner = manager.owner();
    /// let s = SessionId(1);
    /// store.set(s, "gold", 50)?;
    /// manager.tick(); // nobody was watching
    ///
    /// let (plain, primed) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    /// let sink = Arc::clone(&plain);
    /// store.observe(s, "gold", &owner, Policy::new(), move |n| sink.lock().unwrap().push(*n.new))?;
    /// let sink = Arc::clone(&primed);
    /// store.observe_primed(s, "gold", &owner, Policy::new(), move |n| {
    ///     sink.lock().unwrap().push(*n.new)
    /// })?;
    /// manager.tick();
    /// assert!(plain.lock().unwrap().is_empty());
    /// assert_eq!(*primed.lock().unwrap(), [Some(50)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Variable`] for an invalid name (see
    /// [`variable`](Self::variable)), [`StoreError::ForeignOwner`] for
    /// another manager's owner, [`StoreError::ManagerDropped`] if the manager
    /// is gone; nothing is queued then.
    pub fn observe<F>(
        &self,
        session: SessionId,
        var: &str,
        owner: &Owner,
        policy: Policy<Option<V>>,
        callback: F,
    ) -> Result<(), StoreError>
    where
        F: Fn(&Notification<'_, Option<V>>) + Send + Sync + 'static,
    {
        let variable = self.variable(session, var)?;
        self.inner
            .notifier
            .add_observer_with_policy(variable, owner, policy, callback)
            .map_err(refused)
    }

    /// As [`observe`](Self::observe), and the observer's first notification
    /// is the variable's current value (`old` and `new` both the value, or
    /// both `None` if it is not set), delivered in the tick that registers
    /// it, before any change and whatever the policy.
    ///
    /// The value is read and the registration queued under the session's
    /// lock, so no `set` falls between them: every later change reaches the
    /// observer. Changes queued *before* the registration reach it too,
    /// after the primed value, so its first change may lead to the value it
    /// was primed with.
    ///
    /// # Errors
    ///
    /// As [`observe`](Self::observe).
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionId, SessionStore};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let mut manager = ObserverManager::<Option<i8>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// let owner = manager.owner();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&seen);
    /// store.observe_primed(SessionId(1), "dir", &owner, Default::default(), move |n| {
    ///     sink.lock().unwrap().push((*n.old, *n.new));
    /// })?;
    /// manager.tick();
    /// assert_eq!(*seen.lock().unwrap(), [(None, None)]); // not set yet
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn observe_primed<F>(
        &self,
        session: SessionId,
        var: &str,
        owner: &Owner,
        policy: Policy<Option<V>>,
        callback: F,
    ) -> Result<(), StoreError>
    where
        F: Fn(&Notification<'_, Option<V>>) + Send + Sync + 'static,
    {
        let sessions = self.inner.read();
        let vars = sessions.get(&session).map(lock);
        let (variable, current) = match vars.as_ref().and_then(|vars| vars.get(var)) {
            Some(stored) => (stored.variable, Some(stored.value.clone())),
            None => (self.inner.intern(session, var)?, None),
        };
        let metadata = self.inner.metadata(session);
        self.inner
            .notifier
            .add_primed_observer(variable, owner, current, metadata, policy, callback)
            .map_err(refused)
    }
}

impl<V: Clone + PartialEq + Send + Sync + 'static> Inner<V> {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<SessionId, Mutex<Variables<V>>>> {
        // Every change under the lock is one insert or removal, made after
        // anything that may panic (`V::clone`, `V::eq`): recover the guard.
        self.sessions.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<SessionId, Mutex<Variables<V>>>> {
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn metadata(&self, session: SessionId) -> Metadata {
        Metadata::new(self.source.clone()).with_session(session)
    }

    /// Interns the manager-side name of `var` of `session`.
    fn intern(&self, session: SessionId, var: &str) -> Result<VariableId, StoreError> {
        if var.is_empty() {
            return Err(VariableError::EmptyName.into());
        }
        let len = full_name_len(session, var);
        if len > MAX_VARIABLE_NAME_LEN {
            return Err(VariableError::NameTooLong { len }.into());
        }
        Ok(self.notifier.variable(&full_name(session, var))?)
    }

    /// Reports `stored -> value` and stores `value`; returns the old value.
    /// Refused by a dropped manager, it leaves `stored` unchanged.
    fn replace(
        &self,
        session: SessionId,
        stored: &mut Stored<V>,
        value: V,
    ) -> Result<V, StoreError> {
        let (old, new) = (Some(stored.value.clone()), Some(value.clone()));
        self.notifier
            .notify(stored.variable, old, new, self.metadata(session))
            .map_err(dropped)?;
        Ok(mem::replace(&mut stored.value, value))
    }

    /// Inserts the first value of `var` (already interned as `variable`)
    /// under the exclusive lock, or replaces it if another thread set it
    /// meanwhile. The change is reported before the table changes, so a
    /// refusal (or a panicking `V::clone`) leaves the table as it was.
    fn insert(
        &self,
        session: SessionId,
        var: &str,
        variable: VariableId,
        value: V,
    ) -> Result<Option<V>, StoreError> {
        let mut sessions = self.write();
        let raced = sessions.get_mut(&session).and_then(|vars| {
            vars.get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .get_mut(var)
        });
        if let Some(stored) = raced {
            return self.replace(session, stored, value).map(Some);
        }
        let new = Some(value.clone());
        self.notifier
            .notify(variable, None, new, self.metadata(session))
            .map_err(dropped)?;
        let vars = sessions.entry(session).or_default();
        let vars = vars.get_mut().unwrap_or_else(PoisonError::into_inner);
        vars.insert(Box::from(var), Stored { value, variable });
        Ok(None)
    }

    /// Reports the deletion of `stored` (`Some(last) -> None`).
    fn report_deletion(&self, session: SessionId, stored: &Stored<V>) -> Result<(), StoreError> {
        let old = Some(stored.value.clone());
        self.notifier
            .notify(stored.variable, old, None, self.metadata(session))
            .map(|_| ())
            .map_err(dropped)
    }

    /// Queues the clean-up of `deleted` variables of `session`, whose
    /// deletions are queued already: a primed observer of the first of
    /// them (see "Deleting and cleaning up" on `SessionStore`). Queued after
    /// the deletions, it runs no earlier than the tick that delivers them.
    fn clean_up(self: &Arc<Self>, session: SessionId, deleted: Vec<(Box<str>, VariableId)>) {
        let Some(&(_, host)) = deleted.first() else {
            return;
        };
        let cleanup = Cleanup {
            store: Arc::downgrade(self),
            notifier: self.notifier.clone(),
            _owner: Arc::clone(&self.cleaner),
            session,
            deleted,
        };
        // Only the primed call gets through: the filter withholds changes.
        let policy = Policy::new().filter(|_, _| false);
        // A refusal means the manager is gone, and its observers with it.
        let _ = self.notifier.add_primed_observer(
            host,
            &self.cleaner,
            None,
            self.metadata(session),
            policy,
            move |n| cleanup.run(n.observer),
        );
    }
}

/// The callback of a clean-up observer: removes the observers of the
/// deleted variables that were not set again.
struct Cleanup<V> {
    store: Weak<Inner<V>>,
    notifier: Notifier<Option<V>>,
    /// Keeps the clean-up's owner alive after the store is dropped.
    _owner: Arc<Owner>,
    session: SessionId,
    /// Invariant: not empty; the first is the variable the clean-up observes.
    deleted: Vec<(Box<str>, VariableId)>,
}

impl<V: Clone + PartialEq + Send + Sync + 'static> Cleanup<V> {
    /// Runs once, in the clean-up's primed delivery; `me` is its own observer.
    fn run(&self, me: ObserverId) {
        let store = self.store.upgrade();
        let sessions = store.as_ref().map(|store| store.read());
        let vars = sessions
            .as_ref()
            .and_then(|sessions| sessions.get(&self.session))
            .map(lock);
        let mut host_kept = false;
        for (index, (name, variable)) in self.deleted.iter().enumerate() {
            if vars.as_ref().is_some_and(|vars| vars.contains_key(name)) {
                host_kept |= index == 0; // set again: keep its observers
            } else {
                // Applied at the next tick, after this one's deliveries; the
                // manager is alive, since it is calling us.
                let _ = self.notifier.remove_observers_of(*variable);
            }
        }
        if host_kept {
            let _ = self.notifier.remove_observer(me);
        }
    }
}

/// Locks one session's variables. Every change under the lock is one insert
/// or replacement made after anything that may panic: recover the guard.
fn lock<V>(vars: &Mutex<Variables<V>>) -> MutexGuard<'_, Variables<V>> {
    vars.lock().unwrap_or_else(PoisonError::into_inner)
}

fn full_name(session: SessionId, var: &str) -> String {
    format!("{}/{var}", session.0)
}

/// The length of `full_name(session, var)`, without building it.
fn full_name_len(session: SessionId, var: &str) -> usize {
    let digits = session.0.checked_ilog10().map_or(1, |d| d as usize + 1);
    digits + 1 + var.len()
}

/// The engine refuses a store's own id only when the manager is gone.
fn dropped(e: NotifyError) -> StoreError {
    debug_assert_eq!(
        e,
        NotifyError::ManagerDropped,
        "the store's own id was refused"
    );
    StoreError::ManagerDropped
}

/// The reasons a store's registration can meet; its callbacks are private,
/// so an unknown callback cannot arise.
fn refused(e: AddObserverError) -> StoreError {
    match e {
        AddObserverError::Variable(e) => StoreError::Variable(e),
        AddObserverError::ForeignOwner => StoreError::ForeignOwner,
        AddObserverError::ManagerDropped => StoreError::ManagerDropped,
        AddObserverError::UnknownCallback => {
            debug_assert!(false, "a private callback was refused");
            StoreError::ManagerDropped
        }
    }
}

impl<V> fmt::Debug for SessionStore<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sessions = self
            .inner
            .sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("SessionStore")
            .field("sessions", &sessions)
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

/// Why a [`SessionStore`] operation failed. The store is unchanged then.
///
/// # Examples
///
/// ```
/// use observer_manager::{ObserverManager, SessionId, SessionStore, StoreError, VariableError};
///
/// let manager = ObserverManager::<Option<u8>>::new();
/// let store = SessionStore::new(manager.notifier());
/// let err = store.set(SessionId(1), "", 1).unwrap_err();
/// assert_eq!(err, StoreError::Variable(VariableError::EmptyName));
/// assert_eq!(err.to_string(), "bad store variable: variable name is empty");
///
/// drop(manager);
/// assert_eq!(store.set(SessionId(1), "x", 1), Err(StoreError::ManagerDropped));
/// assert_eq!(store.get(SessionId(1), "x"), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The variable name is empty, or longer than
    /// [`MAX_VARIABLE_NAME_LEN`] once prefixed with its session.
    Variable(VariableError),
    /// The [`Owner`] given to `observe` belongs to another manager.
    ForeignOwner,
    /// The manager was dropped: nothing reported now would be delivered.
    ManagerDropped,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Variable(e) => write!(f, "bad store variable: {e}"),
            StoreError::ForeignOwner => f.write_str("owner belongs to another manager"),
            StoreError::ManagerDropped => f.write_str("the manager was dropped"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Variable(e) => Some(e),
            _ => None,
        }
    }
}

impl From<VariableError> for StoreError {
    fn from(e: VariableError) -> Self {
        StoreError::Variable(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_name_len_matches_the_formatted_name() {
        for session in [0, 1, 9, 10, 99, 100, 12_345, u64::MAX] {
            for var in ["x", "hp", "bag/slot"] {
                let name = full_name(SessionId(session), var);
                assert_eq!(full_name_len(SessionId(session), var), name.len(), "{name}");
            }
        }
    }
}
