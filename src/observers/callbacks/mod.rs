//! The callback registry: one function can serve many observers.
//!
//! Shared callbacks (registered by the user, addressed by `CallbackId`) and
//! private ones (one closure per `Observe::callback`) live in separate tables,
//! each a `Vec` addressed by index with a free list of vacant indices. The
//! private table is freed whole when the last observer goes, so its slots do
//! not outlive a burst of observers.
//!
//! An observer names its callback by index alone (`CallbackRef`, 4 bytes of
//! its roster slot); only the `CallbackKey` inside a user's `CallbackId`
//! carries a generation, because only it can outlive what it names.
//!
//! Costs: lookups, inserts and removals are O(1). A shared entry takes
//! 32 bytes of table, a private one 16, plus the boxed closure if it
//! captures anything.

use std::fmt;
use std::num::NonZeroU32;

use crate::error::UnregisterCallbackError;
use crate::failure::{ErrorHandler, report_error};
use crate::ids::CallbackKey;
use crate::ingest::change::Notification;

/// A callback as stored: shared by reference across dispatch threads. It
/// says whether the call failed; a failing call has already handed its
/// error to the error handler (see `fallible`), so no error travels back.
pub(crate) type Callback<V> = Box<dyn Fn(&Notification<'_, V>) -> Outcome + Send + Sync>;

/// What one call of a stored callback returns: `Err(Failed)` for a fallible
/// callback that returned an error. One word, no allocation.
pub(crate) type Outcome = Result<(), Failed>;

/// A call that returned an error (already reported).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Failed;

/// Stores a callback that cannot fail.
pub(crate) fn plain<V, F>(callback: F) -> Callback<V>
where
    F: Fn(&Notification<'_, V>) + Send + Sync + 'static,
{
    Box::new(move |n| {
        callback(n);
        Ok(())
    })
}

/// Stores a callback that may return an error: the error goes to `handler`
/// (or a `tracing` event without one) on the thread that made the call, and
/// the call reports `Failed` to be counted on its observer.
pub(crate) fn fallible<V, E, F>(callback: F, handler: Option<ErrorHandler>) -> Callback<V>
where
    E: fmt::Display,
    F: Fn(&Notification<'_, V>) -> Result<(), E> + Send + Sync + 'static,
{
    Box::new(move |n| {
        callback(n).map_err(|error| {
            report_error(handler.as_deref(), n, &error);
            Failed
        })
    })
}

/// Which callback an observer calls: a shared or a private entry, packed in
/// one `u32` so the roster slot stays small and the dispatch loop compares
/// one word per observer.
///
/// Layout: [`PRIVATE_BIT`] set for a private callback, clear for a shared
/// one; the other bits are the entry's index in its table.
///
/// ```text
///  31 30                                            0
/// +--+-----------------------------------------------+
/// |P |  index into `shared` (P = 0) or `private` (P = 1)
/// +--+-----------------------------------------------+
/// ```
///
/// There is no generation, because the entry a `CallbackRef` names cannot be
/// freed while the ref exists (it lives in exactly one roster slot): a shared
/// entry counts its observers (`acquire` / `release`) and `unregister`
/// refuses with `UnregisterCallbackError::InUse` while any remain; a private
/// entry belongs to one observer and only `release`, when that observer
/// goes, frees it. So an index is never reused under a ref to its old entry.
///
/// Indices stay below [`MAX_INDEX`]: a table grows only when it has no
/// vacant index, so each index below its length held a live callback at one
/// time; 2^31 of them would take 32 GiB of table or more (and for private
/// ones an observer each) before the closures themselves. This is an
/// invariant of memory, not a check: `next_index` asserts it in debug
/// builds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallbackRef(u32);

/// The bit of `CallbackRef` that marks a private callback.
const PRIVATE_BIT: u32 = 1 << 31;

/// Indices of either table stay below this (see `CallbackRef`).
pub(crate) const MAX_INDEX: u32 = PRIVATE_BIT;

impl CallbackRef {
    pub(crate) fn shared(key: CallbackKey) -> Self {
        debug_assert!(key.index < MAX_INDEX, "shared index out of range");
        CallbackRef(key.index)
    }

    fn private(index: u32) -> Self {
        debug_assert!(index < MAX_INDEX, "private index out of range");
        CallbackRef(index | PRIVATE_BIT)
    }

    fn is_private(self) -> bool {
        self.0 & PRIVATE_BIT != 0
    }

    /// The index in the table `is_private` selects.
    fn index(self) -> u32 {
        self.0 & !PRIVATE_BIT
    }
}

impl fmt::Debug for CallbackRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = if self.is_private() {
            "private"
        } else {
            "shared"
        };
        write!(f, "CallbackRef({table} {})", self.index())
    }
}

/// Callback releases gathered where the registry cannot be borrowed (on
/// sweep threads), applied later by `Callbacks::release_all`, so private
/// closures are dropped on the thread that applies them. Consecutive
/// releases of one shared callback fold into one count.
#[derive(Debug, Default)]
pub(crate) struct Releases {
    /// Each callback and how many of its observers went; a private one
    /// always with 1.
    runs: Vec<(CallbackRef, u64)>,
}

impl Releases {
    /// Counts one observer of `callback` gone.
    pub(crate) fn push(&mut self, callback: CallbackRef) {
        match self.runs.last_mut() {
            Some((last, n)) if *last == callback && !callback.is_private() => *n += 1,
            _ => self.runs.push((callback, 1)),
        }
    }

    /// Moves `other`'s releases after these.
    pub(crate) fn append(&mut self, other: &mut Releases) {
        self.runs.append(&mut other.runs);
    }
}

struct SharedEntry<V> {
    call: Callback<V>,
    /// Observers whose roster slot names this entry.
    users: u64,
}

/// One index of the shared table.
struct SharedSlot<V> {
    /// Bumped each time the entry here is freed: a `CallbackKey` names the
    /// entry only while its generation is this one.
    generation: NonZeroU32,
    entry: Option<SharedEntry<V>>,
}

pub(crate) struct Callbacks<V> {
    /// Shared callbacks by `CallbackKey::index`.
    shared: Vec<SharedSlot<V>>,
    /// Vacant indices of `shared`, reused last freed first. Invariant: every
    /// vacant index except the retired ones (see `unregister`).
    shared_free: Vec<u32>,
    /// Occupied indices of `shared`.
    shared_len: usize,
    /// One entry per observer that brought its own closure, by
    /// `CallbackRef` index.
    private: Vec<Option<Callback<V>>>,
    /// Vacant indices of `private`. Invariant: exactly the `None` entries.
    private_free: Vec<u32>,
}

impl<V> Callbacks<V> {
    pub(crate) fn new() -> Self {
        Callbacks {
            shared: Vec::new(),
            shared_free: Vec::new(),
            shared_len: 0,
            private: Vec::new(),
            private_free: Vec::new(),
        }
    }

    /// Registers a shared callback, kept until unregistered.
    pub(crate) fn register(&mut self, call: Callback<V>) -> CallbackKey {
        let entry = Some(SharedEntry { call, users: 0 });
        self.shared_len += 1;
        if let Some(index) = self.shared_free.pop() {
            match self.shared.get_mut(index as usize) {
                Some(slot) if slot.entry.is_none() => {
                    slot.entry = entry;
                    let generation = slot.generation;
                    return CallbackKey { index, generation };
                }
                _ => debug_assert!(false, "free shared index {index} is not vacant"),
            }
        }
        let index = next_index(self.shared.len());
        let generation = NonZeroU32::MIN;
        self.shared.push(SharedSlot { generation, entry });
        CallbackKey { index, generation }
    }

    /// Stores the closure of one observer; dropped when that observer goes.
    pub(crate) fn insert_private(&mut self, call: Callback<V>) -> CallbackRef {
        if let Some(index) = self.private_free.pop() {
            match self.private.get_mut(index as usize) {
                Some(vacant) if vacant.is_none() => {
                    *vacant = Some(call);
                    return CallbackRef::private(index);
                }
                _ => debug_assert!(false, "free private index {index} is not vacant"),
            }
        }
        let index = next_index(self.private.len());
        self.private.push(Some(call));
        CallbackRef::private(index)
    }

    /// The callback an observer calls; `None` only if the invariant of
    /// `CallbackRef` is broken.
    pub(crate) fn get(&self, callback: CallbackRef) -> Option<&Callback<V>> {
        let index = callback.index() as usize;
        if callback.is_private() {
            self.private.get(index)?.as_ref()
        } else {
            self.shared.get(index)?.entry.as_ref().map(|e| &e.call)
        }
    }

    /// Counts one more observer of a shared callback; false if it is gone.
    pub(crate) fn acquire(&mut self, key: CallbackKey) -> bool {
        self.acquire_many(key, 1)
    }

    /// Counts `n` more observers of a shared callback; false if it is gone.
    pub(crate) fn acquire_many(&mut self, key: CallbackKey, n: u64) -> bool {
        match self.shared_entry_mut(key) {
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
        let index = callback.index();
        if callback.is_private() {
            let removed = self.private.get_mut(index as usize).and_then(Option::take);
            debug_assert!(removed.is_some(), "released a private callback twice");
            if removed.is_some() {
                self.private_free.push(index);
            }
            // Dropped last: a panicking `Drop` leaves the table consistent.
            drop(removed);
            return;
        }
        let entry = self.shared.get_mut(index as usize);
        let Some(entry) = entry.and_then(|slot| slot.entry.as_mut()) else {
            debug_assert!(false, "released a shared callback that is gone");
            return;
        };
        debug_assert!(entry.users > 0, "callback user count underflow");
        entry.users = entry.users.saturating_sub(1);
    }

    /// Applies the releases gathered in `releases` (see `Releases`).
    pub(crate) fn release_all(&mut self, releases: &mut Releases) {
        for (callback, n) in releases.runs.drain(..) {
            if callback.is_private() {
                self.release(callback);
                continue;
            }
            match self.shared.get_mut(callback.index() as usize) {
                Some(SharedSlot {
                    entry: Some(entry), ..
                }) => {
                    debug_assert!(entry.users >= n, "callback user count underflow");
                    entry.users = entry.users.saturating_sub(n);
                }
                _ => debug_assert!(false, "released a shared callback that is gone"),
            }
        }
    }

    /// Removes a shared callback that no observer uses.
    pub(crate) fn unregister(&mut self, key: CallbackKey) -> Result<(), UnregisterCallbackError> {
        let slot = match self.shared.get_mut(key.index as usize) {
            Some(slot) if slot.generation == key.generation => slot,
            _ => return Err(UnregisterCallbackError::NotFound),
        };
        match &slot.entry {
            None => return Err(UnregisterCallbackError::NotFound),
            Some(entry) if entry.users > 0 => {
                let observers = u32::try_from(entry.users).unwrap_or(u32::MAX);
                return Err(UnregisterCallbackError::InUse { observers });
            }
            Some(_) => {}
        }
        let removed = slot.entry.take();
        // An index whose generation cannot grow is retired, never reused, so
        // no key of the entry just freed can name a later one.
        if let Some(next) = slot.generation.checked_add(1) {
            slot.generation = next;
            self.shared_free.push(key.index);
        }
        self.shared_len -= 1;
        // Dropped last: a panicking `Drop` leaves the table consistent.
        drop(removed);
        Ok(())
    }

    /// Every observer is leaving at once: drops every private callback and
    /// counts no user of any shared one.
    pub(crate) fn release_every_use(&mut self) {
        for entry in self
            .shared
            .iter_mut()
            .filter_map(|slot| slot.entry.as_mut())
        {
            entry.users = 0;
        }
        self.private = Vec::new();
        self.private_free = Vec::new();
    }

    /// Frees the private table; only valid when no observer exists.
    pub(crate) fn release_private_storage(&mut self) {
        let empty = self.private_len() == 0;
        debug_assert!(empty, "private callbacks still in use");
        if empty {
            debug_assert!(self.private.iter().all(Option::is_none));
            self.private = Vec::new();
            self.private_free = Vec::new();
        }
    }

    /// Callbacks stored: shared ones plus one per observer with its own closure.
    pub(crate) fn len(&self) -> usize {
        self.shared_len + self.private_len()
    }

    fn private_len(&self) -> usize {
        self.private.len().saturating_sub(self.private_free.len())
    }

    /// The shared entry `key` names, if it is still registered.
    fn shared_entry_mut(&mut self, key: CallbackKey) -> Option<&mut SharedEntry<V>> {
        let slot = self.shared.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.entry.as_mut()
    }
}

/// The index of a new entry pushed on a table of `len` entries.
fn next_index(len: usize) -> u32 {
    debug_assert!(len < MAX_INDEX as usize, "callback index overflow");
    len as u32
}

#[cfg(test)]
mod tests;
