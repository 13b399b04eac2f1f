//! The driver's errors: [`DriverError`] for its operations, and
//! [`SpawnDriverError`] (with its [`SpawnFailure`]) for a failed start,
//! which gives the manager back.

use std::any::Any;
use std::fmt;
use std::io;

use crate::manager::ObserverManager;

/// Why a [`TickDriver`](crate::TickDriver) operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriverError {
    /// The driver thread panicked outside the callbacks (which are caught);
    /// the manager and what it held are lost.
    Panicked {
        /// The panic's message.
        message: String,
    },
    /// The driver thread has stopped (after a panic), so nothing can run on it.
    Stopped,
    /// The closure given to [`TickDriver::with_manager`](crate::TickDriver::with_manager) panicked; the
    /// driver runs on.
    ClosurePanicked {
        /// The panic's message.
        message: String,
    },
    /// Called on the driver thread itself (from a callback or a
    /// `with_manager` closure), where waiting for the driver would deadlock.
    Reentrant,
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::Panicked { message } => {
                write!(f, "the tick driver thread panicked: {message}")
            }
            DriverError::Stopped => f.write_str("the tick driver has stopped"),
            DriverError::ClosurePanicked { message } => {
                write!(f, "the closure run on the tick driver panicked: {message}")
            }
            DriverError::Reentrant => f.write_str("called on the tick driver's own thread"),
        }
    }
}

impl std::error::Error for DriverError {}

/// Why [`TickDriver::spawn`](crate::TickDriver::spawn) could not start the driver.
#[derive(Debug)]
#[non_exhaustive]
pub enum SpawnFailure {
    /// [`Schedule::FixedRate`](crate::Schedule::FixedRate) with a zero period would tick without rest.
    ZeroPeriod,
    /// The operating system refused the thread.
    Thread(io::Error),
}

impl fmt::Display for SpawnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnFailure::ZeroPeriod => f.write_str("fixed-rate period is zero"),
            SpawnFailure::Thread(_) => f.write_str("cannot spawn the driver thread"),
        }
    }
}

impl std::error::Error for SpawnFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpawnFailure::ZeroPeriod => None,
            SpawnFailure::Thread(e) => Some(e),
        }
    }
}

/// [`TickDriver::spawn`](crate::TickDriver::spawn) failed; the manager is given back, unchanged.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use observer_manager::{ObserverManager, Schedule, SpawnFailure, TickDriver};
///
/// let manager = ObserverManager::<u8>::new();
/// let error = TickDriver::spawn(manager, Schedule::FixedRate(Duration::ZERO)).unwrap_err();
/// assert!(matches!(error.reason(), SpawnFailure::ZeroPeriod));
/// let mut manager = error.into_manager();
/// manager.tick(); // still usable
/// ```
pub struct SpawnDriverError<V> {
    /// Boxed, so that `spawn`'s result stays small.
    manager: Box<ObserverManager<V>>,
    reason: SpawnFailure,
}

impl<V> SpawnDriverError<V> {
    pub(super) fn new(manager: ObserverManager<V>, reason: SpawnFailure) -> Self {
        SpawnDriverError {
            manager: Box::new(manager),
            reason,
        }
    }

    /// Why the driver did not start.
    pub fn reason(&self) -> &SpawnFailure {
        &self.reason
    }

    /// The manager that was to be driven.
    pub fn into_manager(self) -> ObserverManager<V> {
        *self.manager
    }
}

impl<V> fmt::Debug for SpawnDriverError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnDriverError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// `cannot start the tick driver: <reason>`; the reason's own cause (the
/// operating system's error) is the `source`.
impl<V> fmt::Display for SpawnDriverError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot start the tick driver: {}", self.reason)
    }
}

impl<V> std::error::Error for SpawnDriverError<V> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.reason)
    }
}

/// The message of a panic payload (`panic!` gives a `&str` or a `String`).
pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
