//! System 6: reclaim the variables unused for `Config::reclaim_idle_variables`
//! ticks, so a stream of ever-new names holds a bounded table.
//!
//! A candidate is reclaimed only if, with the interner's write lock held (no
//! producer is then between resolving a variable and queueing for it), the
//! inbox holds no change or command for it and nothing pins it. Its id is
//! stale from then on; see `crate::ingest::interner` for why that is exact.

use crate::ingest::shared::Shared;
use crate::observers::variables::Variables;

/// Buffers kept between ticks.
#[derive(Default)]
pub(crate) struct ReclaimScratch {
    ripe: Vec<(u32, u32)>,
    /// One bit per variable index: set while a ripe variable has nothing
    /// pending.
    unpending: Vec<u64>,
}

/// Reclaims what is ripe; returns how many variables it reclaimed.
pub(crate) fn reclaim<V>(
    variables: &mut Variables,
    shared: &Shared<V>,
    idle_ticks: Option<u64>,
    scratch: &mut ReclaimScratch,
) -> u64 {
    let Some(idle_ticks) = idle_ticks else {
        return 0;
    };
    let ReclaimScratch { ripe, unpending } = scratch;
    ripe.clear();
    variables.ripe(idle_ticks, ripe);
    if ripe.is_empty() {
        return 0;
    }
    unpending.clear();
    unpending.resize(variables.len().div_ceil(64), 0);
    for &(index, _) in ripe.iter() {
        unpending[index as usize / 64] |= 1 << (index % 64);
    }
    let mut reclaimed = 0;
    let mut names = shared.interner.write();
    shared.inbox.pending_variables(|index| {
        if let Some(word) = unpending.get_mut(index as usize / 64) {
            *word &= !(1 << (index % 64));
        }
    });
    for &(index, generation) in ripe.iter() {
        let idle = unpending[index as usize / 64] >> (index % 64) & 1 == 1;
        if !idle {
            variables.relist(index);
        } else if names.reclaim(index, generation) {
            variables.vacate(index);
            reclaimed += 1;
        }
        // Otherwise pinned: the next full sweep lists it again.
    }
    drop(names);
    reclaimed
}
