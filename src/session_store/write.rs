//! The writes of a [`SessionStore`]: [`set`](SessionStore::set),
//! [`delete`](SessionStore::delete) and
//! [`delete_session`](SessionStore::delete_session), each reported to the
//! manager as a change.

use std::sync::PoisonError;

use super::table::lock;
use super::{SessionStore, StoreError};
use crate::ids::VariableId;
use crate::ingest::change::SessionId;

impl<V: Clone + PartialEq + Send + Sync + 'static> SessionStore<V> {
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
    /// use observer_manager::{Capacity, ObserverManager, SessionId, SessionStore};
    ///
    /// let mut manager = ObserverManager::<Option<&'static str>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// let watcher = manager.watch("5/mood", Capacity::Unbounded)?;
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
        let variable = self.inner.pin(session, var)?;
        self.inner.insert(session, var, variable, value)
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
        self.inner.unpin(stored.variable);
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
    /// use observer_manager::{Capacity, ObserverManager, SessionId, SessionStore};
    ///
    /// let mut manager = ObserverManager::<Option<i32>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// let watcher = manager.watch("9/x", Capacity::Unbounded)?;
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
        for (_, variable) in &deleted {
            self.inner.unpin(*variable);
        }
        deleted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.inner.clean_up(session, deleted);
        Ok(count)
    }
}
