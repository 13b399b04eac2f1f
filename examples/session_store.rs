//! A session store wired to the manager: every write is a change.
//!
//! Two player sessions are written by their own threads while the main
//! thread ticks. A scoreboard watches both scores; a late spectator joins
//! primed with the current value; then one player leaves: its session is
//! deleted, the scoreboard sees the deletion (`Some(last) -> None`), and the
//! tick after that removes the observers of the deleted variables.
//!
//! ```text
//! cargo run --example session_store
//! ```

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use observer_manager::{Notification, ObserverManager, Policy, SessionId, SessionStore};

/// Points each player scores, one `set` per point.
const POINTS: i64 = 500;
const PLAYERS: [SessionId; 2] = [SessionId(1), SessionId(2)];

/// Prints a notification: variable, old -> new, session and age.
fn describe(who: &str, n: &Notification<'_, Option<i64>>) -> String {
    let age = SystemTime::now()
        .duration_since(n.metadata.timestamp)
        .unwrap_or(Duration::ZERO);
    format!(
        "{who}: {} {:?} -> {:?} (session {:?}, source {:?}, {age:?} ago)",
        n.name, n.old, n.new, n.metadata.session, n.metadata.source,
    )
}

fn main() -> Result<(), Box<dyn Error>> {
    // The manager holds Option<i64>: None means "no such variable".
    let mut manager = ObserverManager::<Option<i64>>::new();
    let store = SessionStore::with_source(manager.notifier(), "game-store");
    let owner = manager.owner();

    // The scoreboard counts score changes and remembers the last line.
    let board = Arc::new(Mutex::new((0u64, String::new())));
    for player in PLAYERS {
        let board = Arc::clone(&board);
        store.observe(player, "score", &owner, Policy::new(), move |n| {
            let mut board = board.lock().unwrap();
            board.0 += 1;
            board.1 = describe("scoreboard", n);
        })?;
    }

    thread::scope(|scope| -> Result<(), Box<dyn Error>> {
        let writers: Vec<_> = PLAYERS
            .iter()
            .map(|&player| {
                let store = store.clone();
                scope.spawn(move || {
                    store.set(player, "hp", 100).unwrap();
                    for point in 1..=POINTS {
                        store.set(player, "score", point).unwrap();
                    }
                })
            })
            .collect();
        let mut ticks = 0;
        while writers.iter().any(|w| !w.is_finished()) {
            let report = manager.tick();
            ticks += u64::from(report.notifications > 0);
        }
        println!("{ticks} ticks delivered while the players wrote");
        Ok(())
    })?;
    manager.tick();
    {
        let board = board.lock().unwrap();
        println!(
            "scoreboard saw {} score changes; last: {}",
            board.0, board.1
        );
    }

    // A spectator joins late: primed, it starts from the current value.
    let spectator = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&spectator);
    store.observe_primed(PLAYERS[0], "score", &owner, Policy::new(), move |n| {
        sink.lock().unwrap().push(describe("spectator", n));
    })?;
    manager.tick();
    store.set(PLAYERS[0], "score", POINTS + 1)?;
    manager.tick();
    for line in spectator.lock().unwrap().iter() {
        println!("{line}");
    }

    // Player 2 leaves: its variables are deleted and their observers cleaned up.
    let name = store.variable_name(PLAYERS[1], "score");
    let deleted = store.delete_session(PLAYERS[1])?;
    println!("deleted {deleted} variables of {:?}", PLAYERS[1]);
    manager.tick(); // delivers the deletions
    println!("{}", board.lock().unwrap().1);
    println!("observers of {name}: {}", manager.observer_count(&name));
    manager.tick(); // removes their observers
    println!(
        "observers of {name} a tick later: {}",
        manager.observer_count(&name)
    );
    println!("sessions left: {:?}", store.sessions());
    Ok(())
}
