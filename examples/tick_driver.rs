//! The tick driver: a manager ticked by a background thread, for a program
//! without a loop of its own.
//!
//! An on-demand driver ticks as soon as changes arrive; a watcher on another
//! thread prints them as they come. Then a fixed-rate driver ticks a few
//! times on its own, and shutdown delivers what is left and reports.
//!
//! ```text
//! cargo run --example tick_driver
//! ```

use std::error::Error;
use std::thread;
use std::time::{Duration, Instant};

use observer_manager::{Capacity, Metadata, ObserverManager, Schedule, TickDriver};

fn main() -> Result<(), Box<dyn Error>> {
    on_demand()?;
    fixed_rate()?;
    Ok(())
}

/// Changes arrive now and then; each is delivered within a poll interval.
fn on_demand() -> Result<(), Box<dyn Error>> {
    let driver = TickDriver::spawn(ObserverManager::<i32>::new(), Schedule::OnDemand)?;
    let notifier = driver.notifier();
    // Registered at once, on the driver thread.
    let watcher = driver.with_manager(|manager| manager.watch("door", Capacity::Unbounded))??;

    let started = Instant::now();
    let printer = thread::spawn(move || {
        for n in &watcher {
            println!(
                "  [{:>6.1?}] {} {} -> {}",
                started.elapsed(),
                n.name,
                n.old,
                n.new
            );
        }
    });
    for (old, new) in [(0, 1), (1, 0), (0, 1)] {
        notifier.notify("door", old, new, Metadata::new("sensor"))?;
        thread::sleep(Duration::from_millis(20));
    }

    println!("on demand: {:?}", driver);
    let stats = driver.shutdown()?; // drops the manager: the printer's stream ends
    printer.join().map_err(|_| "printer panicked")?;
    println!(
        "on demand: {} ticks for {} changes",
        stats.ticks, stats.changes_delivered
    );
    Ok(())
}

/// A 10 ms metronome; shutdown delivers the changes that came after the last tick.
fn fixed_rate() -> Result<(), Box<dyn Error>> {
    let schedule = Schedule::FixedRate(Duration::from_millis(10));
    let driver = TickDriver::spawn(ObserverManager::<u64>::new(), schedule)?;
    let notifier = driver.notifier();
    let watcher = notifier.watch("load", 1024)?; // registered at the next tick

    for step in 0..5u64 {
        notifier.notify("load", step, step + 1, Metadata::new("probe"))?;
        thread::sleep(Duration::from_millis(7));
    }
    let last = driver.last_report().map_or(0, |r| r.tick);
    println!("fixed rate: {last} ticks so far");

    let stats = driver.shutdown()?;
    let received: Vec<u64> = watcher.iter().map(|n| n.new).collect();
    println!(
        "fixed rate: {} ticks, {} changes received, {} delivered, {} pending; watcher saw {:?}",
        stats.ticks,
        stats.changes_received,
        stats.changes_delivered,
        stats.changes_pending,
        received
    );
    Ok(())
}
