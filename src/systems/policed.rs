//! System 4b: deliver to policed observers and to primed registrations, one
//! by one on the tick thread, after the parallel loop of plain observers.
//!
//! This path reads and writes a component per delivery, which the hot loop
//! never does; only observers that asked for a policy or a primed value pay.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use hecs::Entity;
use smallvec::SmallVec;

use crate::failure::{Failure, FailureKind, InCallbacks};
use crate::ids::{IdScope, ObserverId, VariableId};
use crate::ingest::change::{Change, Metadata, Notification};
use crate::ingest::queue::{Queue, Queued, metadata_of};
use crate::observers::callbacks::{CallbackRef, Callbacks};
use crate::observers::variables::Roster;
use crate::observers::{Store, locate};
use crate::policy::{Pending, Policed};
use crate::systems::collect::Batch;

/// A current value to deliver to one new observer at the next tick.
pub(crate) struct Primed<V> {
    pub(crate) entity: Entity,
    pub(crate) change: Change<V>,
}

/// What the policed deliveries did.
#[derive(Default)]
pub(crate) struct PolicedOutcome {
    pub(crate) notifications: u64,
    pub(crate) withheld: u64,
    pub(crate) failures: Vec<Failure>,
    /// Observers whose `once` policy is fulfilled: to be removed.
    pub(crate) finished: Vec<Entity>,
}

/// Who is being called: enough to build a `Notification` and record a panic.
struct Target<'a, V> {
    callbacks: &'a Callbacks<V>,
    callback: CallbackRef,
    variable: VariableId,
    name: &'a str,
    entity: Entity,
    observer: ObserverId,
}

impl<'a, V> Target<'a, V> {
    fn new(
        callbacks: &'a Callbacks<V>,
        callback: CallbackRef,
        (variable, generation): (u32, u32),
        name: &'a str,
        entity: Entity,
        ids: IdScope,
    ) -> Self {
        Target {
            callbacks,
            callback,
            variable: VariableId {
                index: variable,
                generation,
                manager: ids.manager,
            },
            name,
            entity,
            observer: ObserverId::new(entity, ids.manager, ids.epoch),
        }
    }
}

/// Delivers each changed variable's changes to its policed observers, then
/// merged changes whose rate limit has opened.
pub(crate) fn deliver_policed<V: Send + Sync + 'static>(
    store: &mut Store<V>,
    changes: &Queue<V>,
    batches: &[Batch],
    tick: u64,
    ids: IdScope,
    out: &mut PolicedOutcome,
) {
    // Most stores have no policed observer: skip reading every changed
    // variable for an empty roster.
    let batches = if store.has_policed() { batches } else { &[] };
    for batch in batches {
        deliver_batch(
            store,
            &changes.changes[batch.changes.clone()],
            &changes.metadata,
            batch.variable,
            tick,
            ids,
            out,
        );
    }
    deliver_waiting(store, tick, ids, out);
}

/// Delivers primed current values to their new observers, before any change.
pub(crate) fn deliver_primed<V: Send + Sync + 'static>(
    store: &mut Store<V>,
    ids: IdScope,
    tick: u64,
    out: &mut PolicedOutcome,
) {
    for primed in std::mem::take(&mut store.primed) {
        let entity = primed.entity;
        if !store.world.contains(entity) {
            continue; // removed before its first tick
        }
        // Alive, so its place is its own.
        let Some((place, stamp)) = store.locate(entity) else {
            continue;
        };
        if stamp.roster == Roster::Quarantined {
            continue;
        }
        let Some(var) = store.variables.get(stamp.variable) else {
            continue;
        };
        let (name, var_generation) = (Arc::clone(&var.name), var.generation);
        let Some(slot) = var.roster(stamp.roster).get(place.slot as usize) else {
            continue;
        };
        let target = Target::new(
            &store.callbacks,
            slot.callback,
            (stamp.variable, var_generation),
            &name,
            entity,
            ids,
        );
        let c = &primed.change;
        call(&target, &c.old, &c.new, &c.metadata, out);
        if let Ok(policed) = store.world.query_one_mut::<&mut Policed<V>>(entity) {
            policed.delivered += 1;
            policed.last_delivery = Some(tick);
        } else {
            store.with_tally(entity, |tally| tally.extra = tally.extra.saturating_add(1));
        }
        if let Some(var) = store.variables.get_mut(stamp.variable) {
            var.notifications += 1;
        }
    }
}

fn deliver_batch<V: Send + Sync + 'static>(
    store: &mut Store<V>,
    changes: &[Queued<V>],
    metadata: &[Metadata],
    variable: u32,
    tick: u64,
    ids: IdScope,
    out: &mut PolicedOutcome,
) {
    let Some(var) = store.variables.get(variable) else {
        return;
    };
    let slots = var.roster(Roster::Policed).to_vec();
    if slots.is_empty() {
        return;
    }
    let (name, var_generation) = (Arc::clone(&var.name), var.generation);
    let mut delivered = 0;
    for slot in slots {
        let Ok(policed) = store.world.query_one_mut::<&mut Policed<V>>(slot.entity) else {
            continue;
        };
        let target = Target::new(
            &store.callbacks,
            slot.callback,
            (variable, var_generation),
            &name,
            slot.entity,
            ids,
        );
        let before = policed.delivered;
        let waiting_before = policed.pending.is_some();
        apply_policy(policed, changes, metadata, tick, &target, out);
        delivered += policed.delivered - before;
        if policed.policy.once && policed.delivered > 0 {
            out.finished.push(slot.entity);
        }
        if policed.pending.is_some() && !waiting_before {
            store.waiting.push(slot.entity);
        }
    }
    if let Some(var) = store.variables.get_mut(variable) {
        var.notifications += delivered;
    }
}

