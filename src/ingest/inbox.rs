//! The inbox: the thread-safe queue of changes and deferred commands that a
//! manager shares with every `Notifier`.
//!
//! Producers lock it for a push; the tick thread locks it once per tick to
//! swap the queue out. No user callback runs under the lock, so a callback
//! may notify (re-enter) at any time without deadlock.

use std::mem;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::ids::{CallbackKey, ObserverId, OwnerKey};
use crate::ingest::change::{Change, Metadata, NotifyCounts, NotifyOutcome};
use crate::ingest::queue::{Queue, Queued};
use crate::observers::callbacks::Callback;
use crate::policy::Policy;

/// A registration or removal made through a `Notifier`, applied next tick.
pub(crate) enum Command<V> {
    Add {
        variable: u32,
        owner: OwnerKey,
        callback: DeferredCallback<V>,
        policy: Option<Policy<V>>,
        /// A current value to deliver to the new observer alone.
        prime: Option<Change<V>>,
    },
    Remove(ObserverId),
    /// Remove every observer of a variable.
    RemoveVariable(u32),
}

/// The callback of a deferred registration.
pub(crate) enum DeferredCallback<V> {
    Private(Callback<V>),
    Shared(CallbackKey),
}

/// The manager is gone: the inbox accepts nothing more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Closed;

/// Changes a producer gathers outside the lock, handed to the inbox under
/// one lock by [`Inbox::push_all`]: at most [`Chunk::CAPACITY`], each with
/// whether its `old == new`, compared by the producer, and their metadata
/// already kept once per run of equal metadata.
pub(crate) struct Chunk<V> {
    changes: Queue<V>,
    /// Bit `i` set: `changes[i]` is unchanged (`old == new`).
    unchanged: u64,
}

impl<V> Chunk<V> {
    /// Changes per chunk: one bit each in `unchanged`.
    pub(crate) const CAPACITY: usize = u64::BITS as usize;

    /// An empty chunk with room for `expected` changes (at most `CAPACITY`).
    pub(crate) fn with_expected(expected: usize) -> Self {
        Chunk {
            changes: Queue::with_capacity(expected.min(Self::CAPACITY)),
            unchanged: 0,
        }
    }

    /// Adds `change`; the chunk must not be full.
    #[inline]
    pub(crate) fn push(&mut self, change: Change<V>, unchanged: bool) {
        debug_assert!(!self.is_full());
        self.unchanged |= u64::from(unchanged) << self.changes.len();
        self.changes.push(change);
    }

    /// Adds the change of `variable` from `old` to `new` with `metadata`,
    /// which every change of the chunk then shares (cloned into it once);
    /// the chunk must not be full, and its other changes must have come
    /// through this method with equal metadata.
    #[inline]
    pub(crate) fn push_sharing(
        &mut self,
        variable: u32,
        old: V,
        new: V,
        metadata: &Metadata,
        unchanged: bool,
    ) {
        debug_assert!(!self.is_full());
        self.unchanged |= u64::from(unchanged) << self.changes.len();
        self.changes.push_with_last(variable, old, new, metadata);
    }

    /// Names the variable of change `at` (which must exist).
    #[inline]
    pub(crate) fn name_variable(&mut self, at: usize, variable: u32) {
        self.changes.changes[at].variable = variable;
    }

    /// Keeps the first `kept` changes and returns the rest, for the caller
    /// to drop once no lock is held.
    pub(crate) fn keep_first(&mut self, kept: usize) -> Vec<Queued<V>> {
        let kept = kept.min(Self::CAPACITY);
        if kept < Self::CAPACITY {
            self.unchanged &= (1u64 << kept) - 1;
        }
        self.changes.split_off(kept)
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.changes.len() == Self::CAPACITY
    }

    fn clear(&mut self) {
        self.changes.clear();
        self.unchanged = 0;
    }
}

pub(crate) struct Inbox<V> {
    capacity: usize,
    state: Mutex<InboxState<V>>,
    commands: Mutex<Commands<V>>,
}

struct InboxState<V> {
    /// Changes in submission order. Invariant: `queue.len() <= capacity`.
    queue: Queue<V>,
    /// Per variable index: the coalesced change that arrived while the queue
    /// was full. It follows every queued change of its variable.
    overflow: Vec<Option<Change<V>>>,
    /// Indices with `overflow[i].is_some()`, in order of first overflow.
    overflow_vars: Vec<u32>,
    counts: InboxCounts,
    /// Set when the manager is dropped: nothing more is accepted.
    closed: bool,
}

