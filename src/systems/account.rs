//! System 5: fold the tick's results into the variables and observers.

use hecs::Entity;

use crate::change::Change;
use crate::observers::Store;
use crate::systems::collect::Batch;
use crate::systems::dispatch::Panicked;

/// What `account` changed besides counters.
#[derive(Default)]
pub(crate) struct Accounted {
    pub(crate) quarantined: u64,
    pub(crate) finished: u64,
}

/// Advances each changed variable's counters (from which every plain
/// observer's delivery count is derived), counts panics on their observers
/// (quarantining those over `quarantine_after`), removes observers whose
/// `once` policy is fulfilled, and drops the delivered changes.
pub(crate) fn account<V>(
    store: &mut Store<V>,
    changes: &mut Vec<Change<V>>,
    batches: &[Batch],
    panics: &[Panicked],
    finished: &[Entity],
    quarantine_after: Option<u32>,
    tick: u64,
) -> Accounted {
    let mut accounted = Accounted::default();
    for batch in batches {
        if let Some(var) = store.variables.get_mut(batch.variable) {
            let dispatched = batch.changes.len() as u64;
            var.changes_dispatched += dispatched;
            var.notifications += dispatched * var.observers.len() as u64;
            var.last_dispatch_tick = Some(tick);
        }
    }
    for panic in panics {
        let counted = store.with_tally(panic.entity, |tally| {
            tally.panics = tally.panics.saturating_add(1);
            tally.panics
        });
        let Some(panics) = counted else {
            continue;
        };
        if quarantine_after.is_some_and(|limit| panics >= limit) && store.quarantine(panic.entity) {
            accounted.quarantined += 1;
        }
    }
    for &entity in finished {
        accounted.finished += u64::from(store.despawn(entity));
    }
    changes.clear();
    accounted
}
