//! System 4: call every observer of every changed variable.
//!
//! The hot loop touches only the variable's contiguous observer slots and
//! the callback registry: no locks, no shared atomics, no allocation, no
//! component writes. Failures (a fallible callback's error, a caught panic)
//! are recorded in per-worker buffers (rayon's `fold`), merged once at the
//! end, and reported by account.

use std::num::NonZeroU64;
use std::panic::{AssertUnwindSafe, catch_unwind};

use hecs::Entity;
use rayon::prelude::*;
use smallvec::SmallVec;

use crate::config::Config;
use crate::failure::{Failure, FailureKind, InCallbacks};
use crate::ids::{IdScope, ObserverId, VariableId};
use crate::ingest::change::{Metadata, Notification};
use crate::ingest::queue::{Queue, Queued, metadata_of};
use crate::observers::callbacks::{CallbackRef, Callbacks, Outcome};
use crate::observers::variables::{Slot, Variable, Variables};
use crate::systems::collect::Batch;

/// What `dispatch` did.
#[derive(Default)]
pub(crate) struct Dispatched {
    pub(crate) notifications: u64,
    /// The failed calls, in a list per dispatch thread's share of the work
    /// (gathered without moving them again).
    pub(crate) failures: Vec<Vec<Failure>>,
}

/// A run of work: some changes of one variable to some of its observers.
struct Job<'a, V> {
    /// The variable's index and generation (its manager is the
    /// dispatch's): apart, so a job fits in 64 bytes.
    index: u32,
    generation: u32,
    name: &'a str,
    changes: &'a [Queued<V>],
    observers: &'a [Slot],
    /// The callback every observer in `observers` calls, when known
    /// (`Variable::sole_callback`; any sub-slice keeps it true).
    sole_callback: Option<CallbackRef>,
}

/// Everything `dispatch` reads, and the variables whose counters it
/// advances.
pub(crate) struct Dispatch<'a, V> {
    pub(crate) variables: &'a mut Variables,
    pub(crate) callbacks: &'a Callbacks<V>,
    pub(crate) changes: &'a Queue<V>,
    pub(crate) batches: &'a [Batch],
    pub(crate) config: &'a Config,
    pub(crate) ids: IdScope,
    pub(crate) tick: u64,
}

/// Fewest changed variables for which a tick plans its jobs in parallel
/// tasks, each over its own range of the variable table, instead of in one
/// pass on the tick thread.
const PARALLEL_PLAN_MIN_BATCHES: usize = 2_048;

/// Changed variables per task of a parallel plan.
const BATCHES_PER_PLAN_TASK: usize = 256;

/// Delivers each batch to every observer of its variable: on this thread
/// below `parallel_threshold` notifications, otherwise with rayon in jobs of
/// about `parallel_chunk` notifications. Each observer receives its
/// variable's changes in submission order.
pub(crate) fn dispatch<V: Sync>(input: Dispatch<'_, V>) -> Dispatched {
    let Dispatch {
        variables,
        callbacks,
        changes,
        batches,
        config,
        ids,
        tick,
    } = input;
    let calls = Calls {
        callbacks,
        metadata: &changes.metadata,
        ids,
    };
    let planner = Planner {
        changes: &changes.changes,
        tick,
        chunk: config.parallel_chunk,
    };
    let variables = variables.as_mut_slice();
    // Lists of jobs, in batch order. A parallel plan splits each list's
    // large jobs in its own task; a plan on this thread leaves them whole
    // until the tick is known to deliver in parallel.
    let planned_in_parallel = !config.deterministic && batches.len() >= PARALLEL_PLAN_MIN_BATCHES;
    let (lists, notifications) = if planned_in_parallel {
        in_pool(config, || planner.plan_parallel(variables, 0, batches))
    } else {
        let mut jobs = Vec::with_capacity(batches.len());
        let notifications = planner.plan(variables, 0, batches, &mut jobs);
        (Lists::from_buf([jobs]), notifications)
    };
    let sequential = config.deterministic || notifications < config.parallel_threshold as u64;
    let failures = if sequential {
        let mut failures = Vec::new();
        for job in lists.iter().flatten() {
            deliver(job, &calls, &mut failures);
        }
        vec![failures]
    } else {
        let lists: Lists<'_, V> = if planned_in_parallel {
            lists
        } else {
            lists
                .into_iter()
                .map(|jobs| split(jobs, config.parallel_chunk))
                .collect()
        };
        let run = || {
            lists
                .par_iter()
                .flat_map(|jobs| jobs.par_iter())
                .fold(Vec::new, |mut failures, job| {
                    deliver(job, &calls, &mut failures);
                    failures
                })
                .filter(|failures| !failures.is_empty())
                .collect()
        };
        in_pool(config, run)
    };
    Dispatched {
        notifications,
        failures,
    }
}

