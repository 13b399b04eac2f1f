//! [`StoreError`], and how the engine's refusals map onto it.

use std::fmt;

use crate::error::{AddObserverError, NotifyError, VariableError};

/// Why a [`SessionStore`](super::SessionStore) operation failed. The store is unchanged then.
///
/// # Examples
///
/// ```
/// use observer_manager::{ObserverManager, SessionId, SessionStore, StoreError, VariableError};
///
/// let manager = ObserverManager::<Option<u8>>::new();
/// let store = SessionStore::new(manager.notifier());
/// let err = store.set(SessionId(1), "", 1).unwrap_err();
/// assert_eq!(err, StoreError::Variable(VariableError::EmptyName));
/// assert_eq!(err.to_string(), "bad store variable: variable name is empty");
///
/// drop(manager);
/// assert_eq!(store.set(SessionId(1), "x", 1), Err(StoreError::ManagerDropped));
/// assert_eq!(store.get(SessionId(1), "x"), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The variable name is empty, or longer than
    /// [`MAX_VARIABLE_NAME_LEN`](crate::MAX_VARIABLE_NAME_LEN) once prefixed with its session.
    Variable(VariableError),
    /// The [`Owner`](crate::Owner) given to `observe` belongs to another manager.
    ForeignOwner,
    /// The manager was dropped: nothing reported now would be delivered.
    ManagerDropped,
    /// The [`Policy`](crate::Policy) given to `observe` has a rate limit of
    /// zero ticks; it must be at least 1.
    ZeroRateLimit,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Variable(e) => write!(f, "bad store variable: {e}"),
            StoreError::ForeignOwner => f.write_str("owner belongs to another manager"),
            StoreError::ManagerDropped => f.write_str("the manager was dropped"),
            StoreError::ZeroRateLimit => {
                f.write_str("the policy's rate limit, Policy::every(0), must be at least 1 tick")
            }
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Variable(e) => Some(e),
            _ => None,
        }
    }
}

impl From<VariableError> for StoreError {
    fn from(e: VariableError) -> Self {
        StoreError::Variable(e)
    }
}

/// The engine refuses a store's own id only when the manager is gone.
pub(super) fn dropped(e: NotifyError) -> StoreError {
    debug_assert_eq!(
        e,
        NotifyError::ManagerDropped,
        "the store's own id was refused"
    );
    StoreError::ManagerDropped
}

/// The reasons a store's registration can meet; its callbacks are private,
/// so an unknown callback cannot arise.
pub(super) fn refused(e: AddObserverError) -> StoreError {
    match e {
        AddObserverError::Variable(e) => StoreError::Variable(e),
        AddObserverError::ForeignOwner => StoreError::ForeignOwner,
        AddObserverError::ManagerDropped => StoreError::ManagerDropped,
        AddObserverError::ZeroRateLimit => StoreError::ZeroRateLimit,
        AddObserverError::UnknownCallback => {
            debug_assert!(false, "a private callback was refused");
            StoreError::ManagerDropped
        }
    }
}
