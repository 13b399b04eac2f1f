//! Key layout: which zenoh key a variable's changes travel on.

use std::fmt;

use zenoh::key_expr::KeyExpr;

use crate::error::ConfigError;

/// Where changes travel: `<namespace>/<shard>` for data, with `shard` the
/// [FNV-1a] hash (64 bits) of the variable's name modulo the shard count,
/// `<namespace>/producer/<id>` for producers' liveliness tokens, and
/// `<namespace>/ticks` for lockstep tick ends.
///
/// Every publisher and subscriber of one system must use the same layout:
/// a variable's shard is a pure function of its name, the shard count and
/// nothing else, so it is the same in every process and on every machine.
///
/// [FNV-1a]: http://www.isthe.com/chongo/tech/comp/fnv/
///
/// # Examples
///
/// ```
/// use observer_manager_zenoh::Layout;
///
/// let layout = Layout::new("sim", 8)?;
/// let shard = layout.shard_of("cell/3");
/// assert!(shard < 8);
/// assert_eq!(layout.shard_of("cell/3"), shard, "stable");
/// assert_eq!(layout.shard_key(shard), format!("sim/{shard}"));
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Layout {
    /// A zenoh key expression without wildcards.
    namespace: String,
    /// Invariant: at least 1.
    shards: u32,
}

impl Layout {
    /// A layout under `namespace` (a zenoh key without wildcards, such as
    /// `"sim"` or `"plant/line3"`) with `shards` shards.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroShards`] if `shards` is 0,
    /// [`ConfigError::Namespace`] if the keys it makes are not valid zenoh
    /// keys or contain wildcards.
    pub fn new(namespace: impl Into<String>, shards: u32) -> Result<Self, ConfigError> {
        let namespace = namespace.into();
        if shards == 0 {
            return Err(ConfigError::ZeroShards);
        }
        let probe = format!("{namespace}/producer/0");
        let valid = KeyExpr::try_from(probe.as_str()).is_ok()
            && !namespace.contains(['*', '$', '?', '#'])
            && !namespace.is_empty();
        if !valid {
            return Err(ConfigError::Namespace(namespace));
        }
        Ok(Layout { namespace, shards })
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The number of shards.
    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// The shard of the variable named `name`.
    pub fn shard_of(&self, name: &str) -> u32 {
        (fnv1a(name.as_bytes()) % u64::from(self.shards)) as u32
    }

    /// The key a shard's changes travel on.
    pub fn shard_key(&self, shard: u32) -> String {
        debug_assert!(shard < self.shards);
        format!("{}/{shard}", self.namespace)
    }

    /// The shard a data key names, if it is one of this layout's.
    pub fn shard_of_key(&self, key: &str) -> Option<u32> {
        let rest = key
            .strip_prefix(self.namespace.as_str())?
            .strip_prefix('/')?;
        rest.parse().ok().filter(|&s| s < self.shards)
    }

    /// The key of lockstep tick-end messages.
    pub(crate) fn ticks_key(&self) -> String {
        format!("{}/ticks", self.namespace)
    }

    /// The liveliness token key of a producer.
    pub(crate) fn producer_key(&self, producer: u64) -> String {
        format!("{}/producer/{producer:016x}", self.namespace)
    }

    /// The key expression matching every producer's liveliness token.
    pub(crate) fn producers_pattern(&self) -> String {
        format!("{}/producer/*", self.namespace)
    }

    /// The producer id a liveliness key names.
    pub(crate) fn producer_of_key(&self, key: &str) -> Option<u64> {
        let rest = key
            .strip_prefix(self.namespace.as_str())?
            .strip_prefix("/producer/")?;
        u64::from_str_radix(rest, 16).ok()
    }
}

impl fmt::Debug for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Layout({}/*, {} shards)", self.namespace, self.shards)
    }
}

/// The 64-bit FNV-1a hash of `bytes` (Fowler, Noll and Vo).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn keys_round_trip() {
        let layout = Layout::new("a/b", 16).unwrap();
        assert_eq!(layout.shard_of_key(&layout.shard_key(5)), Some(5));
        assert_eq!(layout.shard_of_key("a/b/16"), None);
        assert_eq!(layout.shard_of_key("a/bc/1"), None);
        assert_eq!(
            layout.producer_of_key(&layout.producer_key(0xabc)),
            Some(0xabc)
        );
    }

    #[test]
    fn shards_spread_names() {
        let layout = Layout::new("ns", 8).unwrap();
        let mut seen = [0u32; 8];
        for i in 0..8_000 {
            seen[layout.shard_of(&format!("cell{i}")) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (700..1300).contains(&n)), "{seen:?}");
    }

    #[test]
    fn bad_namespaces_are_refused() {
        assert!(matches!(Layout::new("ns", 0), Err(ConfigError::ZeroShards)));
        for bad in ["", "a/*", "a/**", "a//b", "/a", "a$*"] {
            assert!(Layout::new(bad, 4).is_err(), "{bad:?}");
        }
    }
}
