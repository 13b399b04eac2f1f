//! The engine's telemetry, printed by a `tracing-subscriber` formatter.
//!
//! The library only emits; the application installs a subscriber. With
//! target `observer_manager` (`TRACE_TARGET`), each tick opens an `info`
//! span `tick` (fields `tick`, `notifications`, `swept`, `panics`, the last
//! three recorded when the tick ends) and a `debug` span per system
//! (`apply`, `sweep`, `collect`, `dispatch`, `account`); `debug` events
//! report sweeps and dispatches, `warn` events caught panics.
//!
//! This example filters to that target at `debug` and prints each span as
//! it closes, with its busy time. It runs four ticks: plain deliveries, a
//! panicking callback, a sweep of a dropped owner, and an idle tick. Only
//! `tracing-subscriber`'s default features are used (`fmt`, `Targets`).
//!
//! ```text
//! cargo run --example telemetry
//! ```

use std::error::Error;
use std::io::IsTerminal;

use observer_manager::{Metadata, ObserverManager, TRACE_TARGET};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(true)
                .with_ansi(std::io::stdout().is_terminal())
                .with_span_events(FmtSpan::CLOSE),
        )
        .with(Targets::new().with_target(TRACE_TARGET, Level::DEBUG))
        .init();
    // Callback panics go to `tracing` (the engine's `warn` event, with the
    // panic's message and location) instead of the panic hook; any other
    // panic in this program still reaches the default hook.
    observer_manager::route_callback_panics_to_tracing();

    let mut manager = ObserverManager::<u64>::new();
    let owner = manager.owner();
    let doomed = manager.owner();
    for _ in 0..3 {
        manager.observe("load", &owner).callback(|_| {}).add()?;
    }
    manager.observe("load", &doomed).callback(|_| {}).add()?;
    manager
        .observe("alarm", &owner)
        .callback(|n| {
            assert!(*n.new < 100, "alarm callback gave up");
        })
        .add()?;

    println!("-- tick 1: one change, four observers");
    manager.notify("load", 0, 40, Metadata::new("sensor"))?;
    manager.tick();

    println!("-- tick 2: a callback panics; caught, counted, reported");
    manager.notify("alarm", 0, 150, Metadata::new("sensor"))?;
    manager.tick();

    println!("-- tick 3: an owner was dropped; its observer is swept");
    drop(doomed);
    manager.notify("load", 40, 45, Metadata::new("sensor"))?;
    manager.tick();

    println!("-- tick 4: nothing queued");
    let report = manager.tick();
    println!("last report: {report:?}");
    Ok(())
}
