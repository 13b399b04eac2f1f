//! Lockstep delivery: hold remote changes until every live producer has
//! finished a tick, then push them in a fixed order.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use observer_manager::{Metadata, NotifyCounts};

use crate::wire::ProducerId;

/// One held message's changes, waiting for their tick.
pub(crate) struct HeldBatch<V> {
    pub(crate) producer: u64,
    pub(crate) tick: u64,
    pub(crate) shard: u32,
    pub(crate) seq: u64,
    pub(crate) metadata: Metadata,
    pub(crate) names: Vec<String>,
    pub(crate) values: Vec<(V, V)>,
}

/// What lockstep consumers hold.
pub(crate) struct Held<V> {
    /// Messages not yet delivered, in arrival order.
    pub(crate) batches: Vec<HeldBatch<V>>,
    /// Changes in `batches`. Invariant: at most the configured bound.
    pub(crate) changes: usize,
    /// Each producer's last finished tick.
    pub(crate) done: HashMap<u64, u64>,
}

impl<V> Default for Held<V> {
    fn default() -> Self {
        Held {
            batches: Vec::new(),
            changes: 0,
            done: HashMap::new(),
        }
    }
}

impl<V> Held<V> {
    /// The producers of `alive` that have not finished `tick`.
    pub(crate) fn waiting_for(&self, alive: &HashSet<u64>, tick: u64) -> Vec<ProducerId> {
        let mut waiting: Vec<ProducerId> = alive
            .iter()
            .filter(|p| self.done.get(p).is_none_or(|&done| done < tick))
            .map(|&p| ProducerId(p))
            .collect();
        waiting.sort_unstable();
        waiting
    }

    /// Takes the batches of ticks up to `tick`, in delivery order: producer
    /// id, then tick, then shard, then sequence (submission order within a
    /// shard).
    pub(crate) fn take_up_to(&mut self, tick: u64) -> Vec<HeldBatch<V>> {
        let (mut ready, rest): (Vec<_>, Vec<_>) =
            self.batches.drain(..).partition(|b| b.tick <= tick);
        self.batches = rest;
        self.changes = self.batches.iter().map(|b| b.names.len()).sum();
        ready.sort_by_key(|b| (b.producer, b.tick, b.shard, b.seq));
        ready
    }
}

/// What one [`Subscriber::deliver_tick`](crate::Subscriber::deliver_tick)
/// pushed into the manager's inbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockstepReport {
    /// The tick delivered.
    pub tick: u64,
    /// Live producers waited for.
    pub producers: u32,
    /// Messages pushed.
    pub messages: u64,
    /// What the manager did with their changes.
    pub changes: NotifyCounts,
}

/// Why [`Subscriber::deliver_tick`](crate::Subscriber::deliver_tick) did
/// not deliver.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockstepError {
    /// The subscriber was not configured for lockstep.
    NotEnabled,
    /// Some live producers had not finished the tick in time. Nothing was
    /// delivered; what is held stays held for the next call.
    Timeout {
        /// The tick waited for.
        tick: u64,
        /// How long.
        waited: Duration,
        /// The live producers that had not finished it.
        waiting_for: Vec<ProducerId>,
    },
}

impl fmt::Display for LockstepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockstepError::NotEnabled => f.write_str("lockstep is not enabled"),
            LockstepError::Timeout {
                tick,
                waited,
                waiting_for,
            } => write!(
                f,
                "tick {tick} incomplete after {waited:?}: {} producers not done",
                waiting_for.len()
            ),
        }
    }
}

impl std::error::Error for LockstepError {}
