//! The manager's per-variable index of observers: each variable's rosters
//! of slots, and its idle bookkeeping (names and ids are `crate::ingest`).

use std::collections::VecDeque;
use std::num::NonZeroU64;
use std::sync::Arc;

use hecs::Entity;
use smallvec::SmallVec;

use crate::ids::VariableId;
use crate::ingest::interner::Fresh;
pub(crate) use crate::ingest::interner::Interner;
use crate::observers::callbacks::CallbackRef;

/// One observer as the dispatch loop sees it: contiguous per variable.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub(crate) entity: Entity,
    /// The callback this observer calls, named nowhere else.
    pub(crate) callback: CallbackRef,
}

// What the dispatch loop reads per observer: 12 bytes (an 8-byte entity and
// a 4-byte `CallbackRef`), less than the floor peer's slot.
const _: () = assert!(std::mem::size_of::<Slot>() == 12);

/// Which of a variable's lists an observer sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Roster {
    /// Plain observers: the parallel hot loop walks these.
    Plain,
    /// Observers with a `Policy`: delivered one by one after the hot loop.
    Policed,
    /// Observers that panicked too often: never called, still listed.
    Quarantined,
}

impl Roster {
    /// Every roster kind, in the order of their discriminants.
    pub(crate) const ALL: [Roster; 3] = [Roster::Plain, Roster::Policed, Roster::Quarantined];
}

/// The manager's view of one variable.
pub(crate) struct Variable {
    pub(crate) name: Arc<str>,
    /// Plain observers. Invariant: each `observers[i].entity` is a live
    /// observer whose `Place` has `slot == i` and a stamp naming this
    /// variable and `Roster::Plain` (likewise for the other rosters).
    pub(crate) observers: SmallVec<[Slot; 1]>,
    /// The callback every plain observer calls, when one is known to.
    /// Invariant: if `Some(c)`, every slot of `observers` has callback `c`
    /// (an empty roster trivially does). Only `push` can break it and
    /// checks; removals keep it true, so a roster that loses its odd
    /// observers stays `None` until it empties (conservative, never wrong).
    pub(crate) sole_callback: Option<CallbackRef>,
    /// Policed and quarantined observers, allocated on first use.
    others: Option<Box<OtherRosters>>,
    /// Changes of this variable dispatched so far; an observer's delivery
    /// count is this minus the value when it was registered.
    pub(crate) changes_dispatched: u64,
    /// Callback calls made for this variable so far.
    pub(crate) notifications: u64,
    /// The last tick that dispatched a change of this variable.
    pub(crate) last_dispatch_tick: Option<NonZeroU64>,
    /// Its open registration stamp, which plain observers registered in the
    /// same tick join (see `Stamps::join`).
    pub(crate) stamp: Option<u32>,
    /// The generation of the id this entry serves (see `crate::ingest::interner`).
    pub(crate) generation: u32,
}

/// A variable's standing as a candidate for reclaiming, kept beside the
/// table so that the entries the dispatch reads stay small.
#[derive(Clone, Copy, Default)]
struct Idle {
    /// The tick it was named or last lost its observers; with
    /// `Variable::last_dispatch_tick`, how long it has been idle.
    since: u64,
    /// Whether it waits in `Variables::candidates`.
    enlisted: bool,
}

#[derive(Default)]
struct OtherRosters {
    policed: Vec<Slot>,
    quarantined: Vec<Slot>,
}

impl Variable {
    /// A variable named `name`, with no observer and nothing dispatched.
    fn new(name: Arc<str>, generation: u32) -> Self {
        Variable {
            name,
            observers: SmallVec::new(),
            sole_callback: None,
            others: None,
            changes_dispatched: 0,
            notifications: 0,
            last_dispatch_tick: None,
            stamp: None,
            generation,
        }
    }

    /// The observers in `roster`.
    pub(crate) fn roster(&self, roster: Roster) -> &[Slot] {
        match (roster, &self.others) {
            (Roster::Plain, _) => &self.observers,
            (Roster::Policed, Some(o)) => &o.policed,
            (Roster::Quarantined, Some(o)) => &o.quarantined,
            (_, None) => &[],
        }
    }

