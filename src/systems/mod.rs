//! The schedule: the systems of one tick, called in order. Nothing else.
//!
//! Each system is a plain function over the store and side tables; it lives
//! in its own file and is crate-private.

mod account;
mod apply;
mod collect;
mod dispatch;
mod policed;
mod reclaim;
mod sweep;

use std::sync::atomic::Ordering;
use std::time::Instant;

use tracing::field::Empty;

use crate::TRACE_TARGET;
use crate::config::Config;
use crate::ids::IdScope;
use crate::ids::OwnerKey;
use crate::ingest::inbox::Command;
use crate::ingest::queue::Queue;
use crate::ingest::shared::Shared;
use crate::observers::Store;
use crate::stats::{Stats, SystemTimings, TickReport};
use hecs::Entity;

pub(crate) use collect::Batch;
pub(crate) use policed::Primed;
pub(crate) use reclaim::ReclaimScratch;

/// Buffers reused from tick to tick, so a steady tick allocates nothing.
pub(crate) struct Scratch<V> {
    pub(crate) changes: Queue<V>,
    pub(crate) batches: Vec<Batch>,
    pub(crate) commands: Vec<Command<V>>,
    pub(crate) deaths: Vec<OwnerKey>,
    /// Observers whose `once` policy was fulfilled this tick.
    pub(crate) finished: Vec<Entity>,
    pub(crate) reclaim: ReclaimScratch,
}

impl<V> Scratch<V> {
    pub(crate) fn new() -> Self {
        Scratch {
            changes: Queue::new(),
            batches: Vec::new(),
            commands: Vec::new(),
            deaths: Vec::new(),
            finished: Vec::new(),
            reclaim: ReclaimScratch::default(),
        }
    }

    /// Drops the buffers' capacity, grown by past bursts.
    pub(crate) fn release_storage(&mut self) {
        *self = Scratch::new();
    }
}

/// What a tick works on: the manager's parts, lent for one tick.
pub(crate) struct Parts<'m, V> {
    /// What producers share: the inbox, the interner, the owners.
    pub(crate) shared: &'m Shared<V>,
    pub(crate) store: &'m mut Store<V>,
    pub(crate) scratch: &'m mut Scratch<V>,
    pub(crate) config: &'m Config,
    /// Lifetime counters, advanced by each tick's report.
    pub(crate) totals: &'m mut Stats,
    /// Ticks completed; this one is `*tick + 1`.
    pub(crate) tick: &'m mut u64,
}

impl<V> Parts<'_, V> {
    /// What this tick's observer ids are made in.
    fn ids(&self) -> IdScope {
        IdScope {
            manager: self.shared.manager,
            epoch: self.store.epoch,
        }
    }
}

/// Runs one tick: apply, sweep, collect, dispatch, account, and reclaim
/// on the ticks when a candidate is due.
pub(crate) fn run_tick<V: PartialEq + Send + Sync + 'static>(m: Parts<'_, V>) -> TickReport {
    *m.tick += 1;
    let tick = *m.tick;
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
    m.store.variables.sync(&m.shared.interner);
    {
        let _s = tracing::debug_span!(target: TRACE_TARGET, "apply").entered();
        m.shared.inbox.take_commands(&mut m.scratch.commands);
        let applied = apply::apply(m.store, m.shared, &mut m.scratch.commands, tick);
        report.commands_applied = applied.added + applied.removed;
        report.commands_skipped = applied.skipped;
        m.totals.observers_added += applied.added;
        m.totals.observers_removed += applied.removed;
    }
    lap(&mut timings.apply);

    {
        let _s = tracing::debug_span!(target: TRACE_TARGET, "sweep").entered();
        report.full_sweep = tick.is_multiple_of(m.config.sweep_every);
        let owners = &m.shared.owners;
        report.observers_swept = sweep::sweep(
            m.store,
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
            &m.shared.inbox,
            &mut m.scratch.changes,
            &mut m.scratch.batches,
        );
        if let Some(last) = m.scratch.batches.last()
            && last.variable as usize >= m.store.variables.len()
        {
            m.store.variables.sync(&m.shared.interner);
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
        let ids = m.ids();
        let mut policed = policed::PolicedOutcome::default();
        policed::deliver_primed(m.store, ids, tick, &mut policed);
        let mut dispatched = dispatch::dispatch(dispatch::Dispatch {
            variables: &mut m.store.variables,
            callbacks: &m.store.callbacks,
            changes: &m.scratch.changes,
            batches: &m.scratch.batches,
            config: m.config,
            ids,
            tick,
        });
        let (changes, batches) = (&m.scratch.changes, &m.scratch.batches);
        policed::deliver_policed(m.store, changes, batches, tick, ids, &mut policed);
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
        let ids = m.ids();
        let accounted = account::account(
            m.store,
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
        report.watcher_notifications_dropped =
            m.shared.watcher_evictions.swap(0, Ordering::Relaxed);
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
            m.shared,
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
