//! The wire format: one message carries one producer's changes for one shard.
//!
//! The format is transport-neutral (plain bytes, no zenoh types), so a second
//! transport can carry the same messages. All integers are little-endian.
//!
//! ```text
//! offset  size  field
//!      0     4  magic               MAGIC
//!      4     1  version             VERSION
//!      5     1  kind                MessageKind (0 = changes, 1 = tick end)
//!      6     2  flags               bit 0: session present; other bits must be 0
//!      8     8  producer id         ProducerId
//!     16     8  producer tick       the tick the producer flushed (or will flush next)
//!     24     8  sequence number     per (producer, shard), from 0, +1 per message
//!     32     8  timestamp           metadata timestamp, ns since the Unix epoch
//!     40     8  session             metadata session id (0 when absent)
//!     48     2  source length S     at most Limits::max_name_len
//!     50     S  source              UTF-8, the metadata source
//!   50+S     4  change count N      at most Limits::max_changes
//!   54+S   ...  N changes, each:    name length L (2), name (L bytes, UTF-8, L >= 1),
//!                                   old value, new value (postcard encoding of V)
//! ```
//!
//! Decoding checks, in this order and before allocating anything sized by
//! the message: total size against [`Limits::max_message_bytes`], magic,
//! version, kind, flags, source length, change count against
//! [`Limits::max_changes`] and against the bytes left (every change takes at
//! least [`MIN_CHANGE_BYTES`]), then each name's length against
//! [`Limits::max_name_len`] and the bytes left. Values are decoded by
//! postcard from the bytes present; serde caps what a sequence pre-allocates
//! from a claimed length, so a value can never allocate more than a bounded
//! multiple of the message's size. A message is decoded whole or not at all:
//! a failure anywhere rejects all of it, so a half-read batch is never
//! delivered.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use observer_manager::{MAX_VARIABLE_NAME_LEN, SessionId};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The first four bytes of every message.
pub const MAGIC: [u8; 4] = *b"OMZB";

/// The wire format version this crate writes and reads.
pub const VERSION: u8 = 1;

/// Bytes before the source string: magic to session.
pub const HEADER_LEN: usize = 48;

/// Bytes of the fixed part of a message: header, source length and change
/// count (a message with an empty source and no changes).
pub const FIXED_LEN: usize = HEADER_LEN + 2 + 4;

/// The fewest bytes one change takes: a two-byte name length, a one-byte
/// name (names are never empty), and values that encode to nothing (`()`).
pub const MIN_CHANGE_BYTES: usize = 3;

const FLAG_SESSION: u16 = 1;

/// Identifies a producer (a [`Publisher`](crate::Publisher)) across the
/// network; chosen at random when the publisher starts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ProducerId(pub u64);

impl fmt::Debug for ProducerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProducerId({:016x})", self.0)
    }
}

impl fmt::Display for ProducerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What a message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageKind {
    /// A batch of changes of one shard.
    Changes,
    /// A producer finished flushing a tick (lockstep mode; carries no
    /// changes, sent on `<namespace>/ticks`).
    TickEnd,
}

impl MessageKind {
    fn code(self) -> u8 {
        match self {
            MessageKind::Changes => 0,
            MessageKind::TickEnd => 1,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(MessageKind::Changes),
            1 => Some(MessageKind::TickEnd),
            _ => None,
        }
    }
}

/// Bounds on what a decoder accepts, checked before it allocates.
///
/// Both ends should agree: a publisher refuses to build a message its
/// consumers would reject.
///
/// # Examples
///
/// ```
/// use observer_manager_zenoh::Limits;
///
/// let limits = Limits::default().max_changes(1024);
/// assert_eq!(limits.max_changes_per_message(), 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    max_message_bytes: usize,
    max_changes: u32,
    max_name_len: usize,
}

impl Default for Limits {
    /// 4 MiB per message, 65,536 changes per message, names (and the
    /// metadata source) up to the core's `MAX_VARIABLE_NAME_LEN` bytes.
    fn default() -> Self {
        Limits {
            max_message_bytes: 4 << 20,
            max_changes: 65_536,
            max_name_len: MAX_VARIABLE_NAME_LEN,
        }
    }
}

