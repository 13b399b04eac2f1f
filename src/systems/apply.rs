//! System 1: apply the registrations and removals deferred through notifiers.

use crate::ingest::inbox::{Command, DeferredCallback};
use crate::ingest::shared::Shared;
use crate::observers::callbacks::CallbackRef;
use crate::observers::{Spawn, Store};
use crate::systems::Primed;

/// What `apply` did.
#[derive(Default)]
pub(crate) struct Applied {
    pub(crate) added: u64,
    pub(crate) removed: u64,
    /// Commands whose owner had died or whose observer or callback was gone.
    pub(crate) skipped: u64,
}

/// Applies `commands` in submission order, leaving it empty.
pub(crate) fn apply<V: Send + Sync + 'static>(
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
                policy,
                prime,
            } => {
                if !shared.owners.is_alive(owner) {
                    applied.skipped += 1;
                    continue;
                }
                let callback = match callback {
                    DeferredCallback::Private(call) => store.callbacks.insert_private(call),
                    DeferredCallback::Shared(key) if store.callbacks.acquire(key) => {
                        CallbackRef::shared(key)
                    }
                    DeferredCallback::Shared(_) => {
                        applied.skipped += 1;
                        continue;
                    }
                };
                let spawn = Spawn {
                    variable,
                    owner,
                    callback,
                    policy,
                    tick,
                };
                match store.spawn(&shared.interner, spawn) {
                    Some(entity) => {
                        applied.added += 1;
                        if let Some(change) = prime {
                            store.primed.push(Primed { entity, change });
                        }
                    }
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
            Command::RemoveVariable(variable) => {
                applied.removed += store.despawn_variable(variable) as u64;
            }
        }
    }
    applied
}