/// What every call of a tick reads besides its job: the callbacks, the
/// metadata table the changes index, and the ids' scope.
struct Calls<'a, V> {
    callbacks: &'a Callbacks<V>,
    metadata: &'a [Metadata],
    ids: IdScope,
}

/// A tick's jobs, in batch order: one list when planned on the tick
/// thread, one per task when planned in parallel.
type Lists<'a, V> = SmallVec<[Vec<Job<'a, V>>; 1]>;

/// Runs `run` on the configured pool, or on rayon's global pool.
fn in_pool<R: Send>(config: &Config, run: impl FnOnce() -> R + Send) -> R {
    match &config.thread_pool {
        Some(pool) => pool.install(run),
        None => run(),
    }
}

/// What planning a tick's jobs reads besides the variables.
struct Planner<'a, V> {
    changes: &'a [Queued<V>],
    tick: u64,
    chunk: usize,
}

impl<'a, V: Sync> Planner<'a, V> {
    /// Plans `batches` in halves on rayon while more than
    /// `BATCHES_PER_PLAN_TASK` remain, each half over its own range of the
    /// table (`variables[0]` is variable `first`); returns the job lists in
    /// batch order, their large jobs split, and their notifications.
    fn plan_parallel<'v>(
        &self,
        variables: &'v mut [Variable],
        first: u32,
        batches: &[Batch],
    ) -> (Lists<'v, V>, u64)
    where
        'a: 'v,
    {
        if batches.len() <= BATCHES_PER_PLAN_TASK {
            let mut jobs = Vec::with_capacity(batches.len());
            let notifications = self.plan(variables, first, batches, &mut jobs);
            return (Lists::from_buf([split(jobs, self.chunk)]), notifications);
        }
        let (low, high) = batches.split_at(batches.len() / 2);
        // Batches ascend by variable, so every variable of `low` comes
        // before the first of `high`.
        let at = (high[0].variable.saturating_sub(first) as usize).min(variables.len());
        let (below, above) = variables.split_at_mut(at);
        let ((mut lists, low_count), (mut more, high_count)) = rayon::join(
            || self.plan_parallel(below, first, low),
            || self.plan_parallel(above, first + at as u32, high),
        );
        lists.append(&mut more);
        (lists, low_count + high_count)
    }

    /// Appends one job per batch (all its changes to all its variable's
    /// observers) to `jobs` and returns the callback calls they will make;
    /// `variables[0]` is variable `first`. The one look-up of each changed
    /// variable also advances its counters (changes dispatched, plain
    /// notifications, last dispatch tick), which hold the tick's deliveries
    /// from here on: every plain observer of a batch is called, and a call
    /// that panics still counts as delivered.
    fn plan<'v>(
        &self,
        variables: &'v mut [Variable],
        first: u32,
        batches: &[Batch],
        jobs: &mut Vec<Job<'v, V>>,
    ) -> u64
    where
        'a: 'v,
    {
        let mut notifications = 0;
        // Batches ascend by variable (see `collect`), so one forward walk
        // reaches each batch's entry; `nth` on a slice iterator skips in O(1).
        let mut entries = variables.iter_mut();
        let mut next = first as usize;
        for batch in batches {
            let Some(skip) = (batch.variable as usize).checked_sub(next) else {
                debug_assert!(false, "batches out of variable order");
                continue;
            };
            let Some(variable) = entries.nth(skip) else {
                break;
            };
            next = batch.variable as usize + 1;
            let dispatched = batch.changes.len() as u64;
            variable.changes_dispatched += dispatched;
            variable.notifications += dispatched * variable.observers.len() as u64;
            variable.last_dispatch_tick = NonZeroU64::new(self.tick);
            let variable: &'v Variable = variable;
            let job = Job {
                index: batch.variable,
                generation: variable.generation,
                name: &variable.name,
                changes: &self.changes[batch.changes.clone()],
                observers: &variable.observers,
                sole_callback: variable.sole_callback,
            };
            notifications += job.notifications();
            jobs.push(job);
        }
        notifications
    }
}

impl<V> Job<'_, V> {
    fn notifications(&self) -> u64 {
        (self.observers.len() * self.changes.len()) as u64
    }
}

