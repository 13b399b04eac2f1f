//! Global counters and the per-tick report.

use std::fmt;
use std::time::Duration;

/// Counters over the manager's whole life, as returned by
/// [`ObserverManager::stats`](crate::ObserverManager::stats).
///
/// The counters add up: `active_observers == observers_added - observers_removed`,
/// and every accepted change is delivered or coalesced:
/// `changes_received == changes_delivered + changes_coalesced + changes_pending`.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Observers registered.
    pub observers_added: u64,
    /// Observers gone for any reason: removed by id or swept with their owner.
    pub observers_removed: u64,
    /// Of `observers_removed`, those swept because their owner died.
    pub observers_swept: u64,
    /// Of `observers_removed`, those whose `once` policy was fulfilled.
    pub observers_finished: u64,
    /// Observers quarantined for failing too often (see
    /// [`Config::quarantine_after`](crate::Config::quarantine_after)).
    pub observers_quarantined: u64,
    /// Observers alive now.
    pub active_observers: u64,
    /// Owners alive now.
    pub live_owners: u64,
    /// Callback calls made (each delivery of one change to one observer).
    /// A channel watcher's delivery counts here when it enters the channel;
    /// if a full watcher later evicts it unread, it is counted again in
    /// `watcher_notifications_dropped`.
    pub notifications_sent: u64,
    /// Notifications that full bounded channel watchers evicted unread to
    /// make room for newer ones (see [`Watcher`](crate::Watcher)).
    pub watcher_notifications_dropped: u64,
    /// Changes a policy held back from an observer, or merged away for it
    /// (see [`Policy`](crate::Policy)).
    pub notifications_withheld: u64,
    /// Full liveness scans run (every `sweep_every` ticks).
    pub cleanup_runs: u64,
    /// Changes accepted by `notify`.
    pub changes_received: u64,
    /// Changes refused by `notify` because `old == new`.
    pub changes_skipped: u64,
    /// Changes merged into a later change of the same variable under overload.
    pub changes_coalesced: u64,
    /// Changes dispatched to the observers of their variable.
    pub changes_delivered: u64,
    /// Changes accepted but not yet dispatched (waiting for the next tick).
    pub changes_pending: u64,
    /// Callback calls that panicked (caught; counted also in `notifications_sent`).
    pub callback_panics: u64,
    /// Calls of fallible callbacks that returned an error (counted also in
    /// `notifications_sent`; see
    /// [`register_fallible_callback`](crate::ObserverManager::register_fallible_callback)).
    pub callback_errors: u64,
    /// Deferred commands applied.
    pub commands_applied: u64,
    /// Deferred commands skipped: their owner died, or their observer or
    /// callback was already gone.
    pub commands_skipped: u64,
    /// Variables interned and not reclaimed: the live size of the variable
    /// table.
    pub variables: u64,
    /// Variables reclaimed after going unused (see
    /// [`Config::reclaim_idle_variables`](crate::Config::reclaim_idle_variables)).
    pub variables_reclaimed: u64,
    /// Ticks run.
    pub ticks: u64,
    /// Time since the manager was created.
    pub uptime: Duration,
}

/// Time spent in each system during one tick.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SystemTimings {
    /// Applying deferred registrations and removals.
    pub apply: Duration,
    /// Despawning the observers of dead owners (and the periodic full scan).
    pub sweep: Duration,
    /// Draining the inbox and grouping changes by variable.
    pub collect: Duration,
    /// Calling the callbacks.
    pub dispatch: Duration,
    /// Folding results into the counters, and reclaiming unused variables.
    pub account: Duration,
}

impl SystemTimings {
    /// The sum of the systems' times.
    pub fn total(&self) -> Duration {
        self.apply + self.sweep + self.collect + self.dispatch + self.account
    }
}

impl std::ops::AddAssign for SystemTimings {
    /// Adds each system's time: totals over many ticks.
    fn add_assign(&mut self, other: Self) {
        self.apply += other.apply;
        self.sweep += other.sweep;
        self.collect += other.collect;
        self.dispatch += other.dispatch;
        self.account += other.account;
    }
}

impl std::iter::Sum for SystemTimings {
    /// Per-system totals over many ticks.
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SystemTimings};
    ///
    /// let mut manager = ObserverManager::<u8>::new();
    /// let total: SystemTimings = (0..3).map(|_| manager.tick().timings).sum();
    /// assert!(total.total() >= total.dispatch);
    /// ```
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(SystemTimings::default(), |mut acc, t| {
            acc += t;
            acc
        })
    }
}

