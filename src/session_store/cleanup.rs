//! The clean-up after a deletion: a one-off observer, queued after the
//! deletions it follows, that removes the observers of the deleted variables
//! once they have seen the deletion (see "Deleting and cleaning up" on
//! [`SessionStore`](super::SessionStore)).

use std::sync::{Arc, Weak};

use super::table::{Inner, lock};
use crate::ids::{ObserverId, VariableId};
use crate::ingest::change::SessionId;
use crate::notifier::Notifier;
use crate::owners::Owner;
use crate::policy::Policy;

impl<V: Clone + PartialEq + Send + Sync + 'static> Inner<V> {
    /// Queues the clean-up of `deleted` variables of `session`, whose
    /// deletions are queued already: a primed observer of the first of
    /// them (see "Deleting and cleaning up" on `SessionStore`). Queued after
    /// the deletions, it runs no earlier than the tick that delivers them.
    pub(super) fn clean_up(
        self: &Arc<Self>,
        session: SessionId,
        deleted: Vec<(Box<str>, VariableId)>,
    ) {
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
        let _ = self
            .notifier
            .observe(host, &self.cleaner)
            .policy(policy)
            .primed(None, self.metadata(session))
            .callback(move |n| cleanup.run(n.observer))
            .defer();
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
