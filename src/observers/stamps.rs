//! Registration stamps: the facts that observers registered together share.
//!
//! Observers registered for one variable in one tick, into one roster, share
//! one stamp: the tick and instant of registration, and the variable's
//! `changes_dispatched` at that moment, the baseline from which their
//! delivery counts are derived. An observer's row names its stamp with a
//! 4-byte index instead of holding those 24 bytes itself, and the stamp says
//! which variable and roster the observer sits in.
//!
//! The instant is that of the first registration under the stamp, so ages
//! are exact to within the tick. A variable has one open stamp, which the
//! next registration joins if it is alike (same tick, baseline and roster);
//! a quarantined observer gets a copy of its stamp of its own.

use crate::observers::variables::Roster;

/// What the observers naming one stamp share.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp {
    /// The tick of registration.
    pub(crate) tick: u64,
    /// Nanoseconds from the store's `born` to the first registration.
    pub(crate) nanos: u64,
    /// The variable's `changes_dispatched` at registration.
    pub(crate) baseline: u64,
    pub(crate) variable: u32,
    pub(crate) roster: Roster,
    /// Observers whose `Place::stamp` names this stamp.
    live: u32,
    /// Whether it is its variable's open stamp, which later registrations
    /// in the same tick join. Invariant: true iff
    /// `variables[variable].stamp` names this stamp.
    open: bool,
}

/// The registration facts of one new observer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Registration {
    pub(crate) variable: u32,
    pub(crate) roster: Roster,
    pub(crate) tick: u64,
    /// The variable's `changes_dispatched` now.
    pub(crate) baseline: u64,
}

/// Every stamp in use, addressed by index.
///
/// Invariant: a stamp is in `free` iff no observer names it and it is not
/// open; so the table holds at most one stamp per live observer plus one
/// open stamp per variable. Indices fit in `u32` because hecs caps live
/// entities (observers) at `u32::MAX` and each stamp costs 40 bytes.
#[derive(Debug, Default)]
pub(crate) struct Stamps {
    entries: Vec<Stamp>,
    free: Vec<u32>,
}

impl Stamps {
    pub(crate) fn get(&self, index: u32) -> Option<&Stamp> {
        self.entries.get(index as usize)
    }

    /// The stamp for one more observer with `registration`: the variable's
    /// open stamp (`open`) if it has the same tick, baseline and roster, else
    /// a new one, which becomes the variable's open stamp. `nanos` is read
    /// only for a new stamp.
    pub(crate) fn join(
        &mut self,
        registration: Registration,
        open: &mut Option<u32>,
        nanos: impl FnOnce() -> u64,
    ) -> u32 {
        if let Some(index) = *open
            && let Some(stamp) = self.entries.get_mut(index as usize)
            && stamp.tick == registration.tick
            && stamp.baseline == registration.baseline
            && stamp.roster == registration.roster
        {
            stamp.live = stamp.live.saturating_add(1);
            return index;
        }
        let index = self.insert(Stamp {
            tick: registration.tick,
            nanos: nanos(),
            baseline: registration.baseline,
            variable: registration.variable,
            roster: registration.roster,
            live: 1,
            open: true,
        });
        if let Some(closed) = open.replace(index) {
            self.close(closed);
        }
        index
    }

    /// A copy of stamp `index` for one of its observers moving to `roster`;
    /// that observer no longer counts against `index`.
    pub(crate) fn restamp(&mut self, index: u32, roster: Roster) -> Option<u32> {
        let mut stamp = *self.get(index)?;
        stamp.roster = roster;
        stamp.live = 1;
        stamp.open = false;
        self.release(index);
        Some(self.insert(stamp))
    }

    /// One observer naming `index` is gone.
    pub(crate) fn release(&mut self, index: u32) {
        let Some(stamp) = self.entries.get_mut(index as usize) else {
            debug_assert!(false, "released a stamp that does not exist");
            return;
        };
        debug_assert!(stamp.live > 0, "stamp user count underflow");
        stamp.live = stamp.live.saturating_sub(1);
        if stamp.live == 0 && !stamp.open {
            self.free.push(index);
        }
    }

    /// Observers naming stamp `index`, by its own count.
    #[cfg(test)]
    pub(crate) fn users(&self, index: u32) -> Option<u32> {
        self.get(index).map(|s| s.live)
    }

    /// Stamps in use (open ones included).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len() - self.free.len()
    }

    fn close(&mut self, index: u32) {
        if let Some(stamp) = self.entries.get_mut(index as usize) {
            stamp.open = false;
            if stamp.live == 0 {
                self.free.push(index);
            }
        }
    }

    fn insert(&mut self, stamp: Stamp) -> u32 {
        match self.free.pop() {
            Some(index) => {
                self.entries[index as usize] = stamp;
                index
            }
            None => {
                self.entries.push(stamp);
                (self.entries.len() - 1) as u32
            }
        }
    }
}

// 40 bytes, shared: a row pays 4 for its index.
const _: () = assert!(std::mem::size_of::<Stamp>() == 40);

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(tick: u64, baseline: u64) -> Registration {
        Registration {
            variable: 0,
            roster: Roster::Plain,
            tick,
            baseline,
        }
    }

    #[test]
    fn observers_of_one_tick_share_a_stamp_and_a_new_tick_opens_another() {
        let mut stamps = Stamps::default();
        let mut open = None;
        let a = stamps.join(plain(1, 0), &mut open, || 10);
        let b = stamps.join(plain(1, 0), &mut open, || panic!("shared: no clock read"));
        assert_eq!(a, b);
        assert_eq!(stamps.get(a).map(|s| s.nanos), Some(10));
        let c = stamps.join(plain(2, 0), &mut open, || 20);
        let d = stamps.join(plain(2, 5), &mut open, || 30);
        assert!(a != c && c != d && a != d);
        assert_eq!(open, Some(d));
        assert_eq!(stamps.len(), 3);
    }

    #[test]
    fn a_stamp_is_freed_when_its_last_observer_goes_and_it_is_not_open() {
        let mut stamps = Stamps::default();
        let mut open = None;
        let a = stamps.join(plain(1, 0), &mut open, || 0);
        stamps.release(a);
        assert_eq!(
            stamps.len(),
            1,
            "still open: kept for the tick's next registration"
        );
        let b = stamps.join(plain(2, 0), &mut open, || 0);
        assert_eq!(stamps.len(), 1, "closing the empty stamp freed it");
        let q = stamps.restamp(b, Roster::Quarantined);
        assert_eq!(
            q.and_then(|q| stamps.get(q)).map(|s| s.roster),
            Some(Roster::Quarantined)
        );
        assert_eq!(open, Some(b), "a quarantined copy is never open");
        assert_eq!(stamps.len(), 2, "b stays open though empty");
        let policed = Registration {
            roster: Roster::Policed,
            ..plain(2, 0)
        };
        let p = stamps.join(policed, &mut open, || 0);
        assert_ne!(p, b, "another roster: a stamp of its own");
        assert_eq!(stamps.len(), 2, "closing the empty b freed it");
        assert_eq!(stamps.join(policed, &mut open, || 0), p, "alike: shared");
        let r = stamps.join(plain(2, 0), &mut open, || 0);
        assert_eq!(r, b, "freed indices are reused");
        assert_eq!(stamps.len(), 3);
    }
}
