//! The producer side: buffer changes per shard, send one message per shard
//! per flush.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use observer_manager::SessionId;
use serde::Serialize;
use zenoh::liveliness::LivelinessToken;
use zenoh::qos::CongestionControl;
use zenoh::{Session, Wait};

use crate::error::{DeclareError, PublishError};
use crate::layout::{Layout, fnv1a};
use crate::stats::PublisherStats;
use crate::wire::{self, EncodeError, FIXED_LEN, Header, Limits, MessageKind, ProducerId};

/// What a publisher does when its buffer bound
/// ([`PublisherConfig::max_buffered_changes`]) is reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Send every buffered shard at once, blocking while zenoh's queues are
    /// full (the default). Nothing is lost; the producer is slowed.
    #[default]
    FlushEarly,
    /// Drop the whole batch (one `notify` or `notify_batch` call) that
    /// would take the buffer past its bound, and count it in
    /// [`PublisherStats::batches_dropped`]. The producer is never slowed by
    /// the bound; the changes before and after it are kept.
    DropBatch,
}

/// How a [`Publisher`] is set up.
///
/// # Examples
///
/// ```
/// use observer_manager_zenoh::{Layout, Overflow, PublisherConfig};
///
/// let config = PublisherConfig::new(Layout::new("sim", 8)?)
///     .source("physics")
///     .max_buffered_changes(10_000)
///     .overflow(Overflow::DropBatch);
/// assert_eq!(config.layout().shards(), 8);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    layout: Layout,
    limits: Limits,
    source: Cow<'static, str>,
    session: Option<SessionId>,
    max_buffered_changes: usize,
    overflow: Overflow,
    producer: Option<ProducerId>,
    lockstep: bool,
}

impl PublisherConfig {
    /// A configuration for `layout`, with default [`Limits`], an empty
    /// source, at most 65,536 changes buffered and [`Overflow::FlushEarly`].
    pub fn new(layout: Layout) -> Self {
        PublisherConfig {
            layout,
            limits: Limits::default(),
            source: Cow::Borrowed(""),
            session: None,
            max_buffered_changes: 65_536,
            overflow: Overflow::FlushEarly,
            producer: None,
            lockstep: false,
        }
    }

    /// The limits messages are built within (use the consumers' limits).
    #[must_use = "limits returns the changed configuration"]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The metadata source every change carries (at most
    /// [`Limits::max_name_len`] bytes; longer is cut at a character
    /// boundary).
    #[must_use = "source returns the changed configuration"]
    pub fn source(mut self, source: impl Into<Cow<'static, str>>) -> Self {
        self.source = source.into();
        self
    }

    /// The metadata session every change carries.
    #[must_use = "session returns the changed configuration"]
    pub fn session(mut self, session: SessionId) -> Self {
        self.session = Some(session);
        self
    }

    /// The most changes buffered across all shards (at least 1).
    #[must_use = "max_buffered_changes returns the changed configuration"]
    pub fn max_buffered_changes(mut self, changes: usize) -> Self {
        self.max_buffered_changes = changes.max(1);
        self
    }

    /// What happens when the buffer bound is reached.
    #[must_use = "overflow returns the changed configuration"]
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// A fixed producer id, instead of one drawn at start (for
    /// reproducible runs; two live publishers must never share one).
    #[must_use = "producer returns the changed configuration"]
    pub fn producer(mut self, producer: ProducerId) -> Self {
        self.producer = Some(producer);
        self
    }

    /// Lockstep mode: each [`Publisher::flush`] ends with a tick-end
    /// message on `<namespace>/ticks`, which lockstep consumers
    /// ([`SubscriberConfig::lockstep`](crate::SubscriberConfig::lockstep))
    /// wait for. Default off.
    #[must_use = "lockstep returns the changed configuration"]
    pub fn lockstep(mut self, on: bool) -> Self {
        self.lockstep = on;
        self
    }

    /// The key layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
}

/// What one `notify` or `notify_batch` call did with its changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishCounts {
    /// Changes buffered for the next send.
    pub buffered: u64,
    /// Changes skipped because `old == new`.
    pub unchanged: u64,
    /// Changes dropped with their whole batch ([`Overflow::DropBatch`]).
    pub dropped: u64,
}

/// What one [`Publisher::flush`] sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Messages sent (one per non-empty shard).
    pub messages: u64,
    /// Changes in them.
    pub changes: u64,
}

