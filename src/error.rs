//! Typed errors, one enum per operation.

use std::fmt;

/// Why a variable could not be named or found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VariableError {
    /// The name is the empty string.
    EmptyName,
    /// The name is longer than [`MAX_VARIABLE_NAME_LEN`](crate::MAX_VARIABLE_NAME_LEN) bytes.
    NameTooLong {
        /// Length of the rejected name, in bytes.
        len: usize,
    },
    /// No variable has this name (lookups never intern).
    Unknown {
        /// The name looked up.
        name: String,
    },
    /// The [`VariableId`](crate::VariableId) was issued by another manager.
    ForeignManager,
    /// The [`VariableId`](crate::VariableId)'s variable was reclaimed after
    /// it went unused (see [`Config::reclaim_idle_variables`](crate::Config::reclaim_idle_variables)):
    /// resolve its name again.
    Reclaimed,
    /// No variable id this manager issued has these
    /// [`to_bits`](crate::VariableId::to_bits).
    NotIssued {
        /// The bits given.
        bits: u64,
    },
}

impl fmt::Display for VariableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VariableError::EmptyName => f.write_str("variable name is empty"),
            VariableError::NameTooLong { len } => write!(
                f,
                "variable name is {len} bytes, over the limit of {}",
                crate::MAX_VARIABLE_NAME_LEN
            ),
            VariableError::Unknown { name } => write!(f, "no variable is named {name:?}"),
            VariableError::ForeignManager => f.write_str("variable id belongs to another manager"),
            VariableError::Reclaimed => f.write_str(
                "variable id is stale: its variable went unused and was reclaimed; resolve the name again",
            ),
            VariableError::NotIssued { bits } => {
                write!(f, "no variable id of this manager has the bits {bits:#x}")
            }
        }
    }
}

impl std::error::Error for VariableError {}

/// Why a change was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyError {
    /// The variable was rejected.
    Variable(VariableError),
    /// The manager was dropped; nothing reported now would ever be delivered.
    ManagerDropped,
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::Variable(e) => write!(f, "cannot notify: {e}"),
            NotifyError::ManagerDropped => f.write_str("the manager was dropped"),
        }
    }
}

impl std::error::Error for NotifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NotifyError::Variable(e) => Some(e),
            NotifyError::ManagerDropped => None,
        }
    }
}

impl From<VariableError> for NotifyError {
    fn from(e: VariableError) -> Self {
        NotifyError::Variable(e)
    }
}

/// Why [`notify_many`](crate::Notifier::notify_many) stopped before the end
/// of its changes.
///
/// The changes before the rejected one were accepted, as `accepted` counts
/// them (`accepted.total()` is the position of the rejected change); the
/// rejected change and those after it were not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyManyError {
    /// Why the change at position `accepted.total()` was rejected.
    pub error: NotifyError,
    /// What happened to the changes before it.
    pub accepted: crate::NotifyCounts,
}

impl fmt::Display for NotifyManyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "change {} of the batch was refused ({}); the {} before it were accepted",
            self.accepted.total(),
            self.error,
            self.accepted.total()
        )
    }
}

impl std::error::Error for NotifyManyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Why an observer could not be added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddObserverError {
    /// The variable was rejected.
    Variable(VariableError),
    /// The [`Owner`](crate::Owner) was created by another manager.
    ForeignOwner,
    /// The callback id was unregistered, or never belonged to this manager.
    UnknownCallback,
    /// The manager was dropped (deferred registration through a `Notifier`).
    ManagerDropped,
    /// The [`Policy`](crate::Policy) has a rate limit of zero ticks
    /// ([`Policy::every(0)`](crate::Policy::every)); it must be at least 1.
    ZeroRateLimit,
}

impl fmt::Display for AddObserverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddObserverError::Variable(e) => write!(f, "cannot add observer: {e}"),
            AddObserverError::ForeignOwner => f.write_str("owner belongs to another manager"),
            AddObserverError::UnknownCallback => f.write_str("callback is not registered here"),
            AddObserverError::ManagerDropped => f.write_str("the manager was dropped"),
            AddObserverError::ZeroRateLimit => {
                f.write_str("the policy's rate limit, Policy::every(0), must be at least 1 tick")
            }
        }
    }
}

impl std::error::Error for AddObserverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AddObserverError::Variable(e) => Some(e),
            _ => None,
        }
    }
}

impl From<VariableError> for AddObserverError {
    fn from(e: VariableError) -> Self {
        AddObserverError::Variable(e)
    }
}

/// Why an observer could not be removed. Both are harmless: nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveObserverError {
    /// No such observer: it was removed already, swept with its dead owner,
    /// or the id is stale.
    NotFound,
    /// The id was issued by another manager.
    ForeignManager,
    /// The manager was dropped (a [`Notifier`](crate::Notifier)'s removal):
    /// its observers are gone with it.
    ManagerDropped,
}

impl fmt::Display for RemoveObserverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoveObserverError::NotFound => f.write_str("observer not found (already removed?)"),
            RemoveObserverError::ForeignManager => {
                f.write_str("observer id belongs to another manager")
            }
            RemoveObserverError::ManagerDropped => f.write_str("the manager was dropped"),
        }
    }
}

impl std::error::Error for RemoveObserverError {}

/// Why a shared callback could not be unregistered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnregisterCallbackError {
    /// Observers still use the callback; remove them first.
    InUse {
        /// How many observers use it.
        observers: u32,
    },
    /// The callback was unregistered already, or belongs to another manager.
    NotFound,
}

impl fmt::Display for UnregisterCallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnregisterCallbackError::InUse { observers } => {
                write!(f, "callback is still used by {observers} observers")
            }
            UnregisterCallbackError::NotFound => f.write_str("callback not found"),
        }
    }
}

impl std::error::Error for UnregisterCallbackError {}

/// Why a [`Config`](crate::Config) was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `sweep_every` must be at least 1.
    ZeroSweepEvery,
    /// `inbox_capacity` must be at least 1.
    ZeroInboxCapacity,
    /// `parallel_chunk` must be at least 1.
    ZeroParallelChunk,
    /// `quarantine_after` must be `None` or at least 1.
    ZeroQuarantineAfter,
    /// `reclaim_idle_variables` must be `None` or at least 1.
    ZeroReclaimIdle,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::ZeroSweepEvery => "sweep_every must be at least 1",
            ConfigError::ZeroInboxCapacity => "inbox_capacity must be at least 1",
            ConfigError::ZeroParallelChunk => "parallel_chunk must be at least 1",
            ConfigError::ZeroQuarantineAfter => "quarantine_after must be None or at least 1",
            ConfigError::ZeroReclaimIdle => "reclaim_idle_variables must be None or at least 1",
        })
    }
}

impl std::error::Error for ConfigError {}