/// Runs one observer's policy over one variable's changes of this tick,
/// whose metadata `metadata` holds.
fn apply_policy<V>(
    policed: &mut Policed<V>,
    changes: &[Queued<V>],
    metadata: &[Metadata],
    tick: u64,
    target: &Target<'_, V>,
    out: &mut PolicedOutcome,
) {
    let filter = policed.policy.filter.as_ref();
    let passing: SmallVec<[&Queued<V>; 4]> = changes
        .iter()
        .filter(|c| filter.is_none_or(|f| f(&c.old, &c.new)))
        .collect();
    out.withheld += (changes.len() - passing.len()) as u64;
    let (Some(&first), Some(&last)) = (passing.first(), passing.last()) else {
        return;
    };
    if policed.policy.every.is_none() {
        for (index, change) in passing.iter().enumerate() {
            let metadata = metadata_of(metadata, change);
            call(target, &change.old, &change.new, metadata, out);
            record(policed, tick);
            if policed.policy.once {
                out.withheld += (passing.len() - index - 1) as u64;
                return;
            }
        }
        return;
    }
    if policed.window_open(tick) {
        // One delivery: from the first merged old value to the latest change.
        let pending = policed.pending.take();
        let old = pending.as_ref().map_or(&first.old, |p| &p.old);
        call(target, old, &last.new, metadata_of(metadata, last), out);
        record(policed, tick);
        out.withheld += (passing.len() - 1) as u64;
    } else {
        merge(policed, first, last, metadata_of(metadata, last));
        out.withheld += passing.len() as u64;
    }
}

/// Folds `first..=last` into the observer's pending change; `metadata` is
/// `last`'s.
fn merge<V>(policed: &mut Policed<V>, first: &Queued<V>, last: &Queued<V>, metadata: &Metadata) {
    let Some(clone) = policed.policy.clone else {
        debug_assert!(false, "Policy::every captures V::clone");
        return;
    };
    match &mut policed.pending {
        Some(pending) => {
            pending.new = clone(&last.new);
            pending.metadata = metadata.clone();
        }
        None => {
            policed.pending = Some(Pending {
                old: clone(&first.old),
                new: clone(&last.new),
                metadata: metadata.clone(),
            });
        }
    }
}

/// Delivers merged changes whose rate limit has opened (their variable may
/// not have changed this tick).
fn deliver_waiting<V: Send + Sync + 'static>(
    store: &mut Store<V>,
    tick: u64,
    ids: IdScope,
    out: &mut PolicedOutcome,
) {
    let mut waiting = std::mem::take(&mut store.waiting);
    waiting.retain(|&entity| {
        let Ok(policed) = store.world.query_one_mut::<&mut Policed<V>>(entity) else {
            return false; // gone
        };
        if policed.pending.is_none() {
            return false; // delivered with this tick's changes
        }
        // Alive, so its place is its own.
        let Some((place, stamp)) = locate(&store.places, &store.stamps, entity) else {
            return false;
        };
        if !policed.window_open(tick) || stamp.roster == Roster::Quarantined {
            return true;
        }
        let Some(var) = store.variables.get_mut(stamp.variable) else {
            return false;
        };
        let Some(slot) = var.roster(stamp.roster).get(place.slot as usize) else {
            return false;
        };
        let (callback, var_generation) = (slot.callback, var.generation);
        var.notifications += 1;
        let target = Target::new(
            &store.callbacks,
            callback,
            (stamp.variable, var_generation),
            &var.name,
            entity,
            ids,
        );
        if let Some(pending) = policed.pending.take() {
            call(&target, &pending.old, &pending.new, &pending.metadata, out);
            record(policed, tick);
            if policed.policy.once {
                out.finished.push(entity);
            }
        }
        false
    });
    store.waiting = waiting;
}

fn record<V>(policed: &mut Policed<V>, tick: u64) {
    policed.delivered += 1;
    policed.last_delivery = Some(tick);
}

/// Calls the target once, isolating a panic; records a failure.
fn call<V>(
    target: &Target<'_, V>,
    old: &V,
    new: &V,
    metadata: &Metadata,
    out: &mut PolicedOutcome,
) {
    out.notifications += 1;
    let Some(callback) = target.callbacks.get(target.callback) else {
        debug_assert!(false, "policed observer names a missing callback");
        return;
    };
    let note = Notification {
        variable: target.variable,
        name: target.name,
        old,
        new,
        metadata,
        observer: target.observer,
    };
    let _marked = InCallbacks::enter();
    let kind = match catch_unwind(AssertUnwindSafe(|| callback(&note))) {
        Ok(Ok(())) => return,
        Ok(Err(_)) => FailureKind::Error,
        Err(payload) => FailureKind::panic(payload),
    };
    out.failures.push(Failure {
        entity: target.entity,
        variable: target.variable.index,
        kind,
    });
}
