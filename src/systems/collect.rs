//! System 3: drain the inbox and group the changes by variable.

use std::ops::Range;

use crate::change::Change;
use crate::inbox::{Inbox, InboxCounts};

/// The changes of one variable: a run of the tick's sorted change list.
#[derive(Clone, Debug)]
pub(crate) struct Batch {
    pub(crate) variable: u32,
    pub(crate) changes: Range<usize>,
}

/// Moves the queued changes into `changes` (empty on entry), sorted by
/// variable with submission order kept within each variable, and describes
/// each variable's run in `batches`.
pub(crate) fn collect<V: PartialEq>(
    inbox: &Inbox<V>,
    changes: &mut Vec<Change<V>>,
    batches: &mut Vec<Batch>,
) -> InboxCounts {
    batches.clear();
    let counts = inbox.drain(changes);
    if !changes.is_sorted_by_key(|c| c.variable) {
        // Stable: the order of one variable's changes is submission order.
        changes.sort_by_key(|c| c.variable);
    }
    let mut start = 0;
    while start < changes.len() {
        let variable = changes[start].variable;
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
    counts
}
