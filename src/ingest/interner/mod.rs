//! The name <-> id table a manager shares with its notifiers, and the lock
//! that makes reclaiming an unused variable exact.
//!
//! Invariants, under `table`:
//! - `ids[n] == i` exactly when `slots[i].name == Some(n)`;
//! - an id `(i, g)` is live exactly when `slots[i]` has a name and
//!   generation `g`; a reclaimed slot's generation is bumped at once, so
//!   every id issued for it before is stale from then on;
//! - a slot in `free` has no name, and the next name interned there gets its
//!   (already bumped) generation;
//! - a slot whose bit in `reused` is clear was never reclaimed: it holds
//!   its first name at generation 0. So checking an id of such a variable
//!   (every variable of a program whose names do not churn) reads one bit
//!   of a small dense set, not its slot.
//!
//! Producers hold the lock (read, or write to intern a new name) from
//! resolving a variable until its change or command is in the inbox; the
//! tick holds it for writing while it checks the inbox for pending work and
//! reclaims. So a variable with a queued change or command is never
//! reclaimed, and every queued change names a live variable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::VariableError;
use crate::ids::{ManagerTag, VariableId};
use crate::ingest::names::{MAX_VARIABLE_NAME_LEN, Var};
use crate::ingest::pending::Pending;

/// Name <-> id interning, shared by a manager and its notifiers.
pub(crate) struct Interner {
    manager: ManagerTag,
    table: RwLock<Names>,
    /// Set while `Names::fresh` is not empty, so the manager's table can
    /// tell without the lock whether it must sync.
    has_fresh: AtomicBool,
}

/// The table behind the lock.
#[derive(Default)]
pub(crate) struct Names {
    ids: HashMap<Arc<str>, u32>,
    slots: Vec<NameSlot>,
    /// Bit `i` set once slot `i` has been reclaimed.
    reused: Vec<u64>,
    free: Vec<u32>,
    /// Slots given a name since the manager last synced its own table.
    fresh: Vec<u32>,
    live: usize,
}

#[derive(Default)]
struct NameSlot {
    name: Option<Arc<str>>,
    generation: u32,
    /// Holders (session store entries) that keep the variable from being
    /// reclaimed whatever else it has.
    pins: u32,
}

