//! System 5: fold the tick's results into the variables and observers.

use hecs::Entity;

use crate::TRACE_TARGET;
use crate::failure::{Failure, FailureKind, panic_message};
use crate::ids::{IdScope, ObserverId};
use crate::ingest::queue::Queue;
use crate::observers::Store;
use crate::observers::components::Tally;

/// What `account` changed besides counters.
#[derive(Default)]
pub(crate) struct Accounted {
    pub(crate) quarantined: u64,
    pub(crate) finished: u64,
    pub(crate) errors: u64,
    pub(crate) panics: u64,
}

/// Counts failures (errors and panics alike) on their observers,
/// quarantining those that reach `quarantine_after`, reports each
/// observer's first failure in a `tracing` warning and the rest in one
/// summary, removes observers whose `once` policy is fulfilled, and drops
/// the delivered changes. The changed variables' counters, from which every
/// plain observer's delivery count is derived, were advanced by dispatch as
/// it planned (see `Planner::plan` in `dispatch.rs`), so a quarantine here
/// freezes a count that includes this tick.
pub(crate) fn account<V>(
    store: &mut Store<V>,
    changes: &mut Queue<V>,
    failures: Vec<Vec<Failure>>,
    finished: &[Entity],
    quarantine_after: Option<u32>,
    ids: IdScope,
) -> Accounted {
    let mut accounted = Accounted::default();
    let mut counted = Counted::default();
    // Observers that failed before have a `Tally`: counted through one view
    // of the world (no per-failure archetype search). The others get theirs
    // inserted afterwards, in order, which moves them between archetypes.
    let mut untallied = Vec::new();
    {
        let mut tallies = store.world.view_mut::<&mut Tally>();
        for failure in failures.into_iter().flatten() {
            match tallies.get_mut(failure.entity) {
                Some(tally) => counted.add(tally, failure, quarantine_after),
                None => untallied.push(failure),
            }
        }
    }
    for failure in untallied {
        let entity = failure.entity;
        // Gone already (a `once` observer despawned meanwhile): not counted.
        let _ = store.with_tally(entity, |tally| {
            counted.add(tally, failure, quarantine_after)
        });
    }
    for failure in &counted.first {
        report_first(store, failure, ids);
    }
    if counted.repeats > 0 {
        tracing::warn!(
            target: TRACE_TARGET,
            failures = counted.repeats,
            "callbacks failed again (their observers' first failure was reported)"
        );
    }
    for &entity in &counted.over_limit {
        accounted.quarantined += u64::from(store.quarantine(entity));
    }
    accounted.panics = counted.panics;
    accounted.errors = counted.errors;
    for &entity in finished {
        accounted.finished += u64::from(store.despawn(entity));
    }
    changes.clear();
    accounted
}

/// The failures of a tick, counted on their observers' tallies.
#[derive(Default)]
struct Counted {
    panics: u64,
    errors: u64,
    /// Failures after an observer's first, reported in one summary.
    repeats: u64,
    /// Each observer's first failure, reported one by one.
    first: Vec<Failure>,
    /// Observers at or over the quarantine limit (repeats allowed:
    /// quarantining twice is a no-op).
    over_limit: Vec<Entity>,
}

impl Counted {
    /// Per failure, a tick may have one per observer: inlined into the loop.
    #[inline]
    fn add(&mut self, tally: &mut Tally, failure: Failure, quarantine_after: Option<u32>) {
        if matches!(failure.kind, FailureKind::Panic(_)) {
            self.panics += 1;
            tally.panics = tally.panics.saturating_add(1);
        } else {
            self.errors += 1;
            tally.errors = tally.errors.saturating_add(1);
        }
        let failed = tally.failures();
        if quarantine_after.is_some_and(|limit| failed >= limit) {
            self.over_limit.push(failure.entity);
        }
        if failed == 1 {
            self.first.push(failure);
        } else {
            self.repeats += 1;
        }
    }
}

/// The warning for an observer's first failed call.
fn report_first<V>(store: &Store<V>, failure: &Failure, ids: IdScope) {
    let variable = store
        .variables
        .get(failure.variable)
        .map_or("", |v| &*v.name);
    let observer = ObserverId::new(failure.entity, ids.manager, ids.epoch);
    match &failure.kind {
        FailureKind::Error => tracing::warn!(
            target: TRACE_TARGET,
            variable,
            observer = %observer,
            "callback returned an error"
        ),
        FailureKind::Panic(caught) => tracing::warn!(
            target: TRACE_TARGET,
            variable,
            observer = %observer,
            panic = panic_message(caught.payload.as_ref()),
            location = caught.location.as_deref(),
            "callback panicked"
        ),
    }
}