/// The jobs split by observers into jobs of about `chunk` notifications,
/// so one variable's fan-out is itself parallel. Returned as they are when
/// none is larger (the common case of many small variables).
fn split<V>(jobs: Vec<Job<'_, V>>, chunk: usize) -> Vec<Job<'_, V>> {
    if jobs.iter().all(|job| job.notifications() <= chunk as u64) {
        return jobs;
    }
    let mut split = Vec::with_capacity(jobs.len());
    for job in jobs {
        let per_job = (chunk / job.changes.len().max(1)).max(1);
        for observers in job.observers.chunks(per_job) {
            split.push(Job { observers, ..job });
        }
    }
    split
}

/// Calls the job's callbacks, change by change, isolating each call: one
/// `catch_unwind` covers a run of calls, and after a panic the run resumes
/// with the next observer, so the no-panic path pays for one guard per run.
/// The call under way is found from the notification itself, which names
/// its observer, so the loops record nothing per call but the calls that
/// return an error.
fn deliver<V>(job: &Job<'_, V>, calls: &Calls<'_, V>, failures: &mut Vec<Failure>) {
    let Calls {
        callbacks,
        metadata,
        ids,
    } = calls;
    let Some(first) = job.observers.first() else {
        return;
    };
    // One callback for the whole job: looked up once, no per-call compare.
    let sole = job.sole_callback.and_then(|key| callbacks.get(key));
    let _marked = InCallbacks::enter();
    for change in job.changes {
        // Built once per change; only the observer changes from call to call.
        let mut note = Notification {
            variable: VariableId {
                index: job.index,
                generation: job.generation,
                manager: ids.manager,
            },
            name: job.name,
            old: &change.old,
            new: &change.new,
            metadata: metadata_of(metadata, change),
            observer: ObserverId::new(first.entity, ids.manager, ids.epoch),
        };
        let mut next = 0;
        while next < job.observers.len() {
            let rest = &job.observers[next..];
            let run = || match sole {
                Some(call) => call_each(call.as_ref(), rest, &mut note, failures),
                None => call_runs(rest, callbacks, &mut note, failures),
            };
            let Err(payload) = catch_unwind(AssertUnwindSafe(run)) else {
                break;
            };
            // Entities are unique in a roster, so this names the call.
            let entity = note.observer.entity;
            let Some(at) = rest.iter().position(|slot| slot.entity == entity) else {
                debug_assert!(false, "a panicking call named no observer of its job");
                break;
            };
            failures.push(Failure {
                entity,
                variable: job.index,
                kind: FailureKind::panic(payload),
            });
            next += at + 1;
        }
    }
}

/// Records a call that returned an error: out of the loops' way, since
/// most calls do not.
#[cold]
#[inline(never)]
fn record_error(failures: &mut Vec<Failure>, entity: Entity, variable: u32) {
    failures.push(Failure {
        entity,
        variable,
        kind: FailureKind::Error,
    });
}

/// A stored callback, unboxed.
type Call<V> = dyn Fn(&Notification<'_, V>) -> Outcome + Send + Sync;

/// Calls `call` for every observer in `slots`, all of which share it:
/// the floor's loop of one load, one store and one indirect call each,
/// plus a test of the returned word.
fn call_each<V>(
    call: &Call<V>,
    slots: &[Slot],
    note: &mut Notification<'_, V>,
    failures: &mut Vec<Failure>,
) {
    for slot in slots {
        // Manager tag and epoch are the job's: only the entity changes.
        note.observer.entity = slot.entity;
        if call(note).is_err() {
            record_error(failures, slot.entity, note.variable.index);
        }
    }
}

/// Calls every observer in `slots` through its own callback. Consecutive
/// observers sharing a callback reuse its lookup.
fn call_runs<V>(
    slots: &[Slot],
    callbacks: &Callbacks<V>,
    note: &mut Notification<'_, V>,
    failures: &mut Vec<Failure>,
) {
    let mut index = 0;
    while let Some(head) = slots.get(index) {
        let key = head.callback;
        let run = slots[index..].iter().take_while(|s| s.callback == key);
        let Some(call) = callbacks.get(key) else {
            debug_assert!(false, "observer slot names a missing callback");
            index += run.count();
            continue;
        };
        // Unboxed once per run, so the loop calls through registers.
        let call: &Call<V> = call.as_ref();
        for slot in run {
            note.observer.entity = slot.entity;
            if call(note).is_err() {
                record_error(failures, slot.entity, note.variable.index);
            }
            index += 1;
        }
    }
}