/// What one [`tick`](crate::ObserverManager::tick) did.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TickReport {
    /// The tick's number, from 1.
    pub tick: u64,
    /// Changes accepted since the previous tick.
    pub changes_received: u64,
    /// Changes refused since the previous tick because `old == new`.
    pub changes_skipped: u64,
    /// Changes merged away since the previous tick under overload.
    pub changes_coalesced: u64,
    /// Changes dispatched in this tick.
    pub changes_delivered: u64,
    /// Variables with at least one change in this tick.
    pub variables_changed: u64,
    /// Callback calls made.
    pub notifications: u64,
    /// Notifications that full bounded channel watchers evicted unread in
    /// this tick, to make room for newer ones.
    pub watcher_notifications_dropped: u64,
    /// Changes a policy held back from an observer, or merged away for it.
    pub notifications_withheld: u64,
    /// Observers despawned because their owner died.
    pub observers_swept: u64,
    /// Observers removed because their `once` policy was fulfilled.
    pub observers_finished: u64,
    /// Observers quarantined in this tick.
    pub observers_quarantined: u64,
    /// Callback calls that panicked.
    pub callback_panics: u64,
    /// Calls of fallible callbacks that returned an error.
    pub callback_errors: u64,
    /// Deferred commands applied.
    pub commands_applied: u64,
    /// Deferred commands skipped (owner dead, observer or callback gone).
    pub commands_skipped: u64,
    /// Variables reclaimed at the end of this tick after going unused (see
    /// [`Config::reclaim_idle_variables`](crate::Config::reclaim_idle_variables)).
    pub variables_reclaimed: u64,
    /// Whether this tick ran the full liveness scan.
    pub full_sweep: bool,
    /// Time per system.
    pub timings: SystemTimings,
}

impl Stats {
    /// Adds one tick's report to the lifetime totals.
    pub(crate) fn absorb(&mut self, report: &TickReport) {
        self.ticks += 1;
        self.observers_swept += report.observers_swept;
        self.observers_removed += report.observers_swept + report.observers_finished;
        self.observers_finished += report.observers_finished;
        self.observers_quarantined += report.observers_quarantined;
        self.notifications_sent += report.notifications;
        self.watcher_notifications_dropped += report.watcher_notifications_dropped;
        self.notifications_withheld += report.notifications_withheld;
        self.cleanup_runs += u64::from(report.full_sweep);
        self.changes_received += report.changes_received;
        self.changes_skipped += report.changes_skipped;
        self.changes_coalesced += report.changes_coalesced;
        self.changes_delivered += report.changes_delivered;
        self.callback_panics += report.callback_panics;
        self.callback_errors += report.callback_errors;
        self.commands_applied += report.commands_applied;
        self.commands_skipped += report.commands_skipped;
    }
}

/// A one-line summary, for logs: the counters a reader looks at first.
///
/// ```
/// use observer_manager::{Metadata, ObserverManager};
///
/// let mut manager = ObserverManager::<u8>::new();
/// let owner = manager.owner();
/// manager.observe("door", &owner).callback(|_| {}).add()?;
/// manager.notify("door", 0, 1, Metadata::default())?;
/// manager.tick();
/// let line = manager.stats().to_string();
/// assert!(line.starts_with("1 ticks, 1 observers (1 added, 0 removed, 0 swept), 1 owners"), "{line}");
/// assert!(line.contains("changes: 1 received, 1 delivered"), "{line}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ticks, {} observers ({} added, {} removed, {} swept), {} owners, {} variables ({} reclaimed); \
             changes: {} received, {} delivered, {} coalesced, {} skipped, {} pending; \
             {} notifications ({} withheld), {} panics, {} errors, {} quarantined, \
             {} evicted by full watchers",
            self.ticks,
            self.active_observers,
            self.observers_added,
            self.observers_removed,
            self.observers_swept,
            self.live_owners,
            self.variables,
            self.variables_reclaimed,
            self.changes_received,
            self.changes_delivered,
            self.changes_coalesced,
            self.changes_skipped,
            self.changes_pending,
            self.notifications_sent,
            self.notifications_withheld,
            self.callback_panics,
            self.callback_errors,
            self.observers_quarantined,
            self.watcher_notifications_dropped,
        )
    }
}

/// A one-line summary of the tick, for logs.
///
/// ```
/// use observer_manager::ObserverManager;
///
/// let mut manager = ObserverManager::<u8>::new();
/// let line = manager.tick().to_string();
/// assert!(line.starts_with("tick 1: 0 notifications over 0 variables"), "{line}");
/// ```
impl fmt::Display for TickReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tick {}: {} notifications over {} variables ({} changes delivered, {} coalesced, \
             {} withheld, {} evicted by full watchers), {} swept, {} panics, {} errors, \
             {} commands applied ({} skipped), {} variables reclaimed{}; {}",
            self.tick,
            self.notifications,
            self.variables_changed,
            self.changes_delivered,
            self.changes_coalesced,
            self.notifications_withheld,
            self.watcher_notifications_dropped,
            self.observers_swept,
            self.callback_panics,
            self.callback_errors,
            self.commands_applied,
            self.commands_skipped,
            self.variables_reclaimed,
            if self.full_sweep { ", full sweep" } else { "" },
            self.timings,
        )
    }
}

/// Each system's time and their total, in microseconds.
impl fmt::Display for SystemTimings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        write!(
            f,
            "{:.1} us (apply {:.1}, sweep {:.1}, collect {:.1}, dispatch {:.1}, account {:.1})",
            us(self.total()),
            us(self.apply),
            us(self.sweep),
            us(self.collect),
            us(self.dispatch),
            us(self.account),
        )
    }
}