impl Limits {
    /// The largest message, in bytes, accepted or built (at least
    /// [`FIXED_LEN`]).
    #[must_use = "max_message_bytes returns the changed limits"]
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes.max(FIXED_LEN);
        self
    }

    /// The most changes in one message (at least 1).
    #[must_use = "max_changes returns the changed limits"]
    pub fn max_changes(mut self, changes: u32) -> Self {
        self.max_changes = changes.max(1);
        self
    }

    /// The longest variable name or metadata source, in bytes (between 1
    /// and the core's `MAX_VARIABLE_NAME_LEN`).
    #[must_use = "max_name_len returns the changed limits"]
    pub fn max_name_len(mut self, bytes: usize) -> Self {
        self.max_name_len = bytes.clamp(1, MAX_VARIABLE_NAME_LEN);
        self
    }

    /// The largest message, in bytes.
    pub fn max_message_len(&self) -> usize {
        self.max_message_bytes
    }

    /// The most changes in one message.
    pub fn max_changes_per_message(&self) -> u32 {
        self.max_changes
    }

    /// The longest name or source, in bytes.
    pub fn max_name_bytes(&self) -> usize {
        self.max_name_len
    }
}

/// The fixed fields of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// What the message carries.
    pub kind: MessageKind,
    /// The producer that sent it.
    pub producer: ProducerId,
    /// The producer's tick.
    pub tick: u64,
    /// The message's number in its producer's sequence for this shard.
    pub seq: u64,
    /// The metadata's timestamp.
    pub timestamp: SystemTime,
    /// The metadata's session, if any.
    pub session: Option<SessionId>,
}

/// One decoded change.
#[derive(Clone, Debug, PartialEq)]
pub struct WireChange<V> {
    /// The variable's name.
    pub name: String,
    /// The value before the change.
    pub old: V,
    /// The value after the change.
    pub new: V,
}

/// A decoded message: its header, the metadata source, and its changes in
/// the order the producer reported them.
#[derive(Clone, Debug, PartialEq)]
pub struct Message<V> {
    /// The fixed fields.
    pub header: Header,
    /// The metadata source shared by every change.
    pub source: String,
    /// The changes, in submission order.
    pub changes: Vec<WireChange<V>>,
}

