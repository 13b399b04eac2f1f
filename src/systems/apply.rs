//! System 1: apply the registrations and removals deferred through notifiers.

use crate::callbacks::CallbackRef;
use crate::inbox::{Command, DeferredCallback};
use crate::notifier::Shared;
use crate::observers::Store;

/// What `apply` did.
#[derive(Default)]
pub(crate) struct Applied {
    pub(crate) added: u64,
    pub(crate) removed: u64,
    /// Commands whose owner had died or whose observer or callback was gone.
    pub(crate) skipped: u64,
}

/// Applies `commands` in submission order, leaving it empty.
pub(crate) fn apply<V>(
    store: &mut Store<V>,
    shared: &Shared<V>,
    commands: &mut Vec<Command<V>>,
    tick: u64,
) -> Applied {
    let mut applied = Applied::default();
    for command in commands.drain(..) {
        match command {
            Command::Add {
                variable,
                owner,
                callback,
            } => {
                if !shared.owners.is_alive(owner) {
                    applied.skipped += 1;
                    continue;
                }
                let callback = match callback {
                    DeferredCallback::Private(call) => store.callbacks.insert_private(call),
                    DeferredCallback::Shared(key) if store.callbacks.acquire(key) => {
                        CallbackRef::Shared(key)
                    }
                    DeferredCallback::Shared(_) => {
                        applied.skipped += 1;
                        continue;
                    }
                };
                match store.spawn(&shared.interner, variable, owner, callback, tick) {
                    Some(_) => applied.added += 1,
                    None => applied.skipped += 1,
                }
            }
            Command::Remove(observer) => {
                if observer.epoch == store.epoch && store.despawn(observer.entity) {
                    applied.removed += 1;
                } else {
                    applied.skipped += 1;
                }
            }
        }
    }
    applied
}
