//! Identifiers handed to users: observers, variables, owners and callbacks.
//!
//! Every id carries the tag of the manager that issued it, so an id used on
//! another manager is rejected with a typed error instead of silently naming
//! an unrelated observer.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};

use hecs::Entity;

slotmap::new_key_type! {
    /// Key of an owner in the owner table.
    pub(crate) struct OwnerKey;
}

/// Key of a shared callback in the callback registry: an index into its
/// storage and the generation of that index when the callback was stored.
///
/// The registry bumps an index's generation each time it frees the entry
/// there, so a key of an unregistered callback never names a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CallbackKey {
    /// Invariant: below `callbacks::MAX_INDEX` (see `CallbackRef`).
    pub(crate) index: u32,
    pub(crate) generation: NonZeroU32,
}

/// Tag that tells managers apart; unique per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ManagerTag(u32);

impl ManagerTag {
    /// A tag no other manager in this process has.
    pub(crate) fn fresh() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        ManagerTag(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// What an `ObserverId` is made in: a manager and its store's epoch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdScope {
    pub(crate) manager: ManagerTag,
    pub(crate) epoch: u32,
}

/// Identifies one observer of one manager.
///
/// Ids are generational: once an observer is removed, its id never names a
/// later observer, even when the storage slot is reused or the store is
/// rebuilt after emptying.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObserverId {
    pub(crate) entity: Entity,
    pub(crate) manager: ManagerTag,
    /// The store generation the entity belongs to (see `Store::epoch`).
    pub(crate) epoch: u32,
}

impl ObserverId {
    pub(crate) fn new(entity: Entity, manager: ManagerTag, epoch: u32) -> Self {
        ObserverId {
            entity,
            manager,
            epoch,
        }
    }

    /// The id as one integer (slot index and generation), stable for the
    /// observer's lifetime; useful as a map key or in logs.
    pub fn to_bits(self) -> u64 {
        self.entity.to_bits().get()
    }
}

/// Serialised as [`ObserverId::to_bits`]: a stable integer for logs.
#[cfg(feature = "serde")]
impl serde::Serialize for ObserverId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.to_bits())
    }
}

/// `ObserverId { index, generation }`: the storage slot and how many
/// observers held it before.
impl fmt::Debug for ObserverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.to_bits();
        write_slot(f, "ObserverId", bits as u32, (bits >> 32) as u32)
    }
}

/// `observer <index>.<generation>`, as in logs.
///
/// ```
/// use observer_manager::ObserverManager;
///
/// let mut manager = ObserverManager::<u8>::new();
/// let owner = manager.owner();
/// let id = manager.observe("door", &owner).callback(|_| {}).add()?;
/// assert_eq!(id.to_string(), "observer 0.1");
/// assert_eq!(format!("{id:?}"), "ObserverId { index: 0, generation: 1 }");
/// # Ok::<(), observer_manager::AddObserverError>(())
/// ```
impl fmt::Display for ObserverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.to_bits();
        write!(f, "observer {}.{}", bits as u32, bits >> 32)
    }
}

/// Writes a generational key as `Name { index, generation }`.
fn write_slot(f: &mut fmt::Formatter<'_>, name: &str, index: u32, generation: u32) -> fmt::Result {
    f.debug_struct(name)
        .field("index", &index)
        .field("generation", &generation)
        .finish()
}

/// An interned variable name: a dense index that serves hot paths without hashing.
///
/// Obtain one with [`Notifier::variable`](crate::Notifier::variable), which
/// the manager has too.
///
/// A variable left unused (no observer, watcher, session-store entry,
/// pending change or registration) for
/// [`Config::reclaim_idle_variables`](crate::Config::reclaim_idle_variables)
/// ticks is reclaimed; its id is stale from then on and refused with
/// [`VariableError::Reclaimed`](crate::VariableError::Reclaimed), never taken
/// for another variable. Resolve the name again to get the current id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VariableId {
    pub(crate) index: u32,
    /// How many variables held `index` before this one.
    pub(crate) generation: u32,
    pub(crate) manager: ManagerTag,
}

impl VariableId {
    /// The dense index of the variable: `0, 1, 2, …` in interning order.
    /// The index of a reclaimed variable is reused, under a new
    /// [`generation`](Self::generation).
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many reclaimed variables held this index before: with
    /// [`index`](Self::index), unique for the manager's lifetime.
    pub fn generation(self) -> u32 {
        self.generation
    }

    /// The id as one integer, generation above index, for a user who keeps
    /// integer handles; [`Notifier::variable_from_bits`](crate::Notifier::variable_from_bits) (on the manager too)
    /// turns it back into an id, checked.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::ObserverManager;
    ///
    /// let manager = ObserverManager::<u8>::new();
    /// let door = manager.variable("door")?;
    /// let bits: u64 = door.to_bits();
    /// assert_eq!(manager.variable_from_bits(bits)?, door);
    /// assert!(manager.variable_from_bits(bits + 1).is_err()); // never issued
    /// # Ok::<(), observer_manager::VariableError>(())
    /// ```
    pub fn to_bits(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }
}

/// Serialised as its dense index.
#[cfg(feature = "serde")]
impl serde::Serialize for VariableId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.index)
    }
}

/// `VariableId { index, generation }`, as for [`ObserverId`].
impl fmt::Debug for VariableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_slot(f, "VariableId", self.index, self.generation)
    }
}

/// `variable <index>`; the name is the manager's to tell
/// ([`inspect_variable`](crate::ObserverManager::inspect_variable)).
impl fmt::Display for VariableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "variable {}", self.index)
    }
}

/// Identifies an owner, as shown by [`inspect_variable`](crate::ObserverManager::inspect_variable).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OwnerId(pub(crate) OwnerKey);

impl OwnerId {
    /// The id as one integer (slot index and generation), for logs.
    pub fn to_bits(self) -> u64 {
        use slotmap::Key;
        self.0.data().as_ffi()
    }
}

/// Serialised as [`OwnerId::to_bits`].
#[cfg(feature = "serde")]
impl serde::Serialize for OwnerId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.to_bits())
    }
}

/// `OwnerId { index, generation }`, as for [`ObserverId`].
impl fmt::Debug for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.to_bits();
        write_slot(f, "OwnerId", bits as u32, (bits >> 32) as u32)
    }
}

/// `owner <index>.<generation>`, as in logs.
impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.to_bits();
        write!(f, "owner {}.{}", bits as u32, bits >> 32)
    }
}

/// Identifies a callback registered once and shared by many observers.
///
/// See [`ObserverManager::register_callback`](crate::ObserverManager::register_callback).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallbackId {
    pub(crate) key: CallbackKey,
    pub(crate) manager: ManagerTag,
}

/// `CallbackId { index, generation }`, as for [`ObserverId`].
impl fmt::Debug for CallbackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_slot(f, "CallbackId", self.key.index, self.key.generation.get())
    }
}

/// `callback <index>.<generation>`, as in logs.
impl fmt::Display for CallbackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "callback {}.{}", self.key.index, self.key.generation)
    }
}
