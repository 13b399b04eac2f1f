//! The readings of a [`SessionStore`]: a value, and which sessions and
//! variables exist. Each is a clone taken under the store's shared lock,
//! which other threads may change at once.

use super::SessionStore;
use super::table::lock;
use crate::ingest::change::SessionId;

impl<V: Clone + PartialEq + Send + Sync + 'static> SessionStore<V> {
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
}
