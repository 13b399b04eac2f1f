//! What observer-manager's tests, benches, examples and peer harness share,
//! so each is written once: a counting global allocator ([`CountingAlloc`]),
//! per-thread call counters for callback bodies ([`Counters`]) and a seeded
//! generator ([`SplitMix64`]).
//!
//! Not published. The library itself forbids `unsafe`; the allocator here
//! is the one `unsafe impl`, forwarding every call to `System` unchanged.

#![deny(missing_docs)]

mod alloc;
mod counters;
mod rng;

pub use alloc::CountingAlloc;
pub use counters::Counters;
pub use rng::SplitMix64;
