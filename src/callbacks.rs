//! The callback registry: one function can serve many observers.

use slotmap::SlotMap;

use crate::change::Notification;
use crate::error::UnregisterCallbackError;
use crate::ids::CallbackKey;

/// A callback as stored: shared by reference across dispatch threads.
pub type Callback<V> = Box<dyn Fn(&Notification<'_, V>) + Send + Sync>;

pub(crate) struct CallbackEntry<V> {
    pub(crate) call: Callback<V>,
    /// Observers whose `Calls` component names this entry.
    users: u32,
    /// Registered by the user (kept at zero users until unregistered), as
    /// opposed to private to one observer (dropped with its last user).
    shared: bool,
}

pub(crate) struct Callbacks<V> {
    entries: SlotMap<CallbackKey, CallbackEntry<V>>,
}

impl<V> Callbacks<V> {
    pub(crate) fn new() -> Self {
        Callbacks {
            entries: SlotMap::with_key(),
        }
    }

    /// Registers `call`; `shared` ones outlive their users until unregistered.
    pub(crate) fn insert(&mut self, call: Callback<V>, shared: bool) -> CallbackKey {
        self.entries.insert(CallbackEntry {
            call,
            users: 0,
            shared,
        })
    }

    pub(crate) fn get(&self, key: CallbackKey) -> Option<&CallbackEntry<V>> {
        self.entries.get(key)
    }

    pub(crate) fn contains(&self, key: CallbackKey) -> bool {
        self.entries.contains_key(key)
    }

    /// Counts one more observer of `key`; false if `key` is gone.
    pub(crate) fn acquire(&mut self, key: CallbackKey) -> bool {
        match self.entries.get_mut(key) {
            Some(entry) => {
                entry.users += 1;
                true
            }
            None => false,
        }
    }

    /// Counts one observer fewer; drops a private callback with its last user.
    pub(crate) fn release(&mut self, key: CallbackKey) {
        let Some(entry) = self.entries.get_mut(key) else {
            debug_assert!(false, "released a callback that is gone");
            return;
        };
        debug_assert!(entry.users > 0, "callback user count underflow");
        entry.users = entry.users.saturating_sub(1);
        if entry.users == 0 && !entry.shared {
            self.entries.remove(key);
        }
    }

    /// Removes a shared callback that no observer uses.
    pub(crate) fn unregister(&mut self, key: CallbackKey) -> Result<(), UnregisterCallbackError> {
        match self.entries.get(key) {
            Some(entry) if !entry.shared => Err(UnregisterCallbackError::NotFound),
            Some(entry) if entry.users > 0 => Err(UnregisterCallbackError::InUse {
                observers: entry.users,
            }),
            Some(_) => {
                self.entries.remove(key);
                Ok(())
            }
            None => Err(UnregisterCallbackError::NotFound),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
