//! Helpers shared by the integration tests: loopback sessions on ports that
//! cannot collide, and bounded waits.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use observer_manager_zenoh::loopback_config;
use zenoh::{Session, Wait};

/// A port the kernel just handed out on 127.0.0.1 (free when returned).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A session listening on `tcp/127.0.0.1:<port>` (loopback, no scouting).
pub fn listening(port: u16) -> Session {
    zenoh::open(loopback_config(Some(port), &[]).expect("config"))
        .wait()
        .expect("open the listening session")
}

/// A session connected to `tcp/127.0.0.1:<port>` (loopback, no scouting).
pub fn connected(port: u16) -> Session {
    zenoh::open(loopback_config(None, &[port]).expect("config"))
        .wait()
        .expect("open the connecting session")
}

/// Polls `done` every millisecond until it holds or `limit` passes;
/// returns whether it held.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    done()
}

/// Waits (bounded) until `publisher` sees a subscriber on every shard in
/// `shards`.
pub fn wait_matched<V: serde::Serialize + PartialEq>(
    publisher: &observer_manager_zenoh::Publisher<V>,
    shards: &[u32],
) {
    let matched = wait_until(Duration::from_secs(10), || {
        let got = publisher.matched_shards().expect("matching status");
        shards.iter().all(|s| got.contains(s))
    });
    assert!(matched, "subscribers never matched shards {shards:?}");
}