/// Why a message was rejected by [`decode`].
#[derive(Debug)]
#[non_exhaustive]
pub enum DecodeError {
    /// The message is larger than [`Limits::max_message_bytes`].
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The message ends before a field it announces.
    Truncated {
        /// The offset of the field that does not fit.
        at: usize,
    },
    /// The first bytes are not [`MAGIC`].
    BadMagic,
    /// Another version of the format.
    ForeignVersion {
        /// The version found.
        found: u8,
    },
    /// A message kind this version does not know.
    UnknownKind {
        /// The kind code found.
        found: u8,
    },
    /// Flag bits this version does not know.
    UnknownFlags {
        /// The flags found.
        found: u16,
    },
    /// More changes than [`Limits::max_changes`].
    TooManyChanges {
        /// The count announced.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// More changes announced than the bytes left could hold.
    CountExceedsBytes {
        /// The count announced.
        count: u32,
        /// The bytes left.
        available: usize,
    },
    /// A name or source longer than [`Limits::max_name_len`].
    NameTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A variable name of length zero.
    EmptyName,
    /// A name or source that is not UTF-8.
    InvalidUtf8,
    /// A value postcard could not decode as `V`.
    Value {
        /// The index of the change in the message.
        index: u32,
        /// What postcard reported.
        source: postcard::Error,
    },
    /// A tick-end message that carries changes.
    TickEndWithChanges,
    /// Bytes left after the last change.
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge { len, max } => write!(f, "message of {len} bytes over {max}"),
            DecodeError::Truncated { at } => write!(f, "message truncated at byte {at}"),
            DecodeError::BadMagic => f.write_str("not an observer-manager message"),
            DecodeError::ForeignVersion { found } => write!(f, "foreign wire version {found}"),
            DecodeError::UnknownKind { found } => write!(f, "unknown message kind {found}"),
            DecodeError::UnknownFlags { found } => write!(f, "unknown flags {found:#06x}"),
            DecodeError::TooManyChanges { count, max } => {
                write!(f, "{count} changes over the limit of {max}")
            }
            DecodeError::CountExceedsBytes { count, available } => {
                write!(f, "{count} changes cannot fit in {available} bytes")
            }
            DecodeError::NameTooLong { len, max } => write!(f, "name of {len} bytes over {max}"),
            DecodeError::EmptyName => f.write_str("empty variable name"),
            DecodeError::InvalidUtf8 => f.write_str("name is not utf-8"),
            DecodeError::Value { index, .. } => write!(f, "undecodable value in change {index}"),
            DecodeError::TickEndWithChanges => f.write_str("tick end carrying changes"),
            DecodeError::TrailingBytes { count } => {
                write!(f, "{count} bytes after the last change")
            }
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecodeError::Value { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Nanoseconds since the Unix epoch (0 before it, saturating far after).
pub(crate) fn to_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn from_nanos(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// Writes the fixed part of a message (header, source and change count)
/// into `out`, which is cleared first.
///
/// The caller guarantees `source.len() <= u16::MAX`.
pub(crate) fn write_head(out: &mut Vec<u8>, header: &Header, source: &str, count: u32) {
    debug_assert!(source.len() <= usize::from(u16::MAX));
    out.clear();
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(header.kind.code());
    let flags = if header.session.is_some() {
        FLAG_SESSION
    } else {
        0
    };
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&header.producer.0.to_le_bytes());
    out.extend_from_slice(&header.tick.to_le_bytes());
    out.extend_from_slice(&header.seq.to_le_bytes());
    out.extend_from_slice(&to_nanos(header.timestamp).to_le_bytes());
    out.extend_from_slice(&header.session.map_or(0, |s| s.0).to_le_bytes());
    out.extend_from_slice(&(source.len() as u16).to_le_bytes());
    out.extend_from_slice(source.as_bytes());
    out.extend_from_slice(&count.to_le_bytes());
}

/// Appends one change to `body`.
///
/// The caller guarantees `1 <= name.len() <= u16::MAX`. On an error `body`
/// may hold a partial change: truncate it back to its length before the call.
pub(crate) fn write_change<V: Serialize>(
    body: &mut Vec<u8>,
    name: &str,
    old: &V,
    new: &V,
) -> Result<(), postcard::Error> {
    debug_assert!(!name.is_empty() && name.len() <= usize::from(u16::MAX));
    body.extend_from_slice(&(name.len() as u16).to_le_bytes());
    body.extend_from_slice(name.as_bytes());
    let taken = std::mem::take(body);
    let taken = postcard::to_extend(old, taken)?;
    *body = postcard::to_extend(new, taken)?;
    Ok(())
}

/// Encodes a whole message: `header`, `source` and `changes`.
///
/// The transport-neutral entry point (a [`Publisher`](crate::Publisher)
/// encodes incrementally instead). It checks the same [`Limits`] the
/// decoder does.
///
/// # Errors
///
/// [`EncodeError`] if a name or the source breaks the limits, a value
/// does not serialize, or the message would be too large.
///
/// # Examples
///
/// ```
/// use std::time::SystemTime;
/// use observer_manager_zenoh::wire::{self, Header, MessageKind};
/// use observer_manager_zenoh::{Limits, ProducerId};
///
/// let header = Header {
///     kind: MessageKind::Changes,
///     producer: ProducerId(7),
///     tick: 3,
///     seq: 0,
///     timestamp: SystemTime::now(),
///     session: None,
/// };
/// let limits = Limits::default();
/// let bytes = wire::encode(&header, "sim", &[("x", 1u32, 2u32)], &limits)?;
/// let message = wire::decode::<u32>(&bytes, &limits)?;
/// assert_eq!(message.changes[0].name, "x");
/// assert_eq!((message.changes[0].old, message.changes[0].new), (1, 2));
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub fn encode<V: Serialize>(
    header: &Header,
    source: &str,
    changes: &[(&str, V, V)],
    limits: &Limits,
) -> Result<Vec<u8>, EncodeError> {
    check_name(source, limits, true)?;
    let count = u32::try_from(changes.len())
        .ok()
        .filter(|&c| c <= limits.max_changes)
        .ok_or(EncodeError::TooManyChanges)?;
    let mut body = Vec::new();
    for (name, old, new) in changes {
        check_name(name, limits, false)?;
        write_change(&mut body, name, old, new).map_err(EncodeError::Value)?;
    }
    let mut out = Vec::with_capacity(FIXED_LEN + source.len() + body.len());
    write_head(&mut out, header, source, count);
    out.extend_from_slice(&body);
    if out.len() > limits.max_message_bytes {
        return Err(EncodeError::TooLarge);
    }
    Ok(out)
}

/// Checks a name (or, with `may_be_empty`, a source) against `limits`.
pub(crate) fn check_name(
    name: &str,
    limits: &Limits,
    may_be_empty: bool,
) -> Result<(), EncodeError> {
    if name.is_empty() && !may_be_empty {
        Err(EncodeError::EmptyName)
    } else if name.len() > limits.max_name_len {
        Err(EncodeError::NameTooLong)
    } else {
        Ok(())
    }
}

/// Why a message or change could not be encoded.
#[derive(Debug)]
#[non_exhaustive]
pub enum EncodeError {
    /// A variable name of length zero.
    EmptyName,
    /// A name or source longer than [`Limits::max_name_len`].
    NameTooLong,
    /// More changes than [`Limits::max_changes`].
    TooManyChanges,
    /// The message (or one change alone) over [`Limits::max_message_bytes`].
    TooLarge,
    /// A value postcard could not serialize.
    Value(postcard::Error),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::EmptyName => f.write_str("empty variable name"),
            EncodeError::NameTooLong => f.write_str("name over the limit"),
            EncodeError::TooManyChanges => f.write_str("more changes than one message may hold"),
            EncodeError::TooLarge => f.write_str("message over the size limit"),
            EncodeError::Value(_) => f.write_str("value does not serialize"),
        }
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EncodeError::Value(e) => Some(e),
            _ => None,
        }
    }
}

