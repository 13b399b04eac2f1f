//! The small traits one bench body runs against: build, notify, tick;
//! remove one observer; end an owner.

use std::sync::Arc;

use crate::Counters;

/// A notification engine under test, with variables `0..vars` and owners
/// `0..owners` fixed at construction. Every observer's callback calls
/// [`Counters::bump`] on the counters given to [`Peer::new`].
pub trait Peer: Sized {
    /// The criterion function id and report column.
    const NAME: &'static str;
    /// What [`Peer::add`] returns: enough to remove that observer.
    type Handle;

    /// An empty peer: variables named and created, no observers.
    fn new(vars: usize, owners: usize, counters: &Arc<Counters>) -> Self;
    /// Adds one observer of `var` for `owner`.
    fn add(&mut self, var: usize, owner: usize) -> Self::Handle;
    /// Reports that `var` went from `old` to `new` (`old != new`).
    fn notify(&mut self, var: usize, old: u64, new: u64);
    /// Reports a step's changes `(var, old, new)` together, through the
    /// peer's batch call where it has one; by default one
    /// [`Peer::notify`] each.
    fn notify_all(&mut self, changes: impl Iterator<Item = (usize, u64, u64)>) {
        for (var, old, new) in changes {
            self.notify(var, old, new);
        }
    }
    /// Delivers everything reported since the last tick; returns when every
    /// callback has run.
    fn tick(&mut self);
    /// Observers present (for checks outside the timed part).
    fn observers(&mut self) -> usize;
}

/// Peers that add in bulk and remove one observer at a time (W6).
pub trait Churn: Peer {
    /// Removes the observer `handle` names, at once.
    fn remove(&mut self, handle: Self::Handle);

    /// Adds one observer per `(var, owner)` pair in one call. The default
    /// adds them one by one: the peers without a batch API.
    fn add_bulk(&mut self, observers: &[(usize, usize)]) -> Vec<Self::Handle> {
        observers.iter().map(|&(v, o)| self.add(v, o)).collect()
    }

    /// Removes the observers `handles` name in one call. The default
    /// removes them one by one: the peers without a batch API.
    fn remove_bulk(&mut self, handles: Vec<Self::Handle>) {
        handles.into_iter().for_each(|h| self.remove(h));
    }
}

/// The pairs [`populate`] adds, in its order, for [`Churn::add_bulk`].
pub fn population(vars: usize, per_var: usize, owners: usize) -> Vec<(usize, usize)> {
    let total = vars * per_var;
    (0..total).map(|j| (j % vars, j * owners / total)).collect()
}

/// Peers whose observers belong to owners that can die (W4).
pub trait Owners: Peer {
    /// Ends `owner`'s life: its observers receive nothing from the next
    /// tick on and are gone once that tick returns.
    fn kill(&mut self, owner: usize);
}

/// Adds `vars * per_var` observers in arrival order: observer `j` watches
/// variable `j % vars` (so variables fill round-robin) and belongs to owner
/// `j * owners / total` (so each owner's observers sit on distinct, adjacent
/// variables). `keep` receives every handle.
pub fn populate<P: Peer>(
    peer: &mut P,
    vars: usize,
    per_var: usize,
    owners: usize,
    mut keep: impl FnMut(P::Handle),
) {
    let total = vars * per_var;
    for j in 0..total {
        keep(peer.add(j % vars, j * owners / total));
    }
}
