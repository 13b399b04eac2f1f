//! The consumer side: receive the shards a manager watches and push their
//! changes into its inbox.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use observer_manager::{Metadata, Notifier, ObserverManager};
use serde::de::DeserializeOwned;
use zenoh::sample::{Sample, SampleKind};
use zenoh::{Session, Wait};

use crate::error::DeclareError;
use crate::layout::Layout;
use crate::stats::{BridgeStats, Counters, bump};
use crate::wire::{self, DecodeError, Limits, Message};

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
}

impl SubscriberConfig {
    /// A configuration for `layout`, default [`Limits`] and at most 65,536
    /// tracked streams.
    pub fn new(layout: Layout) -> Self {
        SubscriberConfig {
            layout,
            limits: Limits::default(),
            max_streams: 65_536,
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
        Ok(Subscriber {
            session: session.clone(),
            inner,
            subscribers: BTreeMap::new(),
            liveliness,
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
            Ok(message) => self.deliver(shard, message),
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
        let batch = names
            .iter()
            .map(String::as_str)
            .zip(values)
            .map(|(name, (old, new))| (name, old, new));
        let c = &self.counters;
        match self.notifier.notify_batch(&metadata, batch) {
            Ok(counts) => {
                bump(&c.changes_queued, counts.queued);
                bump(&c.changes_coalesced, counts.coalesced);
                bump(&c.changes_unchanged, counts.unchanged);
            }
            Err(error) => {
                let accepted = error.accepted;
                bump(&c.changes_queued, accepted.queued);
                bump(&c.changes_coalesced, accepted.coalesced);
                bump(&c.changes_unchanged, accepted.unchanged);
                bump(&c.changes_refused, names.len() as u64 - accepted.total());
                tracing::warn!(target: crate::TRACE_TARGET, %error, "manager refused remote changes");
            }
        }
        drop(streams);
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