/// Decodes a message, checking it against `limits` before allocating.
///
/// # Errors
///
/// A [`DecodeError`] naming the first check that failed; nothing of the
/// message is returned then.
pub fn decode<V: DeserializeOwned>(
    bytes: &[u8],
    limits: &Limits,
) -> Result<Message<V>, DecodeError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    let mut r = Reader { bytes, at: 0 };
    let header = read_header(&mut r)?;
    let source = r.name(limits.max_name_len, true)?;
    let count = read_count(&mut r, limits)?;
    if header.kind == MessageKind::TickEnd && count > 0 {
        return Err(DecodeError::TickEndWithChanges);
    }
    let mut changes = Vec::with_capacity(count as usize);
    for index in 0..count {
        let name = r.name(limits.max_name_len, false)?;
        let old = r.value(index)?;
        let new = r.value(index)?;
        changes.push(WireChange { name, old, new });
    }
    match r.rest().len() {
        0 => Ok(Message {
            header,
            source,
            changes,
        }),
        count => Err(DecodeError::TrailingBytes { count }),
    }
}

fn read_header(r: &mut Reader<'_>) -> Result<Header, DecodeError> {
    if r.take(4)? != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::ForeignVersion { found: version });
    }
    let code = r.u8()?;
    let kind = MessageKind::from_code(code).ok_or(DecodeError::UnknownKind { found: code })?;
    let flags = r.u16()?;
    if flags & !FLAG_SESSION != 0 {
        return Err(DecodeError::UnknownFlags { found: flags });
    }
    let producer = ProducerId(r.u64()?);
    let tick = r.u64()?;
    let seq = r.u64()?;
    let timestamp = from_nanos(r.u64()?);
    let session = r.u64()?;
    Ok(Header {
        kind,
        producer,
        tick,
        seq,
        timestamp,
        session: (flags & FLAG_SESSION != 0).then_some(SessionId(session)),
    })
}

fn read_count(r: &mut Reader<'_>, limits: &Limits) -> Result<u32, DecodeError> {
    let count = r.u32()?;
    if count > limits.max_changes {
        return Err(DecodeError::TooManyChanges {
            count,
            max: limits.max_changes,
        });
    }
    let available = r.rest().len();
    if (count as usize).saturating_mul(MIN_CHANGE_BYTES) > available {
        return Err(DecodeError::CountExceedsBytes { count, available });
    }
    Ok(count)
}