/// One shard's pending message.
///
/// ```text
/// body: [ head (reserved, written at send) | change | change | ... ]
///        ^ 0            head_len ^                              ^ len
/// ```
struct ShardBuffer {
    /// The message being built; its first `head_len` bytes are reserved
    /// for the head. Invariant: `body.len() <= limits.max_message_bytes`.
    body: Vec<u8>,
    /// Changes in `body`. Invariant: `count <= limits.max_changes`.
    count: u32,
    /// The sequence number of the next message sent on this shard.
    seq: u64,
}

/// The producer side of the bridge: report changes as to a
/// [`Notifier`](observer_manager::Notifier), then [`flush`](Self::flush)
/// once per tick to send one message per shard that has changes.
///
/// # Delivery
///
/// - Messages are sent with [`CongestionControl::Block`] and zenoh's
///   reliable channel (zenoh's default reliability; its default congestion
///   control, `Drop`, is never used): a full network queue slows `flush`
///   instead of losing data.
/// - **Buffer bound**: a publisher holds at most
///   [`PublisherConfig::max_buffered_changes`] changes, and each shard at
///   most one message of [`Limits::max_message_bytes`], so at most
///   `shards × max_message_bytes` bytes. A shard whose message reaches the
///   per-message limits is sent at once. Reaching the change bound sends
///   everything ([`Overflow::FlushEarly`]) or drops the batch
///   ([`Overflow::DropBatch`]), counted.
/// - **Sequence numbers** count per producer and shard, from 0: a consumer
///   subscribes to some shards only, so a per-producer sequence would show
///   false gaps.
/// - Messages sent before `flush` (by the bounds) carry the tick of the
///   next `flush`.
/// - A liveliness token `<namespace>/producer/<id>` lives as long as the
///   publisher: consumers learn when it goes away.
///
/// Dropping a publisher discards what it has buffered: call `flush` first.
///
/// # Examples
///
/// ```no_run
/// use observer_manager_zenoh::{Layout, Publisher, PublisherConfig, loopback_config};
/// use zenoh::Wait;
///
/// let session = zenoh::open(loopback_config(None, &[7447])?).wait()?;
/// let mut publisher = Publisher::<u64>::new(&session, PublisherConfig::new(Layout::new("sim", 8)?))?;
/// publisher.notify("cell/1", &0, &1)?;
/// publisher.notify_batch([("cell/2", &0, &5), ("cell/3", &1, &2)])?;
/// let sent = publisher.flush(1)?;
/// assert!(sent.messages >= 1 && sent.changes == 3);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub struct Publisher<V> {
    config: PublisherConfig,
    producer: ProducerId,
    /// The metadata source, cut to the limits once.
    source: String,
    /// Bytes reserved at the front of each shard's body for the head.
    head_len: usize,
    shards: Vec<ShardBuffer>,
    publishers: Vec<zenoh::pubsub::Publisher<'static>>,
    /// The tick-end publisher and its sequence, in lockstep mode.
    ticks: Option<(zenoh::pubsub::Publisher<'static>, u64)>,
    _token: LivelinessToken,
    /// Changes in all shard buffers. Invariant: the sum of their counts.
    buffered: usize,
    next_tick: u64,
    scratch: Vec<u8>,
    stats: PublisherStats,
    _values: PhantomData<fn(&V)>,
}

