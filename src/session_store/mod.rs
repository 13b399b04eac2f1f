//! The session store: sessions of named variables whose every write is
//! reported to the manager, as the original design's `SessionStore` did.
//!
//! A [`SessionStore`] keeps, per [`SessionId`](crate::SessionId), a map of
//! variable names to values. [`set`](SessionStore::set) and the deletions
//! compute the old and new value, stamp [`Metadata`](crate::Metadata) with
//! the session, the time and the store's source, and enqueue the change
//! through a [`Notifier`](crate::Notifier). The store never waits on a tick
//! and never touches observers, so its cost does not depend on how many
//! watch.
//!
//! The user-facing rules (values, names, deletion, costs) are documented on
//! [`SessionStore`] itself, since this module is private.
//!
//! This file holds the type and its docs. Its methods live one concept per
//! file: `construct.rs`, `names.rs`, `write.rs`, `read.rs`, `observe.rs`;
//! behind them, `table.rs` holds the shared session table, `cleanup.rs` the
//! observer that removes a deleted variable's watchers, and `error.rs` the
//! error type.

// The submodules are private; whatever they share is `pub(super)`, and the
// public names are re-exported below, as `lib.rs` expects.
mod cleanup;
mod error;
mod table;

// The files of `SessionStore`'s methods, in the order its docs list them
// (rustdoc follows declaration order): construction,
mod construct;
// manager-side names,
mod names;
// writes,
mod write;
// readings,
mod read;
// and registrations.
mod observe;

pub use self::error::StoreError;

use std::fmt;
use std::sync::{Arc, PoisonError};

use self::table::Inner;

/// Sessions of named variables; every write is reported to the manager
/// behind a [`Notifier`](crate::Notifier), to be delivered at its next tick.
///
/// A store keeps, per [`SessionId`](crate::SessionId), a map of variable
/// names to values. [`set`](Self::set) and the deletions compute the old and
/// new value, stamp [`Metadata`](crate::Metadata) with the session, the time
/// and the store's source, and enqueue the change through a
/// [`Notifier`](crate::Notifier). The store never waits on a tick and never
/// touches observers, so its cost does not depend on how many watch.
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
/// [`VariableId`](crate::VariableId): later `set`s neither format nor hash
/// the full name.
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

impl<V> Clone for SessionStore<V> {
    fn clone(&self) -> Self {
        SessionStore {
            inner: Arc::clone(&self.inner),
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
