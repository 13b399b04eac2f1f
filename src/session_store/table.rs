//! The session table the clones of a [`SessionStore`](super::SessionStore)
//! share, and the steps that change it: interning a variable, replacing or
//! inserting a value, reporting a deletion. Each step reports its change to
//! the manager before it touches the table.

use std::borrow::Cow;
use std::collections::HashMap;
use std::mem;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::StoreError;
use super::error::dropped;
use super::names::{full_name, full_name_len};
use crate::error::VariableError;
use crate::ids::VariableId;
use crate::ingest::change::{Metadata, SessionId};
use crate::ingest::names::MAX_VARIABLE_NAME_LEN;
use crate::notifier::Notifier;
use crate::owners::Owner;

/// What the clones of a store share.
pub(super) struct Inner<V> {
    pub(super) notifier: Notifier<Option<V>>,
    pub(super) source: Cow<'static, str>,
    /// The owner of the clean-up observers, shared with each of them so a
    /// pending clean-up outlives the store.
    pub(super) cleaner: Arc<Owner>,
    /// Invariant: every session in the table holds at least one variable.
    /// Lock order: this table, then a session, then the engine's locks.
    pub(super) sessions: RwLock<HashMap<SessionId, Mutex<Variables<V>>>>,
}

/// One session's variables, by name.
type Variables<V> = HashMap<Box<str>, Stored<V>>;

/// A variable's value and its manager-side id.
pub(super) struct Stored<V> {
    pub(super) value: V,
    /// The interned `"{session}/{var}"`, cached so `set` neither formats nor
    /// hashes the full name.
    pub(super) variable: VariableId,
}

impl<V: Clone + PartialEq + Send + Sync + 'static> Inner<V> {
    pub(super) fn read(&self) -> RwLockReadGuard<'_, HashMap<SessionId, Mutex<Variables<V>>>> {
        // Every change under the lock is one insert or removal, made after
        // anything that may panic (`V::clone`, `V::eq`): recover the guard.
        self.sessions.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, HashMap<SessionId, Mutex<Variables<V>>>> {
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn metadata(&self, session: SessionId) -> Metadata {
        Metadata::new(self.source.clone()).with_session(session)
    }

    /// Interns the manager-side name of `var` of `session`.
    pub(super) fn intern(&self, session: SessionId, var: &str) -> Result<VariableId, StoreError> {
        if var.is_empty() {
            return Err(VariableError::EmptyName.into());
        }
        let len = full_name_len(session, var);
        if len > MAX_VARIABLE_NAME_LEN {
            return Err(VariableError::NameTooLong { len }.into());
        }
        Ok(self.notifier.variable(&full_name(session, var))?)
    }

    /// Interns the manager-side name of `var` of `session` and pins it: the
    /// manager does not reclaim it until [`unpin`](Self::unpin). Each
    /// stored entry holds one pin.
    pub(super) fn pin(&self, session: SessionId, var: &str) -> Result<VariableId, StoreError> {
        self.intern(session, var)?; // the same checks and errors
        Ok(self
            .notifier
            .shared
            .interner
            .pin(&full_name(session, var))?)
    }

    /// Gives back the pin of a deleted (or never stored) entry.
    pub(super) fn unpin(&self, variable: VariableId) {
        self.notifier.shared.interner.unpin(variable);
    }

    /// Reports `stored -> value` and stores `value`; returns the old value.
    /// Refused by a dropped manager, it leaves `stored` unchanged.
    pub(super) fn replace(
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

    /// Inserts the first value of `var` (already interned and pinned as
    /// `variable`) under the exclusive lock, or replaces it if another
    /// thread set it meanwhile (giving the pin back). The change is reported
    /// before the table changes, so a refusal (or a panicking `V::clone`)
    /// leaves the table as it was.
    pub(super) fn insert(
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
            self.unpin(variable);
            return self.replace(session, stored, value).map(Some);
        }
        let new = Some(value.clone());
        let unpin = Unpin {
            inner: self,
            variable,
        };
        self.notifier
            .notify(variable, None, new, self.metadata(session))
            .map_err(dropped)?;
        std::mem::forget(unpin);
        let vars = sessions.entry(session).or_default();
        let vars = vars.get_mut().unwrap_or_else(PoisonError::into_inner);
        vars.insert(Box::from(var), Stored { value, variable });
        Ok(None)
    }

    /// Reports the deletion of `stored` (`Some(last) -> None`).
    pub(super) fn report_deletion(
        &self,
        session: SessionId,
        stored: &Stored<V>,
    ) -> Result<(), StoreError> {
        let old = Some(stored.value.clone());
        self.notifier
            .notify(stored.variable, old, None, self.metadata(session))
            .map(|_| ())
            .map_err(dropped)
    }
}

/// Locks one session's variables. Every change under the lock is one insert
/// or replacement made after anything that may panic: recover the guard.
pub(super) fn lock<V>(vars: &Mutex<Variables<V>>) -> MutexGuard<'_, Variables<V>> {
    vars.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Gives a pin back when dropped: on every way out of an insert that did
/// not store its entry (a refusal or a panicking `V::clone`).
struct Unpin<'a, V> {
    inner: &'a Inner<V>,
    variable: VariableId,
}

impl<V> Drop for Unpin<'_, V> {
    fn drop(&mut self) {
        self.inner.notifier.shared.interner.unpin(self.variable);
    }
}

/// The entries left when the last clone of the store goes give their pins
/// back, so their variables can be reclaimed.
impl<V> Drop for Inner<V> {
    fn drop(&mut self) {
        let sessions = self
            .sessions
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for vars in sessions.values_mut() {
            for stored in vars
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
            {
                self.notifier.shared.interner.unpin(stored.variable);
            }
        }
    }
}