    /// Appends `slot` to `roster`; returns its position.
    pub(crate) fn push(&mut self, roster: Roster, slot: Slot) -> u32 {
        let list = match roster {
            Roster::Plain => {
                self.sole_callback = match self.sole_callback {
                    _ if self.observers.is_empty() => Some(slot.callback),
                    Some(sole) if sole == slot.callback => Some(sole),
                    _ => None,
                };
                self.observers.push(slot);
                return (self.observers.len() - 1) as u32;
            }
            Roster::Policed => &mut self.others.get_or_insert_default().policed,
            Roster::Quarantined => &mut self.others.get_or_insert_default().quarantined,
        };
        list.push(slot);
        (list.len() - 1) as u32
    }

    /// Swap-removes position `index` of `roster` if it holds `entity`;
    /// returns the removed slot and the slot moved into `index`, whose
    /// `Place::slot` the caller must fix. `None` if `index` is out of range
    /// or holds another observer (so a stale place removes nothing).
    pub(crate) fn take(
        &mut self,
        roster: Roster,
        index: usize,
        entity: Entity,
    ) -> Option<(Slot, Option<Slot>)> {
        let list = self.list_mut(roster);
        if list.get(index)?.entity != entity {
            return None;
        }
        let last = list.len() - 1;
        list.swap(index, last);
        let (removed, moved) = (list[last], (index < last).then(|| list[index]));
        self.truncate(roster, last);
        Some((removed, moved))
    }

    /// Removes from `roster` every observer `leaving` accepts, in one pass:
    /// each hole is filled from the roster's tail, so only as many stayers
    /// move as there are leavers before them. Calls `left` with each
    /// removed slot and `moved` with each moved stayer and its new position.
    pub(crate) fn sweep(
        &mut self,
        roster: Roster,
        leaving: impl Fn(Entity) -> bool,
        mut left: impl FnMut(Slot),
        mut moved: impl FnMut(Entity, u32),
    ) {
        let list = self.list_mut(roster);
        // Invariant: `list[..kept]` stay, `list[kept..end]` are unread,
        // `list[end..]` left or were moved down.
        let (mut kept, mut end) = (0, list.len());
        while kept < end {
            if !leaving(list[kept].entity) {
                kept += 1;
                continue;
            }
            left(list[kept]);
            end -= 1;
            while end > kept && leaving(list[end].entity) {
                left(list[end]);
                end -= 1;
            }
            if end > kept {
                list[kept] = list[end];
                moved(list[kept].entity, kept as u32);
                kept += 1;
            }
        }
        self.truncate(roster, kept);
    }

    fn list_mut(&mut self, roster: Roster) -> &mut [Slot] {
        match (roster, &mut self.others) {
            (Roster::Plain, _) => &mut self.observers,
            (Roster::Policed, Some(o)) => &mut o.policed,
            (Roster::Quarantined, Some(o)) => &mut o.quarantined,
            (_, None) => &mut [],
        }
    }

    /// Shortens `roster` to `len`, freeing the other rosters' box once
    /// both are empty.
    fn truncate(&mut self, roster: Roster, len: usize) {
        match roster {
            Roster::Plain => self.observers.truncate(len),
            Roster::Policed | Roster::Quarantined => {
                let Some(others) = self.others.as_mut() else {
                    return;
                };
                match roster {
                    Roster::Policed => others.policed.truncate(len),
                    _ => others.quarantined.truncate(len),
                }
                if others.policed.is_empty() && others.quarantined.is_empty() {
                    self.others = None;
                }
            }
        }
    }

    /// Observers of every roster.
    pub(crate) fn len(&self) -> usize {
        self.observers.len()
            + self
                .others
                .as_ref()
                .map_or(0, |o| o.policed.len() + o.quarantined.len())
    }

    /// Every observer: plain, policed, then quarantined.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Slot> {
        let others = self.others.as_deref();
        self.observers.iter().chain(
            others
                .into_iter()
                .flat_map(|o| o.policed.iter().chain(o.quarantined.iter())),
        )
    }
}

