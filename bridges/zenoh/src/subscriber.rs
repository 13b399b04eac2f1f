//! The consumer side: receive the shards a manager watches and push their
//! changes into its inbox.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use observer_manager::{Metadata, Notifier, ObserverManager};
use serde::de::DeserializeOwned;
use zenoh::sample::{Sample, SampleKind};
use zenoh::{Session, Wait};

use crate::error::DeclareError;
use crate::layout::Layout;
use crate::lockstep::{Held, HeldBatch, LockstepError, LockstepReport};
use crate::stats::{BridgeStats, Counters, bump};
use crate::wire::{self, DecodeError, Limits, Message, MessageKind};

/// The stream id of a producer's tick-end messages: never a shard index,
/// since shard indices are below the shard count, a `u32`.
const TICKS: u32 = u32::MAX;

/// How a [`Subscriber`] is set up.
///
/// # Examples
///
/// ```
/// use observer_manager_zenoh::{Layout, Limits, SubscriberConfig};
///
/// let config = SubscriberConfig::new(Layout::new("sim", 8)?)
///     .limits(Limits::default().max_changes(4096))
///     .max_streams(256);
/// assert_eq!(config.layout().namespace(), "sim");
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Clone, Debug)]
pub struct SubscriberConfig {
    layout: Layout,
    limits: Limits,
    max_streams: usize,
    lockstep: bool,
    max_held_changes: usize,
}

impl SubscriberConfig {
    /// A configuration for `layout`, default [`Limits`] and at most 65,536
    /// tracked streams.
    pub fn new(layout: Layout) -> Self {
        SubscriberConfig {
            layout,
            limits: Limits::default(),
            max_streams: 65_536,
            lockstep: false,
            max_held_changes: 1 << 20,
        }
    }

    /// The limits every received message is checked against.
    #[must_use = "limits returns the changed configuration"]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The most (producer, shard) sequences tracked, and the most producers
    /// tracked alive (at least 1). Past it, messages of new streams are
    /// dropped and counted in [`BridgeStats::streams_refused`]: the bound
    /// keeps a sender inventing producer ids from growing memory.
    #[must_use = "max_streams returns the changed configuration"]
    pub fn max_streams(mut self, streams: usize) -> Self {
        self.max_streams = streams.max(1);
        self
    }

    /// Lockstep mode: received changes are held until
    /// [`Subscriber::deliver_tick`] finds every live producer done with
    /// the tick, then pushed in a fixed order. Producers must be in
    /// lockstep mode too ([`PublisherConfig::lockstep`](crate::PublisherConfig::lockstep)).
    /// Default off.
    #[must_use = "lockstep returns the changed configuration"]
    pub fn lockstep(mut self, on: bool) -> Self {
        self.lockstep = on;
        self
    }

    /// The most changes held in lockstep mode (at least 1). Past it, the
    /// changes of further messages are dropped and counted in
    /// [`BridgeStats::lockstep_dropped`]. Default 1,048,576.
    #[must_use = "max_held_changes returns the changed configuration"]
    pub fn max_held_changes(mut self, changes: usize) -> Self {
        self.max_held_changes = changes.max(1);
        self
    }

    /// The key layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
}

/// What one [`Subscriber::sync`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Whether the manager's registrations were read again (they had
    /// changed since the last sync, or this was the first).
    pub rescanned: bool,
    /// Shards newly subscribed to.
    pub declared: u32,
    /// Shards no longer subscribed to.
    pub undeclared: u32,
    /// Shards subscribed to now.
    pub subscribed: u32,
}

