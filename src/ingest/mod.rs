//! Ingest: what producers hand in, and where it waits for the tick.
//!
//! A change ([`change`]) names its variable by id or string ([`names`]); the
//! [`interner`] turns names into dense ids; a batch's variables are gathered
//! outside its lock ([`pending`]); the [`inbox`] holds changes and deferred
//! commands until the tick takes them into its [`queue`].

pub(crate) mod change;
pub(crate) mod inbox;
pub(crate) mod interner;
pub(crate) mod names;
pub(crate) mod pending;
pub(crate) mod queue;
pub(crate) mod registration;
pub(crate) mod shared;