/// The manager's per-variable table, indexed by `VariableId::index`.
///
/// Invariant: an entry whose variable the interner reclaimed is vacant (no
/// observer, nothing counted, the placeholder name) until a name interned
/// there is synced in.
pub(crate) struct Variables {
    entries: Vec<Variable>,
    /// Beside `entries`, index for index. Invariant: as long as `entries`.
    idle: Vec<Idle>,
    /// Entries that may have become reclaimable, with the tick each was
    /// enlisted, oldest first. Invariant: an entry is listed at most once
    /// (`Idle::enlisted`).
    candidates: VecDeque<(u32, u64)>,
    /// The tick being run (or the last one run).
    now: u64,
    /// The name of vacant entries, shared.
    vacant: Arc<str>,
}

impl Default for Variables {
    fn default() -> Self {
        Variables {
            entries: Vec::new(),
            idle: Vec::new(),
            candidates: VecDeque::new(),
            now: 0,
            vacant: Arc::from(""),
        }
    }
}

impl Variables {
    /// The entry of `index`, pulling names interned since the last sync.
    pub(crate) fn get_or_sync(&mut self, index: u32, interner: &Interner) -> &mut Variable {
        if interner.has_fresh() || index as usize >= self.entries.len() {
            self.sync(interner);
        }
        &mut self.entries[index as usize]
    }

    /// Takes in every name (re)interned since the last call; each starts
    /// idle, a candidate for reclaiming.
    pub(crate) fn sync(&mut self, interner: &Interner) {
        if !interner.has_fresh() {
            return;
        }
        // Not kept between syncs: a burst of names would hold its size.
        let mut fresh = Vec::new();
        interner.take_fresh(&mut fresh);
        // One resize for the whole burst, so the table is as long as its
        // highest index, not the next power of two.
        let len = fresh
            .iter()
            .map(|f| f.index as usize + 1)
            .max()
            .unwrap_or(0);
        if len > self.entries.len() {
            let vacant = &self.vacant;
            self.entries
                .resize_with(len, || Variable::new(Arc::clone(vacant), 0));
            self.idle.resize(len, Idle::default());
        }
        for Fresh {
            index,
            generation,
            name,
        } in fresh
        {
            let i = index as usize;
            let entry = &mut self.entries[i];
            debug_assert_eq!(entry.len(), 0, "a (re)interned variable has no observer");
            entry.name = name;
            entry.generation = generation;
            self.enlist(index);
        }
    }

    /// Starts tick `tick`.
    pub(crate) fn start_tick(&mut self, tick: u64) {
        self.now = tick;
    }

    /// Lists `index` as a candidate for reclaiming, idle from now on, if it
    /// is empty and not listed already.
    pub(crate) fn enlist(&mut self, index: u32) {
        let now = self.now;
        let i = index as usize;
        let (Some(entry), Some(idle)) = (self.entries.get(i), self.idle.get_mut(i)) else {
            return;
        };
        if entry.len() > 0 {
            return;
        }
        idle.since = idle.since.max(now);
        if !idle.enlisted {
            idle.enlisted = true;
            self.candidates.push_back((index, now));
        }
    }

    /// Lists every empty entry not listed yet; for passes that empty many
    /// rosters at once (the others call [`enlist`](Self::enlist)).
    pub(crate) fn enlist_empty(&mut self) {
        let now = self.now;
        let table = self.entries.iter().zip(&mut self.idle).enumerate();
        for (index, (entry, idle)) in table {
            if entry.len() == 0 && !idle.enlisted && !Arc::ptr_eq(&entry.name, &self.vacant) {
                idle.enlisted = true;
                idle.since = idle.since.max(now);
                self.candidates.push_back((index as u32, now));
            }
        }
    }

    /// Whether a candidate has been listed for `idle_ticks` ticks (`None`:
    /// never), so [`ripe`](Self::ripe) has one to look at.
    #[inline]
    pub(crate) fn has_due(&self, idle_ticks: Option<u64>) -> bool {
        let (Some(idle_ticks), Some(&(_, enlisted))) = (idle_ticks, self.candidates.front()) else {
            return false;
        };
        enlisted.saturating_add(idle_ticks) <= self.now
    }

