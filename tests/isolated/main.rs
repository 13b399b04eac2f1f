//! The tests that need the process to themselves, in one binary; every
//! other test is in `tests/suite`. Each test here holds `common::serial()`
//! for its whole run, so they run one at a time:
//!
//! - the heap measurements (`leaks`, `names`, `overload`): a process has one heap,
//!   counted by this binary's global allocator (`ALLOCATOR`, a
//!   `CountingAlloc`, read through `common`);
//! - the `tracing` output (`telemetry`): `tracing` caches per call site
//!   whether anyone listens, process-wide, so a test that installs a
//!   subscriber must not race other threads' first events.
//!
//! ```sh
//! cargo test --test isolated -- --nocapture   # with each test's figures
//! ```

mod common;
mod leaks;
mod names;
mod overload;
mod telemetry;

#[global_allocator]
static ALLOCATOR: observer_manager_support::CountingAlloc =
    observer_manager_support::CountingAlloc::new();
