//! Carry [`observer_manager`] changes between processes and machines over
//! [Zenoh](https://zenoh.io).
//!
//! A producer process reports changes to a [`Publisher`] as it would to a
//! [`Notifier`](observer_manager::Notifier), and flushes once per tick: one
//! message per shard. A consumer attaches a [`Subscriber`] to its
//! [`ObserverManager`](observer_manager::ObserverManager); it subscribes to
//! the shards holding the variables the manager's observers watch, and
//! pushes what arrives into the manager's inbox, so remote changes are
//! delivered at the next `tick()` exactly like local ones.
//!
//! ```no_run
//! use observer_manager::ObserverManager;
//! use observer_manager_zenoh::{
//!     Layout, Publisher, PublisherConfig, Subscriber, SubscriberConfig, loopback_config,
//! };
//! use zenoh::Wait;
//!
//! let layout = Layout::new("sim", 8)?;
//! // The consumer listens, the producer connects (loopback only).
//! let consumer = zenoh::open(loopback_config(Some(7447), &[])?).wait()?;
//! let producer = zenoh::open(loopback_config(None, &[7447])?).wait()?;
//!
//! let mut manager = ObserverManager::<u64>::new();
//! let owner = manager.owner();
//! manager.observe("fuel", &owner).callback(|n| println!("fuel {} -> {}", n.old, n.new)).add()?;
//! let mut subscriber = Subscriber::new(&consumer, &manager, SubscriberConfig::new(layout.clone()))?;
//! subscriber.sync(&manager)?; // once per tick, before tick()
//!
//! let mut publisher = Publisher::<u64>::new(&producer, PublisherConfig::new(layout))?;
//! publisher.notify("fuel", &100, &99)?;
//! publisher.flush(1)?;
//! // ... a moment later, in the consumer:
//! subscriber.sync(&manager)?;
//! manager.tick();
//! assert_eq!(subscriber.stats().gaps, 0);
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! # Keys
//!
//! A [`Layout`] maps a variable name to a shard (a stable hash modulo the
//! shard count) and a shard to the key `<namespace>/<shard>`. Names travel
//! on the wire; variable ids are local to a manager. Producers' liveliness
//! tokens live at `<namespace>/producer/<id>`.
//!
//! # Delivery
//!
//! The rules, stated once (details on [`Publisher`] and [`Subscriber`]):
//!
//! - **Order**: one producer's changes are delivered in the order it
//!   reported them; two producers have no order between them.
//! - **Loss**: the publisher never drops a change unless configured to
//!   ([`Overflow::DropBatch`], counted); zenoh is used with reliable,
//!   blocking congestion control. A message that still goes missing shows
//!   as a gap in [`BridgeStats::gaps`].
//! - **Duplicates**: none are pushed; a repeated or stale sequence number
//!   is dropped and counted.
//! - **Death**: a producer that dies is counted in
//!   [`BridgeStats::producers_lost`]; everything it sent before is
//!   delivered; what it had buffered but not flushed is gone.
//! - **Overload**: remote changes enter the manager's inbox, so its
//!   capacity and coalescing rules apply and are counted by the manager.
//! - **Bad input**: anything on the wire is untrusted; [`wire::decode`]
//!   checks size, version and counts against [`Limits`] before allocating;
//!   what fails is counted, warned about with `tracing`, and dropped.
//!
//! # Lockstep
//!
//! Opt-in, for simulations that must be reproducible across processes:
//! with [`PublisherConfig::lockstep`] and [`SubscriberConfig::lockstep`],
//! [`Subscriber::deliver_tick`] waits (bounded, with a timeout error) until
//! every live producer has flushed a tick, then delivers its changes in a
//! fixed order (producer id, then tick, shard and submission order).
//!
//! # Threads
//!
//! The bridge uses zenoh's blocking API (`Wait`) and zenoh's own thread
//! pools; it needs no async runtime, and must not be driven from inside a
//! single-threaded tokio runtime (zenoh panics there).
//!
//! # Telemetry
//!
//! Warnings (decode errors, dropped batches, lost producers, misrouted
//! changes) use the target [`TRACE_TARGET`]. The library only emits.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, unreachable_pub)]

// Modules are private except `wire`, whose format is a public contract for
// other transports; the public names are re-exported flat below.
mod config;
mod error;
mod layout;
mod lockstep;
mod publisher;
mod stats;
mod subscriber;
pub mod wire;

pub use config::loopback_config;
pub use error::{ConfigError, DeclareError, PublishError};
pub use layout::Layout;
pub use lockstep::{LockstepError, LockstepReport};
pub use publisher::{FlushReport, Overflow, PublishCounts, Publisher, PublisherConfig};
pub use stats::{BridgeStats, PublisherStats};
pub use subscriber::{Subscriber, SubscriberConfig, SyncReport};
pub use wire::{DecodeError, EncodeError, Limits, ProducerId};

/// The `tracing` target of every event this crate emits.
pub const TRACE_TARGET: &str = "observer_manager_zenoh";
