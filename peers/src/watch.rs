//! `tokio-watch`: a `tokio::sync::watch` channel per variable, a task per observer.
//!
//! A tick sends each changed variable's new value, then waits until every
//! subscribed task has woken and run its callback. A watch channel has no
//! delivery acknowledgement, so each task also counts down a shared
//! [`Countdown`] after its callback: one atomic decrement per notification,
//! contended by the runtime's workers, which is the price of knowing the
//! tick is over. A watch channel keeps only the latest value, so a tick
//! changes each variable at most once (the workloads never do more).

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};
use tokio::sync::watch;

use crate::Counters;
use crate::peer::Peer;

/// The one runtime every `tokio-watch` peer spawns on: a multi-thread
/// runtime with as many workers as rayon has.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(rayon::current_num_threads())
            .build()
            .expect("tokio runtime")
    })
}

/// Notifications still to run in this tick; the tick thread waits for zero.
#[derive(Debug, Default)]
struct Countdown {
    remaining: AtomicUsize,
    lock: Mutex<()>,
    zero: Condvar,
}

impl Countdown {
    fn finish_one(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Taking the lock orders this wake-up after the waiter's check.
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.zero.notify_all();
        }
    }

    fn wait(&self) {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        while self.remaining.load(Ordering::Acquire) != 0 {
            guard = self
                .zero
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// `tokio-watch`: channels, tasks, and a countdown per tick.
#[derive(Debug)]
pub struct TokioWatch {
    senders: Vec<watch::Sender<u64>>,
    queued: Vec<(u32, u64)>,
    countdown: Arc<Countdown>,
    /// Tasks not yet finished; `drop` waits for zero so that no task of
    /// this peer runs into the next measurement.
    alive: Arc<AtomicUsize>,
    counters: Arc<Counters>,
}

impl Peer for TokioWatch {
    const NAME: &'static str = "tokio-watch";
    type Handle = ();

    fn new(vars: usize, _owners: usize, counters: &Arc<Counters>) -> Self {
        let _ = runtime();
        TokioWatch {
            senders: (0..vars).map(|_| watch::Sender::new(0)).collect(),
            queued: Vec::new(),
            countdown: Arc::default(),
            alive: Arc::default(),
            counters: Arc::clone(counters),
        }
    }

    fn add(&mut self, var: usize, _owner: usize) {
        let mut receiver = self.senders[var].subscribe();
        let countdown = Arc::clone(&self.countdown);
        let alive = Arc::clone(&self.alive);
        let sink = Arc::clone(&self.counters);
        alive.fetch_add(1, Ordering::Relaxed);
        runtime().spawn(async move {
            while receiver.changed().await.is_ok() {
                black_box(*receiver.borrow_and_update());
                sink.bump();
                countdown.finish_one();
            }
            alive.fetch_sub(1, Ordering::Release);
        });
    }

    fn notify(&mut self, var: usize, _old: u64, new: u64) {
        self.queued.push((var as u32, new));
    }

    fn tick(&mut self) {
        let expected: usize = self
            .queued
            .iter()
            .map(|&(var, _)| self.senders[var as usize].receiver_count())
            .sum();
        self.countdown.remaining.store(expected, Ordering::Release);
        for (var, new) in self.queued.drain(..) {
            self.senders[var as usize].send_replace(new);
        }
        if expected > 0 {
            self.countdown.wait();
        }
    }

    fn observers(&mut self) -> usize {
        self.senders.iter().map(watch::Sender::receiver_count).sum()
    }
}

impl Drop for TokioWatch {
    fn drop(&mut self) {
        self.senders.clear(); // every task's `changed` now fails
        while self.alive.load(Ordering::Acquire) != 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