/// The table's lock, held while resolved ids must stay live.
#[expect(dead_code, reason = "held for its `Drop`, which releases the lock")]
pub(crate) enum Held<'a> {
    Read(RwLockReadGuard<'a, Names>),
    Write(RwLockWriteGuard<'a, Names>),
}

/// A variable (re)interned since the manager last looked.
pub(crate) struct Fresh {
    pub(crate) index: u32,
    pub(crate) generation: u32,
    pub(crate) name: Arc<str>,
}

impl Interner {
    pub(crate) fn new(manager: ManagerTag) -> Self {
        Interner {
            manager,
            table: RwLock::new(Names::default()),
            has_fresh: AtomicBool::new(false),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Names> {
        // Every change under the lock is made after anything that may
        // panic (hashing, allocation): recover the guard.
        self.table.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The table for writing: the tick's reclaim holds it across its check
    /// of the inbox.
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Names> {
        self.table.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves `vars` in order under the lock, interning new names: each
    /// id must be live, and each name's id is handed to `name` with its
    /// position (an id needs no handing on: the caller has it). Returns the
    /// lock that keeps every resolved id live while it is held, how many
    /// were resolved (a prefix of `vars`) and the refusal that stopped
    /// there. `name` may see a position twice (the second id wins) when a
    /// new name sends the pass back to the start under the write lock.
    /// While no variable was ever reclaimed, every id that passed
    /// [`precheck`](Self::precheck) is live, and a batch of ids alone takes
    /// only the lock.
    pub(crate) fn resolve(
        &self,
        vars: &Pending<'_>,
        mut name: impl FnMut(usize, VariableId),
    ) -> (Held<'_>, usize, Option<VariableError>) {
        let table = self.read();
        if vars.ids_only() && !table.ever_reclaimed() {
            debug_assert!(
                vars.iter(self.manager)
                    .all(|var| self.look_up(&table, var).is_ok())
            );
            return (Held::Read(table), vars.len(), None);
        }
        let mut resolved = 0;
        for var in vars.iter(self.manager) {
            match var {
                Var::Id(id) => match self.check(&table, id) {
                    Ok(_) => {}
                    Err(error) => return (Held::Read(table), resolved, Some(error)),
                },
                Var::Name(text) => match self.look_up_name(&table, text) {
                    Ok(Some(id)) => name(resolved, id),
                    Ok(None) => break, // a new name: intern under the write lock
                    Err(error) => return (Held::Read(table), resolved, Some(error)),
                },
            }
            resolved += 1;
        }
        if resolved == vars.len() {
            return (Held::Read(table), resolved, None);
        }
        // Ids resolved under the read lock may have been reclaimed since it
        // was dropped: resolve them all again.
        drop(table);
        let mut table = self.write();
        for (at, var) in vars.iter(self.manager).enumerate() {
            match self.intern_in(&mut table, var) {
                Ok(id) if matches!(var, Var::Name(_)) => name(at, id),
                Ok(_) => {}
                Err(error) => return (Held::Write(table), at, Some(error)),
            }
        }
        (Held::Write(table), vars.len(), None)
    }

    /// Resolves one variable as [`resolve`](Self::resolve) does.
    #[inline]
    pub(crate) fn resolve_one(
        &self,
        var: Var<'_>,
    ) -> (Held<'_>, Result<VariableId, VariableError>) {
        let table = self.read();
        match self.look_up(&table, var) {
            Ok(Some(id)) => (Held::Read(table), Ok(id)),
            Err(error) => (Held::Read(table), Err(error)),
            Ok(None) => {
                drop(table);
                let mut table = self.write();
                let id = self.intern_in(&mut table, var);
                (Held::Write(table), id)
            }
        }
    }

    /// Resolves a known variable without interning, holding the lock.
    pub(crate) fn resolve_known(
        &self,
        var: Var<'_>,
    ) -> (Held<'_>, Result<VariableId, VariableError>) {
        let table = self.read();
        let id = self
            .look_up(&table, var)
            .and_then(|id| id.ok_or_else(|| unknown(var)));
        (Held::Read(table), id)
    }

    /// The checks on `var` that need no table (a name's length, an id's
    /// manager), for batches that [`resolve`](Self::resolve) later, and the
    /// index its change carries until then: an id's own, or 0 for a name
    /// (which `resolve` hands on).
    #[inline]
    pub(crate) fn precheck(&self, var: Var<'_>) -> Result<u32, VariableError> {
        match var {
            Var::Id(id) if id.manager != self.manager => Err(VariableError::ForeignManager),
            Var::Id(id) => Ok(id.index),
            Var::Name(name) => validate_name(name).map(|()| 0),
        }
    }

    /// The id of `var`, interning a new name. For the manager's own calls:
    /// nothing reclaims while the manager is borrowed, so the id stays live
    /// until its next tick at least.
    pub(crate) fn intern(&self, var: Var<'_>) -> Result<VariableId, VariableError> {
        self.resolve_one(var).1
    }

    /// The id whose [`VariableId::to_bits`] are `bits`, if this interner
    /// issued it and its variable is live.
    pub(crate) fn resolve_bits(&self, bits: u64) -> Result<VariableId, VariableError> {
        let id = VariableId {
            index: bits as u32,
            generation: (bits >> 32) as u32,
            manager: self.manager,
        };
        let table = self.read();
        // Generations rise by one per reclaim, so every one below a slot's
        // current one was issued; the current one is issued while named.
        match table.slots.get(id.index as usize) {
            Some(slot) if id.generation < slot.generation => Err(VariableError::Reclaimed),
            Some(slot) if id.generation == slot.generation && slot.name.is_some() => Ok(id),
            _ => Err(VariableError::NotIssued { bits }),
        }
    }

    /// The id of `var` without interning.
    pub(crate) fn find(&self, var: Var<'_>) -> Result<VariableId, VariableError> {
        self.look_up(&self.read(), var)?.ok_or_else(|| unknown(var))
    }

    /// Interns `name` and pins it: it is not reclaimed until the returned
    /// pin is given back through [`unpin`](Self::unpin).
    pub(crate) fn pin(&self, name: &str) -> Result<VariableId, VariableError> {
        let mut table = self.write();
        let id = self.intern_in(&mut table, Var::Name(name))?;
        let slot = &mut table.slots[id.index as usize];
        slot.pins = slot.pins.saturating_add(1);
        Ok(id)
    }

    /// Gives back one pin of `id` (a no-op for a stale id).
    pub(crate) fn unpin(&self, id: VariableId) {
        let mut table = self.write();
        if let Some(slot) = table.slots.get_mut(id.index as usize)
            && slot.generation == id.generation
        {
            slot.pins = slot.pins.saturating_sub(1);
        }
    }

    /// Variables interned and not reclaimed.
    pub(crate) fn live(&self) -> usize {
        self.read().live
    }

    /// The name of a live variable.
    pub(crate) fn name(&self, id: VariableId) -> Option<Arc<str>> {
        let table = self.read();
        let slot = table.slots.get(id.index as usize)?;
        (slot.generation == id.generation)
            .then(|| slot.name.clone())
            .flatten()
    }

    /// Whether names were (re)interned since the last [`take_fresh`](Self::take_fresh).
    #[inline]
    pub(crate) fn has_fresh(&self) -> bool {
        self.has_fresh.load(Ordering::Acquire)
    }

    /// The variables (re)interned since the last call, still live.
    pub(crate) fn take_fresh(&self, out: &mut Vec<Fresh>) {
        let mut table = self.write();
        let table = &mut *table;
        self.has_fresh.store(false, Ordering::Release);
        // Taken, not drained: a burst of names does not hold its size.
        let fresh = std::mem::take(&mut table.fresh);
        out.reserve_exact(fresh.len());
        for index in fresh {
            let slot = &table.slots[index as usize];
            if let Some(name) = &slot.name {
                out.push(Fresh {
                    index,
                    generation: slot.generation,
                    name: Arc::clone(name),
                });
            }
        }
    }

    /// `Some(id)` for a known variable, `None` for a valid unknown name.
    #[inline]
    fn look_up(&self, table: &Names, var: Var<'_>) -> Result<Option<VariableId>, VariableError> {
        match var {
            Var::Id(id) => self.check(table, id).map(Some),
            Var::Name(name) => self.look_up_name(table, name),
        }
    }

    /// `Some(id)` for a known name, `None` for a valid unknown one.
    fn look_up_name(&self, table: &Names, name: &str) -> Result<Option<VariableId>, VariableError> {
        validate_name(name)?;
        Ok(table.ids.get(name).map(|&index| VariableId {
            index,
            generation: table.slots[index as usize].generation,
            manager: self.manager,
        }))
    }

    fn intern_in(&self, table: &mut Names, var: Var<'_>) -> Result<VariableId, VariableError> {
        if let Some(id) = self.look_up(table, var)? {
            return Ok(id);
        }
        let Var::Name(name) = var else {
            unreachable!("an id is known or refused by `look_up`");
        };
        // One allocation, shared by both directions of the table.
        let name: Arc<str> = Arc::from(name);
        let index = match table.free.pop() {
            Some(index) => index,
            None => {
                table.slots.push(NameSlot::default());
                (table.slots.len() - 1) as u32
            }
        };
        let slot = &mut table.slots[index as usize];
        slot.name = Some(Arc::clone(&name));
        let generation = slot.generation;
        table.ids.insert(name, index);
        table.fresh.push(index);
        table.live += 1;
        self.has_fresh.store(true, Ordering::Release);
        Ok(VariableId {
            index,
            generation,
            manager: self.manager,
        })
    }

    #[inline]
    fn check(&self, table: &Names, id: VariableId) -> Result<VariableId, VariableError> {
        if id.manager != self.manager {
            return Err(VariableError::ForeignManager);
        }
        let index = id.index as usize;
        let live = if table.was_reused(index) {
            table
                .slots
                .get(index)
                .is_some_and(|slot| slot.generation == id.generation && slot.name.is_some())
        } else {
            id.generation == 0 && index < table.slots.len()
        };
        if live {
            Ok(id)
        } else {
            Err(VariableError::Reclaimed)
        }
    }
}

/// The refusal of a lookup that found nothing: only a name can be unknown
/// (an id is live, stale or foreign).
fn unknown(var: Var<'_>) -> VariableError {
    let name = match var {
        Var::Name(name) => name,
        Var::Id(_) => {
            debug_assert!(
                false,
                "an id's lookup is live, stale or foreign, never unknown"
            );
            ""
        }
    };
    VariableError::Unknown { name: name.into() }
}

impl Names {
    /// Reclaims variable `index` of `generation` unless it is pinned or
    /// already gone: forgets its name and makes every id of it stale.
    /// Returns whether it did. A slot whose generation is exhausted is
    /// retired rather than reused, so no id ever repeats.
    pub(crate) fn reclaim(&mut self, index: u32, generation: u32) -> bool {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return false;
        };
        if slot.generation != generation || slot.pins > 0 {
            return false;
        }
        let Some(name) = slot.name.take() else {
            return false;
        };
        self.ids.remove(&name);
        self.live -= 1;
        if let Some(next) = slot.generation.checked_add(1) {
            slot.generation = next;
            self.free.push(index);
        }
        let word = index as usize / 64;
        if self.reused.len() <= word {
            self.reused.resize(word + 1, 0);
        }
        self.reused[word] |= 1 << (index % 64);
        true
    }

    /// Whether any slot was ever reclaimed: until one is, every id issued
    /// names its slot's first name.
    #[inline]
    fn ever_reclaimed(&self) -> bool {
        !self.reused.is_empty()
    }

    /// Whether slot `index` was ever reclaimed.
    #[inline]
    fn was_reused(&self, index: usize) -> bool {
        self.reused
            .get(index / 64)
            .is_some_and(|word| word >> (index % 64) & 1 == 1)
    }
}

fn validate_name(name: &str) -> Result<(), VariableError> {
    if name.is_empty() {
        Err(VariableError::EmptyName)
    } else if name.len() > MAX_VARIABLE_NAME_LEN {
        Err(VariableError::NameTooLong { len: name.len() })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
