//! A registration request: what the `Observe` builder hands on.

use crate::ids::CallbackId;
use crate::ingest::change::Change;
use crate::ingest::names::VariableRef;
use crate::observers::callbacks::Callback;
use crate::owners::Owner;
use crate::policy::Policy;

/// A private closure, or a registered callback that many observers share.
pub(crate) enum CallbackChoice<V> {
    Private(Callback<V>),
    Shared(CallbackId),
}

/// Everything an `Observe` builder was given, handed to the manager (to add
/// at once) or to its shared state (to queue for the next tick).
pub(crate) struct Registration<'a, V> {
    pub(crate) var: VariableRef<'a>,
    pub(crate) owner: &'a Owner,
    pub(crate) policy: Option<Policy<V>>,
    /// The primed change; its variable is set once the variable is resolved.
    pub(crate) prime: Option<Change<V>>,
    pub(crate) callback: CallbackChoice<V>,
}
