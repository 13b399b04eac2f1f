//! The registrations of a [`SessionStore`]: observers of a store variable,
//! plain ([`observe`](SessionStore::observe)) or primed with the current
//! value ([`observe_primed`](SessionStore::observe_primed)).

use super::error::refused;
use super::table::lock;
use super::{SessionStore, StoreError};
use crate::ids::VariableId;
use crate::ingest::change::{Metadata, Notification, SessionId};
use crate::owners::Owner;
use crate::policy::Policy;

impl<V: Clone + PartialEq + Send + Sync + 'static> SessionStore<V> {
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
        self.defer_observer(variable, owner, policy, None, callback)
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
        self.defer_observer(variable, owner, policy, Some((current, metadata)), callback)
    }

    /// Queues the observer through the store's notifier, primed if `prime`.
    fn defer_observer<F>(
        &self,
        variable: VariableId,
        owner: &Owner,
        policy: Policy<Option<V>>,
        prime: Option<(Option<V>, Metadata)>,
        callback: F,
    ) -> Result<(), StoreError>
    where
        F: Fn(&Notification<'_, Option<V>>) + Send + Sync + 'static,
    {
        let mut observe = self.inner.notifier.observe(variable, owner).policy(policy);
        if let Some((current, metadata)) = prime {
            observe = observe.primed(current, metadata);
        }
        observe.callback(callback).defer().map_err(refused)
    }
}
