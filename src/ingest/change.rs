//! What producers report and what callbacks receive.

use std::borrow::Cow;
use std::time::SystemTime;

use crate::ids::{ObserverId, VariableId};

/// Identifies the session a change belongs to, as the original design's
/// session store propagated it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// Context that travels with a change: where it came from and when.
///
/// # Examples
///
/// ```
/// use observer_manager::{Metadata, SessionId};
///
/// let meta = Metadata::new("physics").with_session(SessionId(7));
/// assert_eq!(meta.source, "physics");
/// assert_eq!(meta.session, Some(SessionId(7)));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    /// The session the change belongs to, if any.
    pub session: Option<SessionId>,
    /// When the change was reported (wall clock, taken by [`Metadata::new`]).
    pub timestamp: SystemTime,
    /// Who reported the change: a subsystem, a store, a thread name.
    pub source: Cow<'static, str>,
}

impl Metadata {
    /// Metadata stamped with the current time, no session, and `source`.
    pub fn new(source: impl Into<Cow<'static, str>>) -> Self {
        Metadata {
            session: None,
            timestamp: SystemTime::now(),
            source: source.into(),
        }
    }

    /// The same metadata tagged with `session`.
    #[must_use = "with_session returns the tagged metadata"]
    pub fn with_session(mut self, session: SessionId) -> Self {
        self.session = Some(session);
        self
    }
}

impl Default for Metadata {
    /// Stamped now, no session, empty source.
    fn default() -> Self {
        Metadata::new("")
    }
}

/// A queued change: one variable went from `old` to `new`.
#[derive(Debug)]
pub(crate) struct Change<V> {
    pub(crate) variable: u32,
    pub(crate) old: V,
    pub(crate) new: V,
    pub(crate) metadata: Metadata,
}

/// What a callback receives: one change, addressed to one observer.
///
/// All references live for the duration of the call only.
#[derive(Debug)]
pub struct Notification<'a, V> {
    /// The variable that changed.
    pub variable: VariableId,
    /// The variable's name.
    pub name: &'a str,
    /// The value before the change.
    pub old: &'a V,
    /// The value after the change.
    pub new: &'a V,
    /// Session, timestamp and source of the change.
    pub metadata: &'a Metadata,
    /// The observer being called.
    pub observer: ObserverId,
}

/// What happened to a change handed to `notify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// Queued for the next tick.
    Queued,
    /// Dropped because `old == new`; counted in `changes_skipped`.
    Unchanged,
    /// The inbox was at capacity, so the change was merged into the
    /// variable's pending coalesced change (first old value, last new value);
    /// counted in `changes_coalesced`.
    Coalesced,
}

/// What happened to the changes handed to `notify_many`: how many took
/// each [`NotifyOutcome`].
///
/// # Examples
///
/// ```
/// use observer_manager::{Metadata, NotifyCounts, ObserverManager};
///
/// let manager = ObserverManager::<u32>::new();
/// let speed = manager.variable("speed")?;
/// let meta = Metadata::new("sensor");
/// let counts = manager.notify_many([
///     (speed, 1, 2, meta.clone()),
///     (speed, 2, 2, meta.clone()),
///     (speed, 2, 3, meta),
/// ])?;
/// assert_eq!(counts, NotifyCounts { queued: 2, unchanged: 1, coalesced: 0 });
/// assert_eq!(counts.total(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifyCounts {
    /// Changes queued for the next tick.
    pub queued: u64,
    /// Changes dropped because `old == new`.
    pub unchanged: u64,
    /// Changes merged into their variable's pending coalesced change.
    pub coalesced: u64,
}

impl NotifyCounts {
    /// Every change these counts cover.
    pub fn total(&self) -> u64 {
        self.queued + self.unchanged + self.coalesced
    }

    pub(crate) fn add(&mut self, outcome: NotifyOutcome) {
        match outcome {
            NotifyOutcome::Queued => self.queued += 1,
            NotifyOutcome::Unchanged => self.unchanged += 1,
            NotifyOutcome::Coalesced => self.coalesced += 1,
        }
    }
}