/// A cursor over a message's bytes; every read checks what is left.
struct Reader<'a> {
    bytes: &'a [u8],
    /// Invariant: `at <= bytes.len()`.
    at: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.at..]
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let rest = self.rest();
        if rest.len() < n {
            return Err(DecodeError::Truncated { at: self.at });
        }
        self.at += n;
        Ok(&rest[..n])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_le_bytes)
    }

    /// A length-prefixed UTF-8 string, its length checked against `max`
    /// (and against the bytes left) before it is copied.
    fn name(&mut self, max: usize, may_be_empty: bool) -> Result<String, DecodeError> {
        let len = usize::from(self.u16()?);
        if len > max {
            return Err(DecodeError::NameTooLong { len, max });
        }
        if len == 0 && !may_be_empty {
            return Err(DecodeError::EmptyName);
        }
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8)
    }

    fn value<V: DeserializeOwned>(&mut self, index: u32) -> Result<V, DecodeError> {
        let rest = self.rest();
        let (value, left) = postcard::take_from_bytes(rest)
            .map_err(|source| DecodeError::Value { index, source })?;
        self.at += rest.len() - left.len();
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            kind: MessageKind::Changes,
            producer: ProducerId(0xdead_beef),
            tick: 42,
            seq: 7,
            timestamp: from_nanos(1_700_000_000_123_456_789),
            session: Some(SessionId(9)),
        }
    }

    fn sample(limits: &Limits) -> Vec<u8> {
        let changes = [("a", 1u64, 2u64), ("b/c", 3, 4), ("a", 2, 5)];
        encode(&header(), "physics", &changes, limits).unwrap()
    }

    #[test]
    fn round_trip_keeps_header_source_and_order() {
        let limits = Limits::default();
        let m = decode::<u64>(&sample(&limits), &limits).unwrap();
        assert_eq!(m.header, header());
        assert_eq!(m.source, "physics");
        let got: Vec<_> = m
            .changes
            .iter()
            .map(|c| (c.name.as_str(), c.old, c.new))
            .collect();
        assert_eq!(got, [("a", 1, 2), ("b/c", 3, 4), ("a", 2, 5)]);
    }

    #[test]
    fn round_trip_without_session_and_with_strings() {
        let limits = Limits::default();
        let mut h = header();
        h.session = None;
        let changes = [("name", String::from("old"), String::from("néw"))];
        let bytes = encode(&h, "", &changes, &limits).unwrap();
        let m = decode::<String>(&bytes, &limits).unwrap();
        assert_eq!(m.header.session, None);
        assert_eq!(m.changes[0].new, "néw");
    }

    #[test]
    fn empty_message_round_trips() {
        let limits = Limits::default();
        let bytes = encode::<u8>(&header(), "", &[], &limits).unwrap();
        assert_eq!(bytes.len(), FIXED_LEN);
        assert!(decode::<u8>(&bytes, &limits).unwrap().changes.is_empty());
    }

    #[test]
    fn every_truncation_is_rejected() {
        let limits = Limits::default();
        let bytes = sample(&limits);
        for len in 0..bytes.len() {
            let err = decode::<u64>(&bytes[..len], &limits).unwrap_err();
            assert!(
                matches!(
                    err,
                    DecodeError::Truncated { .. }
                        | DecodeError::CountExceedsBytes { .. }
                        | DecodeError::Value { .. }
                ),
                "length {len}: {err:?}"
            );
        }
    }

    #[test]
    fn foreign_version_and_magic_are_rejected() {
        let limits = Limits::default();
        let mut bytes = sample(&limits);
        bytes[4] = VERSION + 1;
        assert!(matches!(
            decode::<u64>(&bytes, &limits),
            Err(DecodeError::ForeignVersion { found }) if found == VERSION + 1
        ));
        bytes[0] = b'X';
        assert!(matches!(
            decode::<u64>(&bytes, &limits),
            Err(DecodeError::BadMagic)
        ));
    }

    #[test]
    fn unknown_kind_and_flags_are_rejected() {
        let limits = Limits::default();
        let mut bytes = sample(&limits);
        bytes[5] = 9;
        assert!(matches!(
            decode::<u64>(&bytes, &limits),
            Err(DecodeError::UnknownKind { found: 9 })
        ));
        let mut bytes = sample(&limits);
        bytes[6] |= 0x80;
        assert!(matches!(
            decode::<u64>(&bytes, &limits),
            Err(DecodeError::UnknownFlags { .. })
        ));
    }

    #[test]
    fn tick_ends_round_trip_and_must_be_empty() {
        let limits = Limits::default();
        let mut h = header();
        h.kind = MessageKind::TickEnd;
        let bytes = encode::<u8>(&h, "", &[], &limits).unwrap();
        assert_eq!(
            decode::<u8>(&bytes, &limits).unwrap().header.kind,
            MessageKind::TickEnd
        );
        let bytes = encode(&h, "", &[("a", 1u8, 2u8)], &limits).unwrap();
        assert!(matches!(
            decode::<u8>(&bytes, &limits),
            Err(DecodeError::TickEndWithChanges)
        ));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let limits = Limits::default();
        let mut bytes = sample(&limits);
        bytes.push(0);
        assert!(matches!(
            decode::<u64>(&bytes, &limits),
            Err(DecodeError::TrailingBytes { count: 1 })
        ));
    }

    /// Garbage from a fixed-seed generator: every input is rejected or
    /// decoded, none panics.
    #[test]
    fn garbage_never_panics() {
        let limits = Limits::default();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid = sample(&limits);
        let mut rejected = 0;
        for round in 0..2_000 {
            let mut bytes = if round % 2 == 0 {
                (0..next() % 256).map(|_| next() as u8).collect::<Vec<_>>()
            } else {
                valid.clone()
            };
            // Keep the header on odd rounds so the body checks run too.
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % bytes.len().max(1);
                if let Some(b) = bytes.get_mut(i) {
                    *b = next() as u8;
                }
            }
            if decode::<u64>(&bytes, &limits).is_err() {
                rejected += 1;
            }
        }
        assert!(
            rejected > 1_000,
            "random bytes must mostly be rejected: {rejected}"
        );
    }

    #[test]
    fn over_limit_size_count_and_name_are_rejected_before_reading() {
        let bytes = sample(&Limits::default());
        let small = Limits::default().max_message_bytes(FIXED_LEN);
        assert!(matches!(
            decode::<u64>(&bytes, &small),
            Err(DecodeError::TooLarge { .. })
        ));
        let few = Limits::default().max_changes(2);
        assert!(matches!(
            decode::<u64>(&bytes, &few),
            Err(DecodeError::TooManyChanges { count: 3, max: 2 })
        ));
        let short = Limits::default().max_name_len(2);
        assert!(matches!(
            decode::<u64>(&bytes, &short),
            Err(DecodeError::NameTooLong { len: 7, max: 2 })
        ));
    }

    #[test]
    fn a_huge_claimed_count_is_refused_without_allocating() {
        let limits = Limits::default().max_changes(u32::MAX);
        let mut bytes = encode::<u8>(&header(), "", &[], &limits).unwrap();
        let at = bytes.len() - 4;
        bytes[at..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode::<u8>(&bytes, &limits),
            Err(DecodeError::CountExceedsBytes {
                count: u32::MAX,
                available: 0
            })
        ));
    }

    #[test]
    fn a_huge_claimed_sequence_value_is_refused() {
        let limits = Limits::default();
        let changes = [("v", vec![1u8], vec![2u8])];
        let mut bytes = encode(&header(), "", &changes, &limits).unwrap();
        // The old value's length varint is right after the name "v".
        let at = FIXED_LEN + 2 + 1;
        assert_eq!(bytes[at], 1);
        bytes.splice(at..at + 1, [0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(
            decode::<Vec<u8>>(&bytes, &limits),
            Err(DecodeError::Value { index: 0, .. })
        ));
    }

    #[test]
    fn encode_refuses_what_decode_would() {
        let limits = Limits::default().max_changes(1).max_name_len(3);
        let h = header();
        assert!(matches!(
            encode(&h, "", &[("a", 1u8, 2u8), ("b", 1, 2)], &limits),
            Err(EncodeError::TooManyChanges)
        ));
        assert!(matches!(
            encode(&h, "", &[("abcd", 1u8, 2u8)], &limits),
            Err(EncodeError::NameTooLong)
        ));
        assert!(matches!(
            encode(&h, "", &[("", 1u8, 2u8)], &limits),
            Err(EncodeError::EmptyName)
        ));
        let tiny = Limits::default().max_message_bytes(FIXED_LEN + 2);
        assert!(matches!(
            encode(&h, "", &[("a", 1u8, 2u8)], &tiny),
            Err(EncodeError::TooLarge)
        ));
    }
}
