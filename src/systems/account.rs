//! System 5: fold the tick's results into the variables and observers.

use hecs::Entity;

use crate::observers::Store;
use crate::queue::Queue;
use crate::systems::dispatch::Panicked;

/// What `account` changed besides counters.
#[derive(Default)]
pub(crate) struct Accounted {
    pub(crate) quarantined: u64,
    pub(crate) finished: u64,
}

/// Counts panics on their observers (quarantining those over
/// `quarantine_after`), removes observers whose `once` policy is
/// fulfilled, and drops the delivered changes. The changed variables'
/// counters, from which every plain observer's delivery count is derived,
/// were advanced by dispatch as it planned (see `Planner::plan` in
/// `dispatch.rs`), so a quarantine here freezes a count that includes this
/// tick.
pub(crate) fn account<V>(
    store: &mut Store<V>,
    changes: &mut Queue<V>,
    panics: &[Panicked],
    finished: &[Entity],
    quarantine_after: Option<u32>,
) -> Accounted {
    let mut accounted = Accounted::default();
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
