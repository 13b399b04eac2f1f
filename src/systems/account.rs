//! System 5: fold the tick's results into the variables and observers.

use crate::change::Change;
use crate::components::Delivery;
use crate::observers::Store;
use crate::systems::collect::Batch;
use crate::systems::dispatch::Panicked;

/// Advances each changed variable's counters (from which every observer's
/// delivery count is derived), counts panics on their observers, and drops
/// the delivered changes.
pub(crate) fn account<V>(
    store: &mut Store<V>,
    changes: &mut Vec<Change<V>>,
    batches: &[Batch],
    panics: &[Panicked],
    tick: u64,
) {
    for batch in batches {
        if let Some(var) = store.variables.get_mut(batch.variable) {
            let dispatched = batch.changes.len() as u64;
            var.changes_dispatched += dispatched;
            var.notifications += dispatched * var.observers.len() as u64;
            var.last_dispatch_tick = Some(tick);
        }
    }
    for panic in panics {
        if let Ok(delivery) = store.world.query_one_mut::<&mut Delivery>(panic.entity) {
            delivery.panics = delivery.panics.saturating_add(1);
        }
    }
    changes.clear();
}