/// The consumer side of the bridge, attached to one manager: it subscribes
/// to the shards holding the variables the manager's observers watch, and
/// pushes what arrives into the manager's inbox through its
/// [`Notifier`], so remote changes are delivered at the next `tick()`
/// exactly like local ones (the same coalescing, overload and counting
/// rules).
///
/// # Delivery
///
/// - **Which changes**: those of variables observed at the last
///   [`sync`](Self::sync). Call it once per tick, before `tick()`; it costs
///   one stats reading when registrations have not changed. Changes of
///   other variables in the same shards are dropped and counted in
///   [`BridgeStats::changes_filtered`]: names the manager does not know are
///   never interned, so no sender can grow its tables.
/// - **Order**: the changes of one producer arrive in the order it reported
///   them (zenoh keeps order per link, and one variable always travels on
///   one shard). Different producers have no order between them, like two
///   local threads.
/// - **Loss**: a missing sequence number of a (producer, shard) stream is
///   counted in [`BridgeStats::gaps`], never hidden. The first message of a
///   stream sets its start: what a producer sent before this subscription
///   reached it is not received and not counted.
/// - **Duplicates**: a message whose sequence number is not past the last
///   one seen is dropped and counted; no change is pushed twice.
/// - **Death**: a producer whose liveliness token goes away (process
///   ended, killed, link lost) is counted in [`BridgeStats::producers_lost`]
///   and its streams are forgotten; what it sent before is delivered.
/// - **Bad input**: a message that fails [`wire::decode`] is dropped whole,
///   counted in [`BridgeStats::decode_errors`] and reported with a
///   `tracing` warning.
///
/// Messages are decoded and pushed on zenoh's threads, one message at a
/// time per subscriber.
pub struct Subscriber<V> {
    session: Session,
    inner: Arc<Inner<V>>,
    subscribers: BTreeMap<u32, zenoh::pubsub::Subscriber<()>>,
    liveliness: zenoh::pubsub::Subscriber<()>,
    /// The tick-end subscriber, in lockstep mode.
    _ticks: Option<zenoh::pubsub::Subscriber<()>>,
    /// `(observers_added, observers_removed)` at the last rescan.
    last_registrations: Option<(u64, u64)>,
}

/// What zenoh's callbacks share with the subscriber.
struct Inner<V> {
    layout: Layout,
    limits: Limits,
    max_streams: usize,
    notifier: Notifier<V>,
    /// The names observed at the last sync.
    observed: RwLock<HashSet<Box<str>>>,
    streams: Mutex<Streams>,
    /// Held changes and a condition signalled when a producer finishes a
    /// tick or comes or goes, in lockstep mode.
    held: Option<(Mutex<Held<V>>, Condvar)>,
    max_held_changes: usize,
    counters: Counters,
}

/// Sequence tracking. Also serialises pushes, so a stream's messages enter
/// the inbox in sequence order.
#[derive(Default)]
struct Streams {
    /// `(producer, shard)` to the next expected sequence number.
    /// Invariant: `next.len() <= max_streams`.
    next: HashMap<(u64, u32), u64>,
    /// Producers whose liveliness token is present.
    /// Invariant: `alive.len() <= max_streams`.
    alive: HashSet<u64>,
}

