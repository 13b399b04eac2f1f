//! The variables of one chunk of a producer's batch, gathered outside the
//! interner's lock and resolved under it in one pass.

use smallvec::SmallVec;

use crate::ids::{ManagerTag, VariableId};
use crate::ingest::inbox::Chunk;
use crate::ingest::names::{Var, VariableRef};

/// Entries at most: one per change of an inbox chunk.
pub(crate) const CAPACITY: usize = Chunk::<()>::CAPACITY;

/// Up to [`CAPACITY`] variables in order: an id as its index and generation
/// (its manager checked on the way in), a name apart with its position.
/// Invariant: `names` ascends by position, every position below `len`.
pub(crate) struct Pending<'a> {
    ids: [(u32, u32); CAPACITY],
    names: SmallVec<[(usize, VariableRef<'a>); 4]>,
    len: usize,
}

impl<'a> Pending<'a> {
    pub(crate) fn new() -> Self {
        Pending {
            ids: [(0, 0); CAPACITY],
            names: SmallVec::new(),
            len: 0,
        }
    }

    /// Adds `var`, which must be an id of the resolving manager or a name;
    /// `self` must not be full.
    #[inline]
    pub(crate) fn push(&mut self, var: VariableRef<'a>) {
        match var {
            VariableRef::Id(id) => self.ids[self.len] = (id.index, id.generation),
            name => self.push_name(name),
        }
        self.len += 1;
    }

    /// A name's entry, kept out of line so that the path of ids stays small
    /// enough to inline into the batch loop.
    #[cold]
    #[inline(never)]
    fn push_name(&mut self, name: VariableRef<'a>) {
        self.names.push((self.len, name));
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every entry is an id.
    pub(crate) fn ids_only(&self) -> bool {
        self.names.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.names.clear();
        self.len = 0;
    }

    /// The entries in order, ids completed with `manager`'s tag.
    pub(crate) fn iter(&self, manager: ManagerTag) -> impl Iterator<Item = Var<'_>> + '_ {
        let mut names = self.names.iter().peekable();
        (0..self.len).map(move |at| match names.next_if(|(named, _)| *named == at) {
            Some((_, name)) => name.as_var(),
            None => {
                let (index, generation) = self.ids[at];
                Var::Id(VariableId {
                    index,
                    generation,
                    manager,
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_back_in_order_with_names_in_place() {
        let manager = ManagerTag::fresh();
        let id = |index| VariableId {
            index,
            generation: index + 1,
            manager,
        };
        let mut pending = Pending::new();
        pending.push(VariableRef::Name("a"));
        pending.push(VariableRef::Id(id(7)));
        pending.push(VariableRef::Name("b"));
        pending.push(VariableRef::Id(id(9)));
        assert!(!pending.ids_only());
        pending.push(VariableRef::from(String::from("c")));
        let back: Vec<_> = pending.iter(manager).collect();
        assert_eq!(
            back,
            [
                Var::Name("a"),
                Var::Id(id(7)),
                Var::Name("b"),
                Var::Id(id(9)),
                Var::Name("c"),
            ]
        );
        pending.clear();
        pending.push(VariableRef::Id(id(3)));
        assert!(pending.ids_only());
        assert_eq!(pending.iter(manager).collect::<Vec<_>>(), [Var::Id(id(3))]);
    }
}
