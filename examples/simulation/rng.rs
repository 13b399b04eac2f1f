//! Randomness: a small seeded generator, so a run is reproducible.

/// xorshift64* (Vigna, "An experiment with xorshift generators", 2016).
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for `seed`; any seed works, 0 included (it is scrambled
    /// by one splitmix64 step, and the state is never zero).
    pub(crate) fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (multiply-shift; the bias is negligible here).
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
}

/// Moves `k` distinct random entries of `order` to its front (a partial
/// Fisher–Yates shuffle), in time proportional to `k`.
pub(crate) fn shuffle_prefix(order: &mut [u32], k: usize, rng: &mut Rng) {
    for i in 0..k {
        let j = i + rng.below((order.len() - i) as u32) as usize;
        order.swap(i, j);
    }
}