impl<V> Subscriber<V>
where
    V: DeserializeOwned + PartialEq + Send + Sync + 'static,
{
    /// Attaches a subscriber to `manager`, declaring its liveliness
    /// subscriber on `session`. It subscribes to no shard until the first
    /// [`sync`](Self::sync).
    ///
    /// # Errors
    ///
    /// [`DeclareError::Zenoh`] if zenoh refuses the declaration.
    pub fn new(
        session: &Session,
        manager: &ObserverManager<V>,
        config: SubscriberConfig,
    ) -> Result<Self, DeclareError> {
        let inner = Arc::new(Inner {
            layout: config.layout,
            limits: config.limits,
            max_streams: config.max_streams,
            notifier: manager.notifier(),
            observed: RwLock::new(HashSet::new()),
            streams: Mutex::new(Streams::default()),
            held: config
                .lockstep
                .then(|| (Mutex::new(Held::default()), Condvar::new())),
            max_held_changes: config.max_held_changes,
            counters: Counters::default(),
        });
        let on_token = Arc::clone(&inner);
        let liveliness = session
            .liveliness()
            .declare_subscriber(inner.layout.producers_pattern())
            .history(true)
            .callback(move |sample| on_token.liveliness(&sample))
            .wait()
            .map_err(DeclareError::Zenoh)?;
        let ticks = if config.lockstep {
            let on_tick = Arc::clone(&inner);
            let ticks = session
                .declare_subscriber(inner.layout.ticks_key())
                .callback(move |sample| on_tick.receive(TICKS, &sample))
                .wait()
                .map_err(DeclareError::Zenoh)?;
            Some(ticks)
        } else {
            None
        };
        Ok(Subscriber {
            session: session.clone(),
            inner,
            subscribers: BTreeMap::new(),
            liveliness,
            _ticks: ticks,
            last_registrations: None,
        })
    }

    /// Follows `manager`'s registrations: subscribes to the shards that
    /// hold observed variables and unsubscribes from the others. Call it
    /// once per tick, before `tick()`.
    ///
    /// When registrations have not changed since the last call (the
    /// manager's `observers_added` and `observers_removed` are the same),
    /// it only reads the manager's stats. Otherwise it costs time in
    /// proportion to the variables interned.
    ///
    /// # Errors
    ///
    /// [`DeclareError::Zenoh`] if zenoh refuses a declaration; the shards
    /// handled before it are in their new state, and the next call retries
    /// the rest.
    pub fn sync(&mut self, manager: &ObserverManager<V>) -> Result<SyncReport, DeclareError> {
        let stats = manager.stats();
        let registrations = (stats.observers_added, stats.observers_removed);
        let mut report = SyncReport {
            subscribed: self.subscribers.len() as u32,
            ..SyncReport::default()
        };
        if self.last_registrations == Some(registrations) {
            return Ok(report);
        }
        report.rescanned = true;
        let names: HashSet<Box<str>> = manager.observed_variables().map(Box::from).collect();
        let wanted: BTreeSet<u32> = names
            .iter()
            .map(|n| self.inner.layout.shard_of(n))
            .collect();
        *write(&self.inner.observed) = names;
        self.last_registrations = None;
        report.undeclared = self.undeclare_unwanted(&wanted)?;
        report.declared = self.declare_wanted(&wanted)?;
        self.last_registrations = Some(registrations);
        report.subscribed = self.subscribers.len() as u32;
        Ok(report)
    }

    /// Counters over this subscriber's life (a snapshot that zenoh's
    /// threads may change at once).
    pub fn stats(&self) -> BridgeStats {
        let alive = lock(&self.inner.streams).alive.len() as u64;
        self.inner
            .counters
            .snapshot(alive, self.subscribers.len() as u64)
    }

    /// Lockstep delivery of `tick`: waits, at most `timeout`, until every
    /// live producer has finished `tick` (its tick-end message arrived),
    /// then pushes the held changes of every tick up to `tick` into the
    /// manager's inbox in a fixed order: producer id, then tick, then
    /// shard, then submission order. Call `tick()` on the manager next.
    ///
    /// Live producers are those whose liveliness token is present; one
    /// that dies while waited for is no longer waited for, and what it
    /// sent is delivered. With the manager in deterministic mode, the same
    /// changes give the same callback order on every run, whatever the
    /// timing of the processes.
    ///
    /// # Errors
    ///
    /// [`LockstepError::NotEnabled`] without
    /// [`SubscriberConfig::lockstep`]; [`LockstepError::Timeout`] if some
    /// producers had not finished in time (nothing is delivered then; the
    /// held changes stay for the next call).
    pub fn deliver_tick(
        &self,
        tick: u64,
        timeout: Duration,
    ) -> Result<LockstepReport, LockstepError> {
        let (held, signal) = self.inner.held.as_ref().ok_or(LockstepError::NotEnabled)?;
        let start = Instant::now();
        let (producers, ready) = loop {
            let alive = lock(&self.inner.streams).alive.clone();
            let mut guard = lock(held);
            let waiting = guard.waiting_for(&alive, tick);
            if waiting.is_empty() {
                break (alive.len() as u32, guard.take_up_to(tick));
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(LockstepError::Timeout {
                    tick,
                    waited: start.elapsed(),
                    waiting_for: waiting,
                });
            }
            // Re-read the live set at least every few milliseconds.
            let pause = left.min(Duration::from_millis(5));
            drop(
                signal
                    .wait_timeout(guard, pause)
                    .unwrap_or_else(PoisonError::into_inner),
            );
        };
        let mut report = LockstepReport {
            tick,
            producers,
            ..LockstepReport::default()
        };
        for batch in ready {
            report.messages += 1;
            let counts = self.inner.push(&batch.metadata, batch.names, batch.values);
            report.changes.queued += counts.queued;
            report.changes.coalesced += counts.coalesced;
            report.changes.unchanged += counts.unchanged;
        }
        Ok(report)
    }

    /// The shards subscribed to now, in order.
    pub fn shards(&self) -> impl Iterator<Item = u32> + '_ {
        self.subscribers.keys().copied()
    }

    fn undeclare_unwanted(&mut self, wanted: &BTreeSet<u32>) -> Result<u32, DeclareError> {
        let unwanted: Vec<u32> = self
            .subscribers
            .keys()
            .copied()
            .filter(|s| !wanted.contains(s))
            .collect();
        for &shard in &unwanted {
            if let Some(subscriber) = self.subscribers.remove(&shard) {
                subscriber.undeclare().wait().map_err(DeclareError::Zenoh)?;
            }
            // A later subscription starts its streams afresh: what was sent
            // meanwhile was not for us, so it is no gap.
            lock(&self.inner.streams)
                .next
                .retain(|&(_, s), _| s != shard);
        }
        Ok(unwanted.len() as u32)
    }

    fn declare_wanted(&mut self, wanted: &BTreeSet<u32>) -> Result<u32, DeclareError> {
        let mut declared = 0;
        for &shard in wanted {
            if self.subscribers.contains_key(&shard) {
                continue;
            }
            let inner = Arc::clone(&self.inner);
            let subscriber = self
                .session
                .declare_subscriber(self.inner.layout.shard_key(shard))
                .callback(move |sample| inner.receive(shard, &sample))
                .wait()
                .map_err(DeclareError::Zenoh)?;
            self.subscribers.insert(shard, subscriber);
            declared += 1;
        }
        Ok(declared)
    }
}

