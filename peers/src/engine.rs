//! `engine`: this crate, as a user would drive it.
//!
//! Default [`Config`](observer_manager::Config); one callback registered
//! once and shared by every observer (`register_callback` +
//! `observe(..).shared(..)`); variables addressed by pre-interned
//! [`VariableId`]; every owner an [`Owner`] guard, killed by dropping it.
//! The metadata of a change is cloned from one made up front (a borrowed
//! source, no clock read per change): making metadata is the caller's cost.
//! A step's changes go in one `notify_batch`, sharing that metadata.

use std::hint::black_box;
use std::sync::Arc;

use observer_manager::{
    CallbackId, Metadata, ObserverId, ObserverManager, Owner, TickReport, VariableId,
};

use crate::Counters;
use crate::peer::{Churn, Owners, Peer};

/// `engine`: an [`ObserverManager<u64>`].
#[derive(Debug)]
pub struct Engine {
    manager: ObserverManager<u64>,
    ids: Vec<VariableId>,
    owners: Vec<Option<Owner>>,
    callback: CallbackId,
    metadata: Metadata,
}

impl Engine {
    /// The manager, for inspection outside the timed part.
    pub fn manager(&self) -> &ObserverManager<u64> {
        &self.manager
    }

    /// A tick, returning its report (with per-system timings), for profiling.
    pub fn tick_report(&mut self) -> TickReport {
        self.manager.tick()
    }
}

impl Peer for Engine {
    const NAME: &'static str = "engine";
    type Handle = ObserverId;

    fn new(vars: usize, owners: usize, counters: &Arc<Counters>) -> Self {
        let mut manager = ObserverManager::<u64>::new();
        let sink = Arc::clone(counters);
        let callback = manager.register_callback(move |_| sink.bump());
        let ids = (0..vars)
            .map(|v| manager.variable(&format!("var{v}")).expect("valid name"))
            .collect();
        let owners = (0..owners).map(|_| Some(manager.owner())).collect();
        Engine {
            manager,
            ids,
            owners,
            callback,
            metadata: Metadata::new("peers"),
        }
    }

    fn add(&mut self, var: usize, owner: usize) -> Self::Handle {
        let owner = self.owners[owner].as_ref().expect("owner alive");
        self.manager
            .observe(self.ids[var], owner)
            .shared(self.callback)
            .add()
            .expect("observe")
    }

    fn notify(&mut self, var: usize, old: u64, new: u64) {
        self.manager
            .notify(self.ids[var], old, new, self.metadata.clone())
            .expect("notify");
    }

    fn notify_all(&mut self, changes: impl Iterator<Item = (usize, u64, u64)>) {
        let Engine {
            manager,
            ids,
            metadata,
            ..
        } = self;
        let changes = changes.map(|(var, old, new)| (ids[var], old, new));
        manager
            .notify_batch(metadata, changes)
            .expect("notify_batch");
    }

    fn tick(&mut self) {
        black_box(self.manager.tick());
    }

    fn observers(&mut self) -> usize {
        self.manager.total_observers()
    }
}

impl Churn for Engine {
    fn remove(&mut self, handle: Self::Handle) {
        self.manager
            .remove_observer(handle)
            .expect("remove_observer");
    }

    fn remove_bulk(&mut self, handles: Vec<Self::Handle>) {
        let expected = handles.len();
        let removed = self.manager.remove_observers(handles);
        assert_eq!(removed, Ok(expected), "remove_observers");
    }

    fn add_bulk(&mut self, observers: &[(usize, usize)]) -> Vec<Self::Handle> {
        let pairs = observers.iter().map(|&(var, owner)| {
            let owner = self.owners[owner].as_ref().expect("owner alive");
            (self.ids[var], owner)
        });
        self.manager
            .add_observers(self.callback, pairs)
            .expect("add_observers")
    }
}

impl Owners for Engine {
    fn kill(&mut self, owner: usize) {
        drop(self.owners[owner].take());
    }
}
