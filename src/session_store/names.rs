//! The manager-side names of store variables: `"{session}/{var}"`, and the
//! ids they are interned as.

use super::table::lock;
use super::{SessionStore, StoreError};
use crate::ids::VariableId;
use crate::ingest::change::SessionId;

impl<V: Clone + PartialEq + Send + Sync + 'static> SessionStore<V> {
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
    /// than [`MAX_VARIABLE_NAME_LEN`](crate::MAX_VARIABLE_NAME_LEN); nothing is interned then.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{Capacity, Metadata, ObserverManager, SessionId, SessionStore};
    ///
    /// let mut manager = ObserverManager::<Option<u32>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// let watcher = manager.watch(store.variable(SessionId(3), "level")?, Capacity::Unbounded)?;
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
}

pub(super) fn full_name(session: SessionId, var: &str) -> String {
    format!("{}/{var}", session.0)
}

/// The length of `full_name(session, var)`, without building it.
pub(super) fn full_name_len(session: SessionId, var: &str) -> usize {
    let digits = session.0.checked_ilog10().map_or(1, |d| d as usize + 1);
    digits + 1 + var.len()
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
