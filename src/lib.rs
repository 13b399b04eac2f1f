//! Deliver "variable changed" notifications to very many observers, once per tick.
//!
//! Producers report changes (variable, old value, new value, metadata) from
//! any thread through a [`Notifier`]; nothing runs until the owner of the
//! [`ObserverManager`] calls [`tick`](ObserverManager::tick), which delivers
//! every queued change to every live observer of its variable, in parallel.
//! It trades immediacy (delivery waits for the tick) for throughput: a
//! `notify` costs the same whether a million observers watch or none.
//!
//! ```
//! use std::sync::atomic::{AtomicI64, Ordering};
//! use std::sync::Arc;
//! use observer_manager::{Metadata, ObserverManager};
//!
//! let mut manager = ObserverManager::<i64>::new();
//! let owner = manager.owner(); // observers live as long as their owner
//! let total = Arc::new(AtomicI64::new(0));
//! for _ in 0..10 {
//!     let total = Arc::clone(&total);
//!     manager
//!         .observe("score", &owner)
//!         .callback(move |n| {
//!             total.fetch_add(n.new - n.old, Ordering::Relaxed);
//!         })
//!         .add()?;
//! }
//! manager.notify("score", 0, 5, Metadata::new("game"))?;
//! let report = manager.tick();
//! assert_eq!(report.notifications, 10);
//! assert_eq!(total.load(Ordering::Relaxed), 50);
//!
//! drop(owner); // its observers receive nothing more and are swept next tick
//! assert_eq!(manager.tick().observers_swept, 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Delivery semantics
//!
//! - **When**: a change accepted before tick `T` starts is delivered in `T`
//!   to every observer of its variable alive when `T`'s dispatch starts.
//!   What callbacks report during a tick is delivered in the next one.
//! - **Exactly once, in order**: each such observer receives each change
//!   once, and the changes of one variable in submission order.
//! - **Unchanged values**: a change with `old == new` is refused by `notify`
//!   and counted in [`Stats::changes_skipped`]. (So a `NaN -> NaN` float
//!   change *is* delivered: `NaN != NaN`.)
//! - **Coalescing**: past [`Config::inbox_capacity`] queued changes, each
//!   variable keeps one pending change (first old value, last new value);
//!   every change merged away is counted in [`Stats::changes_coalesced`].
//! - **Dead owners**: once an [`Owner`] is dropped or killed, its observers
//!   receive nothing from the next tick on, and that tick despawns them.
//! - **Panics**: a panicking callback is caught; other observers are not
//!   affected; the panic is counted per observer and globally, and reported
//!   with a `tracing` warning. (The process's panic hook still runs.)
//!
//! # Registration
//!
//! Through the manager (`&mut self`), registration and removal take effect
//! at once. Through a [`Notifier`] (any thread, callbacks included) they are
//! queued and applied at the start of the next tick. A callback registered
//! once with [`ObserverManager::register_callback`] can serve many observers.
//!
//! # Beyond plain callbacks
//!
//! - **Policies** ([`Policy`]): deliver once, at most every N ticks (merged,
//!   the latest change wins), or when a filter on `(old, new)` passes;
//!   everything held back is counted in `notifications_withheld`.
//! - **Primed registration** ([`Observe::primed`]): a
//!   late watcher receives the current value first, at its first tick.
//! - **Channel watchers** ([`Watcher`]): notifications through a channel
//!   instead of a callback; dropping the receiver ends the observer.
//! - **Tick driver** ([`TickDriver`]): ticks on a background thread at a
//!   fixed rate or on demand, with a draining shutdown.
//! - **Quarantine** ([`Config::quarantine_after`]): an observer that keeps
//!   panicking stops being called, and stays visible in `inspect_variable`.
//! - **Deterministic mode** ([`Config::deterministic`]): the same call order
//!   on every run, whatever the thread count.
//! - **`serde`** (feature): `Serialize` for [`Stats`], [`TickReport`] and
//!   [`VariableReport`], to log them as JSON.
//!
//! # Telemetry
//!
//! With target [`TRACE_TARGET`], each tick opens an `info` span `tick` with
//! fields `tick`, `notifications`, `swept`, `panics`, and one `debug` span per
//! system (`apply`, `sweep`, `collect`, `dispatch`, `account`); `debug`
//! events report sweeps and dispatches, `warn` events panics. The library
//! only emits: the application picks the subscriber.
//!
//! # Costs
//!
//! `notify` is one short lock and a push: independent of observer count.
//! [`Notifier::notify_many`] and [`Notifier::notify_batch`] report a batch
//! with one lock per 64 changes; the queue keeps a run of equal metadata
//! once, so a step stamped with one metadata (what `notify_batch` takes)
//! costs a few words per change.
//! A tick costs time in proportion to the notifications it delivers and the
//! observers it sweeps, not to the observers that sit idle; the full
//! liveness scan every [`Config::sweep_every`] ticks costs in proportion to
//! owners, not observers.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, unreachable_pub)]

// Modules are private; the public names are re-exported flat below, so
// files can move without breaking users. The folders are the design:
// `manager` and `notifier` the facade, `ingest` what producers hand in,
// `observers` the observer store, `systems` the tick, and the extras
// `channel`, `driver` and `session_store`.
mod channel;
mod config;
mod driver;
mod error;
mod failure;
mod ids;
mod ingest;
mod manager;
mod notifier;
mod observe;
mod observers;
mod owners;
mod policy;
mod session_store;
mod stats;
mod systems;

pub use channel::{Capacity, OwnedNotification, WatchError, WatchIter, WatchTryIter, Watcher};
pub use config::Config;
pub use driver::{
    DRAIN_TICK_LIMIT, DriverError, ON_DEMAND_POLL_INTERVAL, Schedule, SpawnDriverError,
    SpawnFailure, TickDriver,
};
pub use error::{
    AddObserverError, ConfigError, NotifyError, NotifyManyError, RemoveObserverError,
    UnregisterCallbackError, VariableError,
};
pub use failure::{CallbackError, route_callback_panics_to_tracing};
pub use ids::{CallbackId, ObserverId, OwnerId, VariableId};
pub use ingest::change::{Metadata, Notification, NotifyCounts, NotifyOutcome, SessionId};
pub use ingest::names::{MAX_VARIABLE_NAME_LEN, VariableRef};
pub use manager::ObserverManager;
pub use manager::inspect::{ObserverReport, VariableReport};
pub use notifier::Notifier;
pub use observe::{NoCallback, Observe, WithCallback};
pub use owners::Owner;
pub use policy::{Filter, Policy};
pub use session_store::{SessionStore, StoreError};
pub use stats::{Stats, SystemTimings, TickReport};

/// The `tracing` target of every span and event this crate emits.
pub const TRACE_TARGET: &str = "observer_manager";

/// Compiles the README's quickstart as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