    /// Moves into `ripe` every candidate idle for `idle_ticks` ticks, as
    /// `(index, generation)`: empty, not changed, not (re)named since.
    /// Candidates that gained observers leave the list; those still idle
    /// but changed since are listed again.
    pub(crate) fn ripe(&mut self, idle_ticks: u64, ripe: &mut Vec<(u32, u32)>) {
        let now = self.now;
        while let Some(&(index, enlisted)) = self.candidates.front() {
            if enlisted.saturating_add(idle_ticks) > now {
                break;
            }
            self.candidates.pop_front();
            let (entry, idle) = (
                &self.entries[index as usize],
                &mut self.idle[index as usize],
            );
            let last_active = idle
                .since
                .max(entry.last_dispatch_tick.map_or(0, NonZeroU64::get));
            if entry.len() > 0 {
                idle.enlisted = false;
            } else if last_active.saturating_add(idle_ticks) <= now {
                idle.enlisted = false;
                ripe.push((index, entry.generation));
            } else {
                self.candidates.push_back((index, last_active));
            }
        }
    }

    /// Empties the entry of a variable the interner reclaimed.
    pub(crate) fn vacate(&mut self, index: u32) {
        let entry = &mut self.entries[index as usize];
        debug_assert_eq!(entry.len(), 0, "only empty variables are reclaimed");
        *entry = Variable::new(Arc::clone(&self.vacant), entry.generation);
        self.idle[index as usize] = Idle::default();
    }

    /// Lists `index` again after a reclaim passed it over (it was pending).
    pub(crate) fn relist(&mut self, index: u32) {
        let now = self.now;
        let idle = &mut self.idle[index as usize];
        idle.since = now;
        if !idle.enlisted {
            idle.enlisted = true;
            self.candidates.push_back((index, now));
        }
    }

    pub(crate) fn get(&self, index: u32) -> Option<&Variable> {
        self.entries.get(index as usize)
    }

    pub(crate) fn get_mut(&mut self, index: u32) -> Option<&mut Variable> {
        self.entries.get_mut(index as usize)
    }

    /// The entry serving `id`, if it is live here.
    pub(crate) fn live(&self, id: VariableId) -> Option<&Variable> {
        self.get(id.index)
            .filter(|v| v.generation == id.generation && !Arc::ptr_eq(&v.name, &self.vacant))
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every named entry, by index.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Variable> {
        self.entries
            .iter()
            .filter(|v| !Arc::ptr_eq(&v.name, &self.vacant))
    }

    /// Every entry, by index, for passes that split the table.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [Variable] {
        &mut self.entries
    }

    /// Drops every observer index's storage; only valid with no observers.
    pub(crate) fn release_observer_storage(&mut self) {
        for var in &mut self.entries {
            var.observers = SmallVec::new();
            var.sole_callback = None;
            var.others = None;
            var.stamp = None;
        }
        self.enlist_empty();
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;
    use crate::ids::CallbackKey;

    fn callback(index: u32) -> CallbackRef {
        CallbackRef::shared(CallbackKey {
            index,
            generation: NonZeroU32::MIN,
        })
    }

    #[test]
    fn sole_callback_holds_while_every_plain_observer_shares_one() {
        let mut world = hecs::World::new();
        let mut var = Variable::new(Arc::from("v"), 0);
        let (a, b) = (callback(1), callback(2));
        let slot = |world: &mut hecs::World, callback| Slot {
            entity: world.spawn(()),
            callback,
        };
        assert_eq!(var.sole_callback, None, "no observer yet");
        let first = slot(&mut world, a);
        var.push(Roster::Plain, first);
        var.push(Roster::Plain, slot(&mut world, a));
        assert_eq!(var.sole_callback, Some(a));
        // Other rosters are not the hot loop's and leave it alone.
        var.push(Roster::Policed, slot(&mut world, b));
        assert_eq!(var.sole_callback, Some(a));
        let odd = slot(&mut world, b);
        var.push(Roster::Plain, odd);
        assert_eq!(var.sole_callback, None, "a second callback joined");
        // Conservative: the odd one leaving does not restore it ...
        assert!(var.take(Roster::Plain, 2, odd.entity).is_some());
        assert_eq!(var.sole_callback, None);
        // ... but the next observer of an emptied roster does.
        var.sweep(Roster::Plain, |_| true, |_| {}, |_, _| {});
        assert!(var.roster(Roster::Plain).is_empty());
        var.push(Roster::Plain, slot(&mut world, b));
        assert_eq!(var.sole_callback, Some(b));
    }
}