struct Commands<V> {
    queue: Vec<Command<V>>,
    /// Set when the manager is dropped: nothing more is accepted.
    closed: bool,
}

/// What the inbox accepted since the last drain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct InboxCounts {
    /// Changes accepted (queued or coalesced). Invariant at any moment:
    /// `received == pending + coalesced` until the drain, where the pending
    /// ones are handed over.
    pub(crate) received: u64,
    /// Changes skipped because `old == new`.
    pub(crate) skipped: u64,
    /// Changes merged into another change of their variable.
    pub(crate) coalesced: u64,
}

impl<V> Inbox<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Inbox {
            capacity,
            state: Mutex::new(InboxState {
                queue: Queue::new(),
                overflow: Vec::new(),
                overflow_vars: Vec::new(),
                counts: InboxCounts::default(),
                closed: false,
            }),
            commands: Mutex::new(Commands {
                queue: Vec::new(),
                closed: false,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, InboxState<V>> {
        // Only `V::eq` and `Metadata::eq` run under this lock (values are
        // dropped after it is released, since a `Drop` may notify); were
        // `V::eq` to panic, the state is still consistent (each push is a
        // single append or replacement), so recover the guard.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn commands(&self) -> MutexGuard<'_, Commands<V>> {
        // Pushes and swaps only: a panic cannot leave it half-updated.
        self.commands.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes pending and the counts since the last drain, read together
    /// (a reading that producers may change at once).
    pub(crate) fn snapshot(&self) -> (usize, InboxCounts) {
        let state = self.state();
        (state.queue.len() + state.overflow_vars.len(), state.counts)
    }

    /// Changes waiting for the next tick (a reading that may be stale at once).
    pub(crate) fn pending(&self) -> usize {
        self.snapshot().0
    }

    /// Queues `command`; `held` (the interner's lock that keeps its
    /// variable live) is released after the inbox's and before anything is
    /// dropped.
    pub(crate) fn push_command<G>(&self, command: Command<V>, held: G) -> Result<(), Closed> {
        let mut commands = self.commands();
        if commands.closed {
            drop(commands);
            drop(held);
            // Dropped outside the locks: the command may own a notifier.
            drop(command);
            return Err(Closed);
        }
        commands.queue.push(command);
        Ok(())
    }

    /// Calls `pending` with the variable of every queued change and command
    /// (a variable may come more than once). The tick calls it holding the
    /// interner's write lock, so nothing is added meanwhile.
    pub(crate) fn pending_variables(&self, mut pending: impl FnMut(u32)) {
        {
            let state = self.state();
            state.queue.changes.iter().for_each(|c| pending(c.variable));
            state.overflow_vars.iter().for_each(|&v| pending(v));
        }
        for command in &self.commands().queue {
            match command {
                Command::Add { variable, .. } | Command::RemoveVariable(variable) => {
                    pending(*variable)
                }
                Command::Remove(_) => {}
            }
        }
    }

    /// Whether deferred commands wait for the next tick (stale at once).
    pub(crate) fn has_commands(&self) -> bool {
        !self.commands().queue.is_empty()
    }

    pub(crate) fn take_commands(&self, out: &mut Vec<Command<V>>) {
        mem::swap(&mut self.commands().queue, out);
    }

    /// Closes the inbox and drops what it holds; later pushes are refused.
    /// Run when the manager is dropped, this also breaks the reference cycle
    /// of a queued callback that owns a notifier.
    pub(crate) fn close(&self) {
        let (changes, overflow) = {
            let mut state = self.state();
            state.closed = true;
            state.overflow_vars.clear();
            (
                mem::replace(&mut state.queue, Queue::new()),
                mem::take(&mut state.overflow),
            )
        };
        let queued = {
            let mut commands = self.commands();
            commands.closed = true;
            mem::take(&mut commands.queue)
        };
        // Dropped outside the locks: values and callbacks run user code.
        drop((changes, overflow, queued));
    }
}

impl<V: PartialEq> Inbox<V> {
    /// Queues `change`, or coalesces it when the queue is full; `held` (the
    /// interner's lock that keeps its variable live) is released after the
    /// inbox's and before any value is dropped.
    pub(crate) fn push<G>(&self, change: Change<V>, held: G) -> Result<NotifyOutcome, Closed> {
        let unchanged = change.old == change.new;
        let mut state = self.state();
        if state.closed {
            drop(state);
            drop(held);
            return Err(Closed); // `change` is dropped after the locks
        }
        let (outcome, displaced) = state.accept(change, unchanged, self.capacity);
        drop(state);
        drop(held);
        // Values may notify from their `Drop`: never drop them under the lock.
        drop(displaced);
        Ok(outcome)
    }

    /// Queues (or coalesces) every change of `chunk`, in order, under one
    /// lock, emptying it, and adds what happened to `counts`; `held` as for
    /// [`push`](Self::push).
    pub(crate) fn push_all<G>(
        &self,
        chunk: &mut Chunk<V>,
        counts: &mut NotifyCounts,
        held: G,
    ) -> Result<(), Closed> {
        let mut displaced = Vec::new();
        let mut state = self.state();
        if state.closed {
            drop(state);
            drop(held);
            chunk.clear(); // the values are dropped after the locks
            return Err(Closed);
        }
        // A change overflows only into a full queue, so while the chunk fits
        // no variable is overflowing and every changed value is queued.
        let len = chunk.changes.len();
        if chunk.unchanged == 0 && state.queue.len() + len <= self.capacity {
            state.counts.received += len as u64;
            counts.queued += len as u64;
            state.queue.append(&mut chunk.changes);
            return Ok(());
        }
        let unchanged = mem::take(&mut chunk.unchanged);
        for (i, change) in chunk.changes.drain().enumerate() {
            let (outcome, refused) = state.accept(change, unchanged >> i & 1 == 1, self.capacity);
            counts.add(outcome);
            displaced.extend(refused);
        }
        drop(state);
        drop(held);
        // Values may notify from their `Drop`: never drop them under the lock.
        drop(displaced);
        Ok(())
    }

    /// Swaps the queued changes with `spare` (which must be empty), appends
    /// the coalesced ones after them, and resets the counts.
    pub(crate) fn drain(&self, spare: &mut Queue<V>) -> InboxCounts {
        debug_assert!(spare.is_empty());
        let mut absorbed = Vec::new();
        let mut guard = self.state();
        let state = &mut *guard;
        mem::swap(&mut state.queue, spare);
        for index in state.overflow_vars.drain(..) {
            if let Some(change) = state.overflow[index as usize].take() {
                if change.old == change.new {
                    // Coalesced back to where it started: the whole run is
                    // absorbed, so this last change counts as coalesced too.
                    state.counts.coalesced += 1;
                    absorbed.push(change);
                } else {
                    spare.push(change);
                }
            }
        }
        let counts = mem::take(&mut state.counts);
        drop(guard);
        drop(absorbed); // after the lock: a value's `Drop` may notify
        counts
    }
}

impl<V> InboxState<V> {
    /// Queues, coalesces or refuses `change`. Returns what was displaced
    /// (the refused change, or the values a merge replaced), for the caller
    /// to drop once the lock is released.
    fn accept(
        &mut self,
        change: Change<V>,
        unchanged: bool,
        capacity: usize,
    ) -> (NotifyOutcome, Option<Change<V>>) {
        if unchanged {
            self.counts.skipped += 1;
            return (NotifyOutcome::Unchanged, Some(change));
        }
        self.counts.received += 1;
        let index = change.variable as usize;
        let overflowing = self.overflow.get(index).is_some_and(Option::is_some);
        if !overflowing && self.queue.len() < capacity {
            self.queue.push(change);
            return (NotifyOutcome::Queued, None);
        }
        (NotifyOutcome::Coalesced, self.coalesce(change))
    }

    /// Merges `change` into its variable's overflow slot: the first old
    /// value stays, the new value and metadata are the latest. Returns the
    /// values the merge displaced.
    fn coalesce(&mut self, mut change: Change<V>) -> Option<Change<V>> {
        let index = change.variable as usize;
        if self.overflow.len() <= index {
            self.overflow.resize_with(index + 1, || None);
        }
        match &mut self.overflow[index] {
            Some(pending) => {
                mem::swap(&mut pending.new, &mut change.new);
                mem::swap(&mut pending.metadata, &mut change.metadata);
                self.counts.coalesced += 1;
                Some(change)
            }
            slot @ None => {
                *slot = Some(change);
                self.overflow_vars.push(index as u32);
                None
            }
        }
    }
}
