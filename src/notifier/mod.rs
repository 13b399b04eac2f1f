//! `Notifier`: the cloneable, thread-safe handle producers enqueue through.

use std::fmt;
use std::sync::Arc;

use crate::error::{NotifyError, NotifyManyError, RemoveObserverError, VariableError};
use crate::ids::{ObserverId, VariableId};
use crate::ingest::change::{Change, Metadata, NotifyCounts, NotifyOutcome};
use crate::ingest::inbox::{Chunk, Command};
use crate::ingest::names::{Var, VariableRef};
use crate::ingest::pending::Pending;
use crate::ingest::shared::Shared;
use crate::owners::Owner;

/// A handle for reporting changes from any thread, callbacks included.
///
/// `Notifier` is `Clone + Send + Sync`; clones are cheap (one reference
/// count). Everything it does is queued and takes effect at the manager's
/// next tick: changes are delivered then, registrations and removals are
/// applied at the start of it. Because nothing waits on the tick, a callback
/// may use a notifier freely while it is being dispatched.
///
/// A notifier may outlive its manager: dropping the manager drops what is
/// queued, and from then on its calls that would queue answer
/// `ManagerDropped`: [`NotifyError::ManagerDropped`] from the notifies and
/// `remove_observers_of`, [`AddObserverError::ManagerDropped`](crate::AddObserverError::ManagerDropped) from
/// [`Observe::defer`](crate::Observe::defer), [`RemoveObserverError::ManagerDropped`] from
/// `remove_observer`, `WatchError::ManagerDropped` from `watch`. `variable`,
/// `variable_from_bits` and `owner` touch no manager state and still work.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use observer_manager::{Metadata, ObserverManager};
///
/// let mut manager = ObserverManager::<u64>::new();
/// let owner = manager.owner();
/// let seen = Arc::new(AtomicU64::new(0));
/// let sink = Arc::clone(&seen);
/// manager.observe("load", &owner).callback(move |n| sink.store(*n.new, Ordering::Relaxed)).add()?;
///
/// let notifier = manager.notifier();
/// std::thread::spawn(move || {
///     notifier.notify("load", 0, 42, Metadata::new("worker")).unwrap();
/// })
/// .join()
/// .unwrap();
///
/// manager.tick();
/// assert_eq!(seen.load(Ordering::Relaxed), 42);
/// # Ok::<(), observer_manager::AddObserverError>(())
/// ```
///
/// A `Notifier` is `Send` and `Sync` when the values are, and only then:
///
/// ```
/// fn assert_handle<T: Clone + Send + Sync>() {}
/// assert_handle::<observer_manager::Notifier<String>>();
/// ```
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<observer_manager::Notifier<std::rc::Rc<u8>>>();
/// ```
pub struct Notifier<V> {
    pub(crate) shared: Arc<Shared<V>>,
}

