//! `SessionStore::set` with 0 or 100 000 observers on the variable, for an
//! instruction count that a noisy machine cannot blur:
//!
//! ```sh
//! cargo build --profile bench -p peers --example store_set
//! for n in 0 100000; do
//!   valgrind --tool=callgrind --callgrind-out-file=set.$n \
//!     target/release/examples/store_set $n
//!   callgrind_annotate --inclusive=yes set.$n | grep 'SessionStore<V>>::set'
//! done
//! ```
//!
//! It sets the variable [`SETS`] times in rounds of [`ROUND`], ticking
//! between rounds so the inbox never fills (the last round is not ticked:
//! only `set` is of interest, and under callgrind a tick that calls 100 000
//! observers per change is slow).

use observer_manager::{Config, ObserverManager, SessionId, SessionStore};

const SETS: u64 = 10_000;
const ROUND: u64 = 1_000;

fn main() {
    let observers: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: store_set OBSERVERS");
            std::process::exit(2);
        }
    };
    let config = Config::default().parallel_threshold(usize::MAX);
    let mut manager = ObserverManager::<Option<u64>>::with_config(config).expect("valid config");
    let store = SessionStore::new(manager.notifier());
    let owner = manager.owner();
    let callback = manager.register_callback(|_| {});
    let session = SessionId(1);
    let id = store.variable(session, "score").expect("valid name");
    for _ in 0..observers {
        manager
            .observe(id, &owner)
            .shared(callback)
            .add()
            .expect("registered");
    }
    store.set(session, "score", 0).expect("manager alive");
    manager.tick();
    for value in 1..=SETS {
        store.set(session, "score", value).expect("manager alive");
        if value % ROUND == 0 && value < SETS {
            manager.tick();
        }
    }
    println!("{SETS} sets with {observers} observers");
}
