//! System 3: drain the inbox and group the changes by variable.

use std::ops::Range;

use crate::ingest::inbox::{Inbox, InboxCounts};
use crate::ingest::queue::{Queue, Queued};

/// The changes of one variable: a run of the tick's sorted change list.
#[derive(Clone, Debug)]
pub(crate) struct Batch {
    pub(crate) variable: u32,
    pub(crate) changes: Range<usize>,
}

/// Moves the queued changes into `queue` (empty on entry), sorted by
/// variable with submission order kept within each variable, and describes
/// each variable's run in `batches`.
pub(crate) fn collect<V: PartialEq>(
    inbox: &Inbox<V>,
    queue: &mut Queue<V>,
    batches: &mut Vec<Batch>,
) -> InboxCounts {
    let counts = inbox.drain(queue);
    let changes = &mut queue.changes;
    // Producers usually report in variable order: then one pass groups.
    if !group(changes, batches) {
        // Stable: the order of one variable's changes is submission order.
        changes.sort_by_key(|c| c.variable);
        let grouped = group(changes, batches);
        debug_assert!(grouped, "sorted changes group in one pass");
    }
    counts
}

/// Describes each variable's run of `changes` in `batches`, in one pass;
/// `false` (with `batches` partial) at the first change whose variable is
/// lower than the one before it.
fn group<V>(changes: &[Queued<V>], batches: &mut Vec<Batch>) -> bool {
    batches.clear();
    let mut start = 0;
    while let Some(first) = changes.get(start) {
        if batches
            .last()
            .is_some_and(|last| last.variable > first.variable)
        {
            return false;
        }
        let variable = first.variable;
        let len = changes[start..]
            .iter()
            .take_while(|c| c.variable == variable)
            .count();
        batches.push(Batch {
            variable,
            changes: start..start + len,
        });
        start += len;
    }
    true
}