impl<V> Clone for Notifier<V> {
    fn clone(&self) -> Self {
        Notifier {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<V: PartialEq + Send + Sync + 'static> Notifier<V> {
    /// Reports that `var` went from `old` to `new`; returns at once.
    ///
    /// Unchanged values (`old == new`) are skipped and counted. The change
    /// is delivered at the next tick to every observer of `var` alive when
    /// dispatch starts, after the changes of `var` reported before it.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Variable`] if `var` is an invalid name or a foreign id,
    /// [`NotifyError::ManagerDropped`] if the manager is gone; nothing is
    /// queued then.
    pub fn notify<'a>(
        &self,
        var: impl Into<VariableRef<'a>>,
        old: V,
        new: V,
        metadata: Metadata,
    ) -> Result<NotifyOutcome, NotifyError> {
        let var = var.into();
        let shared = &*self.shared;
        let (held, variable) = shared.interner.resolve_one(var.as_var());
        let variable = match variable {
            Ok(id) => id.index,
            Err(error) => {
                drop(held); // before the values: a `Drop` may notify
                return Err(error.into());
            }
        };
        let change = Change {
            variable,
            old,
            new,
            metadata,
        };
        shared
            .inbox
            .push(change, held)
            .map_err(|_| NotifyError::ManagerDropped)
    }

    /// Reports many changes, each `(variable, old, new, metadata)`, as
    /// [`notify`](Notifier::notify) would one by one, in order, and counts
    /// what happened to them. Cheaper per change than `notify` for batches
    /// (a simulation step's writes, say): the inbox is locked once per 64
    /// changes rather than once per change.
    ///
    /// # Errors
    ///
    /// Stops at the first change `notify` would refuse ([`NotifyError`]):
    /// the changes before it are accepted, and [`NotifyManyError::accepted`]
    /// counts them; it and the rest are not.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{Metadata, ObserverManager};
    ///
    /// let manager = ObserverManager::<u64>::new();
    /// let notifier = manager.notifier();
    /// let meta = Metadata::new("step");
    /// let cells: Vec<_> = (0..3)
    ///     .map(|i| manager.variable(&format!("cell{i}")))
    ///     .collect::<Result<_, _>>()?;
    /// let counts = notifier.notify_many(cells.iter().map(|&cell| (cell, 0, 1, meta.clone())))?;
    /// assert_eq!(counts.queued, 3);
    ///
    /// // An empty name is refused; the change before it was accepted.
    /// let refused = notifier
    ///     .notify_many([("cell0", 1, 2, meta.clone()), ("", 0, 1, meta)])
    ///     .unwrap_err();
    /// assert_eq!(refused.accepted.queued, 1);
    /// assert_eq!(manager.pending_changes(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn notify_many<'a, K, I>(&self, changes: I) -> Result<NotifyCounts, NotifyManyError>
    where
        K: Into<VariableRef<'a>>,
        I: IntoIterator<Item = (K, V, V, Metadata)>,
    {
        let shared = &*self.shared;
        shared.queue_all(changes, |chunk, (var, old, new, metadata)| {
            let var = var.into();
            let variable = shared.interner.precheck(var.as_var())?;
            let unchanged = old == new;
            let change = Change {
                variable, // a name's is set when the chunk is resolved
                old,
                new,
                metadata,
            };
            chunk.push(change, unchanged);
            Ok(var)
        })
    }

    /// Reports many changes, each `(variable, old, new)`, that share one
    /// `metadata` (a simulation step's writes, stamped once), as
    /// [`notify_many`](Notifier::notify_many) would with a clone of it for
    /// each. The cheapest way to report a batch: the metadata is kept once
    /// per tick, not once per change.
    ///
    /// # Errors
    ///
    /// As [`notify_many`](Notifier::notify_many): stops at the first change
    /// `notify` would refuse, after accepting and counting the ones before.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{Metadata, ObserverManager};
    ///
    /// let manager = ObserverManager::<u64>::new();
    /// let notifier = manager.notifier();
    /// let cells: Vec<_> = (0..3)
    ///     .map(|i| manager.variable(&format!("cell{i}")))
    ///     .collect::<Result<_, _>>()?;
    /// let step = Metadata::new("step 1");
    /// let counts = notifier.notify_batch(&step, cells.iter().map(|&cell| (cell, 0, 1)))?;
    /// assert_eq!((counts.queued, counts.unchanged), (3, 0));
    ///
    /// // Unchanged values are skipped and counted, as by `notify`.
    /// let counts = notifier.notify_batch(&step, [(cells[0], 1, 2), (cells[1], 1, 1)])?;
    /// assert_eq!((counts.queued, counts.unchanged), (1, 1));
    /// assert_eq!(manager.pending_changes(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn notify_batch<'a, K, I>(
        &self,
        metadata: &Metadata,
        changes: I,
    ) -> Result<NotifyCounts, NotifyManyError>
    where
        K: Into<VariableRef<'a>>,
        I: IntoIterator<Item = (K, V, V)>,
    {
        let shared = &*self.shared;
        shared.queue_all(changes, |chunk, (var, old, new)| {
            let var = var.into();
            let variable = shared.interner.precheck(var.as_var())?; // a name's: see above
            let unchanged = old == new;
            chunk.push_sharing(variable, old, new, metadata, unchanged);
            Ok(var)
        })
    }

    /// The id of the variable named `name`, interning it if new.
    ///
    /// # Errors
    ///
    /// [`VariableError::EmptyName`] or [`VariableError::NameTooLong`].
    pub fn variable(&self, name: &str) -> Result<VariableId, VariableError> {
        self.shared.interner.intern(Var::Name(name))
    }

    /// The id whose [`VariableId::to_bits`] are `bits`, checked: it names
    /// the same variable, or is refused.
    ///
    /// # Errors
    ///
    /// [`VariableError::NotIssued`] for bits no id of this manager had;
    /// [`VariableError::Reclaimed`] if the variable was reclaimed since.
    pub fn variable_from_bits(&self, bits: u64) -> Result<VariableId, VariableError> {
        self.shared.interner.resolve_bits(bits)
    }

    /// A new live owner.
    pub fn owner(&self) -> Owner {
        self.shared.owners.spawn()
    }

