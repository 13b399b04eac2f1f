//! Randomness: the shared seeded generator, so a run is reproducible, and a
//! partial shuffle.

pub(crate) use observer_manager_support::SplitMix64 as Rng;

/// Moves `k` distinct random entries of `order` to its front (a partial
/// Fisher–Yates shuffle), in time proportional to `k`.
pub(crate) fn shuffle_prefix(order: &mut [u32], k: usize, rng: &mut Rng) {
    for i in 0..k {
        let j = i + rng.below(order.len() - i);
        order.swap(i, j);
    }
}
