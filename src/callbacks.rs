//! The callback registry: one function can serve many observers.
//!
//! Shared callbacks (registered by the user, addressed by `CallbackId`) and
//! private ones (one closure per `add_observer`) live in separate maps: the
//! private map is dropped whole when the last observer goes, so its slots do
//! not outlive a burst of observers.

use slotmap::{Key, KeyData, SlotMap};

use crate::change::Notification;
use crate::error::UnregisterCallbackError;
use crate::ids::{CallbackKey, PrivateCallbackKey};

/// A callback as stored: shared by reference across dispatch threads.
pub type Callback<V> = Box<dyn Fn(&Notification<'_, V>) + Send + Sync>;

/// Which callback an observer calls: a shared or a private key, packed in
/// one integer so the dispatch loop compares one word per observer.
///
/// Layout: the key's `KeyData::as_ffi` (version in the high half, slot index
/// in the low half) with bit 31 set for private keys. Invariant: slot indices
/// stay below 2^31, which holds while each private callback (a boxed closure,
/// 16 bytes or more) fits in memory alongside its observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CallbackRef(u64);

/// The bit of `CallbackRef` that marks a private key.
const PRIVATE_BIT: u64 = 1 << 31;

/// A `CallbackRef` unpacked.
enum Which {
    Shared(CallbackKey),
    Private(PrivateCallbackKey),
}

impl CallbackRef {
    pub(crate) fn shared(key: CallbackKey) -> Self {
        CallbackRef(key.data().as_ffi())
    }

    fn private(key: PrivateCallbackKey) -> Self {
        CallbackRef(key.data().as_ffi() | PRIVATE_BIT)
    }

    fn which(self) -> Which {
        if self.0 & PRIVATE_BIT == 0 {
            Which::Shared(KeyData::from_ffi(self.0).into())
        } else {
            Which::Private(KeyData::from_ffi(self.0 & !PRIVATE_BIT).into())
        }
    }
}

struct SharedEntry<V> {
    call: Callback<V>,
    /// Observers whose roster slot names this entry.
    users: u64,
}

pub(crate) struct Callbacks<V> {
    shared: SlotMap<CallbackKey, SharedEntry<V>>,
    /// One entry per observer that brought its own closure.
    private: SlotMap<PrivateCallbackKey, Callback<V>>,
}

impl<V> Callbacks<V> {
    pub(crate) fn new() -> Self {
        Callbacks {
            shared: SlotMap::with_key(),
            private: SlotMap::with_key(),
        }
    }

    /// Registers a shared callback, kept until unregistered.
    pub(crate) fn register(&mut self, call: Callback<V>) -> CallbackKey {
        self.shared.insert(SharedEntry { call, users: 0 })
    }

    /// Stores the closure of one observer; dropped when that observer goes.
    pub(crate) fn insert_private(&mut self, call: Callback<V>) -> CallbackRef {
        CallbackRef::private(self.private.insert(call))
    }

    pub(crate) fn get(&self, callback: CallbackRef) -> Option<&Callback<V>> {
        match callback.which() {
            Which::Shared(key) => self.shared.get(key).map(|e| &e.call),
            Which::Private(key) => self.private.get(key),
        }
    }

    /// Counts one more observer of a shared callback; false if it is gone.
    pub(crate) fn acquire(&mut self, key: CallbackKey) -> bool {
        self.acquire_many(key, 1)
    }

    /// Counts `n` more observers of a shared callback; false if it is gone.
    pub(crate) fn acquire_many(&mut self, key: CallbackKey, n: u64) -> bool {
        match self.shared.get_mut(key) {
            Some(entry) => {
                entry.users = entry.users.saturating_add(n);
                true
            }
            None => false,
        }
    }

    /// One observer of `callback` is gone: drop a private callback, or
    /// count one user fewer of a shared one.
    pub(crate) fn release(&mut self, callback: CallbackRef) {
        match callback.which() {
            Which::Private(key) => {
                let removed = self.private.remove(key);
                debug_assert!(removed.is_some(), "released a private callback twice");
            }
            Which::Shared(key) => {
                let Some(entry) = self.shared.get_mut(key) else {
                    debug_assert!(false, "released a shared callback that is gone");
                    return;
                };
                debug_assert!(entry.users > 0, "callback user count underflow");
                entry.users = entry.users.saturating_sub(1);
            }
        }
    }

    /// Removes a shared callback that no observer uses.
    pub(crate) fn unregister(&mut self, key: CallbackKey) -> Result<(), UnregisterCallbackError> {
        match self.shared.get(key) {
            Some(entry) if entry.users > 0 => Err(UnregisterCallbackError::InUse {
                observers: u32::try_from(entry.users).unwrap_or(u32::MAX),
            }),
            Some(_) => {
                self.shared.remove(key);
                Ok(())
            }
            None => Err(UnregisterCallbackError::NotFound),
        }
    }

    /// Frees the private map's slots; only valid when no observer exists.
    pub(crate) fn release_private_storage(&mut self) {
        debug_assert!(self.private.is_empty(), "private callbacks still in use");
        if self.private.is_empty() {
            self.private = SlotMap::with_key();
        }
    }

    /// Callbacks stored: shared ones plus one per observer with its own closure.
    pub(crate) fn len(&self) -> usize {
        self.shared.len() + self.private.len()
    }
}
