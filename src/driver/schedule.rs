//! [`Schedule`]: when a driver ticks, and how its thread applies it.

use std::time::{Duration, Instant};

use super::ON_DEMAND_POLL_INTERVAL;
use super::control::Control;
use crate::manager::ObserverManager;

/// When a [`TickDriver`](crate::TickDriver) ticks.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use observer_manager::Schedule;
///
/// let sixty_hertz = Schedule::FixedRate(Duration::from_micros(16_667));
/// let reactive = Schedule::OnDemand;
/// assert_ne!(sixty_hertz, reactive);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Schedule {
    /// One tick per period, whether or not anything changed; the first one
    /// period after the driver starts. A tick that overruns its slot pushes
    /// the schedule back: the next tick starts one period after it ends, and
    /// missed ticks are not made up. The period must not be zero.
    FixedRate(Duration),
    /// A tick whenever work is pending (see
    /// [`ObserverManager::has_pending_work`](crate::ObserverManager::has_pending_work):
    /// changes, deferred registrations or removals, dead owners to sweep),
    /// and none while idle. Pending work waits at most
    /// [`ON_DEMAND_POLL_INTERVAL`] before its tick starts; work reported
    /// during a tick gets the next one at once.
    OnDemand,
}

/// Ticks if `schedule` says so at `due`; returns when to look again.
pub(super) fn tick_if_due<V: PartialEq + Send + Sync + 'static>(
    manager: &mut ObserverManager<V>,
    control: &Control<V>,
    schedule: Schedule,
    due: Instant,
) -> Instant {
    match schedule {
        Schedule::FixedRate(period) => {
            if Instant::now() < due {
                return due; // woken for a job
            }
            control.record(manager.tick());
            // The next slot, unless this tick overran it: then one period from now.
            let (slot, now) = (later(due, period), Instant::now());
            if slot > now { slot } else { later(now, period) }
        }
        Schedule::OnDemand => {
            if manager.has_pending_work() {
                control.record(manager.tick());
            }
            if manager.pending_changes() > 0 {
                Instant::now() // reported during the tick: go again at once
            } else {
                Instant::now() + ON_DEMAND_POLL_INTERVAL
            }
        }
    }
}

/// `from + by`, or a date too far to matter if that overflows (a huge
/// period means "practically never", not a panic).
pub(super) fn later(from: Instant, by: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    from.checked_add(by)
        .or_else(|| from.checked_add(FAR))
        .unwrap_or(from)
}