    /// Queues the removal of every observer of `var`, applied at the start
    /// of the next tick.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Variable`] for a bad name or foreign id;
    /// [`NotifyError::ManagerDropped`] if the manager is gone.
    pub fn remove_observers_of<'a>(
        &self,
        var: impl Into<VariableRef<'a>>,
    ) -> Result<(), NotifyError> {
        let (held, variable) = self.shared.interner.resolve_known(var.into().as_var());
        let variable = match variable {
            Err(VariableError::Unknown { .. }) => return Ok(()), // nobody observes it
            other => other?,
        };
        self.shared
            .inbox
            .push_command(Command::RemoveVariable(variable.index), held)
            .map_err(|_| NotifyError::ManagerDropped)
    }

    /// Queues the removal of `observer`, applied at the start of the next
    /// tick; the observer may still receive changes dispatched before then.
    /// A stale id is skipped then and counted in `TickReport::commands_skipped`.
    ///
    /// # Errors
    ///
    /// [`RemoveObserverError::ForeignManager`] for another manager's id;
    /// [`RemoveObserverError::ManagerDropped`] if the manager is gone (and with it
    /// every observer).
    pub fn remove_observer(&self, observer: ObserverId) -> Result<(), RemoveObserverError> {
        if observer.manager != self.shared.manager {
            return Err(RemoveObserverError::ForeignManager);
        }
        self.shared
            .inbox
            .push_command(Command::Remove(observer), ())
            .map_err(|_| RemoveObserverError::ManagerDropped)
    }
}

impl<V: PartialEq> Shared<V> {
    /// Feeds `items` to `add`, which puts one change into the chunk and
    /// returns its variable, and hands the chunk to the inbox whenever it
    /// fills, its variables resolved under the interner's lock; stops at
    /// the first item refused.
    fn queue_all<'a, T>(
        &self,
        items: impl IntoIterator<Item = T>,
        mut add: impl FnMut(&mut Chunk<V>, T) -> Result<VariableRef<'a>, VariableError>,
    ) -> Result<NotifyCounts, NotifyManyError> {
        let mut items = items.into_iter();
        let mut accepted = NotifyCounts::default();
        let Some(first) = items.next() else {
            // Nothing to resolve or queue; an empty batch still says whether
            // the manager is there.
            let mut empty = Chunk::with_expected(0);
            self.inbox
                .push_all(&mut empty, &mut accepted, ())
                .map_err(|_| NotifyManyError {
                    error: NotifyError::ManagerDropped,
                    accepted,
                })?;
            return Ok(accepted);
        };
        let mut chunk = Chunk::with_expected(items.size_hint().0.saturating_add(1));
        // The variable of each change of the chunk.
        let mut vars = Pending::new();
        let mut refused = None;
        let mut next = Some(first);
        while let Some(item) = next {
            match add(&mut chunk, item) {
                Ok(var) => vars.push(var),
                Err(error) => {
                    refused = Some(error);
                    break;
                }
            }
            if chunk.is_full() {
                refused = self.push_chunk(&mut chunk, &vars, &mut accepted)?;
                vars.clear();
                if refused.is_some() {
                    break;
                }
            }
            next = items.next();
        }
        if !vars.is_empty() {
            let late = self.push_chunk(&mut chunk, &vars, &mut accepted)?;
            refused = late.or(refused);
        }
        match refused {
            Some(error) => Err(NotifyManyError {
                error: error.into(),
                accepted,
            }),
            None => Ok(accepted),
        }
    }

    /// Resolves the chunk's variables `vars` and hands the changes before
    /// the first refused one to the inbox under one lock, counting into
    /// `accepted`; returns the refusal.
    fn push_chunk(
        &self,
        chunk: &mut Chunk<V>,
        vars: &Pending<'_>,
        accepted: &mut NotifyCounts,
    ) -> Result<Option<VariableError>, NotifyManyError> {
        let (held, resolved, refused) = self
            .interner
            .resolve(vars, |at, id| chunk.name_variable(at, id.index));
        let unsent = chunk.keep_first(resolved);
        let pushed = self.inbox.push_all(chunk, accepted, held);
        drop(unsent); // after the locks: a value's `Drop` may notify
        pushed.map_err(|_| NotifyManyError {
            error: NotifyError::ManagerDropped,
            accepted: *accepted,
        })?;
        Ok(refused)
    }
}

impl<V> fmt::Debug for Notifier<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("handles", &Arc::strong_count(&self.shared))
            .finish_non_exhaustive()
    }
}
