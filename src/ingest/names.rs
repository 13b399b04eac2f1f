//! How users name a variable: by id or by string, borrowed or owned.

use std::sync::Arc;

use crate::ids::VariableId;

/// Longest variable name accepted, in bytes.
pub const MAX_VARIABLE_NAME_LEN: usize = 1024;

/// A variable named by id or by string; every method that takes a variable
/// accepts `VariableId`, `&str`, `&String`, `String`, `Arc<str>` and
/// `&Arc<str>`.
///
/// An id skips hashing and is the fast path; a name is looked up (and, where
/// the method registers or notifies, interned) on each call. An owned name
/// is kept as an `Arc<str>`, which a new variable then shares.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use observer_manager::{Metadata, ObserverManager};
///
/// let manager = ObserverManager::<u32>::new();
/// let meta = Metadata::default();
/// let cell = manager.variable("cell0")?;
/// for i in 0..3 {
///     manager.notify(format!("cell{i}"), 0, 1, meta.clone())?; // String
/// }
/// let shared: Arc<str> = Arc::from("cell1");
/// manager.notify(&shared, 1, 2, meta.clone())?; // &Arc<str>
/// manager.notify(cell, 1, 2, meta)?; // VariableId
/// assert_eq!(manager.pending_changes(), 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VariableRef<'a> {
    /// An interned id.
    Id(VariableId),
    /// A borrowed name.
    Name(&'a str),
    /// An owned name.
    Shared(Arc<str>),
}

impl VariableRef<'_> {
    /// This variable as the engine reads it: borrowed, and `Copy`.
    #[inline]
    pub(crate) fn as_var(&self) -> Var<'_> {
        match self {
            VariableRef::Id(id) => Var::Id(*id),
            VariableRef::Name(name) => Var::Name(name),
            VariableRef::Shared(name) => Var::Name(name),
        }
    }
}

/// A variable as the engine's lookups take it; [`VariableRef`] is what
/// users hand in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Var<'a> {
    Id(VariableId),
    Name(&'a str),
}

impl From<VariableId> for VariableRef<'_> {
    fn from(id: VariableId) -> Self {
        VariableRef::Id(id)
    }
}

impl<'a> From<&'a str> for VariableRef<'a> {
    fn from(name: &'a str) -> Self {
        VariableRef::Name(name)
    }
}

impl<'a> From<&'a String> for VariableRef<'a> {
    fn from(name: &'a String) -> Self {
        VariableRef::Name(name)
    }
}

impl From<String> for VariableRef<'_> {
    fn from(name: String) -> Self {
        VariableRef::Shared(Arc::from(name))
    }
}

impl From<Arc<str>> for VariableRef<'_> {
    fn from(name: Arc<str>) -> Self {
        VariableRef::Shared(name)
    }
}

impl<'a> From<&'a Arc<str>> for VariableRef<'a> {
    fn from(name: &'a Arc<str>) -> Self {
        VariableRef::Name(name)
    }
}
