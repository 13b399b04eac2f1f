//! A tick's changes as the inbox queues them and the systems read them.
//!
//! Each change names its metadata by index into one table, which keeps a
//! single entry per run of consecutive equal metadata: a producer that
//! stamps a step's changes with one metadata queues that metadata once,
//! and the changes the tick sorts, walks and drops are a few words each
//! instead of carrying 56 bytes of metadata apiece.

use std::borrow::Cow;
use std::time::SystemTime;

use crate::ingest::change::{Change, Metadata};

/// A queued change: variable `variable` went from `old` to `new`, with the
/// metadata at index `metadata` of its queue's table.
#[derive(Debug)]
pub(crate) struct Queued<V> {
    pub(crate) variable: u32,
    pub(crate) old: V,
    pub(crate) new: V,
    pub(crate) metadata: usize,
}

/// Changes in submission order and the metadata they name. Invariant:
/// every change's `metadata` is an index of `metadata`, and no two
/// consecutive entries of `metadata` are equal.
#[derive(Debug)]
pub(crate) struct Queue<V> {
    pub(crate) changes: Vec<Queued<V>>,
    pub(crate) metadata: Vec<Metadata>,
}

impl<V> Queue<V> {
    pub(crate) const fn new() -> Self {
        Queue {
            changes: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// An empty queue with room for `changes` changes (and one metadata).
    pub(crate) fn with_capacity(changes: usize) -> Self {
        Queue {
            changes: Vec::with_capacity(changes),
            metadata: Vec::with_capacity(1),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.changes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Appends `change`. Its metadata joins the table unless it equals the
    /// table's last entry, which it then shares (and is dropped).
    #[inline]
    pub(crate) fn push(&mut self, change: Change<V>) {
        let Change {
            variable,
            old,
            new,
            metadata,
        } = change;
        if !self
            .metadata
            .last()
            .is_some_and(|last| same(last, &metadata))
        {
            self.metadata.push(metadata);
        }
        self.push_naming_last(variable, old, new);
    }

    /// Appends the change of `variable` from `old` to `new`, naming the
    /// table's last entry, which the caller knows equals `metadata`; into
    /// an empty table, `metadata` is cloned first.
    #[inline(always)] // per change on the producers' path: not left to heuristics
    pub(crate) fn push_with_last(&mut self, variable: u32, old: V, new: V, metadata: &Metadata) {
        debug_assert!(self.metadata.last().is_none_or(|last| last == metadata));
        if self.metadata.is_empty() {
            self.metadata.push(metadata.clone());
        }
        self.push_naming_last(variable, old, new);
    }

    /// Appends a change naming the table's last entry (the table is not
    /// empty).
    #[inline]
    fn push_naming_last(&mut self, variable: u32, old: V, new: V) {
        self.changes.push(Queued {
            variable,
            old,
            new,
            metadata: self.metadata.len() - 1,
        });
    }

    /// Moves every change of `other` to the end of this queue, in order,
    /// leaving `other` empty: its metadata table follows this one's, its
    /// first entry shared with this one's last when they are equal.
    pub(crate) fn append(&mut self, other: &mut Queue<V>) {
        let shared = match (self.metadata.last(), other.metadata.first()) {
            (Some(last), Some(first)) if same(last, first) => 1,
            _ => 0,
        };
        let offset = self.metadata.len() - shared;
        self.changes
            .extend(other.changes.drain(..).map(|change| Queued {
                metadata: change.metadata + offset,
                ..change
            }));
        other.metadata.drain(..shared);
        self.metadata.append(&mut other.metadata);
    }

    /// Empties the queue, yielding each change with its own metadata: moved
    /// out of the table to the last change that names it, cloned for the
    /// ones before. (The table keeps placeholders until the iterator is
    /// dropped, which clears it.)
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Change<V>> + '_ {
        let Queue { changes, metadata } = self;
        let mut changes = changes.drain(..).peekable();
        let table = TableDrain(metadata);
        std::iter::from_fn(move || {
            let queued = changes.next()?;
            let last_user = changes
                .peek()
                .is_none_or(|next| next.metadata != queued.metadata);
            let metadata = match table.0.get_mut(queued.metadata) {
                Some(entry) if last_user => std::mem::replace(entry, MISSING.clone()),
                Some(entry) => entry.clone(),
                None => {
                    debug_assert!(false, "a queued change names missing metadata");
                    MISSING.clone()
                }
            };
            Some(Change {
                variable: queued.variable,
                old: queued.old,
                new: queued.new,
                metadata,
            })
        })
    }

    /// Drops every change and metadata, keeping the capacity.
    /// Removes the changes from `at` on, returned for the caller to drop
    /// (their metadata entries stay, unused).
    pub(crate) fn split_off(&mut self, at: usize) -> Vec<Queued<V>> {
        self.changes.split_off(at.min(self.changes.len()))
    }

    pub(crate) fn clear(&mut self) {
        self.changes.clear();
        self.metadata.clear();
    }
}

/// Clears a queue's metadata table when dropped (by `Queue::drain`).
struct TableDrain<'a>(&'a mut Vec<Metadata>);

impl Drop for TableDrain<'_> {
    fn drop(&mut self) {
        self.0.clear();
    }
}

/// Whether two metadata are equal (`==`), deciding without comparing the
/// sources' bytes when they are the same string, as clones of one
/// borrowed source are.
#[inline]
fn same(a: &Metadata, b: &Metadata) -> bool {
    a.timestamp == b.timestamp
        && a.session == b.session
        && ((a.source.as_ptr(), a.source.len()) == (b.source.as_ptr(), b.source.len())
            || a.source == b.source)
}

/// What a lookup outside the table returns, and the placeholder a drained
/// entry leaves; unreachable as metadata while the `Queue` invariant holds.
static MISSING: Metadata = Metadata {
    session: None,
    timestamp: SystemTime::UNIX_EPOCH,
    source: Cow::Borrowed(""),
};

/// The metadata `change` names in `table`, its queue's table.
pub(crate) fn metadata_of<'t, V>(table: &'t [Metadata], change: &Queued<V>) -> &'t Metadata {
    let found = table.get(change.metadata);
    debug_assert!(found.is_some(), "a queued change names missing metadata");
    found.unwrap_or(&MISSING)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(variable: u32, new: i32, metadata: &Metadata) -> Change<i32> {
        Change {
            variable,
            old: 0,
            new,
            metadata: metadata.clone(),
        }
    }

    #[test]
    fn equal_consecutive_metadata_is_kept_once() {
        let a = Metadata::new("a");
        let b = Metadata::new("b");
        let mut queue = Queue::new();
        for (variable, metadata) in [(0, &a), (1, &a), (2, &b), (3, &a), (4, &a)] {
            queue.push(change(variable, variable as i32, metadata));
        }
        assert_eq!(queue.len(), 5);
        assert_eq!(queue.metadata, [a.clone(), b.clone(), a.clone()]);
        let named: Vec<&Metadata> = queue
            .changes
            .iter()
            .map(|c| metadata_of(&queue.metadata, c))
            .collect();
        assert_eq!(named, [&a, &a, &b, &a, &a]);
        queue.clear();
        assert!(queue.is_empty() && queue.metadata.is_empty());
    }

    /// The changes of `queue` with their metadata, read through the table.
    fn read(queue: &Queue<i32>) -> Vec<(u32, i32, Metadata)> {
        queue
            .changes
            .iter()
            .map(|c| (c.variable, c.new, metadata_of(&queue.metadata, c).clone()))
            .collect()
    }

    #[test]
    fn append_rebases_and_shares_an_equal_boundary() {
        let (a, b, c) = (Metadata::new("a"), Metadata::new("b"), Metadata::new("c"));
        // Without sharing, the second would keep four entries.
        for (tail, expected_table) in [(&a, 3), (&b, 3)] {
            let mut queue = Queue::new();
            queue.push(change(0, 0, &a));
            queue.push(change(1, 1, tail));
            let mut other = Queue::new();
            other.push(change(2, 2, &b));
            other.push(change(3, 3, &c));
            queue.append(&mut other);
            assert!(other.is_empty() && other.metadata.is_empty());
            assert_eq!(queue.metadata.len(), expected_table, "tail {tail:?}");
            let expected = [(0, 0, &a), (1, 1, tail), (2, 2, &b), (3, 3, &c)]
                .map(|(v, n, m)| (v, n, m.clone()));
            assert_eq!(read(&queue), expected);
        }
        let mut empty = Queue::new();
        let mut other = Queue::new();
        other.push(change(5, 5, &c));
        empty.append(&mut other);
        assert_eq!(read(&empty), [(5, 5, c.clone())]);
    }

    #[test]
    fn drain_gives_every_change_its_own_metadata() {
        let (a, b) = (Metadata::new("a"), Metadata::new("b"));
        let mut queue = Queue::new();
        let sent = [(0, &a), (1, &a), (2, &b), (3, &a), (4, &a), (5, &a)];
        for (v, m) in sent {
            queue.push(change(v, v as i32, m));
        }
        let drained: Vec<(u32, i32, Metadata)> = queue
            .drain()
            .map(|c| (c.variable, c.new, c.metadata))
            .collect();
        assert_eq!(drained, sent.map(|(v, m)| (v, v as i32, m.clone())));
        assert!(queue.is_empty() && queue.metadata.is_empty());
        // Dropped part-way, the drain still empties the queue.
        queue.push(change(0, 0, &a));
        queue.push(change(1, 1, &b));
        assert_eq!(queue.drain().next().map(|c| c.metadata), Some(a));
        assert!(queue.is_empty() && queue.metadata.is_empty());
    }

    #[test]
    fn same_is_equality() {
        let base = Metadata::new("src");
        let owned = Metadata {
            source: String::from("src").into(),
            ..base.clone()
        };
        let other = Metadata {
            source: "srd".into(),
            ..base.clone()
        };
        for (x, y) in [(&base, &base), (&base, &owned), (&base, &other)] {
            assert_eq!(same(x, y), x == y, "{x:?} vs {y:?}");
        }
    }

    #[test]
    fn metadata_differing_only_in_session_or_time_is_kept_apart() {
        let base = Metadata::new("src");
        let tagged = base.clone().with_session(crate::SessionId(1));
        let later = Metadata {
            timestamp: base.timestamp + std::time::Duration::from_nanos(1),
            ..base.clone()
        };
        let mut queue = Queue::new();
        for metadata in [&base, &tagged, &later] {
            queue.push(change(0, 1, metadata));
        }
        assert_eq!(queue.metadata, [base, tagged, later]);
    }
}
