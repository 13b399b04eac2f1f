//! The integration tests, one module per concern, in one binary: the engine
//! is compiled into a test binary once, not once per file. The tests that
//! measure the heap or `tracing` need a process to themselves and live in
//! `tests/isolated`.
//!
//! ```sh
//! cargo test --test suite               # all of them
//! cargo test --test suite channel::     # one module
//! ```

mod bad_input;
mod basics;
mod bulk;
mod channel;
mod driver;
mod failures;
mod introspection;
#[cfg(feature = "serde")]
mod json;
mod liveness;
mod metadata;
mod model;
mod notify_many;
mod policies;
mod reclaim;
mod reentrancy;
mod registration;
mod remove_many;
mod storage;
mod store;
mod stress;
mod wide_ticks;