impl<V: Serialize + PartialEq> Publisher<V> {
    /// Declares one zenoh publisher per shard on `session`, and the
    /// producer's liveliness token.
    ///
    /// # Errors
    ///
    /// [`DeclareError::Zenoh`] if zenoh refuses a declaration.
    pub fn new(session: &Session, config: PublisherConfig) -> Result<Self, DeclareError> {
        let producer = config.producer.unwrap_or_else(|| draw_producer_id(session));
        let layout = &config.layout;
        let publishers = (0..layout.shards())
            .map(|shard| {
                session
                    .declare_publisher(layout.shard_key(shard))
                    .congestion_control(CongestionControl::Block)
                    .wait()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(DeclareError::Zenoh)?;
        let ticks = if config.lockstep {
            let publisher = session
                .declare_publisher(layout.ticks_key())
                .congestion_control(CongestionControl::Block)
                .wait()
                .map_err(DeclareError::Zenoh)?;
            Some((publisher, 0))
        } else {
            None
        };
        let token = session
            .liveliness()
            .declare_token(layout.producer_key(producer.0))
            .wait()
            .map_err(DeclareError::Zenoh)?;
        let source = cut(&config.source, config.limits.max_name_bytes()).to_owned();
        let head_len = FIXED_LEN + source.len();
        let shards = (0..layout.shards())
            .map(|_| ShardBuffer {
                body: vec![0; head_len],
                count: 0,
                seq: 0,
            })
            .collect();
        Ok(Publisher {
            config,
            producer,
            source,
            head_len,
            shards,
            publishers,
            ticks,
            _token: token,
            buffered: 0,
            next_tick: 0,
            scratch: Vec::with_capacity(head_len),
            stats: PublisherStats::default(),
            _values: PhantomData,
        })
    }

    /// Buffers one change of the variable named `name`; the same as
    /// [`notify_batch`](Self::notify_batch) with one change.
    ///
    /// # Errors
    ///
    /// As [`notify_batch`](Self::notify_batch).
    pub fn notify(&mut self, name: &str, old: &V, new: &V) -> Result<PublishCounts, PublishError> {
        self.notify_batch([(name, old, new)])
    }

    /// Buffers a batch of changes `(name, old, new)`, in order, and counts
    /// what happened to them. Unchanged values are skipped, as by the core.
    ///
    /// Under [`Overflow::DropBatch`], a batch that would take the buffer
    /// past its bound is dropped whole and counted, and nothing is sent.
    /// Otherwise reaching the bound sends every buffered shard first.
    ///
    /// # Errors
    ///
    /// Stops at the first change that cannot be encoded
    /// ([`PublishError::Encode`]: empty or too long a name, a value that
    /// does not serialize, a change larger than a message may be): the
    /// changes before it stay buffered, it and the rest are not.
    /// [`PublishError::Zenoh`] if a send the bounds caused failed.
    pub fn notify_batch<'a, 'v, I>(&mut self, changes: I) -> Result<PublishCounts, PublishError>
    where
        V: 'v,
        I: IntoIterator<Item = (&'a str, &'v V, &'v V)>,
        I::IntoIter: ExactSizeIterator,
    {
        let changes = changes.into_iter();
        let len = changes.len();
        let mut counts = PublishCounts::default();
        if self.config.overflow == Overflow::DropBatch
            && self.buffered.saturating_add(len) > self.config.max_buffered_changes
        {
            counts.dropped = len as u64;
            self.stats.changes_offered += len as u64;
            self.stats.changes_dropped += len as u64;
            self.stats.batches_dropped += 1;
            tracing::warn!(
                target: crate::TRACE_TARGET,
                changes = len,
                buffered = self.buffered,
                "publisher buffer full: batch dropped"
            );
            return Ok(counts);
        }
        for (name, old, new) in changes {
            if old == new {
                counts.unchanged += 1;
                self.stats.changes_offered += 1;
                self.stats.changes_unchanged += 1;
                continue;
            }
            self.push(name, old, new)?;
            counts.buffered += 1;
            self.stats.changes_offered += 1;
            self.stats.changes_buffered += 1;
            if self.buffered >= self.config.max_buffered_changes
                && self.config.overflow == Overflow::FlushEarly
            {
                self.stats.early_sends += 1;
                self.send_all(self.next_tick)?;
            }
        }
        Ok(counts)
    }

    /// Sends one message per shard holding changes, stamped with `tick`,
    /// and returns what was sent. Blocks while zenoh's queues are full.
    /// Later messages carry tick `tick + 1` until the next flush. In
    /// lockstep mode, a tick-end message follows (also when no shard had
    /// changes).
    ///
    /// # Errors
    ///
    /// [`PublishError::Zenoh`] at the first message zenoh fails to send: it
    /// is lost (consumers count a gap), the shards after it stay buffered
    /// for the next flush.
    pub fn flush(&mut self, tick: u64) -> Result<FlushReport, PublishError> {
        let report = self.send_all(tick)?;
        self.send_tick_end(tick)?;
        self.next_tick = tick.wrapping_add(1);
        Ok(report)
    }

    /// This publisher's producer id, as consumers see it.
    pub fn id(&self) -> ProducerId {
        self.producer
    }

    /// The shards that have at least one matching subscriber now (a
    /// reading the network may change at once). Useful to wait, bounded,
    /// until consumers are connected before sending what they must not miss.
    ///
    /// # Errors
    ///
    /// [`PublishError::Zenoh`] if zenoh cannot tell.
    pub fn matched_shards(&self) -> Result<Vec<u32>, PublishError> {
        let mut matched = Vec::new();
        for (shard, publisher) in (0u32..).zip(&self.publishers) {
            if publisher
                .matching_status()
                .wait()
                .map_err(PublishError::Zenoh)?
                .matching()
            {
                matched.push(shard);
            }
        }
        Ok(matched)
    }

    /// Counters over this publisher's life.
    pub fn stats(&self) -> PublisherStats {
        PublisherStats {
            changes_pending: self.buffered as u64,
            ..self.stats.clone()
        }
    }

    /// Encodes one change into its shard's message, sending the message
    /// first if the change would not fit in it.
    fn push(&mut self, name: &str, old: &V, new: &V) -> Result<(), PublishError> {
        let limits = self.config.limits;
        wire::check_name(name, &limits, false)?;
        let shard = self.config.layout.shard_of(name) as usize;
        if self.shards[shard].count >= limits.max_changes_per_message() {
            self.send_shard(shard, self.next_tick)?;
        }
        let buf = &mut self.shards[shard];
        let mark = buf.body.len();
        if let Err(e) = wire::write_change(&mut buf.body, name, old, new) {
            buf.body.truncate(mark);
            return Err(EncodeError::Value(e).into());
        }
        if buf.body.len() > limits.max_message_len() {
            if buf.count == 0 {
                buf.body.truncate(mark);
                return Err(EncodeError::TooLarge.into());
            }
            let change = buf.body.split_off(mark);
            self.send_shard(shard, self.next_tick)?;
            let buf = &mut self.shards[shard];
            buf.body.extend_from_slice(&change);
            if buf.body.len() > limits.max_message_len() {
                buf.body.truncate(self.head_len);
                return Err(EncodeError::TooLarge.into());
            }
        }
        self.shards[shard].count += 1;
        self.buffered += 1;
        Ok(())
    }

    /// Sends the tick-end message of `tick`, in lockstep mode.
    fn send_tick_end(&mut self, tick: u64) -> Result<(), PublishError> {
        let Some((publisher, seq)) = &mut self.ticks else {
            return Ok(());
        };
        let header = Header {
            kind: MessageKind::TickEnd,
            producer: self.producer,
            tick,
            seq: *seq,
            timestamp: SystemTime::now(),
            session: self.config.session,
        };
        *seq += 1;
        let mut message = Vec::with_capacity(FIXED_LEN + self.source.len());
        wire::write_head(&mut message, &header, &self.source, 0);
        if let Err(e) = publisher.put(message).wait() {
            self.stats.messages_failed += 1;
            return Err(PublishError::Zenoh(e));
        }
        Ok(())
    }

    fn send_all(&mut self, tick: u64) -> Result<FlushReport, PublishError> {
        let mut report = FlushReport::default();
        for shard in 0..self.shards.len() {
            let changes = self.send_shard(shard, tick)?;
            if changes > 0 {
                report.messages += 1;
                report.changes += changes;
            }
        }
        Ok(report)
    }

    /// Sends shard `shard`'s message, if it has changes, and returns how
    /// many it carried. The sequence number is used up even if zenoh fails,
    /// so consumers see the loss as a gap.
    fn send_shard(&mut self, shard: usize, tick: u64) -> Result<u64, PublishError> {
        let head_len = self.head_len;
        let buf = &mut self.shards[shard];
        if buf.count == 0 {
            return Ok(0);
        }
        let header = Header {
            kind: MessageKind::Changes,
            producer: self.producer,
            tick,
            seq: buf.seq,
            timestamp: SystemTime::now(),
            session: self.config.session,
        };
        wire::write_head(&mut self.scratch, &header, &self.source, buf.count);
        debug_assert_eq!(self.scratch.len(), head_len);
        buf.body[..head_len].copy_from_slice(&self.scratch);
        let mut fresh = Vec::with_capacity(buf.body.len());
        fresh.resize(head_len, 0);
        let message = std::mem::replace(&mut buf.body, fresh);
        let changes = u64::from(buf.count);
        let bytes = message.len() as u64;
        buf.count = 0;
        buf.seq += 1;
        self.buffered -= changes as usize;
        if let Err(e) = self.publishers[shard].put(message).wait() {
            self.stats.messages_failed += 1;
            return Err(PublishError::Zenoh(e));
        }
        self.stats.messages_sent += 1;
        self.stats.changes_sent += changes;
        self.stats.bytes_sent += bytes;
        Ok(changes)
    }
}

impl<V> fmt::Debug for Publisher<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("producer", &self.producer)
            .field("layout", &self.config.layout)
            .field("buffered", &self.buffered)
            .finish_non_exhaustive()
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A producer id unlikely to collide: a hash of the session's zenoh id,
/// the wall clock and a process-wide counter.
fn draw_producer_id(session: &Session) -> ProducerId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut seed = session.zid().to_le_bytes().to_vec();
    seed.extend_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    seed.extend_from_slice(&wire::to_nanos(SystemTime::now()).to_le_bytes());
    seed.extend_from_slice(&std::process::id().to_le_bytes());
    ProducerId(fnv1a(&seed))
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cut_keeps_character_boundaries() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
    }
}
