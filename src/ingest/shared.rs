//! What a manager shares with its notifiers and owners, and the queuing of
//! a registration for the next tick.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::error::AddObserverError;
use crate::ids::ManagerTag;
use crate::ingest::inbox::{Command, DeferredCallback, Inbox};
use crate::ingest::registration::{CallbackChoice, Registration};
use crate::observers::variables::Interner;
use crate::owners::OwnerRegistry;

/// State a manager shares with its notifiers and owners.
pub(crate) struct Shared<V> {
    pub(crate) manager: ManagerTag,
    pub(crate) inbox: Inbox<V>,
    pub(crate) interner: Interner,
    pub(crate) owners: Arc<OwnerRegistry>,
    /// Notifications that full bounded watchers evicted unread since the
    /// last tick took the count; each watcher's feed adds to it.
    pub(crate) watcher_evictions: Arc<AtomicU64>,
}

impl<V: PartialEq> Shared<V> {
    /// Queues what an `Observe` builder was given, for the next tick.
    pub(crate) fn defer_registration(
        &self,
        registration: Registration<'_, V>,
    ) -> Result<(), AddObserverError> {
        let Registration {
            var,
            owner,
            policy,
            mut prime,
            callback,
        } = registration;
        if !owner.belongs_to(self.manager) {
            return Err(AddObserverError::ForeignOwner);
        }
        if let Some(policy) = &policy {
            policy.check()?;
        }
        let callback = match callback {
            CallbackChoice::Private(call) => DeferredCallback::Private(call),
            CallbackChoice::Shared(id) if id.manager == self.manager => {
                DeferredCallback::Shared(id.key)
            }
            CallbackChoice::Shared(_) => return Err(AddObserverError::UnknownCallback),
        };
        let (held, variable) = self.interner.resolve_one(var.as_var());
        let variable = match variable {
            Ok(id) => id,
            Err(error) => {
                drop(held); // before the callback, which may own a notifier
                return Err(error.into());
            }
        };
        if let Some(prime) = &mut prime {
            prime.variable = variable.index;
        }
        let command = Command::Add {
            variable: variable.index,
            owner: owner.key,
            callback,
            policy,
            prime,
        };
        self.inbox
            .push_command(command, held)
            .map_err(|_| AddObserverError::ManagerDropped)
    }
}
