//! The queue between a watcher's callback and its reader: a FIFO that, when
//! bounded and full, evicts its oldest item, so the newest always gets in.
//!
//! Invariants: `items.len() <= capacity` after every push; `sending` is
//! false once the feed (the observer's callback) is dropped and never true
//! again; `reading` is false once the reader is dropped, and pushes are
//! discarded from then on. The lock is never held while user code runs, so
//! it cannot be poisoned by a callback; a poisoned lock is still entered.

use std::collections::VecDeque;
use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub(super) struct Ring<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    items: VecDeque<T>,
    /// `None`: unbounded.
    capacity: Option<usize>,
    sending: bool,
    reading: bool,
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Pushed {
    /// Queued; nothing was evicted.
    Queued,
    /// Queued after evicting the oldest waiting item.
    EvictedOldest,
    /// The reader is gone; the item was discarded.
    NoReader,
}

impl<T> Ring<T> {
    /// A ring holding at most `capacity` items (`None`: no bound). A bounded
    /// ring allocates its room up front.
    pub(super) fn new(capacity: Option<usize>) -> Self {
        let items = capacity.map_or_else(VecDeque::new, VecDeque::with_capacity);
        Ring {
            state: Mutex::new(State {
                items,
                capacity,
                sending: true,
                reading: true,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `item`, evicting the oldest waiting item if the ring is full.
    /// Never blocks on the reader.
    pub(super) fn push(&self, item: T) -> Pushed {
        let mut state = self.lock();
        if !state.reading {
            return Pushed::NoReader;
        }
        let evicted = state
            .capacity
            .is_some_and(|bound| state.items.len() >= bound)
            && state.items.pop_front().is_some();
        state.items.push_back(item);
        drop(state);
        self.ready.notify_one();
        if evicted {
            Pushed::EvictedOldest
        } else {
            Pushed::Queued
        }
    }

    /// The feed is gone: readers drain what is left, then see the end.
    pub(super) fn close_sending(&self) {
        self.lock().sending = false;
        self.ready.notify_all();
    }

    /// The reader is gone: later pushes are discarded, waiting items freed.
    pub(super) fn close_reading(&self) {
        let mut state = self.lock();
        state.reading = false;
        state.items = VecDeque::new();
    }

    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.lock();
        match state.items.pop_front() {
            Some(item) => Ok(item),
            None if state.sending => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Disconnected),
        }
    }

    pub(super) fn recv(&self) -> Result<T, RecvError> {
        let mut state = self.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                return Ok(item);
            }
            if !state.sending {
                return Err(RecvError);
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    pub(super) fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        // A timeout too large to add to now waits without a deadline.
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                return Ok(item);
            }
            if !state.sending {
                return Err(RecvTimeoutError::Disconnected);
            }
            state = match deadline {
                None => self
                    .ready
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(RecvTimeoutError::Timeout);
                    }
                    self.ready
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// Items waiting now.
    pub(super) fn len(&self) -> usize {
        self.lock().items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_full_ring_evicts_the_oldest_and_keeps_the_newest() {
        let ring = Ring::new(Some(4));
        let pushed: Vec<Pushed> = (1..=10).map(|i| ring.push(i)).collect();
        assert_eq!(
            pushed
                .iter()
                .filter(|p| **p == Pushed::EvictedOldest)
                .count(),
            6
        );
        let kept: Vec<i32> = std::iter::from_fn(|| ring.try_recv().ok()).collect();
        assert_eq!(kept, [7, 8, 9, 10]);
    }

    #[test]
    fn an_unbounded_ring_keeps_everything() {
        let ring = Ring::new(None);
        assert!((0..1000).all(|i| ring.push(i) == Pushed::Queued));
        assert_eq!(ring.len(), 1000);
    }

    #[test]
    fn closing_the_feed_drains_then_disconnects() {
        let ring = Ring::new(Some(2));
        ring.push(1);
        ring.close_sending();
        assert_eq!(ring.recv(), Ok(1));
        assert_eq!(ring.recv(), Err(RecvError));
        assert_eq!(ring.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(
            ring.recv_timeout(Duration::from_millis(1)),
            Err(RecvTimeoutError::Disconnected)
        );
    }

    #[test]
    fn a_dropped_reader_discards_pushes() {
        let ring = Ring::new(None);
        ring.push(1);
        ring.close_reading();
        assert_eq!(ring.push(2), Pushed::NoReader);
        assert_eq!(ring.len(), 0);
    }

    #[test]
    fn recv_timeout_times_out_then_wakes_for_a_push() {
        let ring = Arc::new(Ring::new(Some(1)));
        assert_eq!(
            ring.recv_timeout(Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );
        let pusher = Arc::clone(&ring);
        let thread = std::thread::spawn(move || pusher.push(7));
        assert_eq!(ring.recv_timeout(Duration::from_secs(10)), Ok(7));
        thread.join().unwrap();
    }
}
