//! The schedule: the systems of one tick, called in order. Nothing else.
//!
//! Each system is a plain function over the store and side tables; it lives
//! in its own file and is crate-private.

mod account;
mod apply;
mod collect;
mod dispatch;
mod policies;
mod reclaim;
mod sweep;

use std::sync::atomic::Ordering;
use std::time::Instant;

use tracing::field::Empty;

use crate::TRACE_TARGET;
use crate::manager::ObserverManager;
use crate::stats::{SystemTimings, TickReport};

pub(crate) use collect::Batch;
pub(crate) use policies::Primed;
pub(crate) use reclaim::ReclaimScratch;

/// Runs one tick: apply, sweep, collect, dispatch, account, and reclaim
/// on the ticks when a candidate is due.
pub(crate) fn run_tick<V: PartialEq + Send + Sync + 'static>(
    m: &mut ObserverManager<V>,
) -> TickReport {
    m.tick += 1;
    let tick = m.tick;
    let span = tracing::info_span!(
        target: TRACE_TARGET,
        "tick",
        tick,
        notifications = Empty,
        swept = Empty,
        panics = Empty,
        errors = Empty
    );
    let _entered = span.enter();
    let mut report = TickReport {
        tick,
        ..TickReport::default()
    };
    let mut timings = SystemTimings::default();
    let mut clock = Instant::now();
    let mut lap = |slot: &mut std::time::Duration| {
        let now = Instant::now();
        *slot = now - clock;
        clock = now;
    };

    m.store.variables.start_tick(tick);
    m.store.variables.sync(&m.notifier.shared.interner);
    {
        let _s = tracing::debug_span!(target: TRACE_TARGET, "apply").entered();
        m.notifier
            .shared
            .inbox
            .take_commands(&mut m.scratch.commands);
        let applied = apply::apply(
            &mut m.store,
            &m.notifier.shared,
            &mut m.scratch.commands,
            tick,
        );
        report.commands_applied = applied.added + applied.removed;
        report.commands_skipped = applied.skipped;
        m.totals.observers_added += applied.added;
        m.totals.observers_removed += applied.removed;
    }
    lap(&mut timings.apply);

    {
        let _s = tracing::debug_span!(target: TRACE_TARGET, "sweep").entered();
        report.full_sweep = tick.is_multiple_of(m.config.sweep_every);
        let owners = &m.notifier.shared.owners;
        report.observers_swept = sweep::sweep(
            &mut m.store,
            owners,
            &mut m.scratch.deaths,
            report.full_sweep,
            m.config.thread_pool.as_deref(),
        );
        if report.observers_swept > 0 || report.full_sweep {
            tracing::debug!(
                target: TRACE_TARGET,
                swept = report.observers_swept,
                full = report.full_sweep,
                "sweep"
            );
        }
    }
    lap(&mut timings.sweep);

    {
        let _s = tracing::debug_span!(target: TRACE_TARGET, "collect").entered();
        let counts = collect::collect(
            &m.notifier.shared.inbox,
            &mut m.scratch.changes,
            &mut m.scratch.batches,
        );
        if let Some(last) = m.scratch.batches.last()
            && last.variable as usize >= m.store.variables.len()
        {
            m.store.variables.sync(&m.notifier.shared.interner);
        }
        report.changes_received = counts.received;
        report.changes_skipped = counts.skipped;
        report.changes_coalesced = counts.coalesced;
        report.changes_delivered = m.scratch.changes.len() as u64;
        report.variables_changed = m.scratch.batches.len() as u64;
    }
    lap(&mut timings.collect);

    let dispatched = {
        let _s = tracing::debug_span!(target: TRACE_TARGET, "dispatch").entered();
        let ids = m.id_scope();
        let mut policed = policies::PolicedOutcome::default();
        policies::deliver_primed(&mut m.store, ids, tick, &mut policed);
        let mut dispatched = dispatch::dispatch(dispatch::Dispatch {
            variables: &mut m.store.variables,
            callbacks: &m.store.callbacks,
            changes: &m.scratch.changes,
            batches: &m.scratch.batches,
            config: &m.config,
            ids,
            tick,
        });
        let (changes, batches) = (&m.scratch.changes, &m.scratch.batches);
        policies::deliver_policed(&mut m.store, changes, batches, tick, ids, &mut policed);
        dispatched.notifications += policed.notifications;
        dispatched.failures.push(policed.failures);
        report.notifications_withheld = policed.withheld;
        m.scratch.finished = policed.finished;
        tracing::debug!(
            target: TRACE_TARGET,
            variables = report.variables_changed,
            notifications = dispatched.notifications,
            "dispatch"
        );
        dispatched
    };
    lap(&mut timings.dispatch);

    {
        let _s = tracing::debug_span!(target: TRACE_TARGET, "account").entered();
        let ids = m.id_scope();
        let accounted = account::account(
            &mut m.store,
            &mut m.scratch.changes,
            dispatched.failures,
            &m.scratch.finished,
            m.config.quarantine_after,
            ids,
        );
        m.scratch.finished.clear();
        report.observers_quarantined = accounted.quarantined;
        report.observers_finished = accounted.finished;
        report.notifications = dispatched.notifications;
        report.watcher_notifications_dropped = m
            .notifier
            .shared
            .watcher_evictions
            .swap(0, Ordering::Relaxed);
        report.callback_panics = accounted.panics;
        report.callback_errors = accounted.errors;
        m.totals.absorb(&report);
        if m.store.release_storage_if_empty() {
            m.scratch.release_storage();
        }
    }
    // Most ticks have no candidate due: they skip the system and its span.
    if m.store.variables.has_due(m.config.reclaim_idle) {
        let _s = tracing::debug_span!(target: TRACE_TARGET, "reclaim").entered();
        report.variables_reclaimed = reclaim::reclaim(
            &mut m.store.variables,
            &m.notifier.shared,
            m.config.reclaim_idle,
            &mut m.scratch.reclaim,
        );
        m.totals.variables_reclaimed += report.variables_reclaimed;
        if report.variables_reclaimed > 0 {
            tracing::debug!(
                target: TRACE_TARGET,
                reclaimed = report.variables_reclaimed,
                "reclaim"
            );
        }
    }
    lap(&mut timings.account);

    report.timings = timings;
    span.record("notifications", report.notifications);
    span.record("swept", report.observers_swept);
    span.record("panics", report.callback_panics);
    span.record("errors", report.callback_errors);
    report
}
