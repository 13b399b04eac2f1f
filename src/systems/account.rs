//! System 5: fold the tick's results into the variables and observers.

use hecs::Entity;

use crate::TRACE_TARGET;
use crate::failure::{Failure, FailureKind, panic_message};
use crate::ids::{IdScope, ObserverId};
use crate::observers::Store;
use crate::queue::Queue;

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
    failures: Vec<Failure>,
    finished: &[Entity],
    quarantine_after: Option<u32>,
    ids: IdScope,
) -> Accounted {
    let mut accounted = Accounted::default();
    let mut repeats = 0u64;
    for failure in failures {
        let is_panic = matches!(failure.kind, FailureKind::Panic { .. });
        if is_panic {
            accounted.panics += 1;
        } else {
            accounted.errors += 1;
        }
        let counted = store.with_tally(failure.entity, |tally| {
            if is_panic {
                tally.panics = tally.panics.saturating_add(1);
            } else {
                tally.errors = tally.errors.saturating_add(1);
            }
            tally.failures()
        });
        let Some(failed) = counted else {
            continue;
        };
        if failed == 1 {
            report_first(store, &failure, ids);
        } else {
            repeats += 1;
        }
        if quarantine_after.is_some_and(|limit| failed >= limit) && store.quarantine(failure.entity)
        {
            accounted.quarantined += 1;
        }
    }
    if repeats > 0 {
        tracing::warn!(
            target: TRACE_TARGET,
            failures = repeats,
            "callbacks failed again (their observers' first failure was reported)"
        );
    }
    for &entity in finished {
        accounted.finished += u64::from(store.despawn(entity));
    }
    changes.clear();
    accounted
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
        FailureKind::Panic { payload, location } => tracing::warn!(
            target: TRACE_TARGET,
            variable,
            observer = %observer,
            panic = panic_message(payload.as_ref()),
            location = location.as_deref(),
            "callback panicked"
        ),
    }
}