impl<V> Inner<V>
where
    V: DeserializeOwned + PartialEq + Send + Sync + 'static,
{
    /// Handles one sample of shard `shard`: decode, check the sequence,
    /// filter, push.
    fn receive(&self, shard: u32, sample: &Sample) {
        let payload = sample.payload();
        let decoded = if payload.len() > self.limits.max_message_len() {
            Err(DecodeError::TooLarge {
                len: payload.len(),
                max: self.limits.max_message_len(),
            })
        } else {
            wire::decode::<V>(&payload.to_bytes(), &self.limits)
        };
        match decoded {
            Ok(m) if m.header.kind == MessageKind::TickEnd && shard == TICKS => self.tick_end(&m),
            Ok(m) if m.header.kind == MessageKind::Changes && shard != TICKS => {
                self.deliver(shard, m)
            }
            Ok(m) => {
                bump(&self.counters.decode_errors, 1);
                tracing::warn!(
                    target: crate::TRACE_TARGET,
                    key = %sample.key_expr(),
                    kind = ?m.header.kind,
                    "dropped a message of the wrong kind for its key"
                );
            }
            Err(error) => {
                bump(&self.counters.decode_errors, 1);
                tracing::warn!(
                    target: crate::TRACE_TARGET,
                    key = %sample.key_expr(),
                    bytes = payload.len(),
                    %error,
                    "dropped an undecodable message"
                );
            }
        }
    }

    fn deliver(&self, shard: u32, message: Message<V>) {
        let Message {
            header,
            source,
            changes,
        } = message;
        let mut streams = lock(&self.streams);
        if !self.advance(&mut streams, header.producer.0, shard, header.seq) {
            return;
        }
        bump(&self.counters.messages_received, 1);
        bump(&self.counters.changes_received, changes.len() as u64);
        let (names, values) = self.keep_observed(shard, changes);
        if names.is_empty() {
            return;
        }
        let metadata = Metadata {
            session: header.session,
            timestamp: header.timestamp,
            source: Cow::Owned(source),
        };
        if let Some((held, _)) = &self.held {
            let mut held = lock(held);
            if held.changes + names.len() > self.max_held_changes {
                bump(&self.counters.lockstep_dropped, names.len() as u64);
                tracing::warn!(target: crate::TRACE_TARGET, changes = names.len(), "lockstep hold full: changes dropped");
                return;
            }
            held.changes += names.len();
            held.batches.push(HeldBatch {
                producer: header.producer.0,
                tick: header.tick,
                shard,
                seq: header.seq,
                metadata,
                names,
                values,
            });
            return;
        }
        self.push(&metadata, names, values);
        drop(streams);
    }

    /// Pushes changes into the manager's inbox and counts the outcomes.
    fn push(
        &self,
        metadata: &Metadata,
        names: Vec<String>,
        values: Vec<(V, V)>,
    ) -> observer_manager::NotifyCounts {
        let batch = names
            .iter()
            .map(String::as_str)
            .zip(values)
            .map(|(name, (old, new))| (name, old, new));
        let c = &self.counters;
        let counts = match self.notifier.notify_batch(metadata, batch) {
            Ok(counts) => counts,
            Err(error) => {
                bump(
                    &c.changes_refused,
                    names.len() as u64 - error.accepted.total(),
                );
                tracing::warn!(target: crate::TRACE_TARGET, %error, "manager refused remote changes");
                error.accepted
            }
        };
        bump(&c.changes_queued, counts.queued);
        bump(&c.changes_coalesced, counts.coalesced);
        bump(&c.changes_unchanged, counts.unchanged);
        counts
    }

    /// Records that a producer finished a tick (lockstep mode).
    fn tick_end(&self, message: &Message<V>) {
        let header = &message.header;
        let mut streams = lock(&self.streams);
        if !self.advance(&mut streams, header.producer.0, TICKS, header.seq) {
            return;
        }
        bump(&self.counters.messages_received, 1);
        if let Some((held, signal)) = &self.held {
            let mut held = lock(held);
            let done = held.done.entry(header.producer.0).or_insert(header.tick);
            *done = (*done).max(header.tick);
            signal.notify_all();
        }
    }

    /// Checks `seq` against the stream's expected number and moves it on.
    /// Returns whether the message is to be delivered.
    fn advance(&self, streams: &mut Streams, producer: u64, shard: u32, seq: u64) -> bool {
        let c = &self.counters;
        let full = streams.next.len() >= self.max_streams;
        match streams.next.get_mut(&(producer, shard)) {
            Some(next) if seq < *next => {
                bump(&c.duplicates_dropped, 1);
                false
            }
            Some(next) => {
                bump(&c.gaps, seq - *next);
                *next = seq.saturating_add(1);
                true
            }
            None if full => {
                bump(&c.streams_refused, 1);
                tracing::warn!(target: crate::TRACE_TARGET, producer, shard, "too many streams: message dropped");
                false
            }
            None => {
                streams
                    .next
                    .insert((producer, shard), seq.saturating_add(1));
                true
            }
        }
    }

    /// Splits `changes` into names and values, keeping only observed names
    /// that belong to `shard`, and counts the rest.
    fn keep_observed(
        &self,
        shard: u32,
        changes: Vec<wire::WireChange<V>>,
    ) -> (Vec<String>, Vec<(V, V)>) {
        let observed = read(&self.observed);
        let total = changes.len();
        let mut misrouted = 0;
        let (names, values): (Vec<String>, Vec<(V, V)>) = changes
            .into_iter()
            .filter(|c| {
                let ours = self.layout.shard_of(&c.name) == shard;
                misrouted += u64::from(!ours);
                ours && observed.contains(c.name.as_str())
            })
            .map(|c| (c.name, (c.old, c.new)))
            .unzip();
        drop(observed);
        let c = &self.counters;
        bump(&c.changes_misrouted, misrouted);
        bump(
            &c.changes_filtered,
            (total - names.len()) as u64 - misrouted,
        );
        if misrouted > 0 {
            tracing::warn!(target: crate::TRACE_TARGET, shard, misrouted, "changes on another shard's key: dropped (layouts differ?)");
        }
        (names, values)
    }

    /// Follows a producer's liveliness token.
    fn liveliness(&self, sample: &Sample) {
        let Some(producer) = self.layout.producer_of_key(sample.key_expr().as_str()) else {
            return;
        };
        let mut streams = lock(&self.streams);
        match sample.kind() {
            SampleKind::Put => {
                if streams.alive.len() < self.max_streams && streams.alive.insert(producer) {
                    bump(&self.counters.producers_seen, 1);
                }
            }
            SampleKind::Delete => {
                if streams.alive.remove(&producer) {
                    bump(&self.counters.producers_lost, 1);
                    streams.next.retain(|&(p, _), _| p != producer);
                    tracing::warn!(target: crate::TRACE_TARGET, producer = %format_args!("{producer:016x}"), "producer lost");
                }
            }
        }
        drop(streams);
        if let Some((_, signal)) = &self.held {
            signal.notify_all();
        }
    }
}

impl<V> fmt::Debug for Subscriber<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("layout", &self.inner.layout)
            .field("shards", &self.subscribers.len())
            .field("liveliness", &self.liveliness.key_expr())
            .finish_non_exhaustive()
    }
}

/// Locks a mutex, taking the data even if a thread panicked holding it
/// (the counters and sequence table stay meaningful).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
