//! Counters a publisher and a subscriber keep.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// What a [`Publisher`](crate::Publisher) did over its life.
///
/// The counters add up: every change handed to `notify` is buffered,
/// unchanged or dropped (`changes_offered == changes_buffered +
/// changes_unchanged + changes_dropped`), and every buffered change is sent
/// or still buffered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PublisherStats {
    /// Changes handed to `notify` or `notify_batch` and accepted.
    pub changes_offered: u64,
    /// Changes buffered for sending.
    pub changes_buffered: u64,
    /// Changes skipped because `old == new` (as the core skips them).
    pub changes_unchanged: u64,
    /// Changes in batches dropped whole under
    /// [`Overflow::DropBatch`](crate::Overflow::DropBatch).
    pub changes_dropped: u64,
    /// Batches dropped whole under
    /// [`Overflow::DropBatch`](crate::Overflow::DropBatch).
    pub batches_dropped: u64,
    /// Changes in messages handed to zenoh.
    pub changes_sent: u64,
    /// Messages handed to zenoh.
    pub messages_sent: u64,
    /// Bytes of those messages.
    pub bytes_sent: u64,
    /// Messages zenoh failed to send (their changes are lost and the
    /// consumers see a gap).
    pub messages_failed: u64,
    /// Times the buffer bound made the publisher send before `flush`.
    pub early_sends: u64,
    /// Changes buffered now.
    pub changes_pending: u64,
}

/// What a [`Subscriber`](crate::Subscriber) received and did with it.
///
/// The counters add up: every change in a decoded, in-sequence message is
/// filtered, misrouted or handed to the manager
/// (`changes_received == changes_filtered + changes_misrouted +
/// changes_queued + changes_coalesced + changes_unchanged +
/// changes_refused + changes_held + lockstep_dropped`, with `changes_held`
/// the changes a lockstep subscriber holds now). A reading is a snapshot that zenoh's threads may
/// change at once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BridgeStats {
    /// Messages received and decoded.
    pub messages_received: u64,
    /// Changes in those messages, except those of duplicates.
    pub changes_received: u64,
    /// Changes queued in the manager's inbox.
    pub changes_queued: u64,
    /// Changes whose `notify` outcome was `Coalesced`: the inbox was at
    /// capacity (the manager's own rule). This includes the change that
    /// opens a variable's merged slot, so it can exceed the manager's
    /// `Stats::changes_coalesced` (changes merged away) by one per variable.
    pub changes_coalesced: u64,
    /// Changes the manager skipped because `old == new`.
    pub changes_unchanged: u64,
    /// Changes the manager refused (it was dropped, say).
    pub changes_refused: u64,
    /// Changes of variables this process does not observe: dropped.
    pub changes_filtered: u64,
    /// Changes that arrived on another shard's key than their name's (a
    /// publisher with another [`Layout`](crate::Layout)): dropped.
    pub changes_misrouted: u64,
    /// Messages missing from producers' sequences: sent (numbered) but never
    /// received here.
    pub gaps: u64,
    /// Messages received twice or out of order: dropped.
    pub duplicates_dropped: u64,
    /// Messages that failed to decode: dropped, each with a `tracing` warning.
    pub decode_errors: u64,
    /// Messages from a producer and shard past
    /// [`SubscriberConfig::max_streams`](crate::SubscriberConfig::max_streams)
    /// tracked streams: dropped.
    pub streams_refused: u64,
    /// Changes dropped in lockstep mode because the hold was full
    /// ([`SubscriberConfig::max_held_changes`](crate::SubscriberConfig::max_held_changes)).
    pub lockstep_dropped: u64,
    /// Producers whose liveliness token appeared.
    pub producers_seen: u64,
    /// Producers whose liveliness token went away (the process ended, died or
    /// lost its link).
    pub producers_lost: u64,
    /// Producers alive now.
    pub producers_alive: u64,
    /// Shards subscribed to now.
    pub shards_subscribed: u64,
}

/// Shared atomic counters behind [`BridgeStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) messages_received: AtomicU64,
    pub(crate) changes_received: AtomicU64,
    pub(crate) changes_queued: AtomicU64,
    pub(crate) changes_coalesced: AtomicU64,
    pub(crate) changes_unchanged: AtomicU64,
    pub(crate) changes_refused: AtomicU64,
    pub(crate) changes_filtered: AtomicU64,
    pub(crate) changes_misrouted: AtomicU64,
    pub(crate) gaps: AtomicU64,
    pub(crate) duplicates_dropped: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) streams_refused: AtomicU64,
    pub(crate) lockstep_dropped: AtomicU64,
    pub(crate) producers_seen: AtomicU64,
    pub(crate) producers_lost: AtomicU64,
}

/// Adds `n` to a counter.
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self, producers_alive: u64, shards_subscribed: u64) -> BridgeStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BridgeStats {
            messages_received: get(&self.messages_received),
            changes_received: get(&self.changes_received),
            changes_queued: get(&self.changes_queued),
            changes_coalesced: get(&self.changes_coalesced),
            changes_unchanged: get(&self.changes_unchanged),
            changes_refused: get(&self.changes_refused),
            changes_filtered: get(&self.changes_filtered),
            changes_misrouted: get(&self.changes_misrouted),
            gaps: get(&self.gaps),
            duplicates_dropped: get(&self.duplicates_dropped),
            decode_errors: get(&self.decode_errors),
            streams_refused: get(&self.streams_refused),
            lockstep_dropped: get(&self.lockstep_dropped),
            producers_seen: get(&self.producers_seen),
            producers_lost: get(&self.producers_lost),
            producers_alive,
            shards_subscribed,
        }
    }
}
