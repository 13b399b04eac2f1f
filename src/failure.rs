//! Callback failures: errors returned by fallible callbacks, and panics.
//!
//! Both are counted on their observer alike (`Tally`, the stats'
//! `callback_errors` / `callback_panics`, the quarantine rule). They differ
//! in how they are reported:
//!
//! - An error is handed, on the thread that made the call, to the
//!   [`Config::on_callback_error`](crate::Config::on_callback_error) handler,
//!   or without one to a `tracing` debug event; no unwinding, no allocation.
//! - A panic is caught per call. The process's panic hook prints it as it
//!   prints any panic, unless [`route_callback_panics_to_tracing`] was
//!   called: then panics raised inside a callback during a tick go to
//!   `tracing` only, and every other panic still reaches the previous hook.
//!
//! Either way, account (system 5) emits one `tracing` warning the first
//! time an observer fails, and one summary per tick for the rest.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic;
use std::sync::{Arc, Once};

use hecs::Entity;

use crate::TRACE_TARGET;
use crate::ids::ObserverId;
use crate::ingest::change::Notification;

/// A fallible callback's error, as its handler sees it.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use observer_manager::{CallbackError, Config, Metadata, ObserverManager};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// let config = Config::default().on_callback_error(move |e: &CallbackError<'_>| {
///     log.lock().unwrap().push(format!("{}: {}", e.variable, e.error));
/// });
/// let mut manager = ObserverManager::<i32>::with_config(config)?;
/// let positive = manager.register_fallible_callback(|n| {
///     if *n.new > 0 { Ok(()) } else { Err(format!("{} is not positive", n.new)) }
/// });
/// let owner = manager.owner();
/// manager.observe("x", &owner).shared(positive).add()?;
/// manager.notify("x", 1, -3, Metadata::default())?;
///
/// let report = manager.tick();
/// assert_eq!((report.notifications, report.callback_errors), (1, 1));
/// assert_eq!(*seen.lock().unwrap(), ["x: -3 is not positive"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct CallbackError<'a> {
    /// The variable whose change the callback was given.
    pub variable: &'a str,
    /// The observer whose call failed.
    pub observer: ObserverId,
    /// The error the callback returned.
    pub error: &'a dyn fmt::Display,
}

impl fmt::Debug for CallbackError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackError")
            .field("variable", &self.variable)
            .field("observer", &self.observer)
            .field("error", &format_args!("{}", self.error))
            .finish()
    }
}

impl fmt::Display for CallbackError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "callback of {} on variable {:?} failed: {}",
            self.observer, self.variable, self.error
        )
    }
}

/// A handler of fallible callbacks' errors, shared with every such callback.
pub(crate) type ErrorHandler = Arc<dyn Fn(&CallbackError<'_>) + Send + Sync>;

/// Hands one error to `handler`, or to a `tracing` debug event.
pub(crate) fn report_error<V>(
    handler: Option<&(dyn Fn(&CallbackError<'_>) + Send + Sync)>,
    n: &Notification<'_, V>,
    error: &dyn fmt::Display,
) {
    let failure = CallbackError {
        variable: n.name,
        observer: n.observer,
        error,
    };
    match handler {
        Some(handler) => handler(&failure),
        None => tracing::debug!(
            target: TRACE_TARGET,
            variable = n.name,
            observer = %n.observer,
            error = %error,
            "callback returned an error"
        ),
    }
}

thread_local! {
    /// Set while this thread runs callbacks for a tick.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic caught in a callback was raised, when the hook
    /// of `route_callback_panics_to_tracing` saw it.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static ROUTE: Once = Once::new();

/// Reports panics raised inside callbacks during a tick through `tracing`
/// only, instead of the process's panic hook (which prints a message, and a
/// backtrace under `RUST_BACKTRACE=1`, for every panic: 100k panicking
/// callbacks would print 100k of them per tick).
///
/// It installs, once per process (later calls do nothing), a panic hook
/// that wraps the one in place: a panic raised while this thread runs a
/// tick's callbacks records its location for the engine's report and
/// prints nothing; every other panic goes to the previous hook unchanged.
/// The engine reports a callback's panic, with its message and location, in
/// a `tracing` warning the first time its observer fails, and counts the
/// rest in one warning per tick (see [`TickReport::callback_panics`]).
///
/// A panic that a callback catches itself (its own `catch_unwind`) is also
/// not printed, since it too is raised inside a callback. A hook installed
/// after this one replaces it; call this after such a hook to wrap it.
///
/// [`TickReport::callback_panics`]: crate::TickReport::callback_panics
///
/// # Examples
///
/// ```
/// use observer_manager::{Metadata, ObserverManager, route_callback_panics_to_tracing};
///
/// route_callback_panics_to_tracing();
/// let mut manager = ObserverManager::<u8>::new();
/// let owner = manager.owner();
/// manager.observe("x", &owner).callback(|_| panic!("nothing printed on stderr")).add()?;
/// manager.notify("x", 0, 1, Metadata::default())?;
/// assert_eq!(manager.tick().callback_panics, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn route_callback_panics_to_tracing() {
    ROUTE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_CALLBACK.with(Cell::get) {
                let location = info.location().map(ToString::to_string);
                LOCATION.with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// Marks this thread as running callbacks until dropped (restoring the mark
/// it found, so a callback that ticks another manager nests correctly).
pub(crate) struct InCallbacks {
    was: bool,
}

impl InCallbacks {
    pub(crate) fn enter() -> Self {
        InCallbacks {
            was: IN_CALLBACK.with(|flag| flag.replace(true)),
        }
    }
}

impl Drop for InCallbacks {
    fn drop(&mut self) {
        IN_CALLBACK.with(|flag| flag.set(self.was));
    }
}

/// One failed call of a tick: which observer (and its variable's index, for
/// the report) and how it failed. 24 bytes: a tick may record one per
/// observer, so the rare panic's details live behind a box.
pub(crate) struct Failure {
    pub(crate) entity: Entity,
    pub(crate) variable: u32,
    pub(crate) kind: FailureKind,
}

pub(crate) enum FailureKind {
    /// A fallible callback returned an error (already handed to its handler).
    Error,
    /// The call panicked.
    Panic(Box<CaughtPanic>),
}

/// What a caught panic left.
pub(crate) struct CaughtPanic {
    pub(crate) payload: Box<dyn Any + Send>,
    /// Known when `route_callback_panics_to_tracing` is in place.
    pub(crate) location: Option<String>,
}

impl FailureKind {
    /// The kind of a caught panic: its payload, and the location the hook
    /// recorded on this thread, if any.
    pub(crate) fn panic(payload: Box<dyn Any + Send>) -> Self {
        FailureKind::Panic(Box::new(CaughtPanic {
            payload,
            location: LOCATION.with(|slot| slot.borrow_mut().take()),
        }))
    }
}

const _: () = assert!(std::mem::size_of::<Failure>() <= 24);

/// A panic payload's message: the `&str` or `String` that `panic!` makes.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(a panic payload that is not a string)"
    }
}
