//! The rows of the comparison and the targets, as data.

/// Columns, in order: the floors, the naive maps, the other libraries, this crate.
pub(crate) const PEERS: [&str; 7] = [
    "floor",
    "floor-par",
    "naive",
    "naive-rayon",
    "tokio-watch",
    "bevy",
    "engine",
];

/// The peers the engine is compared with in the ratio table.
pub(crate) const RIVALS: [&str; 6] = [
    "floor",
    "floor-par",
    "naive",
    "naive-rayon",
    "tokio-watch",
    "bevy",
];

/// One row: a workload at one size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line {
    /// Short label, used in the chart too.
    pub(crate) label: &'static str,
    pub(crate) group: &'static str,
    pub(crate) param: &'static str,
    /// What one element of the throughput is ("" when there is none).
    pub(crate) unit: &'static str,
    /// Whether a peer run at another size stands in, compared per element.
    pub(crate) scaled: bool,
}

#[rustfmt::skip]
pub(crate) const LINES: [Line; 13] = [
    Line { label: "W1 1k", group: "w1_fan_out", param: "1000", unit: "notification", scaled: false },
    Line { label: "W1 10k", group: "w1_fan_out", param: "10000", unit: "notification", scaled: false },
    Line { label: "W1 100k", group: "w1_fan_out", param: "100000", unit: "notification", scaled: false },
    Line { label: "W1 1M", group: "w1_fan_out", param: "1000000", unit: "notification", scaled: false },
    Line { label: "W2 1M", group: "w2_dense", param: "1000000", unit: "notification", scaled: true },
    Line { label: "W3 sparse", group: "w3_sparse_tick", param: "100", unit: "notification", scaled: false },
    Line { label: "W3 idle", group: "w3_idle_tick", param: "1000000", unit: "", scaled: false },
    Line { label: "W4 sweep", group: "w4_owner_sweep", param: "1000000", unit: "removed observer", scaled: false },
    Line { label: "W6 add", group: "w6_add", param: "1000000", unit: "add", scaled: false },
    Line { label: "W6 bulk add", group: "w6_add_bulk", param: "1000000", unit: "add", scaled: false },
    Line { label: "W6 remove", group: "w6_remove", param: "1000000", unit: "remove", scaled: false },
    Line { label: "W6 bulk remove", group: "w6_remove_bulk", param: "1000000", unit: "remove", scaled: false },
    // Not a criterion group: filled from the M1 table.
    Line { label: "M1 bytes", group: "m1", param: "1000000", unit: "byte", scaled: false },
];

/// How a target reads a measurement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    /// engine time ÷ peer time (per element) at most `limit`.
    TimeAtMost {
        line: usize,
        peer: &'static str,
        limit: f64,
    },
    /// engine throughput ÷ peer throughput at least `limit`.
    SpeedAtLeast {
        line: usize,
        peer: &'static str,
        limit: f64,
    },
    /// engine median time per iteration below `limit_ns`.
    Below { line: usize, limit_ns: f64 },
    /// engine heap bytes per observer at most `limit`.
    BytesAtMost { limit: f64 },
    /// engine heap after W4 at most `limit` (a fraction) above its empty
    /// baseline.
    HeapBackWithin { limit: f64 },
}

/// One of the targets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub(crate) text: &'static str,
    pub(crate) rule: Rule,
}

#[rustfmt::skip]
pub(crate) const TARGETS: [Target; 13] = [
    Target { text: "W1 10k: tick ≤ 1.15× floor", rule: Rule::TimeAtMost { line: 1, peer: "floor", limit: 1.15 } },
    Target { text: "W1 1M: tick ≤ 1.15× floor-par", rule: Rule::TimeAtMost { line: 3, peer: "floor-par", limit: 1.15 } },
    Target { text: "W2: throughput ≥ 0.85× floor-par", rule: Rule::SpeedAtLeast { line: 4, peer: "floor-par", limit: 0.85 } },
    Target { text: "W2: throughput ≥ 1.8× naive", rule: Rule::SpeedAtLeast { line: 4, peer: "naive", limit: 1.8 } },
    Target { text: "W2: throughput ≥ 10× bevy", rule: Rule::SpeedAtLeast { line: 4, peer: "bevy", limit: 10.0 } },
    Target { text: "W3: sparse tick ≤ 1.5× floor-par", rule: Rule::TimeAtMost { line: 5, peer: "floor-par", limit: 1.5 } },
    Target { text: "W3: idle tick (1M observers) < 2 µs", rule: Rule::Below { line: 6, limit_ns: 2_000.0 } },
    Target { text: "W4: per removed observer ≤ 1.5× floor", rule: Rule::TimeAtMost { line: 7, peer: "floor", limit: 1.5 } },
    Target { text: "W4: heap within 1% of the empty baseline at the end", rule: Rule::HeapBackWithin { limit: 0.01 } },
    Target { text: "W6: bulk adds ≤ 2× floor", rule: Rule::TimeAtMost { line: 9, peer: "floor", limit: 2.0 } },
    Target { text: "W6: single adds no slower than naive", rule: Rule::TimeAtMost { line: 8, peer: "naive", limit: 1.0 } },
    Target { text: "W6: single removes no slower than naive", rule: Rule::TimeAtMost { line: 10, peer: "naive", limit: 1.0 } },
    Target { text: "M1: ≤ 64 B per observer", rule: Rule::BytesAtMost { limit: 64.0 } },
];
